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

Auxiliary label columns
-----------------------
The other tag columns of a file can be cached as real auxiliary tasks:
``prepare_corpus(..., aux_columns=["pos", "chunk"])`` (presets :data:`AUX_PRESETS` for
CoNLL-2003: POS = column 1, 45 tags; chunk = column 2 in IO form, 11 labels; chunk_iob
= column 2 in IOB2 form, 20 tags) or ``aux_columns={"mine": 2}`` (0-based indices into a
token line, 0 = the word). Each column is written as ``{split}_aux_<name>.npy`` (int64
ids) with its label list in ``meta.json`` (``aux``), and read back with
:meth:`PreparedCorpus.aux_labels` / :meth:`PreparedCorpus.aux_label_names`. The columns
are part of the cache settings; without them ``meta.json`` and every file are what they
were before auxiliary columns existed, so older caches stay valid.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mtllaws.atomic import atomic_save_npy, atomic_write_json, sha256_file

__all__ = [
    "PAD",
    "UNK",
    "PAD_ID",
    "UNK_ID",
    "MASK",
    "CONLL_TYPES",
    "SPLITS",
    "AUX_PRESETS",
    "AUX_SCHEMES",
    "AuxColumn",
    "Sentence",
    "PreparedCorpus",
    "read_conll",
    "to_iob2",
    "to_io",
    "io_label_set",
    "aux_column_specs",
    "aux_label_set",
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
#: Label id of a dev/test token whose auxiliary tag the training split lacks.
MASK = -1


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


def _read(
    path: Path, tag_column: int, min_columns: int, extra_columns: Sequence[int] = ()
) -> tuple[list[Sentence], list[list[int]], list[list[list[str]]]]:
    """Parse a CoNLL file; also return every token's 1-based line number and extra columns.

    The third result holds, for each index of ``extra_columns``, that column's strings
    per sentence (empty when ``extra_columns`` is).
    """
    path = Path(path)
    if min_columns < 2:
        raise ValueError(f"min_columns must be >= 2 (word and tag), got {min_columns}")
    if not path.is_file():
        raise ValueError(f"{path}: CoNLL file not found; check the corpus directory")
    sentences: list[Sentence] = []
    line_numbers: list[list[int]] = []
    extras: list[list[list[str]]] = [[] for _ in extra_columns]
    words: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    columns: list[list[str]] = [[] for _ in extra_columns]
    n_columns = 0
    first_line = 0

    def flush() -> None:
        nonlocal words, tags, lines, columns
        if words:
            sentences.append(Sentence(words, tags))
            line_numbers.append(lines)
            for found, column in zip(extras, columns, strict=True):
                found.append(column)
            words, tags, lines = [], [], []
            columns = [[] for _ in extra_columns]

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
                for index in extra_columns:
                    if not -n_columns <= index < n_columns:
                        raise ValueError(
                            f"{path}:{lineno}: auxiliary column {index} (0-based) is outside "
                            f"the {n_columns} columns of this file; pass aux_columns with "
                            f"indices in 0..{n_columns - 1} (0 is the word)"
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
            for column, index in zip(columns, extra_columns, strict=True):
                column.append(parts[index])
    flush()
    if not sentences:
        raise ValueError(f"{path}: no tokens found (empty file?); expected CoNLL column lines")
    return sentences, line_numbers, extras


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


# --------------------------------------------------------------------------- auxiliary columns

#: How an auxiliary column's strings become labels: ``"tag"`` every distinct string is a
#: label (POS); ``"io"`` IOB tags with ``B-``/``I-`` stripped (like NER's IO labels);
#: ``"iob"`` IOB tags in IOB2 form (:func:`to_iob2`).
AUX_SCHEMES = ("tag", "io", "iob")
_AUX_NAME = re.compile(r"[a-z][a-z0-9_]*")


class AuxColumn(NamedTuple):
    """One auxiliary label column of a CoNLL file.

    Attributes
    ----------
    column : int
        0-based index into a token line's columns (0 = the word; negative counts from
        the end). CoNLL-2003 lines are ``word POS chunk NER``: POS is 1, chunk 2, NER 3.
    scheme : str
        One of :data:`AUX_SCHEMES`.
    """

    column: int
    scheme: str = "tag"


#: Auxiliary columns known by name, for CoNLL-2003 files (``word POS chunk NER``): ``pos``
#: (45 tags), ``chunk`` (chunk tags in IO form, 11 labels with ``O``) and ``chunk_iob``
#: (the 20 IOB2 chunk tags).
AUX_PRESETS: dict[str, AuxColumn] = {
    "pos": AuxColumn(1, "tag"),
    "chunk": AuxColumn(2, "io"),
    "chunk_iob": AuxColumn(2, "iob"),
}


def aux_column_specs(aux_columns) -> dict[str, AuxColumn]:
    """Normalise the ``aux_columns`` argument of :func:`prepare_corpus`.

    Parameters
    ----------
    aux_columns : None, str, sequence of str, or mapping
        ``None`` (none); preset names of :data:`AUX_PRESETS` (``"pos"``, ``["pos",
        "chunk"]``); or a mapping from a name (lower-case identifier, used in file names)
        to a 0-based column index, a ``(column, scheme)`` pair, an :class:`AuxColumn` or a
        dict ``{"column": ..., "scheme": ...}``. A bare index takes the preset's scheme
        when the name is a preset (``{"pos": 1, "chunk": 2}``: POS tags, chunks in IO
        form) and ``"tag"`` otherwise.

    Returns
    -------
    dict of str to AuxColumn
        In the given order.

    Raises
    ------
    ValueError
        Naming the bad entry and the fix.
    """
    if aux_columns is None:
        return {}
    if isinstance(aux_columns, str):
        aux_columns = [aux_columns]
    if not isinstance(aux_columns, Mapping):
        items = list(aux_columns)
        unknown = [name for name in items if name not in AUX_PRESETS]
        if unknown:
            raise ValueError(
                f"aux_columns: {unknown} are not preset names ({sorted(AUX_PRESETS)}); give "
                "other columns by index, e.g. aux_columns={'pos': 1} (0-based, 0 = the word)"
            )
        aux_columns = {name: AUX_PRESETS[name] for name in items}
    specs: dict[str, AuxColumn] = {}
    for name, value in aux_columns.items():
        if not isinstance(name, str) or not _AUX_NAME.fullmatch(name):
            raise ValueError(
                f"aux_columns: name {name!r} must be a lower-case identifier (letters, digits, "
                "_; it names the cache files), e.g. 'pos'"
            )
        preset = AUX_PRESETS.get(name)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"column", "scheme"})
            if unknown or "column" not in value:
                raise ValueError(
                    f"aux_columns[{name!r}]={dict(value)!r}: give {{'column': <index>, "
                    "'scheme': <scheme>}"
                )
            value = (value["column"], value.get("scheme", preset.scheme if preset else "tag"))
        elif not isinstance(value, tuple | list):
            value = (value, preset.scheme if preset else "tag")
        if len(value) != 2:
            raise ValueError(f"aux_columns[{name!r}]={value!r}: give a column or (column, scheme)")
        column, scheme = value
        if isinstance(column, bool) or not isinstance(column, int | np.integer):
            raise ValueError(
                f"aux_columns[{name!r}]: column {column!r} must be an integer index (0-based, "
                "0 = the word; CoNLL-2003: POS 1, chunk 2, NER 3)"
            )
        if scheme not in AUX_SCHEMES:
            raise ValueError(
                f"aux_columns[{name!r}]: scheme {scheme!r} is not one of {AUX_SCHEMES}"
            )
        specs[name] = AuxColumn(int(column), scheme)
    return specs


def _aux_tags(tags: list[str], scheme: str, path: Path, lines: list[int], name: str) -> list[str]:
    """One sentence's auxiliary column in its scheme; IOB errors name ``file:line``."""
    if scheme == "tag":
        return tags
    for tag, lineno in zip(tags, lines, strict=True):
        if tag != "O" and not (len(tag) > 2 and tag[1] == "-" and tag[0] in "BI"):
            raise ValueError(
                f"{path}:{lineno}: auxiliary column {name!r} has tag {tag!r}, not 'O', "
                f"'B-TYPE' or 'I-TYPE' as scheme {scheme!r} needs; use scheme 'tag' for "
                "other tag sets"
            )
    return to_io(tags) if scheme == "io" else to_iob2(tags)


def aux_label_set(tags: Iterable[str]) -> list[str]:
    """Order an auxiliary column's labels: ``"O"`` first when present, then sorted.

    Parameters
    ----------
    tags : iterable of str
        The labels seen in the training split.

    Returns
    -------
    list of str
    """
    seen = set(tags)
    return (["O"] if "O" in seen else []) + sorted(seen - {"O"})


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
    aux_ids : dict of str to dict of str to ndarray
        Auxiliary label columns (``prepare_corpus(..., aux_columns=...)``): name -> split ->
        ``(N,) int64`` label ids, ``MASK = -1`` for a dev/test tag that the training
        split lacks. Empty without auxiliary columns; read with :meth:`aux_labels`.
    aux_label_sets : dict of str to list of str
        Name -> label names (:meth:`aux_label_names`), from the training split.
    aux_specs : dict of str to AuxColumn
        Name -> the column and scheme it was read with.
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
    aux_ids: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    aux_label_sets: dict[str, list[str]] = field(default_factory=dict)
    aux_specs: dict[str, AuxColumn] = field(default_factory=dict)

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

    @property
    def aux_names(self) -> tuple[str, ...]:
        """Names of the cached auxiliary label columns."""
        return tuple(self.aux_label_sets)

    def _check_aux(self, name: str) -> None:
        if name not in self.aux_label_sets:
            have = list(self.aux_label_sets) or "none"
            raise ValueError(
                f"auxiliary labels {name!r} are not in this corpus cache (it has {have}): "
                f"prepare it with prepare_corpus(..., aux_columns=[{name!r}]) for a preset "
                f"({sorted(AUX_PRESETS)}) or aux_columns={{{name!r}: <0-based column>}}"
            )

    def aux_labels(self, name: str, split: str = "train") -> np.ndarray:
        """Label ids ``(N,) int64`` of auxiliary column ``name`` on ``split``'s tokens.

        Ids index :meth:`aux_label_names`; ``MASK = -1`` marks a dev/test tag that the
        training split lacks (never in ``train``).
        """
        self._check_split(split)
        self._check_aux(name)
        return self.aux_ids[name][split]

    def aux_label_names(self, name: str) -> list[str]:
        """Label names of auxiliary column ``name`` (its head size is their number)."""
        self._check_aux(name)
        return self.aux_label_sets[name]

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


def _settings(files: dict[str, Path], k: int, cross_sentence: bool, tag_column: int,
              aux: Mapping[str, AuxColumn]) -> dict:
    settings = {
        "format_version": _FORMAT_VERSION,
        "k": k,
        "cross_sentence": cross_sentence,
        "tag_column": tag_column,
        "sources": {s: {"file": p.name, "sha256": sha256_file(p)} for s, p in files.items()},
    }
    if aux:  # only then: a cache without auxiliary columns keeps its settings (and meta)
        settings["aux_columns"] = {
            name: {"column": spec.column, "scheme": spec.scheme} for name, spec in aux.items()
        }
    return settings


def prepare_corpus(
    corpus_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    k: int = 3,
    cross_sentence: bool = False,
    tag_column: int = -1,
    aux_columns=None,
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
    aux_columns : None, str, sequence of str or mapping, optional
        Other label columns to cache as auxiliary tasks (:func:`aux_column_specs`):
        presets ``"pos"``, ``"chunk"`` (IO), ``"chunk_iob"`` for CoNLL-2003, or
        ``{name: column}`` with 0-based column indices (0 = the word; CoNLL-2003 POS is
        1, chunk 2). Each is cached as ``{split}_aux_<name>.npy`` (int64 ids) with its
        labels (from the training split, :func:`aux_label_set`) in ``meta.json``; a
        dev/test tag that training lacks gets ``MASK = -1`` (counted in ``meta.json``
        under ``aux.<name>.unseen``). The columns are part of the cache's settings: a
        cache built with other (or no) columns is rebuilt, never reused.
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
    aux = aux_column_specs(aux_columns)
    settings = _settings(files, k, cross_sentence, tag_column, aux)
    meta_path = cache_dir / _META
    if not overwrite and meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("settings") == settings:
            return load_prepared(cache_dir)

    columns = [spec.column for spec in aux.values()]
    parsed = {s: _read(p, tag_column, 2, columns) for s, p in files.items()}
    train_types = {t for sent in parsed["train"][0] for t in to_io(sent.tags)}
    labels = io_label_set(train_types)
    label_id = {name: i for i, name in enumerate(labels)}
    vocab, n_train_vocab = build_vocab(*(parsed[s][0] for s in SPLITS))
    word_id = {w: i for i, w in enumerate(vocab)}

    arrays: dict[str, np.ndarray] = {}
    gold: dict[str, list[list[str]]] = {}
    for split in SPLITS:
        sentences, line_numbers, _ = parsed[split]
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
    aux_ids, aux_meta = _aux_arrays(aux, parsed, files)

    meta_path.unlink(missing_ok=True)  # invalidate first: a killed job leaves no valid cache
    for stale in cache_dir.glob("*_aux_*.npy") if cache_dir.is_dir() else ():
        stale.unlink()  # auxiliary columns of an earlier build with other settings
    for name, array in arrays.items():
        atomic_save_npy(cache_dir / f"{name}.npy", array)
    for name, by_split in aux_ids.items():
        for split, array in by_split.items():
            atomic_save_npy(cache_dir / f"{split}_aux_{name}.npy", array)
    atomic_write_json(cache_dir / "vocab.json", vocab)
    atomic_write_json(cache_dir / "gold.json", gold)
    meta = {
        "settings": settings,
        "labels": labels,
        "n_train_vocab": n_train_vocab,
        "vocab_size": len(vocab),
        "shapes": {name: list(a.shape) for name, a in arrays.items()},
    }
    if aux_meta:
        meta["aux"] = aux_meta
    atomic_write_json(meta_path, meta)
    return _from_meta(meta, vocab, arrays, gold, aux_ids)


def _aux_arrays(aux: Mapping[str, AuxColumn], parsed: dict, files: dict[str, Path]):
    """Label ids per auxiliary column and split, and each column's meta entry (its labels)."""
    ids: dict[str, dict[str, np.ndarray]] = {}
    meta: dict[str, dict] = {}
    for j, (name, spec) in enumerate(aux.items()):
        tags = {}
        for split in SPLITS:
            sentences, line_numbers, extras = parsed[split]
            tags[split] = [
                t
                for column, lines in zip(extras[j], line_numbers, strict=True)
                for t in _aux_tags(column, spec.scheme, files[split], lines, name)
            ]
        labels = aux_label_set(tags["train"])
        index = {label: i for i, label in enumerate(labels)}
        ids[name] = {
            split: np.fromiter((index.get(t, MASK) for t in tags[split]), dtype=np.int64,
                               count=len(tags[split]))
            for split in SPLITS
        }
        meta[name] = {
            "column": spec.column,
            "scheme": spec.scheme,
            "labels": labels,
            "shapes": {split: list(ids[name][split].shape) for split in SPLITS},
            "unseen": {split: int((ids[name][split] == MASK).sum()) for split in SPLITS},
        }
    return ids, meta


def _load_cached_array(path: Path, shape: list, meta_path: Path, mmap: bool) -> np.ndarray:
    """One ``.npy`` of the cache, checked against the shape ``meta.json`` recorded."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot load ({err}); rebuild the corpus cache") from err
    if list(array.shape) != shape:
        raise ValueError(
            f"{path}: shape {list(array.shape)} != {shape} recorded in {meta_path}; "
            f"the cache is inconsistent, rebuild it with overwrite=True"
        )
    return array


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
        The corpus as :func:`prepare_corpus` returned it when it built the cache.

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
    arrays = {
        name: _load_cached_array(cache_dir / f"{name}.npy", shape, meta_path, mmap)
        for name, shape in meta["shapes"].items()
    }
    aux_ids: dict[str, dict[str, np.ndarray]] = {
        name: {
            split: _load_cached_array(
                cache_dir / f"{split}_aux_{name}.npy", shape, meta_path, mmap
            )
            for split, shape in entry["shapes"].items()
        }
        for name, entry in meta.get("aux", {}).items()
    }
    vocab = json.loads((cache_dir / "vocab.json").read_text(encoding="utf-8"))
    gold = json.loads((cache_dir / "gold.json").read_text(encoding="utf-8"))
    if len(vocab) != meta["vocab_size"]:
        raise ValueError(
            f"{cache_dir / 'vocab.json'}: {len(vocab)} words != {meta['vocab_size']} in "
            f"{meta_path}; rebuild the corpus cache with overwrite=True"
        )
    return _from_meta(meta, vocab, arrays, gold, aux_ids)


def _from_meta(meta: dict, vocab: list[str], arrays: dict[str, np.ndarray],
               gold: dict[str, list[list[str]]],
               aux_ids: dict[str, dict[str, np.ndarray]]) -> PreparedCorpus:
    """The :class:`PreparedCorpus` of a cache's ``meta.json`` and its arrays.

    The one place that assembles a corpus: :func:`prepare_corpus` calls it with the meta
    it has just written, :func:`load_prepared` with the meta it read, so a fresh build
    and a cache load give the same object.
    """
    aux = meta.get("aux", {})
    return PreparedCorpus(
        vocab=vocab,
        labels=meta["labels"],
        k=meta["settings"]["k"],
        cross_sentence=meta["settings"]["cross_sentence"],
        n_train_vocab=meta["n_train_vocab"],
        **arrays,
        **gold,
        aux_ids=aux_ids,
        aux_label_sets={name: e["labels"] for name, e in aux.items()},
        aux_specs={name: AuxColumn(e["column"], e["scheme"]) for name, e in aux.items()},
    )
