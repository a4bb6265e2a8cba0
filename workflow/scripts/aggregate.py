"""Collect an experiment's evaluate shards into runs and summary tables.

Rule: ``aggregate``.
"""

from mtllaws.logs import configure_logging
from mtllaws.pipeline import aggregate

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    out = snakemake.output  # noqa: F821
    aggregate(
        list(snakemake.input.shards),  # noqa: F821
        runs=out.runs,
        summary=out.summary,
        runs_csv=out.runs_csv,
        summary_csv=out.summary_csv,
    )
