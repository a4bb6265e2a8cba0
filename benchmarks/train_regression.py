"""Bitwise fingerprint of training: tiny models with fixed seeds, hashed.

Trains ``paper`` and ``default`` presets under the ``joint`` and ``sequential``
schedules, K = 1 with :func:`mtllaws.train.train_model` and K = 3 with
:func:`mtllaws.engine.train_models` (synthetic data, 2 epochs, a few seconds in all), and
records per run the per-epoch losses (``float.hex``), a sha256 of the trained weights and
one of the predictions of every task. A refactor of the training code must leave the file
unchanged on the same machine (floating-point results depend on the CPU and the BLAS, so
compare only files written on one machine and torch build).

Issue 16's training core (``mtllaws.core``) left every ``K = 1`` run and the ``default``
``K = 3`` runs bitwise unchanged; the ``paper`` ``K = 3`` runs changed by at most
2.3e-7 in a weight on the CPU (the backward direction's last-token cell of the stacked
engine now projects each distinct id once per model, as ``train_model`` always did).

Usage::

    python benchmarks/train_regression.py --write before.json
    python benchmarks/train_regression.py --check before.json   # exit 1 on any change
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import numpy as np
import torch

from mtllaws.engine import train_models
from mtllaws.models import model_config
from mtllaws.train import MASK, TrainConfig, predict, train_model

SMALL = {"hidden": 16, "dense": (12, 8, 6), "emb_dim": 10}


def _data(seed: int, n: int = 90, n_tasks: int = 2, vocab: int = 60):
    """Random windows; task ``t`` labels the rows ``t*n .. (t+1)*n - 1`` only."""
    rng = np.random.default_rng(seed)
    windows = rng.integers(0, vocab, size=(n_tasks * n, 7)).astype(np.int32)
    owner = np.repeat(np.arange(n_tasks), n)  # the task that labels each row
    drawn = rng.integers(0, 5, size=(n_tasks, n)).reshape(-1)
    labels = np.where(owner[:, None] == np.arange(n_tasks), drawn[:, None], MASK)
    return windows, labels.astype(np.int64)


def _digest(result, windows, table) -> dict:
    weights = hashlib.sha256()
    for name, p in result.model.state_dict().items():
        weights.update(name.encode())
        weights.update(p.detach().cpu().contiguous().numpy().tobytes())
    pred = predict(result.model, windows, table, task=None)
    return {
        "losses": [float(v).hex() for v in result.losses],
        "weights": weights.hexdigest(),
        "predictions": hashlib.sha256(np.ascontiguousarray(pred).tobytes()).hexdigest(),
    }


def fingerprints() -> dict:
    """The fingerprint of every (preset, schedule, K) run, keyed ``preset/schedule/K=k[i]``."""
    torch.set_num_threads(1)
    table = np.random.default_rng(9).normal(size=(60, 10)).astype(np.float32)
    table[0] = 0
    data = [_data(k) for k in range(3)]
    seeds = [7, 8, 7]
    out = {}
    for preset in ("paper", "default"):
        cfg = model_config(preset, n_tasks=2, n_classes=5, **SMALL)
        for schedule in ("joint", "sequential"):
            tc = TrainConfig(epochs=2, batch_size=32, schedule=schedule)
            one = train_model(cfg, tc, *data[0], table, seed=seeds[0])
            out[f"{preset}/{schedule}/K=1"] = _digest(one, data[0][0], table)
            for k, res in enumerate(train_models(cfg, tc, data, table, seeds=seeds)):
                out[f"{preset}/{schedule}/K=3[{k}]"] = _digest(res, data[k][0], table)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="JSON")
    group.add_argument("--check", metavar="JSON")
    args = parser.parse_args(argv)
    got = fingerprints()
    if args.write:
        with open(args.write, "w") as fh:
            json.dump(got, fh, indent=1)
            fh.write("\n")
        print(f"wrote {len(got)} fingerprints to {args.write}")
        return 0
    with open(args.check) as fh:
        want = json.load(fh)
    changed = 0
    for key in sorted(set(want) | set(got)):
        a, b = want.get(key), got.get(key)
        for part in ("losses", "weights", "predictions"):
            if (a or {}).get(part) != (b or {}).get(part):
                changed += 1
                print(f"CHANGED {key} {part}")
    print(f"{len(got)} runs, {changed} changed fields")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
