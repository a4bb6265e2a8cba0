"""Input alignment and model similarity of a synthetic task to NER (issue 17).

The relatedness measures of Wu, Zhang & Ré (ICLR 2020), restated in
``../shared/notes/task-alignment.md``, registered in the measure registry of
:mod:`mtllaws.relatedness` (importing that module registers them), and the per-task
input rotation of a grid point. The maths lives in :mod:`mtllaws.taskspace`; this
module decides what each measure is computed on:

* ``cov_sim``, ``cov_rv`` (``needs="inputs"``): the task's centre-token embeddings
  (one row per labelled token, ``D`` columns; a rotated task's are ``E·M_tᵀ``) against
  NER's centre-token embeddings on NER's own tokens.
* ``model_sim`` (``needs="inputs"``): RV coefficient of the task's ridge model on its
  own flattened windows (:class:`~mtllaws.taskspace.WindowMatrix`; a rotated task reads
  the rotated table) and NER's ridge model on NER's windows. NER's model is fitted
  once per grid point and each task's once, in :attr:`MeasureInputs.cache`.
* ``svd_weight`` (joint, ``needs="inputs"``): Algorithm 2's weight of each synthetic
  task among all ``T`` tasks of the point, from the same ridge models (weights over the
  ``T`` tasks sum to ``T``; NER's is ``T`` minus the sum of the recorded ones).
* ``head_cka`` (``needs="model"``): linear CKA of NER's head logits and task ``t``'s head
  logits on a fixed sample of NER dev windows (:func:`head_cka_sample`), task ``t``
  reading them through its input map.

Input rotation: :func:`point_input_maps` gives a grid point's ``(T, D, D)`` maps from its
``rotation`` (degrees): NER the identity, synthetic task ``t`` the map
:func:`mtllaws.taskspace.rotation_map` of angle ``rotation`` with the seed
``[seed, 2, t]`` (the point's seed and the task index). Simulation (the measures) and
training (:func:`mtllaws.core.fit`'s ``input_maps``) both call it, so both see the same
maps.
"""

from __future__ import annotations

import math

import numpy as np

from mtllaws import taskspace as ts
from mtllaws.relatedness import Measure, MeasureInputs, ModelInputs, register

__all__ = [
    "HEAD_CKA_SAMPLE",
    "MAX_ROTATION",
    "check_rotation",
    "point_input_maps",
    "head_cka_sample",
    "cov_sim_measure",
    "cov_rv_measure",
    "model_sim_measure",
    "svd_weight_measure",
    "head_cka_measure",
    "ALIGNMENT_MEASURES",
]

#: Largest input rotation of a grid point, in degrees.
MAX_ROTATION = 180.0

#: NER dev tokens on which ``head_cka`` compares the heads.
HEAD_CKA_SAMPLE = 2000


def check_rotation(value, where: str = "rotation") -> float:
    """A grid point's input rotation in degrees, checked.

    Parameters
    ----------
    value : float
        Angle in degrees.
    where : str
        What to name in the error (config key, grid block).

    Returns
    -------
    float
        The angle, finite and in ``[0, 180]``.
    """
    try:
        angle = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} = {value!r}: give the input rotation as a number of "
                         "degrees in [0, 180]") from None
    if isinstance(value, bool) or not math.isfinite(angle) or not 0.0 <= angle <= MAX_ROTATION:
        raise ValueError(f"{where} = {value!r}: the input rotation is an angle in degrees "
                         f"in [0, {MAX_ROTATION:g}] (0 = no rotation, 90 = orthogonal planes)")
    return angle


def point_input_maps(n_tasks: int, dim: int, rotation: float, seed: int) -> np.ndarray | None:
    """The input maps of one grid point.

    Parameters
    ----------
    n_tasks : int
        ``T``, NER included.
    dim : int
        ``D``, the embedding size.
    rotation : float
        Angle in degrees (:func:`check_rotation`).
    seed : int
        The grid point's seed.

    Returns
    -------
    (T, D, D) float64 or None
        ``None`` when nothing is rotated (``rotation == 0`` or ``T == 1``); otherwise
        the identity for NER (task 0) and ``rotation_map(D, radians(rotation),
        seed=[seed, 2, t])`` for synthetic task ``t``.
    """
    angle = check_rotation(rotation)
    if angle == 0.0 or n_tasks < 2:
        return None
    maps = np.empty((n_tasks, dim, dim))
    maps[0] = np.eye(dim)
    for t in range(1, n_tasks):
        maps[t] = ts.rotation_map(dim, math.radians(angle), seed=[int(seed), 2, t])
    return maps


def head_cka_sample(n_dev: int, *, size: int = HEAD_CKA_SAMPLE, seed: int = 0) -> np.ndarray:
    """Indices of the NER dev tokens that ``head_cka`` reads (sorted, fixed by ``seed``).

    Parameters
    ----------
    n_dev : int
        Tokens in the dev split.
    size : int, default 2000
        Sample size (all tokens when the split is smaller).
    seed : int, default 0
        The same for every model, so all models are compared on the same tokens.

    Returns
    -------
    (min(size, n_dev),) int64
    """
    if n_dev < 2:
        raise ValueError(f"the dev split has {n_dev} token(s); head_cka needs at least 2")
    take = min(int(size), int(n_dev))
    rng = np.random.default_rng([int(seed), 17])
    return np.sort(rng.choice(int(n_dev), size=take, replace=False)).astype(np.int64)


# --------------------------------------------------------------------------- inputs


def _centre_rows(embeddings, windows, input_map=None) -> np.ndarray:
    """Centre-token embeddings ``(n, D)`` of ``windows``, through ``input_map`` (``E·Mᵀ``)."""
    x = np.asarray(embeddings)[np.asarray(windows)[:, np.shape(windows)[1] // 2]]
    x = x.astype(np.float64)
    return x if input_map is None else x @ np.asarray(input_map, dtype=np.float64).T


def _ner_centre(inputs: MeasureInputs) -> np.ndarray:
    if "ner_centre" not in inputs.cache:
        inputs.cache["ner_centre"] = _centre_rows(inputs.embeddings, inputs.ner_windows)
    return inputs.cache["ner_centre"]


def _window_matrix(embeddings, windows, input_map=None) -> ts.WindowMatrix:
    """Flattened windows as a WindowMatrix; a mapped task gets the mapped rows it uses."""
    if input_map is None:
        return ts.WindowMatrix(windows, embeddings)
    uniq, inv = np.unique(np.asarray(windows), return_inverse=True)
    table = np.asarray(embeddings, dtype=np.float64)[uniq] @ np.asarray(input_map).T
    return ts.WindowMatrix(inv.reshape(np.shape(windows)), table)


def _theta(inputs: MeasureInputs, task: int, labels=None) -> np.ndarray:
    """Ridge model (d × c) of task ``task`` (0 = NER) on its own windows, cached per point."""
    key = ("theta", task)
    if key not in inputs.cache:
        if task == 0:
            x = _window_matrix(inputs.embeddings, inputs.ner_windows)
            y = inputs.ner_labels
        else:
            x = _window_matrix(inputs.embeddings, inputs.windows, inputs.input_map)
            y = labels
        inputs.cache[key] = ts.ridge_model(x, ts.centred_onehot(np.asarray(y, dtype=np.int64),
                                                                inputs.n_classes))
    return inputs.cache[key]


# --------------------------------------------------------------------------- measures


def cov_sim_measure(task_labels, real_labels, inputs: MeasureInputs) -> float:
    """``taskspace.cov_sim`` of the task's centre-token inputs and NER's.

    Measure: covariance similarity score of Wu, Zhang & Ré (eq. 5, rank at 99 % of the
    spectrum) of the task's centre-token embeddings against NER's
    """
    x = _centre_rows(inputs.embeddings, inputs.windows, inputs.input_map)
    return ts.cov_sim(x, _ner_centre(inputs))


def cov_rv_measure(task_labels, real_labels, inputs: MeasureInputs) -> float:
    """``taskspace.cov_rv`` of the task's centre-token inputs and NER's.

    Measure: RV coefficient of the uncentred covariances of the task's and NER's
    centre-token embeddings (1 = proportional; falls as the task's inputs rotate)
    """
    x = _centre_rows(inputs.embeddings, inputs.windows, inputs.input_map)
    return ts.cov_rv(x, _ner_centre(inputs))


def model_sim_measure(task_labels, real_labels, inputs: MeasureInputs) -> float:
    """RV coefficient of the task's and NER's ridge models on their own windows.

    Measure: RV coefficient of the task's and NER's single-task ridge models on their
    own flattened windows (centred one-hot targets; class relabelling invariant)
    """
    return ts.rv_coefficient(_theta(inputs, inputs.task, task_labels), _theta(inputs, 0))


def svd_weight_measure(task_labels, real_labels, inputs) -> np.ndarray:
    """Algorithm 2's weights (over all T tasks, summing to T) of the synthetic tasks.

    Measure: Algorithm 2's SVD weight of the task among the point's T tasks (weights sum
    to T; ridge models on each task's own windows)
    """
    thetas = [_theta(inputs[0], 0)]
    thetas += [_theta(inp, inp.task, y) for inp, y in zip(inputs, task_labels, strict=True)]
    return ts.svd_weights(thetas)[1:]


def head_cka_measure(inputs: ModelInputs) -> list[float]:
    """Linear CKA of NER's head logits and each synthetic task's on NER dev windows.

    Measure: linear CKA of NER's and the task's head logits of the trained model on a
    fixed sample of 2000 NER dev tokens (the task reads them through its input map)
    """
    import torch

    model = inputs.model
    device = model.lstm_w_ih.device
    ids = torch.as_tensor(np.asarray(inputs.windows), dtype=torch.int64, device=device)
    table = torch.as_tensor(np.asarray(inputs.embeddings), dtype=model.lstm_w_ih.dtype,
                            device=device)
    n_tasks = model.config.n_tasks
    with torch.no_grad():
        if model.input_maps is None:
            logits = model.heads(model.encode_ids(ids, table))  # (S, T, c)
            per_task = [logits[:, t] for t in range(n_tasks)]
        else:
            per_task = [model.heads(model.encode_ids(ids, table, task=t), task=t)
                        for t in range(n_tasks)]
    # real auxiliary tasks have their own head sizes: compare each head's own classes
    # (a smaller head's padded columns are -inf)
    per_task = [p[:, :c] for p, c in zip(per_task, model.config.class_counts, strict=True)]
    ner = per_task[0].double().cpu().numpy()
    return [ts.linear_cka(ner, per_task[t].double().cpu().numpy()) for t in range(1, n_tasks)]


#: The measures of this module: name, function, what it needs besides the labels,
#: whether it is joint, symbol and figure label (the fields of
#: :class:`~mtllaws.relatedness.Measure`); each description is the paragraph of the
#: function's docstring that starts with ``Measure:``.
ALIGNMENT_MEASURES = (
    ("cov_sim", cov_sim_measure, "inputs", False, "CovSim", "covariance similarity to NER (eq. 5)"),
    ("cov_rv", cov_rv_measure, "inputs", False, "CovRV", "covariance RV coefficient to NER"),
    ("model_sim", model_sim_measure, "inputs", False, "ModelSim",
     "model similarity to NER (ridge RV)"),
    ("svd_weight", svd_weight_measure, "inputs", True, "SVDw", "SVD task weight (Algorithm 2)"),
    ("head_cka", head_cka_measure, "model", False, "HeadCKA", "head CKA to NER (trained model)"),
)


def _description(function) -> str:
    """The ``Measure:`` paragraph of ``function``'s docstring, on one line."""
    for paragraph in function.__doc__.split("\n\n"):
        words = paragraph.split()
        if words and words[0] == "Measure:":
            return " ".join(words[1:])
    raise ValueError(f"{function.__name__} has no 'Measure:' paragraph in its docstring")


for _name, _function, _needs, _joint, _symbol, _label in ALIGNMENT_MEASURES:
    register(Measure(name=_name, function=_function, description=_description(_function),
                     label=_label, symbol=_symbol, needs=_needs, joint=_joint))
