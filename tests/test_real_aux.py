"""Real auxiliary tasks through the workflow (issue 20): the aux_tasks grid axis, the
simulate/train/evaluate stages with real task columns, and the real_aux preset."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from _snakemake import hermetic_env, snakemake_command
from conftest import prepare_tiny_experiment
from snakemake.utils import validate

from mtllaws.corpus import load_prepared
from mtllaws.grid import expand_experiment, group_packs
from mtllaws.models import ModelConfig, MTLNet
from mtllaws.pipeline import (
    Pack,
    evaluate_pack,
    read_tasks,
    simulate_pack,
    train_pack,
)
from mtllaws.realtasks import (
    aux_corpus_settings,
    aux_level,
    aux_level_label,
    aux_level_suffix,
    corpus_aux_columns,
    prepared_corpus_name,
)
from mtllaws.relatedness import ami
from mtllaws.shards import collect_runs, summarize
from mtllaws.simulate import make_tasks

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")

#: The record keys of a grid point without real tasks (as before issue 20).
OLD_RECORD_KEYS = {"alpha", "ami", "config_id", "experiment", "mode", "n_ner", "n_syn",
                   "n_tasks", "n_tokens_per_task", "point_id", "rotation", "seed"}


def _exp(*blocks, mode="balanced"):
    return {"mode": mode, "grid": list(blocks), "seeds": [0]}


# --------------------------------------------------------------------------- grid


def test_aux_tasks_axis_expands_into_cases_with_ids():
    exp = _exp(
        {"n_tasks": [2], "n_tokens_per_task": [1000], "aux_tasks": ["pos", "chunk"]},
        {"n_tasks": [3], "n_tokens_per_task": [1000], "aux_tasks": [["pos", "chunk"]]},
        {"n_tasks": [3], "n_tokens_per_task": [1000], "aux_tasks": [3, "chunk_iob"],
         "alpha": [0.9]},
        {"n_tasks": [2], "n_tokens_per_task": [1000], "alpha": [0.9]},
    )
    points = expand_experiment("e", exp)
    ids = [p.config_id for p in points]
    assert ids == ["T2_n1000_xpos", "T2_n1000_xchunk", "T3_n1000_xpos+chunk",
                   "T3_n1000_a0.9_xc3", "T3_n1000_a0.9_xchunkiob", "T2_n1000_a0.9"]
    assert points[2].aux_tasks == ("pos", "chunk") and points[2].alpha is None
    assert points[3].aux_tasks == (3,) and points[3].alpha == 0.9
    assert points[0].record()["aux_tasks"] == ["pos"]
    assert "aux_tasks" not in points[-1].record()
    # pack_levels keeps the real tasks apart and finds the level before the suffix
    packs = group_packs(points, seeds=True, levels=True)
    assert list(packs) == ["T2_n1000_xpos_sall", "T2_n1000_xchunk_sall",
                           "T3_n1000_xpos+chunk_sall", "T3_n1000_aall_xc3_sall",
                           "T3_n1000_aall_xchunkiob_sall", "T2_n1000_aall_sall"]


def test_level_spellings_are_unambiguous():
    assert aux_level("pos") == ("pos",) and aux_level([2, "chunk"]) == (2, "chunk")
    assert aux_level_label(("pos", "chunk")) == "pos+chunk" and aux_level_label(()) == ""
    assert aux_level_suffix(("chunk_iob",)) == "xchunkiob" and aux_level_suffix((7,)) == "xc7"
    assert corpus_aux_columns([("pos",), ("pos", 4)]) == {"c4": 4, "pos": [1, "tag"]}


@pytest.mark.parametrize(
    ("block", "match"),
    [
        ({"n_tasks": [2], "n_tokens_per_task": [100], "aux_tasks": [["pos", "chunk"]]},
         r"grid\[0\]: n_tasks = 2 has 1 auxiliary task\(s\) but an aux_tasks level names 2"),
        ({"n_tasks": [1, 2], "n_tokens_per_task": [100], "aux_tasks": ["pos"]},
         r"n_tasks: \[1\] takes no aux_tasks"),
        ({"n_tasks": [3], "n_tokens_per_task": [100], "aux_tasks": ["pos"]},
         r"grid\[0\]: n_tasks > 1 needs the synthetic tasks' 'alpha' or 'ami'.*exceeds"),
        ({"n_tasks": [2], "n_tokens_per_task": [100], "aux_tasks": ["ner"]},
         r"grid\[0\]: 'aux_tasks': unknown aux task 'ner'; use one of pos, chunk"),
        ({"n_tasks": [3], "n_tokens_per_task": [100], "aux_tasks": [["pos", "pos"]]},
         r"names a task twice"),
        ({"n_tasks": [2], "n_tokens_per_task": [100], "aux_tasks": [0]},
         r"column 0 must be >= 1"),
    ],
)
def test_bad_aux_tasks_blocks_are_refused(block, match):
    with pytest.raises(ValueError, match=match):
        expand_experiment("e", _exp(block))


def test_column_index_beyond_the_corpus_is_refused(tmp_path):
    from mtllaws.realtasks import check_aux_columns

    train = tmp_path / "train.txt"
    train.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\n")
    exp = _exp({"n_tasks": [2], "n_tokens_per_task": [100], "aux_tasks": [3]})
    check_aux_columns("e", exp, train)  # column 3 (NER) exists
    exp["grid"][0]["aux_tasks"] = [4]
    with pytest.raises(ValueError, match=r"experiments.e.grid: aux_tasks column 4 is beyond "
                                         r"the 4 columns .*train.txt"):
        check_aux_columns("e", exp, train)


def test_points_table_refuses_aux_tasks(tmp_path):
    table = tmp_path / "points.csv"
    table.write_text("n_tasks,n_tokens_per_task,aux_tasks\n2,100,pos\n")
    with pytest.raises(ValueError, match="points_csv .* has an 'aux_tasks' column"):
        expand_experiment("e", {"mode": "balanced", "points_csv": str(table), "seeds": [0]})


def test_configs_without_real_tasks_keep_ids_records_and_corpus():
    """Every shipped config without aux_tasks: ids without _x, records as before, the
    plain corpus cache; the schema default (null) changes nothing."""
    presets = sorted((REPO / "config/experiments").glob("*.yaml"))
    for path in [REPO / "config/config.yaml", *presets]:
        config = yaml.safe_load(path.read_text())
        for name, exp in config["experiments"].items():
            if "aux_tasks" in str(exp.get("grid")) or not exp.get("grid"):
                continue
            points = expand_experiment(name, exp)
            with_null = {**exp, "grid": [{**b, "aux_tasks": None} for b in exp["grid"]]}
            assert expand_experiment(name, with_null) == points
            assert all("_x" not in p.config_id for p in points), path
            # points with a per-task alphas pattern (issue 18) add their own key
            assert all(set(p.record()) - {"alphas"} == OLD_RECORD_KEYS for p in points), path
            assert all("alphas" not in p.record() for p in points if p.alphas is None), path
            assert prepared_corpus_name({**exp, "corpus": {"name": "c"}}) == "c"


def test_real_aux_preset_and_its_corpus_settings():
    config = yaml.safe_load((REPO / "config/experiments/real_aux.yaml").read_text())
    validate(config, SCHEMA)
    exp = config["experiments"]["real_aux"]
    points = expand_experiment("real_aux", exp)
    labels = {aux_level_label(p.aux_tasks) for p in points}
    assert labels == {"", "pos", "chunk", "pos+chunk"}
    assert len(points) == 72 and len(group_packs(points, seeds=True)) == 24
    assert prepared_corpus_name(exp) == "conll2003_cross.aux"
    settings = aux_corpus_settings(config["experiments"], "conll2003_cross.aux")
    assert settings["aux_columns"] == {"chunk": [2, "io"], "pos": [1, "tag"]}
    assert "aux_columns" not in aux_corpus_settings(config["experiments"], "conll2003_cross")


# --------------------------------------------------------------------------- stages


def _write_conll(path: Path, n_sentences: int, seed: int) -> None:
    """CoNLL-2003-like lines with 7 POS tags (more classes than NER's 5) and NP/VP chunks."""
    rng = np.random.default_rng(seed)
    pos = ["NN", "VB", "DT", "JJ", "IN", "RB"]
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(n_sentences):
        for i in range(int(rng.integers(3, 10))):
            if rng.random() < 0.25:
                etype = ["PER", "LOC", "ORG", "MISC"][int(rng.integers(4))]
                lines.append(f"Ent{int(rng.integers(30))} NNP B-NP B-{etype}")
            else:
                w = int(rng.integers(60))
                tag = pos[w % 6]
                chunk = "B-VP" if tag == "VB" else ("I-NP" if i else "B-NP")
                lines.append(f"w{w} {tag} {chunk} O")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def real_stages(tmp_path_factory):
    """A tiny corpus cached with POS and chunk columns, embeddings, one simulated pack."""
    tmp = tmp_path_factory.mktemp("real_aux")
    for split, n, seed in (("train", 300, 1), ("valid", 60, 2), ("test", 60, 3)):
        _write_conll(tmp / f"{split}.txt", n, seed)
    grid = [{"n_tasks": [3], "n_tokens_per_task": [200], "aux_tasks": ["pos"],
             "alpha": [0.8]}]
    exp, settings, corpus, emb = prepare_tiny_experiment(
        tmp, tmp, grid, measures=["ami", "cov_rv", "model_sim", "svd_weight", "head_cka"],
        seeds=[0, 1])
    points = [p.record() for p in expand_experiment("e", exp)]
    tasks = tmp / "tasks.parquet"
    # the workflow passes the measures on their own (they stay out of the model settings)
    settings = {**settings, "measures": exp["measures"]}
    simulate_pack(corpus, points, settings, tasks, embeddings=emb)
    return tmp, settings, corpus, emb, tasks, points


def test_simulate_pack_reads_the_real_task_from_its_column(real_stages):
    _, _, corpus, _, tasks, points = real_stages
    prepared = load_prepared(corpus)
    pos = prepared.aux_labels("pos", "train")
    table, meta = read_tasks(tasks)
    assert len(prepared.aux_label_names("pos")) == 7
    for point in points:
        rows = table[table.point_id == point["point_id"]]
        real = rows.label_1 >= 0
        assert real.sum() == 200 and (rows.label_2 >= 0).sum() == 200
        np.testing.assert_array_equal(rows.label_1[real], pos[rows.token[real]])
        info = meta[point["point_id"]]
        assert info["aux_tasks"] == ["pos"] and info["n_classes"] == [5, 7, 5]
        assert np.isnan(info["alphas"][0]) and info["alphas"][1] == 0.8
        ner = prepared.train_y[rows.token[real].to_numpy()]
        assert info["ami"][0] == pytest.approx(ami(ner, rows.label_1[real].to_numpy()))
        # every input measure is finite for a task with more classes than NER
        for name in ("cov_rv", "model_sim", "svd_weight"):
            assert len(info[name]) == 2 and np.isfinite(info[name]).all(), name
    # the same slices as a synthetic task would get: only the labels differ
    synthetic = make_tasks(prepared.train_y, prepared.train_sentence_lengths, n_tasks=3,
                           n_ner=200, alphas=0.8, seed=0, n_classes=prepared.n_classes)
    rows = table[table.point_id == points[0]["point_id"]]
    np.testing.assert_array_equal(rows.token, synthetic.token_idx)
    np.testing.assert_array_equal(rows.label_2, synthetic.labels[:, 2])


def test_train_and_evaluate_a_pack_with_mixed_head_sizes(real_stages):
    tmp, settings, corpus, emb, tasks, points = real_stages
    common = Pack(corpus=corpus, embeddings=emb, tasks=tasks, points=points)
    train_pack(common, settings=settings, model_out=tmp / "m.pt", shard_out=tmp / "t.parquet")
    saved = torch.load(tmp / "m.pt", weights_only=True)
    config = ModelConfig(**saved["model_config"])
    assert config.class_counts == (5, 7, 5)
    net = MTLNet(config)
    net.load_state_dict(saved["states"][points[0]["point_id"]])  # checkpoints load
    evaluate_pack(common, model=tmp / "m.pt", train_shard=tmp / "t.parquet",
                  settings=settings, out=tmp / "e.parquet")
    rows = pd.read_parquet(tmp / "e.parquet")
    assert list(rows.aux_tasks) == ["pos", "pos"] and rows.test_f1.between(0, 1).all()
    assert all(np.isfinite(list(v)).all() and len(v) == 2 for v in rows.head_cka)
    # the stacked engine trains the mixed heads as one-by-one training does
    stacked = {**settings, "train": {**settings["train"], "multi_model": True}}
    train_pack(common, settings=stacked, model_out=tmp / "b.pt", shard_out=tmp / "b.parquet")
    other = torch.load(tmp / "b.pt", weights_only=True)["states"]
    for point in points:
        for key, value in saved["states"][point["point_id"]].items():
            torch.testing.assert_close(value, other[point["point_id"]][key],
                                       rtol=1e-5, atol=1e-5)


def test_runs_table_fills_and_groups_aux_tasks(real_stages, tmp_path):
    tmp = real_stages[0]
    if not (tmp / "e.parquet").exists():
        pytest.skip("needs test_train_and_evaluate_a_pack_with_mixed_head_sizes first")
    synthetic = pd.read_parquet(tmp / "e.parquet").drop(columns="aux_tasks")
    synthetic["point_id"] = synthetic["point_id"] + "_syn"
    synthetic["config_id"] = synthetic["config_id"] + "_syn"
    synthetic.to_parquet(tmp_path / "syn.parquet")
    runs = collect_runs([tmp / "e.parquet", tmp_path / "syn.parquet"])
    assert sorted(runs.aux_tasks) == ["", "", "pos", "pos"]
    summary = summarize(runs)
    assert sorted(summary.aux_tasks) == ["", "pos"] and (summary["count"] == 2).all()
    assert "aux_tasks" not in summarize(runs.drop(columns="aux_tasks")).columns


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.realdata
def test_real_aux_preset_end_to_end_quick_form(conll_dir, tmp_path):
    """The real_aux preset at n = 200, 2 epochs, 1 seed, tiny model and embeddings, on
    the real corpus: the +pos / +chunk / +pos+chunk rows, their AMI, head sizes, F1."""
    config = yaml.safe_load((REPO / "config/experiments/real_aux.yaml").read_text())
    exp = config["experiments"]["real_aux"]
    for block in exp["grid"]:
        block["n_tokens_per_task"] = [200]
    # the law test needs >= 10 synthetic configurations; the quick form has 4, so it runs
    # the sweep without the preset's real_tasks study
    exp.update(seeds=[0], embeddings={"dim": 16, "epochs": 1}, studies=[])
    exp["train"]["epochs"] = 2
    exp["corpus"]["dir"] = str(conll_dir)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        snakemake_command("--configfile", tmp_path / "config.yaml", "--cores", "2",
                          "--directory", tmp_path),
        capture_output=True, text=True, timeout=900, env=hermetic_env())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    runs = pd.read_parquet(tmp_path / "results/real_aux/runs.parquet")
    assert set(runs.aux_tasks) == {"", "pos", "chunk", "pos+chunk"}
    real = runs[runs.aux_tasks != ""]
    assert all(len(v) == n - 1 for v, n in zip(real.ami, real.n_tasks, strict=True))
    assert all(0 < a < 1 for v in real.ami for a in v)
    assert runs.test_f1.between(0, 1).all() and np.isfinite(runs.test_f1).all()
    prepared = load_prepared(tmp_path / "resources/corpus/conll2003_cross.aux/prepared")
    n_pos = len(prepared.aux_label_names("pos"))
    n_chunk = len(prepared.aux_label_names("chunk"))
    saved = torch.load(tmp_path / "results/real_aux/train/T3_n200_xpos+chunk_sall.pt",
                       weights_only=True)
    assert saved["model_config"]["n_classes"] == [prepared.n_classes, n_pos, n_chunk]
    summary = pd.read_parquet(tmp_path / "results/real_aux/summary.parquet")
    assert len(summary) == len(runs) == 8
