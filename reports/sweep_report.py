"""Sweep outputs: the results table (parquet + CSV), heatmaps and the top configs.

Knows no engine: it receives a table with one row per config (parameter columns, then metrics,
and ``ruined_on``: the date of the config's ruin close, empty when it was not ruined).

A ruined config (equity <= 0 at a close: README "The rules") is not a result to rank: it comes
last whatever the metric and its direction, and heatmaps leave it out of their means (a cell
whose configs are all ruined reads "ruined").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reports.plots import bounded, save_png, thinned

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


def ruined(table: pd.DataFrame) -> pd.Series:
    """True for the rows of ruined configs (a non-empty ``ruined_on``; read back from a CSV,
    an empty one is NaN). Without the column, nothing is ruined."""
    if "ruined_on" not in table.columns:
        return pd.Series(False, index=table.index)
    days = table["ruined_on"]
    return days.notna() & (days.astype(str) != "")


def rank(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows best first by ``metric`` (NaN last; ties keep grid order); ruined configs after all
    the others, in grid order, whatever the metric and its direction."""
    if metric not in table.columns:
        raise KeyError(metric)
    ascending = metric not in HIGHER_IS_BETTER
    bust = ruined(table)
    healthy = table[~bust].sort_values(
        metric, ascending=ascending, na_position="last", kind="stable"
    )
    return pd.concat([healthy, table[bust]])


def heatmap_cells(
    table: pd.DataFrame, metric: str, x: str, y: str, agg: str = "mean"
) -> tuple[np.ndarray, list[list[str]]]:
    """The values (rows: ``y``, columns: ``x``, sorted) and cell labels of a heatmap.

    A cell aggregates the configs that were not ruined; "k/n ruined" is added when some of its
    n configs were, and a cell whose configs were all ruined is NaN, labelled "ruined".
    """
    bust = ruined(table)
    frame = table[[x, y]].copy()
    frame["_value"] = table[metric].where(~bust).astype(float)
    frame["_ruined"] = bust.astype(float)
    grouped = frame.groupby([y, x], sort=True)
    values = grouped["_value"].agg(agg).unstack(x)
    count = grouped["_ruined"].count().unstack(x)
    ruined_count = grouped["_ruined"].sum().unstack(x)
    labels = []
    for r, row in enumerate(values.to_numpy(dtype=float)):
        line = []
        for c, value in enumerate(row):
            n, k = count.iat[r, c], ruined_count.iat[r, c]
            if not np.isfinite(n) or n == 0:
                line.append("")
            elif k == n:
                line.append("ruined")
            else:
                text = f"{value:.2f}" if math.isfinite(value) else "n/a"
                line.append(text + (f"\n{int(k)}/{int(n)} ruined" if k else ""))
        labels.append(line)
    return values.to_numpy(dtype=float), labels


def heatmap_name(metric: str, x: str, y: str) -> str:
    """``heatmap_<metric>_<x>_<y>.png``, dots of the keys as dashes."""
    return f"heatmap_{metric}_{x.replace('.', '-')}_{y.replace('.', '-')}.png"


PARQUET_METADATA_KEY = b"capex_rotation"


def write_parquet(table: pd.DataFrame, path: Path, metadata: dict[str, Any] | None) -> None:
    """``table`` as parquet, with ``metadata`` (e.g. ``{"trials": 2000}``) as JSON under the
    schema key ``capex_rotation`` (``pyarrow.parquet.read_schema(path).metadata``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata:
        extra = {PARQUET_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **extra})
    pq.write_table(arrow, path)


def sweep_files(
    table: pd.DataFrame,
    metric: str,
    pairs: list[tuple[str, str]],
    metadata: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Callable[[Path], None]]:
    """The writers of a sweep folder's outputs (name -> writer(path)): sweep.parquet (with
    ``metadata`` in its schema: :func:`write_parquet`), sweep.csv, one heatmap of ``metric``
    per pair of grid keys, and the text files of ``extra`` (name -> content, e.g.
    selection.json and selection.md). The caller writes them together
    (reports.run_folder.InPlaceFolder.commit), then the manifest."""
    files: dict[str, Callable[[Path], None]] = {
        "sweep.parquet": lambda p: write_parquet(table, p, metadata),
        "sweep.csv": lambda p: table.to_csv(p, index=False, lineterminator="\n"),
    }
    for name, text in (extra or {}).items():
        files[name] = lambda p, text=text: p.write_bytes(text.encode())
    for x, y in pairs:
        files[heatmap_name(metric, x, y)] = lambda p, x=x, y=y: heatmap(table, metric, x, y, p)
    return files


def heatmap(
    table: pd.DataFrame, metric: str, x: str, y: str, path: Path, agg: str = "mean"
) -> None:
    """A PNG of ``metric`` over parameters ``x`` and ``y`` (other parameters aggregated over the
    configs that were not ruined; see :func:`heatmap_cells`), written to ``path`` as it is (the
    caller makes it atomic)."""
    pivot = table.pivot_table(index=y, columns=x, values=metric, aggfunc="size")
    values, labels = heatmap_cells(table, metric, x, y, agg)
    fig, ax = plt.subplots(
        figsize=bounded(max(5, 0.7 * pivot.shape[1] + 2), max(4, 0.45 * pivot.shape[0] + 2))
    )
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    colours = plt.get_cmap("RdYlGn").with_extremes(bad="#bbbbbb")  # all ruined: grey
    image = ax.imshow(
        np.ma.masked_invalid(values),
        cmap=colours,
        aspect="auto",
        vmin=-limit,
        vmax=limit,
        origin="lower",
    )
    ax.set_xticks(
        *thinned([f"{v:g}" if isinstance(v, float) else str(v) for v in pivot.columns]),
        rotation=45,
        ha="right",
    )
    ax.set_yticks(*thinned([f"{v:g}" if isinstance(v, float) else str(v) for v in pivot.index]))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    others = agg if len(table) > pivot.size else ""
    title = f"{metric} ({others} over other parameters)" if others else metric
    if ruined(table).any():
        title += "\nruined configs left out (grey: all ruined)"
    ax.set_title(title)
    if pivot.size <= 400:
        for row, line in enumerate(labels):
            for col, text in enumerate(line):
                if text:
                    ax.text(col, row, text, ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    save_png(fig, path)
