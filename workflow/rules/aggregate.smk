"""Collect the evaluate shards of an experiment into its tables."""


rule aggregate:
    """runs.parquet (one row per model) and summary.parquet (mean/std/count per configuration)."""
    input:
        get_eval_shards,
    output:
        runs="results/{experiment}/runs.parquet",
        summary="results/{experiment}/summary.parquet",
        runs_csv="results/{experiment}/runs.csv",
        summary_csv="results/{experiment}/summary.csv",
    log:
        "logs/{experiment}/aggregate.log",
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/aggregate.py"
