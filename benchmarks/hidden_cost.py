"""Training cost per sample against the BiLSTM hidden size (sizes config/experiments/capacity.yaml).

Usage::

    python benchmarks/hidden_cost.py

Trains the published model (``paper`` preset, ``LSTM_2FCs``) on T = 2 tasks of random data
of the corpus's shape (300-d inputs, window 7, 5 classes, 2000 rows per task), sequential
schedule, batch 100, 1 thread, 2 epochs (80 batches), once per hidden size, and prints the
CPU time (``time.process_time``: robust to other jobs on a shared machine) per training
sample.
"""

from __future__ import annotations

import time

import numpy as np

from mtllaws.core import TrainConfig
from mtllaws.models import model_config
from mtllaws.train import train_model


def main() -> None:
    rng = np.random.default_rng(0)
    v, d, w, c, n = 5000, 300, 7, 5, 2000
    emb = rng.normal(size=(v, d)).astype(np.float32)
    emb[0] = 0
    win = rng.integers(1, v, size=(2 * n, w)).astype(np.int32)
    labels = np.full((2 * n, 2), -1, dtype=np.int64)
    labels[:n, 0] = rng.integers(0, c, n)
    labels[n:, 1] = rng.integers(0, c, n)
    for hidden in (100, 300, 10, 30):
        cfg = model_config("paper", layers="LSTM_2FCs", n_tasks=2, n_classes=c, emb_dim=d,
                           window=w, hidden=hidden)
        tc = TrainConfig(epochs=2, batch_size=100, lr=0.003, schedule="sequential")
        start, wall = time.process_time(), time.time()
        train_model(cfg, tc, win, labels, emb, seed=0)
        cpu = time.process_time() - start
        samples = 2 * 2 * n
        print(f"hidden {hidden}: {cpu:.1f} s CPU, {time.time() - wall:.1f} s wall for "
              f"{samples} samples (80 batches): {1000 * cpu / samples:.3f} ms CPU/sample",
              flush=True)


if __name__ == "__main__":
    main()
