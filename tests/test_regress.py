"""Tests of the symbolic-regression stage: mtllaws.formula, .gp, .sparse, .regress and
workflow/scripts/regress.py."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sympy as sp
from gplearn.functions import _function_map

from mtllaws.formula import (
    additive_terms,
    complexity,
    equivalent,
    make_symbols,
    round_constants,
    round_sig,
    simplify_formula,
    structure,
)
from mtllaws.gp import (
    EXP_CLIP,
    GPRegressor,
    check_program,
    program_to_sympy,
    protected_exp,
)
from mtllaws.regress import (
    DEFAULTS,
    ENGINES,
    MIN_ROWS,
    PAPER_BALANCED_STUDIES,
    latex_table,
    make_engine,
    markdown_table,
    read_table,
    resolve_column,
    run_studies,
    run_study,
    select_study_rows,
    split_indices,
    write_study_outputs,
)
from mtllaws.sparse import SparseLibraryRegressor

REPO = Path(__file__).resolve().parents[1]
N, AMI, T = sp.symbols("n AMI T", positive=True)
PLANTED = sp.Float(0.2) + sp.Float(0.05) * sp.log(N) * sp.sqrt(AMI)


def planted_table(seed: int = 0, noise: float = 0.005) -> pd.DataFrame:
    """F1 = 0.2 + 0.05 log(n) sqrt(AMI) + noise on the paper-like grid (810 rows)."""
    n, ami, t = np.meshgrid(
        np.arange(1000, 10001, 1000), np.round(np.arange(0.1, 0.91, 0.1), 2), np.arange(2, 11)
    )
    n, ami, t = n.ravel(), ami.ravel(), t.ravel()
    rng = np.random.default_rng(seed)
    f1 = 0.2 + 0.05 * np.log(n) * np.sqrt(ami) + rng.normal(0.0, noise, n.size)
    return pd.DataFrame(
        {"n_tasks": t, "n_tokens_per_task": n, "mutual_info": ami, "alpha": 0.9, "fscore": f1}
    )


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return planted_table()


def _gp_node(name):
    return protected_exp if name == "exp" else _function_map[name]


def _lambdify(formula: str, variables: dict, table: pd.DataFrame) -> np.ndarray:
    symbols = {name: sp.Symbol(name) for name in variables}
    expr = sp.sympify(formula, locals=symbols)
    f = sp.lambdify(list(symbols.values()), expr, "numpy")
    values = f(*(table[col].to_numpy(float) for col in variables.values()))
    return np.broadcast_to(values, (len(table),))


# ------------------------------------------------------------------ formula
def test_structure_ignores_constants_but_not_terms():
    a = sp.Float(0.21) + sp.Float(0.049) * sp.log(N) * sp.sqrt(AMI)
    b = sp.Float(-3.0) + sp.Float(7.5) * sp.sqrt(AMI) * sp.log(N)
    c = sp.Float(0.2) + sp.Float(0.05) * sp.log(N) * AMI
    d = sp.Float(0.05) * sp.log(N) * sp.sqrt(AMI)
    assert structure(a) == structure(b) == "c + c*sqrt(AMI)*log(n)"
    assert structure(c) != structure(a)
    assert structure(d) == "c*sqrt(AMI)*log(n)"
    # Constants inside a term become placeholders too; products are distributed.
    e = sp.log(sp.Float(0.3) * N + sp.Float(2.0)) * (T + sp.Float(1.5))
    assert structure(e) == "c*T*log(c*n + c) + c*log(c*n + c)"


def test_rounding_and_equivalence():
    assert round_sig(0.049962, 2) == 0.05
    assert round_sig(1234.5, 2) == 1200.0
    assert round_sig(0.0, 2) == 0.0
    fitted = sp.Float(0.2002) + sp.Float(0.04996) * sp.log(N) * sp.sqrt(AMI)
    assert equivalent(fitted, PLANTED, digits=2)
    assert not equivalent(fitted, PLANTED, digits=4)
    assert not equivalent(sp.Float(0.2) + sp.Float(0.05) * sp.log(N) * AMI, PLANTED, digits=2)
    assert str(round_constants(fitted, 2)) == "0.05*sqrt(AMI)*log(n) + 0.2"
    # Symbols are matched by name, whatever their assumptions.
    assert equivalent(sp.Symbol("n") + 1, N + 1)


def test_simplify_formula_keeps_values_and_shows_terms():
    expr = sp.Float(0.3) * (N**2 - 1) / (N + 1) + sp.Float(0.1) * sp.log(N**2)
    simple = simplify_formula(expr)
    assert str(simple) == "0.3*n + 0.2*log(n) - 0.3"
    rng = np.random.default_rng(0)
    for n in rng.uniform(1.0, 1e4, 5):
        assert float(simple.subs(N, n)) == pytest.approx(float(expr.subs(N, n)), rel=1e-9)
    assert complexity(simple) < complexity(expr)
    assert len(additive_terms(simple)) == 2
    assert additive_terms(sp.Float(2.0)) == []


def test_make_symbols_follows_the_data():
    x = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 3.0]])
    n, a, t = make_symbols(["n", "a", "t"], x)
    assert n.is_positive and a.is_nonnegative and not a.is_positive and t.is_real
    assert t.is_positive is None
    with pytest.raises(ValueError, match="expected"):
        make_symbols(["n"], x)


# ----------------------------------------------------------------------- gp
def test_protected_exp_pickles_and_clips():
    again = pickle.loads(pickle.dumps(protected_exp))
    x = np.array([-500.0, 0.0, 1.0, 500.0])
    np.testing.assert_allclose(again(x), np.exp(np.clip(x, -EXP_CLIP, EXP_CLIP)))
    assert again.name == "exp" and again.arity == 1


@pytest.mark.parametrize(
    ("program", "column", "reason"),
    [
        (["div", 0, 1], np.array([1.0, 0.0005, 2.0]), "div"),
        (["log", 1], np.array([1.0, -2.0, 3.0]), "log"),
        (["log", 1], np.array([1.0, 0.0, 3.0]), "log"),
        (["sqrt", 1], np.array([1.0, -0.1, 4.0]), "sqrt"),
        (["exp", 1], np.array([1.0, 2.0, 150.0]), "exp"),
        (["exp", "neg", 1], np.array([1.0, 2.0, 150.0]), "exp"),
    ],
)
def test_check_program_rejects_every_protection_branch(program, column, reason):
    X = np.column_stack([np.ones(3), column])
    nodes = [_gp_node(p) if isinstance(p, str) else p for p in program]
    valid, why = check_program(nodes, X)
    assert not valid and why.startswith(reason)
    # The same program on values inside the real domain is valid.
    ok = np.column_stack([np.ones(3), np.array([1.0, 2.0, 3.0])])
    assert check_program(nodes, ok) == (True, "")


def test_program_to_sympy_matches_gplearn_execution():
    X = np.column_stack([np.linspace(1, 5, 7), np.linspace(0.5, 2, 7)])
    program = [
        _gp_node("add"),
        _gp_node("mul"), 0.5, _gp_node("log"), 0,
        _gp_node("div"), _gp_node("sqrt"), 1, _gp_node("exp"), _gp_node("neg"), 0,
    ]  # fmt: skip
    x0, x1 = sp.symbols("x0 x1", positive=True)
    expr = program_to_sympy(program, [x0, x1])
    assert expr == sp.Float(0.5) * sp.log(x0) + sp.sqrt(x1) / sp.exp(-x0)
    f = sp.lambdify([x0, x1], expr, "numpy")

    class _P:  # minimal stand-in with gplearn's execute semantics
        pass

    from gplearn._program import _Program

    p = _P()
    p.program = program
    np.testing.assert_allclose(f(X[:, 0], X[:, 1]), _Program.execute(p, X))


def test_gp_selects_a_valid_program_when_the_fittest_is_not():
    # y = log|x| is fitted best by gplearn's protected log(x), which is invalid
    # where x < 0; the estimator must return a program valid on every row.
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(-3, 3, 120), rng.uniform(1, 2, 120)])
    X[np.abs(X[:, 0]) < 0.05, 0] = 0.5
    y = np.log(np.abs(X[:, 0]))
    model = GPRegressor(
        population_size=300,
        generations=4,
        protection="reject",
        feature_names=["a", "b"],
        random_state=0,
    ).fit(X, y)
    assert not check_program(model.estimator_._program, X)[0]
    assert check_program(model.program_, X) == (True, "")
    assert model.n_invalid_ >= 1 and model.selected_rank_ >= 1
    # The sympy formula is the program: same values on the data.
    f = sp.lambdify(model.symbols_, model.expr_, "numpy")
    np.testing.assert_allclose(
        np.broadcast_to(f(X[:, 0], X[:, 1]), (len(X),)), model.predict(X), rtol=1e-9
    )


def test_gp_penalize_mode_is_valid_and_pickles():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.uniform(0, 2, 80), rng.uniform(-1, 1, 80)])
    y = 3 * X[:, 0] + X[:, 1] ** 2
    model = GPRegressor(population_size=150, generations=3, random_state=3).fit(X, y)
    assert check_program(model.program_, X) == (True, "")
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(X), model.predict(X))
    assert np.corrcoef(model.predict(X), y)[0, 1] > 0.5


def test_gp_speedups_do_not_change_the_evolution(monkeypatch):
    import contextlib

    import gplearn.genetic
    from gplearn._program import _Program

    import mtllaws.gp

    rng = np.random.default_rng(4)
    X = rng.uniform(1, 10, (50, 2))
    y = np.log(X[:, 0]) * X[:, 1]
    fast = GPRegressor(population_size=120, generations=3, random_state=np.int64(7)).fit(X, y)
    # gplearn's helpers are restored after the fit.
    assert _Program.get_all_indices is mtllaws.gp._GPLEARN_GET_ALL_INDICES
    assert gplearn.genetic.check_random_state is mtllaws.gp._GPLEARN_CHECK_RANDOM_STATE
    monkeypatch.setattr(mtllaws.gp, "_fast_gplearn", contextlib.nullcontext)
    plain = GPRegressor(population_size=120, generations=3, random_state=7).fit(X, y)
    assert [str(p) for p in fast.estimator_._programs[-1]] == [
        str(p) for p in plain.estimator_._programs[-1]
    ]
    assert str(fast.program_) == str(plain.program_)


def test_gp_rejects_bad_parameters():
    X, y = np.ones((30, 2)), np.ones(30)
    with pytest.raises(ValueError, match="protection='bogus' is unknown"):
        GPRegressor(protection="bogus").fit(X, y)
    with pytest.raises(ValueError, match="metric='mean absolute error'"):
        GPRegressor(metric="mean absolute error").fit(X, y)
    with pytest.raises(ValueError, match="feature_names has 1 names for 2 columns"):
        GPRegressor(feature_names=["a"]).fit(X, y)


# ------------------------------------------------------------------- sparse
def test_sparse_library_only_has_terms_defined_on_the_domain():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(1000, 10000, 100), rng.uniform(0, 1, 100)])
    X[:5, 1] = 0.0  # AMI = 0: no log(AMI), no 1/AMI
    y = np.log(X[:, 0]) + np.sqrt(X[:, 1])
    model = SparseLibraryRegressor(feature_names=["n", "AMI"], max_terms=1, random_state=0)
    model.fit(X, y)
    texts = [str(t.to_sympy(model.symbols_)) for t in model.library_]
    assert "log(n)" in texts and "sqrt(AMI)" in texts and "exp(-n/5000)" in texts
    assert not any("log(AMI" in s or "/AMI" in s or "AMI**(-" in s for s in texts)
    values = np.column_stack([t.evaluate(X) for t in model.library_])
    assert np.all(np.isfinite(values))
    # Test rows outside the training rows count: a zero only in `domain` removes log.
    domain = np.vstack([X[5:], [[5000.0, 0.0]]])
    m2 = SparseLibraryRegressor(feature_names=["n", "AMI"], max_terms=1, random_state=0)
    m2.fit(X[5:], y[5:], domain=domain)
    assert not any("log(AMI" in str(t.to_sympy(m2.symbols_)) for t in m2.library_)
    m3 = SparseLibraryRegressor(feature_names=["n", "AMI"], max_terms=1, random_state=0)
    m3.fit(X[5:], y[5:])
    assert any("log(AMI" in str(t.to_sympy(m3.symbols_)) for t in m3.library_)


def test_sparse_beam_search_and_exhaustive_agree_on_a_planted_law(planted):
    X = planted[["n_tokens_per_task", "mutual_info", "n_tasks"]].to_numpy(float)
    y = 100 * planted["fscore"].to_numpy()
    forms = []
    for max_subsets in (10, 2_000_000):
        m = SparseLibraryRegressor(
            feature_names=["n", "AMI", "T"],
            input_products=False,
            n_exp_scales=1,
            max_subsets=max_subsets,
            random_state=0,
        ).fit(X, y)
        forms.append(structure(m.expr_))
        assert [p["n_terms"] for p in m.path_] == [0, 1, 2, 3]
        assert m.cv_mse_ <= m.best_cv_mse_ + m.cv_se_ + 1e-12
    assert forms[0] == forms[1] == "c + c*sqrt(AMI)*log(n)"


def test_sparse_seeds_change_the_folds():
    rng = np.random.default_rng(5)
    X = rng.uniform(1, 10, (60, 2))
    y = np.log(X[:, 0]) + 0.3 * rng.normal(size=60)
    a = SparseLibraryRegressor(random_state=0).fit(X, y)
    b = SparseLibraryRegressor(random_state=1).fit(X, y)
    assert a.path_[1]["cv_mse"] != b.path_[1]["cv_mse"]


def test_sparse_rejects_bad_parameters():
    X, y = np.random.default_rng(0).uniform(1, 2, (30, 2)), np.ones(30)
    with pytest.raises(ValueError, match="max_terms must be an integer >= 1"):
        SparseLibraryRegressor(max_terms=0).fit(X, y)
    with pytest.raises(ValueError, match=r"operators \['cube'\] are unknown"):
        SparseLibraryRegressor(operators=("x", "cube")).fit(X, y)
    with pytest.raises(ValueError, match="selection='aic' is unknown"):
        SparseLibraryRegressor(selection="aic").fit(X, y)
    with pytest.raises(ValueError, match="X has 30 rows but y has 29"):
        SparseLibraryRegressor().fit(X, y[:-1])


# ------------------------------------------------------------ planted law
def test_planted_law_is_recovered_by_the_sparse_engine_for_three_seeds(planted):
    spec = {"name": "planted", "features": ["n", "ami", "T"]}
    result = run_study(planted, spec, engine="sparse", seeds=[0, 1, 2], bootstrap=0)
    assert result["agreement"] == {
        "structure": "c + c*sqrt(AMI)*log(n)",
        "n_agree": 3,
        "n_seeds": 3,
    }
    for record in result["seeds"]:
        found = sp.sympify(record["formula"], locals={"n": N, "AMI": AMI, "T": T})
        assert equivalent(found, PLANTED, digits=2), record["formula"]
    assert result["test_r2"] > 0.99


# ------------------------------------------------------------------ regress
def test_aliases_resolve_for_both_table_formats(planted):
    assert resolve_column(planted, "ami") == "mutual_info"
    assert resolve_column(planted, "n") == "n_tokens_per_task"
    assert resolve_column(planted, "T") == "n_tasks"
    assert resolve_column(planted, "f1") == "fscore"
    summary = planted.rename(columns={"mutual_info": "ami_mean_mean", "fscore": "test_f1_mean"})
    assert resolve_column(summary, "mutual_info") == "ami_mean_mean"
    assert resolve_column(summary, "f1") == "test_f1_mean"
    assert resolve_column(summary, "n_tasks") == "n_tasks"


def test_every_relatedness_measure_is_a_feature_alias(planted):
    from mtllaws import relatedness as R
    from mtllaws.regress import ALIASES, aliases, variable_symbol

    assert ALIASES["ami"] == ("ami_mean_mean", "ami_mean", "mutual_info")
    assert variable_symbol("ami_mean_mean") == variable_symbol("ami_mean") == "AMI"
    assert [variable_symbol(c) for c in ("mutual_info", "n_tokens_per_task", "n_tasks")] == [
        "AMI", "n", "T"]
    assert variable_symbol("test_f1_PER_mean") == "test_f1_PER_mean"
    R.register(R.Measure(name="toy_sim", function=len, description="", label="toy",
                         symbol="S"))
    try:
        assert aliases()["toy_sim"] == ("toy_sim_mean_mean", "toy_sim_mean")
        summary = planted.assign(toy_sim_mean_mean=0.5)
        assert resolve_column(summary, "toy_sim") == "toy_sim_mean_mean"
        assert resolve_column(planted.assign(toy_sim_mean=0.5), "toy_sim") == "toy_sim_mean"
        assert variable_symbol("toy_sim_mean_mean") == "S"
        with pytest.raises(ValueError, match=r"'toy_sim' \(nor toy_sim_mean_mean or"):
            resolve_column(planted, "toy_sim")
    finally:
        R.MEASURES.pop("toy_sim")
    assert "toy_sim" not in aliases()


def test_missing_column_is_named(planted):
    with pytest.raises(ValueError, match="column 'n_ner' is not in the table"):
        select_study_rows(planted, {"name": "s", "features": ["n_ner"]})
    expected = r"column 'f1' \(nor test_f1_mean or test_f1 or fscore\) is not in the table"
    with pytest.raises(ValueError, match=expected):
        select_study_rows(planted.drop(columns="fscore"), {"name": "s", "features": ["n"]})


def test_non_numeric_values_are_named(planted):
    bad = planted.astype({"n_tasks": object})
    bad.loc[7, "n_tasks"] = "two"
    expected = r"column 'n_tasks' has 1 non-numeric values \(first 'two' in row 7\)"
    with pytest.raises(ValueError, match=expected):
        select_study_rows(bad, {"name": "s", "features": ["n", "T"]})


def test_nan_values_are_named(planted):
    bad = planted.copy()
    bad.loc[[3, 9], "mutual_info"] = np.nan
    expected = r"column 'mutual_info' has 2 NaN or infinite values \(rows \[3, 9\]\)"
    with pytest.raises(ValueError, match=expected):
        select_study_rows(bad, {"name": "s", "features": ["ami"]})
    bad = planted.copy()
    bad.loc[0, "fscore"] = np.inf
    with pytest.raises(ValueError, match="column 'fscore' has 1 NaN or infinite"):
        run_study(bad, {"name": "s", "features": ["n"]})


def test_too_few_rows_is_named(planted):
    small = planted.iloc[: MIN_ROWS - 1]
    expected = r"study 's' has 19 rows; symbolic regression needs at least 20"
    with pytest.raises(ValueError, match=expected):
        run_study(small, {"name": "s", "features": ["n"]})
    spec = {"name": "f_n", "features": ["n"], "fixed": {"T": 3, "ami": 0.5}}
    with pytest.raises(ValueError, match=r"'f_n' has 10 rows with n_tasks=3, mutual_info=0.5"):
        select_study_rows(planted, spec)
    assert len(select_study_rows(planted, spec, min_rows=10)["y"]) == 10


def test_fixed_value_without_rows_lists_the_available_values(planted):
    spec = {"name": "f_n", "features": ["n"], "fixed": {"n_tasks": 2, "mutual_info": 0.55}}
    with pytest.raises(ValueError) as err:
        select_study_rows(planted, spec)
    message = str(err.value)
    assert "fixed mutual_info=0.55 selects no rows" in message
    assert "available values of mutual_info among the rows with n_tasks=2: [0.1, 0.2," in message


def test_study_spec_errors(planted):
    with pytest.raises(ValueError, match=r"unknown keys \['feature'\]"):
        select_study_rows(planted, {"name": "s", "feature": ["n"]})
    with pytest.raises(ValueError, match="names no features"):
        select_study_rows(planted, {"name": "s", "features": []})
    with pytest.raises(ValueError, match=r"names the column\(s\) \['n_tokens_per_task'\] more"):
        select_study_rows(planted, {"name": "s", "features": ["n", "n_tokens_per_task"]})
    with pytest.raises(ValueError, match="feature 'alpha' takes the single value 0.9"):
        select_study_rows(planted, {"name": "s", "features": ["n", "alpha"]})
    with pytest.raises(ValueError, match="engine 'magic' is unknown"):
        run_study(planted, {"name": "s", "features": ["n"]}, engine="magic")
    expected = r"engine 'sparse' has no parameter\(s\) \['generations'\]"
    with pytest.raises(ValueError, match=expected):
        make_engine("sparse", seed=0, feature_names=["n"], generations=3)
    with pytest.raises(ValueError, match=r"study names \['a'\] are used twice"):
        run_studies(planted, [{"name": "a", "features": ["n"]}, {"name": "a", "features": ["T"]}])


def test_split_is_seeded_and_disjoint():
    train, test = split_indices(1002, test_size=0.1, seed=0)
    assert len(test) == 100 and len(train) == 902
    assert not set(train) & set(test)
    again = split_indices(1002, test_size=0.1, seed=0)
    np.testing.assert_array_equal(again[1], test)
    assert not np.array_equal(split_indices(1002, seed=1)[1], test)
    with pytest.raises(ValueError, match="test_size must be in"):
        split_indices(10, test_size=1.5)
    # issue 19 item 9: a 1-row test set gave R² = nan and exit status 0
    with pytest.raises(ValueError, match="test set of 1 row; test R² needs at least 2"):
        split_indices(12, test_size=0.1)


def test_run_study_result_is_on_the_f1_scale_and_json_ready(planted, tmp_path):
    spec = {"name": "f_n_ami", "features": ["n", "mutual_info"], "fixed": {"T": 4}}
    result = run_study(
        planted, spec, engine="sparse", seeds=[0, 1], split="per_seed", test_size=0.2,
        bootstrap=0,
    )
    json.dumps(result)  # serialisable
    assert result["variables"] == {"n": "n_tokens_per_task", "AMI": "mutual_info"}
    assert result["fixed"] == {"n_tasks": 4.0}
    # 90 configurations: a 0.2 split tests on 18 (>= 10), so there is a held-out split.
    assert result["n_rows"] == 90 and result["n_configurations"] == 90
    assert result["n_test"] == 18 and result["validation"]["holdout"]
    assert [s["seed"] for s in result["seeds"]] == [0, 1]
    assert result["n_train"] + result["n_test"] == result["n_rows"]
    rows = select_study_rows(planted, spec, min_rows=1)
    sub = planted.loc[rows["rows"]]
    predicted = np.asarray(result["predictions"]["predicted"])
    # The simplified formula reproduces the predictions, on the F1 scale.
    np.testing.assert_allclose(_lambdify(result["formula"], result["variables"], sub), predicted)
    np.testing.assert_allclose(
        _lambdify(result["formula_raw"], result["variables"], sub), predicted, rtol=1e-9
    )
    measured = np.asarray(result["predictions"]["measured"])
    subset = np.asarray(result["predictions"]["subset"])
    assert result["test_mse"] == pytest.approx(
        np.mean((measured[subset == "test"] - predicted[subset == "test"]) ** 2)
    )
    assert 0 < result["train_mse"] < 1e-4


def test_agreement_counts_the_modal_structure(planted):
    rng = np.random.default_rng(9)
    noisy = planted.assign(fscore=planted["fscore"] + rng.normal(0, 0.05, len(planted)))
    result = run_study(
        noisy, {"name": "s", "features": ["n", "ami", "T"]}, seeds=[0, 1, 2, 3], bootstrap=0
    )
    structures = [s["structure"] for s in result["seeds"]]
    top = max(structures.count(s) for s in structures)
    assert result["agreement"]["n_agree"] == top
    assert structures.count(result["agreement"]["structure"]) == top
    assert result["structure"] == result["agreement"]["structure"]
    same = [s for s in result["seeds"] if s["structure"] == result["structure"]]
    assert result["train_mse"] == min(s["train_mse"] for s in same)


def test_outputs_and_tables(planted, tmp_path):
    studies = [
        {"name": "f_n", "features": ["n"], "fixed": {"T": 2, "ami": 0.5}},
        {"name": "f_all", "features": ["n", "ami", "T"]},
    ]
    results = run_studies(
        planted, studies, out_dir=tmp_path, seeds=[0], skip_insufficient=True, bootstrap=0
    )
    assert "skipped" in results[0] and "has 10 rows" in results[0]["skipped"]
    assert json.loads((tmp_path / "f_all.json").read_text())["study"] == "f_all"
    assert (tmp_path / "f_all.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f_all.pdf").read_bytes()[:4] == b"%PDF"
    assert not (tmp_path / "f_n.png").exists()
    md = markdown_table(results)
    assert md.count("\n") == 4 and "| f_all | sparse |" in md and "skipped:" in md
    assert "sqrt(AMI)\\*log(n)" in md and "| 1/1 |" in md
    tex = latex_table(results)
    assert r"\begin{tabular}" in tex and r"f\_all & sparse & $" in tex
    assert r"\sqrt{\mathrm{AMI}}" in tex or r"\sqrt{AMI}" in tex
    paths = write_study_outputs(results[1], tmp_path / "again")
    assert {p.suffix for p in paths.values()} == {".json", ".png", ".pdf"}


def test_read_table_csv_and_parquet(planted, tmp_path):
    planted.to_csv(tmp_path / "t.csv", index=False)
    planted.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv"), planted, check_dtype=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), planted)
    with pytest.raises(ValueError, match="unknown table format '.xlsx'"):
        read_table(tmp_path / "t.xlsx")


def test_gplearn_engine_in_a_study(planted):
    result = run_study(
        planted,
        {"name": "f_all", "features": ["n", "ami", "T"]},
        engine="gplearn",
        seeds=[0, 1],
        engine_params={"population_size": 200, "generations": 3},
        n_jobs=2,
        bootstrap=0,
    )
    assert len(result["seeds"]) == 2
    for record in result["seeds"]:
        assert record["program_length"] >= 1 and "n_invalid" in record
    rows = planted
    predicted = np.asarray(result["predictions"]["predicted"])
    np.testing.assert_allclose(
        _lambdify(result["formula"], result["variables"], rows), predicted, rtol=1e-6, atol=1e-9
    )


# --------------------------------------------------------- workflow script
def _load_script():
    spec = importlib.util.spec_from_file_location(
        "regress_script", REPO / "workflow" / "scripts" / "regress.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workflow_script_writes_the_rule_outputs(planted, tmp_path):
    table = tmp_path / "summary.parquet"
    planted.rename(columns={"mutual_info": "ami_mean_mean", "fscore": "test_f1_mean"}).to_parquet(
        table
    )
    out_dir = tmp_path / "regress" / "sparse"

    class Named(list):
        def __init__(self, items, **named):
            super().__init__(items)
            self.__dict__.update(named)

    smk = SimpleNamespace(
        input=Named([str(table)], table=str(table)),
        output=Named([str(out_dir)], dir=str(out_dir)),
        params=SimpleNamespace(
            studies=[
                {"name": "f_all", "features": ["n_tokens_per_task", "ami_mean_mean", "n_tasks"]},
                {"name": "f_T", "features": ["n_tasks"], "fixed": {"n_tokens_per_task": 1000}},
                {
                    "name": "tiny",
                    "features": ["n_tasks"],
                    "fixed": {"n_tokens_per_task": 1000, "ami_mean_mean": 0.5},
                },
            ],
            engine="sparse",
            seeds=[0, 1],
            bootstrap=10,
            target="test_f1_mean",
            min_rows=20,
            test_size=0.1,
            cv=5,
            cv_repeats=2,
            engine_params={},
        ),
        threads=1,
        log=[str(tmp_path / "log.txt")],
    )
    _load_script().main(smk)
    results = json.loads((out_dir / "results.json").read_text())
    assert [r["study"] for r in results] == ["f_all", "f_T", "tiny"]
    assert results[0]["target"] == "test_f1_mean" and "skipped" in results[2]
    # f_T averages over AMI (not a configuration column here): 9 configurations, refused.
    assert "'f_T' has 9 configurations" in results[1]["skipped"]
    assert results[0]["variants"][0]["bootstrap"]["n_resamples"] == 10
    assert (out_dir / "f_all.pdf").exists() and not (out_dir / "f_T.png").exists()
    assert (out_dir / "table.md").read_text().startswith("| Study |")
    assert (out_dir / "table.tex").exists()


# ---------------------------------------------------------------- real data
@pytest.mark.realdata
def test_sparse_engine_on_the_paper_table(paper_csv):
    table = read_table(paper_csv)
    results = run_studies(
        table, PAPER_BALANCED_STUDIES, engine="sparse", seeds=[0, 1, 2], bootstrap=0
    )
    f_all = results[-1]
    # MTL rows only, averaged per configuration; 40 held-out configurations.
    assert f_all["n_rows"] == 907 and f_all["n_configurations"] == 405
    assert f_all["n_test"] == 40 and f_all["test_r2"] >= 0.93
    assert f_all["cv_r2_mean"] >= 0.95
    assert f_all["agreement"]["n_agree"] >= 2
    assert all(r["cv_r2_mean"] > 0.5 for r in results)


@pytest.mark.realdata
@pytest.mark.slow
def test_paper_engine_on_the_paper_table(paper_csv):
    # f(n, AMI, T) with the paper's settings (population 2000), fixed 90/10 split.
    table = read_table(paper_csv)
    spec = PAPER_BALANCED_STUDIES[-1]
    result = run_study(table, spec, engine="gplearn", seeds=[0, 1, 2], n_jobs=2, bootstrap=0)
    assert result["test_r2"] >= 0.60
    assert result["train_mse"] == min(s["train_mse"] for s in result["seeds"])
    # The formula is the program on every configuration: no protected branch is taken.
    rows = pd.DataFrame(result["predictions"]["configurations"])
    np.testing.assert_allclose(
        _lambdify(result["formula"], result["variables"], rows),
        result["predictions"]["predicted"],
        rtol=1e-9,
        atol=1e-12,
    )
    # Run time is measured by benchmarks/regress_speed.py, not asserted here.
    assert all(s["cpu_s"] > 0 for s in result["seeds"])


def test_fixed_list_selects_rows_with_any_listed_value():
    import pandas as pd

    from mtllaws.regress import select_study_rows

    table = pd.DataFrame(
        {
            "n_tasks": [1, 2, 3, 2, 3] * 6,
            "n": list(range(30)),
            "ami": [np.nan, 0.1, 0.2, 0.3, 0.4] * 6,
            "f1": np.linspace(0.1, 0.5, 30),
        }
    )
    selected = select_study_rows(
        table, {"name": "s", "features": ["n", "ami"], "fixed": {"n_tasks": [2, 3]}}, target="f1"
    )
    assert len(selected["rows"]) == 24
    assert selected["fixed"] == {"n_tasks": [2.0, 3.0]}
    with pytest.raises(ValueError, match=r"fixed n_tasks=\[7\] selects no rows"):
        select_study_rows(
            table, {"name": "s", "features": ["n"], "fixed": {"n_tasks": [7]}}, target="f1"
        )


# ------------------------------------------------------------ one home per setting
def test_schema_regress_defaults_are_regress_defaults():
    import yaml


    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["regress"]["properties"]
    shared = set(props) & set(DEFAULTS)
    assert shared == {
        "engines", "seeds", "target", "min_rows", "test_size", "cv", "cv_repeats",
        "bootstrap", "law_families",
    }  # fmt: skip
    for key in shared:
        value = DEFAULTS[key]
        assert props[key]["default"] == (list(value) if isinstance(value, tuple) else value), key
    assert set(DEFAULTS["engines"]) <= set(ENGINES)
    # No enum of engine names in the schema: check_config reads ENGINES.
    assert "enum" not in props["engines"]["items"]


def test_cli_regress_defaults_are_regress_defaults():
    from mtllaws.cli import build_parser

    args = build_parser().parse_args(["regress", "table.csv"])
    for key in ("engine", "target", "min_rows", "scale", "test_size", "split", "split_seed",
                "cv", "cv_repeats", "bootstrap"):  # fmt: skip
        assert getattr(args, key) == DEFAULTS[key], key
    assert args.seeds == list(DEFAULTS["seeds"])
    for engine in ENGINES:
        assert build_parser().parse_args(["regress", "t.csv", "--engine", engine]).engine == engine
    with pytest.raises(SystemExit):
        build_parser().parse_args(["regress", "t.csv", "--engine", "magic"])


def test_every_engine_has_the_registry_fields():
    for name, spec in ENGINES.items():
        assert {"estimator", "help", "bootstrap_params", "record"} <= set(spec), name
        assert callable(spec["record"]), name
