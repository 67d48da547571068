"""``equity_events.png`` of a run folder: the strategy on its own scale, and the events up close.

The strategy's equity moves a few percent over a run while the benchmark can grow several
times over, so the two never share a y-axis: the strategy has the left axis, the benchmark (the
growth of the same starting cash) the right one. Layout, whatever the number of events:

- top: the whole run, books shaded, each event's entry session marked by what it did;
- middle: the strategy's drawdown;
- bottom: at most ``MAX_ZOOMS`` zoom panels on the sessions around the events (up to a ruin:
  the run ended there). Event entry sessions are grouped into clusters by cutting the run at
  the largest gaps between consecutive entries (at most ``MAX_ZOOMS - 1`` cuts, only at gaps
  longer than ``2 * ZOOM_PAD`` sessions); each panel shows one cluster from ``ZOOM_PAD``
  sessions before its first entry to ``ZOOM_PAD`` sessions after its last, and is as wide as
  its share of those sessions (at least a fifth of the row). No event in the run: no zoom row.

The figure size is fixed (``SIZE``), so the image stays bounded whatever the events.

A ruined run (equity <= 0 at a close) is drawn up to its ruin close, clipped just below zero
(so the sessions before it keep a readable scale) and marked "RUINED"; nothing is drawn after.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display here or in CI

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.plots import save_png

MAX_ZOOMS = 3
ZOOM_PAD = 10  # sessions shown before the first and after the last entry of a cluster
SIZE = (11.0, 10.0)  # inches, with zoom panels (at 100 dpi: 1100 x 1000 pixels)
SIZE_NO_ZOOM = (11.0, 6.5)
STRATEGY = "#222222"
BENCHMARK = "#999999"
BOOK = "#2ca02c"
RUIN = "#c0392b"
# How each action is drawn: marker, colour, legend text.
ACTION_STYLE = {
    "opened": ("^", "#2ca02c", "book opened"),
    "extended": (">", "#1f77b4", "exit extended"),
    "closed": ("v", "#d62728", "book closed by counter-news"),
    "ignored": ("x", "#7f7f7f", "ignored"),
}


def drawdown(equity: pd.Series) -> pd.Series:
    """equity_t / running peak - 1."""
    return equity / equity.cummax() - 1.0


def zoom_windows(
    positions: list[int] | np.ndarray,
    n_sessions: int,
    pad: int = ZOOM_PAD,
    max_panels: int = MAX_ZOOMS,
) -> list[tuple[int, int]]:
    """Session index ranges (inclusive) of the zoom panels around event entry ``positions``.

    Clusters are cut at the largest gaps between consecutive distinct entries (ties: the
    earlier gap), at most ``max_panels - 1`` cuts and only at gaps > ``2 * pad``; each window
    runs from ``pad`` sessions before a cluster's first entry to ``pad`` after its last,
    clipped to the run.
    """
    entries = np.unique(np.asarray(positions, dtype=np.int64))
    if not entries.size or max_panels < 1:
        return []
    gaps = np.diff(entries)
    order = sorted(range(len(gaps)), key=lambda k: (-gaps[k], k))
    cuts = sorted(k for k in order[: max_panels - 1] if gaps[k] > 2 * pad)
    bounds = [0, *(k + 1 for k in cuts), len(entries)]
    return [
        (max(0, int(entries[a]) - pad), min(n_sessions - 1, int(entries[b - 1]) + pad))
        for a, b in itertools.pairwise(bounds)
    ]


def plot_equity_events(
    path: Path,
    equity: pd.DataFrame,
    benchmark: pd.Series,
    event_log: pd.DataFrame,
    books: pd.DataFrame,
) -> None:
    """Write the picture described in the module docstring.

    Needs: ``equity`` indexed by session with an ``equity`` column; ``benchmark`` daily returns
    on the same sessions (drawn only then); ``event_log`` with ``entry_session`` and ``action``
    (rows with no entry session are not drawn); ``books`` with ``entry`` and ``exit`` ('' when
    still open).
    """
    with plt.style.context("default"):  # the same look whatever quantstats set before
        _Picture(equity, benchmark, event_log, books).save(path)


class _Picture:
    def __init__(
        self,
        equity: pd.DataFrame,
        benchmark: pd.Series,
        event_log: pd.DataFrame,
        books: pd.DataFrame,
    ) -> None:
        curve = equity["equity"].astype(float)
        self.dates = pd.DatetimeIndex(curve.index)
        values = curve.to_numpy()
        bad = ~(values > 0)
        self.ruin = int(bad.argmax()) if bad.any() else None
        self.end = len(values) if self.ruin is None else self.ruin + 1
        self.curve = values[: self.end].copy()
        if self.ruin is not None:  # clip the ruin close just below zero
            alive = self.curve[: self.ruin]
            top = float(alive.max()) if alive.size else 1.0
            self.floor = -0.15 * top
            self.ruin_equity = float(values[self.ruin])
            self.curve[self.ruin] = max(self.ruin_equity, self.floor)
        self.bench = None
        if len(benchmark) == len(values):
            growth = (1.0 + benchmark.fillna(0.0).to_numpy(dtype=float)).cumprod()
            self.bench = growth * float(values[0])
            self.bench_name = str(benchmark.name or "benchmark")
        self.spans = [
            (
                pd.Timestamp(str(b["entry"])),
                pd.Timestamp(str(b["exit"])) if _text(b["exit"]) else None,
            )
            for _, b in books.iterrows()
        ]
        position = {d: k for k, d in enumerate(self.dates)}
        self.marks: dict[str, np.ndarray] = {}
        for action in ACTION_STYLE:
            rows = event_log[event_log["action"] == action]
            days = pd.to_datetime(rows["entry_session"].map(_day).loc[lambda s: s != ""])
            self.marks[action] = np.array(
                sorted(position[d] for d in days if d in position), dtype=np.int64
            )
        every = np.concatenate(list(self.marks.values()))
        self.windows = zoom_windows(every[every < self.end], len(values))  # none after a ruin

    # -- layout ----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        save_png(self.figure(), path, dpi=100)

    def figure(self):
        """The matplotlib figure: axes[0] the strategy, then the drawdown, the zoom panels,
        then the benchmark's twin axes."""
        zooms = len(self.windows)
        fig = plt.figure(figsize=SIZE if zooms else SIZE_NO_ZOOM)
        if zooms:
            lengths = np.array([b - a + 1 for a, b in self.windows], dtype=float)
            widths = np.maximum(lengths / lengths.sum(), 0.2)
            grid = fig.add_gridspec(3, zooms, height_ratios=[3, 1, 2.2], width_ratios=list(widths))
        else:
            grid = fig.add_gridspec(2, 1, height_ratios=[3, 1])
        top = fig.add_subplot(grid[0, :])
        low = fig.add_subplot(grid[1, :], sharex=top)
        self._main(top)
        self._drawdown(low)
        for k, (a, b) in enumerate(self.windows):
            self._zoom(fig.add_subplot(grid[2, k]), a, b)
        fig.tight_layout()
        return fig

    # -- panels ----------------------------------------------------------------------------------

    def _main(self, ax) -> None:
        first, last = 0, len(self.dates) - 1
        handles = self._draw(ax, first, last, marker_size=55)
        if self.bench is not None:
            right = ax.twinx()
            right.plot(self.dates, self.bench, color=BENCHMARK, lw=1.0, ls="--")
            right.set_ylabel(f"{self.bench_name}: growth of the same cash (right axis)")
            right.yaxis.set_major_formatter(mticker.FuncFormatter(_money))
            handles.insert(
                1,
                Line2D(
                    [], [], color=BENCHMARK, lw=1.0, ls="--", label=f"{self.bench_name} (right)"
                ),
            )
            ax.set_zorder(right.get_zorder() + 1)  # the strategy and markers above the benchmark
            ax.patch.set_visible(False)
        ax.set_ylabel("strategy equity (left axis)")
        title = "Strategy equity at each close (own axis); markers at each event's entry session"
        if self.ruin is not None:
            title += f"\nRUINED on {self.dates[self.ruin].date()}: the run ended at that close"
        ax.set_title(title, fontsize=11, color=RUIN if self.ruin is not None else "black")
        ax.legend(handles=handles, loc="best", fontsize=8)
        ax.set_xlim(self.dates[0], self.dates[-1])

    def _drawdown(self, ax) -> None:
        dd = drawdown(pd.Series(np.maximum(self.curve, 0.0))).to_numpy()
        ax.fill_between(self.dates[: self.end], dd, 0.0, color="#d62728", alpha=0.35, lw=0)
        ax.set_ylabel("drawdown")
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.set_xlim(self.dates[0], self.dates[-1])

    def _zoom(self, ax, a: int, b: int) -> None:
        self._draw(ax, a, b, marker_size=30)
        if self.bench is not None:
            right = ax.twinx()
            right.plot(
                self.dates[a : b + 1], self.bench[a : b + 1], color=BENCHMARK, lw=0.8, ls="--"
            )
            right.yaxis.set_major_formatter(mticker.FuncFormatter(_compact))
            right.tick_params(labelsize=7, colors=BENCHMARK)
            ax.set_zorder(right.get_zorder() + 1)
            ax.patch.set_visible(False)
        count = sum(int(((m >= a) & (m <= b)).sum()) for m in self.marks.values())
        ax.set_title(
            f"zoom {self.dates[a].date()} to {self.dates[b].date()}\n"
            f"{count} event {'entry' if count == 1 else 'entries'}",
            fontsize=8,
        )
        ax.set_xlim(self.dates[a], self.dates[b])
        locator = mdates.AutoDateLocator(minticks=2, maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.tick_params(labelsize=7)

    def _draw(self, ax, a: int, b: int, marker_size: float) -> list:
        """Strategy curve, book shading, event markers and the ruin on sessions a..b."""
        stop = min(b + 1, self.end)
        if a < stop:
            ax.plot(self.dates[a:stop], self.curve[a:stop], color=STRATEGY, lw=1.3)
        handles: list = [Line2D([], [], color=STRATEGY, lw=1.3, label="strategy equity (left)")]
        lo, hi = self.dates[a], self.dates[b]
        for start, end in self.spans:
            end = end if end is not None else self.dates[-1]
            if self.ruin is not None:
                end = min(end, self.dates[self.ruin])
            if end >= lo and start <= hi:
                ax.axvspan(max(start, lo), min(end, hi), color=BOOK, alpha=0.10, lw=0)
        if self.spans:
            handles.append(Patch(color=BOOK, alpha=0.2, label="book held"))
        for action, (marker, colour, label) in ACTION_STYLE.items():
            at = self.marks[action]
            at = at[(at >= a) & (at <= b)]
            on_curve = at[at < self.end]
            if on_curve.size:
                ax.scatter(
                    self.dates[on_curve],
                    self.curve[on_curve],
                    marker=marker,
                    color=colour,
                    s=marker_size,
                    zorder=3,
                    linewidths=1.2,
                )
            total = len(self.marks[action])
            if total:
                handles.append(
                    Line2D([], [], ls="", marker=marker, color=colour, label=f"{label} ({total})")
                )
        if self.ruin is not None and a <= self.ruin <= b:
            day = self.dates[self.ruin]
            ax.axvline(day, color=RUIN, lw=1.2, ls="--")
            ax.axhline(0.0, color=RUIN, lw=0.8, alpha=0.6)
            left_half = self.ruin - a < (b - a) / 2  # write the label on the wider side
            ax.annotate(
                f"RUINED {day.date()}\nequity {_money(self.ruin_equity)}",
                xy=(day, self.curve[self.ruin]),
                xytext=(6 if left_half else -6, 8),
                textcoords="offset points",
                ha="left" if left_half else "right",
                color=RUIN,
                fontsize=8,
                fontweight="bold",
            )
            handles.append(Line2D([], [], color=RUIN, ls="--", label="ruin close"))
        ax.yaxis.set_major_formatter(mticker.FuncFormatter(_money))
        ax.grid(alpha=0.3)
        return handles


def _money(value: float, _position: int | None = None) -> str:
    return f"{value:.3g}" if abs(value) >= 1e15 else f"{value:,.0f}"


def _compact(value: float, _position: int | None = None) -> str:
    """2.4M, 950k: the zoom panels' benchmark axis (context, not a figure to read off)."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{unit}"
    return f"{value:.4g}"


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _day(value) -> str:
    return _text(value)[:10]
