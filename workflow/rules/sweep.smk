"""One pack of grid points (by default one point): simulate, train, evaluate."""


rule simulate:
    """Draw the synthetic tasks' labels (Algorithm 1) and measure their AMI to NER."""
    input:
        corpus=get_prepared_corpus,
    output:
        "results/{experiment}/simulate/{pack}.parquet",
    log:
        "logs/{experiment}/simulate/{pack}.log",
    benchmark:
        "results/{experiment}/benchmarks/simulate/{pack}.tsv"
    conda:
        "../../envs/mtllaws.yaml"
    params:
        points=get_points,
        settings=get_model_settings,
    script:
        "../scripts/simulate.py"


rule train:
    """Train one MTL model (T=1: the single-task baseline)."""
    input:
        corpus=get_prepared_corpus,
        embeddings=get_embeddings,
        tasks=sweep_output("simulate", SWEEP_OUTPUTS["simulate"]),
    output:
        model="results/{experiment}/train/{pack}.pt",
        shard="results/{experiment}/train/{pack}.parquet",
    log:
        "logs/{experiment}/train/{pack}.log",
    benchmark:
        "results/{experiment}/benchmarks/train/{pack}.tsv"
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
        tasks=sweep_output("simulate", SWEEP_OUTPUTS["simulate"]),
        model=sweep_output("model", SWEEP_OUTPUTS["model"]),
        train=sweep_output("train", SWEEP_OUTPUTS["train"]),
    output:
        "results/{experiment}/evaluate/{pack}.parquet",
    log:
        "logs/{experiment}/evaluate/{pack}.log",
    conda:
        "../../envs/mtllaws.yaml"
    params:
        points=get_points,
        settings=get_model_settings,
    script:
        "../scripts/evaluate.py"
