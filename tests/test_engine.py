"""Tests for mtllaws.engine: K stacked models equal K models trained one by one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtllaws.engine import train_models
from mtllaws.models import model_config
from mtllaws.train import MASK, NonFiniteLossError, TrainConfig, train_model

SMALL = {"hidden": 16, "dense": (12, 8, 6), "emb_dim": 10}


def _data(seed: int, n: int = 60, n_tasks: int = 2, vocab: int = 50):
    rng = np.random.default_rng(seed)
    windows = rng.integers(0, vocab, size=(n_tasks * n, 7)).astype(np.int32)
    labels = np.full((n_tasks * n, n_tasks), MASK, dtype=np.int64)
    for t in range(n_tasks):
        labels[t * n : (t + 1) * n, t] = rng.integers(0, 5, size=n)
    return windows, labels


@pytest.fixture(scope="module")
def table():
    emb = np.random.default_rng(9).normal(size=(50, 10)).astype(np.float32)
    emb[0] = 0
    return emb


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_equals_train_model(preset, schedule, table):
    cfg = model_config(preset, n_tasks=2, n_classes=5, **SMALL)
    tc = TrainConfig(epochs=2, batch_size=32, schedule=schedule)
    data = [_data(k) for k in range(3)]
    seeds = [7, 8, 7]  # a repeated seed on other data must still follow its own data
    got = train_models(cfg, tc, data, table, seeds=seeds)
    for (w, y), seed, res in zip(data, seeds, got, strict=True):
        ref = train_model(cfg, tc, w, y, table, seed=seed)
        np.testing.assert_allclose(res.losses, ref.losses, rtol=0, atol=1e-5)
        for (name, a), b in zip(ref.model.named_parameters(), res.model.parameters(),
                                strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=name)
        assert not res.model.training
    assert not torch.equal(got[0].model.lstm_w_ih, got[1].model.lstm_w_ih)


def test_unequal_steps_and_options_rejected(table):
    cfg = model_config("paper", n_tasks=2, n_classes=5, **SMALL)
    data = [_data(0, n=60), _data(1, n=40)]
    with pytest.raises(ValueError, match="N_max"):
        train_models(cfg, TrainConfig(epochs=1), data, table, seeds=[0, 1])
    with pytest.raises(ValueError, match="early_stopping"):
        train_models(cfg, TrainConfig(epochs=1, early_stopping=True), data[:1], table,
                     seeds=[0])
    with pytest.raises(ValueError, match="2 seeds for 1"):
        train_models(cfg, TrainConfig(epochs=1), data[:1], table, seeds=[0, 1])


def test_non_finite_loss_names_point(table):
    cfg = model_config("paper", n_tasks=2, n_classes=5, **SMALL)
    with pytest.raises(NonFiniteLossError, match="grid point 'p[01]'") as info:
        train_models(cfg, TrainConfig(epochs=2, batch_size=16, lr=1e30), [_data(0), _data(1)],
                     table, seeds=[0, 1], points=["p0", "p1"])
    assert not np.isfinite(info.value.loss)


def _mixed(seed: int, n: int = 40, heads=(5, 45, 11), vocab: int = 50):
    """Three tasks on disjoint rows, task t drawing labels from its own head size."""
    rng = np.random.default_rng(seed)
    windows = rng.integers(0, vocab, size=(len(heads) * n, 7)).astype(np.int32)
    labels = np.full((len(heads) * n, len(heads)), MASK, dtype=np.int64)
    for t, c in enumerate(heads):
        labels[t * n : (t + 1) * n, t] = rng.integers(0, c, size=n)
    return windows, labels


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_mixed_head_sizes_equal_train_model(preset, schedule, table):
    cfg = model_config(preset, n_tasks=3, n_classes=(5, 45, 11), **SMALL)
    tc = TrainConfig(epochs=2, batch_size=16, schedule=schedule)
    data = [_mixed(k) for k in range(3)]
    seeds = [7, 8, 7]
    got = train_models(cfg, tc, data, table, seeds=seeds)
    for (w, y), seed, res in zip(data, seeds, got, strict=True):
        ref = train_model(cfg, tc, w, y, table, seed=seed)
        np.testing.assert_allclose(res.losses, ref.losses, rtol=0, atol=1e-5)
        for (name, a), b in zip(ref.model.named_parameters(), res.model.parameters(),
                                strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=name)
        assert res.model.config.class_counts == (5, 45, 11)
        assert not res.model.task_w[-1][0, :, 5:].any()  # NER's missing columns stay zero
    assert not torch.equal(got[0].model.lstm_w_ih, got[1].model.lstm_w_ih)
