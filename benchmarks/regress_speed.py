"""Benchmark: the four balanced studies on the paper's table, validation and bootstrap included.

Target (issues 5 and 15): each engine's four balanced studies (f(n), f(AMI), f(T),
f(n, AMI, T) over MTL rows with extrapolation in T, n and AMI) with 3 seeds, 2x5-fold
grouped CV and 100 bootstrap resamples of the configurations run in <= 5 min on 2
cores. Prints wall and CPU time per engine, then the comparison table and law card of
f(n, AMI, T) over all engines (the acceptance figures of issue 15), and writes
benchmarks/results/regress_speed.json.

    python benchmarks/regress_speed.py [--engines sparse,gplearn,law] [--bootstrap 100]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from mtllaws.regress import (
    comparison_table,
    formulas_document,
    law_cards_markdown,
    read_table,
    run_studies,
)

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT.parent / "shared" / "data" / "paper" / "mtl_balanced.csv"
STUDIES = [
    {"name": "f_n", "features": ["n_tokens_per_task"], "fixed": {"n_tasks": 2, "alpha": 0.9}},
    {"name": "f_ami", "features": ["mutual_info"], "fixed": {"n_tasks": 2}},
    {"name": "f_T", "features": ["n_tasks"], "fixed": {"n_tokens_per_task": 2000}},
    {
        "name": "f_all",
        "features": ["n_tokens_per_task", "mutual_info", "n_tasks"],
        "fixed": {"n_tasks": {"min": 2}},
        "extrapolate": {"n_tasks": 5, "n_tokens_per_task": 10000, "mutual_info": 0.7},
    },
]


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sparse,gplearn,law")
    parser.add_argument("--bootstrap", type=int, default=100)
    args = parser.parse_args()
    table = read_table(TABLE)
    rows, everything = [], []
    for engine in args.engines.split(","):
        wall, cpu = time.perf_counter(), cpu_seconds()
        results = run_studies(
            table, STUDIES, engine=engine, seeds=[0, 1, 2], target="fscore", n_jobs=2,
            bootstrap=args.bootstrap, cv=5, cv_repeats=2, skip_insufficient=True,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        everything += results
        rows.append(
            {
                "engine": engine,
                "wall_s": wall,
                "cpu_s": cpu,
                "target_s": 300,
                "cv_r2": {r["study"]: r.get("cv_r2_mean") for r in results},
            }
        )
        print(f"{engine}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    print(f"\n{'engine':<8} {'wall s':>8} {'cpu s':>8} {'target':>8}  grouped-CV R2 per study")
    for r in rows:
        r2 = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in r["cv_r2"].items())
        print(f"{r['engine']:<8} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['target_s']:>8}  {r2}")
    f_all = [r for r in everything if r["study"] == "f_all" and "skipped" not in r]
    print("\nf(n, AMI, T) over MTL rows (T >= 2), every engine and law family:\n")
    print(comparison_table(f_all))
    print(law_cards_markdown(f_all).split("**Law card**", 1)[-1].join(["**Law card**", ""]))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "regress_speed.json").write_text(
        json.dumps({"timing": rows, "formulas": formulas_document(everything)}, indent=2)
    )


if __name__ == "__main__":
    main()
