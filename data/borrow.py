"""Borrow rates by date and ticker: a CSV of ``date,ticker,borrow_bps`` (``costs.borrow_file``).

The latest row on or before a session applies to that ticker (last value carried forward);
before a ticker's first row, and for tickers not in the file, the flat ``costs.borrow_bps``.
Every row is validated; the first problem is reported with file, line and column.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from data.errors import DataError, where
from data.prices import validate_ticker
from data.textfiles import csv_rows, decode_text, read_input

COLUMNS = ("date", "ticker", "borrow_bps")


@dataclass(frozen=True)
class BorrowTable:
    """Rows (date, ticker, bps) sorted by ticker then date, and the file they came from."""

    rows: tuple[tuple[pd.Timestamp, str, float], ...]
    path: str
    sha256: str


def load_borrow_table(path: Path | str) -> BorrowTable:
    raw = read_input(path, "borrow file", hint="; check costs.borrow_file")
    text = decode_text(raw, path)
    header: list[str] | None = None
    rows: list[tuple[pd.Timestamp, str, float]] = []
    seen: dict[tuple[str, pd.Timestamp], int] = {}
    for line, cells in csv_rows(text):
        if header is None:
            header = [c.strip().lower() for c in cells]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"{path}: missing column {', '.join(map(repr, missing))} (found "
                    f"{', '.join(header)}); a borrow file has date,ticker,borrow_bps"
                )
            continue
        if len(cells) != len(header):
            raise DataError(f"{where(path, line)}: {len(cells)} fields, header has {len(header)}")
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        try:
            day = pd.Timestamp(date.fromisoformat(row["date"]))
        except ValueError:
            raise DataError(
                f"{where(path, line, 'date')}: {row['date']!r} is not a date (YYYY-MM-DD)"
            ) from None
        try:
            ticker = validate_ticker(row["ticker"])
        except DataError as exc:
            raise DataError(f"{where(path, line, 'ticker')}: {exc}") from None
        try:
            bps = float(row["borrow_bps"])
        except ValueError:
            bps = math.nan
        if not (math.isfinite(bps) and 0 <= bps < 10_000):
            raise DataError(
                f"{where(path, line, 'borrow_bps')}: {row['borrow_bps']!r} is not a rate in bp "
                "(0 to 10000)"
            )
        key = (ticker, day)
        if key in seen:
            raise DataError(
                f"{where(path, line)}: {ticker} on {day.date()} already given at line {seen[key]}"
            )
        seen[key] = line
        rows.append((day, ticker, bps))
    if header is None:
        raise DataError(f"{path} is empty; expected a header date,ticker,borrow_bps")
    rows.sort(key=lambda r: (r[1], r[0]))
    return BorrowTable(tuple(rows), str(path), hashlib.sha256(raw).hexdigest())
