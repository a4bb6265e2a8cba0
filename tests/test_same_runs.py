"""Tests of benchmarks/same_runs.py (issue 16's check that a refactor changed no result)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("same_runs", REPO / "benchmarks" / "same_runs.py")
same_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(same_runs)


def _runs():
    return pd.DataFrame({
        "point_id": ["a", "b"],
        "test_f1": [0.5, 0.25],
        "train_loss": [[1.0, 0.5], [2.0, 1.0]],
        "alpha": [np.nan, 0.9],
        "train_time_s": [1.0, 2.0],
    })


def test_equal_tables_but_wall_times_pass(tmp_path):
    old, new = _runs(), _runs()
    new["train_time_s"] = [9.0, 9.0]
    assert same_runs.compare_runs(old, new.iloc[::-1]) == []  # rows matched by point_id
    old.to_parquet(tmp_path / "old.parquet")
    new.to_parquet(tmp_path / "new.parquet")
    assert same_runs.main([str(tmp_path / "old.parquet"), str(tmp_path / "new.parquet")]) == 0


def test_a_changed_float_a_changed_list_and_a_lost_column_fail(tmp_path):
    old, new = _runs(), _runs()
    new.loc[1, "test_f1"] = np.nextafter(0.25, 1)  # one ulp is a difference
    new.at[0, "train_loss"] = [1.0, 0.4]
    new = new.drop(columns="alpha")
    problems = same_runs.compare_runs(old, new)
    assert problems[0].startswith("test_f1: 1 of 2 rows differ")
    assert problems[1].startswith("train_loss: 1 of 2 rows differ, largest |difference| 0.1")
    assert "alpha: only in old" in problems
    old.to_parquet(tmp_path / "old.parquet")
    new.to_parquet(tmp_path / "new.parquet")
    assert same_runs.main([str(tmp_path / "old.parquet"), str(tmp_path / "new.parquet")]) == 1


def test_an_added_column_is_listed_and_fails_only_when_strict(tmp_path, capsys):
    old, new = _runs(), _runs()
    new["rotation"] = [0.0, 0.0]
    assert same_runs.compare_runs(old, new) == []
    assert same_runs.compare_runs(old, new, strict=True) == ["rotation: only in new"]
    assert same_runs.added_columns(old, new) == {"rotation": ["0.0"]}
    old.to_parquet(tmp_path / "old.parquet")
    new.to_parquet(tmp_path / "new.parquet")
    paths = [str(tmp_path / "old.parquet"), str(tmp_path / "new.parquet")]
    assert same_runs.main(paths) == 0
    assert "only in new: rotation = 0.0" in capsys.readouterr().out
    assert same_runs.main([*paths, "--strict"]) == 1
