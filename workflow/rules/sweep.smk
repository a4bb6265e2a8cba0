"""One grid point: simulate the tasks, train the model, evaluate it."""


rule simulate:
    """Draw the synthetic tasks' labels (Algorithm 1) and measure their AMI to NER."""
    input:
        corpus=get_prepared_corpus,
    output:
        "results/{experiment}/simulate/{config}/s{seed}.parquet",
    log:
        "logs/{experiment}/simulate/{config}/s{seed}.log",
    benchmark:
        "results/{experiment}/benchmarks/simulate/{config}/s{seed}.tsv"
    conda:
        "../../envs/mtllaws.yaml"
    params:
        point=get_point,
        settings=get_experiment,
    script:
        "../scripts/simulate.py"


rule train:
    """Train one MTL model (T=1: the single-task baseline)."""
    input:
        corpus=get_prepared_corpus,
        embeddings=get_embeddings,
        tasks="results/{experiment}/simulate/{config}/s{seed}.parquet",
    output:
        model="results/{experiment}/train/{config}/s{seed}.pt",
        shard="results/{experiment}/train/{config}/s{seed}.parquet",
    log:
        "logs/{experiment}/train/{config}/s{seed}.log",
    benchmark:
        "results/{experiment}/benchmarks/train/{config}/s{seed}.tsv"
    conda:
        "../../envs/mtllaws.yaml"
    threads: get_train_threads
    resources:
        gpu=get_train_gpus,
    params:
        point=get_point,
        settings=get_experiment,
        checkpoint=get_checkpoint,
    script:
        "../scripts/train.py"


rule evaluate:
    """Score NER (and optionally every task) on dev and test: one row per model."""
    input:
        corpus=get_prepared_corpus,
        embeddings=get_embeddings,
        tasks="results/{experiment}/simulate/{config}/s{seed}.parquet",
        model="results/{experiment}/train/{config}/s{seed}.pt",
        train="results/{experiment}/train/{config}/s{seed}.parquet",
    output:
        "results/{experiment}/evaluate/{config}/s{seed}.parquet",
    log:
        "logs/{experiment}/evaluate/{config}/s{seed}.log",
    conda:
        "../../envs/mtllaws.yaml"
    params:
        point=get_point,
        settings=get_experiment,
    script:
        "../scripts/evaluate.py"
