"""Collect the evaluate shards of an experiment into its tables."""


rule aggregate:
    """runs.parquet (one row per model) and summary.parquet (mean/std/count per configuration)."""
    input:
        shards=get_eval_shards,
    output:
        # update(): Snakemake keeps the last good tables until this job succeeds and
        # restores them when it fails (instead of deleting them before it runs).
        runs=update("results/{experiment}/runs.parquet"),
        summary=update("results/{experiment}/summary.parquet"),
        runs_csv=update("results/{experiment}/runs.csv"),
        summary_csv=update("results/{experiment}/summary.csv"),
    log:
        "logs/{experiment}/aggregate.log",
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/aggregate.py"


rule effects:
    """The measured effects (STL against n, AMI effect, transfer, T effect) and the acceptance view."""
    input:
        runs="results/{experiment}/runs.parquet",
    output:
        markdown=report(
            "results/{experiment}/effects.md",
            caption="../report/effects.rst",
            category="Effects",
            subcategory="{experiment}",
        ),
        json="results/{experiment}/effects.json",
    log:
        "logs/{experiment}/effects.log",
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/effects.py"
