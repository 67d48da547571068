"""Price source ``csv``: a folder with one ``<TICKER>.csv`` file per ticker."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from data.errors import DataError
from data.prices import PriceHistory, read_price_csv, validate_ticker


class CsvPriceSource:
    """Reads ``<TICKER>.csv`` files from ``directory`` (shared format or Yahoo export).

    Index tickers may be stored with or without their ``^`` (``^SOX.csv`` or ``SOX.csv``).
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return f"CSV files in {self.directory}"

    def _available(self) -> dict[str, Path]:
        return {p.stem.upper(): p for p in sorted(self.directory.glob("*.csv")) if p.is_file()}

    def load(
        self,
        tickers: Iterable[str],
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> dict[str, PriceHistory]:
        """Load every ticker; raise a DataError naming the first one that is missing or bad.

        Whole files are read and validated whatever ``start``/``end`` (kept for the common
        source interface): a bad row outside the run is still a bad file.
        """
        if not self.directory.is_dir():
            what = "is not a folder" if self.directory.exists() else "does not exist"
            raise DataError(
                f"data directory {self.directory} {what}; pass --data-dir pointing at a folder of "
                "<TICKER>.csv files"
            )
        available = self._available()
        histories: dict[str, PriceHistory] = {}
        for ticker in tickers:
            symbol = validate_ticker(ticker)
            path = available.get(symbol) or available.get(symbol.lstrip("^"))
            if path is None:
                listed = ", ".join(sorted(available)[:40]) or "none"
                raise DataError(
                    f"unknown ticker {symbol}: no {symbol.lstrip('^')}.csv in {self.directory} "
                    f"(CSV files there: {listed}); add the file or remove the ticker from the "
                    "universe"
                )
            histories[symbol] = read_price_csv(path, symbol)
        return histories
