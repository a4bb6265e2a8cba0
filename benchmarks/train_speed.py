"""Training speed of :func:`mtllaws.train.train_model` in milliseconds per training sample.

The project target (2-core CPU, ``paper`` preset, T=2 tasks, n=1000 tokens per task,
batch 100, 100 epochs = 200,000 samples) is <= 0.25 ms/sample, i.e. well under 70 s
per model. Windows (k=3) come from the CoNLL-2003 training file, task ``t`` labelling the
contiguous tokens ``t*n .. (t+1)*n - 1`` as in the published code (the cost depends on how
many token ids of a batch are distinct); random 300-d vectors stand in for fastText (the
values do not matter). Without the corpus a Zipf-distributed vocabulary is used.
Wall time and process CPU time are reported; the minimum over ``--repeats`` is the least
disturbed by other load on the machine.

Usage::

    python benchmarks/train_speed.py --preset paper default --threads 1 2 --epochs 5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from mtllaws.models import model_config
from mtllaws.train import TrainConfig, train_model

CONLL_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003" / "train.txt"


def conll_windows(path: Path, k: int = 3) -> tuple[np.ndarray, int]:
    """Windows of vocabulary ids (0 = padding) of every token of a CoNLL file."""
    vocab: dict[str, int] = {"<pad>": 0}
    windows, sentence = [], []

    def flush():
        ids = [0] * k + sentence + [0] * k
        windows.extend(ids[i : i + 2 * k + 1] for i in range(len(sentence)))
        sentence.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if sentence:
                flush()
            continue
        sentence.append(vocab.setdefault(parts[0], len(vocab)))
    if sentence:
        flush()
    return np.asarray(windows, dtype=np.int32), len(vocab)


def make_data(n_tasks: int, n: int, *, conll: Path | None = CONLL_TRAIN, dim: int = 300,
              seed: int = 0):
    """Windows, labels (disjoint contiguous slices of ``n`` rows per task, 5 classes), table."""
    rng = np.random.default_rng(seed)
    rows = n_tasks * n
    if conll is not None and conll.exists():
        windows, vocab = conll_windows(conll)
        windows = windows[:rows]
    else:
        vocab = 20_000
        windows = np.minimum(rng.zipf(1.3, size=(rows, 7)), vocab - 1).astype(np.int32)
    emb = rng.normal(size=(vocab, dim)).astype(np.float32)
    emb[0] = 0
    labels = np.full((rows, n_tasks), -1, dtype=np.int64)
    for t in range(n_tasks):
        labels[t * n : (t + 1) * n, t] = rng.integers(0, 5, size=n)
    return windows, labels, emb


def measure(preset: str, threads: int, *, n_tasks: int, n: int, epochs: int, repeats: int,
            schedule: str, batch_size: int) -> tuple[float, float]:
    """Best (wall, cpu) seconds per training sample over ``repeats`` runs."""
    windows, labels, emb = make_data(n_tasks, n)
    mcfg = model_config(preset, n_tasks=n_tasks, n_classes=5)
    tcfg = TrainConfig(epochs=epochs, batch_size=batch_size, threads=threads, schedule=schedule)
    samples = epochs * n_tasks * n
    # Warm-up (allocator, thread pool) on one epoch.
    train_model(mcfg, TrainConfig(epochs=1, threads=threads), windows, labels, emb, seed=0)
    best_wall = best_cpu = float("inf")
    for r in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        train_model(mcfg, tcfg, windows, labels, emb, seed=r)
        best_wall = min(best_wall, (time.perf_counter() - wall) / samples)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / samples)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", nargs="+", default=["paper", "default"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--n", type=int, default=1000, help="rows per task")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--schedule", default="joint", choices=["joint", "sequential"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, T={args.tasks}, n={args.n}, epochs={args.epochs}, "
          f"batch={args.batch_size}, schedule={args.schedule}")
    for preset in args.preset:
        for threads in args.threads:
            wall, cpu = measure(preset, threads, n_tasks=args.tasks, n=args.n,
                                epochs=args.epochs, repeats=args.repeats,
                                schedule=args.schedule, batch_size=args.batch_size)
            full = wall * 100 * args.tasks * args.n
            print(f"{preset:8s} threads={threads}: {wall * 1e3:.3f} ms/sample wall "
                  f"({cpu * 1e3:.3f} ms/sample CPU); 100 epochs ~ {full:.0f} s")


if __name__ == "__main__":
    main()
