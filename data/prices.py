"""Daily price histories: the type every source produces, CSV parsing and validation.

A :class:`PriceHistory` holds one ticker's daily bars, already validated: ascending unique dates
inside :data:`data.dates.SUPPORTED`, finite positive prices, ``high >= low`` and, for CSV files,
open and close inside ``[low, high]`` (``data.ohlc_check``). Sources (:mod:`data.csv_source`,
:mod:`data.yahoo`) produce them; :mod:`data.market` aligns them to the run's sessions.

A price file is read twice at most: Arrow's C reader first (:func:`read_bars_fast`), and only
when it declines or the bars break a rule, the row-by-row parser (:func:`parse_price_csv`),
which finds the first problem and names its line and column.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from data.arrow_prices import arrow_columns
from data.bars import (
    PRICE_FIELDS,
    OhlcCheck,
    Warn,
    bars_frame,
    check_bars,
    plain_number,
    rescale_to_adj_close,
)
from data.bars import validate_bars as validate_bars  # re-exported: sources import it here
from data.dates import SUPPORTED, in_range, out_of_range
from data.errors import DataError, where
from data.textfiles import CELL_LIMIT, csv_rows, decode_text, read_input

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


def _outside(ticker: str, path: str, line: int, cell: str) -> DataError:
    return DataError(
        f"{ticker}: {where(path, line, 'date')}: {cell!r} is outside {SUPPORTED}; fix the date"
    )


def _parse_dates(raw: list[str], ticker: str, path: str, lines: list[int]) -> pd.DatetimeIndex:
    if _PLAIN_DATES.fullmatch(",".join(raw)):  # fast path: every cell is a plain YYYY-MM-DD
        try:
            days = np.array(raw, dtype="datetime64[D]")
        except ValueError:
            pass
        else:
            far = out_of_range(days)
            if far.size:
                raise _outside(ticker, path, lines[far[0]], raw[far[0]])
            return pd.DatetimeIndex(days.astype("datetime64[ns]"), name="date")
    parsed = pd.to_datetime(pd.Series(raw, dtype=object), format="%Y-%m-%d", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    values = list(parsed)
    for k in bad:
        values[k] = _parse_one_date(raw[k], ticker, path, lines[k])
    return pd.DatetimeIndex(values, name="date").as_unit("ns")


def _parse_one_date(cell: str, ticker: str, path: str, line: int) -> pd.Timestamp:
    """Slow path for the odd cell: an ISO datetime such as "2024-01-02 00:00:00-05:00".

    Midnight with an offset (any offset) is a date label: the date written. Another time of
    day with an offset is the New York date of that instant.
    """
    text = cell.strip()
    not_a_date = DataError(
        f"{ticker}: {where(path, line, 'date')}: {cell!r} is not a date (expected YYYY-MM-DD)"
    )
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        raise not_a_date
    try:
        written = date.fromisoformat(text[:10])
    except ValueError:
        raise not_a_date from None
    if not in_range(written):
        raise _outside(ticker, path, line, cell)
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise not_a_date from None
    if pd.isna(stamp):
        raise not_a_date
    if stamp.tzinfo is not None:
        if stamp == stamp.normalize():
            stamp = stamp.tz_localize(None)
        else:
            stamp = stamp.tz_convert("America/New_York").tz_localize(None)
    return stamp.normalize()


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


def parse_price_csv(
    text: str,
    ticker: str,
    path: str,
    ohlc_check: OhlcCheck = "error",
    warn: Warn | None = None,
) -> pd.DataFrame:
    """Parse and validate CSV text of daily bars, row by row; return the ``bars`` frame of a
    PriceHistory.

    Raises :class:`DataError` naming ticker, file, line and column for the first problem found.
    ``ohlc_check`` and ``warn``: see :func:`validate_bars`.
    """
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, row in csv_rows(text, f"{ticker}: {path}"):
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
        # The factor adj/close is only meaningful for positive closes: name the cell at fault
        # (else a zero adj_close would surface as a zero open).
        for name, values in (("close", data["close"]), ("adj_close", adj)):
            bad = np.flatnonzero(~(values > 0))
            if bad.size:
                k = bad[0]
                raise DataError(
                    f"{ticker}: {where(path, lines[k], name)}: price {plain_number(values[k])} on "
                    f"{dates[k].date()} must be a positive number"
                )
        data = rescale_to_adj_close(data, adj)

    check_bars(dates, data, ticker, path, lines, ohlc_check=ohlc_check, warn=warn)
    return bars_frame(dates, data)


def read_bars_fast(raw: bytes) -> pd.DataFrame | None:
    """The bars of a well-formed price file, read by Arrow's C reader; None when anything is
    off (the caller then runs :func:`parse_price_csv`, which names the line and column).

    ``raw`` is the file's bytes. The result is exactly what :func:`parse_price_csv` returns for
    the file, and only returned when every rule of :func:`validate_bars` holds
    (``data.ohlc_check`` included), so it never needs a message. The bytes need no separate
    UTF-8 check: every cell Arrow reads is parsed as a date or a number, and a file with other
    columns is decoded first.
    """
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    end = body.find(b"\n")
    first = body[:end]
    if end < 0 or b'"' in first or not first.strip():
        return None  # a quoted, blank or lone header: the row-by-row parser reads it
    try:
        names = first.decode("utf-8").rstrip("\r").split(",")
    except UnicodeDecodeError:
        return None
    header = [_normalise_header(c) for c in names]
    if len(set(header)) < len(header) or any(c not in header for c in REQUIRED_COLUMNS):
        return None
    if _has_long_line(body, CELL_LIMIT):
        return None  # a line (so maybe a cell) over the csv module's limit: located error
    kinds = {"date": "date", **dict.fromkeys(PRICE_FIELDS, "number")}
    if "adj_close" in header:
        kinds["adj_close"] = "number"
    if len(kinds) < len(header):  # cells Arrow skips: they must still be UTF-8
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    columns = arrow_columns(body, header, kinds)
    if columns is None:
        return None
    dates = columns["date"].values
    if len(dates) == 0 or columns["date"].empty or out_of_range(dates).size:
        return None
    # An empty or non-finite price or volume is NaN or inf here: validate_bars refuses it.
    data = {name: columns[name].values for name in PRICE_FIELDS}
    adj = columns.get("adj_close")
    if adj is not None and adj.empty < len(dates):
        if adj.empty or not np.isfinite(adj.values).all():
            return None
        if not ((data["close"] > 0).all() and (adj.values > 0).all()):
            return None
        data = rescale_to_adj_close(data, adj.values)
    index = pd.DatetimeIndex(dates.astype("datetime64[ns]"), name="date")
    try:
        check_bars(index, data, "", "", ohlc_check="error")
    except DataError:
        return None
    return bars_frame(index, data)


def _has_long_line(raw: bytes, limit: int) -> bool:
    """Whether a line holds more than ``limit`` bytes (so maybe a cell over the csv limit).

    A run of more than ``limit`` bytes without a newline covers a multiple of ``limit``, so
    looking around those few positions is enough (microseconds, not a pass over the file).
    """
    for at in range(limit, len(raw), limit):
        start = raw.rfind(b"\n", 0, at) + 1
        end = raw.find(b"\n", at)
        if (len(raw) if end < 0 else end) - start > limit:
            return True
    return False


def read_price_csv(
    path: Path, ticker: str, ohlc_check: OhlcCheck = "error", warn: Warn | None = None
) -> PriceHistory:
    """Read one ticker's CSV file (shared format or Yahoo export) into a PriceHistory."""
    raw = read_input(path, f"{ticker}: price file")
    bars = read_bars_fast(raw)
    if bars is None:
        text = decode_text(raw, f"{ticker}: {path}")
        bars = parse_price_csv(text, ticker, str(path), ohlc_check, warn)
    return PriceHistory(ticker, bars, str(path), hashlib.sha256(raw).hexdigest())
