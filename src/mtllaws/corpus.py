"""Read CoNLL column files, build context windows and cache them as arrays.

Reading
-------
:func:`read_conll` reads CoNLL-2003 files (``word POS chunk NER``) and 2-column
``word tag`` files. ``-DOCSTART-`` lines and blank lines are skipped; a blank
line (or a ``-DOCSTART-`` line, or the end of the file) ends a sentence. Every
token line of a file must have the same number of columns as its first token
line, so a line that lost a column is an error instead of a silent shift to
another column. Tags must be ``O`` or ``B-TYPE`` / ``I-TYPE``; IOB1 and IOB2
input are both accepted (:func:`to_iob2` turns either into IOB2).

Label scheme
------------
Training uses IO labels (:func:`to_io`: ``B-PER``/``I-PER`` -> ``PER``), dev and
test keep IOB2 gold tags for entity-level scoring. The IO label ids are:
``0 = "O"``, then the CoNLL-2003 types ``PER, ORG, LOC, MISC`` in that order
(those that occur in the training split), then any other type of the training
split in alphabetical order. For CoNLL-2003 that is ``O, PER, ORG, LOC, MISC``.
A dev/test entity type that the training split lacks is an error.

Vocabulary
----------
Case is kept (fastText vectors are case sensitive and their subwords carry the
case signal). Id 0 is ``<pad>``, id 1 is ``<unk>``, then every word of the
training split in order of first appearance, then the dev words and then the
test words that training lacks, each in order of first appearance. Dev/test
words are in the vocabulary so that subword (fastText) embeddings can give them
a vector; only the word strings are used, never their labels, so nothing of the
dev/test labels leaks into training. ``PreparedCorpus.n_train_vocab`` is the
number of ids (``<pad>``, ``<unk>`` and training words) before the first
dev/test-only word, for anyone who wants to treat those words as unknown.

Windows
-------
:func:`build_windows` gives each token the ids of the ``k`` words on either
side (``2k + 1`` columns, the token itself in column ``k``), padded with id 0
at sentence edges. ``cross_sentence=True`` reproduces the published code:
windows run across sentence and document borders and are padded only at the
start and end of the split.

Cache
-----
:func:`prepare_corpus` parses ``train.txt``, ``valid.txt`` (or ``dev.txt``) and
``test.txt`` once and writes ``{split}_windows.npy`` (int32),
``{split}_y.npy`` (int64 IO ids), ``{split}_sentence_lengths.npy`` (int64),
``vocab.json``, ``gold.json`` (IOB2 dev/test tags) and ``meta.json`` to the
cache directory. Every file is written atomically (:mod:`mtllaws.atomic`);
``meta.json`` is removed first and written last, so a killed job leaves a cache
that :func:`load_prepared` rejects rather than a half cache that loads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mtllaws.atomic import atomic_save_npy, atomic_write_json, sha256_file

__all__ = [
    "PAD",
    "UNK",
    "PAD_ID",
    "UNK_ID",
    "CONLL_TYPES",
    "SPLITS",
    "Sentence",
    "PreparedCorpus",
    "read_conll",
    "to_iob2",
    "to_io",
    "io_label_set",
    "build_vocab",
    "build_windows",
    "prepare_corpus",
    "load_prepared",
]

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
#: Canonical order of the CoNLL-2003 entity types in the IO label set (after ``O``).
CONLL_TYPES = ("PER", "ORG", "LOC", "MISC")
SPLITS = ("train", "dev", "test")
_DEV_NAMES = ("valid.txt", "dev.txt")
_FORMAT_VERSION = 1
_META = "meta.json"


class Sentence(NamedTuple):
    """One sentence: its words and tags (same length)."""

    words: list[str]
    tags: list[str]


# --------------------------------------------------------------------------- reading


#: The characters that separate columns (and are stripped from line ends).
_BLANKS = " \t\r\n\f\v"
_COLUMN_BREAK = re.compile(f"[{re.escape(_BLANKS)}]+")


def _decode_line(raw: bytes, path: Path, lineno: int) -> str:
    """One line of a corpus file as text (UTF-8, a BOM on line 1 dropped)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}:{lineno}: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is "
            "not UTF-8; convert the file, e.g. iconv -f latin1 -t utf-8 (CoNLL-2003 from "
            "the original scripts is latin-1)"
        ) from None
    return text[1:] if lineno == 1 and text.startswith("\ufeff") else text


def _read(path: Path, tag_column: int, min_columns: int) -> tuple[list[Sentence], list[list[int]]]:
    """Parse a CoNLL file; also return the 1-based line number of every token."""
    path = Path(path)
    if min_columns < 2:
        raise ValueError(f"min_columns must be >= 2 (word and tag), got {min_columns}")
    if not path.is_file():
        raise ValueError(f"{path}: CoNLL file not found; check the corpus directory")
    sentences: list[Sentence] = []
    line_numbers: list[list[int]] = []
    words: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    n_columns = 0
    first_line = 0

    def flush() -> None:
        nonlocal words, tags, lines
        if words:
            sentences.append(Sentence(words, tags))
            line_numbers.append(lines)
            words, tags, lines = [], [], []

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = _decode_line(raw, path, lineno)
            # Columns are separated by ASCII blanks only: a non-breaking space (or any
            # other Unicode space) inside a word is part of the word.
            line = line.strip(_BLANKS)
            parts = _COLUMN_BREAK.split(line) if line else []
            if not parts:
                flush()
                continue
            if parts[0] == "-DOCSTART-":
                flush()
                continue
            if n_columns == 0:
                if len(parts) < min_columns:
                    raise ValueError(
                        f"{path}:{lineno}: found {len(parts)} column(s), need at least "
                        f"{min_columns} (word ... tag); fix the line or the file format"
                    )
                n_columns, first_line = len(parts), lineno
                if not -n_columns <= tag_column < n_columns:
                    raise ValueError(
                        f"{path}:{lineno}: tag_column={tag_column} is outside the "
                        f"{n_columns} columns of this file; pass a valid tag_column"
                    )
            elif len(parts) != n_columns:
                raise ValueError(
                    f"{path}:{lineno}: found {len(parts)} column(s) but line {first_line} "
                    f"has {n_columns}; every token line needs the same columns "
                    f"(word ... tag), fix or remove the line"
                )
            tag = parts[tag_column]
            if tag != "O" and not (
                len(tag) > 2 and tag[1] == "-" and tag[0] in "BI"
            ):
                raise ValueError(
                    f"{path}:{lineno}: unknown tag {tag!r}; expected 'O', 'B-TYPE' or "
                    f"'I-TYPE' (IOB1/IOB2); convert other schemes (e.g. IOBES) first"
                )
            words.append(parts[0])
            tags.append(tag)
            lines.append(lineno)
    flush()
    if not sentences:
        raise ValueError(f"{path}: no tokens found (empty file?); expected CoNLL column lines")
    return sentences, line_numbers


def read_conll(
    path: str | os.PathLike, *, tag_column: int = -1, min_columns: int = 2
) -> list[Sentence]:
    """Read a CoNLL column file into sentences.

    Parameters
    ----------
    path : path-like
        A CoNLL-2003 (4 columns) or 2-column ``word tag`` file, UTF-8.
    tag_column : int, default -1
        Column holding the NER tag (Python index; -1 = last column).
    min_columns : int, default 2
        Fewest columns a token line may have.

    Returns
    -------
    list of Sentence
        ``(words, tags)`` per sentence, tags as in the file (IOB1 or IOB2).

    Raises
    ------
    ValueError
        Naming the file and line number: a line with too few or inconsistent
        columns, an unknown tag prefix, or a file without tokens.
    """
    return _read(Path(path), tag_column, min_columns)[0]


# --------------------------------------------------------------------------- tag schemes


def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    raise ValueError(f"unknown tag {tag!r}; expected 'O', 'B-TYPE' or 'I-TYPE'")


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Convert one sentence's IOB1 or IOB2 tags to IOB2.

    An ``I-X`` that follows ``O`` or a tag of another type starts an entity and
    becomes ``B-X``; ``B-X`` stays (in IOB1 it marks an entity right after one of
    the same type). IOB2 input is returned unchanged.

    Parameters
    ----------
    tags : sequence of str
        Tags of one sentence.

    Returns
    -------
    list of str
    """
    out: list[str] = []
    prev_type = ""
    for tag in tags:
        prefix, etype = _split_tag(tag)
        if prefix == "I" and etype != prev_type:
            out.append("B-" + etype)
        else:
            out.append(tag)
        prev_type = etype
    return out


def to_io(tags: Sequence[str]) -> list[str]:
    """Convert one sentence's IOB1/IOB2 tags to IO label names (``B-PER`` -> ``PER``).

    Parameters
    ----------
    tags : sequence of str

    Returns
    -------
    list of str
        ``"O"`` or the entity type per token.
    """
    return [_split_tag(tag)[1] or "O" for tag in tags]


def io_label_set(types: Iterable[str]) -> list[str]:
    """Order IO labels deterministically: ``O``, CoNLL types, then the rest sorted.

    Parameters
    ----------
    types : iterable of str
        Entity types (or IO labels; ``"O"`` is ignored) seen in the data.

    Returns
    -------
    list of str
        ``["O", *[t for t in CONLL_TYPES if t in types], *sorted(other types)]``.
    """
    seen = set(types) - {"O"}
    return ["O", *[t for t in CONLL_TYPES if t in seen], *sorted(seen - set(CONLL_TYPES))]


# --------------------------------------------------------------------------- vocab + windows


def build_vocab(*splits: Iterable[Sentence]) -> tuple[list[str], int]:
    """Vocabulary over one or more splits, in order of first appearance.

    Parameters
    ----------
    *splits : iterable of Sentence
        Training split first, then any others (dev, test).

    Returns
    -------
    vocab : list of str
        ``[PAD, UNK, *words]``; words keep their case.
    n_first : int
        Number of ids up to and including the first split's words.
    """
    index: dict[str, int] = {PAD: PAD_ID, UNK: UNK_ID}
    n_first = 0
    for i, sentences in enumerate(splits):
        for sentence in sentences:
            for word in sentence.words:
                if word not in index:
                    index[word] = len(index)
        if i == 0:
            n_first = len(index)
    return list(index), n_first if splits else len(index)


def build_windows(
    token_ids: np.ndarray,
    sentence_lengths: np.ndarray,
    k: int = 3,
    cross_sentence: bool = False,
) -> np.ndarray:
    """Context windows of ``k`` words either side of every token.

    Parameters
    ----------
    token_ids : (N,) int array
        Vocabulary ids of all tokens of a split, sentence after sentence.
    sentence_lengths : (S,) int array
        Sentence lengths; they must sum to ``N``.
    k : int, default 3
        Words of context on each side.
    cross_sentence : bool, default False
        If True, windows run across sentence (and document) borders and are
        padded only at the start and end of the split (the published code).

    Returns
    -------
    (N, 2k+1) int32
        Column ``k`` is the token, column ``k + d`` the word ``d`` positions
        away, or ``PAD_ID`` (0) past an edge.
    """
    token_ids = np.asarray(token_ids)
    lengths = np.asarray(sentence_lengths, dtype=np.int64)
    n = token_ids.shape[0]
    if k < 0:
        raise ValueError(f"window half-width k must be >= 0, got {k}")
    if lengths.sum() != n or (lengths < 1).any():
        raise ValueError(
            f"sentence_lengths (sum {int(lengths.sum())}, min "
            f"{int(lengths.min()) if lengths.size else 0}) must be >= 1 and sum to the "
            f"{n} token ids"
        )
    pos = np.arange(n, dtype=np.int64)
    if cross_sentence:
        lo = np.zeros(n, dtype=np.int64)
        hi = np.full(n, n, dtype=np.int64)
    else:
        ends = np.cumsum(lengths)
        lo = np.repeat(ends - lengths, lengths)
        hi = np.repeat(ends, lengths)
    out = np.zeros((n, 2 * k + 1), dtype=np.int32)
    for j, d in enumerate(range(-k, k + 1)):
        idx = pos + d
        valid = (idx >= lo) & (idx < hi)
        out[valid, j] = token_ids[idx[valid]]
    return out


# --------------------------------------------------------------------------- prepared corpus


@dataclass(frozen=True)
class PreparedCorpus:
    """Arrays of a parsed corpus, as cached by :func:`prepare_corpus`.

    Attributes
    ----------
    vocab : list of str
        Index 0 ``<pad>``, 1 ``<unk>``, then the words (see module docstring).
    labels : list of str
        IO label names; ``labels[0] == "O"``.
    k : int
        Window half-width; windows have ``2k + 1`` columns.
    cross_sentence : bool
        Whether windows run across sentence borders.
    n_train_vocab : int
        Ids ``< n_train_vocab`` are ``<pad>``, ``<unk>`` or training words.
    train_windows, dev_windows, test_windows : (N, 2k+1) int32
    train_y, dev_y, test_y : (N,) int64
        IO label ids.
    train_sentence_lengths, dev_sentence_lengths, test_sentence_lengths : (S,) int64
    dev_tags, test_tags : list of list of str
        IOB2 gold tags per sentence.
    """

    vocab: list[str]
    labels: list[str]
    k: int
    cross_sentence: bool
    n_train_vocab: int
    train_windows: np.ndarray
    train_y: np.ndarray
    train_sentence_lengths: np.ndarray
    dev_windows: np.ndarray
    dev_y: np.ndarray
    dev_sentence_lengths: np.ndarray
    test_windows: np.ndarray
    test_y: np.ndarray
    test_sentence_lengths: np.ndarray
    dev_tags: list[list[str]]
    test_tags: list[list[str]]

    @property
    def n_classes(self) -> int:
        """Number of IO labels ``c``."""
        return len(self.labels)

    @property
    def window(self) -> int:
        """Window width ``2k + 1``."""
        return 2 * self.k + 1

    def _check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")

    def token_ids(self, split: str) -> np.ndarray:
        """Vocabulary ids of the split's tokens (the windows' centre column)."""
        self._check_split(split)
        return getattr(self, f"{split}_windows")[:, self.k]

    def sentences(self, split: str) -> list[list[str]]:
        """The split's sentences as lists of words (rebuilt from the cache)."""
        self._check_split(split)
        words = np.asarray(self.vocab, dtype=object)[self.token_ids(split)]
        ends = np.cumsum(getattr(self, f"{split}_sentence_lengths"))
        return [w.tolist() for w in np.split(words, ends[:-1])]


def _find_split_files(corpus_dir: Path) -> dict[str, Path]:
    files = {"train": corpus_dir / "train.txt", "test": corpus_dir / "test.txt"}
    dev = [corpus_dir / name for name in _DEV_NAMES if (corpus_dir / name).is_file()]
    missing = [str(p) for p in files.values() if not p.is_file()]
    if not dev:
        missing.append(str(corpus_dir / "valid.txt") + " (or dev.txt)")
    if missing:
        raise ValueError(
            f"corpus directory {corpus_dir} lacks {', '.join(missing)}; it needs train.txt, "
            f"valid.txt (or dev.txt) and test.txt"
        )
    files["dev"] = dev[0]
    return {s: files[s] for s in SPLITS}


def _settings(files: dict[str, Path], k: int, cross_sentence: bool, tag_column: int) -> dict:
    return {
        "format_version": _FORMAT_VERSION,
        "k": k,
        "cross_sentence": cross_sentence,
        "tag_column": tag_column,
        "sources": {s: {"file": p.name, "sha256": sha256_file(p)} for s, p in files.items()},
    }


def prepare_corpus(
    corpus_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    k: int = 3,
    cross_sentence: bool = False,
    tag_column: int = -1,
    overwrite: bool = False,
) -> PreparedCorpus:
    """Parse a corpus directory once and cache its arrays.

    Parameters
    ----------
    corpus_dir : path-like
        Holds ``train.txt``, ``valid.txt`` (or ``dev.txt``) and ``test.txt``.
    cache_dir : path-like
        Output directory (the workflow uses ``resources/corpus/<name>/``).
    k : int, default 3
        Window half-width.
    cross_sentence : bool, default False
        Let windows cross sentence borders (published code); see :func:`build_windows`.
    tag_column : int, default -1
        Column of the NER tag.
    overwrite : bool, default False
        Rebuild even if ``cache_dir`` already holds a complete cache made from
        the same files (same sha256) and settings; otherwise that cache is loaded.

    Returns
    -------
    PreparedCorpus

    Raises
    ------
    ValueError
        Missing files, malformed lines (file + line), or a dev/test entity type
        absent from the training split (file + line).
    """
    corpus_dir, cache_dir = Path(corpus_dir), Path(cache_dir)
    if k < 0:
        raise ValueError(f"window half-width k must be >= 0, got {k}")
    files = _find_split_files(corpus_dir)
    settings = _settings(files, k, cross_sentence, tag_column)
    meta_path = cache_dir / _META
    if not overwrite and meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("settings") == settings:
            return load_prepared(cache_dir)

    parsed = {s: _read(p, tag_column, 2) for s, p in files.items()}
    train_types = {t for sent in parsed["train"][0] for t in to_io(sent.tags)}
    labels = io_label_set(train_types)
    label_id = {name: i for i, name in enumerate(labels)}
    vocab, n_train_vocab = build_vocab(*(parsed[s][0] for s in SPLITS))
    word_id = {w: i for i, w in enumerate(vocab)}

    arrays: dict[str, np.ndarray] = {}
    gold: dict[str, list[list[str]]] = {}
    for split in SPLITS:
        sentences, line_numbers = parsed[split]
        y: list[int] = []
        for sent, lines in zip(sentences, line_numbers, strict=True):
            for io_tag, lineno in zip(to_io(sent.tags), lines, strict=True):
                if io_tag not in label_id:
                    raise ValueError(
                        f"{files[split]}:{lineno}: entity type {io_tag!r} does not occur in "
                        f"the training split {files['train']} (labels {labels}); fix the tag "
                        f"or add training data of that type"
                    )
                y.append(label_id[io_tag])
        lengths = np.fromiter((len(s.words) for s in sentences), dtype=np.int64)
        ids = np.fromiter((word_id[w] for s in sentences for w in s.words), dtype=np.int64)
        arrays[f"{split}_windows"] = build_windows(ids, lengths, k, cross_sentence)
        arrays[f"{split}_y"] = np.asarray(y, dtype=np.int64)
        arrays[f"{split}_sentence_lengths"] = lengths
        if split != "train":
            gold[f"{split}_tags"] = [to_iob2(s.tags) for s in sentences]

    meta_path.unlink(missing_ok=True)  # invalidate first: a killed job leaves no valid cache
    for name, array in arrays.items():
        atomic_save_npy(cache_dir / f"{name}.npy", array)
    atomic_write_json(cache_dir / "vocab.json", vocab)
    atomic_write_json(cache_dir / "gold.json", gold)
    meta = {
        "settings": settings,
        "labels": labels,
        "n_train_vocab": n_train_vocab,
        "vocab_size": len(vocab),
        "shapes": {name: list(a.shape) for name, a in arrays.items()},
    }
    atomic_write_json(meta_path, meta)
    return PreparedCorpus(
        vocab=vocab,
        labels=labels,
        k=k,
        cross_sentence=cross_sentence,
        n_train_vocab=n_train_vocab,
        **arrays,
        **gold,
    )


def load_prepared(cache_dir: str | os.PathLike, *, mmap: bool = False) -> PreparedCorpus:
    """Load a cache written by :func:`prepare_corpus`.

    Parameters
    ----------
    cache_dir : path-like
    mmap : bool, default False
        Memory-map the arrays read-only instead of reading them.

    Returns
    -------
    PreparedCorpus

    Raises
    ------
    ValueError
        If the cache is missing, incomplete (no ``meta.json``: the build was
        interrupted) or inconsistent; rerun :func:`prepare_corpus`.
    """
    cache_dir = Path(cache_dir)
    meta_path = cache_dir / _META
    if not meta_path.is_file():
        raise ValueError(
            f"{cache_dir}: no complete corpus cache ({_META} missing: never built or the "
            f"build was interrupted); run mtllaws.corpus.prepare_corpus"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    settings = meta["settings"]
    if settings.get("format_version") != _FORMAT_VERSION:
        raise ValueError(
            f"{meta_path}: cache format {settings.get('format_version')} != "
            f"{_FORMAT_VERSION}; rebuild it with prepare_corpus(..., overwrite=True)"
        )
    arrays = {}
    for name, shape in meta["shapes"].items():
        path = cache_dir / f"{name}.npy"
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot load ({err}); rebuild the corpus cache") from err
        if list(array.shape) != shape:
            raise ValueError(
                f"{path}: shape {list(array.shape)} != {shape} recorded in {meta_path}; "
                f"the cache is inconsistent, rebuild it with overwrite=True"
            )
        arrays[name] = array
    vocab = json.loads((cache_dir / "vocab.json").read_text(encoding="utf-8"))
    gold = json.loads((cache_dir / "gold.json").read_text(encoding="utf-8"))
    if len(vocab) != meta["vocab_size"]:
        raise ValueError(
            f"{cache_dir / 'vocab.json'}: {len(vocab)} words != {meta['vocab_size']} in "
            f"{meta_path}; rebuild the corpus cache with overwrite=True"
        )
    return PreparedCorpus(
        vocab=vocab,
        labels=meta["labels"],
        k=settings["k"],
        cross_sentence=settings["cross_sentence"],
        n_train_vocab=meta["n_train_vocab"],
        **arrays,
        **gold,
    )
