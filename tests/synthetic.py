"""Small synthetic markets on real NYSE sessions, for tests that need exact control."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import sessions_between
from data.events import Event, parse_known_at
from data.market import MarketData, align
from data.prices import PriceHistory


def history(ticker: str, days: pd.DatetimeIndex, seed: int) -> PriceHistory:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
    open_ = close * np.exp(rng.normal(0, 0.01, len(days)))
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": np.full(len(days), 1e6),
        },
        index=pd.DatetimeIndex(days, name="date"),
    )
    return PriceHistory(ticker, bars, f"<synthetic {ticker}>", "0" * 64)


def market(
    start: str,
    end: str,
    long: tuple[str, ...] = ("L1", "L2"),
    short: tuple[str, ...] = ("S1", "S2"),
    spans: dict[str, tuple[str | None, str | None]] | None = None,
) -> MarketData:
    """A market with tickers ``long + short`` and a benchmark BM on every session.

    ``spans`` limits a ticker's bars to (first, last) dates (None = open end).
    """
    sessions = sessions_between(pd.Timestamp(start), pd.Timestamp(end))
    histories = {"BM": history("BM", sessions, 0)}
    for k, ticker in enumerate(long + short, start=1):
        first, last = (spans or {}).get(ticker, (None, None))
        days = sessions
        if first:
            days = days[days >= pd.Timestamp(first)]
        if last:
            days = days[days <= pd.Timestamp(last)]
        histories[ticker] = history(ticker, days, k)
    return align(histories, sessions, long + short, "BM")


def event(known_at: str, direction: int, event_id: str | None = None) -> Event:
    return Event(event_id or f"{known_at}/{direction}", parse_known_at(known_at), direction)
