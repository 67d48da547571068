"""The rules every source's daily bars obey, checked on arrays: one place for all of them.

Sources (:mod:`data.prices` for CSV files, :mod:`data.yahoo`, :mod:`data.price_cache`) call
:func:`validate_bars`; messages name the ticker, the source and, when the caller knows it, the
line of each row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from data.errors import DataError, where

PRICE_FIELDS = ("open", "high", "low", "close", "volume")

OhlcCheck = Literal["error", "warn"]
OHLC_CHECKS: tuple[OhlcCheck, ...] = ("error", "warn")
# Open and close may pass high or low by this fraction of the price: a billionth, about 4.5
# million times the rounding of one float operation (2.2e-16, what the shared data's own
# adjustment leaves: 24 bars at 1 or 2 ulp), and never a real price (a 1e-7 dollar tick on a
# $100 stock). Our adj_close rescaling multiplies open, high, low and close by one factor, and
# rounding is monotonic, so it never reorders them.
OHLC_TOLERANCE = 1e-9
Warn = Callable[[str], None]


def warn_on_stderr(message: str) -> None:
    """The default warning sink: one line on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def plain_number(value: float) -> str:
    """A price as Python prints a float (never numpy's ``np.float64(...)``)."""
    return repr(float(value))


def rescale_to_adj_close(data: dict[str, np.ndarray], adj: np.ndarray) -> dict[str, np.ndarray]:
    """Open, high, low and close times adj_close/close (volume unchanged).

    Yahoo exports split-adjusted OHLC plus a dividend-adjusted close: rescale OHLC by the same
    factor so opens and closes are on one total-return basis (as backtrader's adjclose=True
    does). Mixing them would misprice every fill at the open.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = adj / data["close"]
        scaled = {name: data[name] * factor for name in ("open", "high", "low", "close")}
    return {**data, **scaled}


def bars_frame(index: pd.DatetimeIndex, data: dict[str, np.ndarray]) -> pd.DataFrame:
    """The ``bars`` frame: float columns PRICE_FIELDS in that order, in one block (one copy;
    building it column by column costs twenty times more)."""
    block = np.vstack([np.asarray(data[name], dtype=float) for name in PRICE_FIELDS]).T
    return pd.DataFrame(block, index=index, columns=list(PRICE_FIELDS), copy=False)


def validate_bars(
    frame: pd.DataFrame,
    ticker: str,
    source: str,
    lines: list[int] | None = None,
    ohlc_check: OhlcCheck | None = None,
    warn: Warn | None = None,
) -> None:
    """Check ascending unique dates, finite positive prices, non-negative volume, high >= low,
    and with ``ohlc_check`` open and close inside [low, high] (within :data:`OHLC_TOLERANCE`).

    ``lines`` maps each row to its line in the source file (for messages); without it rows are
    named by date only. ``ohlc_check``: None skips that check, "error" raises, "warn" keeps the
    bars and calls ``warn`` (default: one line on stderr) once for the source, naming the
    first such bar and the count of the others.
    """
    columns = {name: frame[name].to_numpy() for name in PRICE_FIELDS}
    check_bars(frame.index, columns, ticker, source, lines, ohlc_check, warn)


def check_bars(
    index: pd.DatetimeIndex,
    columns: dict[str, np.ndarray],
    ticker: str,
    source: str,
    lines: list[int] | None = None,
    ohlc_check: OhlcCheck | None = None,
    warn: Warn | None = None,
) -> None:
    """validate_bars on the columns as arrays."""

    def at(k: int, column: str | None = None) -> str:
        line = lines[k] if lines is not None else None
        return f"{ticker}: {where(source, line, column)}"

    if len(index) == 0:
        raise DataError(f"{ticker}: {source} has no bars")
    stamps = index.asi8  # compared, not subtracted: 1678 to 2261 overflows int64 nanoseconds
    later, earlier = stamps[1:], stamps[:-1]
    if (later <= earlier).any():
        k = int(np.flatnonzero(later <= earlier)[0]) + 1
        day = index[k].date()
        if stamps[k] == stamps[k - 1]:
            also = f" (also at line {lines[k - 1]})" if lines is not None else ""
            raise DataError(f"{at(k)}: date {day} appears twice{also}")
        raise DataError(
            f"{at(k)}: date {day} comes after {index[k - 1].date()}; rows must be in ascending "
            "date order"
        )
    for name in ("open", "high", "low", "close"):
        values = columns[name]
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            k = bad[0]
            raise DataError(
                f"{at(k, name)}: price {plain_number(values[k])} on {index[k].date()} must be a "
                "positive number"
            )
    volume = columns["volume"]
    bad = np.flatnonzero(~(np.isfinite(volume) & (volume >= 0)))
    if bad.size:
        k = bad[0]
        raise DataError(
            f"{at(k, 'volume')}: volume {plain_number(volume[k])} on {index[k].date()} is negative"
        )
    high, low = columns["high"], columns["low"]
    bad = np.flatnonzero(high < low)
    if bad.size:
        k = bad[0]
        raise DataError(
            f"{at(k)}: high {plain_number(high[k])} is below low {plain_number(low[k])} on "
            f"{index[k].date()}"
        )
    if ohlc_check is not None:
        _check_open_close(index, columns, at, ohlc_check, warn)


def _check_open_close(
    index: pd.DatetimeIndex,
    columns: dict[str, np.ndarray],
    at: Callable[..., str],
    mode: OhlcCheck,
    warn: Warn | None,
) -> None:
    """Open and close inside [low, high] (see :data:`OHLC_TOLERANCE`)."""
    high = columns["high"] * (1 + OHLC_TOLERANCE)
    low = columns["low"] * (1 - OHLC_TOLERANCE)
    tests = []
    for name in ("open", "close"):
        values = columns[name]
        tests += [
            (name, values, values > high, "above high"),
            (name, values, values < low, "below low"),
        ]
    bad = np.zeros(len(index), dtype=bool)
    for *_, outside, _ in tests:
        bad |= outside
    rows = np.flatnonzero(bad)
    if not rows.size:
        return
    k = rows[0]
    name, values, _, side = next(t for t in tests if t[2][k])
    bound = columns["high" if side == "above high" else "low"][k]
    others = rows.size - 1
    more = (
        f" (and {others} more bar{'s' if others > 1 else ''} with open or close outside high-low)"
        if others
        else ""
    )
    what = (
        f"{at(k, name)}: {name} {plain_number(values[k])} is {side} {plain_number(bound)} on "
        f"{index[k].date()}{more}"
    )
    if mode == "error":
        raise DataError(
            f'{what}; fix the row, or set data.ohlc_check = "warn" to load such bars as they are'
        )
    (warn or warn_on_stderr)(f'{what}; kept as is (data.ohlc_check = "warn")')
