"""What the formula-learning engines share: parameters, feature names, ``fit``'s inputs.

:class:`mtllaws.gp.GPRegressor`, :class:`mtllaws.sparse.SparseLibraryRegressor` and
:class:`mtllaws.law.LawRegressor` are scikit-learn estimators; each lists its parameters in
its own ``__init__`` (scikit-learn reads them from that signature) and keeps them with
:meth:`FormulaRegressor._keep`. :meth:`FormulaRegressor.fit` checks the inputs once and hands
them to the engine's ``_fit``; the law engine, which needs no domain, has its own ``fit``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

__all__ = ["FormulaRegressor"]


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

    def fit(self, X, y, *, domain=None):
        """Learn the formula on ``(X, y)``, keeping only one that is valid on ``domain``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        domain : array-like of shape (n_domain, n_features), optional
            Rows on which the formula must be defined (default ``X``): for
            :class:`~mtllaws.gp.GPRegressor` no protection branch taken, for
            :class:`~mtllaws.sparse.SparseLibraryRegressor` every library term finite.
            Pass all rows of the study, test rows included.

        Returns
        -------
        self
        """
        X, y, domain, names = self._fit_inputs(X, y, domain)
        self._fit(X, y, domain, names)
        return self

    def predict(self, X):
        """Predict with the learned formula.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._predict(np.asarray(X, dtype=float))

    def _predict(self, X: np.ndarray) -> np.ndarray:
        """The engine's own prediction on a float array (see :meth:`predict`)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _predict")

    def _fit(self, X: np.ndarray, y: np.ndarray, domain: np.ndarray, names: list[str]) -> None:
        """The engine's own fit on checked inputs (see :meth:`fit`)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _fit")

    def _fit_inputs(self, X, y, domain) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """``X``, ``y`` and ``domain`` (default ``X``) as floats, and the names of X's columns.

        Raises
        ------
        ValueError
            If ``X`` is not 2-D, if ``X`` and ``y`` differ in rows, or if ``feature_names``
            does not name every column.
        """
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} rows but y has {y.shape[0]}; pass one target per row"
            )
        domain = X if domain is None else np.asarray(domain, dtype=float)
        return X, y, domain, self._names(X.shape[1])
