"""Tests for mtllaws.realtasks: real auxiliary task labels on a grid point's slices."""

from __future__ import annotations

import numpy as np
import pytest

from mtllaws.core import TrainConfig, check_inputs
from mtllaws.models import model_config
from mtllaws.realtasks import (
    MASK,
    class_counts,
    label_column,
    replace_task_columns,
    task_labels,
)
from mtllaws.simulate import make_tasks
from mtllaws.train import train_model


@pytest.fixture(scope="module")
def corpus_arrays():
    """NER ids, sentence lengths and two tag columns (7 and 4 labels) of 600 tokens."""
    rng = np.random.default_rng(3)
    y = rng.choice(5, size=600, p=[0.8, 0.05, 0.05, 0.05, 0.05])
    lengths = np.full(60, 10)
    pos = (y * 3 + rng.integers(0, 2, size=600)) % 7  # tied to NER, with noise
    chunk = rng.integers(0, 4, size=600)
    return y, lengths, pos, chunk


def test_task_labels_read_the_column_on_the_slice():
    column = np.array([4, 0, 2, 2, 1, 3])
    got = task_labels(np.array([5, 0, 3]), column, name="pos")
    assert got.tolist() == [3, 4, 2] and got.dtype == np.int64
    assert task_labels(np.zeros(0, dtype=np.int64), column).shape == (0,)


@pytest.mark.parametrize(
    ("tokens", "column", "match"),
    [
        ([0, 6], [1, 2, 3, 4, 5, 6], r"real task 'pos': token indices in \[0, 6\] but the "
                                     r"column has 6 training tokens"),
        ([-1], [1, 2], r"token indices in \[-1, -1\]"),
        ([0, 1], [1, MASK], r"1 of its tokens have no label \(MASK\).*'train' column"),
        ([0.0], [1, 2], "slice_tokens must be a 1-d integer array"),
        ([0], [[1, 2]], "column_ids must be a 1-d integer array"),
    ],
)
def test_task_labels_errors_name_the_task(tokens, column, match):
    with pytest.raises(ValueError, match=match):
        task_labels(np.array(tokens), np.array(column), name="pos")
    with pytest.raises(ValueError, match="grid point T2_n10: real task 'pos'"):
        task_labels(np.array(tokens), np.array(column), name="pos", point="T2_n10")


def test_label_column_masks_the_other_rows():
    token_idx = np.array([7, 2, 5, 0])
    column = np.arange(10) * 10
    mask = np.array([False, True, True, False])
    want = [MASK, 20, 50, MASK]
    assert label_column(token_idx, mask, column).tolist() == want
    assert label_column(token_idx, np.array([1, 2]), column).tolist() == want
    with pytest.raises(ValueError, match="rows mask has shape"):
        label_column(token_idx, mask[:3], column, name="chunk")
    with pytest.raises(ValueError, match=r"rows in \[1, 4\] but the label matrix has 4 rows"):
        label_column(token_idx, np.array([1, 4]), column)


@pytest.mark.parametrize("slices", ["disjoint", "shared", "contiguous"])
def test_replace_task_columns_keeps_every_slice(slices, corpus_arrays):
    y, lengths, pos, chunk = corpus_arrays
    tasks = make_tasks(y, lengths, n_tasks=4, n_ner=100, alphas=0.5, slices=slices, seed=2)
    before = tasks.labels.copy()
    got = replace_task_columns(tasks.labels, tasks.token_idx, {1: pos, 3: chunk},
                               names={1: "pos", 3: "chunk"})
    assert np.array_equal(tasks.labels, before)  # input untouched
    assert np.array_equal(got != MASK, before != MASK)  # the same rows per task
    assert np.array_equal(got[:, [0, 2]], before[:, [0, 2]])  # NER and synthetic kept
    for k, column in ((1, pos), (3, chunk)):
        rows = before[:, k] != MASK
        assert np.array_equal(got[rows, k], column[tasks.token_idx[rows]])
    if slices == "shared":  # every task on the same tokens: real labels of NER's tokens
        assert np.array_equal(got[:, 1], pos[tasks.token_idx])


def test_replace_task_columns_refuses_ner_and_bad_tasks(corpus_arrays):
    y, lengths, pos, _ = corpus_arrays
    tasks = make_tasks(y, lengths, n_tasks=2, n_ner=50, alphas=0.5, seed=0)
    with pytest.raises(ValueError, match="column 0 is NER"):
        replace_task_columns(tasks.labels, tasks.token_idx, {0: pos})
    with pytest.raises(ValueError, match=r"real task 'pos': task index 2 must be an auxiliary "
                                         r"task 1\.\.1"):
        replace_task_columns(tasks.labels, tasks.token_idx, {2: pos}, names={2: "pos"})
    empty = tasks.labels.copy()
    empty[:, 1] = MASK
    with pytest.raises(ValueError, match="task 1 labels no row"):
        replace_task_columns(empty, tasks.token_idx, {1: pos})
    with pytest.raises(ValueError, match="one row per token_idx entry"):
        replace_task_columns(tasks.labels[:-1], tasks.token_idx, {1: pos})


def test_class_counts():
    assert class_counts(3, 5, {1: 45, 2: 11}) == (5, 45, 11)
    assert class_counts(3, 5, {2: 11}) == (5, 5, 11)
    assert class_counts(3, 5) == 5 and class_counts(2, 5, {1: 5}) == 5  # one int as before
    assert class_counts(1, 5) == 5
    with pytest.raises(ValueError, match=r"task index 0 must be an auxiliary task 1\.\.2"):
        class_counts(3, 5, {0: 45})


def test_real_and_synthetic_tasks_train_together(corpus_arrays):
    y, lengths, pos, chunk = corpus_arrays
    tasks = make_tasks(y, lengths, n_tasks=4, n_ner=60, alphas=0.6, slices="disjoint", seed=1)
    labels = replace_task_columns(tasks.labels, tasks.token_idx, {1: pos, 2: chunk})
    counts = class_counts(4, 5, {1: 7, 2: 4})
    assert counts == (5, 7, 4, 5)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(20, 6)).astype(np.float32)
    emb[0] = 0
    windows = rng.integers(0, 20, size=(600, 7)).astype(np.int32)[tasks.token_idx]
    cfg = model_config("paper", n_tasks=4, n_classes=counts, emb_dim=6, hidden=8)
    check_inputs(cfg, windows, labels, emb)
    with pytest.raises(ValueError, match=r"task 1 \(column 1\)"):  # POS ids need 7 classes
        check_inputs(model_config("paper", n_tasks=4, n_classes=5, emb_dim=6, hidden=8),
                     windows, labels, emb)
    result = train_model(cfg, TrainConfig(epochs=2, batch_size=32), windows, labels, emb,
                         seed=0)
    assert np.isfinite(result.losses).all()
