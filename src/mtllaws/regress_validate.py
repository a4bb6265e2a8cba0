"""Validation and bootstrap fits of a study's engine variants, and their summaries.

A *variant* is one engine with one setting: ``sparse``, ``gplearn``, or one law
family of the ``law`` engine (``law:effective_data``). For every variant of a
study :func:`check_fits` lists the fits that score it on configurations it has
not seen (:mod:`mtllaws.validation`): one on all configurations (in-sample R²),
repeated grouped K-fold CV and one per extrapolation axis, all with the engine's
own settings and the study's first seed (the CV of a ``compare_features`` set runs
once per regression seed, ``validation["cv_seeds"]``, on the same folds).
:func:`bootstrap_fits` lists a reference fit on all configurations and
``n_resamples`` fits on resamples of the configurations, with the engine's
lighter ``bootstrap_params`` (from :data:`mtllaws.regress.ENGINES`; the law
engine starts each resample from the full-data fit). :func:`run_fit` runs one
such fit (in a worker process) and :func:`summarise_variant` turns the outputs
into the JSON-ready summary.
"""

from __future__ import annotations

import numpy as np

from mtllaws.validation import (
    MIN_TEST_CONFIGS,
    bootstrap_samples,
    extrapolation_split,
    grouped_kfold,
    r2_score,
    rmse,
)

__all__ = ["bootstrap_fits", "check_fits", "cv_folds", "run_fit", "summarise_variant"]

#: Resamples fitted per worker task.
_CHUNK = 10


def _fit_one(engine, params, seed, symbols, X, y, scale, train, evaluate, terms):
    from mtllaws.formula import structure, term_coefficients
    from mtllaws.regress import ENGINES, make_engine

    if ENGINES[engine].get("scaled"):
        params = {**params, "target_scale": scale}
    model = make_engine(engine, seed=seed, feature_names=symbols, **params)
    model.fit(X[train], scale * y[train], domain=X)
    out = {"pred": (model.predict(X[evaluate]) / scale).tolist()}
    if terms:
        if engine == "law":
            out["structure"] = f"law:{model.family_.name}"
            out["coefficients"] = dict(model.params_)
        else:
            expr = model.expr_ / scale
            out["structure"] = structure(expr)
            out["coefficients"] = term_coefficients(expr)
    return out


def run_fit(task: dict) -> list[dict]:
    """Run the fits of one task; a fit that raises gives ``{"error": message}``.

    Parameters
    ----------
    task : dict
        ``engine, params, seed, symbols, X, y, scale`` and ``fits``: a list of
        ``{"tag", "train", "evaluate", "terms"}``.

    Returns
    -------
    list of dict
        Per fit: ``tag``, ``pred`` (on ``evaluate``, F1 scale), and with ``terms``
        the ``structure`` and ``coefficients`` of the fitted formula.
    """
    out = []
    for fit in task["fits"]:
        try:
            record = _fit_one(
                task["engine"], task["params"], task["seed"], task["symbols"], task["X"],
                task["y"], task["scale"], fit["train"], fit["evaluate"], fit["terms"],
            )  # fmt: skip
        except (ValueError, RuntimeError, FloatingPointError, ZeroDivisionError) as err:
            record = {"error": f"{type(err).__name__}: {err}"}
        out.append({"tag": fit["tag"], **record})
    return out


def _task(plan, variant, params, fits, seed=None) -> dict:
    data = plan["data"]
    return {
        "variant": variant,
        "engine": plan["engine"],
        "params": params,
        "seed": plan["seeds"][0] if seed is None else seed,
        "symbols": data["symbols"],
        "X": data["X"],
        "y": data["y"],
        "scale": plan["scale"],
        "fits": fits,
    }


def check_fits(plan: dict, variant: int) -> list[dict]:
    """Tasks for the in-sample, grouped-CV and extrapolation fits of one variant."""
    data = plan["data"]
    n = len(data["y"])
    every = np.arange(n)
    params = plan["variants"][variant]["params"]
    fits = [{"tag": ("all",), "train": every, "evaluate": every, "terms": True}]
    for column, threshold in data["extrapolate"].items():
        below, above = extrapolation_split(data["X"][:, data["features"].index(column)], threshold)
        fits.append({"tag": ("extrapolate", column), "train": below, "evaluate": above,
                     "terms": False})  # fmt: skip
    tasks = [_task(plan, variant, params, fits)]
    v = plan["validation"]
    k = v["cv"]
    for seed in _cv_seeds(plan):
        cv = [
            {"tag": ("cv", seed, i // k, i % k), "train": tr, "evaluate": te, "terms": False}
            for i, (tr, te) in enumerate(cv_folds(plan))
        ]
        tasks += [_task(plan, variant, params, cv[i : i + k], seed) for i in range(0, len(cv), k)]
    return tasks


def cv_folds(plan: dict) -> list:
    """The grouped K-fold ``(train, test)`` pairs of a study plan, repeat by repeat.

    They depend only on the number of configurations and the plan's ``validation``
    (``cv``, ``cv_repeats``, ``cv_seed``), so every feature set of a
    ``compare_features`` study (same configurations) is scored on the same folds.
    """
    v = plan["validation"]
    n = len(plan["data"]["y"])
    return grouped_kfold(n, k=v["cv"], repeats=v["cv_repeats"], seed=v["cv_seed"])


def _cv_seeds(plan: dict) -> list[int]:
    """The engine seeds the CV runs with: ``validation["cv_seeds"]``, else the first seed."""
    return [int(s) for s in plan["validation"].get("cv_seeds") or plan["seeds"][:1]]


def bootstrap_fits(plan: dict, variant: int, full_fit: dict) -> list[dict]:
    """Tasks for the bootstrap of one variant: a reference fit and the resamples.

    ``full_fit`` is the variant's ``("all",)`` output; the law engine starts from
    its parameters.
    """
    from mtllaws.regress import ENGINES

    v = plan["validation"]
    if v["bootstrap"] <= 0:
        return []
    params = {**plan["variants"][variant]["params"], **ENGINES[plan["engine"]]["bootstrap_params"]}
    if plan["engine"] == "law" and "coefficients" in full_fit:
        params["init"] = full_fit["coefficients"]
    n = len(plan["data"]["y"])
    every = np.arange(n)
    fits = [{"tag": ("ref",), "train": every, "evaluate": every, "terms": True}]
    for b, sample in enumerate(bootstrap_samples(n, v["bootstrap"], seed=v["bootstrap_seed"])):
        fits.append({"tag": ("boot", b), "train": sample, "evaluate": every[:0], "terms": True})
    return [_task(plan, variant, params, fits[i : i + _CHUNK]) for i in range(0, len(fits), _CHUNK)]


def _interval(values) -> dict:
    values = np.asarray(values, dtype=float)
    lo, hi = np.percentile(values, [2.5, 97.5])
    return {"lo": float(lo), "hi": float(hi), "n": int(values.size)}


def summarise_variant(plan: dict, variant: int, outputs: list[dict], split: dict | None) -> dict:
    """The JSON-ready scores of one variant from its fit outputs.

    Parameters
    ----------
    plan : dict
        The study plan (:func:`mtllaws.regress.run_studies`).
    variant : int
    outputs : list of dict
        Every :func:`run_fit` record of the variant.
    split : dict or None
        ``{"r2", "rmse", "n_test"}`` of the held-out split, None without one.

    Returns
    -------
    dict
        ``name, formula`` (fitted on all configurations), ``in_sample_r2``,
        ``cv`` (``r2_mean``, ``r2_std`` over the CV runs, one per CV seed and
        repeat, of the pooled out-of-fold R²; ``r2_repeats`` (the first CV seed's),
        ``runs`` (``seed, repeat, r2`` each), ``seeds``, ``k``, ``repeats``,
        ``n_failed``), ``split``,
        ``extrapolation`` (column -> ``threshold, r2, rmse, test_std, n_train,
        n_test``), ``bootstrap`` (``n_resamples, n_failed, structure,
        structure_frequency, coefficients`` name -> ``estimate, lo, hi, n``).
    """
    data = plan["data"]
    y = data["y"]
    by_tag = {o["tag"]: o for o in outputs}
    full = by_tag[("all",)]
    v = plan["validation"]
    summary = {"name": plan["variants"][variant]["name"]}
    if "error" in full:
        summary["error"] = full["error"]
        return summary
    summary["in_sample_r2"] = r2_score(y, full["pred"])
    summary["structure"] = full["structure"]
    summary["coefficients"] = full["coefficients"]

    folds, seeds = cv_folds(plan), _cv_seeds(plan)
    runs, failed = [], 0
    for seed in seeds:
        for r in range(v["cv_repeats"]):
            pred = np.full(len(y), np.nan)
            for f in range(v["cv"]):
                out = by_tag.get(("cv", seed, r, f))
                if out is None or "error" in out:
                    failed += 1
                    continue
                pred[folds[r * v["cv"] + f][1]] = out["pred"]
            r2 = r2_score(y, pred) if np.all(np.isfinite(pred)) else None
            runs.append({"seed": seed, "repeat": r, "r2": r2})
    ok = [run["r2"] for run in runs if run["r2"] is not None]
    summary["cv"] = {
        "k": v["cv"],
        "repeats": v["cv_repeats"],
        "seeds": seeds,
        "r2_repeats": [run["r2"] for run in runs if run["seed"] == seeds[0]],
        "runs": runs,
        "r2_mean": float(np.mean(ok)) if ok else None,
        "r2_std": float(np.std(ok)) if ok else None,
        "n_failed": failed,
    }
    summary["split"] = split
    extrapolation = {}
    for column, threshold in data["extrapolate"].items():
        out = by_tag[("extrapolate", column)]
        below, above = extrapolation_split(data["X"][:, data["features"].index(column)], threshold)
        entry = {
            "threshold": threshold,
            "n_train": int(below.size),
            "n_test": int(above.size),
            "test_std": float(np.std(y[above])),
        }
        if "error" in out:
            entry.update(r2=None, rmse=None, error=out["error"])
        elif above.size < MIN_TEST_CONFIGS:
            entry.update(r2=None, rmse=None, error=f"{above.size} test configurations")
        else:
            entry.update(r2=r2_score(y[above], out["pred"]), rmse=rmse(y[above], out["pred"]))
        extrapolation[column] = entry
    summary["extrapolation"] = extrapolation

    ref = by_tag.get(("ref",))
    if ref is not None and "error" not in ref:
        boots = [o for t, o in by_tag.items() if t[0] == "boot"]
        good = [o for o in boots if "error" not in o]
        same = [o for o in good if o["structure"] == ref["structure"]]
        coefficients = {}
        for name, estimate in ref["coefficients"].items():
            values = [o["coefficients"][name] for o in same if name in o["coefficients"]]
            coefficients[name] = {"estimate": estimate, **(_interval(values) if values else {})}
        summary["bootstrap"] = {
            "n_resamples": len(boots),
            "n_failed": len(boots) - len(good),
            "params": plan["bootstrap_params"],
            "structure": ref["structure"],
            "structure_frequency": len(same) / len(good) if good else None,
            "coefficients": coefficients,
        }
    return summary
