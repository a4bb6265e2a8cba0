"""Tests of mtllaws.corpus_source and of the corpus download, on a loopback HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import shutil
import socket
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from _snakemake import snakemake_command

from mtllaws.corpus_source import ENV_VAR, SHARED_DIR, download_dir, find_files, resolve
from mtllaws.download import download_corpus

SPLITS = ("train", "valid", "test")


def corpus_folder(path: Path, source: Path, *, dev_name: str = "valid.txt") -> Path:
    """A corpus folder with the tiny corpus, its dev split named ``dev_name``."""
    path.mkdir(parents=True)
    for name in ("train.txt", "test.txt"):
        shutil.copy(source / name, path / name)
    shutil.copy(source / "valid.txt", path / dev_name)
    return path


def settings(**corpus) -> dict:
    return {"name": "tiny", "dir": "", "url": "http://127.0.0.1:9/none.zip", **corpus}


# ----------------------------------------------------------------- the order of sources
def test_configured_dir_wins_and_stays_relative(tiny_conll_dir, tmp_path):
    corpus_folder(tmp_path / "data" / "mine", tiny_conll_dir)
    corpus_folder(tmp_path / "shared" / "data" / "conll2003", tiny_conll_dir)
    root = tmp_path / "checkout"
    root.mkdir()
    env = {ENV_VAR: str(tiny_conll_dir)}
    source = resolve(settings(dir="../data/mine"), root=root, environ=env)
    assert source.kind == "dir" and not source.download
    assert source.folder == Path("../data/mine")
    assert source.files == {s: Path("../data/mine") / f"{s}.txt" for s in SPLITS}


def test_environment_variable_comes_before_shared(tiny_conll_dir, tmp_path):
    corpus_folder(tmp_path / "shared" / "data" / "conll2003", tiny_conll_dir)
    root = tmp_path / "checkout"
    root.mkdir()
    source = resolve(settings(), root=root, environ={ENV_VAR: str(tiny_conll_dir)})
    assert source.kind == "env"
    assert source.files["train"] == tiny_conll_dir / "train.txt"
    assert ENV_VAR in source.reason


def test_shared_folder_beside_the_checkout(tiny_conll_dir, tmp_path):
    corpus_folder(tmp_path / "shared" / "data" / "conll2003", tiny_conll_dir, dev_name="dev.txt")
    root = tmp_path / "checkout"
    root.mkdir()
    source = resolve(settings(), root=root, environ={})
    assert source.kind == "shared" and source.folder == SHARED_DIR
    assert source.files["valid"] == SHARED_DIR / "dev.txt"  # dev.txt stands in for valid.txt
    assert (root / source.files["valid"]).is_file()


def test_nothing_local_means_download(tmp_path):
    source = resolve(settings(), root=tmp_path, environ={ENV_VAR: ""})
    assert source.kind == "download" and source.download
    assert source.files == {s: download_dir("tiny") / f"{s}.txt" for s in SPLITS}
    assert "downloading http://127.0.0.1:9/none.zip" in source.reason


def test_nothing_local_and_no_url_names_what_to_set(tmp_path):
    with pytest.raises(ValueError, match=rf"set experiments.e.corpus.dir or \${ENV_VAR}"):
        resolve(settings(url=""), key="experiments.e.corpus", root=tmp_path, environ={})


def test_explicit_missing_dir_is_an_error_naming_the_key(tiny_conll_dir, tmp_path):
    corpus_folder(tmp_path / "shared" / "data" / "conll2003", tiny_conll_dir)
    root = tmp_path / "checkout"
    root.mkdir()
    with pytest.raises(ValueError, match=r"experiments.e.corpus.dir = \.\./typo is not a folder"):
        resolve(settings(dir="../typo"), key="experiments.e.corpus", root=root, environ={})


def test_missing_environment_folder_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match=rf"\${ENV_VAR} = .*nope is not a folder"):
        resolve(settings(), root=tmp_path, environ={ENV_VAR: str(tmp_path / "nope")})


def test_a_folder_without_a_split_names_the_file(tiny_conll_dir, tmp_path):
    folder = corpus_folder(tmp_path / "c", tiny_conll_dir)
    (folder / "valid.txt").unlink()
    with pytest.raises(ValueError, match=r"corpus.dir = .*c lacks valid.txt or dev.txt"):
        resolve(settings(dir=str(folder)), environ={})
    assert (
        find_files(corpus_folder(tmp_path / "d", tiny_conll_dir, dev_name="dev.txt"))["valid"].name
        == "dev.txt"
    )


# --------------------------------------------------------------------- loopback download
def _zip_of(folder: Path, names=("train.txt", "valid.txt", "test.txt")) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.write(folder / name, f"conll2003/{name}")
    return buffer.getvalue()


@pytest.fixture
def loopback(tmp_path):
    """Serve ``tmp_path / "www"`` on 127.0.0.1; yields the base URL."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pins(folder: Path) -> dict[str, str]:
    return {s: hashlib.sha256((folder / f"{s}.txt").read_bytes()).hexdigest() for s in SPLITS}


def test_download_checks_sha256_on_a_loopback_server(tiny_conll_dir, loopback, tmp_path):
    base, www = loopback
    (www / "c.zip").write_bytes(_zip_of(tiny_conll_dir))
    out = {s: tmp_path / "dl" / f"{s}.txt" for s in SPLITS}
    download_corpus(f"{base}/c.zip", _pins(tiny_conll_dir), out)
    for split in SPLITS:
        assert out[split].read_bytes() == (tiny_conll_dir / f"{split}.txt").read_bytes()

    wrong = {**_pins(tiny_conll_dir), "valid": "0" * 64}
    out2 = {s: tmp_path / "dl2" / f"{s}.txt" for s in SPLITS}
    with pytest.raises(ValueError, match=r"valid.txt from .* has sha256 .*corpus.sha256.valid"):
        download_corpus(f"{base}/c.zip", wrong, out2)
    assert not (tmp_path / "dl2").exists() or not any((tmp_path / "dl2").iterdir())


def test_download_takes_dev_txt_for_valid(tiny_conll_dir, loopback, tmp_path):
    base, www = loopback
    folder = corpus_folder(tmp_path / "devc", tiny_conll_dir, dev_name="dev.txt")
    (www / "d.zip").write_bytes(_zip_of(folder, ("train.txt", "dev.txt", "test.txt")))
    out = {s: tmp_path / "dl" / f"{s}.txt" for s in SPLITS}
    download_corpus(f"{base}/d.zip", _pins(tiny_conll_dir), out)
    assert out["valid"].read_bytes() == (folder / "dev.txt").read_bytes()


def test_offline_download_says_in_one_line_what_to_set(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/conll2003.zip"
    with pytest.raises(ValueError) as info:
        download_corpus(url, {}, {"train": tmp_path / "train.txt"})
    message = str(info.value)
    assert "\n" not in message
    assert "set corpus.dir" in message and f"${ENV_VAR}" in message
    assert not (tmp_path / "train.txt").exists()


# ----------------------------------------------------------------------- the workflow
def _workflow_config(corpus: dict) -> dict:
    return {
        "run": ["e"],
        "experiments": {
            "e": {
                "grid": [{"n_tasks": [1], "n_tokens_per_task": [300]}],
                "seeds": [0],
                "corpus": {"name": "fresh", **corpus},
                "embeddings": {"dim": 8},
            }
        },
    }


def _snakemake(workdir: Path, config: dict, *args, env=None) -> subprocess.CompletedProcess:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        snakemake_command("--configfile", path, "--directory", workdir, *args),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def clean_env(monkeypatch):
    import os

    monkeypatch.delenv(ENV_VAR, raising=False)
    return dict(os.environ)


def test_dry_run_accepts_dev_txt(tiny_conll_dir, tmp_path, clean_env):
    """Issue 19 item 5: a corpus.dir with dev.txt (no valid.txt) used to be a MissingInput."""
    folder = corpus_folder(tmp_path / "devc", tiny_conll_dir, dev_name="dev.txt")
    work = tmp_path / "work"
    work.mkdir()
    proc = _snakemake(work, _workflow_config({"dir": str(folder)}), "-n", env=clean_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "prepare_corpus" in proc.stdout and "download_corpus" not in proc.stdout


def test_dry_run_refuses_a_missing_corpus_dir_before_any_job(tmp_path, clean_env):
    work = tmp_path / "work"
    work.mkdir()
    proc = _snakemake(work, _workflow_config({"dir": "../nowhere"}), "-n", env=clean_env)
    assert proc.returncode != 0
    assert "experiments.e.corpus.dir = ../nowhere is not a folder" in proc.stdout + proc.stderr


def test_dry_run_finds_shared_then_environment(tiny_conll_dir, tmp_path, clean_env):
    work = tmp_path / "checkout"
    work.mkdir()
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    (shared / "conll2003").symlink_to(tiny_conll_dir)
    proc = _snakemake(work, _workflow_config({"dir": ""}), "-n", env=clean_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "download_corpus" not in proc.stdout
    shutil.rmtree(shared.parent)
    proc = _snakemake(work, _workflow_config({"dir": ""}), "-n", env=clean_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "download_corpus" in proc.stdout  # nothing local: the download is planned
    env = {**clean_env, ENV_VAR: str(tiny_conll_dir)}
    proc = _snakemake(work, _workflow_config({"dir": ""}), "-n", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "download_corpus" not in proc.stdout


@pytest.mark.slow
def test_clone_without_shared_downloads_or_says_what_to_set(
    tiny_conll_dir, loopback, tmp_path, clean_env
):
    """A fresh clone: no corpus.dir, no $MTLLAWS_CONLL, no ../shared; online and offline."""
    base, www = loopback
    (www / "c.zip").write_bytes(_zip_of(tiny_conll_dir))
    online = tmp_path / "online"
    online.mkdir()
    corpus = {"dir": "", "url": f"{base}/c.zip", "sha256": _pins(tiny_conll_dir)}
    proc = _snakemake(
        online, _workflow_config(corpus), "--cores", "1", "--until", "prepare_corpus", env=clean_env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (online / "resources/corpus/fresh/download/valid.txt").is_file()
    assert (online / "resources/corpus/fresh/prepared/meta.json").is_file()

    offline = tmp_path / "offline"
    offline.mkdir()
    corpus["url"] = f"http://127.0.0.1:{_closed_port()}/c.zip"
    proc = _snakemake(
        offline, _workflow_config(corpus), "--cores", "1", "--until", "prepare_corpus",
        env=clean_env,
    )  # fmt: skip
    assert proc.returncode != 0
    log_path = offline / "logs/corpus/fresh/download_corpus.log"
    log = log_path.read_text() if log_path.exists() else ""
    output = proc.stdout + proc.stderr + log
    lines = [ln for ln in output.splitlines() if "could not download" in ln]
    assert lines and "set corpus.dir in the config or $MTLLAWS_CONLL" in lines[0], (
        proc.stderr[-3000:] + log
    )
    assert not (offline / "resources/corpus/fresh/download/train.txt").exists()
