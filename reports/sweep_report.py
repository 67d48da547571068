"""Sweep outputs: the results table (parquet + CSV), heatmaps and the top configs.

Knows no engine: it receives a table with one row per config (parameter columns, then metrics,
and ``ruined_on``: the date of the config's ruin close, empty when it was not ruined).

A ruined config (equity <= 0 at a close: README "The rules") is not a result to rank: it comes
last whatever the metric and its direction, and heatmaps leave it out of their means (a cell
whose configs are all ruined reads "ruined").
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports import parallel
from reports.plots import bounded, save_png, thinned

# Heatmap margins in inches, from the longest tick label (no tight_layout: it draws the figure
# once more only to measure it, and the heatmaps were most of a sweep's time after its engine).
_CHAR_IN = 0.085  # a character of a 10 pt tick label, a little wide
_LINE_IN = 0.24  # a line of a 10-12 pt label or title
_COLORBAR_IN = 0.9  # the colorbar's tick labels and its label, right of the bar

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
    heatmaps: dict[str, bytes],
    metadata: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Callable[[Path], None]]:
    """The writers of a sweep folder's outputs (name -> writer(path)): sweep.parquet (with
    ``metadata`` in its schema: :func:`write_parquet`), sweep.csv, the text files of ``extra``
    (name -> content, e.g. selection.json and selection.md) and the drawn ``heatmaps`` (name ->
    PNG bytes: :func:`draw_heatmaps`). The caller writes them together
    (reports.run_folder.InPlaceFolder.commit), then the manifest."""
    files: dict[str, Callable[[Path], None]] = {
        "sweep.parquet": lambda p: write_parquet(table, p, metadata),
        "sweep.csv": lambda p: table.to_csv(p, index=False, lineterminator="\n"),
    }
    for name, text in (extra or {}).items():
        files[name] = lambda p, text=text: p.write_bytes(text.encode())
    for name, png in heatmaps.items():
        files[name] = lambda p, png=png: p.write_bytes(png)
    return files


def draw_heatmaps(
    table: pd.DataFrame,
    metric: str,
    pairs: list[tuple[str, str]],
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, bytes]:
    """The PNG bytes of the heatmap of ``metric`` for each pair of grid keys (name ->
    bytes, in the order of ``pairs``: :func:`heatmap_name`).

    They are drawn by forked workers (:mod:`reports.parallel`), the pairs shared out among
    them, while ``meanwhile`` (e.g. the selection statistics) runs in this process; the bytes
    are those of :func:`heatmap`."""
    workers = max(1, min(parallel.WORKERS, len(pairs)))
    shares = [pairs[k::workers] for k in range(workers)]
    drawn = parallel.run_concurrently(
        {
            f"heatmaps {k}": partial(_draw_share, table, metric, share)
            for k, share in enumerate(shares)
        },
        meanwhile=meanwhile,
    )
    merged = {name: png for share in drawn.values() for name, png in share.items()}
    return {heatmap_name(metric, x, y): merged[heatmap_name(metric, x, y)] for x, y in pairs}


def _draw_share(table: pd.DataFrame, metric: str, pairs: list[tuple[str, str]]) -> dict[str, bytes]:
    drawn = {}
    for x, y in pairs:
        stream = io.BytesIO()
        heatmap(table, metric, x, y, stream)
        drawn[heatmap_name(metric, x, y)] = stream.getvalue()
    return drawn


def _tick_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def heatmap(
    table: pd.DataFrame, metric: str, x: str, y: str, path: Path | io.BytesIO, agg: str = "mean"
) -> None:
    """A PNG of ``metric`` over parameters ``x`` and ``y`` (other parameters aggregated over the
    configs that were not ruined; see :func:`heatmap_cells`), written to ``path`` (a path, as
    it is: the caller makes it atomic; or a binary stream)."""
    pivot = table.pivot_table(index=y, columns=x, values=metric, aggfunc="size")
    values, labels = heatmap_cells(table, metric, x, y, agg)
    width, height = bounded(max(5, 0.7 * pivot.shape[1] + 2), max(4, 0.45 * pivot.shape[0] + 2))
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    colours = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#bbbbbb")  # all ruined: grey
    image = ax.imshow(
        np.ma.masked_invalid(values),
        cmap=colours,
        aspect="auto",
        vmin=-limit,
        vmax=limit,
        origin="lower",
    )
    x_ticks = thinned([_tick_text(v) for v in pivot.columns])
    y_ticks = thinned([_tick_text(v) for v in pivot.index])
    ax.set_xticks(*x_ticks, rotation=45, ha="right")
    ax.set_yticks(*y_ticks)
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
    longest_x = max((len(t) for t in x_ticks[1]), default=1)
    longest_y = max((len(t) for t in y_ticks[1]), default=1)
    left = _LINE_IN + 0.2 + longest_y * _CHAR_IN
    bottom = _LINE_IN + 0.25 + (longest_x * _CHAR_IN + 0.15) * 0.71  # labels at 45 degrees
    top = _LINE_IN * (title.count("\n") + 1) + 0.2
    fig.subplots_adjust(
        left=min(left / width, 0.45),
        right=max(1 - _COLORBAR_IN / width, 0.55),
        bottom=min(bottom / height, 0.45),
        top=max(1 - top / height, 0.55),
    )
    fig.colorbar(image, ax=ax, label=metric, fraction=min(0.15, 0.5 / width), pad=0.02)
    save_png(fig, path)
