"""Wire a Config to data, plan and engine; return everything a report needs as plain pandas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from backtests.prepare import Prepared, load_prices, prepare, price_source
from data.events import EventCalendar
from data.market import MarketData
from strategies.engines.backtrader_engine import run_backtrader
from strategies.plan import EventOutcome, Plan
from strategies.result import EngineResult

__all__ = ["RunResult", "book_table", "event_log", "load_prices", "price_source", "run_backtest"]

Progress = Callable[[str], None]

EVENT_LOG_COLUMNS = (
    "event_id",
    "known_at",
    "entry_session",
    "category",
    "direction",
    "headline",
    "action",
    "reason",
    "book_id",
    "book_entry",
    "book_exit",
    "book_status",
    "book_pnl",
    "book_return",
)


@dataclass
class RunResult:
    """A finished backtest: inputs as used, the plan, the engine's result and derived tables."""

    config: Config
    market: MarketData
    events: EventCalendar
    plan: Plan
    result: EngineResult
    returns: pd.Series
    benchmark_returns: pd.Series
    books: pd.DataFrame
    event_log: pd.DataFrame
    facts: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    prepared: Prepared | None = None


def run_backtest(
    config: Config,
    source: Any | None = None,
    progress: Progress | None = None,
    events: EventCalendar | None = None,
    engine: Callable[[MarketData, Plan, float], EngineResult] = run_backtrader,
) -> RunResult:
    """Run the configured backtest (backtrader by default) on ``events`` when given, else on
    the configured events file."""
    say = progress or (lambda _msg: None)
    say("loading prices and events")
    prepared = prepare(config, source, events=events)
    say(f"running {getattr(engine, 'engine_name', 'backtrader')}")
    return finish(prepared, engine(prepared.market, prepared.plan, config.run.cash))


def finish(prepared: Prepared, result: EngineResult) -> RunResult:
    """The tables and facts of an engine's result on a prepared run."""
    market, plan = prepared.market, prepared.plan
    returns = result.returns.rename("strategy")
    books = book_table(plan, market, result)
    log = event_log(prepared.calendar, plan.outcomes, books)
    return RunResult(
        config=prepared.config,
        market=market,
        events=prepared.calendar,
        plan=plan,
        result=result,
        returns=returns,
        benchmark_returns=market.benchmark_returns(),
        books=books,
        event_log=log,
        facts=run_facts(market, plan, result, log),
        inputs=dict(prepared.inputs),
        prepared=prepared,
    )


BOOK_COLUMNS = [
    "book_id",
    "direction",
    "decision",
    "entry",
    "exit",
    "status",
    "extensions",
    "sessions_held",
    "long",
    "short",
    "gross",
    "equity_at_decision",
    "pnl",
    "return",
    "notes",
]


def book_pnl(plan: Plan, market: MarketData, result: EngineResult) -> np.ndarray:
    """Each book's own P&L: its fills' cash flows and commissions, its borrow fees, and what
    it still holds marked at its last session's close (sub-books overlap, so an equity
    difference would mix them; with one book at a time it is exactly that difference)."""
    pnl = np.zeros(len(plan.books))
    fills = result.fills
    if len(fills):
        sign = np.where(fills["side"].isin(["buy", "cover"]), 1.0, -1.0)
        flow = -sign * fills["shares"].to_numpy() * fills["price"].to_numpy()
        flow -= fills["commission"].to_numpy()
        np.add.at(pnl, fills["book"].to_numpy(dtype=np.int64), flow)
        held = pd.DataFrame(
            {"book": fills["book"], "ticker": fills["ticker"], "shares": sign * fills["shares"]}
        )
        position = held.groupby(["book", "ticker"], sort=False)["shares"].sum()
        last = len(market.sessions) - 1
        for (book, ticker), shares in position.items():
            if plan.books[book].exit is None and abs(shares) > 0:
                pnl[book] += shares * market.close[last, market.column(ticker)]
    if len(result.borrow):
        np.add.at(pnl, result.borrow["book"].to_numpy(dtype=np.int64), -result.borrow["fee"])
    return pnl


def book_table(plan: Plan, market: MarketData, result: EngineResult) -> pd.DataFrame:
    """One row per book: dates, names, why it closed, and its own P&L (:func:`book_pnl`;
    return = P&L / equity at the decision close, the equity it was sized on). An open book is
    marked to the last close."""
    equity = result.equity["equity"].to_numpy()
    sessions = market.sessions
    pnl = book_pnl(plan, market, result)
    rows = []
    for book in plan.books:
        last = book.exit if book.exit is not None else len(sessions) - 1
        base = equity[book.decision]
        notes = "; ".join(f"{market.tickers[c]}: {why}" for c, why in book.excluded)
        rows.append(
            {
                "book_id": book.id,
                "direction": book.direction,
                "decision": sessions[book.decision].date().isoformat(),
                "entry": sessions[book.entry].date().isoformat(),
                "exit": sessions[book.exit].date().isoformat() if book.exit is not None else "",
                "status": book.closed_by or "open",
                "extensions": book.extensions,
                "sessions_held": last - book.entry + (1 if book.exit is None else 0),
                "long": " ".join(market.tickers[c] for c in book.longs),
                "short": " ".join(market.tickers[c] for c in book.shorts),
                "gross": float(book.gross),
                "equity_at_decision": base,
                "pnl": float(pnl[book.id]),
                "return": float(pnl[book.id]) / base,
                "notes": notes,
            }
        )
    return pd.DataFrame(rows, columns=BOOK_COLUMNS)


def event_log(
    calendar: EventCalendar, outcomes: list[EventOutcome], books: pd.DataFrame
) -> pd.DataFrame:
    """Every event of the file, in file order, with what it did (events outside the selected
    categories are listed as ignored)."""
    by_id = {o.event.id: o for o in outcomes}
    book_rows = books.set_index("book_id") if len(books) else None
    rows = []
    for event in calendar.events:
        outcome = by_id.get(event.id)
        row = {
            "event_id": event.id,
            "known_at": event.known_at.isoformat(),
            "entry_session": "",
            "category": event.category,
            "direction": event.direction,
            "headline": event.headline,
            "action": "ignored",
            "reason": "category not selected (events.categories)",
            "book_id": "",
            "book_entry": "",
            "book_exit": "",
            "book_status": "",
            "book_pnl": np.nan,
            "book_return": np.nan,
        }
        if outcome is not None:
            row["entry_session"] = (
                outcome.entry_session.date().isoformat()
                if outcome.entry_session is not None
                else ""
            )
            row["action"], row["reason"] = outcome.action, outcome.reason
            if outcome.book is not None and book_rows is not None:
                book = book_rows.loc[outcome.book]
                row.update(
                    {
                        "book_id": outcome.book,
                        "book_entry": book["entry"],
                        "book_exit": book["exit"],
                        "book_status": book["status"],
                        "book_pnl": book["pnl"],
                        "book_return": book["return"],
                    }
                )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(EVENT_LOG_COLUMNS))


def run_facts(
    market: MarketData, plan: Plan, result: EngineResult, log: pd.DataFrame
) -> dict[str, Any]:
    """Counts and costs of the run (definitions in the README, "Run facts")."""
    eq = result.equity
    fills = result.fills
    invested = (eq["long_value"] != 0) | (eq["short_value"] != 0)
    traded = float((fills["shares"] * fills["price"]).abs().sum()) if len(fills) else 0.0
    commission = float(fills["commission"].sum()) if len(fills) else 0.0
    slippage = float(fills["slippage"].sum()) if len(fills) else 0.0
    borrow = float(result.borrow["fee"].sum()) if len(result.borrow) else 0.0
    actions = log["action"].value_counts()
    return {
        "first_session": market.sessions[0].date().isoformat(),
        "last_session": market.sessions[-1].date().isoformat(),
        "sessions": len(market.sessions),
        "starting_cash": result.cash,
        "final_equity": float(eq["equity"].iloc[-1]),
        "books_opened": len(plan.books),
        "book_open_at_end": bool(plan.books and plan.books[-1].exit is None),
        "days_invested": int(invested.sum()),
        "fills": len(fills),
        "traded_notional": traded,
        "turnover": traded / float(eq["equity"].mean()),
        "max_gross_exposure": float(eq["gross_exposure"].max()),
        "costs": {
            "commission": commission,
            "slippage": slippage,
            "borrow": borrow,
            "total": commission + slippage + borrow,
        },
        "events": {
            "in_file": len(log),
            **{
                name: int(actions.get(name, 0))
                for name in ("opened", "extended", "closed", "reversed", "ignored")
            },
        },
        "engine": result.engine,
    }
