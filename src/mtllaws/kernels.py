"""LSTM kernels: the BiLSTM math of :class:`~mtllaws.models.MTLNet` with explicit weights.

Gates are in PyTorch order ``i, f, g, o`` with one bias per direction; direction 0 reads
forward, 1 backward. Only the steps a readout needs run (see :mod:`mtllaws.models`).

* :func:`lstm_cell`, :func:`first_cell` (one step from the zero state, no forget gate),
  :func:`lstm_scan` (the recurrence; with gradients it runs in :class:`LSTMScan`, a
  hand-written BPTT).
* :func:`lstm_readout`: features of embedded windows ``(B, W, D)``.
* :func:`lstm_readout_ids`: features of id windows of ``K`` models at once
  ``(K, B, W)``, each distinct id of a model projected once (:func:`project_ids`,
  :func:`unique_per_model`, :func:`gather_rows`); the training path of both
  :func:`mtllaws.train.train_model` (``K = 1``) and :func:`mtllaws.engine.train_models`.
  With ``prefixes=True`` (inference) each distinct prefix's state is computed once
  (:func:`scan_prefixes`, :func:`lstm_cell_doubled`, :func:`double_g`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "READOUTS",
    "LSTMScan",
    "double_g",
    "first_cell",
    "gather_rows",
    "lstm_cell",
    "lstm_cell_doubled",
    "lstm_readout",
    "lstm_readout_ids",
    "lstm_scan",
    "project_ids",
    "scan_prefixes",
    "unique_per_model",
]

#: The BiLSTM readouts (see :func:`lstm_readout`).
READOUTS = ("center", "last")

def lstm_cell(gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM cell update from pre-activation ``gates`` (..., 4H) in order i, f, g, o."""
    i, f, g, o = gates.chunk(4, dim=-1)
    ig = torch.sigmoid(i) * torch.tanh(g)
    c_new = ig if c is None else torch.addcmul(ig, torch.sigmoid(f), c)
    h = torch.sigmoid(o) * torch.tanh(c_new)
    return h, c_new


class LSTMScan(torch.autograd.Function):
    """The recurrence of :func:`lstm_scan` with a hand-written backward (BPTT).

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


def lstm_scan(proj: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
    """Run the recurrence over ``proj`` (G, S, B, 4H) from the zero state; return h (G, B, H)."""
    if torch.is_grad_enabled() and (proj.requires_grad or w_hh.requires_grad):
        return LSTMScan.apply(proj, w_hh)
    steps = proj.unbind(1)
    h, c = lstm_cell(steps[0], None)
    for p in steps[1:]:
        h, c = lstm_cell(torch.baddbmm(p, h, w_hh), c)
    return h


def first_cell(x: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
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
        h = lstm_scan(proj.view(2, s, b, -1), w_hh)
        return torch.cat((h[0], h[1]), dim=-1)
    if readout == "last":
        xf = x.transpose(0, 1).reshape(w * b, d)
        proj = torch.addmm(bias[0], xf, w_ih[0]).view(1, w, b, -1)
        h_fwd = lstm_scan(proj, w_hh[:1])[0]
        h_bwd = first_cell(x[:, -1], w_ih[1], bias[1])
        return torch.cat((h_fwd, h_bwd), dim=-1)
    raise ValueError(f"readout={readout!r}: choose one of {READOUTS}")


def unique_per_model(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct ids of each row of ``ids`` (K, N): ``unique`` (K, U_max), ``inverse`` (K, N).

    Row ``k``'s distinct ids (sorted) fill ``unique[k, :U_k]`` and the rest is padded with
    id 0; ``unique[k, inverse[k, j]] == ids[k, j]``.
    """
    found = [torch.unique(row, return_inverse=True) for row in ids]
    if len(found) == 1:
        unique, inverse = found[0]
        return unique.unsqueeze(0), inverse.unsqueeze(0)
    unique = ids.new_zeros(len(found), max(len(u) for u, _ in found))
    for k, (u, _) in enumerate(found):
        unique[k, : len(u)] = u
    return unique, torch.stack([inv for _, inv in found])


def gather_rows(values: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """``values[k, inverse[k, j]]`` for ``values`` (K, U, F) and ``inverse`` (K, N): (K, N, F)."""
    if values.shape[0] == 1:  # an embedding lookup: its backward is cheaper than gather's
        return F.embedding(inverse[0], values[0]).unsqueeze(0)
    index = inverse.unsqueeze(-1).expand(-1, -1, values.shape[-1])
    return torch.gather(values, 1, index)


def project_ids(
    cols: torch.Tensor, table: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dedup: bool
) -> torch.Tensor:
    """Input projections (K, S, R, 4H) of the id columns ``cols`` (K, R, S) of K models.

    ``w`` (K, D, 4H) and ``b`` (K, 4H) are one direction's weights of each model. With
    ``dedup`` each model projects the distinct ids of its own columns once (padded to the
    largest count and batched) and gathers; otherwise every slot is projected.
    """
    k_models, r, s = cols.shape
    flat = cols.transpose(1, 2).reshape(k_models, s * r)
    if not dedup:
        return _affine(table[flat], w, b).view(k_models, s, r, -1)
    unique, inverse = unique_per_model(flat)
    proj = _affine(table[unique], w, b)  # (K, U_max, 4H)
    return gather_rows(proj, inverse).view(k_models, s, r, -1)


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x @ w + b`` of K models: x (K, N, D), w (K, D, F), b (K, F) -> (K, N, F).

    One model (``train_model``'s case) is a plain GEMM: on the CPU a batch of one
    ``baddbmm`` is slower (issue 16's speed check: about 8 % of a ``paper`` joint epoch).
    """
    if x.shape[0] == 1:
        return torch.addmm(b[0], x[0], w[0]).unsqueeze(0)
    return torch.baddbmm(b.unsqueeze(1), x, w)


def lstm_readout_ids(
    ids: torch.Tensor,
    table: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
    *,
    readout: str,
    dedup: bool = True,
    prefixes: bool = False,
) -> torch.Tensor:
    """:func:`lstm_readout` of ``table[ids]`` for K models at once, each id projected once.

    Neighbouring windows share most of their tokens and frequent words repeat, so on
    CoNLL-2003 only about 40-55 % of a batch's token slots hold distinct ids. With
    ``dedup`` the input projection (and its weight gradient) is computed once per distinct
    id of each direction and model and gathered; without it, per slot. Both give the same
    values up to floating-point rounding. This is the one BiLSTM of training: an
    :class:`~mtllaws.models.MTLNet` calls it with ``K = 1`` (its own weights with a
    leading axis of 1), the multi-model engine with its stacked weights.

    Parameters
    ----------
    ids : Tensor, shape (K, B, W), int64
        Vocabulary ids of each model's windows.
    table : Tensor, shape (V, D)
        Embedding matrix (frozen), shared by the K models.
    w_ih, w_hh, bias : Tensor, shapes (K, 2, D, 4H), (K, 2, H, 4H), (K, 2, 4H)
        Each model's weights, as in :func:`lstm_readout`. ``w_ih`` may instead hold
        ``K * G`` input weights (model-major): then each model's rows are ``G`` equal
        consecutive groups and group ``g`` of model ``k`` is projected with
        ``w_ih[k * G + g]`` (per-task input maps folded into the projection, see
        :func:`mtllaws.models.encode_ids`); each distinct id is projected once per group.
    readout : {"center", "last"}
        As in :func:`lstm_readout`.
    dedup : bool
        Project distinct ids only (best on the CPU; ``torch.unique`` synchronises CUDA).
    prefixes : bool
        Inference only (no gradient; ``K = 1`` with one input weight): also run the
        recurrence of each direction once per distinct prefix of the tokens it reads
        (windows starting with padding, or with the same frequent words, share their
        first states). Rows sorted lexicographically share the most within one call;
        :func:`mtllaws.train.predict` sorts them. Values equal the other paths up to
        floating-point rounding.

    Returns
    -------
    Tensor, shape (K, B, 2H)
    """
    if prefixes:
        if ids.shape[0] != 1 or w_ih.shape[0] != 1:
            raise ValueError(
                f"prefixes=True reads one model with one input weight; got ids for "
                f"{ids.shape[0]} models and {w_ih.shape[0]} input weights: pass K = 1"
            )
        with torch.no_grad():
            return _readout_prefixes(ids[0], table, (w_ih[0], w_hh[0], bias[0]), readout)[None]
    k_models, b, w = ids.shape
    groups = w_ih.shape[0] // k_models
    if groups * k_models != w_ih.shape[0] or b % groups:
        raise ValueError(
            f"w_ih has {w_ih.shape[0]} entries for {k_models} models of {b} rows: pass K or "
            "K * G input weights, G dividing the rows"
        )
    # Per-group input weights: group g of model k (rows g*B/G ..) reads w_ih[k*G + g].
    gids = ids.reshape(k_models * groups, b // groups, w)
    gbias = bias if groups == 1 else bias.repeat_interleave(groups, dim=0)

    def ungroup(x: torch.Tensor) -> torch.Tensor:
        """(K*G, S, B/G, F) -> (K, S, B, F)."""
        if groups == 1:
            return x
        s = x.shape[1]
        x = x.view(k_models, groups, s, b // groups, -1).transpose(1, 2)
        return x.reshape(k_models, s, b, -1)

    if readout == "center":
        k = w // 2
        fwd = ungroup(project_ids(gids[:, :, : k + 1], table, w_ih[:, 0], gbias[:, 0], dedup))
        bwd = ungroup(project_ids(gids[:, :, k:].flip(2), table, w_ih[:, 1], gbias[:, 1], dedup))
        proj = torch.stack((fwd, bwd), dim=1).flatten(0, 1)  # (2K, S, B, 4H)
        h = lstm_scan(proj, w_hh.flatten(0, 1)).view(k_models, 2, b, -1)
        return torch.cat((h[:, 0], h[:, 1]), dim=-1)
    if readout == "last":
        proj = ungroup(project_ids(gids, table, w_ih[:, 0], gbias[:, 0], dedup))
        h_fwd = lstm_scan(proj, w_hh[:, 0])
        last = gids[:, :, -1]
        if dedup:
            unique, inverse = unique_per_model(last)
            h_bwd = gather_rows(first_cell(table[unique], w_ih[:, 1], gbias[:, 1]), inverse)
        else:
            h_bwd = first_cell(table[last], w_ih[:, 1], gbias[:, 1])
        return torch.cat((h_fwd, h_bwd.reshape(k_models, b, -1)), dim=-1)
    raise ValueError(f"readout={readout!r}: choose one of {READOUTS}")


def double_g(w: torch.Tensor) -> torch.Tensor:
    """A copy of gate weights/biases (..., 4H) with the ``g`` gate's columns doubled."""
    h = w.shape[-1] // 4
    w = w.clone()
    w[..., 2 * h : 3 * h] *= 2
    return w


def lstm_cell_doubled(
    gates: torch.Tensor, c: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lstm_cell` for inference on gates whose ``g`` pre-activation is doubled.

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


def scan_prefixes(seq: torch.Tensor, proj: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
    """Final ``h`` (N, H) of the recurrence over each row of ``seq``, once per distinct prefix.

    ``seq`` (N, S) holds row indices into ``proj`` (U, 4H), the input projections of the
    distinct token ids; ``proj`` and ``w_hh`` have their ``g`` columns doubled (see
    :func:`lstm_cell_doubled`). The state after ``t + 1`` steps depends only on the first
    ``t + 1`` tokens, so step ``t`` runs once per distinct prefix: (prefix id, next token)
    pairs are numbered with :func:`torch.unique` and each new state is computed from its
    parent's. Where parents are much fewer than children, the recurrent product runs once
    per parent and is gathered; otherwise once per child.
    """
    n_ids = proj.shape[0]
    unique, inverse = torch.unique(seq[:, 0], return_inverse=True)
    h, c = lstm_cell_doubled(proj.index_select(0, unique), None)
    for t in range(1, seq.shape[1]):
        unique, inverse = torch.unique(inverse * n_ids + seq[:, t], return_inverse=True)
        parent = torch.div(unique, n_ids, rounding_mode="floor")
        gates = proj.index_select(0, unique - parent * n_ids)
        if 5 * h.shape[0] < 4 * len(unique):
            gates.add_(torch.mm(h, w_hh).index_select(0, parent))
        else:
            gates.addmm_(h.index_select(0, parent), w_hh)
        h, c = lstm_cell_doubled(gates, c.index_select(0, parent))
    return h.index_select(0, inverse)


def _readout_prefixes(ids, table, weights, readout):
    """The ``prefixes=True`` path of :func:`lstm_readout_ids` for one model: ids (B, W).

    ``weights`` is ``(w_ih, w_hh, bias)`` of shapes (2, D, 4H), (2, H, 4H), (2, 4H). Every
    distinct token id is projected once, and each direction's recurrence runs once per
    distinct prefix (:func:`scan_prefixes`).
    """
    b, w = ids.shape
    unique, compact = torch.unique(ids, return_inverse=True)
    x = table[unique]
    w_ih, w_hh, bias = (double_g(weight) for weight in weights)
    if readout == "center":
        k = w // 2
        h_fwd = scan_prefixes(compact[:, : k + 1], torch.addmm(bias[0], x, w_ih[0]), w_hh[0])
        h_bwd = scan_prefixes(
            compact[:, k:].flip(1), torch.addmm(bias[1], x, w_ih[1]), w_hh[1]
        )
        return torch.cat((h_fwd, h_bwd), dim=-1)
    if readout == "last":
        h_fwd = scan_prefixes(compact, torch.addmm(bias[0], x, w_ih[0]), w_hh[0])
        last, inverse = torch.unique(compact[:, -1], return_inverse=True)
        h_bwd, _ = lstm_cell_doubled(torch.addmm(bias[1], x[last], w_ih[1]), None)
        return torch.cat((h_fwd, h_bwd.index_select(0, inverse)), dim=-1)
    raise ValueError(f"readout={readout!r}: choose one of {READOUTS}")
