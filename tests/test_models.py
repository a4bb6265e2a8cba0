"""Tests for mtllaws.models: shapes, presets, and equality with plain BiLSTM computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtllaws.kernels import LSTMScan as _LSTMScan
from mtllaws.kernels import first_cell as _first_cell
from mtllaws.kernels import lstm_cell as _cell
from mtllaws.kernels import lstm_readout, lstm_readout_ids
from mtllaws.kernels import lstm_scan as _scan
from mtllaws.models import (
    LAYERS,
    PRESETS,
    ModelConfig,
    MTLNet,
    model_config,
)

D, H, W = 6, 5, 7


def tiny(preset: str = "default", **kw) -> MTLNet:
    values = {"n_tasks": 3, "n_classes": 4, "emb_dim": D, "hidden": H, "window": W}
    values.update(kw)
    return MTLNet(model_config(preset, **values), generator=torch.Generator().manual_seed(3))


def windows(b: int = 5, *, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, W, D, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------- config


def test_presets_match_the_published_variants():
    paper = model_config("paper", n_tasks=2, n_classes=5)
    assert (paper.readout, paper.activation) == ("last", "none")
    assert (paper.dense, paper.shared_dense, paper.hidden) == ((256, 128, 64), 1, 300)
    default = model_config("default", n_tasks=2, n_classes=5)
    assert (default.readout, default.activation) == ("center", "relu")
    assert set(PRESETS) == {"paper", "default"}
    assert LAYERS["LSTM_0FCs"] == {"dense": (128,), "shared_dense": 0}
    assert [LAYERS[f"LSTM_{n}FCs"]["shared_dense"] for n in range(4)] == [0, 1, 2, 3]


@pytest.mark.parametrize("layers", sorted(LAYERS))
def test_layer_presets_give_shared_and_task_parameter_shapes(layers):
    m = MTLNet(model_config("paper", n_tasks=4, n_classes=5, emb_dim=D, hidden=H, layers=layers))
    spec = LAYERS[layers]
    widths = [2 * H, *spec["dense"], 5]
    k = spec["shared_dense"]
    assert [tuple(w.shape) for w in m.shared_w] == [(widths[i], widths[i + 1]) for i in range(k)]
    assert [tuple(w.shape) for w in m.task_w] == [
        (4, widths[i], widths[i + 1]) for i in range(k, len(widths) - 1)
    ]
    assert m(windows(3)).shape == (3, 4, 5)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"window": 6}, "window=6"),
        ({"shared_dense": 4}, "shared_dense=4"),
        ({"readout": "mean"}, "readout"),
        ({"activation": "tanh"}, "activation"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_tasks": 0}, "n_tasks"),
        ({"dense": (4, 0)}, "dense"),
    ],
)
def test_invalid_config_is_rejected_with_the_field_name(kw, match):
    values = {"n_tasks": 2, "n_classes": 3}
    values.update(kw)
    with pytest.raises(ValueError, match=match):
        ModelConfig(**values)


def test_model_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model preset"):
        model_config("huge", n_tasks=1, n_classes=2)
    with pytest.raises(ValueError, match="hiden"):
        model_config("paper", n_tasks=1, n_classes=2, hiden=3)
    with pytest.raises(ValueError, match="n_classes"):
        model_config("paper", n_tasks=1)
    with pytest.raises(ValueError, match="unknown layers"):
        model_config("paper", n_tasks=1, n_classes=2, layers="LSTM_9FCs")


def test_config_to_dict_round_trips():
    cfg = model_config("paper", n_tasks=2, n_classes=5, layers="LSTM_0FCs")
    assert ModelConfig(**cfg.to_dict()) == cfg


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("readout", ["center", "last"])
def test_output_shapes_for_1_to_30_tasks(readout):
    x = windows(4)
    for t in range(1, 31):
        m = tiny(n_tasks=t, readout=readout, dense=(7, 3), shared_dense=1)
        assert m(x).shape == (4, t, 4)
        assert m.forward_grouped(x.repeat(t, 1, 1)).shape == (t, 4, 4)
        assert m.heads(m.encode(x), task=t - 1).shape == (4, 4)
        assert m.features(x).shape == (4, 2 * H)


def test_wrong_input_shape_names_window_and_emb_dim():
    m = tiny()
    with pytest.raises(ValueError, match="window=7"):
        m(torch.zeros(2, 5, D))
    with pytest.raises(ValueError, match="emb_dim=6"):
        m(torch.zeros(2, W, D + 1))
    with pytest.raises(ValueError, match="multiple of n_tasks"):
        m.forward_grouped(torch.zeros(4, W, D))
    with pytest.raises(ValueError, match="task=3"):
        m.heads(m.encode(windows(2)), task=3)


# ----------------------------------------------------------------------------- equivalences


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _np_lstm(x, w_ih, w_hh, b, order):
    """Plain numpy LSTM over x[:, order]; returns the hidden state after each step."""
    n = w_hh.shape[0]
    h = np.zeros((x.shape[0], n))
    c = np.zeros((x.shape[0], n))
    out = {}
    for t in order:
        z = x[:, t] @ w_ih + h @ w_hh + b
        i, f, g, o = _sig(z[:, :n]), _sig(z[:, n : 2 * n]), np.tanh(z[:, 2 * n : 3 * n]), _sig(
            z[:, 3 * n :]
        )
        c = f * c + i * g
        h = o * np.tanh(c)
        out[t] = h
    return out


def _np_forward(m: MTLNet, x: np.ndarray) -> np.ndarray:
    """Hand-written forward pass of an MTLNet: full BiLSTM, then dense layers per task."""
    p = {k: v.detach().numpy() for k, v in m.named_parameters()}
    cfg = m.config
    fwd = _np_lstm(x, p["lstm_w_ih"][0], p["lstm_w_hh"][0], p["lstm_bias"][0], range(W))
    bwd = _np_lstm(x, p["lstm_w_ih"][1], p["lstm_w_hh"][1], p["lstm_bias"][1], range(W - 1, -1, -1))
    pos = W // 2 if cfg.readout == "center" else W - 1
    z = np.concatenate([fwd[pos], bwd[pos]], axis=1)

    def act(a):
        return np.maximum(a, 0) if cfg.activation == "relu" else a

    for i in range(cfg.shared_dense):
        z = act(z @ p[f"shared_w.{i}"] + p[f"shared_b.{i}"])
    logits = []
    n_task_layers = len(m.task_w)
    for t in range(cfg.n_tasks):
        a = z
        for i in range(n_task_layers):
            a = a @ p[f"task_w.{i}"][t] + p[f"task_b.{i}"][t]
            if i < n_task_layers - 1:
                a = act(a)
        logits.append(a)
    return np.stack(logits, axis=1)


@pytest.mark.parametrize("preset", ["paper", "default"])
@pytest.mark.parametrize("layers", ["LSTM_0FCs", "LSTM_1FCs", "LSTM_3FCs"])
def test_forward_matches_hand_written_computation(preset, layers):
    m = tiny(preset, layers=layers, n_tasks=2).double()
    x = windows(6, dtype=torch.float64)
    expected = _np_forward(m, x.numpy())
    np.testing.assert_allclose(m(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_paper_preset_hand_written_check_uses_no_nonlinearity_and_last_readout():
    # Guard the reference itself: with relu/center the outputs must differ from paper's.
    x = windows(6, dtype=torch.float64)
    paper = tiny("paper").double()
    other = tiny("paper", readout="center").double()
    other.load_state_dict(paper.state_dict())
    assert not np.allclose(paper(x).detach().numpy(), other(x).detach().numpy())


@pytest.mark.parametrize("readout, position", [("center", W // 2), ("last", -1)])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-13)])
def test_compute_skipping_equals_full_bidirectional_lstm(readout, position, dtype, tol):
    m = tiny(readout=readout).to(dtype)
    ref = m.as_torch_lstm()
    x = windows(9, dtype=dtype, seed=4)
    full, _ = ref(x)
    torch.testing.assert_close(m.features(x), full[:, position], rtol=tol, atol=tol)


@pytest.mark.parametrize("readout, position", [("center", W // 2), ("last", -1)])
def test_compute_skipping_has_the_gradients_of_the_full_lstm(readout, position):
    m = tiny(readout=readout).double()
    ref = m.as_torch_lstm()
    x = windows(9, dtype=torch.float64, seed=5)
    weight = torch.randn(9, 2 * H, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (m.features(x) * weight).sum().backward()
    full, _ = ref(x)
    (full[:, position] * weight).sum().backward()
    for direction, suffix in ((0, ""), (1, "_reverse")):
        torch.testing.assert_close(
            m.lstm_w_ih.grad[direction], getattr(ref, f"weight_ih_l0{suffix}").grad.T
        )
        torch.testing.assert_close(
            m.lstm_w_hh.grad[direction], getattr(ref, f"weight_hh_l0{suffix}").grad.T
        )
        torch.testing.assert_close(
            m.lstm_bias.grad[direction], getattr(ref, f"bias_ih_l0{suffix}").grad
        )


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_hand_written_scan_backward_passes_gradcheck(steps):
    g = torch.Generator().manual_seed(steps)
    proj = torch.randn(2, steps, 3, 8, dtype=torch.float64, generator=g, requires_grad=True)
    w_hh = (0.5 * torch.randn(2, 2, 8, dtype=torch.float64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(_LSTMScan.apply, (proj, w_hh))
    # The same values as the autograd cell loop, and no forget-gate gradient at step 0.
    with torch.no_grad():
        plain = _scan(proj, w_hh)
    torch.testing.assert_close(_scan(proj, w_hh), plain, rtol=1e-14, atol=1e-14)
    _scan(proj, w_hh).sum().backward()
    assert torch.count_nonzero(proj.grad[:, 0, :, 2:4]) == 0


def test_first_cell_equals_a_full_cell_from_the_zero_state():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, D, dtype=torch.float64, generator=g)
    w = torch.randn(2, D, 4 * H, dtype=torch.float64, generator=g)
    b = torch.randn(2, 4 * H, dtype=torch.float64, generator=g)
    full, _ = _cell(torch.baddbmm(b.unsqueeze(1), x, w), None)
    torch.testing.assert_close(_first_cell(x, w, b), full, rtol=1e-14, atol=1e-14)


def test_lstm_readout_rejects_unknown_readout():
    m = tiny()
    with pytest.raises(ValueError, match="readout"):
        lstm_readout(windows(2), m.lstm_w_ih, m.lstm_w_hh, m.lstm_bias, readout="first")


def test_grouped_and_single_task_heads_equal_the_all_task_heads():
    m = tiny(n_tasks=3, layers="LSTM_1FCs").double()
    x = windows(12, dtype=torch.float64)
    all_tasks = m(x)
    grouped = m.forward_grouped(x)  # rows 0-3 -> task 0, 4-7 -> task 1, 8-11 -> task 2
    for t in range(3):
        torch.testing.assert_close(grouped[t], all_tasks[4 * t : 4 * t + 4, t])
        torch.testing.assert_close(m.heads(m.encode(x), task=t), all_tasks[:, t])


# ----------------------------------------------------------------------------- initialisation


def test_initialisation_is_seeded_and_follows_pytorch_default_bounds():
    cfg = model_config("default", n_tasks=2, n_classes=3, emb_dim=D, hidden=H)
    a = MTLNet(cfg, generator=torch.Generator().manual_seed(1))
    b = MTLNet(cfg, generator=torch.Generator().manual_seed(1))
    c = MTLNet(cfg, generator=torch.Generator().manual_seed(2))
    params = zip(a.named_parameters(), b.parameters(), c.parameters(), strict=True)
    for (name, pa), pb, pc in params:
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name
    bound = 1 / np.sqrt(H)
    assert a.lstm_w_ih.abs().max() <= bound and a.lstm_w_hh.abs().max() <= bound
    assert a.lstm_bias.abs().max() <= 2 * bound
    assert a.shared_w[0].abs().max() <= 1 / np.sqrt(2 * H)
    assert a.task_w[-1].abs().max() <= 1 / np.sqrt(cfg.dense[-1])
    assert a.task_w[-1].abs().max() > 0.5 / np.sqrt(cfg.dense[-1])


@pytest.mark.parametrize("readout", ["center", "last"])
@pytest.mark.parametrize("dedup", [True, False])
def test_id_path_with_and_without_dedup_equals_the_embedded_path(readout, dedup):
    m = tiny(readout=readout).double()
    g = torch.Generator().manual_seed(0)
    table = torch.randn(12, D, generator=g, dtype=torch.float64)
    table[0] = 0
    ids = torch.randint(0, 12, (30, W), generator=g)  # many repeated ids, some padding
    z_ids = m.encode_ids(ids, table, dedup=dedup)
    z_emb = m.encode(table[ids])
    torch.testing.assert_close(z_ids, z_emb, rtol=1e-12, atol=1e-12)
    weight = torch.randn(z_ids.shape, generator=g, dtype=torch.float64)
    (z_ids * weight).sum().backward()
    encoder = [(n, p) for n, p in m.named_parameters() if not n.startswith("task_")]
    grads = [p.grad.clone() for _, p in encoder]
    m.zero_grad()
    (z_emb * weight).sum().backward()
    for a, (name, p) in zip(grads, encoder, strict=True):
        torch.testing.assert_close(a, p.grad, rtol=1e-10, atol=1e-12, msg=name)
    with pytest.raises(ValueError, match="window=7"):
        m.encode_ids(ids[:, :5], table)


@pytest.mark.parametrize("readout", ["center", "last"])
def test_prefix_sharing_inference_equals_the_id_path(readout):
    m = tiny(readout=readout).double()
    g = torch.Generator().manual_seed(3)
    table = torch.randn(6, D, generator=g, dtype=torch.float64)
    table[0] = 0
    ids = torch.randint(0, 6, (200, W), generator=g)  # a small vocabulary: many shared prefixes
    ids[:40, :3] = 0  # sentence starts: padding prefixes
    expected = m.encode_ids(ids, table, dedup=False)
    torch.testing.assert_close(m.encode_ids(ids, table, prefixes=True), expected,
                               rtol=1e-12, atol=1e-12)
    assert len(torch.unique(ids[:, :2], dim=0)) < len(ids)  # sharing did happen
    with pytest.raises(ValueError, match="readout"):
        lstm_readout_ids(ids[None], table, m.lstm_w_ih[None], m.lstm_w_hh[None],
                         m.lstm_bias[None], readout="x", prefixes=True)


# ----------------------------------------------------------------------------- head sizes

HEADS = (5, 45, 11)  # NER, POS, chunking (IO) on CoNLL-2003


@pytest.mark.parametrize("layers", sorted(LAYERS))
def test_per_task_head_sizes_give_shapes_per_head(layers):
    m = tiny("paper", n_classes=HEADS, layers=layers)
    assert m.config.class_counts == HEADS and m.config.max_classes == 45
    assert m.task_w[-1].shape[-1] == 45 and m.task_b[-1].shape == (3, 45)
    x = windows(4)
    z = m.encode(x)
    every = m(x)
    assert every.shape == (4, 3, 45)
    grouped = m.forward_grouped(x.repeat(3, 1, 1))
    assert grouped.shape == (3, 4, 45)
    for t, c in enumerate(HEADS):
        one = m.heads(z, task=t)
        assert one.shape == (4, c)
        assert torch.isfinite(one).all()
        assert torch.isfinite(every[:, t, :c]).all()
        assert torch.isneginf(every[:, t, c:]).all()  # the columns this head lacks
        assert torch.isneginf(grouped[t, :, c:]).all()
        torch.testing.assert_close(one, every[:, t, :c])
        torch.testing.assert_close(grouped[t], every[:, t])
        # the padded columns of the stored output layer are zero from the start
        assert not m.task_w[-1][t, :, c:].any() and not m.task_b[-1][t, c:].any()
        assert m.task_w[-1][t, :, :c].abs().min() > 0


def test_one_int_and_equal_head_sizes_give_the_same_model_bitwise():
    x = windows(6)
    for n_tasks in (1, 2):
        a = tiny(n_tasks=n_tasks, n_classes=5)
        b = tiny(n_tasks=n_tasks, n_classes=(5,) * n_tasks)
        assert not b.config.padded_heads
        for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
            assert torch.equal(pa, pb), name
        assert torch.equal(a(x), b(x))
        assert torch.equal(a.forward_grouped(x), b.forward_grouped(x))
        for t in range(n_tasks):
            assert torch.equal(a.heads(a.encode(x), task=t), b.heads(b.encode(x), task=t))


def test_head_sizes_are_checked_and_round_trip():
    cfg = model_config("paper", n_tasks=3, n_classes=[5, 45, 11], emb_dim=D, hidden=H)
    assert cfg.n_classes == HEADS  # a list is stored as a tuple
    d = cfg.to_dict()
    assert d["n_classes"] == [5, 45, 11]
    assert ModelConfig(**d) == cfg
    assert model_config("paper", n_tasks=2, n_classes=5).to_dict()["n_classes"] == 5
    with pytest.raises(ValueError, match=r"2 head sizes for n_tasks=3.*one per task"):
        model_config("paper", n_tasks=3, n_classes=(5, 45))
    with pytest.raises(ValueError, match="every head size must be an integer >= 2"):
        model_config("paper", n_tasks=2, n_classes=(5, 1))
    with pytest.raises(ValueError, match="every head size"):
        model_config("paper", n_tasks=2, n_classes=(5, 4.0))
    with pytest.raises(ValueError, match="n_classes=True"):
        model_config("paper", n_tasks=2, n_classes=True)
