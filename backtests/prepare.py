"""One pipeline from a config to a plan: config -> market -> events -> strategy -> plan.

Every command (backtest, sweep, placebo, event study, walk-forward) and the Python API build
their inputs here, so a run, a sweep config and a placebo draw are planned the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from data.borrow import BorrowTable, load_borrow_table
from data.calendar import entry_sessions
from data.csv_source import CsvPriceSource
from data.events import EventCalendar, event_weights, load_events
from data.market import MarketData, align, resolve_sessions
from data.prices import PriceHistory
from data.universe import Universe
from strategies.plan import EventSchedule, Plan, build_plan
from strategies.policies import (
    BetaNeutral,
    BookRules,
    Costs,
    EqualWeights,
    ExitRules,
    FlatBorrow,
    FlatCommission,
    FlatSlippage,
    ImpactSlippage,
    InverseVolWeights,
    Leg,
    SumSignal,
    TableBorrow,
    TickerBorrow,
    VolTarget,
    WeightedSignal,
)
from strategies.strategy import Strategy


def price_source(config: Config) -> Any:
    """The configured price source: CSV files when data.dir is set, else Yahoo via the cache."""
    if config.data.dir is not None:
        return CsvPriceSource(config.data.dir, ohlc_check=config.data.ohlc_check)
    from data.yahoo import YahooPriceSource  # imports yfinance: only when it is used

    return YahooPriceSource(cache_dir=config.data.cache_dir, deadline_s=config.data.deadline_s)


def legs_of(config: Config) -> tuple[Leg, ...]:
    """The strategy's legs: ``[[strategy.legs]]``, else universe.long (+1) and .short (-1)."""
    if config.strategy.legs:
        return tuple(
            Leg(leg.name, tuple(leg.tickers), leg.side, leg.share) for leg in config.strategy.legs
        )
    u = config.universe
    return (Leg("long", tuple(u.long), 1, 0.5), Leg("short", tuple(u.short), -1, 0.5))


def tickers_of(config: Config, legs: tuple[Leg, ...] | None = None) -> list[str]:
    """Every ticker a run reads: the legs, the universe's baskets, the benchmark."""
    legs = [t for leg in (legs or legs_of(config)) for t in leg.tickers]
    u = config.universe
    return list(dict.fromkeys([*legs, *u.long, *u.short, config.run.benchmark]))


def strategy_from_config(config: Config, borrow: BorrowTable | None = None) -> Strategy:
    """The Strategy a config describes (its policies and cost models)."""
    s, c = config.strategy, config.costs
    z = s.sizing
    history = z.min_history or z.lookback
    sizer = {
        "equal": lambda: EqualWeights(),
        "inverse_vol": lambda: InverseVolWeights(z.lookback, history),
        "beta_neutral": lambda: BetaNeutral(z.within, z.lookback, history),
        "vol_target": lambda: VolTarget(z.target, z.within, z.lookback, history),
    }[z.kind]()
    signal = (
        SumSignal(scale_size=s.signal.scale_size)
        if s.signal.kind == "sum"
        else WeightedSignal(s.signal.column, scale_size=s.signal.scale_size)
    )
    if c.borrow_file is not None:
        if borrow is None:
            borrow = load_borrow_table(c.borrow_file)
        borrow_model: Any = TableBorrow(c.borrow_bps, borrow.rows, borrow.path)
    elif c.borrow_by_ticker:
        borrow_model = TickerBorrow(c.borrow_bps, tuple(sorted(c.borrow_by_ticker.items())))
    else:
        borrow_model = FlatBorrow(c.borrow_bps)
    slippage: Any = (
        FlatSlippage(c.slippage_bps)
        if c.slippage_model == "flat"
        else ImpactSlippage(c.half_spread_bps, c.impact_k, c.impact_lookback)
    )
    costs = Costs(
        commission=FlatCommission(c.commission_bps),
        slippage=slippage,
        borrow=borrow_model,
        rounding=c.rounding,
        max_participation=c.max_participation,
        on_cap=c.on_cap,
        adv_lookback=c.impact_lookback,
    )
    e = s.exits
    return Strategy(
        legs=legs_of(config),
        hold=s.hold_sessions,
        gross=s.gross,
        max_gross=s.max_gross,
        signal=signal,
        books=BookRules(s.books.kind, s.books.counter, s.entry.delay),
        sizer=sizer,
        exits=ExitRules(e.stop_loss, e.take_profit, e.trailing_stop, e.max_hold),
        costs=costs,
    )


@dataclass
class Prepared:
    """Everything a run needs, built from one config.

    ``calendar``: every event of the file; ``selected``: those of the configured categories,
    planned as ``schedule``; ``inputs``: every input file with its sha256.
    """

    config: Config
    universe: Universe
    histories: Mapping[str, PriceHistory]
    market: MarketData
    calendar: EventCalendar
    selected: EventCalendar
    schedule: EventSchedule
    weights: np.ndarray | None
    strategy: Strategy
    plan: Plan
    inputs: dict[str, str] = field(default_factory=dict)


def load_prices(
    config: Config, source: Any | None = None, legs: tuple[Leg, ...] | None = None
) -> dict[str, PriceHistory]:
    source = source or price_source(config)
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    return source.load(tickers_of(config, legs), start, end)


def market_of(
    config: Config, histories: Mapping[str, PriceHistory], tickers: tuple[str, ...] | None = None
) -> MarketData:
    """The bars of the config's tickers (or ``tickers``) aligned on its run's NYSE sessions."""
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    sessions = resolve_sessions(start, end, histories)
    names = tickers if tickers is not None else tuple(tickers_of(config))
    traded = tuple(t for t in names if t != config.run.benchmark)
    return align(histories, sessions, traded, config.run.benchmark)


def prepare(
    config: Config,
    source: Any | None = None,
    events: EventCalendar | None = None,
    histories: Mapping[str, PriceHistory] | None = None,
    memo: dict | None = None,
    borrow: BorrowTable | None = None,
    strategy: Strategy | None = None,
) -> Prepared:
    """Load (or reuse) prices and events, and plan the config's strategy on them.

    ``events``: an in-memory calendar instead of ``events.file``; ``histories``: prices already
    loaded (a sweep loads once); ``memo``: a dict reused across calls to keep the last market
    and the schedules (a sweep plans thousands of configs on them); ``strategy``: a Strategy
    object (the Python API, custom policies) instead of the config's strategy and costs.
    """
    memo = memo if memo is not None else {}
    u = config.universe
    universe = Universe(tuple(u.long), tuple(u.short), config.run.benchmark)
    if histories is None:
        histories = load_prices(config, source, strategy.legs if strategy is not None else None)
    tickers = tuple(tickers_of(config, strategy.legs if strategy is not None else None))
    market_key = (config.run.start, config.run.end, tickers, config.run.benchmark)
    if memo.get("market_key") != market_key:
        memo.clear()  # one market at a time keeps memory flat over big grids
        memo["market_key"] = market_key
        memo["market"] = market_of(config, histories, tickers)
    market = memo["market"]
    calendar = events if events is not None else memo_calendar(memo, config)
    selected = calendar.filter_categories(config.events.categories)
    schedule_key = ("schedule", calendar.path, calendar.sha256, tuple(config.events.categories))
    schedule = memo.get(schedule_key)
    if schedule is None:
        entries = entry_sessions([e.known_at for e in selected.events])
        schedule = memo[schedule_key] = EventSchedule.of(market, selected.events, entries)
    weights = None
    if config.strategy.signal.kind == "weighted":
        weights = event_weights(selected, config.strategy.signal.column)
    if config.costs.borrow_file is not None and borrow is None:
        borrow = memo.get(("borrow", str(config.costs.borrow_file)))
        if borrow is None:
            borrow = load_borrow_table(config.costs.borrow_file)
            memo[("borrow", str(config.costs.borrow_file))] = borrow
    if strategy is None:
        strategy = strategy_from_config(config, borrow)
    sizing_cache = memo.setdefault("sizing", {})  # built-in sizers' answers, per market
    plan = build_plan(market, strategy, schedule, weights=weights, sizing_cache=sizing_cache)
    inputs = {h.source: h.sha256 for h in histories.values() if h.ticker in tickers}
    inputs[calendar.path] = calendar.sha256
    if borrow is not None:
        inputs[borrow.path] = borrow.sha256
    return Prepared(
        config=config,
        universe=universe,
        histories=histories,
        market=market,
        calendar=calendar,
        selected=selected,
        schedule=schedule,
        weights=weights,
        strategy=strategy,
        plan=plan,
        inputs=inputs,
    )


def memo_calendar(memo: dict, config: Config) -> EventCalendar:
    key = ("calendar", str(config.events.file))
    if key not in memo:
        memo[key] = load_events(config.events.file)
    return memo[key]
