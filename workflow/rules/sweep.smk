"""One pack of grid points (by default one point): simulate, train, evaluate."""


rule simulate:
    """Draw the synthetic tasks' labels (Algorithm 1) and measure their relatedness to NER."""
    input:
        unpack(get_simulate_inputs),
    output:
        SWEEP_OUTPUTS["simulate"],
    log:
        pack_log("simulate"),
    benchmark:
        benchmark_path("simulate/{pack}")
    conda:
        "../../envs/mtllaws.yaml"
    params:
        points=get_points,
        settings=get_model_settings,
        measures=get_measures,
    script:
        "../scripts/simulate.py"


rule train:
    """Train one MTL model (T=1: the single-task baseline)."""
    input:
        corpus=get_prepared_corpus,
        embeddings=get_embeddings,
        tasks=sweep_output("simulate"),
    output:
        model=SWEEP_OUTPUTS["model"],
        shard=SWEEP_OUTPUTS["train"],
    log:
        pack_log("train"),
    benchmark:
        benchmark_path("train/{pack}")
    conda:
        "../../envs/mtllaws.yaml"
    threads: get_train_threads
    resources:
        gpu=get_train_gpus,
    params:
        points=get_points,
        settings=get_model_settings,
        checkpoint_dir=get_checkpoint_dir,
    script:
        "../scripts/train.py"


rule evaluate:
    """Score NER (and optionally every task) on dev and test: one row per model."""
    input:
        corpus=get_prepared_corpus,
        embeddings=get_embeddings,
        tasks=sweep_output("simulate"),
        model=sweep_output("model"),
        train=sweep_output("train"),
    output:
        SWEEP_OUTPUTS["evaluate"],
    log:
        pack_log("evaluate"),
    conda:
        "../../envs/mtllaws.yaml"
    params:
        points=get_points,
        settings=get_model_settings,
        measures=get_measures,
    script:
        "../scripts/evaluate.py"
