"""Parse the corpus once and cache vocabulary ids, windows and labels.

Rule: ``prepare_corpus``.
"""

from mtllaws.logs import configure_logging
from mtllaws.pipeline import prepare_corpus_stage

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    prepare_corpus_stage(
        dict(snakemake.input),  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.settings,  # noqa: F821
    )
