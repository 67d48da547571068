"""Sweep outputs: the results table (parquet + CSV), heatmaps and the top configs.

Knows no engine: it receives a table with one row per config (parameter columns, then metrics).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from data.atomic import write_atomically
from reports.plots import bounded, save_png, thinned
from reports.run_folder import write_json

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


def write_tables(out_dir: Path, table: pd.DataFrame) -> None:
    """sweep.parquet and sweep.csv, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(out_dir / "sweep.parquet", lambda p: table.to_parquet(p, index=False))
    write_atomically(
        out_dir / "sweep.csv",
        lambda p: table.to_csv(p, index=False, lineterminator="\n"),
    )


def write_manifest(out_dir: Path, document: dict) -> None:
    write_atomically(out_dir / "manifest.json", lambda p: write_json(p, document))


def heatmap(
    table: pd.DataFrame, metric: str, x: str, y: str, path: Path, agg: str = "mean"
) -> None:
    """A PNG of ``metric`` over parameters ``x`` and ``y`` (other parameters aggregated)."""
    pivot = table.pivot_table(index=y, columns=x, values=metric, aggfunc=agg)
    fig, ax = plt.subplots(
        figsize=bounded(max(5, 0.7 * pivot.shape[1] + 2), max(4, 0.45 * pivot.shape[0] + 2))
    )
    values = pivot.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    image = ax.imshow(values, cmap="RdYlGn", aspect="auto", vmin=-limit, vmax=limit, origin="lower")
    ax.set_xticks(
        *thinned([f"{v:g}" if isinstance(v, float) else str(v) for v in pivot.columns]),
        rotation=45,
        ha="right",
    )
    ax.set_yticks(*thinned([f"{v:g}" if isinstance(v, float) else str(v) for v in pivot.index]))
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
    write_atomically(path, lambda p: save_png(fig, p))
