"""Daily price histories: the type every source produces, CSV parsing and validation.

A :class:`PriceHistory` holds one ticker's daily bars, already validated: ascending unique dates,
finite positive prices, ``high >= low``. Sources (:mod:`data.csv_source`, :mod:`data.yahoo`)
produce them; :mod:`data.market` aligns them to the run's sessions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError, where
from data.textfiles import csv_rows, decode_text, read_input

PRICE_FIELDS = ("open", "high", "low", "close", "volume")
REQUIRED_COLUMNS = ("date", *PRICE_FIELDS)
ACCEPTED_FORMATS = (
    "date,open,high,low,close,adj_close,volume (adj_close may be empty) "
    "or Yahoo's Date,Open,High,Low,Close,Adj Close,Volume"
)
_PLAIN_DATES = re.compile(r"(?:\d{4}-\d{2}-\d{2},)*\d{4}-\d{2}-\d{2}")
_PLAIN_NUMBERS = re.compile(r"[0-9eE+\-. ,]*")  # ASCII decimals only: no '1_000', 'nan', 'inf'
_TICKER_RE = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]{0,14}$")


def validate_ticker(ticker: str) -> str:
    """Return ``ticker`` upper-cased, or raise if it cannot be a ticker symbol.

    Tickers become file names in caches and data folders, so only letters, digits, ``.``, ``-``,
    ``=`` and a leading ``^`` (indices) are allowed.
    """
    symbol = str(ticker).strip().upper()
    if not _TICKER_RE.match(symbol):
        raise DataError(
            f"{ticker!r} is not a ticker symbol (letters, digits, '.', '-', '=' and a leading "
            "'^' only, at most 15 characters)"
        )
    return symbol


@dataclass(frozen=True)
class PriceHistory:
    """One ticker's validated daily bars.

    ``bars`` has a tz-naive ``DatetimeIndex`` named ``date`` (midnight of each trading day) and
    float columns ``open, high, low, close, volume``. Prices are split- and dividend-adjusted
    (total-return basis) so that opens and closes can be mixed in one backtest.
    """

    ticker: str
    bars: pd.DataFrame
    source: str
    sha256: str

    @property
    def first_date(self) -> pd.Timestamp:
        return self.bars.index[0]

    @property
    def last_date(self) -> pd.Timestamp:
        return self.bars.index[-1]


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _parse_dates(raw: list[str], ticker: str, path: str, lines: list[int]) -> pd.DatetimeIndex:
    if _PLAIN_DATES.fullmatch(",".join(raw)):  # fast path: every cell is a plain YYYY-MM-DD
        try:
            days = np.array(raw, dtype="datetime64[D]")
            return pd.DatetimeIndex(days.astype("datetime64[ns]"), name="date")
        except ValueError:
            pass
    parsed = pd.to_datetime(pd.Series(raw, dtype=object), format="%Y-%m-%d", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    values = list(parsed)
    for k in bad:
        # Slow path for the odd row: ISO datetimes such as "2024-01-02 00:00:00-05:00".
        text = raw[k].strip()
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError):
            stamp = None
        if stamp is None or pd.isna(stamp) or not re.match(r"^\d{4}-\d{2}-\d{2}", text):
            raise DataError(
                f"{ticker}: {where(path, lines[k], 'date')}: {raw[k]!r} is not a date "
                "(expected YYYY-MM-DD)"
            )
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("America/New_York").tz_localize(None)
        values[k] = stamp.normalize()
    return pd.DatetimeIndex(values, name="date").as_unit("ns")


def _parse_numbers(
    raw: list[str], column: str, ticker: str, path: str, lines: list[int]
) -> np.ndarray:
    if _PLAIN_NUMBERS.fullmatch(",".join(raw)):  # fast path; the slow one finds the bad cell
        try:
            values = np.array(raw, dtype=float)
            if np.isfinite(values).all():
                return values
        except ValueError:
            pass
    values = pd.to_numeric(pd.Series(raw, dtype=object).str.strip(), errors="coerce").to_numpy(
        dtype=float
    )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = bad[0]
        raise DataError(
            f"{ticker}: {where(path, lines[k], column)}: {raw[k]!r} is not a number"
            + (f" ({bad.size} such rows)" if bad.size > 1 else "")
        )
    return values


def parse_price_csv(text: str, ticker: str, path: str) -> pd.DataFrame:
    """Parse and validate CSV text of daily bars; return the ``bars`` frame of a PriceHistory.

    Raises :class:`DataError` naming ticker, file, line and column for the first problem found.
    """
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, row in csv_rows(text):
        if header is None:
            header = [_normalise_header(c) for c in row]
            continue
        if len(row) != len(header):
            raise DataError(
                f"{ticker}: {where(path, line)}: {len(row)} fields, but the header has "
                f"{len(header)}"
            )
        rows.append(row)
        lines.append(line)
    if header is None:
        raise DataError(f"{ticker}: {path} is empty; expected a header {ACCEPTED_FORMATS}")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{ticker}: {path} has no column {', '.join(repr(m) for m in missing)} "
            f"(found {', '.join(header)}); expected {ACCEPTED_FORMATS}"
        )
    if not rows:
        raise DataError(f"{ticker}: {path} has a header but no rows")

    columns = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    dates = _parse_dates(columns["date"], ticker, path, lines)
    data = {name: _parse_numbers(columns[name], name, ticker, path, lines) for name in PRICE_FIELDS}

    adj_raw = columns.get("adj_close")
    if adj_raw is not None and any(cell.strip() for cell in adj_raw):
        empty = [k for k, cell in enumerate(adj_raw) if not cell.strip()]
        if empty:
            raise DataError(
                f"{ticker}: {where(path, lines[empty[0]], 'adj_close')}: empty, but other rows "
                "have an adjusted close; fill it or leave the whole column empty"
            )
        adj = _parse_numbers(adj_raw, "adj_close", ticker, path, lines)
        # Yahoo exports split-adjusted OHLC plus a dividend-adjusted close: rescale OHLC by the
        # same factor so opens and closes are on one total-return basis (as backtrader's
        # adjclose=True does). Mixing them would misprice every fill at the open.
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = adj / data["close"]
        for name in ("open", "high", "low", "close"):
            data[name] = data[name] * factor

    frame = pd.DataFrame(data, index=dates)
    validate_bars(frame, ticker, path, lines)
    return frame


def validate_bars(
    frame: pd.DataFrame, ticker: str, source: str, lines: list[int] | None = None
) -> None:
    """Check ascending unique dates, finite positive prices, non-negative volume, high >= low.

    ``lines`` maps each row to its line in the source file (for messages); without it rows are
    named by date only.
    """

    def at(k: int, column: str | None = None) -> str:
        line = lines[k] if lines is not None else None
        return f"{ticker}: {where(source, line, column)}"

    index = frame.index
    if len(index) == 0:
        raise DataError(f"{ticker}: {source} has no bars")
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        day = index[k].date()
        if steps[k - 1] == 0:
            also = f" (also at line {lines[k - 1]})" if lines is not None else ""
            raise DataError(f"{at(k)}: date {day} appears twice{also}")
        raise DataError(
            f"{at(k)}: date {day} comes after {index[k - 1].date()}; rows must be in ascending "
            "date order"
        )
    for name in ("open", "high", "low", "close"):
        values = frame[name].to_numpy()
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            k = bad[0]
            raise DataError(
                f"{at(k, name)}: price {values[k]!r} on {index[k].date()} must be a positive number"
            )
    volume = frame["volume"].to_numpy()
    bad = np.flatnonzero(~(np.isfinite(volume) & (volume >= 0)))
    if bad.size:
        k = bad[0]
        raise DataError(f"{at(k, 'volume')}: volume {volume[k]!r} on {index[k].date()} is negative")
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    bad = np.flatnonzero(high < low)
    if bad.size:
        k = bad[0]
        raise DataError(f"{at(k)}: high {high[k]} is below low {low[k]} on {index[k].date()}")


def read_price_csv(path: Path, ticker: str) -> PriceHistory:
    """Read one ticker's CSV file (shared format or Yahoo export) into a PriceHistory."""
    raw = read_input(path, f"{ticker}: price file")
    bars = parse_price_csv(decode_text(raw, f"{ticker}: {path}"), ticker, str(path))
    return PriceHistory(ticker, bars, str(path), hashlib.sha256(raw).hexdigest())
