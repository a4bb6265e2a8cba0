"""One whole model of the ``paper`` preset, T=2, n=1000: target <= 70 s.

Stages, each timed: cache load (prepared CoNLL-2003 + fastText 300-d, built once under
``benchmarks/results/cache`` and not timed), simulate (``alpha_for_ami`` + ``make_tasks``,
as ``pipeline.simulate_pack``), train (``train_model``, 100 epochs, batch 100, the
``--schedule`` of ``config/experiments/paper_*.yaml``: sequential unless told otherwise),
evaluate (``predict`` + ``score_ids`` on dev and test, as ``pipeline.evaluate_pack``).
``--quick`` trains 5 epochs and extrapolates the training time to 100 (marked).

In the same run, the training and evaluation stages are also timed the published code's
way (``published.py``: full ``nn.LSTM``, every head, ``torch.optim.Adam``, sequential
schedule; ``--published-epochs`` epochs extrapolated to 100, 0 to skip), and the ratio
ours / published is printed: the published code's own data preparation (fastText
training and windowing, about 90 s by the issue's figures) is not rebuilt here.

Usage::

    python benchmarks/whole_model.py [--quick] [--threads 2] [--preset paper]
        [--schedule sequential]
"""

from __future__ import annotations

import argparse

import torch
from _common import CACHE, Timer, ensure_cache, table, write_json
from published import predict_published, train_published

from mtllaws.corpus import load_prepared
from mtllaws.embeddings import load_embeddings
from mtllaws.evaluate import score_ids
from mtllaws.models import model_config
from mtllaws.relatedness import alpha_for_ami
from mtllaws.simulate import make_tasks
from mtllaws.train import TrainConfig, predict, train_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs, extrapolated to 100")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--published-epochs", type=int, default=5)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--schedule", choices=("sequential", "joint"), default="sequential",
                        help="ours; the published way is always sequential")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--ami", type=float, default=0.2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    epochs = 5 if args.quick else args.epochs
    ensure_cache()
    rows = []
    with Timer() as t:
        p = load_prepared(CACHE / "conll")
        matrix = load_embeddings(CACHE / "conll" / "fasttext.npy", vocab=p.vocab)
    rows.append({"stage": "cache load", "wall_s": t.wall, "cpu_s": t.cpu})
    with Timer() as t:
        alpha = alpha_for_ami(args.ami, p.train_y, c=p.n_classes, seed=0)
        tasks = make_tasks(p.train_y, p.train_sentence_lengths, n_tasks=args.tasks,
                           n_ner=args.n, alphas=alpha, seed=0, n_classes=p.n_classes)
    rows.append({"stage": "simulate", "wall_s": t.wall, "cpu_s": t.cpu})
    mcfg = model_config(args.preset, n_tasks=args.tasks, n_classes=p.n_classes,
                        emb_dim=matrix.shape[1], window=p.window)
    with Timer() as t:
        result = train_model(mcfg, TrainConfig(epochs=epochs, threads=args.threads,
                                                 schedule=args.schedule),
                             p.train_windows[tasks.token_idx], tasks.labels, matrix, seed=0)
    scale = args.epochs / epochs
    rows.append({"stage": f"train {epochs} epochs" + (f" (x{scale:g})" if scale != 1 else ""),
                 "wall_s": t.wall * scale, "cpu_s": t.cpu * scale})
    with Timer() as t:
        f1 = {}
        for split in ("dev", "test"):
            pred = predict(result.model, getattr(p, f"{split}_windows"), matrix, task=0)
            f1[split] = score_ids(getattr(p, f"{split}_tags"), pred, p.labels)["f1"]
    rows.append({"stage": "evaluate dev + test", "wall_s": t.wall, "cpu_s": t.cpu,
                 "target_s": 5.0, "ok": t.wall <= 5})
    total = sum(r["wall_s"] for r in rows)
    rows.append({"stage": "whole model" + (" (extrapolated)" if scale != 1 else ""),
                 "wall_s": total, "cpu_s": sum(r["cpu_s"] for r in rows),
                 "target_s": 70.0, "ok": total <= 70})
    if args.published_epochs:
        windows, labels = p.train_windows[tasks.token_idx], tasks.labels
        with Timer() as t:
            net = train_published(mcfg, windows, labels, matrix, epochs=args.published_epochs)
        pub_scale = args.epochs / args.published_epochs
        rows[2]["published_wall_s"] = t.wall * pub_scale
        with Timer() as t:
            for split in ("dev", "test"):
                pred = predict_published(net, getattr(p, f"{split}_windows"), matrix)
                score_ids(getattr(p, f"{split}_tags"), pred, p.labels)
        rows[3]["published_wall_s"] = t.wall
        for r in rows[2:4]:
            r["ratio"] = r["wall_s"] / r["published_wall_s"]
        both = rows[2]["wall_s"] + rows[3]["wall_s"]
        pub = rows[2]["published_wall_s"] + rows[3]["published_wall_s"]
        rows.append({"stage": "train + evaluate", "wall_s": both, "published_wall_s": pub,
                     "ratio": both / pub})
    print(f"{args.preset}, T={args.tasks}, n={args.n}, threads={args.threads}, "
          f"schedule {args.schedule}, "
          f"final loss {result.losses[-1]:.4f}, dev F1 {f1['dev']:.4f}, test F1 {f1['test']:.4f}")
    print(table(rows, ["stage", "wall_s", "cpu_s", "target_s", "ok", "published_wall_s",
                       "ratio"]))
    write_json("whole_model", {"preset": args.preset, "T": args.tasks, "n": args.n,
                               "epochs_run": epochs, "published_epochs": args.published_epochs,
                               "threads": args.threads, "schedule": args.schedule,
                               "quick": args.quick, "f1": f1, "rows": rows})


if __name__ == "__main__":
    main()
