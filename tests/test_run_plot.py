"""The run page's picture (reports/run_plot.py, issue 11 defect 23): the strategy on its own
axis, zoom panels around the events, a bounded image, byte-identical reruns."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from reports.run_plot import MAX_ZOOMS, ZOOM_PAD, _Picture, plot_equity_events, zoom_windows


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_zoom_windows_cut_at_the_largest_gaps():
    # Entries at 100..104, 300..302, 310, 600: gaps 196, 8, 290 (> 2 x pad) and 1s.
    entries = [100, 101, 104, 300, 302, 310, 600]
    assert zoom_windows(entries, 1000, pad=10, max_panels=3) == [
        (90, 114),
        (290, 320),
        (590, 610),
    ]
    # Two panels: one cut, at the largest gap (290, between 310 and 600).
    assert zoom_windows(entries, 1000, pad=10, max_panels=2) == [(90, 320), (590, 610)]
    assert zoom_windows(entries, 1000, pad=10, max_panels=1) == [(90, 610)]
    # No cut at gaps <= 2 x pad: the padded windows would overlap.
    assert zoom_windows([10, 30, 50], 100, pad=10, max_panels=3) == [(0, 60)]
    # Clipped to the run; duplicates (two events on one session) count once.
    assert zoom_windows([0, 0, 99], 100, pad=10, max_panels=3) == [(0, 10), (89, 99)]
    assert zoom_windows([], 100) == []


def test_zoom_windows_ties_cut_the_earlier_gap():
    assert zoom_windows([0, 50, 100], 200, pad=5, max_panels=2) == [(0, 5), (45, 105)]


def synthetic(n_events: int, seed: int = 0, ruin_at: int | None = None):
    """2,000 sessions: a strategy within 2% of 1 M, a benchmark growing about 4.5 times, and
    ``n_events`` entries spread over the last 800 sessions, each opening a 3-session book."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=2000, name="date")
    strategy = 1e6 * (1 + 0.01 * np.sin(np.arange(2000) / 50) + rng.normal(0, 1e-3, 2000))
    if ruin_at is not None:
        strategy[ruin_at:] = -3.3e305
    equity = pd.DataFrame({"equity": strategy}, index=dates)
    bench = pd.Series(np.r_[0.0, np.full(1999, np.log(4.5) / 1999)], index=dates, name="SPY")
    entries = np.sort(rng.choice(np.arange(1200, 1995), size=n_events, replace=True))
    day = [d.date().isoformat() for d in dates]
    log = pd.DataFrame(
        {
            "entry_session": [day[k] for k in entries],
            "action": ["opened" if k % 3 else "ignored" for k in range(n_events)],
        }
    )
    books = pd.DataFrame(
        {"entry": [day[k] for k in entries[::3]], "exit": [day[k + 3] for k in entries[::3]]}
    )
    return equity, bench, log, books


@pytest.mark.parametrize("n_events", [1, 400])
def test_the_image_is_bounded_and_reruns_are_byte_identical(tmp_path, n_events):
    args = synthetic(n_events)
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    plot_equity_events(first, *args)
    plot_equity_events(second, *args)
    assert first.read_bytes() == second.read_bytes()
    assert png_size(first) == (1100, 1000)


def test_no_event_no_zoom_row(tmp_path):
    equity, bench, log, books = synthetic(3)
    path = tmp_path / "p.png"
    plot_equity_events(path, equity, bench, log.iloc[0:0], books.iloc[0:0])
    assert png_size(path) == (1100, 650)


def test_the_strategy_has_its_own_axis_and_the_zooms_their_windows():
    equity, bench, log, books = synthetic(60)
    picture = _Picture(equity, bench, log, books)
    fig = picture.figure()
    try:
        main = fig.axes[0]
        low, high = main.get_ylim()
        values = equity["equity"].to_numpy()
        span = values.max() - values.min()
        assert values.min() - 0.2 * span <= low <= values.min()
        assert values.max() <= high <= values.max() + 0.2 * span, "not the benchmark's scale"
        twins = [ax for ax in fig.axes if ax.get_ylabel().startswith("SPY")]
        assert len(twins) == 1 and twins[0].get_ylim()[1] > 4e6
        zooms = [ax for ax in fig.axes if ax.get_title().startswith("zoom")]
        assert 1 <= len(zooms) <= MAX_ZOOMS
        for ax, (a, b) in zip(zooms, picture.windows, strict=True):
            assert ax.get_title().startswith(f"zoom {equity.index[a].date()} to ")
            assert b - a >= 2 * ZOOM_PAD
    finally:
        plt.close(fig)


def test_a_ruined_run_is_drawn_up_to_its_ruin(tmp_path):
    equity, bench, log, books = synthetic(30, ruin_at=1500)
    picture = _Picture(equity, bench, log, books)
    assert picture.ruin == 1500 and len(picture.curve) == 1501
    assert picture.curve[-1] == pytest.approx(-0.15 * equity["equity"].iloc[:1500].max())
    assert all(b <= 1500 + ZOOM_PAD for _, b in picture.windows), "no zoom after the ruin"
    fig = picture.figure()
    try:
        assert "RUINED on" in fig.axes[0].get_title()
        assert fig.axes[0].get_ylim()[0] > -1e6, "the -3.3e305 close is clipped"
    finally:
        plt.close(fig)
    path = tmp_path / "r.png"
    plot_equity_events(path, equity, bench, log, books)
    assert png_size(path) == (1100, 1000)
