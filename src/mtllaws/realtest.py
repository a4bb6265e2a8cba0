"""The test of the laws on real auxiliary tasks (issue 20): ``kind: real_tasks`` studies.

The laws of the paper are learned from *synthetic* auxiliary tasks. A study of kind
``real_tasks`` asks whether they say anything about *real* ones (POS tagging and
chunking read from corpus columns). It reads an experiment's ``runs.parquet`` (one row
per model) whose string column ``aux_tasks`` is ``""`` for rows whose auxiliary tasks are
all synthetic (and for STL rows, ``n_tasks == 1``) and otherwise the real tasks joined
with ``+`` (``"pos"``, ``"chunk"``, ``"pos+chunk"``; a table without the column is all
synthetic). ``<measure>_mean`` is the mean over a point's auxiliary tasks of a relatedness
measure, for real and synthetic tasks alike::

    {"name": "real", "kind": "real_tasks", "features": ["n", "T"],
     "measures": ["ami", "model_sim"], "engines": ["sparse", "law"], "tolerance": 0.03}

1. **Fit** (:func:`fit_laws`): each engine of :data:`mtllaws.regress.ENGINES` is fitted by
   :func:`mtllaws.regress.run_studies` (its CV, seeds and settings; no second fitting
   loop) on the synthetic MTL rows (``aux_tasks == ""`` and ``n_tasks >= 2``), once per
   measure with the features ``features + [measure]``. The measure's feature is its
   per-configuration mean (``<measure>_mean_mean``, as in the summary) and the target
   is averaged per configuration by the regress stage
   (:func:`mtllaws.validation.configuration_means`), so the fit is that of a regress
   study on the summary. For the law engine the families' ``AMI`` is the relatedness
   slot, written in the measure's symbol, and families without it are not fitted
   (:func:`mtllaws.compare_features.slot_families`, as in ``compare_features``).
2. **Predict** (:func:`predict_real`): the fitted formula of each engine and measure
   (:func:`law_function`, checked to reproduce the engine's own predictions on the
   synthetic configurations) is evaluated on every real-task run with that run's own n,
   T and ``<measure>_mean``, so the prediction has a spread over seeds; error = predicted
   − measured test F1, per seed. :func:`prediction_table` gives per engine, measure,
   real case and n the measured F1, the prediction and the error as mean ± std over
   seeds; :func:`error_summary` the RMSE and mean absolute error over the real
   configurations (no R²: they are too few) and, per engine, the measure whose errors
   are smallest, with each other measure's paired difference of per-seed MAE
   (:func:`mtllaws.effects.difference`): within 2σ it is a tie.
3. **Matched AMI** (:func:`matched_table`): each real configuration against the
   synthetic configuration of the same T, n (and rotation) whose measured AMI (mean over
   seeds; not its ``ami_target``, which the slice can miss) is nearest the real
   configuration's mean measured AMI, within
   ``tolerance``; ΔF1 paired by seed, the STL F1 at that n and both transfers (MTL − STL,
   paired by seed). A real configuration without a match says so in the table.

:func:`realtest_document` runs the three steps, :func:`realtest_markdown` renders it,
:func:`plot_realtest` draws predicted against measured F1 per real case, and
:func:`write_realtest` writes the Markdown, JSON and figure atomically. The workflow's
rule ``realtest`` and ``mtllaws realtest RUNS`` call :func:`run_realtest`.
:func:`check_study` (pure) checks a study before any job.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd

from mtllaws.atomic import atomic_write_text
from mtllaws.effects import Cell, difference, spread
from mtllaws.effects import format_spread as _pm
from mtllaws.validation import config_codes

__all__ = [
    "AUX_COLUMN",
    "DEFAULT_FEATURES",
    "DEFAULT_MEASURES",
    "DEFAULT_TOLERANCE",
    "KIND",
    "check_study",
    "command_line",
    "error_summary",
    "fit_laws",
    "law_function",
    "matched_table",
    "plot_realtest",
    "predict_real",
    "prediction_table",
    "realtest_document",
    "realtest_markdown",
    "run_realtest",
    "split_rows",
    "write_realtest",
]

logger = logging.getLogger(__name__)

#: The study kind.
KIND = "real_tasks"
#: The runs column naming a point's real auxiliary tasks ("" = all synthetic).
AUX_COLUMN = "aux_tasks"
#: The base features when a study names none (the CLI's default).
DEFAULT_FEATURES = ("n", "T")
#: The measures when a study names none.
DEFAULT_MEASURES = ("ami",)
#: Largest distance between a real configuration's AMI and a synthetic level it is
#: matched with.
DEFAULT_TOLERANCE = 0.03

_STUDY_KEYS = {"name", "kind", "features", "measures", "engines", "fixed", "tolerance"}


# ---------------------------------------------------------------- the study
def _names(value, what: str, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name}: {what} must be a list of names, got {value!r}")
    return [str(v) for v in value]


def check_study(spec: dict, name: str, *, enabled=None, measures_key=None, points=None) -> dict:
    """Check a ``real_tasks`` study; pure, so the config check can call it before any job.

    Parameters
    ----------
    spec : dict
        ``name``, ``kind`` (``real_tasks``), ``features`` (default :data:`DEFAULT_FEATURES`),
        ``measures`` (registry names, default :data:`DEFAULT_MEASURES`), ``engines``
        (names of :data:`mtllaws.regress.ENGINES`; empty = the regress config's),
        ``fixed`` (column -> value, list or ``{min, max}``, as other studies) and
        ``tolerance`` (default :data:`DEFAULT_TOLERANCE`).
    name : str
        How messages name the study (e.g. ``"experiments.e.studies[0] ('real')"``).
    enabled : sequence of str, optional
        The measures the experiment records; a measure outside it is refused.
    measures_key : str, optional
        The config key of ``enabled``, named in that message.
    points : sequence of GridPoint, optional
        The experiment's grid: it must hold at least
        :data:`mtllaws.validation.MIN_CONFIGS` synthetic multitask configurations, and,
        when its points carry ``aux_tasks``, at least one real-task point.

    Returns
    -------
    dict
        ``name, features, measures, engines, fixed, tolerance``.

    Raises
    ------
    ValueError
        Naming the study and the fix: another kind, unknown keys, an unknown or
        disabled measure, a measure among the features, an unknown engine, a
        tolerance that is not positive, too few synthetic configurations, no real task.
    """
    from mtllaws.regress import ENGINES
    from mtllaws.relatedness import MEASURES

    if not isinstance(spec, dict):
        raise ValueError(f"{name}: a study must be a mapping, got {spec!r}")
    if (spec.get("kind") or "formula") != KIND:
        raise ValueError(f"{name}: kind {spec.get('kind')!r} is not {KIND!r}")
    if spec.get("extrapolate"):
        raise ValueError(f"{name}: extrapolate is not used by kind {KIND}; drop it")
    unknown = sorted(set(spec) - _STUDY_KEYS - {"extrapolate"})
    if unknown:
        raise ValueError(
            f"{name}: unknown keys {unknown} for kind {KIND}; use {sorted(_STUDY_KEYS)}"
        )
    features = _names(spec.get("features"), "features", name) or list(DEFAULT_FEATURES)
    measures = _names(spec.get("measures"), "measures", name) or list(DEFAULT_MEASURES)
    for measure in measures:
        if measure not in MEASURES:
            raise ValueError(
                f"{name}: measures names {measure!r}, which is not a relatedness measure; use "
                f"names of the registry mtllaws.relatedness.MEASURES: {', '.join(MEASURES)}"
            )
    if enabled is not None:
        key = measures_key or "measures"
        off = [m for m in measures if m not in enabled]
        if off:
            raise ValueError(
                f"{name}: measures {off} are not recorded by the experiment ({key} = "
                f"{list(enabled)}); add them to {key} or drop them from the study"
            )
    twice = sorted({m for m in measures if measures.count(m) > 1})
    if twice:
        raise ValueError(f"{name}: measures names {twice} more than once; list each once")
    lowered = {f.lower() for f in features}
    both = [m for m in measures if m.lower() in lowered or f"{m}_mean" in features]
    if both:
        raise ValueError(
            f"{name}: {both} are both features and measures; features is the base (e.g. n, T) "
            "and each measure is added to it in turn"
        )
    engines = _names(spec.get("engines"), "engines", name)
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        raise ValueError(f"{name}: engines names unknown engine(s) {bad}; use {tuple(ENGINES)}")
    tolerance = spec.get("tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance > 0:
        raise ValueError(f"{name}: tolerance must be a positive number (AMI), got {tolerance!r}")
    fixed = spec.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise ValueError(f"{name}: fixed must map columns to values, got {fixed!r}")
    if points is not None:
        _check_points(points, name)
    return {
        "name": str(spec.get("name") or "real_tasks"),
        "features": features,
        "measures": measures,
        "engines": engines,
        "fixed": dict(fixed),
        "tolerance": float(tolerance),
    }


def _check_points(points, name: str) -> None:
    from mtllaws.validation import MIN_CONFIGS

    synthetic = {p.config_id for p in points if p.n_tasks >= 2 and not p.aux_tasks}
    if len(synthetic) < MIN_CONFIGS:
        raise ValueError(
            f"{name}: the grid has {len(synthetic)} synthetic multitask configurations (T >= 2, "
            f"no real auxiliary task); the laws need at least {MIN_CONFIGS}: add synthetic grid "
            "blocks (levels of alpha or ami, n, T)"
        )
    if not any(p.aux_tasks for p in points):
        raise ValueError(f"{name}: {_NO_REAL}")


_NO_REAL = (
    "the experiment has no real-task configuration (aux_tasks is empty everywhere: it has no "
    "aux_tasks grid axis); add one to a grid block, e.g. aux_tasks: [pos, chunk] (see "
    "config/experiments/real_aux.yaml), or drop the real_tasks study"
)


# ---------------------------------------------------------------- the rows
def _aux(table: pd.DataFrame) -> pd.Series:
    if AUX_COLUMN not in table.columns:
        return pd.Series("", index=table.index)
    return table[AUX_COLUMN].fillna("").astype(str)


def _size(table: pd.DataFrame) -> pd.Series:
    """n: tokens per task (balanced), else NER's tokens."""
    if "n_tokens_per_task" in table.columns:
        n = pd.to_numeric(table["n_tokens_per_task"], errors="coerce")
        if "n_ner" in table.columns:
            n = n.fillna(pd.to_numeric(table["n_ner"], errors="coerce"))
        return n
    return pd.to_numeric(table["n_ner"], errors="coerce")


def split_rows(runs: pd.DataFrame, *, where: str = "the runs table"):
    """The synthetic multitask, real-task and single-task rows of a runs table.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per model with ``n_tasks``, ``seed``, ``test_f1`` and (optionally)
        ``aux_tasks``.
    where : str
        How messages name the table (its path or experiment).

    Returns
    -------
    synthetic, real, stl : pandas.DataFrame
        Copies with ``aux_tasks`` filled (``""``) and ``n`` (tokens per task).

    Raises
    ------
    ValueError
        A required column is missing, there is no synthetic multitask row or no
        real-task row.
    """
    missing = [c for c in ("n_tasks", "seed", "test_f1") if c not in runs.columns]
    if "n_tokens_per_task" not in runs.columns and "n_ner" not in runs.columns:
        missing.append("n_tokens_per_task")
    if missing:
        raise ValueError(
            f"{where} has no column(s) {missing}; give an experiment's runs.parquet (one row "
            "per model), not its summary"
        )
    table = runs.assign(**{AUX_COLUMN: _aux(runs).to_numpy(), "n": _size(runs).to_numpy()})
    # One order whatever the table's: configurations, then seeds (sums do not depend on it).
    table = (
        table.assign(_order=config_codes(table, _config_key(table)))
        .sort_values(["_order", "seed"], kind="stable")
        .drop(columns="_order")
    )
    aux = table[AUX_COLUMN] != ""
    mtl = table["n_tasks"] >= 2
    synthetic, real, stl = table[mtl & ~aux], table[aux], table[~mtl & ~aux]
    if synthetic.empty:
        raise ValueError(
            f"{where} has no synthetic multitask rows (aux_tasks == '' and n_tasks >= 2): the "
            "laws are fitted on them; add synthetic grid blocks (T >= 2 with alpha or ami)"
        )
    if real.empty:
        raise ValueError(f"{where} has no real-task rows (aux_tasks != ''): {_NO_REAL}")
    return synthetic.copy(), real.copy(), stl.copy()


def _check_measure_columns(table: pd.DataFrame, measures, where: str) -> None:
    from mtllaws.relatedness import measure_columns

    for measure in measures:
        column = measure_columns(measure).mean
        if column not in table.columns:
            raise ValueError(
                f"{where} has no column {column!r} of the measure {measure!r}: the experiment "
                f"did not record it; add {measure!r} to the experiment's measures key "
                f"(experiments.<name>.measures) and rerun, or drop it from the study's measures"
            )


def _config_key(table: pd.DataFrame) -> list[str]:
    """The columns that define a configuration (:data:`mtllaws.validation.CONFIG_COLUMNS`)."""
    from mtllaws.validation import CONFIG_COLUMNS

    return [c for c in CONFIG_COLUMNS if c in table.columns]


def _fit_table(synthetic: pd.DataFrame, measures) -> pd.DataFrame:
    """Synthetic rows with each measure's per-configuration mean (``<m>_mean_mean``)."""
    from mtllaws.relatedness import measure_columns

    # Without split_rows' "n": the alias n resolves to the table's own column, as in regress.
    out = synthetic.drop(columns="n")
    keys = _config_key(out)
    codes = config_codes(out, keys)
    for measure in measures:
        cols = measure_columns(measure)
        out[cols.summary_mean] = out.groupby(codes)[cols.mean].transform("mean")
    return out


def _fixed_mask(table: pd.DataFrame, fixed: dict, study: str) -> np.ndarray:
    """Rows matching a study's ``fixed`` (values, lists or ranges, as regress reads them)."""
    from mtllaws.regress import fixed_hit, resolve_column

    mask = np.ones(len(table), dtype=bool)
    for key, value in fixed.items():
        values = pd.to_numeric(table[resolve_column(table, key)], errors="coerce").to_numpy(float)
        mask &= fixed_hit(values, value, study, key)
    return mask


# ---------------------------------------------------------------- the fits
def _engine_params(engine: str, params: dict, symbol: str) -> dict:
    """The engine's parameters; for the law engine, its families with the relatedness slot."""
    if engine != "law":
        return dict(params)
    from mtllaws.compare_features import slot_families
    from mtllaws.law import FAMILIES

    families = slot_families({**FAMILIES, **(params.get("families") or {})}, symbol)
    wanted = params.get("family") or list(families)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    return {**params, "families": families, "family": [f for f in wanted if f in families]}


def fit_laws(
    synthetic: pd.DataFrame,
    study: dict,
    *,
    engines,
    engine_params=None,
    n_jobs: int = 1,
    **options,
) -> list[dict]:
    """Fit each engine on the synthetic multitask rows, once per measure.

    Parameters
    ----------
    synthetic : pandas.DataFrame
        The synthetic multitask runs (:func:`split_rows`).
    study : dict
        A checked study (:func:`check_study`).
    engines : sequence of str
        Names of :data:`mtllaws.regress.ENGINES`.
    engine_params : dict, optional
        Engine name -> its parameters (the law engine: ``families`` (the config's
        ``regress.law_families``), ``family``, ``n_restarts`` ...).
    n_jobs : int, default 1
        Worker processes of :func:`mtllaws.regress.run_studies`.
    **options
        ``seeds, target, min_rows, test_size, cv, cv_repeats, bootstrap, scale,
        split, split_seed`` (:data:`mtllaws.regress.DEFAULTS`).

    Returns
    -------
    list of dict
        Per engine and measure: ``engine, measure, column`` (the fitted feature),
        ``symbol`` and ``result`` (the study result of :func:`mtllaws.regress.run_studies`;
        ``{"skipped": reason}`` when it could not be fitted).
    """
    from mtllaws.regress import run_studies, variable_symbol
    from mtllaws.relatedness import measure_columns

    table = _fit_table(synthetic, study["measures"])
    min_rows = options.pop("min_rows", None)
    extra = {} if min_rows is None else {"min_rows": int(min_rows)}
    fits = []
    for engine in engines:
        for measure in study["measures"]:
            column = measure_columns(measure).summary_mean
            symbol = variable_symbol(column)
            spec = {
                "name": f"{study['name']}__{measure}",
                "features": [*study["features"], column],
                "fixed": dict(study["fixed"]),
            }
            params = _engine_params(engine, dict((engine_params or {}).get(engine) or {}), symbol)
            if engine == "law" and not params["family"]:
                result = {"skipped": f"no law family uses the relatedness slot as {symbol}"}
            else:
                (result,) = run_studies(
                    table, [spec], skip_insufficient=True, engine=engine, engine_params=params,
                    n_jobs=n_jobs, **extra, **options,
                )  # fmt: skip
            fits.append(
                {"engine": engine, "measure": measure, "column": column, "symbol": symbol,
                 "result": result}
            )  # fmt: skip
    return fits


def law_function(result: dict):
    """The fitted formula of a study result as a function of a table's columns.

    The formula (``formula_raw``, on the F1 scale) is parsed over the result's
    ``variables`` (symbol -> column) and checked to reproduce the engine's own
    predictions on the configurations it was fitted on.

    Parameters
    ----------
    result : dict
        A study result of :func:`mtllaws.regress.run_studies`.

    Returns
    -------
    callable
        ``f(frame) -> (N,) float``, ``frame`` holding the result's feature columns.

    Raises
    ------
    ValueError
        The formula uses a symbol that is not a variable, or does not reproduce the
        engine's predictions.
    """
    import sympy as sp

    variables = dict(result["variables"])
    symbols = {name: sp.Symbol(name) for name in variables}
    expr = sp.sympify(result["formula_raw"], locals=symbols)
    stray = sorted(s.name for s in expr.free_symbols if s.name not in symbols)
    if stray:
        raise ValueError(
            f"study {result['study']!r}: its formula uses {stray}, which are not its variables "
            f"{sorted(variables)}"
        )
    compiled = sp.lambdify(list(symbols.values()), expr, "numpy")

    def f(frame) -> np.ndarray:
        args = [np.asarray(frame[column], dtype=float) for column in variables.values()]
        with np.errstate(all="ignore"):
            out = compiled(*args)
        return np.broadcast_to(np.asarray(out, dtype=float), np.shape(args[0])).copy()

    fitted = result["predictions"]
    got = f(fitted["configurations"])
    want = np.asarray(fitted["predicted"], dtype=float)
    if not np.allclose(got, want, rtol=1e-6, atol=1e-8, equal_nan=True):
        raise ValueError(
            f"study {result['study']!r} ({result['engine']}): its formula {result['formula_raw']} "
            "does not reproduce the engine's predictions; report this with the results.json"
        )
    return f


# ---------------------------------------------------------------- predictions
def _case_label(row) -> str:
    aux = str(row[AUX_COLUMN])
    label = "+" + " +".join(aux.split("+"))
    n_real = len(aux.split("+"))
    n_syn = int(row["n_tasks"]) - 1 - n_real
    if n_syn > 0:
        level = row.get("ami_target")
        level = f" (AMI {level:g})" if level is not None and np.isfinite(level) else ""
        label += f" +{n_syn} synthetic{level}"
    return f"{label}, T = {int(row['n_tasks'])}"


def _cases(real: pd.DataFrame) -> pd.DataFrame:
    """Real rows with ``case`` (label without n) and ``config`` (one real configuration)."""
    out = real.copy()
    out["case"] = [_case_label(row) for _, row in out.iterrows()]
    keys = _config_key(out)
    out["config"] = config_codes(out, keys)
    return out


def predict_real(real: pd.DataFrame, fits, *, where: str = "the runs table") -> pd.DataFrame:
    """Each fitted law's prediction for every real-task run, from that run's own values.

    Parameters
    ----------
    real : pandas.DataFrame
        The real-task runs (:func:`split_rows`).
    fits : list of dict
        :func:`fit_laws` output; skipped fits give no rows.
    where : str
        How messages name the table.

    Returns
    -------
    pandas.DataFrame
        One row per fit and run: ``engine, measure, case, config, config_id, aux_tasks,
        n_tasks, n, seed, value`` (the run's ``<measure>_mean``), ``measured`` (test F1),
        ``predicted`` and ``error`` (predicted − measured).

    Raises
    ------
    ValueError
        A real run lacks a feature or the measure's value (NaN).
    """
    from mtllaws.relatedness import measure_columns

    cases = _cases(real)
    frames = []
    for fit in fits:
        result = fit["result"]
        if "skipped" in result:
            continue
        measure = fit["measure"]
        per_seed = measure_columns(measure).mean
        frame = cases.copy()
        # Each run's own value of the measure (the fit saw configuration means).
        frame[fit["column"]] = frame[per_seed]
        for column in result["variables"].values():
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(values)
            if bad.any():
                first = frame.loc[bad].iloc[0]
                raise ValueError(
                    f"{where}: real-task run {first.get('config_id', first['case'])} (seed "
                    f"{first['seed']}) has no value of {column!r}"
                    + (f" ({per_seed}, measure {measure!r})" if column == fit["column"] else "")
                    + "; record it for real tasks or drop it from the study"
                )
        predicted = law_function(result)(frame)
        frames.append(
            pd.DataFrame(
                {
                    "engine": fit["engine"],
                    "measure": measure,
                    "case": frame["case"].to_numpy(),
                    "config": frame["config"].to_numpy(),
                    "config_id": frame.get("config_id", frame["config"]).to_numpy(),
                    AUX_COLUMN: frame[AUX_COLUMN].to_numpy(),
                    "n_tasks": frame["n_tasks"].to_numpy(int),
                    "n": frame["n"].to_numpy(float),
                    "seed": frame["seed"].to_numpy(int),
                    "value": frame[per_seed].to_numpy(float),
                    "measured": frame["test_f1"].to_numpy(float),
                    "predicted": predicted,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["engine", "measure", "case", "config", "config_id", AUX_COLUMN, "n_tasks",
                     "n", "seed", "value", "measured", "predicted", "error"]
        )  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    out["error"] = out["predicted"] - out["measured"]
    return out


def prediction_table(predictions: pd.DataFrame) -> list[dict]:
    """Per engine, measure, real case and n: measured, predicted and error over seeds.

    Returns
    -------
    list of dict
        ``engine, measure, case, config_id, aux_tasks, n_tasks, n, seeds``, and
        ``value``, ``measured``, ``predicted``, ``error``: ``{mean, std, count}``
        (sample std over seeds; an error is paired within a seed). Rows in the order
        engine, measure, case, n.
    """
    rows = []
    order = ["engine", "measure", "case", "n", "config"]
    for _, group in predictions.sort_values(order, kind="stable").groupby(
        order, sort=False
    ):  # fmt: skip
        first = group.iloc[0]
        rows.append(
            {
                "engine": first["engine"],
                "measure": first["measure"],
                "case": first["case"],
                "config_id": str(first["config_id"]),
                AUX_COLUMN: first[AUX_COLUMN],
                "n_tasks": int(first["n_tasks"]),
                "n": float(first["n"]),
                "seeds": sorted(int(s) for s in group["seed"]),
                "value": spread(group["value"]),
                "measured": spread(group["measured"]),
                "predicted": spread(group["predicted"]),
                "error": spread(group["error"]),
            }
        )
    return rows


def _cell(seeds: dict) -> Cell:
    values = np.array(list(seeds.values()), dtype=float)
    std = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return Cell(float(values.mean()), std, int(values.size), dict(seeds))


def error_summary(predictions: pd.DataFrame) -> dict:
    """RMSE and mean absolute error over the real configurations, and the closest measure.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :func:`predict_real` output.

    Returns
    -------
    dict
        ``rows``: per engine and measure ``n_cases`` (real configurations), ``rmse`` and
        ``mae`` of the per-configuration mean errors (over seeds), ``bias`` (their mean),
        and ``seed_mae``: the MAE over configurations of each seed's errors, mean ± std
        over seeds (``{mean, std, count, seeds}``). ``closest``: per engine the measure
        with the smallest mean ``seed_mae`` and, for every other measure, the paired
        difference of its per-seed MAE to it (:func:`mtllaws.effects.difference`);
        ``tie`` when it does not exceed 2σ. No R² is computed: the real configurations
        are far fewer than the 10 an R² needs.
    """
    rows, closest = [], []
    cells: dict[str, dict[str, Cell]] = {}
    for (engine, measure), group in predictions.groupby(["engine", "measure"], sort=False):
        per_config = group.groupby("config")["error"].mean().to_numpy(float)
        finite = per_config[np.isfinite(per_config)]
        seeds = {}
        for seed, by_seed in group.groupby("seed"):
            err = by_seed["error"].to_numpy(float)
            seeds[int(seed)] = float(np.mean(np.abs(err))) if np.isfinite(err).all() else math.nan
        seeds = {s: v for s, v in seeds.items() if np.isfinite(v)}
        cell = _cell(seeds) if seeds else None
        cells.setdefault(engine, {})[measure] = cell
        rows.append(
            {
                "engine": engine,
                "measure": measure,
                "n_cases": int(len(per_config)),
                "n_finite": int(finite.size),
                "rmse": float(np.sqrt(np.mean(finite**2))) if finite.size else None,
                "mae": float(np.mean(np.abs(finite))) if finite.size else None,
                "bias": float(np.mean(finite)) if finite.size else None,
                "seed_mae": {**cell.record(), "seeds": cell.seeds} if cell else None,
            }
        )
    for engine, by_measure in cells.items():
        live = {m: c for m, c in by_measure.items() if c is not None}
        if not live:
            closest.append({"engine": engine, "measure": None, "others": []})
            continue
        best = min(live, key=lambda m: live[m].mean)
        others = []
        for measure, cell in live.items():
            if measure == best:
                continue
            diff = difference(cell, live[best])
            others.append({"measure": measure, "difference": diff, "tie": not diff["exceeds_2std"]})
        closest.append(
            {"engine": engine, "measure": best, "seed_mae": live[best].record(), "others": others}
        )
    return {"rows": rows, "closest": closest}


# ---------------------------------------------------------------- matched AMI
def _f1_cell(rows: pd.DataFrame) -> Cell:
    return _cell({int(s): float(v) for s, v in zip(rows["seed"], rows["test_f1"], strict=True)})


def _level(rows: pd.DataFrame) -> tuple[float, str]:
    """A synthetic configuration's AMI to match on: its measured AMI (mean over seeds).

    The measured AMI, not the grid's ``ami_target``: ``alpha_for_ami`` calibrates α on
    the whole training split, and a task's slice can measure far from the target (at
    n = 5000 on the published slices, a target of 0.172 measures 0.243).
    """
    target = (
        pd.to_numeric(rows.get("ami_target"), errors="coerce") if "ami_target" in rows else None
    )
    kind = "measured AMI"
    if target is not None and np.isfinite(target).any():
        kind = f"measured AMI (ami_target {float(target.dropna().iloc[0]):.3f})"
    return float(rows["ami_mean"].mean()), kind


def _record(cell: Cell) -> dict:
    return {**cell.record(), "seeds": cell.seeds}


def matched_table(
    synthetic: pd.DataFrame, real: pd.DataFrame, stl: pd.DataFrame, *, tolerance: float
) -> list[dict]:
    """Each real configuration against the synthetic one at the nearest AMI, paired by seed.

    Parameters
    ----------
    synthetic, real, stl : pandas.DataFrame
        :func:`split_rows` output (``ami_mean`` required on the multitask rows).
    tolerance : float
        Largest |level − real AMI| of a match.

    Returns
    -------
    list of dict
        Per real configuration: ``case, config_id, n_tasks, n, ami`` (its mean measured AMI
        over seeds), ``real`` (test F1 ``{mean, std, count, seeds}``), ``stl`` (or None),
        ``real_transfer`` (real − STL paired by seed), and either ``matched``
        (``config_id``, ``level`` (its measured AMI), ``level_kind`` (``measured AMI``, with
        the ``ami_target`` when the grid set one), ``distance``, ``f1``, ``delta``
        (real − synthetic, paired by seed:
        :func:`mtllaws.effects.difference`), ``transfer`` (synthetic − STL)) or
        ``no_match``: why (the nearest level and its distance, or no synthetic
        configuration of that T and n).
    """
    cases = _cases(real)
    syn_key = _config_key(synthetic)
    same = [c for c in ("mode", "n_tasks", "n", "rotation") if c in synthetic.columns]
    out = []
    for _, rows in cases.sort_values(["case", "n"], kind="stable").groupby("config", sort=False):
        first = rows.iloc[0]
        ami = float(rows["ami_mean"].mean())
        real_cell = _f1_cell(rows)
        entry = {
            "case": first["case"],
            "config_id": str(first.get("config_id", first["config"])),
            AUX_COLUMN: first[AUX_COLUMN],
            "n_tasks": int(first["n_tasks"]),
            "n": float(first["n"]),
            "ami": ami,
            "real": _record(real_cell),
        }
        stl_rows = stl[np.isclose(stl["n"].to_numpy(float), float(first["n"]))]
        stl_cell = _f1_cell(stl_rows) if len(stl_rows) else None
        entry["stl"] = _record(stl_cell) if stl_cell else None
        entry["real_transfer"] = difference(real_cell, stl_cell) if stl_cell else None
        mask = np.ones(len(synthetic), dtype=bool)
        for column in same:
            a, b = synthetic[column].to_numpy(), first[column]
            mask &= (a == b) | (pd.isna(a) & pd.isna(b))
        candidates = synthetic[mask]
        if candidates.empty:
            entry["no_match"] = (
                f"no synthetic configuration with T = {int(first['n_tasks'])} and "
                f"n = {first['n']:g}"
            )
            out.append(entry)
            continue
        levels = []
        for _, group in candidates.groupby(config_codes(candidates, syn_key), sort=True):
            level, kind = _level(group)
            levels.append((abs(level - ami), level, kind, group))
        distance, level, kind, group = min(levels, key=lambda item: item[0])
        if not distance <= tolerance:
            entry["no_match"] = (
                f"no matched synthetic configuration: the nearest level is {kind} {level:.3f} "
                f"({group['config_id'].iloc[0] if 'config_id' in group else ''}), "
                f"{distance:.3f} from the real AMI {ami:.3f} (tolerance {tolerance:g})"
            )
            out.append(entry)
            continue
        syn_cell = _f1_cell(group)
        entry["matched"] = {
            "config_id": str(group["config_id"].iloc[0]) if "config_id" in group else "",
            "level": level,
            "level_kind": kind,
            "ami": float(group["ami_mean"].mean()),
            "distance": float(distance),
            "f1": _record(syn_cell),
            "delta": difference(real_cell, syn_cell),
            "transfer": difference(syn_cell, stl_cell) if stl_cell else None,
        }
        out.append(entry)
    return out


# ---------------------------------------------------------------- the document
def _fit_record(fit: dict) -> dict:
    result = fit["result"]
    base = {k: fit[k] for k in ("engine", "measure", "column", "symbol")}
    if "skipped" in result:
        return {**base, "skipped": result["skipped"]}
    return {
        **base,
        "variant": result.get("variant"),
        "formula": result.get("formula_rounded"),
        "formula_raw": result.get("formula_raw"),
        "variables": result.get("variables"),
        "n_configurations": result.get("n_configurations"),
        "n_rows": result.get("n_rows"),
        "cv_r2_mean": result.get("cv_r2_mean"),
        "cv_r2_std": result.get("cv_r2_std"),
    }


def realtest_document(
    runs: pd.DataFrame,
    study: dict,
    *,
    engines=None,
    where: str = "the runs table",
    command: str = "",
    **options,
) -> dict:
    """Fit, predict and match: the whole test of the laws on one runs table (JSON-ready).

    Parameters
    ----------
    runs : pandas.DataFrame
        An experiment's runs table.
    study : dict
        A ``real_tasks`` study (checked here with :func:`check_study`).
    engines : sequence of str, optional
        Used when the study names none (default :data:`mtllaws.regress.DEFAULTS`).
    where : str
        How messages name the table.
    command : str
        The command that reproduces the document (printed in the Markdown).
    **options
        :func:`fit_laws`'s ``engine_params``, ``n_jobs`` and the regress options.

    Returns
    -------
    dict
        ``study, features, measures, engines, fixed, tolerance, command, rows`` (counts
        of synthetic multitask, real and STL runs), ``fits`` (per engine and measure:
        variant, formula, ``n_configurations`` the law saw, CV R² on the synthetic
        configurations), ``predictions`` (:func:`prediction_table`), ``summary``
        (:func:`error_summary`) and ``matched`` (:func:`matched_table`).
    """
    from mtllaws.regress import DEFAULTS

    spec = check_study(dict({"kind": KIND, **study}), f"study {study.get('name')!r}")
    engines = spec["engines"] or list(engines or DEFAULTS["engines"])
    synthetic, real, stl = split_rows(runs, where=where)
    _check_measure_columns(runs, spec["measures"], where)
    if "ami_mean" not in runs.columns:
        raise ValueError(f"{where} has no column 'ami_mean'; give an experiment's runs.parquet")
    if spec["fixed"]:
        mask = _fixed_mask(real, spec["fixed"], spec["name"])
        if not mask.any():
            raise ValueError(
                f"study {spec['name']!r}: fixed {spec['fixed']} selects none of the real-task "
                "runs; loosen fixed"
            )
        real = real[mask]
    fits = fit_laws(synthetic, spec, engines=engines, **options)
    predictions = predict_real(real, fits, where=where)
    return {
        "study": spec["name"],
        "kind": KIND,
        "features": spec["features"],
        "measures": spec["measures"],
        "engines": list(engines),
        "fixed": spec["fixed"],
        "tolerance": spec["tolerance"],
        "command": command,
        "rows": {"synthetic_mtl": len(synthetic), "real": len(real), "stl": len(stl)},
        "fits": [_fit_record(f) for f in fits],
        "predictions": prediction_table(predictions),
        "summary": error_summary(predictions),
        "matched": matched_table(synthetic, real, stl, tolerance=spec["tolerance"]),
    }


def _f(value, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def realtest_markdown(document: dict) -> str:
    """The three tables of :func:`realtest_document` as Markdown."""
    d = document
    lines = [f"# Real auxiliary tasks against the synthetic laws: study {d['study']}", ""]
    if d.get("command"):
        lines += ["Reproduce with:", "", "```bash", d["command"], "```", ""]
    rows = d["rows"]
    lines += [
        f"Laws fitted on the {rows['synthetic_mtl']} synthetic multitask runs (aux_tasks empty, "
        f"T ≥ 2), features {d['features']} + each measure of {d['measures']}, engines "
        f"{d['engines']}; tested on {rows['real']} real-task runs; {rows['stl']} STL runs. "
        "Means ± sample std over seeds (count in parentheses).",
        "",
        "## 1. The laws (fitted on the synthetic configurations)",
        "",
    ]
    fit_rows = []
    for fit in d["fits"]:
        if "skipped" in fit:
            fit_rows.append([fit["engine"], fit["measure"], "–", f"skipped: {fit['skipped']}",
                             "–", "–"])  # fmt: skip
            continue
        cv = _f(fit["cv_r2_mean"]) + (
            "" if fit["cv_r2_std"] is None else f" ± {fit['cv_r2_std']:.3f}"
        )
        fit_rows.append([fit["engine"], fit["measure"], str(fit["variant"]),
                         f"`{fit['formula']}`", str(fit["n_configurations"]), cv])  # fmt: skip
    lines += _table(
        [
            "engine",
            "measure",
            "variant",
            "formula",
            "synthetic configurations",
            "CV R² (synthetic)",
        ],
        fit_rows,
    )
    lines += [
        "",
        "## 2. Predicted against measured F1 of the real cases",
        "",
        "Each law is fed each real-task run's own n, T and measure value; error = predicted − "
        "measured, per seed. No R² on the real cases: they are fewer than the 10 "
        "configurations an R² needs.",
        "",
    ]
    pred_rows = [
        [p["engine"], p["measure"], p["case"], f"{p['n']:g}", _pm(p["value"]), _pm(p["measured"]),
         _pm(p["predicted"]), _pm(p["error"], sign=True)]
        for p in d["predictions"]
    ]  # fmt: skip
    lines += _table(
        ["engine", "measure", "real case", "n", "measure value", "measured F1", "predicted F1",
         "error"],
        pred_rows,
    )  # fmt: skip
    lines += ["", "Per engine and measure, over the real configurations:", ""]
    sum_rows = [
        [r["engine"], r["measure"], f"{r['n_finite']} of {r['n_cases']}", _f(r["rmse"]),
         _f(r["mae"]), _f(r["bias"], sign=True), _pm(r["seed_mae"])]
        for r in d["summary"]["rows"]
    ]  # fmt: skip
    lines += _table(
        ["engine", "measure", "real configurations", "RMSE", "MAE", "mean error",
         "MAE per seed"],
        sum_rows,
    )  # fmt: skip
    lines += ["", "Which measure puts the real tasks closest to the synthetic law (smallest "
              "MAE per seed; others paired by seed, a tie within 2σ):", ""]  # fmt: skip
    if not d["summary"]["closest"]:
        lines.append("- no prediction: every fit was skipped (see table 1)")
    for c in d["summary"]["closest"]:
        if c["measure"] is None:
            lines.append(f"- {c['engine']}: no prediction")
            continue
        ties = [o["measure"] for o in c["others"] if o["tie"]]
        worse = [
            f"{o['measure']} ({_pm(o['difference'], sign=True)})"
            for o in c["others"]
            if not o["tie"]
        ]
        text = f"- {c['engine']}: **{c['measure']}** (MAE {_pm(c['seed_mae'])})"
        if ties:
            text += f"; tied within 2σ with {', '.join(ties)}"
        if worse:
            text += f"; clearly worse: {', '.join(worse)}"
        if not c["others"]:
            text += " (the only measure)"
        lines.append(text)
    lines += [
        "",
        f"## 3. Real against synthetic tasks at matched AMI (tolerance {d['tolerance']:g})",
        "",
        "ΔF1 = F1(real) − F1(synthetic), paired by seed; transfers = MTL − STL at the same n, "
        "paired by seed.",
        "",
    ]
    match_rows = []
    for m in d["matched"]:
        common = [m["case"], f"{m['n']:g}", _f(m["ami"]), _pm(m["real"]), _pm(m["stl"]),
                  _pm(m["real_transfer"], sign=True)]  # fmt: skip
        if "matched" in m:
            s = m["matched"]
            match_rows.append(
                common + [f"{s['config_id']} ({s['level_kind']} {s['level']:.3f})",
                          _pm(s["f1"]), _pm(s["transfer"], sign=True), _pm(s["delta"], sign=True)]
            )  # fmt: skip
        else:
            match_rows.append(common + [m["no_match"], "–", "–", "–"])
    lines += _table(
        ["real case", "n", "real AMI", "F1 real", "F1 STL", "real − STL", "matched synthetic",
         "F1 synthetic", "synthetic − STL", "ΔF1 real − synthetic"],
        match_rows,
    )  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_realtest(document: dict, stem) -> list:
    """Predicted against measured F1 per real configuration, one panel per measure.

    Each panel shows the engine with the smallest MAE for that measure: one marker per
    real case, one colour per n, error bars = the seeds' spread of both, and the
    identity line. Written as ``<stem>.png`` and ``.pdf`` (:func:`mtllaws.plotting.save_figure`).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from mtllaws.plotting import (
        COLUMN_WIDTH_IN,
        MARKERS,
        SMALL_PT,
        colors,
        fmt,
        no_data,
        save_figure,
        set_labels,
    )  # fmt: skip

    measures = list(document["measures"])
    ncols = min(3, len(measures))
    nrows = math.ceil(len(measures) / ncols)
    width = COLUMN_WIDTH_IN * (1 if ncols == 1 else 0.75 * ncols)
    fig = Figure(figsize=(width, 0.85 * width / ncols * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    summary = {(r["engine"], r["measure"]): r for r in document["summary"]["rows"]}
    cases = sorted({p["case"] for p in document["predictions"]})
    sizes = sorted({p["n"] for p in document["predictions"]})
    marker = {c: MARKERS[i % len(MARKERS)] for i, c in enumerate(cases)}
    colour = dict(zip(sizes, colors(len(sizes))[: len(sizes)], strict=True))
    for ax, measure in zip(axes, measures, strict=False):
        ax.tick_params(labelsize=SMALL_PT)
        scored = [
            (r["mae"], engine) for (engine, m), r in summary.items()
            if m == measure and r["mae"] is not None
        ]  # fmt: skip
        if not scored:
            no_data(ax, f"predictions with {measure}")
            continue
        engine = min(scored)[1]
        points = [
            p for p in document["predictions"] if p["engine"] == engine and p["measure"] == measure
        ]
        lo, hi = np.inf, -np.inf
        for p in points:
            x, y = p["measured"]["mean"], p["predicted"]["mean"]
            if x is None or y is None:
                continue
            ax.errorbar(
                x, y, xerr=p["measured"]["std"] or 0.0, yerr=p["predicted"]["std"] or 0.0,
                marker=marker[p["case"]], color=colour[p["n"]], markersize=4, linestyle="none",
                elinewidth=0.7, capsize=2,
            )  # fmt: skip
            lo, hi = min(lo, x, y), max(hi, x, y)
        if np.isfinite(lo):
            pad = 0.05 * max(hi - lo, 0.02)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", linewidth=0.8,
                    linestyle="--", zorder=0)  # fmt: skip
        set_labels(
            ax,
            "measured F1",
            "predicted F1",
            f"{measure} ({engine}, MAE {summary[(engine, measure)]['mae']:.3f})",
        )
    for ax in axes[len(measures) :]:
        ax.set_axis_off()
    handles = [
        Line2D([], [], marker=marker[c], color="0.3", linestyle="none", label=c) for c in cases
    ] + [
        Line2D([], [], marker="s", color=colour[n], linestyle="none", label=f"n = {fmt(n)}")
        for n in sizes
    ]  # fmt: skip
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=SMALL_PT,
                   frameon=False)  # fmt: skip
    return save_figure(fig, stem)


def write_realtest(document: dict, *, markdown=None, json_path=None, figure=None) -> None:
    """Write the document as Markdown, JSON and the figure (``figure``: a path stem)."""
    if markdown is not None:
        atomic_write_text(markdown, realtest_markdown(document))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(document, indent=2, default=_json_default) + "\n")
    if figure is not None:
        plot_realtest(document, figure)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def run_realtest(
    runs_path,
    study: dict,
    *,
    markdown=None,
    json_path=None,
    figure=None,
    command: str = "",
    **options,
) -> dict:
    """Read a runs table, run :func:`realtest_document` and write its outputs.

    Parameters
    ----------
    runs_path : path-like
        ``runs.parquet`` (or ``.csv``) or an experiment's folder
        (:func:`mtllaws.effects.read_results`).
    study : dict
        The ``real_tasks`` study.
    markdown, json_path, figure : path-like, optional
        Outputs (``figure``: stem of the PNG and PDF).
    command : str
        The reproducing command printed in the Markdown.
    **options
        As :func:`realtest_document`.

    Returns
    -------
    dict
        The document.
    """
    from mtllaws.effects import read_results

    runs = read_results(runs_path)
    document = realtest_document(runs, study, where=str(runs_path), command=command, **options)
    write_realtest(document, markdown=markdown, json_path=json_path, figure=figure)
    logger.info(
        "study %s: %d fits, %d real configurations", document["study"], len(document["fits"]),
        len(document["matched"]),
    )  # fmt: skip
    return document


def command_line(runs_path, study: dict, *, engine_params=None, **options) -> str:
    """The ``mtllaws realtest`` command that reproduces a document.

    Parameters
    ----------
    runs_path : path-like
        The runs table.
    study : dict
        The study (``name, features, measures, engines, fixed, tolerance``).
    engine_params : dict, optional
        Engine name -> parameters (each as ``--param ENGINE:KEY=VALUE``, values as JSON).
    **options
        ``seeds, cv, cv_repeats, bootstrap, min_rows`` (others are not options of the CLI).

    Returns
    -------
    str
        A shell command line.
    """
    import shlex

    parts = ["mtllaws", "realtest", str(runs_path), "--name", str(study.get("name") or KIND)]
    for key in ("features", "measures", "engines"):
        if study.get(key):
            parts += [f"--{key}", ",".join(study[key])]
    for key, value in (study.get("fixed") or {}).items():
        parts += ["--fixed", f"{key}={json.dumps(value)}"]
    if study.get("tolerance") is not None:
        parts += ["--tolerance", f"{float(study['tolerance']):g}"]
    for key, value in options.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        parts += [
            flag,
            ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value),
        ]
    for engine, params in (engine_params or {}).items():
        for key, value in (params or {}).items():
            parts += ["--param", f"{engine}:{key}={json.dumps(value)}"]
    return shlex.join(parts)
