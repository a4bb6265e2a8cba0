"""Crash safety: a killed sweep resumes without loss, a killed train job from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from _snakemake import snakemake_command

from mtllaws.shards import WALL_TIME_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def config(corpus_dir: Path, epochs: int = 25, checkpoint_every: int = 1) -> dict:
    return {
        "run": ["crash"],
        "experiments": {
            "crash": {
                "grid": [
                    {"n_tasks": [1], "n_tokens_per_task": [600]},
                    {"n_tasks": [2], "n_tokens_per_task": [600], "alpha": [0.6, 0.99]},
                ],
                "seeds": [0, 1],
                "corpus": {"name": "tiny", "dir": str(corpus_dir)},
                "embeddings": {"dim": 16},
                "model": {"preset": "default", "hidden": 32, "dense": [16]},
                "train": {"epochs": epochs, "checkpoint_every": checkpoint_every},
            }
        },
    }


def command(workdir: Path, *extra: str) -> list[str]:
    return snakemake_command(
        "--configfile", workdir / "config.yaml", "--directory", workdir, "--cores", "2", *extra
    )


def run(workdir: Path, *extra: str) -> None:
    proc = subprocess.run(command(workdir, *extra), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def drop_times(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in WALL_TIME_COLUMNS if c in frame.columns])


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_table(tiny_conll_dir, tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for folder in (clean, killed):
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(config(tiny_conll_dir)))
    run(clean)
    expected = pd.read_parquet(clean / "results/crash/runs.parquet")
    assert len(expected) == 6

    shards = killed / "results" / "crash" / "evaluate"
    proc = subprocess.Popen(
        command(killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: shards.exists() and len(list(shards.glob("*.parquet"))) >= 2,
            600,
            "two evaluate shards",
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = len(list(shards.glob("*.parquet")))
    assert done_before < 6, "the sweep finished before it could be killed"

    run(killed, "--unlock")
    run(killed, "--rerun-incomplete")
    resumed = pd.read_parquet(killed / "results/crash/runs.parquet")
    assert resumed["point_id"].is_unique
    assert sorted(resumed["point_id"]) == sorted(expected["point_id"])
    pd.testing.assert_frame_equal(drop_times(expected), drop_times(resumed))


TRAIN_SCRIPT = """
import sys, yaml
from mtllaws.pipeline import Pack, train_pack
args = yaml.safe_load(open(sys.argv[1]))
pack = Pack(**{key: args.pop(key) for key in ("corpus", "embeddings", "tasks", "points")})
train_pack(pack, **args)
"""


@pytest.mark.slow
def test_killed_train_job_resumes_from_its_checkpoint(tiny_conll_dir, tmp_path):
    """Kill train_pack mid-run; the rerun resumes from the checkpoint and matches bitwise."""
    from snakemake.utils import validate

    from mtllaws.grid import GridPoint, model_settings
    from mtllaws.pipeline import prepare_corpus_stage, prepare_embeddings_stage, simulate_pack

    cfg = config(tiny_conll_dir, epochs=60, checkpoint_every=1)
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"))
    settings = model_settings(cfg["experiments"]["crash"])
    corpus, emb = tmp_path / "corpus", tmp_path / "emb.npy"
    prepare_corpus_stage(
        {s: tiny_conll_dir / f"{s}.txt" for s in ("train", "valid", "test")},
        corpus,
        settings["corpus"],
    )
    prepare_embeddings_stage(corpus, emb, settings["embeddings"])
    point = GridPoint("crash", "balanced", 2, 600, 600, 0.9, None, 0).record()
    tasks = tmp_path / "tasks.parquet"
    simulate_pack(corpus, [point], settings, tasks)

    def args(name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "corpus": str(corpus),
                    "embeddings": str(emb),
                    "tasks": str(tasks),
                    "points": [point],
                    "settings": settings,
                    "model_out": str(tmp_path / f"{name}.pt"),
                    "shard_out": str(tmp_path / f"{name}.parquet"),
                    "checkpoint_dir": str(tmp_path / f"{name}_ckpt"),
                }
            )
        )
        return path

    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    subprocess.run([sys.executable, str(script), str(args("clean"))], check=True, timeout=600)

    checkpoint = tmp_path / "killed_ckpt" / f"{point['point_id']}.pt"
    proc = subprocess.Popen([sys.executable, str(script), str(args("killed"))])
    try:
        wait_for(checkpoint.exists, 300, "the first checkpoint")
        time.sleep(0.5)  # let training run into a later epoch
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "killed.parquet").exists()
    subprocess.run([sys.executable, str(script), str(args("killed"))], check=True, timeout=600)

    shard = pd.read_parquet(tmp_path / "killed.parquet")
    assert shard.loc[0, "resumed_epoch"] > 0
    assert not checkpoint.exists()  # removed once the outputs are written
    clean_shard = pd.read_parquet(tmp_path / "clean.parquet")
    assert list(shard.loc[0, "train_loss"]) == list(clean_shard.loc[0, "train_loss"])
    a = torch.load(tmp_path / "clean.pt", weights_only=True)["states"][point["point_id"]]
    b = torch.load(tmp_path / "killed.pt", weights_only=True)["states"][point["point_id"]]
    assert all(torch.equal(a[k], b[k]) for k in a)
