"""The test of the laws on real auxiliary tasks (mtllaws.realtest), on generated runs tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snakemake.utils import validate

from mtllaws.cli import main
from mtllaws.config_check import check_config
from mtllaws.realtest import (
    check_study,
    error_summary,
    law_function,
    matched_table,
    realtest_document,
    realtest_markdown,
    split_rows,
    write_realtest,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")

A, B, C = 0.1, 0.05, 0.2  # the planted law F1 = A + B log n + C AMI
LINEAR = {
    "lin": {
        "formula": "a + b*log(n) + d*AMI",
        "params": {"a": [0.0, -5.0, 5.0], "b": [0.0, -1.0, 1.0], "d": [0.0, -5.0, 5.0]},
    }
}
LAW = {"law": {"families": LINEAR, "family": ["lin"], "n_restarts": 1}}
FAST = {"seeds": [0], "bootstrap": 0, "cv_repeats": 1}
SHIFT = 0.04  # the chunk case lies this far above the law


def law(n, ami):
    return A + B * np.log(n) + C * ami


def _row(config_id, t, n, seed, ami, f1, *, aux="", target=np.nan, alpha=np.nan, x=np.nan):
    return {
        "config_id": config_id, "n_tasks": t, "n_tokens_per_task": float(n), "alpha": alpha,
        "ami_target": target, "rotation": 0.0, "seed": seed, "ami_mean": ami, "x_mean": x,
        "test_f1": f1, "aux_tasks": aux,
    }  # fmt: skip


def runs_table() -> pd.DataFrame:
    """18 synthetic configurations on the planted law, STL, and real cases +pos (on the
    law) and +chunk (SHIFT above it), 3 seeds each, with a per-seed spread of AMI."""
    rng = np.random.default_rng(0)
    rows = []
    for t in (2, 3):
        for n in (1000, 2000, 5000):
            for level in (0.1, 0.3, 0.6):
                noise = (-0.01, 0.0, 0.01)  # zero mean: the configuration mean lies on the law
                for seed in range(3):
                    ami = level + rng.normal(0, 0.01)
                    f1 = law(n, ami) + noise[seed]
                    rows.append(_row(f"T{t}_n{n}_m{level}", t, n, seed, ami, f1, target=level,
                                     alpha=0.5 + level, x=rng.uniform()))  # fmt: skip
    for n in (1000, 2000, 5000):
        for seed in range(3):
            rows.append(_row(f"T1_n{n}", 1, n, seed, np.nan, law(n, 0.0) - 0.05 + 0.01 * seed))
    for n in (1000, 2000):
        for seed in range(3):
            ami = 0.17 + 0.01 * (seed - 1)
            rows.append(_row(f"T2_n{n}_pos", 2, n, seed, ami, law(n, ami), aux="pos", x=0.5))
            ami = 0.31 + 0.01 * (seed - 1)
            rows.append(_row(f"T2_n{n}_chunk", 2, n, seed, ami, law(n, ami) + SHIFT,
                             aux="chunk", x=0.5))  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def runs():
    return runs_table()


@pytest.fixture(scope="module")
def document(runs):
    return realtest_document(
        runs, {"name": "real", "kind": "real_tasks", "features": ["n", "T"]},
        engines=["law"], engine_params=LAW, **FAST,
    )  # fmt: skip


def _prediction(document, case):
    return [p for p in document["predictions"] if p["case"].startswith(case)]


# ------------------------------------------------------------------ laws
def test_real_cases_on_the_synthetic_law_have_no_error(document):
    (fit,) = document["fits"]
    assert fit["variant"] == "law:lin" and fit["n_configurations"] == 18
    rows = _prediction(document, "+pos")
    assert [r["n"] for r in rows] == [1000.0, 2000.0]
    for r in rows:
        assert r["seeds"] == [0, 1, 2]
        assert abs(r["error"]["mean"]) < 1e-4 and r["error"]["std"] < 1e-4
        # the prediction follows each seed's own AMI: it has the seeds' spread
        assert r["predicted"]["std"] == pytest.approx(r["measured"]["std"], abs=1e-5)
        assert r["predicted"]["std"] > 1e-3


def test_a_shifted_real_case_gives_the_planted_offset(document):
    for r in _prediction(document, "+chunk"):
        assert r["error"]["mean"] == pytest.approx(-SHIFT, abs=1e-4)
    (summary,) = document["summary"]["rows"]
    assert summary["n_cases"] == 4
    assert summary["mae"] == pytest.approx(SHIFT / 2, abs=1e-4)
    assert summary["rmse"] == pytest.approx(np.sqrt(SHIFT**2 / 2), abs=1e-4)
    assert "r2" not in json.dumps(document["summary"]).lower()


def test_law_function_reproduces_the_engine_and_refuses_a_wrong_formula(document, runs):
    from mtllaws.realtest import fit_laws

    synthetic, _, _ = split_rows(runs)
    spec = check_study({"kind": "real_tasks", "name": "r"}, "r")
    (fit,) = fit_laws(synthetic, spec, engines=["law"], engine_params=LAW, **FAST)
    result = fit["result"]
    f = law_function(result)
    frame = pd.DataFrame({"n_tokens_per_task": [1000.0], "n_tasks": [2], "ami_mean_mean": [0.5]})
    assert f(frame)[0] == pytest.approx(law(1000, 0.5), abs=1e-5)
    with pytest.raises(ValueError, match="does not reproduce"):
        law_function({**result, "formula_raw": result["formula_raw"] + " + 0.1"})


def test_the_closest_measure_is_the_one_the_law_uses(runs):
    document = realtest_document(
        runs, {"name": "real", "kind": "real_tasks", "features": ["n", "T"],
               "measures": ["ami", "x"]},
        engines=["law"], engine_params=LAW, **FAST,
    )  # fmt: skip
    from mtllaws.relatedness import MEASURES

    assert "x" in MEASURES  # registered by the fixture below
    (closest,) = document["summary"]["closest"]
    assert closest["measure"] == "ami"
    (other,) = closest["others"]
    assert other["measure"] == "x" and other["difference"]["paired"]
    text = realtest_markdown(document)
    assert "**ami**" in text and "## 3. Real against synthetic tasks at matched AMI" in text


@pytest.fixture(autouse=True, scope="module")
def _measure_x():
    """A throwaway measure 'x' (symbol X), registered for the module only."""
    from mtllaws.relatedness import MEASURES, Measure, register

    register(Measure(name="x", function=lambda a, b, inputs=None: 0.0, description="test",
                     label="x", symbol="X", needs="labels"))  # fmt: skip
    yield
    MEASURES.pop("x", None)


# --------------------------------------------------------------- matching
def _match(runs, **kw):
    synthetic, real, stl = split_rows(runs)
    return matched_table(synthetic, real, stl, **kw)


def test_matching_picks_the_nearest_level_and_refuses_beyond_the_tolerance(runs):
    matched = {(m["case"].split(",")[0], m["n"]): m for m in _match(runs, tolerance=0.03)}
    pos = matched[("+pos", 1000.0)]
    assert "matched" not in pos and "no matched synthetic configuration" in pos["no_match"]
    # matching is on the synthetic configurations' measured AMI (mean over seeds)
    measured = runs.groupby("config_id")["ami_mean"].mean()
    assert f"{measured['T2_n1000_m0.1']:.3f}" in pos["no_match"]  # the nearest, ~0.07 away
    chunk = matched[("+chunk", 1000.0)]
    assert chunk["matched"]["config_id"] == "T2_n1000_m0.3"
    assert chunk["matched"]["distance"] == pytest.approx(
        abs(measured["T2_n1000_m0.3"] - chunk["ami"]), abs=1e-9)
    assert chunk["matched"]["distance"] == pytest.approx(0.01, abs=0.02)
    wide = {(m["case"].split(",")[0], m["n"]): m for m in _match(runs, tolerance=0.1)}
    assert wide[("+pos", 1000.0)]["matched"]["config_id"] == "T2_n1000_m0.1"
    assert "no matched synthetic configuration" in realtest_markdown(
        {**_doc_stub(), "matched": _match(runs, tolerance=0.03)}
    )


def _doc_stub():
    return {"study": "s", "features": [], "measures": [], "engines": [], "tolerance": 0.03,
            "rows": {"synthetic_mtl": 0, "real": 0, "stl": 0}, "fits": [], "predictions": [],
            "summary": {"rows": [], "closest": []}, "matched": []}  # fmt: skip


def test_matched_differences_are_paired_by_seed(runs):
    chunk = next(m for m in _match(runs, tolerance=0.03) if m["case"].startswith("+chunk")
                 and m["n"] == 2000.0)  # fmt: skip
    real = runs[runs.config_id == "T2_n2000_chunk"].set_index("seed")["test_f1"]
    syn = runs[runs.config_id == "T2_n2000_m0.3"].set_index("seed")["test_f1"]
    stl = runs[runs.config_id == "T1_n2000"].set_index("seed")["test_f1"]
    delta = real - syn
    assert chunk["matched"]["delta"]["paired"]
    assert chunk["matched"]["delta"]["mean"] == pytest.approx(delta.mean())
    assert chunk["matched"]["delta"]["std"] == pytest.approx(delta.std(ddof=1))
    assert chunk["real_transfer"]["mean"] == pytest.approx((real - stl).mean())
    assert chunk["matched"]["transfer"]["std"] == pytest.approx((syn - stl).std(ddof=1))
    assert chunk["stl"]["mean"] == pytest.approx(stl.mean())


def test_shuffled_rows_give_the_same_document(runs, document):
    shuffled = runs.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = realtest_document(
        shuffled, {"name": "real", "kind": "real_tasks", "features": ["n", "T"]},
        engines=["law"], engine_params=LAW, **FAST,
    )  # fmt: skip
    assert _match(shuffled, tolerance=0.03) == _match(runs, tolerance=0.03)
    for a, b in zip(again["predictions"], document["predictions"], strict=True):
        assert a["case"] == b["case"] and a["n"] == b["n"]
        assert a["error"]["mean"] == pytest.approx(b["error"]["mean"], abs=1e-6)
        assert a["error"]["std"] == pytest.approx(b["error"]["std"], abs=1e-6)


def test_error_summary_calls_a_tie_within_two_sigma():
    rows = []
    for measure, errors in (("ami", (0.02, 0.05, 0.03)), ("x", (0.03, 0.04, 0.035))):
        for seed, e in enumerate(errors):
            rows.append({"engine": "law", "measure": measure, "config": "c", "seed": seed,
                         "error": e})  # fmt: skip
    (closest,) = error_summary(pd.DataFrame(rows))["closest"]
    assert closest["measure"] == "ami" and closest["others"][0]["tie"]


# ----------------------------------------------------------------- errors
def test_no_synthetic_rows_and_no_real_rows_are_named(runs):
    with pytest.raises(ValueError, match="no synthetic multitask rows"):
        split_rows(runs[(runs.aux_tasks != "") | (runs.n_tasks == 1)])
    with pytest.raises(ValueError, match="no real-task rows.*aux_tasks grid axis.*aux_tasks: \\["):
        split_rows(runs[runs.aux_tasks == ""])
    with pytest.raises(ValueError, match="no real-task rows"):
        split_rows(runs[runs.aux_tasks == ""].drop(columns="aux_tasks"))


def test_unknown_and_missing_measures_are_named(runs):
    with pytest.raises(ValueError, match="'nope', which is not a relatedness measure"):
        realtest_document(runs, {"name": "r", "measures": ["nope"]}, engines=["law"])
    with pytest.raises(ValueError, match="no column 'cov_rv_mean' of the measure 'cov_rv'.*"
                       "measures key"):  # fmt: skip
        realtest_document(runs, {"name": "r", "measures": ["cov_rv"]}, engines=["law"])


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"kind": "formula"}, "is not 'real_tasks'"),
        ({"kind": "real_tasks", "measures": ["ami", "ami"]}, "more than once"),
        ({"kind": "real_tasks", "features": ["n", "ami"]}, "both features and measures"),
        ({"kind": "real_tasks", "engines": ["gp"]}, "unknown engine"),
        ({"kind": "real_tasks", "tolerance": 0}, "tolerance must be a positive"),
        ({"kind": "real_tasks", "extrapolate": {"n": 1}}, "extrapolate is not used"),
        ({"kind": "real_tasks", "target": "f1"}, "unknown keys"),
    ],
)
def test_bad_studies_are_named(spec, needle):
    with pytest.raises(ValueError, match=needle):
        check_study(spec, "study 'r'")


# ----------------------------------------------------------------- config
def _config(study, grid=None):
    config = {
        "run": ["e"],
        "experiments": {
            "e": {
                "grid": grid
                or [
                    {"n_tasks": [2, 3], "n_tokens_per_task": [100, 200, 300], "alpha": [0.6, 0.8]},
                    {"n_tasks": [2], "n_tokens_per_task": [100], "aux_tasks": ["pos"]},
                ],  # fmt: skip
                "seeds": [0],
                "studies": [study],
            }
        },
    }
    validate(config, SCHEMA)
    return config


def test_config_check_accepts_a_real_tasks_study(tmp_path):
    study = {"name": "r", "kind": "real_tasks", "features": ["n", "T"], "measures": ["ami"],
             "engines": ["law"], "tolerance": 0.05}  # fmt: skip
    config = _config(study)
    assert set(check_config(config, root=tmp_path)) == {"e"}
    assert config["experiments"]["e"]["studies"][0]["tolerance"] == 0.05


@pytest.mark.parametrize(
    ("study", "needle"),
    [
        ({"measures": ["cov_rv"]}, "experiments.e.measures does not enable"),
        ({"engines": ["nope"]}, "unknown engine"),
        ({"measures": ["nope"]}, "not a relatedness measure"),
    ],
)
def test_config_check_refuses_bad_real_tasks_studies(tmp_path, study, needle):
    spec = {"name": "r", "kind": "real_tasks", "features": ["n", "T"], **study}
    with pytest.raises(ValueError) as info:
        check_config(_config(spec), root=tmp_path)
    assert "experiments.e.studies[0] ('r')" in str(info.value) and needle in str(info.value)


def test_config_check_refuses_too_few_synthetic_configurations(tmp_path):
    grid = [{"n_tasks": [2], "n_tokens_per_task": [100, 200], "alpha": [0.6, 0.8]}]
    spec = {"name": "r", "kind": "real_tasks", "features": ["n", "T"]}
    with pytest.raises(ValueError, match="4 synthetic multitask configurations"):
        check_config(_config(spec, grid), root=tmp_path)


# -------------------------------------------------------------- outputs
def test_outputs_and_cli(runs, document, tmp_path, capsys):
    write_realtest(document, markdown=tmp_path / "r.md", json_path=tmp_path / "r.json",
                   figure=tmp_path / "r")  # fmt: skip
    assert (tmp_path / "r.png").stat().st_size > 0 and (tmp_path / "r.pdf").exists()
    assert json.loads((tmp_path / "r.json").read_text())["summary"] == json.loads(
        json.dumps(document["summary"])
    )
    path = tmp_path / "runs.parquet"
    runs.to_parquet(path)
    args = ["realtest", str(path), "--engines", "law", "--seeds", "0", "--bootstrap", "0",
            "--cv-repeats", "1", "--param", "law:n_restarts=1", "--param", "law:family=[lin]",
            "--param", "law:families=" + json.dumps(LINEAR), "--markdown",
            str(tmp_path / "c.md")]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| law | ami | +chunk, T = 2 | 1000 |" in printed
    assert "mtllaws realtest" in printed and "law:families=" in printed
    assert (tmp_path / "c.md").read_text() == printed
    assert main(["realtest", str(path), "--measures", "nope"]) == 2
    assert "not a relatedness measure" in capsys.readouterr().err


def test_workflow_script_writes_the_rule_outputs(runs, tmp_path):
    import importlib.util
    from types import SimpleNamespace

    path = tmp_path / "runs.parquet"
    runs.to_parquet(path)
    spec = importlib.util.spec_from_file_location(
        "realtest_script", REPO / "workflow" / "scripts" / "realtest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = {k: str(tmp_path / f"real.{k}") for k in ("md", "json", "png", "pdf")}
    study = {"name": "real", "kind": "real_tasks", "features": ["n", "T"], "measures": [],
             "engines": [], "fixed": {}, "extrapolate": {}, "tolerance": 0.03}  # fmt: skip
    smk = SimpleNamespace(
        input=SimpleNamespace(runs=str(path)),
        output=SimpleNamespace(markdown=out["md"], json=out["json"], png=out["png"],
                               pdf=out["pdf"]),  # fmt: skip
        params=SimpleNamespace(
            study=study, engines=["law"], seeds=[0], target="f1", min_rows=20, test_size=0.1,
            cv=5, cv_repeats=1, bootstrap=0, engine_params={"law": {"families": LINEAR}},
        ),  # fmt: skip
        threads=1,
    )
    module.main(smk)
    document = json.loads(Path(out["json"]).read_text())
    assert document["engines"] == ["law"] and document["measures"] == ["ami"]
    assert {f["variant"] for f in document["fits"]} <= {
        "law:lin", "law:effective_data", "law:maurer_ami", "law:paper_sqrt",
    }  # fmt: skip
    text = Path(out["md"]).read_text()
    assert text.startswith("# Real auxiliary tasks") and "snakemake --cores 1" in text
    assert "law:families=" in text
    assert Path(out["png"]).stat().st_size > 0 and Path(out["pdf"]).exists()


def test_a_document_without_predictions_still_renders(tmp_path):
    from mtllaws.realtest import plot_realtest

    stub = {**_doc_stub(), "measures": ["ami", "x"]}
    assert "no prediction: every fit was skipped" in realtest_markdown(stub)
    written = plot_realtest(stub, tmp_path / "empty")
    assert [p.suffix for p in written] == [".png", ".pdf"]
