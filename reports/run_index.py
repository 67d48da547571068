"""``index.html`` of a run folder: the page to open first.

It links the quantstats tear sheet (when written) and the data files, and shows the headline
metrics (a ruined run: a banner with its ruin close instead), the equity picture
(``equity_events.png``, drawn by :mod:`reports.run_plot`), the
event log (headline, entry session, what the book did, its P&L), the books, the run's
parameters and its data provenance (inputs with sha256, versions) from the manifest.

Offline from the file system: no script, no CDN; every piece of data is escaped
(:mod:`reports.html_page`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from reports.formatting import money, num, pct
from reports.html_page import esc, image, link, table, write_page
from reports.run_plot import drawdown as drawdown  # re-exported: reports.compare uses it
from reports.run_plot import plot_equity_events

INDEX = "index.html"
EQUITY_PNG = "equity_events.png"
DATA_FILES = (
    ("metrics.json", "metrics"),
    ("equity.csv", "equity by session"),
    ("trades.csv", "fills"),
    ("events.csv", "event log"),
    ("books.csv", "books"),
    ("manifest.json", "manifest"),
)
HEADLINE_METRICS = (
    ("Total return", "total_return", "pct"),
    ("CAGR", "cagr", "pct"),
    ("Sharpe", "sharpe", "num"),
    ("Sortino", "sortino", "num"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Volatility", "volatility", "pct"),
)


def run_index_files(
    *,
    equity: pd.DataFrame,
    benchmark: pd.Series,
    event_log: pd.DataFrame,
    books: pd.DataFrame,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    title: str,
    parameters: dict[str, str],
    tearsheet: bool,
) -> dict[str, Callable[[Path], None]]:
    """The writers of ``equity_events.png`` and ``index.html``, for the run folder's ``files``."""
    return {
        EQUITY_PNG: lambda p: plot_equity_events(p, equity, benchmark, event_log, books),
        INDEX: lambda p: write_page(
            p,
            title,
            index_body(
                event_log=event_log,
                books=books,
                metrics=metrics,
                manifest=manifest,
                parameters=parameters,
                tearsheet=tearsheet,
            ),
        ),
    }


# -- helpers -------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _text(value: Any) -> str:
    """A cell of a CSV-read or in-memory table: '' for missing values."""
    if _missing(value) or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _day(value: Any) -> str:
    return _text(value)[:10]


def in_run(event_log: pd.DataFrame, first: str, last: str) -> pd.Series:
    """Events whose entry session (else, with none, the day they became known) is in the run."""
    day = event_log["entry_session"].map(_day)
    day = day.where(day != "", event_log["known_at"].map(_day))
    return (day >= first) & (day <= last)


# -- the page ------------------------------------------------------------------------------------


def index_body(
    *,
    event_log: pd.DataFrame,
    books: pd.DataFrame,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    parameters: dict[str, str],
    tearsheet: bool,
) -> str:
    facts = metrics.get("facts", {})
    first, last = facts.get("first_session", ""), facts.get("last_session", "")
    ruin = metrics.get("ruin", {})
    parts = [
        _ruin_banner(ruin),
        '<p class="warn">In-sample: the event list and the baskets were chosen with hindsight. '
        "Read these results as a description of these episodes, not as evidence of an edge.</p>",
        _links(tearsheet, bool(ruin.get("ruined"))),
        "<h2>Summary</h2>",
        _summary(metrics),
        "<h2>Equity and events</h2>",
        image(
            EQUITY_PNG,
            "Strategy equity on its own axis with the benchmark on the right axis, the entry "
            "session of each event marked, the drawdown, and zoom panels around the events",
        ),
        '<p class="note">The strategy has the left axis; the benchmark (the growth of the same '
        "starting cash) the right one. Shaded: sessions a book was held. Markers sit on the "
        "close of the event's entry session (the book trades at its open). The bottom panels "
        "zoom on the sessions around the events: at most three, one per cluster of entries "
        "(clusters are cut at the largest gaps between entries), from 10 sessions before a "
        "cluster's first entry to 10 after its last.</p>",
        "<h2>Event log</h2>",
        _events(event_log, first, last),
        "<h2>Books</h2>",
        _books(books),
        "<h2>Parameters</h2>",
        table(["parameter", "value"], parameters.items()),
        _config(manifest.get("config", {})),
        "<h2>Data provenance</h2>",
        _provenance(manifest),
    ]
    return "\n".join(parts)


RUIN_STYLE = "background:#fde8e8;border-left:6px solid #c0392b;padding:0.6em 1em;font-size:1.05em"


def _ruin_banner(ruin: dict[str, Any]) -> str:
    """The banner of a ruined run ('' otherwise)."""
    if not ruin.get("ruined"):
        return ""
    return (
        f'<p class="ruin" style="{RUIN_STYLE}"><strong>RUINED on {esc(ruin["ruined_on"])}'
        f"</strong>: equity {esc(money(ruin.get('equity_at_ruin')))} at that close (lowest "
        f"equity {esc(money(ruin.get('min_equity')))}). Equity reached zero or below, so the "
        "run ended at that close: no fill after it, equity held at that value to the last "
        "session. Every return-based metric is undefined, and no quantstats tear sheet was "
        "computed.</p>"
    )


def _links(tearsheet: bool, ruined: bool = False) -> str:
    items = []
    if tearsheet and ruined:
        items.append(
            f"<li>{link('tearsheet.html', 'tearsheet.html')}: no quantstats tear sheet (the run "
            "was ruined; the page says why)</li>"
        )
    elif tearsheet:
        items.append(
            f"<li><strong>{link('tearsheet.html', 'quantstats tear sheet')}</strong>"
            " (full report against the benchmark)</li>"
        )
    else:
        items.append("<li>no tear sheet in this folder (run without --no-tearsheet)</li>")
    items += [f"<li>{link(name, name)}: {esc(what)}</li>" for name, what in DATA_FILES]
    return f"<ul>{''.join(items)}</ul>"


def _summary(metrics: dict[str, Any]) -> str:
    strategy, bench = metrics.get("strategy", {}), metrics.get("benchmark", {})
    ticker = bench.get("ticker", "benchmark")
    fmt = {"pct": pct, "num": num}
    ruin = metrics.get("ruin", {})
    rows = [
        (
            label,
            "undefined (ruined)" if ruin.get("ruined") else fmt[kind](strategy.get(key)),
            fmt[kind](bench.get(key)),
        )
        for label, key, kind in HEADLINE_METRICS
    ]
    facts = metrics.get("facts", {})
    costs = facts.get("costs", {})
    if ruin.get("ruined"):
        rows += [
            ("Ruined on", _text(ruin.get("ruined_on")), ""),
            ("Equity at the ruin close", money(ruin.get("equity_at_ruin")), ""),
        ]
    rows += [
        ("Period", f"{facts.get('first_session', '')} to {facts.get('last_session', '')}", ""),
        ("Books opened", _text(facts.get("books_opened")), ""),
        ("Sessions invested", f"{facts.get('days_invested')} of {facts.get('sessions')}", ""),
        ("Costs paid", money(costs.get("total")), ""),
        ("Final equity", money(facts.get("final_equity")), ""),
    ]
    return table(["", "Strategy", ticker], rows, numeric={1, 2})


def _events(event_log: pd.DataFrame, first: str, last: str) -> str:
    if event_log.empty:
        return "<p>No events in the events file.</p>"
    inside = in_run(event_log, first, last) if first and last else event_log["action"].notna()
    shown = event_log[inside]
    extra = [c for c in ("sources",) if c in event_log.columns]
    headers = [
        "known at",
        "entry session",
        "category",
        "dir.",
        "headline",
        "what it did",
        "book",
        "book P&L",
        "book return",
        *extra,
    ]
    rows = []
    for _, e in shown.iterrows():
        book = _text(e["book_id"])
        if book:
            span = f"{_text(e['book_entry'])} to {_text(e['book_exit']) or 'open'}"
            book = f"#{book}: {span} ({_text(e['book_status'])})"
        direction = _text(e["direction"])
        rows.append(
            [
                _text(e["known_at"]),
                _text(e["entry_session"]),
                _text(e["category"]),
                f"+{direction}" if direction and not direction.startswith("-") else direction,
                _text(e["headline"]),
                f"{_text(e['action'])}: {_text(e['reason'])}",
                book,
                money(e["book_pnl"], signed=True) if book else "",
                pct(e["book_return"], signed=True) if book else "",
                *(_text(e[c]) for c in extra),
            ]
        )
    outside = len(event_log) - len(shown)
    note = (
        f'<p class="note">{outside} event(s) of the file fall outside the run ({esc(first)} to '
        f"{esc(last)}) and are not shown; {link('events.csv', 'events.csv')} lists all "
        f"{len(event_log)}. A book's P&amp;L is repeated on each event that touched it.</p>"
    )
    if not rows:
        return "<p>No event of the file falls in the run.</p>" + note
    return table(headers, rows, numeric={7, 8}) + note


def _books(books: pd.DataFrame) -> str:
    if books.empty:
        return "<p>No book was opened.</p>"
    rows = [
        [
            _text(b["book_id"]),
            _text(b["entry"]),
            _text(b["exit"]) or "open",
            _text(b["status"]),
            _text(b["sessions_held"]),
            _text(b["long"]),
            _text(b["short"]),
            money(b["pnl"], signed=True),
            pct(b["return"], signed=True),
        ]
        for _, b in books.iterrows()
    ]
    headers = ["book", "entry", "exit", "closed by", "sessions", "long", "short", "P&L", "return"]
    return table(headers, rows, numeric={4, 7, 8})


def _flatten(config: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, name + ".")
        else:
            rows.append((name, json.dumps(value) if not isinstance(value, str) else value))
    return rows


def _config(config: dict[str, Any]) -> str:
    if not config:
        return ""
    return "<h3>Resolved configuration</h3>" + table(["key", "value"], _flatten(config))


def _provenance(manifest: dict[str, Any]) -> str:
    sessions = manifest.get("sessions", {})
    command = " ".join(str(a) for a in manifest.get("command", []))
    rows = [
        ("command", f"capex-rotation {command}".strip()),
        (
            "sessions",
            f"{sessions.get('first', '')} to {sessions.get('last', '')} "
            f"({sessions.get('count', '')}, calendar {manifest.get('calendar', '')})",
        ),
        ("engine", manifest.get("engine", "")),
        ("python", manifest.get("python", "")),
    ]
    inputs = [(i.get("path", ""), i.get("sha256", "")) for i in manifest.get("inputs", [])]
    packages = [
        (name, version or "not installed") for name, version in manifest.get("packages", {}).items()
    ]
    return (
        table(["", ""], rows)
        + "<h3>Input files</h3>"
        + table(["path", "sha256"], inputs)
        + "<h3>Package versions</h3>"
        + table(["package", "version"], packages)
    )
