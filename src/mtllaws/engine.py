"""Train K models of one architecture at once with stacked weights (multi-model engine).

Every parameter of :class:`~mtllaws.models.MTLNet` gets a leading model axis ``K`` and the
network's products become batched products over it (``bmm``/``baddbmm``; on the CPU the
input projection runs over each model's distinct token ids). Each model keeps what
:func:`mtllaws.train.train_model` gives it: its own data (windows, labels), initial
weights drawn from the same generator (``SeedSequence(seed)``), its own shuffling
generator and Adam state (Adam is elementwise, so one update over the stacked tensors is
K independent updates). The losses of the K models are summed before ``backward``; no
model's gradient depends on another's.

Training itself is :func:`mtllaws.core.fit` (the same loop, forward and loss as
``train_model``, which is that core with ``K = 1``); this module checks the inputs.

Requirement: all models take the same number of steps per epoch with batches of the
same sizes: ``joint`` needs the same ``N_max`` (largest task), ``sequential`` the same
task sizes ``N_t`` -- true for the points of one workflow pack (same T and n). Otherwise
:func:`train_models` raises ``ValueError``. Early stopping and checkpoints are not
supported (use :func:`~mtllaws.train.train_model`).

Equivalence: on the CPU the results equal training the models one by one with
``train_model`` to floating-point tolerance, not bitwise (with ``K > 1`` the distinct
token ids of each model are padded to the largest count and the products are batched
over K, which changes the rounding); the test checks weights and losses within ``1e-5``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtllaws.core import TrainConfig, TrainResult, check_inputs, fit
from mtllaws.models import ModelConfig

__all__ = ["train_models"]


def train_models(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    datasets: Sequence[tuple[np.ndarray, np.ndarray]],
    embeddings: np.ndarray,
    *,
    seeds: Sequence[int],
    points: Sequence[str] | None = None,
    task_weights: Sequence[float] | None = None,
    input_maps=None,
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
    task_weights : sequence of float, optional
        Fixed per-task loss weights shared by the models (joint schedule only; see
        :func:`mtllaws.core.combine_task_losses`).
    input_maps : array or Tensor, shape (T, D, D) or (K, T, D, D), optional
        Fixed per-task maps of the embeddings, shared by the models or one set per model
        (see :class:`~mtllaws.models.MTLNet`); ``None`` = identity.

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
    checked = [check_inputs(model_cfg, w, y, embeddings) for w, y in datasets]
    return fit(model_cfg, train_cfg, [(w, y) for w, y, _ in checked], checked[0][2],
               seeds=seeds, points=points, task_weights=task_weights,
               input_maps=input_maps)
