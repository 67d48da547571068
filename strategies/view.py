"""The point-in-time view a policy gets: the market cut at the decision close.

A :class:`MarketView` holds numpy views of the aligned bars up to and including session ``t``;
rows after ``t`` are not in it, so a policy reading it cannot see a later bar by construction.
The one fact about session ``t + 1`` it offers is calendar, not price: which names will have a
bar there (``tradable_next``), which the baseline rules use for eligibility.
"""

from __future__ import annotations

import numpy as np

from data.market import MarketData


class MarketView:
    """The market as known at the close of session ``t``.

    ``open``, ``high``, ``low``, ``close``, ``volume``: arrays of shape (t + 1, tickers);
    ``benchmark_close``: shape (t + 1,). ``tickers`` names the columns.
    """

    __slots__ = ("benchmark_close", "close", "high", "low", "open", "t", "tickers", "volume")

    def __init__(self, market: MarketData, t: int) -> None:
        stop = t + 1
        self.t = t
        self.tickers = market.tickers
        self.open = market.open[:stop]
        self.high = market.high[:stop]
        self.low = market.low[:stop]
        self.close = market.close[:stop]
        self.volume = market.volume[:stop]
        self.benchmark_close = market.benchmark_close[:stop]

    def returns(self, cols: np.ndarray, lookback: int) -> np.ndarray:
        """Close-to-close returns of ``cols`` over the last ``lookback`` sessions up to ``t``
        (shape (lookback, len(cols)), fewer rows near the run's start; NaN without both bars)."""
        first = max(self.t - lookback + 1, 1)
        now = self.close[first : self.t + 1][:, cols]
        before = self.close[first - 1 : self.t][:, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            return now / before - 1.0

    def benchmark_returns(self, lookback: int) -> np.ndarray:
        """The benchmark's returns over the same sessions as :meth:`returns`."""
        first = max(self.t - lookback + 1, 1)
        return (
            self.benchmark_close[first : self.t + 1] / self.benchmark_close[first - 1 : self.t]
            - 1.0
        )

    def volumes(self, cols: np.ndarray, lookback: int) -> np.ndarray:
        """Volumes of ``cols`` over the same sessions as :meth:`returns`."""
        first = max(self.t - lookback + 1, 1)
        return self.volume[first : self.t + 1][:, cols]
