"""Price histories aligned on the run's NYSE sessions: the arrays every engine reads.

Alignment is strict. Inside the run a ticker must have a bar on every session between its first
and last bar there (a gap is an error, not something to fill), and no bar on a day that is not a
session. Tickers that list late or whose data ends early are normal: outside their span the
arrays hold NaN and ``has_bar`` is False.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from data.calendar import sessions_between
from data.errors import DataError
from data.prices import PriceHistory


@dataclass(frozen=True)
class MarketData:
    """Aligned bars: arrays of shape (sessions, tickers), NaN where a ticker has no bar."""

    sessions: pd.DatetimeIndex
    tickers: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    benchmark: str
    benchmark_close: np.ndarray
    histories: Mapping[str, PriceHistory]

    @cached_property
    def has_bar(self) -> np.ndarray:
        """has_bar[t, c]: ticker c has a bar on session t (computed once; read-only)."""
        has = ~np.isnan(self.close)
        has.setflags(write=False)
        return has

    @cached_property
    def eligible(self) -> np.ndarray:
        """eligible[t, c]: ticker c can join a book decided at the close of t: bars at t and
        t + 1, and t + 1 is not its last bar before the run's end (calendar facts, no prices)."""
        has = self.has_bar
        n = len(self.sessions)
        last = self.last_bar
        ends = np.where((last >= 0) & (last < n - 1), last, -1)
        out = np.zeros_like(has)
        out[:-1] = has[:-1] & has[1:] & (ends[None, :] != np.arange(1, n)[:, None])
        out.setflags(write=False)
        return out

    @property
    def first_bar(self) -> np.ndarray:
        """Index of each ticker's first bar in the run, -1 if it has none."""
        has = self.has_bar
        return np.where(has.any(axis=0), has.argmax(axis=0), -1)

    @cached_property
    def last_bar(self) -> np.ndarray:
        """Index of each ticker's last bar in the run, -1 if it has none."""
        has = self.has_bar[::-1]
        n = len(self.sessions)
        return np.where(has.any(axis=0), n - 1 - has.argmax(axis=0), -1)

    def column(self, ticker: str) -> int:
        return self.tickers.index(ticker)

    def benchmark_returns(self) -> pd.Series:
        """Close-to-close returns of the benchmark; 0 on the first session of the run."""
        close = pd.Series(self.benchmark_close, index=self.sessions, name=self.benchmark)
        return close.pct_change().fillna(0.0)


def resolve_sessions(
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    histories: Mapping[str, PriceHistory],
) -> pd.DatetimeIndex:
    """The NYSE sessions of the run: from ``start`` to ``end``, cut at the newest bar loaded."""
    if not histories:
        raise DataError("no price data loaded")
    horizon = max(h.last_date for h in histories.values())
    earliest = min(h.first_date for h in histories.values())
    lo = pd.Timestamp(start) if start is not None else earliest
    hi = min(pd.Timestamp(end), horizon) if end is not None else horizon
    sessions = sessions_between(lo, hi)
    if len(sessions) == 0:
        raise DataError(
            f"empty date range: no NYSE session from {lo.date()} to {hi.date()} (the newest bar "
            f"loaded is {horizon.date()}); check --start/--end"
        )
    if len(sessions) < 2:
        raise DataError(
            f"the run from {lo.date()} to {hi.date()} has a single session; a backtest needs at "
            "least two (decide at one close, fill at the next open)"
        )
    return sessions


def _positions(history: PriceHistory, sessions: np.ndarray) -> tuple[np.ndarray, slice]:
    """Where a history's bars inside the run fall among ``sessions`` (int64 nanoseconds):
    (session positions, the slice of its bars they hold). Raises the strict-alignment errors.
    """
    stamps = pd.DatetimeIndex(history.bars.index).as_unit("ns").asi8
    lo = int(np.searchsorted(stamps, sessions[0], side="left"))
    hi = int(np.searchsorted(stamps, sessions[-1], side="right"))
    inside = stamps[lo:hi]
    if not len(inside):
        return np.empty(0, dtype=np.intp), slice(lo, hi)
    positions = np.searchsorted(sessions, inside)  # inside <= the last session: in bounds
    stray = np.flatnonzero(sessions[positions] != inside)
    if stray.size:
        day = pd.Timestamp(inside[stray[0]]).date()
        raise DataError(
            f"{history.ticker}: {history.source} has a bar on {day}, which is not a "
            "NYSE session; remove that row"
        )
    steps = np.diff(positions)
    if (steps > 1).any():
        k = int(np.flatnonzero(steps > 1)[0])
        day = pd.Timestamp(sessions[positions[k] + 1]).date()
        missing = int(positions[-1] - positions[0] + 1 - len(positions))
        first, last = pd.Timestamp(inside[0]).date(), pd.Timestamp(inside[-1]).date()
        raise DataError(
            f"{history.ticker}: {history.source} has no bar for the NYSE session {day} "
            f"({missing} session(s) missing between {first} and {last}); fill the gap in the "
            "file or drop the ticker"
        )
    return positions, slice(lo, hi)


FIELDS = ("open", "high", "low", "close", "volume")


def _fields(bars: pd.DataFrame) -> np.ndarray:
    """The bars as one (rows, FIELDS) float array (no copy when they are one block)."""
    if tuple(bars.columns) != FIELDS:
        bars = bars[list(FIELDS)]
    return bars.to_numpy(dtype=float)


def align(
    histories: Mapping[str, PriceHistory],
    sessions: pd.DatetimeIndex,
    tickers: tuple[str, ...],
    benchmark: str,
) -> MarketData:
    """Align ``tickers`` and ``benchmark`` on ``sessions``; the benchmark must cover them all."""
    stamps = sessions.as_unit("ns").asi8
    n = len(sessions)
    arrays = {name: np.full((n, len(tickers)), np.nan) for name in FIELDS}
    for j, ticker in enumerate(tickers):
        positions, rows = _positions(histories[ticker], stamps)
        block = _fields(histories[ticker].bars)[rows]
        for i, name in enumerate(FIELDS):
            arrays[name][positions, j] = block[:, i]
    bench = histories[benchmark]
    positions, rows = _positions(bench, stamps)
    benchmark_close = np.full(n, np.nan)
    benchmark_close[positions] = bench.bars["close"].to_numpy(dtype=float)[rows]
    absent = np.isnan(benchmark_close)
    if absent.any():
        day = sessions[int(np.flatnonzero(absent)[0])]
        raise DataError(
            f"benchmark {benchmark} has no bar on {day.date()} (its data runs "
            f"{bench.first_date.date()} to {bench.last_date.date()}); the benchmark must cover "
            "the whole run: adjust --start/--end or choose another run.benchmark"
        )
    return MarketData(
        sessions=sessions,
        tickers=tuple(tickers),
        benchmark=benchmark,
        benchmark_close=benchmark_close,
        histories=dict(histories),
        **arrays,
    )
