"""Simulate the synthetic tasks of one pack of grid points (the paper's Algorithm 1).

Rule: ``simulate``.
"""

from mtllaws.logs import configure_logging
from mtllaws.pipeline import simulate_pack

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    simulate_pack(
        snakemake.input.corpus,  # noqa: F821
        snakemake.params.points,  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        embeddings=snakemake.input.get("embeddings"),  # noqa: F821
        measures=snakemake.params.measures,  # noqa: F821
    )
