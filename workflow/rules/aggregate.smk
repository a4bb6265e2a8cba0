"""Collect the evaluate shards of an experiment into its tables."""


rule aggregate:
    """runs.parquet (one row per model) and summary.parquet (mean/std/count per configuration)."""
    input:
        shards=get_eval_shards,
    output:
        # update(): Snakemake keeps the last good tables until this job succeeds and
        # restores them when it fails (instead of deleting them before it runs).
        runs=update(result("runs")),
        summary=update(result("summary")),
        runs_csv=update(result("runs_csv")),
        summary_csv=update(result("summary_csv")),
    log:
        log_path("{experiment}/aggregate"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/aggregate.py"


rule effects:
    """The measured effects (STL against n, AMI effect, transfer, T effect) and the acceptance view."""
    input:
        runs=result("runs"),
    output:
        markdown=report(
            result("effects_md"),
            caption="../report/effects.rst",
            category="Effects",
            subcategory="{experiment}",
        ),
        json=result("effects_json"),
    log:
        log_path("{experiment}/effects"),
    conda:
        "../../envs/mtllaws.yaml"
    script:
        "../scripts/effects.py"
