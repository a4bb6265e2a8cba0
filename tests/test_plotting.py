"""Tests of mtllaws.plotting: level picking, pooled statistics, atomic figure files."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from mtllaws import plotting as P


def test_pick_levels_spreads_over_distinct_values():
    assert P.pick_levels(range(1, 11), 4) == [1, 4, 7, 10]
    assert P.pick_levels([3, 1, 3, np.nan, 2], 4) == [1, 2, 3]
    assert P.pick_levels([5, 6, 7], 1) == [5]
    with pytest.raises(ValueError, match="k = 0"):
        P.pick_levels([1, 2], 0)


def test_pool_stats_equals_stats_of_all_seeds():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=4), rng.normal(size=2), rng.normal(size=1)
    frame = pd.DataFrame(
        {
            "key": ["x", "x", "x"],
            "test_f1_mean": [a.mean(), b.mean(), c.mean()],
            "test_f1_std": [a.std(ddof=1), b.std(ddof=1), np.nan],
            "count": [4, 2, 1],
            "ami_mean_mean": [0.2, np.nan, 0.5],
        }
    )
    pooled = P.pool_stats(frame, ["key"], extra=["ami_mean_mean"])
    allv = np.concatenate([a, b, c])
    assert pooled["test_f1_mean"].iloc[0] == pytest.approx(allv.mean())
    assert pooled["test_f1_std"].iloc[0] == pytest.approx(allv.std(ddof=1))
    assert pooled["count"].iloc[0] == 7
    assert pooled["ami_mean_mean"].iloc[0] == pytest.approx((4 * 0.2 + 0.5) / 5)


def test_save_figure_writes_png_and_pdf_without_leftovers(tmp_path):
    fig, ax = P.new_figure()
    ax.plot([0, 1], [0, 1])
    paths = P.save_figure(fig, tmp_path / "sub" / "fig", dpi=72)
    assert [p.name for p in paths] == ["fig.png", "fig.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig.pdf", "fig.png"]
    again = P.save_figure(fig, tmp_path / "sub" / "fig", formats=("pdf",))
    assert again[0].read_bytes() == paths[1].read_bytes()  # no creation date in the PDF


def test_save_figure_writes_normal_permissions_through_atomic(tmp_path):
    # issue 16: figures were 0600 (tempfile.mkstemp's mode); now a new file's mode
    fig, ax = P.new_figure()
    ax.plot([0, 1], [1, 0])
    mask = os.umask(0o022)
    try:
        paths = P.save_figure(fig, tmp_path / "perm", dpi=72)
    finally:
        os.umask(mask)
    for path in paths:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perm.pdf", "perm.png"]


def test_save_figure_failure_keeps_the_old_file(tmp_path):
    fig, ax = P.new_figure()
    ax.plot([0, 1], [1, 0])
    (old,) = P.save_figure(fig, tmp_path / "keep", formats=("png",), dpi=72)
    with pytest.raises(ValueError):
        P.save_figure(fig, tmp_path / "keep", formats=("png", "no-such-format"), dpi=50)
    assert old.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # whole; no temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_toolkit_style_helpers():
    fig, ax = P.new_figure(height=2.0)
    assert fig.get_figwidth() == pytest.approx(P.COLUMN_WIDTH_IN)
    assert fig.get_figheight() == pytest.approx(2.0)
    palette = P.colors(3)
    assert len(palette) == 3 and len(set(palette)) == 3 and len(P.colors(0)) == 1
    P.errorbar(ax, [3, 1, 2], [0.3, 0.1, 0.2], [np.nan, 0.01, 0.02], label="c",
               color=palette[0], marker=P.MARKERS[0])
    line = ax.containers[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])  # joined in x order
    np.testing.assert_allclose(line.get_ydata(), [0.1, 0.2, 0.3])
    P.set_labels(ax, "x", "y", "title")
    P.add_legend(ax, below=True)
    assert len(fig.legends) == 1 and ax.get_title() == "title"
    P.auto_logx(ax, [1000, 2000, 16000])
    assert ax.get_xscale() == "log"
    fig.draw_without_rendering()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    assert min(sizes) >= P.SMALL_PT
    _, flat = P.new_figure()
    P.auto_logx(flat, [1000, 2000, 5000])  # spans less than a factor of 10
    assert flat.get_xscale() == "linear" and P.fmt(5000.0) == "5000"
    P.no_data(flat, "anything")
    assert "no data for anything" in flat.texts[0].get_text()
