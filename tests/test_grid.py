"""Tests of mtllaws.grid."""

import pytest

from mtllaws.grid import (
    GridPoint,
    config_hash,
    expand_experiment,
    format_number,
    group_packs,
    pack_id,
    pattern_alphas,
    pattern_label,
)


def _exp(grid, mode="balanced", seeds=(0, 1), **extra):
    return {"mode": mode, "grid": grid, "points_csv": "", "seeds": list(seeds), **extra}


def test_balanced_product_and_stl_dedup():
    grid = [
        {"n_tasks": [1, 2], "n_tokens_per_task": [1000, 2000], "alpha": [0.6, 0.9]},
        {"n_tasks": [1], "n_tokens_per_task": [1000], "alpha": None},
    ]
    points = expand_experiment("e", _exp(grid))
    configs = sorted({p.config_id for p in points})
    assert configs == sorted(
        ["T1_n1000", "T1_n2000", "T2_n1000_a0.6", "T2_n1000_a0.9", "T2_n2000_a0.6", "T2_n2000_a0.9"]
    )
    assert len(points) == 12
    assert len({p.point_id for p in points}) == 12
    stl = [p for p in points if p.n_tasks == 1]
    assert all(p.alpha is None and p.ami is None for p in stl)


def test_unbalanced_ids_and_ami_targets():
    grid = [{"n_tasks": [1, 3], "n_ner": [1000], "n_syn": [2000, 4000], "ami": [0.34]}]
    points = expand_experiment("u", _exp(grid, mode="unbalanced", seeds=[7]))
    ids = [p.point_id for p in points]
    assert ids == [
        "T1_ner1000_s7",
        "T3_ner1000_syn2000_ami0.34_s7",
        "T3_ner1000_syn4000_ami0.34_s7",
    ]
    assert points[0].n_syn == 0
    assert points[1].n_tokens_per_task is None
    assert points[2].record()["ami"] == 0.34


def test_unbalanced_stl_block_needs_no_n_syn():
    points = expand_experiment("u", _exp([{"n_tasks": [1], "n_ner": [1000]}], mode="unbalanced"))
    assert [p.point_id for p in points] == ["T1_ner1000_s0", "T1_ner1000_s1"]


def test_points_csv(tmp_path):
    table = tmp_path / "points.csv"
    table.write_text("n_tasks,n_tokens_per_task,alpha\n2,1000,0.6\n1,1000,1.0\n2,1000,0.6\n")
    points = expand_experiment(
        "p", _exp([], points_csv=str(table), seeds=[0]) | {"points_csv": str(table)}
    )
    assert [p.config_id for p in points] == ["T2_n1000_a0.6", "T1_n1000"]


@pytest.mark.parametrize(
    ("grid", "mode", "message"),
    [
        ([{"n_tasks": [2], "n_tokens_per_task": [10]}], "balanced", "needs the synthetic"),
        ([{"n_tasks": [0], "n_tokens_per_task": [10]}], "balanced", "'n_tasks' = 0"),
        ([{"n_tasks": [1], "n_tokens_per_task": [0]}], "balanced", "'n_tokens_per_task' = 0"),
        ([{"n_tasks": [2], "n_tokens_per_task": [5], "alpha": [1.5]}], "balanced", "'alpha' = 1.5"),
        (
            [{"n_tasks": [2], "n_tokens_per_task": [5], "alpha": [0.5], "ami": [0.3]}],
            "balanced",
            "not both",
        ),
        ([{"n_tasks": [1], "n_ner": [5], "n_syn": [5]}], "balanced", "do not belong"),
        ([{"n_tasks": [2], "n_ner": [5], "alpha": [0.5]}], "unbalanced", "missing grid axis"),
        ([{"n_tasks": [1], "n_syn": [5]}], "unbalanced", "missing grid axis"),
        ([], "balanced", "grid is empty"),
    ],
)
def test_bad_grids_name_the_block(grid, mode, message):
    with pytest.raises(ValueError, match=message):
        expand_experiment("bad", _exp(grid, mode=mode))


def test_missing_points_csv_names_path(tmp_path):
    with pytest.raises(ValueError, match="points_csv .*does not exist"):
        expand_experiment("x", _exp([], points_csv=str(tmp_path / "nope.csv")))


def test_repeated_seeds_are_refused_naming_the_key():
    # issue 19 item 1: seeds [0, 0] trained twice, then evaluate crashed
    with pytest.raises(ValueError, match=r"experiments\.e\.seeds lists seed\(s\) \[0\]"):
        expand_experiment("e", _exp([{"n_tasks": [1], "n_tokens_per_task": [5]}], seeds=[0, 0]))


def _csv(tmp_path, text, mode="balanced"):
    table = tmp_path / "points.csv"
    table.write_text(text)
    return expand_experiment("p", _exp([], mode=mode, seeds=[0], points_csv=str(table)))


def test_points_csv_of_single_task_rows_needs_no_level(tmp_path):
    # issue 19 item 8: was "lacks column(s) [] and alpha or ami"
    points = _csv(tmp_path, "n_tasks,n_tokens_per_task\n1,1000\n1,2000\n")
    assert [p.point_id for p in points] == ["T1_n1000_s0", "T1_n2000_s0"]
    points = _csv(tmp_path, "n_tasks,n_ner\n1,1000\n", mode="unbalanced")
    assert [p.point_id for p in points] == ["T1_ner1000_s0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # issue 19 item 8: alpha won silently over ami
        ("n_tasks,n_tokens_per_task,alpha,ami\n2,10,0.5,0.3\n", "both an 'alpha' and an 'ami'"),
        # issue 19 item 7: "could not convert string to float" named no file
        ("n_tasks,n_tokens_per_task,alpha\n2,ten,0.5\n", "line 2, column 'n_tokens_per_task'"),
        ("n_tasks,n_tokens_per_task,alpha\n2,10,high\n", "line 2, column 'alpha'"),
        # issue 19 item 7: EmptyDataError named no file
        ("", "is empty"),
        ("n_tasks,n_tokens_per_task,alpha\n", "no rows"),
        ("n_tasks,n_tokens_per_task\n2,10\n", "line 2: n_tasks = 2 needs"),
        ("n_tasks,alpha\n2,0.5\n", r"lacks column\(s\) \['n_tokens_per_task'\]"),
    ],
)
def test_bad_points_csv_names_the_file(tmp_path, text, message):
    with pytest.raises(ValueError, match=message) as info:
        _csv(tmp_path, text)
    assert "points.csv" in str(info.value)


def test_relative_points_csv_is_read_from_root(tmp_path, monkeypatch):
    # issue 19 item 9: progress --directory X read a relative points_csv from the cwd
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "points.csv").write_text("n_tasks,n_tokens_per_task\n1,50\n")
    monkeypatch.chdir(tmp_path)
    exp = _exp([], seeds=[0], points_csv="points.csv")
    with pytest.raises(ValueError, match="does not exist"):
        expand_experiment("p", exp)
    points = expand_experiment("p", exp, root=tmp_path / "work")
    assert [p.point_id for p in points] == ["T1_n50_s0"]


def test_format_number():
    assert format_number(1000.0) == "1000"
    assert format_number(0.9) == "0.9"
    assert format_number(1e-7) == "0.0000001"


def test_config_hash_ignores_grid_but_not_training():
    base = _exp([{"n_tasks": [1], "n_tokens_per_task": [5]}], train={"epochs": 10})
    other_grid = dict(base, grid=[{"n_tasks": [2]}], seeds=[9])
    other_train = dict(base, train={"epochs": 11})
    assert config_hash(base) == config_hash(other_grid)
    assert config_hash(base) != config_hash(other_train)


def test_gridpoint_is_hashable_and_frozen():
    p = GridPoint("e", "balanced", 2, 10, 10, 0.9, None, 0)
    assert {p: 1}[p] == 1
    with pytest.raises(AttributeError):
        p.seed = 3


def test_packs_group_seeds_and_levels():
    grid = [
        {"n_tasks": [1], "n_tokens_per_task": [100]},
        {"n_tasks": [2], "n_tokens_per_task": [100, 200], "alpha": [0.6, 0.9]},
    ]
    points = expand_experiment("e", _exp(grid, seeds=[0, 1, 2]))
    assert len(group_packs(points)) == len(points) == 15
    by_seed = group_packs(points, seeds=True)
    assert sorted(by_seed) == sorted(
        [
            "T1_n100_sall",
            "T2_n100_a0.6_sall",
            "T2_n100_a0.9_sall",
            "T2_n200_a0.6_sall",
            "T2_n200_a0.9_sall",
        ]
    )
    assert [p.seed for p in by_seed["T2_n100_a0.9_sall"]] == [0, 1, 2]
    both = group_packs(points, seeds=True, levels=True)
    assert sorted(both) == ["T1_n100_sall", "T2_n100_aall_sall", "T2_n200_aall_sall"]
    assert len(both["T2_n100_aall_sall"]) == 6
    ami_point = GridPoint("e", "balanced", 2, 10, 10, None, 0.3, 4)
    assert pack_id(ami_point, levels=True) == "T2_n10_amiall_s4"


def test_config_hash_keeps_the_pre_null_spelling_of_keep_the_preset():
    # results computed before null became the one "keep the preset" marker
    # (hidden: 0, shared_dense: -1) keep their hash; an explicit width changes it
    import hashlib
    import json

    from mtllaws.grid import config_hash

    base = {"train": {"epochs": 3}, "grid": [{"n_tasks": [1]}], "seeds": [0]}
    keep = {"preset": "paper", "hidden": None, "dense": None, "shared_dense": None}
    new = {**base, "model": keep}
    old = {**base, "model": {**keep, "hidden": 0, "shared_dense": -1}}
    settings = {k: v for k, v in old.items() if k not in ("grid", "seeds")}
    before = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    assert config_hash(new) == before
    wider = {**new, "model": {**new["model"], "hidden": 300}}
    assert config_hash(wider) != before

def test_rotation_axis_ids_and_hash():
    grid = [{"n_tasks": [1, 2], "n_tokens_per_task": [100], "alpha": [0.9]}]
    rotated = [{**grid[0], "rotation": [0, 90, 22.5]}]
    plain = expand_experiment("e", _exp(grid, seeds=[0]))
    points = expand_experiment("e", _exp(rotated, seeds=[0]))
    # rotation 0 keeps every id of a grid without the axis; single-task points never rotate
    assert [p.point_id for p in plain] == ["T1_n100_s0", "T2_n100_a0.9_s0"]
    assert [p.point_id for p in points] == [
        "T1_n100_s0", "T2_n100_a0.9_s0", "T2_n100_a0.9_r90_s0", "T2_n100_a0.9_r22.5_s0"]
    assert [p.rotation for p in points] == [0.0, 0.0, 90.0, 22.5]
    assert points[2].record()["rotation"] == 90.0
    assert plain == points[:2]
    # the hash of an experiment does not change with the axis, nor with the measures key
    assert config_hash(_exp(grid)) == config_hash(_exp(rotated))
    assert config_hash(_exp(grid)) == config_hash(_exp(grid, measures=["ami", "model_sim"]))
    assert pack_id(points[2], seeds=True, levels=True) == "T2_n100_aall_r90_sall"
    assert pack_id(points[1], levels=True) == "T2_n100_aall_s0"


@pytest.mark.parametrize("bad", [[-5], [181], [float("nan")]])
def test_bad_rotation_is_refused(bad):
    grid = [{"n_tasks": [2], "n_tokens_per_task": [100], "alpha": [0.9], "rotation": bad}]
    with pytest.raises(ValueError, match=r"grid\[0\]: 'rotation' = .*degrees in \[0, 180\]"):
        expand_experiment("e", _exp(grid))


def test_points_csv_rotation_column(tmp_path):
    table = tmp_path / "p.csv"
    table.write_text("n_tasks,n_tokens_per_task,alpha,rotation\n2,100,0.9,45\n2,100,0.9,\n"
                     "1,100,,\n")
    points = expand_experiment("e", {"mode": "balanced", "grid": [], "points_csv": str(table),
                                     "seeds": [0]})
    assert [p.config_id for p in points] == ["T2_n100_a0.9_r45", "T2_n100_a0.9", "T1_n100"]


def test_alpha_patterns_ids_records_and_packs():
    grid = [{"n_tasks": [1], "n_tokens_per_task": [100]},
            {"n_tasks": [2], "n_tokens_per_task": [100], "alpha": [0.9]},
            {"n_tasks": [1, 4], "n_tokens_per_task": [100],
             "alphas": [[0.99, 0.99, "noise"], [0.99, 0.6, 0.2]], "rotation": [0, 90]}]
    points = expand_experiment("e", _exp(grid, seeds=[0]))
    # ids without a pattern are unchanged; the pattern sits where the alpha would be
    assert [p.point_id for p in points] == [
        "T1_n100_s0", "T2_n100_a0.9_s0", "T4_n100_p0.99-0.99-noise_s0",
        "T4_n100_p0.99-0.99-noise_r90_s0", "T4_n100_p0.99-0.6-0.2_s0",
        "T4_n100_p0.99-0.6-0.2_r90_s0"]
    assert points[2].alphas == (0.99, 0.99, "noise") and points[2].alpha is None
    assert points[2].record()["alphas"] == [0.99, 0.99, "noise"]
    assert points[0].alphas is None and "alphas" not in points[1].record()
    assert pattern_label(points[4].alphas) == "0.99-0.6-0.2" and pattern_label(None) == ""
    assert pattern_alphas(points[2].alphas, 5) == [0.99, 0.99, 0.2]
    assert pack_id(points[3], seeds=True, levels=True) == "T4_n100_pall_r90_sall"
    assert pack_id(points[2], levels=True) == "T4_n100_pall_s0"
    assert len(group_packs(points, levels=True)) == 4
    # the model settings (and so the hash) do not see the grid
    assert config_hash(_exp(grid)) == config_hash(_exp(grid[:2]))


@pytest.mark.parametrize("block, message", [
    ({"alpha": [0.9], "alphas": [[0.9]]}, r"grid\[0\]: give either 'alpha' or 'alphas'.*drop"),
    ({"ami": [0.5], "alphas": [[0.9]]}, r"grid\[0\]: give either 'ami' or 'alphas'"),
    ({"alphas": [[0.9, 0.9]]}, r"grid\[0\]: 'alphas' pattern \[0.9, 0.9\] has 2 value\(s\) "
                               r"but n_tasks \[2\] needs T - 1 = 1"),
    ({"alphas": [[1.5]]}, r"grid\[0\]: 'alphas' pattern \[1.5\] holds 1.5.*\(0, 1\]"),
    ({"alphas": [[0]]}, r"holds 0, which is not a number in \(0, 1\] nor 'noise'"),
    ({"alphas": [["clean"]]}, r"holds 'clean'"),
    ({"alphas": [0.9]}, r"'alphas' pattern 0.9 is not a list"),
    ({"alphas": []}, r"'alphas' must be a non-empty list of patterns"),
])
def test_bad_alpha_patterns_name_the_block_and_the_fix(block, message):
    grid = [{"n_tasks": [2], "n_tokens_per_task": [100], **block}]
    with pytest.raises(ValueError, match=message):
        expand_experiment("e", _exp(grid))


def test_alpha_pattern_length_is_checked_for_every_t_of_the_block():
    grid = [{"n_tasks": [3, 4], "n_tokens_per_task": [100], "alphas": [[0.9, 0.9]]}]
    with pytest.raises(ValueError, match=r"n_tasks \[4\] needs T - 1 = 3.*split the block"):
        expand_experiment("e", _exp(grid))
