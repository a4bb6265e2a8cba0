"""Tests of mtllaws.pipeline: the stages the workflow's scripts call."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from snakemake.utils import validate

from mtllaws.corpus import load_prepared
from mtllaws.download import download_corpus
from mtllaws.embeddings import FASTTEXT_EPOCHS, load_embeddings
from mtllaws.grid import GridPoint, expand_experiment, model_settings
from mtllaws.models import ModelConfig, MTLNet
from mtllaws.pipeline import (
    Pack,
    collect_study_results,
    evaluate_pack,
    prepare_corpus_stage,
    prepare_embeddings_stage,
    read_tasks,
    simulate_pack,
    train_pack,
)
from mtllaws.settings import embedding_download_path, embedding_id, fasttext_options
from mtllaws.shards import collect_runs, summarize
from mtllaws.simulate import simulate_labels
from mtllaws.train import predict

REPO = Path(__file__).resolve().parents[1]


def make_zip(tmp_path: Path, files: dict[str, bytes]) -> str:
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for name, data in files.items():
            handle.writestr(f"conll2003/{name}", data)
    return archive.as_uri()


def test_download_checks_sha256_and_writes_all_files(tmp_path):
    files = {f"{s}.txt": f"{s} O\n".encode() for s in ("train", "valid", "test")}
    url = make_zip(tmp_path, files)
    sha = {s: hashlib.sha256(files[f"{s}.txt"]).hexdigest() for s in ("train", "valid", "test")}
    out = {s: tmp_path / "dl" / f"{s}.txt" for s in sha}
    download_corpus(url, sha, out)
    assert out["valid"].read_bytes() == b"valid O\n"

    bad = dict(sha, test="0" * 64)
    out2 = {s: tmp_path / "dl2" / f"{s}.txt" for s in sha}
    with pytest.raises(ValueError, match=r"test.txt .* has sha256 .*corpus.sha256.test"):
        download_corpus(url, bad, out2)
    assert not any(p.exists() for p in out2.values())  # nothing partial is left


def test_download_names_missing_file_and_offline(tmp_path):
    url = make_zip(tmp_path, {"train.txt": b"x O\n"})
    with pytest.raises(ValueError, match="holds no valid.txt"):
        download_corpus(url, {}, {"train": tmp_path / "a", "valid": tmp_path / "b"})
    with pytest.raises(ValueError, match="set corpus.dir"):
        download_corpus((tmp_path / "missing.zip").as_uri(), {}, {"train": tmp_path / "c"})


def test_embedding_ids():
    assert embedding_id({"pretrained": "", "dim": 300, "seed": 0}) == "fasttext300_s0"
    a = embedding_id({"pretrained": "/a/wiki.en.vec", "dim": 300, "seed": 0})
    b = embedding_id({"pretrained": "/b/wiki.en.vec", "dim": 300, "seed": 0})
    assert a.startswith("pretrained_wiki_en_") and a != b
    # fastText settings at train_fasttext's defaults keep the short id; others add a hash
    defaults = {"pretrained": "", "url": "", "dim": 300, "seed": 0, "epochs": FASTTEXT_EPOCHS,
                "window": 5,
                "minn": 3, "maxn": 5, "bucket": 2**17, "negative": 5, "min_count": 1,
                "sample": 0.001, "sg": 1}
    assert embedding_id(defaults) == "fasttext300_s0"
    more = embedding_id({**defaults, "epochs": FASTTEXT_EPOCHS + 1})
    assert more.startswith("fasttext300_s0_") and more != embedding_id({**defaults, "maxn": 6})
    url = embedding_id({**defaults, "url": "https://example.org/x/cc.en.300.vec.gz"})
    assert url.startswith("pretrained_cc_en_300_vec_")


def test_fasttext_options_and_download_path():
    settings = {"dim": 8, "seed": 0, "epochs": 30, "minn": 2, "maxn": 4, "sample": 0}
    assert fasttext_options(settings) == {"epochs": 30, "min_n": 2, "max_n": 4, "sample": 0.0}
    with pytest.raises(ValueError, match=r"embeddings.minn \(5\) is above embeddings.maxn"):
        fasttext_options({"minn": 5, "maxn": 3})
    url = "https://dl.example.org/fasttext/cc.en.300.vec.gz"
    path = embedding_download_path({"pretrained": "", "url": url})
    assert path.startswith("resources/embeddings/download/") and path.endswith("_cc.en.300.vec.gz")
    assert embedding_download_path({"pretrained": "/x.vec", "url": url}) == ""
    assert embedding_download_path({"pretrained": "", "url": ""}) == ""


def test_collect_study_results(tmp_path):
    for i in range(2):
        (tmp_path / f"{i}.json").write_text(json.dumps([{"study": f"s{i}"}]))
    assert collect_study_results([tmp_path / "0.json", tmp_path / "1.json"]) == [
        {"study": "s0"},
        {"study": "s1"},
    ]
    with pytest.raises(ValueError, match="missing.json"):
        collect_study_results([tmp_path / "missing.json"])


@pytest.fixture(scope="module")
def stages(tiny_conll_dir, tmp_path_factory):
    """A prepared tiny corpus, embeddings and a simulated pack of three seeds."""
    tmp = tmp_path_factory.mktemp("pipeline")
    config = {
        "run": ["e"],
        "experiments": {
            "e": {
                "grid": [{"n_tasks": [2], "n_tokens_per_task": [300], "alpha": [0.9]}],
                "seeds": [0, 1, 2],
                "corpus": {"name": "tiny", "dir": str(tiny_conll_dir)},
                "embeddings": {"dim": 8},
                "model": {"hidden": 8, "dense": [8]},
                "train": {"epochs": 3},
            }
        },
    }
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    settings = model_settings(config["experiments"]["e"])
    corpus, emb = tmp / "corpus", tmp / "emb.npy"
    sources = {s: tiny_conll_dir / f"{s}.txt" for s in ("train", "valid", "test")}
    prepare_corpus_stage(sources, corpus, settings["corpus"])
    prepare_embeddings_stage(corpus, emb, settings["embeddings"])
    points = [GridPoint("e", "balanced", 2, 300, 300, 0.9, None, s).record() for s in range(3)]
    tasks = tmp / "tasks.parquet"
    simulate_pack(corpus, points, settings, tasks)
    return tmp, settings, corpus, emb, tasks, points


def test_simulate_pack_table_and_metadata(stages):
    _, _, _, _, tasks, points = stages
    table, meta = read_tasks(tasks)
    assert list(table.columns) == ["point_id", "token", "label_0", "label_1"]
    for point in points:
        rows = table[table.point_id == point["point_id"]]
        assert (rows.label_0 >= 0).sum() == 300 and (rows.label_1 >= 0).sum() == 300
        assert meta[point["point_id"]]["alphas"] == [0.9]
        assert 0 < meta[point["point_id"]]["ami"][0] < 1


def test_train_and_evaluate_pack(stages):
    tmp, settings, corpus, emb, tasks, points = stages
    common = Pack(corpus=corpus, embeddings=emb, tasks=tasks, points=points)
    train_pack(common, settings=settings, model_out=tmp / "m.pt", shard_out=tmp / "t.parquet")
    trained = dict(model=tmp / "m.pt", train_shard=tmp / "t.parquet")
    shard = pd.read_parquet(tmp / "t.parquet")
    assert list(shard.point_id) == [p["point_id"] for p in points]
    assert all(len(loss) == 3 for loss in shard.train_loss)
    evaluate_pack(common, **trained, settings=settings, out=tmp / "e.parquet")
    rows = pd.read_parquet(tmp / "e.parquet")
    assert len(rows) == 3 and rows.test_f1.between(0, 1).all()
    assert (rows.alpha == 0.9).all() and rows.ami_mean.between(0, 1).all()
    assert list(rows.alpha_pattern) == [""] * 3 and [list(a) for a in rows.alphas] == [[0.9]] * 3
    # the stage's fastText settings (dim 8 from the config, the rest defaults) are recorded
    assert set(rows.embeddings_source) == {
        f"fasttext-corpus dim=8 epochs={FASTTEXT_EPOCHS} window=5 minn=3 maxn=5 bucket=131072 "
        "negative=5 "
        "min_count=1 sample=0.001 sg=1 seed=0"
    }

    # all_tasks: the same NER scores, plus each synthetic head's dev accuracy on labels
    # simulated with the task's alpha (the head predicted on its own gives the same).
    every = {**settings, "evaluate": {**settings["evaluate"], "all_tasks": True}}
    evaluate_pack(common, **trained, settings=every, out=tmp / "e_all.parquet")
    rows_all = pd.read_parquet(tmp / "e_all.parquet")
    pd.testing.assert_series_equal(rows_all.dev_f1, rows.dev_f1)
    pd.testing.assert_series_equal(rows_all.test_f1, rows.test_f1)
    prepared = load_prepared(corpus)
    saved = torch.load(tmp / "m.pt", weights_only=True)
    for point, accuracy in zip(points, rows_all.dev_task_accuracy, strict=True):
        net = MTLNet(ModelConfig(**saved["model_config"]))
        net.load_state_dict(saved["states"][point["point_id"]])
        gold = simulate_labels(prepared.dev_y, 0.9, prepared.n_classes,
                               np.random.default_rng([point["seed"], 1]))
        head = predict(net, prepared.dev_windows, load_embeddings(emb), task=1)
        assert list(accuracy) == [float((head == gold).mean())]


def test_multi_model_engine_matches_one_by_one(stages):
    tmp, settings, corpus, emb, tasks, points = stages
    common = Pack(corpus=corpus, embeddings=emb, tasks=tasks, points=points)
    train_pack(common, settings=settings, model_out=tmp / "a.pt", shard_out=tmp / "a.parquet")
    stacked = {**settings, "train": {**settings["train"], "multi_model": True}}
    train_pack(common, settings=stacked, model_out=tmp / "b.pt", shard_out=tmp / "b.parquet")
    a = torch.load(tmp / "a.pt", weights_only=True)["states"]
    b = torch.load(tmp / "b.pt", weights_only=True)["states"]
    for point in points:
        for key, value in a[point["point_id"]].items():
            torch.testing.assert_close(value, b[point["point_id"]][key], rtol=1e-5, atol=1e-5)
    la = np.concatenate(pd.read_parquet(tmp / "a.parquet").train_loss.to_list())
    lb = np.concatenate(pd.read_parquet(tmp / "b.parquet").train_loss.to_list())
    np.testing.assert_allclose(la, lb, rtol=1e-5)

    with_checkpoints = {**stacked, "train": {**stacked["train"], "checkpoint_every": 1}}
    with pytest.raises(ValueError, match="multi_model"):
        train_pack(
            common, settings=with_checkpoints, model_out=tmp / "c.pt", shard_out=tmp / "c.parquet"
        )


def test_align_and_svd_weights_through_the_packs(stages):
    """Issue 18: model.align and train.task_weights svd reach training; the weights the
    training used land in the train shard and the run row (task_weights, a list)."""
    tmp, settings, corpus, emb, tasks, points = stages
    common = Pack(corpus=corpus, embeddings=emb, tasks=tasks, points=points[:2])
    svd = {
        **settings,
        "model": {**settings["model"], "align": "aux"},
        "train": {**settings["train"], "epochs": 1, "task_weights": "svd",
                  "align_phase": "frozen", "align_epochs": 1},
    }
    train_pack(common, settings=svd, model_out=tmp / "s.pt", shard_out=tmp / "s.parquet")
    shard = pd.read_parquet(tmp / "s.parquet")
    assert all(len(loss) == 2 for loss in shard.train_loss)
    weights = [list(w) for w in shard.task_weights]
    assert all(len(w) == 2 and sum(w) == pytest.approx(2.0) for w in weights)
    saved = torch.load(tmp / "s.pt", weights_only=True)
    assert saved["model_config"]["align"] == "aux"
    assert saved["states"][points[0]["point_id"]]["align_r"].shape == (1, 8, 8)
    evaluate_pack(common, model=tmp / "s.pt", train_shard=tmp / "s.parquet", settings=svd,
                  out=tmp / "s_eval.parquet")
    rows = pd.read_parquet(tmp / "s_eval.parquet")
    assert [list(w) for w in rows.task_weights] == weights
    assert rows.test_f1.between(0, 1).all()


def test_alpha_pattern_through_the_packs(stages):
    """Grid axis alphas: each synthetic task gets its own alpha ('noise' = 1/c); the run
    row keeps the resolved alphas and the pattern's label, alpha is NaN."""
    tmp, settings, corpus, emb, _, _ = stages
    grid = [{"n_tasks": [3], "n_tokens_per_task": [200], "alphas": [[0.99, "noise"]]}]
    points = [p.record() for p in expand_experiment(
        "e", {"grid": grid, "seeds": [0], "points_csv": ""})]
    assert points[0]["point_id"] == "T3_n200_p0.99-noise_s0"
    tasks = tmp / "pattern.parquet"
    simulate_pack(corpus, points, settings, tasks)
    table, meta = read_tasks(tasks)
    c = load_prepared(corpus).n_classes
    assert meta[points[0]["point_id"]]["alphas"] == [0.99, 1.0 / c]
    assert meta[points[0]["point_id"]]["alpha"] is None
    assert meta[points[0]["point_id"]]["alpha_pattern"] == "0.99-noise"
    ami = meta[points[0]["point_id"]]["ami"]
    assert ami[0] > 0.5 and abs(ami[1]) < 0.05  # the noise task carries nothing of NER
    one = {**settings, "train": {**settings["train"], "epochs": 1}}
    common = Pack(corpus=corpus, embeddings=emb, tasks=tasks, points=points)
    train_pack(common, settings=one, model_out=tmp / "p.pt", shard_out=tmp / "p_t.parquet")
    evaluate_pack(common, model=tmp / "p.pt", train_shard=tmp / "p_t.parquet", settings=one,
                  out=tmp / "p_e.parquet")
    rows = pd.read_parquet(tmp / "p_e.parquet")
    assert list(rows.alpha_pattern) == ["0.99-noise"] and rows.alpha.isna().all()
    assert [list(a) for a in rows.alphas] == [[0.99, 1.0 / c]]
    summary = summarize(collect_runs([tmp / "p_e.parquet"]))
    assert list(summary.alpha_pattern) == ["0.99-noise"]
    # the model settings that the transfer presets vary are in the row and the summary
    assert list(rows["hidden"]) == [8] and list(rows["align"]) == ["none"]
    assert list(summary.hidden) == ["8"] and "hidden_mean" not in summary.columns
