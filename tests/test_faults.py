"""Fault injection on a finished tiny sweep (issue 19): every fault is named, nothing good
is lost, and fixing the cause and rerunning gives the untouched run's table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _snakemake import snakemake_command

from mtllaws.config_check import corpus_facts
from mtllaws.progress import load_config, progress_table
from mtllaws.shards import WALL_TIME_COLUMNS, write_parquet


def tiny(corpus_dir: Path, **exp) -> dict:
    return {
        "run": ["f"],
        "experiments": {
            "f": {
                "grid": [
                    {"n_tasks": [1], "n_tokens_per_task": [300]},
                    {"n_tasks": [2], "n_tokens_per_task": [300], "alpha": [0.9]},
                ],
                "seeds": [0, 1],
                "pack_seeds": True,
                "corpus": {"name": "tiny", "dir": str(corpus_dir)},
                "embeddings": {"dim": 8},
                "model": {"preset": "default", "hidden": 8, "dense": [8]},
                "train": {"epochs": 1},
                **exp,
            }
        },
    }


def snakemake(work: Path, *extra) -> subprocess.CompletedProcess:
    """Run the workflow in ``work`` up to the tables (no figures), output captured."""
    return subprocess.run(
        snakemake_command(
            "--configfile", work / "config.yaml", "--directory", work, "--cores", "2",
            *extra,
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def tables(work: Path) -> list[str]:
    """The targets of rule all but the figures: every pack's outputs and the tables."""
    packs = ["T1_n300_sall", "T2_n300_a0.9_sall"]
    shards = [
        f"results/f/{stage}/{pack}.{ext}"
        for pack in packs
        for stage, ext in (("simulate", "parquet"), ("train", "pt"), ("train", "parquet"),
                           ("evaluate", "parquet"))
    ]
    return [*shards, *(f"results/f/{t}" for t in ("runs.parquet", "summary.parquet"))]


def snapshot(work: Path) -> dict[str, bytes]:
    """Every file under results/ (benchmarks aside), by path."""
    return {
        str(p.relative_to(work)): p.read_bytes()
        for p in sorted((work / "results").rglob("*"))
        if p.is_file() and "benchmarks" not in p.parts
    }


def runs(work: Path) -> pd.DataFrame:
    frame = pd.read_parquet(work / "results/f/runs.parquet")
    return frame.drop(columns=[c for c in WALL_TIME_COLUMNS if c in frame.columns])


def progress(work: Path):
    schema = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    table = progress_table(load_config([work / "config.yaml"], schema=schema), root=work)
    return table.iloc[0][["done", "pending", "failed"]].tolist(), table.attrs["failures"]


def set_readonly(folder: Path, on: bool, *, recursive: bool = False) -> None:
    """Make ``folder`` take no new files: chattr +i as root (chmod would not bite), else chmod."""
    if os.geteuid() == 0:
        args = ["chattr", *(["-R"] if recursive else []), "+i" if on else "-i", str(folder)]
        proc = subprocess.run(args, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())] if recursive else [folder]
    for path in folders:
        path.chmod(0o555 if on else 0o755)


def immutable_works(tmp: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    probe = tmp / "probe"
    probe.mkdir()
    ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    if ok:
        try:
            (probe / "x").write_text("x")
            ok = False
        except OSError:
            pass
        subprocess.run(["chattr", "-i", str(probe)], check=True)
    shutil.rmtree(probe, ignore_errors=True)
    return ok


@pytest.mark.slow
def test_fault_injection(tiny_conll_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(tiny(tiny_conll_dir)))
    proc = snakemake(work, *tables(work))
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = runs(work)
    assert len(expected) == 4
    assert progress(work) == ([4, 0, 0], [])
    evaluate = work / "results/f/evaluate/T2_n300_a0.9_sall.parquet"
    simulate = work / "results/f/simulate/T2_n300_a0.9_sall.parquet"
    train = work / "results/f/train/T1_n300_sall.parquet"

    def refused_naming(path: Path, before: dict[str, bytes]) -> None:
        """A rerun stops before any job, names ``path``, and every other file is kept."""
        proc = snakemake(work, *tables(work))
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert str(path.relative_to(work)) in output, output[-3000:]
        assert "delete it and rerun" in output
        after = snapshot(work)
        broken = str(path.relative_to(work))
        assert {k: v for k, v in after.items() if k != broken} == {
            k: v for k, v in before.items() if k != broken
        }
        (state, failures) = progress(work)
        assert state[2] == 2 and broken in failures[0][2]

    def fixed_rerun_matches() -> None:
        proc = snakemake(work, *tables(work))
        assert proc.returncode == 0, proc.stderr[-3000:]
        pd.testing.assert_frame_equal(runs(work), expected)
        assert progress(work) == ([4, 0, 0], [])

    # 1. A truncated evaluate shard: named before any job; runs/summary are kept.
    before = snapshot(work)
    evaluate.write_bytes(evaluate.read_bytes()[: evaluate.stat().st_size // 2])
    refused_naming(evaluate, before)
    evaluate.unlink()  # the fix

    # 2. A deleted train shard: not done for progress, rebuilt by Snakemake's rule all
    #    (it was "Nothing to be done" before).
    train.unlink()
    assert progress(work)[0] == [0, 4, 0]
    proc = snakemake(work, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(train.relative_to(work)) in proc.stdout + proc.stderr
    assert re.search(r"^train\s+1$", proc.stdout + proc.stderr, re.M)
    fixed_rerun_matches()

    # 3. Garbage in a simulate shard: named; the trained model of its pack is kept.
    before = snapshot(work)
    simulate.write_bytes(b"PAR1 this is not a parquet file")
    refused_naming(simulate, before)
    simulate.unlink()
    fixed_rerun_matches()

    # 4. results/ takes no new files. chmod does not stop root, so as root the folders
    #    are made immutable (chattr +i), which stops root too.
    root_proof = os.geteuid() != 0 or immutable_works(tmp_path)
    if not root_proof:
        pytest.skip("running as root without a working chattr +i: chmod would not bite")
    if os.geteuid() == 0:
        # 4a. All of results/ immutable: Snakemake refuses before any job, naming the tables.
        evaluate.unlink()
        before = snapshot(work)
        set_readonly(work / "results", True, recursive=True)
        try:
            proc = snakemake(work, *tables(work))
            assert proc.returncode != 0
            assert "Write-protected output files" in proc.stderr + proc.stdout
            assert "results/f/runs.parquet" in proc.stderr + proc.stdout
            assert snapshot(work) == before
        finally:
            set_readonly(work / "results", False, recursive=True)
    # 4b. Only results/f/evaluate read-only: the evaluate job fails, naming the file.
    evaluate.unlink(missing_ok=True)
    before = snapshot(work)
    set_readonly(evaluate.parent, True)
    try:
        proc = snakemake(work, *tables(work))
        assert proc.returncode != 0
        output = proc.stdout + proc.stderr
        assert f"cannot write {evaluate.relative_to(work)}" in output, output[-3000:]
        assert snapshot(work) == before
        log = work / "logs/f/evaluate/T2_n300_a0.9_sall.log"
        assert f"job failed: PermissionError: [Errno 1] cannot write {evaluate.relative_to(work)}" \
            in log.read_text()
        state, failures = progress(work)
        assert state == [2, 0, 2]
        assert failures[0][2].startswith("evaluate: ") and "cannot write" in failures[0][2]
    finally:
        set_readonly(evaluate.parent, False)
    fixed_rerun_matches()

    # 5. The tables' folder takes no new file while aggregate reruns (a newer shard):
    #    aggregate fails naming the table, and the last good tables stay (update()).
    shard = pd.read_parquet(evaluate)  # new content (times only): Snakemake checksums inputs
    shard["eval_time_s"] += 1.0
    write_parquet(shard, evaluate)
    before = snapshot(work)
    set_readonly(evaluate.parent.parent, True)
    try:
        proc = snakemake(work, *tables(work))
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "cannot write results/f/" in output, output[-3000:]
        assert "Restored previous version of results/f/runs.parquet" in output
        assert snapshot(work) == before
    finally:
        set_readonly(evaluate.parent.parent, False)
    fixed_rerun_matches()


@pytest.mark.slow
def test_failed_job_writes_its_log_and_progress_reports_it(tiny_conll_dir, tmp_path):
    """issue 19 item 2: a real failing simulate job (disjoint slices of whole sentences
    that fit in T*n tokens but not once each slice drops its trimmed sentence's rest)."""
    n_train = corpus_facts({"name": "tiny", "dir": str(tiny_conll_dir)})["n_train"]
    config = tiny(
        tiny_conll_dir,
        grid=[{"n_tasks": [2], "n_tokens_per_task": [n_train // 2], "alpha": [0.9]}],
        seeds=[0],
        pack_seeds=False,
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(work, "--until", "simulate")
    assert proc.returncode != 0
    pack = f"T2_n{n_train // 2}_a0.9_s0"
    log = work / "logs" / "f" / "simulate" / f"{pack}.log"
    text = log.read_text()
    assert "job failed: ValueError: grid point f/" in text
    assert "ran out of tokens" in text and "Traceback (most recent call last)" in text
    (state, failures) = progress(work)
    assert state == [0, 0, 1]
    assert failures[0][:2] == ("f", pack)
    assert failures[0][2].startswith("simulate: ValueError: grid point f/")
