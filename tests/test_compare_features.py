"""Tests of the compare_features study: mtllaws.compare_features, its planning in
mtllaws.regress, the config check, the CLI path and workflow/scripts/compare_features.py."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from snakemake.utils import validate

from mtllaws.cli import main
from mtllaws.compare_features import (
    SLOT_SYMBOL,
    check_kind,
    delta_r2_document,
    delta_r2_markdown,
    feature_sets,
    slot_families,
)
from mtllaws.config_check import check_config
from mtllaws.law import FAMILIES
from mtllaws.regress import InsufficientDataError, law_card, law_cards_markdown, run_studies
from mtllaws.regress_validate import cv_folds

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
SEEDS = [0, 1]
STUDY = {
    "name": "rel", "kind": "compare_features", "features": ["n", "T"], "measures": ["x1", "x2"],
}  # fmt: skip
FAST_LAW = {"n_restarts": 2}
FAST_SPARSE = {"max_terms": 2, "max_subsets": 5000, "beam_width": 30, "n_exp_scales": 1}


def synthetic_summary(seed: int = 0, noise: float = 0.005) -> pd.DataFrame:
    """40 configurations: F1 = effective-data law in n, T and x1 (+ noise); x2 is unrelated."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (500, 1000, 2000, 5000, 10000):
        for t in (2, 3):
            for level in range(4):
                x1, x2 = rng.uniform(0.05, 0.9, 2)
                f1 = 0.9 - 3.0 * (n * (1 + 2.0 * x1 * (t - 1) ** 0.5)) ** -0.4
                rows.append(
                    {
                        "n_tasks": t,
                        "n_tokens_per_task": n,
                        "alpha": round(0.6 + 0.1 * level, 2),
                        "x1": x1,
                        "x2": x2,
                        "test_f1_mean": f1 + rng.normal(0.0, noise),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_summary()


@pytest.fixture(scope="module")
def law_results(table):
    return run_studies(
        table, [STUDY], engine="law", seeds=SEEDS, bootstrap=0, engine_params=FAST_LAW
    )


@pytest.fixture(scope="module")
def sparse_results(table):
    return run_studies(
        table, [STUDY], engine="sparse", seeds=SEEDS, bootstrap=0, engine_params=FAST_SPARSE
    )


# ------------------------------------------------------------------ spec
def test_feature_sets_add_each_measure_to_the_base():
    assert feature_sets(["n", "T"], ["ami", "model_sim"]) == {
        "ami": ["n", "T", "ami"],
        "model_sim": ["n", "T", "model_sim"],
    }


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"kind": "regression", "features": ["n"]}, "kind 'regression' is unknown"),
        ({"features": ["n"], "measures": ["ami", "x"]}, "is for kind compare_features"),
        ({"kind": "compare_features", "features": ["n"], "measures": ["ami"]}, "at least two"),
        ({"kind": "compare_features", "features": ["n"]}, "at least two"),
        (
            {"kind": "compare_features", "features": ["n"], "measures": ["ami", "AMI"]},
            "more than once",
        ),
        (
            {"kind": "compare_features", "features": ["n", "ami"], "measures": ["ami", "x"]},
            "both features and measures",
        ),
        ({"kind": "compare_features", "features": ["n"], "measures": "ami"}, "at least two"),
    ],
)
def test_bad_compare_specs_are_named(spec, needle):
    with pytest.raises(ValueError, match="study 's'") as info:
        check_kind(spec, "study 's'")
    assert needle in str(info.value)


def test_formula_is_the_default_kind():
    assert check_kind({"features": ["n"]}, "s") == {"kind": "formula", "measures": []}


def test_slot_families_rewrite_ami_and_drop_families_without_it():
    rewritten = slot_families(FAMILIES, "MS")
    assert set(rewritten) == {n for n, f in FAMILIES.items() if SLOT_SYMBOL in f["formula"]}
    assert "learning_curve" not in rewritten and "maurer" not in rewritten
    assert rewritten["maurer_ami"]["formula"] == "a - b/sqrt(n) - d/sqrt(T) + e*sqrt(MS)"
    assert rewritten["effective_data"]["params"] == FAMILIES["effective_data"]["params"]
    with pytest.raises(ValueError, match="parameter 'b'"):
        slot_families(FAMILIES, "b")


# ------------------------------------------------------------- the study
def _by_set(results):
    return {r["compare"]["set"]: r for r in results}


def test_sets_share_rows_configurations_and_folds(law_results):
    sets = _by_set(law_results)
    assert list(sets) == ["x1", "x2"]
    assert [r["study"] for r in law_results] == ["rel__x1", "rel__x2"]
    x1, x2 = sets["x1"], sets["x2"]
    assert x1["compare"]["folds"] == x2["compare"]["folds"]
    assert x1["compare"]["configurations"] == x2["compare"]["configurations"]
    assert x1["predictions"]["measured"] == x2["predictions"]["measured"]
    for column in ("n_tokens_per_task", "n_tasks"):
        assert (
            x1["predictions"]["configurations"][column]
            == x2["predictions"]["configurations"][column]
        )
    assert x1["n_configurations"] == 40
    # the folds partition the configurations in each repeat
    folds = x1["compare"]["folds"]
    assert len(folds) == 5 * 2
    for r in range(2):
        assert sorted(i for fold in folds[5 * r : 5 * r + 5] for i in fold) == list(range(40))
    # every regression seed runs the CV (paired runs: seeds x repeats)
    assert x1["validation"]["cv_seeds"] == SEEDS
    runs = x1["variants"][0]["cv"]["runs"]
    assert [(r["seed"], r["repeat"]) for r in runs] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_law_families_are_written_in_the_sets_measure(law_results):
    sets = _by_set(law_results)
    names = {v["name"] for v in sets["x2"]["variants"]}
    assert names == {"law:effective_data", "law:maurer_ami", "law:paper_sqrt"}
    assert sets["x2"]["compare"]["relatedness"] == {
        "measure": "x2", "column": "x2", "symbol": "x2", "slot": "AMI",
    }  # fmt: skip
    formula = sets["x2"]["seeds"][0]["family_formula"]
    assert "x2" in formula and "AMI" not in formula
    assert "x2" in sets["x2"]["formula"] and "x1" not in sets["x2"]["formula"]
    card = law_card([sets["x2"]])
    assert card["relatedness"]["column"] == "x2" and card["variant"].startswith("law:")
    assert "- relatedness: `x2` (x2) fills the law families' `AMI` as `x2`" in (
        law_cards_markdown([sets["x2"]])
    )


def test_delta_r2_is_clearly_negative_for_the_unrelated_feature(law_results, sparse_results):
    document = delta_r2_document(law_results + sparse_results)
    block = document["studies"]["rel"]
    assert block["reference"] == "x1" and block["engines"] == ["law", "sparse"]
    assert block["n_configurations"] == 40 and block["cv"]["seeds"] == SEEDS
    rows = {row["variant"]: row for row in block["rows"]}
    assert set(rows) == {"law:effective_data", "law:maurer_ami", "law:paper_sqrt", "sparse"}
    for name in ("law:effective_data", "sparse"):
        row = rows[name]
        delta = row["sets"]["x2"]["delta_r2"]
        assert delta["n"] == len(SEEDS) * 2
        assert delta["mean"] < -0.03, (name, delta)
        assert delta["std"] > 0  # a spread over seeds x repeats
        assert delta["max"] < 0
        assert row["best"] == "x1"
        assert row["sets"]["x1"]["r2"]["mean"] > 0.9
    text = delta_r2_markdown(document)
    assert "## rel: which relatedness measure predicts F1 best?" in text
    assert "| law:effective_data |" in text and "ΔR² x2" in text


def test_delta_r2_pairs_runs_by_seed_and_repeat(law_results):
    sets = _by_set(law_results)
    runs = {
        label: {(r["seed"], r["repeat"]): r["r2"] for r in sets[label]["variants"][0]["cv"]["runs"]}
        for label in sets
    }
    diffs = [runs["x2"][key] - runs["x1"][key] for key in runs["x1"]]
    row = delta_r2_document(law_results)["studies"]["rel"]["rows"][0]
    assert row["variant"] == sets["x1"]["variants"][0]["name"]
    assert row["sets"]["x2"]["delta_r2"]["mean"] == pytest.approx(np.mean(diffs), abs=1e-12)
    assert row["sets"]["x2"]["delta_r2"]["std"] == pytest.approx(np.std(diffs), abs=1e-12)


def test_mixed_folds_are_refused(law_results):
    other = copy.deepcopy(law_results)
    other[1]["compare"]["folds"] = other[1]["compare"]["folds"][::-1]
    with pytest.raises(ValueError, match="different configurations or folds"):
        delta_r2_document(other)


def test_formula_studies_keep_their_cv_on_the_first_seed(table):
    result = run_studies(
        table,
        [{"name": "f", "features": ["n", "T"]}],
        engine="law",
        seeds=SEEDS,
        bootstrap=0,
        engine_params={**FAST_LAW, "family": "maurer"},
    )[0]
    assert "compare" not in result and result["validation"]["cv_seeds"] == [0]
    cv = result["variants"][0]["cv"]
    assert [r["seed"] for r in cv["runs"]] == [0, 0]
    assert cv["r2_repeats"] == [r["r2"] for r in cv["runs"]]


def test_study_errors_name_the_study(table):
    with pytest.raises(ValueError, match="column 'x3'"):
        run_studies(table, [{**STUDY, "measures": ["x1", "x3"]}], engine="law", bootstrap=0)
    with pytest.raises(ValueError, match="extrapolate names 'x2', one of the compared"):
        run_studies(table, [{**STUDY, "extrapolate": {"x2": 0.5}}], engine="law", bootstrap=0)
    with pytest.raises(ValueError, match="no law family uses the relatedness variable AMI"):
        run_studies(
            table, [STUDY], engine="law", bootstrap=0, engine_params={"family": "maurer"}
        )


def test_too_few_configurations_skip_the_study_with_its_sets(table):
    small = table[table["n_tokens_per_task"] == 500]  # 8 configurations
    spec = {**STUDY, "features": ["T"]}
    with pytest.raises(InsufficientDataError, match="'rel' has 8 configurations"):
        run_studies(small, [spec], engine="law", bootstrap=0, min_rows=5)
    results = run_studies(
        small, [spec], engine="law", bootstrap=0, min_rows=5, skip_insufficient=True
    )
    assert len(results) == 1 and "skipped" in results[0]
    block = delta_r2_document(results)["studies"]["rel"]
    assert block["rows"] == [] and "8 configurations" in block["skipped"][0]
    assert "Skipped: law:" in delta_r2_markdown({"studies": {"rel": block}})


def test_cv_folds_follow_the_plan_only():
    plan = {"data": {"y": np.zeros(12)}, "validation": {"cv": 3, "cv_repeats": 2, "cv_seed": 4}}
    assert [t.tolist() for _, t in cv_folds(plan)] == [
        t.tolist() for _, t in cv_folds(copy.deepcopy(plan))
    ]
    assert len(cv_folds(plan)) == 6


# -------------------------------------------------------------- config
def _config(study):
    config = {
        "run": ["e"],
        "experiments": {
            "e": {
                "grid": [
                    {"n_tasks": [2, 3], "n_tokens_per_task": [100, 200, 300], "alpha": [0.6, 0.8]}
                ],
                "seeds": [0],
                "studies": [study],
            }
        },
    }
    validate(config, SCHEMA)
    return config


def test_config_check_accepts_a_compare_study(tmp_path):
    study = {"name": "s", "kind": "compare_features", "features": ["n", "T"],
             "measures": ["ami", "alpha"]}  # fmt: skip
    assert set(check_config(_config(study), root=tmp_path)) == {"e"}


@pytest.mark.parametrize(
    ("study", "needle"),
    [
        (
            {"name": "s", "kind": "compare_features", "features": ["n"], "measures": ["ami"]},
            "needs measures: a list of at least two",
        ),
        (
            {"name": "s", "kind": "compare_features", "features": ["n"],
             "measures": ["ami", "no_such_measure"]},
            "measures names 'no_such_measure', which is not a column of the summary table",
        ),
        (
            {"name": "s", "kind": "compare_features", "features": ["n"],
             "measures": ["ami", "ami_mean_mean"]},
            "measures 'ami' and 'ami_mean_mean' are both the column 'ami_mean_mean'",
        ),
        (
            {"name": "s", "features": ["n"], "measures": ["ami", "alpha"]},
            "is for kind compare_features",
        ),
    ],
)  # fmt: skip
def test_config_check_refuses_bad_compare_studies(tmp_path, study, needle):
    with pytest.raises(ValueError) as info:
        check_config(_config(study), root=tmp_path)
    assert "experiments.e.studies[0] ('s')" in str(info.value)
    assert needle in str(info.value)


def test_schema_refuses_an_unknown_kind():
    with pytest.raises(Exception, match="regression"):
        _config({"name": "s", "kind": "regression", "features": ["n"]})


# ------------------------------------------------------- CLI and script
def test_cli_runs_a_compare_study(table, tmp_path, capsys):
    path = tmp_path / "summary.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    args = ["regress", str(path), "--features", "n,T", "--measures", "x1,x2", "--engine", "law",
            "--family", "effective_data", "--seeds", "0", "--bootstrap", "0", "--param",
            "n_restarts=2", "--out-dir", str(out), "--out", str(tmp_path / "r.json")]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "# ΔR² of relatedness measures" in printed and "| law:effective_data |" in printed
    document = json.loads((out / "compare_features.json").read_text())
    row = document["studies"]["f_n_T_by_x1_x2"]["rows"][0]
    assert row["sets"]["x2"]["delta_r2"]["mean"] < -0.03
    assert (out / "compare_features.md").read_text().startswith("# ΔR²")
    assert (out / "f_n_T_by_x1_x2__x2.png").exists()
    assert len(json.loads((tmp_path / "r.json").read_text())) == 2
    assert main(["regress", str(path), "--studies", "paper_balanced", "--measures", "x1,x2"])
    assert "--measures describe one study" in capsys.readouterr().err


def _load_script(name):
    spec = importlib.util.spec_from_file_location(
        f"{name}_script", REPO / "workflow" / "scripts" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workflow_scripts_write_the_delta_table(table, tmp_path):
    summary = tmp_path / "summary.parquet"
    table.to_parquet(summary)
    folders = []
    for engine, params in (("law", FAST_LAW), ("sparse", FAST_SPARSE)):
        out_dir = tmp_path / "regress" / engine / "rel"
        folders.append(str(out_dir))
        smk = SimpleNamespace(
            input=SimpleNamespace(table=str(summary)),
            output=SimpleNamespace(dir=str(out_dir)),
            params=SimpleNamespace(
                studies=[STUDY], engine=engine, seeds=[0], bootstrap=0, target="f1",
                min_rows=20, test_size=0.1, cv=5, cv_repeats=2, engine_params=params,
            ),  # fmt: skip
            threads=1,
        )
        _load_script("regress").main(smk)
    md, js = tmp_path / "compare_features.md", tmp_path / "compare_features.json"
    smk = SimpleNamespace(input=folders, output=SimpleNamespace(markdown=str(md), json=str(js)))
    _load_script("compare_features").main(smk)
    block = json.loads(js.read_text())["studies"]["rel"]
    assert block["engines"] == ["law", "sparse"]
    assert {row["variant"] for row in block["rows"]} >= {"law:effective_data", "sparse"}
    assert "| sparse |" in md.read_text()
