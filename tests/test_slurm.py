"""profiles/slurm on a real SLURM cluster: slurm-wlm + munge, installed and started here.

The session fixture `slurm_cluster` apt-installs slurm-wlm and munge when missing and
starts a private single-node cluster WITHOUT accounting (sacct installed but failing),
so these tests also prove the profile's squeue status command works there. The daemons
are stopped at the end of the session. Skipped only when not root or when the packages
are missing and apt-get is unavailable; every other problem is a failure.

Tests on the tiny self-contained workflow below use the rule names of the real sweep
(simulate -> train -> evaluate) so that the profile's groups and set-resources apply.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from _slurm import (
    REPO,
    SlurmCluster,
    run_snakemake_local,
    run_snakemake_slurm,
    skip_reason,
    slurm_command,
    start_cluster,
    write_profile,
)

pytestmark = pytest.mark.slow

SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    cluster = start_cluster()
    print(
        f"[slurm-fixture] cluster up in {time.monotonic() - t0:.1f}s at {cluster.root}",
        file=sys.stderr,
    )
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


TINY_SNAKEFILE = r"""
POINTS = [f"p{i}" for i in range(int(config.get("npoints", 2)))]
SLEEP = int(config.get("sleep", 0))


rule all:
    input:
        expand("out/{p}.eval.txt", p=POINTS),


# Shell commands run under bash strict mode (set -euo pipefail): SLURM variables are
# read with a default, never assumed to exist.
rule simulate:
    output:
        "out/{p}.sim.txt",
    shell:
        'echo "simulate {wildcards.p} host=$(hostname) job=${{SLURM_JOB_ID:-none}}" > {output}'


rule train:
    input:
        "out/{p}.sim.txt",
    output:
        "out/{p}.train.txt",
    threads: 2
    resources:
        gpu=0,
    shell:
        "sleep {SLEEP}; cat {input} > {output}; "
        'echo "train {wildcards.p} threads={threads} job=${{SLURM_JOB_ID:-none}} '
        'cpus=${{SLURM_CPUS_PER_TASK:-none}}" >> {output}'


rule evaluate:
    input:
        "out/{p}.train.txt",
    output:
        "out/{p}.eval.txt",
    shell:
        "cat {input} > {output}; "
        'echo "evaluate {wildcards.p} job=${{SLURM_JOB_ID:-none}}" >> {output}'
"""


def write_tiny_workflow(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "Snakefile").write_text(TINY_SNAKEFILE)
    return workdir


def job_ids(text: str) -> set[str]:
    return set(re.findall(r"job=(\S+)", text))


def test_tiny_workflow_runs_through_slurm(slurm_cluster: SlurmCluster, tmp_path):
    wd = write_tiny_workflow(tmp_path / "wf")
    proc = run_snakemake_slurm(wd, ["--config", "npoints=2"], cluster=slurm_cluster)

    submitted = SUBMITTED.findall(proc.stdout)
    assert submitted, proc.stdout[-3000:]
    texts = [(wd / f"out/p{i}.eval.txt").read_text() for i in range(2)]
    ids = set().union(*map(job_ids, texts))
    # every job ran inside a SLURM allocation ...
    assert "none" not in ids and all(i.isdigit() for i in ids), texts
    # ... and the profile's group put all 6 jobs (2 points x 3 rules) into one submission
    assert ids == set(submitted) and len(ids) == 1, (ids, submitted)
    # set-resources train: cpus_per_task = threads reached srun inside the allocation
    assert all("threads=2" in t and "cpus=2" in t for t in texts), texts
    job = slurm_cluster.cmd("scontrol", "show", "job", submitted[0]).stdout
    assert "JobState=COMPLETED" in job, job
    assert "Requeue=1" in job, job  # slurm-requeue: true
    # no accounting here: sacct fails, so only the squeue status command could work
    assert slurm_cluster.cmd("sacct", check=False).returncode != 0


def start_snakemake_slurm(
    wd: Path, extra_args: list[str], cluster: SlurmCluster, log: Path
) -> subprocess.Popen:
    profile = write_profile(cluster, wd / ".test-profile" / "slurm")
    cmd = slurm_command(profile, extra_args)
    with open(log, "w") as fh:
        return subprocess.Popen(
            cmd,
            cwd=wd,
            env=cluster.env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_running_job(
    cluster: SlurmCluster,
    exclude: set[str],
    proc: subprocess.Popen,
    log: Path,
    timeout: float = 180,
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = cluster.cmd("squeue", "--noheader", "--format=%i|%T", check=False).stdout
        for line in out.splitlines():
            jobid, _, state = line.partition("|")
            if state == "RUNNING" and jobid not in exclude:
                return jobid
        if proc.poll() is not None:
            raise AssertionError(f"snakemake exited early:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no RUNNING SLURM job within {timeout}s\n{log.read_text()[-4000:]}")


def test_job_killed_then_snakemake_killed_then_resume(slurm_cluster: SlurmCluster, tmp_path):
    """A SLURM job dies (retried by the profile), then snakemake itself dies; resume."""
    wd = write_tiny_workflow(tmp_path / "wf")
    args = ["--config", "npoints=1", "sleep=5"]
    log = tmp_path / "first.log"
    proc = start_snakemake_slurm(wd, args, slurm_cluster, log)
    try:
        # 1. the job is killed under the workflow (node fault, admin): seen via squeue
        #    as CANCELLED and resubmitted (retries: 2)
        first = wait_for_running_job(slurm_cluster, set(), proc, log)
        slurm_cluster.cmd("scancel", first)
        second = wait_for_running_job(slurm_cluster, {first}, proc, log)
        # the plugin saw the CANCELLED state (through squeue) and snakemake retried
        assert "Trying to restart job" in log.read_text(), log.read_text()[-3000:]
        kept = list((wd / ".snakemake" / "slurm_logs").rglob(f"{first}.log"))
        assert kept and "CANCELLED" in kept[0].read_text(), kept
        # 2. snakemake dies with the login node; its job is cancelled by hand
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        slurm_cluster.cmd("scancel", second)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    # the same command is refused while the directory is locked ...
    locked = run_snakemake_slurm(wd, args, cluster=slurm_cluster, check=False, timeout=120)
    assert locked.returncode != 0
    assert "--unlock" in locked.stdout, locked.stdout[-3000:]
    # ... and runs to the end after --unlock
    run_snakemake_slurm(wd, [*args, "--unlock"], cluster=slurm_cluster, timeout=120)
    proc = run_snakemake_slurm(wd, args, cluster=slurm_cluster)
    final = SUBMITTED.findall(proc.stdout)
    text = (wd / "out/p0.eval.txt").read_text()
    assert job_ids(text) == set(final) and not {first, second} & set(final), (text, final)


# --- the real sweep on SLURM -----------------------------------------------------------

SWEEP_CONFIGS = {
    # a tiny experiment on the generated corpus of conftest.tiny_conll_dir
    "tiny": lambda corpus: {
        "run": ["tiny"],
        "experiments": {
            "tiny": {
                "grid": [
                    {"n_tasks": [1], "n_tokens_per_task": [400]},
                    {"n_tasks": [2], "n_tokens_per_task": [400], "alpha": [0.6]},
                ],
                "seeds": [0, 1],
                "pack_seeds": True,
                "corpus": {"name": "conll_test", "dir": str(corpus)},
                "embeddings": {"dim": 16},
                "model": {"preset": "default", "hidden": 16, "dense": [16]},
                "train": {"epochs": 2},
            }
        },
    },
}


@pytest.mark.skipif(not (REPO / "Snakefile").exists(), reason="no Snakefile in the repo yet")
@pytest.mark.parametrize("preset", sorted(SWEEP_CONFIGS))
def test_sweep_on_slurm_matches_local_run(preset, slurm_cluster, tiny_conll_dir, tmp_path):
    """`snakemake --profile profiles/slurm` gives the runs.parquet of a local run."""
    import pandas as pd

    from mtllaws.shards import WALL_TIME_COLUMNS

    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(SWEEP_CONFIGS[preset](tiny_conll_dir)))
    experiment = yaml.safe_load(cfg.read_text())["run"][0]
    snakefile = REPO / "Snakefile"

    local = tmp_path / "local"
    run_snakemake_local(
        local,
        ["-s", str(snakefile), "--directory", str(local), "--configfile", str(cfg), "--cores", "2"],
        cwd=REPO,
    )
    remote = tmp_path / "slurm"
    proc = run_snakemake_slurm(
        remote,
        ["-s", str(snakefile), "--directory", str(remote), "--configfile", str(cfg)],
        cluster=slurm_cluster,
        cwd=REPO,
        timeout=900,
    )
    assert SUBMITTED.search(proc.stdout), proc.stdout[-3000:]
    # the sweep jobs really ran as one group submission (profile: groups + components)
    assert "group_point" in proc.stdout or "Group job point" in proc.stdout, proc.stdout[-3000:]

    a = pd.read_parquet(local / "results" / experiment / "runs.parquet")
    b = pd.read_parquet(remote / "results" / experiment / "runs.parquet")
    drop = [c for c in WALL_TIME_COLUMNS if c in a.columns]
    key = "point_id" if "point_id" in a.columns else list(a.columns)[0]
    a = a.drop(columns=drop).sort_values(key).reset_index(drop=True)
    b = b.drop(columns=drop).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
