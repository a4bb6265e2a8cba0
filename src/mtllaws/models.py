"""Multitask BiLSTM window classifiers (the paper's LSTM_0FCs ... LSTM_3FCs family).

Every token is classified from a window of ``W = 2k + 1`` word embeddings centred on
it. The network is

``BiLSTM -> shared dense layers -> task-specific dense layers -> one output layer per task``

* **BiLSTM** (hidden ``H`` per direction, gates in PyTorch order ``i, f, g, o``, one bias
  per direction). Its readout is either

  - ``"center"``: ``[h_fwd(0..k), h_bwd(W-1..k)]`` -- the forward state after reading the
    tokens up to the centre and the backward state after reading the tokens from the
    end back to the centre, i.e. ``nn.LSTM(bidirectional=True)(x)[0][:, k]``;
  - ``"last"``: ``[h_fwd(0..W-1), h_bwd(W-1)]`` -- the output at the last time step as
    in the published code, i.e. ``nn.LSTM(bidirectional=True)(x)[0][:, -1]``. Its
    backward half has seen only the last token.

  Only the steps the readout needs are computed: ``"center"`` runs ``k + 1`` steps per
  direction (both directions batched in one ``bmm``), ``"last"`` runs ``W`` forward steps
  and a single backward cell step from the zero state. Input projections of all steps
  are one matrix product; the first step skips the recurrent product (zero state).
* **Dense layers** ``dense = (d_1, ..., d_L)``; the first ``shared_dense`` of them are
  shared by all tasks, the rest (and the output layer) are per task. Per-task weights
  are stacked ``(T, d_in, d_out)`` and applied with one batched product, never a
  Python loop over tasks. ``activation`` (``"relu"`` or ``"none"``) follows every dense
  layer, not the output layer (the published code has no nonlinearity there).
* **Initialisation** follows PyTorch's defaults, as the published (PyTorch) code used:
  LSTM weights ``U(-1/sqrt(H), 1/sqrt(H))`` with the bias the sum of two such draws
  (``b_ih + b_hh``); dense weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
  Initialisation draws only from the ``generator`` passed in (no global RNG state).

Layer presets (:data:`LAYERS`) reproduce the published variants: the ``n`` in
``LSTM_nFCs`` counts *shared* dense layers (``LSTM_0FCs``: per-task ``128 -> c``;
``LSTM_1FCs``: shared 256, per-task ``128 -> 64 -> c``; ``LSTM_2FCs``: shared ``256 -> 128``,
per-task ``64 -> c``; ``LSTM_3FCs``: shared ``256 -> 128 -> 64``, per-task ``c``).

Named presets (:data:`PRESETS`):

* ``"paper"``: ``readout="last"``, ``activation="none"``, ``LSTM_1FCs`` layers
  (``dense=(256, 128, 64)``, ``shared_dense=1``) -- the published model classes. The
  published ``main.py`` runs the ``LSTM_2FCs`` variant: pass ``layers="LSTM_2FCs"``
  (config ``model.layers``, set by ``protocol: published``; see docs/REPLICATION.md).
* ``"default"``: ``readout="center"``, ``activation="relu"``, the same layers -- the
  centre token's context from both sides and a nonlinear head; only the readout and
  the activation differ from ``"paper"`` so the two stay comparable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LAYERS",
    "PRESETS",
    "MTLNet",
    "ModelConfig",
    "lstm_readout",
    "lstm_readout_ids",
    "lstm_readout_prefixes",
    "model_config",
]

_READOUTS = ("center", "last")
_ACTIVATIONS = ("relu", "none")

#: The published architectures: dense layer widths and how many of them are shared.
LAYERS: dict[str, dict] = {
    "LSTM_0FCs": {"dense": (128,), "shared_dense": 0},
    "LSTM_1FCs": {"dense": (256, 128, 64), "shared_dense": 1},
    "LSTM_2FCs": {"dense": (256, 128, 64), "shared_dense": 2},
    "LSTM_3FCs": {"dense": (256, 128, 64), "shared_dense": 3},
}

#: Named model presets; task/class counts and input sizes are added by the caller.
PRESETS: dict[str, dict] = {
    "paper": {"readout": "last", "activation": "none", "hidden": 300, **LAYERS["LSTM_1FCs"]},
    "default": {
        "readout": "center",
        "activation": "relu",
        "hidden": 300,
        **LAYERS["LSTM_1FCs"],
    },
}


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Architecture of an :class:`MTLNet`.

    Parameters
    ----------
    n_tasks : int
        Number of tasks ``T`` (one output head each), ``>= 1``.
    n_classes : int
        Classes per task ``c`` (all tasks share the label set size), ``>= 2``.
    emb_dim : int
        Word-embedding dimension ``D``.
    window : int
        Window length ``W = 2k + 1`` (odd); the target token is at index ``k``.
    hidden : int
        LSTM hidden size per direction ``H``.
    dense : tuple of int
        Widths of the dense layers between the BiLSTM and the output layers.
    shared_dense : int
        How many of the ``dense`` layers (from the first) are shared by all tasks.
    readout : {"center", "last"}
        Which BiLSTM output feeds the dense layers (see the module docstring).
    activation : {"relu", "none"}
        Nonlinearity after every dense layer.
    """

    n_tasks: int
    n_classes: int
    emb_dim: int = 300
    window: int = 7
    hidden: int = 300
    dense: tuple[int, ...] = (256, 128, 64)
    shared_dense: int = 1
    readout: str = "center"
    activation: str = "relu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))
        for name in ("n_tasks", "emb_dim", "window", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name}={value!r}: must be an integer >= 1")
        if not isinstance(self.n_classes, int) or self.n_classes < 2:
            raise ValueError(f"ModelConfig.n_classes={self.n_classes!r}: must be an integer >= 2")
        if self.window % 2 != 1:
            raise ValueError(
                f"ModelConfig.window={self.window}: must be odd (2k + 1 tokens centred on the "
                "target); use e.g. window=7 for k=3"
            )
        if any(d < 1 for d in self.dense):
            raise ValueError(f"ModelConfig.dense={self.dense}: every width must be >= 1")
        if not 0 <= self.shared_dense <= len(self.dense):
            raise ValueError(
                f"ModelConfig.shared_dense={self.shared_dense}: must be between 0 and "
                f"len(dense)={len(self.dense)}"
            )
        if self.readout not in _READOUTS:
            raise ValueError(f"ModelConfig.readout={self.readout!r}: choose one of {_READOUTS}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"ModelConfig.activation={self.activation!r}: choose one of {_ACTIVATIONS}"
            )

    def to_dict(self) -> dict:
        """Return the configuration as a plain dict (JSON/YAML friendly)."""
        d = asdict(self)
        d["dense"] = list(self.dense)
        return d


def model_config(preset: str, **overrides) -> ModelConfig:
    """Build a :class:`ModelConfig` from a named preset.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS` (``"paper"`` or ``"default"``).
    **overrides
        Any :class:`ModelConfig` field (``n_tasks`` and ``n_classes`` are required),
        plus ``layers``: a key of :data:`LAYERS` that sets ``dense`` and ``shared_dense``.

    Returns
    -------
    ModelConfig
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}: choose one of {sorted(PRESETS)}")
    values = dict(PRESETS[preset])
    layers = overrides.pop("layers", None)
    if layers is not None:
        if layers not in LAYERS:
            raise ValueError(f"unknown layers {layers!r}: choose one of {sorted(LAYERS)}")
        values.update(LAYERS[layers])
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown ModelConfig field(s) {unknown}: valid fields are {sorted(known)}"
        )
    values.update(overrides)
    missing = [name for name in ("n_tasks", "n_classes") if name not in values]
    if missing:
        raise ValueError(f"model_config({preset!r}) needs {missing}, e.g. n_tasks=2, n_classes=5")
    return ModelConfig(**values)


# ----------------------------------------------------------------------------- LSTM math


def _cell(gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM cell update from pre-activation ``gates`` (..., 4H) in order i, f, g, o."""
    i, f, g, o = gates.chunk(4, dim=-1)
    ig = torch.sigmoid(i) * torch.tanh(g)
    c_new = ig if c is None else torch.addcmul(ig, torch.sigmoid(f), c)
    h = torch.sigmoid(o) * torch.tanh(c_new)
    return h, c_new


class _LSTMScan(torch.autograd.Function):
    """The recurrence of :func:`_scan` with a hand-written backward (BPTT).

    The forward keeps every step's gate activations, cell state and ``tanh`` of it; the
    backward walks the steps in reverse with a few fused elementwise products per step and
    computes the recurrent weight gradient of all steps in one batched product
    ``sum_t h_{t-1}^T dgates_t``. Autograd's version builds the same gradients from about
    twice as many kernels (the ``chunk`` of the gates alone costs a zero-fill and a copy per
    step) and one weight-gradient product per step.
    """

    @staticmethod
    def forward(ctx, proj: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
        g, s, b, four_h = proj.shape
        h = four_h // 4
        act = proj.new_empty(g, s, b, four_h)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        cell = proj.new_empty(g, s, b, h)
        tanh_c = proj.new_empty(g, s, b, h)
        hidden = proj.new_empty(g, s, b, h)
        for t in range(s):
            gates = proj[:, t] if t == 0 else torch.baddbmm(proj[:, t], hidden[:, t - 1], w_hh)
            a = act[:, t]
            torch.sigmoid(gates, out=a)
            torch.tanh(gates[..., 2 * h : 3 * h], out=a[..., 2 * h : 3 * h])
            c = cell[:, t]
            torch.mul(a[..., :h], a[..., 2 * h : 3 * h], out=c)
            if t:
                c.addcmul_(a[..., h : 2 * h], cell[:, t - 1])
            torch.tanh(c, out=tanh_c[:, t])
            torch.mul(a[..., 3 * h :], tanh_c[:, t], out=hidden[:, t])
        ctx.save_for_backward(w_hh, act, cell, tanh_c, hidden)
        return hidden[:, -1].clone()

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor):
        w_hh, act, cell, tanh_c, hidden = ctx.saved_tensors
        g, s, b, four_h = act.shape
        h = four_h // 4
        d_gates = torch.empty_like(act)
        w_t = w_hh.transpose(1, 2)
        dh, dc = grad_h, None
        for t in range(s - 1, -1, -1):
            a, d = act[:, t], d_gates[:, t]
            i, f, gg, o = (a[..., j * h : (j + 1) * h] for j in range(4))
            di, df, dg, do = (d[..., j * h : (j + 1) * h] for j in range(4))
            tc = tanh_c[:, t]
            # h = o * tanh(c):  do = dh * tanh(c) * o(1 - o);  dc += dh * o * (1 - tanh(c)^2)
            torch.mul(dh, tc, out=do)
            do.mul_(o - o * o)
            dct = torch.mul(dh, o).mul_(1 - tc * tc)
            if dc is not None:
                dct.add_(dc)
            # c = f * c_prev + i * g
            torch.mul(dct, gg, out=di)
            di.mul_(i - i * i)
            torch.mul(dct, i, out=dg)
            dg.mul_(1 - gg * gg)
            if t:
                torch.mul(dct, cell[:, t - 1], out=df)
                df.mul_(f - f * f)
                dc = dct.mul_(f)
                dh = torch.bmm(d, w_t)
            else:
                df.zero_()  # zero initial state: the forget gate reads nothing
        grad_w = None
        if ctx.needs_input_grad[1]:
            if s > 1:
                h_prev = hidden[:, :-1].reshape(g, (s - 1) * b, h)
                grad_w = torch.bmm(h_prev.transpose(1, 2), d_gates[:, 1:].reshape(g, -1, four_h))
            else:
                grad_w = torch.zeros_like(w_hh)
        return d_gates, grad_w


def _scan(proj: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
    """Run the recurrence over ``proj`` (G, S, B, 4H) from the zero state; return h (G, B, H)."""
    if torch.is_grad_enabled() and (proj.requires_grad or w_hh.requires_grad):
        return _LSTMScan.apply(proj, w_hh)
    steps = proj.unbind(1)
    h, c = _cell(steps[0], None)
    for p in steps[1:]:
        h, c = _cell(torch.baddbmm(p, h, w_hh), c)
    return h


def _first_cell(x: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``h`` of one LSTM step from the zero state: the forget gate is never computed.

    ``x`` (..., B, D) with ``w_ih`` (..., D, 4H) and ``bias`` (..., 4H) batched alike.
    """
    h = w_ih.shape[-1] // 4
    w = torch.cat((w_ih[..., :h], w_ih[..., 2 * h :]), dim=-1)
    b = torch.cat((bias[..., :h], bias[..., 2 * h :]), dim=-1).unsqueeze(-2)
    gates = torch.matmul(x, w) + b
    i, g, o = gates.chunk(3, dim=-1)
    return torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))


def lstm_readout(
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
    *,
    readout: str,
) -> torch.Tensor:
    """BiLSTM features of windows, computing only the steps the readout needs.

    Parameters
    ----------
    x : Tensor, shape (B, W, D)
        Embedded windows, ``W`` odd.
    w_ih : Tensor, shape (2, D, 4H)
        Input weights of the forward (0) and backward (1) direction, gates i, f, g, o.
    w_hh : Tensor, shape (2, H, 4H)
        Recurrent weights.
    bias : Tensor, shape (2, 4H)
        One bias per direction (``b_ih + b_hh`` in ``nn.LSTM`` terms).
    readout : {"center", "last"}
        ``"center"``: ``[h_fwd after x[0..k], h_bwd after x[W-1..k]]``;
        ``"last"``: ``[h_fwd after x[0..W-1], h_bwd after x[W-1]]``.

    Returns
    -------
    Tensor, shape (B, 2H)
    """
    b, w, d = x.shape
    if readout == "center":
        k = w // 2
        s = k + 1
        # (2, S, B, D): direction 0 reads tokens 0..k, direction 1 reads W-1..k.
        xs = torch.stack((x[:, :s].transpose(0, 1), x[:, k:].flip(1).transpose(0, 1)))
        proj = torch.baddbmm(bias.unsqueeze(1), xs.reshape(2, s * b, d), w_ih)
        h = _scan(proj.view(2, s, b, -1), w_hh)
        return torch.cat((h[0], h[1]), dim=-1)
    if readout == "last":
        xf = x.transpose(0, 1).reshape(w * b, d)
        proj = torch.addmm(bias[0], xf, w_ih[0]).view(1, w, b, -1)
        h_fwd = _scan(proj, w_hh[:1])[0]
        h_bwd = _first_cell(x[:, -1], w_ih[1], bias[1])
        return torch.cat((h_fwd, h_bwd), dim=-1)
    raise ValueError(f"readout={readout!r}: choose one of {_READOUTS}")


def _project_ids(
    ids: torch.Tensor, table: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dedup: bool
) -> torch.Tensor:
    """``table[ids] @ w + b`` for ids of any shape; with ``dedup`` each distinct id once."""
    if dedup:
        unique, inverse = torch.unique(ids, return_inverse=True)
        return F.embedding(inverse, torch.addmm(b, table[unique], w))
    return torch.addmm(b, table[ids.reshape(-1)], w).view(*ids.shape, -1)


def lstm_readout_ids(
    ids: torch.Tensor,
    table: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
    *,
    readout: str,
    dedup: bool = True,
) -> torch.Tensor:
    """:func:`lstm_readout` of ``table[ids]``, projecting each distinct token id once.

    Neighbouring windows share most of their tokens and frequent words repeat, so on
    CoNLL-2003 only about 40-55 % of a batch's token slots hold distinct ids. With
    ``dedup`` the input projection (and its weight gradient) is computed once per distinct
    id of each direction and gathered; without it, per slot. Both give the same values up
    to floating-point rounding.

    Parameters
    ----------
    ids : Tensor, shape (B, W), int64
        Vocabulary ids of the windows.
    table : Tensor, shape (V, D)
        Embedding matrix (frozen).
    w_ih, w_hh, bias, readout
        As in :func:`lstm_readout`.
    dedup : bool
        Project distinct ids only (best on the CPU; ``torch.unique`` synchronises CUDA).

    Returns
    -------
    Tensor, shape (B, 2H)
    """
    b, w = ids.shape
    if readout == "center":
        k = w // 2
        proj = torch.stack(
            (
                _project_ids(ids[:, : k + 1].T, table, w_ih[0], bias[0], dedup),
                _project_ids(ids[:, k:].flip(1).T, table, w_ih[1], bias[1], dedup),
            )
        )
        h = _scan(proj, w_hh)
        return torch.cat((h[0], h[1]), dim=-1)
    if readout == "last":
        proj = _project_ids(ids.T, table, w_ih[0], bias[0], dedup).unsqueeze(0)
        h_fwd = _scan(proj, w_hh[:1])[0]
        last = ids[:, -1]
        if dedup:
            unique, inverse = torch.unique(last, return_inverse=True)
            h_bwd = F.embedding(inverse, _first_cell(table[unique], w_ih[1], bias[1]))
        else:
            h_bwd = _first_cell(table[last], w_ih[1], bias[1])
        return torch.cat((h_fwd, h_bwd), dim=-1)
    raise ValueError(f"readout={readout!r}: choose one of {_READOUTS}")


def _double_g(w: torch.Tensor) -> torch.Tensor:
    """A copy of gate weights/biases (..., 4H) with the ``g`` gate's columns doubled."""
    h = w.shape[-1] // 4
    w = w.clone()
    w[..., 2 * h : 3 * h] *= 2
    return w


def _cell_doubled(gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_cell` for inference on gates whose ``g`` pre-activation is doubled.

    Uses ``tanh(x) = 2 sigmoid(2x) - 1`` so that one in-place sigmoid covers all four gates
    (ATen's ``tanh`` costs about twice its ``sigmoid`` per element on the CPU).
    """
    h = gates.shape[-1] // 4
    s = gates.sigmoid_()
    i, f, o = s[:, :h], s[:, h : 2 * h], s[:, 3 * h :]
    c_new = torch.addcmul(-i, i, s[:, 2 * h : 3 * h], value=2)  # i * tanh(g)
    if c is not None:
        c_new.addcmul_(f, c)
    t = torch.mul(c_new, 2).sigmoid_()
    return torch.addcmul(-o, o, t, value=2), c_new  # o * tanh(c)


def _scan_prefixes(seq: torch.Tensor, proj: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
    """Final ``h`` (N, H) of the recurrence over each row of ``seq``, once per distinct prefix.

    ``seq`` (N, S) holds row indices into ``proj`` (U, 4H), the input projections of the
    distinct token ids; ``proj`` and ``w_hh`` have their ``g`` columns doubled (see
    :func:`_cell_doubled`). The state after ``t + 1`` steps depends only on the first
    ``t + 1`` tokens, so step ``t`` runs once per distinct prefix: (prefix id, next token)
    pairs are numbered with :func:`torch.unique` and each new state is computed from its
    parent's. Where parents are much fewer than children, the recurrent product runs once
    per parent and is gathered; otherwise once per child.
    """
    n_ids = proj.shape[0]
    unique, inverse = torch.unique(seq[:, 0], return_inverse=True)
    h, c = _cell_doubled(proj.index_select(0, unique), None)
    for t in range(1, seq.shape[1]):
        unique, inverse = torch.unique(inverse * n_ids + seq[:, t], return_inverse=True)
        parent = torch.div(unique, n_ids, rounding_mode="floor")
        gates = proj.index_select(0, unique - parent * n_ids)
        if 5 * h.shape[0] < 4 * len(unique):
            gates.add_(torch.mm(h, w_hh).index_select(0, parent))
        else:
            gates.addmm_(h.index_select(0, parent), w_hh)
        h, c = _cell_doubled(gates, c.index_select(0, parent))
    return h.index_select(0, inverse)


@torch.no_grad()
def lstm_readout_prefixes(
    ids: torch.Tensor,
    table: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
    *,
    readout: str,
) -> torch.Tensor:
    """:func:`lstm_readout_ids` for inference, computing each distinct prefix's state once.

    Every distinct token id is projected once, and the recurrence of each direction runs
    once per distinct prefix of the tokens it reads (windows starting with padding, or
    with the same frequent words, share their first states). Rows sorted
    lexicographically share the most within one call; :func:`mtllaws.train.predict`
    sorts them. Values equal :func:`lstm_readout_ids` up to floating-point rounding. No
    gradient.

    Parameters
    ----------
    ids : Tensor, shape (B, W), int64
    table : Tensor, shape (V, D)
    w_ih, w_hh, bias, readout
        As in :func:`lstm_readout`.

    Returns
    -------
    Tensor, shape (B, 2H)
    """
    b, w = ids.shape
    unique, compact = torch.unique(ids, return_inverse=True)
    x = table[unique]
    w_ih, w_hh, bias = _double_g(w_ih), _double_g(w_hh), _double_g(bias)
    if readout == "center":
        k = w // 2
        h_fwd = _scan_prefixes(compact[:, : k + 1], torch.addmm(bias[0], x, w_ih[0]), w_hh[0])
        h_bwd = _scan_prefixes(
            compact[:, k:].flip(1), torch.addmm(bias[1], x, w_ih[1]), w_hh[1]
        )
        return torch.cat((h_fwd, h_bwd), dim=-1)
    if readout == "last":
        h_fwd = _scan_prefixes(compact, torch.addmm(bias[0], x, w_ih[0]), w_hh[0])
        last, inverse = torch.unique(compact[:, -1], return_inverse=True)
        h_bwd, _ = _cell_doubled(torch.addmm(bias[1], x[last], w_ih[1]), None)
        return torch.cat((h_fwd, h_bwd.index_select(0, inverse)), dim=-1)
    raise ValueError(f"readout={readout!r}: choose one of {_READOUTS}")


# ----------------------------------------------------------------------------- the network


class MTLNet(nn.Module):
    """Shared BiLSTM with shared and task-specific dense layers and one head per task.

    Parameters
    ----------
    config : ModelConfig
        Architecture.
    generator : torch.Generator, optional
        Source of the initial weights (PyTorch default initialisation, see the module
        docstring). ``None`` draws from a generator seeded with 0.

    Attributes
    ----------
    lstm_w_ih, lstm_w_hh, lstm_bias : Parameter
        ``(2, D, 4H)``, ``(2, H, 4H)``, ``(2, 4H)``; direction 0 forward, 1 backward.
    shared_w, shared_b : ParameterList
        Shared dense layers, weights ``(d_in, d_out)``.
    task_w, task_b : ParameterList
        Task-specific dense layers and, last, the output layer: weights
        ``(T, d_in, d_out)``, biases ``(T, d_out)``.
    """

    def __init__(self, config: ModelConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        d, h, t = config.emb_dim, config.hidden, config.n_tasks
        self.lstm_w_ih = nn.Parameter(torch.empty(2, d, 4 * h))
        self.lstm_w_hh = nn.Parameter(torch.empty(2, h, 4 * h))
        self.lstm_bias = nn.Parameter(torch.empty(2, 4 * h))
        widths = [2 * h, *config.dense, config.n_classes]
        n_shared = config.shared_dense
        self.shared_w = nn.ParameterList(
            [nn.Parameter(torch.empty(widths[i], widths[i + 1])) for i in range(n_shared)]
        )
        self.shared_b = nn.ParameterList(
            [nn.Parameter(torch.empty(widths[i + 1])) for i in range(n_shared)]
        )
        self.task_w = nn.ParameterList(
            [
                nn.Parameter(torch.empty(t, widths[i], widths[i + 1]))
                for i in range(n_shared, len(widths) - 1)
            ]
        )
        self.task_b = nn.ParameterList(
            [nn.Parameter(torch.empty(t, widths[i + 1])) for i in range(n_shared, len(widths) - 1)]
        )
        self.reset_parameters(generator=generator)

    @torch.no_grad()
    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw fresh weights (PyTorch default initialisation) from ``generator``."""
        if generator is None:
            generator = torch.Generator().manual_seed(0)

        def uniform(shape, bound):
            u = torch.rand(shape, generator=generator, dtype=torch.float64)
            return ((2 * u - 1) * bound).to(self.lstm_w_ih.dtype)

        h = self.config.hidden
        bound = 1.0 / math.sqrt(h)
        self.lstm_w_ih.copy_(uniform(self.lstm_w_ih.shape, bound))
        self.lstm_w_hh.copy_(uniform(self.lstm_w_hh.shape, bound))
        self.lstm_bias.copy_(
            uniform(self.lstm_bias.shape, bound) + uniform(self.lstm_bias.shape, bound)
        )
        for w, b in zip(self.shared_w, self.shared_b, strict=True):
            bound = 1.0 / math.sqrt(w.shape[0])
            w.copy_(uniform(w.shape, bound))
            b.copy_(uniform(b.shape, bound))
        for w, b in zip(self.task_w, self.task_b, strict=True):
            bound = 1.0 / math.sqrt(w.shape[1])
            w.copy_(uniform(w.shape, bound))
            b.copy_(uniform(b.shape, bound))

    # -- pieces ---------------------------------------------------------------------------

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.dim() != 3 or x.shape[1] != cfg.window or x.shape[2] != cfg.emb_dim:
            raise ValueError(
                f"x_emb has shape {tuple(x.shape)}; this model expects (batch, "
                f"window={cfg.window}, emb_dim={cfg.emb_dim}): check ModelConfig.window and "
                "emb_dim against the data"
            )

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z) if self.config.activation == "relu" else z

    def features(self, x_emb: torch.Tensor) -> torch.Tensor:
        """BiLSTM readout ``(B, 2H)`` of embedded windows ``(B, W, D)``."""
        self._check_input(x_emb)
        return lstm_readout(
            x_emb, self.lstm_w_ih, self.lstm_w_hh, self.lstm_bias, readout=self.config.readout
        )

    def encode(self, x_emb: torch.Tensor) -> torch.Tensor:
        """Shared representation: BiLSTM readout then the shared dense layers, ``(B, F)``."""
        z = self.features(x_emb)
        for w, b in zip(self.shared_w, self.shared_b, strict=True):
            z = self._act(torch.addmm(b, z, w))
        return z

    def encode_ids(
        self,
        ids: torch.Tensor,
        table: torch.Tensor,
        *,
        dedup: bool | None = None,
        prefixes: bool = False,
    ) -> torch.Tensor:
        """:meth:`encode` of ``table[ids]`` without building ``(B, W, D)``.

        Parameters
        ----------
        ids : Tensor, shape (B, W), int64
        table : Tensor, shape (V, D)
            Embedding matrix on the model's device.
        dedup : bool, optional
            Project each distinct id once (see :func:`lstm_readout_ids`); default: on the
            CPU only.
        prefixes : bool
            Inference only (no gradient): also run the recurrence once per distinct
            prefix (:func:`lstm_readout_prefixes`).
        """
        cfg = self.config
        if ids.dim() != 2 or ids.shape[1] != cfg.window or table.shape[-1] != cfg.emb_dim:
            raise ValueError(
                f"ids {tuple(ids.shape)} / table {tuple(table.shape)}: this model expects ids "
                f"(batch, window={cfg.window}) and a table (V, emb_dim={cfg.emb_dim})"
            )
        weights = (ids, table, self.lstm_w_ih, self.lstm_w_hh, self.lstm_bias)
        if prefixes:
            z = lstm_readout_prefixes(*weights, readout=cfg.readout)
        else:
            if dedup is None:
                dedup = ids.device.type == "cpu"
            z = lstm_readout_ids(*weights, readout=cfg.readout, dedup=dedup)
        for w, b in zip(self.shared_w, self.shared_b, strict=True):
            z = self._act(torch.addmm(b, z, w))
        return z

    def heads_grouped(self, z: torch.Tensor) -> torch.Tensor:
        """Task layers on a shared representation ``z`` (T * G, F) in ``T`` task groups.

        Group ``t`` (rows ``t*G .. t*G+G-1``) is read by task ``t``'s head only; returns
        logits ``(T, G, c)``.
        """
        t = self.config.n_tasks
        if z.shape[0] % t:
            raise ValueError(
                f"{z.shape[0]} rows is not a multiple of n_tasks={t}: pass T equal groups"
            )
        return self._task_layers(z.view(t, -1, z.shape[-1]), 0)

    def _task_layers(self, z: torch.Tensor, first: int) -> torch.Tensor:
        """Apply task layers ``first..`` to per-task activations ``z`` (T, B, d)."""
        last = len(self.task_w) - 1
        for i in range(first, last + 1):
            z = torch.baddbmm(self.task_b[i].unsqueeze(1), z, self.task_w[i])
            if i < last:
                z = self._act(z)
        return z

    def heads(self, z: torch.Tensor, *, task: int | None = None) -> torch.Tensor:
        """Task-specific layers on a shared representation ``z`` (B, F).

        Returns logits ``(B, T, c)`` for all tasks, or ``(B, c)`` for one ``task``.
        """
        last = len(self.task_w) - 1
        if task is not None:
            if not 0 <= task < self.config.n_tasks:
                raise ValueError(f"task={task}: this model has tasks 0..{self.config.n_tasks - 1}")
            for i in range(last + 1):
                z = torch.addmm(self.task_b[i][task], z, self.task_w[i][task])
                if i < last:
                    z = self._act(z)
            return z
        w0 = self.task_w[0]
        t, d_in, d_out = w0.shape
        # All tasks' first layer as one product: (B, d_in) @ (d_in, T * d_out).
        y = (z @ w0.permute(1, 0, 2).reshape(d_in, t * d_out)).view(-1, t, d_out)
        y = (y + self.task_b[0]).transpose(0, 1)
        if last > 0:
            y = self._task_layers(self._act(y), 1)
        return y.transpose(0, 1)

    def forward_grouped(self, x_emb: torch.Tensor) -> torch.Tensor:
        """Logits where group ``t`` of the batch is read by task ``t``'s head only.

        Parameters
        ----------
        x_emb : Tensor, shape (T * G, W, D)
            ``T`` equal groups of ``G`` windows, group ``t`` first-to-last in task order.

        Returns
        -------
        Tensor, shape (T, G, c)
        """
        t = self.config.n_tasks
        if x_emb.shape[0] % t:
            raise ValueError(
                f"x_emb has {x_emb.shape[0]} rows, not a multiple of n_tasks={t}: "
                "pass T equal groups"
            )
        return self.heads_grouped(self.encode(x_emb))

    def forward(self, x_emb: torch.Tensor) -> torch.Tensor:
        """Logits of every task for every window.

        Parameters
        ----------
        x_emb : Tensor, shape (B, W, D)

        Returns
        -------
        Tensor, shape (B, T, c)
        """
        return self.heads(self.encode(x_emb))

    def as_torch_lstm(self) -> nn.LSTM:
        """An equivalent ``nn.LSTM(bidirectional=True, batch_first=True)`` (a copy)."""
        cfg = self.config
        ref = nn.LSTM(cfg.emb_dim, cfg.hidden, batch_first=True, bidirectional=True)
        ref = ref.to(dtype=self.lstm_w_ih.dtype, device=self.lstm_w_ih.device)
        with torch.no_grad():
            for direction, suffix in ((0, ""), (1, "_reverse")):
                getattr(ref, f"weight_ih_l0{suffix}").copy_(self.lstm_w_ih[direction].T)
                getattr(ref, f"weight_hh_l0{suffix}").copy_(self.lstm_w_hh[direction].T)
                getattr(ref, f"bias_ih_l0{suffix}").copy_(self.lstm_bias[direction])
                getattr(ref, f"bias_hh_l0{suffix}").zero_()
        return ref

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"T={c.n_tasks}, c={c.n_classes}, D={c.emb_dim}, W={c.window}, H={c.hidden}, "
            f"dense={c.dense}, shared_dense={c.shared_dense}, readout={c.readout!r}, "
            f"activation={c.activation!r}"
        )
