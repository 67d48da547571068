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


def _align_one(history: PriceHistory, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    bars = history.bars.loc[sessions[0] : sessions[-1]]
    if bars.empty:
        return bars.reindex(sessions)
    stray = bars.index.difference(sessions)
    if len(stray):
        raise DataError(
            f"{history.ticker}: {history.source} has a bar on {stray[0].date()}, which is not a "
            "NYSE session; remove that row"
        )
    span = sessions[(sessions >= bars.index[0]) & (sessions <= bars.index[-1])]
    missing = span.difference(bars.index)
    if len(missing):
        day = missing[0]
        raise DataError(
            f"{history.ticker}: {history.source} has no bar for the NYSE session {day.date()} "
            f"({len(missing)} session(s) missing between {bars.index[0].date()} and "
            f"{bars.index[-1].date()}); fill the gap in the file or drop the ticker"
        )
    return bars.reindex(sessions)


def align(
    histories: Mapping[str, PriceHistory],
    sessions: pd.DatetimeIndex,
    tickers: tuple[str, ...],
    benchmark: str,
) -> MarketData:
    """Align ``tickers`` and ``benchmark`` on ``sessions``; the benchmark must cover them all."""
    frames = {t: _align_one(histories[t], sessions) for t in tickers}
    bench = histories[benchmark]
    bench_frame = _align_one(bench, sessions)
    absent = bench_frame["close"].isna().to_numpy()
    if absent.any():
        day = sessions[int(np.flatnonzero(absent)[0])]
        raise DataError(
            f"benchmark {benchmark} has no bar on {day.date()} (its data runs "
            f"{bench.first_date.date()} to {bench.last_date.date()}); the benchmark must cover "
            "the whole run: adjust --start/--end or choose another run.benchmark"
        )

    def stack(field: str) -> np.ndarray:
        if not tickers:
            return np.empty((len(sessions), 0))
        return np.column_stack([frames[t][field].to_numpy(dtype=float) for t in tickers])

    return MarketData(
        sessions=sessions,
        tickers=tuple(tickers),
        open=stack("open"),
        high=stack("high"),
        low=stack("low"),
        close=stack("close"),
        volume=stack("volume"),
        benchmark=benchmark,
        benchmark_close=bench_frame["close"].to_numpy(dtype=float),
        histories=dict(histories),
    )
