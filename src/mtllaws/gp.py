"""Genetic-programming engine with the paper's settings (gplearn).

:class:`GPRegressor` wraps :class:`gplearn.genetic.SymbolicRegressor` with the
defaults of Bettgenhäuser, Hedderich & Klakow (2020): function set
{add, sub, mul, div, log, sqrt, neg, exp}, crossover 0.7, subtree, hoist and point
mutation 0.1 each, parsimony coefficient 0.2, 20 generations, fitness MSE.

gplearn protects its operators: ``div`` returns 1 when ``|denominator| <= 0.001``,
``log`` returns ``log|x|`` (0 when ``|x| <= 0.001``), ``sqrt`` returns
``sqrt|x|``. gplearn has no ``exp``; :data:`protected_exp` clips its argument to
``[-EXP_CLIP, EXP_CLIP]``. A formula that reaches any of these branches on the
data is not the formula sympy prints, so after evolution every program of the
final population is checked with :func:`check_program` on the study's data and
the fittest *valid* program is kept.
"""

from __future__ import annotations

from contextlib import contextmanager

import gplearn.genetic as gplearn_genetic
import numpy as np
import sympy as sp
from gplearn._program import _Program
from gplearn.fitness import make_fitness
from gplearn.functions import _Function, make_function

from mtllaws.estimator import FormulaRegressor
from mtllaws.formula import make_symbols

__all__ = [
    "EXP_CLIP",
    "GPRegressor",
    "INVALID_FITNESS",
    "PAPER_FUNCTION_SET",
    "check_program",
    "program_to_sympy",
    "protected_exp",
]

_GPLEARN_GET_ALL_INDICES = _Program.get_all_indices
_GPLEARN_CHECK_RANDOM_STATE = gplearn_genetic.check_random_state

#: Bound on the argument of the protected exponential.
EXP_CLIP = 100.0

# gplearn's protection thresholds (gplearn.functions, version 0.4.3).
_DIV_EPS = 0.001
_LOG_EPS = 0.001


def _protected_exp(x1):
    """Exponential with its argument clipped to ``[-EXP_CLIP, EXP_CLIP]``."""
    with np.errstate(over="ignore"):
        return np.exp(np.clip(x1, -EXP_CLIP, EXP_CLIP))


#: gplearn function ``exp``; defined at module level and not wrapped, so it pickles.
protected_exp = make_function(function=_protected_exp, name="exp", arity=1, wrap=False)

#: The paper's function set (gplearn names plus :data:`protected_exp`).
PAPER_FUNCTION_SET = ("add", "sub", "mul", "div", "log", "sqrt", "neg", protected_exp)


# Strict versions for ``protection="penalize"``: NaN where the protected versions
# would take their protection branch, so that such programs get the worst fitness
# during evolution. They fail gplearn's closure test on purpose, hence ``_Function``.
def _strict_div(x1, x2):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(np.abs(x2) > _DIV_EPS, np.divide(x1, x2), np.nan)


def _strict_log(x1):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x1 > _LOG_EPS, np.log(np.abs(x1)), np.nan)


def _strict_sqrt(x1):
    return np.where(x1 >= 0, np.sqrt(np.abs(x1)), np.nan)


def _strict_exp(x1):
    with np.errstate(over="ignore"):
        return np.where(np.abs(x1) <= EXP_CLIP, np.exp(np.clip(x1, -EXP_CLIP, EXP_CLIP)), np.nan)


_STRICT = {
    "div": _Function(function=_strict_div, name="div", arity=2),
    "log": _Function(function=_strict_log, name="log", arity=1),
    "sqrt": _Function(function=_strict_sqrt, name="sqrt", arity=1),
    "exp": _Function(function=_strict_exp, name="exp", arity=1),
}

#: Fitness given to a program whose output is not finite under ``protection="penalize"``.
INVALID_FITNESS = 1e30


def _mse_or_invalid(y, y_pred, w):
    """Weighted MSE; :data:`INVALID_FITNESS` when a prediction is not finite."""
    if not np.all(np.isfinite(y_pred)):
        return INVALID_FITNESS
    return float(np.average((y_pred - y) ** 2, weights=w))


_MSE_OR_INVALID = make_fitness(function=_mse_or_invalid, greater_is_better=False, wrap=False)


def _strict_function_set(function_set):
    """Replace the protected functions of a function set by their strict versions."""
    out = []
    for f in function_set:
        name = f if isinstance(f, str) else f.name
        out.append(_STRICT.get(name, f))
    return tuple(out)


def _function_name(node) -> str:
    return node.name


def check_program(program, X) -> tuple[bool, str]:
    """Evaluate a gplearn program on ``X`` and report whether it avoids every protection branch.

    Parameters
    ----------
    program : gplearn ``_Program`` or list
        The program, or its prefix list of nodes (``_Function``, feature index, float).
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    valid : bool
    reason : str
        Empty when valid, else which operator left its real domain and how.
    """
    nodes = program.program if hasattr(program, "program") else program
    X = np.asarray(X, dtype=float)
    value, reason = _evaluate_checked(nodes, X)
    if reason:
        return False, reason
    if not np.all(np.isfinite(value)):
        return False, "the result is not finite"
    return True, ""


def _evaluate_checked(nodes, X):
    """Evaluate a prefix program, stopping at the first protected branch taken."""
    stack: list[list] = []
    n = X.shape[0]
    for node in nodes:
        if isinstance(node, _Function):
            stack.append([node])
        else:
            value = np.full(n, float(node)) if isinstance(node, float) else X[:, node]
            if not stack:  # single-terminal program
                return value, ""
            stack[-1].append(value)
        while len(stack[-1]) == stack[-1][0].arity + 1:
            function, *args = stack.pop()
            name = _function_name(function)
            reason = _protection_reason(name, args)
            if reason:
                return None, reason
            with np.errstate(all="ignore"):
                result = function(*args)
            if not np.all(np.isfinite(result)):
                return None, f"{name} overflows"
            if not stack:
                return result, ""
            stack[-1].append(result)
    raise ValueError("program is incomplete: an operator lacks arguments")


def _protection_reason(name: str, args) -> str:
    if name == "div" and np.any(np.abs(args[1]) <= _DIV_EPS):
        return f"div by |x| <= {_DIV_EPS}"
    if name == "log" and np.any(args[0] <= _LOG_EPS):
        return f"log of x <= {_LOG_EPS} (gplearn returns log|x| or 0)"
    if name == "sqrt" and np.any(args[0] < 0):
        return "sqrt of x < 0 (gplearn returns sqrt|x|)"
    if name == "exp" and np.any(np.abs(args[0]) > EXP_CLIP):
        return f"exp of |x| > {EXP_CLIP:g} (clipped)"
    return ""


_SYMPY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "neg": lambda a: -a,
    "exp": sp.exp,
    "inv": lambda a: 1 / a,
    "abs": sp.Abs,
    "max": sp.Max,
    "min": sp.Min,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
}


def program_to_sympy(program, symbols) -> sp.Expr:
    """Convert a gplearn program to a sympy expression with the real-valued operators.

    Parameters
    ----------
    program : gplearn ``_Program`` or list
    symbols : sequence of sympy.Symbol
        One symbol per feature index.

    Returns
    -------
    sympy.Expr
        Constants become :class:`sympy.Float`. The protected branches are *not*
        represented; use :func:`check_program` to make sure they are not taken.
    """
    nodes = program.program if hasattr(program, "program") else program
    stack: list[list] = []
    for node in nodes:
        if isinstance(node, _Function):
            if node.name not in _SYMPY_OPS:
                raise ValueError(
                    f"gplearn function {node.name!r} has no sympy translation; "
                    f"use one of {sorted(_SYMPY_OPS)}"
                )
            stack.append([node])
        else:
            term = sp.Float(node) if isinstance(node, float) else symbols[node]
            if not stack:
                return term
            stack[-1].append(term)
        while len(stack[-1]) == stack[-1][0].arity + 1:
            function, *args = stack.pop()
            result = _SYMPY_OPS[function.name](*args)
            if not stack:
                return result
            stack[-1].append(result)
    raise ValueError("program is incomplete: an operator lacks arguments")


def _all_rows_indices(self, n_samples=None, max_samples=None, random_state=None):
    """``_Program.get_all_indices`` without sampling when every row is used.

    gplearn draws the out-of-bag rows with ``sample_without_replacement(n, n -
    max_samples)`` even when ``max_samples == n``, which costs about a third of a
    millisecond per program; with all rows in the bag the result is always
    ``(arange(n), [])``. The program's state is recorded exactly as gplearn does.
    """
    if self._indices_state is None and random_state is None:
        raise ValueError(
            "The program has not been evaluated for fitness yet, indices not available."
        )
    if n_samples is not None and self._n_samples is None:
        self._n_samples = n_samples
    if max_samples is not None and self._max_samples is None:
        self._max_samples = max_samples
    if random_state is not None and self._indices_state is None:
        self._indices_state = random_state.get_state()
    if self._max_samples != self._n_samples:
        return _GPLEARN_GET_ALL_INDICES(self)
    return np.arange(self._n_samples), np.array([], dtype=int)


class _ReseededRandomState:
    """``check_random_state`` for gplearn's evolution loop without its cost.

    ``np.random.RandomState(seed)`` first seeds a generator from OS entropy
    (about 0.3 ms); gplearn makes one per program from a NumPy integer seed, uses
    it for that program only and keeps just a copy of its state. Reseeding one
    generator gives the same stream. Python ints and None (the estimator's own
    ``random_state``, which gplearn keeps for the whole fit) go to gplearn's function.
    """

    def __init__(self):
        self._state = np.random.RandomState(0)

    def __call__(self, seed):
        if isinstance(seed, np.integer):
            self._state.seed(int(seed))
            return self._state
        return _GPLEARN_CHECK_RANDOM_STATE(seed)


@contextmanager
def _fast_gplearn():
    """Patch the two costly helpers of gplearn for the duration of a fit (same results)."""
    _Program.get_all_indices = _all_rows_indices
    gplearn_genetic.check_random_state = _ReseededRandomState()
    try:
        yield
    finally:
        _Program.get_all_indices = _GPLEARN_GET_ALL_INDICES
        gplearn_genetic.check_random_state = _GPLEARN_CHECK_RANDOM_STATE


#: :class:`GPRegressor` parameters that go to gplearn's ``SymbolicRegressor`` as they are.
_GPLEARN_AS_IS = (
    "population_size",
    "generations",
    "tournament_size",
    "p_crossover",
    "p_subtree_mutation",
    "p_hoist_mutation",
    "p_point_mutation",
    "parsimony_coefficient",
    "n_jobs",
)


class GPRegressor(FormulaRegressor):
    """gplearn symbolic regression with the paper's settings and valid-formula selection.

    Parameters
    ----------
    population_size : int, default=2000
        The paper used a larger population. 2000 keeps the four balanced studies
        of the paper's table with three seeds within five minutes on two cores
        (``n_jobs=2`` in :func:`mtllaws.regress.run_studies`); with 1000 the best
        of three seeds on f(n, AMI, T) stayed below test R^2 = 0.8.
    generations : int, default=20
    tournament_size : int, default=20
    function_set : sequence, default=PAPER_FUNCTION_SET
    p_crossover : float, default=0.7
    p_subtree_mutation, p_hoist_mutation, p_point_mutation : float, default=0.1
    parsimony_coefficient : float, default=0.2
    init_depth : tuple of int, default=(2, 6)
    const_range : tuple of float, default=(-1.0, 1.0)
    metric : str, default="mse"
        Fitness measure (gplearn name). With ``protection="penalize"`` only
        ``"mse"`` is available.
    protection : {"penalize", "reject"}, default="penalize"
        ``"reject"``: evolve with gplearn's protected operators and reject invalid
        programs only after evolution (can leave few, unfit valid programs).
        ``"penalize"``: during evolution a program that takes a protection branch
        on a training row gets fitness :data:`INVALID_FITNESS`; the final check on
        ``domain`` is applied in both modes.
    n_jobs : int, default=1
    feature_names : sequence of str, optional
        Symbol names of the columns of ``X`` (default ``x0, x1, ...``).
    random_state : int or None, default=None

    Attributes
    ----------
    estimator_ : gplearn.genetic.SymbolicRegressor
        The fitted gplearn estimator (its own ``_program`` may be invalid).
    program_ : gplearn ``_Program``
        The fittest program of the final population that is valid on the domain.
    expr_ : sympy.Expr
        ``program_`` as a sympy expression, on the scale of ``y``.
    n_invalid_ : int
        Programs of the final population rejected by :func:`check_program`.
    selected_rank_ : int
        Rank by raw fitness of ``program_`` in the final population (0 = fittest).
    symbols_ : list of sympy.Symbol
    """

    def __init__(
        self,
        *,
        # gplearn's evolution, at the paper's settings
        population_size=2000, generations=20, tournament_size=20,
        function_set=PAPER_FUNCTION_SET,
        p_crossover=0.7, p_subtree_mutation=0.1, p_hoist_mutation=0.1, p_point_mutation=0.1,
        parsimony_coefficient=0.2, init_depth=(2, 6), const_range=(-1.0, 1.0),
        # fitness and validity
        metric="mse", protection="penalize",
        n_jobs=1, feature_names=None, random_state=None,
    ):
        self._keep(locals())

    def _fit(self, X, y, domain, names):
        # Evolve programs on (X, y) and keep the fittest one valid on the domain.
        from gplearn.genetic import SymbolicRegressor

        function_set, metric = tuple(self.function_set), self.metric
        if self.protection == "penalize":
            if metric != "mse":
                raise ValueError(
                    f"metric={metric!r} is not available with protection='penalize'; "
                    "use metric='mse' or protection='reject'"
                )
            function_set, metric = _strict_function_set(function_set), _MSE_OR_INVALID
        elif self.protection != "reject":
            raise ValueError(
                f"protection={self.protection!r} is unknown; use 'penalize' or 'reject'"
            )
        self.symbols_ = make_symbols(names, domain)
        estimator = SymbolicRegressor(
            **{key: getattr(self, key) for key in _GPLEARN_AS_IS},
            function_set=function_set,
            init_depth=tuple(self.init_depth),
            const_range=tuple(self.const_range),
            metric=metric,
            random_state=None if self.random_state is None else int(self.random_state),
        )
        with _fast_gplearn():
            self.estimator_ = estimator.fit(X, y)
        self.program_, self.selected_rank_, self.n_invalid_ = self._select_valid(domain)
        self.expr_ = program_to_sympy(self.program_, self.symbols_)

    def _select_valid(self, domain):
        """Fittest valid program: final generation first, then older survivors."""
        generations = [g for g in reversed(self.estimator_._programs) if g is not None]
        final = generations[0]
        order = np.argsort([p.raw_fitness_ for p in final])
        valid = np.array([check_program(final[i], domain)[0] for i in order])
        if valid.any():
            rank = int(np.argmax(valid))
            return final[order[rank]], rank, int((~valid).sum())
        n_invalid = len(final)
        older = [p for g in generations[1:] for p in g if p is not None]
        for p in sorted(older, key=lambda p: p.raw_fitness_):
            if check_program(p, domain)[0]:
                return p, len(final), n_invalid
        raise ValueError(
            f"no program of the {len(generations)} retained generations is valid on the "
            "data (each takes a protected branch of div, log, sqrt or exp); "
            "increase population_size or generations"
        )

    def _predict(self, X):
        # the selected valid program
        return self.program_.execute(X)
