"""Tests for the alignment module (ModelConfig.align, TrainConfig.align_phase) and SVD
task reweighting (TrainConfig.task_weights='svd', mtllaws.reweight): issue 18."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TWO_TASK_SIZES

from mtllaws.core import MASK, TrainConfig, masked_cross_entropy, sequential_plan
from mtllaws.engine import train_models
from mtllaws.models import MTLNet, logits_grouped, logits_task, model_config
from mtllaws.reweight import probe_rows, svd_task_weights
from mtllaws.taskspace import rotation_map
from mtllaws.train import predict, train_model

V, D, W, C = TWO_TASK_SIZES


@pytest.fixture(scope="module")
def data(two_task_data):
    """Two tasks on disjoint rows; embeddings with a zero padding row (conftest)."""
    return two_task_data


def mcfg(preset: str = "default", align: str = "none", n_tasks: int = 2):
    return model_config(preset, n_tasks=n_tasks, n_classes=C, emb_dim=D, hidden=8,
                        dense=(6, 5), align=align)


def net(preset="default", align="none", maps=None, seed=1) -> MTLNet:
    return MTLNet(mcfg(preset, align), generator=torch.Generator().manual_seed(seed),
                  input_maps=maps)


def init_state(cfg, seed):
    init_seed = int(np.random.SeedSequence(seed).generate_state(2)[0])
    return MTLNet(cfg, generator=torch.Generator().manual_seed(init_seed)).state_dict()


# ----------------------------------------------------------------------------- the module


def test_align_config_is_checked_and_round_trips():
    assert mcfg().n_align == 0 and mcfg(align="aux").n_align == 1
    assert mcfg(align="all").n_align == 2
    assert "align" not in mcfg().to_dict()  # old configs and checkpoints unchanged
    cfg = mcfg(align="aux")
    assert type(cfg)(**cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="ModelConfig.align='some'"):
        mcfg(align="some")
    assert net(align="all").align_r.shape == (2, D, D)
    assert not hasattr(net(), "align_r")


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("align", ["aux", "all"])
@pytest.mark.parametrize("dedup", [True, False])
def test_identity_alignment_gives_the_logits_of_no_alignment_bitwise(preset, align, dedup,
                                                                     data):
    win, _, emb = data
    plain, aligned = net(preset), net(preset, align)
    for name, p in plain.named_parameters():  # same draws: R is not drawn
        assert torch.equal(p, dict(aligned.named_parameters())[name]), name
    ids = torch.as_tensor(win[:40], dtype=torch.int64).view(1, 2, 20, W)
    table = torch.as_tensor(emb)
    want = logits_grouped(plain.stacked_parameters(), ids, table, plain.config, dedup=dedup)
    got = logits_grouped(aligned.stacked_parameters(), ids, table, aligned.config,
                         dedup=dedup)
    assert torch.equal(got, want)
    for task in (0, 1):
        want = logits_task(plain.stacked_parameters(), ids[:, task], table, plain.config,
                           task, dedup=dedup)
        got = logits_task(aligned.stacked_parameters(), ids[:, task], table,
                          aligned.config, task, dedup=dedup)
        assert torch.equal(got, want)
    assert np.array_equal(predict(aligned, win, emb, task=None),
                          predict(plain, win, emb, task=None))


def test_alignment_composes_with_fixed_maps(data):
    """Task t reads (M_t x)·R_t: the same as a fixed map whose transpose is M_tᵀ R_t."""
    win, _, emb = data
    rng = np.random.default_rng(3)
    maps = torch.as_tensor(rng.normal(size=(2, D, D)) / np.sqrt(D), dtype=torch.float32)
    aligned = net(align="all", maps=maps)
    with torch.no_grad():
        aligned.align_r.copy_(torch.as_tensor(rng.normal(size=(2, D, D)) / np.sqrt(D)))
    folded = (maps.transpose(1, 2) @ aligned.align_r.detach()).transpose(1, 2)
    plain = net(maps=folded)
    ids = torch.as_tensor(win[:40], dtype=torch.int64).view(1, 2, 20, W)
    table = torch.as_tensor(emb)
    got = logits_grouped(aligned.stacked_parameters(), ids, table, aligned.config,
                         dedup=True, input_maps=maps)
    want = logits_grouped(plain.stacked_parameters(), ids, table, plain.config, dedup=True,
                          input_maps=folded)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predict(aligned, win, emb, task=None),
                                  predict(plain, win, emb, task=None))
    with pytest.raises(ValueError, match="task=t"):
        aligned.encode_ids(ids[0, 0], table)
    with pytest.raises(ValueError, match="alignment"):
        net(align="aux")(torch.zeros(3, W, D))


def test_ner_alignment_gets_no_gradient_under_aux(data):
    win, labels, emb = data
    table = torch.as_tensor(emb)
    rows = np.stack([np.arange(16), 64 + np.arange(16)])
    ids = torch.as_tensor(win[rows], dtype=torch.int64).unsqueeze(0)
    tgt = torch.as_tensor(np.stack([labels[rows[0], 0], labels[rows[1], 1]]))
    grads = {}
    for align in ("aux", "all"):
        model = net(align=align)
        logits = logits_grouped(model.stacked_parameters(), ids, table, model.config,
                                dedup=True)
        ner_loss = masked_cross_entropy(logits[0], tgt)[0]
        (grads[align],) = torch.autograd.grad(ner_loss, [model.align_r])
    # aux: only task 1 has an R (align_r[0] is R_1), and NER's loss does not reach it
    assert grads["aux"].shape == (1, D, D) and torch.equal(grads["aux"], torch.zeros(1, D, D))
    # all: NER's own R_0 does get NER's gradient (the test above can fail)
    assert grads["all"][0].abs().sum() > 0 and torch.equal(grads["all"][1], torch.zeros(D, D))


@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_one_task_with_aux_alignment_is_the_baseline_bitwise(schedule, data):
    win, labels, emb = data
    tc = TrainConfig(epochs=2, batch_size=16, schedule=schedule)
    base = train_model(mcfg(n_tasks=1), tc, win[:64], labels[:64, 0], emb, seed=3)
    aux = train_model(mcfg(align="aux", n_tasks=1), tc, win[:64], labels[:64, 0], emb,
                      seed=3)
    assert aux.losses == base.losses
    for (name, a), b in zip(base.model.named_parameters(), aux.model.parameters(),
                            strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("align", ["aux", "all"])
def test_alignment_trains_and_checkpoints_resume_bitwise(align, data, tmp_path):
    win, labels, emb = data
    cfg = mcfg(align=align)
    full = train_model(cfg, TrainConfig(epochs=3, batch_size=16), win, labels, emb, seed=3)
    assert not torch.equal(full.model.align_r, init_state(cfg, 3)["align_r"])
    ckpt = tmp_path / "run.pt"
    train_model(cfg, TrainConfig(epochs=1, batch_size=16, checkpoint_every=1), win, labels,
                emb, seed=3, checkpoint_path=ckpt)
    resumed = train_model(cfg, TrainConfig(epochs=3, batch_size=16, checkpoint_every=1), win,
                          labels, emb, seed=3, checkpoint_path=ckpt)
    assert resumed.resumed_epoch == 1 and resumed.losses == full.losses
    assert torch.equal(resumed.model.align_r, full.model.align_r)
    other = tmp_path / "other.pt"
    train_model(mcfg(), TrainConfig(epochs=1, batch_size=16, checkpoint_every=1), win,
                labels, emb, seed=3, checkpoint_path=other)
    with pytest.raises(ValueError, match="different run"):
        train_model(cfg, TrainConfig(epochs=2, batch_size=16, checkpoint_every=1), win,
                    labels, emb, seed=3, checkpoint_path=other)


@pytest.mark.parametrize("align", ["none", "aux"])
def test_frozen_phase_trains_only_alignment_and_heads(align, data):
    win, labels, emb = data
    cfg = mcfg(align=align)
    before = train_model(cfg, TrainConfig(epochs=2, batch_size=16), win, labels, emb, seed=3)
    tc = TrainConfig(epochs=2, batch_size=16, align_phase="frozen", align_epochs=2)
    after = train_model(cfg, tc, win, labels, emb, seed=3)
    assert len(after.losses) == 4 and after.losses[:2] == before.losses
    start, end = before.model.state_dict(), after.model.state_dict()
    for name in end:
        if name.startswith(("lstm_", "shared_")):
            assert torch.equal(end[name], start[name]), name
        else:  # the heads (and R under aux) keep training
            assert not torch.equal(end[name], start[name]), name
    assert all(p.requires_grad for p in after.model.parameters())


def test_train_config_checks_the_new_keys():
    with pytest.raises(ValueError, match="align_epochs >= 1"):
        TrainConfig(align_phase="frozen")
    with pytest.raises(ValueError, match="needs align_phase='frozen'"):
        TrainConfig(align_epochs=3)
    with pytest.raises(ValueError, match="early_stopping"):
        TrainConfig(align_phase="frozen", align_epochs=1, early_stopping=True)
    with pytest.raises(ValueError, match="TrainConfig.align_phase='late'"):
        TrainConfig(align_phase="late")
    with pytest.raises(ValueError, match="TrainConfig.task_weights='uniform'"):
        TrainConfig(task_weights="uniform")
    with pytest.raises(ValueError, match="TrainConfig.svd_rank=0"):
        TrainConfig(task_weights="svd", svd_rank=0)
    with pytest.raises(ValueError, match="TrainConfig.svd_level='output'"):
        TrainConfig(svd_level="output")
    with pytest.raises(ValueError, match="svd_every"):
        TrainConfig(svd_every=-1)


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("schedule", ["joint", "sequential"])
@pytest.mark.parametrize("align", ["aux", "all"])
def test_engine_with_alignment_equals_train_model(preset, schedule, align, data):
    win, labels, emb = data
    cfg = mcfg(preset, align)
    tc = TrainConfig(epochs=2, batch_size=16, schedule=schedule, align_phase="frozen",
                     align_epochs=1)
    sets = [(win, labels), (win[::-1].copy(), labels[::-1].copy())]
    got = train_models(cfg, tc, sets, emb, seeds=[4, 5])
    for (w, y), seed, res in zip(sets, [4, 5], got, strict=True):
        ref = train_model(cfg, tc, w, y, emb, seed=seed)
        np.testing.assert_allclose(res.losses, ref.losses, rtol=0, atol=1e-5)
        for (name, a), b in zip(ref.model.named_parameters(), res.model.parameters(),
                                strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=name)


# ----------------------------------------------------------------------------- mechanism


def _rotated_task(seed: int, n: int = 300, d: int = 4, c: int = 3, window: int = 3):
    """NER and an auxiliary task with NER's labels (alpha = 1) that reads x·Q."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(40, d)).astype(np.float32)
    win = rng.integers(0, 40, size=(n, window))
    y = np.argmax(emb[win[:, window // 2]] @ rng.normal(size=(d, c)), axis=1)
    q = rotation_map(d, np.pi / 2, seed=3).astype(np.float32)
    maps = np.stack([np.eye(d), q.T]).astype(np.float32)  # task 1 reads (Qᵀx) = x·Q
    return win, np.stack([y, y], axis=1).astype(np.int64), emb, q, maps


def _mechanism(seed: int):
    win, labels, emb, q, maps = _rotated_task(seed)
    out = {}
    for align in ("none", "aux"):
        cfg = model_config("default", n_tasks=2, n_classes=3, emb_dim=4, window=3, hidden=4,
                           dense=(8,), shared_dense=1, align=align)
        res = train_model(cfg, TrainConfig(epochs=30, batch_size=32, lr=1e-2), win, labels,
                          emb, seed=seed, input_maps=maps)
        with torch.no_grad():
            logits = logits_task(res.model.stacked_parameters(), torch.as_tensor(win)[None],
                                 torch.as_tensor(emb), cfg, 1, dedup=True,
                                 input_maps=res.model.input_maps)
            target = torch.as_tensor(labels[:, 1])[None]
            out[align] = float(masked_cross_entropy(logits, target))
        if align == "aux":
            r = res.model.align_r[0].detach().numpy()
            out["misfit"] = (np.linalg.norm(q @ r - np.eye(4)), np.linalg.norm(q - np.eye(4)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alignment_lowers_the_loss_of_a_rotated_auxiliary_task(seed):
    """Issue 18's mechanism test, loss half: with R_1 the rotated task fits better.

    Measured: this also holds without the rotation (Q = I: 0.0011 -> 0.0004,
    0.0301 -> 0.0008, 0.0023 -> 0.0016 for seeds 0-2), so it shows what R_1 adds as
    capacity at least as much as alignment (see the xfail below).
    """
    out = _mechanism(seed)
    assert out["aux"] < out["none"]


def _identified_task(seed: int, n_ner: int = 2000, n_aux: int = 500, d: int = 2, c: int = 16,
                     window: int = 3, vocab: int = 200):
    """NER and an auxiliary task with NER's labels (alpha = 1) that reads x·Q, set up so
    that R_1 is identified.

    The labels read every direction of every window position, y = argmax_j Σ_p x_p A_p
    over c = 16 classes with random A_p (no symmetry), in d = 2 dimensions; NER labels 4x
    the rows of the auxiliary task (disjoint rows), so the shared layers are pinned by NER.
    """
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(vocab, d)).astype(np.float32)
    emb[0] = 0
    win = rng.integers(1, vocab, size=(n_ner + n_aux, window))
    y = np.argmax(np.einsum("nwd,wdc->nc", emb[win], rng.normal(size=(window, d, c))), axis=1)
    labels = np.full((n_ner + n_aux, 2), MASK, dtype=np.int64)
    labels[:n_ner, 0], labels[n_ner:, 1] = y[:n_ner], y[n_ner:]
    q = rotation_map(d, np.pi / 2, seed=3).astype(np.float32)
    maps = np.stack([np.eye(d), q.T]).astype(np.float32)  # task 1 reads (Qᵀx) = x·Q
    return win, labels, emb, q, maps


def _identified_mechanism(seed: int):
    """Train without and with R_1 (Algorithm 1: joint epochs, then a frozen phase in which
    only R and the heads train; the control gets the same epochs with R fixed). Returns
    the auxiliary task's loss on its rows for both, and ||Q·R_1 − I||_F before and after."""
    win, labels, emb, q, maps = _identified_task(seed)
    d, c = emb.shape[1], 16
    rows = labels[:, 1] != MASK
    out = {}
    for align in ("none", "aux"):
        # few hidden units: the BiLSTM is a bottleneck that works in its nonlinear range;
        # one shared dense layer, so only the output layer is task-specific
        cfg = model_config("default", n_tasks=2, n_classes=c, emb_dim=d, window=3, hidden=3,
                           dense=(8,), shared_dense=1, align=align)
        tc = TrainConfig(epochs=20, batch_size=32, lr=1e-2, align_phase="frozen",
                         align_epochs=20)
        res = train_model(cfg, tc, win, labels, emb, seed=seed, input_maps=maps)
        with torch.no_grad():
            logits = logits_task(res.model.stacked_parameters(),
                                 torch.as_tensor(win[rows])[None], torch.as_tensor(emb), cfg,
                                 1, dedup=True, input_maps=res.model.input_maps)
            target = torch.as_tensor(labels[rows, 1])[None]
            out[align] = float(masked_cross_entropy(logits, target))
        if align == "aux":
            r = res.model.align_r[0].detach().numpy()
            out["misfit"] = (np.linalg.norm(q @ r - np.eye(d)), np.linalg.norm(q - np.eye(d)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alignment_undoes_a_known_rotation(seed):
    """Issue 18's mechanism test: ||Q·R_1 − I||_F falls by >= 50 % and the rotated task's
    loss is lower than without alignment.

    Measured (seeds 0, 1, 2): ||Q·R_1 − I||_F / ||Q − I||_F = 0.363, 0.102, 0.384, and
    the rotated task's loss 0.211 vs 0.243, 0.499 vs 0.885, 0.331 vs 0.386 (aux vs none);
    5-46 s wall per seed on the loaded 2-core VM. The earlier set-up (labels reading
    c − 1 = 2 directions of the centre token, 4-d inputs, equal data) left R_1 unidentified
    (ratios 0.96-2.56 over 17 settings). Other settings tried here (seeds 0-2 unless
    noted): hidden 2, c 12, joint 40 epochs: 0.301, 0.111, 1.188; hidden 2, c 12, joint 20:
    0.562 (seed 0); hidden 2, c 12, frozen 20 + 20: 0.524, 0.365 (seeds 0, 1); hidden 2,
    c 12, frozen 10 + 30: 0.620 (seed 0); as this test with 1200 + 300 rows and 15 + 15
    epochs: 1.416, 1.061, 0.569.
    """
    out = _identified_mechanism(seed)
    after, before = out["misfit"]
    assert after <= 0.5 * before, (after, before)
    assert out["aux"] < out["none"], out


# ----------------------------------------------------------------------------- svd weights


def _shared_tasks(noisy: bool, n: int = 1500, seed: int = 0, flip: float = 0.05):
    """NER plus three auxiliary tasks labelling the same rows (shared slices).

    Clean tasks relabel NER through a class permutation and redraw a share ``flip`` of
    their labels at random (alpha about 0.96); the planted noisy task (last) draws every
    label uniformly at random.
    """
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(V, D)).astype(np.float32)
    win = rng.integers(0, V, size=(n, W)).astype(np.int32)
    y = np.argmax(emb[win[:, 3]] @ rng.normal(size=(D, C)), axis=1)
    cols = [y]
    for _ in range(3):
        aux = rng.permutation(C)[y]
        redraw = rng.random(n) < flip
        aux[redraw] = rng.integers(0, C, size=int(redraw.sum()))
        cols.append(aux)
    if noisy:
        cols[-1] = rng.integers(0, C, size=n)
    return win, np.stack(cols, axis=1).astype(np.int64), emb


@pytest.mark.parametrize("level", ["input", "representation"])
@pytest.mark.parametrize("schedule", ["joint", "sequential"])
def test_svd_weights_through_training_find_the_noisy_task(level, schedule):
    tc = TrainConfig(epochs=1, batch_size=100, schedule=schedule, task_weights="svd",
                     svd_level=level)
    cfg = model_config("default", n_tasks=4, n_classes=C, emb_dim=D, hidden=8, dense=(6, 5))
    noisy = train_model(cfg, tc, *_shared_tasks(True), seed=0).task_weights
    assert noisy[3] < 0.2 * min(noisy[:3]), noisy
    clean = train_model(cfg, tc, *_shared_tasks(False), seed=0).task_weights
    np.testing.assert_allclose(clean, 1.0, atol=0.05)
    assert sum(noisy) == pytest.approx(4.0)


def test_svd_weights_of_disjoint_slices_use_each_tasks_ridge_model():
    win, labels, emb = _shared_tasks(True, n=2000)
    disjoint = np.full_like(labels, MASK)
    for t in range(4):
        disjoint[t * 500:(t + 1) * 500, t] = labels[t * 500:(t + 1) * 500, t]
    cfg = model_config("default", n_tasks=4, n_classes=C, emb_dim=D, hidden=8, dense=(6, 5))
    w = svd_task_weights(cfg, win, disjoint, emb)
    assert w[3] < 0.2 * min(w[:3]), w


def test_svd_weights_scale_the_joint_losses_and_the_sequential_plan(data):
    win, labels, emb = _shared_tasks(True, n=400)
    cfg = model_config("default", n_tasks=4, n_classes=C, emb_dim=D, hidden=8, dense=(6, 5))
    joint = TrainConfig(epochs=1, batch_size=50, task_weights="svd")
    plain = TrainConfig(epochs=1, batch_size=50)
    a = train_model(cfg, joint, win, labels, emb, seed=0)
    b = train_model(cfg, plain, win, labels, emb, seed=0)
    assert a.losses != b.losses and b.task_weights is None
    seq = train_model(cfg, TrainConfig(epochs=1, batch_size=50, schedule="sequential",
                                       task_weights="svd"), win, labels, emb, seed=0)
    plain_seq = train_model(cfg, TrainConfig(epochs=1, batch_size=50, schedule="sequential"),
                            win, labels, emb, seed=0)
    assert seq.task_weights[3] < 0.2 and seq.losses != plain_seq.losses
    with pytest.raises(ValueError, match="one or the other"):
        train_model(cfg, joint, win, labels, emb, seed=0, task_weights=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="cannot be stacked"):
        train_models(cfg, TrainConfig(epochs=1, schedule="sequential", task_weights="svd"),
                     [(win, labels)] * 2, emb, seeds=[0, 1])


def test_weighted_sequential_plan_with_unit_weights_is_the_plain_plan_bitwise():
    for drop_last in (False, True):
        plain = sequential_plan(torch.Generator().manual_seed(3), [37, 12, 50], 10, drop_last)
        ones = sequential_plan(torch.Generator().manual_seed(3), [37, 12, 50], 10, drop_last,
                               weights=[1.0, 1.0, 1.0])
        assert [t for t, _ in plain] == [t for t, _ in ones]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(plain, ones, strict=True))
    plan = sequential_plan(torch.Generator().manual_seed(3), [40, 40], 10, False,
                           weights=[1.5, 0.5])
    assert [t for t, _ in plan] == [0] * 6 + [1] * 2
    first = torch.cat([p for t, p in plan if t == 0][:4])
    assert sorted(first.tolist()) == list(range(40))  # one full pass, then a fresh one


@pytest.mark.parametrize("every", [0, 1])
def test_svd_weights_at_the_representation_level_resume_bitwise(every, tmp_path):
    win, labels, emb = _shared_tasks(True, n=300)
    cfg = model_config("default", n_tasks=4, n_classes=C, emb_dim=D, hidden=8, dense=(6, 5))
    kw = {"batch_size": 50, "task_weights": "svd", "svd_level": "representation",
          "svd_every": every}
    full = train_model(cfg, TrainConfig(epochs=3, **kw), win, labels, emb, seed=1)
    ckpt = tmp_path / "svd.pt"
    train_model(cfg, TrainConfig(epochs=2, checkpoint_every=1, **kw), win, labels, emb,
                seed=1, checkpoint_path=ckpt)
    resumed = train_model(cfg, TrainConfig(epochs=3, checkpoint_every=1, **kw), win, labels,
                          emb, seed=1, checkpoint_path=ckpt)
    assert resumed.losses == full.losses and resumed.task_weights == full.task_weights


def test_probe_rows_are_evenly_spaced_and_bounded():
    rows = np.arange(10_000)
    picked = probe_rows(rows)
    assert len(picked) == 2000 and picked[0] == 0 and picked[-1] == 9999
    assert np.array_equal(probe_rows(rows[:50]), rows[:50])


def test_per_model_svd_weights_combine_per_model():
    """The svd path passes (K, T) weights to combine_task_losses: model k's own."""
    from mtllaws.core import combine_task_losses

    losses = torch.tensor([[1.0, 2.0], [4.0, 8.0]])
    got = combine_task_losses(losses, torch.tensor([[1.0, 0.0], [0.5, 1.5]]))
    assert torch.equal(got, torch.tensor([1.0, 14.0]))


@pytest.mark.parametrize("level", ["input", "representation"])
def test_engine_with_svd_weights_equals_train_model(level):
    win, labels, emb = _shared_tasks(True, n=300)
    cfg = model_config("default", n_tasks=4, n_classes=C, emb_dim=D, hidden=8, dense=(6, 5))
    tc = TrainConfig(epochs=2, batch_size=50, task_weights="svd", svd_level=level,
                     svd_every=1)
    sets = [(win, labels), (win[::-1].copy(), labels[::-1].copy())]
    got = train_models(cfg, tc, sets, emb, seeds=[4, 5])
    for (w, y), seed, res in zip(sets, [4, 5], got, strict=True):
        ref = train_model(cfg, tc, w, y, emb, seed=seed)
        np.testing.assert_allclose(res.task_weights, ref.task_weights, rtol=1e-4)
        np.testing.assert_allclose(res.losses, ref.losses, rtol=0, atol=1e-5)
