"""Tests of benchmarks/speed_compare.py's pairing and verdict (synthetic figures, no timing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
_spec = importlib.util.spec_from_file_location("speed_compare",
                                               REPO / "benchmarks" / "speed_compare.py")
speed_compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(speed_compare)


def _row(tree, pair, joint, seq=0.6, published=0.5, preset="paper"):
    return {"tree": tree, "pair": pair, "preset": preset, "threads": 1,
            "ratio_joint": joint, "ratio_sequential": seq,
            "ours_joint_ms": joint * published, "ours_sequential_ms": seq * published,
            "published_ms": published}


def test_abba_order_alternates_which_tree_runs_first():
    assert speed_compare.abba_order(3) == [(1, "old"), (1, "new"), (2, "new"), (2, "old"),
                                           (3, "old"), (3, "new")]


def test_paired_figures_and_verdict():
    rows = [_row("old", 1, 0.50), _row("new", 1, 0.52),
            _row("old", 2, 0.60), _row("new", 2, 0.66)]
    lines = {c["figure"]: c for c in speed_compare.compare(rows, tolerance=0.05)}
    joint = lines["ratio_joint"]
    assert joint["pairs"] == 2
    assert joint["new_over_old"] == pytest.approx(1.18 / 1.10)
    assert joint["diff_mean"] == pytest.approx(0.04)
    assert joint["diff_se"] == pytest.approx(0.02)  # diffs 0.02, 0.06: std 0.0283 / sqrt 2
    assert joint["holds"] is False                  # 7.3 % slower
    assert lines["ratio_sequential"]["holds"] is True
    assert lines["published_ms"]["holds"] is None   # absolute times give no verdict
    text = speed_compare.format_comparison(list(lines.values()))
    assert "SLOWER" in text and "holds" in text


def test_unpaired_runs_are_left_out_and_no_pair_is_an_error():
    rows = [_row("old", 1, 0.50), _row("new", 1, 0.50), _row("old", 2, 9.0)]
    lines = speed_compare.compare(rows)
    assert all(c["pairs"] == 1 for c in lines)
    assert lines[0]["new_over_old"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no pair has both trees"):
        speed_compare.compare([_row("old", 1, 0.5)])
