"""Tests for mtllaws.relatedness: M(alpha), AMI, alpha_for_ami and the measure registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score

from mtllaws import relatedness as R
from mtllaws.corpus import prepare_corpus
from mtllaws.relatedness import (
    alpha_for_ami,
    ami,
    ami_from_contingency,
    contingency,
    expected_ami,
    transition_matrix,
)
from mtllaws.simulate import simulate_labels

#: The paper's published (alpha, AMI) pairs on CoNLL-2003 IO labels.
PAPER_PAIRS = {0.6: 0.13, 0.8: 0.34, 0.9: 0.55, 0.95: 0.71, 0.99: 0.91}


# ------------------------------------------------------------------ transition matrix


def test_transition_matrix():
    m = transition_matrix(0.8, 5)
    assert m.shape == (5, 5)
    np.testing.assert_allclose(np.diag(m), 0.8)
    np.testing.assert_allclose(m[0, 1:], 0.05)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(transition_matrix(0.2, 5), 0.2)
    np.testing.assert_array_equal(transition_matrix(1.0, 3), np.eye(3))


@pytest.mark.parametrize("alpha", [0.1, 1.01, float("nan")])
def test_transition_matrix_rejects_alpha(alpha):
    with pytest.raises(ValueError, match=r"outside \[1/c, 1\] = \[0.2, 1\] for c=5"):
        transition_matrix(alpha, 5)


# ------------------------------------------------------------------ AMI


def test_ami_equals_sklearn_on_random_labelings():
    rng = np.random.default_rng(42)
    for _ in range(100):
        n = int(rng.integers(2, 3000))
        x = rng.integers(0, int(rng.integers(1, 8)), n)
        z = np.where(rng.random(n) < rng.random(), x, rng.integers(0, int(rng.integers(1, 8)), n))
        assert abs(ami(x, z) - adjusted_mutual_info_score(x, z)) < 1e-9


def test_ami_equals_sklearn_on_large_skewed(skewed_y):
    y, _ = skewed_y
    for alpha in (0.2, 0.6, 0.95):
        s = simulate_labels(y, alpha, 5, np.random.default_rng(1))
        assert abs(ami(y, s) - adjusted_mutual_info_score(y, s)) < 1e-9


def test_ami_special_cases_and_string_labels():
    assert ami(np.zeros(5, int), np.zeros(5, int)) == 1.0
    assert ami(np.zeros(5, int), np.arange(5)) == 0.0
    x = np.array(["a", "b", "a", "c", "b", "a"])
    z = np.array([1, 0, 1, 2, 2, 1])
    assert abs(ami(x, z) - adjusted_mutual_info_score(x, z)) < 1e-12
    np.testing.assert_array_equal(contingency(x, z), [[0, 3, 0], [1, 0, 1], [0, 0, 1]])
    assert ami_from_contingency(np.array([[3, 0, 0], [0, 0, 2]])) == 1.0  # empty column ignored


def test_ami_on_200k_matches_sklearn(skewed_y):
    # timing of this size lives in benchmarks/data_prep.py
    y, _ = skewed_y
    s = simulate_labels(y, 0.9, 5, np.random.default_rng(1))
    assert abs(ami(y, s) - adjusted_mutual_info_score(y, s)) < 1e-9


# ------------------------------------------------------------------ alpha_for_ami


def test_expected_ami_monotone_and_ends(skewed_y):
    y, _ = skewed_y
    values = [expected_ami(a, y, c=5) for a in np.linspace(0.2, 1.0, 17)]
    assert np.all(np.diff(values) > 0)
    assert abs(values[0]) < 1e-4 and values[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("target", [0.05, 0.34, 0.55, 0.9])
def test_alpha_for_ami_roundtrip(skewed_y, target):
    y, _ = skewed_y
    alpha = alpha_for_ami(target, y, c=5)
    assert 0.2 < alpha < 1.0
    assert expected_ami(alpha, y, c=5) == pytest.approx(target, abs=1e-8)
    # a simulation at that alpha lands close to the target
    sim = ami(y, simulate_labels(y, alpha, 5, np.random.default_rng(9)))
    assert sim == pytest.approx(target, abs=0.01)


def test_alpha_for_ami_simulated_agrees_with_expected(skewed_y):
    y, _ = skewed_y
    alpha_sim = alpha_for_ami(0.5, y[:50_000], c=5, method="simulated", seed=3)
    assert alpha_sim == pytest.approx(alpha_for_ami(0.5, y[:50_000], c=5), abs=0.01)


def test_alpha_for_ami_ends_and_errors(skewed_y):
    y, _ = skewed_y
    assert alpha_for_ami(0.0, y, c=5) == pytest.approx(0.2)
    assert alpha_for_ami(1.0, y, c=5) == 1.0
    for bad in (1.2, -0.3):
        with pytest.raises(ValueError, match=r"grid point P7: target AMI .* outside the reachable"):
            alpha_for_ami(bad, y, c=5, point="P7")
    with pytest.raises(ValueError, match="method="):
        alpha_for_ami(0.5, y, method="guess")


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def conll_y(conll_dir, tmp_path_factory):
    return prepare_corpus(conll_dir, tmp_path_factory.mktemp("conll")).train_y


@pytest.mark.realdata
@pytest.mark.parametrize(("alpha", "paper"), sorted(PAPER_PAIRS.items()))
def test_paper_ami_table_on_conll_train(conll_y, alpha, paper):
    sim = ami(conll_y, simulate_labels(conll_y, alpha, 5, np.random.default_rng(0)))
    assert sim == pytest.approx(paper, abs=0.02)
    assert expected_ami(alpha, conll_y, c=5) == pytest.approx(paper, abs=0.02)
    assert alpha_for_ami(paper, conll_y, c=5) == pytest.approx(alpha, abs=0.01)


@pytest.mark.realdata
def test_every_published_pair_on_conll_train(conll_y, paper_csv):
    import pandas as pd

    table = pd.read_csv(paper_csv)
    modal = table.groupby("alpha")["mutual_info"].agg(lambda s: s.mode().iloc[0])
    for alpha, published in modal.items():
        assert expected_ami(alpha, conll_y, c=5) == pytest.approx(published, abs=0.02), alpha




# ------------------------------------------------------------------ measure registry


@pytest.fixture
def toy_measure():
    """A measure that needs inputs, registered for one test: the mean embedding norm."""
    seen = []

    def centre_norm(task_labels, real_labels, inputs=None):
        seen.append(inputs)
        centre = inputs.windows[:, inputs.windows.shape[1] // 2]
        return float(np.linalg.norm(inputs.embeddings[centre], axis=1).mean())

    measure = R.Measure(
        name="toy_norm",
        function=centre_norm,
        description="mean norm of the centre tokens' embeddings",
        label="toy norm",
        symbol="N",
        needs="inputs",
    )
    R.register(measure)
    try:
        yield measure, seen
    finally:
        R.MEASURES.pop("toy_norm", None)


def test_ami_is_registered_with_its_columns():
    assert next(iter(R.MEASURES)) == "ami"
    assert R.MEASURES["ami"].needs == "labels" and R.MEASURES["ami"].symbol == "AMI"
    assert tuple(R.measure_columns("ami")) == ("ami", "ami_mean", "ami_mean_mean", "ami_mean_std")
    assert R.TARGET_COLUMN == "ami_target"
    with pytest.raises(ValueError, match="unknown relatedness measure 'nope'; registered: ami"):
        R.measure_columns("nope")


def test_ami_measure_is_ami():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    s = simulate_labels(y, 0.8, 5, rng)
    assert R.measure_values("ami", s, y) == ami(y, s)
    assert R.MEASURES["ami"].function(s, y) == ami(y, s)


def test_enabled_measures_put_ami_first_and_name_the_key(toy_measure):
    assert R.enabled_measures() == ("ami",)
    assert R.enabled_measures(["toy_norm", "ami", "toy_norm"]) == ("ami", "toy_norm")
    assert R.enabled_measures("toy_norm") == ("ami", "toy_norm")
    with pytest.raises(ValueError, match=r"^experiments\.e\.measures: unknown .* 'cka'"):
        R.enabled_measures(["cka"], key="experiments.e.measures")


def test_register_refuses_duplicates_and_bad_measures(toy_measure):
    measure, _ = toy_measure
    with pytest.raises(ValueError, match="'toy_norm' is already registered"):
        R.register(measure)
    assert R.register(measure, replace=True) is measure
    with pytest.raises(ValueError, match="lower-case Python identifier"):
        R.Measure(name="Bad name", function=len, description="", label="", symbol="X")
    with pytest.raises(ValueError, match="symbol .a b. must be an identifier"):
        R.Measure(name="x", function=len, description="", label="", symbol="a b")
    with pytest.raises(ValueError, match="needs='gpu'; use one of labels, inputs, model"):
        R.Measure(name="x", function=len, description="", label="", symbol="X", needs="gpu")
    with pytest.raises(ValueError, match="register expects a Measure"):
        R.register("ami")


def test_measure_values_refuses_missing_inputs_and_model_measures(toy_measure):
    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match="grid point P: measure 'toy_norm' needs the tokens"):
        R.measure_values("toy_norm", y, y, point="P")
    R.register(R.Measure(name="toy_head", function=len, description="", label="", symbol="X",
                         needs="model"))
    try:
        with pytest.raises(ValueError, match="'toy_head' needs a trained model"):
            R.measure_values("toy_head", y, y)
    finally:
        R.MEASURES.pop("toy_head")


def test_run_values_gives_list_and_mean_columns():
    row = R.run_values({"ami": np.array([0.2, 0.4])})
    assert row == {"ami": [0.2, 0.4], "ami_mean": pytest.approx(0.3)}
    assert all(type(v) is float for v in row["ami"])
    empty = R.run_values({"ami": []})
    assert empty["ami"] == [] and np.isnan(empty["ami_mean"])
