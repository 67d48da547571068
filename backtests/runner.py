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
    engine: Callable[[MarketData, Plan, float], EngineResult] | None = None,
) -> RunResult:
    """Run the configured backtest (backtrader by default) on ``events`` when given, else on
    the configured events file."""
    if engine is None:  # imported when a backtest runs (commands that never do start faster)
        from strategies.engines.backtrader_engine import run_backtrader

        engine = run_backtrader
    say = progress or (lambda _msg: None)
    say("loading prices and events")
    prepared = prepare(config, source, events=events)
    say(f"running {getattr(engine, 'engine_name', 'backtrader')}")
    return finish(prepared, engine(prepared.market, prepared.plan, config.run.cash))


def finish(prepared: Prepared, result: EngineResult) -> RunResult:
    """The tables and facts of an engine's result on a prepared run."""
    market, plan = prepared.market, prepared.plan
    returns = result.returns.rename("strategy")
    ruin = ruin_index(market, result)
    books = book_table(plan, market, result, ruin)
    log = event_log(prepared.calendar, plan.outcomes, books, ruin_day(market, ruin))
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
        facts=run_facts(market, plan, result, log, books),
        inputs=dict(prepared.inputs),
        prepared=prepared,
    )


def ruin_index(market: MarketData, result: EngineResult) -> int | None:
    """Session index of the run's ruin close (README "The rules"), or None."""
    day = result.ruined_on
    return None if day is None else int(market.sessions.get_loc(day))


def ruin_day(market: MarketData, ruin: int | None) -> str | None:
    return None if ruin is None else market.sessions[ruin].date().isoformat()


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


def book_pnl(plan: Plan, market: MarketData, result: EngineResult, last: int) -> np.ndarray:
    """Each book's own P&L: its fills' cash flows and commissions, its borrow fees, and what it
    still holds marked at the close of ``last`` (the run's last session, or its ruin close).
    Sub-books overlap, so an equity difference would mix them; with one book at a time this is
    exactly the equity at its exit minus the equity at its decision close."""
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
        for (book, ticker), shares in position.items():
            exit_ = plan.books[book].exit
            if (exit_ is None or exit_ > last) and shares != 0:
                pnl[book] += shares * market.close[last, market.column(ticker)]
    if len(result.borrow):
        np.add.at(pnl, result.borrow["book"].to_numpy(dtype=np.int64), -result.borrow["fee"])
    return pnl


def book_table(
    plan: Plan, market: MarketData, result: EngineResult, ruin: int | None = None
) -> pd.DataFrame:
    """One row per book that traded: dates, names, why it closed, and its own P&L
    (:func:`book_pnl`; return = P&L / equity at the decision close, the equity it was sized
    on). An open book is marked to the last close. After a ruin at session ``ruin``, books
    entering later never traded and are not listed; a book held at the ruin close has no exit,
    status ``ruined`` and is marked to the ruin close."""
    equity = result.equity["equity"].to_numpy()
    sessions = market.sessions
    end = len(sessions) - 1 if ruin is None else ruin
    pnl = book_pnl(plan, market, result, end)
    rows = []
    for book in plan.books:
        if ruin is not None and book.entry > ruin:
            continue
        exit_, status = book.exit, book.closed_by or "open"
        if ruin is not None and (exit_ is None or exit_ > ruin):
            exit_, status = None, "ruined"
        last = exit_ if exit_ is not None else end
        base = equity[book.decision]
        notes = "; ".join(f"{market.tickers[c]}: {why}" for c, why in book.excluded)
        rows.append(
            {
                "book_id": book.id,
                "direction": book.direction,
                "decision": sessions[book.decision].date().isoformat(),
                "entry": sessions[book.entry].date().isoformat(),
                "exit": sessions[exit_].date().isoformat() if exit_ is not None else "",
                "status": status,
                "extensions": book.extensions,
                "sessions_held": last - book.entry + (1 if exit_ is None else 0),
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
    calendar: EventCalendar,
    outcomes: list[EventOutcome],
    books: pd.DataFrame,
    ruined_on: str | None = None,
) -> pd.DataFrame:
    """Every event of the file, in file order, with what it did (events outside the selected
    categories are listed as ignored). After a ruin on ``ruined_on`` the run had ended: an
    event entering later is ignored, whatever the plan would have done with it."""
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
            if ruined_on and row["entry_session"] > ruined_on:
                row["action"] = "ignored"
                row["reason"] = f"after the ruin on {ruined_on}: the run ended at that close"
            elif outcome.book is not None and book_rows is not None:
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
    market: MarketData,
    plan: Plan,
    result: EngineResult,
    log: pd.DataFrame,
    books: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Counts and costs of the run (definitions in the README, "Run facts").

    After a ruin (``ruined_on``) the counts stop at the ruin close: books that traded,
    sessions invested up to it, the gross exposure at the closes before it; the turnover
    (traded notional over an average of equities that went to zero or below) is None.
    """
    eq = result.equity
    fills = result.fills
    ruin = ruin_index(market, result)
    books = books if books is not None else book_table(plan, market, result, ruin)
    alive = eq.iloc[: ruin + 1] if ruin is not None else eq
    before = eq.iloc[:ruin] if ruin is not None else eq
    invested = (alive["long_value"] != 0) | (alive["short_value"] != 0)
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
        "ruined_on": ruin_day(market, ruin),
        "equity_at_ruin": float(eq["equity"].iloc[ruin]) if ruin is not None else None,
        "min_equity": float(min(eq["equity"].min(), result.cash)),
        "books_opened": len(books),
        "book_open_at_end": bool(len(books) and books["status"].iloc[-1] == "open"),
        "days_invested": int(invested.sum()),
        "fills": len(fills),
        "traded_notional": traded,
        "turnover": traded / float(eq["equity"].mean()) if ruin is None else None,
        "max_gross_exposure": float(before["gross_exposure"].max()) if len(before) else None,
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
