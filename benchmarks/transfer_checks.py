"""The paired-by-seed figures of issue 18's transfer presets, from their runs tables.

Usage (after ``snakemake --cores 2 --configfile config/experiments/<preset>.yaml``)::

    python benchmarks/transfer_checks.py alignment results
    python benchmarks/transfer_checks.py reweighting results
    python benchmarks/transfer_checks.py capacity results

``results`` holds one folder per experiment; every ``<preset>_*/runs.parquet`` is read
(alignment_none and alignment_aux; reweighting_none and reweighting_svd; capacity_h10 ...).
Markdown goes to stdout:

* **alignment**: per (n, alpha, rotation) and per seed, the F1 cost of rotation without
  alignment, ``F1(none, rot) − F1(none, 0)``, the F1 that ``align: aux`` recovers,
  ``F1(aux, rot) − F1(none, rot)``, and the recovered share ``recovered / −cost``, written
  "cost within noise" when ``|cost|`` is below the seeds' spread (the sample std over seeds
  of ``F1(none, 0)``) instead of dividing by about zero; then the T = 1 check: the STL rows
  of both experiments are equal (``aux`` pins NER's map to the identity).
* **reweighting**: per alpha pattern and n, NER test F1 with and without svd weights per
  seed and the paired difference, and the mean svd weight of every task (NER first).
* **capacity**: per hidden size and alpha, transfer = F1(MTL) − F1(STL) paired by seed
  (same hidden, n, seed), mean ± std, and its trend against hidden (slope per decade of
  hidden over the per-seed values, and Spearman's rho of the means).

The functions are pure (a runs table in, a table or text out) and tested in
``tests/test_transfer_checks.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mtllaws.effects import format_spread, spread

N = "n_tokens_per_task"
PRESETS = ("alignment", "reweighting", "capacity")


def load_runs(results: str | Path, preset: str) -> pd.DataFrame:
    """Every ``<results>/<preset>_*/runs.parquet``, concatenated (ValueError when none)."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: choose one of {PRESETS}")
    paths = sorted(Path(results).glob(f"{preset}_*/runs.parquet"))
    if not paths:
        raise ValueError(
            f"no {preset}_*/runs.parquet under {results}; run the preset first "
            f"(snakemake --cores 2 --configfile config/experiments/{preset}.yaml)"
        )
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def _pm(values) -> str:
    """``mean ± std (count)`` of the finite values, signed (``effects.format_spread``)."""
    return format_spread(spread(values), sign=True)


def _arm(runs: pd.DataFrame, column: str, fallback: str) -> pd.Series:
    """The arm of each run: the column when present, else the experiment's name suffix."""
    if column in runs.columns:
        return runs[column].astype(str)
    return runs["experiment"].str.rsplit("_", n=1).str[-1].rename(fallback)


# ----------------------------------------------------------------------------- alignment


def alignment_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (n, alpha, rotation, seed): cost of rotation, F1 recovered by aux, share.

    Returns
    -------
    pandas.DataFrame
        Columns ``n, alpha, rotation, seed, f1_none_0, f1_none, f1_aux, cost, recovered,
        spread, share, note``; ``spread`` is the sample std over seeds of ``F1(none, 0)``
        at that (n, alpha); ``share`` is NaN with ``note = "cost within noise"`` when
        ``|cost| < spread`` (or when the spread is unknown and the cost is 0).
    """
    runs = runs.assign(arm=_arm(runs, "align", "align"), rotation=runs["rotation"].fillna(0.0))
    mtl = runs[runs["n_tasks"] > 1]
    f1 = mtl.pivot_table(index=[N, "alpha", "rotation", "seed"], columns="arm",
                         values="test_f1", aggfunc="first")
    missing = {"none", "aux"} - set(f1.columns)
    if missing:
        raise ValueError(f"the runs lack the align arm(s) {sorted(missing)}: run both "
                         "experiments of the alignment preset")
    base = f1["none"].xs(0.0, level="rotation")
    spread = base.groupby(level=[0, 1]).std(ddof=1)
    rows = []
    for (n, alpha, rotation, seed), row in f1.iterrows():
        f1_none_0 = base.get((n, alpha, seed), np.nan)
        cost = row["none"] - f1_none_0
        recovered = row["aux"] - row["none"]
        noise = spread.get((n, alpha), np.nan)
        within = abs(cost) < noise if noise == noise else cost == 0
        rows.append({
            "n": n, "alpha": alpha, "rotation": rotation, "seed": seed,
            "f1_none_0": f1_none_0, "f1_none": row["none"], "f1_aux": row["aux"],
            "cost": cost, "recovered": recovered, "spread": noise,
            "share": np.nan if within else recovered / -cost,
            "note": "cost within noise" if within else "",
        })
    return pd.DataFrame(rows)


def stl_check(runs: pd.DataFrame) -> pd.DataFrame:
    """The STL rows of both alignment arms side by side: per (n, seed), F1 and difference."""
    runs = runs.assign(arm=_arm(runs, "align", "align"))
    stl = runs[runs["n_tasks"] == 1].pivot_table(index=[N, "seed"], columns="arm",
                                                 values="test_f1", aggfunc="first")
    stl = stl.reindex(columns=["none", "aux"])
    return stl.assign(diff=stl["aux"] - stl["none"]).reset_index()


def alignment_report(runs: pd.DataFrame) -> str:
    """The Markdown of the alignment checks."""
    table = alignment_table(runs)
    out = ["## Alignment: cost of rotation and what align aux recovers (test F1, by seed)\n",
           "| n | alpha | rotation | seed | F1 none, 0 | F1 none | F1 aux | cost | recovered "
           "| share |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        share = r.note or f"{r.share:.2f}"
        out.append(f"| {r.n:g} | {r.alpha:g} | {r.rotation:g} | {r.seed} | {r.f1_none_0:.4f} "
                   f"| {r.f1_none:.4f} | {r.f1_aux:.4f} | {r.cost:+.4f} | {r.recovered:+.4f} "
                   f"| {share} |")
    out += ["\n## Over seeds (mean ± std (seeds))\n",
            "| n | alpha | rotation | cost | recovered | share of the means | seeds' spread |",
            "|---|---|---|---|---|---|---|"]
    for (n, alpha, rotation), g in table.groupby(["n", "alpha", "rotation"]):
        cost, rec, noise = g["cost"].mean(), g["recovered"].mean(), g["spread"].iloc[0]
        within = abs(cost) < noise if noise == noise else cost == 0
        share = "cost within noise" if within else f"{rec / -cost:.2f}"
        out.append(f"| {n:g} | {alpha:g} | {rotation:g} | {_pm(g['cost'])} | "
                   f"{_pm(g['recovered'])} | {share} | {noise:.4f} |")
    stl = stl_check(runs)
    out.append("\n## T = 1: STL rows of both experiments\n")
    if stl.empty:
        out.append("no STL rows")
    else:
        diff = stl["diff"].abs().max()
        verdict = "equal" if diff == 0 else f"differ (largest |ΔF1| {diff:.2e})"
        out.append(f"{len(stl)} (n, seed) pairs; align none and aux {verdict}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- reweighting


def _weights(values) -> list[float] | None:
    if values is None or (isinstance(values, float) and np.isnan(values)):
        return None
    values = list(values)
    return [float(v) for v in values] if values else None


def reweighting_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (alpha pattern, n, seed): NER test F1 without and with svd weights, difference.

    The arm of a run is ``svd`` when it carries ``task_weights``, else ``none``.
    """
    arm = (runs["task_weights"].map(lambda w: "svd" if _weights(w) else "none")
           if "task_weights" in runs.columns else pd.Series("none", index=runs.index))
    pattern = runs["alpha_pattern"] if "alpha_pattern" in runs.columns else ""
    mtl = runs.assign(arm=arm, pattern=pattern)[runs["n_tasks"] > 1]
    f1 = mtl.pivot_table(index=["pattern", N, "seed"], columns="arm", values="test_f1",
                         aggfunc="first").reindex(columns=["none", "svd"])
    return f1.assign(diff=f1["svd"] - f1["none"]).reset_index().rename(columns={N: "n"})


def svd_weights_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of every task's svd weight, per (alpha pattern, n)."""
    if "task_weights" not in runs.columns:
        return pd.DataFrame(columns=["pattern", "n", "task", "mean", "std", "seeds"])
    rows = []
    svd = runs[runs["task_weights"].map(lambda w: _weights(w) is not None)]
    for (pattern, n), g in svd.groupby(["alpha_pattern", N]):
        weights = np.array([_weights(w) for w in g["task_weights"]])
        for t in range(weights.shape[1]):
            rows.append({"pattern": pattern, "n": n, "task": t, "mean": weights[:, t].mean(),
                         "std": weights[:, t].std(ddof=1) if len(weights) > 1 else np.nan,
                         "seeds": len(weights)})
    return pd.DataFrame(rows)


def reweighting_report(runs: pd.DataFrame) -> str:
    """The Markdown of the reweighting checks."""
    table = reweighting_table(runs)
    out = ["## Reweighting: NER test F1 without and with svd weights (by seed)\n",
           "| pattern | n | seed | F1 none | F1 svd | svd − none |", "|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        out.append(f"| {r.pattern or '(one alpha)'} | {r.n:g} | {r.seed} | {r.none:.4f} | "
                   f"{r.svd:.4f} | {r.diff:+.4f} |")
    out += ["\n## Paired difference over seeds\n", "| pattern | n | svd − none |",
            "|---|---|---|"]
    for (pattern, n), g in table.groupby(["pattern", "n"]):
        out.append(f"| {pattern or '(one alpha)'} | {n:g} | {_pm(g['diff'])} |")
    weights = svd_weights_table(runs)
    out += ["\n## Mean svd weight per task (task 0 = NER)\n", "| pattern | n | weights |",
            "|---|---|---|"]
    for (pattern, n), g in weights.groupby(["pattern", "n"]):
        text = ", ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(g["mean"], g["std"], strict=True))
        out.append(f"| {pattern or '(one alpha)'} | {n:g} | {text} |")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- capacity


def capacity_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (hidden, n, alpha, seed): F1 of MTL and of STL (same hidden, n, seed), transfer."""
    if "hidden" not in runs.columns:
        raise ValueError("the runs lack the 'hidden' column: rerun the capacity preset with a "
                         "version that records it")
    stl = runs[runs["n_tasks"] == 1].set_index(["hidden", N, "seed"])["test_f1"]
    mtl = runs[runs["n_tasks"] > 1]
    rows = []
    for r in mtl.itertuples(index=False):
        base = stl.get((r.hidden, getattr(r, N), r.seed), np.nan)
        rows.append({"hidden": int(r.hidden), "n": getattr(r, N), "alpha": r.alpha,
                     "seed": r.seed, "f1_mtl": r.test_f1, "f1_stl": base,
                     "transfer": r.test_f1 - base})
    return pd.DataFrame(rows).sort_values(["alpha", "n", "hidden", "seed"], ignore_index=True)


def capacity_trend(table: pd.DataFrame) -> pd.DataFrame:
    """Per (n, alpha): slope of transfer per decade of hidden, and rho of the means."""
    from scipy.stats import spearmanr

    rows = []
    for (n, alpha), g in table.dropna(subset=["transfer"]).groupby(["n", "alpha"]):
        slope = (np.polyfit(np.log10(g["hidden"]), g["transfer"], 1)[0]
                 if g["hidden"].nunique() > 1 else np.nan)
        means = g.groupby("hidden")["transfer"].mean()
        rho = spearmanr(means.index, means.values).statistic if len(means) > 2 else np.nan
        rows.append({"n": n, "alpha": alpha, "slope_per_decade": slope, "rho": rho,
                     "hidden": list(means.index), "transfer_mean": list(means.values)})
    return pd.DataFrame(rows)


def capacity_report(runs: pd.DataFrame) -> str:
    """The Markdown of the capacity checks."""
    table = capacity_table(runs)
    out = ["## Capacity: transfer = F1(MTL) − F1(STL), paired by seed\n",
           "| n | alpha | hidden | F1 STL | F1 MTL | transfer |", "|---|---|---|---|---|---|"]
    for (n, alpha, hidden), g in table.groupby(["n", "alpha", "hidden"]):
        out.append(f"| {n:g} | {alpha:g} | {hidden} | {_pm(g['f1_stl'])} | "
                   f"{_pm(g['f1_mtl'])} | {_pm(g['transfer'])} |")
    out += ["\n## Trend of transfer against hidden\n",
            "| n | alpha | slope per decade of hidden | Spearman rho (means) |",
            "|---|---|---|---|"]
    for r in capacity_trend(table).itertuples(index=False):
        out.append(f"| {r.n:g} | {r.alpha:g} | {r.slope_per_decade:+.4f} | {r.rho:.2f} |")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- figures


def alignment_figure(runs: pd.DataFrame, stem: str | Path) -> list[Path]:
    """NER test F1 against the input rotation, align none (solid) and aux (dashed).

    One line per (n, alpha) and arm; points are the mean over seeds, bars their std.
    Written as ``<stem>.png`` and ``<stem>.pdf`` through :func:`mtllaws.plotting.save_figure`.
    """
    from mtllaws.plotting import add_legend, colors, errorbar, new_figure, save_figure, set_labels

    mtl = runs[runs["n_tasks"] > 1].assign(arm=_arm(runs, "align", "align"))
    cases = sorted(mtl.groupby(["n_tokens_per_task", "alpha"]).groups)
    fig, ax = new_figure(height=3.2)
    for color, (n, alpha) in zip(colors(len(cases)), cases, strict=True):
        case = mtl[(mtl["n_tokens_per_task"] == n) & (mtl["alpha"] == alpha)]
        for arm, style, marker in (("none", "-", "o"), ("aux", "--", "s")):
            stats = (case[case["arm"] == arm].groupby("rotation")["test_f1"]
                     .agg(["mean", "std"]).reset_index())
            errorbar(ax, stats["rotation"], stats["mean"], stats["std"], color=color,
                     marker=marker, linestyle=style,
                     label=f"n={int(n)} α={alpha:g} {arm}")
    ax.set_xticks(sorted(mtl["rotation"].unique()))
    set_labels(ax, "rotation of the auxiliary inputs (degrees)", "NER test F1 (mean ± std, seeds)")
    add_legend(ax, below=True)
    return save_figure(fig, stem)


def capacity_figure(runs: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Transfer (MTL − STL, paired by seed) against the hidden size, one line per alpha."""
    from mtllaws.plotting import add_legend, colors, errorbar, new_figure, save_figure, set_labels

    table = capacity_table(runs)
    fig, ax = new_figure()
    levels = sorted(table["alpha"].unique())
    for color, alpha in zip(colors(len(levels)), levels, strict=True):
        stats = (table[table["alpha"] == alpha].groupby("hidden")["transfer"]
                 .agg(["mean", "std"]).reset_index())
        errorbar(ax, stats["hidden"], stats["mean"], stats["std"], color=color, marker="o",
                 label=f"α={alpha:g}")
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    ax.set_xscale("log")
    set_labels(ax, "BiLSTM hidden size", "transfer: MTL − STL F1 (mean ± std, seeds)")
    add_legend(ax)
    return save_figure(fig, stem)


FIGURES = {"alignment": alignment_figure, "capacity": capacity_figure}


REPORTS = {"alignment": alignment_report, "reweighting": reweighting_report,
           "capacity": capacity_report}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=PRESETS)
    parser.add_argument("results", help="the folder holding <preset>_*/runs.parquet")
    parser.add_argument("--figure", metavar="STEM",
                        help="also write the preset's figure as STEM.png and STEM.pdf "
                             f"(presets {sorted(FIGURES)})")
    args = parser.parse_args(argv)
    runs = load_runs(args.results, args.preset)
    print(REPORTS[args.preset](runs), end="")
    if args.figure:
        if args.preset not in FIGURES:
            parser.error(f"no figure for {args.preset!r}; figures exist for {sorted(FIGURES)}")
        FIGURES[args.preset](runs, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
