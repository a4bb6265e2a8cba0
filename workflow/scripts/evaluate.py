"""Evaluate the models of one pack on dev and test: one row per model.

Rule: ``evaluate``.
"""

from mtllaws.logs import configure_logging
from mtllaws.pipeline import Pack, evaluate_pack

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    evaluate_pack(
        Pack(
            corpus=snakemake.input.corpus,  # noqa: F821
            embeddings=snakemake.input.embeddings,  # noqa: F821
            tasks=snakemake.input.tasks,  # noqa: F821
            points=snakemake.params.points,  # noqa: F821
        ),
        model=snakemake.input.model,  # noqa: F821
        train_shard=snakemake.input.train,  # noqa: F821
        settings=snakemake.params.settings,  # noqa: F821
        out=snakemake.output[0],  # noqa: F821
        measures=snakemake.params.measures,  # noqa: F821
    )
