"""Tests of mtllaws.progress."""

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from mtllaws.progress import format_progress, load_config, progress_table
from mtllaws.shards import RUN_COLUMNS, write_parquet

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


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


def write_pack(root, pack, *, skip=()):
    """Whole outputs of one pack (simulate, model, train and evaluate), minus ``skip``."""
    folder = root / "results" / "e"
    if "simulate" not in skip:
        write_parquet(
            pd.DataFrame({"point_id": [pack], "token": [0], "label_0": [1]}),
            folder / "simulate" / f"{pack}.parquet",
            metadata={"mtllaws.tasks": "{}"},
        )
    if "model" not in skip:
        (folder / "train").mkdir(parents=True, exist_ok=True)
        torch.save({"states": {}}, folder / "train" / f"{pack}.pt")
    if "train" not in skip:
        write_parquet(
            pd.DataFrame(
                {"point_id": [pack], "train_loss": [[1.0]], "epochs_run": [1]}
            ).assign(train_time_s=1.0),
            folder / "train" / f"{pack}.parquet",
        )
    if "evaluate" not in skip:
        row = {c: {"i": 1, "f": 1.0, "O": "x"}[k] for c, k in RUN_COLUMNS.items()}
        write_parquet(pd.DataFrame([row]), folder / "evaluate" / f"{pack}.parquet")


def test_counts_done_pending_failed(tmp_path):
    config = load_config([write_config(tmp_path)], schema=SCHEMA)
    assert progress_table(config, root=tmp_path).iloc[0].tolist() == ["e", 4, 0, 4, 0]
    write_pack(tmp_path, "T1_n100_s0")
    write_pack(tmp_path, "T1_n100_s1")
    # issue 19 item 4: a garbage evaluate shard counted as done
    (tmp_path / "results/e/evaluate/T1_n100_s1.parquet").write_bytes(b"garbage")
    # issue 19 item 4: a deleted train shard showed 100 %; Snakemake now rebuilds it
    write_pack(tmp_path, "T2_n100_a0.9_s0", skip=("train",))
    table = progress_table(config, root=tmp_path)
    assert table.iloc[0].tolist() == ["e", 4, 1, 2, 1]
    text = format_progress(table)
    assert "25% done" in text
    assert "failed e/T1_n100_s1: evaluate shard " in text
    assert "T1_n100_s1.parquet is not a readable Parquet file" in text


def test_failed_job_reports_the_first_line_of_its_error(tmp_path):
    config = load_config([write_config(tmp_path)], schema=SCHEMA)
    log = tmp_path / "logs/e/train/T2_n100_a0.9_s1.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "2026 ERROR mtllaws: job failed: ValueError: grid point e/T2: too few tokens\n"
        "Traceback (most recent call last):\n  File x\nValueError: grid point e/T2: too few"
        " tokens\nsecond line\n"
    )
    table = progress_table(config, root=tmp_path)
    assert table.iloc[0].tolist() == ["e", 4, 0, 3, 1]
    assert table.attrs["failures"] == [
        ("e", "T2_n100_a0.9_s1", "train: ValueError: grid point e/T2: too few tokens")
    ]


def test_packs_count_all_their_points(tmp_path):
    config = load_config([write_config(tmp_path, pack_seeds=True)], schema=SCHEMA)
    write_pack(tmp_path, "T2_n100_a0.9_sall")
    assert progress_table(config, root=tmp_path).iloc[0].tolist() == ["e", 4, 2, 2, 0]


def test_later_files_override_earlier(tmp_path):
    first = write_config(tmp_path)
    second = tmp_path / "more.yaml"
    second.write_text(yaml.safe_dump({"experiments": {"e": {"seeds": [5]}}}))
    config = load_config([first, second], schema=SCHEMA)
    assert config["experiments"]["e"]["seeds"] == [5]
    assert config["experiments"]["e"]["grid"][0]["n_tasks"] == [1, 2]


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="nope.yaml"):
        load_config([tmp_path / "nope.yaml"], schema=SCHEMA)


def test_cli_progress(tmp_path, capsys):
    from mtllaws.cli import main

    (tmp_path / "config").mkdir()
    write_config(tmp_path).rename(tmp_path / "config" / "config.yaml")
    assert main(["progress", "--directory", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "e" in out and "0% done" in out


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # issue 19 item 6: 1125 lines of traceback and schema for one unknown key
        (
            "run: [e]\nexperiments:\n  e:\n    grid: [{n_tasks: [1], n_tokens_per_task: [5]}]\n"
            "    train: {epoch: 3}\n",
            "config key experiments.e.train: Additional properties are not allowed "
            "('epoch' was unexpected)",
        ),
        ("run: [e\nx: 1\n", "config.yaml:2:2: not valid YAML"),
        ("- run\n- e\n", "holds a list, not a mapping"),
    ],
)
def test_cli_progress_bad_config_is_one_line(tmp_path, capsys, text, needle):
    from mtllaws.cli import main

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(text)
    assert main(["progress", "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_progress_reads_relative_points_csv_from_directory(tmp_path, capsys, monkeypatch):
    # issue 19 item 9: a relative points_csv was read from the caller's directory
    from mtllaws.cli import main

    (tmp_path / "config").mkdir()
    (tmp_path / "points.csv").write_text("n_tasks,n_tokens_per_task\n1,50\n1,60\n")
    config = {"run": ["e"], "experiments": {"e": {"points_csv": "points.csv", "seeds": [0]}}}
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path.parent)
    assert main(["progress", "--directory", str(tmp_path), "--schema", str(SCHEMA)]) == 0
    assert "e" in capsys.readouterr().out


def test_cli_progress_finds_the_schema_of_the_checkout_or_names_schema(
    tmp_path, capsys, monkeypatch
):
    # issue 16: the package read workflow/schemas by its own path
    from mtllaws.cli import main

    (tmp_path / "config").mkdir()
    write_config(tmp_path).rename(tmp_path / "config" / "config.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["progress"]) == 2
    err = capsys.readouterr().err
    assert "workflow/schemas/config.schema.yaml" in err and "--schema" in err
    assert main(["progress", "--schema", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    (tmp_path / "workflow" / "schemas").mkdir(parents=True)
    (tmp_path / "workflow" / "schemas" / "config.schema.yaml").write_text(SCHEMA.read_text())
    assert main(["progress"]) == 0
    assert "0% done" in capsys.readouterr().out
