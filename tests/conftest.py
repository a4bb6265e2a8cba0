"""Shared fixtures: a small generated CoNLL corpus and the path to the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CONLL_DIR = SHARED / "conll2003"
PAPER_CSV = SHARED / "paper" / "mtl_balanced.csv"

_TYPES = ["PER", "ORG", "LOC", "MISC"]


def write_tiny_conll(path: Path, n_sentences: int, seed: int) -> None:
    """Write a generated 4-column CoNLL-2003-style file in IOB2, with -DOCSTART- lines."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)] + [f"Ent{i}" for i in range(40)]
    lines = ["-DOCSTART- -X- -X- O", ""]
    for s in range(n_sentences):
        if s and s % 10 == 0:
            lines += ["-DOCSTART- -X- -X- O", ""]
        length = int(rng.integers(3, 12))
        i = 0
        while i < length:
            if rng.random() < 0.25:
                etype = _TYPES[int(rng.integers(4))]
                span = int(rng.integers(1, 3))
                for j in range(span):
                    word = words[60 + int(rng.integers(40))]
                    lines.append(f"{word} NNP B-NP {'B' if j == 0 else 'I'}-{etype}")
                i += span
            else:
                lines.append(f"{words[int(rng.integers(60))]} NN I-NP O")
                i += 1
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def tiny_conll_dir(tmp_path_factory) -> Path:
    """A directory with generated train.txt, valid.txt and test.txt."""
    d = tmp_path_factory.mktemp("tiny_conll")
    write_tiny_conll(d / "train.txt", 400, seed=1)
    write_tiny_conll(d / "valid.txt", 80, seed=2)
    write_tiny_conll(d / "test.txt", 80, seed=3)
    return d


@pytest.fixture(scope="session")
def conll_dir() -> Path:
    """The real CoNLL-2003 directory; skips when ../shared is absent."""
    if not (CONLL_DIR / "train.txt").exists():
        pytest.skip(f"real CoNLL-2003 not found at {CONLL_DIR}")
    return CONLL_DIR


@pytest.fixture(scope="session")
def paper_csv() -> Path:
    """The paper's published balanced table; skips when ../shared is absent."""
    if not PAPER_CSV.exists():
        pytest.skip(f"paper table not found at {PAPER_CSV}")
    return PAPER_CSV


@pytest.fixture(scope="session")
def skewed_y():
    """200k CoNLL-like IO labels (83 % O) in sentences of 1..30 tokens."""
    rng = np.random.default_rng(7)
    y = rng.choice(5, size=200_000, p=[0.83, 0.055, 0.05, 0.04, 0.025])
    lengths = rng.integers(1, 30, size=20_000)
    lengths = lengths[np.cumsum(lengths) <= y.size]
    lengths = np.append(lengths, y.size - lengths.sum())
    return y, lengths


#: Sizes of :func:`two_task_data`: vocabulary, embedding dim, window, classes.
TWO_TASK_SIZES = (30, 6, 7, 4)


@pytest.fixture(scope="session")
def two_task_data():
    """Two tasks on disjoint rows; embeddings with a zero padding row (test_core, test_align)."""
    V, D, W, C = TWO_TASK_SIZES
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(V, D)).astype(np.float32)
    emb[0] = 0
    n = 64
    win = rng.integers(0, V, size=(2 * n, W)).astype(np.int32)
    labels = np.full((2 * n, 2), -1, dtype=np.int64)  # MASK
    labels[:n, 0] = win[:n, 3] % C
    labels[n:, 1] = win[n:, 2] % C
    return win, labels, emb


def prepare_tiny_experiment(tmp: Path, source_dir: Path, grid: list, *, measures: list,
                            seeds=(0,)):
    """One validated experiment on a tiny corpus, prepared as the workflow prepares it.

    The config (8-d embeddings, hidden 8, dense [8], 2 epochs) is checked against the
    schema; the corpus cache gets the settings the workflow's ``prepare_corpus`` rule gets
    (:func:`mtllaws.realtasks.aux_corpus_settings`: the ``aux_columns`` of any real task
    the grid names), then the embeddings are trained.

    Returns
    -------
    (experiment, settings, corpus_dir, embeddings_path)
    """
    from snakemake.utils import validate

    from mtllaws.grid import model_settings
    from mtllaws.pipeline import prepare_corpus_stage, prepare_embeddings_stage
    from mtllaws.realtasks import aux_corpus_settings, prepared_corpus_name

    config = {
        "run": ["e"],
        "experiments": {"e": {
            "grid": grid,
            "seeds": list(seeds),
            "measures": list(measures),
            "corpus": {"name": "tiny", "dir": str(source_dir)},
            "embeddings": {"dim": 8},
            "model": {"hidden": 8, "dense": [8]},
            "train": {"epochs": 2},
        }},
    }
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    exp = config["experiments"]["e"]
    settings = model_settings(exp)
    corpus, emb = tmp / "corpus", tmp / "emb.npy"
    sources = {s: source_dir / f"{s}.txt" for s in ("train", "valid", "test")}
    prepare_corpus_stage(sources, corpus,
                         aux_corpus_settings(config["experiments"], prepared_corpus_name(exp)))
    prepare_embeddings_stage(corpus, emb, settings["embeddings"])
    return exp, settings, corpus, emb
