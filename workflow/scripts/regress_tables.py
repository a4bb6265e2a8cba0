"""Collect every study's formula, comparison and law card into Markdown, LaTeX and JSON.

Rule: ``regress_tables``. Each input is a study folder written by the ``regress``
rule, holding ``results.json``.
"""

import logging
from pathlib import Path

from mtllaws.logs import configure_logging
from mtllaws.pipeline import collect_study_results
from mtllaws.regress import formulas_document, write_json, write_tables

logger = logging.getLogger(__name__)

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    results = collect_study_results([Path(d) / "results.json" for d in snakemake.input])  # noqa: F821
    write_json(formulas_document(results), snakemake.output.json)  # noqa: F821
    write_tables(
        results,
        markdown=snakemake.output.markdown,  # noqa: F821
        latex=snakemake.output.latex,  # noqa: F821
    )
    logger.info("tabulated %d study results", len(results))
