"""The files of a backtest run folder (see README, "Output files")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from reports.metrics import metrics_document
from reports.run_folder import write_csv, write_json, write_run_folder
from reports.run_index import EQUITY_PNG, run_index_files
from reports.tearsheet import write_tearsheet

TRADE_COLUMNS = ["date", "ticker", "side", "shares", "price", "commission"]
TEARSHEET = "tearsheet.html"
PLOTS = (EQUITY_PNG,)


def write_backtest_report(
    destination: Path,
    *,
    returns: pd.Series,
    benchmark: pd.Series,
    equity: pd.DataFrame,
    fills: pd.DataFrame,
    event_log: pd.DataFrame,
    books: pd.DataFrame,
    facts: dict[str, Any],
    manifest: dict[str, Any],
    title: str,
    parameters: dict[str, str],
    tearsheet: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Write the run folder; return its path and the metrics document.

    Needs: daily ``returns`` and ``benchmark`` returns on the same sessions, ``equity`` indexed by
    session (equity, cash, long_value, short_value, gross_exposure), ``fills`` (date, ticker,
    side, shares, price, commission), the ``event_log`` and ``books`` tables, run ``facts`` and
    the ``manifest``.
    """
    if not returns.index.equals(benchmark.index):
        raise ValueError("returns and benchmark must share their sessions")
    metrics = metrics_document(returns, benchmark, facts)
    files = {
        "metrics.json": lambda p: write_json(p, metrics),
        "equity.csv": lambda p: write_csv(p, equity, index=True),
        "trades.csv": lambda p: write_csv(p, fills[TRADE_COLUMNS]),
        "events.csv": lambda p: write_csv(p, event_log),
        "books.csv": lambda p: write_csv(p, books),
        "manifest.json": lambda p: write_json(p, manifest),
    }
    if tearsheet:
        files[TEARSHEET] = lambda p: write_tearsheet(p, returns, benchmark, title, parameters)
    files.update(  # index.html (the page to open first) and its equity picture
        run_index_files(
            equity=equity,
            benchmark=benchmark,
            event_log=event_log,
            books=books,
            metrics=metrics,
            manifest=manifest,
            title=title,
            parameters=parameters,
            tearsheet=tearsheet,
        )
    )
    # The run page's plot is drawn by a forked worker while this process writes the tables and
    # the tear sheet (which draws its own charts with workers).
    return write_run_folder(destination, files, concurrent=PLOTS), metrics
