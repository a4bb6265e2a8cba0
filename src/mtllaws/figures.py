"""The paper's figures of an experiment: F1 against n, AMI and T, and the AMI calibration.

Every plotting function takes a table (usually ``summary.parquet``: one row per
configuration with ``test_f1_mean``, ``test_f1_std``, ``ami_mean_mean`` and
``count``) and returns a :class:`matplotlib.figure.Figure` in the house style of
:mod:`mtllaws.plotting` (one paper column wide, text of 7 pt or more, no ``pyplot``).
:func:`plot_all` writes the figures of :data:`FIGURES` as PNG and PDF.

Relatedness is AMI by default; every function takes ``measure=`` naming any measure
of :data:`mtllaws.relatedness.MEASURES`, whose summary column
(:func:`mtllaws.relatedness.measure_columns`) and label it then uses: the x axis of
:func:`plot_f1_vs_ami` (F1 against any measure), the level labels of the others, the
y axis of :func:`plot_calibration`.

Synthetic tasks are grouped into *levels*: configurations with the same label
noise, keyed by ``ami_target`` when the experiment asked for target AMIs and by
``alpha`` otherwise. A level is labelled with the mean measured AMI of its rows.
When a figure has several values of a variable to show and none are given, up to
``max_levels`` distinct values spread over the range are chosen by
:func:`mtllaws.plotting.pick_levels`. A figure whose selection is empty is still
drawn, with a "no data for ..." note, because the workflow expects every file.

Unbalanced experiments (``mode == "unbalanced"``) have no ``n_tokens_per_task``;
their size axis is ``n_ner`` or ``n_syn`` (by default the one with more distinct
values). A variable that is not shown and would mix several values into one
point is held at its most frequent value, which the title states.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from mtllaws.paths import FIGURES, figure_paths
from mtllaws.plotting import (
    FONT_PT,
    FORMATS,
    MARKERS,
    add_legend,
    auto_logx,
    colors,
    errorbar,
    fmt,
    new_figure,
    no_data,
    pick_levels,
    pool_stats,
    save_figure,
    set_labels,
)
from mtllaws.relatedness import MEASURES, TARGET_COLUMN, Measure, measure_columns
from mtllaws.shards import GRID_COLUMNS, summary_rows

__all__ = [
    "FIGURES",
    "figure_paths",
    "plot_f1_vs_n",
    "plot_f1_vs_ami",
    "plot_f1_vs_tasks",
    "plot_calibration",
    "plot_all",
    "plot_measure",
]

logger = logging.getLogger(__name__)

_F1_HEIGHT_IN = 3.2  # room for a legend below the axes
_STL_COLOR = "black"
_F1_LABEL = "NER test F1"
_SIZE_LABELS = {
    "n_tokens_per_task": "n (tokens per task)",
    "n_ner": r"$n_\mathrm{NER}$ (NER tokens)",
    "n_syn": r"$n_\mathrm{syn}$ (tokens per synthetic task)",
}
_SIZE_SHORT = {
    "n_tokens_per_task": "n",
    "n_ner": r"$n_\mathrm{NER}$",
    "n_syn": r"$n_\mathrm{syn}$",
}
_NUMERIC = (*GRID_COLUMNS, "test_f1_mean", "test_f1_std", "count")


def _measure(name: str) -> tuple[Measure, str]:
    """The registered measure ``name`` and its summary column (mean over seeds)."""
    column = measure_columns(name).summary_mean  # refuses an unknown name
    return MEASURES[name], column


# --------------------------------------------------------------------------- helpers

#: The parameters ``summary`` and ``experiment`` that the plot functions share, as their
#: docstrings spell them (:func:`_summary_doc` fills them in).
_SUMMARY_PARAMETERS = """summary : pandas.DataFrame
        The summary table.
    experiment : str, optional
        Keep only this experiment's rows."""


def _summary_doc(function):
    """Fill ``{summary_parameters}`` in ``function``'s docstring (:data:`_SUMMARY_PARAMETERS`)."""
    function.__doc__ = function.__doc__.replace("{summary_parameters}", _SUMMARY_PARAMETERS)
    return function



def _prepare(summary: pd.DataFrame, experiment: str | None, needed: Sequence[str]) -> pd.DataFrame:
    """Check columns, keep one experiment, make the numeric columns numeric."""
    if not isinstance(summary, pd.DataFrame):
        raise ValueError(
            f"expected a pandas DataFrame (the summary table), got {type(summary).__name__}; "
            "read summary.parquet with pandas.read_parquet"
        )
    df = summary_rows(
        summary, experiment, needed,
        "pass the summary.parquet of the aggregate step (group keys experiment, mode, "
        "n_tasks, n_tokens_per_task, n_ner, n_syn, alpha, then <metric>_mean/_std and count)",
    ).copy()
    measured = [(c.summary_mean, c.summary_std) for c in map(measure_columns, MEASURES)]
    for col in (*_NUMERIC, *(c for pair in measured for c in pair)):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df[df["n_tasks"].notna() & df["test_f1_mean"].notna()]
    return df.reset_index(drop=True)


def _is_unbalanced(df: pd.DataFrame) -> bool:
    if "mode" in df.columns and df["mode"].notna().any():
        modes = set(df["mode"].dropna().astype(str))
        if modes - {"balanced", "unbalanced"}:
            raise ValueError(
                f"summary column 'mode' has value(s) {sorted(modes - {'balanced', 'unbalanced'})};"
                " expected 'balanced' or 'unbalanced'"
            )
        if len(modes) > 1:
            raise ValueError(
                "summary mixes balanced and unbalanced rows; pass experiment=... to plot one "
                "experiment at a time"
            )
        return modes == {"unbalanced"}
    return "n_tokens_per_task" not in df.columns or df["n_tokens_per_task"].isna().all()


def _size_columns(df: pd.DataFrame, unbalanced: bool, x: str | None) -> tuple[str, str | None]:
    """The size column to show and the other size column (None when balanced)."""
    if not unbalanced:
        if x not in (None, "n_tokens_per_task", "n_ner"):
            raise ValueError(
                f"x = {x!r} does not fit a balanced experiment; use 'n_tokens_per_task' or None"
            )
        if "n_tokens_per_task" not in df.columns:
            raise ValueError(
                "summary lacks column 'n_tokens_per_task' needed for a balanced experiment; "
                "pass the summary.parquet of the aggregate step"
            )
        return "n_tokens_per_task", None
    missing = [c for c in ("n_ner", "n_syn") if c not in df.columns]
    if missing:
        raise ValueError(
            f"summary lacks column(s) {missing} needed for an unbalanced experiment; "
            "pass the summary.parquet of the aggregate step"
        )
    if x is None:
        mtl = df[df["n_tasks"] > 1]
        x = "n_syn" if mtl["n_syn"].nunique() > mtl["n_ner"].nunique() else "n_ner"
    if x not in ("n_ner", "n_syn"):
        raise ValueError(f"x = {x!r} does not fit an unbalanced experiment; use 'n_ner' or 'n_syn'")
    return x, ("n_syn" if x == "n_ner" else "n_ner")


def _level_key(df: pd.DataFrame, measure: str = "ami") -> tuple[pd.Series, str]:
    """The noise level of each row: rounded target AMI when given, else rounded alpha.

    Without either, the rounded measured value of ``measure`` (kind ``"measure"``).
    """
    if TARGET_COLUMN in df.columns and df[TARGET_COLUMN].notna().any():
        return df[TARGET_COLUMN].round(3), TARGET_COLUMN
    if "alpha" in df.columns and df["alpha"].notna().any():
        return df["alpha"].round(3), "alpha"
    return df[_measure(measure)[1]].round(2), "measure"


def _level_table(mtl: pd.DataFrame, measure: str = "ami") -> pd.DataFrame:
    """One row per level in ``mtl``: key, mean measured value, label; sorted by that value."""
    key, kind = _level_key(mtl, measure)
    spec, column = _measure(measure)
    work = pd.DataFrame({"level": key, "value": mtl[column]}).dropna(subset=["level"])
    table = work.groupby("level", sort=True)["value"].mean().reset_index()
    labels = []
    for level, value in zip(table["level"], table["value"], strict=True):
        measured = f"{spec.symbol} {value:.2f}"
        if kind == "alpha":
            labels.append(f"{measured} (α = {level:g})" if np.isfinite(value) else f"α = {level:g}")
        elif kind == TARGET_COLUMN:
            target = "target" if measure == "ami" else "target AMI"
            labels.append(
                f"{measured} ({target} {level:g})" if np.isfinite(value) else f"AMI {level:g}"
            )
        else:
            labels.append(f"{spec.symbol} {level:.2f}")
    table["label"] = labels
    table["order"] = table["value"].fillna(table["level"])
    return table.sort_values(["order", "level"]).reset_index(drop=True)


def _select_levels(
    table: pd.DataFrame,
    alphas: Sequence[float] | None,
    amis: Sequence[float] | None,
    max_levels: int,
) -> pd.DataFrame:
    """Rows of a level table: the requested ones, or up to ``max_levels`` spread ones."""
    if table.empty:
        return table
    if alphas is not None:
        keep = np.zeros(len(table), dtype=bool)
        for a in alphas:
            hit = np.isclose(table["level"].to_numpy(float), float(a), atol=5e-4)
            if not hit.any():
                logger.warning("level %g requested but absent from the data; skipped", a)
            keep |= hit
        return table[keep]
    if amis is not None:
        measured = table["value"].to_numpy(float)
        if np.isnan(measured).all():
            return table.iloc[0:0]
        idx = sorted({int(np.nanargmin(np.abs(measured - float(a)))) for a in amis})
        return table.iloc[idx]
    chosen = pick_levels(table["order"], max_levels)
    return table[table["order"].isin(chosen)].drop_duplicates("order")


def _restrict(
    rows: pd.DataFrame, col: str | None, within: Sequence[str]
) -> tuple[pd.DataFrame, float | None]:
    """Hold ``col`` at its most frequent value if it varies within groups of ``within``."""
    if col is None or rows.empty:
        return rows, None
    ambiguous = (rows.groupby(list(within), dropna=False)[col].nunique(dropna=False) > 1).any()
    if not ambiguous:
        values = rows[col].dropna().unique()
        return rows, (float(values[0]) if len(values) == 1 else None)
    counts = rows[col].value_counts()
    top = counts[counts == counts.max()].index.min()
    return rows[rows[col] == top], float(top)


def _where(experiment: str | None) -> str:
    return f" of experiment '{experiment}'" if experiment is not None else ""


# --------------------------------------------------------------------------- figures


def _f1_curve(ax, pts: pd.DataFrame, x: str, *, label, color, marker, zorder=2) -> None:
    """One F1 curve: ``pts[x]`` against pooled ``test_f1_mean`` ± ``test_f1_std``."""
    errorbar(
        ax,
        pts[x],
        pts["test_f1_mean"],
        pts["test_f1_std"],
        label=label,
        color=color,
        marker=marker,
        zorder=zorder,
    )


def _split_stl_mtl(df: pd.DataFrame, n_tasks: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """STL rows, the MTL rows with ``T = n_tasks`` (else the smallest T present), and T."""
    stl = df[df["n_tasks"] == 1]
    mtl_all = df[df["n_tasks"] > 1]
    t = (
        n_tasks
        if (mtl_all["n_tasks"] == n_tasks).any()
        else (int(mtl_all["n_tasks"].min()) if len(mtl_all) else n_tasks)
    )
    return stl, mtl_all[mtl_all["n_tasks"] == t], t


def plot_f1_vs_n(
    summary: pd.DataFrame,
    *,
    experiment: str | None = None,
    n_tasks: int = 2,
    alphas: Sequence[float] | None = None,
    amis: Sequence[float] | None = None,
    max_levels: int = 4,
    x: str | None = None,
    measure: str = "ami",
) -> Figure:
    """NER test F1 against the number of tokens, for STL and for MTL at several AMIs.

    Parameters
    ----------
    summary : pandas.DataFrame
        The summary table (``n_tasks``, size columns, ``alpha``, ``ami_mean_mean``
        (the summary column of ``measure``), ``test_f1_mean``, ``test_f1_std``, ``count``).
    experiment : str, optional
        Keep only this experiment's rows.
    n_tasks : int, default 2
        T of the MTL curves; when absent the smallest T > 1 present is used.
    alphas : sequence of float, optional
        Noise levels to show (values of ``ami_target`` or ``alpha``, see module doc).
    amis : sequence of float, optional
        Show the levels whose measured ``measure`` (AMI) is nearest these values.
    max_levels : int, default 4
        Levels to choose automatically when neither ``alphas`` nor ``amis`` is given.
    x : {"n_ner", "n_syn"}, optional
        Size axis of an unbalanced experiment; by default the one with more values.
    measure : str, default "ami"
        The relatedness measure (:data:`mtllaws.relatedness.MEASURES`) that labels
        the levels.

    Returns
    -------
    matplotlib.figure.Figure
        Mean ± std over seeds as error bars; STL in black.
    """
    column = _measure(measure)[1]
    df = _prepare(summary, experiment, ("n_tasks", column, "test_f1_mean"))
    unbalanced = _is_unbalanced(df)
    xcol, other = _size_columns(df, unbalanced, x)
    fig, ax = new_figure(_F1_HEIGHT_IN)
    stl, mtl, t = _split_stl_mtl(df, n_tasks)
    mtl = mtl.copy()
    mtl["_level"] = _level_key(mtl, measure)[0] if len(mtl) else pd.Series(dtype=float)
    levels = (
        _select_levels(_level_table(mtl, measure), alphas, amis, max_levels) if len(mtl) else None
    )
    if levels is not None and len(levels):
        mtl = mtl[mtl["_level"].isin(levels["level"])]
        mtl, fixed = _restrict(mtl, other, ["_level", xcol])
    else:
        mtl, fixed = mtl.iloc[0:0], None
    xs: list[float] = []
    drawn = 0
    title = f"STL and MTL (T = {t})"
    if fixed is not None:
        title += f", {_SIZE_SHORT[other]} = {fmt(fixed)}"
    # The single-task baseline has no synthetic task, so it cannot be drawn against n_syn:
    # it becomes a horizontal reference at the NER size of the MTL curves.
    if xcol == "n_syn":
        if fixed is not None and len(stl):
            ref = pool_stats(stl[stl["n_ner"] == fixed], ["n_ner"])
            if len(ref):
                m, s = ref["test_f1_mean"].iloc[0], ref["test_f1_std"].iloc[0]
                ax.axhline(m, color=_STL_COLOR, linestyle="--", linewidth=1.0, label="STL (T = 1)")
                if np.isfinite(s):
                    ax.axhspan(m - s, m + s, color=_STL_COLOR, alpha=0.12, linewidth=0)
                drawn += 1
    elif len(stl):
        pts = pool_stats(stl, [xcol])
        _f1_curve(ax, pts, xcol, label="STL (T = 1)", color=_STL_COLOR, marker="o", zorder=3)
        xs += pts[xcol].tolist()
        drawn += 1
    if levels is not None and len(levels):
        palette = colors(len(levels))
        for i, (level, label) in enumerate(zip(levels["level"], levels["label"], strict=True)):
            pts = pool_stats(mtl[mtl["_level"] == level], [xcol])
            if pts.empty:
                continue
            _f1_curve(
                ax,
                pts,
                xcol,
                label=f"MTL {label}",
                color=palette[i],
                marker=MARKERS[(i + 1) % len(MARKERS)],
            )
            xs += pts[xcol].tolist()
            drawn += 1
    set_labels(ax, _SIZE_LABELS[xcol], _F1_LABEL, title)
    if drawn == 0:
        no_data(ax, f"STL or T = {t} MTL rows{_where(experiment)}")
        return fig
    auto_logx(ax, xs)
    add_legend(ax, below=True)
    return fig


@_summary_doc
def plot_f1_vs_ami(
    summary: pd.DataFrame,
    *,
    experiment: str | None = None,
    n_tasks: int = 2,
    ns: Sequence[float] | None = None,
    max_levels: int = 4,
    x: str | None = None,
    show_stl: bool = True,
    measure: str = "ami",
) -> Figure:
    """NER test F1 against the measured AMI (or another measure) of the synthetic tasks.

    One curve per n.

    Parameters
    ----------
    {summary_parameters}
    n_tasks : int, default 2
        T of the MTL rows; when absent the smallest T > 1 present is used.
    ns : sequence of float, optional
        Sizes to show (values of the size column); by default up to ``max_levels``
        spread values.
    max_levels : int, default 4
        Sizes to choose automatically.
    x : {"n_ner", "n_syn"}, optional
        For an unbalanced experiment: which size column the curves are split by.
    show_stl : bool, default True
        Draw the STL F1 at the same n as a dashed line in the curve's colour.
    measure : str, default "ami"
        The x axis: a relatedness measure of :data:`mtllaws.relatedness.MEASURES`
        (its summary column, e.g. ``ami_mean_mean``, and its label).

    Returns
    -------
    matplotlib.figure.Figure
        The x value of a point is the mean measured value of its configuration.
    """
    spec, column = _measure(measure)
    df = _prepare(summary, experiment, ("n_tasks", column, "test_f1_mean"))
    unbalanced = _is_unbalanced(df)
    scol, other = _size_columns(df, unbalanced, x)
    fig, ax = new_figure(_F1_HEIGHT_IN)
    stl, mtl, t = _split_stl_mtl(df, n_tasks)
    mtl = mtl[mtl[column].notna()].copy()
    title = f"MTL, T = {t}"
    set_labels(ax, spec.label, _F1_LABEL, title)
    if mtl.empty:
        no_data(ax, f"T = {t} MTL rows with a measured {spec.symbol}{_where(experiment)}")
        return fig
    mtl["_level"] = _level_key(mtl, measure)[0]
    if ns is not None:
        sizes = [s for s in mtl[scol].unique() if np.isclose(s, np.asarray(ns, float)).any()]
    else:
        sizes = pick_levels(mtl[scol], max_levels)
    mtl = mtl[mtl[scol].isin(sizes)]
    mtl, fixed = _restrict(mtl, other, [scol, "_level"])
    if fixed is not None:
        ax.set_title(f"{title}, {_SIZE_SHORT[other]} = {fmt(fixed)}", fontsize=FONT_PT)
    sizes = sorted(mtl[scol].unique())
    if not sizes:
        no_data(
            ax, f"T = {t} MTL rows at {_SIZE_SHORT[scol]} in {list(ns or [])}{_where(experiment)}"
        )
        return fig
    palette = colors(len(sizes))
    for i, size in enumerate(sizes):
        pts = pool_stats(mtl[mtl[scol] == size], ["_level"], extra=[column])
        _f1_curve(
            ax,
            pts,
            column,
            label=f"{_SIZE_SHORT[scol]} = {fmt(size)}",
            color=palette[i],
            marker=MARKERS[i % len(MARKERS)],
        )
    handles = ax.get_legend_handles_labels()[0]
    if show_stl and len(stl):
        if scol == "n_syn":
            # One baseline for all curves: the STL result at the NER size held fixed.
            ref = stl[stl["n_ner"] == fixed] if fixed is not None else stl.iloc[0:0]
            if len(ref):
                m = pool_stats(ref, ["n_ner"])["test_f1_mean"].iloc[0]
                handles.append(
                    ax.axhline(
                        m,
                        color=_STL_COLOR,
                        linestyle="--",
                        linewidth=0.8,
                        zorder=1,
                        label="STL (T = 1)",
                    )
                )
        else:
            drawn = False
            for i, size in enumerate(sizes):
                ref = stl[stl[scol] == size]
                if len(ref):
                    m = pool_stats(ref, [scol])["test_f1_mean"].iloc[0]
                    ax.axhline(m, color=palette[i], linestyle="--", linewidth=0.8, zorder=1)
                    drawn = True
            if drawn:
                handles.append(
                    Line2D(
                        [],
                        [],
                        color="grey",
                        linestyle="--",
                        linewidth=0.8,
                        label=f"STL, same {_SIZE_SHORT[scol]}",
                    )
                )
    add_legend(ax, handles, below=True)
    return fig


@_summary_doc
def plot_f1_vs_tasks(
    summary: pd.DataFrame,
    *,
    experiment: str | None = None,
    n: float | tuple[float, float] | None = None,
    alphas: Sequence[float] | None = None,
    amis: Sequence[float] | None = None,
    max_levels: int = 4,
    measure: str = "ami",
) -> Figure:
    """NER test F1 against the number of tasks T at several AMIs, at one size.

    Parameters
    ----------
    {summary_parameters}
    n : float or (float, float), optional
        The size: ``n_tokens_per_task`` (balanced) or ``(n_ner, n_syn)``
        (unbalanced). By default the size with the most distinct T > 1.
    alphas, amis : sequence of float, optional
        Levels to show, as in :func:`plot_f1_vs_n`.
    max_levels : int, default 4
        Levels to choose automatically.
    measure : str, default "ami"
        The relatedness measure that labels the levels.

    Returns
    -------
    matplotlib.figure.Figure
        Each curve starts at the STL result (T = 1) of the same NER size when present.
    """
    df = _prepare(summary, experiment, ("n_tasks", _measure(measure)[1], "test_f1_mean"))
    unbalanced = _is_unbalanced(df)
    size_cols = ["n_ner", "n_syn"] if unbalanced else ["n_tokens_per_task"]
    _size_columns(df, unbalanced, "n_ner" if unbalanced else None)
    fig, ax = new_figure(_F1_HEIGHT_IN)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    stl = df[df["n_tasks"] == 1]
    mtl = df[df["n_tasks"] > 1].copy()
    set_labels(ax, "T (number of tasks, NER included)", _F1_LABEL)
    if mtl.empty:
        no_data(ax, f"MTL rows (T > 1){_where(experiment)}")
        return fig
    if n is None:
        per_size = mtl.groupby(size_cols)["n_tasks"].agg(["nunique", "size"]).reset_index()
        per_size = per_size.sort_values(
            ["nunique", "size", *size_cols], ascending=[False, False] + [True] * len(size_cols)
        )
        size = tuple(float(v) for v in per_size.iloc[0][size_cols])
    else:
        size = tuple(float(v) for v in np.atleast_1d(n))
        if len(size) != len(size_cols):
            raise ValueError(
                f"n = {n!r}: give {'(n_ner, n_syn)' if unbalanced else 'one n_tokens_per_task'}"
            )
    at = np.logical_and.reduce(
        [np.isclose(mtl[c], v) for c, v in zip(size_cols, size, strict=True)]
    )
    mtl = mtl[at]
    size_text = ", ".join(
        f"{_SIZE_SHORT[c]} = {fmt(v)}" for c, v in zip(size_cols, size, strict=True)
    )
    ax.set_title(size_text, fontsize=FONT_PT)
    levels = (
        _select_levels(_level_table(mtl, measure), alphas, amis, max_levels) if len(mtl) else mtl
    )
    if mtl.empty or levels.empty:
        no_data(ax, f"MTL rows at {size_text}{_where(experiment)}")
        return fig
    mtl["_level"] = _level_key(mtl, measure)[0]
    stl_pts = (
        pool_stats(stl[np.isclose(stl[size_cols[0]], size[0])], ["n_tasks"]) if len(stl) else None
    )
    palette = colors(len(levels))
    for i, (level, label) in enumerate(zip(levels["level"], levels["label"], strict=True)):
        pts = pool_stats(mtl[mtl["_level"] == level], ["n_tasks"])
        if stl_pts is not None and len(stl_pts):
            pts = pd.concat([stl_pts, pts], ignore_index=True)
        _f1_curve(
            ax,
            pts,
            "n_tasks",
            label=label,
            color=palette[i],
            marker=MARKERS[(i + 1) % len(MARKERS)],
        )
    if stl_pts is not None and len(stl_pts):
        ax.errorbar(
            stl_pts["n_tasks"],
            stl_pts["test_f1_mean"],
            yerr=np.nan_to_num(stl_pts["test_f1_std"].to_numpy(float)),
            color=_STL_COLOR,
            marker="*",
            markersize=6,
            linestyle="none",
            capsize=2,
            elinewidth=0.7,
            label="STL (T = 1)",
            zorder=4,
        )
    add_legend(ax, below=True)
    return fig


def _calibration_points(data: pd.DataFrame, measure: str = "ami") -> tuple[pd.DataFrame, str]:
    """(alpha, value, value_std) points of ``measure`` and a description of their source."""
    spec = _measure(measure)[0]
    names = measure_columns(measure)
    table_std = f"{names.values}_std"
    cols = set(data.columns)
    if "alpha" not in cols:
        raise ValueError(
            "calibration data lacks column 'alpha'; pass runs.parquet, summary.parquet or a "
            f"calibration table with columns alpha, {names.values}, {table_std}"
        )
    df = data.copy()
    if "n_tasks" in cols:
        df = df[pd.to_numeric(df["n_tasks"], errors="coerce") > 1]
    df["alpha"] = pd.to_numeric(df["alpha"], errors="coerce")
    df = df[df["alpha"].notna()]
    listed = (
        names.values in cols
        and df[names.values].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any()
    )
    if listed:
        per_task = df[["alpha", names.values]].explode(names.values)
        per_task = per_task.rename(columns={names.values: "value"})
        per_task["value"] = pd.to_numeric(per_task["value"], errors="coerce")
        return per_task.dropna().assign(value_std=np.nan), "tasks"
    for col, std, kind in (
        (names.summary_mean, names.summary_std, "configurations"),
        (names.mean, None, "runs"),
        (names.values, table_std, "table"),
    ):
        if col in cols:
            out = pd.DataFrame(
                {
                    "alpha": df["alpha"],
                    "value": pd.to_numeric(df[col], errors="coerce"),
                    "value_std": pd.to_numeric(df[std], errors="coerce") if std in cols else np.nan,
                }
            )
            return out.dropna(subset=["value"]), kind
    raise ValueError(
        f"calibration data has no {spec.symbol} column; it needs '{names.values}' (runs: list "
        f"per task, or a calibration table), '{names.mean}' (runs) or '{names.summary_mean}' "
        "(summary)"
    )


def plot_calibration(
    data: pd.DataFrame,
    *,
    experiment: str | None = None,
    reference: pd.DataFrame | None = None,
    measure: str = "ami",
) -> Figure:
    """The calibration curve: measured AMI (or another measure) to NER against α.

    Parameters
    ----------
    data : pandas.DataFrame
        One of: ``runs.parquet`` (``alpha`` and ``ami``, a list per synthetic
        task, or ``ami_mean``), ``summary.parquet`` (``alpha``, ``ami_mean_mean``,
        ``ami_mean_std``) or a calibration table (``alpha``, ``ami``, ``ami_std``).
        Rows with ``n_tasks == 1`` or no α are ignored.
    experiment : str, optional
        Keep only this experiment's rows (when ``data`` has an ``experiment`` column).
    reference : pandas.DataFrame, optional
        A published mapping to overlay, with ``alpha`` and ``ami`` or
        ``mutual_info`` (e.g. the paper's ``mtl_balanced.csv``; for another measure
        its column or its ``paper_columns``).
    measure : str, default "ami"
        The relatedness measure on the y axis; the columns named above are its
        :func:`mtllaws.relatedness.measure_columns`.

    Returns
    -------
    matplotlib.figure.Figure
        Individual measurements as small grey dots, their mean ± std per α as a line.
    """
    if experiment is not None and "experiment" in data.columns:
        data = data[data["experiment"] == experiment]
    points, kind = _calibration_points(data, measure)
    symbol = _measure(measure)[0].symbol
    fig, ax = new_figure()
    set_labels(
        ax,
        "α (diagonal of the label transition matrix)",
        f"{symbol} to NER",
        f"{symbol} calibration",
    )
    drawn = False
    if len(points):
        single = kind == "table" or points.groupby(points["alpha"].round(6)).size().max() == 1
        if not single:
            ax.scatter(
                points["alpha"],
                points["value"],
                s=4,
                color="0.6",
                linewidths=0,
                zorder=1,
                label={"tasks": "one synthetic task", "runs": "one model"}.get(
                    kind, "one configuration"
                ),
            )
        grouped = points.groupby(points["alpha"].round(6))["value"]
        means = grouped.mean()
        if single:
            stds = points.groupby(points["alpha"].round(6))["value_std"].mean()
        else:
            stds = grouped.std()
        errorbar(
            ax,
            means.index,
            means.to_numpy(),
            stds.reindex(means.index).to_numpy(),
            label="measured, mean ± std",
            color=colors(1)[0],
            marker="o",
            zorder=3,
        )
        drawn = True
    if reference is not None:
        accepted = (measure, *_measure(measure)[0].paper_columns)
        col = next((c for c in accepted if c in reference.columns), accepted[0])
        if "alpha" not in reference.columns or col not in reference.columns:
            paper = f"the paper's table (alpha, {accepted[1]}) or " if len(accepted) > 1 else ""
            raise ValueError(
                f"calibration reference lacks column 'alpha' or {'/'.join(map(repr, accepted))};"
                f" pass {paper}a calibration table (alpha, {measure})"
            )
        ref = reference[["alpha", col]].apply(pd.to_numeric, errors="coerce").dropna()
        ref = ref.groupby("alpha")[col].mean()
        if len(ref):
            ax.plot(
                ref.index,
                ref.to_numpy(),
                linestyle=":",
                marker="x",
                markersize=3.5,
                color="tab:red",
                linewidth=1.0,
                label="published",
                zorder=2,
            )
            drawn = True
    if not drawn:
        no_data(ax, f"MTL rows with α and a measured {symbol}{_where(experiment)}")
        return fig
    add_legend(ax)
    return fig


def plot_all(
    summary: pd.DataFrame,
    outdir: str | os.PathLike,
    *,
    experiment: str,
    runs: pd.DataFrame | None = None,
    calibration: pd.DataFrame | None = None,
    reference: pd.DataFrame | None = None,
    measure: str = "ami",
) -> list[Path]:
    """Write every figure of :data:`FIGURES` for one experiment as PNG and PDF.

    Parameters
    ----------
    summary : pandas.DataFrame
        The summary table.
    outdir : path-like
        Folder of the figures; the files are ``<outdir>/<stem>.<png|pdf>``.
    experiment : str
        The experiment to plot.
    runs : pandas.DataFrame, optional
        The runs table; when given, the calibration curve shows every synthetic task.
    calibration : pandas.DataFrame, optional
        A calibration table (``alpha``, ``ami``, ``ami_std``), used when ``runs``
        is not given. Without either the curve is drawn from ``summary``.
    reference : pandas.DataFrame, optional
        A published α → AMI mapping overlaid on the calibration curve.
    measure : str, default "ami"
        The x axis of ``f1_vs_ami`` (:func:`plot_f1_vs_ami`); the other figures
        keep AMI. The file names do not change.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    outdir = Path(outdir)
    if runs is not None:
        cal_data = runs
    elif calibration is not None:
        cal_data = calibration
    else:
        cal_data = summary
    makers = {
        "f1_vs_n": lambda: plot_f1_vs_n(summary, experiment=experiment),
        "f1_vs_ami": lambda: plot_f1_vs_ami(summary, experiment=experiment, measure=measure),
        "f1_vs_tasks": lambda: plot_f1_vs_tasks(summary, experiment=experiment),
        "ami_vs_alpha": lambda: plot_calibration(
            cal_data, experiment=experiment, reference=reference
        ),
    }
    written = []
    for stem in FIGURES:
        fig = makers[stem]()
        written += save_figure(fig, outdir / stem)
        logger.info("wrote %s/%s.{%s}", outdir, stem, ",".join(FORMATS))
    return written


def plot_measure(summary: pd.DataFrame, outdir: str | os.PathLike, measure: str, *,
                 experiment: str | None = None) -> list[Path]:
    """Draw F1 against one relatedness measure as ``<outdir>/f1_vs_<measure>.{png,pdf}``.

    Parameters
    ----------
    summary : pandas.DataFrame
        The experiment's summary table.
    outdir : path-like
        The figures folder.
    measure : str
        A registered measure (:func:`plot_f1_vs_ami`'s ``measure``).
    experiment : str, optional
        Restrict to one experiment.

    Returns
    -------
    list of Path
        The files written.
    """
    from mtllaws.paths import measure_figure

    stem = Path(outdir) / measure_figure(measure)
    written = save_figure(plot_f1_vs_ami(summary, experiment=experiment, measure=measure), stem)
    logger.info("wrote %s.{%s}", stem, ",".join(FORMATS))
    return written
