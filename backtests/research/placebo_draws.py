"""The placebo's set-up and its draws: each placebo calendar planned and run with the config.

Two paths give the same numbers, bit for bit (tests/test_placebo_fast.py):

- **exact**: ``build_plan`` on the moved schedule, then the fast engine (``plan_arrays`` +
  ``evaluate``) and ``batch_metrics``, calendar by calendar: every policy;
- **fast**: the calendar planner (strategies/calendar_planner.py) and the batched engine
  (strategies/engines/calendar_batch.py) for a chunk of calendars at once, when the policies
  allow it (one book at a time, counter-triggers that close or are ignored, no stop, a built-in
  sizer, linear costs). A calendar that is ruined, and every calendar of another policy, takes
  the exact path.

Draws are split into chunks of ``CHUNK``; with workers, chunks run in forked processes
(backtests/process_pool.py stops them on Ctrl-C) and rows are put back in draw order, so the
table does not depend on the number of workers.
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
from strategies.calendar_planner import CalendarPlanner, refusal
from strategies.engines.calendar_batch import batch_refusal, run_calendars
from strategies.engines.fast import Batch, Evaluation, borrow_rates, evaluate
from strategies.engines.plan_arrays import plan_arrays
from strategies.plan import EventSchedule, Plan, build_plan
from strategies.strategy import Strategy

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
CHUNK = 50  # draws per task (progress granularity; the fast path runs a chunk at once)


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

    @property
    def fast_refusal(self) -> str:
        """Why the draws take the exact path ("" when the fast path applies)."""
        return refusal(self.strategy) or batch_refusal(self.strategy)


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


def plan_evaluation(setup: PlaceboSetup, plan: Plan) -> Evaluation:
    """The fast engine's run of one plan with the config's numbers."""
    return evaluate(plan_arrays(setup.market, plan, setup.borrow), setup.batch, setup.strategy)


def plan_metrics(setup: PlaceboSetup, plan: Plan) -> dict[str, Any]:
    """Fast-engine metrics of one plan with the config's gross, costs and cash.

    ``min_equity`` is the lowest close equity; if it is <= 0 the run was ruined at its first
    close at or below zero (``ruined_on``) and ended there: the fast engine then leaves every
    return-based metric undefined (NaN), Sharpe, total return and hit rate included.
    """
    evaluation = plan_evaluation(setup, plan)
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


def placebo_index(setup: PlaceboSetup, event_sessions: np.ndarray) -> np.ndarray:
    """The schedule index of one placebo calendar: ``event_sessions[k]`` is the entry session of
    the k-th real event inside the run (chronological); events outside the run stay out (-1)."""
    index = np.full(len(setup.schedule.index), -1, dtype=np.int64)
    index[setup.inside] = event_sessions
    return index


def placebo_plan(setup: PlaceboSetup, event_sessions: np.ndarray) -> Plan:
    """The plan of one placebo calendar by ``build_plan`` (the exact path)."""
    index = placebo_index(setup, event_sessions)
    return build_plan(
        setup.market,
        setup.strategy,
        setup.schedule.moved(index, setup.market.sessions),
        weights=setup.weights,
    )


class DrawRunner:
    """Evaluates draws of one setup: the fast path when it applies, else (and for ruined
    calendars) the exact one. Keeps the sized books across draws."""

    def __init__(self, setup: PlaceboSetup, event_sessions: np.ndarray, fast: bool = True):
        self.setup = setup
        self.event_sessions = event_sessions
        self.planner = None
        if fast and not setup.fast_refusal:
            self.planner = CalendarPlanner(
                setup.market, setup.strategy, setup.schedule, setup.weights, {}
            )

    def exact(self, r: int) -> dict[str, Any]:
        values = plan_metrics(self.setup, placebo_plan(self.setup, self.event_sessions[r]))
        return {"draw": r, **{name: values[name] for name in DRAW_COLUMNS}}

    def rows(self, rows: list[int]) -> list[dict[str, Any]]:
        if self.planner is None:
            return [self.exact(r) for r in rows]
        setup = self.setup
        books = [self.planner.plan(placebo_index(setup, self.event_sessions[r])) for r in rows]
        runs = run_calendars(setup.market, setup.strategy, books, setup.batch, setup.borrow)
        D = len(rows)
        cash = np.full(D, float(setup.batch.cash[0]))
        none = np.zeros((D, 0))
        values = batch_metrics(
            runs.equity,
            cash,
            none,
            none,
            runs.commission,
            runs.slippage_cost,
            runs.borrow_cost,
            runs.notional,
            np.full(D, -1, dtype=np.int64),
        )
        out = []
        for j, r in enumerate(rows):
            if runs.ruined[j]:
                out.append(self.exact(r))
                continue
            pnl = runs.book_pnl[j]
            row = {"draw": r, **{name: float(values[name][j]) for name in DRAW_COLUMNS[4:]}}
            row["sharpe"] = float(values["sharpe"][j])
            row["total_return"] = float(values["total_return"][j])
            row["books"] = len(pnl)
            row["hit_rate"] = float((pnl > 0).mean()) if len(pnl) else float("nan")
            out.append(row)
        return out


def evaluate_draws(
    setup: PlaceboSetup, event_sessions: np.ndarray, rows: list[int], fast: bool = True
) -> list[dict]:
    """One row per draw of ``rows`` (``event_sessions[r]``: draw r's session of each event)."""
    return DrawRunner(setup, event_sessions, fast).rows(rows)


_WORKER: DrawRunner | None = None


def _init_worker(setup: PlaceboSetup, event_sessions: np.ndarray, fast: bool) -> None:
    ignore_interrupts()
    global _WORKER
    _WORKER = DrawRunner(setup, event_sessions, fast)


def _run_chunk(rows: list[int]) -> list[dict]:
    assert _WORKER is not None
    return _WORKER.rows(rows)


def run_draws(
    setup: PlaceboSetup,
    event_sessions: np.ndarray,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
    fast: bool = True,
) -> pd.DataFrame:
    """One row per draw (in draw order, whatever the number of workers); ``fast=False`` forces
    the exact path (for tests and benchmarks)."""
    total = len(event_sessions)
    chunks = [list(range(k, min(k + CHUNK, total))) for k in range(0, total, CHUNK)]
    results: list[dict] = []
    if workers <= 1:
        runner = DrawRunner(setup, event_sessions, fast)
        for rows in chunks:
            results.extend(runner.rows(rows))
            if on_progress:
                on_progress(len(rows))
    else:
        initargs = (setup, event_sessions, fast)
        for part in run_forked(_run_chunk, chunks, workers, _init_worker, initargs):
            results.extend(part)
            if on_progress:
                on_progress(len(part))
    frame = pd.DataFrame(results, columns=["draw", *DRAW_COLUMNS])
    frame = frame.sort_values("draw", ignore_index=True)
    frame["books"] = frame["books"].astype(np.int64)
    return frame
