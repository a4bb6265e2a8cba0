"""Relatedness of a synthetic task to NER: AMI, its alpha calibration, a measure registry.

The label channel
-----------------
A synthetic task relabels a token of real class ``y`` by drawing from row ``y`` of
``M(alpha)`` (:func:`transition_matrix`, the paper's Algorithm 1; the draw itself is
:func:`mtllaws.simulate.simulate_labels`). How related such a task is to NER is
measured here.

AMI
---
:func:`ami` is scikit-learn's ``adjusted_mutual_info_score`` (arithmetic
normaliser, natural log) computed from the contingency table, with the
expected mutual information summed in vectorised numpy. It equals sklearn to
1e-9 (tested) and takes about a millisecond on 200k tokens where sklearn takes
0.1 s. On the IO labels of the whole CoNLL-2003 training split the simulated
AMI reproduces the paper's pairs (alpha 0.6/0.8/0.9/0.95/0.99 -> AMI
0.13/0.34/0.55/0.71/0.91, within 0.01; tested). :func:`expected_ami` is the AMI
of the expected contingency table ``n_i M_ij``; it is smooth and increasing in
``alpha``, and :func:`alpha_for_ami` inverts it (or, with
``method="simulated"``, a seeded simulation) so a grid can be given in AMI.

Measures
--------
A *measure* is one number per synthetic task that says how related it is to NER.
Each is a :class:`Measure` in :data:`MEASURES`: a name, a function
``function(task_labels, real_labels, inputs=None) -> float``, a description, the
labels a figure and a formula use, and what it ``needs``:

* ``"labels"``: only the two labelings of the task's tokens (AMI);
* ``"inputs"``: also the tokens' inputs, given as a :class:`MeasureInputs`
  (``embeddings`` (V, D), the task's ``windows`` (M_t, W) aligned with its labels,
  and NER's ``ner_windows`` / ``ner_labels`` on NER's own tokens);
* ``"model"``: a trained model; such a measure is computed after training, not by
  :func:`mtllaws.simulate.make_tasks` (which refuses it), as
  ``function(inputs: ModelInputs) -> (T-1,) values`` (:func:`model_values`).

A *joint* measure (``Measure(joint=True)``) is a property of the point's tasks taken
together (e.g. Algorithm 2's SVD weights): its function gets the lists of every
synthetic task's labels, NER labels and inputs and returns one value per synthetic
task (:func:`point_values`).

``task_labels`` are the synthetic labels of the task's tokens, ``real_labels``
the NER labels of the same tokens (both ``(M_t,)`` int, no ``MASK``).

Every measure travels through the workflow under the column names of
:func:`measure_columns`: a list per model in the run rows (one value per
synthetic task, ``ami``), its mean (``ami_mean``), and in the summary the mean
and std of that mean over seeds (``ami_mean_mean``, ``ami_mean_std``). AMI is
registered here and always on (:func:`enabled_measures`). A new measure is one
function plus one :func:`register` call; shards, the summary, the figures
(``plot_f1_vs_ami(measure=...)``) and the regression aliases pick it up.

A grid may ask for synthetic tasks by target AMI instead of alpha; that target is
a grid value recorded under :data:`TARGET_COLUMN` (``ami_target``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "NEEDS",
    "TARGET_COLUMN",
    "Measure",
    "MeasureColumns",
    "MeasureInputs",
    "ModelInputs",
    "MEASURES",
    "register",
    "measure_columns",
    "enabled_measures",
    "measure_values",
    "point_values",
    "model_values",
    "run_values",
    "transition_matrix",
    "check_alpha",
    "contingency",
    "ami_from_contingency",
    "ami",
    "expected_ami",
    "alpha_for_ami",
]

_EPS = np.finfo(np.float64).eps
#: log of the neglected tail weight in the EMI sum (see ``_emi``).
_EMI_TAIL = 80.0

#: What a measure may need besides the two labelings (see the module docstring).
NEEDS = ("labels", "inputs", "model")

#: Grid column of a requested (target) AMI; NaN when the grid gave alpha.
TARGET_COLUMN = "ami_target"


def _where(point: str | None) -> str:
    return f"grid point {point}: " if point else ""


def check_alpha(alpha: float, c: int, point: str | None = None) -> float:
    """``alpha`` as a float in ``[1/c, 1]`` (rounding slack clipped), else ValueError.

    Parameters
    ----------
    alpha : float
        Probability of keeping the label.
    c : int
        Number of classes.
    point : str, optional
        Grid point named in the error message.

    Returns
    -------
    float
    """
    alpha = float(alpha)
    if not (1.0 / c - 1e-12 <= alpha <= 1.0 + 1e-12):  # also rejects NaN
        raise ValueError(
            f"{_where(point)}alpha={alpha} is outside [1/c, 1] = [{1.0 / c:.6g}, 1] for "
            f"c={c} classes; use an alpha in that range"
        )
    return min(max(alpha, 1.0 / c), 1.0)


def transition_matrix(alpha: float, c: int) -> np.ndarray:
    """The noise matrix ``M(alpha)`` of Algorithm 1.

    Parameters
    ----------
    alpha : float
        Probability of keeping the label, in ``[1/c, 1]``.
    c : int
        Number of classes (>= 2).

    Returns
    -------
    (c, c) float64
        ``alpha`` on the diagonal, ``(1 - alpha) / (c - 1)`` elsewhere; rows sum to 1.
    """
    try:
        as_float = float(c)
    except (TypeError, ValueError):
        as_float = float("nan")
    if not as_float.is_integer() or as_float < 2:
        raise ValueError(f"c={c!r} must be an integer >= 2")
    c = int(as_float)
    alpha = check_alpha(alpha, c)
    m = np.full((c, c), (1.0 - alpha) / (c - 1))
    np.fill_diagonal(m, alpha)
    return m


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Contingency table of two labelings over the classes that occur.

    Parameters
    ----------
    a, b : (N,) array
        Labelings (any hashable-free numpy dtype: ints or strings).

    Returns
    -------
    (R, C) int64
        Counts; rows are the classes of ``a``, columns those of ``b`` (sorted).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"labelings must be 1-d and of equal length, got {a.shape} and {b.shape}")
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and a.size and min(a.min(), b.min()) >= 0:
        r, c = int(a.max()) + 1, int(b.max()) + 1
        if r * c <= 4 * a.size + 1024:
            table = np.bincount(a * c + b, minlength=r * c).reshape(r, c)
            return table[table.any(axis=1)][:, table.any(axis=0)]
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ua.size, ub.size), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    return table


def _emi(a: np.ndarray, b: np.ndarray, n: int) -> float:
    """Expected mutual information of two labelings with marginals ``a`` and ``b``.

    The sum of sklearn's ``expected_mutual_information`` (Vinh et al. 2009),
    vectorised over all cells and ``n_ij`` values at once. Values
    of ``n_ij`` farther from the mean ``a_i b_j / n`` than a Bernstein bound
    ``d`` (hypergeometric tails are bounded by the binomial's: total weight
    ``< 2 exp(-80)``) are left out; their terms are below 1e-33 in total, so the
    result equals the full sum to rounding, at a tenth of the cost on 200k tokens.
    """
    from scipy.special import gammaln  # here: importing scipy costs every workflow parse

    a = a.astype(np.int64)
    b = b.astype(np.int64)
    if a.size == 1 or b.size == 1:
        return 0.0
    ai, bj = np.meshgrid(a, b, indexing="ij")
    ai, bj = ai.ravel(), bj.ravel()
    p = ai / n
    dev = _EMI_TAIL / 3.0 + np.sqrt(_EMI_TAIL**2 / 9.0 + 2.0 * _EMI_TAIL * bj * p * (1.0 - p))
    start = np.maximum(np.maximum(1, ai + bj - n), np.floor(bj * p - dev).astype(np.int64))
    stop = np.minimum(np.minimum(ai, bj), np.ceil(bj * p + dev).astype(np.int64)) + 1
    counts = np.maximum(stop - start, 0)
    cell = np.repeat(np.arange(counts.size), counts)
    nij = start[cell] + np.arange(cell.size) - (np.cumsum(counts) - counts)[cell]
    ai, bj = ai[cell], bj[cell]
    gln_cell = gammaln(ai + 1) + gammaln(bj + 1) + gammaln(n - ai + 1) + gammaln(n - bj + 1)
    gln = (
        gln_cell
        - gammaln(nij + 1)
        - gammaln(n + 1)
        - gammaln(ai - nij + 1)
        - gammaln(bj - nij + 1)
        - gammaln(n - ai - bj + nij + 1)
    )
    term2 = np.log(n) + np.log(nij) - np.log(ai) - np.log(bj)
    return float(np.sum(nij / n * term2 * np.exp(gln)))


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    if counts.size <= 1:
        return 0.0
    total = counts.sum()
    return float(-np.sum((counts / total) * (np.log(counts) - np.log(total))))


def _mi(table: np.ndarray) -> float:
    pi = table.sum(axis=1)
    pj = table.sum(axis=0)
    if pi.size == 1 or pj.size == 1:
        return 0.0
    nzx, nzy = np.nonzero(table)
    nz = table[nzx, nzy].astype(np.float64)
    total = table.sum()
    nm = nz / total
    log_outer = -np.log(pi[nzx].astype(np.float64) * pj[nzy]) + np.log(pi.sum()) + np.log(pj.sum())
    mi = nm * (np.log(nz) - np.log(total)) + nm * log_outer
    mi = np.where(np.abs(mi) < _EPS, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


def _ami_from_parts(table: np.ndarray, emi: float) -> float:
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    mi = _mi(table)
    normalizer = float(np.mean([_entropy(rows), _entropy(cols)]))
    denominator = normalizer - emi
    denominator = min(denominator, -_EPS) if denominator < 0 else max(denominator, _EPS)
    numerator = mi - emi
    numerator = min(numerator, -_EPS) if numerator < 0 else max(numerator, _EPS)
    return float(numerator / denominator)


def ami_from_contingency(table: np.ndarray) -> float:
    """Adjusted mutual information from a contingency table (sklearn semantics).

    Parameters
    ----------
    table : (R, C) int array
        Counts; empty rows and columns are ignored (as classes that do not occur).

    Returns
    -------
    float
        Equal to ``sklearn.metrics.adjusted_mutual_info_score`` on the labelings
        the table counts (arithmetic average), including its special cases.
    """
    table = np.asarray(table)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    if r == c == 1 or r == c == 0:
        return 1.0
    if r == 1 or c == 1:
        return 0.0
    n = int(table.sum())
    return _ami_from_parts(table, _emi(table.sum(axis=1), table.sum(axis=0), n))


def ami(a: np.ndarray, b: np.ndarray) -> float:
    """``sklearn.metrics.adjusted_mutual_info_score(a, b)``, fast.

    Parameters
    ----------
    a, b : (N,) array
        Two labelings of the same tokens.

    Returns
    -------
    float
    """
    return ami_from_contingency(contingency(a, b))


def _class_counts(labels: np.ndarray, c: int | None) -> tuple[np.ndarray, int]:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d array, got shape {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ValueError("labels must be non-negative integer class ids (no MASK)")
    c = int(labels.max()) + 1 if c is None else int(c)
    if labels.max() >= c:
        raise ValueError(f"labels contain class {labels.max()} but c={c}")
    if c < 2:
        raise ValueError(f"need c >= 2 classes, got c={c}")
    return np.bincount(labels, minlength=c), c


def _round_preserving_sum(x: np.ndarray, total: int) -> np.ndarray:
    base = np.floor(x).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        base[np.argsort(-(x - base), kind="stable")[:short]] += 1
    return base


def expected_ami(alpha: float, labels: np.ndarray, *, c: int | None = None) -> float:
    """AMI of the expected contingency table ``n_i M(alpha)_ij``.

    Parameters
    ----------
    alpha : float
        In ``[1/c, 1]``.
    labels : (N,) int array
        Real labels whose class counts ``n_i`` are used.
    c : int, optional
        Number of classes (default ``labels.max() + 1``).

    Returns
    -------
    float
        MI and entropies of the real-valued expected table, EMI of its marginals
        rounded to integers. Increasing in ``alpha``; 1 at ``alpha = 1``.
    """
    counts, c = _class_counts(labels, c)
    table = counts[:, None] * transition_matrix(alpha, c)
    table = table[counts > 0][:, table.sum(axis=0) > 0]
    n = int(counts.sum())
    if table.shape[0] == 1:
        return 0.0
    rows = counts[counts > 0]
    cols = _round_preserving_sum(table.sum(axis=0), n)
    return _ami_from_parts(table, _emi(rows, cols[cols > 0], n))


def alpha_for_ami(
    target: float,
    labels: np.ndarray,
    *,
    c: int | None = None,
    seed: int = 0,
    method: str = "expected",
    atol: float = 1e-4,
    point: str | None = None,
) -> float:
    """The ``alpha`` whose synthetic task has a requested AMI to ``labels``.

    Parameters
    ----------
    target : float
        Requested AMI.
    labels : (N,) int array
        Real labels (the workflow passes the whole training split, on which the
        paper measured its AMI/alpha pairs).
    c : int, optional
        Number of classes (default ``labels.max() + 1``).
    seed : int, default 0
        Seed of the simulation for ``method="simulated"``.
    method : {"expected", "simulated"}, default "expected"
        ``"expected"``: solve :func:`expected_ami` (deterministic, smooth) with
        Brent's method. ``"simulated"``: bisect the AMI of one seeded draw
        (the same uniforms for every ``alpha``) to 1e-6.
    atol : float, default 1e-4
        A target within ``atol`` of the AMI at ``alpha = 1/c`` (about 0) or at
        ``alpha = 1`` (1) returns that end instead of failing.
    point : str, optional
        Grid point named in error messages.

    Returns
    -------
    float
        ``alpha`` in ``[1/c, 1]``.

    Raises
    ------
    ValueError
        If ``target`` lies outside the AMI reachable between ``alpha = 1/c``
        and ``alpha = 1``.
    """
    counts, c = _class_counts(labels, c)
    target = float(target)
    labels = np.asarray(labels)
    if method == "expected":

        def f(alpha):
            return expected_ami(alpha, labels, c=c) - target
    elif method == "simulated":
        cum_u = np.random.default_rng(seed).random(labels.size)

        def f(alpha):
            cum = np.cumsum(transition_matrix(alpha, c), axis=1)
            cum[:, -1] = 1.0
            return ami(labels, (cum_u[:, None] >= cum[labels]).sum(axis=1)) - target
    else:
        raise ValueError(f"method={method!r}; use 'expected' or 'simulated'")
    lo, hi = 1.0 / c, 1.0
    f_lo, f_hi = f(lo), f(hi)
    if abs(f_lo) <= atol:
        return lo
    if abs(f_hi) <= atol:
        return hi
    if not (f_lo < 0.0 < f_hi):
        raise ValueError(
            f"{_where(point)}target AMI {target} is outside the reachable range "
            f"[{f_lo + target:.6f}, {f_hi + target:.6f}] (alpha from 1/c={lo:.6g} to 1, "
            f"c={c}, {labels.size} tokens); request an AMI in that range"
        )
    if method == "expected":
        from scipy.optimize import brentq

        return float(brentq(f, lo, hi, xtol=1e-12))
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        if f(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class MeasureInputs:
    """The inputs a measure with ``needs="inputs"`` receives for one synthetic task.

    Attributes
    ----------
    embeddings : (V, D) float array
        The embedding matrix (row 0, the padding id, is zeros).
    windows : (M_t, W) int array
        Window ids of the task's tokens, row ``i`` belonging to ``task_labels[i]``;
        column ``W // 2`` is the token itself. Its inputs are ``embeddings[windows]``.
    ner_windows : (M_0, W) int array
        Window ids of NER's own tokens (task 0).
    ner_labels : (M_0,) int array
        NER's labels on those tokens.
    n_classes : int
        ``c``, the number of IO classes.
    seed : int
        The grid point's seed, for measures that sample.
    task : int
        The synthetic task's index ``t`` (1-based; NER is 0).
    input_map : (D, D) float array or None
        The task's fixed input map ``M_t`` (:func:`mtllaws.alignment.point_input_maps`):
        the model reads the task's embeddings as ``E·M_tᵀ``. ``None`` is the identity
        (NER's inputs are never mapped).
    cache : dict
        One dict shared by every task of the grid point (the same object in each task's
        inputs), where a measure keeps what all tasks reuse, e.g. NER's ridge model.
    """

    embeddings: np.ndarray
    windows: np.ndarray
    ner_windows: np.ndarray
    ner_labels: np.ndarray
    n_classes: int
    seed: int = 0
    task: int = 1
    input_map: np.ndarray | None = None
    cache: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ModelInputs:
    """What a measure with ``needs="model"`` receives for one trained model.

    Attributes
    ----------
    model : mtllaws.models.MTLNet
        The trained model (eval mode); its ``input_maps`` buffer, if any, holds each
        task's input map.
    windows : (S, W) int array
        A fixed sample of NER dev windows (the same for every model of a grid point).
    embeddings : (V, D) float array
        The embedding matrix.
    seed : int
        The grid point's seed.
    """

    model: Any
    windows: np.ndarray
    embeddings: np.ndarray
    seed: int = 0


@dataclass(frozen=True)
class Measure:
    """One per-task relatedness measure.

    Attributes
    ----------
    name : str
        Identifier and column stem (a Python identifier, lower case).
    function : callable
        ``function(task_labels, real_labels, inputs=None) -> float`` (see the module
        docstring for the arguments).
    description : str
        One sentence: what the number means.
    label : str
        Axis label of a figure that plots against it.
    symbol : str
        Its name in formulas and legends (``AMI``); an identifier.
    needs : {"labels", "inputs", "model"}, default "labels"
        What besides the labels it needs (:data:`NEEDS`).
    paper_columns : tuple of str, default ()
        Columns of the paper's published table that hold this measure
        (``mutual_info`` for AMI), so studies and figures also read that table.
    joint : bool, default False
        The measure is a property of all the point's tasks together: ``function``
        gets lists over the synthetic tasks (labels, NER labels, inputs) and returns
        one value per synthetic task (:func:`point_values`). Measures that need a
        model are always computed per model for all tasks at once (:func:`model_values`).
    """

    name: str
    function: Callable[..., float]
    description: str
    label: str
    symbol: str
    needs: str = "labels"
    paper_columns: tuple[str, ...] = ()
    joint: bool = False

    def __post_init__(self):
        if not (self.name.isidentifier() and self.name == self.name.lower()):
            raise ValueError(
                f"measure name {self.name!r} must be a lower-case Python identifier (it is a "
                "column stem); rename it"
            )
        if not self.symbol.isidentifier():
            raise ValueError(
                f"measure {self.name!r}: symbol {self.symbol!r} must be an identifier (it names "
                "the variable in formulas); e.g. 'AMI'"
            )
        if self.needs not in NEEDS:
            raise ValueError(
                f"measure {self.name!r}: needs={self.needs!r}; use one of {', '.join(NEEDS)}"
            )
        if not callable(self.function):
            raise ValueError(f"measure {self.name!r}: function must be callable")


class MeasureColumns(NamedTuple):
    """The column names under which one measure travels through the workflow."""

    #: runs and evaluate shards: a list per model, one value per synthetic task
    values: str
    #: runs and evaluate shards: the mean of that list (NaN for T = 1)
    mean: str
    #: summary: mean over seeds of ``mean``
    summary_mean: str
    #: summary: sample std over seeds of ``mean``
    summary_std: str


#: The registered measures by name; AMI first and always on.
MEASURES: dict[str, Measure] = {}


def register(measure: Measure, *, replace: bool = False) -> Measure:
    """Add ``measure`` to :data:`MEASURES`.

    Parameters
    ----------
    measure : Measure
    replace : bool, default False
        Allow replacing a measure of the same name.

    Returns
    -------
    Measure
        The measure (so ``register`` can wrap a definition).
    """
    if not isinstance(measure, Measure):
        raise ValueError(f"register expects a Measure, got {type(measure).__name__}")
    if measure.name in MEASURES and not replace:
        raise ValueError(
            f"measure {measure.name!r} is already registered; pick another name or pass "
            "replace=True"
        )
    MEASURES[measure.name] = measure
    return measure


def measure_columns(name: str) -> MeasureColumns:
    """Column names of measure ``name`` in shards, runs and summary.

    Parameters
    ----------
    name : str
        A registered measure.

    Returns
    -------
    MeasureColumns
        For AMI: ``ami``, ``ami_mean``, ``ami_mean_mean``, ``ami_mean_std``
        (the summary names follow :func:`mtllaws.shards.summarize`'s
        ``<metric>_mean`` / ``<metric>_std``).
    """
    if name not in MEASURES:
        raise ValueError(f"unknown relatedness measure {name!r}; registered: {', '.join(MEASURES)}")
    mean = f"{name}_mean"
    return MeasureColumns(name, mean, f"{mean}_mean", f"{mean}_std")


def enabled_measures(names: Iterable[str] | None = None, *, key: str = "measures") -> tuple:
    """The measures to compute: ``names`` checked against the registry, AMI first.

    Parameters
    ----------
    names : iterable of str, optional
        Requested measures (default: AMI only). AMI is added when absent.
    key : str, default "measures"
        Where ``names`` came from, named in the error (e.g. a config key).

    Returns
    -------
    tuple of str
        ``("ami", ...)`` without duplicates, in the requested order.
    """
    if isinstance(names, str):
        names = [names]
    out = ["ami"]
    for name in names or ():
        if name not in MEASURES:
            raise ValueError(
                f"{key}: unknown relatedness measure {name!r}; use some of {', '.join(MEASURES)}"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def measure_values(
    name: str,
    task_labels: np.ndarray,
    real_labels: np.ndarray,
    inputs: MeasureInputs | None = None,
    *,
    point: str | None = None,
) -> float:
    """The value of measure ``name`` for one synthetic task.

    Parameters
    ----------
    name : str
        A registered measure whose ``needs`` is ``"labels"`` or ``"inputs"``.
    task_labels, real_labels : (M_t,) int array
        The task's labels and the NER labels of the same tokens.
    inputs : MeasureInputs, optional
        Required when the measure needs inputs.
    point : str, optional
        Grid point named in errors.

    Returns
    -------
    float
    """
    measure_columns(name)  # an unknown name is refused here
    measure = MEASURES[name]
    if measure.joint:
        raise ValueError(
            f"{_where(point)}measure {name!r} is a joint measure of all the point's tasks; "
            "compute it with point_values"
        )
    if measure.needs == "model":
        raise ValueError(
            f"{_where(point)}measure {name!r} needs a trained model; it is computed after "
            "training, not with the task labels"
        )
    if measure.needs == "inputs" and inputs is None:
        raise ValueError(
            f"{_where(point)}measure {name!r} needs the tokens' inputs; pass windows and "
            "embeddings to make_tasks"
        )
    try:
        return float(measure.function(task_labels, real_labels, inputs))
    except ValueError as err:
        raise ValueError(f"{_where(point)}measure {name!r}: {err}") from err


def point_values(
    names: Iterable[str],
    task_labels: Sequence[np.ndarray],
    real_labels: Sequence[np.ndarray],
    inputs: Sequence[MeasureInputs] | None = None,
    *,
    point: str | None = None,
) -> dict[str, np.ndarray]:
    """Every measure of ``names`` for all synthetic tasks of one grid point.

    Per-task measures are computed task by task (:func:`measure_values`); a joint
    measure once for all tasks.

    Parameters
    ----------
    names : iterable of str
        Registered measures whose ``needs`` is ``"labels"`` or ``"inputs"``.
    task_labels, real_labels : sequence of (M_t,) int array
        One entry per synthetic task (``t = 1 .. T-1``).
    inputs : sequence of MeasureInputs, optional
        One per synthetic task; required by measures that need inputs.
    point : str, optional
        Grid point named in errors.

    Returns
    -------
    dict
        Measure name -> ``(T-1,)`` float64 values.
    """
    n = len(task_labels)
    if len(real_labels) != n or (inputs is not None and len(inputs) != n):
        raise ValueError(f"{_where(point)}pass one labels, NER labels and inputs entry per "
                         "synthetic task")
    out = {}
    for name in names:
        measure_columns(name)
        measure = MEASURES[name]
        if n == 0:  # T = 1: no synthetic task to measure
            out[name] = np.zeros(0)
            continue
        if not measure.joint:
            out[name] = np.array([
                measure_values(name, task_labels[k], real_labels[k],
                               None if inputs is None else inputs[k], point=point)
                for k in range(n)
            ], dtype=np.float64)
            continue
        if measure.needs == "model":
            raise ValueError(f"{_where(point)}measure {name!r} needs a trained model; use "
                             "model_values after training")
        if measure.needs == "inputs" and inputs is None:
            raise ValueError(f"{_where(point)}measure {name!r} needs the tokens' inputs; pass "
                             "windows and embeddings to make_tasks")
        try:
            values = np.asarray(
                measure.function(list(task_labels), list(real_labels),
                                 None if inputs is None else list(inputs)), dtype=np.float64)
        except ValueError as err:
            raise ValueError(f"{_where(point)}measure {name!r}: {err}") from err
        if values.shape != (n,):
            raise ValueError(f"{_where(point)}joint measure {name!r} returned shape "
                             f"{values.shape}; it must give one value per synthetic task ({n})")
        out[name] = values
    return out


def model_values(
    names: Iterable[str], inputs: ModelInputs, *, n_tasks: int, point: str | None = None
) -> dict[str, list[float]]:
    """The measures of ``names`` that need a trained model, for one model.

    Parameters
    ----------
    names : iterable of str
        Enabled measures; those whose ``needs`` is not ``"model"`` are skipped.
    inputs : ModelInputs
    n_tasks : int
        ``T`` of the model (``T = 1``: every list is empty).
    point : str, optional
        Grid point named in errors.

    Returns
    -------
    dict
        Measure name -> ``T-1`` values (a list of float).
    """
    out = {}
    for name in names:
        measure_columns(name)
        measure = MEASURES[name]
        if measure.needs != "model":
            continue
        values = [] if n_tasks < 2 else [float(v) for v in measure.function(inputs)]
        if len(values) != max(n_tasks - 1, 0):
            raise ValueError(f"{_where(point)}measure {name!r} returned {len(values)} values "
                             f"for {n_tasks - 1} synthetic tasks")
        out[name] = values
    return out


def run_values(values: Mapping[str, Iterable[float]]) -> dict:
    """The run-row columns of per-task measure values (what an evaluate shard records).

    Parameters
    ----------
    values : mapping
        Measure name -> one value per synthetic task (empty for T = 1).

    Returns
    -------
    dict
        For each measure, its :attr:`MeasureColumns.values` column (a list of float)
        and its :attr:`MeasureColumns.mean` column (NaN when the list is empty).
    """
    row = {}
    for name, per_task in values.items():
        cols = measure_columns(name)
        per_task = [float(v) for v in per_task]
        row[cols.values] = per_task
        row[cols.mean] = float(np.mean(per_task)) if per_task else np.nan
    return row


def _ami_measure(task_labels, real_labels, inputs=None) -> float:
    return ami(real_labels, task_labels)


register(
    Measure(
        name="ami",
        function=_ami_measure,
        description="adjusted mutual information between the task's labels and NER's "
        "labels on the same tokens (the paper's relatedness)",
        label="AMI of the synthetic tasks to NER",
        symbol="AMI",
        paper_columns=("mutual_info",),
    )
)


# The input- and model-side measures of Wu, Zhang & Ré register themselves on import.
from mtllaws import alignment as _alignment  # noqa: E402,F401
