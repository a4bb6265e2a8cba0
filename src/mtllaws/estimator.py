"""What the formula-learning engines share: parameters, feature names, ``fit``'s inputs.

:class:`mtllaws.gp.GPRegressor`, :class:`mtllaws.sparse.SparseLibraryRegressor` and
:class:`mtllaws.law.LawRegressor` are scikit-learn estimators; each lists its parameters in
its own ``__init__`` (scikit-learn reads them from that signature) and keeps them with
:meth:`FormulaRegressor._keep`. :func:`fit_doc` writes the docstring of their ``fit``.
"""

from __future__ import annotations

import textwrap

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

__all__ = ["FormulaRegressor", "fit_doc"]


class FormulaRegressor(RegressorMixin, BaseEstimator):
    """Base of the engines that learn a formula ``y = f(X)``."""

    def _keep(self, params: dict) -> None:
        """Keep each ``__init__`` argument as the attribute of its name (scikit-learn's rule).

        ``params`` is the ``locals()`` of ``__init__``; ``self`` is passed over.
        """
        for name, value in params.items():
            if name != "self":
                setattr(self, name, value)

    def _names(self, n_features: int) -> list[str]:
        """The symbol names of the columns of ``X``: ``feature_names``, else ``x0, x1, ...``."""
        if self.feature_names is None:
            return [f"x{j}" for j in range(n_features)]
        names = list(self.feature_names)
        if len(names) != n_features:
            raise ValueError(
                f"feature_names has {len(names)} names for {n_features} columns of X; "
                "pass one name per column"
            )
        return names

    @staticmethod
    def _fit_inputs(X, y, domain) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X``, ``y`` and ``domain`` (default ``X``) as float arrays."""
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        return X, y, X if domain is None else np.asarray(domain, dtype=float)


def fit_doc(summary: str, domain: str):
    """Decorator: the numpydoc docstring of an engine's ``fit(X, y, *, domain=None)``.

    Parameters
    ----------
    summary : str
        The first line: what ``fit`` does.
    domain : str
        What ``domain`` is to this engine (wrapped to the docstring's width).
    """
    described = textwrap.fill(domain, width=80, initial_indent=" " * 12,
                              subsequent_indent=" " * 12)

    def decorate(function):
        function.__doc__ = f"""{summary}

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        domain : array-like of shape (n_domain, n_features), optional
{described}

        Returns
        -------
        self
        """
        return function

    return decorate
