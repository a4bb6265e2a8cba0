"""Download the pretrained vectors at embeddings.url and check their size and sha256.

Rule: ``download_embeddings``.
"""

import logging

from mtllaws.download import download_embeddings_stage
from mtllaws.logs import configure_logging

logger = logging.getLogger(__name__)

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    try:
        download_embeddings_stage(snakemake.params.settings, snakemake.output[0])  # noqa: F821
    except Exception:
        logger.exception("download_embeddings failed")
        raise
