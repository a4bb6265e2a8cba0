"""The ΔR² table of every ``compare_features`` study of one experiment.

Rule: ``compare_features``. Each input is a study folder written by the ``regress``
rule (one per ``compare_features`` study and engine) holding ``results.json``; the
outputs are ``markdown`` and ``json`` (:func:`mtllaws.compare_features.write_delta_r2`).
"""

import logging
from pathlib import Path

from mtllaws.compare_features import write_delta_r2
from mtllaws.logs import configure_logging
from mtllaws.pipeline import collect_study_results

logger = logging.getLogger(__name__)


def main(smk) -> None:
    """Read the regress jobs' results and write the ΔR² tables."""
    results = collect_study_results([Path(d) / "results.json" for d in smk.input])
    document = write_delta_r2(
        results, markdown=smk.output.markdown, json_path=smk.output.json
    )
    logger.info("ΔR² tables of %d compare_features studies", len(document["studies"]))


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    main(snakemake)  # noqa: F821
