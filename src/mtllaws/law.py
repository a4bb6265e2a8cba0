"""Parametric law families fitted by nonlinear least squares: the ``law`` engine.

A *family* is a formula string over the study's variables (``n``, ``AMI``, ``T``,
see :func:`mtllaws.regress.variable_symbol`) and named parameters, parsed with
sympy, with an initial value and bounds per parameter::

    {"formula": "Finf - b*(n*(1 + k*AMI**p*(T - 1)**q))**(-c)",
     "params": {"Finf": [0.8, 0, 1.5], "b": [5, 0, 1e4], "c": [0.5, 0.01, 3], ...}}

(``name: [init, lower, upper]``). Users add their own in the config
(``regress.law_families``) or pass them to :class:`LawRegressor` as a dict.

:data:`FAMILIES` ships:

* ``effective_data``: the learning curve ``F1 = Finf - b*n_eff^(-c)`` with
  ``n_eff = n*(1 + k*AMI^p*(T-1)^q)``: auxiliary tasks act as extra data weighted by
  their relatedness (issue 15);
* ``learning_curve``: the same curve in ``n`` alone (single-variable studies);
* ``maurer``: ``a - b/sqrt(n) - d/sqrt(T)``, the 1/sqrt(n) and 1/sqrt(T) rates of
  Maurer, Pontil & Romera-Paredes (2016), "The benefit of multitask representation
  learning" (JMLR 17), whose bound has a task-specific term in 1/sqrt(n) and a
  representation term in 1/sqrt(T);
* ``maurer_ami``: ``maurer`` plus a relatedness term ``e*sqrt(AMI)``;
* ``paper_sqrt``: the paper's published result refitted. The abstract of
  Bettgenhäuser, Hedderich & Klakow (2020, arXiv:2006.05561) states that the
  learned formulas relate F1 to ``sqrt(n)``, ``sqrt(T)`` and ``sqrt(AMI)``; the full
  formulas of its tables were not available to this project, so the family is
  the sum of those three factors, ``a + b*sqrt(n) + d*sqrt(T) + e*sqrt(AMI)``.
  Its constants are refitted here, not copied.

A family applies to a study when each of its variables is a feature of the study
(:func:`applicable`). :class:`LawRegressor` fits one family with
:func:`scipy.optimize.least_squares` within the bounds, from the initial values and
from ``n_restarts - 1`` random starts (log-uniform for positive bounds spanning
more than a factor of 100), and keeps the lowest cost.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from mtllaws.estimator import FormulaRegressor

__all__ = [
    "FAMILIES",
    "LawFamily",
    "LawRegressor",
    "applicable",
    "parse_family",
    "substitute",
]

#: ``[init, lower, upper]`` of a coefficient that starts at 0, free in [-10, 10].
_FREE = (0.0, -10.0, 10.0)

#: Maurer's multitask bound: F1 falls with 1/sqrt(n) and 1/sqrt(T).
_MAURER = {
    "formula": "a - b/sqrt(n) - d/sqrt(T)",
    "params": {"a": [0.8, -2.0, 3.0], "b": [10.0, -1e4, 1e4], "d": list(_FREE)},
}

#: Built-in families: name -> {"formula", "params": {name: [init, lower, upper]}}.
FAMILIES: dict[str, dict] = {
    "effective_data": {
        "formula": "Finf - b*(n*(1 + k*AMI**p*(T - 1)**q))**(-c)",
        "params": {
            "Finf": [0.8, 0.0, 10.0],
            "b": [10.0, 1e-6, 1e6],
            "c": [0.5, 0.01, 3.0],
            "k": [1.0, 0.0, 100.0],
            "p": [1.0, 0.0, 5.0],
            "q": [0.5, 0.0, 3.0],
        },
    },
    "learning_curve": {
        "formula": "Finf - b*n**(-c)",
        "params": {"Finf": [0.8, 0.0, 10.0], "b": [10.0, 1e-6, 1e6], "c": [0.5, 0.01, 3.0]},
    },
    "maurer": _MAURER,
    # Maurer's bound with a relatedness term
    "maurer_ami": {
        "formula": _MAURER["formula"] + " + e*sqrt(AMI)",
        "params": {**_MAURER["params"], "e": list(_FREE)},
    },
    "paper_sqrt": {
        "formula": "a + b*sqrt(n) + d*sqrt(T) + e*sqrt(AMI)",
        "params": {"a": list(_FREE), "b": [0.0, -1.0, 1.0], "d": list(_FREE), "e": list(_FREE)},
    },
}


@dataclass(frozen=True)
class LawFamily:
    """A parsed family: sympy formula, parameter and variable symbols, bounds."""

    name: str
    formula: str
    expr: sp.Expr
    params: tuple[str, ...]
    init: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    variables: tuple[str, ...]


def parse_family(name: str, spec) -> LawFamily:
    """Parse a family from ``{"formula": str, "params": {name: [init, lower, upper]}}``.

    Raises
    ------
    ValueError
        The formula does not parse, a parameter is not in it, a parameter's
        bounds are not ``lower <= init <= upper``, or it has no variables.
    """
    if not isinstance(spec, dict) or "formula" not in spec or "params" not in spec:
        raise ValueError(
            f"law family {name!r} must be a mapping with 'formula' and 'params' "
            "(name -> [init, lower, upper]), got {spec!r}"
        )
    params = spec["params"]
    if not isinstance(params, dict) or not params:
        raise ValueError(f"law family {name!r}: params must map names to [init, lower, upper]")
    local = {p: sp.Symbol(p, real=True) for p in params}
    try:
        expr = sp.sympify(str(spec["formula"]), locals=local)
    except (sp.SympifyError, TypeError, SyntaxError) as err:
        raise ValueError(
            f"law family {name!r}: formula {spec['formula']!r} does not parse: {err}"
        ) from None
    names = {s.name for s in expr.free_symbols}
    missing = sorted(set(params) - names)
    if missing:
        raise ValueError(f"law family {name!r}: parameter(s) {missing} do not occur in the formula")
    init, lower, upper = [], [], []
    for p, bounds in params.items():
        try:
            i, lo, hi = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise ValueError(
                f"law family {name!r}: parameter {p!r} needs [init, lower, upper], got {bounds!r}"
            ) from None
        if not lo <= i <= hi or lo == hi:
            raise ValueError(
                f"law family {name!r}: parameter {p!r} needs lower <= init <= upper and "
                f"lower < upper, got {bounds!r}"
            )
        init.append(i), lower.append(lo), upper.append(hi)
    variables = tuple(sorted(names - set(params)))
    if not variables:
        raise ValueError(f"law family {name!r}: the formula has no variables")
    return LawFamily(
        name=name,
        formula=str(spec["formula"]),
        expr=expr,
        params=tuple(params),
        init=tuple(init),
        lower=tuple(lower),
        upper=tuple(upper),
        variables=variables,
    )


def applicable(family: LawFamily, symbols, constants=None) -> bool:
    """Whether every variable of ``family`` is a feature ``symbol`` or a fixed ``constant``.

    A family whose variables are all constants does not apply.
    """
    variables = set(family.variables)
    return variables <= set(symbols) | set(constants or {}) and bool(variables & set(symbols))


def _number(value) -> sp.Number:
    value = float(value)
    return sp.Integer(int(value)) if value.is_integer() else sp.Float(value)


def substitute(family: LawFamily, constants: dict) -> LawFamily:
    """The family with variables replaced by fixed values; parameters that drop out removed."""
    subs = {
        s: _number(constants[s.name]) for s in family.expr.free_symbols if s.name in constants
    }
    if not subs:
        return family
    expr = family.expr.xreplace(subs)
    names = {s.name for s in expr.free_symbols}
    keep = [i for i, p in enumerate(family.params) if p in names]
    return LawFamily(
        name=family.name,
        formula=family.formula,
        expr=expr,
        params=tuple(family.params[i] for i in keep),
        init=tuple(family.init[i] for i in keep),
        lower=tuple(family.lower[i] for i in keep),
        upper=tuple(family.upper[i] for i in keep),
        variables=tuple(v for v in family.variables if v not in constants),
    )


@functools.lru_cache(maxsize=64)
def _compile(family: LawFamily):
    """Parameter symbols, the numpy function and its gradient in the parameters."""
    symbols = [s for p in family.params for s in family.expr.free_symbols if s.name == p]
    variables = [s for v in family.variables for s in family.expr.free_symbols if s.name == v]
    f = sp.lambdify([*variables, *symbols], family.expr, "numpy")
    grad = [sp.lambdify([*variables, *symbols], sp.diff(family.expr, s), "numpy") for s in symbols]
    return symbols, f, grad


class LawRegressor(FormulaRegressor):
    """Fit one parametric law family by bounded nonlinear least squares with restarts.

    Parameters
    ----------
    family : str or dict, default="effective_data"
        A name of :data:`FAMILIES` or of ``families``, or a family spec.
    families : dict, optional
        Extra families by name (the config's ``regress.law_families``).
    n_restarts : int, default=6
        Starts of the optimiser: the initial values, then random starts in the bounds.
    target_scale : float, default=1.0
        The target is fitted as ``target_scale * formula`` (the regression stage
        multiplies F1 by 100), so the parameters stay on the formula's own scale.
    constants : dict, optional
        Variable -> value substituted into the formula before fitting (a study's
        fixed reference values, e.g. ``{"T": 2}``); parameters that drop out are
        not fitted.
    init : dict, optional
        Parameter -> starting value overriding the family's (e.g. a full-data fit
        as warm start for bootstrap resamples).
    feature_names : sequence of str, optional
        Symbol names of the columns of ``X``; default the family's variables.
    random_state : int, optional

    Attributes
    ----------
    family_ : LawFamily
    params_ : dict
        Fitted parameter values.
    expr_ : sympy.Expr
        ``target_scale * formula`` with the fitted values.
    cost_ : float
        Half the sum of squared residuals of the best start.
    """

    def __init__(
        self,
        *,
        family="effective_data",
        families=None,
        n_restarts=6,
        target_scale=1.0,
        constants=None,
        init=None,
        feature_names=None,
        random_state=None,
    ):
        self._keep(locals())

    def _family(self) -> LawFamily:
        if isinstance(self.family, dict):
            fam = parse_family("custom", self.family)
        else:
            known = {**FAMILIES, **(self.families or {})}
            if self.family not in known:
                raise ValueError(
                    f"law family {self.family!r} is unknown; use one of {sorted(known)}"
                )
            fam = parse_family(self.family, known[self.family])
        return substitute(fam, self.constants or {})

    def _columns(self, fam: LawFamily, n_features: int) -> list[int]:
        names = list(self.feature_names or fam.variables)
        if len(names) != n_features:
            raise ValueError(f"X has {n_features} columns but feature_names has {len(names)}")
        missing = [v for v in fam.variables if v not in names]
        if missing:
            raise ValueError(
                f"law family {fam.name!r} needs the variable(s) {missing}; the study's "
                f"features are {names}"
            )
        return [names.index(v) for v in fam.variables]

    def fit(self, X, y, domain=None):
        """Fit the family's parameters to ``(X, y)``; ``domain`` is accepted and unused."""
        from scipy.optimize import least_squares

        if int(self.n_restarts) < 1:
            raise ValueError(f"n_restarts must be >= 1, got {self.n_restarts}")
        fam = self._family()
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        cols = self._columns(fam, X.shape[1])
        symbols, f, grad = _compile(fam)
        args = [X[:, c] for c in cols]
        scale = float(self.target_scale)
        lower, upper = np.array(fam.lower), np.array(fam.upper)
        bad = 1e6 * (1 + np.abs(y))

        def residual(theta):
            with np.errstate(all="ignore"):
                out = scale * np.asarray(f(*args, *theta), dtype=float) - y
            return np.where(np.isfinite(out), out, bad)

        def jacobian(theta):
            with np.errstate(all="ignore"):
                columns = [np.broadcast_to(np.asarray(g(*args, *theta), dtype=float), y.shape)
                           for g in grad]  # fmt: skip
            out = scale * np.column_stack(columns)
            return np.where(np.isfinite(out), out, 0.0)

        rng = np.random.default_rng(self.random_state)
        start = np.array(
            [float((self.init or {}).get(p, v)) for p, v in zip(fam.params, fam.init, strict=True)]
        )
        starts = [np.clip(start, lower, upper)]
        for _ in range(int(self.n_restarts) - 1):
            u = rng.random(len(lower))
            wide = (lower > 0) & (upper / np.where(lower > 0, lower, 1) > 100)
            log_draw = np.exp(
                np.log(np.where(wide, lower, 1))
                + u * np.log(np.where(wide, upper / np.where(lower > 0, lower, 1), 1))
            )
            starts.append(np.where(wide, log_draw, lower + u * (upper - lower)))
        best = None
        for theta0 in starts:
            sol = least_squares(
                residual,
                theta0,
                jac=jacobian,
                bounds=(lower, upper),
                method="trf",
                x_scale="jac",
                max_nfev=1000,
            )
            if best is None or sol.cost < best.cost:
                best = sol
        self.family_ = fam
        self.params_ = {p: float(v) for p, v in zip(fam.params, best.x, strict=True)}
        self.cost_ = float(best.cost)
        self._f, self._cols = f, cols
        subs = {s: sp.Float(v) for s, v in zip(symbols, best.x, strict=True)}
        self.expr_ = scale * fam.expr.xreplace(subs)
        return self

    def predict(self, X):
        """``target_scale * formula`` at the fitted parameters."""
        X = np.asarray(X, dtype=float)
        with np.errstate(all="ignore"):
            out = self._f(*(X[:, c] for c in self._cols), *self.params_.values())
        return (
            float(self.target_scale) * np.broadcast_to(np.asarray(out, dtype=float), len(X)).copy()
        )
