"""Evaluation time per model: ``predict`` (task 0) + ``score_ids`` on dev and test.

Target <= 5 s per model (as ``pipeline.evaluate_pack`` does it, without the optional
per-task accuracies). Weights do not change the cost, so freshly initialised models are
timed; best of ``--repeats``. Uses the cache of ``benchmarks/results/cache``.

Usage::

    python benchmarks/evaluate_speed.py [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse

import torch
from _common import Timer, ensure_cache, table, write_json

from mtllaws.evaluate import score_ids
from mtllaws.models import MTLNet, model_config
from mtllaws.train import predict


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    p, matrix = ensure_cache()
    emb = torch.from_numpy(matrix)
    rows = []
    for preset in ("paper", "default"):
        for n_tasks in (2, 10):
            net = MTLNet(model_config(preset, n_tasks=n_tasks, n_classes=p.n_classes,
                                      emb_dim=matrix.shape[1], window=p.window)).eval()
            best = None
            for _ in range(1 if args.quick else args.repeats):
                with Timer() as t:
                    for split in ("dev", "test"):
                        pred = predict(net, getattr(p, f"{split}_windows"), emb, task=0)
                        score_ids(getattr(p, f"{split}_tags"), pred, p.labels)
                best = t if best is None or t.wall < best.wall else best
            rows.append({"preset": preset, "T": n_tasks, "tokens": len(p.dev_y) + len(p.test_y),
                         "wall_s": best.wall, "cpu_s": best.cpu, "target_s": 5.0,
                         "ok": best.wall <= 5})
    print(f"threads={args.threads}")
    print(table(rows, list(rows[0])))
    write_json("evaluate_speed", {"threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
