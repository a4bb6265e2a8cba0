"""The command line that runs this repository's workflow, shared by the workflow tests."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_command(*args) -> list[str]:
    """``python -m snakemake -s <repo>/Snakefile <args>`` (arguments turned into strings)."""
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *map(str, args)]
