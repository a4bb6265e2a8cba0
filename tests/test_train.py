"""Tests for mtllaws.train: schedules, masking, determinism, checkpoints, errors, predict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mtllaws.core import Adam as _Adam
from mtllaws.core import joint_plan as _joint_plan
from mtllaws.core import sequential_plan as _sequential_plan
from mtllaws.models import MTLNet, model_config
from mtllaws.train import (
    MASK,
    NonFiniteLossError,
    TrainConfig,
    TrainResult,
    masked_cross_entropy,
    predict,
    train_model,
)

V, D, W, C = 40, 6, 7, 3


@pytest.fixture(scope="module")
def data():
    """Learnable toy data: task 0 = centre id mod 3, task 1 = left neighbour id mod 3."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(V, D)).astype(np.float32)
    emb[0] = 0
    n = 240
    win = rng.integers(1, V, size=(n, W)).astype(np.int32)
    labels = np.stack([win[:, 3] % C, win[:, 2] % C], axis=1).astype(np.int64)
    labels[:100, 1] = MASK  # task 1 labels rows 100.. only (unbalanced: 240 vs 140)
    return win, labels, emb


def mcfg(**kw):
    values = {"n_tasks": 2, "n_classes": C, "emb_dim": D, "hidden": 8, "dense": (6,),
              "shared_dense": 0}
    values.update(kw)
    return model_config("default", **values)


def tcfg(**kw):
    values = {"epochs": 3, "batch_size": 32}
    values.update(kw)
    return TrainConfig(**values)


def weights(result: TrainResult) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


def assert_same_weights(a: TrainResult, b: TrainResult) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"schedule": "random"}, "schedule"),
        ({"lr": -1.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"device": "tpu"}, "device"),
        ({"threads": 0}, "threads"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
    ],
)
def test_invalid_train_config_is_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_defaults_follow_the_paper():
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.schedule) == (100, 100, 1e-3, "joint")
    assert (cfg.device, cfg.tf32, cfg.threads, cfg.early_stopping) == ("cpu", False, 1, False)
    assert cfg.checkpoint_every == 0


# ----------------------------------------------------------------------------- schedules


def test_joint_epoch_is_one_pass_over_the_largest_task_and_smaller_tasks_cycle():
    g = torch.Generator().manual_seed(0)
    pos, slices = _joint_plan(g, [250, 90, 250], 100, drop_last=False)
    assert pos.shape == (3, 250)
    assert slices == [(0, 100), (100, 200), (200, 250)]
    assert sorted(pos[0].tolist()) == list(range(250))  # a permutation
    assert sorted(pos[2].tolist()) == list(range(250))
    small = pos[1].tolist()
    for start in (0, 90):  # whole fresh permutations, then a truncated one
        assert sorted(small[start : start + 90]) == list(range(90))
    assert len(set(small[180:])) == 70
    pos, slices = _joint_plan(g, [250, 90], 100, drop_last=True)
    assert pos.shape == (2, 200) and slices == [(0, 100), (100, 200)]


def test_sequential_epoch_runs_task_after_task():
    g = torch.Generator().manual_seed(0)
    plan = _sequential_plan(g, [250, 90], 100, drop_last=False)
    assert [(t, len(p)) for t, p in plan] == [(0, 100), (0, 100), (0, 50), (1, 90)]
    assert sorted(torch.cat([p for t, p in plan if t == 0]).tolist()) == list(range(250))
    plan = _sequential_plan(g, [250, 90], 100, drop_last=True)
    assert [(t, len(p)) for t, p in plan] == [(0, 100), (0, 100)]


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_training_learns_the_toy_tasks(data, schedule):
    win, labels, emb = data
    result = train_model(mcfg(hidden=16), tcfg(epochs=40, schedule=schedule, lr=1e-2),
                         win, labels, emb, seed=0)
    assert len(result.losses) == 40
    assert result.losses[-1] < 0.5 * result.losses[0]
    for t in range(2):
        rows = labels[:, t] != MASK
        acc = (predict(result.model, win, emb, task=t)[rows] == labels[rows, t]).mean()
        assert acc > 0.9, (t, acc)


# ----------------------------------------------------------------------------- masking


def test_masked_cross_entropy_ignores_masked_rows():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, C, generator=g, dtype=torch.float64)
    targets = torch.tensor([[0, 1, MASK, 2, MASK], [MASK, MASK, MASK, MASK, MASK]])
    garbage = logits.clone()
    garbage[targets == MASK] = 1e3 * torch.randn(int((targets == MASK).sum()), C,
                                                 dtype=torch.float64, generator=g)
    a = logits.clone().requires_grad_()
    b = garbage.clone().requires_grad_()
    la, lb = masked_cross_entropy(a, targets), masked_cross_entropy(b, targets)
    assert torch.equal(la, lb)
    keep = targets[0] != MASK
    expected = torch.nn.functional.cross_entropy(logits[0][keep], targets[0][keep])
    torch.testing.assert_close(la[0], expected)
    assert la[1] == 0  # a task with no labelled row contributes nothing
    la.sum().backward()
    lb.sum().backward()
    assert torch.equal(a.grad, b.grad)
    assert torch.all(a.grad[targets == MASK] == 0)


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_rows_no_task_labels_do_not_change_training(data, schedule):
    win, labels, emb = data
    rng = np.random.default_rng(1)
    junk_win = rng.integers(0, V, size=(50, W)).astype(np.int32)
    win2 = np.concatenate([junk_win[:25], win, junk_win[25:]])
    labels2 = np.concatenate([np.full((25, 2), MASK), labels, np.full((25, 2), MASK)])
    a = train_model(mcfg(), tcfg(schedule=schedule), win, labels, emb, seed=5)
    b = train_model(mcfg(), tcfg(schedule=schedule), win2, labels2, emb, seed=5)
    assert_same_weights(a, b)
    assert a.losses == b.losses


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_same_seed_gives_bitwise_identical_weights_and_predictions(data, schedule):
    win, labels, emb = data
    a = train_model(mcfg(), tcfg(schedule=schedule), win, labels, emb, seed=7)
    b = train_model(mcfg(), tcfg(schedule=schedule), win, labels, emb, seed=7)
    c = train_model(mcfg(), tcfg(schedule=schedule), win, labels, emb, seed=8)
    assert_same_weights(a, b)
    assert a.losses == b.losses
    assert np.array_equal(predict(a.model, win, emb, task=None), predict(b.model, win, emb,
                                                                          task=None))
    assert not torch.equal(a.model.lstm_w_ih, c.model.lstm_w_ih)


def test_training_leaves_global_state_alone(data):
    win, labels, emb = data
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    train_model(mcfg(), tcfg(epochs=1, threads=2), win, labels, emb, seed=0)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("fused", [True, False])
def test_adam_matches_torch_adam_bitwise(fused):
    g = torch.Generator().manual_seed(0)
    ours = [torch.randn(4, 3, generator=g, requires_grad=True), torch.randn(5, generator=g,
                                                                            requires_grad=True)]
    ref = [p.detach().clone().requires_grad_() for p in ours]
    opt_a = _Adam(ours, lr=1e-2, fused=fused)
    opt_b = torch.optim.Adam(ref, lr=1e-2, fused=fused, foreach=False if not fused else None)
    for step in range(30):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for p, q, gr in zip(ours, ref, grads, strict=True):
            p.grad, q.grad = gr.clone(), gr.clone()
        if step % 7 == 3:  # a parameter without gradient is skipped by both
            ours[1].grad = ref[1].grad = None
        opt_a.step()
        opt_b.step()
    for p, q in zip(ours, ref, strict=True):
        assert torch.equal(p, q)


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_resumed_run_equals_uninterrupted_run_bitwise(data, tmp_path, schedule):
    win, labels, emb = data
    full = train_model(mcfg(), tcfg(epochs=5, schedule=schedule), win, labels, emb, seed=3)

    ckpt = tmp_path / "run.pt"
    cfg = tcfg(epochs=5, schedule=schedule, checkpoint_every=2)

    def crash_in_epoch_3(model):
        crash_in_epoch_3.calls += 1
        if crash_in_epoch_3.calls == 3:
            raise KeyboardInterrupt("simulated preemption")
        return 0.0

    crash_in_epoch_3.calls = 0
    with pytest.raises(KeyboardInterrupt):
        train_model(mcfg(), cfg, win, labels, emb, seed=3, checkpoint_path=ckpt,
                    dev=crash_in_epoch_3)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    resumed = train_model(mcfg(), cfg, win, labels, emb, seed=3, checkpoint_path=ckpt)
    assert resumed.resumed_epoch == 2
    assert_same_weights(full, resumed)
    assert resumed.losses == full.losses
    assert torch.load(ckpt, weights_only=True)["epoch"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temp files left
    # A finished checkpoint resumes instantly to the same model; more epochs extend it.
    again = train_model(mcfg(), cfg, win, labels, emb, seed=3, checkpoint_path=ckpt)
    assert again.resumed_epoch == 5
    assert_same_weights(full, again)


def test_checkpoint_of_another_run_is_refused(data, tmp_path):
    win, labels, emb = data
    ckpt = tmp_path / "run.pt"
    train_model(mcfg(), tcfg(epochs=1, checkpoint_every=1), win, labels, emb, seed=3,
                checkpoint_path=ckpt)
    with pytest.raises(ValueError, match="different run"):
        train_model(mcfg(), tcfg(epochs=2, checkpoint_every=1), win, labels, emb, seed=4,
                    checkpoint_path=ckpt)
    with pytest.raises(ValueError, match="different run"):
        train_model(mcfg(), tcfg(epochs=2, checkpoint_every=1), win, labels[::-1].copy(), emb,
                    seed=3, checkpoint_path=ckpt)


# ----------------------------------------------------------------------------- errors


def test_non_finite_loss_names_point_epoch_and_step_and_writes_nothing(data, tmp_path):
    win, labels, emb = data
    ckpt = tmp_path / "run.pt"
    with pytest.raises(NonFiniteLossError, match=r"grid point 'T2_n100_seed0', epoch 1, step \d"
                       ) as info:
        train_model(mcfg(), tcfg(lr=1e30, checkpoint_every=1), win, labels, emb, seed=0,
                    point="T2_n100_seed0", checkpoint_path=ckpt)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.point, err.epoch) == ("T2_n100_seed0", 1) and err.step >= 1
    assert not math.isfinite(err.loss)
    assert not ckpt.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda w, y, e: (w[:, :5], y, e), "window"),
        (lambda w, y, e: (w, y[:, :1], e), "n_tasks"),
        (lambda w, y, e: (w, np.where(y == 2, 7, y), e), "n_classes"),
        (lambda w, y, e: (w, np.where(y == 2, -3, y), e), "MASK"),
        (lambda w, y, e: (w, y[:10], e), "one label row per window"),
        (lambda w, y, e: (w, np.stack([y[:, 0], np.full(len(y), MASK)], 1), e), "label no row"),
        (lambda w, y, e: (w, y, e[:10]), "embedding matrix"),
        (lambda w, y, e: (w, y, e[:, :4]), "emb_dim"),
        (lambda w, y, e: (w, y, np.where(np.arange(V)[:, None] == 5, np.nan, e)), "row 5"),
        (lambda w, y, e: (w.astype(np.float32), y, e), "integer"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_input(data, change, match):
    win, labels, emb = change(*data)
    with pytest.raises(ValueError, match=match):
        train_model(mcfg(), tcfg(epochs=1), win, labels, emb, seed=0)


def test_early_stopping_needs_a_dev_callback(data):
    with pytest.raises(ValueError, match="dev"):
        train_model(mcfg(), tcfg(early_stopping=True), *data, seed=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_device_without_cuda_is_a_clear_error(data):
    with pytest.raises(ValueError, match="CUDA is not available"):
        train_model(mcfg(), tcfg(device="cuda"), *data, seed=0)


# ----------------------------------------------------------------------------- early stopping


def test_early_stopping_returns_the_best_epoch_and_records_scores(data):
    win, labels, emb = data
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.9, 0.9])
    result = train_model(mcfg(), tcfg(epochs=6, early_stopping=True, patience=2), win, labels,
                         emb, seed=1, dev=lambda model: next(scores))
    assert result.dev_scores == [0.1, 0.5, 0.4, 0.3]
    assert result.best_epoch == 2
    assert len(result.losses) == 4
    two_epochs = train_model(mcfg(), tcfg(epochs=2), win, labels, emb, seed=1)
    assert_same_weights(result, two_epochs)


def test_dev_callback_sees_eval_mode_without_gradients(data):
    seen = []

    def dev(model: MTLNet) -> float:
        seen.append((model.training, torch.is_grad_enabled()))
        return 0.0

    result = train_model(mcfg(), tcfg(epochs=2), *data, seed=0, dev=dev)
    assert seen == [(False, False), (False, False)]
    assert result.dev_scores == [0.0, 0.0] and result.best_epoch is None


# ----------------------------------------------------------------------------- predict


def test_predict_shapes_batches_and_agrees_with_forward(data):
    win, labels, emb = data
    model = MTLNet(mcfg(), generator=torch.Generator().manual_seed(0))
    logits = model(torch.as_tensor(emb)[torch.as_tensor(win, dtype=torch.int64)])
    expected = logits.argmax(-1).numpy()
    one = predict(model, win, emb, task=1, batch_size=7)
    assert one.dtype == np.int64 and one.shape == (len(win),)
    assert np.array_equal(one, expected[:, 1])
    every = predict(model, win, emb, task=None)
    assert every.shape == (len(win), 2) and np.array_equal(every, expected)
    assert predict(model, win[:0], emb).shape == (0,)
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="task=2"):
        predict(model, win, emb, task=2)


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_is_deterministic_and_close_to_cpu(data):
    win, labels, emb = data
    a = train_model(mcfg(), tcfg(device="cuda"), win, labels, emb, seed=0)
    b = train_model(mcfg(), tcfg(device="cuda"), win, labels, emb, seed=0)
    cpu = train_model(mcfg(), tcfg(), win, labels, emb, seed=0)
    assert a.model.lstm_w_ih.device.type == "cuda"
    assert_same_weights(a, b)
    np.testing.assert_allclose(a.losses, cpu.losses, rtol=1e-3)


@pytest.mark.filterwarnings("error")
def test_read_only_inputs_such_as_memory_maps_are_accepted(data):
    win, labels, emb = (a.copy() for a in data)
    for a in (win, labels, emb):
        a.flags.writeable = False
    result = train_model(mcfg(), tcfg(epochs=1), win, labels.astype(np.int16), emb, seed=0)
    assert predict(result.model, win, emb).shape == (len(win),)


def test_checkpoint_paths_may_be_strings(data, tmp_path):
    ckpt = str(Path(tmp_path) / "sub" / "ckpt.pt")
    train_model(mcfg(), tcfg(epochs=1, checkpoint_every=1), *data, seed=0, checkpoint_path=ckpt)
    assert Path(ckpt).exists()


# ----------------------------------------------------------------------------- head sizes


def test_mixed_head_sizes_checkpoint_resume_and_refusal(data, tmp_path):
    """A model with head sizes (3, 7) checkpoints and resumes bitwise; its config round-trips."""
    win, labels, emb = data
    labels = labels.copy()
    rows = labels[:, 1] != MASK
    labels[rows, 1] = win[rows, 2] % 7
    cfg = mcfg(n_classes=(C, 7))
    full = train_model(cfg, tcfg(epochs=3), win, labels, emb, seed=3)
    ckpt = tmp_path / "run.pt"
    first = train_model(cfg, tcfg(epochs=2, checkpoint_every=1), win, labels, emb, seed=3,
                        checkpoint_path=ckpt)
    assert first.resumed_epoch == 0
    state = torch.load(ckpt, weights_only=True)
    assert state["fingerprint"]["model"]["n_classes"] == [C, 7]
    rebuilt = MTLNet(type(cfg)(**state["fingerprint"]["model"]))
    rebuilt.load_state_dict(state["model"])
    assert rebuilt.config == cfg
    resumed = train_model(cfg, tcfg(epochs=3, checkpoint_every=1), win, labels, emb, seed=3,
                          checkpoint_path=ckpt)
    assert resumed.resumed_epoch == 2
    assert_same_weights(full, resumed)
    assert resumed.losses == full.losses
    with pytest.raises(ValueError, match="different run"):  # same data, other head sizes
        train_model(mcfg(n_classes=(C, 8)), tcfg(epochs=3, checkpoint_every=1), win, labels,
                    emb, seed=3, checkpoint_path=ckpt)
    pred = predict(full.model, win, emb, task=None)
    assert pred[:, 0].max() < C and pred[:, 1].max() < 7
