"""Benchmark: the four balanced symbolic-regression studies on the paper's table.

Target (issue 5): both engines' four balanced studies (f(n), f(AMI), f(T), f(n, AMI, T))
with 3 seeds each run in <= 5 min on 2 cores. Prints wall and CPU time per engine and
writes benchmarks/results/regress_speed.json.

    python benchmarks/regress_speed.py [--engines sparse,gplearn]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from mtllaws.regress import read_table, run_studies

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT.parent / "shared" / "data" / "paper" / "mtl_balanced.csv"
STUDIES = [
    {"name": "f_n", "features": ["n_tokens_per_task"], "fixed": {"n_tasks": 2, "alpha": 0.9}},
    {"name": "f_ami", "features": ["mutual_info"], "fixed": {"n_tasks": 2}},
    {"name": "f_T", "features": ["n_tasks"], "fixed": {"n_tokens_per_task": 2000}},
    {"name": "f_all", "features": ["n_tokens_per_task", "mutual_info", "n_tasks"]},
]


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sparse,gplearn")
    args = parser.parse_args()
    table = read_table(TABLE)
    rows = []
    for engine in args.engines.split(","):
        wall, cpu = time.perf_counter(), cpu_seconds()
        results = run_studies(
            table, STUDIES, engine=engine, seeds=[0, 1, 2], target="fscore", n_jobs=2
        )
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        rows.append(
            {
                "engine": engine,
                "wall_s": wall,
                "cpu_s": cpu,
                "target_s": 300,
                "r2": {r["study"]: r["test_r2"] for r in results},
            }
        )
    print(f"{'engine':<8} {'wall s':>8} {'cpu s':>8} {'target':>8}  test R2 per study")
    for r in rows:
        r2 = ", ".join(f"{k} {v:.3f}" for k, v in r["r2"].items())
        print(f"{r['engine']:<8} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['target_s']:>8}  {r2}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "regress_speed.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
