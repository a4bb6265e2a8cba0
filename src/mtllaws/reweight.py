"""SVD task reweighting during training (Wu, Zhang & Ré 2020, Algorithm 2).

:func:`svd_task_weights` computes one model's task weights from its data (and, at the
``representation`` level, its current parameters); :func:`mtllaws.core.fit` calls it
once before training (``TrainConfig.svd_every = 0``, as in the paper) or every
``svd_every`` epochs, then uses the weights in :func:`mtllaws.core.combine_task_losses`
(``joint``) or as batch frequencies (:func:`mtllaws.core.sequential_plan`,
``sequential``).

The matrix
----------
``F`` holds the features of NER's tokens (the rows task 0 labels): the flattened window
embeddings (``level="input"``, all of NER's rows, never built densely:
:class:`mtllaws.taskspace.WindowMatrix`) or the shared representation (BiLSTM and shared
dense layers, through task 0's input maps) of at most ``probe`` of NER's rows, evenly
spaced (``level="representation"``). When every task labels all of NER's rows (shared
slices), ``θ_t = FcᵀỸ_t`` with ``Ỹ_t`` task ``t``'s centred one-hot labels of those rows
(:func:`mtllaws.taskspace.label_theta`; centred labels make the centring of ``F``
unnecessary). Otherwise (disjoint slices: tasks label different tokens) every task gets
its own ridge model on its own rows (:func:`mtllaws.taskspace.ridge_model`; the
representation through task ``t``'s input maps). The weights are
``w_t = T · a_t / Σ a`` with ``a_t = ‖θ_tᵀU_r‖_F`` (:func:`mtllaws.taskspace.svd_weights`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from mtllaws.models import ModelConfig, encode_ids
from mtllaws.taskspace import WindowMatrix, centred_onehot, ridge_model, svd_weights

__all__ = ["PROBE_TOKENS", "SVD_LEVELS", "probe_rows", "svd_task_weights"]

#: ``TrainConfig.svd_level``: what ``F`` holds.
SVD_LEVELS = ("input", "representation")
#: At most this many rows feed the ``representation`` level.
PROBE_TOKENS = 2000

_MASK = -1


def probe_rows(rows: np.ndarray, limit: int = PROBE_TOKENS) -> np.ndarray:
    """At most ``limit`` of ``rows``, evenly spaced (no random draw; all when fewer)."""
    rows = np.asarray(rows)
    if len(rows) <= limit:
        return rows
    return rows[np.linspace(0, len(rows) - 1, limit).round().astype(np.int64)]


@torch.no_grad()
def _representation(params, ids: np.ndarray, table: torch.Tensor, config: ModelConfig,
                    input_maps, task: int) -> np.ndarray:
    """Shared representation (n, F) of windows ``ids`` through ``task``'s input maps."""
    device = table.device
    win = torch.as_tensor(ids, dtype=torch.int64, device=device)[None]
    z = encode_ids(params, win, table, config, dedup=device.type == "cpu",
                   input_maps=input_maps, task=task)
    return z[0].double().cpu().numpy()


def svd_task_weights(
    config: ModelConfig,
    windows: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    *,
    level: str = "input",
    rank: int | None = None,
    params: Mapping[str, torch.Tensor] | None = None,
    table: torch.Tensor | None = None,
    input_maps: torch.Tensor | None = None,
    probe: int = PROBE_TOKENS,
) -> np.ndarray:
    """One model's SVD task weights (see the module docstring).

    Parameters
    ----------
    config : ModelConfig
        Head sizes ``c_t`` and, at the representation level, the architecture.
    windows : ndarray, shape (N, W), int
    labels : ndarray, shape (N, T), int
        ``MASK = -1`` where a task does not label a row.
    embeddings : ndarray, shape (V, D)
    level : {"input", "representation"}
    rank : int, optional
        ``r`` of the SVD; default ``max_t c_t − 1``.
    params : mapping of str to Tensor, optional
        Representation level: the model's parameters with a model axis of 1
        (:meth:`mtllaws.models.MTLNet.stacked_parameters`, or one model's slice).
    table : Tensor, optional
        Representation level: the embeddings as a tensor on the parameters' device.
    input_maps : Tensor, shape (T, D, D), optional
        Representation level: the fixed per-task maps the model reads its inputs through.
    probe : int
        Representation level: at most this many rows per task.

    Returns
    -------
    ndarray, shape (T,)
        Weights ``>= 0`` summing to ``T``.
    """
    if level not in SVD_LEVELS:
        raise ValueError(f"svd level {level!r}: choose one of {SVD_LEVELS}")
    if level == "representation" and (params is None or table is None):
        raise ValueError("svd_task_weights(level='representation') needs params and table")
    labels = np.asarray(labels)
    counts = config.class_counts
    n_tasks = labels.shape[1]
    ner = np.flatnonzero(labels[:, 0] != _MASK)
    shared = all((labels[ner, t] != _MASK).all() for t in range(1, n_tasks))

    def features(rows: np.ndarray, task: int):
        if level == "input":
            return WindowMatrix(windows[rows], embeddings)
        return _representation(params, windows[rows], table, config, input_maps, task)

    thetas = []
    if shared:
        rows = ner if level == "input" else probe_rows(ner, probe)
        f = features(rows, 0)
        for t in range(n_tasks):
            y = centred_onehot(labels[rows, t], counts[t])
            thetas.append(f.rmatmul(y) if level == "input" else f.T @ y)
    else:
        for t in range(n_tasks):
            rows = np.flatnonzero(labels[:, t] != _MASK)
            if level == "representation":
                rows = probe_rows(rows, probe)
            thetas.append(ridge_model(features(rows, t),
                                      centred_onehot(labels[rows, t], counts[t])))
    return svd_weights(thetas, rank=rank)
