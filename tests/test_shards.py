"""Tests of mtllaws.shards."""

import numpy as np
import pandas as pd
import pytest

from mtllaws.shards import (
    GROUP_KEYS,
    RUN_COLUMNS,
    UNRECORDED_SOURCE,
    ShardError,
    atomic_path,
    collect_runs,
    read_shard,
    summarize,
    write_csv,
    write_parquet,
)


def make_row(config_id="T2_n1000_a0.9", seed=0, f1=0.5, **extra):
    row = {
        "experiment": "e",
        "mode": "balanced",
        "slices": "disjoint",
        "config_id": config_id,
        "point_id": f"{config_id}_s{seed}",
        "n_tasks": 2,
        "n_tokens_per_task": 1000.0,
        "n_ner": 1000,
        "n_syn": 1000,
        "alpha": 0.9,
        "ami_target": np.nan,
        "seed": seed,
        "ami": [0.5],
        "ami_mean": 0.5,
        "dev_precision": f1,
        "dev_recall": f1,
        "dev_f1": f1,
        "test_precision": f1,
        "test_recall": f1,
        "test_f1": f1,
        "train_loss": [1.0, 0.5],
        "wall_time_s": 1.0,
        "version": "0.1.0",
        "config_hash": "abc",
    }
    row.update(extra)
    return pd.DataFrame([row])


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "x.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_write_and_read_shard_roundtrip(tmp_path):
    path = tmp_path / "s0.parquet"
    write_parquet(make_row(), path, metadata={"k": "v"})
    frame = read_shard(path)
    assert frame.loc[0, "test_f1"] == 0.5
    assert list(frame.loc[0, "train_loss"]) == [1.0, 0.5]
    assert set(RUN_COLUMNS) <= set(frame.columns)


def test_corrupt_shard_names_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(ShardError, match="bad.parquet"):
        read_shard(path)


def test_foreign_shard_names_missing_columns(tmp_path):
    path = tmp_path / "foreign.parquet"
    write_parquet(pd.DataFrame({"a": [1]}), path)
    with pytest.raises(ShardError, match=r"foreign.parquet.*lacks column"):
        read_shard(path)


def test_wrong_dtype_is_rejected(tmp_path):
    path = tmp_path / "typed.parquet"
    write_parquet(make_row(test_f1="high"), path)
    with pytest.raises(ShardError, match="test_f1"):
        read_shard(path)


def test_collect_sorts_and_rejects_duplicates(tmp_path):
    paths = []
    for i, (cfg, seed) in enumerate([("T2_n1000_a0.9", 1), ("T2_n1000_a0.9", 0), ("T1_n1000", 0)]):
        p = tmp_path / f"{i}.parquet"
        write_parquet(make_row(cfg, seed), p)
        paths.append(p)
    runs = collect_runs(paths)
    assert list(runs["point_id"]) == ["T1_n1000_s0", "T2_n1000_a0.9_s0", "T2_n1000_a0.9_s1"]
    dup = tmp_path / "dup.parquet"
    write_parquet(make_row("T1_n1000", 0), dup)
    with pytest.raises(ShardError, match="more than one shard"):
        collect_runs([*paths, dup])


def test_summarize_mean_std_count():
    runs = pd.concat(
        [make_row(seed=0, f1=0.4), make_row(seed=1, f1=0.6), make_row("T1_n1000", 0, 0.3)],
        ignore_index=True,
    )
    summary = summarize(runs)
    assert list(summary.columns[: len(GROUP_KEYS)]) == GROUP_KEYS
    mtl = summary[summary.config_id == "T2_n1000_a0.9"].iloc[0]
    assert mtl["test_f1_mean"] == pytest.approx(0.5)
    assert mtl["test_f1_std"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert mtl["count"] == 2
    assert "seed_mean" not in summary.columns


def test_embeddings_source_is_carried_into_the_summary_and_old_shards_say_unrecorded(
    tmp_path,
):
    source = "fasttext-corpus dim=300 epochs=5 seed=0"
    runs = pd.concat(
        [make_row(seed=0, embeddings_source=source), make_row(seed=1, embeddings_source=source),
         make_row("T1_n1000", 0, embeddings_source="other.vec sha256=ab")],
        ignore_index=True,
    )
    summary = summarize(runs).set_index("config_id")
    assert summary.loc["T2_n1000_a0.9", "embeddings_source"] == source
    assert summary.loc["T1_n1000", "embeddings_source"] == "other.vec sha256=ab"
    mixed = runs.assign(embeddings_source=["a", "b", "c"])
    assert summarize(mixed).set_index("config_id").loc["T2_n1000_a0.9",
                                                        "embeddings_source"] == "a | b"
    old = tmp_path / "old.parquet"
    write_parquet(make_row(), old)  # a shard of a version without the column
    assert read_shard(old).loc[0, "embeddings_source"] == UNRECORDED_SOURCE


def test_csv_flattens_lists(tmp_path):
    path = tmp_path / "runs.csv"
    write_csv(make_row(), path)
    text = path.read_text()
    assert "1;0.5" in text


# ---------------------------------------------- issue 19 item 4: broken shards are named
def test_shard_problem_names_broken_outputs(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from mtllaws.shards import check_shard, shard_problem

    good = tmp_path / "tasks.parquet"
    write_parquet(
        pd.DataFrame({"point_id": ["p"], "token": [0], "label_0": [1]}),
        good,
        metadata={"mtllaws.tasks": "{}"},
    )
    assert shard_problem(good, "simulate") is None
    assert check_shard(tmp_path / "absent.parquet", "simulate").endswith("absent.parquet")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-20])
    assert "truncated.parquet is not a readable Parquet file" in shard_problem(
        truncated, "simulate"
    )
    with pytest.raises(ShardError, match="truncated.parquet .*delete it and rerun"):
        check_shard(truncated, "simulate")
    bare = tmp_path / "bare.parquet"
    pq.write_table(pa.table({"point_id": ["p"], "token": [0], "label_0": [1]}), bare)
    assert "lacks its mtllaws.tasks metadata" in shard_problem(bare, "simulate")
    assert "lacks column(s)" in shard_problem(bare, "evaluate")
    model = tmp_path / "m.pt"
    torch.save({"states": {}}, model)
    assert shard_problem(model, "model") is None
    model.write_bytes(b"garbage")
    assert "m.pt is not a readable torch file" in shard_problem(model, "model")


def test_measure_columns_follow_the_registry_and_the_summary_names(tmp_path):
    from mtllaws import relatedness as R

    ami = R.measure_columns("ami")
    assert RUN_COLUMNS[ami.values] == "O" and RUN_COLUMNS[ami.mean] == "f"
    assert R.TARGET_COLUMN in RUN_COLUMNS and R.TARGET_COLUMN in GROUP_KEYS
    R.register(R.Measure(name="toy", function=len, description="", label="", symbol="X"))
    try:
        runs = pd.concat(
            [make_row(seed=s, toy=[0.1 * s], toy_mean=0.1 * s) for s in range(3)],
            ignore_index=True,
        )
        stats = summarize(runs)
        toy = R.measure_columns("toy")
        for cols in (ami, toy):
            assert {cols.summary_mean, cols.summary_std} <= set(stats.columns)
        assert stats[toy.summary_mean].iloc[0] == pytest.approx(0.1)
        write_parquet(make_row(toy=[0.5], toy_mean="high"), tmp_path / "bad.parquet")
        with pytest.raises(ShardError, match="column 'toy_mean' has dtype .*, expected kind 'f'"):
            read_shard(tmp_path / "bad.parquet")
        write_parquet(make_row(), tmp_path / "old.parquet")  # a shard without the measure
        assert "toy" not in read_shard(tmp_path / "old.parquet").columns
    finally:
        R.MEASURES.pop("toy")


def test_alpha_patterns_never_merge_and_old_shards_have_none(tmp_path):
    """Grid axis alphas (issue 18): the pattern is a group key; old shards get ""."""
    runs = pd.concat(
        [make_row("T3_n1000_p0.99-noise", 0, 0.4, alpha=np.nan, alpha_pattern="0.99-noise"),
         make_row("T3_n1000_p0.99-0.99", 0, 0.6, alpha=np.nan, alpha_pattern="0.99-0.99"),
         make_row("T3_n1000_p0.99-0.99", 1, 0.8, alpha=np.nan, alpha_pattern="0.99-0.99")],
        ignore_index=True,
    )
    summary = summarize(runs).set_index("alpha_pattern")
    assert summary.loc["0.99-0.99", "test_f1_mean"] == pytest.approx(0.7)
    assert summary.loc["0.99-noise", "count"] == 1
    old = tmp_path / "old.parquet"
    write_parquet(make_row(), old)  # a shard of a version without the column
    assert read_shard(old).loc[0, "alpha_pattern"] == ""
    assert list(summarize(make_row()).alpha_pattern) == [""]


def test_an_evaluate_shard_written_before_alpha_patterns_still_aggregates(tmp_path):
    """Finished results stay usable: a shard without alpha_pattern (issue 18) passes the
    shard check and reads as "" in the runs table."""
    from mtllaws.shards import check_shard

    path = tmp_path / "old.parquet"
    write_parquet(make_row(rotation=0.0, embeddings_source="fasttext"), path)
    assert "alpha_pattern" not in pd.read_parquet(path).columns
    assert check_shard(path, "evaluate") == str(path)
    assert collect_runs([path])["alpha_pattern"].tolist() == [""]


def test_csv_list_cells_with_a_missing_number(tmp_path):
    """A real task has no alpha: its entry of the alphas list reads back as None."""
    frame = pd.DataFrame({"alphas": [[0.9, None], [1.0]], "x": [1, 2]})
    write_csv(frame, tmp_path / "t.csv")
    assert pd.read_csv(tmp_path / "t.csv")["alphas"].tolist() == ["0.9;nan", "1"]
