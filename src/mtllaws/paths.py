"""Where the workflow writes: the one registry of output, log and benchmark paths.

Every path is a template relative to the workflow's working directory, with
``str.format`` fields (``{experiment}``, ``{pack}``, ``{corpus}``, ...) that are also
Snakemake wildcards. ``workflow/rules/common.smk`` builds the rules' paths from
them, :mod:`mtllaws.progress` finds a pack's outputs and logs with them, and the
figure file names (:data:`FIGURES`, :data:`FIGURE_FORMATS`) live here so that the
rules need not import the plotting code. Nothing here touches the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "BENCHMARK",
    "CORPUS",
    "EMBEDDINGS",
    "EXPERIMENT",
    "EXPERIMENT_BENCHMARK",
    "EXPERIMENT_FILES",
    "FIGURES",
    "FIGURE_FORMATS",
    "LOG",
    "PACK_LOG",
    "PACK_OUTPUTS",
    "PACK_STAGES",
    "figure_paths",
    "MEASURE_FIGURE",
    "measure_figure",
    "measure_figure_paths",
    "pack_outputs",
    "pack_log",
]

#: An experiment's results folder.
EXPERIMENT = "results/{experiment}"

#: Every output of a pack's simulate, train and evaluate jobs, by shard kind
#: (the kinds of :func:`mtllaws.shards.check_shard`).
PACK_OUTPUTS = {
    "simulate": f"{EXPERIMENT}/simulate/{{pack}}.parquet",
    "model": f"{EXPERIMENT}/train/{{pack}}.pt",
    "train": f"{EXPERIMENT}/train/{{pack}}.parquet",
    "evaluate": f"{EXPERIMENT}/evaluate/{{pack}}.parquet",
}

#: The per-pack jobs, in the order they run; each logs to :data:`PACK_LOG`.
PACK_STAGES = ("simulate", "train", "evaluate")

#: The log of a per-pack job (``stage`` in :data:`PACK_STAGES`).
PACK_LOG = "logs/{experiment}/{stage}/{pack}.log"

def _formats(name: str, stem: str, formats: tuple[str, ...]) -> dict[str, str]:
    """One results file in several formats: ``{name}_{ext}`` -> ``{EXPERIMENT}/{stem}.{ext}``."""
    return {f"{name}_{ext}": f"{EXPERIMENT}/{stem}.{ext}" for ext in formats}


#: The files of an experiment's results folder, by name (``{engine}`` and
#: ``{study}`` are the regress wildcards; ``realtest_*`` are a ``real_tasks`` study's).
EXPERIMENT_FILES = {
    "runs": f"{EXPERIMENT}/runs.parquet",
    "summary": f"{EXPERIMENT}/summary.parquet",
    "runs_csv": f"{EXPERIMENT}/runs.csv",
    "summary_csv": f"{EXPERIMENT}/summary.csv",
    **_formats("effects", "effects", ("md", "json")),
    "figures": f"{EXPERIMENT}/figures",
    "checkpoints": f"{EXPERIMENT}/checkpoints/{{pack}}",
    "regress": f"{EXPERIMENT}/regress/{{engine}}/{{study}}",
    **_formats("formulas", "regress/formulas", ("md", "tex", "json")),
    **_formats("compare_features", "regress/compare_features", ("md", "json")),
    **_formats("realtest", "realtest/{study}", ("md", "json", "png", "pdf")),
    **_formats("compare", "compare/comparison", ("csv", "md", "json", "png", "pdf")),
}

#: Shared inputs under ``resources/``, by name.
CORPUS = {
    "download": "resources/corpus/{corpus}/download",
    "prepared": "resources/corpus/{corpus}/prepared",
}
EMBEDDINGS = {
    "download": "resources/embeddings/download/{download}",
    "matrix": "resources/embeddings/{corpus}/{embedding}.npy",
}

#: A job's log: ``LOG.format(what=...)``, ``what`` a path without suffix.
LOG = "logs/{what}.log"

#: A shared job's benchmark: ``BENCHMARK.format(what=...)``.
BENCHMARK = "results/benchmarks/{what}.tsv"

#: An experiment's job's benchmark (``{experiment}`` and ``{what}``).
EXPERIMENT_BENCHMARK = f"{EXPERIMENT}/benchmarks/{{what}}.tsv"

#: The stems of the paper figures each experiment draws (``mtllaws.figures`` draws
#: them; a test checks that its ``FIGURES`` equals this).
FIGURES = ("f1_vs_n", "f1_vs_ami", "f1_vs_tasks", "ami_vs_alpha")

#: The formats every figure is written in.
FIGURE_FORMATS = ("png", "pdf")


def pack_outputs(root: str | os.PathLike, experiment: str, pack: str) -> dict[str, Path]:
    """The outputs of one pack under ``root``, by shard kind (:data:`PACK_OUTPUTS`)."""
    return {
        kind: Path(root, template.format(experiment=experiment, pack=pack))
        for kind, template in PACK_OUTPUTS.items()
    }


def pack_log(root: str | os.PathLike, experiment: str, stage: str, pack: str) -> Path:
    """The log of one pack's ``stage`` job under ``root`` (:data:`PACK_LOG`)."""
    if stage not in PACK_STAGES:
        raise ValueError(f"stage {stage!r} is not a per-pack job; use one of {PACK_STAGES}")
    return Path(root, PACK_LOG.format(experiment=experiment, stage=stage, pack=pack))


def figure_paths(folder: str | os.PathLike) -> list[str]:
    """``<folder>/<stem>.<format>`` for every figure stem and format.

    Parameters
    ----------
    folder : path-like
        The figures folder; it may contain wildcards, e.g. ``"results/{experiment}/figures"``.

    Returns
    -------
    list of str
        Stems in the order of :data:`FIGURES`, formats in the order of
        :data:`FIGURE_FORMATS` within a stem.
    """
    return [str(Path(folder, f"{stem}.{fmt}")) for stem in FIGURES for fmt in FIGURE_FORMATS]


#: The stem of the figure of F1 against a relatedness measure other than AMI (AMI's
#: is ``f1_vs_ami`` in :data:`FIGURES`); ``{measure}`` is a wildcard of the rule.
MEASURE_FIGURE = "f1_vs_{measure}"


def measure_figure(measure: str) -> str:
    """The figure stem of F1 against ``measure`` (``f1_vs_<measure>``)."""
    return MEASURE_FIGURE.format(measure=measure)


def measure_figure_paths(folder: str | os.PathLike, measure: str = "{measure}") -> list[str]:
    """``<folder>/f1_vs_<measure>.<format>`` for every format.

    Parameters
    ----------
    folder : path-like
        The figures folder (may contain wildcards).
    measure : str, default ``"{measure}"``
        A measure name, or the wildcard itself (the rule's output template).

    Returns
    -------
    list of str
        In the order of :data:`FIGURE_FORMATS`.
    """
    return [str(Path(folder, f"{measure_figure(measure)}.{fmt}")) for fmt in FIGURE_FORMATS]
