"""Cost models, one seam each: commission, slippage, borrow (LEAN's IFeeModel, ISlippageModel,
IShortableProvider.FeeRate), plus share rounding and a participation cap.

Both engines call these objects: backtrader through its commission info, broker and borrow
hook; the vectorised engine through the same methods on arrays. A model the vectorised engine
does not know (a subclass, your own class) runs in backtrader only, and a sweep refuses it
naming the model: never an approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from strategies.errors import PolicyError

ROUNDING = ("none", "whole")
ON_CAP = ("fail", "scale")


def _bps(value: float, key: str) -> float:
    if not 0 <= value < 10_000:
        raise PolicyError(f"costs.{key} must be between 0 and 10000 bp, got {value:g}")
    return value / 1e4


class CommissionModel(Protocol):
    def fee(self, shares: np.ndarray, price: np.ndarray) -> np.ndarray: ...


class SlippageModel(Protocol):
    lookback: int

    def rate(self, shares: np.ndarray, sigma: np.ndarray, adv: np.ndarray) -> np.ndarray: ...


class BorrowModel(Protocol):
    def rates(self, tickers: tuple[str, ...], sessions: pd.DatetimeIndex) -> np.ndarray: ...


@dataclass(frozen=True)
class FlatCommission:
    """c x |shares x fill| on every fill (``costs.commission_bps``)."""

    bps: float = 1.0
    rate: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _bps(self.bps, "commission_bps"))

    def fee(self, shares, price):
        return self.rate * np.abs(shares * price)


@dataclass(frozen=True)
class FlatSlippage:
    """Buys fill at open x (1 + s), sells and short sales at open x (1 - s), whatever the
    bar's range (``costs.slippage_bps``)."""

    bps: float = 2.0
    rate_value: float = field(init=False)
    lookback: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_value", _bps(self.bps, "slippage_bps"))

    def rate(self, shares, sigma, adv):
        return np.full(np.shape(shares), self.rate_value)


@dataclass(frozen=True)
class ImpactSlippage:
    """Size-dependent: s_i = half_spread + k x sigma_i x sqrt(|shares_i| / ADV_i), sigma_i the
    daily return std (ddof=1) and ADV_i the mean volume over the ``lookback`` sessions up to the
    book's decision close, measured once and used for the entry and the exit fill.

    A name without ``lookback`` returns or with no volume there is excluded from the book.
    """

    half_spread_bps: float = 1.0
    k: float = 0.1
    lookback: int = 20
    half_spread: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "half_spread", _bps(self.half_spread_bps, "half_spread_bps"))
        if not 0 <= self.k < 100:
            raise PolicyError(f"costs.impact_k must be in [0, 100), got {self.k:g}")
        if int(self.lookback) != self.lookback or self.lookback < 2:
            raise PolicyError("costs.impact_lookback must be a whole number >= 2")

    def rate(self, shares, sigma, adv):
        return self.half_spread + self.k * sigma * np.sqrt(np.abs(shares) / adv)


@dataclass(frozen=True)
class FlatBorrow:
    """One annual rate for every short (``costs.borrow_bps``), on market value at each close,
    per calendar day to the next session."""

    bps: float = 50.0

    def __post_init__(self) -> None:
        _bps(self.bps, "borrow_bps")

    def rates(self, tickers, sessions):
        return np.full((len(sessions), len(tickers)), self.bps / 1e4)


@dataclass(frozen=True)
class TickerBorrow:
    """A rate per ticker (``costs.borrow_by_ticker``, bp a year); others pay ``bps``."""

    bps: float = 50.0
    by_ticker: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        _bps(self.bps, "borrow_bps")
        for ticker, value in self.by_ticker:
            _bps(value, f"borrow_by_ticker.{ticker}")

    def rates(self, tickers, sessions):
        table = dict(self.by_ticker)
        row = np.array([table.get(t, self.bps) / 1e4 for t in tickers])
        return np.broadcast_to(row, (len(sessions), len(tickers))).copy()


@dataclass(frozen=True)
class TableBorrow:
    """Rates by date and ticker from a table (``costs.borrow_file``: date,ticker,borrow_bps):
    the latest row on or before a session applies (last value carried forward); before a
    ticker's first row, and for tickers not in the table, ``bps``.

    ``rows`` holds (date, ticker, bps) sorted by ticker then date; ``source`` names the file.
    """

    bps: float = 50.0
    rows: tuple[tuple[pd.Timestamp, str, float], ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        _bps(self.bps, "borrow_bps")

    def rates(self, tickers, sessions):
        out = np.full((len(sessions), len(tickers)), self.bps / 1e4)
        days = sessions.asi8
        for j, ticker in enumerate(tickers):
            mine = [(d, v) for d, t, v in self.rows if t == ticker]
            if not mine:
                continue
            when = np.array([pd.Timestamp(d).as_unit("ns").value for d, _ in mine])
            values = np.array([v for _, v in mine]) / 1e4
            k = np.searchsorted(when, days, side="right") - 1
            out[k >= 0, j] = values[k[k >= 0]]
        return out


@dataclass(frozen=True)
class Costs:
    """The cost models of a run and how shares are formed.

    ``rounding``: "none" (fractional shares, the baseline) or "whole" (toward zero; the cash
    not invested stays cash, reported per book). ``max_participation``: at entry, |shares| at
    most this fraction of ADV (over the impact model's lookback, else ``adv_lookback``
    sessions); ``on_cap``:
    "fail" the run naming the fill, or "scale" the order down to the cap (reported). Exits are
    never capped.
    """

    commission: CommissionModel = field(default_factory=FlatCommission)
    slippage: SlippageModel = field(default_factory=FlatSlippage)
    borrow: BorrowModel = field(default_factory=FlatBorrow)
    rounding: str = "none"
    max_participation: float | None = None
    on_cap: str = "fail"
    adv_lookback: int = 20  # sessions of ADV for the participation cap (impact: its own)

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING:
            raise PolicyError(f"costs.rounding must be 'none' or 'whole', got {self.rounding!r}")
        if self.on_cap not in ON_CAP:
            raise PolicyError(f"costs.on_cap must be 'fail' or 'scale', got {self.on_cap!r}")
        if self.max_participation is not None and not 0 < self.max_participation <= 1:
            raise PolicyError(
                f"costs.max_participation must be a fraction of ADV in (0, 1], got "
                f"{self.max_participation:g}"
            )

    @property
    def history(self) -> int:
        """Sessions of volume and returns a book's names need at its decision close (0: none)."""
        lookback = int(getattr(self.slippage, "lookback", 0) or 0)
        if self.max_participation is not None:
            lookback = lookback or self.adv_lookback
        return lookback


def trailing_sigma_adv(close: np.ndarray, volume: np.ndarray, lookback: int):
    """Daily return std (ddof=1) and mean volume of each column over the last ``lookback``
    sessions of the arrays given (cut at the decision close); NaN where any is missing."""
    r = close[-lookback:] / close[-lookback - 1 : -1] - 1.0 if len(close) > lookback else None
    if r is None:
        nan = np.full(close.shape[1], math.nan)
        return nan, nan.copy()
    ok = np.isfinite(r).all(axis=0)
    sigma = np.where(ok, np.std(np.where(np.isfinite(r), r, 0.0), axis=0, ddof=1), math.nan)
    vol = volume[-lookback:]
    adv = np.where(ok & np.isfinite(vol).all(axis=0), vol.mean(axis=0), math.nan)
    return sigma, adv
