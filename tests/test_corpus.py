"""Tests for mtllaws.corpus: reading, tag schemes, windows, cache."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

from mtllaws import corpus
from mtllaws.corpus import (
    PAD_ID,
    build_windows,
    io_label_set,
    load_prepared,
    prepare_corpus,
    read_conll,
    to_io,
    to_iob2,
)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_read_conll_skips_docstart_and_keeps_sentences(tmp_path):
    f = _write(
        tmp_path / "a.txt",
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n\n"
        "-DOCSTART- -X- -X- O\nBRUSSELS NNP B-NP B-LOC\n",
    )
    sents = read_conll(f)
    assert [s.words for s in sents] == [["EU", "rejects"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert [s.tags for s in sents] == [["B-ORG", "O"], ["B-PER", "I-PER"], ["B-LOC"]]
    words, tags = sents[0]  # a sentence unpacks as (words, tags)
    assert words == ["EU", "rejects"]


def test_read_two_column_file(tmp_path):
    f = _write(tmp_path / "b.txt", "John B-PER\nsmiled O\n\nParis I-LOC\n")
    assert read_conll(f) == [(["John", "smiled"], ["B-PER", "O"]), (["Paris"], ["I-LOC"])]


def test_read_conll_tag_column(tmp_path):
    f = _write(tmp_path / "c.txt", "EU NNP B-NP B-ORG\n")
    assert read_conll(f, tag_column=2)[0].tags == ["B-NP"]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("EU NNP B-NP B-ORG\nrejects VBZ O\n", 2, "found 3 column(s) but line 1 has 4"),
        ("EU NNP B-NP B-ORG\n\nx NN O E-PER\n", 3, "unknown tag 'E-PER'"),
        ("EU NNP B-NP PER\n", 1, "unknown tag 'PER'"),
        ("EU NNP B-NP B-\n", 1, "unknown tag 'B-'"),
        ("-DOCSTART- -X- -X- O\n\nlonely\n", 3, "found 1 column(s), need at least 2"),
    ],
)
def test_read_conll_bad_lines_name_file_and_line(tmp_path, text, line, needle):
    f = _write(tmp_path / "bad.txt", text)
    with pytest.raises(ValueError) as err:
        read_conll(f)
    assert f"{f}:{line}:" in str(err.value)
    assert needle in str(err.value)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_read_conll_empty_file(tmp_path, text):
    f = _write(tmp_path / "empty.txt", text)
    with pytest.raises(ValueError, match=r"empty\.txt: no tokens found"):
        read_conll(f)


def test_read_conll_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        read_conll(tmp_path / "nope.txt")


def test_non_utf8_file_names_file_line_and_fix(tmp_path):
    # issue 19 item 7: a latin-1 corpus gave a bare UnicodeDecodeError
    f = tmp_path / "latin.txt"
    f.write_bytes("EU NNP B-NP B-ORG\nM\u00fcnchen NNP B-NP B-LOC\n".encode("latin-1"))
    with pytest.raises(ValueError) as err:
        read_conll(f)
    assert f"{f}:2:" in str(err.value)
    assert "not UTF-8" in str(err.value) and "iconv" in str(err.value)


def test_non_breaking_space_inside_a_word_is_no_column_break(tmp_path):
    # issue 19 item 9: "10\xa0000" was read as two columns
    f = _write(tmp_path / "nbsp.txt", "EU NNP B-NP B-ORG\n10\u00a0000 CD I-NP O\n")
    assert read_conll(f)[0].words == ["EU", "10\u00a0000"]


def test_bom_and_crlf_still_parse(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes("\ufeffEU NNP B-NP B-ORG\r\nrejects VBZ B-VP O\r\n".encode())
    assert read_conll(f) == [(["EU", "rejects"], ["B-ORG", "O"])]


def test_to_iob2_converts_iob1():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "O", "B-MISC"]
    assert to_iob2(iob1) == [
        "B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "O", "B-MISC",
    ]


def test_to_iob2_keeps_iob2():
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]
    assert to_iob2(iob2) == iob2
    assert to_iob2([]) == []


def test_to_io():
    assert to_io(["B-PER", "I-PER", "O", "I-LOC", "B-MISC"]) == ["PER", "PER", "O", "LOC", "MISC"]
    with pytest.raises(ValueError, match="unknown tag 'S-PER'"):
        to_io(["S-PER"])


def test_io_label_set_order():
    assert io_label_set(["MISC", "O", "LOC", "PER", "ORG"]) == ["O", "PER", "ORG", "LOC", "MISC"]
    assert io_label_set(["ZZZ", "LOC", "AAA"]) == ["O", "LOC", "AAA", "ZZZ"]


def test_windows_pad_at_sentence_edges():
    ids = np.array([5, 6, 7, 8, 9])
    w = build_windows(ids, np.array([3, 2]), k=2)
    assert w.dtype == np.int32 and w.shape == (5, 5)
    np.testing.assert_array_equal(
        w,
        [
            [0, 0, 5, 6, 7],
            [0, 5, 6, 7, 0],
            [5, 6, 7, 0, 0],
            [0, 0, 8, 9, 0],
            [0, 8, 9, 0, 0],
        ],
    )


def test_windows_cross_sentence():
    ids = np.array([5, 6, 7, 8, 9])
    w = build_windows(ids, np.array([3, 2]), k=2, cross_sentence=True)
    np.testing.assert_array_equal(
        w,
        [
            [0, 0, 5, 6, 7],
            [0, 5, 6, 7, 8],
            [5, 6, 7, 8, 9],
            [6, 7, 8, 9, 0],
            [7, 8, 9, 0, 0],
        ],
    )


def test_windows_k0_and_bad_lengths():
    np.testing.assert_array_equal(build_windows(np.array([3, 4]), np.array([2]), k=0), [[3], [4]])
    with pytest.raises(ValueError, match="sum to the 3 token ids"):
        build_windows(np.array([1, 2, 3]), np.array([2]), k=1)
    with pytest.raises(ValueError, match="k must be >= 0"):
        build_windows(np.array([1]), np.array([1]), k=-1)


def test_windows_match_naive_loop():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, size=50)
    ids = rng.integers(2, 100, size=lengths.sum())
    k = 3
    w = build_windows(ids, lengths, k=k)
    start = 0
    for length in lengths:
        for t in range(length):
            for j, d in enumerate(range(-k, k + 1)):
                want = ids[start + t + d] if 0 <= t + d < length else PAD_ID
                assert w[start + t, j] == want
        start += length


def test_prepare_and_load_roundtrip(tiny_conll_dir, tmp_path):
    cache = tmp_path / "cache"
    p = prepare_corpus(tiny_conll_dir, cache)
    q = load_prepared(cache)
    assert p.labels == q.labels == ["O", "PER", "ORG", "LOC", "MISC"]
    assert p.vocab == q.vocab and p.vocab[:2] == ["<pad>", "<unk>"]
    for split in corpus.SPLITS:
        for field in ("windows", "y", "sentence_lengths"):
            a, b = getattr(p, f"{split}_{field}"), getattr(q, f"{split}_{field}")
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
        assert getattr(q, f"{split}_windows").dtype == np.int32
        assert getattr(q, f"{split}_y").dtype == np.int64
        assert getattr(q, f"{split}_sentence_lengths").sum() == len(getattr(q, f"{split}_y"))
    assert p.dev_tags == q.dev_tags and p.test_tags == q.test_tags
    # the cache reproduces the text: words and IO labels of every split
    for split, name in (("train", "train.txt"), ("dev", "valid.txt"), ("test", "test.txt")):
        sents = read_conll(tiny_conll_dir / name)
        assert q.sentences(split) == [s.words for s in sents]
        io = [q.labels.index(t) for s in sents for t in to_io(s.tags)]
        np.testing.assert_array_equal(getattr(q, f"{split}_y"), io)
    assert q.dev_tags == [to_iob2(s.tags) for s in read_conll(tiny_conll_dir / "valid.txt")]
    mm = load_prepared(cache, mmap=True)
    assert isinstance(mm.train_windows, np.memmap)
    np.testing.assert_array_equal(mm.train_windows, p.train_windows)


def test_vocab_includes_dev_test_words_after_train(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    _write(d / "train.txt", "a O\nb B-PER\n\na O\n")
    _write(d / "valid.txt", "c O\na O\n")
    _write(d / "test.txt", "d B-PER\nc O\n")
    p = prepare_corpus(d, tmp_path / "cache")
    assert p.vocab == ["<pad>", "<unk>", "a", "b", "c", "d"]
    assert p.n_train_vocab == 4
    assert p.labels == ["O", "PER"]


def test_iob1_corpus_gives_iob2_gold_and_io_labels(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    iob1 = "Peter I-PER\nPaul B-PER\nin O\nNew I-LOC\nYork I-LOC\n\nx I-ORG\ny I-MISC\n"
    for name in ("train.txt", "valid.txt", "test.txt"):
        _write(d / name, iob1)
    p = prepare_corpus(d, tmp_path / "cache")
    assert p.dev_tags == p.test_tags == [
        ["B-PER", "B-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "B-MISC"],
    ]
    names = [p.labels[i] for i in p.train_y]
    assert names == ["PER", "PER", "O", "LOC", "LOC", "ORG", "MISC"]


def test_prepare_reuses_matching_cache_and_rebuilds_on_change(tiny_conll_dir, tmp_path):
    cache = tmp_path / "cache"
    prepare_corpus(tiny_conll_dir, cache, k=2)
    stamp = (cache / "meta.json").stat().st_mtime_ns
    p = prepare_corpus(tiny_conll_dir, cache, k=2)
    assert (cache / "meta.json").stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert p.window == 5
    p = prepare_corpus(tiny_conll_dir, cache, k=1)  # other settings: rebuilt
    assert p.train_windows.shape[1] == 3 and load_prepared(cache).k == 1


def test_cross_sentence_option_is_cached(tiny_conll_dir, tmp_path):
    p = prepare_corpus(tiny_conll_dir, tmp_path / "x", cross_sentence=True)
    q = load_prepared(tmp_path / "x")
    assert q.cross_sentence
    # only the first and last tokens of the split see padding on the left/right
    assert (p.train_windows[1:, 2] != PAD_ID).all() and p.train_windows[0, 2] == PAD_ID


def test_interrupted_cache_is_rejected(tiny_conll_dir, tmp_path):
    cache = tmp_path / "cache"
    prepare_corpus(tiny_conll_dir, cache)
    (cache / "meta.json").unlink()  # as if the job died before the marker was written
    with pytest.raises(ValueError, match="no complete corpus cache"):
        load_prepared(cache)
    prepare_corpus(tiny_conll_dir, cache)
    np.save(cache / "dev_y.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"dev_y\.npy: shape \[3\]"):
        load_prepared(cache)
    assert not list(cache.glob("*.tmp"))


def test_prepare_errors(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    _write(d / "train.txt", "a O\nb B-PER\n")
    with pytest.raises(ValueError, match=r"lacks .*test\.txt.*valid\.txt \(or dev\.txt\)"):
        prepare_corpus(d, tmp_path / "cache")
    _write(d / "dev.txt", "a O\n")
    _write(d / "test.txt", "a O\n\nb B-LOC\n")
    with pytest.raises(ValueError, match=r"test\.txt:3: entity type 'LOC' does not occur"):
        prepare_corpus(d, tmp_path / "cache")
    assert not (tmp_path / "cache" / "meta.json").exists()


@pytest.mark.realdata
def test_real_conll_prepare_and_load(conll_dir, tmp_path):
    start = time.perf_counter()
    p = prepare_corpus(conll_dir, tmp_path / "conll")
    build = time.perf_counter() - start
    start = time.perf_counter()
    q = load_prepared(tmp_path / "conll")
    load = time.perf_counter() - start
    assert q.labels == ["O", "PER", "ORG", "LOC", "MISC"]
    assert [len(q.train_y), len(q.dev_y), len(q.test_y)] == [203621, 51362, 46435]
    assert [len(q.train_sentence_lengths), len(q.dev_tags), len(q.test_tags)] == [
        14041, 3250, 3453,
    ]
    assert sum(map(len, q.dev_tags)) == 51362
    assert q.train_windows.shape == (203621, 7)
    assert build < 30, f"parsing + windows took {build:.1f} s"
    assert load < 2, f"load_prepared took {load:.2f} s"
    meta = json.loads((tmp_path / "conll" / "meta.json").read_text())
    assert meta["vocab_size"] == len(p.vocab)


# --------------------------------------------------------------------------- auxiliary columns

_TRAIN = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n"
          "call NN I-NP O\n. . O O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
          "BRUSSELS NNP B-NP B-LOC\n1996-08-22 CD I-NP O\n")
_DEV = "The DT B-NP O\nEuropean NNP I-NP B-ORG\nCommission NNP I-NP I-ORG\nsaid VBD B-VP O\n"
_TEST = "Germany NNP B-NP B-LOC\nwill MD B-VP O\nPeter NNP B-NP B-PER\n"


def _small_corpus(d):
    d.mkdir(exist_ok=True)
    for name, text in (("train.txt", _TRAIN), ("valid.txt", _DEV), ("test.txt", _TEST)):
        _write(d / name, text)
    return d


def _digests(cache):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(cache.iterdir())}


#: sha256 (first 16 hex digits) of every file of the default cache (k=1) of the corpus
#: above, written by the code before auxiliary columns existed (main at 9458651).
_DEFAULT_CACHE = {
    "dev_sentence_lengths.npy": "060d6c3223cfe286", "dev_windows.npy": "0d1fde80257e8168",
    "dev_y.npy": "2f85da1d22291f0c", "gold.json": "d09baf85d49cafc4",
    "meta.json": "d9d6fa6b51c15824", "test_sentence_lengths.npy": "5bd6c697aa9beab2",
    "test_windows.npy": "b55886730422b4e0", "test_y.npy": "238e0465c83bcb22",
    "train_sentence_lengths.npy": "c8cf7bd3d707de11", "train_windows.npy": "55b0d02a16ab8f75",
    "train_y.npy": "3cce1a878a6de629", "vocab.json": "c4bbccdc2af039e4",
}


def test_default_cache_is_unchanged_by_auxiliary_columns(tmp_path):
    d = _small_corpus(tmp_path / "c")
    p = prepare_corpus(d, tmp_path / "cache", k=1)
    assert _digests(tmp_path / "cache") == _DEFAULT_CACHE
    assert p.aux_names == () and load_prepared(tmp_path / "cache").aux_names == ()
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    assert "aux" not in meta and "aux_columns" not in meta["settings"]


def test_pos_labels_are_read_from_column_2(tmp_path):
    d = _small_corpus(tmp_path / "c")
    p = prepare_corpus(d, tmp_path / "cache", k=1, aux_columns={"pos": 1})
    pos = [line.split()[1] for line in _TRAIN.splitlines()
           if line and not line.startswith("-DOCSTART-")]
    names = p.aux_label_names("pos")
    assert names == [".", "CD", "JJ", "NN", "NNP", "VBZ"] == sorted(set(pos))
    ids = p.aux_labels("pos", "train")
    assert ids.dtype == np.int64 and ids.shape == p.train_y.shape
    assert [names[i] for i in ids] == pos
    # dev: DT and VBD are not training tags (MASK), NNP is
    assert p.aux_labels("pos", "dev").tolist() == [-1, 4, 4, -1]
    q = load_prepared(tmp_path / "cache")
    assert q.aux_names == ("pos",) and q.aux_label_names("pos") == names
    assert q.aux_specs == {"pos": corpus.AuxColumn(1, "tag")}
    for split in corpus.SPLITS:
        np.testing.assert_array_equal(q.aux_labels("pos", split), p.aux_labels("pos", split))
    assert (tmp_path / "cache" / "train_aux_pos.npy").is_file()
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    assert meta["aux"]["pos"]["unseen"] == {"train": 0, "dev": 2, "test": 1}
    assert meta["settings"]["aux_columns"] == {"pos": {"column": 1, "scheme": "tag"}}
    # the NER labels, windows and vocabulary are those of the default build
    plain = prepare_corpus(d, tmp_path / "plain", k=1)
    np.testing.assert_array_equal(plain.train_y, p.train_y)
    np.testing.assert_array_equal(plain.dev_windows, p.dev_windows)
    assert plain.vocab == p.vocab


def test_chunk_presets_io_and_iob(tmp_path):
    d = _small_corpus(tmp_path / "c")
    p = prepare_corpus(d, tmp_path / "cache", k=1, aux_columns=["chunk", "chunk_iob"])
    assert p.aux_label_names("chunk") == ["O", "NP", "VP"]
    assert p.aux_label_names("chunk_iob") == ["O", "B-NP", "B-VP", "I-NP"]
    io = [p.aux_label_names("chunk")[i] for i in p.aux_labels("chunk")]
    assert io == ["NP", "VP", "NP", "NP", "O", "NP", "NP", "NP", "NP"]
    iob = [p.aux_label_names("chunk_iob")[i] for i in p.aux_labels("chunk_iob")]
    assert iob == ["B-NP", "B-VP", "B-NP", "I-NP", "O", "B-NP", "I-NP", "B-NP", "I-NP"]
    # {"chunk": 2}: a bare index keeps the preset's scheme; other names read raw tags
    assert corpus.aux_column_specs({"chunk": 2, "mine": 2}) == {
        "chunk": corpus.AuxColumn(2, "io"), "mine": corpus.AuxColumn(2, "tag")}


def test_iob1_auxiliary_column_becomes_iob2(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    for name in ("train.txt", "valid.txt", "test.txt"):
        _write(d / name, "a I-NP O\nb I-NP O\nc B-NP O\nd I-VP O\n")
    p = prepare_corpus(d, tmp_path / "cache", aux_columns={"c": (1, "iob")})
    names = p.aux_label_names("c")
    assert [names[i] for i in p.aux_labels("c")] == ["B-NP", "I-NP", "B-NP", "B-VP"]


def test_cache_key_holds_the_auxiliary_columns(tmp_path):
    d = _small_corpus(tmp_path / "c")
    cache = tmp_path / "cache"
    prepare_corpus(d, cache, k=1)
    with pytest.raises(ValueError, match=r"'pos' are not in this corpus cache.*aux_columns="):
        load_prepared(cache).aux_labels("pos")
    p = prepare_corpus(d, cache, k=1, aux_columns=["pos"])  # not reused: rebuilt
    assert p.aux_names == ("pos",) and load_prepared(cache).aux_names == ("pos",)
    stamp = (cache / "meta.json").stat().st_mtime_ns
    prepare_corpus(d, cache, k=1, aux_columns={"pos": 1})  # the same columns: reused
    assert (cache / "meta.json").stat().st_mtime_ns == stamp
    p = prepare_corpus(d, cache, k=1, aux_columns=["chunk"])  # other columns: rebuilt
    assert load_prepared(cache).aux_names == ("chunk",)
    assert not (cache / "train_aux_pos.npy").exists()  # no stale column left behind
    with pytest.raises(ValueError, match=r"it has \['chunk'\]"):
        p.aux_labels("pos")
    prepare_corpus(d, cache, k=1)  # back to none: the default cache, byte for byte
    assert _digests(cache) == _DEFAULT_CACHE


@pytest.mark.parametrize(
    ("aux", "match"),
    [
        (["postag"], r"\['postag'\] are not preset names"),
        ({"Pos": 1}, "lower-case identifier"),
        ({"pos": "1"}, "must be an integer index"),
        ({"pos": (1, "bio")}, "scheme 'bio' is not one of"),
        ({"pos": {"col": 1}}, "give {'column'"),
    ],
)
def test_bad_auxiliary_column_specs_name_the_entry(tmp_path, aux, match):
    d = _small_corpus(tmp_path / "c")
    with pytest.raises(ValueError, match=match):
        prepare_corpus(d, tmp_path / "cache", aux_columns=aux)
    assert not (tmp_path / "cache").exists()


def test_auxiliary_column_errors_name_file_and_line(tmp_path):
    d = _small_corpus(tmp_path / "c")
    with pytest.raises(ValueError, match=r"train\.txt:3: auxiliary column 4 \(0-based\) is "
                                         r"outside the 4 columns.*0\.\.3"):
        prepare_corpus(d, tmp_path / "cache", aux_columns={"x": 4})
    with pytest.raises(ValueError, match=r"train\.txt:3: auxiliary column 'x' has tag 'NNP'"):
        prepare_corpus(d, tmp_path / "cache", aux_columns={"x": (1, "io")})
    assert not (tmp_path / "cache" / "meta.json").exists()


@pytest.mark.realdata
def test_real_auxiliary_tasks_ami_to_ner(conll_dir, tmp_path):
    """POS and chunk labels of the training split, and their AMI to NER's IO labels."""
    from sklearn.metrics import adjusted_mutual_info_score

    from mtllaws.relatedness import ami

    p = prepare_corpus(conll_dir, tmp_path / "conll", aux_columns=["pos", "chunk",
                                                                   "chunk_iob"])
    expected = {"pos": (45, 0.172), "chunk": (11, 0.078), "chunk_iob": (20, 0.067)}
    for name, (size, value) in expected.items():
        y = p.aux_labels(name, "train")
        assert len(p.aux_label_names(name)) == size and y.min() >= 0
        ours = ami(y, p.train_y)
        assert ours == pytest.approx(adjusted_mutual_info_score(p.train_y, y), abs=1e-9)
        assert ours == pytest.approx(value, abs=0.005), name
    assert "NNP" in p.aux_label_names("pos")
    meta = json.loads((tmp_path / "conll" / "meta.json").read_text())
    assert meta["aux"]["chunk_iob"]["unseen"] == {"train": 0, "dev": 2, "test": 0}  # I-PRT
