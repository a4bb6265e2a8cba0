"""Tests of benchmarks/transfer_checks.py (issue 18's paired-by-seed figures) on generated
runs tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("transfer_checks",
                                               REPO / "benchmarks" / "transfer_checks.py")
tc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc)


def _row(experiment, t, n, seed, f1, **extra):
    return {"experiment": experiment, "n_tasks": t, "n_tokens_per_task": float(n),
            "seed": seed, "test_f1": f1, "alpha": np.nan if t == 1 else extra.pop("alpha", 0.9),
            "rotation": extra.pop("rotation", 0.0), **extra}


def _alignment_runs(stl_aux_shift=0.0):
    rows = []
    for seed, jitter in enumerate([0.0, 0.01, -0.01]):
        for arm in ("none", "aux"):
            exp = f"alignment_{arm}"
            rows.append(_row(exp, 1, 1000, seed, 0.3 + jitter
                             + (stl_aux_shift if arm == "aux" else 0), align=arm))
            # rotation 0: aux adds 0.01; rotation 90 costs none 0.10, aux wins back 0.06;
            # rotation 45 costs 0.001 only (within the seeds' spread of 0.01)
            rows.append(_row(exp, 2, 1000, seed, 0.5 + jitter + (0.01 if arm == "aux" else 0),
                             align=arm))
            rows.append(_row(exp, 2, 1000, seed, 0.4 + jitter + (0.06 if arm == "aux" else 0),
                             align=arm, rotation=90.0))
            rows.append(_row(exp, 2, 1000, seed, 0.499 + jitter, align=arm, rotation=45.0))
    return pd.DataFrame(rows)


def test_alignment_cost_recovered_share_and_noise():
    table = tc.alignment_table(_alignment_runs()).set_index(["rotation", "seed"])
    assert table.loc[(90.0, 1), "cost"] == pytest.approx(-0.10)
    assert table.loc[(90.0, 1), "recovered"] == pytest.approx(0.06)
    assert table.loc[(90.0, 2), "share"] == pytest.approx(0.6)
    assert table.loc[(90.0, 0), "spread"] == pytest.approx(0.01)
    assert table.loc[(45.0, 0), "note"] == "cost within noise"
    assert np.isnan(table.loc[(45.0, 0), "share"])
    assert table.loc[(0.0, 0), "note"] == "cost within noise"  # cost 0 by definition
    text = tc.alignment_report(_alignment_runs())
    assert "| 1000 | 0.9 | 90 | -0.100 ± 0.000 (3) | +0.060 ± 0.000 (3) | 0.60 |" in text
    assert "3 (n, seed) pairs; align none and aux equal" in text
    assert "differ (largest |ΔF1| 2.00e-02)" in tc.alignment_report(_alignment_runs(0.02))


def test_alignment_needs_both_arms():
    runs = _alignment_runs()
    with pytest.raises(ValueError, match=r"lack the align arm\(s\) \['aux'\]"):
        tc.alignment_table(runs[runs["align"] == "none"])
    # without the align column the arm is the experiment's suffix
    same = tc.alignment_table(runs.drop(columns="align"))
    pd.testing.assert_frame_equal(same, tc.alignment_table(runs))


def test_reweighting_paired_difference_and_weights():
    rows = []
    for seed in range(3):
        for pattern, gain in (("0.99-0.99-0.99-noise", 0.03), ("0.99-0.9-0.6-0.2", -0.01)):
            rows.append(_row("reweighting_none", 5, 1000, seed, 0.5 + seed / 100,
                             alpha_pattern=pattern, task_weights=None))
            weights = [1.2, 1.2, 1.2, 1.3 + seed / 10, 0.1 - seed / 10 + 0.0]
            rows.append(_row("reweighting_svd", 5, 1000, seed, 0.5 + seed / 100 + gain,
                             alpha_pattern=pattern, task_weights=weights))
        rows.append(_row("reweighting_none", 1, 1000, seed, 0.3, alpha_pattern=""))
    runs = pd.DataFrame(rows)
    table = tc.reweighting_table(runs)
    noisy = table[table["pattern"] == "0.99-0.99-0.99-noise"]
    assert list(noisy["seed"]) == [0, 1, 2]
    np.testing.assert_allclose(noisy["diff"], 0.03)
    weights = tc.svd_weights_table(runs)
    w = weights[weights["pattern"] == "0.99-0.9-0.6-0.2"].set_index("task")
    assert w.loc[3, "mean"] == pytest.approx(1.4) and w.loc[0, "mean"] == pytest.approx(1.2)
    assert w.loc[3, "seeds"] == 3
    text = tc.reweighting_report(runs)
    assert "| 0.99-0.99-0.99-noise | 1000 | +0.030 ± 0.000 (3) |" in text
    assert "| 0.99-0.9-0.6-0.2 | 1000 | -0.010 ± 0.000 (3) |" in text


def test_capacity_transfer_and_trend():
    rows = []
    for hidden, transfer in ((10, 0.2), (30, 0.1), (100, 0.0), (300, -0.1)):
        for seed in range(3):
            stl = 0.3 + seed / 100
            rows.append(_row(f"capacity_h{hidden}", 1, 2000, seed, stl, hidden=hidden))
            for alpha, extra in ((0.6, 0.0), (0.99, 0.05)):
                rows.append(_row(f"capacity_h{hidden}", 2, 2000, seed,
                                 stl + transfer + extra, hidden=hidden, alpha=alpha))
    table = tc.capacity_table(pd.DataFrame(rows))
    assert len(table) == 24
    got = table.groupby(["alpha", "hidden"])["transfer"].mean()
    assert got[(0.6, 10)] == pytest.approx(0.2) and got[(0.99, 300)] == pytest.approx(-0.05)
    trend = tc.capacity_trend(table).set_index("alpha")
    assert trend.loc[0.6, "rho"] == pytest.approx(-1.0)
    assert trend.loc[0.6, "slope_per_decade"] < -0.1
    text = tc.capacity_report(pd.DataFrame(rows))
    assert "| 2000 | 0.6 | 10 | +0.310 ± 0.010 (3) | +0.510 ± 0.010 (3) | +0.200 ± 0.000 (3) |" \
        in text
    with pytest.raises(ValueError, match="lack the 'hidden' column"):
        tc.capacity_table(pd.DataFrame(rows).drop(columns="hidden"))


def test_load_runs_reads_every_experiment_of_the_preset(tmp_path):
    for name in ("capacity_h10", "capacity_h30", "other"):
        (tmp_path / name).mkdir()
        pd.DataFrame([_row(name, 1, 100, 0, 0.1, hidden=1)]).to_parquet(
            tmp_path / name / "runs.parquet")
    runs = tc.load_runs(tmp_path, "capacity")
    assert sorted(runs["experiment"]) == ["capacity_h10", "capacity_h30"]
    with pytest.raises(ValueError, match=r"no alignment_\*/runs.parquet under .*run the preset"):
        tc.load_runs(tmp_path, "alignment")


@pytest.mark.parametrize("preset, arms", [
    ("alignment", {"alignment_none": ("align", "none"), "alignment_aux": ("align", "aux")}),
    ("reweighting", {"reweighting_none": ("task_weights", "none"),
                     "reweighting_svd": ("task_weights", "svd")}),
    ("capacity", {f"capacity_h{h}": ("hidden", h) for h in (10, 30, 100, 300)}),
])
def test_transfer_presets_load_and_pair_their_arms(preset, arms):
    """Each preset passes the schema and the grid checks; its experiments differ in the
    compared setting only (same grid, seeds and every other model/train key)."""
    from mtllaws.config_check import check_config
    from mtllaws.grid import expand_experiment
    from mtllaws.progress import load_config

    config = load_config([REPO / "config/config.yaml", REPO / f"config/experiments/{preset}.yaml"],
                         schema=str(REPO / "workflow/schemas/config.schema.yaml"))
    assert config["run"] == list(arms)
    experiments = check_config(config)
    grids, rest = [], []
    for name, (key, value) in arms.items():
        exp = experiments[name]
        section = "train" if key == "task_weights" else "model"
        assert exp[section][key] == value, name
        grids.append([(p.config_id, p.seed) for p in expand_experiment(name, exp)])
        rest.append({s: {k: v for k, v in exp[s].items() if k not in (key, "svd_level",
                                                                       "svd_every")}
                     for s in ("model", "train", "corpus", "embeddings")})
        assert any(p.n_tasks == 1 for p in expand_experiment(name, exp)), "STL beside MTL"
    assert all(g == grids[0] for g in grids) and all(r == rest[0] for r in rest)
    if preset == "reweighting":
        assert {exp["slices"] for exp in experiments.values()} == {"shared"}
