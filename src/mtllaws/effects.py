"""The paper's effects, measured on an experiment's results, with the seeds' spread.

From ``runs.parquet`` (one row per model: per-seed pairing), ``summary.parquet``
(mean, std and count per configuration) or the paper's published table (``fscore``,
``mutual_info``: one row per model, no seeds to pair) :func:`compute_effects` gives
four sections:

``stl``
    NER test F1 of the single-task models (T = 1) against n, and each step to the
    next n.
``ami``
    The AMI effect at each n and T: MTL F1 at the highest AMI level minus at the lowest.
``transfer``
    MTL minus STL at the same n, for every AMI level and T.
``tasks``
    F1 against T at fixed n and AMI level (with the STL F1 at that n for reference).

Unbalanced experiments: ``n_ner`` plays n, and MTL configurations are also held at
their ``n_syn``. A *level* is the synthetic tasks' noise setting: ``ami_target`` when
the experiment asked for target AMIs, else ``alpha``; "highest/lowest AMI" orders the
levels by their measured mean AMI.

Spread. Every cell is ``mean ± std (count)`` over seeds (sample std). A difference
A − B is computed per seed where both configurations have the seed (``paired``);
from a summary table, or without common seeds, it is the difference of the means
with std ``sqrt(std_A² + std_B²)``. A difference *exceeds 2σ* when its absolute value
is larger than twice the largest of the two configurations' seed std and the std
of the difference (undecided, ``None``, with one seed). A section that cannot be
computed (no STL rows, one level, one T) holds a one-line ``note`` instead of rows.

:func:`acceptance` checks the issue-13 criteria (every configuration's mean F1, STL
rising with n, the AMI effect, MTL at high/low AMI against STL), and
:func:`to_markdown` renders either result. ``mtllaws effects PATH`` prints them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtllaws.atomic import atomic_write_text
from mtllaws.relatedness import MEASURES, TARGET_COLUMN, measure_columns
from mtllaws.shards import CASE_COLUMNS

__all__ = [
    "Cell",
    "read_results",
    "configurations",
    "difference",
    "spread",
    "format_spread",
    "compute_effects",
    "acceptance",
    "to_markdown",
    "write_effects",
]

#: AMI's columns in runs and summary tables (the AMI effect reads them).
_AMI = measure_columns("ami")

_SIZE = {"balanced": "n_tokens_per_task", "unbalanced": "n_ner"}


@dataclass(frozen=True)
class Cell:
    """The test F1 of one configuration over its seeds.

    Attributes
    ----------
    mean, std : float
        Over seeds (sample std; NaN for one seed).
    count : int
        Number of seeds.
    seeds : dict of int to float, optional
        F1 by seed (from a runs table; ``None`` from a summary table).
    """

    mean: float
    std: float
    count: int
    seeds: dict | None = None

    def record(self) -> dict:
        """``{"mean", "std", "count"}`` with NaN as ``None`` (JSON-friendly)."""
        return {"mean": _num(self.mean), "std": _num(self.std), "count": int(self.count)}


def _num(value):
    return None if value is None or not np.isfinite(value) else float(value)


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a runs or summary table (Parquet or CSV), or an experiment's folder.

    Parameters
    ----------
    path : path-like
        ``runs.parquet``/``summary.parquet`` (or ``.csv``), or a folder holding them
        (``results/<experiment>``): its ``runs.parquet`` is preferred, for pairing.

    Raises
    ------
    ValueError
        The path does not exist, the folder holds no table, or the file is neither
        Parquet nor CSV.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("runs.parquet", "summary.parquet", "runs.csv", "summary.csv"):
            if (path / name).is_file():
                return read_results(path / name)
        raise ValueError(
            f"{path} holds no runs.parquet or summary.parquet; give an experiment's results "
            "folder (results/<experiment>) or one of its tables"
        )
    if not path.is_file():
        raise ValueError(f"{path} does not exist; give a runs/summary table or results/<exp>")
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    raise ValueError(f"{path}: expected a .parquet or .csv table")


def _mode(table: pd.DataFrame) -> str:
    if "mode" in table.columns:
        modes = set(table["mode"].dropna())
        if len(modes) > 1:
            raise ValueError(f"the table mixes modes {sorted(modes)}; give one experiment's table")
        if modes:
            mode = modes.pop()
            if mode not in _SIZE:
                raise ValueError(f"column 'mode' has value {mode!r}; expected balanced/unbalanced")
            return mode
    if "n_tokens_per_task" in table.columns and table["n_tokens_per_task"].notna().any():
        return "balanced"
    return "unbalanced"


def configurations(table: pd.DataFrame, *, experiment: str | None = None) -> pd.DataFrame:
    """One row per configuration with its F1 :class:`Cell`.

    Parameters
    ----------
    table : pandas.DataFrame
        A runs table (``seed``, ``test_f1``), a summary table (``test_f1_mean``,
        ``test_f1_std``, ``count``) or the paper's table (``fscore``, ``mutual_info``).
    experiment : str, optional
        The experiment to take from a table that holds several.

    Returns
    -------
    pandas.DataFrame
        Columns ``mode, T, n, n_syn, level, level_name, alpha, ami, cell``, sorted by
        T, n, n_syn and AMI; ``attrs["source"]`` is runs, summary or published.
        ``n`` is ``n_tokens_per_task`` (balanced) or ``n_ner``; ``n_syn`` is 0 for STL
        and for balanced experiments. Configurations with a non-zero input ``rotation``
        (grid axis, issue 17) are left out: the effects compare the paper's unrotated
        tasks, and pooling rotations would mix different configurations.
        Configurations with a per-task ``alpha_pattern`` (grid axis ``alphas``) or real
        ``aux_tasks`` (issue 20; :mod:`mtllaws.realtest` reports those) are left out for
        the same reason (:data:`mtllaws.shards.CASE_COLUMNS`): they have no one α.

    Raises
    ------
    ValueError
        A needed column is missing, or the table mixes experiments and ``experiment``
        is not given (or names none of them).
    """
    table = pd.DataFrame(table)
    if "experiment" in table.columns:
        names = sorted(set(table["experiment"].dropna()))
        if experiment is not None:
            if experiment not in names:
                raise ValueError(f"experiment {experiment!r} is not in the table (it has {names})")
            table = table[table["experiment"] == experiment]
        elif len(names) > 1:
            raise ValueError(f"the table holds experiments {names}; choose one with --experiment")
    for column, neutral in CASE_COLUMNS.items():  # rotation, alpha patterns, real tasks
        if column in table.columns:
            table = table[table[column].fillna(neutral) == neutral]
    published = "fscore" in table.columns and not {"test_f1", "test_f1_mean"} & set(table)
    if published:  # the paper's table: one row per model, no seed column
        paper_ami = {c: _AMI.mean for c in MEASURES["ami"].paper_columns}
        table = table.rename(columns={"fscore": "test_f1", **paper_ami})
        table = table.assign(seed=-1)
    runs = "test_f1" in table.columns and "seed" in table.columns
    f1 = "test_f1" if runs else "test_f1_mean"
    mode = _mode(table) if len(table) else "balanced"
    size = _SIZE[mode]
    needed = ["n_tasks", size, f1] + ([] if runs else ["test_f1_std", "count"])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"the table lacks column(s) {missing}; give runs.parquet (seed, test_f1) or "
            "summary.parquet (test_f1_mean, test_f1_std, count)"
        )
    if len(table) == 0:
        raise ValueError("the table has no rows")
    df = pd.DataFrame(
        {
            "T": table["n_tasks"].astype(int),
            "n": table[size].astype(float).round().astype(int),
            "n_syn": (
                table["n_syn"].fillna(0).astype(int)
                if mode == "unbalanced" and "n_syn" in table.columns
                else 0
            ),
            "alpha": table["alpha"].astype(float) if "alpha" in table.columns else np.nan,
            "ami_target": (
                table[TARGET_COLUMN].astype(float) if TARGET_COLUMN in table.columns else np.nan
            ),
            "ami": (
                table[_AMI.mean if runs else _AMI.summary_mean].astype(float)
                if (_AMI.mean if runs else _AMI.summary_mean) in table.columns
                else np.nan
            ),
        },
        index=table.index,
    )
    df.loc[df["T"] == 1, ["n_syn", "alpha", "ami_target", "ami"]] = [0, np.nan, np.nan, np.nan]
    targets = df.loc[df["T"] > 1, "ami_target"]
    use_target = len(targets) > 0 and targets.notna().all()
    df["level"] = df["ami_target"] if use_target else df["alpha"]
    level_name = "ami_target" if use_target else "alpha"
    keys = ["T", "n", "n_syn", "level"]
    rows = []
    for key, group in df.groupby(keys, dropna=False, sort=False):
        source = table.loc[group.index]
        if published:
            values = source[f1].to_numpy(float)
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            cell = Cell(float(values.mean()), std, len(values))
        elif runs:
            by_seed = source.groupby("seed")[f1].mean()
            values = by_seed.to_numpy(float)
            cell = Cell(
                float(values.mean()),
                float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                len(values),
                {int(s): float(v) for s, v in by_seed.items()},
            )
        else:
            if len(source) > 1:
                raise ValueError(
                    f"the summary table has {len(source)} rows for T={key[0]}, n={key[1]}, "
                    f"{level_name}={key[3]}; give one experiment's summary"
                )
            row = source.iloc[0]
            cell = Cell(float(row[f1]), float(row["test_f1_std"]), int(row["count"]))
        rows.append(
            dict(
                zip(keys, key, strict=True),
                mode=mode,
                level_name=level_name,
                alpha=float(group["alpha"].mean()),
                ami=float(group["ami"].mean()),
                cell=cell,
            )
        )
    out = pd.DataFrame(rows)
    out["T"] = out["T"].astype(int)
    order = out["ami"].fillna(-1.0)
    out = (
        out.assign(_order=order)
        .sort_values(["T", "n", "n_syn", "_order", "level"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    out.attrs["source"] = "published" if published else "runs" if runs else "summary"
    return out


def difference(a: Cell, b: Cell) -> dict:
    """``a − b`` with its spread (see the module docstring).

    Returns
    -------
    dict
        ``mean, std, count, paired`` and ``exceeds_2std`` (``None`` with one seed).
    """
    common = sorted(set(a.seeds) & set(b.seeds)) if a.seeds and b.seeds else []
    if common:
        d = np.array([a.seeds[s] - b.seeds[s] for s in common])
        mean = float(d.mean())
        std = float(d.std(ddof=1)) if len(d) > 1 else math.nan
        count, paired = len(d), True
    else:
        mean = a.mean - b.mean
        std = math.sqrt(a.std**2 + b.std**2)
        count, paired = min(a.count, b.count), False
    noise = [s for s in (a.std, b.std, std) if np.isfinite(s)]
    if count > 1 and noise:
        exceeds = bool(abs(mean) > 2 * max(noise))
        limit = 2 * max(noise)
    else:
        exceeds, limit = None, math.nan
    return {
        "mean": _num(mean),
        "std": _num(std),
        "count": int(count),
        "paired": paired,
        "two_sigma": _num(limit),
        "exceeds_2std": exceeds,
    }


def _section(title: str, rows: list[dict], note: str = "") -> dict:
    return {"title": title, "rows": rows, "note": note if not rows else ""}


def _size(row) -> dict:
    out = {"n": int(row["n"])}
    if row["mode"] == "unbalanced" and row["T"] > 1:
        out["n_syn"] = int(row["n_syn"])
    return out


def compute_effects(table: pd.DataFrame, *, experiment: str | None = None) -> dict:
    """The four effect sections of one experiment (see the module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        A runs or summary table.
    experiment : str, optional
        Which experiment, when the table holds several.

    Returns
    -------
    dict
        ``mode, level, source ("runs"|"summary"), model`` (the recorded ``hidden`` and
        ``align``, as text; empty when the table has neither), ``configurations`` (every
        configuration's F1) and ``sections``: ``stl, ami, transfer, tasks``, each a
        dict with ``title``, ``rows`` and ``note`` (why it is empty).
    """
    conf = configurations(table, experiment=experiment)
    mode, level = conf["mode"].iloc[0], conf["level_name"].iloc[0]
    size_name = "n_ner" if mode == "unbalanced" else "n"
    stl = conf[conf["T"] == 1].sort_values("n")
    mtl = conf[conf["T"] > 1]
    stl_by_n = {int(r["n"]): r["cell"] for _, r in stl.iterrows()}

    every = []
    for _, r in conf.iterrows():
        every.append(
            {
                "T": int(r["T"]),
                **_size(r),
                level: _num(r["level"]),
                "ami": _num(r["ami"]),
                "f1": r["cell"].record(),
            }
        )

    rows, previous = [], None
    for _, r in stl.iterrows():
        row = {"n": int(r["n"]), "f1": r["cell"].record(), "step": None}
        if previous is not None:
            row["step"] = {"from_n": int(previous["n"]), **difference(r["cell"], previous["cell"])}
        rows.append(row)
        previous = r
    stl_section = _section(
        f"STL (T = 1): F1 against {size_name}", rows, "no STL (T = 1) configurations"
    )

    rows = []
    for (t, _n, _n_syn), group in mtl.groupby(["T", "n", "n_syn"], sort=True):
        group = group.dropna(subset=["level"])
        if group["level"].nunique() < 2:
            continue
        ordered = group.assign(_o=group["ami"].fillna(group["level"])).sort_values("_o")
        low, high = ordered.iloc[0], ordered.iloc[-1]
        rows.append(
            {
                "T": int(t),
                **_size(high),
                "low": {level: _num(low["level"]), "ami": _num(low["ami"])},
                "high": {level: _num(high["level"]), "ami": _num(high["ami"])},
                "f1_low": low["cell"].record(),
                "f1_high": high["cell"].record(),
                "effect": difference(high["cell"], low["cell"]),
            }
        )
    ami_section = _section(
        "AMI effect: MTL F1 at the highest AMI minus at the lowest",
        rows,
        "no MTL configuration group (T, n) has two or more AMI levels"
        if len(mtl)
        else "no MTL (T > 1) configurations",
    )

    rows = []
    for _, r in mtl.iterrows():
        base = stl_by_n.get(int(r["n"]))
        if base is None:
            continue
        rows.append(
            {
                "T": int(r["T"]),
                **_size(r),
                level: _num(r["level"]),
                "ami": _num(r["ami"]),
                "f1_mtl": r["cell"].record(),
                "f1_stl": base.record(),
                "transfer": difference(r["cell"], base),
            }
        )
    if not len(stl):
        note = "no STL (T = 1) configurations: the transfer cannot be computed"
    elif not len(mtl):
        note = "no MTL (T > 1) configurations"
    else:
        note = f"no MTL configuration shares its {size_name} with an STL one"
    transfer_section = _section(f"Transfer: MTL minus STL at the same {size_name}", rows, note)

    rows = []
    for (n, _n_syn, lvl), group in mtl.groupby(["n", "n_syn", "level"], sort=True):
        if group["T"].nunique() < 2:
            continue
        group = group.sort_values("T")
        first = group.iloc[0]
        base = stl_by_n.get(int(n))
        for _, r in group.iterrows():
            rows.append(
                {
                    **_size(r),
                    level: _num(lvl),
                    "T": int(r["T"]),
                    "ami": _num(r["ami"]),
                    "f1": r["cell"].record(),
                    "f1_stl": base.record() if base is not None else None,
                    "vs_smallest_T": (
                        {"T": int(first["T"]), **difference(r["cell"], first["cell"])}
                        if r["T"] != first["T"]
                        else None
                    ),
                }
            )
    tasks_section = _section(
        f"T effect: F1 against T at fixed {size_name} and {level}",
        rows,
        "one T > 1 only (or no MTL configurations): the T effect cannot be computed"
        if mtl["T"].nunique() < 2
        else f"no ({size_name}, {level}) has two or more values of T",
    )
    return {
        "mode": mode,
        "level": level,
        "size": size_name,
        "source": conf.attrs.get("source", "runs"),
        "model": _model_settings(table, experiment),
        "configurations": every,
        "sections": {
            "stl": stl_section,
            "ami": ami_section,
            "transfer": transfer_section,
            "tasks": tasks_section,
        },
    }


def _model_settings(table: pd.DataFrame, experiment: str | None = None) -> dict:
    """The model settings a runs or summary table records (``hidden``, ``align``), as text.

    The transfer presets of issue 18 vary them between experiments; the effects name them
    so that tables of different widths are not read as one. Empty for the paper's table.
    """
    if experiment is not None and "experiment" in table.columns:
        table = table[table["experiment"] == experiment]
    out = {}
    for key in ("hidden", "align"):
        if key in table.columns:
            values = sorted({str(v) for v in table[key].dropna()})
            if values:
                out[key] = " | ".join(values)
    return out


def acceptance(
    effects: Mapping,
    *,
    tasks: int = 2,
    min_f1: float = 0.05,
    min_effect: float = 0.05,
    min_rising: int = 3,
) -> dict:
    """The issue-13 acceptance criteria, judged on :func:`compute_effects` output.

    Parameters
    ----------
    effects : mapping
        The result of :func:`compute_effects`.
    tasks : int
        The T of the AMI-effect and transfer criteria (default 2).
    min_f1 : float
        Every configuration's mean test F1 must reach this.
    min_effect : float
        The AMI effect at the chosen n must reach this (and exceed 2σ).
    min_rising : int
        STL F1 must rise over at least this many values of n, every step > 2σ.

    Returns
    -------
    dict
        ``criteria``: a list of ``{"name", "passed", "detail"}``; ``per_n``: for every
        n with an AMI effect at T = ``tasks``, the effect and MTL high/low minus STL;
        ``chosen_n``: the n that meets the AMI and transfer criteria (or the one with
        the largest effect); ``passed``: all criteria met.
    """
    sections = effects["sections"]
    size = effects["size"]
    criteria = []

    f1s = [(c, c["f1"]["mean"]) for c in effects["configurations"]]
    low = [c for c, m in f1s if m is None or m < min_f1]
    worst = min(f1s, key=lambda x: -1 if x[1] is None else x[1])
    criteria.append(
        {
            "name": f"every configuration's mean test F1 >= {min_f1}",
            "passed": not low,
            "detail": f"{len(f1s) - len(low)}/{len(f1s)} configurations; lowest "
            f"{_fmt(worst[1])} at {_label(worst[0], effects)}",
        }
    )

    stl = sections["stl"]["rows"]
    run = best = 1 if stl else 0
    for row in stl[1:]:
        step = row["step"]
        ok = step["mean"] is not None and step["mean"] > 0 and step["exceeds_2std"] is True
        run = run + 1 if ok else 1
        best = max(best, run)
    steps = ", ".join(
        f"{r['step']['from_n']}→{r['n']}: {format_spread(r['step'])}"
        + (" (>2σ)" if r["step"]["exceeds_2std"] else "")
        for r in stl[1:]
    )
    criteria.append(
        {
            "name": f"STL F1 rises over >= {min_rising} values of {size}, each step > 2σ",
            "passed": best >= min_rising,
            "detail": (
                f"{best} values rise in a row; steps {steps}" if stl else sections["stl"]["note"]
            ),
        }
    )

    transfer = {}
    for row in sections["transfer"]["rows"]:
        if row["T"] == tasks:
            transfer[(row["n"], row.get("n_syn"), row[effects["level"]])] = row["transfer"]
    per_n = []
    for row in sections["ami"]["rows"]:
        if row["T"] != tasks:
            continue
        key = (row["n"], row.get("n_syn"))
        high = transfer.get((*key, row["high"][effects["level"]]))
        lowt = transfer.get((*key, row["low"][effects["level"]]))
        effect = row["effect"]
        per_n.append(
            {
                "n": row["n"],
                **({"n_syn": row["n_syn"]} if "n_syn" in row else {}),
                "effect": effect,
                "effect_ok": bool(
                    effect["mean"] is not None
                    and effect["mean"] >= min_effect
                    and effect["mean"] > 0
                    and effect["exceeds_2std"] is True
                ),
                "high_minus_stl": high,
                "low_minus_stl": lowt,
                "high_above_stl": None if high is None else bool(high["mean"] > 0),
                "low_at_or_below_stl": None if lowt is None else bool(lowt["mean"] <= 0),
            }
        )
    good = [p for p in per_n if p["effect_ok"]]
    both = [p for p in good if p["high_above_stl"] and p["low_at_or_below_stl"]]
    by_effect = sorted(
        per_n, key=lambda p: -math.inf if p["effect"]["mean"] is None else p["effect"]["mean"]
    )[::-1]
    chosen = (both or good or by_effect)[:1]
    chosen = chosen[0] if chosen else None
    where = f"T = {tasks}, {size} = {chosen['n']}" if chosen else f"T = {tasks}"
    criteria.append(
        {
            "name": f"at one {size}, T = {tasks}: AMI effect >= {min_effect} and > 2σ",
            "passed": bool(good),
            "detail": (
                f"{where}: {format_spread(chosen['effect'])} "
                f"(2σ = {_fmt(chosen['effect']['two_sigma'])})"
                if chosen
                else sections["ami"]["note"] or f"no AMI effect at T = {tasks}"
            ),
        }
    )
    for name, key, flag in (
        ("MTL at the highest AMI above STL", "high_minus_stl", "high_above_stl"),
        ("MTL at the lowest AMI at or below STL", "low_minus_stl", "low_at_or_below_stl"),
    ):
        value = chosen[key] if chosen else None
        criteria.append(
            {
                "name": f"at that {size}: {name}",
                "passed": bool(chosen and chosen[flag]),
                "detail": (
                    f"{where}: MTL − STL = {format_spread(value)}"
                    if value
                    else (sections["transfer"]["note"] or "no STL at that size")
                ),
            }
        )
    return {
        "criteria": criteria,
        "per_n": per_n,
        "chosen_n": chosen["n"] if chosen else None,
        "passed": all(c["passed"] for c in criteria),
    }


def spread(values) -> dict:
    """``mean, std, count`` of the finite ``values`` (std with ddof 1; None with one)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return {"mean": None, "std": None, "count": 0}
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return {"mean": float(values.mean()), "std": std, "count": int(values.size)}


def format_spread(d: Mapping | None, *, sign: bool = False, digits: int = 3) -> str:
    """``mean ± std (count)`` of a :func:`spread` or :func:`difference` dict.

    The one way effects, law tests and the benchmarks print a figure with its seeds'
    spread: ``–`` without a (finite) mean, the ``± std`` left out without a finite std.
    """
    if not d or _num(d.get("mean")) is None:
        return "–"
    mean = f"{d['mean']:+.{digits}f}" if sign else f"{d['mean']:.{digits}f}"
    std = "" if _num(d.get("std")) is None else f" ± {d['std']:.{digits}f}"
    return f"{mean}{std} ({d['count']})"


# ------------------------------------------------------------------------ rendering
def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _lvl(value) -> str:
    return "–" if value is None else f"{value:g}"


def _flag(value) -> str:
    return "–" if value is None else ("yes" if value else "no")


def _difference(d: Mapping | None) -> list[str]:
    """A difference's cells: mean ± std (count), and whether it exceeds 2σ ("–" without)."""
    return [format_spread(d), _flag(d["exceeds_2std"] if d else None)]


def _label(conf: Mapping, effects: Mapping) -> str:
    parts = [f"T = {conf['T']}", f"{effects['size']} = {conf['n']}"]
    if "n_syn" in conf:
        parts.append(f"n_syn = {conf['n_syn']}")
    if conf["T"] > 1:
        parts.append(f"{effects['level']} = {_lvl(conf[effects['level']])}")
    return ", ".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(effects: Mapping, accept: Mapping | None = None) -> str:
    """Markdown tables of :func:`compute_effects` (and :func:`acceptance`) output."""
    size, level = effects["size"], effects["level"]
    unbalanced = effects["mode"] == "unbalanced"
    syn = ["n_syn"] if unbalanced else []
    out = [
        f"# Effects ({effects['mode']}, from the {effects['source']} table)",
        "",
        *([f"Model: {', '.join(f'{k} = {v}' for k, v in effects['model'].items())}", ""]
          if effects.get("model") else []),
        "Cells: mean ± std (seeds) of NER test F1; differences per seed where seeds pair. "
        "'> 2σ': |difference| above twice the largest seed std involved.",
        "",
        "## Configurations",
        "",
        _table(
            ["T", size, *syn, level, "AMI", "test F1"],
            [
                [
                    str(c["T"]),
                    str(c["n"]),
                    *([str(c.get("n_syn", "–"))] if unbalanced else []),
                    _lvl(c[level]),
                    _fmt(c["ami"]),
                    format_spread(c["f1"]),
                ]
                for c in effects["configurations"]
            ],
        ),
    ]
    sec = effects["sections"]

    def config(r):
        """A row's configuration cells: T, size and (unbalanced) n_syn."""
        return [str(r["T"]), str(r["n"]), *([str(r["n_syn"])] if unbalanced else [])]

    blocks = {
        "stl": (
            [size, "test F1", "step from previous", "> 2σ"],
            lambda r: [
                str(r["n"]),
                format_spread(r["f1"]),
                *_difference(r["step"]),
            ],
        ),
        "ami": (
            ["T", size, *syn, f"{level} low → high", "AMI low → high", "F1 low", "F1 high",
             "high − low", "> 2σ"],
            lambda r: [
                *config(r),
                f"{_lvl(r['low'][level])} → {_lvl(r['high'][level])}",
                f"{_fmt(r['low']['ami'])} → {_fmt(r['high']['ami'])}",
                format_spread(r["f1_low"]),
                format_spread(r["f1_high"]),
                *_difference(r["effect"]),
            ],
        ),
        "transfer": (
            ["T", size, *syn, level, "AMI", "MTL F1", "STL F1", "MTL − STL", "> 2σ"],
            lambda r: [
                *config(r),
                _lvl(r[level]),
                _fmt(r["ami"]),
                format_spread(r["f1_mtl"]),
                format_spread(r["f1_stl"]),
                *_difference(r["transfer"]),
            ],
        ),
        "tasks": (
            [size, *syn, level, "T", "AMI", "test F1", "STL F1", "vs smallest T", "> 2σ"],
            lambda r: [
                str(r["n"]),
                *([str(r["n_syn"])] if unbalanced else []),
                _lvl(r[level]),
                str(r["T"]),
                _fmt(r["ami"]),
                format_spread(r["f1"]),
                format_spread(r["f1_stl"]),
                *_difference(r["vs_smallest_T"]),
            ],
        ),
    }  # fmt: skip
    for key, (header, render) in blocks.items():
        out += ["", f"## {sec[key]['title']}", ""]
        if sec[key]["rows"]:
            out.append(_table(header, [render(r) for r in sec[key]["rows"]]))
        else:
            out.append(f"Not computed: {sec[key]['note']}.")
    if accept is not None:
        out += ["", "## Acceptance", ""]
        out.append(
            _table(
                ["criterion", "met", "figures"],
                [[c["name"], _flag(c["passed"]), c["detail"]] for c in accept["criteria"]],
            )
        )
        if accept["per_n"]:
            out += [""]
            out.append(
                _table(
                    [size, *syn, "AMI effect", "≥ min and > 2σ", "MTL high − STL",
                     "MTL low − STL"],
                    [
                        [
                            str(p["n"]),
                            *([str(p["n_syn"])] if unbalanced else []),
                            format_spread(p["effect"]),
                            _flag(p["effect_ok"]),
                            format_spread(p["high_minus_stl"]),
                            format_spread(p["low_minus_stl"]),
                        ]
                        for p in accept["per_n"]
                    ],
                )
            )  # fmt: skip
        out += ["", f"All criteria met: {_flag(accept['passed'])}."]
    return "\n".join(out) + "\n"


def write_effects(
    table: pd.DataFrame,
    markdown: str | os.PathLike,
    json_path: str | os.PathLike,
    *,
    experiment: str | None = None,
) -> dict:
    """Compute the effects and the acceptance view and write them (atomically).

    Returns
    -------
    dict
        ``{"effects": ..., "acceptance": ...}``, as written to ``json_path``.
    """
    effects = compute_effects(table, experiment=experiment)
    accept = acceptance(effects)
    atomic_write_text(markdown, to_markdown(effects, accept))
    payload = {"effects": effects, "acceptance": accept}
    atomic_write_text(json_path, json.dumps(payload, indent=1) + "\n")
    return payload
