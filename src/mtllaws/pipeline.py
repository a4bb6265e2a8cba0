"""The workflow's stages as plain functions.

Each Snakemake rule's script reads the ``snakemake`` object and calls one
function here; nothing in ``workflow/`` re-implements logic. The functions take
paths and plain settings dicts (the validated config), so they can be called
and tested without Snakemake.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mtllaws import shards as mtl_shards
from mtllaws.shards import atomic_path

__all__ = [
    "SPLITS",
    "check_config",
    "corpus_settings",
    "embedding_id",
    "embedding_settings",
    "configure_logging",
    "sha256_file",
    "download_corpus",
    "aggregate",
]

#: The corpus files every corpus folder holds, by split name.
SPLITS = ("train", "valid", "test")

logger = logging.getLogger(__name__)


def check_config(config: Mapping) -> dict[str, dict]:
    """Check what the JSON schema cannot, and return the experiments.

    Parameters
    ----------
    config : mapping
        The workflow config after schema validation (defaults filled in).

    Returns
    -------
    dict
        The experiments named in ``run``, by name. Experiments that are defined but
        not run are neither expanded nor checked against each other.

    Raises
    ------
    ValueError
        ``run`` names an unknown experiment, or two experiments give one corpus
        name different settings. The message names the key.
    """
    experiments = dict(config.get("experiments") or {})
    unknown = [name for name in config.get("run", []) if name not in experiments]
    if unknown:
        raise ValueError(
            f"config key 'run' names experiment(s) {unknown} that are not defined under "
            f"'experiments' (defined: {sorted(experiments)}); fix 'run' or add them"
        )
    experiments = {name: experiments[name] for name in config.get("run", [])}
    by_name: dict[str, tuple[str, dict]] = {}
    for name, exp in experiments.items():
        corpus = exp["corpus"]
        seen = by_name.setdefault(corpus["name"], (name, corpus))
        if seen[1] != corpus:
            raise ValueError(
                f"experiments.{name}.corpus and experiments.{seen[0]}.corpus share the name "
                f"'{corpus['name']}' but differ; give one of them another corpus.name"
            )
    return experiments


def corpus_settings(experiments: Mapping, name: str) -> dict:
    """The corpus settings of the experiments that use the corpus ``name``."""
    for exp in experiments.values():
        if exp["corpus"]["name"] == name:
            return dict(exp["corpus"])
    raise ValueError(f"no experiment uses a corpus named '{name}'")


def embedding_id(settings: Mapping) -> str:
    """A file-name-safe id of an embeddings configuration.

    ``fasttext300_s0`` for vectors trained here, ``pretrained_<stem>_<hash>`` for a
    file (the hash covers the path, so two files of one name do not collide).
    """
    if settings.get("pretrained"):
        path = str(settings["pretrained"])
        stem = "".join(ch if ch.isalnum() else "_" for ch in Path(path).stem)[:40]
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        return f"pretrained_{stem}_{digest}"
    return f"fasttext{settings['dim']}_s{settings['seed']}"


def embedding_settings(experiments: Mapping, corpus: str, emb_id: str) -> dict:
    """The embeddings settings that :func:`embedding_id` names ``emb_id`` for ``corpus``."""
    for exp in experiments.values():
        if exp["corpus"]["name"] == corpus and embedding_id(exp["embeddings"]) == emb_id:
            return dict(exp["embeddings"])
    raise ValueError(f"no experiment uses embeddings '{emb_id}' with corpus '{corpus}'")


def configure_logging(log_path: str | os.PathLike | None, level: int = logging.INFO) -> None:
    """Send log records to the rule's log file (and stderr when there is none)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_path, mode="w")]
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_corpus(
    url: str, sha256: Mapping[str, str], outputs: Mapping[str, str | os.PathLike]
) -> None:
    """Download a zip of the corpus, check each file's sha256, write the outputs.

    Parameters
    ----------
    url : str
        A zip archive holding ``train.txt``, ``valid.txt`` and ``test.txt``
        (at any depth), or a ``file://`` URL of one.
    sha256 : mapping
        Expected sha256 by split; a split without one is not checked.
    outputs : mapping
        Destination path by split.

    Raises
    ------
    ValueError
        The machine is offline, the archive lacks a file, or a checksum differs.
        Nothing is written then.
    """
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ValueError(
            f"could not download the corpus from corpus.url = {url} ({exc}). This machine "
            "may be offline: download it elsewhere and set corpus.dir to a folder with "
            "train.txt, valid.txt and test.txt"
        ) from exc
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"corpus.url = {url} did not return a zip archive") from exc
    members = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
    staged = {}
    for split, dest in outputs.items():
        member = members.get(f"{split}.txt")
        if member is None:
            raise ValueError(f"the archive at corpus.url = {url} holds no {split}.txt")
        data = archive.read(member)
        actual = hashlib.sha256(data).hexdigest()
        expected = sha256.get(split, "")
        if expected and actual != expected:
            raise ValueError(
                f"{split}.txt from {url} has sha256 {actual}, expected {expected} "
                f"(corpus.sha256.{split}); the mirror changed: check it, then update the pin"
            )
        staged[split] = (data, Path(dest))
    for data, dest in staged.values():
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)


def aggregate(
    shards: Sequence[str | os.PathLike],
    *,
    runs: str | os.PathLike,
    summary: str | os.PathLike,
    runs_csv: str | os.PathLike,
    summary_csv: str | os.PathLike,
) -> None:
    """Collect evaluate shards into the runs and summary tables (Parquet and CSV)."""
    start = time.perf_counter()
    table = mtl_shards.collect_runs(shards)
    stats = mtl_shards.summarize(table)
    mtl_shards.write_parquet(table, runs)
    mtl_shards.write_parquet(stats, summary)
    mtl_shards.write_csv(table, runs_csv)
    mtl_shards.write_csv(stats, summary_csv)
    logger.info(
        "aggregated %d shards into %d configurations in %.2f s",
        len(table),
        len(stats),
        time.perf_counter() - start,
    )
