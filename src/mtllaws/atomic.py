"""Atomic file writes: a killed process leaves either the old file or the whole new one.

Every output of the package goes through :func:`atomic_path`: the data is written to
a temporary file in the target's folder and renamed over the target, which POSIX
makes atomic within one file system.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_path",
    "atomic_save_npy",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "sha256_file",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched. The
    file gets the permissions of a newly created file (``0o666`` less the umask),
    not the ``0o600`` of :func:`tempfile.mkstemp`, so shared caches stay readable.

    Parameters
    ----------
    path : path-like
        The final destination. Its folder is created if needed.

    Yields
    ------
    pathlib.Path
        Where to write.

    Raises
    ------
    OSError
        The folder cannot be created or takes no new file; the message names
        ``path`` and the fix.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot write {path}: the folder {path.parent} does not take new files "
            f"({exc.strerror}); make it writable (chmod u+w, chattr -i) or free space, "
            "then rerun",
        ) from exc
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` atomically through ``write(fileobj)`` on a binary file object."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write the bytes ``data`` to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (``encoding``, no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as compact UTF-8 JSON (no ASCII escapes), atomically: the caches' format."""
    atomic_write_bytes(
        path, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    )


def atomic_save_npy(path: str | os.PathLike, array) -> None:
    """Write a NumPy array as ``.npy`` (no pickles), atomically."""
    import numpy as np

    atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks (the one file-hash helper)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
