"""Tests of mtllaws.figures on generated summaries (several n, AMI, T and seeds)."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from mtllaws import figures as F
from mtllaws import plotting as P

#: alpha -> measured AMI of the generated synthetic tasks.
AMI = {0.6: 0.13, 0.8: 0.34, 0.9: 0.55, 0.95: 0.71, 1.0: 1.0}
NS = [1000, 2000, 4000, 8000, 16000]
TASKS = [1, 2, 3, 5]
SEEDS = 3
SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def _sizes(mode: str, t: int) -> list[tuple[int, int]]:
    """(n_ner, n_syn) pairs: balanced n = n_ner = n_syn; unbalanced 2 NER sizes x 5 syn sizes."""
    if mode == "balanced":
        return [(n, n) for n in NS]
    if t == 1:
        return [(n_ner, 0) for n_ner in (1000, 4000)]
    return [(n_ner, n_syn) for n_ner in (1000, 4000) for n_syn in NS]


def make_runs(mode: str = "balanced", seed: int = 0) -> pd.DataFrame:
    """Generated runs: F1 grows with n and, for MTL, with AMI and T; small noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in TASKS:
        for n_ner, n_syn in _sizes(mode, t):
            for alpha in [np.nan] if t == 1 else AMI:
                for s in range(SEEDS):
                    ami = [AMI[alpha] + rng.normal(0, 0.01) for _ in range(t - 1)]
                    f1 = 0.8 * (1 - np.exp(-n_ner / 5000)) + rng.normal(0, 0.01)
                    if t > 1:
                        f1 += 0.05 * (np.mean(ami) - 0.3) * np.sqrt((t - 1) * n_syn / n_ner)
                    rows.append(
                        {
                            "experiment": "exp",
                            "mode": mode,
                            "n_tasks": t,
                            "n_tokens_per_task": float(n_ner) if mode == "balanced" else np.nan,
                            "n_ner": n_ner,
                            "n_syn": n_syn,
                            "alpha": alpha,
                            "seed": s,
                            "ami": np.array(ami),
                            "ami_mean": np.mean(ami) if ami else np.nan,
                            "test_f1": f1,
                        }
                    )
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean/std/count per configuration, as the aggregate step does."""
    keys = ["experiment", "mode", "n_tasks", "n_tokens_per_task", "n_ner", "n_syn", "alpha"]
    grouped = runs.groupby(keys, dropna=False)
    out = grouped[["ami_mean", "test_f1"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out["count"] = grouped.size()
    return out.reset_index()


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return make_runs()


@pytest.fixture(scope="module")
def summary(runs) -> pd.DataFrame:
    return summarize(runs)


@pytest.fixture(scope="module")
def unbalanced() -> pd.DataFrame:
    return summarize(make_runs("unbalanced", seed=1))


def legend_labels(fig) -> list[str]:
    """Entries of the figure's legend, inside the axes or below them."""
    legends = [fig.axes[0].get_legend(), *fig.legends]
    legends = [lg for lg in legends if lg is not None]
    assert len(legends) == 1, f"figure has {len(legends)} legends, expected 1"
    return [t.get_text() for t in legends[0].get_texts()]


def check_readable(fig) -> None:
    """One column wide, labelled axes, every visible text at 7 pt or more."""
    assert fig.get_figwidth() == pytest.approx(P.COLUMN_WIDTH_IN)
    ax = fig.axes[0]
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()
    fig.draw_without_rendering()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    assert sizes and min(sizes) >= 7


def texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.axes[0].texts)


def series(fig, label: str) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the error-bar series with this legend label."""
    for container in fig.axes[0].containers:
        if container.get_label() == label:
            line = container.lines[0]
            return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    raise AssertionError(f"no series {label!r}")


# --------------------------------------------------------------------------- figures


def run_script(name: str, log: Path, *, input, output, params=None, wildcards=None) -> None:
    """Run a workflow script as Snakemake does, with a ``snakemake`` object in its globals."""
    iocontainers = pytest.importorskip("snakemake.iocontainers")
    named = iocontainers.Namedlist
    fake = SimpleNamespace(
        input=named(fromdict=input),
        output=named(fromdict=output) if isinstance(output, dict) else named(toclone=output),
        params=named(fromdict=params or {}),
        wildcards=named(fromdict=wildcards or {}),
        log=named(toclone=[str(log)]),
    )
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": fake}, run_name="__main__")
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:], root.level = saved


def test_plot_figures_script_writes_every_figure(tmp_path, summary, runs):
    summary.to_parquet(tmp_path / "summary.parquet")
    runs.to_parquet(tmp_path / "runs.parquet")
    outputs = F.figure_paths(tmp_path / "figures")
    assert len(outputs) == len(F.FIGURES) * len(P.FORMATS) == 8
    run_script(
        "plot_figures.py",
        tmp_path / "plot.log",
        input={
            "summary": str(tmp_path / "summary.parquet"),
            "runs": str(tmp_path / "runs.parquet"),
        },
        output=outputs,
        wildcards={"experiment": "exp"},
    )
    for path in outputs:
        assert Path(path).stat().st_size > 1000, path
    assert "wrote 8 figure files of experiment exp" in (tmp_path / "plot.log").read_text()
    with pytest.raises(ValueError, match="are missing; declare exactly"):
        run_script(
            "plot_figures.py",
            tmp_path / "plot.log",
            input={"summary": str(tmp_path / "summary.parquet")},
            output=outputs[:-1],
            params={"experiment": "exp"},
        )


def test_f1_vs_n_shows_stl_and_spread_levels(summary):
    fig = F.plot_f1_vs_n(summary, experiment="exp")
    check_readable(fig)
    labels = legend_labels(fig)
    assert labels[0] == "STL (T = 1)"
    assert len(labels) == 1 + 4  # four of the five levels
    assert any("α = 0.6" in label for label in labels)
    assert any("α = 1" in label for label in labels)
    x, y = series(fig, "STL (T = 1)")
    stl = summary[summary["n_tasks"] == 1].sort_values("n_tokens_per_task")
    np.testing.assert_allclose(x, stl["n_tokens_per_task"])
    np.testing.assert_allclose(y, stl["test_f1_mean"])
    assert fig.axes[0].get_xscale() == "log"  # n spans a factor of 16


def test_f1_vs_n_levels_can_be_chosen(summary):
    by_alpha = legend_labels(F.plot_f1_vs_n(summary, alphas=[0.8], experiment="exp"))
    assert len(by_alpha) == 2 and "α = 0.8" in by_alpha[1]
    by_ami = legend_labels(F.plot_f1_vs_n(summary, amis=[0.5, 0.52], experiment="exp"))
    assert len(by_ami) == 2 and "α = 0.9" in by_ami[1]
    fig = F.plot_f1_vs_n(summary, n_tasks=3, alphas=[1.0])
    assert "T = 3" in fig.axes[0].get_title()
    x, y = series(fig, legend_labels(fig)[1])
    rows = summary[(summary["n_tasks"] == 3) & (summary["alpha"] == 1.0)]
    np.testing.assert_allclose(y, rows.sort_values("n_tokens_per_task")["test_f1_mean"])


def test_f1_vs_ami_uses_measured_ami_and_stl_references(summary):
    fig = F.plot_f1_vs_ami(summary, ns=[1000, 16000])
    check_readable(fig)
    labels = legend_labels(fig)
    assert labels == ["n = 1000", "n = 16000", "STL, same n"]
    x, y = series(fig, "n = 1000")
    rows = summary[(summary["n_tasks"] == 2) & (summary["n_tokens_per_task"] == 1000)]
    rows = rows.sort_values("ami_mean_mean")
    np.testing.assert_allclose(x, rows["ami_mean_mean"])
    np.testing.assert_allclose(y, rows["test_f1_mean"])
    dashed = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 2


def test_f1_vs_tasks_starts_at_stl(summary):
    fig = F.plot_f1_vs_tasks(summary, n=4000, alphas=[0.6, 1.0])
    check_readable(fig)
    labels = legend_labels(fig)
    assert labels[-1] == "STL (T = 1)" and len(labels) == 3
    x, y = series(fig, labels[1])
    np.testing.assert_array_equal(x, [1, 2, 3, 5])
    stl = summary[(summary["n_tasks"] == 1) & (summary["n_tokens_per_task"] == 4000)]
    assert y[0] == pytest.approx(stl["test_f1_mean"].iloc[0])
    assert "n = 4000" in fig.axes[0].get_title()


def test_calibration_from_runs_table_and_summary(runs, summary):
    fig = F.plot_calibration(runs, experiment="exp")
    check_readable(fig)
    assert legend_labels(fig) == ["one synthetic task", "measured, mean ± std"]
    n_tasks_total = int(runs.loc[runs["n_tasks"] > 1, "n_tasks"].sub(1).sum())
    assert len(fig.axes[0].collections[0].get_offsets()) == n_tasks_total
    x, y = series(fig, "measured, mean ± std")
    np.testing.assert_allclose(x, sorted(AMI))
    np.testing.assert_allclose(y, list(AMI.values()), atol=0.01)

    table = pd.DataFrame({"alpha": [0.7, 0.9], "ami": [0.2, 0.5], "ami_std": [0.01, 0.02]})
    x, y = series(F.plot_calibration(table), "measured, mean ± std")
    np.testing.assert_allclose(y, [0.2, 0.5])

    ref = pd.DataFrame({"alpha": [0.8, 0.85, 0.85], "mutual_info": [0.34, 0.4, 0.43]})
    fig = F.plot_calibration(summary, reference=ref)
    assert "published" in legend_labels(fig)
    published = [ln for ln in fig.axes[0].lines if ln.get_label() == "published"][0]
    np.testing.assert_allclose(published.get_ydata(), [0.34, 0.415])


def test_unbalanced_experiment(unbalanced):
    # n_syn has more values than n_ner, so it is the default size axis; the baseline
    # (no synthetic task) is then a horizontal line at the NER size held fixed.
    fig = F.plot_f1_vs_n(unbalanced)
    check_readable(fig)
    assert "syn" in fig.axes[0].get_xlabel()
    assert "NER}$ = 1000" in fig.axes[0].get_title()
    assert legend_labels(fig)[0] == "STL (T = 1)"
    stl = unbalanced[(unbalanced["n_tasks"] == 1) & (unbalanced["n_ner"] == 1000)]
    hline = [ln for ln in fig.axes[0].lines if ln.get_label() == "STL (T = 1)"][0]
    assert hline.get_ydata()[0] == pytest.approx(stl["test_f1_mean"].iloc[0])
    x, _ = series(fig, legend_labels(fig)[1])
    np.testing.assert_allclose(x, NS)

    fig = F.plot_f1_vs_n(unbalanced, x="n_ner", alphas=[0.9])
    assert "NER" in fig.axes[0].get_xlabel()
    assert "syn}$ = 1000" in fig.axes[0].get_title()
    x, _ = series(fig, "STL (T = 1)")
    np.testing.assert_allclose(x, [1000, 4000])

    fig = F.plot_f1_vs_ami(unbalanced, x="n_ner")
    check_readable(fig)
    ner = r"$n_\mathrm{NER}$"
    assert legend_labels(fig) == [f"{ner} = 1000", f"{ner} = 4000", f"STL, same {ner}"]
    fig = F.plot_f1_vs_ami(unbalanced)  # curves per n_syn share one baseline
    assert legend_labels(fig)[-1] == "STL (T = 1)"
    assert sum(ln.get_linestyle() == "--" for ln in fig.axes[0].lines) == 1

    fig = F.plot_f1_vs_tasks(unbalanced, n=(4000, 2000))
    check_readable(fig)
    assert legend_labels(fig)[-1] == "STL (T = 1)"
    x, _ = series(fig, legend_labels(fig)[0])
    np.testing.assert_array_equal(x, TASKS)
    with pytest.raises(ValueError, match="n_tokens_per_task"):
        F.plot_f1_vs_n(unbalanced, x="n_tokens_per_task")
    with pytest.raises(ValueError, match="n_ner, n_syn"):
        F.plot_f1_vs_tasks(unbalanced, n=1000)


def test_missing_data_gives_a_no_data_figure(tmp_path, summary):
    for make in (F.plot_f1_vs_n, F.plot_f1_vs_ami, F.plot_f1_vs_tasks, F.plot_calibration):
        fig = make(summary, experiment="absent")
        assert "no data for" in texts(fig)
        assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    assert P.save_figure(fig, tmp_path / "empty")[0].stat().st_size > 1000
    stl_only = summary[summary["n_tasks"] == 1]
    assert "no data for MTL rows" in texts(F.plot_f1_vs_tasks(stl_only))
    assert "no data for" in texts(F.plot_f1_vs_ami(stl_only))
    assert "no data for" in texts(F.plot_calibration(stl_only))
    fig = F.plot_f1_vs_n(stl_only)  # STL alone is still something to show
    assert legend_labels(fig) == ["STL (T = 1)"] and not texts(fig)
    fig = F.plot_f1_vs_n(summary, alphas=[0.33])
    assert legend_labels(fig) == ["STL (T = 1)"]


def test_missing_columns_are_named(summary):
    with pytest.raises(ValueError, match=r"'test_f1_mean'"):
        F.plot_f1_vs_n(summary.drop(columns=["test_f1_mean"]))
    with pytest.raises(ValueError, match=r"'experiment'"):
        F.plot_f1_vs_ami(summary.drop(columns=["experiment"]), experiment="exp")
    with pytest.raises(ValueError, match="'alpha'"):
        F.plot_calibration(summary.drop(columns=["alpha"]))
    mixed = pd.concat([summary, summary.assign(mode="unbalanced", experiment="u")])
    with pytest.raises(ValueError, match="experiment="):
        F.plot_f1_vs_n(mixed)


def test_f1_against_any_registered_measure(summary, runs):
    from mtllaws import relatedness as R

    R.register(R.Measure(name="toy_sim", function=len, description="test",
                         label="toy similarity to NER", symbol="S"))
    try:
        toy = summary.assign(toy_sim_mean_mean=1.0 - summary["ami_mean_mean"])
        fig = F.plot_f1_vs_ami(toy, ns=[1000], measure="toy_sim")
        check_readable(fig)
        assert fig.axes[0].get_xlabel() == "toy similarity to NER"
        x, y = series(fig, "n = 1000")
        rows = toy[(toy["n_tasks"] == 2) & (toy["n_tokens_per_task"] == 1000)]
        rows = rows.sort_values("toy_sim_mean_mean")
        np.testing.assert_allclose(x, rows["toy_sim_mean_mean"])
        np.testing.assert_allclose(y, rows["test_f1_mean"])
        labels = legend_labels(F.plot_f1_vs_n(toy, alphas=[0.8], measure="toy_sim"))
        assert labels[1] == f"MTL S {1 - AMI[0.8]:.2f} (α = 0.8)"
        per_task = runs.assign(toy_sim=runs["ami"].map(lambda a: [2 * v for v in a]))
        fig = F.plot_calibration(per_task, measure="toy_sim")
        assert fig.axes[0].get_ylabel() == "S to NER"
        _, y = series(fig, "measured, mean ± std")
        np.testing.assert_allclose(y, [2 * v for v in AMI.values()], atol=0.02)
        with pytest.raises(ValueError, match=r"\['toy_sim_mean_mean'\]"):
            F.plot_f1_vs_ami(summary, measure="toy_sim")
        with pytest.raises(ValueError, match="no S column; it needs 'toy_sim'"):
            F.plot_calibration(summary, measure="toy_sim")
    finally:
        R.MEASURES.pop("toy_sim")
    with pytest.raises(ValueError, match="unknown relatedness measure 'toy_sim'"):
        F.plot_f1_vs_ami(summary, measure="toy_sim")


def test_plot_measure_script_writes_f1_vs_measure(tmp_path, runs):
    from mtllaws.paths import measure_figure_paths

    with_measure = runs.assign(cov_rv_mean=runs["ami_mean"] * 0.5 + 0.2)
    keys = ["experiment", "mode", "n_tasks", "n_tokens_per_task", "n_ner", "n_syn", "alpha"]
    grouped = with_measure.groupby(keys, dropna=False)
    table = grouped[["ami_mean", "cov_rv_mean", "test_f1"]].agg(["mean", "std"])
    table.columns = [f"{a}_{b}" for a, b in table.columns]
    table["count"] = grouped.size()
    table.reset_index().to_parquet(tmp_path / "summary.parquet")
    outputs = measure_figure_paths(tmp_path / "figures", "cov_rv")
    assert [Path(p).name for p in outputs] == ["f1_vs_cov_rv.png", "f1_vs_cov_rv.pdf"]
    run_script("plot_measure.py", tmp_path / "plot.log",
               input={"summary": str(tmp_path / "summary.parquet")}, output=outputs,
               wildcards={"experiment": "exp", "measure": "cov_rv"})
    for path in outputs:
        assert Path(path).stat().st_size > 1000, path
    fig = F.plot_f1_vs_ami(table.reset_index(), experiment="exp", measure="cov_rv")
    assert fig.axes[0].get_xlabel() == "covariance RV coefficient to NER"
    x, _ = series(fig, legend_labels(fig)[0])
    assert x.max() <= 0.2 + 0.5 * table["ami_mean_mean"].max() + 1e-9
