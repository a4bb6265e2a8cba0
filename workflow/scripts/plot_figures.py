"""Draw the figures of one experiment from its summary table, as PNG and PDF.

Rule: ``plot_figures``.

Inputs: ``summary`` (summary.parquet) and ``runs`` (runs.parquet, for a calibration
curve with every synthetic task). Wildcard: ``experiment``. Outputs: every
``<folder>/<stem>.<png|pdf>`` for the stems of :data:`mtllaws.figures.FIGURES`, all
in one folder.
"""

import logging
from pathlib import Path

import pandas as pd

from mtllaws.figures import FIGURES, figure_paths, plot_all
from mtllaws.logs import configure_logging

logger = logging.getLogger(__name__)


def figure_folder(outputs: list[str]) -> Path:
    """The folder of the figures; the outputs must be exactly the expected files."""
    if not outputs:
        raise ValueError(f"rule plot_figures has no outputs; declare the files of {FIGURES}")
    folder = Path(outputs[0]).parent
    expected = set(figure_paths(folder))
    given = {str(Path(p)) for p in outputs}
    if given != expected:
        raise ValueError(
            f"rule plot_figures: outputs {sorted(given - expected)} are not written and "
            f"{sorted(expected - given)} are missing; declare exactly "
            f"figure_paths('{folder}') (mtllaws.figures.FIGURES x png, pdf)"
        )
    return folder


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    inputs = snakemake.input  # noqa: F821
    folder = figure_folder(list(snakemake.output))  # noqa: F821
    experiment = snakemake.wildcards.experiment  # noqa: F821
    written = plot_all(
        pd.read_parquet(inputs.summary),
        folder,
        experiment=experiment,
        runs=pd.read_parquet(inputs.runs),
    )
    logger.info("wrote %d figure files of experiment %s to %s", len(written), experiment, folder)
