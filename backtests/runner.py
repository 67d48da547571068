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
from strategies.engines.backtrader_engine import run_backtrader
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
        return CsvPriceSource(config.data.dir, ohlc_check=config.data.ohlc_check)
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
    result = run_backtrader(market, plan, rules, costs, config.run.cash)
    returns = result.returns.rename("strategy")
    bench = market.benchmark_returns()

    ruin = ruin_index(market, result)
    books = book_table(plan, market, result, ruin)
    log = event_log(all_events, plan.outcomes, books, ruin_day(market, ruin))
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
        facts=run_facts(market, plan, result, log, books),
        inputs=inputs,
    )


def ruin_index(market: MarketData, result: EngineResult) -> int | None:
    """Session index of the run's ruin close (README "The rules"), or None."""
    day = result.ruined_on
    return None if day is None else int(market.sessions.get_loc(day))


def ruin_day(market: MarketData, ruin: int | None) -> str | None:
    return None if ruin is None else market.sessions[ruin].date().isoformat()


def book_table(
    plan: BookPlan, market: MarketData, result: EngineResult, ruin: int | None = None
) -> pd.DataFrame:
    """One row per book that traded: dates, names, why it closed, and its P&L.

    P&L = equity at the close of the exit session (flat again) minus equity at the close of the
    decision session (what the book was sized on): it includes every fill, cost and borrow fee
    of the episode. An open book is marked to the last close. After a ruin at session ``ruin``,
    books entering later never traded and are not listed; the book held at the ruin close has
    no exit, status ``ruined`` and is marked to the ruin close.
    """
    equity = result.equity["equity"].to_numpy()
    sessions = market.sessions
    rows = []
    for book in plan.books:
        if ruin is not None and book.entry > ruin:
            continue
        exit_, status = book.exit, book.closed_by or "open"
        if ruin is not None and (exit_ is None or exit_ > ruin):
            exit_, status = None, "ruined"
        last = exit_ if exit_ is not None else (len(sessions) - 1 if ruin is None else ruin)
        base = equity[book.decision]
        pnl = equity[last] - base
        rows.append(
            {
                "book_id": book.id,
                "decision": sessions[book.decision].date().isoformat(),
                "entry": sessions[book.entry].date().isoformat(),
                "exit": sessions[exit_].date().isoformat() if exit_ is not None else "",
                "status": status,
                "extensions": book.extensions,
                "sessions_held": last - book.entry + (1 if exit_ is None else 0),
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
    plan: BookPlan,
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
                for name in ("opened", "extended", "closed", "ignored")
            },
        },
        "engine": result.engine,
    }
