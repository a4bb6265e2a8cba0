"""Tests for mtllaws.core: the one training loop, task-loss weights and input maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TWO_TASK_SIZES

from mtllaws.core import MASK, TrainConfig, combine_task_losses, fit, masked_cross_entropy
from mtllaws.engine import train_models
from mtllaws.models import MTLNet, logits_grouped, logits_task, model_config
from mtllaws.train import predict, train_model

V, D, W, C = TWO_TASK_SIZES


@pytest.fixture(scope="module")
def data(two_task_data):
    """Two tasks on disjoint rows; embeddings with a zero padding row (conftest)."""
    return two_task_data


def mcfg(preset: str = "default"):
    return model_config(preset, n_tasks=2, n_classes=C, emb_dim=D, hidden=8, dense=(6, 5))


def net(preset: str = "default", maps=None) -> MTLNet:
    return MTLNet(mcfg(preset), generator=torch.Generator().manual_seed(1), input_maps=maps)


def test_combine_task_losses_plain_sum_and_weights():
    losses = torch.tensor([[1.0, 2.0, 4.0], [0.5, 0.25, 8.0]])
    assert torch.equal(combine_task_losses(losses), torch.tensor([7.0, 8.75]))
    weighted = combine_task_losses(losses, torch.tensor([1.0, 0.0, 0.5]))
    assert torch.equal(weighted, torch.tensor([3.0, 4.5]))


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("dedup", [True, False])
def test_identity_maps_give_the_logits_of_no_maps_bitwise(preset, dedup, data):
    win, _, emb = data
    eye = torch.eye(D).expand(2, D, D)
    plain, mapped = net(preset), net(preset, eye)
    params = plain.stacked_parameters()
    ids = torch.as_tensor(win[:40], dtype=torch.int64).view(1, 2, 20, W)
    table = torch.as_tensor(emb)
    want = logits_grouped(params, ids, table, plain.config, dedup=dedup)
    got = logits_grouped(params, ids, table, plain.config, dedup=dedup, input_maps=eye)
    assert torch.equal(got, want)
    for task in (0, 1):
        want = logits_task(params, ids[:, task], table, plain.config, task, dedup=dedup)
        got = logits_task(params, ids[:, task], table, plain.config, task, dedup=dedup,
                          input_maps=eye)
        assert torch.equal(got, want)
    assert np.array_equal(predict(mapped, win, emb, task=None), predict(plain, win, emb, task=None))


def test_maps_are_applied_to_the_embeddings_before_the_bilstm(data):
    """One map M for every task equals training on the mapped embeddings M x without maps."""
    win, labels, emb = data
    m = (np.random.default_rng(2).normal(size=(D, D)) / np.sqrt(D)).astype(np.float32)
    tc = TrainConfig(epochs=2, batch_size=16)
    mapped = train_model(mcfg(), tc, win, labels, emb, seed=3, input_maps=np.stack([m, m]))
    plain = train_model(mcfg(), tc, win, labels, emb @ m.T, seed=3)
    np.testing.assert_allclose(mapped.losses, plain.losses, rtol=1e-5)
    for (name, a), b in zip(plain.model.named_parameters(), mapped.model.parameters(),
                            strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    assert torch.equal(mapped.model.input_maps[1], torch.as_tensor(m))
    np.testing.assert_array_equal(predict(mapped.model, win, emb, task=None),
                                  predict(plain.model, win, emb @ m.T, task=None))


def test_per_task_maps_differ_by_task(data):
    """With two different maps the tasks see different inputs (a task's map matters)."""
    win, labels, emb = data
    maps = np.stack([np.eye(D), -np.eye(D)]).astype(np.float32)
    tc = TrainConfig(epochs=1, batch_size=16)
    flipped = train_model(mcfg(), tc, win, labels, emb, seed=3, input_maps=maps)
    plain = train_model(mcfg(), tc, win, labels, emb, seed=3)
    assert flipped.losses != plain.losses
    with pytest.raises(ValueError, match="task=t"):
        flipped.model.encode_ids(torch.as_tensor(win[:4], dtype=torch.int64),
                                 torch.as_tensor(emb))
    with pytest.raises(ValueError, match="input_maps"):
        flipped.model(torch.zeros(3, W, D))


def test_weights_one_zero_leave_the_auxiliary_head_and_give_the_ner_gradient(data):
    win, labels, emb = data
    tc = TrainConfig(epochs=2, batch_size=16, schedule="joint")
    res = train_model(mcfg(), tc, win, labels, emb, seed=3, task_weights=[1.0, 0.0])
    init_seed = int(np.random.SeedSequence(3).generate_state(2)[0])
    start = MTLNet(mcfg(), generator=torch.Generator().manual_seed(init_seed)).state_dict()
    trained = res.model.state_dict()
    for name in trained:
        if name.startswith("task_"):  # stacked (T, ...): head 1 untouched, head 0 trained
            assert torch.equal(trained[name][1], start[name][1]), name
            assert not torch.equal(trained[name][0], start[name][0]), name

    # One step's gradient of the shared layers is NER's alone.
    model = net()
    params = model.stacked_parameters()
    table = torch.as_tensor(emb)
    rows = np.stack([np.arange(16), 64 + np.arange(16)])  # (T, G): task t's batch
    ids = torch.as_tensor(win[rows], dtype=torch.int64).unsqueeze(0)
    tgt = torch.as_tensor(np.stack([labels[rows[0], 0], labels[rows[1], 1]]))
    logits = logits_grouped(params, ids, table, model.config, dedup=True)
    losses = masked_cross_entropy(logits[0], tgt).view(1, 2)
    weighted = combine_task_losses(losses, torch.tensor([1.0, 0.0])).sum()
    grads = torch.autograd.grad(weighted, list(model.parameters()), retain_graph=True)
    ner = torch.autograd.grad(losses[0, 0], list(model.parameters()), allow_unused=True)
    for (name, _), g, g_ner in zip(model.named_parameters(), grads, ner, strict=True):
        if name.startswith(("lstm_", "shared_")):
            assert torch.equal(g, g_ner), name


def test_task_weights_and_maps_are_checked(data):
    win, labels, emb = data
    tc = TrainConfig(epochs=1, batch_size=16)
    with pytest.raises(ValueError, match="schedule='joint'"):
        train_model(mcfg(), TrainConfig(epochs=1, schedule="sequential"), win, labels, emb,
                    seed=0, task_weights=[1.0, 0.5])
    with pytest.raises(ValueError, match="one weight per task"):
        train_model(mcfg(), tc, win, labels, emb, seed=0, task_weights=[1.0])
    with pytest.raises(ValueError, match="finite and >= 0"):
        train_model(mcfg(), tc, win, labels, emb, seed=0, task_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"\(n_tasks, emb_dim, emb_dim\)"):
        train_model(mcfg(), tc, win, labels, emb, seed=0, input_maps=np.eye(D))
    with pytest.raises(ValueError, match="early_stopping, dev nor checkpoints"):
        fit(mcfg(), tc, [(win, labels)] * 2, emb, seeds=[0, 1], points=["a", "b"],
            dev=lambda model: 0.0)


def test_engine_takes_weights_and_maps_like_train_model(data):
    """K stacked models with task weights and maps follow train_model (float tolerance)."""
    win, labels, emb = data
    maps = np.stack([np.eye(D), np.eye(D)[::-1]]).astype(np.float32)
    tc = TrainConfig(epochs=2, batch_size=16)
    got = train_models(mcfg("paper"), tc, [(win, labels), (win[::-1], labels[::-1])], emb,
                       seeds=[4, 5], task_weights=[1.0, 0.3], input_maps=maps)
    ref = train_model(mcfg("paper"), tc, win[::-1], labels[::-1], emb, seed=5,
                      task_weights=[1.0, 0.3], input_maps=maps)
    np.testing.assert_allclose(got[1].losses, ref.losses, rtol=0, atol=1e-5)
    for (name, a), b in zip(ref.model.named_parameters(), got[1].model.parameters(),
                            strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=name)


# ----------------------------------------------------------------------------- head sizes


def _state(result):
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
@pytest.mark.parametrize("n_tasks", [1, 2])
def test_equal_head_sizes_train_like_one_class_count_bitwise(schedule, n_tasks, data):
    win, labels, emb = data
    labels = labels[:, :n_tasks]
    rows = (labels != MASK).any(axis=1)
    win, labels = win[rows], labels[rows]
    tc = TrainConfig(epochs=1, batch_size=16, schedule=schedule)
    results = []
    for n_classes in (C, (C,) * n_tasks):
        cfg = model_config("paper", n_tasks=n_tasks, n_classes=n_classes, emb_dim=D, hidden=8,
                           dense=(6, 5))
        results.append(train_model(cfg, tc, win, labels, emb, seed=3))
    a, b = results
    assert a.losses == b.losses
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name
    assert np.array_equal(predict(a.model, win, emb, task=None),
                          predict(b.model, win, emb, task=None))


def _mixed_data(seed: int, n: int = 96):
    """Three learnable tasks on disjoint rows with 5, 45 and 11 classes."""
    rng = np.random.default_rng(seed)
    win = rng.integers(1, V, size=(3 * n, W)).astype(np.int32)
    labels = np.full((3 * n, 3), MASK, dtype=np.int64)
    labels[:n, 0] = win[:n, 3] % 5
    labels[n : 2 * n, 1] = win[n : 2 * n, 3] + 15  # 16..44: the top classes in use
    labels[2 * n :, 2] = win[2 * n :, 4] % 11
    return win, labels


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_three_tasks_with_head_sizes_5_45_11_train(schedule, data):
    emb = data[2]
    win, labels = _mixed_data(0)
    cfg = model_config("default", n_tasks=3, n_classes=(5, 45, 11), emb_dim=D, hidden=16,
                       dense=(24, 16), shared_dense=1)
    result = train_model(cfg, TrainConfig(epochs=30, batch_size=32, schedule=schedule,
                                          lr=1e-2), win, labels, emb, seed=0)
    assert all(np.isfinite(result.losses))
    assert result.losses[-1] < 0.3 * result.losses[0]
    pred = predict(result.model, win, emb, task=None)
    for t, c in enumerate((5, 45, 11)):
        rows = labels[:, t] != MASK
        assert pred[:, t].max() < c
        assert np.array_equal(predict(result.model, win, emb, task=t), pred[:, t])
        acc = (pred[rows, t] == labels[rows, t]).mean()
        assert acc > 0.5, (t, acc)  # chance is 1/c
        # the columns a head lacks never trained: still zero
        assert not result.model.task_w[-1][t, :, c:].any()
        assert not result.model.task_b[-1][t, c:].any()


def test_a_label_beyond_its_head_size_names_the_task_and_the_fix(data):
    emb = data[2]
    win, labels = _mixed_data(1, n=20)
    cfg = model_config("paper", n_tasks=3, n_classes=(5, 45, 11), emb_dim=D, hidden=8)
    bad = labels.copy()
    bad[45, 2] = 11  # a chunk label but chunking has 11 classes
    with pytest.raises(ValueError, match=r"task 2 \(column 2\).*\[0, n_classes=11\).*"
                                         r"n_classes\[2\] \(head sizes \[5, 45, 11\]\)"):
        train_model(cfg, TrainConfig(epochs=1), win, bad, emb, seed=0)
    bad = labels.copy()
    bad[0, 0] = 5
    with pytest.raises(ValueError, match=r"task 0 \(NER\)"):
        train_models(cfg, TrainConfig(epochs=1), [(win, labels), (win, bad)], emb, seeds=[0, 1])
    # 44 is a valid POS label (task 1) but not a NER one
    ok = labels.copy()
    ok[ok[:, 1] != MASK, 1] = 44
    train_model(cfg, TrainConfig(epochs=1), win, ok, emb, seed=0)


def test_padded_logits_pass_no_gradient_and_no_nan(data):
    emb = data[2]
    win, labels = _mixed_data(2, n=16)
    cfg = model_config("paper", n_tasks=3, n_classes=(5, 45, 11), emb_dim=D, hidden=8)
    m = MTLNet(cfg, generator=torch.Generator().manual_seed(0))
    ids = torch.as_tensor(win, dtype=torch.int64).view(1, 3, 16, W)
    logits = logits_grouped(m.stacked_parameters(), ids, torch.as_tensor(emb), cfg, dedup=True)
    tgt = torch.as_tensor(labels).view(3, 16, 3).diagonal(dim1=0, dim2=2).T  # (T, G)
    loss = masked_cross_entropy(logits[0], tgt)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    for p in m.parameters():
        assert torch.isfinite(p.grad).all()
    for t, c in enumerate((5, 45, 11)):
        assert not m.task_w[-1].grad[t, :, c:].any()
        assert not m.task_b[-1].grad[t, c:].any()
        assert m.task_w[-1].grad[t, :, :c].any()
