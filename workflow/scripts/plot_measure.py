"""Draw F1 against one relatedness measure of an experiment, as PNG and PDF.

Rule: ``plot_measure``.

Input: ``summary`` (summary.parquet). Wildcards: ``experiment``, ``measure``. Outputs:
``<folder>/f1_vs_<measure>.<png|pdf>`` (:func:`mtllaws.paths.measure_figure_paths`).
"""

from pathlib import Path

import pandas as pd

from mtllaws.figures import plot_measure
from mtllaws.logs import configure_logging

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    plot_measure(
        pd.read_parquet(snakemake.input.summary),  # noqa: F821
        Path(snakemake.output[0]).parent,  # noqa: F821
        snakemake.wildcards.measure,  # noqa: F821
        experiment=snakemake.wildcards.experiment,  # noqa: F821
    )
