"""Downloads of the raw inputs: the corpus archive and pretrained vectors.

Both check what they fetch (sha256, size) and write nothing unless it is right;
files are written through :mod:`mtllaws.atomic`.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from mtllaws.atomic import atomic_path

__all__ = ["download_corpus", "download_embeddings_stage"]


def download_corpus(
    url: str, sha256: Mapping[str, str], outputs: Mapping[str, str | os.PathLike]
) -> None:
    """Download a zip of the corpus, check each file's sha256, write the outputs.

    Parameters
    ----------
    url : str
        A zip archive holding ``train.txt``, ``valid.txt`` (or ``dev.txt``) and ``test.txt``
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
        reason = " ".join(str(exc).split())
        raise ValueError(
            f"could not download the corpus from corpus.url = {url} ({reason}); offline? "
            "set corpus.dir in the config or $MTLLAWS_CONLL to a folder with train.txt, "
            "valid.txt (or dev.txt) and test.txt"
        ) from exc
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"corpus.url = {url} did not return a zip archive") from exc
    members = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
    staged = {}
    for split, dest in outputs.items():
        member = members.get(f"{split}.txt")
        if member is None and split == "valid":
            member = members.get("dev.txt")
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


def download_embeddings_stage(settings: Mapping, out: str | os.PathLike) -> None:
    """Download the file at ``embeddings.url`` to ``out`` (checked by size and sha256)."""
    from mtllaws.embeddings import download_vectors

    download_vectors(
        settings["url"], out, sha256=settings.get("sha256") or "", size=settings.get("size") or 0
    )
