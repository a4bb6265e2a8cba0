"""The training core: K >= 1 models of one architecture, schedules, loss, Adam, checkpoints.

:func:`fit` is the one training loop. :func:`mtllaws.train.train_model` calls it with one
model (``K = 1``), :func:`mtllaws.engine.train_models` with several (their parameters
stacked on a leading model axis, every product batched over it). Both share the batch
plans (:func:`joint_plan`, :func:`sequential_plan`), the forward pass
(:func:`mtllaws.models.logits_grouped`, :func:`mtllaws.models.logits_task`), the one place
where task losses are combined (:func:`combine_task_losses`), the Adam update
(:class:`Adam`), the non-finite-loss check, the ``drop_last`` check, checkpoints and the
torch settings (:func:`torch_settings`).

Objective
---------
Adam (PyTorch defaults, ``lr`` from the config) on cross-entropy. The loss of task
``t`` on a batch is the **mean cross-entropy over the batch rows that task t labels**
(rows whose label is ``MASK = -1`` are excluded from numerator and denominator; a task
with no labelled row in the batch contributes 0). A step's loss is the **sum** of the
task losses it contains (:func:`combine_task_losses`; fixed per-task weights can
replace the plain sum under ``joint``). Missing labels are never guessed.

Tasks may have their own head sizes (``ModelConfig.n_classes`` one per task, e.g. NER 5,
POS 45): task ``t``'s labels must lie in ``[0, c_t)`` (:func:`check_inputs` names the task
otherwise), its softmax runs over its own ``c_t`` classes (the joint step's logits are
``-inf`` in the columns a smaller head lacks, :func:`mtllaws.models.padded_class_mask`;
a sequential step computes task ``t``'s ``c_t`` columns only).

Schedules
---------
Task ``t``'s rows are those with ``labels[:, t] != MASK``; ``N_t`` is their number.

``"joint"`` (the paper's text)
    Every step draws one batch per task and back-propagates the sum of the ``T`` task
    losses (the ``T`` batches share one BiLSTM pass; task ``t``'s batch is read by task
    ``t``'s head only). An **epoch** is one pass over the largest task: every task
    contributes ``N_max = max_t N_t`` rows per epoch, in ``ceil(N_max / B)`` steps (the
    last one smaller when ``B`` does not divide ``N_max``). The largest task is one random
    permutation of its rows; smaller tasks cycle through fresh random permutations and
    the rest of the last cycle is dropped at the end of the epoch. With balanced tasks
    (all ``N_t`` equal) every epoch is exactly one pass over every task.
``"sequential"`` (the published code)
    Every epoch runs over task 0's batches (a fresh permutation of its rows), then task
    1's, and so on; each step back-propagates one task's loss.

``drop_last=True`` drops incomplete batches (as the published code's ``DataLoader`` did):
joint epochs then have ``floor(N_max / B)`` full steps.

All task heads are slices of stacked parameters, so in both schedules a head that is not
in the current loss gets a zero gradient and Adam still moves it with its running
moments -- as in the published code, whose per-step graph contained every head.

Determinism
-----------
Initial weights come from a ``torch.Generator`` and shuffling from a second one (both
derived from ``seed`` by :class:`numpy.random.SeedSequence`); permutations are drawn on
the CPU, so the batch order does not depend on the device. No global RNG is used. On the
CPU the same data, config, seed and thread count give bitwise-identical weights.

Checkpoints
-----------
With ``checkpoint_path`` and ``checkpoint_every = k > 0`` the model, optimiser, shuffling
RNG state, per-epoch losses and early-stopping state are written atomically
(:func:`mtllaws.atomic.atomic_write`) every ``k`` epochs and when training ends. If the
file exists when :func:`fit` (``K = 1``) starts, training resumes from it (after
checking that it was written for the same data, seed and configuration); the result
equals an uninterrupted run bitwise on the CPU.

Several models
--------------
With ``K > 1`` every model keeps what ``K = 1`` gives it: its own data, initial weights
and shuffling generator from its own seed, its own Adam state (Adam is elementwise, so
one update over the stacked tensors is K independent updates). The K losses are summed
before ``backward``; no model's gradient depends on another's. All models must take the
same steps per epoch with batches of the same sizes. Early stopping and checkpoints are
for ``K = 1`` only.

Hooks for other objectives
--------------------------
``task_weights`` (fixed, ``joint`` only) multiply the task losses in
:func:`combine_task_losses`; a task with weight 0 from the start never gets a gradient,
so its head keeps its initial weights (Adam's moments stay 0). ``input_maps`` (T, D, D)
send task ``t``'s embeddings through a fixed map ``M_t`` before the shared BiLSTM
(:func:`mtllaws.models.mapped_input_weights`).

Issue 18 (Wu, Zhang & Ré 2020): the alignment maps of ``ModelConfig.align`` train with
everything (``align_phase="joint"``) or, with ``align_phase="frozen"``, in
``align_epochs`` extra epochs in which the BiLSTM and the shared dense layers get no
gradient (only the alignment maps and the task layers train; with ``align="none"``
the heads only: the control run). ``TrainConfig.task_weights="svd"`` computes each
model's Algorithm 2 weights (:func:`mtllaws.reweight.svd_task_weights`) before training
or every ``svd_every`` epochs; under ``joint`` they go to :func:`combine_task_losses`,
under ``sequential`` to :func:`sequential_plan` (task ``t`` gets ``round(w_t · b_t)``
batches). They are kept in the checkpoint and returned in ``TrainResult.task_weights``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mtllaws.atomic import atomic_write
from mtllaws.models import ModelConfig, MTLNet, check_input_maps, logits_grouped, logits_task

__all__ = [
    "ALIGN_PHASES",
    "CHECKPOINT_FORMAT",
    "MASK",
    "SCHEDULES",
    "TASK_WEIGHTINGS",
    "Adam",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "as_tensor",
    "check_drop_last",
    "check_inputs",
    "check_task_weights",
    "combine_task_losses",
    "fingerprint",
    "fit",
    "joint_plan",
    "masked_cross_entropy",
    "resolve_device",
    "sequential_plan",
    "torch_settings",
]

#: Label id of a token that a task does not label.
MASK = -1

#: The task schedules (see the module docstring).
SCHEDULES = ("joint", "sequential")
#: ``TrainConfig.align_phase``: R trained with everything, or Algorithm 1's extra phase.
ALIGN_PHASES = ("joint", "frozen")
#: ``TrainConfig.task_weights``: plain sum, or SVD task reweighting (:mod:`mtllaws.reweight`).
TASK_WEIGHTINGS = ("none", "svd")
#: Parameters frozen in the ``frozen`` align phase: the BiLSTM and the shared dense layers.
_SHARED_PREFIXES = ("lstm_", "shared_")
#: Version of the checkpoint layout; a checkpoint of another version is refused.
CHECKPOINT_FORMAT = 1


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite; no result is written.

    Attributes
    ----------
    point : str
        The grid point (run identifier) passed to :func:`train_model`.
    epoch, step : int
        1-based epoch and step within the epoch where the loss first became non-finite.
    loss : float
        The offending loss value.
    """

    def __init__(self, *, point: str, epoch: int, step: int, loss: float):
        self.point, self.epoch, self.step, self.loss = point, epoch, step, loss
        super().__init__(
            f"non-finite training loss ({loss}) at grid point {point!r}, epoch {epoch}, "
            f"step {step}: lower TrainConfig.lr or check the embeddings and labels of this "
            "point; no result was written"
        )


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train an :class:`~mtllaws.models.MTLNet`.

    Parameters
    ----------
    epochs : int
        Number of epochs (see the module docstring for what an epoch is).
    batch_size : int
        Rows per task per step.
    schedule : {"joint", "sequential"}
        Task schedule.
    lr : float
        Adam learning rate (other Adam parameters are PyTorch's defaults).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    tf32 : bool
        Allow TF32 matrix products on CUDA (ignored on the CPU).
    threads : int
        ``torch.set_num_threads`` while training (restored afterwards).
    early_stopping : bool
        Stop when the dev score has not improved for ``patience`` epochs and return the
        best epoch's weights; needs the ``dev`` callback of :func:`train_model`.
    patience : int
        Epochs without improvement before stopping.
    checkpoint_every : int
        Write a checkpoint every this many epochs (0 = never).
    drop_last : bool
        Drop incomplete batches (the published code did).
    align_phase : {"joint", "frozen"}
        ``"joint"``: alignment maps (``ModelConfig.align``) train with everything else.
        ``"frozen"`` (Wu, Zhang & Ré's Algorithm 1): after the ``epochs`` normal epochs,
        ``align_epochs`` more epochs train only the alignment maps and the task-specific
        layers (BiLSTM and shared dense layers frozen). With ``align="none"`` the same
        extra epochs train the task-specific layers only: the control run.
    align_epochs : int
        Epochs of the ``frozen`` phase (``>= 1`` with ``frozen``, 0 otherwise).
    task_weights : {"none", "svd"}
        ``"svd"``: Algorithm 2's task weights (:func:`mtllaws.reweight.svd_task_weights`)
        multiply the task losses (``joint``) or set how many batches each task gets per
        epoch (``sequential``: ``round(w_t · batches_t)``).
    svd_rank : int or None
        Rank ``r`` of the SVD; ``None`` = ``max_t c_t − 1``.
    svd_every : int
        0: compute the weights once before training (the paper); ``k``: recompute them
        at the start of every ``k``-th epoch.
    svd_level : {"input", "representation"}
        Features ``F``: flattened window embeddings, or the model's current shared
        representation on at most 2000 probe tokens.
    """

    epochs: int = 100
    batch_size: int = 100
    schedule: str = "joint"
    lr: float = 1e-3
    device: str = "cpu"
    tf32: bool = False
    threads: int = 1
    early_stopping: bool = False
    patience: int = 5
    checkpoint_every: int = 0
    drop_last: bool = False
    align_phase: str = "joint"
    align_epochs: int = 0
    task_weights: str = "none"
    svd_rank: int | None = None
    svd_every: int = 0
    svd_level: str = "input"

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 1), ("threads", 1), ("patience", 1),
                          ("checkpoint_every", 0), ("align_epochs", 0), ("svd_every", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"TrainConfig.{name}={value!r}: must be an integer >= {low}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule={self.schedule!r}: choose one of {SCHEDULES}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr={self.lr!r}: must be a positive finite number")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(
                f"TrainConfig.device={self.device!r}: use 'cpu', 'cuda' or 'cuda:N'"
            )
        from mtllaws.reweight import SVD_LEVELS

        for name, allowed in (("align_phase", ALIGN_PHASES), ("task_weights", TASK_WEIGHTINGS),
                              ("svd_level", SVD_LEVELS)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"TrainConfig.{name}={getattr(self, name)!r}: choose one of {allowed}"
                )
        if self.align_phase == "frozen" and self.align_epochs < 1:
            raise ValueError(
                "TrainConfig.align_phase='frozen' with align_epochs=0: set align_epochs >= 1 "
                "(the epochs that train only the alignment maps and heads)"
            )
        if self.align_phase != "frozen" and self.align_epochs:
            raise ValueError(
                f"TrainConfig.align_epochs={self.align_epochs} needs align_phase='frozen': set "
                "align_phase='frozen' or align_epochs=0"
            )
        if self.align_phase == "frozen" and self.early_stopping:
            raise ValueError(
                "TrainConfig.align_phase='frozen' cannot be combined with early_stopping: set "
                "early_stopping=False or align_phase='joint'"
            )
        if self.svd_rank is not None and (isinstance(self.svd_rank, bool)
                                          or not isinstance(self.svd_rank, int)
                                          or self.svd_rank < 1):
            raise ValueError(
                f"TrainConfig.svd_rank={self.svd_rank!r}: must be an integer >= 1, or None "
                "for c - 1"
            )

    @property
    def total_epochs(self) -> int:
        """``epochs`` plus the ``frozen`` phase's ``align_epochs``."""
        return self.epochs + self.align_epochs


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    model : MTLNet
        The trained model (in eval mode, on the training device); with early stopping,
        the weights of the best dev epoch.
    losses : list of float
        Per epoch, the mean over its steps of the step loss (sum of task losses).
    dev_scores : list of float
        Per epoch, the ``dev`` callback's score (empty without a callback).
    best_epoch : int or None
        1-based epoch whose weights were returned under early stopping, else ``None``.
    resumed_epoch : int
        Epochs already done in the checkpoint training resumed from (0 = fresh start).
    task_weights : list of float or None
        The task weights in use at the end of training (``TrainConfig.task_weights="svd"``
        or fixed ``task_weights``); ``None`` for the plain sum.
    """

    model: MTLNet
    losses: list[float]
    dev_scores: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    resumed_epoch: int = 0
    task_weights: list[float] | None = None


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-task mean cross-entropy over the labelled rows.

    Parameters
    ----------
    logits : Tensor, shape (T, G, c)
        With head sizes that differ, ``c = c_max`` and a smaller head's missing columns
        hold ``-inf`` (they take no probability and pass no gradient).
    targets : Tensor, shape (T, G), int64
        Class ids, ``MASK`` where the row is not labelled for that task.

    Returns
    -------
    Tensor, shape (T,)
        Task ``t``: mean over ``g`` with ``targets[t, g] != MASK`` of the cross-entropy;
        0 if task ``t`` has no labelled row. Masked rows do not affect value or gradient.
    """
    t, g, c = logits.shape
    per_row = F.cross_entropy(
        logits.reshape(t * g, c), targets.reshape(t * g), ignore_index=MASK, reduction="none"
    ).view(t, g)
    count = (targets != MASK).sum(dim=1).clamp_min(1)
    return per_row.sum(dim=1) / count


class Adam:
    """Adam with PyTorch's arithmetic and defaults (betas 0.9/0.999, eps 1e-8).

    ``torch.optim.Adam`` imports ``torch._dynamo`` when constructed (seconds per process),
    so the update is issued directly: by default one fused kernel over all parameters
    (``torch._fused_adam_``, what ``torch.optim.Adam(fused=True)`` calls), else
    (``fused=False`` or no fused kernel) a loop with the arithmetic of
    ``torch.optim.Adam(foreach=False)``. Parameters without a gradient are skipped and
    keep their own step count, as in PyTorch.
    """

    def __init__(self, params, *, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 fused: bool = True):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = float(lr), tuple(betas), float(eps)
        self.fused = fused and hasattr(torch, "_fused_adam_")
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device)
                      for p in self.params]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        if self.fused:
            steps = [self.steps[i] for i in live]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                [self.params[i] for i in live], [self.params[i].grad for i in live],
                [self.exp_avg[i] for i in live], [self.exp_avg_sq[i] for i in live], [],
                steps, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False,
            )
            return
        beta1, beta2 = self.betas
        for i in live:
            p, grad = self.params[i], self.params[i].grad
            self.steps[i] += 1
            step = float(self.steps[i])
            m, v = self.exp_avg[i], self.exp_avg_sq[i]
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1**step
            bias_correction2_sqrt = math.sqrt(1 - beta2**step)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / bias_correction1)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        if len(state["steps"]) != len(self.params):
            raise ValueError("optimiser state does not match the model's parameters")
        for mine, saved in zip(self.steps + self.exp_avg + self.exp_avg_sq,
                               [*state["steps"], *state["exp_avg"], *state["exp_avg_sq"]],
                               strict=True):
            mine.copy_(saved)


# ----------------------------------------------------------------------------- validation


def check_inputs(
    model_cfg: ModelConfig, windows: np.ndarray, labels: np.ndarray, embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check one model's training data against its architecture; return it as arrays.

    Parameters
    ----------
    model_cfg : ModelConfig
    windows : array, shape (N, W), int
    labels : array, shape (N, T) or (N,), int
        Task ``t``'s column in ``[0, c_t)`` (``model_cfg.class_counts``) or ``MASK``.
    embeddings : array, shape (V, D), float

    Returns
    -------
    tuple of ndarray
        ``(windows, labels (N, T), embeddings)``.

    Raises
    ------
    ValueError
        Naming the input and the fix (a task's label beyond its head size names the task).
    """
    windows = np.asarray(windows)
    labels = np.asarray(labels)
    embeddings = np.asarray(embeddings)
    if windows.ndim != 2 or not np.issubdtype(windows.dtype, np.integer):
        raise ValueError(
            f"windows: expected an integer array (N, W), got {windows.dtype} {windows.shape}"
        )
    if windows.shape[1] != model_cfg.window:
        raise ValueError(
            f"windows have width {windows.shape[1]} but ModelConfig.window={model_cfg.window}: "
            "build the windows with the same k or set window=2k+1"
        )
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels: expected an integer array (N, T) with MASK=-1, got {labels.dtype} "
            f"{labels.shape}"
        )
    if labels.shape[0] != windows.shape[0]:
        raise ValueError(
            f"labels have {labels.shape[0]} rows but windows have {windows.shape[0]}: "
            "pass one label row per window"
        )
    if labels.shape[1] != model_cfg.n_tasks:
        raise ValueError(
            f"labels have {labels.shape[1]} task columns but ModelConfig.n_tasks="
            f"{model_cfg.n_tasks}: set n_tasks to the number of label columns"
        )
    if labels.size:
        counts = model_cfg.class_counts
        low, high = labels.min(axis=0), labels.max(axis=0)
        for t, c in enumerate(counts):
            if low[t] < MASK or high[t] >= c:
                what = "task 0 (NER)" if t == 0 else f"task {t}"
                fix = ("fix the labels or n_classes" if isinstance(model_cfg.n_classes, int)
                       else f"fix the labels or n_classes[{t}] (head sizes {list(counts)})")
                raise ValueError(
                    f"labels of {what} (column {t}) must lie in [0, n_classes={c}) or be "
                    f"MASK={MASK}; found values in [{low[t]}, {high[t]}]: {fix}; every task "
                    "may have its own head size, e.g. ModelConfig(n_classes=(5, 45))"
                )
    empty = [t for t in range(labels.shape[1]) if not (labels[:, t] != MASK).any()]
    if empty:
        raise ValueError(f"labels: task column(s) {empty} label no row; every task needs data")
    if embeddings.ndim != 2 or embeddings.shape[1] != model_cfg.emb_dim:
        raise ValueError(
            f"embeddings have shape {embeddings.shape}; expected (V, emb_dim="
            f"{model_cfg.emb_dim}): set ModelConfig.emb_dim to the embedding dimension"
        )
    if windows.size and (windows.min() < 0 or windows.max() >= embeddings.shape[0]):
        raise ValueError(
            f"windows hold ids in [{windows.min()}, {windows.max()}] but the embedding matrix "
            f"has {embeddings.shape[0]} rows: use the vocabulary the embeddings were built for"
        )
    finite = np.isfinite(embeddings).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"embeddings row {int(np.flatnonzero(~finite)[0])} is not finite: rebuild the "
            "embedding matrix"
        )
    return windows, labels, embeddings


def as_tensor(a, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``a`` (array or tensor) as a tensor of ``dtype`` on ``device``; no copy when it is one.

    Read-only arrays (e.g. memory-mapped caches) are copied rather than wrapped, which
    torch would warn about, and so are arrays with negative strides (e.g. ``a[::-1]``),
    which torch cannot wrap.
    """
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype)
    a = np.asarray(a)
    if not a.flags.writeable or any(step < 0 for step in a.strides):
        a = np.array(a)
    return torch.from_numpy(a).to(device=device, dtype=dtype)


def resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"TrainConfig.device={name!r} but CUDA is not available on this machine: "
            "use device='cpu'"
        )
    return device


def fingerprint(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    seed: int,
    arrays: tuple[np.ndarray, ...],
) -> dict:
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.data)
    return {
        "model": model_cfg.to_dict(),
        "train": {
            k: v
            for k, v in asdict(train_cfg).items()
            if k in ("batch_size", "schedule", "lr", "early_stopping", "patience", "drop_last")
            or (k in _NEW_TRAIN_KEYS and v != _NEW_TRAIN_KEYS[k])
        },
        "seed": int(seed),
        "data": digest.hexdigest(),
    }


#: Training keys added after checkpoints existed: fingerprinted only when not default,
#: so an older checkpoint of a default run still resumes.
_NEW_TRAIN_KEYS = {"align_phase": "joint", "align_epochs": 0, "task_weights": "none",
                   "svd_rank": None, "svd_every": 0, "svd_level": "input"}


# ----------------------------------------------------------------------------- schedules


def joint_plan(
    g: torch.Generator, sizes: list[int], batch: int, drop_last: bool
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Positions (T, L) into each task's rows and the step slices of one joint epoch."""
    n_max = max(sizes)
    n_steps = n_max // batch if drop_last else -(-n_max // batch)
    length = n_steps * batch if drop_last else n_max
    pos = []
    for n in sizes:
        reps = -(-length // n)
        pos.append(torch.cat([torch.randperm(n, generator=g) for _ in range(reps)])[:length])
    slices = [(s * batch, min((s + 1) * batch, length)) for s in range(n_steps)]
    return torch.stack(pos), slices


def sequential_plan(
    g: torch.Generator, sizes: list[int], batch: int, drop_last: bool,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, torch.Tensor]]:
    """(task, positions into that task's rows) for every step of one sequential epoch.

    Task ``t`` (in task order) takes the batches of a fresh permutation of its rows.
    With ``weights`` it takes ``round(w_t · b_t)`` batches instead of its ``b_t``, drawn
    from as many fresh permutations as needed (``w_t = 1`` draws exactly the plan
    without weights; ``w_t = 0`` skips the task).
    """
    steps = []
    for t, n in enumerate(sizes):
        stop = (n // batch) * batch if drop_last else n
        batches = range(0, stop, batch)
        want = len(batches) if weights is None else int(round(weights[t] * len(batches)))
        taken = 0
        while True:  # one permutation always, as the plan without weights draws
            perm = torch.randperm(n, generator=g)
            for s in batches[: want - taken]:
                steps.append((t, perm[s : min(s + batch, stop)]))
            taken = min(want, taken + len(batches))
            if taken >= want:
                break
    return steps


# ----------------------------------------------------------------------------- training


@contextlib.contextmanager
def torch_settings(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply ``cfg.threads`` (and ``cfg.tf32`` on CUDA) for the block; restore them after."""
    prev_threads = torch.get_num_threads()
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32 if device.type == "cuda" else None
    torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        if prev_tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = prev_tf32


def check_drop_last(cfg: TrainConfig, largest: int) -> None:
    """Refuse ``drop_last`` when the largest task has fewer rows than one batch."""
    if cfg.drop_last and largest < cfg.batch_size:
        raise ValueError(
            f"drop_last=True with batch_size={cfg.batch_size} but the largest task has only "
            f"{largest} rows: no step would run; lower batch_size or set drop_last=False"
        )


def combine_task_losses(losses: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """A step's loss from its task losses: the one place where task losses are combined.

    Parameters
    ----------
    losses : Tensor, shape (..., T)
        Per-task losses (:func:`masked_cross_entropy`), e.g. ``(K, T)`` for K models.
    weights : Tensor, shape (T,) or (..., T), optional
        Per-task weights (fixed, or each model's SVD weights ``(K, T)``); ``None`` is the
        plain sum (every weight 1).

    Returns
    -------
    Tensor, shape (...)
        ``sum_t weights[t] * losses[..., t]``.
    """
    if weights is None:
        return losses.sum(dim=-1)
    return (losses * weights).sum(dim=-1)


def check_task_weights(cfg: TrainConfig, weights, n_tasks: int) -> tuple[float, ...] | None:
    """Validate fixed per-task loss weights (``None`` = the plain sum of task losses).

    Parameters
    ----------
    cfg : TrainConfig
        Weights apply to the ``joint`` schedule only, whose steps hold every task's loss;
        a ``sequential`` step holds one task's loss, which a fixed weight would only rescale
        (a learning-rate change per task), so that combination is refused.
    weights : sequence of float or None
        One finite weight ``>= 0`` per task, not all zero.
    n_tasks : int
        ``T``.

    Returns
    -------
    tuple of float or None
    """
    if weights is None:
        return None
    values = tuple(float(w) for w in np.asarray(weights, dtype=np.float64).reshape(-1))
    if len(values) != n_tasks:
        raise ValueError(
            f"task_weights has {len(values)} values for n_tasks={n_tasks}: pass one weight "
            "per task (task 0 = NER first)"
        )
    if not all(math.isfinite(w) and w >= 0 for w in values) or not any(values):
        raise ValueError(
            f"task_weights={list(values)}: every weight must be finite and >= 0, and one > 0"
        )
    if cfg.schedule != "joint":
        raise ValueError(
            f"task_weights={list(values)} with schedule={cfg.schedule!r}: fixed task weights "
            "combine the task losses of a joint step; use TrainConfig(schedule='joint') or "
            "leave task_weights=None"
        )
    return values


# ----------------------------------------------------------------------------- the core


def fit(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    datasets: Sequence[tuple[np.ndarray, np.ndarray]],
    embeddings: np.ndarray,
    *,
    seeds: Sequence[int],
    points: Sequence[str],
    task_weights: Sequence[float] | None = None,
    input_maps=None,
    checkpoint_path: str | os.PathLike | None = None,
    dev: Callable[[MTLNet], float] | None = None,
) -> list[TrainResult]:
    """Train K >= 1 models of one architecture, each on its own data (the training core).

    ``K = 1`` is :func:`mtllaws.train.train_model`; ``K > 1`` is the multi-model engine
    (:func:`mtllaws.engine.train_models`): the parameters get a leading model axis and
    every product is batched over it. Both run the same batch plans, the same forward
    (:func:`mtllaws.models.logits_grouped` / :func:`~mtllaws.models.logits_task`), the
    same loss (:func:`combine_task_losses`), Adam update and non-finite check. With
    ``K = 1`` the model's own parameters are trained (seen with a leading axis of 1), so
    checkpoints hold an ordinary :class:`MTLNet` state.

    Parameters
    ----------
    model_cfg : ModelConfig
        Architecture of every model.
    cfg : TrainConfig
        Optimisation, schedule, device.
    datasets : sequence of (windows (N_k, W) int, labels (N_k, T) int)
        One per model, already checked by :func:`check_inputs`. With ``K > 1`` every
        model must take the same steps: equal ``N_max`` (joint) or ``N_t`` (sequential).
    embeddings : ndarray, shape (V, D)
        Frozen embedding matrix shared by the models.
    seeds : sequence of int
        One per model: initial weights and shuffling (``SeedSequence(seed)``).
    points : sequence of str
        One per model: grid point names for error messages.
    task_weights : sequence of float, optional
        Fixed per-task loss weights (:func:`check_task_weights`); ``None`` = plain sum.
    input_maps : array or Tensor, shape (T, D, D) or (K, T, D, D), optional
        Fixed per-task maps of the embeddings before the shared BiLSTM (see
        :class:`~mtllaws.models.MTLNet`); ``None`` = identity. ``(T, D, D)``: every
        model gets them; ``(K, T, D, D)``: model ``k`` gets ``input_maps[k]``.
    checkpoint_path : path, optional
        ``K = 1`` only: checkpoint file (see the module docstring).
    dev : callable, optional
        ``K = 1`` only: ``dev(model) -> float`` after every epoch (early stopping).

    Returns
    -------
    list of TrainResult
        In the order of ``datasets``, models in eval mode.

    Raises
    ------
    ValueError
        Unequal steps per epoch, options not available for ``K > 1``, bad weights.
    NonFiniteLossError
        If a model's step loss is NaN or infinite (names that model's point).
    """
    k_models = len(datasets)
    if k_models == 0:
        raise ValueError("fit: datasets is empty; pass one (windows, labels) per model")
    if len(seeds) != k_models or len(points) != k_models:
        raise ValueError(
            f"fit: {len(seeds)} seeds and {len(points)} points for {k_models} datasets"
        )
    if k_models > 1 and (cfg.early_stopping or cfg.checkpoint_every
                         or checkpoint_path is not None or dev is not None):
        raise ValueError(
            "training several models at once supports neither early_stopping, dev nor "
            "checkpoints: use mtllaws.train.train_model for those runs"
        )
    weights = check_task_weights(cfg, task_weights, model_cfg.n_tasks)
    if weights is not None and cfg.task_weights != "none":
        raise ValueError(
            f"fixed task_weights={list(weights)} and TrainConfig.task_weights="
            f"{cfg.task_weights!r}: pass one or the other"
        )
    if cfg.task_weights == "svd" and cfg.schedule == "sequential" and k_models > 1:
        raise ValueError(
            "TrainConfig.task_weights='svd' under the sequential schedule sets each model's "
            "batch plan from its own weights, so models cannot be stacked: train them one "
            "by one (mtllaws.train.train_model, train.multi_model: false) or use "
            "schedule='joint'"
        )
    maps = _check_model_maps(input_maps, model_cfg, k_models)
    sizes = [[int((y[:, t] != MASK).sum()) for t in range(y.shape[1])] for _, y in datasets]
    if k_models > 1:
        if cfg.schedule == "joint":
            key = [max(s) for s in sizes]
            what = "the largest task size N_max (joint schedule)"
        else:
            key = [tuple(s) for s in sizes]
            what = "the task sizes N_t (sequential schedule)"
        if len(set(key)) != 1:
            raise ValueError(
                f"train_models needs equal {what} for every model, got {key}: train models "
                "of different sizes separately (mtllaws.train.train_model) or group them by "
                "size"
            )
    device = resolve_device(cfg.device)
    check_drop_last(cfg, max(sizes[0]))
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    with torch_settings(cfg, device):
        return _fit(model_cfg, cfg, datasets, embeddings, sizes=sizes, seeds=seeds,
                    points=points, weights=weights, maps=maps, ckpt=ckpt, dev=dev,
                    device=device)


def _check_model_maps(input_maps, model_cfg: ModelConfig, k_models: int):
    """``input_maps`` as ``(T, D, D)`` (shared) or ``(K, T, D, D)`` (per model), or ``None``."""
    if input_maps is None or np.ndim(input_maps) != 4:
        return check_input_maps(input_maps, model_cfg)
    if np.shape(input_maps)[0] != k_models:
        raise ValueError(
            f"input_maps has shape {tuple(np.shape(input_maps))}: per-model maps need one "
            f"(n_tasks, D, D) set per model ({k_models}), or pass one (n_tasks, D, D) set"
        )
    return torch.stack([check_input_maps(m, model_cfg) for m in input_maps])


def _fit(model_cfg, cfg, datasets, embeddings, *, sizes, seeds, points, weights, maps, ckpt,
         dev, device) -> list[TrainResult]:
    k_models, n_tasks = len(datasets), model_cfg.n_tasks
    nets, shuffles = [], []
    for k, seed in enumerate(seeds):
        init_seed, shuffle_seed = np.random.SeedSequence(int(seed)).generate_state(2)
        generator = torch.Generator().manual_seed(int(init_seed))
        own = maps[k] if maps is not None and maps.dim() == 4 else maps
        nets.append(MTLNet(model_cfg, generator=generator, input_maps=own))
        shuffles.append(torch.Generator().manual_seed(int(shuffle_seed)))
    if k_models == 1:  # train the model's own parameters, seen with a model axis of 1
        model = nets[0].to(device)
        leaves = list(model.parameters())
        stacked = model.stacked_parameters
    else:
        names = [name for name, _ in nets[0].named_parameters()]
        params = {
            name: torch.stack([dict(n.named_parameters())[name].detach() for n in nets])
            .to(device).requires_grad_(True)
            for name in names
        }
        leaves = [params[n] for n in names]

        def stacked() -> dict[str, torch.Tensor]:
            return params

    optimizer = Adam(leaves, lr=cfg.lr)
    leaf_names = [name for name, _ in nets[0].named_parameters()]
    frozen_leaves = [p for name, p in zip(leaf_names, leaves, strict=True)
                     if name.startswith(_SHARED_PREFIXES)]
    weight_t = None if weights is None else torch.tensor(weights, device=device)
    svd_w: np.ndarray | None = None  # (K, T): the SVD task weights in use
    maps_t = None if maps is None else maps.to(device)

    # Data on the device; embeddings are looked up per batch.
    table = as_tensor(embeddings, torch.float32, device)
    windows = datasets[0][0] if k_models == 1 else np.concatenate([w for w, _ in datasets])
    win = as_tensor(windows, torch.int64, device)
    offsets = np.cumsum([0] + [len(w) for w, _ in datasets])
    rows, targets = [], []  # rows[k][t]: rows of `win` that model k's task t labels
    for k, (_, labels) in enumerate(datasets):
        r_k, y_k = [], []
        for t in range(n_tasks):
            r = np.flatnonzero(labels[:, t] != MASK)
            r_k.append(torch.as_tensor(r + offsets[k], dtype=torch.int64).to(device))
            y_k.append(torch.as_tensor(labels[r, t], dtype=torch.int64).to(device))
        rows.append(r_k)
        targets.append(y_k)

    losses: list[list[float]] = [[] for _ in range(k_models)]
    dev_scores: list[float] = []
    best = {"score": -math.inf, "epoch": None, "bad": 0, "state": None, "stopped": False}
    finger = None
    start_epoch = 0
    if ckpt is not None:
        windows, labels = datasets[0]
        finger = fingerprint(model_cfg, cfg, seeds[0], (windows, labels, embeddings))
        if weights is not None:
            finger["task_weights"] = list(weights)
        if maps is not None:
            finger["input_maps"] = hashlib.blake2b(maps.numpy().tobytes(),
                                                   digest_size=16).hexdigest()
        if ckpt.exists():
            state = torch.load(ckpt, map_location=device, weights_only=True)
            if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != finger:
                raise ValueError(
                    f"checkpoint {ckpt} was written for a different run (data, seed or "
                    "configuration differ): delete it or pass another checkpoint_path"
                )
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            shuffles[0].set_state(state["generator"])
            losses[0], dev_scores = list(state["losses"]), list(state["dev_scores"])
            best = dict(state["best"])
            start_epoch = int(state["epoch"])
            if state.get("svd_weights") is not None:
                svd_w = np.asarray(state["svd_weights"], dtype=np.float64)

    def save(epoch: int) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": finger,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": shuffles[0].get_state(),
            "losses": losses[0],
            "dev_scores": dev_scores,
            "best": best,
            "svd_weights": None if svd_w is None else svd_w.tolist(),
        }
        atomic_write(ckpt, lambda handle: torch.save(state, handle))

    def plan() -> list[tuple[int | None, torch.Tensor, torch.Tensor]]:
        """(task or None for joint, row ids (K, [T,] G), targets alike) of every step."""
        if cfg.schedule == "joint":
            idx, tgt = [], []
            for k in range(k_models):
                pos, slices = joint_plan(shuffles[k], sizes[k], cfg.batch_size, cfg.drop_last)
                pos = pos.to(device)
                idx.append(torch.stack([rows[k][t][pos[t]] for t in range(n_tasks)]))
                tgt.append(torch.stack([targets[k][t][pos[t]] for t in range(n_tasks)]))
            idx, tgt = torch.stack(idx), torch.stack(tgt)  # (K, T, L)
            return [(None, idx[:, :, a:b], tgt[:, :, a:b]) for a, b in slices]
        plans = [sequential_plan(shuffles[k], sizes[k], cfg.batch_size, cfg.drop_last,
                                 None if svd_w is None else svd_w[k])
                 for k in range(k_models)]
        steps = []
        for s in range(len(plans[0])):
            task = plans[0][s][0]
            p = [plans[k][s][1].to(device) for k in range(k_models)]
            steps.append((task, torch.stack([rows[k][task][p[k]] for k in range(k_models)]),
                          torch.stack([targets[k][task][p[k]] for k in range(k_models)])))
        return steps

    dedup = device.type == "cpu"  # torch.unique synchronises CUDA

    def step_loss(task: int | None, idx: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """The loss (K,) of one step: one task's batch, or every task's (joint)."""
        params = stacked()
        if task is None:
            logits = logits_grouped(params, win[idx], table, model_cfg, dedup=dedup,
                                    input_maps=maps_t)
            task_losses = masked_cross_entropy(logits.flatten(0, 1), tgt.flatten(0, 1))
            return combine_task_losses(task_losses.view(k_models, n_tasks), weight_t)
        logits = logits_task(params, win[idx], table, model_cfg, task, dedup=dedup,
                             input_maps=maps_t)
        return masked_cross_entropy(logits, tgt)

    def reweight() -> None:
        """Compute every model's SVD task weights (:mod:`mtllaws.reweight`)."""
        nonlocal svd_w, weight_t
        from mtllaws.reweight import svd_task_weights

        params = stacked()
        svd_w = np.stack([
            svd_task_weights(
                model_cfg, datasets[k][0], datasets[k][1], np.asarray(embeddings),
                level=cfg.svd_level, rank=cfg.svd_rank,
                params={n: p[k:k + 1].detach() for n, p in params.items()},
                table=table, input_maps=maps_t)
            for k in range(k_models)
        ])
        weight_t = torch.tensor(svd_w, dtype=torch.float32, device=device)

    if svd_w is not None:  # resumed: the weights the checkpointed run used
        weight_t = torch.tensor(svd_w, dtype=torch.float32, device=device)

    def non_finite(values: torch.Tensor, epoch: int, step: int) -> NonFiniteLossError:
        """The error for the first model whose step loss in ``values`` (K,) is not finite."""
        k = int(torch.nonzero(~torch.isfinite(values))[0, 0])
        return NonFiniteLossError(point=points[k], epoch=epoch + 1, step=step + 1,
                                  loss=float(values[k]))

    check_each_step = device.type == "cpu"  # reading a loss is free on the CPU, a sync on CUDA
    for net in nets:
        net.train()
    epoch = start_epoch
    while epoch < cfg.total_epochs and not best["stopped"]:
        # Algorithm 1's frozen phase: no gradient for the BiLSTM and shared dense layers.
        for p in frozen_leaves:
            p.requires_grad_(epoch < cfg.epochs)
        if cfg.task_weights == "svd" and (
            svd_w is None or (cfg.svd_every and epoch % cfg.svd_every == 0)
        ):
            reweight()
        steps = plan()
        step_losses = torch.empty(len(steps), k_models, device=device)
        for s, (task, idx, tgt) in enumerate(steps):
            loss = step_loss(task, idx, tgt)
            if check_each_step:
                values = loss.detach()
                if not torch.isfinite(values).all():
                    raise non_finite(values, epoch, s)
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            step_losses[s] = loss.detach()
        values = step_losses.cpu()
        bad = torch.nonzero(~torch.isfinite(values))
        if len(bad):
            s = int(bad[0, 0])
            raise non_finite(values[s], epoch, s)
        for k in range(k_models):
            losses[k].append(float(values[:, k].double().mean()))
        epoch += 1

        if dev is not None:
            model.eval()
            with torch.no_grad():
                score = float(dev(model))
            model.train()
            dev_scores.append(score)
            if cfg.early_stopping:
                if score > best["score"]:
                    best.update(score=score, epoch=epoch, bad=0,
                                state={k: v.detach().clone() for k, v in
                                       model.state_dict().items()})
                else:
                    best["bad"] += 1
                    best["stopped"] = best["bad"] >= cfg.patience
        if ckpt is not None and cfg.checkpoint_every and (
            epoch % cfg.checkpoint_every == 0 or epoch >= cfg.total_epochs or best["stopped"]
        ):
            save(epoch)
    for p in frozen_leaves:
        p.requires_grad_(True)

    def used(k: int) -> list[float] | None:
        if svd_w is not None:
            return [float(v) for v in svd_w[k]]
        return None if weights is None else list(weights)

    if k_models == 1:
        if cfg.early_stopping and best["state"] is not None:
            model.load_state_dict(best["state"])
        model.eval()
        return [TrainResult(model=model, losses=losses[0], dev_scores=dev_scores,
                            best_epoch=best["epoch"] if cfg.early_stopping else None,
                            resumed_epoch=start_epoch, task_weights=used(0))]
    results = []
    with torch.no_grad():
        for k, net in enumerate(nets):
            net.to(device)
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
            net.eval()
            results.append(TrainResult(model=net, losses=losses[k], task_weights=used(k)))
    return results
