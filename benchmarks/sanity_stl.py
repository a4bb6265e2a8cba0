"""Sanity check: a single-task ``default`` model on all of CoNLL-2003 reaches test F1 >= 0.65.

Prepares the corpus and the default embeddings (fastText trained on the corpus) under
``CACHE_DIR`` (reused when present), trains for ``--epochs`` (10) on the full training
split and prints dev and test F1 (conlleval). Exits with status 1 when test F1 is below
``--min-f1``.

Usage::

    python benchmarks/sanity_stl.py CACHE_DIR [--corpus DIR] [--epochs 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mtllaws.corpus import prepare_corpus
from mtllaws.embeddings import prepare_embeddings
from mtllaws.evaluate import score_ids
from mtllaws.models import model_config
from mtllaws.train import TrainConfig, predict, train_model

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache_dir", type=Path, help="where the prepared corpus and embeddings go")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--min-f1", type=float, default=0.65)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    prepared = prepare_corpus(args.corpus, args.cache_dir / "corpus")
    emb = prepare_embeddings(prepared, args.cache_dir / "embeddings" / "fasttext.npy",
                             seed=args.seed)
    print(f"data: {len(prepared.train_windows)} training tokens, vocabulary {emb.shape[0]}, "
          f"dim {emb.shape[1]}, labels {prepared.labels} ({time.perf_counter() - t0:.0f} s)",
          flush=True)

    mcfg = model_config(args.preset, n_tasks=1, n_classes=prepared.n_classes,
                        emb_dim=emb.shape[1], window=prepared.window)
    tcfg = TrainConfig(epochs=args.epochs, threads=args.threads)
    scores = []

    def dev_f1(model) -> float:
        f1 = score_ids(prepared.dev_tags, predict(model, prepared.dev_windows, emb),
                       prepared.labels)["f1"]
        scores.append(f1)
        print(f"  epoch {len(scores)}: dev F1 {f1:.4f} ({time.perf_counter() - t1:.0f} s)",
              flush=True)
        return f1

    t1 = time.perf_counter()
    result = train_model(mcfg, tcfg, prepared.train_windows, prepared.train_y, emb,
                         seed=args.seed, point=f"sanity_stl_seed{args.seed}", dev=dev_f1)
    seconds = time.perf_counter() - t1
    samples = len(prepared.train_windows) * len(result.losses)
    test = score_ids(prepared.test_tags, predict(result.model, prepared.test_windows, emb),
                     prepared.labels)
    print(f"losses: {[round(x, 4) for x in result.losses]}")
    print(f"training: {seconds:.0f} s for {samples} samples "
          f"({1e3 * seconds / samples:.3f} ms/sample incl. dev scoring, {args.threads} threads)")
    print(f"dev F1 {scores[-1]:.4f}  test P {test['precision']:.4f} R {test['recall']:.4f} "
          f"F1 {test['f1']:.4f}")
    return 0 if test["f1"] >= args.min_f1 else 1


if __name__ == "__main__":
    sys.exit(main())
