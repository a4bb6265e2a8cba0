"""Grouped validation of laws: configurations, splits, folds, extrapolation and bootstrap.

A *configuration* is one point of the experiment grid: the rows of a results
table that share the values of the columns that define it (:data:`CONFIG_COLUMNS`
present in the table: ``config_id``, ``n_tasks``, ``n_tokens_per_task`` or
``n_ner``/``n_syn``, ``alpha``, ``ami_target`` and the columns that tell cases apart at
equal (T, n, alpha): the input ``rotation``, real ``aux_tasks`` and an ``alpha_pattern``;
on the paper's ``mtl_balanced.csv``: ``(n_tasks, n_tokens_per_task,
alpha)``) and of the study's features. The regression stage averages the target
over the rows of each configuration (:func:`configuration_means`) and then only
ever splits configurations, so no split, fold, extrapolation or bootstrap
resample puts one configuration on both sides.

How much validation a study can have depends on its number of configurations
(:func:`validation_plan`, a pure function that the workflow's config check calls
with the grid's count before any job runs):

* an R² is never reported on fewer than :data:`MIN_TEST_CONFIGS` (10) test
  configurations; a study whose single held-out split would be smaller reports
  repeated grouped K-fold cross-validation only, whose pooled out-of-fold R²
  counts every configuration;
* a study with fewer than :data:`MIN_CONFIGS` (10) configurations in all is refused:
  its K-fold CV would hold out one or two configurations per fold and its pooled R²
  would rest on fewer than 10 predictions. The message names the study and the count.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mtllaws.relatedness import TARGET_COLUMN
from mtllaws.shards import CASE_COLUMNS

__all__ = [
    "CONFIG_COLUMNS",
    "MIN_CONFIGS",
    "MIN_TEST_CONFIGS",
    "bootstrap_samples",
    "config_codes",
    "configuration_means",
    "extrapolation_split",
    "grouped_kfold",
    "r2_score",
    "rmse",
    "study_configuration_counts",
    "validation_plan",
]

#: Columns that define a configuration (those present in the table are used).
CONFIG_COLUMNS = (
    "experiment", "mode", "config_id", "n_tasks", "n_tokens_per_task", "n_ner", "n_syn",
    "alpha", TARGET_COLUMN, *CASE_COLUMNS,
)  # fmt: skip

#: Fewest test configurations an R² is computed on.
MIN_TEST_CONFIGS = 10

#: Fewest configurations a study may have (grouped K-fold CV only below 10 / test_size).
MIN_CONFIGS = 10


def config_codes(table: pd.DataFrame, keys) -> np.ndarray:
    """One string per row from the key columns: the rows of one configuration share it.

    NaN (the α of a single-task row) is a value of the key, not a missing row; it is
    spelled out, since pandas 3 keeps NaN through ``astype(str)``.

    Parameters
    ----------
    table : pandas.DataFrame
    keys : sequence of str
        Columns of ``table``.

    Returns
    -------
    (N,) object array of str
    """
    frame = table[list(keys)]
    if not len(frame):
        return np.array([], dtype=object)
    cells = frame.apply(lambda col: col.map(lambda v: "nan" if pd.isna(v) else str(v)))
    return cells.agg("\x1f".join, axis=1).to_numpy()


def configuration_means(
    table: pd.DataFrame, features, target: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Average the target (and the features) over the rows of each configuration.

    Parameters
    ----------
    table : pandas.DataFrame
        The study's rows.
    features : sequence of str
        Feature columns (part of the configuration key).
    target : str
        Target column.

    Returns
    -------
    X : ndarray of shape (n_configs, n_features)
    y : ndarray of shape (n_configs,)
    n_rows : ndarray of int, shape (n_configs,)
        Rows averaged into each configuration.
    keys : list of str
        The key columns used.
    """
    features = list(features)
    keys = [c for c in CONFIG_COLUMNS if c in table.columns and c not in features] + features
    grouped = table.assign(_config=config_codes(table, keys)).groupby("_config", sort=False)
    X = grouped[features].mean().to_numpy(dtype=float)
    y = grouped[target].mean().to_numpy(dtype=float)
    n_rows = grouped.size().to_numpy()
    return X, y, n_rows, keys


def validation_plan(
    study: str,
    n_configs: int,
    *,
    test_size: float = 0.1,
    cv: int = 5,
    extrapolate: dict | None = None,
) -> dict:
    """What validation a study with ``n_configs`` configurations gets, or why it is refused.

    Pure: the workflow calls it with the grid's count before any job runs, the
    regression stage with the table's count.

    Parameters
    ----------
    study : str
        Study name (for messages).
    n_configs : int
        Number of configurations of the study.
    test_size : float, default=0.1
        Fraction of configurations of the single held-out split.
    cv : int, default=5
        Folds of the grouped K-fold CV (at most ``n_configs``).
    extrapolate : dict, optional
        Column -> ``(n_below, n_above)``: configurations at or below and above
        the threshold of each extrapolation axis.

    Returns
    -------
    dict
        ``holdout`` (bool), ``n_test`` (configurations of the held-out split, 0
        without one), ``cv`` (folds), ``note`` (what is reported and why).

    Raises
    ------
    ValueError
        Fewer than :data:`MIN_CONFIGS` configurations, or an extrapolation axis
        with fewer than :data:`MIN_TEST_CONFIGS` configurations above or
        :data:`MIN_CONFIGS` at or below its threshold.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"study {study!r}: test_size must be in (0, 1), got {test_size}")
    if n_configs < MIN_CONFIGS:
        raise ValueError(
            f"study {study!r} has {n_configs} configurations; a law needs at least "
            f"{MIN_CONFIGS} (grouped cross-validation with fewer rests on too few "
            "predictions); widen the study's grid or relax its fixed values"
        )
    n_test = max(1, int(round(test_size * n_configs)))
    holdout = n_test >= MIN_TEST_CONFIGS and n_test < n_configs
    folds = int(min(max(2, cv), n_configs))
    if holdout:
        note = f"held-out split of {n_test} configurations and {folds}-fold grouped CV"
    else:
        needed = math.ceil(MIN_TEST_CONFIGS / test_size)
        note = (
            f"grouped {folds}-fold CV only: a {test_size:g} split of {n_configs} configurations "
            f"would test on {n_test} (< {MIN_TEST_CONFIGS}); a held-out split needs {needed}"
        )
    for column, (below, above) in (extrapolate or {}).items():
        if above < MIN_TEST_CONFIGS or below < MIN_CONFIGS:
            raise ValueError(
                f"study {study!r}: extrapolate on {column!r} leaves {below} configurations to "
                f"fit and {above} to predict; it needs at least {MIN_CONFIGS} and "
                f"{MIN_TEST_CONFIGS}; move the threshold or drop the axis"
            )
    return {"holdout": holdout, "n_test": n_test if holdout else 0, "cv": folds, "note": note}


def grouped_kfold(n_configs: int, *, k: int = 5, repeats: int = 2, seed: int = 0) -> list:
    """Repeated K-fold splits of ``range(n_configs)`` (each index one configuration).

    Returns
    -------
    list of (train, test)
        ``k * repeats`` pairs of sorted index arrays; within a repeat the test
        folds partition the configurations.
    """
    if k < 2 or k > n_configs:
        raise ValueError(f"k={k} folds need 2 <= k <= {n_configs} configurations")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        order = rng.permutation(n_configs)
        for fold in np.array_split(order, k):
            test = np.sort(fold)
            train = np.setdiff1d(np.arange(n_configs), test)
            out.append((train, test))
    return out


def extrapolation_split(values, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Configurations at or below ``threshold`` (fit) and above it (predict)."""
    values = np.asarray(values, dtype=float)
    return np.flatnonzero(values <= threshold), np.flatnonzero(values > threshold)


def bootstrap_samples(n_configs: int, n_resamples: int, *, seed: int = 0) -> list[np.ndarray]:
    """``n_resamples`` resamples of the configurations, with replacement (sorted indices)."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.integers(0, n_configs, n_configs)) for _ in range(n_resamples)]


def r2_score(y, pred) -> float | None:
    """Coefficient of determination; None for fewer than 2 values or a constant ``y``."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    ss = float(np.sum((y - y.mean()) ** 2)) if y.size > 1 else 0.0
    if ss <= 0 or not np.all(np.isfinite(pred)):
        return None
    return float(1.0 - np.sum((y - pred) ** 2) / ss)


def rmse(y, pred) -> float | None:
    """Root mean squared error; None when a prediction is not finite."""
    diff = np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)
    return float(np.sqrt(np.mean(diff**2))) if np.all(np.isfinite(diff)) else None


def study_configuration_counts(configs: pd.DataFrame, study: dict) -> tuple[int, dict] | None:
    """Count a study's configurations in a table of grid configurations, before any job runs.

    Parameters
    ----------
    configs : pandas.DataFrame
        One row per configuration of the grid, with its axes as columns
        (``n_tasks``, ``n_tokens_per_task``, ``n_ner``, ``n_syn``, ``alpha`` ...).
    study : dict
        A study: ``fixed`` (column -> value, list or ``{min, max}``) and
        ``extrapolate`` (column -> threshold).

    Returns
    -------
    (int, dict) or None
        The number of configurations the study selects and, per extrapolation axis
        that is a grid axis, ``(n_below, n_above)``; None when a ``fixed`` column is
        only known after the run (a measured AMI, or the α of an AMI-target grid), so
        the count is checked then.
    """
    from mtllaws.regress import fixed_hit, resolve_column

    mask = np.ones(len(configs), dtype=bool)
    for key, value in (study.get("fixed") or {}).items():
        try:
            column = resolve_column(configs, key)
        except ValueError:
            return None
        values = pd.to_numeric(configs[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).any():
            return None  # not set by the grid (alpha of an AMI-target grid): checked after the run
        mask &= fixed_hit(values, value, study.get("name", "?"), key)
    chosen = configs[mask]
    axes = {}
    for key, threshold in (study.get("extrapolate") or {}).items():
        try:
            column = resolve_column(chosen, key)
        except ValueError:
            continue
        values = pd.to_numeric(chosen[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).any():
            continue  # not a grid axis here (e.g. a measured AMI): checked after the run
        axes[column] = (int(np.sum(values <= threshold)), int(np.sum(values > threshold)))
    return int(mask.sum()), axes
