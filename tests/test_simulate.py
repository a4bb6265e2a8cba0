"""Tests for mtllaws.simulate: Algorithm 1 and make_tasks (AMI: tests/test_relatedness.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mtllaws.corpus import prepare_corpus
from mtllaws.relatedness import ami, transition_matrix
from mtllaws.simulate import MASK, make_tasks, simulate_labels


@pytest.fixture(scope="module")
def tiny(tiny_conll_dir, tmp_path_factory):
    return prepare_corpus(tiny_conll_dir, tmp_path_factory.mktemp("sim_cache"))


# ------------------------------------------------------------------ simulation


def test_simulated_transition_frequencies_match_m():
    c, alpha, n = 5, 0.7, 250_000
    rng = np.random.default_rng(0)
    y = rng.integers(0, c, size=n)
    s = simulate_labels(y, alpha, c, np.random.default_rng(1))
    assert s.dtype == np.int64 and s.shape == y.shape
    freq = np.zeros((c, c))
    np.add.at(freq, (y, s), 1)
    freq /= freq.sum(axis=1, keepdims=True)
    # 50k tokens per row: binomial sd <= 0.0022, so 0.01 is > 4 sd
    np.testing.assert_allclose(freq, transition_matrix(alpha, c), atol=0.01)


def test_simulate_extremes_and_determinism():
    y = np.random.default_rng(0).integers(0, 4, size=5000)
    np.testing.assert_array_equal(simulate_labels(y, 1.0, 4, np.random.default_rng(3)), y)
    a = simulate_labels(y, 0.6, 4, np.random.default_rng(3))
    b = simulate_labels(y, 0.6, 4, np.random.default_rng(3))
    c = simulate_labels(y, 0.6, 4, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    indep = simulate_labels(y, 0.25, 4, np.random.default_rng(5))
    assert abs(ami(y, indep)) < 0.005
    with pytest.raises(ValueError, match="no MASK"):
        simulate_labels(np.array([0, MASK]), 0.9, 4, np.random.default_rng(0))


# ------------------------------------------------------------------ make_tasks


def _sentence_of(lengths):
    return np.repeat(np.arange(len(lengths)), lengths)


def test_make_tasks_disjoint(tiny):
    y, lengths = tiny.train_y, tiny.train_sentence_lengths
    td = make_tasks(y, lengths, n_tasks=4, n_ner=120, alphas=[0.9, 0.6, 1.0], seed=3,
                    n_classes=tiny.n_classes)
    assert td.labels.shape == (480, 4) and td.labels.dtype == np.int64
    assert td.token_idx.dtype == np.int64 and len(np.unique(td.token_idx)) == 480
    # each token is labelled by exactly one task, in blocks of n
    labelled = td.labels != MASK
    np.testing.assert_array_equal(labelled.sum(axis=1), 1)
    np.testing.assert_array_equal(labelled.argmax(axis=1), np.repeat(np.arange(4), 120))
    np.testing.assert_array_equal(td.labels[:120, 0], y[td.token_idx[:120]])
    np.testing.assert_array_equal(td.labels[-120:, 3], y[td.token_idx[-120:]])  # alpha = 1
    np.testing.assert_array_equal(td.alphas, [0.9, 0.6, 1.0])
    for k in range(1, 4):
        rows = labelled[:, k]
        assert td.ami[k - 1] == pytest.approx(ami(y[td.token_idx[rows]], td.labels[rows, k]))
    assert td.ami[2] == 1.0
    # slices are whole sentences except a trimmed last one, and share no sentence
    sent = _sentence_of(lengths)
    seen = set()
    for k in range(4):
        idx = td.token_idx[labelled[:, k]]
        ids = list(dict.fromkeys(sent[idx]))  # sentences in slice order
        assert not seen & set(ids)
        seen |= set(ids)
        for s in ids[:-1]:
            assert (sent[idx] == s).sum() == lengths[s]
        last = idx[sent[idx] == ids[-1]]
        start = lengths[: ids[-1]].sum()
        np.testing.assert_array_equal(last, np.arange(start, start + len(last)))  # a prefix


def test_make_tasks_shared_and_unbalanced(tiny):
    y, lengths = tiny.train_y, tiny.train_sentence_lengths
    td = make_tasks(y, lengths, n_tasks=3, n_ner=50, n_syn=200, alphas=0.8, slices="shared",
                    seed=1, n_classes=5)
    assert td.labels.shape == (200, 3)
    assert (td.labels[:50, 0] != MASK).all() and (td.labels[50:, 0] == MASK).all()
    assert (td.labels[:, 1:] != MASK).all()
    assert (td.labels[:, 1] != td.labels[:, 2]).any()  # independent draws
    np.testing.assert_array_equal(td.labels[:50, 0], y[td.token_idx[:50]])
    td2 = make_tasks(y, lengths, n_tasks=3, n_ner=200, n_syn=50, alphas=0.8, slices="shared",
                     seed=1, n_classes=5)
    np.testing.assert_array_equal(td2.token_idx[:50], td.token_idx[:50])  # same token order
    assert (td2.labels[50:, 1:] == MASK).all() and (td2.labels[:, 0] != MASK).all()

    dis = make_tasks(y, lengths, n_tasks=3, n_ner=50, n_syn=200, alphas=0.8, seed=1, n_classes=5)
    assert dis.labels.shape == (450, 3) and (dis.labels != MASK).sum() == 450
    assert dis.n_ner == 50 and dis.n_syn == 200 and dis.n_tasks == 3


def test_make_tasks_seeding(tiny):
    y, lengths = tiny.train_y, tiny.train_sentence_lengths
    kw = dict(n_ner=100, alphas=0.7, n_classes=5)
    a = make_tasks(y, lengths, n_tasks=3, seed=5, **kw)
    b = make_tasks(y, lengths, n_tasks=3, seed=5, **kw)
    c = make_tasks(y, lengths, n_tasks=3, seed=6, **kw)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.token_idx, b.token_idx)
    assert not np.array_equal(a.token_idx, c.token_idx)
    # more tasks with the same seed keep the earlier slices and draws
    d = make_tasks(y, lengths, n_tasks=5, seed=5, **kw)
    np.testing.assert_array_equal(d.token_idx[:300], a.token_idx)
    np.testing.assert_array_equal(d.labels[:300, :3], a.labels)
    single = make_tasks(y, lengths, n_tasks=1, n_ner=100, seed=5)
    assert single.labels.shape == (100, 1) and single.ami.shape == (0,)
    np.testing.assert_array_equal(single.token_idx, a.token_idx[:100])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(n_tasks=2, n_ner=10, alphas=0.1), r"alpha=0.1 is outside \[1/c, 1\]"),
        (dict(n_tasks=0, n_ner=10), r"n_tasks \(T\)=0 must be an integer >= 1"),
        (dict(n_tasks=2, n_ner=0, alphas=0.9), r"n_ner \(n\)=0 must be an integer >= 1"),
        (dict(n_tasks=2, n_ner=10, n_syn=2.5, alphas=0.9), "n_syn=2.5 must be an integer"),
        (dict(n_tasks=3, n_ner=10, alphas=[0.9, 0.8, 0.7]), "3 alphas for 2 synthetic tasks"),
        (dict(n_tasks=2, n_ner=10), "needs alphas"),
        (dict(n_tasks=2, n_ner=10, alphas=0.9, slices="overlap"), "slices='overlap'"),
    ],
)
def test_make_tasks_errors_name_the_point(tiny, kwargs, needle):
    with pytest.raises(ValueError, match=needle) as err:
        make_tasks(tiny.train_y, tiny.train_sentence_lengths, seed=0, n_classes=5,
                   point="T2_n10_a0.9_s0", **kwargs)
    assert str(err.value).startswith("grid point T2_n10_a0.9_s0: ")


def test_make_tasks_too_many_tokens(tiny):
    y, lengths = tiny.train_y, tiny.train_sentence_lengths
    n_total = len(y)
    with pytest.raises(ValueError) as err:
        make_tasks(y, lengths, n_tasks=4, n_ner=n_total // 3, alphas=0.9, point="big")
    msg = str(err.value)
    assert msg.startswith("grid point big: ") and f"has only {n_total}" in msg
    # issue 19 item 3: a balanced grid got the unbalanced n_ner/n_syn wording
    assert f"T*n = 4*{n_total // 3}" in msg and "n_syn" not in msg
    with pytest.raises(ValueError, match=r"n_ner \+ \(T-1\)\*n_syn"):
        make_tasks(y, lengths, n_tasks=3, n_ner=10, n_syn=n_total, alphas=0.9)
    with pytest.raises(ValueError, match=f"has only {n_total}"):
        make_tasks(y, lengths, n_tasks=2, n_ner=n_total + 1, alphas=0.9, slices="shared")
    # fits in tokens, but not once each slice drops the rest of its trimmed sentence
    with pytest.raises(ValueError, match="ran out of tokens"):
        make_tasks(y, lengths, n_tasks=n_total // 7, n_ner=7, alphas=0.9)
    whole = make_tasks(y, lengths, n_tasks=1, n_ner=n_total, slices="shared")
    assert sorted(whole.token_idx) == list(range(n_total))


def test_make_tasks_t30_n1000(skewed_y):
    # timing of this size lives in benchmarks/data_prep.py
    y, lengths = skewed_y
    td = make_tasks(y, lengths, n_tasks=30, n_ner=1000, alphas=0.9, seed=0)
    assert td.labels.shape == (30 * 1000, 30)
    assert ((td.labels != MASK).sum(axis=0) == 1000).all()
    assert ((td.labels != MASK).sum(axis=1) == 1).all()  # disjoint slices
    again = make_tasks(y, lengths, n_tasks=30, n_ner=1000, alphas=0.9, seed=0)
    np.testing.assert_array_equal(again.labels, td.labels)
    np.testing.assert_array_equal(again.token_idx, td.token_idx)


def test_contiguous_slices_are_file_order_and_seed_independent():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, size=60)
    y = rng.integers(0, 5, size=int(lengths.sum()))
    a = make_tasks(y, lengths, n_tasks=3, n_ner=40, alphas=0.8, slices="contiguous", seed=0)
    b = make_tasks(y, lengths, n_tasks=3, n_ner=40, alphas=0.8, slices="contiguous", seed=1)
    # task k labels tokens [k*n, (k+1)*n) in file order, whatever the seed
    np.testing.assert_array_equal(a.token_idx, np.arange(120))
    np.testing.assert_array_equal(b.token_idx, np.arange(120))
    for k in range(3):
        rows = np.arange(40 * k, 40 * (k + 1))
        assert (a.labels[rows, k] != MASK).all()
        assert ((a.labels != MASK).sum(axis=1) == 1).all()
    np.testing.assert_array_equal(a.labels[:40, 0], y[:40])
    # the synthetic draws still follow the seed
    assert not np.array_equal(a.labels[40:, 1], b.labels[40:, 1])
    un = make_tasks(y, lengths, n_tasks=2, n_ner=30, n_syn=50, alphas=0.8, slices="contiguous")
    np.testing.assert_array_equal(un.token_idx, np.arange(80))
    with pytest.raises(ValueError, match="contiguous slices"):
        make_tasks(y, lengths, n_tasks=3, n_ner=int(lengths.sum()) // 2, alphas=0.8,
                   slices="contiguous")


# ------------------------------------------------------------------ relatedness measures


def test_make_tasks_records_enabled_measures_with_inputs(tiny):
    from mtllaws import relatedness as R

    calls = []

    def centre_norm(task_labels, real_labels, inputs=None):
        calls.append((task_labels, real_labels, inputs))
        centre = inputs.windows[:, inputs.windows.shape[1] // 2]
        return float(np.linalg.norm(inputs.embeddings[centre], axis=1).mean())

    R.register(R.Measure(name="toy_norm", function=centre_norm, description="test",
                         label="toy", symbol="N", needs="inputs"))
    try:
        y, lengths = tiny.train_y, tiny.train_sentence_lengths
        emb = np.random.default_rng(0).normal(size=(len(tiny.vocab), 4))
        kw = dict(n_tasks=3, n_ner=50, alphas=[0.9, 0.5], seed=2, n_classes=5)
        with pytest.raises(ValueError, match="measure 'toy_norm' needs windows and embeddings"):
            make_tasks(y, lengths, measures=["toy_norm"], **kw)
        with pytest.raises(ValueError, match="windows has 3 rows but y_train has"):
            make_tasks(y, lengths, measures=["toy_norm"], windows=tiny.train_windows[:3],
                       embeddings=emb, **kw)
        with pytest.raises(ValueError, match="unknown relatedness measure 'cka'"):
            make_tasks(y, lengths, measures=["cka"], **kw)
        td = make_tasks(y, lengths, measures=["toy_norm"], windows=tiny.train_windows,
                        embeddings=emb, **kw)
        plain = make_tasks(y, lengths, **kw)
    finally:
        R.MEASURES.pop("toy_norm")
    assert list(td.measures) == ["ami", "toy_norm"] and list(plain.measures) == ["ami"]
    np.testing.assert_array_equal(td.ami, plain.ami)
    np.testing.assert_array_equal(td.labels, plain.labels)
    assert len(calls) == 2 and td.measures["toy_norm"].shape == (2,)
    for k, (task_labels, real_labels, inputs) in enumerate(calls, start=1):
        rows = td.labels[:, k] != MASK
        np.testing.assert_array_equal(task_labels, td.labels[rows, k])
        np.testing.assert_array_equal(real_labels, y[td.token_idx[rows]])
        np.testing.assert_array_equal(inputs.windows, tiny.train_windows[td.token_idx[rows]])
        ner = td.labels[:, 0] != MASK
        np.testing.assert_array_equal(inputs.ner_windows, tiny.train_windows[td.token_idx[ner]])
        np.testing.assert_array_equal(inputs.ner_labels, td.labels[ner, 0])
        assert inputs.n_classes == 5 and inputs.seed == 2 and inputs.embeddings is emb
        centre = inputs.windows[:, tiny.k]
        assert td.measures["toy_norm"][k - 1] == pytest.approx(
            np.linalg.norm(emb[centre], axis=1).mean()
        )


def test_make_tasks_refuses_model_measures(tiny):
    from mtllaws import relatedness as R

    R.register(R.Measure(name="toy_head", function=len, description="", label="", symbol="X",
                         needs="model"))
    try:
        with pytest.raises(ValueError, match="'toy_head' needs a trained model; it is computed"):
            make_tasks(tiny.train_y, tiny.train_sentence_lengths, n_tasks=2, n_ner=10,
                       alphas=0.9, measures=["toy_head"])
    finally:
        R.MEASURES.pop("toy_head")
