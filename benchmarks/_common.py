"""Shared helpers of the benchmark scripts: data locations, cache, tables, JSON output."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CONLL = Path(os.environ.get("MTLLAWS_CONLL", ROOT.parent / "shared" / "data" / "conll2003"))
CACHE = RESULTS / "cache"


def ensure_cache(cache: Path = CACHE, corpus: Path = CONLL):
    """Prepared CoNLL-2003 and its fastText (300-d) matrix under ``cache`` (built once)."""
    from mtllaws.corpus import prepare_corpus
    from mtllaws.embeddings import prepare_embeddings

    if not (corpus / "train.txt").exists():
        raise SystemExit(f"CoNLL-2003 not found at {corpus}: set MTLLAWS_CONLL=<dir>")
    prepared = prepare_corpus(corpus, cache / "conll")
    matrix = prepare_embeddings(prepared, cache / "conll" / "fasttext.npy")
    return prepared, matrix


def machine() -> dict:
    return {
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def table(rows: list[dict], columns: list[str]) -> str:
    """Plain text table of ``rows`` (floats with 3 significant decimals)."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def write_json(name: str, payload: dict) -> Path:
    """Write ``payload`` (plus machine info) to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


class Timer:
    """``with Timer() as t: ...`` then ``t.wall``, ``t.cpu`` (seconds)."""

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        return False
