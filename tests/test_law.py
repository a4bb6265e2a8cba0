"""Tests of the law engine (mtllaws.law): parsing, fitting, planted-law recovery."""

import numpy as np
import pandas as pd
import pytest

from mtllaws.law import FAMILIES, LawRegressor, applicable, parse_family, substitute
from mtllaws.regress import ENGINES, run_study

PLANTED = {"Finf": 0.9, "b": 8.0, "c": 0.45, "k": 0.8, "p": 1.5, "q": 0.6}


def planted_effective_data(seed: int = 0, noise: float = 0.004) -> pd.DataFrame:
    """F1 from the effective-data family with PLANTED parameters, on a paper-like grid."""
    n, alpha, t = np.meshgrid(
        [1000, 2000, 4000, 8000, 16000], [0.6, 0.7, 0.8, 0.9, 0.95, 1.0], [2, 3, 5, 8, 12]
    )
    n, alpha, t = n.ravel(), alpha.ravel(), t.ravel()
    ami = np.round((alpha - 0.55) / 0.45, 3)
    p = PLANTED
    n_eff = n * (1 + p["k"] * ami ** p["p"] * (t - 1) ** p["q"])
    f1 = p["Finf"] - p["b"] * n_eff ** (-p["c"])
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"n_tasks": t, "n_tokens_per_task": n, "alpha": alpha, "mutual_info": ami,
         "fscore": f1 + rng.normal(0, noise, n.size)}
    )  # fmt: skip


def test_builtin_families_parse_and_name_their_variables():
    for name, spec in FAMILIES.items():
        family = parse_family(name, spec)
        assert set(family.variables) <= {"n", "AMI", "T"}, name
    eff = parse_family("effective_data", FAMILIES["effective_data"])
    assert eff.variables == ("AMI", "T", "n") and len(eff.params) == 6
    assert applicable(eff, ["n", "AMI", "T"]) and not applicable(eff, ["n", "AMI"])
    # A fixed T makes it apply to f(n, AMI); (T-1)**q is 1 at T=2, so q drops out.
    assert applicable(eff, ["n", "AMI"], {"T": 2})
    assert "q" not in substitute(eff, {"T": 2}).params


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"formula": "a*n +", "params": {"a": [1, 0, 2]}}, "does not parse"),
        ({"formula": "a*n", "params": {"a": [1, 0, 2], "b": [0, 0, 1]}}, "do not occur"),
        ({"formula": "a*n", "params": {"a": [3, 0, 2]}}, "lower <= init <= upper"),
        ({"formula": "a*n", "params": {"a": "x"}}, "needs [init, lower, upper]"),
        ({"formula": "a + b", "params": {"a": [1, 0, 2], "b": [1, 0, 2]}}, "no variables"),
        ({"formula": "a*n"}, "'formula' and 'params'"),
    ],
)
def test_bad_families_are_named(spec, message):
    with pytest.raises(ValueError, match="mine") as err:
        parse_family("mine", spec)
    assert message in str(err.value)


def test_law_regressor_fits_a_user_family_within_bounds():
    rng = np.random.default_rng(1)
    n = rng.uniform(1000, 20000, 200)
    y = 0.8 - 3.0 / np.sqrt(n) + rng.normal(0, 1e-4, n.size)
    family = {"formula": "a - b/sqrt(n)", "params": {"a": [0.5, 0, 1], "b": [1, 0, 2]}}
    model = LawRegressor(family=family, feature_names=["n"], random_state=0).fit(n[:, None], y)
    # b is bounded by 2 < 3: the fit sits on the bound instead of leaving it.
    assert model.params_["b"] == pytest.approx(2.0)
    free = LawRegressor(family={**family, "params": {"a": [0.5, 0, 1], "b": [1, 0, 10]}},
                        feature_names=["n"], random_state=0).fit(n[:, None], y)  # fmt: skip
    assert free.params_ == pytest.approx({"a": 0.8, "b": 3.0}, rel=1e-2)
    np.testing.assert_allclose(free.predict(n[:, None]), y, atol=1e-3)
    with pytest.raises(ValueError, match="needs the variable"):
        LawRegressor(family="maurer", feature_names=["n", "AMI"]).fit(np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="unknown"):
        LawRegressor(family="nope").fit(np.ones((5, 1)), np.ones(5))


def test_law_engine_is_registered_once():
    assert {"gplearn", "sparse", "law"} <= set(ENGINES)
    assert ENGINES["law"]["estimator"] == "mtllaws.law:LawRegressor"


@pytest.mark.slow
def test_planted_law_is_recovered_within_5_percent_and_the_bootstrap_covers_it():
    table = planted_effective_data()
    spec = {"name": "f_all", "features": ["n", "ami", "T"], "extrapolate": {"T": 5}}
    result = run_study(
        table, spec, engine="law", seeds=[0], target="fscore",
        engine_params={"family": "effective_data"}, bootstrap=100, cv_repeats=2,
    )  # fmt: skip
    variant = result["variants"][0]
    assert result["variant"] == variant["name"] == "law:effective_data"
    fitted = variant["coefficients"]
    for name, value in PLANTED.items():
        assert fitted[name] == pytest.approx(value, rel=0.05), name
    boot = variant["bootstrap"]
    assert boot["n_resamples"] == 100 and boot["structure_frequency"] == 1.0
    for name, value in PLANTED.items():
        ci = boot["coefficients"][name]
        assert ci["n"] == 100 and ci["lo"] <= value <= ci["hi"], (name, ci)
    assert variant["cv"]["r2_mean"] > 0.99
    assert variant["extrapolation"]["n_tasks"]["r2"] > 0.95
