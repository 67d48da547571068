"""Price source ``csv``: a folder with one ``<TICKER>.csv`` file per ticker."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from data.bars import OHLC_CHECKS, OhlcCheck, Warn, warn_on_stderr
from data.errors import DataError
from data.prices import PriceHistory, read_price_csv, validate_ticker

_WORKERS = min(4, os.cpu_count() or 1)


class CsvPriceSource:
    """Reads ``<TICKER>.csv`` files from ``directory`` (shared format or Yahoo export).

    Index tickers may be stored with or without their ``^`` (``^SOX.csv`` or ``SOX.csv``; the
    file with the ``^`` wins). File names are matched without regard to case, so two files
    that differ only by case (``META.csv`` and ``meta.csv``) are refused as ambiguous.
    ``ohlc_check`` and ``warn``: how an open or close outside its bar's high-low is handled
    (see :func:`data.prices.validate_bars`).
    """

    def __init__(
        self, directory: Path | str, ohlc_check: OhlcCheck = "error", warn: Warn | None = None
    ) -> None:
        if ohlc_check not in OHLC_CHECKS:
            raise ValueError(f"ohlc_check must be one of {OHLC_CHECKS}, got {ohlc_check!r}")
        self.directory = Path(directory)
        self.ohlc_check: OhlcCheck = ohlc_check
        self.warn = warn

    def describe(self) -> str:
        return f"CSV files in {self.directory}"

    def _available(self) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        for path in sorted(self.directory.glob("*.csv")):
            if path.is_file():
                found.setdefault(path.stem.upper(), []).append(path)
        return found

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
        found: list[tuple[str, Path | DataError]] = []
        for ticker in tickers:
            symbol = validate_ticker(ticker)
            paths = available.get(symbol) or available.get(symbol.lstrip("^"))
            found.append((symbol, self._one_file(symbol, paths, available)))
        # Arrow parses without the GIL: a few threads read files side by side. Results,
        # errors and warnings are taken in ticker order, so the output does not depend on it.
        pool = ThreadPoolExecutor(max_workers=_WORKERS)
        try:
            reads = {
                symbol: pool.submit(_read, where, symbol, self.ohlc_check)
                for symbol, where in found
                if isinstance(where, Path)
            }
            histories: dict[str, PriceHistory] = {}
            for symbol, where in found:
                if isinstance(where, DataError):
                    raise where
                history, warnings = reads[symbol].result()
                for message in warnings:
                    (self.warn or warn_on_stderr)(message)
                histories[symbol] = history
        finally:  # after an error or a Ctrl-C, the files not started yet are not read
            pool.shutdown(wait=True, cancel_futures=True)
        return histories

    def _one_file(
        self, symbol: str, paths: list[Path] | None, available: dict[str, list[Path]]
    ) -> Path | DataError:
        """The file of ``symbol``, or the error that says why there is none or several."""
        if not paths:
            listed = ", ".join(sorted(available)[:40]) or "none"
            return DataError(
                f"unknown ticker {symbol}: no {symbol.lstrip('^')}.csv in {self.directory} "
                f"(CSV files there: {listed}); add the file or remove the ticker from the "
                "universe"
            )
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths[:-1]) + f" and {paths[-1].name}"
            count = "two" if len(paths) == 2 else str(len(paths))
            return DataError(
                f"ticker {symbol} has {count} files in {self.directory}: {names}; keep one of them"
            )
        return paths[0]


def _read(path: Path, symbol: str, ohlc_check: OhlcCheck) -> tuple[PriceHistory, list[str]]:
    """One file's history and the warnings it gave (kept, to be printed in order)."""
    warnings: list[str] = []
    return read_price_csv(path, symbol, ohlc_check, warnings.append), warnings
