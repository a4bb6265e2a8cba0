"""The figures behind docs/findings/relatedness.md, from an experiment's runs table.

Usage (after ``snakemake --cores 2 --configfile config/experiments/relatedness.yaml``)::

    python benchmarks/relatedness_checks.py results/relatedness/runs.parquet

Prints, for issue 17's real-corpus acceptance and the findings:

* ``cov_rv`` across alpha at rotation 0: for each (T, n, seed) the spread (max − min)
  of the run's ``cov_rv_mean`` over alpha, and the largest such spread;
* Spearman's rho of each measure's run mean against AMI, at rotation 0 and overall;
* each measure's Spearman rho with NER test F1 and with transfer (MTL − STL at the same
  n and seed), over all MTL runs;
* the F1 cost of rotation: F1 at each rotation minus F1 at 0, paired by seed, per
  (T, n, alpha), as mean ± std over seeds, and pooled.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mtllaws.effects import format_spread, spread
from mtllaws.relatedness import MEASURES, measure_columns


def _pm(values) -> str:
    """``mean ± std (count)`` of the finite values, signed (``effects.format_spread``)."""
    return format_spread(spread(values), sign=True)


def checks(runs: pd.DataFrame) -> str:
    """The Markdown text of every check (see the module docstring)."""
    out = []
    runs = runs.copy()
    runs["rotation"] = runs.get("rotation", 0.0)
    runs["rotation"] = runs["rotation"].fillna(0.0)
    n_col = "n_tokens_per_task"
    mtl = runs[runs["n_tasks"] > 1]
    stl = runs[runs["n_tasks"] == 1].set_index([n_col, "seed"])["test_f1"]
    measures = [m for m in MEASURES if measure_columns(m).mean in mtl.columns]
    means = {m: measure_columns(m).mean for m in measures}

    if "cov_rv" in means:
        flat = mtl[mtl["rotation"] == 0]
        spread = flat.groupby(["n_tasks", n_col, "seed"])[means["cov_rv"]].agg(
            lambda v: v.max() - v.min()
        )
        out.append("## cov_rv across alpha at rotation 0 (spread = max − min over alpha)\n")
        out.append("| T | n | seed | spread |\n|---|---|---|---|")
        for (t, n, s), v in spread.items():
            out.append(f"| {t} | {n} | {s} | {v:.4f} |")
        levels = flat.groupby(["n_tasks", n_col, "alpha"])[means["cov_rv"]].mean()
        by_tn = levels.groupby(level=[0, 1]).agg(lambda v: v.max() - v.min())
        out.append(
            f"\nlargest spread within a seed: {spread.max():.4f}; of the means over seeds: "
            f"{by_tn.max():.4f}; cov_rv at rotation 0 ranges "
            f"{flat[means['cov_rv']].min():.4f} .. {flat[means['cov_rv']].max():.4f}\n"
        )

    out.append("## Spearman rho of each measure against AMI (run means)\n")
    out.append("| measure | rotation 0 | all rotations |\n|---|---|---|")
    for m, col in means.items():
        if m == "ami":
            continue
        flat = mtl[mtl["rotation"] == 0]
        r0 = spearmanr(flat[col], flat[means["ami"]]).statistic
        ra = spearmanr(mtl[col], mtl[means["ami"]]).statistic
        out.append(f"| {m} | {r0:.3f} | {ra:.3f} |")

    mtl = mtl.assign(
        transfer=[
            f1 - stl.get((n, s), np.nan)
            for f1, n, s in zip(mtl["test_f1"], mtl[n_col], mtl["seed"], strict=True)
        ]
    )
    out.append("\n## Spearman rho of each measure with NER test F1 and with transfer (MTL runs)\n")
    out.append("| measure | rho with test F1 | rho with transfer |\n|---|---|---|")
    for m, col in means.items():
        ok = mtl[[col, "test_f1", "transfer"]].dropna()
        r1 = spearmanr(ok[col], ok["test_f1"]).statistic
        r2 = spearmanr(ok[col], ok["transfer"]).statistic
        out.append(f"| {m} | {r1:.3f} | {r2:.3f} |")

    out.append("\n## F1 cost of rotation (F1 at rotation − F1 at 0, paired by seed)\n")
    out.append("| T | n | alpha | rotation | ΔF1 | transfer at 0 |\n|---|---|---|---|---|---|")
    keys = ["n_tasks", n_col, "alpha", "seed"]
    base = mtl[mtl["rotation"] == 0].set_index(keys).sort_index()
    pooled = {}
    for rot in sorted(r for r in mtl["rotation"].unique() if r != 0):
        rotated = mtl[mtl["rotation"] == rot].set_index(keys)
        diff = (rotated["test_f1"] - base["test_f1"]).dropna()
        pooled[rot] = diff.to_numpy()
        for (t, n, a), d in diff.groupby(level=[0, 1, 2]):
            transfer0 = base.loc[(t, n, a)]["transfer"]
            out.append(f"| {t} | {n} | {a:g} | {rot:g} | {_pm(d)} | {_pm(transfer0)} |")
    for rot, values in pooled.items():
        out.append(f"\npooled over T, n, alpha at rotation {rot:g}: ΔF1 {_pm(values)}")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="results/<experiment>/runs.parquet")
    args = parser.parse_args(argv)
    # a measure constant over the runs has no rank correlation: printed as nan
    warnings.filterwarnings("ignore", message="An input array is constant")
    print(checks(pd.read_parquet(args.runs)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
