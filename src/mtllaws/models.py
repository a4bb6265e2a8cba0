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
* **Head sizes**: every task may have its own number of classes (``n_classes`` one int
  for all, or one per task, e.g. NER 5, POS 45, chunking 11). The output layer stays one
  stacked ``(T, d_in, c_max)`` weight; task ``t`` owns its first ``c_t`` columns, the
  others are zero and masked to ``-inf`` logits (:func:`padded_class_mask`), so they
  never get a gradient. Equal sizes are exactly the one-int model.
* **Initialisation** follows PyTorch's defaults, as the published (PyTorch) code used:
  LSTM weights ``U(-1/sqrt(H), 1/sqrt(H))`` with the bias the sum of two such draws
  (``b_ih + b_hh``); dense weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
  Initialisation draws only from the ``generator`` passed in (no global RNG state).

The BiLSTM math lives in :mod:`mtllaws.kernels`. The forward pass is functional and
defined once, on parameters with a leading model axis ``K`` (:func:`encode_ids`,
:func:`logits_grouped`, :func:`logits_task`): :class:`MTLNet` calls it on its own
parameters (``K = 1``, :meth:`MTLNet.stacked_parameters`) and the training core
(:mod:`mtllaws.core`) on ``K`` stacked models.

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

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from mtllaws.kernels import READOUTS, lstm_readout, lstm_readout_ids

__all__ = [
    "ALIGN_MODES",
    "LAYERS",
    "PRESETS",
    "MTLNet",
    "ModelConfig",
    "check_input_maps",
    "encode_ids",
    "logits_grouped",
    "logits_task",
    "mapped_input_weights",
    "model_config",
    "padded_class_mask",
    "shared_layers",
    "task_input_weights",
    "task_layers",
]

_ACTIVATIONS = ("relu", "none")

#: ``ModelConfig.align``: no alignment, one trainable map per auxiliary task (NER's
#: pinned to the identity), or one per task (the literal form of Wu, Zhang & Ré's
#: Algorithm 1).
ALIGN_MODES = ("none", "aux", "all")

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
    n_classes : int or tuple of int
        Classes per task: one int ``c`` for every task (each head has ``c`` outputs), or
        one head size per task, task 0 (NER) first, each ``>= 2`` (e.g. ``(5, 45, 11)``
        for NER, POS and chunking). A list is stored as a tuple. The output layer is
        stored at the largest size ``max_classes`` for every task; a smaller head's extra
        columns are zero and never trained (its logits there are ``-inf``, see
        :func:`padded_class_mask`). Equal sizes give the same model as the int.
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
    align : {"none", "aux", "all"}
        Alignment module (Wu, Zhang & Ré 2020, Algorithm 1): a trainable ``D × D`` matrix
        ``R_t`` per task, initialised to the identity, applied to the embeddings before
        the shared BiLSTM (row form ``x·R_t``, folded into the input projection, see
        :func:`task_input_weights`). ``"aux"``: auxiliary tasks only, NER's ``R_0`` is
        the identity (no parameter), so ``T = 1`` is the model without alignment;
        ``"all"``: every task. ``to_dict`` leaves the key out when ``"none"``.
    """

    n_tasks: int
    n_classes: int | tuple[int, ...]
    emb_dim: int = 300
    window: int = 7
    hidden: int = 300
    dense: tuple[int, ...] = (256, 128, 64)
    shared_dense: int = 1
    readout: str = "center"
    activation: str = "relu"
    align: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))
        for name in ("n_tasks", "emb_dim", "window", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name}={value!r}: must be an integer >= 1")
        if isinstance(self.n_classes, list | tuple):
            counts = tuple(self.n_classes)
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 2
                       for c in counts):
                raise ValueError(
                    f"ModelConfig.n_classes={self.n_classes!r}: every head size must be an "
                    "integer >= 2"
                )
            if len(counts) != self.n_tasks:
                raise ValueError(
                    f"ModelConfig.n_classes={self.n_classes!r} gives {len(counts)} head sizes "
                    f"for n_tasks={self.n_tasks}: pass one per task (task 0 = NER first) or "
                    "one int for every task"
                )
            object.__setattr__(self, "n_classes", counts)
        elif (not isinstance(self.n_classes, int) or isinstance(self.n_classes, bool)
              or self.n_classes < 2):
            raise ValueError(
                f"ModelConfig.n_classes={self.n_classes!r}: must be an integer >= 2, or one "
                "such integer per task"
            )
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
        if self.readout not in READOUTS:
            raise ValueError(f"ModelConfig.readout={self.readout!r}: choose one of {READOUTS}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"ModelConfig.activation={self.activation!r}: choose one of {_ACTIVATIONS}"
            )
        if self.align not in ALIGN_MODES:
            raise ValueError(
                f"ModelConfig.align={self.align!r}: choose one of {ALIGN_MODES} (none = no "
                "alignment module)"
            )

    @property
    def n_align(self) -> int:
        """How many tasks have a trainable alignment map: 0, ``T - 1`` (aux) or ``T``."""
        return {"none": 0, "aux": self.n_tasks - 1, "all": self.n_tasks}[self.align]

    @property
    def class_counts(self) -> tuple[int, ...]:
        """Head size of every task, ``(c_0, ..., c_{T-1})`` (task 0 = NER)."""
        if isinstance(self.n_classes, int):
            return (self.n_classes,) * self.n_tasks
        return self.n_classes

    @property
    def max_classes(self) -> int:
        """Width of the stored output layer: the largest head size."""
        return max(self.class_counts)

    @property
    def padded_heads(self) -> bool:
        """Whether head sizes differ, so smaller heads have padded (masked) outputs."""
        return len(set(self.class_counts)) > 1

    def to_dict(self) -> dict:
        """Return the configuration as a plain dict (JSON/YAML friendly).

        ``n_classes`` stays an int when it is one and becomes a list otherwise, so a
        configuration with one class count gives the dict it always gave.
        """
        d = asdict(self)
        d["dense"] = list(self.dense)
        if not isinstance(self.n_classes, int):
            d["n_classes"] = list(self.n_classes)
        if self.align == "none":  # configs and checkpoints from before align stay equal
            del d["align"]
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


# ----------------------------------------------------------------------------- forward


def shared_layers(params: Mapping[str, torch.Tensor], z: torch.Tensor,
                  config: ModelConfig) -> torch.Tensor:
    """The shared dense layers of K stacked models on BiLSTM features ``z`` (K, B, 2H).

    ``params`` maps :class:`MTLNet` parameter names to tensors with a leading model axis
    ``K`` (:meth:`MTLNet.stacked_parameters` for one model). Returns ``(K, B, F)``.
    """
    for i in range(config.shared_dense):
        z = torch.baddbmm(params[f"shared_b.{i}"].unsqueeze(1), z, params[f"shared_w.{i}"])
        if config.activation == "relu":
            z = torch.relu(z)
    return z


def task_layers(params: Mapping[str, torch.Tensor], z: torch.Tensor, config: ModelConfig,
                *, task: int | None = None, first: int = 0) -> torch.Tensor:
    """Task-specific layers ``first..`` (the last is the output layer) of K stacked models.

    Parameters
    ----------
    params : mapping of str to Tensor
        As in :func:`shared_layers`.
    z : Tensor
        ``(K, T, G, d)`` with group ``t`` read by task ``t``'s layers (``task=None``), or
        ``(K, G, d)`` read by the layers of ``task``.
    config : ModelConfig
    task : int, optional
        One task, or ``None`` for every task.
    first : int
        Index of the first task layer to apply (earlier ones are already applied).

    Returns
    -------
    Tensor
        Logits ``(K, T, G, c_max)`` or ``(K, G, c_task)``. With head sizes that differ
        (``config.padded_heads``) the all-task logits of task ``t`` are ``-inf`` in the
        columns ``c_t..`` (:func:`padded_class_mask`), and one task's logits have its own
        ``c_task`` columns.
    """
    n_layers = len(config.dense) - config.shared_dense + 1
    k_models = z.shape[0]
    if task is None:
        t, g = z.shape[1], z.shape[2]
        z = z.reshape(k_models * t, g, -1)
    for i in range(first, n_layers):
        w, b = params[f"task_w.{i}"], params[f"task_b.{i}"]
        if task is None:
            w, b = w.flatten(0, 1), b.flatten(0, 1)
        else:
            w, b = w[:, task], b[:, task]
            if i == n_layers - 1 and config.padded_heads:
                c = config.class_counts[task]
                w, b = w[..., :c], b[..., :c]
        z = torch.baddbmm(b.unsqueeze(1), z, w)
        if i < n_layers - 1 and config.activation == "relu":
            z = torch.relu(z)
    if task is not None:
        return z
    z = z.view(k_models, t, g, -1)
    if config.padded_heads and first < n_layers:
        z = z.masked_fill(padded_class_mask(config, z.device)[:, None], -math.inf)
    return z


def padded_class_mask(config: ModelConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """Which output columns each head lacks: ``(T, c_max)`` bool, True at ``j >= c_t``.

    The output layer of every task is stored ``c_max = config.max_classes`` wide; task
    ``t`` uses its first ``c_t`` columns. The all-task forward sets the logits of the
    other columns to ``-inf``, so softmax, cross-entropy and argmax see ``c_t`` classes
    and those columns get no gradient (their weights stay zero). All False when every
    head has the same size.
    """
    return _class_mask(config.class_counts, torch.device(device))


@functools.lru_cache(maxsize=64)
def _class_mask(counts: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """:func:`padded_class_mask`, built once per head sizes and device (read only)."""
    sizes = torch.tensor(counts, device=device)
    return torch.arange(max(counts), device=device) >= sizes[:, None]


def mapped_input_weights(w_ih: torch.Tensor, input_maps: torch.Tensor,
                         task: int | None = None) -> torch.Tensor:
    """Input weights with fixed per-task input maps folded in: ``M_t^T @ W_ih``.

    A map ``M_t`` (D, D) sends an embedding ``x`` to ``M_t x`` before the BiLSTM; since
    the input projection is ``x^T W_ih`` (``W_ih`` (D, 4H) per direction), the mapped
    projection is ``x^T (M_t^T W_ih)``: one product per distinct token id and task, as
    without maps.

    Parameters
    ----------
    w_ih : Tensor, shape (K, 2, D, 4H)
    input_maps : Tensor, shape (T, D, D) or (K, T, D, D)
        The same maps for every model, or each model's own (stacked models of grid
        points whose maps differ, e.g. rotations seeded by the point's seed).
    task : int, optional
        One task's map, or ``None`` for every task.

    Returns
    -------
    Tensor
        ``(K, 2, D, 4H)`` for one task; ``(K * T, 2, D, 4H)`` (model-major) for all.
    """
    if input_maps.dim() == 4:  # one set of maps per model
        if task is not None:
            return torch.matmul(input_maps[:, task].transpose(-1, -2)[:, None], w_ih)
        maps_t = input_maps.transpose(-1, -2)[:, :, None]  # (K, T, 1, D, D)
        return torch.matmul(maps_t, w_ih[:, None]).flatten(0, 1)
    if task is not None:
        return torch.matmul(input_maps[task].transpose(0, 1), w_ih)
    maps_t = input_maps.transpose(1, 2)[None, :, None]  # (1, T, 1, D, D)
    return torch.matmul(maps_t, w_ih[:, None]).flatten(0, 1)


def task_input_weights(params: Mapping[str, torch.Tensor], config: ModelConfig,
                       input_maps: torch.Tensor | None = None,
                       task: int | None = None) -> torch.Tensor:
    """The input projection of K stacked models with per-task maps folded in.

    Task ``t`` reads an embedding ``x`` as ``(M_t x)·R_t``: first the fixed map ``M_t``
    (``input_maps``, column form), then the trainable alignment ``R_t`` (``params
    ["align_r"]``, ``ModelConfig.align``, row form as in Wu, Zhang & Ré), so its input
    weights are ``M_tᵀ R_t W_ih``: one ``D × D`` by ``D × 4H`` product per task and model,
    and the BiLSTM still projects each distinct token id once per task. Under
    ``align="aux"`` NER's ``R_0`` is the identity and is not multiplied at all.

    Parameters
    ----------
    params : mapping of str to Tensor
        As in :func:`shared_layers` (``lstm_w_ih`` (K, 2, D, 4H); ``align_r`` (K,
        ``config.n_align``, D, D) when the model aligns).
    config : ModelConfig
    input_maps : Tensor, shape (T, D, D) or (K, T, D, D), optional
        As in :func:`mapped_input_weights`.
    task : int, optional
        One task, or ``None`` for every task.

    Returns
    -------
    Tensor
        ``(K, 2, D, 4H)`` for one task (``W_ih`` itself when that task has neither map
        nor alignment); ``(K * T, 2, D, 4H)`` (model-major) for every task.
    """
    w_ih = params["lstm_w_ih"]
    n_align = config.n_align
    if n_align == 0:
        if input_maps is None:
            return w_ih if task is not None else w_ih.repeat_interleave(config.n_tasks, 0)
        return mapped_input_weights(w_ih, input_maps, task)
    r = params["align_r"]  # (K, n_align, D, D)
    first = config.n_tasks - n_align  # 1 under "aux": NER has no R
    if task is not None:
        if task >= first:
            w_ih = torch.matmul(r[:, task - first, None], w_ih)
        if input_maps is None:
            return w_ih
        if input_maps.dim() == 4:  # one set of maps per model
            return torch.matmul(input_maps[:, task].transpose(-1, -2)[:, None], w_ih)
        return torch.matmul(input_maps[task].transpose(0, 1), w_ih)
    if first:
        eye = torch.eye(config.emb_dim, dtype=r.dtype, device=r.device)
        r = torch.cat([eye.expand(r.shape[0], first, -1, -1), r], dim=1)
    w = torch.matmul(r[:, :, None], w_ih[:, None])  # (K, T, 2, D, 4H)
    if input_maps is not None:
        maps_t = input_maps.transpose(-1, -2)
        maps_t = maps_t[:, :, None] if input_maps.dim() == 4 else maps_t[None, :, None]
        w = torch.matmul(maps_t, w)
    return w.flatten(0, 1)


def encode_ids(params: Mapping[str, torch.Tensor], ids: torch.Tensor, table: torch.Tensor,
               config: ModelConfig, *, dedup: bool, input_maps: torch.Tensor | None = None,
               task: int | None = None, groups: int = 1) -> torch.Tensor:
    """BiLSTM readout and shared layers ``(K, B, F)`` of K stacked models on ``ids`` (K, B, W).

    The one forward pass of training (see :func:`mtllaws.kernels.lstm_readout_ids`);
    ``params`` as in :func:`shared_layers`, ``table`` (V, D) shared by the models.
    ``input_maps`` (T, D, D), fixed per-task maps of the embeddings, and the alignment
    maps ``R_t`` (``config.align``) are folded into the input weights
    (:func:`task_input_weights`): ``task``'s apply to every row, or with ``task=None``
    task ``t``'s to group ``t`` of ``groups = T`` equal row groups.
    """
    w_ih = params["lstm_w_ih"]
    if input_maps is not None or config.n_align:
        if task is None and groups != config.n_tasks:
            raise ValueError(
                f"per-task input maps hold {config.n_tasks} tasks: pass task=t, or T task "
                "groups"
            )
        w_ih = task_input_weights(params, config, input_maps, task)
    z = lstm_readout_ids(ids, table, w_ih, params["lstm_w_hh"], params["lstm_bias"],
                         readout=config.readout, dedup=dedup)
    return shared_layers(params, z, config)


def logits_grouped(params: Mapping[str, torch.Tensor], ids: torch.Tensor, table: torch.Tensor,
                   config: ModelConfig, *, dedup: bool,
                   input_maps: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (K, T, G, c_max) of K stacked models; group ``t`` of ``ids`` (K, T, G, W) by head t.

    The forward pass of a ``joint`` training step: the ``T`` task batches share one
    BiLSTM pass (group ``t`` through task ``t``'s input map when ``input_maps`` is given).
    Heads smaller than ``c_max`` have ``-inf`` logits in their missing columns.
    """
    k_models, t, g, w = ids.shape
    z = encode_ids(params, ids.reshape(k_models, t * g, w), table, config, dedup=dedup,
                   input_maps=input_maps, groups=t)
    return task_layers(params, z.view(k_models, t, g, -1), config)


def logits_task(params: Mapping[str, torch.Tensor], ids: torch.Tensor, table: torch.Tensor,
                config: ModelConfig, task: int, *, dedup: bool,
                input_maps: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (K, B, c_task) of one ``task``'s head of K stacked models on ``ids`` (K, B, W).

    The forward pass of a ``sequential`` training step (and of prediction).
    """
    z = encode_ids(params, ids, table, config, dedup=dedup, input_maps=input_maps, task=task)
    return task_layers(params, z, config, task=task)


def check_input_maps(input_maps, config: ModelConfig) -> torch.Tensor | None:
    """``input_maps`` as a float32 tensor (T, D, D), or ``None``; ``ValueError`` otherwise."""
    if input_maps is None:
        return None
    maps = torch.as_tensor(input_maps, dtype=torch.float32)
    want = (config.n_tasks, config.emb_dim, config.emb_dim)
    if tuple(maps.shape) != want:
        raise ValueError(
            f"input_maps has shape {tuple(maps.shape)}; expected (n_tasks, emb_dim, emb_dim) "
            f"= {want}: one (D, D) map per task, identity for a task left as it is"
        )
    if not torch.isfinite(maps).all():
        raise ValueError("input_maps holds NaN or infinite values: pass finite maps")
    return maps


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
    input_maps : array or Tensor, shape (T, D, D), optional
        Fixed (not trained) per-task maps of the embeddings before the shared BiLSTM: task
        ``t`` reads ``M_t x`` (folded into the input projection, see
        :func:`mapped_input_weights`). Stored as the buffer ``input_maps`` (``None``:
        every task reads ``x``). A model with maps encodes per task: pass ``task`` to
        :meth:`encode_ids`; the embedded-window methods (:meth:`features`, :meth:`encode`,
        :meth:`forward`, :meth:`forward_grouped`) refuse such a model.

    Attributes
    ----------
    lstm_w_ih, lstm_w_hh, lstm_bias : Parameter
        ``(2, D, 4H)``, ``(2, H, 4H)``, ``(2, 4H)``; direction 0 forward, 1 backward.
    shared_w, shared_b : ParameterList
        Shared dense layers, weights ``(d_in, d_out)``.
    task_w, task_b : ParameterList
        Task-specific dense layers and, last, the output layer: weights
        ``(T, d_in, d_out)``, biases ``(T, d_out)``; the output layer is
        ``config.max_classes`` wide, task ``t`` using its first ``c_t`` columns (the rest
        zero, see :func:`padded_class_mask`).
    align_r : Parameter, shape (config.n_align, D, D)
        Only with ``config.align`` ``"aux"`` (tasks 1..T-1) or ``"all"`` (every task): the
        trainable alignment maps ``R_t``, initialised to the identity and registered after
        the other parameters (:func:`task_input_weights`).
    """

    def __init__(self, config: ModelConfig, *, generator: torch.Generator | None = None,
                 input_maps=None):
        super().__init__()
        self.config = config
        self.register_buffer("input_maps", check_input_maps(input_maps, config))
        d, h, t = config.emb_dim, config.hidden, config.n_tasks
        self.lstm_w_ih = nn.Parameter(torch.empty(2, d, 4 * h))
        self.lstm_w_hh = nn.Parameter(torch.empty(2, h, 4 * h))
        self.lstm_bias = nn.Parameter(torch.empty(2, 4 * h))
        widths = [2 * h, *config.dense, config.max_classes]
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
        if config.n_align:  # registered last: models without alignment keep their layout
            self.align_r = nn.Parameter(torch.empty(config.n_align, d, d))
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
        if self.config.padded_heads:  # columns a smaller head lacks: zero, never trained
            pad = padded_class_mask(self.config, self.lstm_w_ih.device)
            self.task_w[-1].masked_fill_(pad[:, None, :], 0.0)
            self.task_b[-1].masked_fill_(pad, 0.0)
        if self.config.n_align:  # the identity: no draw, so the other weights are unchanged
            self.align_r.copy_(torch.eye(self.config.emb_dim).expand_as(self.align_r))

    @property
    def per_task_inputs(self) -> bool:
        """Whether tasks read the embeddings through their own maps (input maps, alignment).

        Such a model encodes per task (``task=`` of :meth:`encode_ids`).
        """
        return self.input_maps is not None or self.config.n_align > 0

    # -- pieces ---------------------------------------------------------------------------

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.dim() != 3 or x.shape[1] != cfg.window or x.shape[2] != cfg.emb_dim:
            raise ValueError(
                f"x_emb has shape {tuple(x.shape)}; this model expects (batch, "
                f"window={cfg.window}, emb_dim={cfg.emb_dim}): check ModelConfig.window and "
                "emb_dim against the data"
            )

    def stacked_parameters(self) -> dict[str, torch.Tensor]:
        """The parameters by name with a leading model axis of 1 (views, with gradient).

        The functional forward (:func:`encode_ids`, :func:`task_layers`, ...) reads these,
        so this model and the multi-model engine run the same code.
        """
        return {name: p.unsqueeze(0) for name, p in self.named_parameters()}

    def features(self, x_emb: torch.Tensor) -> torch.Tensor:
        """BiLSTM readout ``(B, 2H)`` of embedded windows ``(B, W, D)``."""
        self._check_input(x_emb)
        if self.per_task_inputs:
            raise ValueError(
                "this model has per-task input_maps or alignment maps (ModelConfig.align), so its "
                "features depend on the task: use "
                "encode_ids(ids, table, task=t) or mtllaws.train.predict"
            )
        return lstm_readout(
            x_emb, self.lstm_w_ih, self.lstm_w_hh, self.lstm_bias, readout=self.config.readout
        )

    def encode(self, x_emb: torch.Tensor) -> torch.Tensor:
        """Shared representation: BiLSTM readout then the shared dense layers, ``(B, F)``."""
        z = self.features(x_emb)
        return shared_layers(self.stacked_parameters(), z.unsqueeze(0), self.config)[0]

    def encode_ids(
        self,
        ids: torch.Tensor,
        table: torch.Tensor,
        *,
        dedup: bool | None = None,
        prefixes: bool = False,
        task: int | None = None,
    ) -> torch.Tensor:
        """:meth:`encode` of ``table[ids]`` without building ``(B, W, D)``.

        The training path: :func:`encode_ids` on this model's parameters (``K = 1``).

        Parameters
        ----------
        ids : Tensor, shape (B, W), int64
        table : Tensor, shape (V, D)
            Embedding matrix on the model's device.
        dedup : bool, optional
            Project each distinct id once (see
            :func:`~mtllaws.kernels.lstm_readout_ids`); default: on the CPU only.
        prefixes : bool
            Inference only (no gradient): also run the recurrence once per distinct
            prefix (:func:`~mtllaws.kernels.lstm_readout_ids` with ``prefixes=True``).
        task : int, optional
            With ``input_maps`` or alignment: whose maps the embeddings go through
            (required then).
        """
        cfg = self.config
        if ids.dim() != 2 or ids.shape[1] != cfg.window or table.shape[-1] != cfg.emb_dim:
            raise ValueError(
                f"ids {tuple(ids.shape)} / table {tuple(table.shape)}: this model expects ids "
                f"(batch, window={cfg.window}) and a table (V, emb_dim={cfg.emb_dim})"
            )
        maps = self.input_maps
        if self.per_task_inputs and task is None:
            raise ValueError("this model has per-task input maps or alignment: pass task=t to "
                             "encode_ids")
        params = self.stacked_parameters()
        if prefixes:
            w_ih = params["lstm_w_ih"]
            if self.per_task_inputs:
                w_ih = task_input_weights(params, cfg, maps, task)
            z = lstm_readout_ids(ids.unsqueeze(0), table, w_ih, params["lstm_w_hh"],
                                 params["lstm_bias"], readout=cfg.readout, prefixes=True)
            return shared_layers(params, z, cfg)[0]
        if dedup is None:
            dedup = ids.device.type == "cpu"
        return encode_ids(params, ids.unsqueeze(0), table, cfg, dedup=dedup, input_maps=maps,
                          task=task)[0]

    def heads_grouped(self, z: torch.Tensor) -> torch.Tensor:
        """Task layers on a shared representation ``z`` (T * G, F) in ``T`` task groups.

        Group ``t`` (rows ``t*G .. t*G+G-1``) is read by task ``t``'s head only; returns
        logits ``(T, G, c_max)`` (``-inf`` where a smaller head has no class).
        """
        t = self.config.n_tasks
        if z.shape[0] % t:
            raise ValueError(
                f"{z.shape[0]} rows is not a multiple of n_tasks={t}: pass T equal groups"
            )
        z = z.view(1, t, -1, z.shape[-1])
        return task_layers(self.stacked_parameters(), z, self.config)[0]

    def heads(self, z: torch.Tensor, *, task: int | None = None) -> torch.Tensor:
        """Task-specific layers on a shared representation ``z`` (B, F).

        Returns logits ``(B, T, c_max)`` for all tasks (``-inf`` in the columns a smaller
        head lacks, :func:`padded_class_mask`), or ``(B, c_task)`` for one ``task``.
        """
        params = self.stacked_parameters()
        if task is not None:
            if not 0 <= task < self.config.n_tasks:
                raise ValueError(f"task={task}: this model has tasks 0..{self.config.n_tasks - 1}")
            return task_layers(params, z.unsqueeze(0), self.config, task=task)[0]
        w0 = self.task_w[0]
        t, d_in, d_out = w0.shape
        # All tasks' first layer as one product: (B, d_in) @ (d_in, T * d_out).
        y = (z @ w0.permute(1, 0, 2).reshape(d_in, t * d_out)).view(-1, t, d_out)
        y = (y + self.task_b[0]).transpose(0, 1)
        if len(self.task_w) > 1:
            if self.config.activation == "relu":
                y = torch.relu(y)
            y = task_layers(params, y.unsqueeze(0), self.config, first=1)[0]
        elif self.config.padded_heads:  # the first task layer is the output layer
            y = y.masked_fill(padded_class_mask(self.config, y.device)[:, None], -math.inf)
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
            f"activation={c.activation!r}" + (f", align={c.align!r}" if c.n_align else "")
        )
