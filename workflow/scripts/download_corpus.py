"""Download the corpus archive named by corpus.url and check every file's sha256.

Rule: ``download_corpus``.
"""

import logging

from mtllaws.download import download_corpus
from mtllaws.logs import configure_logging

logger = logging.getLogger(__name__)

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    settings = snakemake.params.settings  # noqa: F821
    outputs = {split: snakemake.output[split] for split in ("train", "valid", "test")}  # noqa: F821
    logger.info("downloading %s", settings["url"])
    download_corpus(settings["url"], settings["sha256"], outputs)
