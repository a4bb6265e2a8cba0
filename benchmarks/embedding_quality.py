"""Corpus-trained fastText settings: training time against the F1 of one fixed STL model.

For every setting given on the command line, prepares the fastText vectors trained on
the training split with those settings (``mtllaws.embeddings.prepare_embeddings``, always
rebuilt, timed: wall and CPU seconds), then trains one fixed single-task model with
them and scores it on dev and test (conlleval F1). The model is the same for every
setting: ``paper`` preset with the published ``LSTM_2FCs`` layers (for T = 1 every layer
belongs to NER, so the layer variant does not matter), the first ``--n`` training tokens
in file order (``slices="contiguous"``), windows across sentence borders, sequential
schedule, batch 100, ``--epochs`` epochs, seed 0: the published protocol's STL model.

A setting is a comma-separated list of ``key=value`` with the ``embeddings`` config keys
(``dim``, ``epochs``, ``minn``, ``maxn``, ``window``, ``bucket``, ``negative``,
``min_count``, ``sample``, ``sg``, ``seed``); keys left out take the schema defaults.

Usage::

    python benchmarks/embedding_quality.py dim=300,epochs=5 dim=300,epochs=30 \\
        dim=300,epochs=30,minn=2,maxn=6 [--n 5000] [--epochs 30] [--threads 1]

Writes ``benchmarks/results/embedding_quality.json``. The corpus-preparation budget
(issue 14) is 120 s of wall time on 2 cores for the embedding step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml
from _common import CONLL, RESULTS, Timer, table, write_json

from mtllaws.corpus import prepare_corpus
from mtllaws.embeddings import prepare_embeddings
from mtllaws.evaluate import score_ids
from mtllaws.models import model_config
from mtllaws.settings import fasttext_options
from mtllaws.simulate import make_tasks
from mtllaws.train import TrainConfig, predict, train_model

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def schema_defaults() -> dict:
    """The ``embeddings`` defaults of the config schema (the workflow's defaults)."""
    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["definitions"]["experiment"]["properties"]["embeddings"]["properties"]
    return {k: v["default"] for k, v in props.items() if k not in ("pretrained", "url",
                                                                    "sha256", "size")}


def parse_setting(text: str, defaults: dict) -> dict:
    """``"dim=100,epochs=30"`` -> the full embeddings settings (defaults filled in)."""
    settings = dict(defaults)
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in defaults:
            raise SystemExit(
                f"setting {text!r}: {part!r} is not key=value with a key of {sorted(defaults)}"
            )
        settings[key] = int(value) if isinstance(defaults[key], int) else float(value)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("settings", nargs="+", help="key=value,... (embeddings config keys)")
    parser.add_argument("--corpus", type=Path, default=CONLL)
    parser.add_argument("--cache", type=Path, default=RESULTS / "cache" / "embedding_quality")
    parser.add_argument("--n", type=int, default=5000, help="training tokens of the STL model")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the STL model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the STL model")
    args = parser.parse_args(argv)

    defaults = schema_defaults()
    settings_list = [parse_setting(text, defaults) for text in args.settings]
    prepared = prepare_corpus(args.corpus, args.cache / "corpus", cross_sentence=True)
    tasks = make_tasks(prepared.train_y, prepared.train_sentence_lengths, n_tasks=1,
                       n_ner=args.n, slices="contiguous", seed=0,
                       n_classes=prepared.n_classes)
    windows = prepared.train_windows[tasks.token_idx]
    rows = []
    for i, (text, settings) in enumerate(zip(args.settings, settings_list, strict=True)):
        with Timer() as prep:
            matrix = prepare_embeddings(
                prepared, args.cache / f"setting{i}.npy", dim=settings["dim"],
                seed=settings["seed"], overwrite=True, **fasttext_options(settings))
        mcfg = model_config("paper", layers="LSTM_2FCs", n_tasks=1,
                            n_classes=prepared.n_classes, emb_dim=matrix.shape[1],
                            window=prepared.window)
        tcfg = TrainConfig(epochs=args.epochs, batch_size=100, schedule="sequential",
                           threads=args.threads)
        start = time.perf_counter()
        result = train_model(mcfg, tcfg, windows, tasks.labels, matrix, seed=0,
                             point=f"embedding_quality/{text}")
        train_s = time.perf_counter() - start
        scores = {split: score_ids(getattr(prepared, f"{split}_tags"),
                                   predict(result.model, getattr(prepared, f"{split}_windows"),
                                           matrix), prepared.labels)["f1"]
                  for split in ("dev", "test")}
        rows.append({"setting": text, "embedding_wall_s": prep.wall,
                     "embedding_cpu_s": prep.cpu, "stl_train_s": train_s,
                     "dev_f1": scores["dev"], "test_f1": scores["test"],
                     "settings": settings})
        print(f"{text}: embeddings {prep.wall:.1f} s wall ({prep.cpu:.1f} s CPU), "
              f"STL n={args.n} {args.epochs} epochs: dev F1 {scores['dev']:.4f}, "
              f"test F1 {scores['test']:.4f}", flush=True)
    print(table(rows, ["setting", "embedding_wall_s", "embedding_cpu_s", "stl_train_s",
                       "dev_f1", "test_f1"]))
    write_json("embedding_quality", {"n": args.n, "epochs": args.epochs,
                                     "threads": args.threads, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
