"""Compare an experiment's summary with a table of published results.

Rule: ``compare_published``.

Inputs: ``summary`` (summary.parquet) and ``published`` (a CSV in the format of
the paper's mtl_balanced.csv). Wildcard: ``experiment``. Outputs: ``csv`` (merged
table), ``markdown``, ``json`` (statistics), ``png`` and ``pdf`` (the scatter plot;
the two must share their stem).
"""

import logging
from pathlib import Path

import pandas as pd

from mtllaws.compare import write_comparison
from mtllaws.logs import configure_logging

logger = logging.getLogger(__name__)


def plot_stem(png: str, pdf: str) -> Path:
    """The common stem of the plot's PNG and PDF outputs."""
    png, pdf = Path(png), Path(pdf)
    if png.suffix != ".png" or pdf.suffix != ".pdf" or png.with_suffix("") != pdf.with_suffix(""):
        raise ValueError(
            f"rule compare_published: outputs png='{png}' and pdf='{pdf}' must be "
            "<stem>.png and <stem>.pdf with the same stem"
        )
    return png.with_suffix("")


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    out = snakemake.output  # noqa: F821
    stats = write_comparison(
        pd.read_parquet(snakemake.input.summary),  # noqa: F821
        snakemake.input.published,  # noqa: F821
        csv=out.csv,
        markdown=out.markdown,
        stats_json=out.json,
        plot_stem=plot_stem(out.png, out.pdf),
        experiment=snakemake.wildcards.experiment,  # noqa: F821
    )
    logger.info("%s", stats["note"])
