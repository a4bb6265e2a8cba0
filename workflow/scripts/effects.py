"""Write an experiment's measured effects as Markdown and JSON.

Rule: ``effects``.
"""

import logging

import pandas as pd

from mtllaws.effects import write_effects
from mtllaws.logs import configure_logging

logger = logging.getLogger(__name__)

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    try:
        payload = write_effects(
            pd.read_parquet(snakemake.input.runs),  # noqa: F821
            snakemake.output.markdown,  # noqa: F821
            snakemake.output.json,  # noqa: F821
            experiment=snakemake.wildcards.experiment,  # noqa: F821
        )
        logger.info("acceptance criteria met: %s", payload["acceptance"]["passed"])
    except Exception:
        logger.exception("effects failed")
        raise
