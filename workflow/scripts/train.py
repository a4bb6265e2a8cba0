"""Train the MTL model of one grid point.

Rule: ``train``.
"""

from mtllaws.pipeline import configure_logging, train_point

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    train_point(
        corpus=snakemake.input.corpus,  # noqa: F821
        embeddings=snakemake.input.embeddings,  # noqa: F821
        tasks=snakemake.input.tasks,  # noqa: F821
        point=snakemake.params.point,  # noqa: F821
        settings=snakemake.params.settings,  # noqa: F821
        model_out=snakemake.output.model,  # noqa: F821
        shard_out=snakemake.output.shard,  # noqa: F821
        checkpoint=snakemake.params.checkpoint,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    )
