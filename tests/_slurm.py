"""A throw-away single-node SLURM cluster for tests, and a runner for Snakemake on it.

Used by tests/test_slurm.py. Everything lives in one private directory under /tmp:
slurm.conf, a private munge key and socket, spool/state dirs, logs and pid files, and
the daemons listen on free ports picked at start. Nothing under /etc is written and no
system service is started, so it can run next to a real SLURM/munge installation or next
to another test session on the same machine.

Cluster shape (matches what CI machines look like: a container, root, no systemd, no
cgroup delegation):

* munged: run as root with ``--force`` on a private socket (slurm.conf ``AuthInfo=socket=``)
* slurmctld + slurmd as root, ``SlurmUser=root``
* no accounting: ``AccountingStorageType=accounting_storage/none``,
  ``JobAcctGatherType=jobacct_gather/none`` -> ``sacct`` is installed but fails, so the
  snakemake SLURM executor must use ``squeue`` (see profiles/slurm/config.yaml)
* no cgroups: ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``
* one partition ``debug`` (Default=YES) with one node of ``os.cpu_count()`` CPUs

Client commands find the cluster through ``SLURM_CONF``; use :meth:`SlurmCluster.env`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE_DIR = REPO / "profiles" / "slurm"

APT_PACKAGES = ("slurm-wlm", "munge")
CLIENTS = (
    "srun",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "sacct",
    "sacctmgr",
    "sshare",
    "salloc",
)
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
STATE_PREFIX = "mtllaws-slurm-"
# Long enough that a finished job is still in `squeue --states=all` at the next status
# check of the executor (checks are at most 180 s apart, plugin source) and >= 3 x the
# profile's slurm-init-seconds-before-status-checks.
MIN_JOB_AGE = 600


class SlurmSkip(Exception):
    """The environment cannot host a SLURM cluster at all (not root / no apt)."""


def skip_reason() -> str | None:
    """Why the SLURM tests must be skipped here, or None if they can run."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "SLURM tests need a POSIX system"
    if os.geteuid() != 0:
        return "SLURM tests need root (they apt-install slurm-wlm/munge and run the daemons)"
    if all(shutil.which(b) for b in BINARIES):
        return None
    if shutil.which("apt-get") is None:
        return "slurm-wlm/munge are not installed and apt-get is unavailable to install them"
    return None


def _log(msg: str) -> None:
    print(f"[slurm-fixture] {msg}", file=sys.stderr, flush=True)


def ensure_installed(timeout: float = 600) -> float:
    """apt-get install slurm-wlm and munge when any daemon/client is missing.

    Returns the seconds spent (0.0 when everything was already there).
    """
    if all(shutil.which(b) for b in BINARIES):
        return 0.0
    t0 = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = [
        "apt-get",
        "-y",
        "-q",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
    ]
    install = [*apt, "install", "--no-install-recommends", *APT_PACKAGES]
    _log("installing " + " ".join(APT_PACKAGES))
    proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # stale or missing package lists: update once and retry
        subprocess.run(
            [*apt, "update"], env=env, capture_output=True, text=True, timeout=timeout, check=True
        )
        proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"apt-get install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    missing = [b for b in BINARIES if not shutil.which(b)]
    if missing:
        raise RuntimeError(f"after apt-get install still missing: {missing}")
    return time.monotonic() - t0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_total_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 2048


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _kill_pidfile(path: Path, grace: float = 10.0) -> None:
    """SIGTERM the process named in a pid file, SIGKILL after `grace` seconds."""
    pid = _read_pid(path)
    if pid is None or pid <= 1 or not _pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


PIDFILES = ("slurmd.pid", "slurmctld.pid", "munged.pid")  # stop order


def reap_stale_clusters(base: Path | None = None) -> None:
    """Stop daemons of earlier sessions whose owning process died (e.g. pytest was killed)."""
    for d in Path(base or tempfile.gettempdir()).glob(STATE_PREFIX + "*"):
        owner = _read_pid(d / "owner.pid")
        if owner is not None and _pid_alive(owner):
            continue  # another live session owns it
        for name in PIDFILES:
            _kill_pidfile(d / name, grace=3)
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class SlurmCluster:
    root: Path
    nodename: str = "node1"
    partition: str = "debug"
    cpus: int = field(default_factory=lambda: os.cpu_count() or 2)
    mem_mb: int = field(default_factory=lambda: max(1024, int(_mem_total_mb() * 0.5)))
    min_job_age: int = MIN_JOB_AGE
    started: bool = False

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket.2"

    @property
    def bindir(self) -> Path:
        return self.root / "bin"

    def env(self, base: dict | None = None) -> dict:
        """Environment for client commands (sbatch, squeue, snakemake) to reach this cluster."""
        env = dict(os.environ if base is None else base)
        # never let a surrounding SLURM job leak into the clients
        for key in [k for k in env if k.startswith("SLURM_")]:
            del env[key]
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.bindir}{os.pathsep}{env.get('PATH', os.defpath)}"
        return env

    def _write_client_wrappers(self) -> None:
        """Wrappers that pin SLURM_CONF, first on PATH.

        snakemake-executor-plugin-slurm-jobstep removes every SLURM_* variable except
        the job identity before it calls `srun` inside the allocation, so SLURM_CONF does
        not reach the nested srun; with the config outside /etc/slurm that srun would fail
        with "Could not establish a configuration source". PATH survives, so the wrappers
        carry the config path instead.
        """
        self.bindir.mkdir(parents=True, exist_ok=True)
        for name in CLIENTS:
            real = shutil.which(name, path=os.defpath + os.pathsep + "/usr/bin:/usr/sbin")
            if real is None:
                continue
            w = self.bindir / name
            w.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {real} "$@"\n')
            w.chmod(0o755)

    def cmd(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), env=self.env(), capture_output=True, text=True, check=check, timeout=timeout
        )

    # -- setup ------------------------------------------------------------------------
    def _write_munge_key(self) -> Path:
        key = self.root / "munge" / "munge.key"
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        return key

    def _write_conf(self, ctld_port: int, slurmd_port: int) -> None:
        host = socket.gethostname().split(".")[0]
        node = (
            f"NodeName={self.nodename} NodeHostname={host} NodeAddr=127.0.0.1 "
            f"CPUs={self.cpus} RealMemory={self.mem_mb} State=UNKNOWN"
        )
        r = self.root
        for sub in ("state", "spool", "log"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"""# generated by tests/_slurm.py
ClusterName=mtllawstest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/%n
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no accounting daemon: sacct exists but cannot answer
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# containers: no systemd, no cgroup delegation
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge={self.min_job_age}
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
{node}
PartitionName={self.partition} Nodes={self.nodename} Default=YES MaxTime=INFINITE State=UP
"""
        )

    def start(self, timeout: float = 90) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "owner.pid").write_text(f"{os.getpid()}\n")
        atexit.register(self.stop)
        key = self._write_munge_key()
        self._write_conf(_free_port(), _free_port())
        self._write_client_wrappers()
        r = self.root
        log = r / "log"
        log.mkdir(exist_ok=True)
        # munged: forks, writes its pid file, refuses to start if the socket is taken
        subprocess.run(
            [
                "munged",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={r}/munged.pid",
                f"--log-file={log}/munged.log",
                f"--seed-file={r}/munge/munged.seed",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        env = self.env()
        # daemonize; pid files come from slurm.conf
        subprocess.run(
            ["slurmctld", "-f", str(self.conf)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        subprocess.run(
            ["slurmd", "-f", str(self.conf), "-N", self.nodename],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.started = True
        self.wait_idle(timeout)

    def node_state(self) -> str:
        p = self.cmd("sinfo", "-h", "-N", "-n", self.nodename, "-o", "%T", check=False)
        return p.stdout.strip().lower() if p.returncode == 0 else f"error: {p.stderr.strip()}"

    def wait_idle(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        resumed = False
        state = ""
        while time.monotonic() < deadline:
            state = self.node_state()
            if state.rstrip("*") in ("idle", "mixed", "allocated"):
                return
            if not resumed and any(s in state for s in ("down", "drain", "fail")):
                self.cmd(
                    "scontrol", "update", f"nodename={self.nodename}", "state=resume", check=False
                )
                resumed = True
            time.sleep(0.5)
        raise RuntimeError(
            f"SLURM node {self.nodename} not idle after {timeout}s "
            f"(state: {state!r})\n{self.logs()}"
        )

    def logs(self, tail: int = 40) -> str:
        out = []
        for f in sorted((self.root / "log").glob("*.log")):
            lines = f.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"--- {f.name} ---\n" + "\n".join(lines))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop the daemons started here (by pid file); safe to call more than once."""
        for name in PIDFILES:
            _kill_pidfile(self.root / name)
        self.started = False


def start_cluster(root: Path | None = None, timeout: float = 90) -> SlurmCluster:
    """Install if needed, then start munged + slurmctld + slurmd; the node is idle on return."""
    reap_stale_clusters()
    ensure_installed()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
    cluster = SlurmCluster(root=root)
    try:
        cluster.start(timeout=timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


# -- Snakemake on the cluster ---------------------------------------------------------


def write_profile(
    cluster: SlurmCluster, dest: Path, src: Path = PROFILE_DIR, overrides: dict | None = None
) -> Path:
    """Copy the repo's SLURM profile to `dest`, adapted to the test cluster.

    The only changes: the placeholder partition is filled in, resource requests are
    clamped to what the single test node has, and the status-check cadence is made
    fast. `overrides` (top-level profile keys) are applied last.
    """
    cfg = yaml.safe_load((src / "config.yaml").read_text())

    def clamp_resources(items: list[str]) -> list[str]:
        out = []
        for item in items:
            key, _, val = item.partition("=")
            key = key.strip()
            if key == "slurm_partition":
                val = repr(cluster.partition)
            elif key == "mem_mb" and val.strip().isdigit():
                val = str(min(int(val), cluster.mem_mb // 2))
            out.append(f"{key}={val}")
        if not any(i.split("=")[0].strip() == "slurm_partition" for i in out):
            out.append(f"slurm_partition={cluster.partition!r}")
        return out

    cfg["default-resources"] = clamp_resources(list(cfg.get("default-resources") or []))
    for res in (cfg.get("set-resources") or {}).values():
        for key in ("cpus_per_task", "threads"):
            if isinstance(res.get(key), int):
                res[key] = min(res[key], cluster.cpus)
        if isinstance(res.get("mem_mb"), int):
            res["mem_mb"] = min(res["mem_mb"], cluster.mem_mb // 2)
    for rule in list(cfg.get("set-threads") or {}):
        if isinstance(cfg["set-threads"][rule], int):
            cfg["set-threads"][rule] = min(cfg["set-threads"][rule], cluster.cpus)
    # a group job asks for up to `cores` CPUs: it must fit on the single test node
    if isinstance(cfg.get("cores"), int):
        cfg["cores"] = min(cfg["cores"], cluster.cpus)
    # fast status checks: the first after 2 s, then 2 s after every finished job
    cfg["seconds-between-status-checks"] = 2
    cfg["slurm-init-seconds-before-status-checks"] = 2
    for key, val in (overrides or {}).items():
        if val is None:
            cfg.pop(key, None)  # None removes a key, e.g. {"groups": None}
        else:
            cfg[key] = val
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def slurm_command(profile: Path, extra_args) -> list[str]:
    """``python -m snakemake --profile <profile> --workflow-profile none <extra_args>``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(profile),
        "--workflow-profile",
        "none",
        *map(str, extra_args),
    ]


def run_snakemake_slurm(
    workdir: Path,
    extra_args: list[str] | tuple[str, ...] = (),
    *,
    cluster: SlurmCluster,
    profile: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``snakemake --profile <profiles/slurm adapted> --workflow-profile none <extra_args>``.

    It runs in `cwd` (default: `workdir`); to run the repository's workflow in a scratch
    directory pass ``cwd=REPO`` and ``["-s", REPO/"Snakefile", "--directory", workdir]``.
    The adapted profile is written under `workdir` (see :func:`write_profile`).
    Returns the CompletedProcess (stdout and stderr merged in .stdout). With check=True
    a non-zero exit raises AssertionError carrying the output and the daemon logs.
    """
    workdir = Path(workdir)
    if profile is None:
        profile = write_profile(cluster, workdir / ".test-profile" / "slurm")
    cmd = slurm_command(profile, extra_args)
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd or workdir,
            env=cluster.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        squeue = cluster.cmd("squeue", "--states=all", check=False).stdout
        cluster.cmd("scancel", "--full", "--user", "root", check=False)  # all ours
        raise AssertionError(
            f"snakemake on SLURM timed out after {timeout}s: {' '.join(cmd)}\n"
            f"{(out or '')[-6000:]}\nsqueue:\n{squeue}\n{cluster.logs()}"
        ) from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake on SLURM failed (rc={proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-8000:]}\n{cluster.logs()}"
        )
    return proc


def run_snakemake_local(
    workdir: Path,
    extra_args: list[str] | tuple[str, ...] = (),
    *,
    cwd: Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """The same workflow run locally (to compare with the SLURM run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    Path(workdir).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", *map(str, extra_args)]
    proc = subprocess.run(
        cmd,
        cwd=cwd or workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"local snakemake failed (rc={proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-8000:]}"
        )
    return proc
