"""Compare an experiment's summary with published results, configuration by configuration.

The published table has the columns of the paper's ``mtl_balanced.csv``:
``n_tasks, n_tokens_per_task, n_tokens_total, mutual_info, alpha, fscore`` (F1 in
[0, 1]). A configuration is ``(n_tasks, n_tokens_per_task, alpha)``, with α
rounded to ``alpha_decimals`` decimals on both sides. The single-task baseline
(``n_tasks == 1``) has no synthetic task, so by default its α is ignored and it
matches on ``n_tokens_per_task`` alone. Rows that share a configuration (the
published table repeats some; an AMI-target run may round onto the same α) are
pooled: published F1 is their mean, our F1 the seed-weighted mean with the
pooled standard deviation.

Only balanced rows of the summary can match. A partial run matches fewer
configurations, and zero matches is a result, not an error: every output is
still written and says "0 matching configurations".
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from mtllaws.plotting import new_figure, pool_stats, save_figure
from mtllaws.relatedness import measure_columns
from mtllaws.shards import summary_rows

__all__ = [
    "PUBLISHED_REQUIRED",
    "MERGED_COLUMNS",
    "NO_SOURCE",
    "read_published",
    "compare_summary",
    "comparison_stats",
    "comparison_effects",
    "comparison_markdown",
    "plot_comparison",
    "write_comparison",
]

logger = logging.getLogger(__name__)

#: Columns a published table must have.
PUBLISHED_REQUIRED = ("n_tasks", "n_tokens_per_task", "alpha", "fscore")

_SUMMARY_REQUIRED = ("n_tasks", "n_tokens_per_task", "alpha", "test_f1_mean")

#: Columns of the merged table, in order.
MERGED_COLUMNS = [
    "config",
    "n_tasks",
    "n_tokens_per_task",
    "alpha",
    "published_ami",
    "published_f1",
    "published_rows",
    "ours_ami",
    "ours_f1_mean",
    "ours_f1_std",
    "ours_count",
    "difference",
    "embeddings_source",
]

#: What the comparison says when the summary has no ``embeddings_source`` column.
NO_SOURCE = "not recorded"


def _check_f1_range(values: pd.Series, what: str, column: str) -> None:
    finite = values[np.isfinite(values)]
    if len(finite) and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(
            f"{what}: column '{column}' has values outside [0, 1] (min {finite.min():g}, "
            f"max {finite.max():g}); F1 must be a fraction, e.g. divide percentages by 100"
        )


def read_published(path: str | os.PathLike) -> pd.DataFrame:
    """Read a published results table and check its columns.

    Parameters
    ----------
    path : path-like
        A CSV in the format of the paper's ``mtl_balanced.csv``.

    Returns
    -------
    pandas.DataFrame
        The table with numeric columns.

    Raises
    ------
    ValueError
        The file does not exist, lacks a column of :data:`PUBLISHED_REQUIRED`, or has
        F1 values outside [0, 1].
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"published table '{path}' does not exist; fix the path in the config")
    table = pd.read_csv(path)
    return _check_published(table, f"published table '{path}'")


def _check_published(table: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in PUBLISHED_REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} lacks required column(s) {missing}; it needs {list(PUBLISHED_REQUIRED)} "
            "(the columns of mtl_balanced.csv: n_tasks, n_tokens_per_task, n_tokens_total, "
            "mutual_info, alpha, fscore)"
        )
    table = table.copy()
    for col in (*PUBLISHED_REQUIRED, "mutual_info"):
        if col in table.columns:
            table[col] = pd.to_numeric(table[col], errors="coerce")
    _check_f1_range(table["fscore"], what, "fscore")
    return table


def _config_keys(frame: pd.DataFrame, alpha_decimals: int, stl_any_alpha: bool) -> pd.DataFrame:
    """Add the matching keys ``_t``, ``_n``, ``_a`` (NaN α for STL when ignored) and ``config``."""
    out = frame.copy()
    out["_t"] = out["n_tasks"].round().astype("Int64")
    out["_n"] = out["n_tokens_per_task"].round().astype("Int64")
    alpha = out["alpha"].astype(float).round(alpha_decimals)
    if stl_any_alpha:
        alpha = alpha.where(out["_t"] != 1)
    out["_a"] = alpha
    out = out[out["_t"].notna() & out["_n"].notna()]
    out["config"] = [
        f"T{t}_n{n}" + ("" if not np.isfinite(a) else f"_a{a:g}")
        for t, n, a in zip(out["_t"], out["_n"], out["_a"], strict=True)
    ]
    return out


def compare_summary(
    summary: pd.DataFrame,
    published: pd.DataFrame,
    *,
    experiment: str | None = None,
    alpha_decimals: int = 2,
    stl_any_alpha: bool = True,
) -> pd.DataFrame:
    """Match our configurations with the published ones.

    Parameters
    ----------
    summary : pandas.DataFrame
        Our summary table (``n_tasks``, ``n_tokens_per_task``, ``alpha``,
        ``test_f1_mean``, optionally ``test_f1_std``, ``count``, ``ami_mean_mean``).
    published : pandas.DataFrame
        The published table (see :func:`read_published`).
    experiment : str, optional
        Keep only this experiment's rows of ``summary``.
    alpha_decimals : int, default 2
        α is rounded to this many decimals on both sides before matching.
    stl_any_alpha : bool, default True
        Match ``n_tasks == 1`` rows on ``n_tokens_per_task`` alone.

    Returns
    -------
    pandas.DataFrame
        One row per matched configuration with :data:`MERGED_COLUMNS`;
        ``difference = ours_f1_mean - published_f1``; ``embeddings_source`` says
        where our vectors came from (the summary's column of that name, or
        "not recorded"). Sorted by T, n, α. Empty (with these columns) when nothing
        matches.

    Raises
    ------
    ValueError
        A table lacks a required column, or F1 lies outside [0, 1].
    """
    published = _check_published(published, "published table")
    ours = summary_rows(
        summary, experiment, _SUMMARY_REQUIRED,
        "pass the summary.parquet of the aggregate step",
    )
    ours = ours.copy()
    for col in ("n_tasks", "n_tokens_per_task", "alpha", "test_f1_mean", "test_f1_std", "count"):
        if col in ours.columns:
            ours[col] = pd.to_numeric(ours[col], errors="coerce")
    ours = ours[ours["test_f1_mean"].notna()]
    _check_f1_range(ours["test_f1_mean"], "summary", "test_f1_mean")
    ami = measure_columns("ami").summary_mean
    if ami not in ours.columns:
        ours[ami] = np.nan
    ours = _config_keys(ours, alpha_decimals, stl_any_alpha)
    pub = _config_keys(published, alpha_decimals, stl_any_alpha)
    if "mutual_info" not in pub.columns:
        pub["mutual_info"] = np.nan
    keys = ["config", "_t", "_n", "_a"]
    ours_pooled = pool_stats(ours, keys, extra=[ami]).rename(
        columns={
            "test_f1_mean": "ours_f1_mean",
            "test_f1_std": "ours_f1_std",
            "count": "ours_count",
            ami: "ours_ami",
        }
    )
    pub_pooled = (
        pub.groupby(keys, dropna=False, sort=True)
        .agg(
            published_f1=("fscore", "mean"),
            published_rows=("fscore", "size"),
            published_ami=("mutual_info", "mean"),
        )
        .reset_index()
    )
    if "embeddings_source" in ours.columns:
        sources = ours.groupby("config")["embeddings_source"].agg(
            lambda v: " | ".join(sorted({str(x) for x in v}))
        )
    else:
        sources = pd.Series(NO_SOURCE, index=ours["config"].unique())
    ours_pooled["embeddings_source"] = ours_pooled["config"].map(sources)
    merged = pub_pooled.merge(ours_pooled.drop(columns=["_t", "_n", "_a"]), on="config")
    merged["n_tasks"] = merged["_t"].astype(int)
    merged["n_tokens_per_task"] = merged["_n"].astype(int)
    merged["alpha"] = merged["_a"].astype(float)
    merged["difference"] = merged["ours_f1_mean"] - merged["published_f1"]
    # The baseline has no synthetic task: an AMI averaged over its rows means nothing.
    merged.loc[merged["n_tasks"] == 1, "published_ami"] = np.nan
    merged = merged.sort_values(["n_tasks", "n_tokens_per_task", "alpha"], na_position="first")
    merged = merged[MERGED_COLUMNS].reset_index(drop=True)
    # Counts for comparison_stats; set last so that no later operation drops them.
    merged.attrs["n_ours"] = int(ours_pooled["config"].nunique())
    merged.attrs["n_published"] = int(pub_pooled["config"].nunique())
    merged.attrs["unmatched_ours"] = sorted(set(ours_pooled["config"]) - set(merged["config"]))
    merged.attrs["embeddings_source"] = sorted(set(sources.astype(str)))
    return merged


def comparison_stats(merged: pd.DataFrame) -> dict:
    """Agreement between ours and published F1 over matched configurations.

    Parameters
    ----------
    merged : pandas.DataFrame
        The output of :func:`compare_summary` (its ``attrs`` carry the numbers of
        configurations on each side and the unmatched ones of ours).

    Returns
    -------
    dict
        ``n_matched``; ``pearson_r`` and ``spearman_r`` (None for fewer than 2
        matches or constant values); ``effects`` (:func:`comparison_effects`);
        ``mean_abs_diff``, ``mean_diff`` (ours − published) and
        ``rmse`` (None without matches); ``n_ours``, ``n_published`` and
        ``unmatched_ours`` when known; ``embeddings_source`` (the list of our vector
        sources); ``note``, a one-line summary.
    """
    ours = merged["ours_f1_mean"].to_numpy(float)
    pub = merged["published_f1"].to_numpy(float)
    diff = ours - pub
    n = int(len(merged))
    r = rho = None
    if n >= 2 and np.std(ours) > 0 and np.std(pub) > 0:
        r = float(np.corrcoef(ours, pub)[0, 1])
        ranks_ours, ranks_pub = (pd.Series(x).rank().to_numpy() for x in (ours, pub))
        rho = float(np.corrcoef(ranks_ours, ranks_pub)[0, 1])
    stats = {
        "n_matched": n,
        "pearson_r": r,
        "spearman_r": rho,
        "mean_abs_diff": float(np.mean(np.abs(diff))) if n else None,
        "mean_diff": float(np.mean(diff)) if n else None,
        "rmse": float(np.sqrt(np.mean(diff**2))) if n else None,
    }
    stats["effects"] = comparison_effects(merged)
    for key in ("n_ours", "n_published"):
        if key in merged.attrs:
            stats[key] = int(merged.attrs[key])
    if "unmatched_ours" in merged.attrs:
        stats["unmatched_ours"] = list(merged.attrs["unmatched_ours"])
    sources = merged.attrs.get("embeddings_source")
    if sources is None and "embeddings_source" in merged.columns:
        sources = sorted(set(merged["embeddings_source"].astype(str)))
    stats["embeddings_source"] = list(sources) if sources else [NO_SOURCE]
    of = f" of {stats['n_ours']} of ours" if "n_ours" in stats else ""
    if n == 0:
        stats["note"] = f"0 matching configurations{of}"
    else:
        rtext = "n/a" if r is None else f"{r:.3f}"
        rhotext = "n/a" if rho is None else f"{rho:.3f}"
        stats["note"] = (
            f"{n} matching configuration{'s' if n != 1 else ''}{of}: Pearson r = {rtext}, "
            f"Spearman r = {rhotext}, mean |ours - published| = {stats['mean_abs_diff']:.4f}"
        )
    return stats


def _effect(rows: pd.DataFrame, by: str, what: str, where: str) -> dict:
    """High minus low ``by`` of ours and published F1 over ``rows`` (one row per level)."""
    rows = rows.sort_values(by)
    lo, hi = rows.iloc[0], rows.iloc[-1]
    ours = float(hi["ours_f1_mean"] - lo["ours_f1_mean"])
    std = float(np.hypot(np.nan_to_num(hi["ours_f1_std"]), np.nan_to_num(lo["ours_f1_std"])))
    pub = float(hi["published_f1"] - lo["published_f1"])
    return {
        "what": what,
        "where": where,
        "from": float(lo[by]),
        "to": float(hi[by]),
        "ours": ours,
        "ours_std": std,
        "ours_count": int(min(hi["ours_count"], lo["ours_count"])),
        "published": pub,
        "ratio": ours / pub if pub else None,
    }


def comparison_effects(merged: pd.DataFrame) -> dict:
    """The three effect sizes of the paper, ours beside the published, on matched rows.

    * ``n_gain``: single-task F1 at the largest matched n minus at the smallest;
    * ``ami_effect``: T = 2 F1 at the highest α minus at the lowest, at the n with the
      most α levels;
    * ``t_effect``: F1 at the largest T minus at the smallest T >= 2, at the (n, α)
      with the most T levels.

    Parameters
    ----------
    merged : pandas.DataFrame
        The output of :func:`compare_summary`.

    Returns
    -------
    dict
        Per effect (None where fewer than two levels matched): ``what``, ``where``,
        ``from``/``to`` (the levels), ``ours`` with ``ours_std`` (the seeds' spread of
        the difference, their stds added in quadrature) and ``ours_count`` (seeds),
        ``published`` and ``ratio`` (ours / published).
    """
    out: dict = {"n_gain": None, "ami_effect": None, "t_effect": None}
    if merged.empty:
        return out
    stl = merged[merged["n_tasks"] == 1]
    if stl["n_tokens_per_task"].nunique() >= 2:
        out["n_gain"] = _effect(stl, "n_tokens_per_task", "STL F1, largest n - smallest n",
                                "T = 1")
    t2 = merged[merged["n_tasks"] == 2]
    if len(t2):
        levels = t2.groupby("n_tokens_per_task")["alpha"].nunique()
        n = levels.idxmax()
        if levels[n] >= 2:
            out["ami_effect"] = _effect(t2[t2["n_tokens_per_task"] == n], "alpha",
                                        "T = 2 F1, highest alpha - lowest alpha",
                                        f"T = 2, n = {int(n)}")
    mtl = merged[merged["n_tasks"] >= 2]
    if len(mtl):
        levels = mtl.groupby(["n_tokens_per_task", "alpha"])["n_tasks"].nunique()
        key = levels.idxmax()
        if levels[key] >= 2:
            rows = mtl[(mtl["n_tokens_per_task"] == key[0]) & (mtl["alpha"] == key[1])]
            out["t_effect"] = _effect(rows, "n_tasks", "F1, largest T - smallest T",
                                      f"n = {int(key[0])}, alpha = {key[1]:g}")
    return out


def _effects_markdown(effects: dict) -> list[str]:
    rows = [e for e in effects.values() if e]
    if not rows:
        return []
    lines = [
        "| effect | where | levels | ours (mean ± seeds' std) | published | ours / published |",
        "|---|---|---|---|---|---|",
    ]
    for e in rows:
        ratio = "" if e["ratio"] is None else f"{e['ratio']:.2f}"
        lines.append(
            f"| {e['what']} | {e['where']} | {e['from']:g} → {e['to']:g} | "
            f"{e['ours']:+.3f} ± {e['ours_std']:.3f} ({e['ours_count']} seeds) | "
            f"{e['published']:+.3f} | {ratio} |"
        )
    return lines + [""]


def _md_cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def comparison_markdown(merged: pd.DataFrame, stats: dict, *, title: str | None = None) -> str:
    """The merged table as Markdown, preceded by the agreement summary.

    Parameters
    ----------
    merged : pandas.DataFrame
        The output of :func:`compare_summary`.
    stats : dict
        The output of :func:`comparison_stats`.
    title : str, optional
        A level-1 heading.

    Returns
    -------
    str
        Markdown text ending in a newline.
    """
    lines = [f"# {title}", ""] if title else []
    lines += [stats["note"] + ".", ""]
    sources = stats.get("embeddings_source") or [NO_SOURCE]
    lines += ["Our embeddings: " + "; ".join(f"`{x}`" for x in sources) + ".", ""]
    lines += _effects_markdown(stats.get("effects") or comparison_effects(merged))
    unmatched = stats.get("unmatched_ours") or []
    if unmatched:
        shown = ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else "")
        lines += [f"Configurations of ours without a published counterpart: {shown}", ""]
    if len(merged):
        cols = list(merged.columns)
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        for row in merged.itertuples(index=False):
            lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_comparison(merged: pd.DataFrame, stats: dict, *, title: str | None = None):
    """Scatter of our mean F1 against the published F1, with the identity line.

    Parameters
    ----------
    merged : pandas.DataFrame
        The output of :func:`compare_summary`.
    stats : dict
        The output of :func:`comparison_stats`; r, the mean absolute difference and
        the number of matches are written in the plot.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        STL and MTL configurations in different markers; error bars are our std.
    """
    fig, ax = new_figure(height=3.0)
    ax.set_xlabel("published NER test F1", fontsize=8)
    ax.set_ylabel("our NER test F1 (mean ± std)", fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    lo, hi = 0.0, 1.0
    if len(merged):
        values = np.concatenate([merged["ours_f1_mean"], merged["published_f1"]])
        pad = 0.05 * max(values.max() - values.min(), 0.05)
        lo, hi = max(0.0, values.min() - pad), min(1.0, values.max() + pad)
    ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", linewidth=0.8, label="y = x")
    for is_stl, label, marker, color, zorder in (
        (True, "STL (T = 1)", "o", "black", 3),
        (False, "MTL (T > 1)", "s", "tab:blue", 2),
    ):
        part = merged[(merged["n_tasks"] == 1) == is_stl]
        if part.empty:
            continue
        ax.errorbar(
            part["published_f1"],
            part["ours_f1_mean"],
            yerr=np.nan_to_num(part["ours_f1_std"].to_numpy(float)),
            linestyle="none",
            marker=marker,
            markersize=3.5,
            color=color,
            elinewidth=0.7,
            capsize=1.5,
            label=label,
            zorder=zorder,
        )
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    if stats["n_matched"]:
        r = stats["pearson_r"]
        text = (
            f"N = {stats['n_matched']}\nr = {'n/a' if r is None else f'{r:.3f}'}\n"
            f"mean |ours − published| = {stats['mean_abs_diff']:.3f}"
        )
        ax.text(0.97, 0.03, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    else:
        ax.text(
            0.5,
            0.5,
            stats["note"],
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=8,
        )
    sources = stats.get("embeddings_source") or [NO_SOURCE]
    # A figure-level x label, so that the constrained layout makes room for it below
    # the axes' own x label (a plain fig.text overlapped it).
    fig.supxlabel("embeddings: " + "; ".join(_short_source(x) for x in sources),
                  x=0.01, ha="left", fontsize=5, color="0.3")
    handles, _ = ax.get_legend_handles_labels()
    if not handles:
        handles = [Line2D([], [], color="0.5", linestyle="--", label="y = x")]
    ax.legend(handles=handles, fontsize=7, loc="upper left", framealpha=0.85)
    return fig


def _short_source(source: str) -> str:
    """A source label short enough for a figure: the hash cut to 12 hex digits."""
    head, sep, digest = str(source).partition(" sha256=")
    return f"{head}{sep}{digest[:12]}" if sep else str(source)


def write_comparison(
    summary: pd.DataFrame,
    published_path: str | os.PathLike,
    *,
    csv: str | os.PathLike,
    markdown: str | os.PathLike,
    stats_json: str | os.PathLike,
    plot_stem: str | os.PathLike,
    experiment: str | None = None,
    alpha_decimals: int = 2,
    stl_any_alpha: bool = True,
) -> dict:
    """Compare a summary with a published table and write every output.

    Parameters
    ----------
    summary : pandas.DataFrame
        Our summary table.
    published_path : path-like
        The published CSV (see :func:`read_published`).
    csv, markdown, stats_json : path-like
        Where to write the merged table, its Markdown version and the statistics.
    plot_stem : path-like
        The plot is written as ``<plot_stem>.png`` and ``<plot_stem>.pdf``.
    experiment : str, optional
        Keep only this experiment's rows of ``summary``.
    alpha_decimals : int, default 2
        See :func:`compare_summary`.
    stl_any_alpha : bool, default True
        See :func:`compare_summary`.

    Returns
    -------
    dict
        The statistics (as written to ``stats_json``).
    """
    published = read_published(published_path)
    merged = compare_summary(
        summary,
        published,
        experiment=experiment,
        alpha_decimals=alpha_decimals,
        stl_any_alpha=stl_any_alpha,
    )
    stats = comparison_stats(merged)
    stats["published"] = str(published_path)
    if experiment is not None:
        stats["experiment"] = experiment
    title = f"{experiment} vs published" if experiment else "ours vs published"
    from mtllaws.atomic import atomic_write_text

    atomic_write_text(csv, merged.to_csv(index=False))
    atomic_write_text(markdown, comparison_markdown(merged, stats, title=title))
    atomic_write_text(stats_json, json.dumps(stats, indent=2) + "\n")
    save_figure(plot_comparison(merged, stats, title=title), plot_stem)
    logger.info("%s", stats["note"])
    return stats

