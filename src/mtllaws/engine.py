"""Train K models of one architecture at once with stacked weights (multi-model engine).

Every parameter of :class:`~mtllaws.models.MTLNet` gets a leading model axis ``K`` and the
network's products become batched products over it (``bmm``/``baddbmm``; on the CPU the
input projection runs over each model's distinct token ids). Each model keeps what
:func:`mtllaws.train.train_model` gives it: its own data (windows, labels), initial
weights drawn from the same generator (``SeedSequence(seed)``), its own shuffling
generator and Adam state (Adam is elementwise, so one update over the stacked tensors is
K independent updates). The losses of the K models are summed before ``backward``; no
model's gradient depends on another's.

Requirement: all models take the same number of steps per epoch with batches of the
same sizes: ``joint`` needs the same ``N_max`` (largest task), ``sequential`` the same
task sizes ``N_t`` -- true for the points of one workflow pack (same T and n). Otherwise
:func:`train_models` raises ``ValueError``. Early stopping and checkpoints are not
supported (use :func:`~mtllaws.train.train_model`).

Equivalence: on the CPU the results equal training the models one by one with
``train_model`` to floating-point tolerance, not bitwise (batched products and a
different de-duplication of token ids change the rounding); the test checks weights and
losses within ``1e-4``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mtllaws.models import ModelConfig, MTLNet, _first_cell, _scan
from mtllaws.train import (
    MASK,
    NonFiniteLossError,
    TrainConfig,
    TrainResult,
    _Adam,
    _check_drop_last,
    _check_inputs,
    _joint_plan,
    _resolve_device,
    _sequential_plan,
    _tensor,
    _torch_settings,
    masked_cross_entropy,
)

__all__ = ["stacked_logits_grouped", "train_models"]


def _project(cols: torch.Tensor, table: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
             dedup: bool) -> torch.Tensor:
    """Input projections (K, S, R, 4H) of the id columns ``cols`` (K, R, S) of K models.

    ``w`` (K, D, 4H) and ``b`` (K, 4H) are one direction's weights. With ``dedup`` each
    model projects the distinct ids of its own batch once (padded to the largest count and
    batched); otherwise every slot is projected.
    """
    k_models, r, s = cols.shape
    flat = cols.transpose(1, 2).reshape(k_models, s * r)
    if not dedup:
        return torch.baddbmm(b.unsqueeze(1), table[flat], w).view(k_models, s, r, -1)
    found = [torch.unique(row, return_inverse=True) for row in flat]
    unique = flat.new_zeros(k_models, max(len(u) for u, _ in found))
    for k, (u, _) in enumerate(found):
        unique[k, : len(u)] = u
    inverse = torch.stack([inv for _, inv in found])
    proj = torch.baddbmm(b.unsqueeze(1), table[unique], w)  # (K, U_max, 4H)
    index = inverse.unsqueeze(-1).expand(-1, -1, proj.shape[-1])
    return torch.gather(proj, 1, index).view(k_models, s, r, -1)


def _encode(params: dict, ids: torch.Tensor, table: torch.Tensor, cfg: ModelConfig):
    """BiLSTM readout + shared layers of K models on their own windows ``ids`` (K, R, W)."""
    k_models, r, w = ids.shape
    w_ih, w_hh, bias = params["lstm_w_ih"], params["lstm_w_hh"], params["lstm_bias"]
    dedup = ids.device.type == "cpu"  # torch.unique synchronises CUDA
    if cfg.readout == "center":
        k = w // 2
        fwd = _project(ids[:, :, : k + 1], table, w_ih[:, 0], bias[:, 0], dedup)
        bwd = _project(ids[:, :, k:].flip(2), table, w_ih[:, 1], bias[:, 1], dedup)
        proj = torch.stack((fwd, bwd), dim=1).flatten(0, 1)  # (2K, S, R, 4H)
        h = _scan(proj, w_hh.flatten(0, 1)).view(k_models, 2, r, -1)
        z = torch.cat((h[:, 0], h[:, 1]), dim=-1)
    else:
        h_fwd = _scan(_project(ids, table, w_ih[:, 0], bias[:, 0], dedup), w_hh[:, 0])
        h_bwd = _first_cell(table[ids[:, :, -1]], w_ih[:, 1], bias[:, 1])
        z = torch.cat((h_fwd, h_bwd), dim=-1)
    relu = cfg.activation == "relu"
    for i in range(cfg.shared_dense):
        z = torch.baddbmm(params[f"shared_b.{i}"].unsqueeze(1), z, params[f"shared_w.{i}"])
        if relu:
            z = torch.relu(z)
    return z


def _task_layers(params: dict, z: torch.Tensor, cfg: ModelConfig, task: int | None):
    """Task layers: ``z`` (K, T, G, d) with every task (``task=None``) or (K, G, d) one task."""
    n_layers = len(cfg.dense) - cfg.shared_dense + 1
    k_models = z.shape[0]
    if task is None:
        t, g = z.shape[1], z.shape[2]
        z = z.reshape(k_models * t, g, -1)
    for i in range(n_layers):
        w, b = params[f"task_w.{i}"], params[f"task_b.{i}"]
        if task is None:
            w, b = w.flatten(0, 1), b.flatten(0, 1)
        else:
            w, b = w[:, task], b[:, task]
        z = torch.baddbmm(b.unsqueeze(1), z, w)
        if i < n_layers - 1 and cfg.activation == "relu":
            z = torch.relu(z)
    return z


def stacked_logits_grouped(params: dict, ids: torch.Tensor, table: torch.Tensor,
                           cfg: ModelConfig) -> torch.Tensor:
    """Logits (K, T, G, c) of K stacked models; group ``t`` of ``ids`` (K, T, G, W) by head t."""
    k_models, t, g, w = ids.shape
    z = _encode(params, ids.reshape(k_models, t * g, w), table, cfg)
    return _task_layers(params, z.view(k_models, t, g, -1), cfg, None).view(k_models, t, g, -1)


def train_models(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    datasets: Sequence[tuple[np.ndarray, np.ndarray]],
    embeddings: np.ndarray,
    *,
    seeds: Sequence[int],
    points: Sequence[str] | None = None,
) -> list[TrainResult]:
    """Train one model per ``(windows, labels)`` dataset, all at once (see module docstring).

    Parameters
    ----------
    model_cfg : ModelConfig
        Shared architecture (``n_tasks`` = label columns of every dataset).
    train_cfg : TrainConfig
        As for :func:`~mtllaws.train.train_model`; ``early_stopping`` and
        ``checkpoint_every`` must be off.
    datasets : sequence of (windows (N_k, W) int, labels (N_k, T) int)
        One per model; ``MASK = -1`` where a task does not label a row.
    embeddings : ndarray, shape (V, D)
        Frozen embedding matrix shared by all models.
    seeds : sequence of int
        One per model: the ``seed`` that ``train_model`` would get.
    points : sequence of str, optional
        Grid point names for error messages.

    Returns
    -------
    list of TrainResult
        In the order of ``datasets``; each ``model`` is an :class:`MTLNet` in eval mode.

    Raises
    ------
    ValueError
        Unequal steps per epoch across models, unsupported options, bad inputs.
    NonFiniteLossError
        If a model's step loss is NaN or infinite (names that model's point).
    """
    k_models = len(datasets)
    if k_models == 0:
        raise ValueError("train_models: datasets is empty; pass one (windows, labels) per model")
    if len(seeds) != k_models:
        raise ValueError(f"train_models: {len(seeds)} seeds for {k_models} datasets")
    points = list(points) if points is not None else [f"model {i}" for i in range(k_models)]
    if len(points) != k_models:
        raise ValueError(f"train_models: {len(points)} points for {k_models} datasets")
    if train_cfg.early_stopping or train_cfg.checkpoint_every:
        raise ValueError(
            "train_models supports neither early_stopping nor checkpoint_every: "
            "use mtllaws.train.train_model for those runs"
        )
    checked = [_check_inputs(model_cfg, w, y, embeddings) for w, y in datasets]
    embeddings = checked[0][2]
    sizes = [[int((y[:, t] != MASK).sum()) for t in range(y.shape[1])] for _, y, _ in checked]
    if train_cfg.schedule == "joint":
        key = [max(s) for s in sizes]
        what = "the largest task size N_max (joint schedule)"
    else:
        key = [tuple(s) for s in sizes]
        what = "the task sizes N_t (sequential schedule)"
    if len(set(key)) != 1:
        raise ValueError(
            f"train_models needs equal {what} for every model, got {key}: train models of "
            "different sizes separately (mtllaws.train.train_model) or group them by size"
        )
    _check_drop_last(train_cfg, max(sizes[0]))
    device = _resolve_device(train_cfg.device)
    with _torch_settings(train_cfg, device):
        return _train(model_cfg, train_cfg, checked, sizes, seeds, points, device)


def _train(model_cfg, cfg, checked, sizes, seeds, points, device) -> list[TrainResult]:
    k_models = len(checked)
    nets, shuffles = [], []
    for seed in seeds:
        init_seed, shuffle_seed = np.random.SeedSequence(int(seed)).generate_state(2)
        nets.append(MTLNet(model_cfg, generator=torch.Generator().manual_seed(int(init_seed))))
        shuffles.append(torch.Generator().manual_seed(int(shuffle_seed)))
    names = [name for name, _ in nets[0].named_parameters()]
    params = {
        name: torch.stack([dict(n.named_parameters())[name].detach() for n in nets])
        .to(device).requires_grad_(True)
        for name in names
    }
    optimizer = _Adam([params[n] for n in names], lr=cfg.lr)

    table = _tensor(checked[0][2], torch.float32, device)
    offsets = np.cumsum([0] + [len(w) for w, _, _ in checked])
    win = _tensor(np.concatenate([w for w, _, _ in checked]), torch.int64, device)
    rows, targets = [], []  # rows[k][t]: global row ids of model k's task t
    for k, (_, labels, _) in enumerate(checked):
        r_k, y_k = [], []
        for t in range(labels.shape[1]):
            r = np.flatnonzero(labels[:, t] != MASK)
            r_k.append(torch.as_tensor(r + offsets[k], dtype=torch.int64).to(device))
            y_k.append(torch.as_tensor(labels[r, t], dtype=torch.int64).to(device))
        rows.append(r_k)
        targets.append(y_k)
    n_tasks = model_cfg.n_tasks

    losses: list[list[float]] = [[] for _ in range(k_models)]
    check_each_step = device.type == "cpu"
    for epoch in range(cfg.epochs):
        if cfg.schedule == "joint":
            idx, tgt = [], []
            for k in range(k_models):
                pos, slices = _joint_plan(shuffles[k], sizes[k], cfg.batch_size, cfg.drop_last)
                pos = pos.to(device)
                idx.append(torch.stack([rows[k][t][pos[t]] for t in range(n_tasks)]))
                tgt.append(torch.stack([targets[k][t][pos[t]] for t in range(n_tasks)]))
            idx, tgt = torch.stack(idx), torch.stack(tgt)  # (K, T, L)
            steps = [(None, idx[:, :, a:b], tgt[:, :, a:b]) for a, b in slices]
        else:
            plans = [_sequential_plan(shuffles[k], sizes[k], cfg.batch_size, cfg.drop_last)
                     for k in range(k_models)]
            steps = []
            for s in range(len(plans[0])):
                task = plans[0][s][0]
                p = [plans[k][s][1].to(device) for k in range(k_models)]
                steps.append((task, torch.stack([rows[k][task][p[k]] for k in range(k_models)]),
                              torch.stack([targets[k][task][p[k]] for k in range(k_models)])))
        step_losses = torch.empty(len(steps), k_models, device=device)
        for s, (task, idx, tgt) in enumerate(steps):
            if task is None:
                logits = stacked_logits_grouped(params, win[idx], table, model_cfg)
                loss = masked_cross_entropy(logits.flatten(0, 1), tgt.flatten(0, 1))
                loss = loss.view(k_models, n_tasks).sum(dim=1)
            else:
                z = _encode(params, win[idx], table, model_cfg)
                logits = _task_layers(params, z, model_cfg, task)
                loss = masked_cross_entropy(logits, tgt)
            if check_each_step:
                values = loss.detach()
                if not torch.isfinite(values).all():
                    k = int(torch.nonzero(~torch.isfinite(values))[0, 0])
                    raise NonFiniteLossError(point=points[k], epoch=epoch + 1, step=s + 1,
                                             loss=float(values[k]))
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            step_losses[s] = loss.detach()
        values = step_losses.cpu()
        bad = torch.nonzero(~torch.isfinite(values))
        if len(bad):
            s, k = int(bad[0, 0]), int(bad[0, 1])
            raise NonFiniteLossError(point=points[k], epoch=epoch + 1, step=s + 1,
                                     loss=float(values[s, k]))
        for k in range(k_models):
            losses[k].append(float(values[:, k].double().mean()))

    results = []
    with torch.no_grad():
        for k, net in enumerate(nets):
            net.to(device)
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
            net.eval()
            results.append(TrainResult(model=net, losses=losses[k]))
    return results
