"""Training speed of two checkouts, paired: did a change make training slower?

``train_speed.py`` measures ours against the published way in one process, so machine
noise (on a shared VM the same code can run 10 % slower in one process than in the next)
moves both alike and the ratio ours / published is the portable figure. One run per tree
cannot settle a few per cent, so this script runs ``train_speed.py`` of the old and the
new checkout alternately, in ABBA order (old, new, new, old, ...) so that a drift of the
machine over time falls on both, and compares the same-run ratios pair by pair.

For each preset, thread count and figure it prints the mean ± std of each tree, the
ratio new / old of the means and the paired difference with its standard error. The
verdict reads the same-run ratios (``ratio_joint``, ``ratio_sequential``): the change
holds when new / old <= 1 + ``--tolerance`` for each (exit 0), otherwise exit 1.

Usage (``old`` is a checkout of the commit before the change, e.g. ``git worktree add``)::

    python benchmarks/speed_compare.py ../old-checkout --pairs 8 --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from _common import RESULTS, ROOT, write_json

from mtllaws.effects import format_spread, spread

__all__ = ["FIGURES", "VERDICT", "abba_order", "compare", "format_comparison"]

# train_speed.py's figures, in print order; the verdict reads the same-run ratios.
FIGURES = ("ratio_joint", "ratio_sequential", "ours_joint_ms", "ours_sequential_ms",
           "published_ms")
VERDICT = ("ratio_joint", "ratio_sequential")


def abba_order(pairs: int) -> list[tuple[int, str]]:
    """(pair, tree) in run order: old then new in odd pairs, new then old in even ones."""
    order = []
    for i in range(1, pairs + 1):
        trees = ("old", "new") if i % 2 else ("new", "old")
        order += [(i, t) for t in trees]
    return order


def compare(rows: list[dict], *, tolerance: float = 0.05) -> list[dict]:
    """One line per (preset, threads, figure) of ``train_speed`` rows tagged ``tree``, ``pair``.

    Pairs are matched by ``pair``; a pair missing either tree is left out of every figure.
    ``holds`` is set for the ``VERDICT`` figures only: new / old <= 1 + ``tolerance``.
    """
    keys = sorted({(r["preset"], r["threads"]) for r in rows}, key=str)
    out = []
    for preset, threads in keys:
        sel = {(r["tree"], r["pair"]): r for r in rows
               if r["preset"] == preset and r["threads"] == threads}
        pairs = sorted(p for t, p in sel if t == "old" and ("new", p) in sel)
        if not pairs:
            raise ValueError(f"{preset}, {threads} threads: no pair has both trees")
        for figure in FIGURES:
            old = np.array([sel["old", p][figure] for p in pairs], dtype=float)
            new = np.array([sel["new", p][figure] for p in pairs], dtype=float)
            diff = spread(new - old)
            line = {
                "preset": preset, "threads": threads, "figure": figure, "pairs": len(pairs),
                "old": spread(old), "new": spread(new),
                "new_over_old": new.mean() / old.mean(),
                "diff_mean": diff["mean"],
                "diff_se": diff["std"] / np.sqrt(len(pairs)) if diff["std"] is not None else None,
                "holds": None,
            }
            if figure in VERDICT:
                line["holds"] = bool(line["new_over_old"] <= 1 + tolerance)
            out.append(line)
    return out


def format_comparison(lines: list[dict]) -> str:
    """Plain text, one figure per line: each tree as ``mean ± std (runs)``."""
    text = []
    for c in lines:
        verdict = "" if c["holds"] is None else ("  holds" if c["holds"] else "  SLOWER")
        se = "" if c["diff_se"] is None else f" ± {c['diff_se']:.3f} (se)"
        text.append(
            f"{c['preset']:8s} {c['threads']} thr  {c['figure']:18s}"
            f" old {format_spread(c['old'])}  new {format_spread(c['new'])}"
            f"  new/old {c['new_over_old']:.3f}"
            f"  paired {c['diff_mean']:+.3f}{se}, {c['pairs']} pairs{verdict}")
    return "\n".join(text)


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree / "src")}


def package_of(tree: Path) -> Path:
    """The ``mtllaws`` package that a run in ``tree`` imports (must be the tree's own)."""
    out = subprocess.run([sys.executable, "-c", "import mtllaws; print(mtllaws.__file__)"],
                         cwd=tree, env=_env(tree), check=True, capture_output=True, text=True)
    return Path(out.stdout.strip()).resolve().parent


def run_tree(tree: Path, args) -> list[dict]:
    """Rows of one ``train_speed.py`` run of the checkout ``tree`` (its own package)."""
    cmd = [sys.executable, "benchmarks/train_speed.py", "--preset", *args.preset,
           "--threads", *map(str, args.threads), "--repeats", str(args.repeats)]
    subprocess.run(cmd, cwd=tree, env=_env(tree), check=True, stdout=subprocess.DEVNULL)
    written = tree / RESULTS.relative_to(ROOT) / "train_speed.json"
    return json.loads(written.read_text())["rows"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path, help="checkout of the commit before the change")
    parser.add_argument("--new", type=Path, default=ROOT, help="checkout after (this one)")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--preset", nargs="+", default=["paper", "default"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    for name, tree in trees.items():
        if not (tree / "benchmarks" / "train_speed.py").exists():
            parser.error(f"{name} checkout {tree} has no benchmarks/train_speed.py")
        package = package_of(tree)
        if package != tree / "src" / "mtllaws":
            parser.error(f"{name} checkout {tree} imports mtllaws from {package}, "
                         f"not its own src/: uninstall the other copy or run elsewhere")
    if trees["old"] == trees["new"]:
        parser.error("old and new are the same checkout")
    rows = []
    for pair, name in abba_order(args.pairs):
        got = run_tree(trees[name], args)
        rows += [{**r, "tree": name, "pair": pair} for r in got]
        print(f"pair {pair} {name}: " + ", ".join(
            f"{r['preset']}/{r['threads']} joint {r['ratio_joint']:.3f} "
            f"sequential {r['ratio_sequential']:.3f}" for r in got), flush=True)
    lines = compare(rows, tolerance=args.tolerance)
    print(format_comparison(lines))
    write_json("speed_compare", {"old": str(trees["old"]), "new": str(trees["new"]),
                                 "tolerance": args.tolerance, "rows": rows,
                                 "comparison": lines})
    return 0 if all(c["holds"] is not False for c in lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
