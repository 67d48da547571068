"""Every plot keeps a bounded size whatever the number of configs, windows or events it shows
(issue 11): sweep heatmaps, the walk-forward Sharpe bars, the event study's per-event chart."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from PIL import Image

from reports.plots import MAX_HEIGHT_IN, MAX_TICK_LABELS, MAX_WIDTH_IN, thinned
from reports.sweep_report import heatmap
from reports.walk_forward_report import sharpe_plot

DPI = 110


def _size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _within_bounds(path) -> bool:
    width, height = _size(path)
    return width <= MAX_WIDTH_IN * DPI + 1 and height <= MAX_HEIGHT_IN * DPI + 1


def test_thinned_labels():
    labels = [str(k) for k in range(10)]
    assert thinned(labels) == (list(range(10)), labels)
    many = [str(k) for k in range(1000)]
    positions, shown = thinned(many)
    assert len(shown) <= MAX_TICK_LABELS and shown[0] == "0"
    assert shown == [many[k] for k in positions]


def test_heatmap_of_a_huge_grid_is_bounded(tmp_path):
    holds, grosses = range(1, 301), [0.01 * k for k in range(1, 201)]
    rows = list(itertools.product(holds, grosses))
    table = pd.DataFrame(rows, columns=["strategy.hold_sessions", "strategy.gross"])
    table["sharpe"] = np.random.default_rng(0).normal(size=len(table))
    path = tmp_path / "heatmap.png"
    heatmap(table, "sharpe", "strategy.gross", "strategy.hold_sessions", path)
    assert _within_bounds(path)


def test_walk_forward_bars_of_many_windows_are_bounded(tmp_path):
    n = 400
    windows = pd.DataFrame(
        {
            "is_sharpe": np.linspace(-1, 1, n),
            "oos_sharpe": np.linspace(1, -1, n),
            "status": ["chosen" if k % 3 else "flat" for k in range(n)],
            "test_start": [f"{2000 + k // 12}-{1 + k % 12:02d}-01" for k in range(n)],
        }
    )
    path = tmp_path / "sharpe.png"
    sharpe_plot(path, windows)
    assert _within_bounds(path)
