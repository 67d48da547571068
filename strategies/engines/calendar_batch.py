"""Many calendars of one config through the fast engine at once, with the exact arithmetic of
one calendar at a time.

Each calendar's books (strategies/calendar_planner.py) are turned into the arrays of
:func:`strategies.engines.plan_arrays.plan_arrays` and run as
:func:`strategies.engines.fast.evaluate` runs a chain of books with linear costs, but for all
calendars in one pass of numpy over their concatenated books. Every floating-point operation
is the one the single-calendar path does, in the same order: element-wise work and per-bin
sums (``bincount``, ``add.at``) are done on the concatenation, and the running sums and
products that run along a whole plan (the fills' and the borrow's cumulative sums, the chain of
book values) and the sums over a plan's books are done calendar by calendar. So the result is
bit-identical to ``plan_arrays`` + ``evaluate`` on each calendar (tests/test_placebo_fast.py).

Covers linear costs (:func:`strategies.engines.fast.is_linear`) and non-overlapping books; a
calendar whose equity reaches zero (ruin) is reported in ``ruined`` and left to the caller
(its costs are counted differently after the ruin close).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from data.market import MarketData
from strategies.calendar_planner import PlannedBook
from strategies.engines.fast import Batch, UnsupportedConfig, check_supported, is_linear
from strategies.engines.plan_arrays import window_arrays
from strategies.plan import NEVER
from strategies.strategy import Strategy, book_gross


@dataclass(frozen=True)
class CalendarRuns:
    """Calendars run by one config: ``equity[d, t]`` at every close; ``book_pnl[d]`` each book's
    P&L; ``commission``, ``slippage_cost``, ``borrow_cost``, ``notional`` per calendar;
    ``ruined[d]``: equity <= 0 at some close (the other values of that row are not final)."""

    equity: np.ndarray
    book_pnl: list[np.ndarray]
    commission: np.ndarray
    slippage_cost: np.ndarray
    borrow_cost: np.ndarray
    notional: np.ndarray
    ruined: np.ndarray


def batch_refusal(strategy: Strategy) -> str:
    """Why :func:`run_calendars` cannot run ``strategy`` ("" when it can)."""
    try:
        check_supported(strategy.costs)
    except UnsupportedConfig as exc:  # the exact path raises it for the user
        return str(exc)
    if not is_linear(strategy.costs):
        return "a cost model that is not linear (whole shares, impact slippage or a cap)"
    return ""


def _sum_by_plan(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return np.array([values[lo:hi].sum() for lo, hi in itertools.pairwise(bounds)], dtype=float)


def run_calendars(
    market: MarketData,
    strategy: Strategy,
    calendars: Sequence[Sequence[PlannedBook]],
    batch: Batch,
    borrow_fixed: np.ndarray | None = None,
) -> CalendarRuns:
    """Run every calendar (its books, chronological, not overlapping) with the one config of
    ``batch`` (``borrow_fixed`` as for ``plan_arrays``)."""
    if len(batch) != 1:
        raise ValueError("run_calendars runs one config")
    n = len(market.sessions)
    D = len(calendars)
    counts = np.array([len(c) for c in calendars], dtype=np.int64)
    book_bounds = np.zeros(D + 1, dtype=np.int64)
    book_bounds[1:] = np.cumsum(counts)
    flat = [b for c in calendars for b in c]
    K = len(flat)
    book_plan = np.repeat(np.arange(D), counts)
    decision = np.array([b.decision for b in flat], dtype=np.int64)
    entry = decision + 1
    exits = np.array([b.exit for b in flat], dtype=np.int64)
    last = np.where(exits >= 0, exits, n - 1)
    sized = [b.sized for b in flat]
    sizes = np.array([len(s.cols) for s in sized], dtype=np.int64)
    member_book = np.repeat(np.arange(K), sizes)
    if K:
        member_col = np.concatenate([s.cols for s in sized]).astype(np.int64)
        weights = np.concatenate([s.weights for s in sized])
    else:
        member_col = np.empty(0, dtype=np.int64)
        weights = np.empty(0)
    last_bar = market.last_bar
    ends_at = np.where((last_bar >= 0) & (last_bar < n - 1), last_bar, NEVER)
    closing = np.where(exits >= 0, exits, NEVER)[member_book]
    member_exit = np.minimum(np.minimum(ends_at[member_col], closing), n)
    units = weights / market.close[decision[member_book], member_col]
    w = window_arrays(
        market,
        entry,
        last,
        member_book,
        member_col,
        units,
        member_exit,
        borrow_fixed,
        book_plan,
        plans=D,
    )
    position_book, position_session, end = w.position_book, w.position_session, w.end
    M, X, Y, B_rate, B_fixed = w.M, w.X, w.Y, w.B_rate, w.B_fixed
    position_bounds = w.position_bounds

    # fast._linear_chained and fast._linear_costs, with the batch's one config as scalars.
    c, s, b = (v[:, None] for v in (batch.commission, batch.slippage, batch.borrow))
    cash = float(batch.cash[0])
    unit_vol = np.array([x.unit_vol for x in sized], dtype=float)
    signal_scale = np.array([x.signal_scale for x in sized], dtype=float)
    G = np.broadcast_to(
        book_gross(
            batch.gross[:, None],
            batch.max_gross[:, None],
            batch.target[:, None],
            strategy.targets_volatility,
            unit_vol[None, :],
            signal_scale[None, :],
        ),
        (1, K),
    ).astype(float)[0]
    F = M[None, :] + (1 + c * s) * X[None, :] + (s + c) * Y[None, :]
    F -= b * B_rate[None, :] + B_fixed[None, :]
    value = (1 + G[position_book] * F)[0]
    book_value = value[end]
    decision_equity = np.empty(K)
    equity = np.full((D, n), cash)
    sessions = np.arange(n)
    for d in range(D):
        lo, hi = int(book_bounds[d]), int(book_bounds[d + 1])
        if hi == lo:
            continue
        decision_equity[lo] = cash
        decision_equity[lo + 1 : hi] = (
            batch.cash[:, None] * np.cumprod(book_value[None, lo:hi], axis=1)[:, :-1]
        )[0]
    window = decision_equity[position_book] * value
    for d in range(D):
        p_lo, p_hi = int(position_bounds[d]), int(position_bounds[d + 1])
        if p_hi == p_lo:
            continue
        src = np.searchsorted(position_session[p_lo:p_hi], sessions, side="right") - 1
        row = window[p_lo:p_hi][np.maximum(src, 0)]
        row[src < 0] = cash
        equity[d] = row
    pnl = decision_equity * (book_value - 1)
    scale = G * decision_equity
    s0, b0 = float(s[0, 0]), float(b[0, 0])
    z = -Y[end]
    w = -X[end]
    notional = _sum_by_plan(scale * (z + s0 * w), book_bounds)
    commission = batch.commission * notional
    slippage = s0 * _sum_by_plan(scale * z, book_bounds)
    borrow = _sum_by_plan(scale * (b0 * B_rate[end] + B_fixed[end]), book_bounds)
    return CalendarRuns(
        equity=equity,
        book_pnl=[pnl[lo:hi] for lo, hi in itertools.pairwise(book_bounds)],
        commission=commission,
        slippage_cost=slippage,
        borrow_cost=borrow,
        notional=notional,
        ruined=(~(equity > 0)).any(axis=1),
    )
