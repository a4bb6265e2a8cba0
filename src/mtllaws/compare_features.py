"""The ``compare_features`` study: which relatedness measure predicts F1 best?

A study of kind ``compare_features`` names a *base* of features shared by every
feature set (``features``, e.g. ``[n, T]``) and the relatedness measures to compare
(``measures``, at least two, measure aliases or summary columns; the first is the
reference)::

    {"name": "f_rel", "kind": "compare_features", "features": ["n", "T"],
     "measures": ["ami", "model_sim", "cov_rv"], "fixed": {"n_tasks": {"min": 2}}}

Each measure gives one feature set, the base plus that measure (:func:`feature_sets`:
``ami -> [n, T, ami]``, ...). :func:`mtllaws.regress.run_studies` fits every set with
the study's engine on the *same* configurations (the target averaged over the rows
that share the grid values and every set's features, so all sets see the same rows
and configurations) and scores each on the *same* grouped K-fold folds
(:func:`mtllaws.regress_validate.cv_folds`), once per regression seed, so that the
R² of two sets can be paired by seed and CV repeat. Each set is reported as an
ordinary study named ``<study>__<label>`` (:func:`set_study_name`) whose result
carries a ``compare`` record (parent study, set, reference, the measure that fills
the relatedness slot, folds and a fingerprint of the configurations).

The law engine's families write relatedness as ``AMI`` (:data:`SLOT_SYMBOL`): in a
``compare_features`` study that symbol is the study's *relatedness slot*, filled by
each set's measure (:func:`slot_families` rewrites the families in the measure's
symbol, so the fitted law reads e.g. ``Finf - b*(n*(1 + k*MS**p*(T - 1)**q))**(-c)``),
and families without the slot (``learning_curve``, ``maurer``) are not fitted, since
they are the same for every set.

:func:`delta_r2_document` turns the set results (any engines) into the ΔR² table:
per engine or law family and set, the grouped-CV R² as mean ± std over the CV runs
(regression seeds × CV repeats, each the pooled out-of-fold R² of one repeat's
folds), and ΔR² = R²(set) − R²(reference) paired by seed and repeat (same folds,
same engine seed), mean ± std of the paired differences.
:func:`delta_r2_markdown` renders it and :func:`write_delta_r2` writes both files
(:mod:`mtllaws.atomic`).
"""

from __future__ import annotations

import json
import re

import numpy as np

from mtllaws.atomic import atomic_write_text

__all__ = [
    "KINDS",
    "SLOT_SYMBOL",
    "check_kind",
    "delta_r2_document",
    "delta_r2_markdown",
    "feature_sets",
    "set_study_name",
    "slot_families",
    "write_delta_r2",
]

#: Study kinds: ``formula`` (one feature set) and ``compare_features``.
KINDS = ("formula", "compare_features")

#: The symbol in which the law families (:data:`mtllaws.law.FAMILIES`) write the
#: relatedness variable; a ``compare_features`` set fills it with its measure.
SLOT_SYMBOL = "AMI"


def check_kind(spec: dict, name: str) -> dict:
    """Check a study's ``kind`` and ``measures``; pure, so the config check can call it.

    Parameters
    ----------
    spec : dict
        The study (``kind``, ``features``, ``measures``).
    name : str
        How messages name the study (e.g. ``"study 'f_rel'"`` or the config key).

    Returns
    -------
    dict
        ``kind`` and ``measures`` (a list of str, empty for ``formula``).

    Raises
    ------
    ValueError
        An unknown kind; ``measures`` on a ``formula`` study; a ``compare_features``
        study with fewer than two measures, a measure given twice or also a feature.
    """
    kind = spec.get("kind") or "formula"
    if kind not in KINDS:
        raise ValueError(f"{name}: kind {kind!r} is unknown; use one of {KINDS}")
    measures = spec.get("measures") or []
    if isinstance(measures, str):
        measures = [m.strip() for m in measures.split(",") if m.strip()]
    if not isinstance(measures, list | tuple) or not all(isinstance(m, str) for m in measures):
        raise ValueError(f"{name}: measures must be a list of names, got {measures!r}")
    measures = [str(m) for m in measures]
    if kind == "formula":
        if measures:
            raise ValueError(
                f"{name}: measures {measures} is for kind compare_features; add "
                "kind: compare_features or drop measures"
            )
        return {"kind": kind, "measures": []}
    if len(measures) < 2:
        raise ValueError(
            f"{name}: kind compare_features needs measures: a list of at least two relatedness "
            f"measures or columns (each is added to features in turn; the first is the "
            f"reference), got {measures}"
        )
    lowered = [m.lower() for m in measures]
    twice = sorted({m for m in measures if lowered.count(m.lower()) > 1})
    if twice:
        raise ValueError(f"{name}: measures names {twice} more than once; list each once")
    features = spec.get("features") or []
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    shared = sorted({m for m in measures if m.lower() in {str(f).lower() for f in features}})
    if shared:
        raise ValueError(
            f"{name}: {shared} are both features and measures; features is the base every "
            "set shares, measures the variables compared: name each in one of them"
        )
    labels = [_label(m) for m in measures]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name}: measures {measures} give the same set label twice; rename one")
    return {"kind": kind, "measures": measures}


def _label(measure: str) -> str:
    return re.sub(r"\W", "_", measure)


def feature_sets(features, measures) -> dict[str, list[str]]:
    """Label -> features of each set: the base plus one measure, in the order given.

    >>> feature_sets(["n", "T"], ["ami", "model_sim"])
    {'ami': ['n', 'T', 'ami'], 'model_sim': ['n', 'T', 'model_sim']}
    """
    return {_label(m): [*features, m] for m in measures}


def set_study_name(study: str, label: str) -> str:
    """The study name of one feature set's result: ``<study>__<label>``."""
    return f"{study}__{label}"


def slot_families(families: dict, symbol: str) -> dict:
    """The law families that use the relatedness slot, written in ``symbol``.

    Parameters
    ----------
    families : dict
        Name -> ``{"formula", "params"}`` (:data:`mtllaws.law.FAMILIES` and the
        config's ``regress.law_families``).
    symbol : str
        The symbol of the set's relatedness column (e.g. ``MS``).

    Returns
    -------
    dict
        The families whose formula uses :data:`SLOT_SYMBOL`, with it replaced by
        ``symbol`` (parameters and bounds unchanged).
    """
    pattern = re.compile(rf"\b{SLOT_SYMBOL}\b")
    out = {}
    for name, spec in families.items():
        formula = str(spec.get("formula", "")) if isinstance(spec, dict) else ""
        if not pattern.search(formula):
            continue
        if symbol != SLOT_SYMBOL and symbol in (spec.get("params") or {}):
            raise ValueError(
                f"law family {name!r}: its parameter {symbol!r} has the name of the relatedness "
                "column's symbol; rename the parameter"
            )
        out[name] = {**spec, "formula": pattern.sub(symbol, formula)}
    return out


# ----------------------------------------------------------------- ΔR² table
def _stats(values) -> dict:
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if not values.size:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}


def _runs(variant: dict) -> dict:
    """(seed, repeat) -> R² of one variant's CV runs (None when a run failed)."""
    cv = variant.get("cv") or {}
    return {(run["seed"], run["repeat"]): run["r2"] for run in cv.get("runs", [])}


def _study_block(parent: str, members: list[dict]) -> dict:
    first = members[0]["compare"]
    labels = list(first["sets"])
    reference = first["reference"]
    skipped = [m for m in members if "skipped" in m]
    block = {
        "study": parent,
        "reference": reference,
        "sets": [],
        "engines": sorted({m["engine"] for m in members}, key=str),
        "rows": [],
    }
    live = [m for m in members if "skipped" not in m]
    if skipped:
        block["skipped"] = sorted({f"{m['engine']}: {m['skipped']}" for m in skipped})
    if not live:
        return block
    # The pairing is honest only on one set of configurations and one set of folds.
    fingerprints = {
        (m["compare"]["configurations"], json.dumps(m["compare"]["folds"])) for m in live
    }
    if len(fingerprints) != 1:
        raise ValueError(
            f"compare_features study {parent!r}: its sets were fitted on different configurations "
            "or folds (results of different runs mixed); rerun the study"
        )
    by_set = {}
    for m in live:
        by_set.setdefault(m["compare"]["set"], []).append(m)
    for label in labels:
        if label in by_set:
            c = by_set[label][0]["compare"]
            block["sets"].append(
                {"label": label, "features": c["features"], "relatedness": c["relatedness"]}
            )
    some = live[0]
    block["n_configurations"] = some["n_configurations"]
    block["cv"] = {
        "k": some["validation"]["cv"],
        "repeats": some["validation"]["cv_repeats"],
        "seeds": some["validation"].get("cv_seeds"),
        "statistic": "pooled out-of-fold R² of one CV repeat with one regression seed; "
        "mean ± std over seeds × repeats",
    }
    block["folds"] = some["compare"]["folds"]
    variants = {}  # (engine, variant) -> set label -> runs
    for m in live:
        for v in m.get("variants", []):
            if "error" in v:
                continue
            variants.setdefault((m["engine"], v["name"]), {})[m["compare"]["set"]] = (
                _runs(v),
                v.get("in_sample_r2"),
            )
    for (engine, name), per_set in variants.items():
        ref_runs = per_set.get(reference, ({}, None))[0]
        row = {"engine": engine, "variant": name, "sets": {}}
        for label in labels:
            if label not in per_set:
                continue
            runs, in_sample = per_set[label]
            entry = {"r2": _stats(runs.values()), "in_sample_r2": in_sample}
            if label != reference:
                paired = [
                    runs[key] - ref_runs[key]
                    for key in runs
                    if key in ref_runs and runs[key] is not None and ref_runs[key] is not None
                ]
                entry["delta_r2"] = {
                    **_stats(paired),
                    "min": float(min(paired)) if paired else None,
                    "max": float(max(paired)) if paired else None,
                }
            row["sets"][label] = entry
        scored = [
            (lab, e["r2"]["mean"]) for lab, e in row["sets"].items() if e["r2"]["mean"] is not None
        ]
        row["best"] = max(scored, key=lambda item: item[1])[0] if scored else None
        block["rows"].append(row)
    return block


def delta_r2_document(results) -> dict:
    """The ΔR² tables of every ``compare_features`` study among ``results`` (JSON-ready).

    Parameters
    ----------
    results : sequence of dict
        Study results of :func:`mtllaws.regress.run_studies`, of any engines; those
        without a ``compare`` record (ordinary studies) are ignored.

    Returns
    -------
    dict
        ``{"studies": {study: block}}``; a block has ``study, reference, sets``
        (``label, features, relatedness``: the measure, column and symbol that fill
        the law families' slot), ``engines``, ``n_configurations``, ``cv`` (``k,
        repeats, seeds, statistic``), ``folds`` (test configurations of each fold,
        shared by every set) and ``rows``: per engine or law family (``engine,
        variant``), per set ``r2`` (``mean, std, n`` over the CV runs),
        ``in_sample_r2`` and, for every set but the reference, ``delta_r2``
        (``mean, std, n, min, max`` of the paired differences), and ``best`` (the set
        with the highest mean R²). A study whose sets were all skipped has ``skipped``.

    Raises
    ------
    ValueError
        The sets of one study were fitted on different configurations or folds.
    """
    grouped: dict[str, list] = {}
    for r in results:
        if r.get("compare"):
            grouped.setdefault(r["compare"]["study"], []).append(r)
    return {"studies": {name: _study_block(name, members) for name, members in grouped.items()}}


def _num(value, fmt="+.3f") -> str:
    return "–" if value is None else format(value, fmt)


def delta_r2_markdown(document: dict) -> str:
    """The ΔR² tables of :func:`delta_r2_document` as Markdown, one section per study."""
    parts = []
    for name, block in document["studies"].items():
        lines = [f"## {name}: which relatedness measure predicts F1 best?", ""]
        if block.get("skipped"):
            lines += [f"Skipped: {reason}" for reason in block["skipped"]] + [""]
        if not block["rows"]:
            parts.append("\n".join(lines))
            continue
        cv = block["cv"]
        seeds = cv["seeds"] or []
        lines.append(
            f"Reference set: **{block['reference']}**. Every set is fitted on the same "
            f"{block['n_configurations']} configurations and scored by grouped {cv['k']}-fold "
            f"CV on the same folds ({cv['repeats']} repeats) with each regression seed "
            f"{seeds}: R² is the mean ± std over {len(seeds) * cv['repeats']} CV runs "
            "(seeds × repeats) of the pooled out-of-fold R²; ΔR² = R²(set) − "
            f"R²({block['reference']}), paired by seed and repeat, mean ± std of the paired "
            "differences."
        )
        lines.append("")
        for s in block["sets"]:
            rel = s["relatedness"]
            lines.append(
                f"- {s['label']}: features {s['features']}; `{rel['column']}` fills the "
                f"relatedness slot as `{rel['symbol']}` (the law families' `{SLOT_SYMBOL}`)"
            )
        lines.append("")
        labels = [s["label"] for s in block["sets"]]
        head = "| Engine / family |"
        rule = "|---|"
        for label in labels:
            head += f" R² {label} |"
            rule += "---:|"
            if label != block["reference"]:
                head += f" ΔR² {label} |"
                rule += "---:|"
        lines += [head + " Best |", rule + "---|"]
        for row in block["rows"]:
            line = f"| {row['variant']} |"
            for label in labels:
                entry = row["sets"].get(label)
                if entry is None:
                    line += " – |" + (" – |" if label != block["reference"] else "")
                    continue
                r2 = entry["r2"]
                line += f" {_num(r2['mean'], '.3f')} ± {_num(r2['std'], '.3f')} |"
                if label != block["reference"]:
                    d = entry["delta_r2"]
                    line += f" {_num(d['mean'])} ± {_num(d['std'], '.3f')} (n={d['n']}) |"
            lines.append(line + f" {row['best'] or '–'} |")
        parts.append("\n".join(lines) + "\n")
    if not parts:
        return "No compare_features study.\n"
    return "# ΔR² of relatedness measures\n\n" + "\n".join(parts)


def write_delta_r2(results, *, markdown=None, json_path=None) -> dict:
    """Write the ΔR² document as Markdown and/or JSON, atomically; returns the document."""
    document = delta_r2_document(results)
    if markdown is not None:
        atomic_write_text(markdown, delta_r2_markdown(document))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(document, indent=2) + "\n")
    return document
