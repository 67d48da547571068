"""Wire a Config to data, plan and engine; return everything a report needs as plain pandas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from data.calendar import entry_sessions
from data.csv_source import CsvPriceSource
from data.events import EventCalendar, load_events
from data.market import MarketData, align, resolve_sessions
from data.prices import PriceHistory
from strategies.plan import BookPlan, EventOutcome, build_plan
from strategies.result import EngineResult
from strategies.rules import CostModel, RotationRules

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
    plan: BookPlan
    result: EngineResult
    returns: pd.Series
    benchmark_returns: pd.Series
    books: pd.DataFrame
    event_log: pd.DataFrame
    facts: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)


def price_source(config: Config) -> Any:
    """The configured price source: CSV files when data.dir is set, else Yahoo via the cache."""
    if config.data.dir is not None:
        return CsvPriceSource(config.data.dir)
    from data.yahoo import YahooPriceSource  # imports yfinance: only when it is used

    return YahooPriceSource(cache_dir=config.data.cache_dir, deadline_s=config.data.deadline_s)


def load_prices(config: Config, source: Any | None = None) -> dict[str, PriceHistory]:
    source = source or price_source(config)
    tickers = list(
        dict.fromkeys([*config.universe.long, *config.universe.short, config.run.benchmark])
    )
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    return source.load(tickers, start, end)


def _rules(config: Config) -> tuple[RotationRules, CostModel]:
    rules = RotationRules(
        config.strategy.hold_sessions, config.strategy.gross, config.strategy.max_gross
    )
    c = config.costs
    return rules, CostModel.from_bps(c.commission_bps, c.slippage_bps, c.borrow_bps)


def run_backtest(
    config: Config,
    source: Any | None = None,
    progress: Progress | None = None,
    events: EventCalendar | None = None,
) -> RunResult:
    """Run the configured backtest with the backtrader engine (on ``events`` when given,
    else on the configured events file)."""
    say = progress or (lambda _msg: None)
    from data.universe import Universe

    universe = Universe(
        tuple(config.universe.long), tuple(config.universe.short), config.run.benchmark
    )
    say("loading prices")
    histories = load_prices(config, source)
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    sessions = resolve_sessions(start, end, histories)
    market = align(histories, sessions, universe.traded, universe.benchmark)

    say("mapping events to sessions")
    all_events = events if events is not None else load_events(config.events.file)
    selected = all_events.filter_categories(config.events.categories)
    entries = entry_sessions([e.known_at for e in selected.events])
    rules, costs = _rules(config)
    plan = build_plan(market, universe.long, universe.short, selected.events, entries, rules)

    say("running backtrader")
    from strategies.engines.backtrader_engine import run_backtrader  # only when it runs

    result = run_backtrader(market, plan, rules, costs, config.run.cash)
    returns = result.returns.rename("strategy")
    bench = market.benchmark_returns()

    books = book_table(plan, market, result)
    log = event_log(all_events, plan.outcomes, books)
    inputs = {h.source: h.sha256 for h in histories.values()}
    inputs[all_events.path] = all_events.sha256
    return RunResult(
        config=config,
        market=market,
        events=all_events,
        plan=plan,
        result=result,
        returns=returns,
        benchmark_returns=bench,
        books=books,
        event_log=log,
        facts=run_facts(market, plan, result, log),
        inputs=inputs,
    )


def book_table(plan: BookPlan, market: MarketData, result: EngineResult) -> pd.DataFrame:
    """One row per book: dates, names, why it closed, and its P&L.

    P&L = equity at the close of the exit session (flat again) minus equity at the close of the
    decision session (what the book was sized on): it includes every fill, cost and borrow fee
    of the episode. An open book is marked to the last close.
    """
    equity = result.equity["equity"].to_numpy()
    sessions = market.sessions
    rows = []
    for book in plan.books:
        last = book.exit if book.exit is not None else len(sessions) - 1
        base = equity[book.decision]
        pnl = equity[last] - base
        rows.append(
            {
                "book_id": book.id,
                "decision": sessions[book.decision].date().isoformat(),
                "entry": sessions[book.entry].date().isoformat(),
                "exit": sessions[book.exit].date().isoformat() if book.exit is not None else "",
                "status": book.closed_by or "open",
                "extensions": book.extensions,
                "sessions_held": last - book.entry + (1 if book.exit is None else 0),
                "long": " ".join(market.tickers[c] for c in book.longs),
                "short": " ".join(market.tickers[c] for c in book.shorts),
                "equity_at_decision": base,
                "pnl": pnl,
                "return": pnl / base,
            }
        )
    columns = [
        "book_id",
        "decision",
        "entry",
        "exit",
        "status",
        "extensions",
        "sessions_held",
        "long",
        "short",
        "equity_at_decision",
        "pnl",
        "return",
    ]
    return pd.DataFrame(rows, columns=columns)


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
    market: MarketData, plan: BookPlan, result: EngineResult, log: pd.DataFrame
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
                for name in ("opened", "extended", "closed", "ignored")
            },
        },
        "engine": result.engine,
    }
