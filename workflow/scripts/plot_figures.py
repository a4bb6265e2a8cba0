"""Draw the figures of one experiment from its summary table, as PNG and PDF.

Rule: ``plot_figures``.

Inputs: ``summary`` (summary.parquet or .csv); optional ``runs`` (runs.parquet,
for a calibration curve with every synthetic task), ``calibration`` (a table with
alpha, ami, ami_std) and ``published`` (the paper's table, whose α → AMI mapping
is overlaid on the calibration curve). Params: ``experiment`` (default: the
``experiment`` wildcard). Outputs: every ``<folder>/<stem>.<png|pdf>`` for the
stems of :data:`mtllaws.figures.FIGURES`, all in one folder.
"""

import logging
from pathlib import Path

import pandas as pd

from mtllaws.figures import FIGURES, figure_paths, plot_all
from mtllaws.logs import configure_logging

logger = logging.getLogger(__name__)


def read_table(path: str) -> pd.DataFrame:
    """Read a Parquet or CSV table, chosen by the file's suffix."""
    if Path(path).suffix == ".parquet":
        return pd.read_parquet(path)
    if Path(path).suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"input '{path}' is neither .parquet nor .csv; give a table in one of those")


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
    experiment = snakemake.params.get("experiment") or snakemake.wildcards.experiment  # noqa: F821
    folder = figure_folder(list(snakemake.output))  # noqa: F821
    optional = {
        key: read_table(getattr(inputs, key)) if getattr(inputs, key, None) else None
        for key in ("runs", "calibration", "published")
    }
    written = plot_all(
        read_table(inputs.summary),
        folder,
        experiment=experiment,
        runs=optional["runs"],
        calibration=optional["calibration"],
        reference=optional["published"],
    )
    logger.info("wrote %d figure files of experiment %s to %s", len(written), experiment, folder)
