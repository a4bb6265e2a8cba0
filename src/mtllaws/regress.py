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

from mtllaws.regress_output import (
    latex_table,
    markdown_table,
    plot_study,
    write_json,
    write_study_outputs,
    write_tables,
)

__all__ = [
    "ALIASES",
    "ENGINES",
    "MIN_ROWS",
    "PAPER_BALANCED_STUDIES",
    "latex_table",
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

#: Engines accepted by :func:`make_engine`.
ENGINES = ("gplearn", "sparse")

#: Alias -> columns it stands for, in order of preference. Any member of a group
#: also resolves to the first member present in the table.
ALIASES: dict[str, tuple[str, ...]] = {
    "n": ("n_tokens_per_task",),
    "ami": ("ami_mean_mean", "ami_mean", "mutual_info"),
    "T": ("n_tasks",),
    "n_ner": ("n_ner",),
    "n_syn": ("n_syn",),
    "alpha": ("alpha",),
    "f1": ("test_f1_mean", "test_f1", "fscore"),
}

# Column -> symbol name in formulas (the paper's notation).
_SYMBOLS = {
    "n_tokens_per_task": "n",
    "ami_mean_mean": "AMI",
    "ami_mean": "AMI",
    "mutual_info": "AMI",
    "n_tasks": "T",
}

#: The balanced studies on the paper's published table (reference values chosen
#: where that table has the most rows); usable with the workflow's summary too.
PAPER_BALANCED_STUDIES = (
    {"name": "f_n", "features": ["n"], "fixed": {"n_tasks": 2, "alpha": 0.98}},
    {"name": "f_ami", "features": ["ami"], "fixed": {"n_tasks": 2, "n_tokens_per_task": 1000}},
    {"name": "f_T", "features": ["T"], "fixed": {"n_tokens_per_task": 1000, "alpha": 0.9}},
    {"name": "f_all", "features": ["n", "ami", "T"]},
)

_STUDY_KEYS = {"name", "features", "fixed", "target"}


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
    for key, group in ALIASES.items():
        if name == key or name.lower() == key.lower() or name in group:
            for column in group:
                if column in table.columns:
                    return column
            others = [c for c in group if c != name]
            looked_for = f" (nor {' or '.join(others)})" if others else ""
    known = ", ".join(f"{k} -> {'/'.join(v)}" for k, v in ALIASES.items())
    raise ValueError(
        f"column {name!r}{looked_for} is not in the table; its columns are {list(table.columns)} "
        f"(aliases: {known}); name an existing column"
    )


def variable_symbol(column: str) -> str:
    """Symbol name of a column in formulas: ``n``, ``AMI``, ``T``, else the column name."""
    name = _SYMBOLS.get(column, re.sub(r"\W", "_", column))
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
    name = spec.get("name") or "f_" + "_".join(str(f) for f in features)
    return {
        "name": str(name),
        "features": [str(f) for f in features],
        "fixed": dict(spec.get("fixed") or {}),
        "target": spec.get("target"),
    }


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
        # A list keeps the rows whose value is any of its items (e.g. n_tasks: [2, 3]).
        listed = isinstance(value, list | tuple)
        try:
            wanted = [float(v) for v in (value if listed else [value])]
        except (TypeError, ValueError):
            raise ValueError(
                f"study {name!r}: fixed value {key}={value!r} is not a number or a list of numbers"
            ) from None
        hit = np.zeros(len(values), dtype=bool)
        for v in wanted:
            hit |= np.isclose(values, v, rtol=1e-9, atol=1e-12)
        text = "[" + ", ".join(f"{v:g}" for v in wanted) + "]" if listed else f"{wanted[0]:g}"
        if not hit.any():
            available = sorted(set(np.round(values[np.isfinite(values)], 10).tolist()))
            where = f" among the rows with {', '.join(chosen)}" if chosen else ""
            raise ValueError(
                f"study {name!r}: fixed {column}={text} selects no rows; available values "
                f"of {column}{where}: {available}"
            )
        mask[np.flatnonzero(mask)[~hit]] = False
        fixed[column] = wanted if listed else wanted[0]
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
    return {
        "name": name,
        "features": features,
        "symbols": symbols,
        "target": target_col,
        "fixed": fixed,
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
    engine : {"gplearn", "sparse"}
    seed : int
        ``random_state`` of the engine.
    feature_names : sequence of str
        Symbol names of the features.
    **params
        Estimator parameters (:class:`mtllaws.gp.GPRegressor` or
        :class:`mtllaws.sparse.SparseLibraryRegressor`).
    """
    if engine == "gplearn":
        from mtllaws.gp import GPRegressor as cls
    elif engine == "sparse":
        from mtllaws.sparse import SparseLibraryRegressor as cls
    else:
        raise ValueError(f"engine {engine!r} is unknown; use one of {ENGINES}")
    valid = set(cls().get_params()) - {"random_state", "feature_names"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"engine {engine!r} has no parameter(s) {unknown}; valid: {sorted(valid)}")
    return cls(random_state=seed, feature_names=list(feature_names), **params)


def _r2(y, pred) -> float:
    ss = float(np.sum((y - np.mean(y)) ** 2))
    return float(1.0 - np.sum((y - pred) ** 2) / ss) if ss > 0 else float("nan")


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
    model = make_engine(engine, seed=seed, feature_names=data["symbols"], **params)
    X, y = data["X"], data["y"]
    model.fit(X[train], scale * y[train], domain=domain)
    pred = model.predict(X) / scale
    raw = model.expr_ / scale
    simplified = simplify_formula(raw)
    record = {
        "seed": int(seed),
        "formula": str(simplified),
        "formula_raw": str(raw),
        "formula_rounded": str(round_constants(simplified, 3)),
        "formula_latex": _latex(round_constants(simplified, 3)),
        "structure": structure(simplified),
        "complexity": complexity(simplified),
        "n_terms": len(additive_terms(simplified)),
        "train_mse": float(np.mean((y[train] - pred[train]) ** 2)),
        "test_mse": float(np.mean((y[test] - pred[test]) ** 2)),
        "train_r2": _r2(y[train], pred[train]),
        "test_r2": _r2(y[test], pred[test]),
        "runtime_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,
        "train_rows": [int(i) for i in train],
        "test_rows": [int(i) for i in test],
        "predicted": pred.tolist(),
    }
    if engine == "gplearn":
        record["program"] = str(model.program_)
        record["program_length"] = int(model.program_.length_)
        record["n_invalid"] = int(model.n_invalid_)
    else:
        record["cv_mse"] = model.cv_mse_ / scale**2
        record["path"] = [
            {**p, "cv_mse": p["cv_mse"] / scale**2, "cv_se": p["cv_se"] / scale**2}
            for p in model.path_
        ]
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


def run_study(
    table: pd.DataFrame,
    study_spec: dict,
    *,
    engine: str = "sparse",
    seeds=(0, 1, 2),
    target: str = "f1",
    scale: float = 100.0,
    test_size: float = 0.1,
    split: str = "fixed",
    split_seed: int = 0,
    min_rows: int = MIN_ROWS,
    engine_params: dict | None = None,
    n_jobs: int = 1,
) -> dict:
    """Fit one study with one engine and several seeds.

    Parameters
    ----------
    table : pandas.DataFrame
        Results table with the study's feature, fixed and target columns.
    study_spec : dict
        ``{"name": ..., "features": [...], "fixed": {...}}``; see
        :func:`select_study_rows`.
    engine : {"sparse", "gplearn"}, default="sparse"
    seeds : sequence of int, default=(0, 1, 2)
    target : str, default="f1"
        Target column or alias (``f1`` finds ``test_f1_mean`` or ``fscore``).
    scale : float, default=100.0
        The target is multiplied by ``scale`` for fitting (the paper's c).
    test_size : float, default=0.1
    split : {"fixed", "per_seed"}, default="fixed"
        ``"fixed"``: one split seeded by ``split_seed`` for all seeds;
        ``"per_seed"``: the split is seeded by each seed.
    split_seed : int, default=0
    min_rows : int, default=MIN_ROWS
    engine_params : dict, optional
        Estimator parameters, e.g. ``{"population_size": 2000}`` for gplearn.
    n_jobs : int, default=1
        Seeds fitted in parallel (joblib processes); ``-1``: one per core.

    Returns
    -------
    dict
        ``study, engine, target, features, variables`` (symbol -> column), ``fixed,
        n_rows, n_train, n_test, scale, split, engine_params``; the study's formula as
        ``formula`` (simplified, F1 scale), ``formula_raw``, ``formula_rounded`` (3
        significant digits), ``formula_latex``, ``structure``, ``complexity``,
        ``n_terms``, ``train_mse``, ``test_mse`` (F1 scale), ``train_r2``,
        ``test_r2``, ``seed``; ``seeds`` (one record per seed with the same fields
        and ``runtime_s``); ``agreement`` (``structure``, ``n_agree``, ``n_seeds``);
        ``predictions`` (``measured``, ``predicted``, ``subset`` per row);
        ``runtime_s`` and ``cpu_s`` (wall and CPU time of fitting, summed over the
        seeds); ``version``.
    """
    plan = _plan_study(
        table,
        study_spec,
        engine=engine,
        seeds=seeds,
        target=target,
        scale=scale,
        test_size=test_size,
        split=split,
        split_seed=split_seed,
        min_rows=min_rows,
        engine_params=engine_params,
    )
    return _assemble(plan, _run_jobs(plan["jobs"], n_jobs))


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
) -> dict:
    """Check the arguments, select the rows and list one fitting job per seed."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is unknown; use one of {ENGINES}")
    if split not in ("fixed", "per_seed"):
        raise ValueError(f"split={split!r} is unknown; use 'fixed' or 'per_seed'")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    params = dict(engine_params or {})
    make_engine(engine, seed=0, feature_names=["x"], **params)  # fail early on bad params
    data = select_study_rows(table, study_spec, target=target, min_rows=min_rows)
    n = len(data["y"])
    splits = {
        s: split_indices(n, test_size=test_size, seed=split_seed if split == "fixed" else s)
        for s in seeds
    }
    logger.info(
        "study %s: %d rows, features %s, engine %s, seeds %s",
        data["name"], n, data["features"], engine, seeds,
    )  # fmt: skip
    return {
        "data": data,
        "engine": engine,
        "scale": float(scale),
        "params": params,
        "split": {"mode": split, "test_size": test_size, "seed": split_seed},
        "jobs": [(engine, s, data, *splits[s], scale, params, data["X"]) for s in seeds],
    }


def _run_jobs(jobs, n_jobs: int) -> list[dict]:
    """Run :func:`_fit_seed` jobs, in parallel processes when ``n_jobs != 1``.

    Jobs on more rows start first, so that a pool of two balances studies of
    different sizes.
    """
    if n_jobs == 1 or len(jobs) <= 1:
        return [_fit_seed(*job) for job in jobs]
    from joblib import Parallel, delayed

    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][2]["y"]))
    done = Parallel(n_jobs=n_jobs)(delayed(_fit_seed)(*jobs[i]) for i in order)
    records = [None] * len(jobs)
    for i, record in zip(order, done, strict=True):
        records[i] = record
    return records


_SUMMARY_KEYS = (
    "formula", "formula_raw", "formula_rounded", "formula_latex", "structure", "complexity",
    "n_terms", "train_mse", "test_mse", "train_r2", "test_r2", "seed",
)  # fmt: skip


def _assemble(plan: dict, records: list[dict]) -> dict:
    """The study result from its per-seed records (see :func:`run_study`)."""
    data = plan["data"]
    n = len(data["y"])
    runtime_s = float(sum(r["runtime_s"] for r in records))
    cpu_s = float(sum(r["cpu_s"] for r in records))
    for r in records:
        logger.info(
            "study %s seed %d: test R2 %.4f, %s (%.1f s)",
            data["name"], r["seed"], r["test_r2"], r["formula_rounded"], r["runtime_s"],
        )  # fmt: skip
    counts = Counter(r["structure"] for r in records)
    top = max(counts.values())
    best = min((r for r in records if counts[r["structure"]] == top), key=lambda r: r["train_mse"])
    train, test = np.array(best["train_rows"]), np.array(best["test_rows"])
    subset = np.empty(n, dtype=object)
    subset[train], subset[test] = "train", "test"
    per_seed = [
        {k: v for k, v in r.items() if k not in ("train_rows", "test_rows", "predicted")}
        for r in records
    ]
    result = {
        "study": data["name"],
        "engine": plan["engine"],
        "target": data["target"],
        "features": data["features"],
        "variables": dict(zip(data["symbols"], data["features"], strict=True)),
        "fixed": data["fixed"],
        "n_rows": n,
        "n_train": len(train),
        "n_test": len(test),
        "scale": plan["scale"],
        "split": plan["split"],
        "engine_params": plan["params"],
        **{k: best[k] for k in _SUMMARY_KEYS},
        "seeds": per_seed,
        "agreement": {"structure": best["structure"], "n_agree": top, "n_seeds": len(records)},
        "predictions": {
            "measured": data["y"].tolist(),
            "predicted": best["predicted"],
            "subset": subset.tolist(),
        },
        "runtime_s": runtime_s,
        "cpu_s": cpu_s,
    }
    from mtllaws import __version__

    result["version"] = __version__
    logger.info(
        "study %s: %s (test R2 %.4f, %d/%d seeds agree) in %.1f s",
        data["name"], best["formula_rounded"], best["test_r2"], top, len(records), runtime_s,
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
    """Run :func:`run_study` for each study and optionally write its outputs.

    Parameters
    ----------
    table : pandas.DataFrame
    studies : sequence of dict
        Study specifications.
    out_dir : str or os.PathLike, optional
        Write ``<study>.json``, ``<study>.png`` and ``<study>.pdf`` for each study
        (see :func:`write_study_outputs`).
    skip_insufficient : bool, default=False
        A study with fewer than ``min_rows`` rows gives ``{"study", "engine",
        "skipped": reason}`` instead of raising.
    min_rows : int, default=MIN_ROWS
    **kwargs
        Options of :func:`run_study` (``engine``, ``seeds``, ``engine_params``,
        ``n_jobs`` ...). With ``n_jobs != 1`` the seeds of all studies share one
        pool of processes.

    Returns
    -------
    list of dict
    """
    studies = [_check_spec(s) for s in studies]
    names = [s["name"] for s in studies]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"study names {repeated} are used twice; give each study its own name")
    n_jobs = kwargs.pop("n_jobs", 1)
    options = {
        "engine": "sparse", "seeds": (0, 1, 2), "target": "f1", "scale": 100.0,
        "test_size": 0.1, "split": "fixed", "split_seed": 0, "engine_params": None,
    }  # fmt: skip
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(f"run_studies got unknown options {unknown}; use {sorted(options)}")
    options.update(kwargs)
    plans = []
    for spec in studies:
        try:
            plans.append(_plan_study(table, spec, min_rows=min_rows, **options))
        except ValueError as err:
            if not (skip_insufficient and "symbolic regression needs at least" in str(err)):
                raise
            logger.warning("skipping study %s: %s", spec["name"], err)
            plans.append({"skipped": str(err), "study": spec["name"]})
    # One pool for the seeds of all studies.
    jobs = [job for plan in plans for job in plan.get("jobs", [])]
    start = time.perf_counter()
    records = iter(_run_jobs(jobs, n_jobs))
    logger.info(
        "%d fits of %d studies in %.1f s", len(jobs), len(plans), time.perf_counter() - start
    )
    results = []
    for plan in plans:
        if "skipped" in plan:
            result = {
                "study": plan["study"],
                "engine": options["engine"],
                "skipped": plan["skipped"],
            }
        else:
            result = _assemble(plan, [next(records) for _ in plan["jobs"]])
        if out_dir is not None:
            write_study_outputs(result, out_dir)
        results.append(result)
    return results
