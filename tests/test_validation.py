"""Tests of grouped validation (mtllaws.validation) and the config check that uses it."""

import numpy as np
import pandas as pd
import pytest

from mtllaws.config_check import check_regress_config
from mtllaws.regress import InsufficientDataError, run_studies
from mtllaws.validation import (
    MIN_CONFIGS,
    MIN_TEST_CONFIGS,
    bootstrap_samples,
    configuration_means,
    extrapolation_split,
    grouped_kfold,
    study_configuration_counts,
    validation_plan,
)


def paper_like(repeats: int = 3) -> pd.DataFrame:
    """Rows that repeat configurations (T, n, alpha), as the paper's table does."""
    t, n, alpha = np.meshgrid([2, 3, 5], [1000, 2000, 4000, 8000], [0.6, 0.8, 0.9])
    base = pd.DataFrame(
        {"n_tasks": t.ravel(), "n_tokens_per_task": n.ravel(), "alpha": alpha.ravel()}
    )
    base["mutual_info"] = np.round(base["alpha"] - 0.5, 2)
    table = pd.concat([base] * repeats, ignore_index=True)
    rng = np.random.default_rng(0)
    table["fscore"] = 0.3 + 0.05 * np.log(table["n_tokens_per_task"]) * np.sqrt(
        table["mutual_info"]
    ) + rng.normal(0, 0.01, len(table))
    return table


def test_configuration_means_average_repeated_rows():
    table = paper_like()
    X, y, n_rows, keys = configuration_means(
        table, ["n_tokens_per_task", "mutual_info", "n_tasks"], "fscore"
    )
    assert len(y) == 36 and set(n_rows) == {3} and "alpha" in keys
    expected = table.groupby(["n_tasks", "n_tokens_per_task", "alpha"])["fscore"].mean()
    np.testing.assert_allclose(np.sort(y), np.sort(expected.to_numpy()))


def test_folds_and_splits_never_share_a_configuration():
    folds = grouped_kfold(36, k=5, repeats=2, seed=0)
    assert len(folds) == 10
    for repeat in (folds[:5], folds[5:]):
        tests = np.concatenate([te for _, te in repeat])
        assert sorted(tests) == list(range(36))  # each configuration tested once per repeat
    for train, test in folds:
        assert not set(train) & set(test) and len(train) + len(test) == 36
    below, above = extrapolation_split([1, 5, 6, 2, 9], 5)
    assert list(below) == [0, 1, 3] and list(above) == [2, 4]
    samples = bootstrap_samples(36, 3, seed=1)
    assert len(samples) == 3 and all(s.max() < 36 for s in samples)
    assert len(set(samples[0])) < 36  # drawn with replacement
    with pytest.raises(ValueError, match="folds need"):
        grouped_kfold(3, k=5)


def test_validation_plan_holdout_cv_only_and_refusal():
    assert MIN_TEST_CONFIGS == 10 and MIN_CONFIGS == 10
    big = validation_plan("s", 405)
    assert big["holdout"] and big["n_test"] == 40
    small = validation_plan("quick_f_all", 20)
    assert not small["holdout"] and small["n_test"] == 0 and "CV only" in small["note"]
    assert "needs 100" in small["note"]
    assert validation_plan("s", 94)["holdout"] is False  # 9.4 -> 9 test configurations
    assert validation_plan("s", 95)["n_test"] == 10
    with pytest.raises(ValueError, match=r"study 'tiny' has 9 configurations.*at least 10"):
        validation_plan("tiny", 9)
    with pytest.raises(ValueError, match=r"extrapolate on 'n_tasks' leaves 30 .* and 4"):
        validation_plan("s", 34, extrapolate={"n_tasks": (30, 4)})


@pytest.mark.slow
def test_small_study_reports_cv_only_and_tiny_study_is_refused():
    table = paper_like()
    results = run_studies(
        table,
        [
            {"name": "f_all", "features": ["n", "ami", "T"]},
            {"name": "tiny", "features": ["n"], "fixed": {"n_tasks": 2, "alpha": 0.9}},
        ],
        engine="law", seeds=[0], target="fscore", skip_insufficient=True, min_rows=1,
        engine_params={"family": "paper_sqrt"}, bootstrap=0,
    )  # fmt: skip
    f_all, tiny = results
    assert f_all["n_rows"] == 108 and f_all["n_configurations"] == 36
    assert f_all["n_test"] == 0 and f_all["test_r2"] is None
    assert "CV only" in f_all["validation"]["note"]
    assert f_all["cv_r2_mean"] is not None and len(f_all["variants"][0]["cv"]["r2_repeats"]) == 2
    assert "formula" not in tiny and "'tiny' has 4 configurations" in tiny["skipped"]
    with pytest.raises(InsufficientDataError, match="'tiny' has 4 configurations"):
        run_studies(table, [{"name": "tiny", "features": ["n"],
                             "fixed": {"n_tasks": 2, "alpha": 0.9}}],
                    engine="law", target="fscore", min_rows=1)  # fmt: skip


def test_config_check_counts_grid_configurations_before_any_job():
    exp = {
        "mode": "balanced", "points_csv": "", "seeds": [0, 1],
        "grid": [{"n_tasks": [1], "n_tokens_per_task": [1000, 2000]},
                 {"n_tasks": [2, 3], "n_tokens_per_task": [1000, 2000], "alpha": [0.6, 0.9]}],
        "studies": [{"name": "f_all", "features": ["n", "ami", "T"],
                     "fixed": {"n_tasks": [2, 3]}, "extrapolate": {}}],
    }  # fmt: skip
    configs = pd.DataFrame(
        [{"n_tasks": t, "n_tokens_per_task": n, "alpha": a} for t in (2, 3) for n in (1000, 2000)
         for a in (0.6, 0.9)]
    )  # fmt: skip
    assert study_configuration_counts(configs, exp["studies"][0]) == (8, {})
    assert study_configuration_counts(configs, {"fixed": {"ami_mean_mean": 0.3}}) is None
    counted = study_configuration_counts(configs, {"fixed": {}, "extrapolate": {"T": 2}})
    assert counted == (8, {"n_tasks": (4, 4)})
    config = {"regress": {"engines": ["sparse", "law"]}}
    with pytest.raises(ValueError, match=r"experiments.mine.studies: study 'f_all' has 8"):
        check_regress_config(config, {"mine": exp})
    with pytest.raises(ValueError, match=r"regress.engines names unknown engine\(s\) \['pysr'\]"):
        check_regress_config({"regress": {"engines": ["pysr"]}}, {})
    exp["grid"][1]["alpha"] = [0.6, 0.7, 0.8, 0.9]
    check_regress_config(config, {"mine": exp})  # 16 configurations: CV only, accepted


def test_configurations_differing_only_in_a_case_column_stay_apart():
    """Rotation, real tasks and alpha patterns define configurations (not only T, n, alpha).

    Two rotations of one synthetic task have the same labels, so the same AMI: keyed on
    (T, n, alpha) and the features alone they would merge into one configuration.
    """
    base = {"n_tasks": 2, "n_tokens_per_task": 1000, "alpha": 0.9, "ami": 0.5}
    rows = [
        {**base, "rotation": r, "aux_tasks": a, "seed": s, "f1": f}
        for (r, a, f) in [(0.0, "", 0.3), (90.0, "", 0.2), (0.0, "pos", 0.4)]
        for s in (0, 1)
    ]
    rows.append({**base, "n_tasks": 1, "alpha": np.nan, "rotation": 0.0, "aux_tasks": "",
                 "seed": 0, "f1": 0.1})  # NaN is a value of the key
    X, y, n_rows, keys = configuration_means(pd.DataFrame(rows), ["ami"], "f1")
    assert sorted(y.round(3).tolist()) == [0.1, 0.2, 0.3, 0.4]
    assert n_rows.tolist().count(2) == 3
    assert {"rotation", "aux_tasks"} <= set(keys)
