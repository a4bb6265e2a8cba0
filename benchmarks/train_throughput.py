"""Training throughput (samples/s, GFLOP/s) against the machine's fp32 matmul peak.

For each preset (``paper``, ``default``) and T in (2, 10) at n=1000 tokens per task
(batch 100, joint schedule; data as in ``train_speed.py``: CoNLL-2003 windows, random
300-d vectors), times :func:`mtllaws.train.train_model` and converts samples/s to
GFLOP/s two ways: with the nominal count of ``flops.py`` (training = 3 x forward, every
token slot projected) and with the matrix-product FLOPs actually executed, counted by
``torch.utils.flop_counter.FlopCounterMode`` over one untimed epoch (fewer: distinct ids
are projected once, no gradient flows into the embeddings, the first backward step has no
forget gate). Next to it, a square fp32 matmul (``--peak-size``, same thread count) gives
the practical peak; the ratios are achieved / peak, all measured in the same run.

Usage::

    python benchmarks/train_throughput.py [--quick] [--threads 1] [--epochs 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import table, write_json
from flops import train_flops_per_sample
from torch.utils.flop_counter import FlopCounterMode
from train_speed import make_data

from mtllaws.models import model_config
from mtllaws.train import TrainConfig, train_model


def matmul_peak(size: int, threads: int, seconds: float = 1.0) -> float:
    """Best GFLOP/s of ``(size, size) @ (size, size)`` fp32 on the CPU."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        best, deadline = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            a @ b
            best = max(best, 2 * size**3 / (time.perf_counter() - t))
        return best / 1e9
    finally:
        torch.set_num_threads(prev)


def executed_flops_per_sample(mcfg, windows, labels, emb, threads: int) -> float:
    """Matrix-product FLOPs per sample that one training epoch actually executes."""
    with FlopCounterMode(display=False) as counter:
        train_model(mcfg, TrainConfig(epochs=1, threads=threads), windows, labels, emb, seed=0)
    return counter.get_total_flops() / len(windows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--tasks", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--preset", nargs="+", default=["paper", "default"])
    parser.add_argument("--peak-size", type=int, default=2048)
    args = parser.parse_args(argv)
    epochs, repeats = (1, 1) if args.quick else (args.epochs, args.repeats)
    rows = []
    w, y, e = make_data(2, 200)  # warm-up: allocator, thread pool
    train_model(model_config("paper", n_tasks=2, n_classes=5),
                TrainConfig(epochs=1, threads=args.threads), w, y, e, seed=0)
    for n_tasks in args.tasks:
        windows, labels, emb = make_data(n_tasks, args.n)
        for preset in args.preset:
            mcfg = model_config(preset, n_tasks=n_tasks, n_classes=5)
            tcfg = TrainConfig(epochs=epochs, threads=args.threads)
            samples = epochs * n_tasks * args.n
            best = float("inf")
            for r in range(repeats):
                t = time.perf_counter()
                train_model(mcfg, tcfg, windows, labels, emb, seed=r)
                best = min(best, time.perf_counter() - t)
            peak = matmul_peak(args.peak_size, args.threads)
            flops = train_flops_per_sample(mcfg)
            gflops = samples / best * flops / 1e9
            executed = executed_flops_per_sample(mcfg, windows, labels, emb, args.threads)
            gflops_executed = samples / best * executed / 1e9
            rows.append({"preset": preset, "T": n_tasks, "n": args.n, "epochs": epochs,
                         "samples_per_s": samples / best, "ms_per_sample": 1e3 * best / samples,
                         "MFLOP_per_sample": flops / 1e6, "GFLOP_per_s": gflops,
                         "peak_GFLOP_per_s": peak, "ratio": gflops / peak,
                         "executed_MFLOP_per_sample": executed / 1e6,
                         "executed_GFLOP_per_s": gflops_executed,
                         "executed_ratio": gflops_executed / peak,
                         "s_per_100_epochs": best / epochs * 100})
            print(table(rows[-1:], list(rows[-1])), flush=True)
    print()
    print(f"threads={args.threads}, torch {torch.__version__}")
    print(table(rows, list(rows[0])))
    write_json("train_throughput", {"threads": args.threads, "quick": args.quick, "rows": rows})


if __name__ == "__main__":
    main()
