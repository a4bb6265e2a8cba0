"""Simulate the synthetic tasks of one grid point (the paper's Algorithm 1).

Rule: ``simulate``.
"""

from mtllaws.pipeline import configure_logging, simulate_point

if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    simulate_point(
        snakemake.input.corpus,  # noqa: F821
        snakemake.params.point,  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.output[0],  # noqa: F821
    )
