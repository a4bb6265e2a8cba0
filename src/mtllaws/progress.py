"""How far each experiment of a config has come: done, pending and failed grid points.

A grid point is *done* when every output of its pack (simulate shard, model, train
shard, evaluate shard) exists and passes :func:`mtllaws.shards.shard_problem`, the
check the workflow makes before it builds anything, so Snakemake and this table agree.
A point is *failed* when one of those outputs is broken (Snakemake refuses to run
until it is deleted) or when the log of its pack's simulate, train or evaluate job
records an error (:func:`mtllaws.logs.failure_line`); the table's
``attrs["failures"]`` lists why. Every other point is *pending*. The config is read
and validated as Snakemake reads it (the caller passes the checkout's schema: same
defaults), so the counts match the workflow. Output and log paths come from
:mod:`mtllaws.paths`, the templates the rules use.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from mtllaws.grid import expand_experiment, group_packs
from mtllaws.logs import failure_line
from mtllaws.paths import PACK_STAGES, pack_log, pack_outputs
from mtllaws.shards import shard_problem

__all__ = ["load_config", "pack_state", "progress_table", "format_progress"]


def _merge(base: dict, extra: Mapping) -> dict:
    """Merge ``extra`` into ``base`` as Snakemake merges config files (nested dicts)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(paths: Sequence[str | os.PathLike], *, schema: str | os.PathLike) -> dict:
    """Read config files in order, merge them and validate them with the schema.

    Parameters
    ----------
    paths : sequence of path-like
        ``config/config.yaml`` first, then any ``--configfile`` files.
    schema : path-like
        The workflow's JSON schema (YAML) that fills in defaults:
        ``workflow/schemas/config.schema.yaml`` of the checkout whose config it is.

    Returns
    -------
    dict
        The validated config.

    Raises
    ------
    ValueError
        One line naming the file (missing, not YAML, not a mapping) or the config
        key that breaks the schema.
    """
    from mtllaws.config_check import validate_config

    config: dict = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ValueError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(
                f"config file {where}: not valid YAML ({problem}); fix the file"
            ) from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"config file {path} is not UTF-8 text ({exc.reason})") from None
        if data is None:
            continue
        if not isinstance(data, Mapping):
            raise ValueError(
                f"config file {path} holds a {type(data).__name__}, not a mapping of config "
                "keys (run:, experiments:, ...); write it as 'key: value' lines"
            )
        _merge(config, data)
    from mtllaws.protocol import apply_protocols

    apply_protocols(config)
    validate_config(config, schema)
    return config


def pack_state(root: str | os.PathLike, experiment: str, pack: str) -> tuple[str, str | None]:
    """The state of one pack: ``("done" | "pending" | "failed", why it failed)``.

    Parameters
    ----------
    root : path-like
        The workflow's working directory.
    experiment, pack : str
        The experiment and pack id.

    Returns
    -------
    tuple
        The state, and for ``failed`` the reason: a broken output's problem, or
        ``<stage>: <first line of the error>`` from the job's log.
    """
    root = Path(root)
    complete = True
    for kind, path in pack_outputs(root, experiment, pack).items():
        if not path.exists():
            complete = False
            continue
        problem = shard_problem(path, kind)
        if problem:
            return "failed", problem
    if complete:
        return "done", None
    for stage in PACK_STAGES:
        line = failure_line(pack_log(root, experiment, stage, pack))
        if line:
            return "failed", f"{stage}: {line}"
    return "pending", None


def progress_table(config: Mapping, *, root: str | os.PathLike = ".") -> pd.DataFrame:
    """Count done, pending and failed grid points of every experiment in ``run``.

    Parameters
    ----------
    config : mapping
        A validated config (:func:`load_config`).
    root : path-like
        The workflow's working directory (holds ``results/`` and ``logs/``; a
        relative ``points_csv`` is read from there).

    Returns
    -------
    pandas.DataFrame
        One row per experiment: ``experiment, points, done, pending, failed``.
        ``attrs["failures"]`` lists ``(experiment, pack, reason)`` per failed pack.
    """
    root = Path(root)
    rows, failures = [], []
    for name in config["run"]:
        if name not in config["experiments"]:
            raise ValueError(f"config key 'run' names experiment '{name}', which is not defined")
        exp = config["experiments"][name]
        packs = group_packs(
            expand_experiment(name, exp, root=root),
            seeds=exp["pack_seeds"],
            levels=exp["pack_levels"],
        )
        counts = {"done": 0, "pending": 0, "failed": 0}
        for pack, points in packs.items():
            state, reason = pack_state(root, name, pack)
            counts[state] += len(points)
            if reason:
                failures.append((name, pack, reason))
        rows.append({"experiment": name, "points": sum(counts.values()), **counts})
    table = pd.DataFrame(rows, columns=["experiment", "points", "done", "pending", "failed"])
    table.attrs["failures"] = failures
    return table


def format_progress(table: pd.DataFrame) -> str:
    """The progress table as aligned text, with the done share in percent.

    Each failed pack follows on its own line: ``failed <experiment>/<pack>: <reason>``.
    """
    lines = [f"{'experiment':<24} {'points':>8} {'done':>8} {'pending':>8} {'failed':>8}"]
    for row in table.itertuples(index=False):
        share = 100 * row.done / row.points if row.points else 0.0
        lines.append(
            f"{row.experiment:<24} {row.points:>8} {row.done:>8} {row.pending:>8} "
            f"{row.failed:>8}  ({share:.0f}% done)"
        )
    for experiment, pack, reason in table.attrs.get("failures", []):
        lines.append(f"failed {experiment}/{pack}: {reason}")
    return "\n".join(lines)
