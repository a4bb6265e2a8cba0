"""Evaluate the model of one grid point on dev and test: one row per model.

Rule: ``evaluate``.
"""

from mtllaws.pipeline import configure_logging, evaluate_point

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    evaluate_point(
        corpus=snakemake.input.corpus,  # noqa: F821
        embeddings=snakemake.input.embeddings,  # noqa: F821
        tasks=snakemake.input.tasks,  # noqa: F821
        model=snakemake.input.model,  # noqa: F821
        train_shard=snakemake.input.train,  # noqa: F821
        point=snakemake.params.point,  # noqa: F821
        settings=snakemake.params.settings,  # noqa: F821
        out=snakemake.output[0],  # noqa: F821
    )
