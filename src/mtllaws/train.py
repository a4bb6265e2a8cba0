"""Training and prediction of :class:`~mtllaws.models.MTLNet`: one model at a time.

:func:`train_model` trains one model; it is the core's :func:`mtllaws.core.fit` with
``K = 1`` (the objective, schedules, determinism and checkpoints are described in
:mod:`mtllaws.core`). :func:`predict` labels windows with a trained model. The training
configuration and result types, the mask id, the error and the loss live in
:mod:`mtllaws.core` and are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from mtllaws.core import (
    MASK,
    NonFiniteLossError,
    TrainConfig,
    TrainResult,
    as_tensor,
    check_inputs,
    fit,
    masked_cross_entropy,
)
from mtllaws.models import ModelConfig, MTLNet

__all__ = [
    "MASK",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "masked_cross_entropy",
    "predict",
    "train_model",
]


def train_model(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    windows: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    *,
    seed: int,
    point: str = "",
    checkpoint_path: str | os.PathLike | None = None,
    dev: Callable[[MTLNet], float] | None = None,
    task_weights: Sequence[float] | None = None,
    input_maps=None,
) -> TrainResult:
    """Train an :class:`~mtllaws.models.MTLNet` from scratch (or resume a checkpoint).

    Parameters
    ----------
    model_cfg : ModelConfig
        Architecture; ``n_tasks`` must equal the number of label columns.
    train_cfg : TrainConfig
        Optimisation, schedule, device, checkpointing.
    windows : ndarray, shape (N, W), int
        Vocabulary ids of each row's window (0 = padding).
    labels : ndarray, shape (N, T), int
        Class id per row and task, ``MASK = -1`` where the task does not label the row.
        A 1-D array is taken as a single task.
    embeddings : ndarray, shape (V, D), float
        Frozen word embeddings (row 0 = padding). Looked up per batch.
    seed : int
        Seeds the initial weights and the shuffling.
    point : str
        Name of the grid point, used in error messages.
    checkpoint_path : path, optional
        Checkpoint file (see :mod:`mtllaws.core`); resumed from when it exists.
    dev : callable, optional
        ``dev(model) -> float`` (higher is better) called after every epoch with the model
        in eval mode and gradients off; its scores are returned, and used for early stopping
        when ``train_cfg.early_stopping``.
    task_weights : sequence of float, optional
        Fixed per-task loss weights under the ``joint`` schedule (see
        :func:`mtllaws.core.combine_task_losses`); ``None`` is the plain sum.
    input_maps : array or Tensor, shape (T, D, D), optional
        Fixed per-task maps of the embeddings before the shared BiLSTM (see
        :class:`~mtllaws.models.MTLNet`; kept in the returned model); ``None`` = identity.

    Returns
    -------
    TrainResult

    Raises
    ------
    NonFiniteLossError
        If a step's loss is NaN or infinite.
    ValueError
        On inconsistent inputs or an incompatible checkpoint.
    """
    windows, labels, embeddings = check_inputs(model_cfg, windows, labels, embeddings)
    if train_cfg.early_stopping and dev is None:
        raise ValueError(
            "TrainConfig.early_stopping=True needs a dev callback: pass "
            "dev=lambda model: <dev F1> to train_model"
        )
    (result,) = fit(model_cfg, train_cfg, [(windows, labels)], embeddings, seeds=[seed],
                    points=[point], task_weights=task_weights, input_maps=input_maps,
                    checkpoint_path=checkpoint_path, dev=dev)
    return result


# ----------------------------------------------------------------------------- prediction


def predict(
    model: MTLNet,
    windows: np.ndarray | torch.Tensor,
    embeddings: np.ndarray | torch.Tensor,
    *,
    task: int | None = 0,
    batch_size: int = 16384,
) -> np.ndarray:
    """Predicted class ids of windows.

    The windows are sorted lexicographically and encoded ``batch_size`` at a time with
    :func:`~mtllaws.kernels.lstm_readout_ids` with ``prefixes=True`` (each distinct token
    id projected once, each distinct prefix's recurrent state computed once); predictions
    come back in the input order. A model with per-task ``input_maps`` or alignment maps
    (``ModelConfig.align``) encodes the windows once per task predicted.

    Parameters
    ----------
    model : MTLNet
    windows : array or Tensor, shape (N, W), int
    embeddings : array or Tensor, shape (V, D), float
        Pass tensors already on the model's device to avoid a copy per call.
    task : int or None
        Which task's head; ``None`` predicts every task.
    batch_size : int
        Windows per forward pass (memory grows with it: about ``batch_size * 8H`` floats).

    Returns
    -------
    ndarray, int64
        Shape ``(N,)`` for one task, ``(N, T)`` for ``task=None``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")
    device = model.lstm_w_ih.device
    dtype = model.lstm_w_ih.dtype
    emb = as_tensor(embeddings, dtype, device)
    win = as_tensor(windows, torch.int64, device)
    if win.dim() != 2:
        raise ValueError(f"windows: expected shape (N, W), got {tuple(win.shape)}")
    if task is not None and not 0 <= task < model.config.n_tasks:
        raise ValueError(f"task={task}: this model has tasks 0..{model.config.n_tasks - 1}")
    n = win.shape[0]
    if n == 0:
        shape = (0,) if task is not None else (0, model.config.n_tasks)
        return np.zeros(shape, dtype=np.int64)
    # Lexicographic order (column 0 first): windows sharing a prefix land in one batch.
    host = win.cpu().numpy()
    order = torch.as_tensor(np.lexsort(host.T[::-1]), device=device)
    was_training = model.training
    model.eval()
    out = torch.empty((n,) if task is not None else (n, model.config.n_tasks),
                      dtype=torch.int64, device=device)
    try:
        with torch.inference_mode():
            for a in range(0, n, batch_size):
                rows = order[a : a + batch_size]
                if not model.per_task_inputs:
                    z = model.encode_ids(win[rows], emb, prefixes=True)
                    out[rows] = model.heads(z, task=task).argmax(dim=-1)
                    continue
                # Per-task input maps: every task encodes the windows through its own map.
                for t in [task] if task is not None else range(model.config.n_tasks):
                    z = model.encode_ids(win[rows], emb, prefixes=True, task=t)
                    pred = model.heads(z, task=t).argmax(dim=-1)
                    if task is None:
                        out[rows, t] = pred
                    else:
                        out[rows] = pred
    finally:
        model.train(was_training)
    return out.cpu().numpy()
