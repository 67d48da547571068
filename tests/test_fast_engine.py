"""The vectorised engine (strategies/engines/fast.py) against backtrader and the reference.

For every config covered, the fast engine's equity on EVERY session must equal the backtrader
engine's (both execute the same Plan) to 1e-9 relative and, where it is cheap, also the
independent pandas reference (tests/reference_engine.py), which re-derives the plan from the
spec and so also catches a wrong plan. Metrics must equal quantstats' on the same returns and
the costs/turnover/books that backtrader's fills, borrow charges and equity give.

Sections: helpers; the real data (default run, ~50 mixed configs in one call, variants);
the synthetic edge cases of test_parity.py; random markets and configs drawn by hypothesis;
metrics; a custom sizer (both engines) and a custom cost model (refused); a run with no
book.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from engine_helpers import (
    actions_in_order,
    baseline,
    costs_of_fractions,
    fractions,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reference_engine import reference_backtest
from synthetic import history
from test_parity import (
    HIGH_COSTS,
    RUIN_CASES,
    SYN_CASES,
    SYN_LONG,
    SYN_SHORT,
    SYN_START,
    Run,
    benchmark_sessions,
    make_events,
    ruin_histories,
    run_both,
    synthetic_histories,
)

from data.calendar import entry_sessions, sessions_between
from data.csv_source import CsvPriceSource
from data.events import Event, load_events, parse_known_at
from data.market import MarketData, align, resolve_sessions
from data.prices import PriceHistory
from data.universe import load_universe
from reports.metrics import batch_metrics
from strategies.engines.backtrader_engine import run_backtrader
from strategies.engines.fast import (
    Batch,
    Evaluation,
    UnsupportedConfig,
    borrow_rates,
    check_supported,
    evaluate,
    run_fast,
)
from strategies.engines.fast_result import run_fast_result
from strategies.engines.plan_arrays import plan_arrays
from strategies.plan import Plan, build_plan
from strategies.policies.costs import Costs, FlatBorrow, FlatCommission, FlatSlippage
from strategies.policies.sizing import Sizing
from strategies.result import EngineResult, daily_returns
from strategies.strategy import Strategy

TOL = 1e-9

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """One config of the batched parameters plus the holding period (which shapes the plan)."""

    hold: int = 5
    gross: float = 1.0
    commission: float = 0.0001
    slippage: float = 0.0002
    borrow: float = 0.005
    cash: float = 1_000_000.0
    max_gross: float = 3.0

    @property
    def costs(self) -> Costs:
        """Flat costs at these fractions (the cost models take basis points)."""
        return costs_of_fractions(self.commission, self.slippage, self.borrow)

    def strategy(self, long: Sequence[str], short: Sequence[str]) -> Strategy:
        return baseline(long, short, self.hold, self.gross, self.max_gross, self.costs)


DEFAULT = Params()


def batch(params: Sequence[Params]) -> Batch:
    return Batch.of(
        gross=[p.gross for p in params],
        commission=[p.commission for p in params],
        slippage=[p.slippage for p in params],
        borrow=[p.borrow for p in params],
        cash=[p.cash for p in params],
        max_gross=[p.max_gross for p in params],
    )


def arrays_of(market: MarketData, plan: Plan):
    return plan_arrays(market, plan, borrow_rates(plan.strategy, market))


def fast(market: MarketData, plan: Plan, params: Sequence[Params]) -> Evaluation:
    return evaluate(arrays_of(market, plan), batch(params), plan.strategy)


def metrics(ev: Evaluation, sessions: pd.DatetimeIndex | None = None) -> dict[str, np.ndarray]:
    """The metrics of every row (backtests.sweep.metrics_of); with ``sessions``, also
    ``ruined_on``: the date of each row's ruin close, "" when not ruined."""
    out = batch_metrics(
        ev.equity,
        ev.batch.cash,
        ev.book_pnl,
        ev.decision_equity,
        ev.commission,
        ev.slippage_cost,
        ev.borrow_cost,
        ev.notional,
        ev.ruined_on,
        ev.arrays.decision,
    )
    if sessions is not None:
        out["ruined_on"] = np.array(
            ["" if k < 0 else sessions[k].date().isoformat() for k in ev.ruined_on]
        )
    return out


def plan_for(market: MarketData, long, short, events: Sequence[Event], p: Params) -> Plan:
    entries = entry_sessions([e.known_at for e in events])
    return build_plan(market, p.strategy(tuple(long), tuple(short)), events, entries)


def backtrader_equity(market: MarketData, plan: Plan, p: Params) -> EngineResult:
    """backtrader on ``plan``, which must have been planned with ``p`` (the engine takes the
    rules and costs from plan.strategy, the plan's books are sized with its gross)."""
    s = plan.strategy
    assert (s.hold, s.gross, s.max_gross, s.costs) == (p.hold, p.gross, p.max_gross, p.costs)
    return run_backtrader(market, plan, p.cash)


def reference_equity(
    histories: dict[str, PriceHistory],
    sessions: pd.DatetimeIndex,
    long: Sequence[str],
    short: Sequence[str],
    events: Sequence[Event],
    p: Params,
) -> np.ndarray:
    ref = reference_backtest(
        {t: histories[t].bars for t in (*long, *short)},
        sessions,
        list(long),
        list(short),
        [(e.known_at, e.direction) for e in events],
        hold=p.hold,
        gross=p.gross,
        commission=p.commission,
        slippage=p.slippage,
        borrow=p.borrow,
        cash=p.cash,
    )
    assert list(ref.equity.index) == list(sessions)
    return ref.equity.to_numpy()


def rel_diff(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def assert_equity(got: np.ndarray, want: np.ndarray, sessions: pd.DatetimeIndex, what: str):
    """Equity on every session within TOL relative; returns the largest relative difference."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape == (len(sessions),), (what, got.shape, want.shape)
    assert np.isfinite(got).all(), f"{what}: non-finite fast equity"
    diff = rel_diff(got, want)
    k = int(np.argmax(diff))
    assert diff[k] <= TOL, (
        f"{what}: equity differs by {diff[k]:.3g} relative on {sessions[k].date()} "
        f"(session {k}): fast {got[k]!r}, expected {want[k]!r}"
    )
    return float(diff[k])


def close(got: float, want: float, what: str, floor: float = 0.0) -> None:
    """Within TOL relative (plus an absolute ``floor``); NaN only matches NaN."""
    if np.isnan(want) or np.isnan(got):
        assert np.isnan(want) and np.isnan(got), f"{what}: fast {got!r}, expected {want!r}"
        return
    assert abs(got - want) <= TOL * abs(want) + floor, f"{what}: fast {got!r}, expected {want!r}"


# --------------------------------------------------------------------------------------------
# The real data
# --------------------------------------------------------------------------------------------

START = "2015-01-01"


@pytest.fixture(scope="module")
def real(shared_market_data):
    universe = load_universe()
    histories = CsvPriceSource(shared_market_data).load((*universe.traded, universe.benchmark))
    return universe, histories, list(load_events().events)


def real_market(real, start: str | None = START, end: str | None = None) -> MarketData:
    universe, histories, _ = real
    lo = pd.Timestamp(start) if start else None
    hi = pd.Timestamp(end) if end else None
    sessions = resolve_sessions(lo, hi, histories)
    assert list(sessions) == list(benchmark_sessions(histories, universe.benchmark, start, end))
    return align(histories, sessions, universe.traded, universe.benchmark)


@dataclass
class RealRun:
    market: MarketData
    plan: Plan
    engine: EngineResult


@pytest.fixture(scope="module")
def default_run(real) -> RealRun:
    universe, _, events = real
    market = real_market(real)
    plan = plan_for(market, universe.long, universe.short, events, DEFAULT)
    return RealRun(market, plan, backtrader_equity(market, plan, DEFAULT))


@pytest.mark.shared_data
def test_default_run_equals_backtrader_and_reference(real, default_run):
    universe, histories, events = real
    run = default_run
    assert len(run.plan.books) == 32 and len(run.market.sessions) == 2921
    equity = fast(run.market, run.plan, [DEFAULT]).equity[0]
    bt = run.engine.equity["equity"].to_numpy()
    assert_equity(equity, bt, run.market.sessions, "default run vs backtrader")
    ref = reference_equity(
        histories, run.market.sessions, universe.long, universe.short, events, DEFAULT
    )
    assert_equity(equity, ref, run.market.sessions, "default run vs reference")


def mixed_params(n: int, seed: int) -> list[Params]:
    """The default config, two extremes, then random gross/costs/cash (H fixed: one plan)."""
    rng = np.random.default_rng(seed)
    out = [
        DEFAULT,
        Params(gross=0.1, commission=0.0, slippage=0.0, borrow=0.0, cash=1e3),
        Params(gross=3.0, commission=0.005, slippage=0.005, borrow=0.2, cash=1e8),
    ]
    for _ in range(n - len(out)):
        out.append(
            Params(
                gross=float(rng.uniform(0.1, 3.0)),
                commission=float(rng.choice([0.0, rng.uniform(0, 0.005)])),
                slippage=float(rng.choice([0.0, rng.uniform(0, 0.005)])),
                borrow=float(rng.choice([0.0, rng.uniform(0, 0.2)])),
                cash=float(10 ** rng.uniform(3, 8)),
            )
        )
    return out


MIXED = mixed_params(50, seed=5)
MIXED_BACKTRADER_ROWS = (0, 1, 2, 17, 38)


@pytest.mark.shared_data
def test_mixed_batch_in_one_call(real, default_run):
    """50 configs in ONE evaluate call on the default plan (built with G=1): every row against
    the reference, 5 rows against backtrader run with their own plan (sized with their G), and
    every row equal to its own single-config evaluation (rows do not leak into each other)."""
    universe, histories, events = real
    market, plan = default_run.market, default_run.plan
    arrays = arrays_of(market, plan)
    equity = evaluate(arrays, batch(MIXED), plan.strategy).equity
    assert equity.shape == (len(MIXED), len(market.sessions))
    for k, p in enumerate(MIXED):
        ref = reference_equity(histories, market.sessions, universe.long, universe.short, events, p)
        assert_equity(equity[k], ref, market.sessions, f"row {k} {p} vs reference")
        alone = evaluate(arrays, batch([p]), plan.strategy).equity[0]
        assert rel_diff(equity[k], alone).max() <= 1e-14, f"row {k} differs from its own call"
    for k in MIXED_BACKTRADER_ROWS:
        p = MIXED[k]
        own_plan = plan_for(market, universe.long, universe.short, events, p)
        bt = backtrader_equity(market, own_plan, p).equity["equity"].to_numpy()
        assert_equity(equity[k], bt, market.sessions, f"row {k} {p} vs backtrader")


REAL_VARIANTS = {
    "H1": (dict(), Params(hold=1)),
    "H20-G3-high-costs": (
        dict(),
        Params(hold=20, gross=3.0, commission=0.005, slippage=0.01, borrow=0.2),
    ),
    # ends with a book open; SNDK lists inside; ENTG and ASML end inside
    "end-inside-a-book": (dict(start="2024-01-01", end="2026-07-01"), DEFAULT),
    # the first book's entry (2023-02-02) is the run's first session: ignored
    "start-on-an-entry": (dict(start="2023-02-02"), Params(hold=10, gross=0.5)),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(REAL_VARIANTS))
def test_real_variants_against_reference(real, name):
    """Other plans on the real data (hold, run window), with 3 cost configs per call."""
    universe, histories, events = real
    window, base = REAL_VARIANTS[name]
    market = real_market(real, window.get("start", START), window.get("end"))
    plan = plan_for(market, universe.long, universe.short, events, base)
    params = [
        base,
        Params(base.hold, 2.0, 0.0, 0.0, 0.0, 5e4),
        Params(base.hold, 0.7, 0.003, 0.001, 0.05, 3e7),
    ]
    equity = fast(market, plan, params).equity
    for k, p in enumerate(params):
        ref = reference_equity(histories, market.sessions, universe.long, universe.short, events, p)
        assert_equity(equity[k], ref, market.sessions, f"{name} {p} vs reference")


@pytest.mark.shared_data
def test_real_variant_open_book_at_the_end_against_backtrader(real):
    universe, _, events = real
    market = real_market(real, "2024-01-01", "2026-07-01")
    plan = plan_for(market, universe.long, universe.short, events, DEFAULT)
    assert plan.books[-1].exit is None
    bt = backtrader_equity(market, plan, DEFAULT).equity["equity"].to_numpy()
    equity = fast(market, plan, [DEFAULT]).equity[0]
    assert_equity(equity, bt, market.sessions, "end-inside-a-book vs backtrader")


# --------------------------------------------------------------------------------------------
# Synthetic edge cases of test_parity.py
# --------------------------------------------------------------------------------------------

SYN_PARAMS = {
    "default": (DEFAULT, 0),
    "G1.5-high-costs-seed1": (
        Params(
            gross=1.5,
            **fractions(HIGH_COSTS),
            cash=31_415.9,
        ),
        1,
    ),
}


def run_case(name: str, p: Params = DEFAULT, seed: int = 0) -> Run:
    """A synthetic case of test_parity.py through backtrader and the reference."""
    case = SYN_CASES[name]
    histories = synthetic_histories(case.spans, seed)
    return run_both(
        histories,
        case.long,
        case.short,
        "BM",
        make_events(case.events),
        start=SYN_START,
        end=case.end,
        hold=p.hold,
        gross=p.gross,
        max_gross=p.max_gross,
        costs=p.costs,
        cash=p.cash,
    )


@pytest.mark.parametrize("variant", list(SYN_PARAMS))
@pytest.mark.parametrize("name", list(SYN_CASES))
def test_synthetic_edge_case(name, variant):
    p, seed = SYN_PARAMS[variant]
    run = run_case(name, p, seed)
    if variant == "default":
        assert [b.closed_by for b in run.plan.books] == [b[2] for b in SYN_CASES[name].books]
    equity = fast(run.market, run.plan, [p]).equity[0]
    sessions = run.market.sessions
    assert_equity(equity, run.engine.equity["equity"].to_numpy(), sessions, "vs backtrader")
    assert_equity(equity, run.reference.equity.to_numpy(), sessions, "vs reference")


# The rules put no limit on cash: here the only short ends mid-book at G = 2 and its cover
# costs more than the cash left after buying the longs. backtrader's broker would refuse it at
# submission (checksubmit, switched off by the engine); both engines run it.
BEYOND_CASH = ("whole-short-side-ends", Params(gross=2.0), 0)


def test_cover_beyond_cash_fast_equals_reference():
    name, p, seed = BEYOND_CASH
    case = SYN_CASES[name]
    histories = synthetic_histories(case.spans, seed)
    sessions = resolve_sessions(pd.Timestamp(SYN_START), None, histories)
    market = align(histories, sessions, (*case.long, *case.short), "BM")
    events = make_events(case.events)
    plan = plan_for(market, case.long, case.short, events, p)
    assert actions_in_order(plan, "close")[0].cols == (market.column("SA"),)
    equity = fast(market, plan, [p]).equity[0]
    ref = reference_equity(histories, sessions, case.long, case.short, events, p)
    assert_equity(equity, ref, sessions, "vs reference")


def test_cover_beyond_cash_fast_equals_backtrader():
    name, p, seed = BEYOND_CASH
    run = run_case(name, p, seed)
    equity = fast(run.market, run.plan, [p]).equity[0]
    assert_equity(
        equity, run.engine.equity["equity"].to_numpy(), run.market.sessions, "vs backtrader"
    )


# --------------------------------------------------------------------------------------------
# Random markets and configs (hypothesis)
# --------------------------------------------------------------------------------------------

POOL_LONG = ("L1", "L2", "L3", "L4")
POOL_SHORT = ("S1", "S2", "S3", "S4", "S5")
# Windows over holidays and DST changes: Thanksgiving/Christmas 2018 and the 2018-12-05
# closure; DST 2020-03-08 and Good Friday 2020-04-10; 2021-07-05; Christmas/New Year 2022-23;
# DST 2024-03-10 and Good Friday 2024-03-29; Christmas 2024 and the 2025-01-09 closure.
ANCHORS = ("2018-11-12", "2020-02-24", "2021-06-14", "2022-11-14", "2024-02-26", "2024-12-02")
TIMES = (
    None,  # date only: 23:59:59 New York
    "02:30",  # inside the spring-forward gap on a DST Sunday
    "08:00",
    "09:29:59",
    "09:30",  # not strictly before the open
    "09:30:01",
    "12:00",
    "16:00",
    "16:30",
    "13:30:00Z",
    "21:00:00+09:00",
)
SPANS = ("full", "full", "full", "late", "early", "both")


@dataclass(frozen=True)
class Scenario:
    sessions: pd.DatetimeIndex
    histories: dict[str, PriceHistory]
    long: tuple[str, ...]
    short: tuple[str, ...]
    events: tuple[Event, ...]
    params: Params
    twin: Params  # a second config of the same plan, checked against the reference

    def __repr__(self) -> str:
        spans = {
            t: (str(h.bars.index[0].date()), str(h.bars.index[-1].date()))
            for t, h in self.histories.items()
            if t != "BM"
        }
        events = [(e.known_at.isoformat(), e.direction) for e in self.events]
        return (
            f"Scenario({self.sessions[0].date()}..{self.sessions[-1].date()} "
            f"({len(self.sessions)} sessions), long={self.long}, short={self.short}, "
            f"spans={spans}, events={events}, params={self.params}, twin={self.twin})"
        )


def params_strategy(hold: int):
    bp = st.floats(0.0, 0.005)
    return st.builds(
        Params,
        hold=st.just(hold),
        gross=st.floats(0.1, 3.0),
        commission=bp,
        slippage=bp,
        borrow=st.floats(0.0, 0.2),
        cash=st.floats(3.0, 8.0).map(lambda x: 10.0**x),
    )


@st.composite
def scenarios(draw) -> Scenario:
    anchor = pd.Timestamp(draw(st.sampled_from(ANCHORS)))
    start = anchor + pd.Timedelta(days=draw(st.integers(0, 21)))
    n = draw(st.integers(40, 60))
    sessions = sessions_between(start, start + pd.Timedelta(days=120))[:n]
    seed = draw(st.integers(0, 2**16))
    long = tuple(draw(st.lists(st.sampled_from(POOL_LONG), min_size=2, max_size=4, unique=True)))
    short = tuple(draw(st.lists(st.sampled_from(POOL_SHORT), min_size=2, max_size=5, unique=True)))
    histories = {"BM": history("BM", sessions, seed)}
    for k, ticker in enumerate((*long, *short), start=1):
        kind = draw(st.sampled_from(SPANS))
        first, last = 0, n - 1
        if kind in ("late", "both"):
            first = draw(st.integers(1, n - 2))
        if kind in ("early", "both"):
            last = draw(st.integers(first, n - 2))  # ends before the run's last session
        histories[ticker] = history(ticker, sessions[first : last + 1], seed + k)

    days = (sessions[-1] - sessions[0]).days
    one = st.tuples(  # (calendar day offset, time of day, direction)
        st.integers(-5, days + 3), st.sampled_from(TIMES), st.sampled_from((1, 1, 1, -1))
    )
    rows = draw(
        st.lists(st.tuples(one, st.none() | one.map(lambda e: e[1:])), min_size=1, max_size=8)
    )
    texts = []
    for (offset, time, direction), pair in rows:
        day = str((sessions[0] + pd.Timedelta(days=offset)).date())
        texts.append((day, time, direction))
        if pair is not None:  # a second event the same calendar day
            texts.append((day, *pair))
    events = tuple(
        Event(f"e{k}", parse_known_at(day if time is None else f"{day}T{time}"), direction)
        for k, (day, time, direction) in enumerate(texts)
    )
    hold = draw(st.integers(1, 15))
    return Scenario(
        sessions,
        histories,
        long,
        short,
        events,
        draw(params_strategy(hold)),
        draw(params_strategy(hold)),
    )


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_random_markets_and_configs(scenario: Scenario):
    """Fast vs backtrader (same plan) on every session; both configs also vs the reference."""
    s = scenario
    market = align(s.histories, s.sessions, (*s.long, *s.short), "BM")
    plan = plan_for(market, s.long, s.short, s.events, s.params)
    event(f"books: {min(len(plan.books), 3)}")
    exits = {b.id: b.exit for b in plan.books}
    for closed_by in {b.closed_by for b in plan.books} | {
        "name data_end" for a in actions_in_order(plan, "close") if a.session + 1 != exits[a.book]
    }:
        event(f"closed by {closed_by}")
    event(f"extended: {any(b.extensions for b in plan.books)}")
    equity = fast(market, plan, [s.params, s.twin]).equity
    bt = backtrader_equity(market, plan, s.params).equity["equity"].to_numpy()
    assert_equity(equity[0], bt, s.sessions, "vs backtrader")
    for row, p in enumerate((s.params, s.twin)):
        ref = reference_equity(s.histories, s.sessions, s.long, s.short, s.events, p)
        assert_equity(equity[row], ref, s.sessions, f"config {row} vs reference")


# --------------------------------------------------------------------------------------------
# Metrics: quantstats on the same returns, costs and books from backtrader's frames
# --------------------------------------------------------------------------------------------

QS_METRICS = {
    "total_return": lambda r: qs.stats.comp(r),
    "cagr": lambda r: qs.stats.cagr(r, periods=252),
    "sharpe": lambda r: qs.stats.sharpe(r),
    "sortino": lambda r: qs.stats.sortino(r),
    "volatility": lambda r: qs.stats.volatility(r),
    "max_drawdown": lambda r: qs.stats.max_drawdown(r),
}


def expected_metrics(
    fast_equity: np.ndarray, engine: EngineResult, plan: Plan, cash: float
) -> dict[str, float]:
    """quantstats on the fast engine's daily returns; the rest from backtrader's frames."""
    eq = engine.equity["equity"]
    returns = daily_returns(pd.Series(fast_equity, index=eq.index), cash)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {name: float(f(returns)) for name, f in QS_METRICS.items()}
    values = eq.to_numpy()
    fills = engine.fills
    notional = float((fills["shares"] * fills["price"]).abs().sum())
    pnl = [
        values[b.exit if b.exit is not None else len(values) - 1] - values[b.decision]
        for b in plan.books
    ]
    out.update(
        commission=float(fills["commission"].sum()),
        slippage_cost=float(fills["slippage"].sum()),
        borrow_cost=float(engine.borrow["fee"].sum()),
        turnover=notional / float(values.mean()),
        books=float(len(plan.books)),
        winning_books=float(np.mean(np.array(pnl) > 0)) if pnl else float("nan"),
        final_equity=float(values[-1]),
        min_decision_equity=float(min((values[b.decision] for b in plan.books), default=cash)),
        min_equity=float(min(values.min(), cash)),
    )
    out["costs"] = out["commission"] + out["slippage_cost"] + out["borrow_cost"]
    return out


def numeric_metrics(ev: Evaluation, row: int) -> dict[str, float]:
    """metrics() of one row, without the ``ruined_on`` date (checked on its own)."""
    return {name: float(v[row]) for name, v in metrics(ev).items() if name != "ruined_on"}


def assert_metrics(ev: Evaluation, row: int, engine: EngineResult, plan: Plan, cash: float) -> None:
    got = numeric_metrics(ev, row)
    want = expected_metrics(ev.equity[row], engine, plan, cash)
    assert set(got) == set(want)
    # backtrader's fill prices carry float noise: with s = 0 its slippage column sums to ~1e-11
    # where the fast engine has exactly 0; allow 1e-15 of the traded notional on money amounts.
    notional = float((engine.fills["shares"] * engine.fills["price"]).abs().sum())
    for name in want:
        money = name in ("commission", "slippage_cost", "borrow_cost", "costs")
        close(got[name], want[name], name, floor=1e-15 * notional if money else 0.0)


@pytest.mark.shared_data
def test_default_run_metrics(default_run):
    run = default_run
    ev = fast(run.market, run.plan, [DEFAULT])
    assert_metrics(ev, 0, run.engine, run.plan, DEFAULT.cash)
    m = metrics(ev)
    assert m["books"][0] == 32 and m["borrow_cost"][0] == pytest.approx(1641.3953884827629)


@pytest.mark.shared_data
@pytest.mark.parametrize("row", [1, 2, 17])
def test_mixed_batch_metrics(real, default_run, row):
    """Metrics of a row of the 50-config call equal those of its own backtrader run."""
    universe, _, events = real
    market = default_run.market
    ev = fast(market, default_run.plan, MIXED)
    p = MIXED[row]
    plan = plan_for(market, universe.long, universe.short, events, p)
    assert_metrics(ev, row, backtrader_equity(market, plan, p), plan, p.cash)


METRIC_CASES = {  # label: (synthetic case, config, price seed)
    "extension": ("extension", DEFAULT, 0),
    "extension-G3-high-costs": (
        "extension",
        Params(gross=3.0, commission=0.005, slippage=0.01, borrow=0.2, cash=12_345.0),
        1,
    ),
    "counter-closes": ("counter-closes", Params(gross=0.3, cash=1e8), 0),
    "all-names-ended-is-flat": ("all-names-ended-is-flat", Params(gross=2.0, borrow=0.1), 1),
    "name-ends-mid-hold": (
        "name-ends-mid-hold",
        Params(commission=0.002, slippage=0.003, borrow=0.15),
        0,
    ),
    "run-end-cuts-a-book": ("run-end-cuts-a-book", Params(gross=1.5, borrow=0.2), 0),
    "mixed-sums-no-costs": (
        "mixed-sums",
        Params(gross=0.8, commission=0.0, slippage=0.0, borrow=0.0),
        1,
    ),
}


@pytest.mark.parametrize("label", list(METRIC_CASES))
def test_synthetic_metrics(label):
    name, p, seed = METRIC_CASES[label]
    run = run_case(name, p, seed)
    ev = fast(run.market, run.plan, [p])
    equity = ev.equity[0]
    assert_equity(
        equity, run.engine.equity["equity"].to_numpy(), run.market.sessions, "vs backtrader"
    )
    assert_equity(equity, run.reference.equity.to_numpy(), run.market.sessions, "vs reference")
    assert_metrics(ev, 0, run.engine, run.plan, p.cash)


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KellySizer:
    """A sizing model of its own: 80% of the book long and 20% short, equal within a side.
    Sizers decide the plan, so both engines execute it exactly (nothing to refuse)."""

    name: str = "kelly"

    def size(self, view, legs) -> Sizing:
        cols = np.concatenate([leg.cols for leg in legs])
        within = [
            np.full(len(leg.cols), (0.8 if leg.side > 0 else -0.2) / len(leg.cols)) for leg in legs
        ]
        return Sizing(cols, np.concatenate(within))


class TieredCommission(FlatCommission):
    """A cost model of its own: at least 1.0 a fill. The fast engine does not know it."""

    def fee(self, shares, price):
        return np.maximum(1.0, super().fee(shares, price))


def synthetic_market(name: str, seed: int = 0) -> tuple[MarketData, list[Event]]:
    case = SYN_CASES[name]
    histories = synthetic_histories(case.spans, seed)
    sessions = resolve_sessions(pd.Timestamp(SYN_START), None, histories)
    market = align(histories, sessions, (*case.long, *case.short), "BM")
    return market, make_events(case.events)


def test_check_supported_accepts_the_baseline():
    check_supported(costs_of_fractions(0.001, 0.0, 0.1))
    check_supported(Costs())


@pytest.mark.parametrize("name", ["extension", "name-ends-mid-hold", "name-lists-mid-run"])
def test_custom_sizer_runs_in_both_engines(name):
    """A sizer the project does not know: its weights are in the plan, and the fast engine
    (equity, fills, cost totals) equals backtrader on it."""
    market, events = synthetic_market(name, seed=1)
    case = SYN_CASES[name]
    legs = baseline(case.long, case.short).legs
    strategy = Strategy(legs=legs, gross=2.0, sizer=KellySizer(), costs=DEFAULT.costs)
    check_supported(strategy.costs)
    plan = build_plan(market, strategy, events, entry_sessions([e.known_at for e in events]))
    assert plan.books
    for book in plan.books:
        w = book.gross * book.weights
        assert np.allclose(w[w > 0], 1.6 / len(book.longs), rtol=1e-15, atol=0)
        assert np.allclose(w[w < 0], -0.4 / len(book.shorts), rtol=1e-15, atol=0)
    cash = 250_000.0
    bt = run_backtrader(market, plan, cash)
    ev = run_fast(market, plan, cash)
    sessions = market.sessions
    assert_equity(ev.equity[0], bt.equity["equity"].to_numpy(), sessions, "kelly vs backtrader")
    fr = run_fast_result(market, plan, cash)
    keys = ["date", "book", "ticker", "side"]
    a = bt.fills.sort_values(keys, kind="stable").reset_index(drop=True)
    b = fr.fills.sort_values(keys, kind="stable").reset_index(drop=True)
    assert len(a) == len(b) > 0
    assert (a[keys].astype(str).to_numpy() == b[keys].astype(str).to_numpy()).all()
    for column in ("shares", "price", "commission"):
        assert rel_diff(b[column], a[column]).max() <= TOL, column
    close(ev.commission[0], float(bt.fills["commission"].sum()), "commission")
    close(ev.borrow_cost[0], float(bt.borrow["fee"].sum()), "borrow")


def test_check_supported_refuses_other_costs():
    costs = Costs(commission=TieredCommission(1.0))
    with pytest.raises(UnsupportedConfig, match=r"commission model TieredCommission.*backtrader"):
        check_supported(costs)


def test_custom_cost_model_runs_in_backtrader_only():
    """The fast engine refuses it naming it (never an approximation); backtrader charges it."""
    market, events = synthetic_market("extension")
    case = SYN_CASES["extension"]
    costs = Costs(TieredCommission(1.0), FlatSlippage(2.0), FlatBorrow(50.0))
    plan = build_plan(
        market,
        baseline(case.long, case.short, costs=costs),
        events,
        entry_sessions([e.known_at for e in events]),
    )
    with pytest.raises(UnsupportedConfig, match=r"commission model TieredCommission.*backtrader"):
        run_fast(market, plan, 10_000.0)
    fills = run_backtrader(market, plan, 10_000.0).fills
    flat = 1e-4 * (fills["shares"] * fills["price"]).abs()
    assert len(fills) > 0 and (fills["commission"] == np.maximum(1.0, flat)).all()
    assert (fills["commission"] == 1.0).any()


# --------------------------------------------------------------------------------------------
# No book
# --------------------------------------------------------------------------------------------

NO_BOOK_PARAMS = [
    DEFAULT,
    Params(gross=3.0, commission=0.005, slippage=0.005, borrow=0.2, cash=1234.5),
]


def assert_no_book_metrics(ev: Evaluation, engine: EngineResult, plan: Plan, row: int):
    p = NO_BOOK_PARAMS[row]
    m = numeric_metrics(ev, row)
    assert metrics(ev, engine.equity.index)["ruined_on"][row] == ""
    assert m["books"] == 0 and np.isnan(m["winning_books"])
    for name in (
        "total_return",
        "cagr",
        "volatility",
        "max_drawdown",
        "turnover",
        "commission",
        "slippage_cost",
        "borrow_cost",
        "costs",
    ):
        assert m[name] == 0, name
    assert np.isnan(m["sharpe"]) and np.isnan(m["sortino"])
    assert m["final_equity"] == p.cash and m["min_decision_equity"] == p.cash
    assert_metrics(ev, row, engine, plan, p.cash)  # quantstats agrees (NaN Sharpe/Sortino)


@pytest.mark.shared_data
def test_no_book_on_the_real_data(real):
    """2015-2016: no event enters, the equity is the cash on every session."""
    universe, _, events = real
    market = real_market(real, START, "2016-12-30")
    plan = plan_for(market, universe.long, universe.short, events, DEFAULT)
    assert plan.books == [] and plan.actions() == {}
    ev = fast(market, plan, NO_BOOK_PARAMS)
    for row, p in enumerate(NO_BOOK_PARAMS):
        assert (ev.equity[row] == p.cash).all()
        plan = plan_for(market, universe.long, universe.short, events, p)
        engine = backtrader_equity(market, plan, p)
        assert (engine.equity["equity"].to_numpy() == p.cash).all()
        assert_no_book_metrics(ev, engine, plan, row)


def test_no_book_synthetic():
    """+1 and -1 entering the same session while flat: nothing opens."""
    run = run_case("plus-minus-while-flat")
    assert run.plan.books == [] and len(run.plan.outcomes) == 2
    ev = fast(run.market, run.plan, NO_BOOK_PARAMS)
    events = make_events(SYN_CASES["plus-minus-while-flat"].events)
    for row, p in enumerate(NO_BOOK_PARAMS):
        assert (ev.equity[row] == p.cash).all()
        plan = plan_for(run.market, SYN_LONG, SYN_SHORT, events, p)
        engine = backtrader_equity(run.market, plan, p)
        assert_no_book_metrics(ev, engine, plan, row)


# --------------------------------------------------------------------------------------------
# Ruin (README "The rules"): the first close with equity <= 0 ends the run, per config
# --------------------------------------------------------------------------------------------


def ruin_run(name: str, p: Params) -> Run:
    case = RUIN_CASES[name]
    return run_both(
        ruin_histories(case),
        ("LA", "LB"),
        ("SA", "SB", "SC"),
        "BM",
        make_events(case.events),
        start=SYN_START,
        end=case.end,
        hold=p.hold,
        gross=p.gross,
        max_gross=p.max_gross,
        costs=p.costs,
        cash=p.cash,
    )


G50 = Params(gross=50.0, max_gross=100.0)


@pytest.mark.parametrize("name", list(RUIN_CASES))
def test_ruin_equals_backtrader_and_reference(name):
    run = ruin_run(name, G50)
    ev = fast(run.market, run.plan, [G50])
    sessions = run.market.sessions
    equity = ev.equity[0]
    assert_equity(equity, run.engine.equity["equity"].to_numpy(), sessions, "vs backtrader")
    assert_equity(equity, run.reference.equity.to_numpy(), sessions, "vs reference")
    day = RUIN_CASES[name].ruined_on
    k = int(sessions.get_loc(pd.Timestamp(day)))
    assert equity[k] <= 0 < equity[:k].min() and (equity[k:] == equity[k]).all()
    assert metrics(ev, sessions)["ruined_on"][0] == day


def ruined_metrics_expected(run: Run, p: Params) -> dict[str, float]:
    """What a ruined run reports: costs, books and equity facts from backtrader's frames; every
    return-based metric undefined."""
    eq = run.engine.equity["equity"].to_numpy()
    fills, borrow = run.engine.fills, run.engine.borrow
    ruin = run.engine.ruined_on
    executed = [b for b in run.plan.books if run.market.sessions[b.entry] <= ruin]
    out = dict.fromkeys(
        (
            "total_return",
            "cagr",
            "sharpe",
            "sortino",
            "max_drawdown",
            "volatility",
            "winning_books",
            "turnover",
        ),
        float("nan"),
    )
    out.update(
        books=float(len(executed)),
        commission=float(fills["commission"].sum()),
        slippage_cost=float(fills["slippage"].sum()),
        borrow_cost=float(borrow["fee"].sum()),
        final_equity=float(eq[-1]),
        min_decision_equity=float(min(eq[b.decision] for b in executed)),
        min_equity=float(eq.min()),
    )
    out["costs"] = out["commission"] + out["slippage_cost"] + out["borrow_cost"]
    return out


@pytest.mark.parametrize(
    "name",
    [
        "bust-mid-book",
        "bust-at-the-first-close",
        "bust-on-the-last-session",
        "bust-on-a-decision-close",
        "two-jumps",
    ],
)
def test_ruin_metrics(name):
    """Undefined return metrics; costs only of the fills and fees up to the ruin close."""
    p = Params(gross=50.0, commission=0.002, slippage=0.003, borrow=0.3, max_gross=100.0)
    run = ruin_run(name, p)
    ev = fast(run.market, run.plan, [p])
    got = numeric_metrics(ev, 0)
    want = ruined_metrics_expected(run, p)
    assert set(got) == set(want)
    notional = float((run.engine.fills["shares"] * run.engine.fills["price"]).abs().sum())
    for key in want:
        money = key in ("commission", "slippage_cost", "borrow_cost", "costs")
        close(got[key], want[key], key, floor=1e-15 * notional if money else 0.0)


def test_ruin_batch_each_config_independently():
    """One evaluate call: G = 50 ruined on 03-25, G = 20 on 03-27, G = 1 and G = 0.5 not (they
    trade the second book). Every row equals backtrader and the reference run alone with its own
    gross, and its single-config evaluation."""
    params = [Params(gross=g, max_gross=100.0) for g in (1.0, 50.0, 20.0, 0.5)]
    expected = ["", "2024-03-25", "2024-03-27", ""]
    runs = [ruin_run("two-jumps", p) for p in params]
    market = runs[0].market
    strategy = runs[0].plan.strategy
    arrays = arrays_of(market, runs[0].plan)  # the plan is the same for every gross
    ev = evaluate(arrays, batch(params), strategy)
    equity = ev.equity
    m = metrics(ev, market.sessions)
    assert list(m["ruined_on"]) == expected
    assert list(m["books"]) == [2, 1, 1, 2]
    for k, (p, run) in enumerate(zip(params, runs, strict=True)):
        what = f"gross {p.gross}"
        assert_equity(equity[k], run.engine.equity["equity"].to_numpy(), market.sessions, what)
        assert_equity(equity[k], run.reference.equity.to_numpy(), market.sessions, what)
        alone = evaluate(arrays, batch([p]), strategy)
        assert rel_diff(equity[k], alone.equity[0]).max() <= 1e-14
        if expected[k]:
            want = ruined_metrics_expected(run, p)
            got = numeric_metrics(ev, k)
            for key in want:
                close(got[key], want[key], f"{what} {key}", floor=1e-6)
        else:
            assert_metrics(ev, k, run.engine, run.plan, p.cash)


@pytest.mark.shared_data
def test_ruin_on_the_real_data_at_high_gross(real, default_run):
    """Gross 50, 200 and 1,000 on the default plan (the configs issue 11 found at the top of a
    sweep): each is ruined, on the session the reference finds, with equity equal to the
    reference's on every session; gross 1 in the same call is not."""
    universe, histories, events = real
    market, plan = default_run.market, default_run.plan
    params = [DEFAULT, *(Params(gross=g, max_gross=2000.0) for g in (50.0, 200.0, 1000.0))]
    ev = fast(market, plan, params)
    equity = ev.equity
    m = metrics(ev, market.sessions)
    assert m["ruined_on"][0] == "" and np.isfinite(m["sharpe"][0])
    for k, p in enumerate(params[1:], start=1):
        ref = reference_backtest(
            {t: histories[t].bars for t in (*universe.long, *universe.short)},
            market.sessions,
            list(universe.long),
            list(universe.short),
            [(e.known_at, e.direction) for e in events],
            hold=p.hold,
            gross=p.gross,
            commission=p.commission,
            slippage=p.slippage,
            borrow=p.borrow,
            cash=p.cash,
        )
        assert ref.ruined_on is not None
        assert m["ruined_on"][k] == ref.ruined_on.date().isoformat()
        assert_equity(equity[k], ref.equity.to_numpy(), market.sessions, f"gross {p.gross}")
        assert np.isnan(m["sharpe"][k]) and np.isnan(m["total_return"][k])
        assert m["final_equity"][k] == equity[k][-1] <= 0
