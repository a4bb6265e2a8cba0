"""CPU speed of the multi-model engine: K models one by one vs stacked.

K=5 seeds of the ``paper`` (and ``default``) preset, T=2, n=1000, batch 100, joint and
sequential schedules, ``--epochs`` (2; ``--quick`` 1) epochs, same thread count. Data as
in ``train_speed.py``; every model gets its own task slices (offset by its index).
Training only (no evaluation); ``models_per_hour`` extrapolates the measured epochs to
100. On a GPU machine run it with ``--device cuda`` (``--tf32`` for TF32 products); a
first warm-up epoch of each (CUDA context, kernels) is not timed.

Usage::

    python benchmarks/engine_speed.py [--quick] [--threads 1] [--k 5] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from _common import table, write_json
from train_speed import make_data

from mtllaws.engine import train_models
from mtllaws.models import model_config
from mtllaws.train import TrainConfig, train_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, paper/sequential only")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--tf32", action="store_true")
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    combos = [("paper", "sequential")] if args.quick else [
        (p, s) for p in ("paper", "default") for s in ("sequential", "joint")]
    windows, labels, emb = make_data(2, args.n * (args.k + 1))
    data = []
    for k in range(args.k):  # model k: rows of 2 tasks from its own slice
        w = windows[k * 2 * args.n : (k + 1) * 2 * args.n]
        y = labels[k * 2 * args.n : (k + 1) * 2 * args.n].copy()
        y[:] = -1
        y[: args.n, 0] = labels[: args.n, 0]
        y[args.n :, 1] = labels[: args.n, 0]
        data.append((w, y))
    rows = []
    for preset, schedule in combos:
        cfg = model_config(preset, n_tasks=2, n_classes=5)
        tc = TrainConfig(epochs=epochs, threads=args.threads, schedule=schedule,
                         device=args.device, tf32=args.tf32)
        warm = replace(tc, epochs=1)
        train_model(cfg, warm, *data[0], emb, seed=0)
        train_models(cfg, warm, data, emb, seeds=list(range(args.k)))
        t = time.perf_counter()
        for k, (w, y) in enumerate(data):
            train_model(cfg, tc, w, y, emb, seed=k)
        single = time.perf_counter() - t
        t = time.perf_counter()
        train_models(cfg, tc, data, emb, seeds=list(range(args.k)))
        stacked = time.perf_counter() - t
        per_hour = 3600 * args.k * epochs / 100
        rows.append({"preset": preset, "schedule": schedule, "device": args.device,
                     "K": args.k, "epochs": epochs, "one_by_one_s": single,
                     "engine_s": stacked, "speedup": single / stacked,
                     "models_per_hour_off": per_hour / single,
                     "models_per_hour_on": per_hour / stacked})
        print(table(rows[-1:], list(rows[-1])), flush=True)
    print(f"threads={args.threads}")
    print(table(rows, list(rows[0])))
    write_json("engine_speed", {"threads": args.threads, "device": args.device, "rows": rows})


if __name__ == "__main__":
    main()
