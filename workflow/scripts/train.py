"""Train the MTL models of one pack of grid points.

Rule: ``train``.
"""

from mtllaws.logs import configure_logging
from mtllaws.pipeline import Pack, train_pack

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    train_pack(
        Pack(
            corpus=snakemake.input.corpus,  # noqa: F821
            embeddings=snakemake.input.embeddings,  # noqa: F821
            tasks=snakemake.input.tasks,  # noqa: F821
            points=snakemake.params.points,  # noqa: F821
        ),
        settings=snakemake.params.settings,  # noqa: F821
        model_out=snakemake.output.model,  # noqa: F821
        shard_out=snakemake.output.shard,  # noqa: F821
        checkpoint_dir=snakemake.params.checkpoint_dir,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    )
