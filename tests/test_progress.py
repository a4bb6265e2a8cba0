"""Tests of mtllaws.progress."""

import pytest
import yaml

from mtllaws.progress import format_progress, load_config, progress_table


def write_config(tmp_path, **exp):
    config = {
        "run": ["e"],
        "experiments": {
            "e": {
                "grid": [{"n_tasks": [1, 2], "n_tokens_per_task": [100], "alpha": [0.9]}],
                "seeds": [0, 1],
                **exp,
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_counts_done_pending_failed(tmp_path):
    config = load_config([write_config(tmp_path)])
    assert progress_table(config, root=tmp_path).iloc[0].tolist() == ["e", 4, 0, 4, 0]
    shard = tmp_path / "results/e/evaluate/T1_n100_s0.parquet"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"x")
    log = tmp_path / "logs/e/train/T2_n100_a0.9_s1.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\n  boom\n")
    ok_log = tmp_path / "logs/e/train/T2_n100_a0.9_s0.log"
    ok_log.write_text("INFO trained\n")
    table = progress_table(config, root=tmp_path)
    assert table.iloc[0].tolist() == ["e", 4, 1, 2, 1]
    assert "25% done" in format_progress(table)


def test_packs_count_all_their_points(tmp_path):
    config = load_config([write_config(tmp_path, pack_seeds=True)])
    shard = tmp_path / "results/e/evaluate/T2_n100_a0.9_sall.parquet"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"x")
    assert progress_table(config, root=tmp_path).iloc[0].tolist() == ["e", 4, 2, 2, 0]


def test_later_files_override_earlier(tmp_path):
    first = write_config(tmp_path)
    second = tmp_path / "more.yaml"
    second.write_text(yaml.safe_dump({"experiments": {"e": {"seeds": [5]}}}))
    config = load_config([first, second])
    assert config["experiments"]["e"]["seeds"] == [5]
    assert config["experiments"]["e"]["grid"][0]["n_tasks"] == [1, 2]


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="nope.yaml"):
        load_config([tmp_path / "nope.yaml"])


def test_cli_progress(tmp_path, capsys):
    from mtllaws.cli import main

    (tmp_path / "config").mkdir()
    write_config(tmp_path).rename(tmp_path / "config" / "config.yaml")
    assert main(["progress", "--directory", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "e" in out and "0% done" in out
