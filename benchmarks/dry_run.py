"""Snakemake dry-run time of the paper presets: target <= 30 s each.

Runs ``snakemake -n --quiet rules --configfile config/experiments/paper_<mode>.yaml``
from the repository root (``--quick``: one repeat) and reports the best wall time.

Usage::

    python benchmarks/dry_run.py [--quick] [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

from _common import ROOT, Timer, table, write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    snakemake = shutil.which("snakemake")
    if snakemake is None:
        raise SystemExit("snakemake not on PATH")
    rows = []
    for mode in ("balanced", "unbalanced"):
        cmd = [snakemake, "-n", "--quiet", "rules", "--configfile",
               f"config/experiments/paper_{mode}.yaml"]
        best = None
        for _ in range(1 if args.quick else args.repeats):
            with Timer() as t:
                proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
            best = t.wall if best is None else min(best, t.wall)
        rows.append({"preset": f"paper_{mode}", "wall_s": best, "target_s": 30.0,
                     "ok": best <= 30})
    print(table(rows, list(rows[0])))
    write_json("dry_run", {"rows": rows})


if __name__ == "__main__":
    main()
