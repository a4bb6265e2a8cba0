"""Training speed in milliseconds per training sample, against the published code's way.

For each preset and thread count, three trainings of the same data and model run one
after the other in this process: ``train_model`` with the ``joint`` schedule (the
default), ``train_model`` with the ``sequential`` schedule (the published code's), and
``published.train_published`` (full ``nn.LSTM``, ``nn.Linear`` layers, every head every
step, ``torch.optim.Adam``: the published code's computation). The target is a ratio
ours / published <= 0.5 at the same schedule; both are measured in the same run, so
machine noise affects them alike (the minimum over ``--repeats`` is the least disturbed).

Data: T=2 tasks, n=1000 tokens per task, batch 100. Windows (k=3) come from the CoNLL-2003
training file, task ``t`` labelling the contiguous tokens ``t*n .. (t+1)*n - 1`` as in the
published code (the cost depends on how many token ids of a batch are distinct); random
300-d vectors stand in for fastText (the values do not matter). Without the corpus a
Zipf-distributed vocabulary is used.

Usage::

    python benchmarks/train_speed.py --preset paper default --threads 1 2 --epochs 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import table, write_json
from published import train_published

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


def _best(fn, repeats: int, samples: int) -> tuple[float, float]:
    """Best (wall, cpu) seconds per sample of ``fn(repeat)`` over ``repeats`` calls."""
    best_wall = best_cpu = float("inf")
    for r in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(r)
        best_wall = min(best_wall, (time.perf_counter() - wall) / samples)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / samples)
    return best_wall, best_cpu


def measure(preset: str, threads: int, *, n_tasks: int, n: int, epochs: int,
            repeats: int) -> dict:
    """ms per sample (wall and CPU) of ours (joint, sequential) and the published way."""
    windows, labels, emb = make_data(n_tasks, n)
    mcfg = model_config(preset, n_tasks=n_tasks, n_classes=5)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        # Warm-up (allocator, thread pool) on one epoch of each.
        train_model(mcfg, TrainConfig(epochs=1, threads=threads), windows, labels, emb, seed=0)
        train_published(mcfg, windows, labels, emb, epochs=1)
        row = {"preset": preset, "threads": threads, "T": n_tasks, "n": n, "epochs": epochs}
        for schedule in ("joint", "sequential"):
            tcfg = TrainConfig(epochs=epochs, threads=threads, schedule=schedule,
                               drop_last=schedule == "sequential")
            samples = epochs * n_tasks * n
            wall, cpu = _best(lambda r, tcfg=tcfg: train_model(mcfg, tcfg, windows, labels,
                                                               emb, seed=r), repeats, samples)
            row[f"ours_{schedule}_ms"], row[f"ours_{schedule}_cpu_ms"] = wall * 1e3, cpu * 1e3
        samples = epochs * n_tasks * (n // 100 * 100)
        wall, cpu = _best(lambda r: train_published(mcfg, windows, labels, emb, epochs=epochs,
                                                    seed=r), repeats, samples)
        row["published_ms"], row["published_cpu_ms"] = wall * 1e3, cpu * 1e3
    finally:
        torch.set_num_threads(prev)
    row["ratio_sequential"] = row["ours_sequential_ms"] / row["published_ms"]
    row["ratio_joint"] = row["ours_joint_ms"] / row["published_ms"]
    row["ok"] = row["ratio_sequential"] <= 0.5
    row["ours_100_epochs_s"] = row["ours_joint_ms"] * 1e-3 * 100 * n_tasks * n
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", nargs="+", default=["paper", "default"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--n", type=int, default=1000, help="rows per task")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat")
    args = parser.parse_args(argv)
    epochs, repeats = (1, 1) if args.quick else (args.epochs, args.repeats)
    print(f"torch {torch.__version__}, T={args.tasks}, n={args.n}, epochs={epochs}, batch=100")
    rows = []
    for preset in args.preset:
        for threads in args.threads:
            rows.append(measure(preset, threads, n_tasks=args.tasks, n=args.n, epochs=epochs,
                                repeats=repeats))
            print(table(rows[-1:], list(rows[-1])), flush=True)
    columns = ["preset", "threads", "ours_joint_ms", "ours_sequential_ms", "published_ms",
               "ratio_sequential", "ratio_joint", "ok", "ours_100_epochs_s"]
    print()
    print(table(rows, columns))
    write_json("train_speed", {"quick": args.quick, "rows": rows})


if __name__ == "__main__":
    main()
