"""Synthetic tasks: the paper's Algorithm 1, AMI and the task data of a grid point.

Label noise
-----------
A synthetic task relabels every token it covers by drawing from row ``y`` of
``M(alpha)``: ``alpha`` on the diagonal and ``(1 - alpha) / (c - 1)`` elsewhere
(:func:`transition_matrix`). :func:`simulate_labels` draws all tokens at once
by inverse CDF: one uniform ``u`` per token, the new label is the first ``j``
with ``u < cumsum(M[y])[j]``. For a fixed ``u`` a token that keeps its label at
``alpha`` keeps it at every larger ``alpha``.

Relatedness
-----------
``M(alpha)`` itself (:func:`mtllaws.relatedness.transition_matrix`), AMI and the
calibration of ``alpha`` to a target AMI live in :mod:`mtllaws.relatedness`, with
the registry of per-task measures that :func:`make_tasks` records.

Task data (:func:`make_tasks`)
------------------------------
Task 0 is NER (the real IO labels), tasks ``1..T-1`` are synthetic, each with
its own ``alpha``. Tokens are taken from a seeded shuffle of the training
*sentences*; their tokens, concatenated in that order, form the token order.

* ``slices="disjoint"`` (the published code): task 0 takes the next ``n_ner``
  tokens, then each synthetic task the next ``n_syn`` tokens. A slice is made
  of whole sentences taken until it has at least ``n`` tokens; the last one is
  trimmed to give exactly ``n`` tokens and its remaining tokens are dropped, so
  no sentence is shared by two tasks. Slices never overlap.
* ``slices="shared"`` (the literal reading of Algorithm 1): all tasks label the
  same tokens. With unbalanced sizes they label nested prefixes of the same
  token order: NER the first ``n_ner``, every synthetic task the first ``n_syn``
  (each synthetic task with its own independent draw).
* ``slices="contiguous"`` (the published code's token selection): no shuffle;
  task 0 takes the first ``n_ner`` training tokens in file order, each synthetic
  task ``k`` the next ``n_syn`` (tokens ``[k*n, (k+1)*n)`` when balanced), cut
  mid-sentence. The tokens are the same for every seed; only the synthetic
  draws and the model's initialisation change with it.

A token that a task does not label has ``MASK = -1`` in that task's column.
Randomness comes from independent streams: ``default_rng([seed, 0])`` shuffles
the sentences and ``default_rng([seed, 1, k])`` draws synthetic task ``k``, so
for one seed the first slices and draws are the same whatever ``T`` is.
Every enabled relatedness measure (AMI always) of each synthetic task is measured
on the tokens it labels, against their real labels (:attr:`TaskData.measures`).

Real auxiliary tasks (``real_columns``): tasks ``1..k`` take their slices by the same
rules, but their labels are a corpus column on the slice
(:func:`mtllaws.realtasks.task_labels`) instead of a draw; their measures are recorded
exactly as a synthetic task's (the AMI of a real task is the AMI of its labels to NER's
on its slice). Measures that fit per-task models on one-hot targets see every task of
such a point with ``max(c, c_real)`` classes: the classes a task lacks are zero columns,
which change neither RV coefficients nor SVD weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mtllaws.realtasks import task_labels
from mtllaws.relatedness import (
    MEASURES,
    MeasureInputs,
    check_alpha,
    enabled_measures,
    point_values,
    transition_matrix,
)

__all__ = [
    "MASK",
    "SLICES",
    "TaskData",
    "simulate_labels",
    "make_tasks",
]

#: Label of a token that a task does not label.
MASK = -1
SLICES = ("disjoint", "shared", "contiguous")


def _where(point: str | None) -> str:
    return f"grid point {point}: " if point else ""


def _as_count(value, name: str, point: str | None, minimum: int = 1) -> int:
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        as_float = float("nan")
    if not as_float.is_integer() or as_float < minimum:
        raise ValueError(f"{_where(point)}{name}={value!r} must be an integer >= {minimum}")
    return int(as_float)


def simulate_labels(y: np.ndarray, alpha: float, c: int, rng: np.random.Generator) -> np.ndarray:
    """Draw synthetic labels for all tokens at once (inverse CDF, one uniform per token).

    Parameters
    ----------
    y : (N,) int array
        Real labels in ``[0, c)``.
    alpha : float
        Diagonal of ``M``, in ``[1/c, 1]``.
    c : int
        Number of classes.
    rng : numpy.random.Generator

    Returns
    -------
    (N,) int64
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-d integer array, got {y.dtype} shape {y.shape}")
    cum = np.cumsum(transition_matrix(alpha, c), axis=1)
    cum[:, -1] = 1.0  # guard against rounding: every u < 1 falls in a column
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(
            f"labels must lie in [0, {c}) (no MASK), got range [{y.min()}, {y.max()}]"
        )
    u = rng.random(y.shape[0])
    return (u[:, None] >= cum[y]).sum(axis=1, dtype=np.int64)


@dataclass(frozen=True)
class TaskData:
    """Labels of all tasks of one grid point.

    Attributes
    ----------
    token_idx : (M,) int64
        Indices into the training tokens (rows of the training windows).
    labels : (M, T) int64
        Column 0 NER (real IO labels), columns 1.. the synthetic tasks;
        ``MASK = -1`` where a task does not label the token.
    measures : dict of str to (T-1,) float64
        Each enabled relatedness measure (:data:`mtllaws.relatedness.MEASURES`;
        ``"ami"`` always) of each synthetic task to the real labels of its tokens.
    alphas : (T-1,) float64
        ``NaN`` for a real auxiliary task.
    slices : str
        ``"disjoint"``, ``"shared"`` or ``"contiguous"``.
    seed, n_ner, n_syn : int
        ``n_syn`` is 0 when ``T == 1``.
    """

    token_idx: np.ndarray
    labels: np.ndarray
    measures: dict
    alphas: np.ndarray
    slices: str
    seed: int
    n_ner: int
    n_syn: int

    @property
    def n_tasks(self) -> int:
        """Number of tasks ``T`` (NER included)."""
        return self.labels.shape[1]

    @property
    def ami(self) -> np.ndarray:
        """``(T-1,)`` measured AMI of each synthetic task (``measures["ami"]``)."""
        return self.measures["ami"]


def _token_order(lengths: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Token indices in shuffled-sentence order, and the end offset of each sentence in it."""
    starts = np.cumsum(lengths) - lengths
    perm = rng.permutation(lengths.size)
    plen = lengths[perm]
    ends = np.cumsum(plen)
    order = np.repeat(starts[perm] - (ends - plen), plen) + np.arange(ends[-1] if ends.size else 0)
    return order, ends


def make_tasks(
    y_train: np.ndarray,
    sentence_lengths: np.ndarray,
    *,
    n_tasks: int,
    n_ner: int,
    n_syn: int | None = None,
    alphas: float | Sequence[float] | None = None,
    slices: str = "disjoint",
    seed: int = 0,
    n_classes: int | None = None,
    point: str | None = None,
    measures: Iterable[str] = ("ami",),
    windows: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    input_maps: np.ndarray | None = None,
    real_columns: Sequence[np.ndarray] = (),
    real_classes: Sequence[int] | None = None,
) -> TaskData:
    """Task data of one grid point (Algorithm 1).

    Parameters
    ----------
    y_train : (N,) int array
        IO label ids of the training split.
    sentence_lengths : (S,) int array
        Training sentence lengths (sum ``N``).
    n_tasks : int
        ``T``, NER included (``T = 1``: NER alone).
    n_ner : int
        Tokens labelled for NER (``n`` in balanced grids).
    n_syn : int, optional
        Tokens labelled per synthetic task (default ``n_ner``: balanced).
    alphas : float or sequence of float
        One ``alpha`` for all synthetic tasks, or ``T - 1`` of them.
    slices : {"disjoint", "shared", "contiguous"}, default "disjoint"
        See the module docstring.
    seed : int, default 0
    n_classes : int, optional
        ``c`` (default ``y_train.max() + 1``; pass ``len(labels)``).
    point : str, optional
        Grid point id named in error messages.
    measures : iterable of str, default ("ami",)
        Relatedness measures to record per synthetic task
        (:func:`mtllaws.relatedness.enabled_measures`: AMI is always added).
    windows : (N, W) int array, optional
        The training windows (row ``i`` is training token ``i``); with
        ``embeddings``, needed by measures whose ``needs`` is ``"inputs"``.
    embeddings : (V, D) float array, optional
        The embedding matrix the windows index.
    input_maps : (T, D, D) float array, optional
        Fixed per-task input maps (:func:`mtllaws.alignment.point_input_maps`): measures
        see task ``t``'s inputs as ``E·M_tᵀ``, as the model does. ``None``: identity.
        Only the measures read them (the labels do not depend on them).
    real_columns : sequence of (N,) int array, default ()
        Real auxiliary tasks: the corpus column's label ids of every training token
        (``PreparedCorpus.aux_labels(name, "train")``) of tasks ``1..k``, in order;
        ``alphas`` then covers the ``T - 1 - k`` synthetic tasks only.
    real_classes : sequence of int, optional
        Each real task's number of labels (default: its column's max id + 1).

    Returns
    -------
    TaskData

    Raises
    ------
    ValueError
        Naming the grid point: ``alpha`` outside ``[1/c, 1]``, ``T < 1``,
        ``n < 1``, a wrong number of alphas, or more tokens needed than the
        training split has.
    """
    where = _where(point)
    names = enabled_measures(measures, key=f"{where}measures")
    if (windows is None) != (embeddings is None):
        raise ValueError(f"{where}pass both windows and embeddings to make_tasks, or neither")
    for name in names:
        needs = MEASURES[name].needs
        if needs == "model" or (needs == "inputs" and windows is None):
            what = "a trained model" if needs == "model" else "windows and embeddings"
            raise ValueError(
                f"{where}measure {name!r} needs {what}; "
                + ("it is computed after training: leave it out of make_tasks' measures"
                   if needs == "model" else "pass windows= and embeddings= to make_tasks")
            )
    n_tasks = _as_count(n_tasks, "n_tasks (T)", point)
    maps = None if input_maps is None else np.asarray(input_maps, dtype=np.float64)
    if maps is not None and (embeddings is None or maps.shape != (
            n_tasks, np.shape(embeddings)[1], np.shape(embeddings)[1])):
        raise ValueError(
            f"{where}input_maps has shape {maps.shape}; pass embeddings and one (D, D) map "
            f"per task, (n_tasks, D, D)"
        )
    n_ner = _as_count(n_ner, "n_ner (n)", point)
    n_syn = n_ner if n_syn is None else _as_count(n_syn, "n_syn", point)
    if slices not in SLICES:
        raise ValueError(f"{where}slices={slices!r}; use one of {', '.join(SLICES)}")
    y = np.asarray(y_train)
    lengths = np.asarray(sentence_lengths, dtype=np.int64)
    n_total = y.shape[0]
    if windows is not None and np.shape(windows)[0] != n_total:
        raise ValueError(
            f"{where}windows has {np.shape(windows)[0]} rows but y_train has {n_total} tokens; "
            "pass the training split's windows"
        )
    if lengths.sum() != n_total or (lengths < 1).any():
        raise ValueError(
            f"{where}sentence_lengths sum to {int(lengths.sum())} but y_train has "
            f"{n_total} tokens (and every length must be >= 1); pass the training split's arrays"
        )
    c = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"{where}y_train ids must lie in [0, {c}), got [{y.min()}, {y.max()}]")
    n_real = len(real_columns)
    if n_real > n_tasks - 1:
        raise ValueError(f"{where}{n_real} real auxiliary task(s) but n_tasks={n_tasks} has "
                         f"{n_tasks - 1} auxiliary task(s); raise n_tasks")
    real_cols = [np.asarray(col) for col in real_columns]
    real_c = ([int(col.max()) + 1 for col in real_cols] if real_classes is None
              else [int(x) for x in real_classes])
    n_drawn = n_tasks - 1 - n_real  # synthetic tasks
    n_syn_tasks = n_tasks - 1
    if n_drawn == 0:
        alpha_arr = np.zeros(0)
    else:
        if alphas is None:
            raise ValueError(f"{where}n_tasks={n_tasks} needs alphas for the synthetic tasks")
        alpha_arr = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        if alpha_arr.size == 1:
            alpha_arr = np.repeat(alpha_arr, n_drawn)
        if alpha_arr.shape != (n_drawn,):
            raise ValueError(
                f"{where}got {alpha_arr.size} alphas for {n_drawn} synthetic tasks "
                f"(n_tasks={n_tasks}, {n_real} real); give one alpha or one per synthetic task"
            )
        alpha_arr = np.array([check_alpha(a, c, point) for a in alpha_arr])
    alpha_arr = np.concatenate([np.full(n_real, np.nan), alpha_arr])

    sizes = [n_ner] + [n_syn] * n_syn_tasks
    need = max(sizes) if slices == "shared" else sum(sizes)
    if need > n_total:
        if n_syn == n_ner or not n_syn_tasks:  # balanced: the paper's T*n wording
            formula = f"n = {n_ner}" if slices == "shared" else f"T*n = {n_tasks}*{n_ner}"
        elif slices == "shared":
            formula = f"max(n_ner, n_syn) = max({n_ner}, {n_syn})"
        else:
            formula = f"n_ner + (T-1)*n_syn = {n_ner} + {n_syn_tasks}*{n_syn}"
        raise ValueError(
            f"{where}needs {formula} = {need} training tokens ({slices} slices) but the "
            f"training split has only {n_total}; lower n_tasks or the tokens per task"
        )

    bounds = np.concatenate([[0], np.cumsum(sizes)])
    if slices == "contiguous":
        token_idx = np.arange(need)
        rows = [np.arange(bounds[t], bounds[t + 1]) for t in range(n_tasks)]
    elif slices == "disjoint":
        order, sent_ends = _token_order(lengths, np.random.default_rng([seed, 0]))
        parts, pos = [], 0
        for task, size in enumerate(sizes):
            stop = pos + size
            if stop > n_total:
                raise ValueError(
                    f"{where}disjoint slices of whole sentences ran out of tokens at task "
                    f"{task}: {need} tokens needed, {n_total} in the training split, but "
                    f"trimming the last sentence of each slice wastes some; lower n_tasks or "
                    f"the tokens per task"
                )
            parts.append(order[pos:stop])
            last = int(np.searchsorted(sent_ends, stop, side="left"))  # sentence holding stop-1
            pos = int(sent_ends[last])  # drop the rest of the trimmed sentence
        token_idx = np.concatenate(parts)
        rows = [np.arange(bounds[t], bounds[t + 1]) for t in range(n_tasks)]
    else:
        order, _ = _token_order(lengths, np.random.default_rng([seed, 0]))
        token_idx = order[:need]
        rows = [np.arange(size) for size in sizes]
    token_idx = token_idx.astype(np.int64)

    labels = np.full((token_idx.size, n_tasks), MASK, dtype=np.int64)
    labels[rows[0], 0] = y[token_idx[rows[0]]]
    syn_labels, real_labels, inputs = [], [], []
    cache: dict = {}  # shared by the point's tasks (e.g. NER's ridge model)
    measure_c = max([c, *real_c[:n_real]])  # one-hot width of the per-task models
    for k in range(1, n_tasks):
        real = y[token_idx[rows[k]]].astype(np.int64)
        if k <= n_real:
            syn = task_labels(token_idx[rows[k]], real_cols[k - 1], name=f"task {k}",
                              point=point)
            if syn.size and syn.max() >= real_c[k - 1]:
                raise ValueError(f"{where}real task {k} has label ids up to {syn.max()} but "
                                 f"real_classes gives {real_c[k - 1]}; pass its label count")
        else:
            syn = simulate_labels(real, alpha_arr[k - 1], c,
                                  np.random.default_rng([seed, 1, k]))
        labels[rows[k], k] = syn
        syn_labels.append(syn)
        real_labels.append(real)
        if windows is not None and embeddings is not None:
            inputs.append(MeasureInputs(
                embeddings=embeddings,
                windows=windows[token_idx[rows[k]]],
                ner_windows=windows[token_idx[rows[0]]],
                ner_labels=labels[rows[0], 0],
                n_classes=measure_c,
                seed=int(seed),
                task=k,
                input_map=None if maps is None else maps[k],
                cache=cache,
            ))
    values = point_values(names, syn_labels, real_labels, inputs or None, point=point)
    return TaskData(
        token_idx=token_idx,
        labels=labels,
        measures=values,
        alphas=alpha_arr,
        slices=slices,
        seed=int(seed),
        n_ner=n_ner,
        n_syn=n_syn if n_syn_tasks else 0,
    )
