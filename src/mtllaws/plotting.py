"""The plotting toolkit: one-column figures, pooled statistics, atomic figure files.

The house style of every figure of the package (:mod:`mtllaws.figures`,
:mod:`mtllaws.compare`, the regression plots): a :class:`matplotlib.figure.Figure`
one paper column wide (:data:`COLUMN_WIDTH_IN`, text of 7 pt or more), built
without ``pyplot`` so no global state or GUI backend is involved; error-bar curves
(:func:`errorbar`) in viridis colours (:func:`colors`); a legend inside or below the
axes (:func:`add_legend`); "no data for ..." on an empty selection
(:func:`no_data`). :func:`pool_stats` merges summary rows (mean, std, count per
configuration) into one point; :func:`pick_levels` chooses a few spread values to
show. :func:`save_figure` writes PNG and PDF through :mod:`mtllaws.atomic`.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mtllaws.atomic import atomic_path
from mtllaws.paths import FIGURE_FORMATS

__all__ = [
    "COLUMN_WIDTH_IN",
    "HEIGHT_IN",
    "FONT_PT",
    "SMALL_PT",
    "MARKERS",
    "FORMATS",
    "pick_levels",
    "pool_stats",
    "new_figure",
    "set_labels",
    "add_legend",
    "no_data",
    "errorbar",
    "colors",
    "auto_logx",
    "fmt",
    "save_figure",
]

#: Width of one column of a two-column paper, in inches.
COLUMN_WIDTH_IN = 3.4
#: Default figure height, in inches.
HEIGHT_IN = 2.6
#: Size of axis labels and titles, in points.
FONT_PT = 8
#: Size of tick labels and legends, in points (the smallest text).
SMALL_PT = 7
#: Markers of successive curves.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
#: Formats written by :func:`save_figure` (the registry's :data:`mtllaws.paths.FIGURE_FORMATS`).
FORMATS = FIGURE_FORMATS


def pick_levels(values, k: int = 4) -> list[float]:
    """Choose up to ``k`` distinct values spread evenly over the sorted distinct values.

    Parameters
    ----------
    values : array-like of float
        Candidate values; NaN is ignored and duplicates count once.
    k : int, default 4
        The most values to return.

    Returns
    -------
    list of float
        All distinct values when there are at most ``k``; otherwise the smallest,
        the largest and values at evenly spaced ranks between them. Sorted.

    Raises
    ------
    ValueError
        ``k`` is smaller than 1.
    """
    if k < 1:
        raise ValueError(f"pick_levels: k = {k}; ask for at least one level")
    arr = np.asarray(values, dtype=float)
    distinct = np.unique(arr[~np.isnan(arr)])
    if distinct.size <= k:
        return distinct.tolist()
    ranks = np.unique(np.round(np.linspace(0, distinct.size - 1, k)).astype(int))
    return distinct[ranks].tolist()


def pool_stats(
    frame: pd.DataFrame,
    by: Sequence[str],
    *,
    mean: str = "test_f1_mean",
    std: str = "test_f1_std",
    count: str = "count",
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Merge rows that share ``by`` into one, pooling means and standard deviations.

    Each row summarises ``count`` seeds by a mean and a sample standard deviation.
    The pooled mean is the count-weighted mean; the pooled standard deviation is
    the sample standard deviation of all seeds together. A row with one seed (or
    a NaN std) adds no within-row spread.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows to pool.
    by : sequence of str
        Grouping columns.
    mean, std, count : str
        Columns of the mean, the sample std and the number of seeds. A missing
        ``count`` column counts every row as one seed; a missing ``std`` as 0.
    extra : sequence of str
        Further columns to average with the same weights, ignoring NaN
        (e.g. ``ami_mean_mean``).

    Returns
    -------
    pandas.DataFrame
        ``by``, then ``mean``, ``std``, ``count`` and ``extra`` (same names),
        sorted by ``by``. ``std`` is NaN where the pooled count is 1.
    """
    by = list(by)
    c = frame[count].astype(float) if count in frame else pd.Series(1.0, index=frame.index)
    c = c.fillna(1.0).clip(lower=1.0)
    m = frame[mean].astype(float)
    s = frame[std].astype(float) if std in frame else pd.Series(0.0, index=frame.index)
    s = s.where((c > 1) & s.notna(), 0.0)
    work = frame[by].copy()
    work["_c"] = c
    work["_w"] = c * m
    work["_cm2"] = c * m * m
    work["_q"] = (c - 1.0) * s * s
    for col in extra:
        x = frame[col].astype(float)
        work[f"_x_{col}"] = (c * x).where(x.notna())
        work[f"_cx_{col}"] = c.where(x.notna())
    sums = work.groupby(by, dropna=False, sort=True).sum(min_count=1).reset_index()
    n = sums["_c"]
    pooled_mean = sums["_w"] / n
    var = (sums["_q"] + sums["_cm2"] - n * pooled_mean**2) / (n - 1.0)
    out = sums[by].copy()
    out[mean] = pooled_mean
    out[std] = np.sqrt(var.clip(lower=0.0)).where(n > 1)
    out[count] = n.astype(int)
    for col in extra:
        out[col] = sums[f"_x_{col}"] / sums[f"_cx_{col}"]
    return out


def new_figure(height: float = HEIGHT_IN) -> tuple[Figure, object]:
    """A one-axes figure one paper column wide, with 7 pt tick labels.

    Parameters
    ----------
    height : float
        Height in inches.

    Returns
    -------
    (Figure, Axes)
    """
    fig = Figure(figsize=(COLUMN_WIDTH_IN, height), layout="constrained")
    ax = fig.add_subplot()
    ax.tick_params(labelsize=SMALL_PT)
    return fig, ax


def set_labels(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Axis labels (and a title) at 8 pt.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    xlabel, ylabel : str
    title : str, optional
    """
    ax.set_xlabel(xlabel, fontsize=FONT_PT)
    ax.set_ylabel(ylabel, fontsize=FONT_PT)
    if title:
        ax.set_title(title, fontsize=FONT_PT)


def add_legend(ax, handles=None, *, below: bool = False) -> None:
    """A 7 pt legend: inside the axes, or below them in two columns (``below``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    handles : list of artists, optional
        Default: the axes' labelled artists.
    below : bool, default False
        Put the legend below the axes, outside them (the figure needs room:
        a constrained layout does it).
    """
    if handles is None:
        handles = ax.get_legend_handles_labels()[0]
    if below:
        ax.figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(2, len(handles)),
            fontsize=SMALL_PT,
            handlelength=1.6,
            columnspacing=1.0,
            frameon=False,
        )
    else:
        ax.legend(handles=handles, fontsize=SMALL_PT, handlelength=1.6, framealpha=0.85, loc="best")


def no_data(ax, what: str) -> None:
    """Write "no data for <what>" in the middle of an empty axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes; its labels are kept so the figure still says what it would show.
    what : str
        What is missing, e.g. ``"STL or MTL rows of experiment 'x'"``.
    """
    ax.text(
        0.5,
        0.5,
        textwrap.fill(f"no data for {what}", 40),
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=FONT_PT,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def errorbar(ax, x, y, yerr, *, label, color, marker, linestyle="-", zorder=2) -> None:
    """Mean ± std points joined in x order, the house style of every curve.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x, y, yerr : array-like of float
        Points and their error bars (NaN error = no bar).
    label : str
        Legend label.
    color, marker, linestyle, zorder
        Matplotlib styling.
    """
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    yerr = np.nan_to_num(np.asarray(yerr, dtype=float)[order], nan=0.0)
    ax.errorbar(
        x[order],
        np.asarray(y, dtype=float)[order],
        yerr=yerr,
        label=label,
        color=color,
        marker=marker,
        markersize=3.5,
        linewidth=1.0,
        elinewidth=0.7,
        capsize=2,
        linestyle=linestyle,
        zorder=zorder,
    )


def colors(k: int) -> list:
    """``k`` colours of the viridis map, dark to light (yellow end left out).

    Parameters
    ----------
    k : int

    Returns
    -------
    list of RGBA tuples
    """
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.85, max(k, 1))]


def auto_logx(ax, values) -> None:
    """Use a log x axis with plain tick labels when the values span a factor of 10 or more.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    values : array-like of float
        The x values drawn.
    """
    v = np.asarray(values, dtype=float)
    v = np.unique(v[np.isfinite(v) & (v > 0)])
    if not v.size or v.max() / v.min() < 10:
        return
    ax.set_xscale("log")
    if v.size <= 6:
        ax.set_xticks(v)
    else:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def fmt(value) -> str:
    """A number as short text (``format(value, "g")``)."""
    return f"{value:g}"


def save_figure(
    fig: Figure, stem: str | os.PathLike, *, formats: Sequence[str] = FORMATS, dpi: int = 300
) -> list[Path]:
    """Write ``fig`` as ``<stem>.<format>`` for every format, each atomically.

    Each file is written through :func:`mtllaws.atomic.atomic_path` (a temporary
    file in the same folder, renamed into place, with the permissions of a new
    file), so a killed job leaves the old file or the new one, never half of one.
    PDFs carry no creation date, so reruns give identical bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    stem : path-like
        Path without suffix; its folder is created if needed.
    formats : sequence of str, default ("png", "pdf")
        Formats, used as suffixes.
    dpi : int, default 300
        Resolution of raster formats.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of ``formats``.
    """
    stem = Path(stem)
    written = []
    for fmt_ in formats:
        path = stem.parent / f"{stem.name}.{fmt_}"
        metadata = {"CreationDate": None} if fmt_ == "pdf" else None
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt_, dpi=dpi, metadata=metadata)
        written.append(path)
    return written
