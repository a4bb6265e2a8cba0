"""Tests of mtllaws.compare: matching, pooling, agreement statistics and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from test_figures import run_script

from mtllaws import compare as C

PUBLISHED = pd.DataFrame(
    {
        "n_tasks": [1, 1, 2, 2, 2, 3, 4],
        "n_tokens_per_task": [1000, 1000, 1000, 1000, 1000, 2000, 5000],
        "n_tokens_total": [1000, 1000, 2000, 2000, 2000, 6000, 20000],
        "mutual_info": [1.0, 0.55, 0.55, 0.71, 0.71, 0.55, 0.34],
        "alpha": [1.0, 0.9, 0.9, 0.95, 0.95, 0.9, 0.8],
        "fscore": [0.10, 0.12, 0.20, 0.30, 0.34, 0.50, 0.70],
    }
)


def summary_rows(rows: list[tuple]) -> pd.DataFrame:
    """A balanced summary from (T, n, alpha, f1_mean, f1_std, count) tuples."""
    frame = pd.DataFrame(
        rows,
        columns=["n_tasks", "n_tokens_per_task", "alpha", "test_f1_mean", "test_f1_std", "count"],
    )
    frame.insert(0, "experiment", "paper_part")
    frame.insert(1, "mode", "balanced")
    frame["n_ner"] = frame["n_tokens_per_task"]
    frame["n_syn"] = frame["n_tokens_per_task"]
    frame["ami_mean_mean"] = np.where(frame["n_tasks"] > 1, 0.5, np.nan)
    return frame


@pytest.fixture
def ours() -> pd.DataFrame:
    low, high = np.array([0.47, 0.49]), np.array([0.51, 0.53])
    return summary_rows(
        [
            (1, 1000, np.nan, 0.13, 0.01, 3),  # STL: matches both published STL rows
            (2, 1000, 0.9, 0.18, 0.02, 3),
            (2, 1000, 0.9500001, 0.36, 0.02, 3),  # rounds onto 0.95
            (3, 2000, 0.9001, low.mean(), low.std(ddof=1), 2),  # two rows that round
            (3, 2000, 0.8999, high.mean(), high.std(ddof=1), 2),  # onto one configuration
            (2, 1000, 0.8, 0.25, 0.01, 3),  # no published counterpart
        ]
    )


def test_synthetic_match_pooling_and_stats(ours):
    merged = C.compare_summary(ours, PUBLISHED)
    assert list(merged.columns) == C.MERGED_COLUMNS
    assert merged["config"].tolist() == [
        "T1_n1000",
        "T2_n1000_a0.9",
        "T2_n1000_a0.95",
        "T3_n2000_a0.9",
    ]
    np.testing.assert_allclose(merged["published_f1"], [0.11, 0.20, 0.32, 0.50])
    assert merged["published_rows"].tolist() == [2, 1, 2, 1]
    np.testing.assert_allclose(merged["ours_f1_mean"], [0.13, 0.18, 0.36, 0.50])
    assert merged["ours_count"].tolist() == [3, 3, 3, 4]
    pooled_std = np.std([0.47, 0.49, 0.51, 0.53], ddof=1)
    assert merged["ours_f1_std"].iloc[3] == pytest.approx(pooled_std)
    np.testing.assert_allclose(merged["difference"], [0.02, -0.02, 0.04, 0.0], atol=1e-12)

    stats = C.comparison_stats(merged)
    assert stats["n_matched"] == 4
    assert stats["mean_abs_diff"] == pytest.approx(0.02)
    assert stats["mean_diff"] == pytest.approx(0.01)
    assert stats["rmse"] == pytest.approx(np.sqrt((0.02**2 * 2 + 0.04**2) / 4))
    r = pearsonr([0.13, 0.18, 0.36, 0.50], [0.11, 0.20, 0.32, 0.50]).statistic
    assert stats["pearson_r"] == pytest.approx(r)
    assert stats["n_ours"] == 5 and stats["n_published"] == 5
    assert stats["unmatched_ours"] == ["T2_n1000_a0.8"]
    assert stats["note"].startswith("4 matching configurations of 5 of ours")


def test_stl_alpha_is_matched_only_when_asked(ours):
    merged = C.compare_summary(ours, PUBLISHED, stl_any_alpha=False)
    assert "T1_n1000" not in merged["config"].tolist()
    assert len(merged) == 3


def test_experiment_filter_and_alpha_rounding(ours):
    both = pd.concat([ours, ours.assign(experiment="other", test_f1_mean=0.9)])
    merged = C.compare_summary(both, PUBLISHED, experiment="paper_part")
    np.testing.assert_allclose(merged["ours_f1_mean"], [0.13, 0.18, 0.36, 0.50])
    # With one decimal, 0.95 and 0.9 no longer fall into distinct configurations.
    coarse = C.compare_summary(ours, PUBLISHED, alpha_decimals=1)
    assert "T2_n1000_a0.95" not in coarse["config"].tolist()


def test_write_comparison_outputs(tmp_path, ours):
    path = tmp_path / "published.csv"
    PUBLISHED.to_csv(path, index=False)
    out = tmp_path / "cmp"
    stats = C.write_comparison(
        ours,
        path,
        csv=out / "comparison.csv",
        markdown=out / "comparison.md",
        stats_json=out / "comparison.json",
        plot_stem=out / "comparison",
        experiment="paper_part",
    )
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.columns) == C.MERGED_COLUMNS and len(table) == 4
    saved = json.loads((out / "comparison.json").read_text())
    assert saved["n_matched"] == 4
    assert saved["mean_abs_diff"] == pytest.approx(stats["mean_abs_diff"])
    assert saved["experiment"] == "paper_part"
    md = (out / "comparison.md").read_text()
    assert "4 matching configurations" in md and "| T3_n2000_a0.9 |" in md
    assert "T2_n1000_a0.8" in md  # unmatched configurations are listed
    # where our vectors came from is stated beside the figures
    assert set(table["embeddings_source"]) == {C.NO_SOURCE}
    assert saved["embeddings_source"] == [C.NO_SOURCE]
    assert "Our embeddings: `not recorded`." in md
    for suffix in ("png", "pdf"):
        assert (out / f"comparison.{suffix}").stat().st_size > 1000


def test_comparison_states_the_embeddings_source(ours):
    label = "cc.en.300.vec.gz sha256=" + "ab" * 32
    merged = C.compare_summary(ours.assign(embeddings_source=label), PUBLISHED)
    assert set(merged["embeddings_source"]) == {label}
    stats = C.comparison_stats(merged)
    assert stats["embeddings_source"] == [label]
    assert f"Our embeddings: `{label}`." in C.comparison_markdown(merged, stats)
    fig = C.plot_comparison(merged, stats)
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("embeddings: cc.en.300.vec.gz sha256=abababababab") for t in texts)


def test_compare_published_script(tmp_path, ours):
    PUBLISHED.to_csv(tmp_path / "published.csv", index=False)
    ours.to_parquet(tmp_path / "summary.parquet")
    out = {k: str(tmp_path / f"cmp.{k}") for k in ("csv", "json", "png", "pdf")}
    out["markdown"] = str(tmp_path / "cmp.md")
    run_script(
        "compare_published.py",
        tmp_path / "cmp.log",
        input={
            "summary": str(tmp_path / "summary.parquet"),
            "published": str(tmp_path / "published.csv"),
        },
        output=out,
        params={"alpha_decimals": 2},
        wildcards={"experiment": "paper_part"},
    )
    assert json.loads(Path(out["json"]).read_text())["n_matched"] == 4
    assert all(Path(p).stat().st_size > 0 for p in out.values())
    assert "4 matching configurations" in (tmp_path / "cmp.log").read_text()
    with pytest.raises(ValueError, match="same stem"):
        run_script(
            "compare_published.py",
            tmp_path / "cmp.log",
            input={
                "summary": str(tmp_path / "summary.parquet"),
                "published": str(tmp_path / "published.csv"),
            },
            output={**out, "pdf": str(tmp_path / "other.pdf")},
            wildcards={"experiment": "paper_part"},
        )


def test_plot_states_agreement(ours):
    merged = C.compare_summary(ours, PUBLISHED)
    stats = C.comparison_stats(merged)
    fig = C.plot_comparison(merged, stats)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "y = x",
        "STL (T = 1)",
        "MTL (T > 1)",
    ]
    text = " ".join(t.get_text() for t in ax.texts)
    assert (
        f"r = {stats['pearson_r']:.3f}" in text
        and "mean |ours − published| = 0.020" in text
        and "N = 4" in text
    )


def test_zero_matches_still_writes_everything(tmp_path):
    path = tmp_path / "published.csv"
    PUBLISHED.to_csv(path, index=False)
    ours = summary_rows([(2, 1234, 0.5, 0.4, 0.01, 3)])
    out = tmp_path / "cmp"
    stats = C.write_comparison(
        ours,
        path,
        csv=out / "c.csv",
        markdown=out / "c.md",
        stats_json=out / "c.json",
        plot_stem=out / "c",
    )
    assert stats["n_matched"] == 0 and stats["pearson_r"] is None
    assert stats["mean_abs_diff"] is None
    assert stats["note"] == "0 matching configurations of 1 of ours"
    assert len(pd.read_csv(out / "c.csv")) == 0
    assert "0 matching configurations" in (out / "c.md").read_text()
    assert json.loads((out / "c.json").read_text())["pearson_r"] is None
    assert (out / "c.png").stat().st_size > 1000
    fig = C.plot_comparison(C.compare_summary(ours, PUBLISHED), stats)
    assert "0 matching configurations" in " ".join(t.get_text() for t in fig.axes[0].texts)
    # An experiment that has not run yet has no rows at all.
    none_yet = C.comparison_stats(C.compare_summary(ours, PUBLISHED, experiment="absent"))
    assert none_yet["note"] == "0 matching configurations of 0 of ours"
    # Unbalanced rows have no n_tokens_per_task and so match nothing either.
    unbalanced = ours.assign(mode="unbalanced", n_tokens_per_task=np.nan)
    assert len(C.compare_summary(unbalanced, PUBLISHED)) == 0


def test_single_match_has_no_correlation():
    ours = summary_rows([(4, 5000, 0.8, 0.65, 0.01, 5)])
    stats = C.comparison_stats(C.compare_summary(ours, PUBLISHED))
    assert stats["n_matched"] == 1 and stats["pearson_r"] is None
    assert stats["mean_abs_diff"] == pytest.approx(0.05)
    assert "r = n/a" in stats["note"]


def test_bad_tables_are_named(tmp_path, ours):
    for column in ("fscore", "alpha", "n_tokens_per_task"):
        path = tmp_path / f"no_{column}.csv"
        PUBLISHED.drop(columns=[column]).to_csv(path, index=False)
        with pytest.raises(ValueError, match=rf"lacks required column\(s\) \['{column}'\]"):
            C.read_published(path)
    with pytest.raises(ValueError, match="does not exist"):
        C.read_published(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="'fscore'.*divide percentages"):
        C.compare_summary(ours, PUBLISHED.assign(fscore=PUBLISHED["fscore"] * 100))
    with pytest.raises(ValueError, match="'test_f1_mean'"):
        C.compare_summary(ours.drop(columns=["test_f1_mean"]), PUBLISHED)
    # mutual_info and n_tokens_total are optional.
    lean = PUBLISHED.drop(columns=["mutual_info", "n_tokens_total"])
    assert C.compare_summary(ours, lean)["published_ami"].isna().all()


@pytest.mark.realdata
def test_against_the_paper_table(paper_csv):
    published = C.read_published(paper_csv)
    assert len(published) == 1002
    # Ours: a partial run of the balanced grid, T <= 2 and n <= 3000, with noise.
    raw = pd.read_csv(paper_csv)
    part = raw[(raw["n_tasks"] <= 2) & (raw["n_tokens_per_task"] <= 3000)]
    stl = part[part["n_tasks"] == 1]
    mtl = part[part["n_tasks"] == 2]
    expected = pd.concat(
        [
            stl.groupby("n_tokens_per_task")["fscore"]
            .mean()
            .rename("pub")
            .reset_index()
            .assign(n_tasks=1, alpha=np.nan),
            mtl.groupby(["n_tokens_per_task", "alpha"])["fscore"]
            .mean()
            .rename("pub")
            .reset_index()
            .assign(n_tasks=2),
        ],
        ignore_index=True,
    )
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.03, len(expected))
    ours = summary_rows(
        [
            (t, n, a + 1e-4 if np.isfinite(a) else a, p + d, 0.01, 5)
            for t, n, a, p, d in zip(
                expected["n_tasks"],
                expected["n_tokens_per_task"],
                expected["alpha"],
                expected["pub"],
                noise,
                strict=True,
            )
        ]
    )
    merged = C.compare_summary(ours, published)
    stats = C.comparison_stats(merged)
    assert stats["n_matched"] == len(expected) and not stats["unmatched_ours"]
    assert stats["mean_abs_diff"] == pytest.approx(np.mean(np.abs(noise)))
    r = pearsonr(expected["pub"] + noise, expected["pub"]).statistic
    assert stats["pearson_r"] == pytest.approx(r)
    assert stats["n_published"] == raw.groupby(
        ["n_tasks", "n_tokens_per_task", "alpha"]
    ).ngroups - (
        raw[raw["n_tasks"] == 1].groupby(["n_tokens_per_task", "alpha"]).ngroups
        - raw[raw["n_tasks"] == 1]["n_tokens_per_task"].nunique()
    )


def test_comparison_effects_and_spearman():
    from mtllaws.compare import comparison_effects, comparison_stats

    rows = [  # n_tasks, n, alpha, published, ours mean, ours std
        (1, 1000, 1.0, 0.06, 0.09, 0.01),
        (1, 10000, 1.0, 0.69, 0.55, 0.02),
        (2, 2000, 0.6, 0.20, 0.17, 0.03),
        (2, 2000, 0.8, 0.26, 0.20, 0.01),
        (2, 2000, 1.0, 0.41, 0.25, 0.04),
        (3, 2000, 1.0, 0.45, 0.27, 0.01),
        (5, 2000, 1.0, 0.55, 0.33, 0.02),
    ]
    merged = pd.DataFrame(rows, columns=["n_tasks", "n_tokens_per_task", "alpha",
                                         "published_f1", "ours_f1_mean", "ours_f1_std"])
    merged["ours_count"] = 2
    eff = comparison_effects(merged)
    assert eff["n_gain"]["ours"] == pytest.approx(0.46)
    assert eff["n_gain"]["published"] == pytest.approx(0.63)
    assert eff["n_gain"]["ours_std"] == pytest.approx(np.hypot(0.01, 0.02))
    assert eff["ami_effect"]["where"] == "T = 2, n = 2000"
    assert eff["ami_effect"]["ours"] == pytest.approx(0.08)
    assert eff["ami_effect"]["ratio"] == pytest.approx(0.08 / 0.21)
    assert (eff["t_effect"]["from"], eff["t_effect"]["to"]) == (2, 5)
    assert eff["t_effect"]["published"] == pytest.approx(0.14)
    stats = comparison_stats(merged)
    assert stats["spearman_r"] == pytest.approx(1.0)  # same order on both sides
    assert "Spearman r = 1.000" in stats["note"]
    # one level of each: nothing to compute
    assert comparison_effects(merged.iloc[[0, 2]]) == {
        "n_gain": None, "ami_effect": None, "t_effect": None}


def test_embeddings_footer_does_not_overlap_the_x_label(ours):
    # issue 16: the footer was a plain fig.text at the bottom edge, over the x label
    merged = C.compare_summary(ours.assign(embeddings_source="fasttext-corpus dim=300"),
                               PUBLISHED)
    fig = C.plot_comparison(merged, C.comparison_stats(merged), title="t")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    footer = next(t for t in fig.texts if t.get_text().startswith("embeddings: "))
    xlabel = fig.axes[0].xaxis.label.get_window_extent(renderer)
    box = footer.get_window_extent(renderer)
    assert box.y1 <= xlabel.y0, (box, xlabel)
    assert box.y0 >= 0 and box.x0 >= 0
