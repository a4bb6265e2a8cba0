"""Cost of the input-side relatedness measures (issue 17) against one model's training.

For one grid point (T = 2, disjoint slices, alpha 0.8) at n = 1000 and n = 5000 tokens per
task, times every input-side measure of :mod:`mtllaws.taskspace` on CoNLL-2003 (prepared
with :func:`mtllaws.corpus.prepare_corpus` into a temporary cache unless ``--cache``):

* ``cov_sim``, ``cov_rv`` on each task's centre-token embeddings (n x D, D = 300);
* ``model_sim`` on the flattened windows (n x 7D = 2100 features): two ridge fits with
  the default solver (matrix-free conjugate gradients at the default strength) and their
  RV coefficient; for comparison also with ``solver="direct"`` (dual form when n < 7D,
  primal otherwise; not part of the total);
* ``svd_weights`` from the tasks' own ridge models (fitted again: the conservative total);

including the gathers from the embedding table. ``t_registry`` times what the workflow
runs: :func:`mtllaws.simulate.make_tasks` with every registered input-side measure
(``cov_sim, cov_rv, model_sim, svd_weight``; NER's ridge model fitted once per point, each
task's once) minus ``make_tasks`` with AMI only, the input maps of the point's rotation
included (``--rotations``, degrees; a rotated task's measures read the rotated table).
``t_all`` adds the four as called independently (the ridge models fitted twice);
``t_all_shared`` fits each task's model once and reuses it for ``svd_weights`` (what a
caller does). With ``--embeddings random`` the embeddings are a seeded random (V, D)
float32 matrix: the cost does not depend on their values. The reference is the training
time of one T = 2, n = 1000 model under the published protocol (``paper`` preset,
``LSTM_2FCs``, sequential schedule, 30 epochs, lr 0.001: ``benchmarks/one_model.py``'s
way). Target: all measures of one grid point <= 5 % of that training time. Measures and
training run with the same number of threads (``--threads``, default 1: one workflow job a
core).

Usage::

    python benchmarks/measures_cost.py [--embeddings fasttext|random] [--threads 1] \
        [--repeats 3] [--quick] [--rotations 0 90]

``--quick`` trains 3 epochs and extrapolates the training time to 30 (marked).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import CACHE, CONLL, Timer, table, write_json
from threadpoolctl import threadpool_limits

from mtllaws import taskspace as ts
from mtllaws.alignment import point_input_maps
from mtllaws.corpus import prepare_corpus
from mtllaws.embeddings import prepare_embeddings
from mtllaws.models import model_config
from mtllaws.simulate import MASK, make_tasks
from mtllaws.train import TrainConfig, train_model

EPOCHS = 30
ALPHA = 0.8


def _timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``fn`` and its last value."""
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def measure_point(prep, emb: np.ndarray, n: int, repeats: int) -> dict:
    """Times (s) and values of the input-side measures for one T = 2 grid point."""
    tasks = make_tasks(prep.train_y, prep.train_sentence_lengths, n_tasks=2, n_ner=n,
                       alphas=ALPHA, slices="disjoint", seed=0, n_classes=prep.n_classes)
    c = prep.n_classes
    windows = prep.train_windows[tasks.token_idx]
    rows = [tasks.labels[:, t] != MASK for t in range(2)]
    ys = [tasks.labels[r, t] for t, r in enumerate(rows)]
    k = prep.k

    def centre(t):
        return emb[windows[rows[t], k]]

    def flat(t):
        w = windows[rows[t]]
        return emb[w].reshape(w.shape[0], -1)

    def implicit(t):
        return ts.WindowMatrix(windows[rows[t]], emb)

    def thetas():
        return [ts.ridge_model(implicit(t), ts.centred_onehot(ys[t], c)) for t in range(2)]

    d_flat = windows.shape[1] * emb.shape[1]
    out = {"n": n, "T": 2, "features": d_flat, "direct_form": "dual" if n < d_flat else "primal"}
    out["t_cov_sim"], out["cov_sim"] = _timed(lambda: ts.cov_sim(centre(0), centre(1)), repeats)
    out["t_cov_rv"], out["cov_rv"] = _timed(lambda: ts.cov_rv(centre(0), centre(1)), repeats)
    out["t_model_sim"], out["model_sim"] = _timed(
        lambda: ts.model_sim(implicit(0), ys[0], implicit(1), ys[1], c1=c, c2=c), repeats)
    out["t_model_sim_dense"], _ = _timed(
        lambda: ts.model_sim(flat(0), ys[0], flat(1), ys[1], c1=c, c2=c), repeats)
    out["t_model_sim_direct"], _ = _timed(
        lambda: ts.model_sim(flat(0), ys[0], flat(1), ys[1], c1=c, c2=c, solver="direct"),
        repeats)
    out["t_svd_weights"], w = _timed(lambda: ts.svd_weights(thetas()), repeats)
    out["svd_weight_task"] = float(w[1])
    shared = thetas()
    out["t_svd_only"], _ = _timed(lambda: ts.svd_weights(shared), repeats)
    out["t_all"] = out["t_cov_sim"] + out["t_cov_rv"] + out["t_model_sim"] + out["t_svd_weights"]
    # the same measures when the ridge models are fitted once and shared
    out["t_all_shared"] = (out["t_cov_sim"] + out["t_cov_rv"] + out["t_model_sim"]
                           + out["t_svd_only"])
    out["ami"] = float(tasks.ami[0])
    return out


INPUT_MEASURES = ("cov_sim", "cov_rv", "model_sim", "svd_weight")


def registry_point(prep, emb: np.ndarray, n: int, rotation: float, repeats: int) -> dict:
    """Time of the registered input-side measures of one T = 2 point, as make_tasks runs them."""
    common = dict(n_tasks=2, n_ner=n, alphas=ALPHA, slices="disjoint", seed=0,
                  n_classes=prep.n_classes)

    def measured():
        maps = point_input_maps(2, emb.shape[1], rotation, 0)
        return make_tasks(prep.train_y, prep.train_sentence_lengths, **common,
                          measures=INPUT_MEASURES, windows=prep.train_windows,
                          embeddings=emb, input_maps=maps)

    t_ami, _ = _timed(lambda: make_tasks(prep.train_y, prep.train_sentence_lengths, **common),
                      repeats)
    t_all, tasks = _timed(measured, repeats)
    return {"n": n, "rotation": rotation, "t_registry": max(t_all - t_ami, 0.0),
            **{m: float(tasks.measures[m][0]) for m in INPUT_MEASURES}}


def train_seconds(prep, emb: np.ndarray, epochs: int, threads: int) -> float:
    """Wall time of training one T = 2, n = 1000 model, published protocol."""
    tasks = make_tasks(prep.train_y, prep.train_sentence_lengths, n_tasks=2, n_ner=1000,
                       alphas=ALPHA, slices="contiguous", seed=0, n_classes=prep.n_classes)
    mcfg = model_config("paper", layers="LSTM_2FCs", n_tasks=2, n_classes=prep.n_classes,
                        emb_dim=emb.shape[1], window=prep.window)
    tcfg = TrainConfig(epochs=epochs, schedule="sequential", lr=1e-3, threads=threads)
    with Timer() as t:
        train_model(mcfg, tcfg, prep.train_windows[tasks.token_idx], tasks.labels, emb, seed=0)
    return t.wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--embeddings", choices=["fasttext", "random"], default="fasttext")
    p.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    p.add_argument("--repeats", type=int, default=3, help="median of this many calls")
    p.add_argument("--quick", action="store_true", help="3 training epochs, extrapolated")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--rotations", type=float, nargs="+", default=[0.0, 90.0],
                   help="input rotations (degrees) of the registry timing")
    a = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as tp:
            if a.embeddings == "fasttext":
                cache = CACHE / "one_model"
                prep = prepare_corpus(CONLL, cache / "corpus_cross", cross_sentence=True)
                emb = prepare_embeddings(prep, cache / "ft_e30_d300_cross.npy", dim=300,
                                         epochs=30)
            else:
                prep = prepare_corpus(CONLL, Path(tmp) / "conll", cross_sentence=True)
                emb = np.random.default_rng(0).standard_normal(
                    (len(prep.vocab), 300)).astype(np.float32)
                emb[0] = 0.0
        with threadpool_limits(limits=a.threads):
            points = [measure_point(prep, emb, n, a.repeats) for n in a.sizes]
            registry = [registry_point(prep, emb, n, r, a.repeats)
                        for n in a.sizes for r in a.rotations]
        epochs = 3 if a.quick else EPOCHS
        t_train = train_seconds(prep, emb, epochs, a.threads) * EPOCHS / epochs

    for pt in points:
        pt["ratio"] = pt["t_all"] / t_train
        pt["ratio_shared"] = pt["t_all_shared"] / t_train
    cols = ["n", "t_cov_sim", "t_cov_rv", "t_model_sim", "t_svd_weights",
            "t_all", "ratio", "t_all_shared", "ratio_shared", "cov_sim", "cov_rv", "model_sim",
            "svd_weight_task", "t_model_sim_dense", "direct_form", "t_model_sim_direct"]
    print(f"{a.embeddings} embeddings, corpus ready in {tp.wall:.1f} s; "
          f"training T=2 n=1000 {EPOCHS} epochs "
          f"(paper + LSTM_2FCs, sequential, {a.threads} thread(s))"
          f"{' extrapolated from 3' if a.quick else ''}: {t_train:.1f} s")
    print(table(points, cols))
    for pt in registry:
        pt["ratio"] = pt["t_registry"] / t_train
    print("registered measures through make_tasks (the workflow's simulate step):")
    print(table(registry, ["n", "rotation", "t_registry", "ratio", *INPUT_MEASURES]))
    print("target: ratio <= 0.05 (all input-side measures of one grid point / one training)")
    write_json("measures_cost", {"embeddings": a.embeddings, "threads": a.threads,
                                 "repeats": a.repeats, "quick": a.quick, "alpha": ALPHA,
                                 "t_train_s": t_train, "train_epochs_run": epochs,
                                 "points": points, "registry": registry})
    return 0


if __name__ == "__main__":
    sys.exit(main())
