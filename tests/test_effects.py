"""Tests of mtllaws.effects and ``mtllaws effects`` on synthetic tables with known effects."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mtllaws.cli import main
from mtllaws.effects import (
    acceptance,
    compute_effects,
    configurations,
    read_results,
    to_markdown,
    write_effects,
)
from mtllaws.shards import summarize

SEEDS = (0, 1, 2)
#: a per-seed offset shared by every configuration (paired differences cancel it)
SEED_SHIFT = {0: -0.01, 1: 0.0, 2: 0.012}
STL = {1000: 0.20, 2000: 0.30, 5000: 0.45}
#: alpha -> (AMI, transfer over STL at T = 2)
LEVELS = {0.6: (0.10, -0.05), 0.9: (0.50, 0.01), 0.99: (0.90, 0.06)}


def run_row(t, n, alpha, seed, f1, *, mode="balanced", n_ner=None, n_syn=None, ami=None):
    n_ner = n if n_ner is None else n_ner
    return {
        "experiment": "e",
        "mode": mode,
        "slices": "disjoint",
        "config_id": f"T{t}_n{n}_a{alpha}",
        "point_id": f"T{t}_n{n}_a{alpha}_s{seed}",
        "n_tasks": t,
        "n_tokens_per_task": float(n) if mode == "balanced" else np.nan,
        "n_ner": n_ner,
        "n_syn": (n_ner if mode == "balanced" else n_syn) if t > 1 else 0,
        "alpha": alpha if t > 1 else np.nan,
        "ami_target": np.nan,
        "seed": seed,
        "ami_mean": ami if t > 1 else np.nan,
        "test_f1": f1,
    }


def balanced_runs(*, stl=True, tasks=(2, 3)) -> pd.DataFrame:
    rows = []
    for seed in SEEDS:
        shift = SEED_SHIFT[seed]
        for n, base in STL.items():
            if stl:
                rows.append(run_row(1, n, None, seed, base + shift))
            for alpha, (ami, gain) in LEVELS.items():
                for t in tasks:
                    extra = 0.02 * (t - 2)  # T = 3 is 0.02 above T = 2
                    rows.append(run_row(t, n, alpha, seed, base + gain + extra + shift, ami=ami))
    return pd.DataFrame(rows)


def rows_by(section, **match):
    return [r for r in section["rows"] if all(r.get(k) == v for k, v in match.items())]


def test_known_effects_from_runs():
    effects = compute_effects(balanced_runs())
    assert effects["mode"] == "balanced" and effects["level"] == "alpha"
    assert effects["source"] == "runs"
    sec = effects["sections"]

    stl = sec["stl"]["rows"]
    assert [r["n"] for r in stl] == [1000, 2000, 5000]
    assert stl[0]["f1"]["mean"] == pytest.approx(0.2 + np.mean(list(SEED_SHIFT.values())))
    assert stl[0]["f1"]["count"] == 3 and stl[0]["step"] is None
    assert [r["step"]["mean"] for r in stl[1:]] == pytest.approx([0.10, 0.15])
    assert all(r["step"]["paired"] and r["step"]["exceeds_2std"] for r in stl[1:])

    ami = rows_by(sec["ami"], T=2)
    assert [r["n"] for r in ami] == [1000, 2000, 5000]
    for row in ami:
        assert row["low"]["alpha"] == 0.6 and row["high"]["alpha"] == 0.99
        assert row["effect"]["mean"] == pytest.approx(0.11)
        assert row["effect"]["std"] == pytest.approx(0.0, abs=1e-12)
        assert row["effect"]["exceeds_2std"] is True  # the configurations' std is 0.011

    transfer = sec["transfer"]["rows"]
    assert len(transfer) == 3 * 3 * 2
    for alpha, (_, gain) in LEVELS.items():
        (row,) = rows_by(sec["transfer"], T=2, n=2000, alpha=alpha)
        assert row["transfer"]["mean"] == pytest.approx(gain)
        assert row["ami"] == pytest.approx(LEVELS[alpha][0])
    (weak,) = rows_by(sec["transfer"], T=2, n=2000, alpha=0.9)
    assert weak["transfer"]["exceeds_2std"] is False  # 0.01 < 2 x 0.011

    tasks = rows_by(sec["tasks"], n=1000, alpha=0.99)
    assert [r["T"] for r in tasks] == [2, 3]
    assert tasks[0]["vs_smallest_T"] is None
    assert tasks[1]["vs_smallest_T"]["mean"] == pytest.approx(0.02)
    assert tasks[1]["f1_stl"]["mean"] == pytest.approx(stl[0]["f1"]["mean"])


def test_summary_table_gives_the_means_and_unpaired_spread():
    runs = balanced_runs()
    from_summary = compute_effects(summarize(runs))
    from_runs = compute_effects(runs)
    assert from_summary["source"] == "summary"
    a = from_summary["sections"]["ami"]["rows"][0]["effect"]
    b = from_runs["sections"]["ami"]["rows"][0]["effect"]
    assert a["mean"] == pytest.approx(b["mean"])
    seed_std = float(np.std(list(SEED_SHIFT.values()), ddof=1))
    assert not a["paired"] and a["std"] == pytest.approx(math.sqrt(2) * seed_std)
    assert a["exceeds_2std"] is True and a["two_sigma"] == pytest.approx(2 * a["std"])


def test_a_step_within_the_noise_is_not_significant():
    runs = balanced_runs()
    noisy = (runs["n_tasks"] == 1) & (runs["n_tokens_per_task"] == 2000)
    runs.loc[noisy, "test_f1"] = 0.205 + runs.loc[noisy, "seed"].map({0: -0.2, 1: 0.0, 2: 0.2})
    step = compute_effects(runs)["sections"]["stl"]["rows"][1]["step"]
    assert step["mean"] == pytest.approx(0.205 - 0.2 - np.mean(list(SEED_SHIFT.values())))
    assert step["exceeds_2std"] is False
    accept = acceptance(compute_effects(runs))
    assert not accept["criteria"][1]["passed"]


def test_without_stl_and_with_one_t_the_sections_say_so():
    effects = compute_effects(balanced_runs(stl=False, tasks=(2,)))
    sec = effects["sections"]
    assert sec["stl"]["rows"] == [] and "no STL" in sec["stl"]["note"]
    assert sec["transfer"]["rows"] == []
    assert "transfer cannot be computed" in sec["transfer"]["note"]
    assert sec["tasks"]["rows"] == [] and "one T > 1 only" in sec["tasks"]["note"]
    assert len(sec["ami"]["rows"]) == 3
    text = to_markdown(effects, acceptance(effects))
    assert "Not computed: no STL (T = 1) configurations." in text
    assert "All criteria met: no." in text


def test_stl_only_table():
    runs = balanced_runs()
    effects = compute_effects(runs[runs["n_tasks"] == 1])
    assert "no MTL" in effects["sections"]["ami"]["note"]
    assert len(effects["sections"]["stl"]["rows"]) == 3
    to_markdown(effects, acceptance(effects))


def test_unbalanced_n_ner_plays_n():
    rows = []
    for seed in SEEDS:
        for n_ner, base in ((1000, 0.2), (2000, 0.3)):
            rows.append(run_row(1, None, None, seed, base, mode="unbalanced", n_ner=n_ner))
            for n_syn in (2000, 4000):
                for alpha, (ami, gain) in LEVELS.items():
                    f1 = base + gain + (0.01 if n_syn == 4000 else 0.0)
                    rows.append(
                        run_row(2, None, alpha, seed, f1, mode="unbalanced", n_ner=n_ner,
                                n_syn=n_syn, ami=ami)
                    )  # fmt: skip
    effects = compute_effects(pd.DataFrame(rows))
    assert effects["mode"] == "unbalanced" and effects["size"] == "n_ner"
    ami = effects["sections"]["ami"]["rows"]
    assert [(r["n"], r["n_syn"]) for r in ami] == [(1000, 2000), (1000, 4000), (2000, 2000),
                                                   (2000, 4000)]  # fmt: skip
    assert all(r["effect"]["mean"] == pytest.approx(0.11) for r in ami)
    (row,) = rows_by(effects["sections"]["transfer"], n=2000, n_syn=4000, alpha=0.99)
    assert row["transfer"]["mean"] == pytest.approx(0.07)
    assert "n_syn" in to_markdown(effects)


def test_acceptance_passes_and_fails_on_the_right_criteria():
    accept = acceptance(compute_effects(balanced_runs()))
    assert accept["passed"], accept["criteria"]
    assert [p["n"] for p in accept["per_n"]] == [1000, 2000, 5000]
    assert accept["per_n"][0]["high_above_stl"] and accept["per_n"][0]["low_at_or_below_stl"]

    runs = balanced_runs()
    low = runs["alpha"] == 0.6
    runs.loc[low, "test_f1"] += 0.08  # low AMI now above STL, the AMI effect only 0.03
    accept = acceptance(compute_effects(runs))
    met = {c["name"].split(":")[0]: c["passed"] for c in accept["criteria"]}
    assert not accept["passed"]
    assert not any(p["effect_ok"] for p in accept["per_n"])
    assert all(p["low_at_or_below_stl"] is False for p in accept["per_n"])
    assert met["every configuration's mean test F1 >= 0.05"]

    runs = balanced_runs()
    runs.loc[runs["n_tokens_per_task"] == 1000, "test_f1"] = 0.0
    first = acceptance(compute_effects(runs))["criteria"][0]
    assert not first["passed"] and "lowest 0.000" in first["detail"]


def test_target_ami_levels_and_mixed_experiments():
    runs = balanced_runs()
    runs["ami_target"] = runs["alpha"].map({0.6: 0.1, 0.9: 0.5, 0.99: 0.9})
    assert compute_effects(runs)["level"] == "ami_target"
    two = pd.concat([runs, runs.assign(experiment="f")])
    with pytest.raises(ValueError, match=r"holds experiments \['e', 'f'\]; choose one"):
        configurations(two)
    assert len(configurations(two, experiment="f")) == len(configurations(runs))
    with pytest.raises(ValueError, match="lacks column"):
        compute_effects(runs.drop(columns="test_f1").drop(columns="seed"))


def test_read_results_prefers_runs_in_a_folder(tmp_path):
    runs = balanced_runs()
    runs.to_parquet(tmp_path / "runs.parquet")
    summarize(runs).to_parquet(tmp_path / "summary.parquet")
    assert "seed" in read_results(tmp_path).columns
    assert "count" in read_results(tmp_path / "summary.parquet").columns
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no runs.parquet"):
        read_results(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        read_results(tmp_path / "missing.parquet")


def test_write_effects_and_cli(tmp_path, capsys):
    runs = balanced_runs()
    runs.to_parquet(tmp_path / "runs.parquet")
    payload = write_effects(runs, tmp_path / "effects.md", tmp_path / "effects.json")
    assert json.loads((tmp_path / "effects.json").read_text())["acceptance"]["passed"]
    assert payload["acceptance"]["passed"]
    assert (tmp_path / "effects.md").read_text().startswith("# Effects (balanced, from the runs")

    assert main(["effects", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## AMI effect: MTL F1 at the highest AMI minus at the lowest" in out
    assert "| 2 | 1000 | 0.6 → 0.99 |" in out and "Acceptance" not in out

    assert main(["effects", str(tmp_path / "runs.parquet"), "--json", "--acceptance"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["acceptance"]["chosen_n"] in (1000, 2000, 5000)
    assert doc["effects"]["sections"]["stl"]["rows"][2]["n"] == 5000

    assert main(["effects", str(tmp_path / "nope")]) == 2
    assert "mtllaws effects: error:" in capsys.readouterr().err


def test_published_table_rows_are_unpaired_observations():
    runs = balanced_runs(tasks=(2,))
    paper = pd.DataFrame(
        {
            "n_tasks": runs["n_tasks"],
            "n_tokens_per_task": runs["n_tokens_per_task"].astype(int),
            "mutual_info": runs["ami_mean"].fillna(0.0),
            "alpha": runs["alpha"].fillna(0.7),  # the paper's STL rows carry an alpha
            "fscore": runs["test_f1"],
        }
    )
    effects = compute_effects(paper)
    assert effects["source"] == "published"
    assert len(effects["configurations"]) == 3 + 3 * 3  # STL rows merge across alpha
    (row,) = rows_by(effects["sections"]["transfer"], T=2, n=5000, alpha=0.99)
    assert row["transfer"]["mean"] == pytest.approx(0.06)
    assert not row["transfer"]["paired"] and row["transfer"]["count"] == 3


def test_one_seed_is_undecided_and_json_has_no_nan():
    runs = balanced_runs()
    one = runs[runs["seed"] == 0]
    for table in (one, summarize(one)):
        effects = compute_effects(table)
        step = effects["sections"]["stl"]["rows"][1]["step"]
        assert step["std"] is None and step["exceeds_2std"] is None
        assert step["mean"] == pytest.approx(0.10)
        json.dumps({"e": effects, "a": acceptance(effects)}, allow_nan=False)
        assert "0.100 (1)" in to_markdown(effects)


def test_rotated_configurations_are_left_out_of_the_effects():
    from mtllaws.effects import configurations

    rows = []
    for rotation, f1 in ((0.0, 0.5), (90.0, 0.1)):
        for seed in (0, 1):
            rows.append({"n_tasks": 2, "n_tokens_per_task": 100.0, "alpha": 0.9,
                         "ami_mean": 0.5, "seed": seed, "test_f1": f1 + 0.01 * seed,
                         "rotation": rotation})
    conf = configurations(pd.DataFrame(rows))
    assert len(conf) == 1 and conf.iloc[0].cell.mean == pytest.approx(0.505)


def test_effects_name_the_recorded_hidden_size_and_alignment():
    from mtllaws.effects import compute_effects, to_markdown

    rows = [{"experiment": e, "n_tasks": t, "n_tokens_per_task": 100.0,
             "alpha": 0.9 if t > 1 else np.nan, "ami_mean": 0.5 if t > 1 else np.nan,
             "seed": s, "test_f1": 0.3 + 0.1 * t + 0.01 * s, "hidden": h, "align": "none"}
            for e, h in (("capacity_h10", 10), ("capacity_h300", 300))
            for t in (1, 2) for s in (0, 1)]
    effects = compute_effects(pd.DataFrame(rows), experiment="capacity_h10")
    assert effects["model"] == {"hidden": "10", "align": "none"}
    assert "Model: hidden = 10, align = none" in to_markdown(effects)
    plain = compute_effects(pd.DataFrame(rows).drop(columns=["hidden", "align"]),
                            experiment="capacity_h10")
    assert plain["model"] == {} and "Model:" not in to_markdown(plain)


def test_spread_and_its_one_format():
    from mtllaws.effects import format_spread, spread

    d = spread([0.1, 0.3, np.nan])  # the NaN is left out
    assert d["count"] == 2 and d["mean"] == pytest.approx(0.2)
    assert d["std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert format_spread(d) == "0.200 ± 0.141 (2)"
    assert format_spread(d, sign=True) == "+0.200 ± 0.141 (2)"
    assert format_spread(spread([-0.05])) == "-0.050 (1)"  # one value: no std
    assert format_spread(spread([])) == "–" and format_spread(None) == "–"
    assert format_spread({"mean": float("nan"), "std": None, "count": 3}) == "–"
