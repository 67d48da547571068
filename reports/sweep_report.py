"""Sweep outputs: the results table (parquet + CSV), heatmaps and the top configs.

Knows no engine: it receives a table with one row per config (parameter columns, then metrics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reports.plots import save_png

# Higher is better for these; lower is better for the rest (volatility, costs, turnover...).
HIGHER_IS_BETTER = {
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "winning_books",
    "final_equity",
}


def rank(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows best first by ``metric`` (NaN last; ties keep grid order)."""
    if metric not in table.columns:
        raise KeyError(metric)
    ascending = metric not in HIGHER_IS_BETTER
    return table.sort_values(metric, ascending=ascending, na_position="last", kind="stable")


def heatmap_name(metric: str, x: str, y: str) -> str:
    """``heatmap_<metric>_<x>_<y>.png``, dots of the keys as dashes."""
    return f"heatmap_{metric}_{x.replace('.', '-')}_{y.replace('.', '-')}.png"


def sweep_files(
    table: pd.DataFrame, metric: str, pairs: list[tuple[str, str]]
) -> dict[str, Callable[[Path], None]]:
    """The writers of a sweep folder's outputs (name -> writer(path)): sweep.parquet,
    sweep.csv and one heatmap of ``metric`` per pair of grid keys. The caller writes them
    together (reports.run_folder.InPlaceFolder.commit), then the manifest."""
    files: dict[str, Callable[[Path], None]] = {
        "sweep.parquet": lambda p: table.to_parquet(p, index=False),
        "sweep.csv": lambda p: table.to_csv(p, index=False, lineterminator="\n"),
    }
    for x, y in pairs:
        files[heatmap_name(metric, x, y)] = lambda p, x=x, y=y: heatmap(table, metric, x, y, p)
    return files


def heatmap(
    table: pd.DataFrame, metric: str, x: str, y: str, path: Path, agg: str = "mean"
) -> None:
    """A PNG of ``metric`` over parameters ``x`` and ``y`` (other parameters aggregated), written
    to ``path`` as it is (the caller makes it atomic)."""
    pivot = table.pivot_table(index=y, columns=x, values=metric, aggfunc=agg)
    fig, ax = plt.subplots(
        figsize=(max(5, 0.7 * pivot.shape[1] + 2), max(4, 0.45 * pivot.shape[0] + 2))
    )
    values = pivot.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    image = ax.imshow(values, cmap="RdYlGn", aspect="auto", vmin=-limit, vmax=limit, origin="lower")
    ax.set_xticks(
        range(pivot.shape[1]),
        [f"{v:g}" if isinstance(v, float) else str(v) for v in pivot.columns],
        rotation=45,
        ha="right",
    )
    ax.set_yticks(
        range(pivot.shape[0]), [f"{v:g}" if isinstance(v, float) else str(v) for v in pivot.index]
    )
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    others = agg if len(table) > pivot.size else ""
    ax.set_title(f"{metric} ({others} over other parameters)" if others else metric)
    if pivot.size <= 400:
        for (row, col), value in np.ndenumerate(values):
            if math.isfinite(value):
                ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    save_png(fig, path)
