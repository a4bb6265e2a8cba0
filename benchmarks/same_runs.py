"""Are two ``runs.parquet`` tables the same results, apart from wall times?

Issue 16's check that a refactor changed no result: run the default workflow before
and after, then::

    python benchmarks/same_runs.py OLD/results/quick/runs.parquet NEW/results/quick/runs.parquet

Rows are matched by ``point_id``. Every column of the old table but the wall-time ones
(:data:`mtllaws.shards.WALL_TIME_COLUMNS`) must be equal in the new one: floats and lists
of floats bitwise, the rest by value. Prints one line per differing column (how many
rows, the largest absolute difference) and exits 1 when any differs, 0 when none does.

Columns that only the new table has (a later feature's records, such as ``rotation``)
are listed with their distinct values, so a reader sees that they hold the neutral
value; they fail the check only with ``--strict``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from mtllaws.shards import WALL_TIME_COLUMNS


def _cell_equal(a, b) -> bool:
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


def _max_abs(a, b) -> float | None:
    try:
        return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))
    except (TypeError, ValueError):
        return None


def added_columns(old: pd.DataFrame, new: pd.DataFrame, *, ignore=WALL_TIME_COLUMNS
                  ) -> dict[str, list[str]]:
    """The columns only ``new`` has, each with its distinct values (as text, sorted)."""
    return {
        column: sorted({repr(v) for v in new[column]})
        for column in sorted(set(new.columns) - set(old.columns) - set(ignore))
    }


def compare_runs(old: pd.DataFrame, new: pd.DataFrame, *, ignore=WALL_TIME_COLUMNS,
                 strict: bool = False) -> list[str]:
    """Lines naming every difference between two runs tables (empty: the same).

    A column only ``new`` has is a difference only with ``strict``.
    """
    problems = []
    old_ids, new_ids = set(old["point_id"]), set(new["point_id"])
    if old_ids != new_ids:
        only_old, only_new = sorted(old_ids - new_ids), sorted(new_ids - old_ids)
        problems.append(f"point_id: only in old {only_old}, only in new {only_new}")
    shared = sorted(old_ids & new_ids)
    old = old.set_index("point_id").loc[shared]
    new = new.set_index("point_id").loc[shared]
    columns = [c for c in old.columns if c not in ignore]
    if strict:
        problems += [f"{column}: only in new" for column in added_columns(old, new, ignore=ignore)]
    for column in columns:
        if column not in new.columns:
            problems.append(f"{column}: only in old")
            continue
        rows = [pid for pid in shared if not _cell_equal(old.at[pid, column], new.at[pid, column])]
        if rows:
            diffs = [_max_abs(old.at[p, column], new.at[p, column]) for p in rows]
            diffs = [d for d in diffs if d is not None]
            biggest = f", largest |difference| {max(diffs):.3g}" if diffs else ""
            problems.append(f"{column}: {len(rows)} of {len(shared)} rows differ{biggest}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--strict", action="store_true",
                        help="a column that only the new table has is a difference too")
    args = parser.parse_args(argv)
    old, new = pd.read_parquet(args.old), pd.read_parquet(args.new)
    for column, values in added_columns(old, new).items():
        shown = ", ".join(values[:5]) + (f", … ({len(values)} values)" if len(values) > 5 else "")
        print(f"only in new: {column} = {shown}")
    problems = compare_runs(old, new, strict=args.strict)
    ignored = ", ".join(WALL_TIME_COLUMNS)
    if problems:
        print("\n".join(problems))
        return 1
    compared = len([c for c in old.columns if c not in WALL_TIME_COLUMNS])
    print(f"same results: {len(old)} rows, all {compared} columns of the old table equal "
          f"(ignored: {ignored})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
