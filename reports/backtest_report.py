"""The files of a backtest run folder (see README, "Output files").

A ruined run (``facts["ruined_on"]``: equity <= 0 at a close) gets no quantstats tear sheet:
its returns are those of an equity that reached zero or below, and every statistic of them is
meaningless. ``tearsheet.html`` is then a short offline page that says so and points to the
run page and the files (so links to it still work).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from reports.html_page import esc, link, write_page
from reports.metrics import metrics_document
from reports.run_folder import write_csv, write_json, write_run_folder
from reports.run_index import EQUITY_PNG, money, run_index_files
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
    }
    if tearsheet and facts.get("ruined_on"):
        files[TEARSHEET] = lambda p: write_ruin_tearsheet(p, title, facts)
    elif tearsheet:
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
    return (
        write_run_folder(destination, files, kind="backtest", manifest=manifest, concurrent=PLOTS),
        metrics,
    )


def write_ruin_tearsheet(path: Path, title: str, facts: dict[str, Any]) -> None:
    """The page written as ``tearsheet.html`` for a ruined run, instead of quantstats'."""
    day = esc(facts["ruined_on"])
    body = (
        f'<p class="warn"><strong>No tear sheet: this run was ruined on {day}</strong> '
        f"(equity {esc(money(facts.get('equity_at_ruin')))} at that close).</p>"
        "<p>Equity reached zero or below, so the account could no longer be sized or "
        "margined and the run ended at that close: no fill after it, equity held at that value "
        "to the last session. Returns of an equity that reaches zero or below are not "
        "meaningful (a return of -100% or worse, then nothing), so the quantstats tear sheet "
        "was not computed and every return-based metric of the run is undefined.</p>"
        f"<p>See {link('index.html', 'the run page')} (books, events, the equity curve up to "
        f"the ruin), {link('equity.csv', 'equity.csv')}, {link('trades.csv', 'trades.csv')} "
        f"and {link('metrics.json', 'metrics.json')}.</p>"
    )
    write_page(path, f"{title}: ruined on {facts['ruined_on']}", body)
