"""Parquet shards: atomic writes, the shard schema, and aggregation.

Every job of the sweep writes its result as one Parquet *shard*, with one row
per model of its pack (one row unless seeds or levels are packed). A shard is
written to a temporary file in the target's folder and renamed into place, so a
job killed at any moment leaves either no shard or a whole one. The aggregate
step checks every evaluate shard against :data:`RUN_COLUMNS` and concatenates
them into ``runs.parquet`` (one row per model) and ``summary.parquet`` (mean,
std and count per configuration over seeds).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtllaws.atomic import atomic_path
from mtllaws.relatedness import MEASURES, TARGET_COLUMN, measure_columns

__all__ = [
    "atomic_path",
    "write_parquet",
    "write_csv",
    "read_shard",
    "RUN_COLUMNS",
    "measure_run_columns",
    "GRID_COLUMNS",
    "GROUP_KEYS",
    "CASE_COLUMNS",
    "summary_rows",
    "WALL_TIME_COLUMNS",
    "INVARIANT_COLUMNS",
    "UNRECORDED_SOURCE",
    "collect_runs",
    "summarize",
    "ShardError",
    "SHARD_KINDS",
    "check_shard",
    "shard_problem",
]


def measure_run_columns(name: str) -> dict[str, str]:
    """The run columns of relatedness measure ``name`` with their dtype kinds.

    Parameters
    ----------
    name : str
        A measure of :data:`mtllaws.relatedness.MEASURES`.

    Returns
    -------
    dict
        ``{<name>: "O", <name>_mean: "f"}``: the list per model and its mean.
    """
    cols = measure_columns(name)
    return {cols.values: "O", cols.mean: "f"}


#: Columns every evaluate shard has, with the kind of value (pandas dtype kind). AMI's
#: columns are required; another measure's columns are checked when present.
RUN_COLUMNS: dict[str, str] = {
    "experiment": "O",
    "mode": "O",
    "slices": "O",
    "config_id": "O",
    "point_id": "O",
    "n_tasks": "i",
    "n_tokens_per_task": "f",
    "n_ner": "i",
    "n_syn": "i",
    "alpha": "f",
    TARGET_COLUMN: "f",
    "rotation": "f",
    # alpha_pattern (issue 18) is not required: shards written before it read as ""
    "seed": "i",
    **measure_run_columns("ami"),
    "dev_precision": "f",
    "dev_recall": "f",
    "dev_f1": "f",
    "test_precision": "f",
    "test_recall": "f",
    "test_f1": "f",
    "train_loss": "O",
    "wall_time_s": "f",
    "version": "O",
    "config_hash": "O",
    "embeddings_source": "O",
}

#: Columns that are the same for every seed of a configuration; the summary carries
#: them beside the group keys (values that differ within a group are joined by " | ").
INVARIANT_COLUMNS = ["embeddings_source", "hidden", "align"]

#: What a shard written before ``embeddings_source`` existed gets in that column.
UNRECORDED_SOURCE = "unrecorded (shard written before embeddings_source was recorded)"

#: The numeric columns that place a configuration in the grid (size, T, α, target AMI).
GRID_COLUMNS = ["n_tasks", "n_tokens_per_task", "n_ner", "n_syn", "alpha", TARGET_COLUMN]

#: The columns that tell configurations apart at equal (T, n, alpha), with the value that
#: means "as in the paper" (a table without the column is at that value everywhere): the
#: input rotation (issue 17), a per-task alpha pattern (issue 18) and real auxiliary
#: tasks (issue 20). The summary and the regress configurations key on them; the effects
#: keep the rows at these values.
CASE_COLUMNS = {"rotation": 0.0, "alpha_pattern": "", "aux_tasks": ""}

#: The columns that identify a configuration; seeds are averaged over within each.
GROUP_KEYS = ["experiment", "mode", "slices", "config_id", *GRID_COLUMNS, "rotation",
              "alpha_pattern"]


def summary_rows(summary: pd.DataFrame, experiment: str | None, needed, fix: str) -> pd.DataFrame:
    """The rows of ``experiment`` (all rows for None) of a summary that has ``needed``.

    Parameters
    ----------
    summary : pandas.DataFrame
        A summary table (or runs table).
    experiment : str or None
        Keep only this experiment's rows.
    needed : sequence of str
        The columns the caller reads.
    fix : str
        What the message tells the user to do.

    Raises
    ------
    ValueError
        ``summary lacks column(s) [...]; <fix>`` when a needed column (or ``experiment``,
        when one is named) is missing.
    """
    missing = [c for c in needed if c not in summary.columns]
    if experiment is not None and "experiment" not in summary.columns:
        missing.append("experiment")
    if missing:
        raise ValueError(f"summary lacks column(s) {missing}; {fix}")
    return summary if experiment is None else summary[summary["experiment"] == experiment]


#: Columns that differ between two otherwise identical runs.
WALL_TIME_COLUMNS = ["wall_time_s", "train_time_s", "eval_time_s"]


class ShardError(ValueError):
    """A shard is missing, unreadable, or does not follow the shard schema."""


#: What each kind of sweep output must hold: Parquet columns (and metadata key), or
#: for ``model`` a torch zip archive.
SHARD_KINDS: dict[str, dict] = {
    "simulate": {"columns": ["point_id", "token", "label_0"], "metadata": b"mtllaws.tasks"},
    "train": {"columns": ["point_id", "train_loss", "epochs_run", "train_time_s"]},
    "evaluate": {"columns": list(RUN_COLUMNS)},
    "model": {},
}

_CHECKED: dict[tuple, str | None] = {}


def shard_problem(path: str | os.PathLike, kind: str) -> str | None:
    """What is wrong with an existing sweep output, or None when it is whole.

    A cheap check, meant to run on every shard each time the workflow builds its
    DAG: the Parquet footer (schema, row count, metadata) is read, not the data; a
    model must be a readable zip archive (torch's format) with a ``data.pkl``.
    Results are cached by path, size and modification time.

    Parameters
    ----------
    path : path-like
        The file (it must exist).
    kind : {"simulate", "train", "evaluate", "model"}
        Which output it is (:data:`SHARD_KINDS`).

    Returns
    -------
    str or None
        A sentence naming the file, the problem and the fix.
    """
    path = Path(path)
    if kind not in SHARD_KINDS:
        raise ValueError(f"kind={kind!r}; use one of {sorted(SHARD_KINDS)}")
    stat = path.stat()
    key = (str(path.resolve()), kind, stat.st_size, stat.st_mtime_ns)
    if key in _CHECKED:
        return _CHECKED[key]
    fix = "delete it and rerun the workflow to recreate it"
    problem = None
    if kind == "model":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in archive.namelist()):
                    problem = f"{kind} output {path} is a zip archive but no torch file; {fix}"
        except (OSError, zipfile.BadZipFile) as exc:
            problem = f"{kind} output {path} is not a readable torch file ({exc}); {fix}"
    else:
        spec = SHARD_KINDS[kind]
        try:
            meta = pq.ParquetFile(path).metadata
            names = meta.schema.to_arrow_schema().names
            kv = meta.metadata or {}
        except Exception as exc:  # pyarrow raises several types for corrupt files
            problem = f"{kind} shard {path} is not a readable Parquet file ({exc}); {fix}"
        else:
            missing = [c for c in spec["columns"] if c not in names]
            if missing:
                problem = f"{kind} shard {path} lacks column(s) {missing}; {fix}"
            elif meta.num_rows == 0:
                problem = f"{kind} shard {path} has no rows; {fix}"
            elif spec.get("metadata") and spec["metadata"] not in kv:
                key_name = spec["metadata"].decode()
                problem = f"{kind} shard {path} lacks its {key_name} metadata; {fix}"
    _CHECKED[key] = problem
    return problem


def check_shard(path: str | os.PathLike, kind: str) -> str:
    """Return ``path`` when it is missing (to be built) or whole; raise when it is broken.

    Raises
    ------
    ShardError
        The file exists but :func:`shard_problem` finds it broken.
    """
    if Path(path).exists():
        problem = shard_problem(path, kind)
        if problem:
            raise ShardError(problem)
    return str(path)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike, *, metadata=None) -> None:
    """Write a DataFrame to Parquet atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : path-like
        Destination.
    metadata : dict of str to str, optional
        Extra key-value metadata stored in the Parquet schema.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): str(v).encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame to CSV atomically; list cells become ';'-joined text."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object and out[column].map(_is_sequence).any():
            out[column] = out[column].map(
                lambda v: ";".join(_cell_number(x) for x in v) if _is_sequence(v) else v
            )
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)


def _cell_number(x) -> str:
    """One number of a list cell; a missing one (a real task's α, read back as None) is nan."""
    return "nan" if x is None else format(float(x), ".6g")


def _is_sequence(value) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def read_shard(path: str | os.PathLike) -> pd.DataFrame:
    """Read one evaluate shard and check it against :data:`RUN_COLUMNS`.

    Raises
    ------
    ShardError
        The file is missing or not Parquet, lacks a column, has a column of the
        wrong kind, or has no row. The message names the file.
    """
    path = Path(path)
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise ShardError(f"shard {path} does not exist; rerun the workflow to create it") from None
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise ShardError(
            f"shard {path} is not a readable Parquet file ({exc}); delete it and rerun "
            "the workflow to recreate it"
        ) from exc
    if "embeddings_source" not in frame.columns and "config_hash" in frame.columns:
        # shards of earlier versions stay usable; the column says it was not recorded
        frame["embeddings_source"] = UNRECORDED_SOURCE
    if "rotation" not in frame.columns and "config_hash" in frame.columns:
        frame["rotation"] = 0.0  # shards written before the input rotation existed
    if "alpha_pattern" not in frame.columns and "config_hash" in frame.columns:
        frame["alpha_pattern"] = ""  # shards written before per-task alpha patterns existed
    missing = [c for c in RUN_COLUMNS if c not in frame.columns]
    if missing:
        raise ShardError(
            f"shard {path} is not an evaluate shard of this workflow: it lacks column(s) "
            f"{missing}; delete it and rerun the workflow"
        )
    if len(frame) == 0:
        raise ShardError(f"shard {path} has no rows; an evaluate shard has one per model")
    expected = dict(RUN_COLUMNS)
    for name in MEASURES:
        expected.update(
            {c: k for c, k in measure_run_columns(name).items() if c in frame.columns}
        )
    for column, kind in expected.items():
        actual = frame[column].dtype.kind
        ok = actual == kind or (kind == "f" and actual in "if") or (kind == "O" and actual in "OUT")
        if not ok:
            raise ShardError(
                f"shard {path}: column '{column}' has dtype {frame[column].dtype}, "
                f"expected kind '{kind}'; delete it and rerun the workflow"
            )
    return frame


def collect_runs(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate evaluate shards into the runs table, one row per model.

    Rows are sorted by configuration and seed so that the table does not depend
    on the order in which jobs finished.

    Parameters
    ----------
    paths : sequence of path-like
        Evaluate shards.

    Returns
    -------
    pandas.DataFrame
    """
    if not paths:
        raise ShardError("no evaluate shards to aggregate; the experiment's grid is empty")
    frames = [read_shard(p) for p in paths]
    runs = pd.concat(frames, ignore_index=True)
    if "aux_tasks" in runs.columns:  # real auxiliary tasks: "" for the synthetic rows
        runs["aux_tasks"] = runs["aux_tasks"].fillna("").astype(str)
    duplicated = runs["point_id"][runs["point_id"].duplicated()]
    if len(duplicated):
        raise ShardError(f"grid point(s) {sorted(set(duplicated))} appear in more than one shard")
    return runs.sort_values(["config_id", "seed"], kind="stable").reset_index(drop=True)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count per configuration over seeds.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table.

    Returns
    -------
    pandas.DataFrame
        The :data:`GROUP_KEYS`, then ``<metric>_mean`` and ``<metric>_std`` for
        every numeric metric (sample std, NaN for one seed), then ``count``, then
        the :data:`INVARIANT_COLUMNS` present in ``runs`` (one value per group).
    """
    if "rotation" not in runs.columns:  # tables written before the input rotation existed
        runs = runs.assign(rotation=0.0)
    if "alpha_pattern" not in runs.columns:  # tables written before alpha patterns existed
        runs = runs.assign(alpha_pattern="")
    # real auxiliary tasks ("pos+chunk") group like rotation; tables without them keep
    # their columns
    keys = [*GROUP_KEYS, "aux_tasks"] if "aux_tasks" in runs.columns else GROUP_KEYS
    skip = set(keys) | {"seed"} | set(INVARIANT_COLUMNS)
    metrics = [
        c
        for c in runs.columns
        if c not in skip and runs[c].dtype.kind in "if" and not c.endswith("_id")
    ]
    grouped = runs.groupby(keys, dropna=False, sort=True)
    stats = grouped[metrics].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    stats["count"] = grouped.size()
    for column in INVARIANT_COLUMNS:
        if column in runs.columns:
            stats[column] = grouped[column].agg(
                lambda v: " | ".join(sorted({str(x) for x in v}))
            )
    return stats.reset_index()
