"""Placebo calendars: is the news timing the reason the rotation pays, or would any dates do?

A placebo calendar keeps what the real calendar says about *how often* and *which way* (the
number of events entering inside the run and their sequence of directions, in chronological
order) and throws away *when*: its entry sessions are drawn uniformly and independently (with
replacement) from the run's sessions that have a decision close before them (every session but
the first), then sorted, and the k-th earliest draw gets the direction of the k-th earliest real
event. Two draws on one session enter together (their directions add up, as real events do).
Each calendar is planned by :func:`strategies.plan.build_plan` and run by the fast engine with the
same config as the real calendar.

Metrics (fast engine, README "Metrics"): ``sharpe``, ``total_return`` and ``hit_rate`` = the
share of books whose P&L is positive (P&L = equity at the close of the book's exit session, or
the last close for a book still open, minus equity at its decision close: every fill, cost and
borrow fee of the episode). A calendar with no book has an undefined Sharpe and hit rate (NaN).
A draw whose equity reaches zero or below at some close is ruined (``ruined_on``; README "The
rules": the run ends at that close): its Sharpe, total return and hit rate are all undefined,
as every return-based metric of a ruined run. Undefined values are left out of the placebo
distribution (``placebo_defined`` says how many draws count).

Against the N placebo values of a metric that are defined (d_1..d_n):

- ``percentile`` = 100 x (#{d_i < x} + 0.5 x #{d_i = x}) / n (mid-rank: ties count half, which
  matters for the hit rate, a ratio of small integers);
- ``p_value`` = (1 + #{d_i >= x}) / (1 + n), one-sided (is the real value unusually HIGH?), the
  real calendar counted as one more draw, so it is never 0.

The "always on" baseline holds the rotation every day: at every close it is rebalanced to the
target weights (each long name with bars on both sessions +G/2/n_long, each short -G/2/n_short,
the same eligibility rule as the books), so its daily return is
``r_t = sum_i w_i * (close_i,t / close_i,t-1 - 1) - b * (G/2) * n_t / 365`` (borrow on the short
half over the n_t calendar days since the previous session). It is an idealised baseline: the
daily rebalancing is assumed to trade at the close at no commission or slippage (the books pay
both), so it flatters the always-on rotation. It has no books: its hit rate is undefined.
(A single book held unrebalanced for the whole run is no baseline: on the shared data its short
side outgrows the equity in the 2025-26 memory rally and the book goes bust.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from backtests.prepare import prepare
from backtests.process_pool import ignore_interrupts, run_forked
from data.errors import CapexRotationError
from data.events import Event, EventCalendar
from data.market import MarketData
from reports.metrics import batch_metrics
from strategies.engines.fast import Batch, borrow_rates, evaluate
from strategies.engines.plan_arrays import plan_arrays
from strategies.plan import EventSchedule, Plan, build_plan
from strategies.strategy import Strategy

REPORTED = ("sharpe", "total_return", "hit_rate")
# Columns of placebo.csv after ``draw`` (fast-engine metrics; hit_rate = winning_books).
DRAW_COLUMNS = (
    "sharpe",
    "total_return",
    "hit_rate",
    "books",
    "cagr",
    "max_drawdown",
    "volatility",
    "turnover",
    "costs",
    "final_equity",
    "min_equity",
)
CHUNK = 25  # draws per task (progress granularity)


class PlaceboError(CapexRotationError):
    """The placebo test cannot run on this input."""


@dataclass(frozen=True)
class PlaceboSetup:
    """Everything a draw needs: the market, the real events inside the run (chronological), the
    strategy and the numbers of the config."""

    config: Config
    market: MarketData
    long: tuple[str, ...]
    short: tuple[str, ...]
    calendar: EventCalendar
    schedule: EventSchedule  # every selected event, as the real run plans them
    events: tuple[Event, ...]  # the events entering inside the run, chronological
    inside: np.ndarray  # their positions in ``schedule``
    entries: tuple[pd.Timestamp, ...]  # their real entry sessions
    entry_index: np.ndarray  # the same, as session indices
    strategy: Strategy
    batch: Batch
    borrow: np.ndarray | None = None
    weights: np.ndarray | None = None
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def directions(self) -> np.ndarray:
        return np.array([e.direction for e in self.events], dtype=np.int64)


def prepare_placebo(config: Config, source: Any | None = None) -> PlaceboSetup:
    """Load prices and events of ``config``; keep the events whose entry session is inside the
    run with a decision close before it (the ones the real backtest can act on)."""
    prepared = prepare(config, source)
    market, schedule = prepared.market, prepared.schedule
    sessions = market.sessions
    inside = np.flatnonzero(schedule.index >= 1)
    if not inside.size:
        raise PlaceboError(
            f"no event of {prepared.calendar.path} enters between {sessions[1].date()} and "
            f"{sessions[-1].date()} (the run's sessions after its first); widen run.start/run.end "
            "or check events.categories"
        )
    order = sorted(inside.tolist(), key=lambda k: (schedule.events[k].known_at, k))
    inside = np.array(order, dtype=np.int64)
    strategy = prepared.strategy
    return PlaceboSetup(
        config=config,
        market=market,
        long=prepared.universe.long,
        short=prepared.universe.short,
        calendar=prepared.calendar,
        schedule=schedule,
        events=tuple(schedule.events[k] for k in order),
        inside=inside,
        entries=tuple(market.sessions[schedule.index[inside]]),
        entry_index=schedule.index[inside],
        strategy=strategy,
        batch=Batch.of_strategy(strategy, config.run.cash),
        borrow=borrow_rates(strategy, market),
        weights=prepared.weights,
        inputs=dict(prepared.inputs),
    )


def plan_metrics(setup: PlaceboSetup, plan: Plan) -> dict[str, Any]:
    """Fast-engine metrics of one plan with the config's gross, costs and cash.

    ``min_equity`` is the lowest close equity; if it is <= 0 the run was ruined at its first
    close at or below zero (``ruined_on``) and ended there: the fast engine then leaves every
    return-based metric undefined (NaN), Sharpe, total return and hit rate included.
    """
    evaluation = evaluate(
        plan_arrays(setup.market, plan, setup.borrow), setup.batch, setup.strategy
    )
    values = batch_metrics(
        evaluation.equity,
        evaluation.batch.cash,
        evaluation.book_pnl,
        evaluation.decision_equity,
        evaluation.commission,
        evaluation.slippage_cost,
        evaluation.borrow_cost,
        evaluation.notional,
        evaluation.ruined_on,
        evaluation.arrays.decision,
    )
    row: dict[str, Any] = {name: float(values[name][0]) for name in DRAW_COLUMNS if name in values}
    row["hit_rate"] = float(values["winning_books"][0])
    row["books"] = int(values["books"][0])
    row["min_equity"] = float(values["min_equity"][0])
    ruined = int(evaluation.ruined_on[0])
    row["ruined_on"] = setup.market.sessions[ruined].date().isoformat() if ruined >= 0 else ""
    return row


def real_plan(setup: PlaceboSetup) -> Plan:
    """The plan of the real calendar, exactly as the backtest builds it (every event)."""
    return build_plan(setup.market, setup.strategy, setup.schedule, weights=setup.weights)


def always_on_returns(setup: PlaceboSetup) -> pd.Series:
    """Daily returns of the rotation rebalanced to its target weights at every close (see the
    module doc); 0 on the first session."""
    market = setup.market
    gross = float(setup.strategy.gross)
    borrow = float(setup.batch.borrow[0])
    close = market.close
    with np.errstate(invalid="ignore", divide="ignore"):
        moves = close[1:] / close[:-1] - 1  # NaN where a name lacks either bar
    days = np.diff(market.sessions.asi8) / 86_400_000_000_000
    out = np.zeros(len(market.sessions))
    for side, sign in ((setup.long, 1.0), (setup.short, -1.0)):
        cols = [market.column(t) for t in side]
        side_moves = moves[:, cols]
        held = np.isfinite(side_moves)
        count = held.sum(axis=1)
        mean = np.where(count > 0, np.nansum(side_moves, axis=1) / np.maximum(count, 1), 0.0)
        out[1:] += sign * gross / 2 * mean
        if sign < 0:
            out[1:] -= borrow * gross / 2 * days * (count > 0) / 365
    return pd.Series(out, index=market.sessions, name="always_on")


def always_on_metrics(setup: PlaceboSetup) -> dict[str, Any]:
    """Sharpe and total return of :func:`always_on_returns` (README "Metrics" definitions).

    Ruined like any run at its first close with equity <= 0 (a daily return <= -100%): it
    ends there (equity held), and its Sharpe and total return are undefined.
    """
    r = always_on_returns(setup).to_numpy()
    cash = float(setup.batch.cash[0])
    equity = cash * np.cumprod(1 + r)
    bad = ~(equity > 0)
    if bad.any():
        first = int(bad.argmax())
        equity[first:] = equity[first]
        return {
            "sharpe": float("nan"),
            "total_return": float("nan"),
            "hit_rate": float("nan"),
            "books": 0,
            "final_equity": float(equity[-1]),
            "min_equity": float(min(equity.min(), cash)),
            "ruined_on": setup.market.sessions[first].date().isoformat(),
        }
    std = r.std(ddof=1)
    return {
        "sharpe": float(r.mean() / std * np.sqrt(252)) if std > 0 else float("nan"),
        "total_return": float(np.prod(1 + r) - 1),
        "hit_rate": float("nan"),
        "books": 0,
        "final_equity": float(equity[-1]),
        "min_equity": float(min(equity.min(), cash)),
        "ruined_on": "",
    }


def draw_calendars(n_sessions: int, n_events: int, draws: int, seed: int) -> np.ndarray:
    """Entry session indices of ``draws`` placebo calendars, shape (draws, n_events), each row
    sorted: uniform and independent over 1..n_sessions-1 (numpy default_rng(seed))."""
    if n_sessions < 2:
        raise PlaceboError("the run needs at least two sessions")
    rng = np.random.default_rng(seed)
    picks = rng.integers(1, n_sessions, size=(draws, n_events))
    return np.sort(picks, axis=1)


def placebo_plan(setup: PlaceboSetup, session_indices: np.ndarray) -> Plan:
    """The plan of one placebo calendar: the real events, in chronological order, entering on
    the given (sorted) sessions; events outside the run stay out."""
    index = np.full(len(setup.schedule.index), -1, dtype=np.int64)
    index[setup.inside] = session_indices
    return build_plan(
        setup.market,
        setup.strategy,
        setup.schedule.moved(index, setup.market.sessions),
        weights=setup.weights,
    )


def evaluate_draws(setup: PlaceboSetup, calendars: np.ndarray, rows: list[int]) -> list[dict]:
    out = []
    for r in rows:
        values = plan_metrics(setup, placebo_plan(setup, calendars[r]))
        out.append({"draw": r, **{name: values[name] for name in DRAW_COLUMNS}})
    return out


_WORKER: tuple[PlaceboSetup, np.ndarray] | None = None


def _init_worker(setup: PlaceboSetup, calendars: np.ndarray) -> None:
    ignore_interrupts()
    global _WORKER
    _WORKER = (setup, calendars)


def _run_chunk(rows: list[int]) -> list[dict]:
    assert _WORKER is not None
    return evaluate_draws(_WORKER[0], _WORKER[1], rows)


def run_draws(
    setup: PlaceboSetup,
    calendars: np.ndarray,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One row per draw (in draw order, whatever the number of workers)."""
    chunks = [
        list(range(k, min(k + CHUNK, len(calendars)))) for k in range(0, len(calendars), CHUNK)
    ]
    results: list[dict] = []
    if workers <= 1:
        for rows in chunks:
            results.extend(evaluate_draws(setup, calendars, rows))
            if on_progress:
                on_progress(len(rows))
    else:
        for part in run_forked(_run_chunk, chunks, workers, _init_worker, (setup, calendars)):
            results.extend(part)
            if on_progress:
                on_progress(len(part))
    frame = pd.DataFrame(results, columns=["draw", *DRAW_COLUMNS])
    frame = frame.sort_values("draw", ignore_index=True)
    frame["books"] = frame["books"].astype(np.int64)
    return frame


def percentile(value: float, placebo: np.ndarray) -> float:
    """Mid-rank percentile of ``value`` among the defined placebo values (NaN if undefined)."""
    d = np.asarray(placebo, dtype=float)
    d = d[np.isfinite(d)]
    if not np.isfinite(value) or d.size == 0:
        return float("nan")
    return float(100.0 * ((d < value).sum() + 0.5 * (d == value).sum()) / d.size)


def p_value(value: float, placebo: np.ndarray) -> float:
    """One-sided p-value (1 + #placebo >= value) / (1 + n) over the defined placebo values."""
    d = np.asarray(placebo, dtype=float)
    d = d[np.isfinite(d)]
    if not np.isfinite(value) or d.size == 0:
        return float("nan")
    return float((1 + (d >= value).sum()) / (1 + d.size))


def summary_table(real: dict, always_on: dict, draws: pd.DataFrame) -> pd.DataFrame:
    """One row per baseline and reported metric: value, placebo distribution, percentile, p."""
    rows = []
    for baseline, values in (("real", real), ("always_on", always_on)):
        for name in REPORTED:
            dist = draws[name].to_numpy(dtype=float)
            defined = dist[np.isfinite(dist)]
            q = np.quantile(defined, [0.05, 0.5, 0.95]) if defined.size else [np.nan] * 3
            rows.append(
                {
                    "baseline": baseline,
                    "metric": name,
                    "value": float(values[name]),
                    "placebo_defined": int(defined.size),
                    "placebo_mean": float(defined.mean()) if defined.size else np.nan,
                    "placebo_std": float(defined.std(ddof=1)) if defined.size > 1 else np.nan,
                    "placebo_p05": float(q[0]),
                    "placebo_median": float(q[1]),
                    "placebo_p95": float(q[2]),
                    "percentile": percentile(values[name], dist),
                    "p_value": p_value(values[name], dist),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class PlaceboResult:
    setup: PlaceboSetup
    seed: int
    calendars: np.ndarray  # (draws, events) session indices
    draws: pd.DataFrame
    real: dict[str, float]
    always_on: dict[str, float]
    summary: pd.DataFrame

    def calendars_table(self) -> pd.DataFrame:
        """One row per draw: its entry sessions (YYYY-MM-DD, space-separated, chronological)."""
        days = np.array([d.date().isoformat() for d in self.setup.market.sessions], dtype=object)
        return pd.DataFrame(
            {
                "draw": np.arange(len(self.calendars), dtype=np.int64),
                "entry_sessions": [" ".join(days[row]) for row in self.calendars],
            }
        )


def run_placebo(
    setup: PlaceboSetup,
    draws: int,
    seed: int,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> PlaceboResult:
    """The real calendar, the always-on book and ``draws`` placebo calendars, all evaluated."""
    if draws < 1:
        raise PlaceboError(f"--draws {draws}: need at least 1 draw")
    calendars = draw_calendars(len(setup.market.sessions), len(setup.events), draws, seed)
    table = run_draws(setup, calendars, workers, on_progress)
    real = plan_metrics(setup, real_plan(setup))
    always = always_on_metrics(setup)
    return PlaceboResult(
        setup=setup,
        seed=seed,
        calendars=calendars,
        draws=table,
        real=real,
        always_on=always,
        summary=summary_table(real, always, table),
    )
