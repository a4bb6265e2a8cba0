"""Sparse regression over a library of the paper's operators: the stronger engine.

:class:`SparseLibraryRegressor` builds a library of candidate terms. Its
*arguments* are the inputs ``x_i`` and (``input_products=True``) the products
``x_i*x_j`` of pairs of inputs; its *factors* are the paper's operators applied to
an argument: ``x``, ``log(x)``, ``sqrt(x)``, ``1/x`` and ``exp(-x/s)``, where ``s``
is a value of the 1-2-5 series near the median of ``|x|`` (three neighbouring
values with ``n_exp_scales=3``); its *terms* are the factors and (``products=True``)
the products of pairs of factors. A factor enters only when it is finite and
defined without protection on every row of the data domain (``log`` needs
``x > 0``, ``sqrt`` needs ``x >= 0``, ``1/x`` needs ``x`` of one sign, ``exp``
must neither overflow nor underflow); constant terms and exact duplicates
(``sqrt(x)*sqrt(x) = x``) are dropped, keeping the simplest.

The model is an intercept plus at most ``max_terms`` library terms, fitted by
least squares. Every subset of up to ``max_terms`` terms (or, when there are more
than ``max_subsets``, a beam search that keeps the ``beam_width`` best subsets of
each size) is scored by K-fold cross-validated MSE, vectorised over subsets
through the Gram matrices of each fold; the seed sets the fold assignment.
The number of terms is the smallest whose best subset is within one standard
error of the best CV error overall (``selection="1se"``); at that size the
subset with the lowest CV error is kept and refitted on all training rows.
Fold assignment changes the CV errors, hence the size and the subset chosen
among near-ties, so seeds can disagree on the structure.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sklearn.model_selection import RepeatedKFold

from mtllaws.estimator import FormulaRegressor
from mtllaws.formula import complexity, make_symbols

__all__ = ["OPERATORS", "Factor", "SparseLibraryRegressor", "Term", "exp_scales"]

#: Unary operators of the library, in order of increasing complexity.
OPERATORS = ("x", "log", "sqrt", "inv", "exp")

# Largest |argument| of exp before a term under- or overflows in float64.
_EXP_MAX_ARG = 700.0


#: Per operator of :data:`OPERATORS`, functions of (argument, exp scale): its value
#: (NumPy), whether it is defined without protection on every row, its sympy form.
_OPERATOR_RULES = {
    "x": (lambda x, s: x, lambda x, s: True, lambda x, s: x),
    "log": (lambda x, s: np.log(x), lambda x, s: np.all(x > 0), lambda x, s: sp.log(x)),
    "sqrt": (lambda x, s: np.sqrt(x), lambda x, s: np.all(x >= 0), lambda x, s: sp.sqrt(x)),
    "inv": (
        lambda x, s: 1.0 / x,
        lambda x, s: np.all(x > 0) or np.all(x < 0),
        lambda x, s: 1 / x,
    ),
    "exp": (
        lambda x, s: np.exp(-x / float(s)),
        lambda x, s: np.all(np.abs(x / float(s)) < _EXP_MAX_ARG),
        lambda x, s: sp.exp(-x / s),
    ),
}


@dataclass(frozen=True)
class Factor:
    """A unary operator applied to one input or to the product of two inputs.

    Parameters
    ----------
    op : str
        One of :data:`OPERATORS`.
    inputs : tuple of int
        Feature indices whose product is the argument.
    scale : sympy.Rational or None
        ``s`` of ``exp(-x/s)``; None for the other operators.
    """

    op: str
    inputs: tuple[int, ...]
    scale: sp.Rational | None = None

    def argument(self, X) -> np.ndarray:
        out = X[:, self.inputs[0]]
        for j in self.inputs[1:]:
            out = out * X[:, j]
        return out

    def _rule(self, column: int):
        """The operator's entry in :data:`_OPERATOR_RULES`: value, validity or sympy form."""
        if self.op not in _OPERATOR_RULES:
            raise ValueError(f"operator {self.op!r} is unknown; use one of {OPERATORS}")
        return _OPERATOR_RULES[self.op][column]

    def evaluate(self, X) -> np.ndarray:
        rule = self._rule(0)
        x = self.argument(X)
        with np.errstate(all="ignore"):
            return rule(x, self.scale)

    def valid_on(self, X) -> bool:
        """Whether the operator is defined without protection on every row of ``X``."""
        rule = self._rule(1)
        return bool(rule(self.argument(X), self.scale))

    def to_sympy(self, symbols) -> sp.Expr:
        rule = self._rule(2)
        return rule(sp.Mul(*(symbols[j] for j in self.inputs)), self.scale)


@dataclass(frozen=True)
class Term:
    """A library term: the product of one or two :class:`Factor`.

    Parameters
    ----------
    factors : tuple of Factor
    """

    factors: tuple[Factor, ...]

    def evaluate(self, X) -> np.ndarray:
        """Values of the term on the rows of ``X``."""
        out = np.ones(X.shape[0])
        with np.errstate(all="ignore"):
            for f in self.factors:
                out = out * f.evaluate(X)
        return out

    def to_sympy(self, symbols) -> sp.Expr:
        """The term as a sympy expression."""
        return sp.Mul(*(f.to_sympy(symbols) for f in self.factors))


def exp_scales(x: np.ndarray, n_scales: int = 1) -> list[sp.Rational]:
    """Scales ``s`` of ``exp(-x/s)`` for an argument with values ``x``.

    With ``n_scales=1`` the power of ten nearest to the median of ``|x|``; with
    ``n_scales=3`` the value of the 1-2-5 series nearest to that median and its two
    neighbours in the series.
    """
    typical = float(np.median(np.abs(x)))
    if typical == 0.0:
        typical = float(np.max(np.abs(x))) or 1.0
    if n_scales == 1:
        return [sp.Rational(10) ** int(round(math.log10(typical)))]
    if n_scales != 3:
        raise ValueError(f"n_exp_scales must be 1 or 3, got {n_scales}")
    decade = int(math.floor(math.log10(typical)))
    series = [m * sp.Rational(10) ** e for e in (decade - 1, decade, decade + 1) for m in (1, 2, 5)]
    i = int(np.argmin([abs(math.log(float(v)) - math.log(typical)) for v in series]))
    return series[i - 1 : i + 2]


class SparseLibraryRegressor(FormulaRegressor):
    """Best-subset regression over a library of operator terms, sparsity chosen by CV.

    Parameters
    ----------
    max_terms : int, default=3
        Most library terms besides the intercept.
    operators : sequence of str, default=OPERATORS
        Unary operators applied to each input.
    products : bool, default=True
        Add the products of pairs of unary terms (same input allowed).
    input_products : bool, default=True
        Also apply the operators to the products ``x_i*x_j`` of pairs of inputs.
    n_exp_scales : {1, 3}, default=3
        Scales ``s`` of ``exp(-x/s)`` per argument (see :func:`exp_scales`).
    cv : int, default=5
        Folds of the cross-validation (fewer, down to 2, when X has fewer than 2 rows a
        fold, e.g. the training part of a small study's grouped outer CV fold).
    n_repeats : int, default=1
        Repeats of the K-fold split, each with new fold assignments.
    selection : {"1se", "min"}, default="1se"
        ``"1se"``: fewest terms whose best subset is within one standard error of the
        best CV error, and at that size the subset with the lowest CV error;
        ``"min"``: the subset with the best CV error.
    max_subsets : int, default=2_000_000
        Search all subsets when there are at most this many, else a beam search.
    beam_width : int, default=300
        Subsets kept per size in the beam search.
    ridge : float, default=1e-8
        Ridge added (times the number of rows) to the standardized normal equations,
        so that nearly collinear subsets stay solvable.
    feature_names : sequence of str, optional
        Symbol names of the columns of ``X`` (default ``x0, x1, ...``).
    random_state : int or None, default=None
        Seed of the fold assignment.

    Attributes
    ----------
    library_ : list of Term
        The library after removing invalid, constant and duplicate terms.
    terms_ : list of Term
        Selected terms.
    coef_ : ndarray of shape (n_terms,)
    intercept_ : float
    expr_ : sympy.Expr
        The fitted formula on the scale of ``y``.
    cv_mse_ : float
        CV MSE of the selected subset; ``cv_se_`` its standard error.
    best_cv_mse_ : float
        Lowest CV MSE over all subsets searched.
    n_subsets_ : int
        Subsets scored (including the intercept-only model).
    path_ : list of dict
        Per number of terms: the subset with the best CV MSE, as
        ``{"n_terms", "terms", "cv_mse", "cv_se"}``.
    symbols_ : list of sympy.Symbol
    """

    def __init__(
        self,
        *,
        # the library
        max_terms=3, operators=OPERATORS, products=True, input_products=True, n_exp_scales=3,
        # the subset search by cross-validation
        cv=5, n_repeats=1, selection="1se", max_subsets=2_000_000, beam_width=300,
        ridge=1e-8, feature_names=None, random_state=None,
    ):
        self._keep(locals())

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y, domain, names):
        # Build the library, select the subset by CV and refit it on all rows.
        self._check_params(X)
        self.symbols_ = make_symbols(names, domain)
        self.library_, L = self._build_library(X, domain)

        mu, sd = L.mean(axis=0), L.std(axis=0)
        Z = (L - mu) / sd
        y_mean = float(y.mean())
        yc = y - y_mean
        folds = self._fold_stats(Z, yc)

        blocks = self._search(folds, len(self.library_))
        mse = np.concatenate([blk[1] for blk in blocks])
        se = np.concatenate([blk[2] for blk in blocks])
        sizes = np.concatenate([np.full(len(blk[1]), blk[0].shape[1]) for blk in blocks])
        best = int(np.argmin(mse))
        if self.selection == "1se":
            # Fewest terms whose best subset is within one standard error of the best.
            k = min(int(sizes[i]) for i in np.flatnonzero(mse <= mse[best] + se[best]))
            at_k = np.flatnonzero(sizes == k)
            chosen = int(at_k[np.argmin(mse[at_k])])
        else:
            chosen = best

        self.n_subsets_ = len(mse)
        self.best_cv_mse_ = float(mse[best])
        self.cv_mse_, self.cv_se_ = float(mse[chosen]), float(se[chosen])
        self.path_ = []
        offset = 0
        for subsets, blk_mse, blk_se in blocks:
            if len(blk_mse):
                i = int(np.argmin(blk_mse))
                self.path_.append(
                    {
                        "n_terms": subsets.shape[1],
                        "terms": [str(self._term_expr(self.library_[t])) for t in subsets[i]],
                        "cv_mse": float(blk_mse[i]),
                        "cv_se": float(blk_se[i]),
                    }
                )
            if offset <= chosen < offset + len(blk_mse):
                S = [int(t) for t in subsets[chosen - offset]]
            offset += len(blk_mse)

        self.terms_ = [self.library_[t] for t in S]
        A = np.column_stack([np.ones(len(y)), Z[:, S]])
        beta = np.linalg.lstsq(A, yc, rcond=None)[0]
        self.coef_ = beta[1:] / sd[S]
        self.intercept_ = float(y_mean + beta[0] - np.dot(self.coef_, mu[S]))
        pairs = zip(self.coef_, self.terms_, strict=True)
        self.expr_ = sp.Float(self.intercept_) + sp.Add(
            *(sp.Float(c) * self._term_expr(t) for c, t in pairs)
        )

    def _check_params(self, X):
        if not isinstance(self.max_terms, int) or self.max_terms < 1:
            raise ValueError(f"max_terms must be an integer >= 1, got {self.max_terms!r}")
        if self.selection not in ("1se", "min"):
            raise ValueError(f"selection={self.selection!r} is unknown; use '1se' or 'min'")
        unknown = [op for op in self.operators if op not in OPERATORS]
        if unknown:
            raise ValueError(f"operators {unknown} are unknown; use a subset of {OPERATORS}")
        if self.cv < 2 or X.shape[0] < 4:
            raise ValueError(
                f"cv={self.cv} folds need cv >= 2 and at least 4 rows (2 folds of 2); "
                f"X has {X.shape[0]} rows"
            )

    def _term_expr(self, term: Term) -> sp.Expr:
        return term.to_sympy(self.symbols_)

    # -------------------------------------------------------------- library
    def _build_library(self, X, domain):
        """Valid, non-constant, non-duplicate terms, simplest first, and their values on X."""
        inputs = [(j,) for j in range(X.shape[1])]
        if self.input_products:
            inputs += list(itertools.combinations(range(X.shape[1]), 2))
        factors = []
        for arg in inputs:
            for op in self.operators:
                if op == "exp":
                    x = Factor("x", arg).argument(domain)
                    factors += [Factor(op, arg, s) for s in exp_scales(x, self.n_exp_scales)]
                else:
                    factors.append(Factor(op, arg))
        base = [Term((f,)) for f in factors if f.valid_on(domain)]
        terms = list(base)
        if self.products:
            terms += [
                Term(a.factors + b.factors)
                for a, b in itertools.combinations_with_replacement(base, 2)
            ]
        terms.sort(key=lambda t: complexity(self._term_expr(t)))
        kept, columns = [], []
        for term in terms:
            on_domain = term.evaluate(domain)
            values = term.evaluate(X)
            if not (np.all(np.isfinite(on_domain)) and np.all(np.isfinite(values))):
                continue
            if np.std(values) <= 1e-12 * max(1.0, float(np.max(np.abs(values)))):
                continue
            columns.append(values)
            kept.append(term)
        if not kept:
            raise ValueError(
                "no library term is defined and non-constant on the data; "
                "check that the features vary across the rows"
            )
        L = np.column_stack(columns)
        # Drop exact duplicates (|correlation| = 1), keeping the simplest (earliest).
        Z = (L - L.mean(axis=0)) / L.std(axis=0)
        corr = np.abs(Z.T @ Z) / len(Z)
        keep = []
        for i in range(L.shape[1]):
            if not keep or corr[i, keep].max() < 1 - 1e-9:
                keep.append(i)
        return [kept[i] for i in keep], L[:, keep]

    # ------------------------------------------------------------------- CV
    def _fold_stats(self, Z, yc):
        """Gram matrices of the training and validation part of every fold."""
        A = np.column_stack([np.ones(len(yc)), Z])
        # fewer than 2 rows a fold (a grouped outer CV fold of a small study): fewer folds
        folds = min(self.cv, len(yc) // 2)
        splitter = RepeatedKFold(
            n_splits=folds, n_repeats=self.n_repeats, random_state=self.random_state
        )
        stats = []
        for train, val in splitter.split(A):
            At, Av = A[train], A[val]
            stats.append(
                (
                    At.T @ At,
                    At.T @ yc[train],
                    Av.T @ Av,
                    Av.T @ yc[val],
                    yc[val] @ yc[val],
                    len(val),
                    len(train),
                )
            )
        return stats

    def _score(self, subsets: np.ndarray, folds) -> np.ndarray:
        """Per-fold validation MSE of each subset, shape (n_subsets, n_folds)."""
        m, k = subsets.shape
        idx = np.concatenate([np.zeros((m, 1), dtype=int), subsets + 1], axis=1)
        rows, cols = idx[:, :, None], idx[:, None, :]
        ridge = np.eye(k + 1)
        ridge[0, 0] = 0.0
        out = np.empty((m, len(folds)))
        for f, (Gt, gt, Gv, gv, yy, n_val, n_train) in enumerate(folds):
            G = Gt[rows, cols] + self.ridge * n_train * ridge
            b = np.linalg.solve(G, gt[idx][..., None])[..., 0]
            sse = yy - 2 * np.einsum("mi,mi->m", b, gv[idx])
            sse += np.einsum("mi,mij,mj->m", b, Gv[rows, cols], b)
            out[:, f] = np.maximum(sse, 0.0) / n_val
        return out

    def _score_many(self, subsets: np.ndarray, folds, chunk=100_000):
        """CV MSE (rows weighted) and its standard error over folds, per subset."""
        parts = [self._score(subsets[i : i + chunk], folds) for i in range(0, len(subsets), chunk)]
        per_fold = np.concatenate(parts) if parts else np.empty((0, len(folds)))
        n_val = np.array([f[5] for f in folds], dtype=float)
        mse = per_fold @ n_val / n_val.sum()
        se = per_fold.std(axis=1, ddof=1) / np.sqrt(len(folds))
        return mse, se

    def _search(self, folds, p):
        """Score the intercept-only model and subsets of 1..max_terms terms.

        Returns
        -------
        list of (subsets, mse, se)
            One block per number of terms ``k`` (``k = 0`` first): ``subsets`` is an
            int array (m, k) of library indices.
        """
        n_val = np.array([f[5] for f in folds], dtype=float)
        null = np.array([f[4] / f[5] for f in folds])
        blocks = [
            (
                np.empty((1, 0), dtype=int),
                np.array([null @ n_val / n_val.sum()]),
                np.array([null.std(ddof=1) / np.sqrt(len(folds))]),
            )
        ]
        max_k = min(self.max_terms, p)
        total = sum(math.comb(p, k) for k in range(1, max_k + 1))
        if total <= self.max_subsets:
            for k in range(1, max_k + 1):
                combos = np.fromiter(
                    itertools.chain.from_iterable(itertools.combinations(range(p), k)),
                    dtype=int,
                    count=math.comb(p, k) * k,
                ).reshape(-1, k)
                blocks.append((combos, *self._score_many(combos, folds)))
            return blocks
        beam = [()]
        for _ in range(max_k):
            grown = sorted({tuple(sorted(b + (t,))) for b in beam for t in range(p) if t not in b})
            combos = np.array(grown, dtype=int)
            mse, se = self._score_many(combos, folds)
            blocks.append((combos, mse, se))
            beam = [grown[i] for i in np.argsort(mse)[: self.beam_width]]
        return blocks

    # -------------------------------------------------------------- predict
    def _predict(self, X):
        # the intercept and the selected terms
        out = np.full(X.shape[0], self.intercept_)
        for c, t in zip(self.coef_, self.terms_, strict=True):
            out += c * t.evaluate(X)
        return out
