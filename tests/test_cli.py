"""Tests of the ``mtllaws`` command line (mtllaws.cli)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from mtllaws.cli import SUBCOMMANDS, Subcommand, build_parser, main, register
from mtllaws.regress import ENGINES


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    """A paper-format table where F1 = 0.2 + 0.05 log(n) sqrt(AMI) + noise."""
    n, ami, t = np.meshgrid(np.arange(1000, 10001, 1000), np.arange(1, 10) / 10, np.arange(2, 6))
    n, ami, t = n.ravel(), ami.ravel(), t.ravel()
    rng = np.random.default_rng(0)
    f1 = 0.2 + 0.05 * np.log(n) * np.sqrt(ami) + rng.normal(0, 0.003, n.size)
    df = pd.DataFrame(
        {"n_tasks": t, "n_tokens_per_task": n, "mutual_info": ami, "alpha": 0.9, "fscore": f1}
    )
    path = tmp_path_factory.mktemp("cli") / "table.csv"
    df.to_csv(path, index=False)
    return path


def test_regress_one_study_writes_json_plot_and_tables(table_csv, tmp_path, capsys):
    out = tmp_path / "f_all.json"
    rc = main(
        [
            "regress", str(table_csv),
            "--features", "n_tokens_per_task,mutual_info,n_tasks",
            "--target", "fscore",
            "--seeds", "0,1",
            "--out", str(out),
            "--plot", str(tmp_path / "f_all"),
            "--markdown", str(tmp_path / "t.md"),
            "--latex", str(tmp_path / "t.tex"),
        ]
    )  # fmt: skip
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["features"] == ["n_tokens_per_task", "mutual_info", "n_tasks"]
    assert result["variables"] == {"n": "n_tokens_per_task", "AMI": "mutual_info", "T": "n_tasks"}
    assert result["structure"] == "c + c*sqrt(AMI)*log(n)"
    assert [s["seed"] for s in result["seeds"]] == [0, 1]
    assert result["engine"] == "sparse" and result["scale"] == 100.0
    assert (tmp_path / "f_all.png").stat().st_size > 0 and (tmp_path / "f_all.pdf").exists()
    assert "| f_n_tokens_per_task_mutual_info_n_tasks | sparse |" in capsys.readouterr().out
    assert (tmp_path / "t.md").read_text().startswith("| Study |")
    assert r"\toprule" in (tmp_path / "t.tex").read_text()


def test_regress_aliases_fixed_and_engine_options(table_csv, tmp_path):
    out = tmp_path / "f_n.json"
    rc = main(
        [
            "regress", str(table_csv),
            "--features", "n",
            "--fixed", "T=3,ami=0.5",
            "--fixed", "alpha=0.9",
            "--name", "f_n",
            "--engine", "gplearn",
            "--population-size", "60",
            "--generations", "2",
            "--param", "parsimony_coefficient=0.05",
            "--seeds", "4",
            "--min-rows", "10",
            "--test-size", "0.2",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["study"] == "f_n" and result["engine"] == "gplearn"
    assert result["fixed"] == {"n_tasks": 3.0, "mutual_info": 0.5, "alpha": 0.9}
    # 10 configurations: too few for a 10-configuration test set, so CV only (issue 15)
    assert result["n_rows"] == 10 and result["n_test"] == 0
    assert result["cv_r2_mean"] is not None
    assert result["engine_params"] == {
        "parsimony_coefficient": 0.05,
        "population_size": 60,
        "generations": 2,
    }
    assert result["seeds"][0]["seed"] == 4 and "program" in result["seeds"][0]


def test_regress_studies_file_and_out_dir(table_csv, tmp_path):
    config = {
        "experiments": {
            "demo": {
                "studies": [
                    {"name": "f_ami", "features": ["ami"], "fixed": {"n_tasks": 2}},
                    # alpha is constant in this table, so T alone would give 4
                    # configurations, below the 10 a law needs (issue 15)
                    {"name": "f_T", "features": ["T", "ami"], "fixed": {"n": 5000}},
                ]
            }
        }
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out_dir = tmp_path / "out"
    rc = main(
        ["regress", str(table_csv), "--studies", str(path), "--experiment", "demo",
         "--seeds", "0", "--out-dir", str(out_dir), "--out", str(tmp_path / "all.json")]
    )  # fmt: skip
    assert rc == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "f_T.json", "f_T.pdf", "f_T.png", "f_ami.json", "f_ami.pdf", "f_ami.png",
    ]  # fmt: skip
    assert [r["study"] for r in json.loads((tmp_path / "all.json").read_text())] == ["f_ami", "f_T"]
    # A plain list of studies works too.
    path.write_text(yaml.safe_dump(config["experiments"]["demo"]["studies"][:1]))
    assert main(["regress", str(table_csv), "--studies", str(path), "--seeds", "0"]) == 0


def test_regress_parquet_table(table_csv, tmp_path, capsys):
    parquet = tmp_path / "summary.parquet"
    pd.read_csv(table_csv).rename(
        columns={"mutual_info": "ami_mean_mean", "fscore": "test_f1_mean"}
    ).to_parquet(parquet)
    assert main(["regress", str(parquet), "--features", "ami,n", "--seeds", "0"]) == 0
    assert "| f_ami_n | sparse |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "n,foo"], "column 'foo' is not in the table"),
        (["--features", "n", "--fixed", "T=7"], "fixed n_tasks=7 selects no rows"),
        (["--features", "n", "--fixed", "T=2,ami=0.3"], "has 10 rows"),
        (["--features", "n", "--param", "bogus=1"], "has no parameter(s) ['bogus']"),
        (["--features", "n", "--fixed", "T"], "--fixed 'T': write KEY=VALUE"),
        (["--studies", "missing.yaml"], "missing.yaml"),
    ],
)
def test_regress_errors_name_the_problem(table_csv, capsys, args, message):
    assert main(["regress", str(table_csv), "--seeds", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtllaws regress: error:") and message in err


def test_regress_bad_table_and_seeds(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"n_tokens_per_task": ["1000", "x"] * 15, "fscore": 0.5}).to_csv(bad)
    assert main(["regress", str(bad), "--features", "n"]) == 2
    assert "column 'n_tokens_per_task' has 15 non-numeric values" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["regress", str(bad), "--seeds", "a,b"])
    assert exit_info.value.code == 2
    assert "--seeds 'a,b': give comma-separated integers" in capsys.readouterr().err


def test_parser_lists_subcommands_and_registry_refuses_duplicates():
    parser = build_parser()
    assert "regress" in parser.format_help()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([])
    assert exit_info.value.code == 2
    with pytest.raises(ValueError, match="subcommand 'regress' is registered twice"):
        register(Subcommand("regress", "again", lambda p: None, lambda a: 0))


def test_a_registered_subcommand_runs(capsys):
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("word")

    def run(args: argparse.Namespace) -> int:
        print(args.word.upper())
        return 3

    register(Subcommand("shout", "print a word in capitals", configure, run))
    try:
        assert main(["shout", "hello"]) == 3
        assert capsys.readouterr().out == "HELLO\n"
    finally:
        del SUBCOMMANDS["shout"]


def test_console_script_entry_point():
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from mtllaws.cli import main; sys.exit(main())",
         "regress", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0
    engines = "{" + ",".join(ENGINES) + "}"
    assert f"--engine {engines}" in done.stdout and "--features" in done.stdout
