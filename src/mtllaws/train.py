"""Training engine for :class:`~mtllaws.models.MTLNet`: schedules, checkpoints, prediction.

Objective
---------
Adam (PyTorch defaults, ``lr`` from the config) on cross-entropy. The loss of task
``t`` on a batch is the **mean cross-entropy over the batch rows that task t labels**
(rows whose label is ``MASK = -1`` are excluded from numerator and denominator; a task
with no labelled row in the batch contributes 0). A step's loss is the **sum** of the
task losses it contains. Missing labels are never guessed.

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
RNG state, per-epoch losses and early-stopping state are written atomically (temp file
+ ``os.replace``) every ``k`` epochs and when training ends. If the file exists when
:func:`train_model` starts, training resumes from it (after checking that it was written
for the same data, seed and configuration); the result equals an uninterrupted run
bitwise on the CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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

#: Label id of a token that a task does not label.
MASK = -1

_SCHEDULES = ("joint", "sequential")
_CHECKPOINT_FORMAT = 1


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

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 1), ("threads", 1), ("patience", 1),
                          ("checkpoint_every", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"TrainConfig.{name}={value!r}: must be an integer >= {low}")
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"TrainConfig.schedule={self.schedule!r}: choose one of {_SCHEDULES}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr={self.lr!r}: must be a positive finite number")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(
                f"TrainConfig.device={self.device!r}: use 'cpu', 'cuda' or 'cuda:N'"
            )


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
    """

    model: MTLNet
    losses: list[float]
    dev_scores: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    resumed_epoch: int = 0


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-task mean cross-entropy over the labelled rows.

    Parameters
    ----------
    logits : Tensor, shape (T, G, c)
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


class _Adam:
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


def _check_inputs(
    model_cfg: ModelConfig, windows: np.ndarray, labels: np.ndarray, embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    if labels.size and (labels.min() < MASK or labels.max() >= model_cfg.n_classes):
        raise ValueError(
            f"labels must lie in [0, n_classes={model_cfg.n_classes}) or be MASK={MASK}; "
            f"found values in [{labels.min()}, {labels.max()}]: fix the labels or n_classes"
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


def _tensor(a, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``a`` (array or tensor) as a tensor of ``dtype`` on ``device``; no copy when it is one.

    Read-only arrays (e.g. memory-mapped caches) are copied rather than wrapped, which
    torch would warn about.
    """
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype)
    a = np.asarray(a)
    if not a.flags.writeable:
        a = np.array(a)
    return torch.from_numpy(a).to(device=device, dtype=dtype)


def _resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"TrainConfig.device={name!r} but CUDA is not available on this machine: "
            "use device='cpu'"
        )
    return device


def _fingerprint(
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
        },
        "seed": int(seed),
        "data": digest.hexdigest(),
    }


def _save_atomic(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------- schedules


def _joint_plan(
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


def _sequential_plan(
    g: torch.Generator, sizes: list[int], batch: int, drop_last: bool
) -> list[tuple[int, torch.Tensor]]:
    """(task, positions into that task's rows) for every step of one sequential epoch."""
    steps = []
    for t, n in enumerate(sizes):
        perm = torch.randperm(n, generator=g)
        stop = (n // batch) * batch if drop_last else n
        steps.extend((t, perm[s : min(s + batch, stop)]) for s in range(0, stop, batch))
    return steps


# ----------------------------------------------------------------------------- training


@contextlib.contextmanager
def _torch_settings(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
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


def _check_drop_last(cfg: TrainConfig, largest: int) -> None:
    """Refuse ``drop_last`` when the largest task has fewer rows than one batch."""
    if cfg.drop_last and largest < cfg.batch_size:
        raise ValueError(
            f"drop_last=True with batch_size={cfg.batch_size} but the largest task has only "
            f"{largest} rows: no step would run; lower batch_size or set drop_last=False"
        )


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
        Checkpoint file (see the module docstring); resumed from when it exists.
    dev : callable, optional
        ``dev(model) -> float`` (higher is better) called after every epoch with the model
        in eval mode and gradients off; its scores are returned, and used for early stopping
        when ``train_cfg.early_stopping``.

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
    windows, labels, embeddings = _check_inputs(model_cfg, windows, labels, embeddings)
    if train_cfg.early_stopping and dev is None:
        raise ValueError(
            "TrainConfig.early_stopping=True needs a dev callback: pass "
            "dev=lambda model: <dev F1> to train_model"
        )
    device = _resolve_device(train_cfg.device)
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None

    with _torch_settings(train_cfg, device):
        return _train(model_cfg, train_cfg, windows, labels, embeddings, seed=seed,
                      point=point, ckpt=ckpt, dev=dev, device=device)


def _train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    windows: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    *,
    seed: int,
    point: str,
    ckpt: Path | None,
    dev: Callable[[MTLNet], float] | None,
    device: torch.device,
) -> TrainResult:
    init_seed, shuffle_seed = np.random.SeedSequence(int(seed)).generate_state(2)
    model = MTLNet(model_cfg, generator=torch.Generator().manual_seed(int(init_seed)))
    model.to(device)
    optimizer = _Adam(model.parameters(), lr=cfg.lr)
    shuffle = torch.Generator().manual_seed(int(shuffle_seed))

    # Data on the device; embeddings are looked up per batch.
    emb = _tensor(embeddings, torch.float32, device)
    win = _tensor(windows, torch.int64, device)
    rows, targets = [], []
    for t in range(labels.shape[1]):
        r = np.flatnonzero(labels[:, t] != MASK)
        rows.append(torch.as_tensor(r, dtype=torch.int64).to(device))
        targets.append(torch.as_tensor(labels[r, t], dtype=torch.int64).to(device))
    sizes = [len(r) for r in rows]
    _check_drop_last(cfg, max(sizes))

    losses: list[float] = []
    dev_scores: list[float] = []
    best = {"score": -math.inf, "epoch": None, "bad": 0, "state": None, "stopped": False}
    fingerprint = None
    start_epoch = 0
    if ckpt is not None:
        fingerprint = _fingerprint(model_cfg, cfg, seed, (windows, labels, embeddings))
        if ckpt.exists():
            state = torch.load(ckpt, map_location=device, weights_only=True)
            if state.get("format") != _CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"checkpoint {ckpt} was written for a different run (data, seed or "
                    "configuration differ): delete it or pass another checkpoint_path"
                )
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            shuffle.set_state(state["generator"])
            losses, dev_scores = list(state["losses"]), list(state["dev_scores"])
            best = dict(state["best"])
            start_epoch = int(state["epoch"])

    def save(epoch: int) -> None:
        _save_atomic(
            {
                "format": _CHECKPOINT_FORMAT,
                "fingerprint": fingerprint,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": shuffle.get_state(),
                "losses": losses,
                "dev_scores": dev_scores,
                "best": best,
            },
            ckpt,
        )

    check_each_step = device.type == "cpu"  # .item() is free on the CPU, a sync on CUDA
    model.train()
    epoch = start_epoch
    while epoch < cfg.epochs and not best["stopped"]:
        if cfg.schedule == "joint":
            pos, slices = _joint_plan(shuffle, sizes, cfg.batch_size, cfg.drop_last)
            pos = pos.to(device)
            idx = torch.stack([rows[t][pos[t]] for t in range(len(sizes))])
            tgt = torch.stack([targets[t][pos[t]] for t in range(len(sizes))])
            steps = [(None, idx[:, a:b], tgt[:, a:b]) for a, b in slices]
        else:
            plan = _sequential_plan(shuffle, sizes, cfg.batch_size, cfg.drop_last)
            steps = []
            for t, p in plan:
                p = p.to(device)
                steps.append((t, rows[t][p], targets[t][p]))
        step_losses = torch.empty(len(steps), device=device)
        for s, (task, idx, tgt) in enumerate(steps):
            z = model.encode_ids(win[idx.reshape(-1)], emb)
            if task is None:
                loss = masked_cross_entropy(model.heads_grouped(z), tgt).sum()
            else:
                logits = model.heads(z, task=task)
                loss = masked_cross_entropy(logits.unsqueeze(0), tgt.unsqueeze(0)).sum()
            if check_each_step and not math.isfinite(loss.item()):
                raise NonFiniteLossError(point=point, epoch=epoch + 1, step=s + 1,
                                         loss=loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_losses[s] = loss.detach()
        values = step_losses.cpu()
        bad = torch.nonzero(~torch.isfinite(values))
        if len(bad):
            s = int(bad[0, 0])
            raise NonFiniteLossError(point=point, epoch=epoch + 1, step=s + 1,
                                     loss=float(values[s]))
        losses.append(float(values.double().mean()))
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
            epoch % cfg.checkpoint_every == 0 or epoch >= cfg.epochs or best["stopped"]
        ):
            save(epoch)

    if cfg.early_stopping and best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return TrainResult(
        model=model,
        losses=losses,
        dev_scores=dev_scores,
        best_epoch=best["epoch"] if cfg.early_stopping else None,
        resumed_epoch=start_epoch,
    )


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
    :func:`~mtllaws.models.lstm_readout_prefixes` (each distinct token id projected once,
    each distinct prefix's recurrent state computed once); predictions come back in the
    input order.

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
    emb = _tensor(embeddings, dtype, device)
    win = _tensor(windows, torch.int64, device)
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
                z = model.encode_ids(win[rows], emb, prefixes=True)
                out[rows] = model.heads(z, task=task).argmax(dim=-1)
    finally:
        model.train(was_training)
    return out.cpu().numpy()
