"""Build the embedding matrix of the corpus vocabulary (trained fastText or a file).

Rule: ``prepare_embeddings``.
"""

from mtllaws.logs import configure_logging
from mtllaws.pipeline import prepare_embeddings_stage

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    prepare_embeddings_stage(
        snakemake.input.corpus,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.settings,  # noqa: F821
    )
