"""Task relatedness in input and model space (Wu, Zhang & Ré, ICLR 2020): pure numpy maths.

The measures and maps of "Understanding and Improving Information Transfer in
Multi-Task Learning" (arXiv 2005.00944), restated in ``../shared/notes/task-alignment.md``.
Everything is float64 numpy; nothing here reads files or knows the workflow.

Input side (a task's inputs ``X``: one row per token the task labels):

* :func:`covariance` -- the uncentred ``XᵀX`` of the paper.
* :func:`cov_sim` -- the paper's covariance similarity score (eq. 5), each covariance
  truncated to the rank that keeps ``keep`` (99 %) of its eigenvalue sum. For two
  identical tasks it equals ``‖λ‖₂ / ‖λ‖₁`` of the kept eigenvalues, not 1.
* :func:`cov_rv` -- the RV coefficient of the two covariances: 1 exactly when they are
  proportional, unchanged when both tasks' inputs are rotated by the same orthogonal map,
  falling as one task's inputs rotate away.

Model side (single-task linear models on each task's own rows):

* :func:`centred_onehot`, :func:`ridge_model` -- ``Θ = (XcᵀXc + λI)⁻¹ XcᵀỸ`` on the
  column-centred inputs ``Xc`` and centred one-hot targets ``Ỹ`` (d × c).
* :class:`WindowMatrix` -- flattened window embeddings kept as token ids plus a table,
  so that the ridge fits never build the dense ``(n, 7·D)`` matrix.
* :func:`model_sim` -- the RV coefficient of the two ``Θ`` (as d × c matrices, which
  may come from different rows: with disjoint slices each task has its own tokens).
  Relabelling the classes permutes the columns of ``Θ`` and leaves it unchanged; with one
  output per task it is the squared cosine of the two model vectors.
* :func:`linear_cka` -- linear CKA of two representations of the same rows (head logits
  of NER and of a task on the same NER tokens: ``head_cka``).
* :func:`label_theta` and :func:`svd_weights` -- the paper's Algorithm 2 (SVD task
  reweighting).

Input maps:

* :func:`rotation_map` -- ``M = V·B(φ)·Vᵀ``: a seeded random orthogonal basis ``V`` and
  ``B(φ)`` rotating ``⌊d/2⌋`` planes by ``φ``; misaligns a synthetic task's inputs.

Every function checks its arguments and raises ``ValueError`` naming the argument
(shape, non-finite values, a degenerate input that leaves a measure undefined).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "DEFAULT_LAM",
    "MASK",
    "SOLVERS",
    "WindowMatrix",
    "centred_onehot",
    "cov_rv",
    "cov_sim",
    "covariance",
    "keep_rank",
    "label_theta",
    "linear_cka",
    "model_sim",
    "ridge_model",
    "rotation_map",
    "rv_coefficient",
    "svd_weights",
]

MASK = -1
"""Label of a token that a task does not label (as in :mod:`mtllaws.simulate`)."""

DEFAULT_LAM = 30.0
"""Default ridge strength, relative to the mean squared norm of a centred row (see
:func:`ridge_model` for the measurement behind it)."""

_CG_BLOCK = 256  # rows of X per block in the CG products (256 x 2100 float64 = 4.3 MB)

SOLVERS = ("auto", "direct", "cg")
"""Solvers of :func:`ridge_model`."""


def _matrix(x, name: str, *, ndim: int = 2, min_rows: int = 1) -> np.ndarray:
    """``x`` as a finite float64 array of ``ndim`` dimensions, else a ValueError naming it."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: not a numeric array ({err})") from err
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {arr.shape}")
    if arr.shape[0] < min_rows or any(s == 0 for s in arr.shape):
        raise ValueError(
            f"{name} has shape {arr.shape}; it needs at least {min_rows} row(s) and one column"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has {int((~np.isfinite(arr)).sum())} non-finite values (NaN/inf)")
    return arr


def _two_tasks(X1, X2) -> tuple[np.ndarray, np.ndarray]:
    """The two tasks' inputs as checked matrices of one width (``X1``, ``X2`` in messages)."""
    a, b = _matrix(X1, "X1"), _matrix(X2, "X2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"X1 has {a.shape[1]} columns but X2 has {b.shape[1]}; both tasks' "
            f"inputs must live in the same feature space"
        )
    return a, b


def _columns(x, name: str) -> np.ndarray:
    """A 2-d float64 matrix; a 1-d array becomes one column."""
    return _matrix(x, name) if np.ndim(x) != 1 else _matrix(x, name, ndim=1)[:, None]


def _gram(x: np.ndarray) -> np.ndarray:
    """``xᵀx`` (numpy dispatches the transposed self-product to a symmetric rank-k update)."""
    return x.T @ x


def _rv_from_grams(g1: np.ndarray, g2: np.ndarray, cross_sq: float, what: tuple[str, str]) -> float:
    """``cross_sq / (‖g1‖_F ‖g2‖_F)``, a ValueError naming the zero one if a norm vanishes."""
    n1, n2 = np.linalg.norm(g1), np.linalg.norm(g2)
    for norm, name in ((n1, what[0]), (n2, what[1])):
        if norm == 0.0:
            raise ValueError(f"{name} is all zeros, so the similarity is undefined; pass a "
                             f"non-degenerate input")
    return float(min(max(cross_sq / (n1 * n2), 0.0), 1.0))


def covariance(X) -> np.ndarray:
    """Uncentred covariance ``XᵀX`` of a task's inputs, as in the paper.

    Parameters
    ----------
    X : (n, d) array_like
        One row per input (token) of the task.

    Returns
    -------
    (d, d) float64
        Symmetric positive semi-definite; not divided by ``n`` (every measure here is
        scale-free).
    """
    return _gram(_matrix(X, "X"))


def keep_rank(eigenvalues, keep: float = 0.99) -> int:
    """Smallest rank whose leading eigenvalues hold ``keep`` of the eigenvalue sum.

    Parameters
    ----------
    eigenvalues : (d,) array_like
        Non-negative, in any order.
    keep : float, default 0.99
        Fraction in ``(0, 1]``.

    Returns
    -------
    int
        ``r`` in ``[1, d]``.
    """
    lam = np.sort(_matrix(eigenvalues, "eigenvalues", ndim=1))[::-1]
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep={keep!r}; use a fraction in (0, 1], e.g. 0.99")
    if lam[-1] < 0.0:
        raise ValueError("eigenvalues must be non-negative (a covariance's spectrum)")
    total = lam.sum()
    if total == 0.0:
        raise ValueError("eigenvalues are all zero; the input has no variance")
    cum = np.cumsum(lam) / total
    return int(min(np.searchsorted(cum, keep * (1.0 - 1e-12), side="left") + 1, lam.size))


def _truncated_factor(c: np.ndarray, keep: float, name: str) -> np.ndarray:
    """``U_r D_r^{1/2}`` of the PSD matrix ``c`` at the rank keeping ``keep`` of its spectrum."""
    lam, u = np.linalg.eigh(c)
    lam = np.clip(lam[::-1], 0.0, None)  # descending; round-off negatives are zero
    u = u[:, ::-1]
    if lam[0] == 0.0:
        raise ValueError(f"{name} is all zeros, so the covariance similarity is undefined")
    r = keep_rank(lam, keep)
    return u[:, :r] * np.sqrt(lam[:r])


def cov_sim(X1, X2, *, keep: float = 0.99) -> float:
    """Covariance similarity score of the paper (eq. 5).

    ``C_i = X_iᵀX_i ≈ U_i D_i U_iᵀ`` truncated to the rank ``r_i`` that keeps ``keep`` of
    the sum of its eigenvalues (the paper's "99 % of the singular values", read as the
    eigenvalue sum), ``A_i = U_i D_i^{1/2}`` and::

        cov_sim = ‖A_1ᵀ A_2‖_F / (‖A_1‖_F ‖A_2‖_F)

    For identical inputs this is ``‖λ‖₂ / ‖λ‖₁`` of the kept eigenvalues (about
    ``1/sqrt(r)`` for isotropic data), not 1; :func:`cov_rv` is the normalised companion.

    Parameters
    ----------
    X1, X2 : (n1, d), (n2, d) array_like
        The two tasks' inputs (rows may differ in number and identity).
    keep : float, default 0.99
        Fraction of the eigenvalue sum kept, in ``(0, 1]``.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    x1, x2 = _two_tasks(X1, X2)
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep={keep!r}; use a fraction in (0, 1], e.g. 0.99")
    a1 = _truncated_factor(_gram(x1), keep, "X1")
    a2 = _truncated_factor(_gram(x2), keep, "X2")
    num = np.linalg.norm(a1.T @ a2)
    return float(num / (np.linalg.norm(a1) * np.linalg.norm(a2)))


def rv_coefficient(A, B) -> float:
    """RV coefficient of two configurations of the same feature rows.

    ``RV(A, B) = ‖AᵀB‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F) = <AAᵀ, BBᵀ>_F / (‖AAᵀ‖_F ‖BBᵀ‖_F)``.
    Unchanged by any orthogonal map of the columns of either argument (class relabelling
    included) and by scaling; with one column each it is the squared cosine.

    Parameters
    ----------
    A, B : (d, p), (d, q) array_like
        Same number of rows ``d``; a 1-d array is one column.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    a, b = _columns(A, "A"), _columns(B, "B")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"A has {a.shape[0]} rows but B has {b.shape[0]}; RV needs the same rows")
    cross = a.T @ b
    return _rv_from_grams(_gram(a), _gram(b), float(np.sum(cross * cross)), ("A", "B"))


def cov_rv(X1, X2) -> float:
    """RV coefficient of the two tasks' uncentred covariances.

    ``<C_1, C_2>_F / (‖C_1‖_F ‖C_2‖_F)`` with ``C_i = X_iᵀX_i``: 1 exactly when the
    covariances are proportional, unchanged when both tasks' inputs go through the same
    orthogonal map, below 1 when one task's inputs are rotated against the other's.

    Parameters
    ----------
    X1, X2 : (n1, d), (n2, d) array_like

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    x1, x2 = _two_tasks(X1, X2)
    c1, c2 = _gram(x1), _gram(x2)
    return _rv_from_grams(c1, c2, float(np.sum(c1 * c2)), ("X1", "X2"))


def _converted(value, cast, message: str):
    """``cast(value)``, or a ValueError with ``message`` when it cannot be cast."""
    try:
        return cast(value)
    except (TypeError, ValueError) as err:
        raise ValueError(message) from err


def _labels(y, name: str, c) -> tuple[np.ndarray, int]:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-d integer label array, got {arr.dtype} "
                         f"shape {arr.shape}")
    c = _converted(c, int, f"the class count for {name} must be an integer, got {c!r}")
    if c < 1:
        raise ValueError(f"the class count for {name} must be >= 1, got {c}")
    bad = (arr != MASK) & ((arr < 0) | (arr >= c))
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} labels outside [0, {c}) that are not MASK={MASK} "
            f"(e.g. {int(arr[bad][0])}); pass the task's class count"
        )
    return arr.astype(np.int64), c


def centred_onehot(y, c: int) -> np.ndarray:
    """Centred one-hot targets of a task's labelled rows.

    Parameters
    ----------
    y : (N,) int array_like
        Labels in ``[0, c)``; ``MASK = -1`` marks rows the task does not label, which
        are dropped (select the same rows of the inputs with ``y != MASK``).
    c : int
        Number of classes (columns).

    Returns
    -------
    (m, c) float64
        One-hot of the ``m`` labelled rows, in their order, minus its column means (so
        each column sums to zero; a class that never occurs is a zero column).
    """
    arr, c = _labels(y, "y", c)
    arr = arr[arr != MASK]
    if arr.size == 0:
        raise ValueError("y has no labelled rows (all MASK); the task labels no token here")
    onehot = np.zeros((arr.size, c))
    onehot[np.arange(arr.size), arr] = 1.0
    return onehot - onehot.mean(axis=0)


class WindowMatrix:
    """Flattened window embeddings as an implicit ``(n, W·D)`` matrix.

    Row ``i`` is ``table[ids[i, 0]], …, table[ids[i, W-1]]`` concatenated: the model's
    input for a window, as ``table[ids].reshape(n, -1)`` would build it. Only the rows of
    ``table`` that occur are kept (as float64), and products with the matrix go through
    them: ``X·v`` costs ``W·U·D·k`` multiply-adds on a table of ``U`` distinct ids instead
    of ``n·W·D·k`` reads of the dense float64 matrix (on 5000 CoNLL-2003 windows,
    ``U`` = 1751: 3.5 times faster than the dense product, and no 84 MB copy).

    Parameters
    ----------
    ids : (n, W) int array_like
        Token ids of each window (ids in ``[0, V)``).
    table : (V, D) array_like
        Embedding matrix.

    Attributes
    ----------
    shape : tuple of int
        ``(n, W·D)``.
    ids : (n, W) int64
    """

    def __init__(self, ids, table):
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu" or 0 in ids.shape:
            raise ValueError(f"ids must be a non-empty (n, W) integer array of token ids, got "
                             f"{ids.dtype} shape {ids.shape}")
        if np.ndim(table) != 2 or 0 in np.shape(table):
            raise ValueError(f"table must be a non-empty (V, D) embedding matrix, got shape "
                             f"{np.shape(table)}")
        v = np.shape(table)[0]
        if ids.min() < 0 or ids.max() >= v:
            raise ValueError(f"ids lie in [{ids.min()}, {ids.max()}] but table has {v} rows; "
                             f"pass the embedding matrix of the windows' vocabulary")
        self.ids = ids.astype(np.int64)
        self._table = table
        uniq, inv = np.unique(self.ids, return_inverse=True)
        self._rows = _matrix(np.asarray(table)[uniq], "table (rows the ids use)")
        self._inv = inv.reshape(self.ids.shape)
        self._counts = [np.bincount(self._inv[:, p], minlength=uniq.size)
                        for p in range(self.ids.shape[1])]
        self.shape = (self.ids.shape[0], self.ids.shape[1] * self._rows.shape[1])

    def __getitem__(self, rows) -> WindowMatrix:
        """The windows ``rows`` (any numpy index of the first axis) as a new matrix."""
        return WindowMatrix(self.ids[rows], self._table)

    def toarray(self) -> np.ndarray:
        """The dense ``(n, W·D)`` float64 matrix."""
        return self._rows[self._inv].reshape(self.shape)

    def column_means(self) -> np.ndarray:
        """``(W·D,)`` mean of the rows."""
        return np.concatenate([c @ self._rows for c in self._counts]) / self.shape[0]

    def squared_sum(self) -> float:
        """Sum of the squared entries (``‖X‖²_F``)."""
        norms = np.einsum("ij,ij->i", self._rows, self._rows)
        return float(sum(c @ norms for c in self._counts))

    def matmul(self, v: np.ndarray) -> np.ndarray:
        """``X·v`` for ``v`` of shape ``(W·D, k)``."""
        d = self._rows.shape[1]
        out = np.zeros((self.shape[0], v.shape[1]))
        for p in range(self.ids.shape[1]):
            out += (self._rows @ v[p * d:(p + 1) * d])[self._inv[:, p]]
        return out

    def rmatmul(self, u: np.ndarray) -> np.ndarray:
        """``Xᵀ·u`` for ``u`` of shape ``(n, k)``."""
        d, n_ids = self._rows.shape[1], self._rows.shape[0]
        out = np.empty((self.shape[1], u.shape[1]))
        for p in range(self.ids.shape[1]):
            sums = np.stack([np.bincount(self._inv[:, p], weights=u[:, j], minlength=n_ids)
                             for j in range(u.shape[1])], axis=1)
            out[p * d:(p + 1) * d] = self._rows.T @ sums
        return out


def ridge_model(X, Y, *, lam: float = DEFAULT_LAM, solver: str = "auto") -> np.ndarray:
    """Ridge regression slopes of ``Y`` on column-centred ``X``.

    ``Θ = (XcᵀXc + λ I)⁻¹ XcᵀY`` with ``Xc`` the column-centred ``X`` (an intercept, which
    centred targets make zero) and the absolute strength ``λ = lam · tr(XcᵀXc) / n``:
    ``lam`` times the mean squared norm of a centred row. This is a fixed prior in units
    of the features' variance: free of the embeddings' scale, it shrinks hard when a task
    has few rows per feature (``n ≲ d``, where least squares fits noise) and fades as the
    rows accumulate (relative to the mean eigenvalue ``tr/d`` of ``XcᵀXc`` it is
    ``lam · d / n``).

    The default ``lam = 30`` was chosen by measurement on this project's features:
    CoNLL-2003 flattened windows (``d = 7 × 300 = 2100``; 30-epoch corpus fastText,
    cross-sentence windows), T = 2, disjoint slices, seed 0, :func:`model_sim` of NER
    against the synthetic task at ``alpha`` = 0.2 (= 1/c), 0.6, 1.0:

    =========  ======================  ======================
    ``lam``    n = 1000                n = 5000
    =========  ======================  ======================
    0.001      0.002, 0.001, 0.005     0.004, 0.005, 0.072
    10         0.009, 0.083, 0.469     0.005, 0.285, 0.780
    30         0.014, 0.130, 0.551     0.004, 0.410, 0.837
    100        0.036, 0.194, 0.635     0.003, 0.540, 0.879
    =========  ======================  ======================

    Near least squares the two tasks' models share nothing even with identical labels;
    stronger shrinkage raises the signal and, at small ``n``, the floor of pure-noise tasks
    (as ``lam`` grows the model tends to ``XcᵀY``, the class-mean form of
    :func:`label_theta`, whose noise follows the inputs' top principal directions: on a
    planted mixture with 50 rows per feature, ``lam = 500`` puts noise tasks at 0.09-0.11
    against 0.02 at ``lam = 30``).

    Solvers: ``"direct"`` solves the ``d × d`` system when ``n >= d`` (primal form: one
    symmetric product ``XcᵀXc``, ``n·d²`` multiply-adds, and one LU solve, ``2d³/3``) and
    the ``n × n`` kernel system when ``n < d`` (dual form ``Θ = Xcᵀ(XcXcᵀ + λI)⁻¹Y``,
    ``n²·d + 2n³/3``); both give the same ``Θ``. ``"cg"`` runs conjugate gradients on the
    primal system without forming it (``2·n·d·c`` multiply-adds an iteration, to a
    relative residual of 1e-10; if that takes more than ``min(n, d) + 1`` iterations it
    solves directly instead): the condition number is at most ``1 + λ_max/λ``, so with
    strong shrinkage a few iterations suffice. ``"auto"`` takes ``"cg"`` when ``λ`` is
    at least the mean eigenvalue ``tr(XcᵀXc)/d`` (condition number at most ``1 + d``;
    about 10 iterations on CoNLL-2003 windows) and ``"direct"`` otherwise.

    Parameters
    ----------
    X : (n, d) array_like or WindowMatrix
        Inputs of the labelled rows. A :class:`WindowMatrix` (flattened window
        embeddings kept as token ids and a table) runs CG without the dense matrix.
    Y : (n, c) or (n,) array_like
        Targets of the same rows, e.g. :func:`centred_onehot`.
    lam : float, default 30
        Ridge strength relative to the mean squared norm of a centred row, ``> 0``.
    solver : {"auto", "direct", "cg"}, default "auto"

    Returns
    -------
    (d, c) float64
        (``(d,)`` when ``Y`` is 1-d.)
    """
    window = isinstance(X, WindowMatrix)
    x = X if window else _matrix(X, "X")
    vector = np.ndim(Y) == 1
    y = _columns(Y, "Y")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"X has {x.shape[0]} rows but Y has {y.shape[0]}; pass the same "
                         f"(labelled) rows of both")
    lam = _converted(lam, float, f"lam={lam!r}; use a positive relative ridge strength")
    if not (np.isfinite(lam) and lam > 0.0):
        raise ValueError(f"lam={lam!r}; use a positive relative ridge strength, e.g. "
                         f"{DEFAULT_LAM:g}")
    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r}; use one of {', '.join(SOLVERS)}")
    n, d = x.shape
    mu = x.column_means() if window else x.mean(axis=0)
    # tr(XcᵀXc) without forming Xc: Σx² − n‖μ‖²; λ = lam × mean squared norm of a centred row
    sq_sum = x.squared_sum() if window else float(np.einsum("ij,ij->", x, x))
    trace = max(sq_sum - n * float(mu @ mu), 0.0)
    if trace == 0.0:
        raise ValueError("X has no variance (every row equal); a ridge model is undefined")
    scale = lam * trace / n
    theta = None
    if solver == "cg" or (solver == "auto" and scale >= trace / d):
        # centring stays implicit: Xc·v = X·v − 1(μᵀv), and Xcᵀu = Xᵀu for column-centred u
        if window:
            def normal(v):
                return x.rmatmul(x.matmul(v) - mu @ v) + scale * v

            rhs = x.rmatmul(y)
        else:
            def normal(v):
                # row blocks of X are read once from memory and reused from cache for Xᵀu
                shift = mu @ v
                out = scale * v
                for start in range(0, n, _CG_BLOCK):
                    xb = x[start:start + _CG_BLOCK]
                    out += xb.T @ (xb @ v - shift)
                return out

            rhs = x.T @ y
        theta = _cg(normal, rhs - np.outer(mu, y.sum(axis=0)), max_iter=min(n, d) + 1)
    if theta is None:  # direct, or CG that did not converge (ill-conditioned: small lam)
        xc = (x.toarray() if window else x) - mu
        if n >= d:
            g = _gram(xc)
            g[np.diag_indices(d)] += scale
            theta = np.linalg.solve(g, xc.T @ y)
        else:
            k = xc @ xc.T
            k[np.diag_indices(n)] += scale
            theta = xc.T @ np.linalg.solve(k, y)
    return theta[:, 0] if vector else theta


def _cg(matvec, b: np.ndarray, *, max_iter: int, rtol: float = 1e-10) -> np.ndarray | None:
    """Conjugate gradients for ``A x = b`` (SPD ``A`` given by ``matvec``), column by column.

    Each column of ``b`` has its own step sizes (the columns are independent systems run
    in one matrix product). Returns ``x`` once every column's residual is below ``rtol``
    times its right-hand side's norm, or ``None`` if that takes more than ``max_iter``
    steps (exact arithmetic would need at most the dimension; round-off on an
    ill-conditioned system can need more, and the caller then solves directly).
    """
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rs = np.sum(r * r, axis=0)
    target = (rtol * np.linalg.norm(b, axis=0)) ** 2
    for _ in range(max_iter):
        if (rs <= target).all():
            return x
        ap = matvec(p)
        denom = np.sum(p * ap, axis=0)
        step = np.divide(rs, denom, out=np.zeros_like(rs), where=denom > 0)
        x += step * p
        r -= step * ap
        rs_new = np.sum(r * r, axis=0)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        p = r + beta * p
        rs = rs_new
    return x if (rs <= target).all() else None


def model_sim(X1, y1, X2, y2, *, c1: int, c2: int, lam: float = DEFAULT_LAM,
              solver: str = "auto") -> float:
    """Similarity of two tasks' single-task ridge models (RV form).

    Each task's model ``Θ_i`` (d × c_i) is :func:`ridge_model` of
    :func:`centred_onehot` targets on that task's own labelled rows; the two are compared
    as matrices with :func:`rv_coefficient`. Relabelling either task's classes permutes
    the columns of its ``Θ`` and leaves the score unchanged; with one output each it is
    the squared cosine of the two model vectors. The rows of the two tasks may differ
    (disjoint slices): only the feature space is shared. To compare NER with several
    tasks, fit each task's model once with :func:`ridge_model` and pass the pairs to
    :func:`rv_coefficient` (what this function does for one pair).

    Parameters
    ----------
    X1, X2 : (N1, d), (N2, d) array_like or WindowMatrix
        Inputs (e.g. flattened window embeddings, best as :class:`WindowMatrix`).
    y1, y2 : (N1,), (N2,) int array_like
        Labels; ``MASK = -1`` rows are dropped with their inputs.
    c1, c2 : int
        Class counts of the two tasks.
    lam : float, default 30
        Relative ridge strength (see :func:`ridge_model`).
    solver : {"auto", "direct", "cg"}, default "auto"
        See :func:`ridge_model`.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    thetas = []
    for x, y, c, xn, yn in ((X1, y1, c1, "X1", "y1"), (X2, y2, c2, "X2", "y2")):
        xa = x if isinstance(x, WindowMatrix) else _matrix(x, xn)
        ya, c = _labels(y, yn, c)
        if ya.shape[0] != xa.shape[0]:
            raise ValueError(f"{xn} has {xa.shape[0]} rows but {yn} has {ya.shape[0]} labels")
        rows = ya != MASK
        if np.unique(ya[rows]).size < 2:
            raise ValueError(f"{yn} has fewer than 2 distinct classes on its labelled rows; "
                             f"a model of it is constant and model_sim is undefined")
        thetas.append(ridge_model(xa[rows], centred_onehot(ya, c), lam=lam, solver=solver))
    if thetas[0].shape[0] != thetas[1].shape[0]:
        raise ValueError(f"X1 has {thetas[0].shape[0]} columns but X2 has {thetas[1].shape[0]}")
    return rv_coefficient(thetas[0], thetas[1])


def linear_cka(A, B) -> float:
    """Linear centred kernel alignment of two representations of the same rows.

    ``CKA = ‖AcᵀBc‖²_F / (‖AcᵀAc‖_F ‖BcᵀBc‖_F)`` with column-centred ``Ac``, ``Bc``
    (Kornblith et al. 2019): the RV coefficient of the centred representations. Used as
    ``head_cka``: NER's head logits against task t's head logits on the same NER tokens.

    Parameters
    ----------
    A, B : (n, p), (n, q) array_like
        Row ``i`` of both describes the same input; ``n >= 2``.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    a, b = _matrix(A, "A", min_rows=2), _matrix(B, "B", min_rows=2)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"A has {a.shape[0]} rows but B has {b.shape[0]}; linear_cka compares "
                         f"two representations of the same rows")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    cross = a.T @ b
    return _rv_from_grams(_gram(a), _gram(b), float(np.sum(cross * cross)),
                          ("A (centred: constant columns)", "B (centred: constant columns)"))


def label_theta(F, y, *, c: int) -> np.ndarray:
    """Algorithm 2's ``θ_t = FcᵀỸ_t`` of a task labelling the rows of shared features.

    Parameters
    ----------
    F : (N, d) array_like
        Shared features (e.g. NER's tokens); columns are centred here.
    y : (N,) int array_like
        The task's labels of the same rows; ``MASK`` rows are dropped with their features.
    c : int
        The task's class count.

    Returns
    -------
    (d, c) float64
        ``θ_t``, one column per class (the paper's vector generalised to c outputs).
    """
    f = _matrix(F, "F")
    ya, c = _labels(y, "y", c)
    if ya.shape[0] != f.shape[0]:
        raise ValueError(f"F has {f.shape[0]} rows but y has {ya.shape[0]} labels")
    rows = ya != MASK
    fr = f[rows]
    return (fr - fr.mean(axis=0)).T @ centred_onehot(ya, c)


def svd_weights(thetas: Sequence, *, rank: int | None = None) -> np.ndarray:
    """Task weights of the paper's Algorithm 2 (SVD task reweighting).

    The paper has one model vector ``θ_t`` per task; here each task contributes a
    ``d × c_t`` block (``θ_t = FᵀỸ_t`` from :func:`label_theta`, or a task's own
    :func:`ridge_model` when tasks have disjoint rows; a 1-d array is one column). The
    blocks are concatenated into ``Θ = [θ_1 … θ_T]`` (d × Σc_t), ``U_r`` holds its top
    ``r`` left singular vectors, and::

        a_t = ‖θ_tᵀ U_r‖_F,        w_t = T · a_t / Σ_s a_s

    so the weights sum to ``T``. A task whose block lies outside the tasks' common
    subspace (e.g. random labels) gets a small weight. Permuting a task's classes permutes
    the columns of its block and changes nothing.

    Parameters
    ----------
    thetas : sequence of (d, c_t) or (d,) array_like
        One block per task, all with ``d`` rows.
    rank : int, optional
        ``r``; default ``max_t c_t − 1`` (the rank of one task's centred one-hot model),
        at least 1, at most ``min(d, Σc_t)``.

    Returns
    -------
    (T,) float64
        Non-negative weights summing to ``T``.
    """
    if isinstance(thetas, np.ndarray) and thetas.ndim != 3:
        raise ValueError("thetas must be a sequence of (d, c_t) blocks, one per task")
    blocks = []
    for t, th in enumerate(thetas):
        blocks.append(_columns(th, f"thetas[{t}]"))
    if not blocks:
        raise ValueError("thetas is empty; pass one block per task")
    d = blocks[0].shape[0]
    for t, b in enumerate(blocks):
        if b.shape[0] != d:
            raise ValueError(f"thetas[{t}] has {b.shape[0]} rows but thetas[0] has {d}; every "
                             f"task's model must live in the same feature space")
    full = np.concatenate(blocks, axis=1)
    max_rank = min(d, full.shape[1])
    if rank is None:
        rank = max(1, max(b.shape[1] for b in blocks) - 1)
        rank = min(rank, max_rank)
    elif isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
            or not 1 <= rank <= max_rank:
        raise ValueError(f"rank={rank!r}; use an integer in [1, {max_rank}] "
                         f"(min of d and the total number of columns)")
    u, _, _ = np.linalg.svd(full, full_matrices=False)
    ur = u[:, :rank]
    a = np.array([np.linalg.norm(b.T @ ur) for b in blocks])
    total = a.sum()
    if total == 0.0:
        raise ValueError("every block of thetas is zero; the weights are undefined")
    return len(blocks) * a / total


def rotation_map(d: int, phi: float, *, seed) -> np.ndarray:
    """Fixed random rotation of the input space by angle ``phi``.

    ``M = V·B(φ)·Vᵀ`` where ``V`` is a random orthogonal ``d × d`` matrix (QR of a
    standard Gaussian matrix drawn from ``numpy.random.default_rng(seed)``, columns'
    signs fixed by ``diag(R) > 0`` so that ``V`` is Haar-distributed) and ``B(φ)``
    rotates the ``⌊d/2⌋`` coordinate planes ``(0, 1), (2, 3), …`` by ``φ``; for odd ``d``
    the last coordinate is fixed. It is computed as ``I + V (B(φ) − I) Vᵀ``, so ``φ = 0``
    gives the identity exactly. A task's inputs ``X`` (rows) are mapped to ``X·M``.

    Parameters
    ----------
    d : int
        Dimension (``>= 1``).
    phi : float
        Angle in radians.
    seed : int or sequence of int
        Seed of ``V``; the same seed gives the same ``V`` for every ``phi``.

    Returns
    -------
    (d, d) float64
        Orthogonal, determinant 1.
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d={d!r}; use a positive integer dimension")
    try:
        phi = float(phi)
    except (TypeError, ValueError) as err:
        raise ValueError(f"phi={phi!r}; use an angle in radians") from err
    if not np.isfinite(phi):
        raise ValueError(f"phi={phi!r}; use a finite angle in radians")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise ValueError(f"seed={seed!r}; use a non-negative integer (or a list of them)") from err
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    v = q * np.where(np.diag(r) < 0.0, -1.0, 1.0)
    b_minus_i = np.zeros((d, d))
    cos_m1, sin = np.cos(phi) - 1.0, np.sin(phi)
    for k in range(d // 2):
        i, j = 2 * k, 2 * k + 1
        b_minus_i[i, i] = b_minus_i[j, j] = cos_m1
        b_minus_i[i, j], b_minus_i[j, i] = -sin, sin
    return np.eye(d) + v @ b_minus_i @ v.T
