"""Train and evaluate one configuration outside the workflow; print one JSON line.

The measurements behind the default experiment's design and docs/REPLICATION.md's
"measured effect" column: one seed, one configuration, every published-protocol choice
as a flag. Prepared corpora and embedding matrices are cached under ``--cache``.

Usage::

    python benchmarks/one_model.py --n 5000 --T 2 --alpha 1.0 --cross --layers LSTM_2FCs \
        --schedule sequential --epochs 30 --lr 0.003 [--slices contiguous] [--ft-epochs 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _common import CACHE, CONLL

from mtllaws.corpus import prepare_corpus
from mtllaws.embeddings import FASTTEXT_EPOCHS, prepare_embeddings
from mtllaws.evaluate import score_ids
from mtllaws.models import model_config
from mtllaws.simulate import make_tasks
from mtllaws.train import TrainConfig, predict, train_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", default=str(CACHE / "one_model"))
    p.add_argument("--cross", action="store_true", help="windows across sentence borders")
    p.add_argument("--ft-epochs", type=int, default=FASTTEXT_EPOCHS)
    p.add_argument("--ft-dim", type=int, default=300)
    p.add_argument("--preset", default="paper")
    p.add_argument("--hidden", type=int, default=0, help="0 keeps the preset's")
    p.add_argument("--layers", default=None, help="e.g. LSTM_2FCs (None keeps the preset's)")
    p.add_argument("--schedule", default="sequential", choices=["joint", "sequential"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--slices", default="contiguous")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--T", type=int, default=1)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)

    from pathlib import Path

    cache = Path(a.cache)
    t0 = time.perf_counter()
    prep = prepare_corpus(CONLL, cache / ("corpus_cross" if a.cross else "corpus"),
                          cross_sentence=a.cross)
    emb = prepare_embeddings(
        prep, cache / f"ft_e{a.ft_epochs}_d{a.ft_dim}_{'cross' if a.cross else 'sent'}.npy",
        dim=a.ft_dim, epochs=a.ft_epochs,
    )
    t_prep = time.perf_counter() - t0
    tasks = make_tasks(prep.train_y, prep.train_sentence_lengths, n_tasks=a.T, n_ner=a.n,
                       alphas=a.alpha if a.T > 1 else None, slices=a.slices, seed=a.seed,
                       n_classes=prep.n_classes)
    overrides = {"hidden": a.hidden} if a.hidden else {}
    if a.layers:
        overrides["layers"] = a.layers
    mcfg = model_config(a.preset, n_tasks=a.T, n_classes=prep.n_classes, emb_dim=emb.shape[1],
                        window=prep.window, **overrides)
    tcfg = TrainConfig(epochs=a.epochs, schedule=a.schedule, threads=a.threads, lr=a.lr)
    t1 = time.perf_counter()
    result = train_model(mcfg, tcfg, prep.train_windows[tasks.token_idx], tasks.labels, emb,
                         seed=a.seed)
    t_train = time.perf_counter() - t1
    t2 = time.perf_counter()
    test = score_ids(prep.test_tags, predict(result.model, prep.test_windows, emb), prep.labels)
    dev = score_ids(prep.dev_tags, predict(result.model, prep.dev_windows, emb), prep.labels)
    t_eval = time.perf_counter() - t2
    print(json.dumps({
        **{k: v for k, v in vars(a).items() if k != "cache"},
        "ami": [round(float(x), 4) for x in tasks.ami],
        "test_f1": round(test["f1"], 4), "dev_f1": round(dev["f1"], 4),
        "t_prep_s": round(t_prep, 1), "t_train_s": round(t_train, 1),
        "t_eval_s": round(t_eval, 1),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
