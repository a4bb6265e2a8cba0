"""Quick forms of issue 18's transfer presets (alignment, capacity, reweighting).

Each test loads the preset as it is committed, shrinks it through a second config file in
``tmp_path`` (n = 200, 1 epoch, 1 seed, 16-d embeddings, a subset of the grid that keeps
its structure: STL beside MTL, every arm of the comparison), runs the workflow end to end
on the real corpus and checks that the runs tables carry what the findings
(``benchmarks/transfer_checks.py``) need.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _snakemake import hermetic_env, snakemake_command

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("transfer_checks",
                                               REPO / "benchmarks" / "transfer_checks.py")
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)

#: The shrunk grid of each preset (its structure kept) and the experiments run.
QUICK = {
    "alignment": ([{"n_tasks": [1], "n_tokens_per_task": [200]},
                   {"n_tasks": [2], "n_tokens_per_task": [200], "alpha": [0.99],
                    "rotation": [0, 90]}], None),
    "capacity": ([{"n_tasks": [1], "n_tokens_per_task": [200]},
                  {"n_tasks": [2], "n_tokens_per_task": [200], "alpha": [0.99]}],
                 ["capacity_h10", "capacity_h300"]),
    "reweighting": ([{"n_tasks": [1], "n_tokens_per_task": [200]},
                     {"n_tasks": [5], "n_tokens_per_task": [200],
                      "alphas": [[0.99, 0.99, 0.99, "noise"]]}], None),
}


def _override(preset: str, corpus: Path, tmp_path: Path, grid: list, run=None) -> Path:
    """Write the override file that shrinks ``preset``; return the preset's path."""
    path = REPO / "config" / "experiments" / f"{preset}.yaml"
    names = run or yaml.safe_load(path.read_text())["run"]
    override = {"run": names, "experiments": {
        name: {
            "grid": grid,
            "seeds": [0],
            "corpus": {"dir": str(corpus)},
            "embeddings": {"dim": 16},
            "train": {"epochs": 1},
        } for name in names
    }}
    (tmp_path / "quick.yaml").write_text(yaml.safe_dump(override, sort_keys=False))
    return path


@pytest.mark.parametrize("preset", sorted(QUICK))
def test_quick_form_dry_run_builds_its_dag(preset, tiny_conll_dir, tmp_path):
    """Fast: every job of the shrunk preset has a rule (e.g. pack ids with a pattern)."""
    path = _override(preset, tiny_conll_dir, tmp_path, *QUICK[preset])
    proc = subprocess.run(
        snakemake_command("-n", "--quiet", "rules", "--configfile", path,
                          tmp_path / "quick.yaml", "--directory", tmp_path),
        cwd=REPO, capture_output=True, text=True, timeout=600, env=hermetic_env(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "evaluate" in proc.stdout


def _quick(preset: str, conll_dir: Path, tmp_path: Path, grid: list, run=None) -> pd.DataFrame:
    """Run ``preset`` shrunk by an override file; return the runs of its experiments."""
    path = _override(preset, conll_dir, tmp_path, grid, run)
    proc = subprocess.run(
        snakemake_command("--cores", "2", "--configfile", path, tmp_path / "quick.yaml",
                          "--directory", tmp_path),
        cwd=REPO, capture_output=True, text=True, timeout=600, env=hermetic_env(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return checks.load_runs(tmp_path / "results", preset)


@pytest.mark.slow
@pytest.mark.realdata
def test_alignment_quick_form(conll_dir, tmp_path):
    runs = _quick("alignment", conll_dir, tmp_path, *QUICK["alignment"])
    assert sorted(set(runs.experiment)) == ["alignment_aux", "alignment_none"]
    assert runs.groupby("experiment")["align"].first().to_dict() == {
        "alignment_aux": "aux", "alignment_none": "none"}
    assert sorted(set(runs.rotation)) == [0.0, 90.0] and len(runs) == 6
    table = checks.alignment_table(runs)
    assert len(table) == 2 and table.cost.notna().all()
    # T = 1 under align aux is the baseline: the STL rows of both experiments are equal
    assert checks.stl_check(runs)["diff"].abs().max() == 0


@pytest.mark.slow
@pytest.mark.realdata
def test_capacity_quick_form(conll_dir, tmp_path):
    runs = _quick("capacity", conll_dir, tmp_path, *QUICK["capacity"])
    assert runs.groupby("experiment")["hidden"].first().to_dict() == {
        "capacity_h10": 10, "capacity_h300": 300}
    summary = pd.read_parquet(tmp_path / "results" / "capacity_h10" / "summary.parquet")
    assert set(summary.hidden) == {"10"}
    table = checks.capacity_table(runs)
    assert sorted(table.hidden) == [10, 300] and table.transfer.notna().all()


@pytest.mark.slow
@pytest.mark.realdata
def test_reweighting_quick_form(conll_dir, tmp_path):
    runs = _quick("reweighting", conll_dir, tmp_path, *QUICK["reweighting"])
    mtl = runs[runs.n_tasks == 5]
    assert set(mtl.alpha_pattern) == {"0.99-0.99-0.99-noise"} and mtl.alpha.isna().all()
    assert all(len(a) == 4 for a in mtl.alphas)
    svd = runs[runs.experiment == "reweighting_svd"]
    assert all(len(w) == n for w, n in zip(svd.task_weights, svd.n_tasks, strict=True))
    assert runs[runs.experiment == "reweighting_none"].task_weights.isna().all()
    table = checks.reweighting_table(runs)
    assert len(table) == 1 and table["diff"].notna().all()
    weights = checks.svd_weights_table(runs)
    assert len(weights[weights.pattern == "0.99-0.99-0.99-noise"]) == 5
