"""How far each experiment of a config has come: done, pending and failed grid points.

A grid point is *done* when the evaluate shard of its pack exists, *failed* when a
log of its pack's simulate, train or evaluate job ends in a Python traceback and the
shard is missing, and *pending* otherwise. The config is read and validated as
Snakemake reads it (same schema, same defaults), so the counts match the workflow.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from mtllaws.grid import expand_experiment, group_packs

__all__ = ["SCHEMA", "load_config", "progress_table", "format_progress"]

#: The workflow's config schema.
SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

_STAGES = ("simulate", "train", "evaluate")


def _merge(base: dict, extra: Mapping) -> dict:
    """Merge ``extra`` into ``base`` as Snakemake merges config files (nested dicts)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(paths: Sequence[str | os.PathLike], *, schema: str | os.PathLike = SCHEMA) -> dict:
    """Read config files in order, merge them and validate them with the schema.

    Parameters
    ----------
    paths : sequence of path-like
        ``config/config.yaml`` first, then any ``--configfile`` files.
    schema : path-like
        The JSON schema (YAML) that fills in defaults.

    Returns
    -------
    dict
        The validated config.
    """
    from snakemake.utils import validate

    config: dict = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ValueError(f"config file {path} does not exist")
        _merge(config, yaml.safe_load(path.read_text()) or {})
    from mtllaws.protocol import apply_protocols

    apply_protocols(config)
    validate(config, str(schema))
    return config


def _failed(log_dir: Path, experiment: str, pack: str) -> bool:
    for stage in _STAGES:
        log = log_dir / experiment / stage / f"{pack}.log"
        if log.exists() and "Traceback (most recent call last)" in log.read_text(errors="replace"):
            return True
    return False


def progress_table(config: Mapping, *, root: str | os.PathLike = ".") -> pd.DataFrame:
    """Count done, pending and failed grid points of every experiment in ``run``.

    Parameters
    ----------
    config : mapping
        A validated config (:func:`load_config`).
    root : path-like
        The workflow's working directory (holds ``results/`` and ``logs/``).

    Returns
    -------
    pandas.DataFrame
        One row per experiment: ``experiment, points, done, pending, failed``.
    """
    root = Path(root)
    rows = []
    for name in config["run"]:
        if name not in config["experiments"]:
            raise ValueError(f"config key 'run' names experiment '{name}', which is not defined")
        exp = config["experiments"][name]
        packs = group_packs(
            expand_experiment(name, exp), seeds=exp["pack_seeds"], levels=exp["pack_levels"]
        )
        counts = {"done": 0, "pending": 0, "failed": 0}
        for pack, points in packs.items():
            if (root / "results" / name / "evaluate" / f"{pack}.parquet").exists():
                state = "done"
            elif _failed(root / "logs", name, pack):
                state = "failed"
            else:
                state = "pending"
            counts[state] += len(points)
        rows.append({"experiment": name, "points": sum(counts.values()), **counts})
    return pd.DataFrame(rows, columns=["experiment", "points", "done", "pending", "failed"])


def format_progress(table: pd.DataFrame) -> str:
    """The progress table as aligned text, with the done share in percent."""
    lines = [f"{'experiment':<24} {'points':>8} {'done':>8} {'pending':>8} {'failed':>8}"]
    for row in table.itertuples(index=False):
        share = 100 * row.done / row.points if row.points else 0.0
        lines.append(
            f"{row.experiment:<24} {row.points:>8} {row.done:>8} {row.pending:>8} "
            f"{row.failed:>8}  ({share:.0f}% done)"
        )
    return "\n".join(lines)
