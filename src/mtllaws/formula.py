"""Sympy helpers shared by the symbolic-regression engines.

A formula is a :class:`sympy.Expr` over symbols named after the study's variables
(``n``, ``AMI``, ``T``, ... see :func:`mtllaws.regress.variable_symbol`). Fitted
constants are :class:`sympy.Float`; integers and rationals (the ``1/2`` of a
square root, the ``-1`` of a reciprocal) belong to the structure.

* :func:`make_symbols` creates symbols whose assumptions (positive, nonnegative,
  real) follow the data, so that ``sqrt(x)**2`` simplifies to ``x`` only where
  that is true on the data.
* :func:`simplify_formula` simplifies and keeps the form with fewer operations.
* :func:`structure` replaces constants by placeholders, term by term, giving a
  string that two formulas share exactly when they differ only in constants.
* :func:`round_constants` and :func:`equivalent` implement "sympy-equivalent once
  constants are rounded to d significant digits".
* :func:`complexity` counts the nodes of the expression tree.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = [
    "PLACEHOLDER",
    "additive_terms",
    "complexity",
    "equivalent",
    "make_symbols",
    "round_constants",
    "round_sig",
    "simplify_formula",
    "structure",
    "term_coefficients",
]

#: Name of the symbol that stands for any fitted constant in a structure.
PLACEHOLDER = "c"

# Expressions with more operations than this are not passed to sp.simplify,
# which can take minutes on bloated genetic programs.
_MAX_SIMPLIFY_OPS = 80


def make_symbols(names, domain=None) -> list[sp.Symbol]:
    """Create one real symbol per variable name, with assumptions from the data.

    Parameters
    ----------
    names : sequence of str
        Variable names, in column order.
    domain : array-like of shape (n_samples, n_variables), optional
        Values the variables take. A variable whose values are all > 0 gets
        ``positive=True``; all >= 0 gets ``nonnegative=True``; otherwise ``real=True``.
        Without ``domain`` every symbol is only ``real``.

    Returns
    -------
    list of sympy.Symbol
    """
    names = list(names)
    if domain is not None:
        domain = np.asarray(domain, dtype=float)
        if domain.ndim != 2 or domain.shape[1] != len(names):
            raise ValueError(
                f"domain has shape {domain.shape}, expected (n_samples, {len(names)}) "
                f"for the variables {names}"
            )
    symbols = []
    for j, name in enumerate(names):
        if domain is not None and domain.shape[0] and np.all(domain[:, j] > 0):
            symbols.append(sp.Symbol(name, positive=True))
        elif domain is not None and domain.shape[0] and np.all(domain[:, j] >= 0):
            symbols.append(sp.Symbol(name, nonnegative=True))
        else:
            symbols.append(sp.Symbol(name, real=True))
    return symbols


def round_sig(value: float, digits: int) -> float:
    """Round ``value`` to ``digits`` significant digits (``0`` stays ``0``)."""
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    return float(f"{float(value):.{digits}g}")


def round_constants(expr: sp.Expr, digits: int) -> sp.Expr:
    """Replace every :class:`sympy.Float` in ``expr`` by its value at ``digits`` significant digits.

    Constants that round to zero drop out of the expression.
    """
    floats = {f: sp.Float(round_sig(f, digits)) for f in expr.atoms(sp.Float)}
    return expr.xreplace(floats)


def _plain_symbols(expr: sp.Expr) -> sp.Expr:
    """Replace each symbol by a positive symbol of the same name, for comparisons."""
    return expr.xreplace({s: sp.Symbol(s.name, positive=True) for s in expr.free_symbols})


def equivalent(a: sp.Expr, b: sp.Expr, *, digits: int | None = None) -> bool:
    """Whether two formulas are equal as functions, after optional rounding.

    Parameters
    ----------
    a, b : sympy.Expr
        Formulas; symbols are matched by name (assumptions are ignored and taken
        as positive, the domain of the paper's variables).
    digits : int, optional
        Round the constants of both formulas to this many significant digits first.

    Returns
    -------
    bool
        True when ``simplify(a - b) == 0`` with all constants converted to exact
        rationals (so ``0.05`` and ``1/20`` are equal).
    """
    if digits is not None:
        a, b = round_constants(a, digits), round_constants(b, digits)
    a = sp.nsimplify(_plain_symbols(sp.sympify(a)), rational=True)
    b = sp.nsimplify(_plain_symbols(sp.sympify(b)), rational=True)
    return sp.simplify(a - b) == 0


def complexity(expr: sp.Expr) -> int:
    """Number of nodes of the expression tree (operators, symbols and numbers)."""
    return sum(1 for _ in sp.preorder_traversal(expr))


def simplify_formula(expr: sp.Expr) -> sp.Expr:
    """Simplify a fitted formula, keeping the expanded form when it is not longer.

    ``sp.simplify`` is skipped for expressions with more than 80 operations, whose
    automatic canonical form is returned expanded instead.
    """
    expr = sp.sympify(expr)
    candidates = [expr, _expand(expr)]
    if sp.count_ops(expr) <= _MAX_SIMPLIFY_OPS:
        # simplify() may fold ``a*log(n)`` into ``log(n**a)``; expand_log undoes it.
        simplified = sp.expand_log(sp.simplify(expr), force=False)
        candidates += [simplified, _expand(simplified)]
    best = min(candidates, key=complexity)
    # Show a sum of terms (the additive structure) unless it is much longer.
    expanded = _expand(best)
    return expanded if complexity(expanded) <= 1.5 * complexity(best) else best


def _expand(expr: sp.Expr) -> sp.Expr:
    """Distribute products over sums without expanding logs or powers of sums."""
    return sp.expand(
        expr, deep=True, log=False, power_base=False, power_exp=False, multinomial=False
    )


def additive_terms(expr: sp.Expr) -> list[sp.Expr]:
    """Non-constant additive terms of the expanded formula.

    A fitted intercept is not a term: ``0.2 + 0.05*log(n)`` has one term.
    """
    expanded = _expand(sp.sympify(expr))
    args = expanded.args if isinstance(expanded, sp.Add) else (expanded,)
    return [t for t in args if t.free_symbols]


def structure(expr: sp.Expr) -> str:
    """The formula with its constants replaced by the placeholder ``c``.

    The formula is expanded into additive terms; each term loses its numeric
    coefficient and every remaining :class:`sympy.Float` inside it becomes ``c``.
    The structure is the sorted sum ``c + c*term1 + c*term2 ...`` (the leading
    ``c`` only when the formula has a constant term), so two formulas share a
    structure exactly when they span the same terms.

    Parameters
    ----------
    expr : sympy.Expr
        A formula, usually the output of :func:`simplify_formula`.

    Returns
    -------
    str
    """
    expanded = _expand(sp.sympify(expr))
    args = expanded.args if isinstance(expanded, sp.Add) else (expanded,)
    placeholder = sp.Symbol(PLACEHOLDER)
    parts = set()
    has_constant = False
    for term in args:
        if not term.free_symbols:
            has_constant = has_constant or term != 0
            continue
        _, rest = term.as_coeff_Mul()
        rest = rest.xreplace({f: placeholder for f in rest.atoms(sp.Float)})
        parts.add(sp.sstr(_plain_symbols(rest), order="lex"))
    terms = [f"{PLACEHOLDER}*{p}" for p in sorted(parts)]
    if has_constant:
        terms.insert(0, PLACEHOLDER)
    return " + ".join(terms) if terms else "0"


def term_coefficients(expr: sp.Expr) -> dict[str, float]:
    """Numeric coefficient of each additive term, keyed as in :func:`structure`.

    ``0.2 + 0.05*log(n)*sqrt(AMI)`` gives ``{"1": 0.2, "sqrt(AMI)*log(n)": 0.05}``;
    constants inside a term are ``c`` in its key and are not coefficients.
    """
    expanded = _expand(sp.sympify(expr))
    args = expanded.args if isinstance(expanded, sp.Add) else (expanded,)
    placeholder = sp.Symbol(PLACEHOLDER)
    out: dict[str, float] = {}
    for term in args:
        if not term.free_symbols:
            if term.is_number:
                out["1"] = out.get("1", 0.0) + float(term)
            continue
        coeff, rest = term.as_coeff_Mul()
        rest = rest.xreplace({f: placeholder for f in rest.atoms(sp.Float)})
        key = sp.sstr(_plain_symbols(rest), order="lex")
        out[key] = out.get(key, 0.0) + float(coeff)
    return out
