"""Word embeddings for the corpus vocabulary: one float32 matrix, row 0 = padding.

Two sources:

* **Embedded default** -- :func:`train_fasttext` trains fastText (gensim,
  skip-gram) on the training split's sentences. With ``workers=1`` and a seed
  the result is bit-for-bit reproducible; gensim 4.4 seeds its vectors with
  ``numpy.random.default_rng(seed)`` and hashes character n-grams with its own
  fixed hash, so ``PYTHONHASHSEED`` does not change the matrix (a test trains in
  two subprocesses with different ``PYTHONHASHSEED`` and compares).
  The defaults (dim 300, 30 epochs, window 5, n-grams of 3..5 characters,
  2**17 n-gram buckets, ``min_count=1``) fit the corpus-preparation budget of
  120 s on 2 cores for CoNLL-2003 (86 s measured, corpus parsing included); 30
  epochs instead of 5 raise the test F1 of a fixed STL model from 0.178 to 0.317
  (:data:`FASTTEXT_EPOCHS`).
* **Pretrained** files: a fastText ``.bin`` (subword vectors: every word,
  including dev/test words absent from training, gets a vector), a word2vec
  text ``.vec`` (with ``count dim`` header) or a GloVe ``.txt`` (no header).
  Text files are streamed and only the vocabulary's vectors are kept. A word
  missing from a text file takes the vector of its lowercase form if present,
  else a zero row.

:func:`embedding_matrix` turns a source into the ``(V, dim)`` matrix for a
:class:`~mtllaws.corpus.PreparedCorpus` vocabulary: row ``PAD_ID`` (0) and row
``UNK_ID`` (1) are zeros. Windows are looked up in this matrix at training
time; no per-token ``(2k+1) x dim`` tensor is ever stored.

:func:`prepare_embeddings` is the entry point for the workflow: it builds the
matrix once and caches it as ``.npy`` with a JSON sidecar (settings, vocabulary
hash, coverage) written last, both atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mtllaws.atomic import atomic_path, atomic_save_npy, atomic_write_json, sha256_file
from mtllaws.corpus import PAD_ID, UNK_ID, PreparedCorpus

__all__ = [
    "FASTTEXT_EPOCHS",
    "FASTTEXT_DEFAULTS",
    "train_fasttext",
    "read_text_vectors",
    "load_pretrained",
    "embedding_matrix",
    "vocab_hash",
    "prepare_embeddings",
    "load_embeddings",
    "TEXT_SUFFIXES",
    "VECTOR_SUFFIXES",
    "download_vectors",
    "fasttext_label",
    "embeddings_source",
]

log = logging.getLogger(__name__)

#: Epochs of the embedded fastText model. 30 measured best within the corpus-preparation
#: budget of 120 s on 2 cores: test F1 of a fixed STL model (published protocol, n = 5000,
#: 30 epochs) 0.178 with 5-epoch vectors, 0.317 with 30-epoch vectors (docs/REPLICATION.md).
FASTTEXT_EPOCHS = 30

#: Settings of the embedded fastText model beyond dim/seed/epochs/workers.
FASTTEXT_DEFAULTS = {
    "sg": 1,
    "window": 5,
    "min_count": 1,
    "min_n": 3,
    "max_n": 5,
    "bucket": 2**17,
    "negative": 5,
    "sample": 1e-3,
}


def train_fasttext(
    sentences: Sequence[Sequence[str]],
    *,
    dim: int = 300,
    seed: int = 0,
    epochs: int = FASTTEXT_EPOCHS,
    workers: int = 1,
    **options,
):
    """Train fastText word vectors with gensim.

    Parameters
    ----------
    sentences : sequence of sequence of str
        Tokenised sentences (the training split).
    dim : int, default 300
        Vector size.
    seed : int, default 0
        Seed of gensim's generators.
    epochs : int, default FASTTEXT_EPOCHS (30)
    workers : int, default 1
        Worker threads. Only ``workers=1`` is deterministic.
    **options
        Overrides of :data:`FASTTEXT_DEFAULTS` (any ``gensim.models.FastText``
        argument).

    Returns
    -------
    gensim.models.fasttext.FastTextKeyedVectors
    """
    from gensim.models import FastText

    if dim < 1 or epochs < 1 or workers < 1:
        raise ValueError(
            f"train_fasttext needs dim, epochs and workers >= 1, got dim={dim}, "
            f"epochs={epochs}, workers={workers}"
        )
    sentences = [list(s) for s in sentences]
    if not any(sentences):
        raise ValueError("train_fasttext got no words; pass the training split's sentences")
    params = {**FASTTEXT_DEFAULTS, **options}
    model = FastText(vector_size=dim, seed=seed, epochs=epochs, workers=workers, **params)
    model.build_vocab(corpus_iterable=sentences)
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    return model.wv


def read_text_vectors(
    path: str | os.PathLike, words: Iterable[str] | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Stream a ``.vec`` (word2vec text) or GloVe ``.txt`` file.

    Parameters
    ----------
    path : path-like
        One word and its vector per line, space separated; an optional first
        line ``count dim`` (word2vec/fastText ``.vec``) is detected and skipped.
        A name ending in ``.gz`` is decompressed while it is read.
    words : iterable of str, optional
        Keep only these words (saves memory on large files). All if None.

    Returns
    -------
    vectors : dict of str to (dim,) float32
    dim : int

    Raises
    ------
    ValueError
        Naming the file and line: a row whose length differs from the first
        row's, a non-numeric value, or no vectors at all.
    """
    path = Path(path)
    keep = None if words is None else set(words)
    vectors: dict[str, np.ndarray] = {}
    dim = 0
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n").rstrip(" ")
            if not line:
                continue
            if lineno == 1:
                head = line.split()
                if len(head) == 2 and all(h.isdigit() for h in head):
                    dim = int(head[1])
                    continue
            if dim == 0:
                dim = len(line.split(" ")) - 1
                if dim < 1:
                    raise ValueError(f"{path}:{lineno}: no vector values after the word")
            parts = line.rsplit(" ", dim)
            if len(parts) != dim + 1 or not parts[0]:
                raise ValueError(
                    f"{path}:{lineno}: expected a word and {dim} values, found "
                    f"{len(parts) - 1} values; the file is truncated or not a .vec/GloVe file"
                )
            if keep is not None and parts[0] not in keep:
                continue
            try:
                vectors[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: non-numeric vector value ({err})") from err
    if dim == 0:
        raise ValueError(f"{path}: no vectors found (empty file?)")
    if not vectors and keep is None:
        raise ValueError(f"{path}: no vectors found after the header")
    return vectors, dim


def load_pretrained(path: str | os.PathLike, words: Iterable[str] | None = None):
    """Load a pretrained embedding file by its extension.

    Parameters
    ----------
    path : path-like
        ``.bin``: fastText binary (``gensim.models.fasttext.load_facebook_vectors``,
        which reads the whole model into memory: about 7 GB for ``cc.en.300.bin``);
        ``.vec`` / ``.txt`` and their ``.gz``: text vectors (:func:`read_text_vectors`,
        streamed).
    words : iterable of str, optional
        For text files, the words to keep.

    Returns
    -------
    FastTextKeyedVectors or tuple (dict, int)
        The gensim vectors for ``.bin``; ``(vectors, dim)`` for text files.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained embeddings {path} not found; fix the config path")
    suffix = _vector_suffix(path)
    if suffix == ".bin":
        from gensim.models.fasttext import load_facebook_vectors

        try:
            return load_facebook_vectors(str(path))
        except Exception as err:  # gensim raises assorted errors on a bad file
            raise ValueError(
                f"{path}: not a fastText .bin model ({type(err).__name__}: {err}); "
                f"use a fastText .bin, a .vec or a GloVe .txt file"
            ) from err
    if suffix in TEXT_SUFFIXES:
        return read_text_vectors(path, words)
    raise ValueError(
        f"pretrained embeddings {path}: unknown extension {suffix!r}; use .bin (fastText), "
        f".vec (word2vec text) or .txt (GloVe), the text files also gzipped (.vec.gz, .txt.gz)"
    )


#: Extensions of the text vector files (streamed, only the vocabulary's rows kept).
TEXT_SUFFIXES = (".vec", ".txt", ".vec.gz", ".txt.gz")

#: Every extension :func:`load_pretrained` reads.
VECTOR_SUFFIXES = (".bin", *TEXT_SUFFIXES)


def _vector_suffix(path: str | os.PathLike) -> str:
    """The lower-case extension that decides the format: ``.vec.gz`` counts as one."""
    suffixes = [x.lower() for x in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def embedding_matrix(vocab: Sequence[str], source) -> np.ndarray:
    """Matrix of vectors for a vocabulary.

    Parameters
    ----------
    vocab : sequence of str
        Vocabulary with ``<pad>`` at ``PAD_ID`` and ``<unk>`` at ``UNK_ID``.
    source : KeyedVectors, (dict, int) or path-like
        gensim (fastText) vectors, a ``(word -> vector, dim)`` pair, or a
        pretrained file for :func:`load_pretrained`.

    Returns
    -------
    (len(vocab), dim) float32
        Rows ``PAD_ID`` and ``UNK_ID`` are zeros; a word without a vector (and
        without a lowercase match) gets zeros.
    """
    if isinstance(source, (str, os.PathLike)):
        needed = set(vocab) | {w.lower() for w in vocab}
        source = load_pretrained(source, needed)
    if isinstance(source, tuple):
        table, dim = source
        lookup = table.get
        subwords = False
    else:
        kv = source
        dim = kv.vector_size
        subwords = getattr(kv, "bucket", 0) > 0 and hasattr(kv, "vectors_ngrams")

        def lookup(word):
            if word in kv.key_to_index or subwords:
                return kv.get_vector(word)
            return None

    matrix = np.zeros((len(vocab), dim), dtype=np.float32)
    missing = 0
    for i, word in enumerate(vocab):
        if i in (PAD_ID, UNK_ID):
            continue
        vec = lookup(word)
        if vec is None and not subwords:
            vec = lookup(word.lower())
        if vec is None:
            missing += 1
            continue
        matrix[i] = vec
    if missing:
        log.info("embedding_matrix: %d of %d words have no vector (zero rows)",
                 missing, len(vocab) - 2)
    return matrix


def vocab_hash(vocab: Sequence[str]) -> str:
    """sha256 of the vocabulary (ids matter, so order is part of the hash)."""
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()


def _sidecar(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".json")


def prepare_embeddings(
    prepared_corpus: PreparedCorpus,
    cache_path: str | os.PathLike,
    *,
    pretrained: str | os.PathLike | None = None,
    dim: int | None = None,
    seed: int = 0,
    epochs: int = FASTTEXT_EPOCHS,
    overwrite: bool = False,
    source_name: str | None = None,
    source_sha256: str | None = None,
    **fasttext_options,
) -> np.ndarray:
    """Build (or load) the embedding matrix of a prepared corpus.

    Parameters
    ----------
    prepared_corpus : PreparedCorpus
    cache_path : path-like
        ``.npy`` output; a sidecar ``<cache_path>.json`` records the settings.
    pretrained : path-like, optional
        fastText ``.bin``, ``.vec`` or GloVe ``.txt``. None trains fastText on
        the training split (:func:`train_fasttext`).
    dim : int, optional
        Vector size of the trained model (default 300). With ``pretrained``
        the file decides; a ``dim`` that disagrees with it is an error.
    seed, epochs : int
        fastText training seed and epochs (ignored with ``pretrained``).
    overwrite : bool, default False
        Rebuild even if the cache matches the settings and vocabulary.
    source_name : str, optional
        How the sidecar's ``source_label`` names a pretrained file (e.g. the URL it
        was downloaded from); default its file name.
    source_sha256 : str, optional
        The pretrained file's sha256 when already known (checked on download);
        otherwise it is computed while building.
    **fasttext_options
        Overrides of :data:`FASTTEXT_DEFAULTS`.

    Returns
    -------
    (V, dim) float32
    """
    cache_path = Path(cache_path)
    vocab = prepared_corpus.vocab
    if pretrained is not None:
        pretrained = Path(pretrained)
        if not pretrained.is_file():
            raise ValueError(f"pretrained embeddings {pretrained} not found; fix the config path")
        st = pretrained.stat()
        source = {"pretrained": str(pretrained.resolve()), "size": st.st_size,
                  "mtime_ns": st.st_mtime_ns}
    else:
        source = {"fasttext": {**FASTTEXT_DEFAULTS, **fasttext_options}, "dim": dim or 300,
                  "seed": seed, "epochs": epochs}
    settings = {"source": source, "vocab_sha256": vocab_hash(vocab), "vocab_size": len(vocab)}
    sidecar = _sidecar(cache_path)
    if not overwrite and sidecar.is_file() and cache_path.is_file():
        try:
            old = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("settings") == settings:
            return load_embeddings(cache_path, vocab=vocab)

    start = time.perf_counter()
    if pretrained is not None:
        matrix = embedding_matrix(vocab, pretrained)
        if dim is not None and matrix.shape[1] != dim:
            raise ValueError(
                f"pretrained embeddings {pretrained} have dim {matrix.shape[1]} but dim={dim} "
                f"was requested; drop dim or use a {dim}-dim file"
            )
    else:
        kv = train_fasttext(prepared_corpus.sentences("train"), dim=dim or 300, seed=seed,
                            epochs=epochs, **fasttext_options)
        matrix = embedding_matrix(vocab, kv)
    if pretrained is not None:
        digest = source_sha256 or sha256_file(pretrained)
        label = f"{source_name or pretrained.name} sha256={digest}"
    else:
        label = fasttext_label(dim=dim or 300, seed=seed, epochs=epochs, **fasttext_options)
    zero_rows = int((~matrix[2:].any(axis=1)).sum())
    sidecar.unlink(missing_ok=True)  # invalidate first; the sidecar marks a complete cache
    atomic_save_npy(cache_path, matrix)
    atomic_write_json(sidecar, {
        "source_label": label,
        "settings": settings,
        "shape": list(matrix.shape),
        "zero_rows": zero_rows,
        "build_seconds": round(time.perf_counter() - start, 3),
    })
    return matrix


def load_embeddings(
    cache_path: str | os.PathLike,
    *,
    vocab: Sequence[str] | None = None,
    mmap: bool = False,
) -> np.ndarray:
    """Load a matrix cached by :func:`prepare_embeddings`.

    Parameters
    ----------
    cache_path : path-like
    vocab : sequence of str, optional
        If given, must be the vocabulary the matrix was built for.
    mmap : bool, default False
        Memory-map read-only.

    Returns
    -------
    (V, dim) float32

    Raises
    ------
    ValueError
        If the cache is incomplete or was built for another vocabulary.
    """
    cache_path = Path(cache_path)
    sidecar = _sidecar(cache_path)
    if not (cache_path.is_file() and sidecar.is_file()):
        raise ValueError(
            f"{cache_path}: no complete embedding cache (matrix or {sidecar.name} missing); "
            f"run mtllaws.embeddings.prepare_embeddings"
        )
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    matrix = np.load(cache_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if list(matrix.shape) != meta["shape"] or matrix.dtype != np.float32:
        raise ValueError(
            f"{cache_path}: {matrix.dtype} {list(matrix.shape)} does not match {sidecar} "
            f"(float32 {meta['shape']}); rebuild with overwrite=True"
        )
    if vocab is not None and vocab_hash(vocab) != meta["settings"]["vocab_sha256"]:
        raise ValueError(
            f"{cache_path}: built for another vocabulary than the corpus given; rebuild "
            f"with prepare_embeddings(..., overwrite=True) after prepare_corpus"
        )
    return matrix


#: Short names of the fastText settings in :func:`fasttext_label`, in order.
_LABEL_KEYS = {"window": "window", "min_n": "minn", "max_n": "maxn", "bucket": "bucket",
               "negative": "negative", "min_count": "min_count", "sample": "sample", "sg": "sg"}


def fasttext_label(
    *, dim: int = 300, seed: int = 0, epochs: int = FASTTEXT_EPOCHS, **options
) -> str:
    """One-line description of corpus-trained fastText vectors and their settings.

    Parameters
    ----------
    dim, seed, epochs : int
        As for :func:`train_fasttext`.
    **options
        Overrides of :data:`FASTTEXT_DEFAULTS`.

    Returns
    -------
    str
        ``fasttext-corpus dim=300 epochs=30 minn=3 maxn=5 window=5 ... seed=0``; every
        setting of :data:`FASTTEXT_DEFAULTS` is written, also when it is the default.
    """
    params = {**FASTTEXT_DEFAULTS, **options}
    parts = [f"dim={dim}", f"epochs={epochs}"]
    parts += [f"{short}={params[key]:g}" if isinstance(params[key], float)
              else f"{short}={params[key]}" for key, short in _LABEL_KEYS.items()]
    parts += [f"{k}={v}" for k, v in sorted(params.items()) if k not in _LABEL_KEYS]
    return " ".join(["fasttext-corpus", *parts, f"seed={seed}"])


def embeddings_source(cache_path: str | os.PathLike) -> str:
    """Where the vectors of a cached matrix came from, from its sidecar.

    Parameters
    ----------
    cache_path : path-like
        A matrix written by :func:`prepare_embeddings`.

    Returns
    -------
    str
        ``"<file name or URL> sha256=<hex>"`` for pretrained vectors,
        ``"fasttext-corpus dim=... epochs=... ..."`` (:func:`fasttext_label`) for vectors
        trained on the corpus. A sidecar written before labels were recorded gives the
        label rebuilt from its settings (pretrained: the path, without hash).
    """
    sidecar = _sidecar(Path(cache_path))
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{cache_path}: cannot read its sidecar {sidecar.name} ({err}); rebuild the "
            f"embeddings with prepare_embeddings"
        ) from err
    if meta.get("source_label"):
        return str(meta["source_label"])
    source = meta["settings"]["source"]
    if "pretrained" in source:
        return f"{Path(source['pretrained']).name} sha256=unrecorded"
    options = dict(source["fasttext"])
    return fasttext_label(dim=source["dim"], seed=source["seed"], epochs=source["epochs"],
                          **options)


def download_vectors(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str = "",
    size: int = 0,
    timeout: float = 60,
) -> str:
    """Download a pretrained vector file once, checking its size and sha256.

    The file is streamed to a temporary file next to ``dest`` (hashed on the way)
    and renamed into place only when every check passes: a failed or interrupted
    download leaves nothing at ``dest``.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` URL of a ``.vec``, ``.vec.gz``, ``.txt``,
        ``.txt.gz`` or fastText ``.bin`` file (:data:`VECTOR_SUFFIXES`).
    dest : path-like
        Where the file goes; its name must keep the URL's extension.
    sha256 : str, optional
        Expected hex sha256; empty skips the check.
    size : int, optional
        Expected size in bytes; 0 skips the check.
    timeout : float, default 60
        Seconds to wait for the server.

    Returns
    -------
    str
        The sha256 of the downloaded file.

    Raises
    ------
    ValueError
        The URL's extension is not a vector format, the machine is offline (the
        message says to set ``embeddings.pretrained``), or the size or sha256
        differs (the message names the URL, the expected and the actual value).
    """
    name = Path(urllib.parse.urlparse(url).path).name
    if _vector_suffix(name) not in VECTOR_SUFFIXES:
        raise ValueError(
            f"embeddings.url = {url}: the file name {name!r} does not end in one of "
            f"{list(VECTOR_SUFFIXES)}; give the URL of a .vec(.gz), .txt(.gz) or fastText .bin "
            f"file (a .zip or .bin.gz must be unpacked first: set embeddings.pretrained)"
        )
    dest = Path(dest)
    digest = hashlib.sha256()
    count = 0
    start = time.perf_counter()
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(tmp, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
                    count += len(block)
        except (urllib.error.URLError, OSError) as exc:
            raise ValueError(
                f"could not download embeddings.url = {url} ({exc}); this machine may be "
                f"offline: download the file elsewhere and set embeddings.pretrained to its "
                f"local path"
            ) from exc
        actual = digest.hexdigest()
        if size and count != size:
            raise ValueError(
                f"embeddings.url = {url}: downloaded {count} bytes, expected {size} "
                f"(embeddings.size); the file was not kept. Check the URL, then the pin"
            )
        if sha256 and actual != sha256.lower():
            raise ValueError(
                f"embeddings.url = {url}: sha256 {actual}, expected {sha256.lower()} "
                f"(embeddings.sha256); the file was not kept. The mirror changed or the "
                f"download is corrupt: check it, then update the pin"
            )
    log.info("downloaded %s (%d bytes, sha256 %s) in %.1f s", url, count, actual,
             time.perf_counter() - start)
    return actual
