"""Where the workflow reads the raw corpus from: the one place that decides it.

An experiment's ``corpus`` settings name the files in one of four ways, tried in
this order by :func:`resolve`:

1. ``dir``: when set (non-empty), that folder. It must exist and hold the files;
   a set but missing ``dir`` is an error naming the key (it never falls through
   to a download, which would hide a typo).
2. ``$MTLLAWS_CONLL``: when the environment variable is set (non-empty), that
   folder, under the same rule.
3. ``../shared/data/conll2003`` beside the checkout (relative to the workflow's
   working directory), when it exists.
4. Otherwise the archive at ``url``, downloaded by the ``download_corpus`` rule into
   ``resources/corpus/<name>/download/`` and checked against ``sha256``.

A corpus folder holds ``train.txt``, ``valid.txt`` (or ``dev.txt``) and ``test.txt``.
Relative paths are kept relative (to the working directory ``root``) so that the
Snakemake rules see the same paths the user wrote.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "SHARED_DIR",
    "SPLIT_FILES",
    "CorpusSource",
    "download_dir",
    "find_files",
    "resolve",
]

#: Environment variable naming a corpus folder, used when ``corpus.dir`` is empty.
ENV_VAR = "MTLLAWS_CONLL"

#: The folder that this project's machines keep beside the checkout.
SHARED_DIR = Path("..", "shared", "data", "conll2003")

#: Accepted file names per split, the first that exists wins.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.txt",),
    "valid": ("valid.txt", "dev.txt"),
    "test": ("test.txt",),
}

_NEEDS = "train.txt, valid.txt (or dev.txt) and test.txt"


@dataclass(frozen=True)
class CorpusSource:
    """The resolved source of a corpus.

    Attributes
    ----------
    kind : {"dir", "env", "shared", "download"}
        Which rule of :func:`resolve` chose it.
    folder : pathlib.Path
        The folder of the files (relative paths are relative to the working directory).
    files : dict of str to pathlib.Path
        The file of each split (``train``, ``valid``, ``test``); ``valid`` may be a
        ``dev.txt``. For ``download`` these are the files the download will write.
    reason : str
        One line saying why this source was chosen.
    """

    kind: str
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    reason: str = ""

    @property
    def download(self) -> bool:
        """Whether the files come from ``corpus.url``."""
        return self.kind == "download"


def download_dir(name: str) -> Path:
    """Where the ``download_corpus`` rule writes the corpus named ``name``."""
    from mtllaws.paths import CORPUS

    return Path(CORPUS["download"].format(corpus=name))


def _absolute(path: Path, root: Path) -> Path:
    return path if path.is_absolute() else root / path


def find_files(
    folder: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    what: str = "the corpus folder",
) -> dict[str, Path]:
    """The file of each split in ``folder``: ``valid.txt`` or else ``dev.txt``.

    Parameters
    ----------
    folder : path-like
        The corpus folder (relative to ``root`` when relative).
    root : path-like, optional
        The working directory (default: the current one).
    what : str
        How the error message names the folder (e.g. the config key).

    Returns
    -------
    dict of str to pathlib.Path
        ``folder / <file>`` per split, in the form ``folder`` was given.

    Raises
    ------
    ValueError
        A split has no file; the message names ``what``, the folder and the files.
    """
    folder = Path(folder)
    base = _absolute(folder, Path(root) if root is not None else Path.cwd())
    files, missing = {}, []
    for split, names in SPLIT_FILES.items():
        found = next((n for n in names if (base / n).is_file()), None)
        if found is None:
            missing.append(" or ".join(names))
        else:
            files[split] = folder / found
    if missing:
        raise ValueError(
            f"{what} = {folder} lacks {', '.join(missing)}; it needs {_NEEDS} in CoNLL "
            "column format"
        )
    return files


def _named_folder(kind: str, value: str, what: str, root: Path, problem: str) -> CorpusSource:
    """The corpus in the folder ``value`` named by ``what`` (a config key or variable).

    Raises ``ValueError(problem)`` when the folder does not exist.
    """
    folder = Path(value).expanduser()
    if not _absolute(folder, root).is_dir():
        raise ValueError(problem)
    files = find_files(folder, root=root, what=what)
    return CorpusSource(kind, folder, files, f"{what} = {value}")


def resolve(
    settings: Mapping,
    *,
    key: str = "corpus",
    root: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> CorpusSource:
    """Decide where the corpus of ``settings`` comes from (see the module docstring).

    Parameters
    ----------
    settings : mapping
        An experiment's validated ``corpus`` settings (``name``, ``dir``, ``url``).
    key : str
        The config path of ``settings`` for messages, e.g. ``experiments.quick.corpus``.
    root : path-like, optional
        The workflow's working directory (default: the current one); relative
        ``dir`` values and ``../shared`` are taken relative to it.
    environ : mapping, optional
        The environment (default ``os.environ``).

    Returns
    -------
    CorpusSource

    Raises
    ------
    ValueError
        ``dir`` (or ``$MTLLAWS_CONLL``) is set but is not a folder, or lacks a file;
        or nothing is found and ``url`` is empty. The message names the key or
        variable and the fix.
    """
    root = Path(root) if root is not None else Path.cwd()
    environ = os.environ if environ is None else environ
    configured = str(settings.get("dir") or "")
    if configured:
        return _named_folder(
            "dir", configured, f"{key}.dir", root,
            f"{key}.dir = {configured} is not a folder (looked in "
            f"{_absolute(Path(configured).expanduser(), root)}); set {key}.dir to a folder "
            f'with {_NEEDS}, or to "" to use ${ENV_VAR}, {SHARED_DIR} or the download',
        )
    from_env = environ.get(ENV_VAR, "")
    if from_env:
        return _named_folder(
            "env", from_env, f"${ENV_VAR}", root,
            f"${ENV_VAR} = {from_env} is not a folder; point it at a folder with "
            f"{_NEEDS}, or unset it",
        )
    if _absolute(SHARED_DIR, root).is_dir():
        files = find_files(SHARED_DIR, root=root, what=f"{SHARED_DIR} (found beside the checkout)")
        return CorpusSource("shared", SHARED_DIR, files, f"{key}.dir is empty; found {SHARED_DIR}")
    if not settings.get("url"):
        raise ValueError(
            f"{key}.dir and {key}.url are empty, ${ENV_VAR} is unset and {SHARED_DIR} does "
            f"not exist: set {key}.dir or ${ENV_VAR} to a folder with {_NEEDS}"
        )
    folder = download_dir(settings["name"])
    files = {split: folder / f"{split}.txt" for split in SPLIT_FILES}
    return CorpusSource(
        "download",
        folder,
        files,
        f"{key}.dir is empty, ${ENV_VAR} is unset and {SHARED_DIR} does not exist: "
        f"downloading {settings['url']}",
    )
