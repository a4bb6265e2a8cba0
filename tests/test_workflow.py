"""The Snakemake workflow: dry-run job counts, an end-to-end run on real data, reruns."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _snakemake import hermetic_env, snakemake_command, workflow_copy

from mtllaws.shards import RUN_COLUMNS, WALL_TIME_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def snakemake(
    *args: str, cwd: Path = REPO, timeout: int = 600, checkout: Path = REPO
) -> subprocess.CompletedProcess:
    """Run snakemake with the checkout's Snakefile; fail with its output on error."""
    proc = subprocess.run(
        snakemake_command(*args, checkout=checkout),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=hermetic_env(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Per-rule job counts from the job-stats table of a dry run ({} when nothing to do)."""
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


DRY_RUNS = [
    # configfile, per-rule counts (the README states these)
    (
        None,
        {"simulate": 5, "train": 5, "evaluate": 5, "aggregate": 1, "plot_figures": 1, "effects": 1},
    ),
    (
        "config/experiments/paper_balanced.yaml",
        {"simulate": 429, "train": 429, "evaluate": 429, "aggregate": 1, "plot_figures": 1},
    ),
    (
        "config/experiments/paper_unbalanced.yaml",
        {"simulate": 584, "train": 584, "evaluate": 584, "aggregate": 1, "plot_figures": 1},
    ),
    (
        "config/experiments/paper_check.yaml",
        {"simulate": 27, "train": 27, "evaluate": 27, "aggregate": 1, "plot_figures": 1,
         "compare_published": 1, "prepare_embeddings": 1},
    ),
]


@pytest.mark.parametrize(
    ("configfile", "expected"), DRY_RUNS, ids=["default", "balanced", "unbalanced", "check"]
)
def test_dry_run_job_counts(configfile, expected, tiny_conll_dir, tmp_path):
    check_dry_run(REPO, configfile, expected, tiny_conll_dir, tmp_path)


def check_dry_run(checkout, configfile, expected, corpus, tmp_path):
    """Dry-run ``checkout``'s workflow in a fresh copy: its outputs stay invisible."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    published = tmp_path / "published.csv"  # the dry run only needs the table to exist
    published.write_text(
        "n_tasks,n_tokens_per_task,n_tokens_total,mutual_info,alpha,fscore\n"
        "2,1000,2000,0.13,0.6,0.0884\n"
    )
    copy = workflow_copy(tmp_path / "dry", checkout=checkout, corpus=corpus, published=published)
    args = ["-n", "--quiet", "rules"]
    if configfile:
        args += ["--configfile", configfile]
    counts = job_counts(snakemake(*args, cwd=copy, checkout=copy).stdout)
    for rule, count in expected.items():
        assert counts.get(rule) == count, (rule, counts)
    assert counts.get("prepare_corpus") == 1, counts
    assert "download_corpus" not in counts, counts  # ../shared/data/conll2003 was found


@pytest.mark.slow
def test_readme_order_workflow_then_dry_runs(tiny_conll_dir, tmp_path):
    """The README's order: the workflow has run in the checkout, then the tests run.

    The dry runs used to see that checkout's results/ and resources/ (issue 13:
    ``KeyError: 'prepare_corpus'``); in a copy they see none of them.
    """
    checkout = workflow_copy(tmp_path / "user", corpus=tiny_conll_dir)
    default = yaml.safe_load((checkout / "config" / "config.yaml").read_text())
    default_experiment = default["experiments"][default["run"][0]]
    corpus = default_experiment["corpus"]
    tiny = {
        "run": ["tiny"],
        "experiments": {
            "tiny": {
                "grid": [
                    {"n_tasks": [1], "n_tokens_per_task": [300]},
                    {"n_tasks": [2], "n_tokens_per_task": [300], "alpha": [0.99]},
                ],
                "seeds": [0],
                # the default's protocol and corpus: its cache is what the dry runs reuse
                "protocol": default_experiment.get("protocol", "default"),
                "corpus": corpus,
                "embeddings": {"dim": 8},
                "model": {"hidden": 8, "dense": [8], "shared_dense": 1},
                "train": {"epochs": 1},
            }
        },
    }
    # key order kept: Snakemake compares the corpus params as text
    (checkout / "tiny.yaml").write_text(yaml.safe_dump(tiny, sort_keys=False))
    snakemake("--cores", "2", "--configfile", "tiny.yaml", cwd=checkout, checkout=checkout)
    assert (checkout / "results" / "tiny" / "runs.parquet").is_file()
    effects = json.loads((checkout / "results" / "tiny" / "effects.json").read_text())
    (transfer,) = effects["effects"]["sections"]["transfer"]["rows"]  # T2 at 0.99 - STL
    assert transfer["T"] == 2 and transfer["transfer"]["count"] == 1
    assert "## Acceptance" in (checkout / "results" / "tiny" / "effects.md").read_text()
    assert (checkout / "resources" / "corpus" / corpus["name"] / "prepared").is_dir()

    # The old way, in the checkout itself: the default's dry run reads the checkout's own
    # prepared corpus (here the tiny one posing as CoNLL-2003). It no longer schedules
    # prepare_corpus, and the corpus-capacity check (issue 19) even refuses the default
    # grid, naming that cache: the outcome depends on what the checkout holds.
    old_way = subprocess.run(
        snakemake_command("-n", "--quiet", "rules", checkout=checkout),
        cwd=checkout, capture_output=True, text=True, timeout=600, env=hermetic_env(),
    )  # fmt: skip
    assert "prepare_corpus" not in job_counts(old_way.stdout)
    if old_way.returncode != 0:
        assert "prepared/meta.json" in old_way.stdout + old_way.stderr

    for configfile, expected in DRY_RUNS:
        check_dry_run(checkout, configfile, expected, tiny_conll_dir, tmp_path / str(configfile))


def tiny_config(corpus_dir: Path, **train) -> dict:
    return {
        "run": ["tiny"],
        "experiments": {
            "tiny": {
                "grid": [
                    {"n_tasks": [1], "n_tokens_per_task": [400]},
                    {"n_tasks": [2], "n_tokens_per_task": [400], "alpha": [0.6, 0.99]},
                ],
                "seeds": [0, 1],
                "pack_seeds": True,
                "corpus": {"name": "conll_test", "dir": str(corpus_dir)},
                "embeddings": {"dim": 16},
                "model": {"preset": "default", "hidden": 16, "dense": [16]},
                "train": {"epochs": 2, **train},
            }
        },
    }


def test_embeddings_url_is_downloaded_by_its_own_job(tiny_conll_dir, tmp_path):
    from mtllaws.settings import embedding_download_path, embedding_id

    vec = tmp_path / "src" / "small.vec.gz"
    vec.parent.mkdir()
    vec.write_bytes(gzip.compress(b"2 3\nw1 1 2 3\nent0 4 5 6\n"))
    embeddings = {"url": vec.as_uri(), "sha256": hashlib.sha256(vec.read_bytes()).hexdigest()}
    config = tiny_config(tiny_conll_dir)
    config["experiments"]["tiny"]["embeddings"] = embeddings
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = f"resources/embeddings/conll_test/{embedding_id(embeddings)}.npy"
    proc = snakemake("--configfile", str(tmp_path / "config.yaml"), "--cores", "1",
                     "--directory", str(tmp_path), target)
    assert "download_embeddings" in proc.stdout + proc.stderr
    download = tmp_path / embedding_download_path(embeddings)
    assert download.read_bytes() == vec.read_bytes()
    assert (tmp_path / "logs/embeddings/download" / f"{download.name}.log").exists()
    matrix = np.load(tmp_path / target)
    assert matrix.shape[1] == 3 and np.isclose(matrix, 6).any()


@pytest.mark.slow
@pytest.mark.realdata
def test_end_to_end_on_real_data_and_rerun_reproduces(conll_dir, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config(conll_dir)))
    args = ["--configfile", str(config), "--cores", "2", "--directory", str(tmp_path)]
    snakemake(*args)

    runs = pd.read_parquet(tmp_path / "results/tiny/runs.parquet")
    summary = pd.read_parquet(tmp_path / "results/tiny/summary.parquet")
    assert len(runs) == 6  # (1 STL + 2 MTL configurations) x 2 seeds
    assert set(RUN_COLUMNS) <= set(runs.columns)
    assert {"dev_f1_PER", "test_f1_LOC"} <= set(runs.columns)
    assert sorted(runs["point_id"]) == sorted(
        f"{c}_s{s}" for c in ["T1_n400", "T2_n400_a0.6", "T2_n400_a0.99"] for s in (0, 1)
    )
    mtl = runs[runs.n_tasks == 2]
    assert all(len(a) == 1 for a in mtl["ami"])
    assert mtl.groupby("alpha")["ami_mean"].mean().is_monotonic_increasing
    assert runs["test_f1"].between(0, 1).all()
    assert all(len(loss) == 2 for loss in runs["train_loss"])
    assert len(summary) == 3
    assert (summary["count"] == 2).all()
    assert {"test_f1_mean", "test_f1_std", "ami_mean_mean"} <= set(summary.columns)
    for name in ("runs.csv", "summary.csv", "figures/f1_vs_n.png"):
        assert (tmp_path / "results/tiny" / name).stat().st_size > 0

    # Rerun from scratch, keeping the corpus and embedding caches: identical results.
    shutil.rmtree(tmp_path / "results" / "tiny")
    snakemake(*args)
    again = pd.read_parquet(tmp_path / "results/tiny/runs.parquet")
    drop = [c for c in WALL_TIME_COLUMNS if c in runs.columns]
    pd.testing.assert_frame_equal(runs.drop(columns=drop), again.drop(columns=drop))


@pytest.mark.slow
def test_relatedness_measures_and_rotation_end_to_end(tiny_conll_dir, tmp_path):
    """Issue 17: every measure and an input rotation through shards, runs, summary, figures."""
    checkout = workflow_copy(tmp_path / "measures", corpus=tiny_conll_dir)
    measures = ["ami", "cov_sim", "cov_rv", "model_sim", "svd_weight", "head_cka"]
    config = {
        "run": ["rel"],
        "experiments": {
            "rel": {
                "grid": [
                    {"n_tasks": [1], "n_tokens_per_task": [200]},
                    {"n_tasks": [2], "n_tokens_per_task": [200], "alpha": [0.9],
                     "rotation": [0, 90]},
                ],
                "seeds": [0, 1],
                "measures": measures,
                "corpus": {"name": "tiny"},
                "embeddings": {"dim": 8},
                "model": {"hidden": 8, "dense": [8], "shared_dense": 1},
                "train": {"epochs": 1},
            }
        },
    }
    (checkout / "rel.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake("--cores", "2", "--configfile", "rel.yaml", cwd=checkout, checkout=checkout)
    results = checkout / "results" / "rel"
    runs = pd.read_parquet(results / "runs.parquet")
    summary = pd.read_parquet(results / "summary.parquet")
    assert sorted(summary.config_id) == ["T1_n200", "T2_n200_a0.9", "T2_n200_a0.9_r90"]
    assert sorted(set(runs.rotation)) == [0.0, 90.0]
    mtl = runs[runs.n_tasks == 2]
    for name in measures:
        assert mtl[name].map(len).eq(1).all(), name
        assert mtl[f"{name}_mean"].notna().all(), name
        for stat in ("mean", "std"):
            assert f"{name}_mean_{stat}" in summary.columns, name
        if name != "ami":
            for fmt in ("png", "pdf"):
                assert (results / "figures" / f"f1_vs_{name}.{fmt}").is_file(), name
    rv = summary.set_index("config_id").cov_rv_mean_mean
    assert rv["T2_n200_a0.9_r90"] < rv["T2_n200_a0.9"]
    assert summary.set_index("config_id").rotation.to_dict() == {
        "T1_n200": 0.0, "T2_n200_a0.9": 0.0, "T2_n200_a0.9_r90": 90.0}
