"""Data preparation timings against the project targets (moved here from the tests).

* corpus + fastText (dim 300) cache build of full CoNLL-2003: <= 60 s (CPU time; wall
  printed too, the machine is shared)
* cache load (corpus + embeddings): <= 2 s
* ``make_tasks`` T=30, n=1000 (disjoint): <= 0.5 s per call
* ``ami`` on the 200k-token training split: <= 0.5 s
* conlleval scoring of dev + test (``score_ids``): reported (part of the <= 5 s eval target)

The build goes to a fresh temporary directory every run (``--keep DIR`` to keep it).

Usage::

    python benchmarks/data_prep.py [--quick]   # --quick: skip the fastText build
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import CONLL, Timer, ensure_cache, table, write_json

from mtllaws.corpus import load_prepared, prepare_corpus
from mtllaws.embeddings import load_embeddings, prepare_embeddings
from mtllaws.evaluate import score_ids
from mtllaws.relatedness import ami
from mtllaws.simulate import make_tasks, simulate_labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="time corpus parsing only; embeddings from benchmarks/results/cache")
    parser.add_argument("--keep", type=Path, help="build the cache here and keep it")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.keep or Path(tmp)
        with Timer() as t:
            prepared = prepare_corpus(CONLL, cache / "conll", overwrite=True)
        rows.append({"stage": "corpus cache build", "wall_s": t.wall, "cpu_s": t.cpu})
        if args.quick:
            _, matrix = ensure_cache()
            emb_path = Path(__file__).parent / "results" / "cache" / "conll" / "fasttext.npy"
        else:
            emb_path = cache / "conll" / "fasttext.npy"
            with Timer() as t:
                matrix = prepare_embeddings(prepared, emb_path, dim=300, overwrite=True)
            rows.append({"stage": "fastText 300-d build", "wall_s": t.wall, "cpu_s": t.cpu})
            build = rows[0]["cpu_s"] + t.cpu
            rows.append({"stage": "corpus + fastText build", "wall_s": rows[0]["wall_s"] + t.wall,
                         "cpu_s": build, "target_s": 60.0, "ok": build <= 60})
        with Timer() as t:
            p = load_prepared(cache / "conll")
            m = load_embeddings(emb_path, vocab=p.vocab)
        rows.append({"stage": "cache load (corpus + emb)", "wall_s": t.wall, "cpu_s": t.cpu,
                     "target_s": 2.0, "ok": t.wall <= 2})
        assert m.shape == matrix.shape

    y, lengths = p.train_y, p.train_sentence_lengths
    make_tasks(y, lengths, n_tasks=30, n_ner=1000, alphas=0.9, seed=0)  # warm-up
    with Timer() as t:
        for seed in range(5):
            make_tasks(y, lengths, n_tasks=30, n_ner=1000, alphas=0.9, seed=seed)
    rows.append({"stage": "make_tasks T=30 n=1000", "wall_s": t.wall / 5, "cpu_s": t.cpu / 5,
                 "target_s": 0.5, "ok": t.wall / 5 <= 0.5})
    s = simulate_labels(y, 0.9, p.n_classes, np.random.default_rng(1))
    with Timer() as t:
        ami(y, s)
    rows.append({"stage": f"ami on {len(y)} tokens", "wall_s": t.wall, "cpu_s": t.cpu,
                 "target_s": 0.5, "ok": t.wall <= 0.5})
    rng = np.random.default_rng(0)
    with Timer() as t:
        for split in ("dev", "test"):
            gold = getattr(p, f"{split}_y")
            pred = np.where(rng.random(len(gold)) < 0.1, rng.integers(0, p.n_classes,
                                                                       len(gold)), gold)
            score_ids(getattr(p, f"{split}_tags"), pred, p.labels)
    rows.append({"stage": "score_ids dev + test", "wall_s": t.wall, "cpu_s": t.cpu})
    print(table(rows, ["stage", "wall_s", "cpu_s", "target_s", "ok"]))
    write_json("data_prep", {"quick": args.quick, "rows": rows})


if __name__ == "__main__":
    main()
