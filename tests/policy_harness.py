"""Run one config through the project's pipeline (both engines) and through the independent
reference (tests/reference_policies.py), and compare them session by session and fill by fill.

Used by tests/test_policy_parity.py and tests/test_policy_lookahead.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from reference_policies import ReferenceResult, reference_run

from backtests.config import Config, validate
from backtests.prepare import Prepared, prepare
from data.calendar import sessions_between
from data.events import Event, EventCalendar, parse_known_at
from data.prices import PriceHistory
from strategies.engines.backtrader_engine import run_backtrader
from strategies.engines.fast import Evaluation, run_fast
from strategies.engines.fast_result import run_fast_result
from strategies.result import EngineResult

TOL = 1e-9
CASH = 1_000_000.0


def synthetic_histories(
    start: str,
    end: str,
    tickers: tuple[str, ...],
    spans: dict[str, tuple[str | None, str | None]] | None = None,
    seed: int = 0,
    vol: float = 0.02,
) -> dict[str, PriceHistory]:
    """Random-walk bars on real NYSE sessions (benchmark BM on every session); ``spans``
    limits a ticker to (first, last) dates; volumes vary so ADV-based costs bite."""
    sessions = sessions_between(pd.Timestamp(start), pd.Timestamp(end))
    out = {}
    for k, ticker in enumerate(("BM", *tickers)):
        rng = np.random.default_rng(seed * 1000 + k)
        first, last = (spans or {}).get(ticker, (None, None))
        days = sessions
        if first:
            days = days[days >= pd.Timestamp(first)]
        if last:
            days = days[days <= pd.Timestamp(last)]
        beta = 0.5 + k * 0.15
        market = np.random.default_rng(seed * 1000).normal(0, 0.01, len(sessions))
        moves = beta * market[sessions.isin(days)] + rng.normal(0, vol, len(days))
        close = 50 * (1 + k) * np.exp(np.cumsum(moves))
        open_ = close * np.exp(rng.normal(0, 0.008, len(days)))
        bars = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) * 1.01,
                "low": np.minimum(open_, close) * 0.99,
                "close": close,
                "volume": rng.integers(2_000, 200_000, len(days)).astype(float),
            },
            index=pd.DatetimeIndex(days, name="date"),
        )
        out[ticker] = PriceHistory(ticker, bars, f"<synthetic {ticker}>", "0" * 64)
    return out


def calendar_of(rows: list[tuple[str, int]] | list[tuple[str, int, float]]) -> EventCalendar:
    """An in-memory events calendar from (known_at, direction[, weight]) rows."""
    events = []
    for k, row in enumerate(rows):
        extra = (("weight", repr(float(row[2]))),) if len(row) > 2 else ()
        events.append(Event(f"e{k}", parse_known_at(row[0]), int(row[1]), line=k + 2, extra=extra))
    cats = tuple(sorted({e.category for e in events}))
    return EventCalendar(tuple(events), "<test events>", "0" * 64, cats)


def config_of(table: dict[str, Any]) -> Config:
    return validate(copy.deepcopy(table), "test config")


@dataclass
class Runs:
    prepared: Prepared
    backtrader: EngineResult
    fast: Evaluation
    fast_result: EngineResult
    reference: ReferenceResult


def reference_inputs(prepared: Prepared, table: dict[str, Any]):
    """The reference's inputs from the project's aligned market and events."""
    market = prepared.market
    sessions = market.sessions
    bars = {}
    for j, ticker in enumerate(market.tickers):
        bars[ticker] = pd.DataFrame(
            {
                "open": market.open[:, j],
                "high": market.high[:, j],
                "low": market.low[:, j],
                "close": market.close[:, j],
                "volume": market.volume[:, j],
            },
            index=sessions,
        )
    benchmark = pd.Series(market.benchmark_close, index=sessions)
    schedule = prepared.schedule
    entry = [sessions[i] if i >= 0 else pd.NaT for i in schedule.index]
    events = pd.DataFrame(
        {
            "id": [e.id for e in schedule.events],
            "entry": pd.to_datetime(entry),
            "direction": [e.direction for e in schedule.events],
        }
    )
    if prepared.weights is not None:
        events["weight"] = prepared.weights
    strategy = _off(copy.deepcopy(table.get("strategy", {})))
    if not strategy.get("legs"):
        strategy.pop("legs", None)
    costs = _off(copy.deepcopy(table.get("costs", {})))
    if "slippage_model" in costs:
        costs["slippage"] = costs.pop("slippage_model")
    if "borrow_file" in costs:
        costs.pop("borrow_file")
        rows = prepared.strategy.costs.borrow.rows
        costs["borrow_table"] = pd.DataFrame(rows, columns=["date", "ticker", "borrow_bps"])
    config = {
        "cash": float(table.get("run", {}).get("cash", CASH)),
        "strategy": strategy,
        "costs": costs,
        "universe": {
            "long": list(prepared.config.universe.long),
            "short": list(prepared.config.universe.short),
        },
    }
    return bars, benchmark, sessions, events, config


def _off(table):
    """The config's "off" switches as the reference's None."""
    if isinstance(table, dict):
        return {k: _off(v) for k, v in table.items()}
    if isinstance(table, list):
        return [_off(v) for v in table]
    return None if table == "off" else table


def run_all(histories, calendar: EventCalendar, table: dict[str, Any]) -> Runs:
    config = config_of(table)
    prepared = prepare(config, events=calendar, histories=histories)
    cash = config.run.cash
    bt = run_backtrader(prepared.market, prepared.plan, cash)
    ev = run_fast(prepared.market, prepared.plan, cash)
    fr = run_fast_result(prepared.market, prepared.plan, cash)
    ref = reference_run(*reference_inputs(prepared, table))
    return Runs(prepared, bt, ev, fr, ref)


def relative(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))) if len(a) else 0.0


def assert_same(runs: Runs, tol: float = TOL) -> None:
    """Equity on every session, fills one by one, books and ruin: all three agree."""
    ref = runs.reference
    floor = CASH * 1e-9
    expected = ref.equity["equity"].to_numpy()
    for name, got in (
        ("backtrader", runs.backtrader.equity["equity"].to_numpy()),
        ("fast", runs.fast.equity[0]),
        ("fast fills", runs.fast_result.equity["equity"].to_numpy()),
    ):
        diff = relative(got, expected, floor)
        assert diff <= tol, f"{name} equity differs from the reference by {diff:.3g}"
    for name, fills in (("backtrader", runs.backtrader.fills), ("fast", runs.fast_result.fills)):
        _same_fills(name, fills, ref.fills, tol)
    # The vectorised engine's cost totals are those of backtrader's fills and fees.
    fills, fees = runs.backtrader.fills, runs.backtrader.borrow
    for name, got, expected in (
        ("commission", runs.fast.commission[0], fills["commission"].sum()),
        ("slippage", runs.fast.slippage_cost[0], fills["slippage"].sum()),
        ("borrow", runs.fast.borrow_cost[0], fees["fee"].sum() if len(fees) else 0.0),
        ("notional", runs.fast.notional[0], (fills["shares"] * fills["price"]).abs().sum()),
    ):
        diff = abs(got - expected) / max(abs(expected), 1e-6)
        assert diff <= tol, f"fast {name} total {got} against backtrader's {expected}"
    got_ruin = runs.backtrader.ruined_on
    assert got_ruin == ref.ruined_on, (got_ruin, ref.ruined_on)
    assert runs.fast_result.ruined_on == got_ruin
    ruined = None if got_ruin is None else int(runs.prepared.market.sessions.get_loc(got_ruin))
    books = runs.prepared.plan.books
    sessions = runs.prepared.market.sessions
    if ruined is not None:  # books decided at or after the ruin close never traded
        books = [b for b in books if b.decision < ruined]
    ref_books = ref.books
    assert len(books) == len(ref_books), (len(books), len(ref_books))
    for book, row in zip(books, ref_books.itertuples(index=False), strict=True):
        assert sessions[book.entry] == row.entry, (book.id, sessions[book.entry], row.entry)
        exit_ = sessions[book.exit] if book.exit is not None else pd.NaT
        assert (pd.isna(exit_) and pd.isna(row.exit)) or exit_ == row.exit, (
            book.id,
            exit_,
            row.exit,
        )
        theirs = row.closed_by if isinstance(row.closed_by, str) else None
        assert book.closed_by == theirs, (book.id, book.closed_by, theirs)
        assert book.direction == row.direction


def _same_fills(name: str, got: pd.DataFrame, expected: pd.DataFrame, tol: float) -> None:
    assert len(got) == len(expected), f"{name}: {len(got)} fills, reference {len(expected)}"
    if not len(got):
        return
    keys = ["date", "ticker", "side", "book"]
    a = got[keys].astype(str).to_numpy()
    b = expected.assign(date=pd.to_datetime(expected["date"]).dt.date)[keys].astype(str).to_numpy()
    bad = np.flatnonzero((a != b).any(axis=1))
    assert not bad.size, f"{name}: fill {bad[0]} is {a[bad[0]]}, reference {b[bad[0]]}"
    for column in ("shares", "price", "commission"):
        diff = relative(got[column].to_numpy(float), expected[column].to_numpy(float), 1e-9)
        assert diff <= tol, f"{name}: fill {column} differs by {diff:.3g}"
