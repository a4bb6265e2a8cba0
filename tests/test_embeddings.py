"""Tests for mtllaws.embeddings: fastText training, pretrained files, the cached matrix."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from mtllaws.corpus import PAD_ID, UNK_ID, prepare_corpus
from mtllaws.embeddings import (
    download_vectors,
    embedding_matrix,
    embeddings_source,
    fasttext_label,
    load_embeddings,
    prepare_embeddings,
    read_text_vectors,
    train_fasttext,
)

SMALL = dict(dim=16, epochs=2, bucket=4096)


@pytest.fixture(scope="module")
def tiny(tiny_conll_dir, tmp_path_factory):
    return prepare_corpus(tiny_conll_dir, tmp_path_factory.mktemp("emb_cache"))


def test_trained_matrix_shape_rows_and_cache(tiny, tmp_path):
    path = tmp_path / "ft.npy"
    m = prepare_embeddings(tiny, path, seed=1, **SMALL)
    assert m.dtype == np.float32 and m.shape == (len(tiny.vocab), 16)
    assert not m[PAD_ID].any() and not m[UNK_ID].any()
    assert m[2:].any(axis=1).all()  # every word, dev/test-only ones too, has a subword vector
    stamp = path.stat().st_mtime_ns
    again = prepare_embeddings(tiny, path, seed=1, **SMALL)
    assert path.stat().st_mtime_ns == stamp  # loaded from the cache
    np.testing.assert_array_equal(again, m)
    np.testing.assert_array_equal(load_embeddings(path, vocab=tiny.vocab), m)
    assert isinstance(load_embeddings(path, mmap=True), np.memmap)
    other = prepare_embeddings(tiny, path, seed=2, **SMALL)  # new settings: rebuilt
    assert not np.array_equal(other, m)
    assert not list(tmp_path.glob("*.tmp"))


def test_fasttext_deterministic_in_process(tiny):
    sents = tiny.sentences("train")
    a = embedding_matrix(tiny.vocab, train_fasttext(sents, seed=3, **SMALL))
    b = embedding_matrix(tiny.vocab, train_fasttext(sents, seed=3, **SMALL))
    c = embedding_matrix(tiny.vocab, train_fasttext(sents, seed=4, **SMALL))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fasttext_does_not_depend_on_pythonhashseed(tiny, tiny_conll_dir, tmp_path):
    script = textwrap.dedent(
        """
        import sys, numpy as np
        from mtllaws.corpus import prepare_corpus
        from mtllaws.embeddings import embedding_matrix, train_fasttext
        p = prepare_corpus(sys.argv[1], sys.argv[2])
        kv = train_fasttext(p.sentences("train"), dim=16, epochs=2, seed=0, bucket=4096)
        np.save(sys.argv[3], embedding_matrix(p.vocab, kv))
        """
    )
    # a hash seed other than this process's (random unless PYTHONHASHSEED is set)
    hashseed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    out = tmp_path / "m.npy"
    subprocess.run(
        [sys.executable, "-c", script, str(tiny_conll_dir), str(tmp_path / "c"), str(out)],
        check=True, env={**os.environ, "PYTHONHASHSEED": hashseed}, timeout=120,
    )
    here = embedding_matrix(tiny.vocab, train_fasttext(tiny.sentences("train"), seed=0, **SMALL))
    other = subprocess.run(
        [sys.executable, "-c", "print(hash('abc'))"], capture_output=True, text=True,
        env={**os.environ, "PYTHONHASHSEED": hashseed}, check=True,
    )
    assert int(other.stdout) != hash("abc")  # the two processes really hash strings differently
    np.testing.assert_array_equal(np.load(out), here)


def _write_vec(path, rows, header=True):
    dim = len(next(iter(rows.values())))
    lines = [f"{len(rows)} {dim}"] if header else []
    lines += [w + " " + " ".join(f"{x:.3f}" for x in v) for w, v in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(("suffix", "header"), [(".vec", True), (".txt", False)])
def test_text_vectors_with_lowercase_fallback(tiny, tmp_path, suffix, header):
    rows = {"w1": [1.0, 2.0, 3.0], "ent0": [4.0, 5.0, 6.0], "w2": [0.5, 0.0, -1.0],
            "unused": [9.0, 9.0, 9.0]}
    path = tmp_path / f"emb{suffix}"
    _write_vec(path, rows, header=header)
    m = prepare_embeddings(tiny, tmp_path / "m.npy", pretrained=path)
    v = {w: i for i, w in enumerate(tiny.vocab)}
    assert m.shape == (len(tiny.vocab), 3) and m.dtype == np.float32
    np.testing.assert_allclose(m[v["w1"]], [1, 2, 3])
    np.testing.assert_allclose(m[v["Ent0"]], [4, 5, 6])  # via its lowercase form
    np.testing.assert_allclose(m[v["w2"]], [0.5, 0, -1])
    assert not m[v["w3"]].any() and not m[PAD_ID].any()
    with pytest.raises(ValueError, match="dim 3 but dim=300"):
        prepare_embeddings(tiny, tmp_path / "m2.npy", pretrained=path, dim=300)


def test_fasttext_bin_gives_subword_vectors(tiny, tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sents = tiny.sentences("train")
    model = FastText(vector_size=8, min_count=1, epochs=1, workers=1, seed=0, bucket=5000)
    model.build_vocab(corpus_iterable=sents)
    model.train(corpus_iterable=sents, total_examples=len(sents), epochs=1)
    path = tmp_path / "tiny.bin"
    save_facebook_model(model, str(path))
    m = prepare_embeddings(tiny, tmp_path / "bin.npy", pretrained=path)
    assert m.shape == (len(tiny.vocab), 8)
    assert m[2:].any(axis=1).all()  # dev/test-only words included
    i = tiny.vocab.index("w5")
    np.testing.assert_allclose(m[i], model.wv["w5"], rtol=1e-5, atol=1e-6)


def test_pretrained_errors(tiny, tmp_path):
    bad = tmp_path / "bad.vec"
    bad.write_text("2 3\nw1 1 2 3\nw2 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.vec:3: expected a word and 3 values"):
        read_text_vectors(bad)
    nan = tmp_path / "nan.txt"
    nan.write_text("w1 1 2 x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"nan\.txt:1: non-numeric"):
        read_text_vectors(nan)
    empty = tmp_path / "empty.vec"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no vectors found"):
        read_text_vectors(empty)
    (tmp_path / "x.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown extension '.pt'"):
        embedding_matrix(tiny.vocab, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not found"):
        prepare_embeddings(tiny, tmp_path / "m.npy", pretrained=tmp_path / "none.vec")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"junk\.bin: not a fastText \.bin"):
        embedding_matrix(tiny.vocab, junk)


def test_load_embeddings_checks_vocab_and_completeness(tiny, tmp_path):
    path = tmp_path / "ft.npy"
    prepare_embeddings(tiny, path, **SMALL)
    with pytest.raises(ValueError, match="another vocabulary"):
        load_embeddings(path, vocab=tiny.vocab[:-1])
    (tmp_path / "ft.npy.json").unlink()  # as if the job died before the sidecar
    with pytest.raises(ValueError, match="no complete embedding cache"):
        load_embeddings(path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def loopback(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


VEC_ROWS = {"w1": [1.0, 2.0, 3.0], "ent0": [4.0, 5.0, 6.0], "w2": [0.5, 0.0, -1.0]}


@pytest.mark.parametrize("suffix", [".vec", ".vec.gz"])
def test_download_vectors_from_loopback_then_build_matrix(tiny, loopback, tmp_path, suffix):
    www, base = loopback
    plain = tmp_path / "plain.vec"
    _write_vec(plain, VEC_ROWS)
    payload = plain.read_bytes()
    if suffix == ".vec.gz":
        payload = gzip.compress(payload)
    (www / f"small{suffix}").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "download" / f"small{suffix}"
    got = download_vectors(f"{base}/small{suffix}", dest, sha256=sha.upper(), size=len(payload))
    assert got == sha and dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp file left
    m = prepare_embeddings(tiny, tmp_path / "m.npy", pretrained=dest,
                           source_name=f"{base}/small{suffix}")
    v = {w: i for i, w in enumerate(tiny.vocab)}
    np.testing.assert_allclose(m[v["Ent0"]], [4, 5, 6])
    np.testing.assert_allclose(m[v["w2"]], [0.5, 0, -1])
    assert embeddings_source(tmp_path / "m.npy") == f"{base}/small{suffix} sha256={sha}"


def test_download_vectors_sha256_and_size_mismatch_keep_nothing(loopback, tmp_path):
    www, base = loopback
    (www / "small.vec").write_bytes(b"1 2\nw 1 2\n")
    actual = hashlib.sha256(b"1 2\nw 1 2\n").hexdigest()
    dest = tmp_path / "dl" / "small.vec"
    url = f"{base}/small.vec"
    with pytest.raises(ValueError) as err:
        download_vectors(url, dest, sha256="ab" * 32)
    message = str(err.value)
    assert url in message and "ab" * 32 in message and actual in message
    assert "embeddings.sha256" in message
    with pytest.raises(ValueError, match=r"downloaded 10 bytes, expected 13 \(embeddings.size\)"):
        download_vectors(url, dest, size=13)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_vectors_offline_says_set_pretrained(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "small.vec").write_bytes(b"1 2\nw 1 2\n")
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/small.vec"
    server.server_close()  # the server is gone: connection refused, as offline
    with pytest.raises(ValueError, match="set embeddings.pretrained to its local path") as err:
        download_vectors(url, tmp_path / "dl" / "small.vec", timeout=5)
    assert url in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "dl" / "small.vec").exists()


def test_download_vectors_refuses_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"vectors.zip.*does not end in one of"):
        download_vectors("http://127.0.0.1:9/vectors.zip", tmp_path / "vectors.zip")


def test_gzipped_text_vectors_stream_only_the_words_asked(tmp_path):
    path = tmp_path / "v.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("a 1 2\nb 3 4\nc 5 6\n")
    vectors, dim = read_text_vectors(path, words={"b", "zzz"})
    assert dim == 2 and list(vectors) == ["b"]
    np.testing.assert_allclose(vectors["b"], [3, 4])


def test_source_label_of_corpus_trained_vectors(tiny, tmp_path):
    path = tmp_path / "ft.npy"
    prepare_embeddings(tiny, path, seed=3, **SMALL)
    label = embeddings_source(path)
    assert label == fasttext_label(dim=16, seed=3, epochs=2, bucket=4096)
    assert label.startswith("fasttext-corpus dim=16 epochs=2 window=5 minn=3 maxn=5 bucket=4096")
    assert label.endswith("seed=3")


@pytest.mark.realdata
@pytest.mark.slow
def test_real_corpus_and_embeddings(conll_dir, tmp_path):
    # build/load times are measured in benchmarks/data_prep.py, not asserted here
    p = prepare_corpus(conll_dir, tmp_path / "conll")
    m = prepare_embeddings(p, tmp_path / "conll" / "fasttext.npy")
    assert m.shape == (len(p.vocab), 300) and m.dtype == np.float32
    assert m[2:].any(axis=1).all()
    v = {w: i for i, w in enumerate(p.vocab)}
    unit = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit[v["Monday"]]
    top = {p.vocab[i] for i in np.argsort(-sims)[1:11]}
    assert len(top & {"Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}) >= 2
    np.testing.assert_array_equal(
        load_embeddings(tmp_path / "conll" / "fasttext.npy", vocab=p.vocab), m
    )
