"""Symbolic-regression stage: learn formulas for F1 from a table of experiments.

A *study* fits F1 as a function of some columns of a results table (the
workflow's ``summary.parquet`` or the paper's ``mtl_balanced.csv``)::

    {"name": "f_n", "features": ["n_tokens_per_task"], "fixed": {"n_tasks": 2, "alpha": 0.9}}

``fixed`` holds the other variables at reference values (rows whose column equals
the value); a study without ``fixed`` uses every row. Column names may be given
by alias (:data:`ALIASES`): ``n``, ``ami``, ``T``, ``f1`` ... resolve to the first
of their columns present in the table, so one study definition serves the
workflow's summary (``ami_mean_mean``, ``test_f1_mean``) and the paper's table
(``mutual_info``, ``fscore``).

:func:`run_study` fits one study with one engine and several seeds:

* the target is multiplied by ``scale`` (the paper's c = 100) for fitting, and
  every reported formula, prediction and error is back on the F1 scale;
* the rows are split 90/10 into train and test once (``split="fixed"``, seeded by
  ``split_seed``) or once per seed (``split="per_seed"``);
* engines: ``"gplearn"`` (:class:`mtllaws.gp.GPRegressor`, the paper's settings)
  and ``"sparse"`` (:class:`mtllaws.sparse.SparseLibraryRegressor`, the stronger
  engine). Neither returns a formula that relies on a protected operator on any
  row of the study.

A study of kind ``compare_features`` (:mod:`mtllaws.compare_features`) fits one
feature set per relatedness measure (``features`` plus each of ``measures``) with
the same engine on the same configurations and grouped folds, once per regression
seed; :func:`run_studies` returns one result per set.

The result is a JSON-ready dict (see :func:`run_study`). The formula of the
study is that of the seed with the lowest train MSE among the seeds that share
the most common structure (:func:`mtllaws.formula.structure`).
:func:`run_studies` runs a list of studies (the seeds of all studies share one
process pool) and writes per study a JSON file and a predicted-against-measured
plot (PNG and PDF); :func:`markdown_table` and :func:`latex_table` summarise a
list of results. The output functions live in :mod:`mtllaws.regress_output` and
are re-exported here.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from mtllaws.compare_features import (
    SLOT_SYMBOL,
    check_kind,
    feature_sets,
    set_study_name,
    slot_families,
)
from mtllaws.regress_output import (
    comparison_table,
    formulas_document,
    latex_table,
    law_card,
    law_cards_markdown,
    markdown_table,
    plot_study,
    write_json,
    write_study_outputs,
    write_tables,
)
from mtllaws.relatedness import MEASURES, measure_columns
from mtllaws.validation import (
    MIN_TEST_CONFIGS,
    configuration_means,
    extrapolation_split,
    r2_score,
    rmse,
    validation_plan,
)

__all__ = [
    "ALIASES",
    "DEFAULTS",
    "aliases",
    "range_hit",
    "values_hit",
    "fixed_hit",
    "ENGINES",
    "InsufficientDataError",
    "MIN_ROWS",
    "PAPER_BALANCED_STUDIES",
    "comparison_table",
    "formulas_document",
    "latex_table",
    "law_card",
    "law_cards_markdown",
    "make_engine",
    "markdown_table",
    "plot_study",
    "read_table",
    "resolve_column",
    "run_studies",
    "run_study",
    "select_study_rows",
    "split_indices",
    "variable_symbol",
    "write_json",
    "write_study_outputs",
    "write_tables",
]

logger = logging.getLogger(__name__)

#: Fewest rows a study may have.
MIN_ROWS = 20

def _gplearn_record(model, scale: float) -> dict:
    """What a gplearn fit adds to its seed record: the evolved program."""
    return {
        "program": str(model.program_),
        "program_length": int(model.program_.length_),
        "n_invalid": int(model.n_invalid_),
    }


def _sparse_record(model, scale: float) -> dict:
    """What a sparse fit adds to its seed record: CV error and path (F1 scale)."""
    return {
        "cv_mse": model.cv_mse_ / scale**2,
        "path": [
            {**p, "cv_mse": p["cv_mse"] / scale**2, "cv_se": p["cv_se"] / scale**2}
            for p in model.path_
        ],
    }


def _law_record(model, scale: float) -> dict:
    """What a law fit adds to its seed record: the family (also as the structure)."""
    return {
        "structure": f"law:{model.family_.name}",
        "family": model.family_.name,
        "family_formula": model.family_.formula,
        "law_params": dict(model.params_),
    }


#: The one engine registry: name -> ``estimator`` ("module:Class"), ``help``,
#: ``bootstrap_params`` (lighter settings for the bootstrap resamples), ``scaled``
#: (the estimator takes ``target_scale``) and ``record`` (``(model, scale) -> dict``:
#: the engine's own fields of a seed record; a ``structure`` there replaces the
#: formula's). :func:`make_engine`, the CLI's choices, the workflow's ``engine``
#: wildcard and the config check (:func:`mtllaws.config_check.check_regress_config`)
#: read the names from here: a new engine is one entry.
ENGINES: dict[str, dict] = {
    "gplearn": {
        "estimator": "mtllaws.gp:GPRegressor",
        "help": "genetic programming with the paper's settings",
        "bootstrap_params": {"population_size": 200, "generations": 5},
        "record": _gplearn_record,
    },
    "sparse": {
        "estimator": "mtllaws.sparse:SparseLibraryRegressor",
        "help": "sparse sums of the paper's operators (the stronger engine)",
        "bootstrap_params": {"max_subsets": 20_000, "beam_width": 50},
        "record": _sparse_record,
    },
    "law": {
        "estimator": "mtllaws.law:LawRegressor",
        "help": "parametric law families (mtllaws.law) by nonlinear least squares",
        "bootstrap_params": {"n_restarts": 1},
        "scaled": True,
        "record": _law_record,
    },
}

#: The regression settings' defaults, their one home. The workflow schema's
#: ``regress`` defaults equal them (``engines``, ``seeds``, ``target``, ``min_rows``,
#: ``test_size``, ``cv``, ``cv_repeats``, ``bootstrap``, ``law_families``; a test
#: checks it); :func:`run_studies`, the CLI and the regress script read the others
#: (``engine``, ``scale``, ``split``, ``split_seed``, ``engine_params``) from here.
DEFAULTS: dict = {
    "engines": ("gplearn", "sparse", "law"),
    "engine": "sparse",
    "seeds": (0, 1, 2),
    "target": "f1",
    "min_rows": MIN_ROWS,
    "scale": 100.0,
    "test_size": 0.1,
    "split": "fixed",
    "split_seed": 0,
    "engine_params": None,
    "cv": 5,
    "cv_repeats": 2,
    "bootstrap": 100,
    "law_families": {},
}

#: The keywords :func:`run_studies` takes besides ``n_jobs`` (defaults in :data:`DEFAULTS`).
_RUN_OPTIONS = (
    "engine", "seeds", "target", "scale", "test_size", "split", "split_seed",
    "engine_params", "cv", "cv_repeats", "bootstrap",
)  # fmt: skip

# Column -> symbol name in formulas (the paper's notation); measures add theirs.
_SYMBOLS = {"n_tokens_per_task": "n", "n_tasks": "T"}


def aliases() -> dict[str, tuple[str, ...]]:
    """Alias -> columns it stands for, in order of preference, measures included.

    Every measure of :data:`mtllaws.relatedness.MEASURES` (also one registered after
    import) is an alias of its summary mean, then its run mean (``ami`` ->
    ``ami_mean_mean``, ``ami_mean``, then the paper's ``mutual_info``).

    Returns
    -------
    dict
        ``n``, the measures, ``T``, ``n_ner``, ``n_syn``, ``alpha``, ``f1``.
    """
    out = {"n": ("n_tokens_per_task",)}
    for name, measure in MEASURES.items():
        cols = measure_columns(name)
        out[name] = (cols.summary_mean, cols.mean, *measure.paper_columns)
    out.update(
        {
            "T": ("n_tasks",),
            "n_ner": ("n_ner",),
            "n_syn": ("n_syn",),
            "alpha": ("alpha",),
            "f1": ("test_f1_mean", "test_f1", "fscore"),
        }
    )
    return out


#: Alias -> columns it stands for, in order of preference (the measures registered at
#: import; :func:`aliases` also has later ones). Any member of a group also resolves
#: to the first member present in the table.
ALIASES: dict[str, tuple[str, ...]] = aliases()

#: The balanced studies on the paper's published table (reference values chosen
#: where that table has the most rows); usable with the workflow's summary too.
#: f_all is fitted on the MTL rows (T >= 2: single-task rows have no AMI) and
#: extrapolated in T, n and AMI (issue 15).
PAPER_BALANCED_STUDIES = (
    {"name": "f_n", "features": ["n"], "fixed": {"n_tasks": 2, "alpha": 0.98}},
    {"name": "f_ami", "features": ["ami"], "fixed": {"n_tasks": 2, "n_tokens_per_task": 1000}},
    {"name": "f_T", "features": ["T"], "fixed": {"n_tokens_per_task": 1000, "alpha": 0.9}},
    {
        "name": "f_all",
        "features": ["n", "ami", "T"],
        "fixed": {"n_tasks": {"min": 2}},
        "extrapolate": {"T": 5, "n": 10000, "ami": 0.7},
    },
)

# engines and tolerance: a real_tasks study's (mtllaws.realtest); the schema fills them in.
_STUDY_KEYS = {
    "name", "features", "fixed", "target", "extrapolate", "kind", "measures", "engines",
    "tolerance",
}  # fmt: skip


# ---------------------------------------------------------------- tables
def read_table(path) -> pd.DataFrame:
    """Read a results table from CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``, ``.pq``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    pandas.DataFrame
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"{path}: unknown table format {suffix!r}; use .csv, .tsv, .parquet or .pq")


def resolve_column(table: pd.DataFrame, name: str) -> str:
    """The column of ``table`` that ``name`` refers to, directly or by alias.

    Parameters
    ----------
    table : pandas.DataFrame
    name : str
        A column name, an alias key of :data:`ALIASES` (``n``, ``ami``, ``T``,
        ``f1`` ...) or a member of an alias group (``mutual_info`` finds
        ``ami_mean_mean`` in the workflow's summary).

    Returns
    -------
    str
    """
    if name in table.columns:
        return name
    looked_for = ""
    known_aliases = aliases()
    for key, group in known_aliases.items():
        if name == key or name.lower() == key.lower() or name in group:
            for column in group:
                if column in table.columns:
                    return column
            others = [c for c in group if c != name]
            looked_for = f" (nor {' or '.join(others)})" if others else ""
    known = ", ".join(f"{k} -> {'/'.join(v)}" for k, v in known_aliases.items())
    raise ValueError(
        f"column {name!r}{looked_for} is not in the table; its columns are {list(table.columns)} "
        f"(aliases: {known}); name an existing column"
    )


def variable_symbol(column: str) -> str:
    """Symbol name of a column in formulas: ``n``, ``AMI``, ``T``, else the column name."""
    symbols = dict(_SYMBOLS)
    for measure in MEASURES.values():
        cols = measure_columns(measure.name)
        for measured in (cols.summary_mean, cols.mean, *measure.paper_columns):
            symbols[measured] = measure.symbol
    name = symbols.get(column, re.sub(r"\W", "_", column))
    from mtllaws.formula import PLACEHOLDER

    return name + "_" if name == PLACEHOLDER else name


def _numeric_column(
    table: pd.DataFrame, column: str, study: str, *, allow_nan: bool = False
) -> np.ndarray:
    """Column as float; ValueError naming it for non-numeric, NaN or infinite values."""
    values = table[column]
    if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        converted = pd.to_numeric(values, errors="coerce")
        bad = values[converted.isna() & values.notna()]
        if len(bad):
            raise ValueError(
                f"study {study!r}: column {column!r} has {len(bad)} non-numeric values "
                f"(first {bad.iloc[0]!r} in row {bad.index[0]}); convert or drop them"
            )
        values = converted
    out = values.to_numpy(dtype=float)
    missing = np.flatnonzero(~np.isfinite(out))
    if missing.size and not allow_nan:
        rows = list(table.index[missing[:5]])
        raise ValueError(
            f"study {study!r}: column {column!r} has {missing.size} NaN or infinite values "
            f"(rows {rows}{' ...' if missing.size > 5 else ''}); drop or fill these rows"
        )
    return out


def _check_spec(spec) -> dict:
    if not isinstance(spec, dict):
        raise ValueError(f"a study must be a mapping with name and features, got {spec!r}")
    unknown = set(spec) - _STUDY_KEYS
    if unknown:
        raise ValueError(
            f"study {spec.get('name')!r} has unknown keys {sorted(unknown)}; "
            f"use {sorted(_STUDY_KEYS)}"
        )
    if "features" not in spec or not spec["features"]:
        raise ValueError(f"study {spec.get('name')!r} names no features; give a list of columns")
    features = spec["features"]
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    kind = check_kind(spec, f"study {spec.get('name')!r}")
    name = spec.get("name") or "f_" + "_".join(str(f) for f in features)
    if not spec.get("name") and kind["measures"]:
        name = re.sub(r"\W", "_", f"{name}_by_{'_'.join(kind['measures'])}")
    extrapolate = spec.get("extrapolate") or {}
    if not isinstance(extrapolate, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in extrapolate.values()
    ):
        raise ValueError(
            f"study {name!r}: extrapolate must map columns to numeric thresholds "
            f"(fit on <= threshold, predict above), got {extrapolate!r}"
        )
    return {
        "name": str(name),
        "features": [str(f) for f in features],
        "fixed": dict(spec.get("fixed") or {}),
        "target": spec.get("target"),
        "extrapolate": {str(k): float(v) for k, v in extrapolate.items()},
        **kind,
    }


def range_hit(values, bounds: dict, study: str, key: str):
    """Rows whose value lies in ``{"min": a, "max": b}`` (either bound optional).

    Parameters
    ----------
    values : (N,) float array
    bounds : dict
        ``min`` and/or ``max``.
    study, key : str
        The study (its name or config location) and the column, for messages.

    Returns
    -------
    (N,) bool array, str
        The rows in range and the range as text, ``[a, b]``.
    """
    unknown = set(bounds) - {"min", "max"}
    if unknown or not bounds:
        raise ValueError(
            f"study {study!r}: fixed {key}={bounds!r}: a range takes the keys min and/or max"
        )
    try:
        lo = float(bounds.get("min", -np.inf))
        hi = float(bounds.get("max", np.inf))
    except (TypeError, ValueError):
        raise ValueError(
            f"study {study!r}: fixed {key}={bounds!r} bounds must be numbers"
        ) from None
    with np.errstate(invalid="ignore"):
        hit = (values >= lo) & (values <= hi)
    return hit, f"[{lo:g}, {hi:g}]"


def values_hit(values, value, problem: str):
    """Rows whose value is ``value`` or any item of a list of numbers (to 1e-9).

    Parameters
    ----------
    values : (N,) float array
    value : number or list of numbers
    problem : str
        The message of the ValueError when ``value`` is not a number or a list of them.

    Returns
    -------
    (N,) bool array, float or list of float, str
        The rows hit, the value(s) as numbers and as text (``a`` or ``[a, b]``).
    """
    listed = isinstance(value, list | tuple)
    try:
        wanted = [float(v) for v in (value if listed else [value])]
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    hit = np.zeros(len(values), dtype=bool)
    for v in wanted:
        hit |= np.isclose(values, v, rtol=1e-9, atol=1e-12)
    text = "[" + ", ".join(f"{v:g}" for v in wanted) + "]" if listed else f"{wanted[0]:g}"
    return hit, wanted if listed else wanted[0], text


def fixed_hit(values, value, study: str, key: str) -> np.ndarray:
    """Rows that a study's ``fixed`` entry selects: a range or number(s).

    Parameters
    ----------
    values : (N,) float array
    value : dict or number or list of numbers
        A range ``{"min": a, "max": b}`` (:func:`range_hit`) or the value(s) to keep
        (:func:`values_hit`).
    study, key : str
        The study (its name or config location) and the column, for messages.

    Returns
    -------
    (N,) bool array
    """
    if isinstance(value, dict):
        return range_hit(values, value, study, key)[0]
    return values_hit(
        values, value,
        f"study {study!r}: fixed {key}={value!r} is not a number, a list of numbers "
        "or a range {min: a, max: b}",
    )[0]


def select_study_rows(
    table: pd.DataFrame, study_spec: dict, *, target: str = "f1", min_rows: int = MIN_ROWS
) -> dict:
    """Resolve a study's columns, select its rows and check them.

    Parameters
    ----------
    table : pandas.DataFrame
    study_spec : dict
        ``name``, ``features`` (list of columns or aliases), optional ``fixed``
        (column -> reference value) and ``target`` (overrides ``target``).
    target : str, default="f1"
        Target column or alias.
    min_rows : int, default=MIN_ROWS

    Returns
    -------
    dict
        ``name``, ``features`` (resolved columns), ``symbols``, ``target`` (column),
        ``fixed`` (resolved column -> value), ``X`` (n_rows, n_features) float,
        ``y`` (n_rows,) float, ``rows`` (index labels of the selected rows).
    """
    spec = _check_spec(study_spec)
    name = spec["name"]
    target_col = resolve_column(table, spec["target"] or target)
    features = [resolve_column(table, f) for f in spec["features"]]
    duplicates = [f for f, k in Counter(features).items() if k > 1]
    if duplicates:
        raise ValueError(f"study {name!r} names the column(s) {duplicates} more than once")
    if target_col in features:
        raise ValueError(f"study {name!r}: the target {target_col!r} is also a feature")

    mask = np.ones(len(table), dtype=bool)
    fixed = {}
    chosen = []
    for key, value in spec["fixed"].items():
        column = resolve_column(table, key)
        # Rows where the column is missing (alpha of a single-task row) just do not match.
        values = _numeric_column(table[mask], column, name, allow_nan=True)
        if isinstance(value, dict):
            hit, text = range_hit(values, value, name, key)
            if not hit.any():
                raise ValueError(
                    f"study {name!r}: fixed {column}={text} selects no rows; values of "
                    f"{column}: {sorted(set(np.round(values[np.isfinite(values)], 10).tolist()))}"
                )
            mask[np.flatnonzero(mask)[~hit]] = False
            fixed[column] = {k: float(v) for k, v in value.items()}
            chosen.append(f"{column}={text}")
            continue
        # A list keeps the rows whose value is any of its items (e.g. n_tasks: [2, 3]).
        hit, wanted, text = values_hit(
            values, value,
            f"study {name!r}: fixed value {key}={value!r} is not a number or a list of numbers",
        )
        if not hit.any():
            available = sorted(set(np.round(values[np.isfinite(values)], 10).tolist()))
            where = f" among the rows with {', '.join(chosen)}" if chosen else ""
            raise ValueError(
                f"study {name!r}: fixed {column}={text} selects no rows; available values "
                f"of {column}{where}: {available}"
            )
        mask[np.flatnonzero(mask)[~hit]] = False
        fixed[column] = wanted
        chosen.append(f"{column}={text}")

    rows = table[mask]
    if len(rows) < min_rows:
        where = f" with {', '.join(chosen)}" if chosen else ""
        raise ValueError(
            f"study {name!r} has {len(rows)} rows{where}; symbolic regression needs at least "
            f"{min_rows}; choose reference values with more rows or add experiments"
        )
    X = np.column_stack([_numeric_column(rows, f, name) for f in features])
    y = _numeric_column(rows, target_col, name)
    for j, column in enumerate(features):
        if np.ptp(X[:, j]) == 0:
            raise ValueError(
                f"study {name!r}: feature {column!r} takes the single value {X[0, j]:g} on "
                f"its {len(rows)} rows; drop it from features or change fixed"
            )
    symbols = [variable_symbol(f) for f in features]
    if len(set(symbols)) != len(symbols):
        symbols = [re.sub(r"\W", "_", f) for f in features]
    extrapolate = {}
    for key, threshold in spec["extrapolate"].items():
        column = resolve_column(table, key)
        if column not in features:
            raise ValueError(
                f"study {name!r}: extrapolate names {key!r} ({column}), which is not one of its "
                f"features {features}; extrapolate along a feature"
            )
        extrapolate[column] = threshold
    return {
        "name": name,
        "features": features,
        "symbols": symbols,
        "target": target_col,
        "fixed": fixed,
        "extrapolate": extrapolate,
        "X": X,
        "y": y,
        "rows": list(rows.index),
    }


def split_indices(n_rows: int, *, test_size: float = 0.1, seed: int = 0):
    """Seeded train/test split of ``range(n_rows)``.

    Returns
    -------
    train, test : ndarray of int
        Sorted row positions.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    n_test = max(1, int(round(test_size * n_rows)))
    if n_test < 2:  # R² of one row is undefined (nan): refuse instead of reporting it
        raise ValueError(
            f"test_size={test_size} of {n_rows} rows gives a test set of {n_test} row; "
            "test R² needs at least 2: use more rows or a larger test_size"
        )
    if n_test >= n_rows:
        raise ValueError(f"test_size={test_size} leaves no training rows out of {n_rows}")
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


# --------------------------------------------------------------- engines
def make_engine(engine: str, *, seed: int, feature_names, **params):
    """Create an unfitted engine.

    Parameters
    ----------
    engine : str
        A name of :data:`ENGINES`.
    seed : int
        ``random_state`` of the engine.
    feature_names : sequence of str
        Symbol names of the features.
    **params
        Estimator parameters (:class:`mtllaws.gp.GPRegressor` or
        :class:`mtllaws.sparse.SparseLibraryRegressor`).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is unknown; use one of {tuple(ENGINES)}")
    import importlib

    module, name = ENGINES[engine]["estimator"].split(":")
    cls = getattr(importlib.import_module(module), name)
    valid = set(cls().get_params()) - {"random_state", "feature_names"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"engine {engine!r} has no parameter(s) {unknown}; valid: {sorted(valid)}")
    return cls(random_state=seed, feature_names=list(feature_names), **params)


def _fit_seed(engine, seed, data, train, test, scale, params, domain):
    """Fit one seed; returns the JSON-ready per-seed record (with private sympy fields)."""
    from mtllaws.formula import (
        additive_terms,
        complexity,
        round_constants,
        simplify_formula,
        structure,
    )

    start, cpu_start = time.perf_counter(), time.process_time()
    if ENGINES[engine].get("scaled"):
        params = {**params, "target_scale": scale}
    model = make_engine(engine, seed=seed, feature_names=data["symbols"], **params)
    X, y = data["X"], data["y"]
    model.fit(X[train], scale * y[train], domain=domain)
    pred = model.predict(X) / scale
    raw = model.expr_ / scale
    simplified = simplify_formula(raw)
    has_test = len(test) > 0
    extras = ENGINES[engine]["record"](model, scale)
    record = {
        "seed": int(seed),
        "formula": str(simplified),
        "formula_raw": str(raw),
        "formula_rounded": str(round_constants(simplified, 3)),
        "formula_latex": _latex(round_constants(simplified, 3)),
        "structure": extras.pop("structure", None) or structure(simplified),
        "complexity": complexity(simplified),
        "n_terms": len(additive_terms(simplified)),
        "train_mse": float(np.mean((y[train] - pred[train]) ** 2)),
        "test_mse": float(np.mean((y[test] - pred[test]) ** 2)) if has_test else None,
        "train_r2": r2_score(y[train], pred[train]),
        "test_r2": r2_score(y[test], pred[test]) if has_test else None,
        "test_rmse": rmse(y[test], pred[test]) if has_test else None,
        "runtime_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,
        "train_rows": [int(i) for i in train],
        "test_rows": [int(i) for i in test],
        "predicted": pred.tolist(),
    }
    record.update(extras)
    return record


def _latex(expr) -> str:
    """LaTeX of a formula; multi-letter names such as AMI set upright."""
    import sympy as sp

    names = {
        sym: rf"\mathrm{{{sym.name}}}"
        for sym in expr.free_symbols
        if len(sym.name) > 1 and "_" not in sym.name and not sp.latex(sym).startswith("\\")
    }
    return sp.latex(expr, symbol_names=names)


def run_study(table: pd.DataFrame, study_spec: dict, **options) -> dict:
    """Fit one study with one engine and several seeds, and validate it.

    Parameters
    ----------
    table : pandas.DataFrame
        Results table with the study's feature, fixed and target columns.
    study_spec : dict
        ``{"name": ..., "features": [...], "fixed": {...}, "extrapolate": {...}}``;
        see :func:`select_study_rows`.
    **options
        As :func:`run_studies` (defaults in :data:`DEFAULTS`): ``engine`` (a name of
        :data:`ENGINES`), ``seeds``, ``target``, ``scale`` (the paper's c: the target
        is multiplied by it for fitting; everything reported is on the F1 scale),
        ``test_size``, ``split`` (``"fixed"``: one split seeded by ``split_seed``;
        ``"per_seed"``), ``split_seed``, ``min_rows``, ``engine_params``, ``cv``
        (folds), ``cv_repeats``, ``bootstrap`` (resamples; 0 skips it), ``n_jobs`` (1).

    Returns
    -------
    dict
        ``study, engine, target, features, variables`` (symbol -> column), ``fixed,
        n_rows`` (table rows), ``n_configurations`` (what is fitted: the target
        averaged per configuration, :func:`mtllaws.validation.configuration_means`),
        ``n_train, n_test`` (configurations; ``n_test`` 0 when the study is too small
        for a held-out split of 10), ``scale, split, engine_params``; the formula
        as ``formula`` (simplified, F1 scale), ``formula_raw``, ``formula_rounded``
        (3 significant digits), ``formula_latex``, ``structure``, ``complexity``,
        ``n_terms``, ``train_mse``, ``test_mse``, ``train_r2``, ``test_r2``,
        ``test_rmse`` (None without a held-out split), ``seed``; ``seeds`` (one
        record per seed); ``agreement`` (``structure``, ``n_agree``, ``n_seeds``);
        ``validation`` (what is reported and why); ``variants`` (one summary per
        engine setting or law family, :func:`mtllaws.regress_validate.summarise_variant`)
        and ``variant`` (the one whose formula is reported: the law family with the
        best grouped-CV R²); ``cv_r2_mean``, ``cv_r2_std`` of that variant;
        ``predictions`` (``measured``, ``predicted``, ``subset`` per configuration);
        ``runtime_s``, ``cpu_s``; ``version``.
    """
    return run_studies(table, [study_spec], **options)[0]


def _variants(engine: str, params: dict, data: dict) -> list[dict]:
    """The settings a study is fitted with: one per engine, one per law family."""
    if engine != "law":
        return [{"name": engine, "params": params}]
    from mtllaws.law import FAMILIES, applicable, parse_family

    extra = dict(params.get("families") or {})
    known = {**FAMILIES, **extra}
    wanted = params.get("family") or list(known)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValueError(f"law family(ies) {unknown} unknown; use {sorted(known)}")
    slot = data.get("relatedness")
    if slot is not None:
        # compare_features: the families' AMI is the relatedness slot, written in the
        # set's measure; families without it would be the same for every set.
        known = extra = slot_families(known, slot["symbol"])
        wanted = [w for w in wanted if w in known]
        if not wanted:
            raise InsufficientDataError(
                f"study {data['name']!r}: no law family uses the relatedness variable "
                f"{SLOT_SYMBOL}; compare_features needs one (add a family in "
                "regress.law_families or drop regress.law_families' family filter)"
            )
    constants = {}
    for column, value in data["fixed"].items():
        if not isinstance(value, list | dict):
            constants[variable_symbol(column)] = value
    rest = {k: v for k, v in params.items() if k not in ("family", "families")}
    variants = []
    for name in wanted:
        family = parse_family(name, known[name])
        if applicable(family, data["symbols"], constants):
            used = {k: v for k, v in constants.items() if k in family.variables}
            variants.append(
                {
                    "name": f"law:{name}",
                    "params": {**rest, "family": name, "families": extra, "constants": used},
                }
            )
    if not variants:
        raise InsufficientDataError(
            f"study {data['name']!r}: no law family uses only its features {data['symbols']} "
            f"and fixed values {sorted(constants)}; add a family in regress.law_families"
        )
    return variants


class InsufficientDataError(ValueError):
    """A study that cannot be fitted or validated honestly; the message says why."""


def _plan_study(
    table,
    study_spec,
    *,
    engine,
    seeds,
    target,
    scale,
    test_size,
    split,
    split_seed,
    min_rows,
    engine_params,
    cv,
    cv_repeats,
    bootstrap,
) -> list[dict]:
    """Check the arguments, select the configurations and list the fitting jobs.

    Returns one plan per feature set: one for a ``formula`` study, one per measure
    for a ``compare_features`` study (same rows, configurations and folds).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is unknown; use one of {tuple(ENGINES)}")
    if split not in ("fixed", "per_seed"):
        raise ValueError(f"split={split!r} is unknown; use 'fixed' or 'per_seed'")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if int(cv_repeats) < 1 or int(bootstrap) < 0:
        raise ValueError(
            f"cv_repeats must be >= 1 and bootstrap >= 0, got {cv_repeats}, {bootstrap}"
        )
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    params = dict(engine_params or {})
    if engine != "law":
        make_engine(engine, seed=0, feature_names=["x"], **params)  # fail early on bad params
    spec = _check_spec(study_spec)
    compare = spec["kind"] == "compare_features"
    # A compare_features study selects rows and configurations on the union of its sets'
    # features, so that every set is fitted on the same configurations.
    union = [*spec["features"], *spec["measures"]]
    try:
        data = select_study_rows(
            table,
            {**spec, "kind": "formula", "measures": [], "features": union},
            target=target,
            min_rows=min_rows,
        )
    except ValueError as err:
        if "symbolic regression needs at least" in str(err):
            raise InsufficientDataError(str(err)) from None
        raise
    rows = table.loc[data["rows"]]
    X, y, n_rows, keys = configuration_means(rows, data["features"], data["target"])
    n_rows_total = len(data["y"])
    data.update(X=X, y=y, rows_per_config=n_rows.tolist(), config_keys=keys)
    n = len(y)
    counts = {}
    for column, threshold in data["extrapolate"].items():
        if compare and data["features"].index(column) >= len(spec["features"]):
            raise ValueError(
                f"study {data['name']!r}: extrapolate names {column!r}, one of the compared "
                f"measures; a compare_features study extrapolates along its base features "
                f"{spec['features']}"
            )
        below, above = extrapolation_split(X[:, data["features"].index(column)], threshold)
        counts[column] = (below.size, above.size)
    try:
        check = validation_plan(data["name"], n, test_size=test_size, cv=cv, extrapolate=counts)
    except ValueError as err:
        raise InsufficientDataError(str(err)) from None
    validation = {
        **check,
        "cv_repeats": int(cv_repeats),
        "cv_seed": int(split_seed),
        # The CV runs once per regression seed where sets are compared (paired ΔR²).
        "cv_seeds": seeds if compare else seeds[:1],
        "bootstrap": int(bootstrap),
        "bootstrap_seed": int(split_seed),
        "min_test_configurations": MIN_TEST_CONFIGS,
    }
    every = np.arange(n)
    splits = {}
    for s in seeds:
        if check["holdout"]:
            splits[s] = split_indices(
                n, test_size=test_size, seed=split_seed if split == "fixed" else s
            )
        else:
            splits[s] = (every, every[:0])
    logger.info(
        "study %s: %d rows in %d configurations, features %s, engine %s, seeds %s; %s",
        data["name"], n_rows_total, n, data["features"], engine, seeds, check["note"],
    )  # fmt: skip
    if compare:
        sets = feature_sets(spec["features"], spec["measures"])
        labels = list(sets)
        datas = [_set_data(data, spec, label, i) for i, label in enumerate(labels)]
    else:
        labels, datas = [None], [data]
    plans = []
    for label, set_data in zip(labels, datas, strict=True):
        variants = _variants(engine, params, set_data)
        plan = {
            "data": set_data,
            "engine": engine,
            "scale": float(scale),
            "params": params,
            "seeds": seeds,
            "n_rows": n_rows_total,
            "split": {"mode": split, "test_size": test_size, "seed": split_seed},
            "validation": validation,
            "bootstrap_params": dict(ENGINES[engine]["bootstrap_params"]),
            "variants": variants,
            "jobs": [
                (engine, s, set_data, *splits[s], scale, variant["params"], set_data["X"])
                for variant in variants
                for s in seeds
            ],
        }
        if compare:
            plan["compare"] = _compare_record(plan, data, label, sets)
        plans.append(plan)
    return plans


def _set_data(data: dict, spec: dict, label: str, index: int) -> dict:
    """One feature set of a compare_features study: the base plus measure ``index``."""
    n_base = len(spec["features"])
    columns = [*range(n_base), n_base + index]
    features = [data["features"][j] for j in columns]
    symbols = [variable_symbol(f) for f in features]
    if len(set(symbols)) != len(symbols):
        symbols = [re.sub(r"\W", "_", f) for f in features]
    return {
        **data,
        "name": set_study_name(data["name"], label),
        "features": features,
        "symbols": symbols,
        "X": data["X"][:, columns],
        "relatedness": {
            "measure": spec["measures"][index],
            "column": features[-1],
            "symbol": symbols[-1],
            "slot": SLOT_SYMBOL,
        },
    }


def _compare_record(plan: dict, union: dict, label: str, sets: dict) -> dict:
    """What a set's result says about its compare_features study (see compare_features)."""
    import hashlib

    from mtllaws.regress_validate import cv_folds

    digest = hashlib.sha256(np.ascontiguousarray(union["X"]).tobytes())
    digest.update(np.ascontiguousarray(union["y"]).tobytes())
    data = plan["data"]
    return {
        "study": union["name"],
        "set": label,
        "sets": list(sets),
        "reference": next(iter(sets)),
        "features": data["features"],
        "relatedness": data["relatedness"],
        "configurations": digest.hexdigest()[:16],
        "folds": [test.tolist() for _, test in cv_folds(plan)],
    }


def _parallel(function, items, n_jobs: int, size=None) -> list:
    """``[function(item) for item in items]``, in processes when ``n_jobs != 1``.

    Items with a larger ``size`` start first, so that a pool of two balances them.
    """
    if n_jobs == 1 or len(items) <= 1:
        return [function(item) for item in items]
    from joblib import Parallel, delayed

    order = sorted(range(len(items)), key=lambda i: -size(items[i])) if size else range(len(items))
    order = list(order)
    done = Parallel(n_jobs=n_jobs)(delayed(function)(items[i]) for i in order)
    out = [None] * len(items)
    for i, result in zip(order, done, strict=True):
        out[i] = result
    return out


def _run_jobs(jobs, n_jobs: int) -> list[dict]:
    """Run :func:`_fit_seed` jobs, in parallel processes when ``n_jobs != 1``."""
    return _parallel(_fit_seed_job, jobs, n_jobs, size=lambda job: len(job[2]["y"]))


def _fit_seed_job(job):
    return _fit_seed(*job)


_SUMMARY_KEYS = (
    "formula", "formula_raw", "formula_rounded", "formula_latex", "structure", "complexity",
    "n_terms", "train_mse", "test_mse", "train_r2", "test_r2", "test_rmse", "seed",
)  # fmt: skip


def _best_variant(summaries) -> int:
    def key(i):
        cv = summaries[i].get("cv") or {}
        return cv.get("r2_mean") if cv.get("r2_mean") is not None else -np.inf

    return max(range(len(summaries)), key=key)


def _assemble(plan: dict, records: list[dict], summaries: list[dict]) -> dict:
    """The study result from its per-seed records and variant summaries (see :func:`run_study`)."""
    data = plan["data"]
    n = len(data["y"])
    runtime_s = float(sum(r["runtime_s"] for r in records))
    cpu_s = float(sum(r["cpu_s"] for r in records))
    chosen = _best_variant(summaries)
    n_seeds = len(plan["seeds"])
    records = records[chosen * n_seeds : (chosen + 1) * n_seeds]
    for r in records:
        logger.info(
            "study %s seed %d: train R2 %.4f, %s (%.1f s)",
            data["name"], r["seed"], r["train_r2"] or float("nan"), r["formula_rounded"],
            r["runtime_s"],
        )  # fmt: skip
    counts = Counter(r["structure"] for r in records)
    top = max(counts.values())
    best = min((r for r in records if counts[r["structure"]] == top), key=lambda r: r["train_mse"])
    train, test = np.array(best["train_rows"], dtype=int), np.array(best["test_rows"], dtype=int)
    subset = np.empty(n, dtype=object)
    subset[train] = "train" if len(test) else "all"
    subset[test] = "test"
    per_seed = [
        {k: v for k, v in r.items() if k not in ("train_rows", "test_rows", "predicted")}
        for r in records
    ]
    cv = summaries[chosen].get("cv") or {}
    result = {
        "study": data["name"],
        "engine": plan["engine"],
        "target": data["target"],
        "features": data["features"],
        "variables": dict(zip(data["symbols"], data["features"], strict=True)),
        "fixed": data["fixed"],
        "extrapolate": data["extrapolate"],
        "n_rows": plan["n_rows"],
        "n_configurations": n,
        "n_train": len(train),
        "n_test": len(test),
        "scale": plan["scale"],
        "split": plan["split"],
        "engine_params": plan["params"],
        **{k: best.get(k) for k in _SUMMARY_KEYS},
        "cv_r2_mean": cv.get("r2_mean"),
        "cv_r2_std": cv.get("r2_std"),
        "validation": plan["validation"],
        "variant": summaries[chosen]["name"],
        "variants": summaries,
        "seeds": per_seed,
        "agreement": {"structure": best["structure"], "n_agree": top, "n_seeds": len(records)},
        "predictions": {
            "configurations": {
                f: data["X"][:, j].tolist() for j, f in enumerate(data["features"])
            },
            "measured": data["y"].tolist(),
            "predicted": best["predicted"],
            "subset": subset.tolist(),
        },
        "runtime_s": runtime_s,
        "cpu_s": cpu_s,
    }
    if "compare" in plan:
        result["compare"] = plan["compare"]
    from mtllaws import __version__

    result["version"] = __version__
    logger.info(
        "study %s: %s %s (CV R2 %s, %d/%d seeds agree) in %.1f s",
        data["name"], result["variant"], best["formula_rounded"], cv.get("r2_mean"), top,
        len(records), runtime_s,
    )  # fmt: skip
    return result


def run_studies(
    table: pd.DataFrame,
    studies,
    *,
    out_dir=None,
    skip_insufficient: bool = False,
    min_rows: int = MIN_ROWS,
    **kwargs,
) -> list[dict]:
    """Run and validate each study and optionally write its outputs.

    Parameters
    ----------
    table : pandas.DataFrame
    studies : sequence of dict
        Study specifications; a ``compare_features`` study gives one result per
        feature set, named ``<study>__<set>``, with a ``compare`` record
        (:mod:`mtllaws.compare_features`).
    out_dir : str or os.PathLike, optional
        Write ``<study>.json``, ``<study>.png`` and ``<study>.pdf`` for each study
        (see :func:`write_study_outputs`).
    skip_insufficient : bool, default=False
        A study with too few rows or configurations (or, for the law engine, no
        family that applies) gives ``{"study", "engine", "skipped": reason}``
        instead of raising; it publishes no formula.
    min_rows : int, default=MIN_ROWS
    **kwargs
        ``engine, seeds, target, scale, test_size, split, split_seed,
        engine_params, cv, cv_repeats, bootstrap`` (see :func:`run_study`; defaults
        in :data:`DEFAULTS`) and
        ``n_jobs``. With ``n_jobs != 1`` the fits of all studies share one pool of
        processes.

    Returns
    -------
    list of dict
        One result per study, one per feature set of a ``compare_features`` study.
    """
    from mtllaws.regress_validate import bootstrap_fits, check_fits, run_fit, summarise_variant

    studies = [_check_spec(s) for s in studies]
    names = [s["name"] for s in studies]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"study names {repeated} are used twice; give each study its own name")
    n_jobs = kwargs.pop("n_jobs", 1)
    options = {key: DEFAULTS[key] for key in _RUN_OPTIONS}
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(f"run_studies got unknown options {unknown}; use {sorted(options)}")
    options.update(kwargs)
    plans = []
    for spec in studies:
        try:
            plans.extend(_plan_study(table, spec, min_rows=min_rows, **options))
        except InsufficientDataError as err:
            if not skip_insufficient:
                raise
            logger.warning("skipping study %s: %s", spec["name"], err)
            plans.append({"skipped": str(err), "study": spec["name"]})
            if spec["kind"] == "compare_features":
                labels = list(feature_sets(spec["features"], spec["measures"]))
                plans[-1]["compare"] = {
                    "study": spec["name"], "sets": labels, "reference": labels[0]
                }  # fmt: skip
    live = [p for p in plans if "skipped" not in p]
    start = time.perf_counter()
    # Phase 1: every seed fit and every in-sample, CV and extrapolation fit, in one pool.
    jobs = [job for plan in live for job in plan["jobs"]]
    checks = [
        (i, task) for i, plan in enumerate(live) for v in range(len(plan["variants"]))
        for task in check_fits(plan, v)
    ]  # fmt: skip
    items = [("seed", job) for job in jobs] + [("check", task) for _, task in checks]
    done = _parallel(_phase_item, items, n_jobs, size=_item_size)
    records = iter(done[: len(jobs)])
    outputs = {}
    for (i, task), out in zip(checks, done[len(jobs) :], strict=True):
        outputs.setdefault((i, task["variant"]), []).extend(out)
    # Phase 2: the bootstrap (the law engine starts from the full-data fit).
    boots = [
        (i, task) for i, plan in enumerate(live) for v in range(len(plan["variants"]))
        for task in bootstrap_fits(plan, v, _full_fit(outputs[(i, v)]))
    ]  # fmt: skip
    for (i, task), out in zip(
        boots, _parallel(run_fit, [t for _, t in boots], n_jobs, size=_item_size), strict=True
    ):
        outputs[(i, task["variant"])].extend(out)
    logger.info(
        "%d seed fits, %d check and %d bootstrap tasks of %d studies in %.1f s",
        len(jobs), len(checks), len(boots), len(plans), time.perf_counter() - start,
    )  # fmt: skip
    results, live_index = [], 0
    for plan in plans:
        if "skipped" in plan:
            result = {
                "study": plan["study"],
                "engine": options["engine"],
                "skipped": plan["skipped"],
            }
            if "compare" in plan:
                result["compare"] = plan["compare"]
        else:
            i = live_index
            live_index += 1
            n_seeds = len(plan["seeds"])
            seed_records = [next(records) for _ in plan["jobs"]]
            summaries = []
            for v in range(len(plan["variants"])):
                first = seed_records[v * n_seeds]
                split = (
                    {
                        "r2": first["test_r2"],
                        "rmse": first["test_rmse"],
                        "n_test": len(first["test_rows"]),
                    }
                    if first["test_rows"]
                    else None
                )
                summaries.append(summarise_variant(plan, v, outputs[(i, v)], split))
            result = _assemble(plan, seed_records, summaries)
        if out_dir is not None:
            write_study_outputs(result, out_dir)
        results.append(result)
    return results


def _phase_item(item):
    from mtllaws.regress_validate import run_fit

    kind, payload = item
    return _fit_seed(*payload) if kind == "seed" else run_fit(payload)


def _item_size(item) -> int:
    task = item[1] if isinstance(item, tuple) else item
    if isinstance(task, tuple):  # a seed job
        return 10 * len(task[2]["y"])
    return len(task["y"]) * len(task["fits"])


def _full_fit(outputs) -> dict:
    return next((o for o in outputs if o["tag"] == ("all",)), {})
