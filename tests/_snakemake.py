"""The command line that runs this repository's workflow, shared by the workflow tests.

Tests never read or write the checkout's own ``results/``, ``resources/``, ``logs/`` or
``.snakemake/``: they run Snakemake with ``--directory <tmp>`` or in a copy of the
workflow made by :func:`workflow_copy`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: What a copy of the workflow needs: the Snakefile, the rules and scripts, the
#: configs, the conda environment file (job metadata records it) and the package
#: (the workflow puts its own src/ on the path).
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "envs", "src")


def snakemake_command(*args, checkout: Path = REPO) -> list[str]:
    """``python -m snakemake -s <checkout>/Snakefile <args>`` (arguments turned into strings)."""
    return [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), *map(str, args)]


def workflow_copy(
    dest: Path, *, checkout: Path = REPO, corpus: Path | None = None,
    published: Path | None = None,
) -> Path:
    """Copy the workflow of ``checkout`` into ``dest / "repo"``, without any outputs.

    Parameters
    ----------
    dest : pathlib.Path
        A fresh folder (e.g. ``tmp_path``).
    checkout : pathlib.Path
        The checkout to copy (default: this repository).
    corpus : pathlib.Path, optional
        A corpus folder to link as ``dest/shared/data/conll2003``, where the default
        configs look for it (``../shared/data/conll2003`` beside the checkout).
    published : pathlib.Path, optional
        A table to link as ``dest/shared/data/paper/mtl_balanced.csv``, where the
        ``paper_check`` preset looks for the published results.

    Returns
    -------
    pathlib.Path
        The copy's root, to run Snakemake in.
    """
    root = dest / "repo"
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".snakemake")
    for name in WORKFLOW_FILES:
        source = checkout / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    if corpus is not None:
        shared = dest / "shared" / "data"
        shared.mkdir(parents=True)
        (shared / "conll2003").symlink_to(Path(corpus).resolve())
    if published is not None:
        paper = dest / "shared" / "data" / "paper"
        paper.mkdir(parents=True)
        (paper / "mtl_balanced.csv").symlink_to(Path(published).resolve())
    return root


def hermetic_env() -> dict[str, str]:
    """The environment without ``$MTLLAWS_CONLL``, so only the copy's layout decides."""
    return {k: v for k, v in os.environ.items() if k != "MTLLAWS_CONLL"}
