"""The backtrader engine against the independent reference (tests/reference_engine.py).

Every test runs the project's pipeline (align -> entry sessions -> plan -> backtrader) and the
reference on the same bars and events, then requires the equity of EVERY session to agree to
1e-9 relative and the fills to agree (dates, tickers, signed shares, prices). The reference gets
its sessions from the benchmark's dates (the spec: "the dates of SPY"), not from the project's
calendar, and the project's sessions must equal them.

Sections: helpers; the reference checked against numbers computed by hand; the default run on
the real data (with pinned values); parameter variants on the real data; edge cases on small
synthetic data.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from engine_helpers import (
    actions_in_order,
    baseline,
    flat_costs,
    fractions,
)
from reference_engine import (
    ReferenceResult,
    entry_session_index,
    reference_backtest,
    session_opens_utc,
)

from data.calendar import entry_sessions
from data.csv_source import CsvPriceSource
from data.events import Event, load_events, parse_known_at
from data.market import MarketData, align, resolve_sessions
from data.prices import PriceHistory
from data.universe import load_universe
from strategies.engines.backtrader_engine import run_backtrader
from strategies.plan import Plan, build_plan
from strategies.policies.costs import Costs
from strategies.result import EngineResult

TOL = 1e-9
CASH = 1_000_000.0
# Flat costs in basis points: commission and slippage per fill, borrow a year.
DEFAULT_COSTS = flat_costs(1.0, 2.0, 50.0)  # fractions 0.0001, 0.0002, 0.005
ZERO_COSTS = flat_costs(0.0, 0.0, 0.0)
HIGH_COSTS = flat_costs(50.0, 100.0, 2000.0)  # fractions 0.005, 0.01, 0.2

# --------------------------------------------------------------------------------------------
# Helpers (also used by test_lookahead.py)
# --------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Run:
    """Both engines' results for one configuration."""

    market: MarketData
    plan: Plan
    engine: EngineResult
    reference: ReferenceResult
    sessions: pd.DatetimeIndex

    def __repr__(self) -> str:
        s = self.sessions
        return f"Run({s[0].date()}..{s[-1].date()}, {len(self.plan.books)} books)"


def make_events(rows: Sequence[tuple[str, int]]) -> list[Event]:
    """Events from (known_at text, direction); known_at parsed as the project parses files."""
    return [
        Event(id=f"e{k}", known_at=parse_known_at(text), direction=direction)
        for k, (text, direction) in enumerate(rows)
    ]


def benchmark_sessions(
    histories: dict[str, PriceHistory],
    benchmark: str,
    start: str | None,
    end: str | None,
) -> pd.DatetimeIndex:
    """The run's sessions for the reference: the benchmark's dates in [start, end]."""
    dates = histories[benchmark].bars.index
    if start is not None:
        dates = dates[dates >= pd.Timestamp(start)]
    if end is not None:
        dates = dates[dates <= pd.Timestamp(end)]
    return pd.DatetimeIndex(dates)


def run_both(
    histories: dict[str, PriceHistory],
    long: Sequence[str],
    short: Sequence[str],
    benchmark: str,
    events: Sequence[Event],
    start: str | None = None,
    end: str | None = None,
    hold: int = 5,
    gross: float = 1.0,
    max_gross: float = 3.0,
    costs: Costs = DEFAULT_COSTS,
    cash: float = CASH,
) -> Run:
    """The baseline strategy (hold, gross, max_gross, flat ``costs``) planned and run in
    backtrader, and the reference on the benchmark's dates."""
    strategy = baseline(long, short, hold=hold, gross=gross, max_gross=max_gross, costs=costs)
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    sessions = resolve_sessions(lo, hi, histories)
    market = align(histories, sessions, (*long, *short), benchmark)
    entries = entry_sessions([e.known_at for e in events])
    plan = build_plan(market, strategy, events, entries)
    engine = run_backtrader(market, plan, cash)

    ref_sessions = benchmark_sessions(histories, benchmark, start, end)
    assert list(ref_sessions) == list(market.sessions), "project sessions != benchmark dates"
    reference = reference_backtest(
        {t: histories[t].bars for t in (*long, *short)},
        ref_sessions,
        list(long),
        list(short),
        [(e.known_at, e.direction) for e in events],
        hold=hold,
        gross=gross,
        **fractions(costs),
        cash=cash,
    )
    return Run(market, plan, engine, reference, ref_sessions)


def signed_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """Engine fills as date, ticker, signed shares, price, commission, sorted by date/ticker."""
    sign = np.where(fills["side"].isin(["buy", "cover"]), 1.0, -1.0)
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(fills["date"]),
            "ticker": fills["ticker"].astype(str),
            "shares": sign * fills["shares"].to_numpy(dtype=float),
            "price": fills["price"].to_numpy(dtype=float),
            "commission": fills["commission"].to_numpy(dtype=float),
        }
    )
    return sorted_fills(out)


def sorted_fills(fills: pd.DataFrame) -> pd.DataFrame:
    out = fills.copy()
    out["date"] = pd.to_datetime(out["date"])
    out["ticker"] = out["ticker"].astype(str)
    return out.sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)


def rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def equity_rel_diff(run: Run) -> float:
    eng = run.engine.equity["equity"]
    ref = run.reference.equity
    assert list(eng.index) == list(ref.index)
    return float(rel_diff(eng.to_numpy(), ref.to_numpy()).max())


def assert_parity(run: Run, tol: float = TOL) -> dict[str, float]:
    """Equity on every session, cash, fills and borrow charges agree; returns the max diffs."""
    eng_eq = run.engine.equity
    ref_eq = run.reference.equity
    assert list(eng_eq.index) == list(ref_eq.index)
    eq = rel_diff(eng_eq["equity"].to_numpy(), ref_eq.to_numpy())
    worst = int(np.argmax(eq))
    assert eq.max() <= tol, (
        f"equity differs by {eq.max():.3g} relative on {ref_eq.index[worst].date()}: "
        f"engine {eng_eq['equity'].iloc[worst]!r}, reference {ref_eq.iloc[worst]!r}"
    )
    cash = np.abs(eng_eq["cash"].to_numpy() - run.reference.cash.to_numpy())
    cash /= np.maximum(np.abs(ref_eq.to_numpy()), 1e-300)
    assert cash.max() <= tol, f"cash differs by {cash.max():.3g} of equity"

    eng_f = signed_fills(run.engine.fills)
    ref_f = sorted_fills(run.reference.fills)
    assert len(eng_f) == len(ref_f), f"{len(eng_f)} engine fills, {len(ref_f)} reference fills"
    assert (eng_f["date"] == ref_f["date"]).all(), "fill dates differ"
    assert (eng_f["ticker"] == ref_f["ticker"]).all(), "fill tickers differ"
    shares = rel_diff(eng_f["shares"].to_numpy(), ref_f["shares"].to_numpy())
    price = rel_diff(eng_f["price"].to_numpy(), ref_f["price"].to_numpy())
    assert (np.sign(eng_f["shares"]) == np.sign(ref_f["shares"])).all(), "fill sides differ"
    assert shares.max(initial=0.0) <= tol, f"fill shares differ by {shares.max():.3g}"
    assert price.max(initial=0.0) <= tol, f"fill prices differ by {price.max():.3g}"
    commission = rel_diff(eng_f["commission"].to_numpy(), ref_f["commission"].to_numpy())
    assert commission.max(initial=0.0) <= tol, f"commissions differ by {commission.max():.3g}"

    eng_b = sorted_fills(run.engine.borrow)
    ref_b = sorted_fills(run.reference.borrow)
    assert len(eng_b) == len(ref_b)
    assert (eng_b["date"] == ref_b["date"]).all() and (eng_b["ticker"] == ref_b["ticker"]).all()
    fee = rel_diff(eng_b["fee"].to_numpy(), ref_b["fee"].to_numpy())
    assert fee.max(initial=0.0) <= tol, f"borrow fees differ by {fee.max():.3g}"

    assert executed_books(run) == reference_books(run), "the two engines' books differ"
    assert run.engine.ruined_on == run.reference.ruined_on, "the two engines' ruin differs"
    return {
        "equity": float(eq.max()),
        "shares": float(shares.max(initial=0.0)),
        "price": float(price.max(initial=0.0)),
    }


def plan_books(run: Run) -> list[tuple[str, str | None, str | None]]:
    s = run.market.sessions
    return [
        (str(s[b.entry].date()), None if b.exit is None else str(s[b.exit].date()), b.closed_by)
        for b in run.plan.books
    ]


def executed_books(run: Run) -> list[tuple[str, str | None, str | None]]:
    """The plan's books as executed: after a ruin, books entering later never trade and the
    book held at the ruin close has no exit (closed_by "ruin")."""
    ruin = run.engine.ruined_on
    if ruin is None:
        return plan_books(run)
    out = []
    for entry, exit_, closed_by in plan_books(run):
        if pd.Timestamp(entry) > ruin:
            continue
        if exit_ is None or pd.Timestamp(exit_) > ruin:
            exit_, closed_by = None, "ruin"
        out.append((entry, exit_, closed_by))
    return out


def reference_books(run: Run) -> list[tuple[str, str | None, str | None]]:
    return [
        (str(b.entry.date()), None if b.exit is None else str(b.exit.date()), b.closed_by)
        for b in run.reference.books
    ]


# --------------------------------------------------------------------------------------------
# The reference against numbers computed by hand
# --------------------------------------------------------------------------------------------

HAND_SESSIONS = pd.DatetimeIndex(
    ["2024-03-26", "2024-03-27", "2024-03-28", "2024-04-01", "2024-04-02", "2024-04-03"]
)  # 2024-03-29 is Good Friday: 4 calendar days from 03-28 to 04-01


def hand_bars(opens: list[float], closes: list[float], first: int = 0) -> pd.DataFrame:
    dates = HAND_SESSIONS[first : first + len(closes)]
    o, c = np.array(opens, dtype=float), np.array(closes, dtype=float)
    return pd.DataFrame(
        {"open": o, "high": np.maximum(o, c), "low": np.minimum(o, c), "close": c}, index=dates
    )


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_reference_by_hand_costs_and_borrow_over_a_holiday():
    """Open at 03-27, hold H=2 to 04-01 (a 4-night borrow across Good Friday), then flat."""
    bars = {
        "L": hand_bars([99, 101, 103, 105, 107, 108], [100, 104, 106, 107, 108, 109]),
        "X": hand_bars([50, 52, 50, 48, 47, 46], [50, 51, 49, 47, 46, 45]),
    }
    ref = reference_backtest(
        bars,
        HAND_SESSIONS,
        ["L"],
        ["X"],
        [(ts("2024-03-26T16:30-04:00"), 1)],
        hold=2,
        gross=1.0,
        commission=0.001,
        slippage=0.01,
        borrow=0.1,
        cash=1000.0,
    )
    # Decision 03-26: equity 1000; L: +0.5*1000/100 = 5 shares; X: -0.5*1000/50 = -10 shares.
    # 03-27 open: buy 5 L at 101*1.01 = 102.01 (cost 510.05, commission 0.51005),
    #             short 10 X at 52*0.99 = 51.48 (proceeds 514.80, commission 0.51480).
    cash1 = 1000 - 510.05 - 0.51005 + 514.80 - 0.51480  # 1003.72515
    fee2 = 0.1 * 10 * 51 * 1 / 365  # borrow for the night 03-27 -> 03-28 on the 03-27 close
    cash2 = cash1 - fee2
    fee3 = 0.1 * 10 * 49 * 4 / 365  # 03-28 -> 04-01: four nights, on the 03-28 close
    # 04-01 open (= 03-27 + 2 sessions): sell 5 L at 105*0.99 = 103.95, cover 10 X at 48*1.01.
    cash3 = cash2 - fee3 + 5 * 103.95 - 0.51975 - 10 * 48.48 - 0.4848
    expected = [1000.0, cash1 + 5 * 104 - 10 * 51, cash2 + 5 * 106 - 10 * 49, cash3, cash3, cash3]
    assert cash1 == pytest.approx(1003.72515, abs=1e-12)
    assert cash3 == pytest.approx(1036.993887671233, abs=1e-9)
    np.testing.assert_allclose(ref.equity.to_numpy(), expected, rtol=1e-13)
    np.testing.assert_allclose(
        ref.cash.to_numpy(), [1000, cash1, cash2, cash3, cash3, cash3], rtol=1e-13
    )
    fills = sorted_fills(ref.fills)
    assert list(zip(fills["date"].dt.strftime("%m-%d"), fills["ticker"], strict=True)) == [
        ("03-27", "L"),
        ("03-27", "X"),
        ("04-01", "L"),
        ("04-01", "X"),
    ]
    np.testing.assert_allclose(fills["shares"], [5, -10, -5, 10], rtol=1e-13)
    np.testing.assert_allclose(fills["price"], [102.01, 51.48, 103.95, 48.48], rtol=1e-13)
    np.testing.assert_allclose(fills["commission"], [0.51005, 0.5148, 0.51975, 0.4848], rtol=1e-12)
    np.testing.assert_allclose(ref.borrow["fee"], [fee2, fee3], rtol=1e-13)
    assert [str(d.date()) for d in ref.borrow["date"]] == ["2024-03-28", "2024-04-01"]
    assert [(str(b.entry.date()), str(b.exit.date()), b.closed_by) for b in ref.books] == [
        ("2024-03-27", "2024-04-01", "hold")
    ]


def test_reference_by_hand_data_end_and_counter_event():
    """G=2, no costs. Y's data ends at 04-01: closed at its open, the book runs on; a -1 known
    exactly at the 04-02 open enters 04-03 and closes the rest."""
    bars = {
        "L": hand_bars([10, 10, 11, 12, 12, 15], [10, 11, 12, 12, 13, 14]),
        "X": hand_bars([20, 21, 19, 18, 20, 22], [20, 20, 18, 19, 21, 20]),
        "Y": hand_bars([40, 40, 42, 44], [40, 41, 42, 43]),
    }
    events = [(ts("2024-03-26T20:00-04:00"), 1), (ts("2024-04-02T09:30:00-04:00"), -1)]
    ref = reference_backtest(
        bars,
        HAND_SESSIONS,
        ["L"],
        ["X", "Y"],
        events,
        hold=10,
        gross=2.0,
        commission=0.0,
        slippage=0.0,
        borrow=0.0,
        cash=1000.0,
    )
    # Shares: L +1.0*1000/10 = 100, X -0.5*1000/20 = -25, Y -0.5*1000/40 = -12.5.
    # 03-27: cash 1000 - 100*10 + 25*21 + 12.5*40 = 1025.
    # 04-01: cover Y at 44: cash 1025 - 550 = 475.  04-03: sell L at 15, cover X at 22.
    expected = [
        1000.0,
        1025 + 100 * 11 - 25 * 20 - 12.5 * 41,  # 1112.5
        1025 + 100 * 12 - 25 * 18 - 12.5 * 42,  # 1250
        475 + 100 * 12 - 25 * 19,  # 1200
        475 + 100 * 13 - 25 * 21,  # 1250
        475 + 100 * 15 - 25 * 22,  # 1425
    ]
    np.testing.assert_allclose(ref.equity.to_numpy(), expected, rtol=1e-13)
    fills = sorted_fills(ref.fills)
    got = list(
        zip(
            fills["date"].dt.strftime("%m-%d"),
            fills["ticker"],
            fills["shares"],
            fills["price"],
            strict=True,
        )
    )
    assert got == [
        ("03-27", "L", 100.0, 10.0),
        ("03-27", "X", -25.0, 21.0),
        ("03-27", "Y", -12.5, 40.0),
        ("04-01", "Y", 12.5, 44.0),
        ("04-03", "L", -100.0, 15.0),
        ("04-03", "X", 25.0, 22.0),
    ]
    assert [(str(b.entry.date()), str(b.exit.date()), b.closed_by) for b in ref.books] == [
        ("2024-03-27", "2024-04-03", "counter")
    ]


def test_reference_by_hand_sizing_and_conventions():
    """Weights G/2/n per side; a side with no eligible name opens nothing (convention 1); a book
    whose names all ended is flat, so the next +1 opens a new book (convention 2). No costs."""
    full = {
        "L1": hand_bars([10] * 6, [10, 10, 20, 20, 20, 20]),
        "L2": hand_bars([40] * 6, [40] * 6),
    }
    ends = {  # last bar 03-28, before the run's last session
        "L": hand_bars([10, 10, 10], [10, 10, 10]),
        "X": hand_bars([5, 5, 5], [5, 5, 5]),
    }
    lists = {  # first bar 04-01
        "L3": hand_bars([30, 30, 30], [30, 30, 30], first=3),
        "Z": hand_bars([8, 8, 8], [8, 8, 8], first=3),
    }
    bars = {**full, **ends, **lists}
    no_costs = dict(commission=0.0, slippage=0.0, borrow=0.0, cash=1000.0)

    def books(ref):
        return [
            (str(b.entry.date()), b.exit and str(b.exit.date()), b.closed_by, b.longs, b.shorts)
            for b in ref.books
        ]

    def fills(ref):
        f = sorted_fills(ref.fills)
        return list(zip(f["date"].dt.strftime("%m-%d"), f["ticker"], f["shares"], strict=True))

    # Two longs, one short that ends mid-hold; the first event enters the run's first session.
    events = [
        (ts("2024-03-26T08:00-04:00"), 1),  # enters 03-26, the run's first session: ignored
        (ts("2024-03-26T12:00-04:00"), 1),  # enters 03-27: open L1, L2 / X
        (ts("2024-03-27T12:00-04:00"), 1),  # enters 03-28: extend; X's last bar: cover X
    ]
    ref = reference_backtest(
        bars, HAND_SESSIONS, ["L1", "L2"], ["X"], events, hold=10, gross=1.0, **no_costs
    )
    # L1: 0.25*1000/10 = 25, L2: 0.25*1000/40 = 6.25, X: -0.5*1000/5 = -100.
    assert fills(ref) == [
        ("03-27", "L1", 25.0),
        ("03-27", "L2", 6.25),
        ("03-27", "X", -100.0),
        ("03-28", "X", 100.0),
    ]
    # 03-28: cash 1000 - 250 - 250 + 500 - 500 = 500; L1 closes at 20: 500 + 500 + 250.
    np.testing.assert_allclose(
        ref.equity.to_numpy(), [1000, 1000, 1250, 1250, 1250, 1250], rtol=1e-14
    )
    assert books(ref) == [("2024-03-27", None, None, ("L1", "L2"), ("X",))]

    # Convention 1: the only short lists 04-01, so the +1 entering 03-27 opens nothing.
    events = [(ts("2024-03-26T12:00-04:00"), 1), (ts("2024-04-01T12:00-04:00"), 1)]
    ref = reference_backtest(
        bars, HAND_SESSIONS, ["L1"], ["Z"], events, hold=1, gross=1.0, **no_costs
    )
    assert books(ref) == [("2024-04-02", "2024-04-03", "hold", ("L1",), ("Z",))]
    assert fills(ref) == [
        ("04-02", "L1", 0.5 * 1000 / 20),
        ("04-02", "Z", -0.5 * 1000 / 8),
        ("04-03", "L1", -25.0),
        ("04-03", "Z", 62.5),
    ]

    # Convention 2: L and X both end 03-28 -> the book is flat; the +1 entering 04-02 opens a
    # new book with the names listed 04-01 (it would only extend a book still held).
    ref = reference_backtest(
        bars, HAND_SESSIONS, ["L", "L3"], ["X", "Z"], events, hold=10, gross=1.0, **no_costs
    )
    assert books(ref) == [
        ("2024-03-27", "2024-03-28", "data_end", ("L",), ("X",)),
        ("2024-04-02", None, None, ("L3",), ("Z",)),
    ]


def test_reference_entry_sessions_by_hand():
    """First session whose 09:30 New York open is strictly after known_at (DST, holidays)."""
    sessions = pd.DatetimeIndex(
        ["2024-03-08", "2024-03-11", "2024-03-12", "2024-03-28", "2024-04-01", "2024-04-02"]
    )  # US DST began Sunday 2024-03-10; 2024-03-29 was Good Friday
    opens = session_opens_utc(sessions)
    assert opens[0] == pd.Timestamp("2024-03-08T14:30Z")  # EST: 09:30 = 14:30 UTC
    assert opens[1] == pd.Timestamp("2024-03-11T13:30Z")  # EDT: 09:30 = 13:30 UTC
    cases = {
        "2024-03-08T09:29:59-05:00": "2024-03-08",
        "2024-03-08T09:30:00-05:00": "2024-03-11",  # not strictly after the open
        "2024-03-11T13:29:59Z": "2024-03-11",
        "2024-03-11T13:45:00Z": "2024-03-12",  # 09:45 EDT (08:45 if DST were ignored)
        "2024-03-28T16:00:00-04:00": "2024-04-01",
        "2024-03-29T23:59:59-04:00": "2024-04-01",  # a date-only event on Good Friday
        "2024-04-02T08:00:00+09:00": "2024-04-01",  # Tokyo: 2024-04-01 19:00 EDT... see below
        "2024-04-02T09:30:00-04:00": None,  # after the last open
    }
    # 2024-04-02 08:00 +09:00 is 2024-04-01 23:00 UTC = 19:00 EDT: after the 04-01 open.
    cases["2024-04-02T08:00:00+09:00"] = "2024-04-02"
    for text, expected in cases.items():
        k = entry_session_index(pd.Timestamp(text), opens)
        got = None if k is None else str(sessions[k].date())
        assert got == expected, text
    with pytest.raises(ValueError):
        entry_session_index(pd.Timestamp("2024-03-08 12:00"), opens)


# --------------------------------------------------------------------------------------------
# The real data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(shared_market_data):
    universe = load_universe()
    histories = CsvPriceSource(shared_market_data).load((*universe.traded, universe.benchmark))
    return universe, histories, list(load_events().events)


@pytest.fixture(scope="module")
def default_run(real) -> Run:
    universe, histories, events = real
    return run_both(
        histories, universe.long, universe.short, universe.benchmark, events, start="2015-01-01"
    )


@pytest.mark.shared_data
def test_default_run_parity(default_run):
    diffs = assert_parity(default_run)
    assert diffs["equity"] <= TOL


@pytest.mark.shared_data
def test_default_run_pinned_values(default_run, real):
    """Regression pins of the default run (2015-01-01 .. end of the shared data)."""
    run = default_run
    eq = run.engine.equity["equity"]
    assert len(run.market.sessions) == 2921
    assert str(run.market.sessions[0].date()) == "2015-01-02"
    assert str(run.market.sessions[-1].date()) == "2026-08-14"
    assert eq.iloc[-1] == pytest.approx(975412.6353348927, rel=1e-6)
    assert run.reference.equity.iloc[-1] == pytest.approx(975412.6353348927, rel=1e-6)
    assert len(run.engine.fills) == 748
    assert run.engine.fills["side"].value_counts().to_dict() == {
        "short": 246,
        "cover": 246,
        "buy": 128,
        "sell": 128,
    }
    assert len(run.plan.books) == 32 and len(run.reference.books) == 32
    assert plan_books(run)[0] == ("2023-02-02", "2023-02-09", "hold")
    assert plan_books(run)[-1] == ("2026-06-25", "2026-07-13", "hold")
    closed_by = pd.Series([b[2] for b in plan_books(run)]).value_counts().to_dict()
    assert closed_by == {"hold": 26, "counter": 6}
    assert run.reference.borrow["fee"].sum() == pytest.approx(1641.3953884827629, rel=1e-6)
    # The reference's entry sessions agree with the project's (events inside the run).
    _, _, events = real
    project = entry_sessions([e.known_at for e in events])
    for event, ours, theirs in zip(events, run.reference.entries, project, strict=True):
        if theirs is not None and run.market.sessions[0] <= theirs <= run.market.sessions[-1]:
            assert ours == theirs, event.id


@pytest.mark.shared_data
def test_default_run_fill_commissions(default_run):
    eng = signed_fills(default_run.engine.fills)
    ref = sorted_fills(default_run.reference.fills)
    diff = rel_diff(eng["commission"].to_numpy(), ref["commission"].to_numpy())
    assert diff.max() <= TOL, f"commission differs by up to {diff.max():.3g} relative"


VARIANTS = {
    "H1": dict(hold=1),
    "H3": dict(hold=3),
    "H10": dict(hold=10),
    "H20": dict(hold=20),
    "G0.5": dict(gross=0.5),
    "G2": dict(gross=2.0),
    "G3-H20-high-costs": dict(hold=20, gross=3.0, costs=HIGH_COSTS),
    "zero-costs": dict(costs=ZERO_COSTS),
    "high-costs": dict(costs=HIGH_COSTS),
    "slippage-7bp": dict(costs=flat_costs(1.0, 7.0, 50.0)),
    # entry of the first book (2023-02-02) is the run's first session: ignored
    "start-on-an-entry": dict(start="2023-02-02"),
    # ends with a book open (entered 2026-06-25); SNDK lists inside; ENTG, ASML end inside
    "end-inside-a-book": dict(start="2024-01-01", end="2026-07-01"),
    # ASML's last bar (2026-05-07) is the run's last session: not closed early
    "end-on-asml-last-bar": dict(start="2026-01-01", end="2026-05-07"),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(VARIANTS))  # ruined 2026-06-22
def test_variant_parity(real, name):
    universe, histories, events = real
    options = {"start": "2023-01-01", **VARIANTS[name]}
    run = run_both(histories, universe.long, universe.short, universe.benchmark, events, **options)
    assert len(run.engine.fills) > 0
    assert_parity(run)


# --------------------------------------------------------------------------------------------
# Synthetic edge cases (real NYSE sessions 2024-03-01 .. 2024-04-30; runs from 2024-03-20)
# --------------------------------------------------------------------------------------------

SYN_DATES = pd.bdate_range("2024-03-01", "2024-04-30", freq="C", holidays=["2024-03-29"])
SYN_LONG = ("LA", "LB")
SYN_SHORT = ("SA", "SB", "SC")
SYN_START = "2024-03-20"


def synthetic_history(ticker: str, dates: pd.DatetimeIndex, seed: int) -> PriceHistory:
    """A seeded random walk. Even seeds have no wicks (open = high or low), so a slipped fill
    lies outside the bar and any clamping to high/low would show."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
    gap = np.exp(rng.normal(0, 0.01, len(dates)))
    open_ = np.r_[close[0], close[:-1]] * gap
    wick = 0.0 if seed % 2 == 0 else 1.0
    high = np.maximum(open_, close) * (1 + wick * rng.uniform(0, 0.01, len(dates)))
    low = np.minimum(open_, close) * (1 - wick * rng.uniform(0, 0.01, len(dates)))
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1_000, 10_000, len(dates)).astype(float),
        },
        index=pd.DatetimeIndex(dates, name="date"),
    )
    digest = hashlib.sha256(bars.to_csv().encode()).hexdigest()
    return PriceHistory(ticker, bars, f"<synthetic {ticker}>", digest)


def synthetic_histories(
    spans: dict[str, tuple[str | None, str | None]] | None = None, seed: int = 0
) -> dict[str, PriceHistory]:
    """Every synthetic ticker on SYN_DATES, cut to ``spans[ticker] = (first, last)``."""
    spans = spans or {}
    out = {"BM": synthetic_history("BM", SYN_DATES, seed + 99)}
    for k, ticker in enumerate((*SYN_LONG, *SYN_SHORT)):
        first, last = spans.get(ticker, (None, None))
        lo, hi = pd.Timestamp(first or SYN_DATES[0]), pd.Timestamp(last or SYN_DATES[-1])
        dates = SYN_DATES[(lo <= SYN_DATES) & (hi >= SYN_DATES)]
        out[ticker] = synthetic_history(ticker, dates, seed + k)
    return out


@dataclass(frozen=True)
class SynCase:
    events: tuple[tuple[str, int], ...]
    books: tuple[tuple[str, str | None, str | None], ...]  # (entry, exit, closed_by) expected
    spans: dict = field(default_factory=dict)
    long: tuple[str, ...] = SYN_LONG
    short: tuple[str, ...] = SYN_SHORT
    end: str | None = None


SYN_CASES = {
    "event-on-good-friday": SynCase((("2024-03-29", 1),), (("2024-04-01", "2024-04-08", "hold"),)),
    "intraday-on-good-friday": SynCase(
        (("2024-03-29T10:00", 1),), (("2024-04-01", "2024-04-08", "hold"),)
    ),
    "two-events-one-session": SynCase(
        (("2024-03-25T16:30", 1), ("2024-03-26T08:00", 1)), (("2024-03-26", "2024-04-03", "hold"),)
    ),
    "plus-minus-while-flat": SynCase((("2024-03-25T16:30", 1), ("2024-03-26T08:00", -1)), ()),
    "plus-minus-while-holding": SynCase(
        (("2024-03-20T12:00", 1), ("2024-03-25T17:00", 1), ("2024-03-26T09:00", -1)),
        (("2024-03-21", "2024-03-28", "hold"),),
    ),
    "plus-minus-on-the-exit-session": SynCase(
        (
            ("2024-03-20T12:00", 1),
            ("2024-03-27T16:30", 1),
            ("2024-03-27T16:31", -1),
            ("2024-04-01T12:00", 1),
        ),
        (("2024-03-21", "2024-03-28", "hold"), ("2024-04-02", "2024-04-09", "hold")),
    ),
    "counter-while-flat": SynCase(
        (("2024-03-22T12:00", -1), ("2024-03-26T12:00", 1)), (("2024-03-27", "2024-04-04", "hold"),)
    ),
    "counter-closes": SynCase(
        (("2024-03-20T12:00", 1), ("2024-03-22T20:00", -1), ("2024-03-26T12:00", -1)),
        (("2024-03-21", "2024-03-25", "counter"),),
    ),
    "extension": SynCase(
        (("2024-03-20T12:00", 1), ("2024-03-25T18:00", 1), ("2024-04-01T10:00", 1)),
        (("2024-03-21", "2024-04-09", "hold"),),
    ),
    "extension-on-the-exit-session": SynCase(
        (("2024-04-02T09:30", 1), ("2024-04-10T09:29:59", 1)),
        (("2024-04-03", "2024-04-17", "hold"),),
    ),
    "mixed-sums": SynCase(
        (
            ("2024-03-20T12:00", 1),
            ("2024-03-25T17:00", 1),
            ("2024-03-25T18:00", 1),
            ("2024-03-25T19:00", -1),
            ("2024-04-01T17:00", -1),
            ("2024-04-01T18:00", -1),
            ("2024-04-01T19:00", 1),
        ),
        (("2024-03-21", "2024-04-02", "counter"),),
    ),
    "name-ends-mid-hold": SynCase(
        (("2024-03-29", 1),),
        (("2024-04-01", "2024-04-08", "hold"),),
        spans={"SB": (None, "2024-04-03")},
    ),
    "name-ends-the-day-after-entry": SynCase(
        (("2024-03-29", 1),),
        (("2024-04-01", "2024-04-08", "hold"),),
        spans={"SB": (None, "2024-04-02")},
    ),
    "name-ends-on-the-exit-session": SynCase(
        (("2024-03-29", 1),),
        (("2024-04-01", "2024-04-08", "hold"),),
        spans={"SB": (None, "2024-04-08")},
    ),
    "name-ends-on-the-entry-session": SynCase(
        (("2024-04-02T12:00", 1),),
        (("2024-04-03", "2024-04-10", "hold"),),
        spans={"SB": (None, "2024-04-03")},
    ),
    "whole-short-side-ends": SynCase(
        (("2024-03-29", 1),),
        (("2024-04-01", "2024-04-08", "hold"),),
        spans={"SA": (None, "2024-04-03")},
        short=("SA",),
    ),
    "name-ends-on-an-extension-session": SynCase(
        (("2024-03-29", 1), ("2024-04-02T12:00", 1)),
        (("2024-04-01", "2024-04-10", "hold"),),
        spans={"SB": (None, "2024-04-03")},
    ),
    "name-ends-on-a-counter-session": SynCase(
        (("2024-03-29", 1), ("2024-04-02T12:00", -1)),
        (("2024-04-01", "2024-04-03", "counter"),),
        spans={"SB": (None, "2024-04-03")},
    ),
    "name-lists-while-held-is-not-added": SynCase(
        (("2024-03-29", 1),),
        (("2024-04-01", "2024-04-08", "hold"),),
        spans={"LB": ("2024-04-02", None)},
    ),
    "name-lists-mid-run": SynCase(
        (("2024-04-01T12:00", 1), ("2024-04-10T12:00", 1)),
        (("2024-04-02", "2024-04-09", "hold"), ("2024-04-11", "2024-04-18", "hold")),
        spans={"LB": ("2024-04-02", None)},
    ),
    "no-eligible-short-opens-nothing": SynCase(
        (("2024-03-25T12:00", 1), ("2024-04-09T12:00", 1)),
        (("2024-04-10", "2024-04-17", "hold"),),
        spans={"SA": ("2024-04-08", None)},
        short=("SA",),
    ),
    "all-names-ended-is-flat": SynCase(
        (("2024-03-25T12:00", 1), ("2024-04-01T12:00", 1), ("2024-04-10T12:00", 1)),
        (("2024-03-26", "2024-04-05", "data_end"), ("2024-04-11", "2024-04-18", "hold")),
        spans={
            "LA": (None, "2024-04-05"),
            "SA": (None, "2024-04-05"),
            "LB": ("2024-04-08", None),
            "SB": ("2024-04-08", None),
        },
        short=("SA", "SB"),
    ),
    "first-session-before-and-after-run": SynCase(
        (
            ("2024-03-19T17:00", 1),
            ("2024-03-05", 1),
            ("2024-04-30T10:00", 1),
            ("2024-04-29T16:30", 1),
        ),
        (("2024-04-30", None, None),),
    ),
    "run-end-cuts-a-book": SynCase(
        (("2024-04-18T12:00", 1),),
        (("2024-04-19", None, None),),
        spans={"SC": (None, "2024-04-24")},
        end="2024-04-24",
    ),
}


def run_synthetic(
    case: SynCase,
    hold: int = 5,
    gross: float = 1.0,
    costs: Costs = DEFAULT_COSTS,
    seed: int = 0,
) -> Run:
    histories = synthetic_histories(case.spans, seed)
    return run_both(
        histories,
        case.long,
        case.short,
        "BM",
        make_events(case.events),
        start=SYN_START,
        end=case.end,
        hold=hold,
        gross=gross,
        costs=costs,
    )


def test_reference_imports_nothing_from_the_project():
    tree = ast.parse((Path(__file__).parent / "reference_engine.py").read_text(encoding="utf-8"))
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= {"__future__", "dataclasses", "numpy", "pandas"}, modules


def test_synthetic_sessions_are_nyse_sessions():
    hist = synthetic_histories()
    sessions = resolve_sessions(pd.Timestamp(SYN_DATES[0]), None, hist)
    assert list(sessions) == list(SYN_DATES)
    assert pd.Timestamp("2024-03-29") not in SYN_DATES


@pytest.mark.parametrize("name", list(SYN_CASES))
def test_synthetic_edge_case(name):
    case = SYN_CASES[name]
    run = run_synthetic(case)
    assert reference_books(run) == list(case.books)
    assert plan_books(run) == list(case.books)
    assert_parity(run)


def test_synthetic_name_ending_is_closed_at_its_last_open():
    run = run_synthetic(SYN_CASES["name-ends-mid-hold"])
    for fills in (signed_fills(run.engine.fills), sorted_fills(run.reference.fills)):
        sb = fills[fills["ticker"] == "SB"]
        assert [str(d.date()) for d in sb["date"]] == ["2024-04-01", "2024-04-03"]
        assert sb["shares"].iloc[0] < 0 and sb["shares"].sum() == pytest.approx(0, abs=1e-9)
        rest = fills[fills["ticker"] != "SB"]
        assert set(rest["date"].dt.strftime("%m-%d")) == {"04-01", "04-08"}


def test_synthetic_late_listing_is_not_eligible_before_its_first_bar():
    run = run_synthetic(SYN_CASES["name-lists-mid-run"])
    for fills in (signed_fills(run.engine.fills), sorted_fills(run.reference.fills)):
        lb = fills[fills["ticker"] == "LB"]
        assert [str(d.date()) for d in lb["date"]] == ["2024-04-11", "2024-04-18"]
    assert run.reference.books[0].longs == ("LA",)
    assert run.reference.books[1].longs == ("LA", "LB")


def test_synthetic_fills_are_open_times_one_plus_minus_s_outside_the_bar():
    """Slippage is exactly open*(1±s) even where that lies outside the bar's high/low."""
    run = run_synthetic(SYN_CASES["extension"], costs=HIGH_COSTS)
    fills = signed_fills(run.engine.fills)
    outside = 0
    for row in fills.itertuples():
        bar = run.market.histories[row.ticker].bars.loc[row.date]
        expected = bar["open"] * (1 + HIGH_COSTS.slippage.rate_value * np.sign(row.shares))
        assert row.price == pytest.approx(expected, rel=1e-12)
        outside += not bar["low"] <= row.price <= bar["high"]
    assert outside > 0


ALL_EVENTS = tuple(sorted({ev for case in SYN_CASES.values() for ev in case.events}))


@pytest.mark.parametrize(
    ("hold", "gross", "costs"),
    [
        (1, 1.0, DEFAULT_COSTS),
        (2, 3.0, HIGH_COSTS),
        (3, 0.5, ZERO_COSTS),
        (7, 2.0, HIGH_COSTS),
        (20, 3.0, DEFAULT_COSTS),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_variants(hold, gross, costs, seed):
    """Every synthetic event at once, late/early names, and other parameters."""
    case = SynCase(
        ALL_EVENTS,
        (),
        spans={
            "LB": ("2024-04-02", None),
            "SA": (None, "2024-04-05"),
            "SB": ("2024-03-27", "2024-04-17"),
        },
    )
    run = run_synthetic(case, hold, gross, costs, seed)
    assert len(run.reference.books) > 0
    assert_parity(run)


# --------------------------------------------------------------------------------------------
# Ruin: the first close with equity <= 0 ends the run (README "The rules")
# --------------------------------------------------------------------------------------------


def ruin_history(
    ticker: str, dates: pd.DatetimeIndex, seed: int, jumps: dict[str, float] | None = None
) -> PriceHistory:
    """A quiet random walk (0.3% a day, opens within 0.1% of the previous close, so a gross-50
    opening stays within backtrader's cash) with ``jumps[date] = factor``: the close of that
    date and every later bar are multiplied by the factor (the jump happens during the
    session, after its open)."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.003, len(dates))))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.001, len(dates)))
    for day, factor in (jumps or {}).items():
        k = int(dates.get_loc(pd.Timestamp(day)))
        close[k:] *= factor
        open_[k + 1 :] *= factor
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(len(dates), 1e4),
        },
        index=pd.DatetimeIndex(dates, name="date"),
    )
    digest = hashlib.sha256(bars.to_csv().encode()).hexdigest()
    return PriceHistory(ticker, bars, f"<ruin {ticker}>", digest)


@dataclass(frozen=True)
class RuinCase:
    events: tuple[tuple[str, int], ...]
    jumps: dict  # ticker -> {date: factor}
    ruined_on: str | None  # expected at gross 50
    end: str | None = None


RUIN_CASES = {
    # Book entered 03-21 (planned exit 03-28); SA +20% during 03-25: a loss of 25/3 x 20% of
    # the decision equity at G = 50. The 04-01 event would open a second book.
    "bust-mid-book": RuinCase(
        (("2024-03-20T12:00", 1), ("2024-04-01T12:00", 1)),
        {"SA": {"2024-03-25": 1.2}},
        "2024-03-25",
    ),
    # The same jump during the entry session: ruined at the book's first close.
    "bust-at-the-first-close": RuinCase(
        (("2024-03-20T12:00", 1), ("2024-04-01T12:00", 1)),
        {"SA": {"2024-03-21": 1.2}},
        "2024-03-21",
    ),
    # Ruined at the close of the run's last session (2024-04-30).
    "bust-on-the-last-session": RuinCase(
        (("2024-04-24T12:00", 1),),
        {"SB": {"2024-04-30": 1.25}},
        "2024-04-30",
    ),
    # A counter-event is decided at the ruin close (exit at 03-26's open): not executed.
    "bust-on-a-decision-close": RuinCase(
        (("2024-03-20T12:00", 1), ("2024-03-25T17:00", -1)),
        {"SA": {"2024-03-25": 1.2}},
        "2024-03-25",
    ),
    # Two jumps: G = 50 is ruined on 03-25, G = 20 on 03-27, G = 1 survives and trades the
    # second book (04-02 to 04-09).
    "two-jumps": RuinCase(
        (("2024-03-20T12:00", 1), ("2024-04-01T12:00", 1)),
        {"SA": {"2024-03-25": 1.2}, "SB": {"2024-03-27": 1.25}},
        "2024-03-25",
    ),
}


def ruin_histories(case: RuinCase) -> dict[str, PriceHistory]:
    out = {"BM": ruin_history("BM", SYN_DATES, 99)}
    for k, ticker in enumerate((*SYN_LONG, *SYN_SHORT)):
        out[ticker] = ruin_history(ticker, SYN_DATES, k, case.jumps.get(ticker))
    return out


def run_ruin(case: RuinCase, rules: dict, costs: Costs = DEFAULT_COSTS) -> Run:
    """``rules``: hold, gross and max_gross of the baseline strategy."""
    return run_both(
        ruin_histories(case),
        SYN_LONG,
        SYN_SHORT,
        "BM",
        make_events(case.events),
        start=SYN_START,
        end=case.end,
        **rules,
        costs=costs,
    )


GROSS_50 = dict(hold=5, gross=50.0, max_gross=100.0)


@pytest.mark.parametrize(
    "name",
    list(RUIN_CASES),
)
def test_ruin_parity(name):
    """Backtrader stops at the ruin close exactly as the reference: equity on every session
    (held after the ruin), fills (none after it), borrow charges, books."""
    case = RUIN_CASES[name]
    run = run_ruin(case, GROSS_50)
    day = pd.Timestamp(case.ruined_on)
    assert run.reference.ruined_on == day and run.engine.ruined_on == day
    assert_parity(run)
    equity = run.engine.equity
    k = int(run.sessions.get_loc(day))
    assert equity["equity"].iloc[k] <= 0 < equity["equity"].iloc[:k].min()
    held = equity.iloc[k:]
    assert (held == held.iloc[0]).all().all(), "equity.csv rows after the ruin are held"
    assert (run.engine.fills["date"] <= day).all()
    assert (run.engine.borrow["date"] <= day).all()
    assert run.reference.books[-1].closed_by == "ruin"


def test_ruin_decided_exit_is_not_executed():
    """The counter-event's exit decided at the ruin close (fill 03-26) never happens."""
    run = run_ruin(RUIN_CASES["bust-on-a-decision-close"], GROSS_50)
    at_ruin = int(run.sessions.get_loc(pd.Timestamp("2024-03-25")))
    decided = [a for a in actions_in_order(run.plan, "close") if a.session == at_ruin]
    assert decided and decided[0].cols
    assert set(run.engine.fills["date"].dt.strftime("%m-%d")) == {"03-21"}
    assert plan_books(run) == [("2024-03-21", "2024-03-26", "counter")]
    assert executed_books(run) == [("2024-03-21", None, "ruin")]


@pytest.mark.parametrize(
    ("gross", "ruined_on"),
    [(1.0, None), (20.0, "2024-03-27")],
)
def test_ruin_two_jumps_other_grosses(gross, ruined_on):
    run = run_ruin(RUIN_CASES["two-jumps"], dict(hold=5, gross=gross, max_gross=100.0))
    assert run.engine.ruined_on == (pd.Timestamp(ruined_on) if ruined_on else None)
    assert_parity(run)
    if ruined_on is None:
        assert [b[0] for b in plan_books(run)] == ["2024-03-21", "2024-04-02"]


def test_ruin_by_hand():
    """Flat prices, G = 50, no costs: a 20% jump of the only short during the entry session
    loses 25 x 20% = 5 times the equity at the close; nothing after it trades."""
    sessions = HAND_SESSIONS
    bars = {
        "L": hand_bars([10] * 6, [10] * 6),
        "X": hand_bars([50, 50, 60, 60, 60, 60], [50, 60, 60, 60, 60, 60]),
    }
    events = [(ts("2024-03-26T12:00-04:00"), 1), (ts("2024-03-28T12:00-04:00"), -1)]
    ref = reference_backtest(
        bars,
        sessions,
        ["L"],
        ["X"],
        events,
        hold=2,
        gross=50.0,
        commission=0.0,
        slippage=0.0,
        borrow=0.0,
        cash=1000.0,
    )
    # L: +25 x 1000 / 10 = 2500 shares; X: -25 x 1000 / 50 = -500 shares, filled at 10 and 50.
    # Close 03-27: cash 1000 - 25000 + 25000 = 1000; equity 1000 + 25000 - 500 x 60 = -4000.
    assert ref.ruined_on == pd.Timestamp("2024-03-27")
    np.testing.assert_allclose(ref.equity.to_numpy(), [1000, -4000, -4000, -4000, -4000, -4000])
    np.testing.assert_allclose(ref.cash.to_numpy(), [1000] * 6)
    assert len(ref.fills) == 2 and ref.borrow.empty
    assert [(str(b.entry.date()), b.exit, b.closed_by) for b in ref.books] == [
        ("2024-03-27", None, "ruin")
    ]
