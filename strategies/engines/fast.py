"""The vectorised engine: the same BookPlan as backtrader, executed for many configs at once.

Why it can be exact and fast. Under the baseline rules every cash flow of a book is
proportional to ``G * E_d`` (gross times the equity at the decision close): shares are
``G * E_d * u_i`` with ``u_i = w_i(G=1) / close_{i,d}``. Per unit of ``G * E_d``, the book's
value at the close of a session t of its window is

    F_t = M_t + (1 + c*s) * X_t + (s + c) * Y_t - b * B_t

where, for the names and fills of the book up to t (tau = signed units traded, +u at entry,
-u at an exit):

- ``M_t = sum(u_i * close_{i,t})`` over names still held (mark to market);
- ``X_t = sum(-tau * open)`` and ``Y_t = sum(-|tau| * open)`` over fills so far: a fill at
  ``open * (1 + sign(tau) * s)`` with commission ``c * |tau| * fill`` costs exactly
  ``-tau*open - s*|tau|*open - c*|tau|*open - c*s*tau*open``;
- ``B_t = sum(|u_i| * close_{i,t'} * n_t' / 365)`` over shorts held at earlier closes t'
  (the borrow fee debited at the next open).

So ``equity_t = E_d * (1 + G * F_t)`` inside the book, and the next book's ``E_d`` is the
last book's final equity (cash earns nothing while flat). M, X, Y, B depend on prices and the
plan only; gross, commission, slippage and borrow are applied to all configs in one array
operation over the book sessions (a few hundred, not every session times every name).

The plan itself depends on the holding period, baskets, events and dates; configs that share
those share a plan (see :class:`PlanArrays`). Parity with backtrader to 1e-9 on every session is
tested; a config this engine cannot express is refused (:func:`check_supported`).

Ruin (README "The rules"). The first close at which a config's equity is <= 0 (or not a number)
ends that config's run: its window equity after that position is held at the ruin close's value,
and its later books do not trade (their decision equity is that value, their growth 1). Positions
before the ruin do not depend on anything after it, so the ruin is found on the unconstrained
windows and applied per config, independently of the other configs of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import CapexRotationError
from data.market import MarketData
from strategies.plan import BookPlan
from strategies.rules import CostModel, RotationRules

PERIODS = 252


class UnsupportedConfig(CapexRotationError):
    """The vectorised engine cannot run this configuration exactly."""


def check_supported(rules: RotationRules, costs: CostModel) -> None:
    """Refuse models the closed form above does not describe (e.g. a subclass with its own
    sizing or cost formula): never approximate."""
    if type(rules) is not RotationRules:
        raise UnsupportedConfig(
            f"the fast engine only runs the baseline sizing (RotationRules), not "
            f"{type(rules).__name__}; use the backtrader engine"
        )
    if type(costs) is not CostModel:
        raise UnsupportedConfig(
            f"the fast engine only runs the baseline cost model (CostModel), not "
            f"{type(costs).__name__}; use the backtrader engine"
        )


@dataclass(frozen=True)
class PlanArrays:
    """Price-dependent, config-independent arrays of one plan (all books' windows concatenated).

    ``book_of[j]``, ``session_of[j]``: the book and session of window position j.
    ``start[k]``, ``end[k]``: window positions of book k (inclusive).
    M, X, Y, B: the per-unit components above at each window position.
    ``sessions``: the run's sessions (to name a ruin session).
    """

    n_sessions: int
    book_of: np.ndarray
    session_of: np.ndarray
    start: np.ndarray
    end: np.ndarray
    closed: np.ndarray
    M: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    B: np.ndarray
    sessions: pd.DatetimeIndex | None = None

    @property
    def n_books(self) -> int:
        return len(self.start)


def plan_arrays(market: MarketData, plan: BookPlan) -> PlanArrays:
    """Walk each book of ``plan`` once over its window and accumulate M, X, Y, B."""
    n = len(market.sessions)
    days = market.sessions.asi8 // 86_400_000_000_000
    unit = RotationRules(gross=1.0, max_gross=1.0)
    closes_by_book: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    for decision in plan.decisions.values():
        if decision.close:
            closes_by_book.setdefault(decision.book, []).append((decision.fill, decision.close))

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("book", "session", "M", "X", "Y", "B")}
    starts, ends, closed = [], [], []
    position = 0
    for book in plan.books:
        d, e = book.decision, book.entry
        last = book.exit if book.exit is not None else n - 1
        cols = np.array(book.longs + book.shorts)
        w_long, w_short = unit.weights(len(book.longs), len(book.shorts))
        weights = np.array([w_long] * len(book.longs) + [w_short] * len(book.shorts))
        units = weights / market.close[d, cols]
        window = np.arange(e, last + 1)
        # exit_at[i]: the session whose open closes name i (beyond the window if never).
        exit_at = np.full(len(cols), last + 1)
        for fill, names in closes_by_book.get(book.id, []):
            exit_at[np.isin(cols, names)] = fill
        held = (window[:, None] >= e) & (window[:, None] < exit_at[None, :])  # at the close
        close = np.nan_to_num(market.close[np.ix_(window, cols)])
        opens = np.nan_to_num(market.open[np.ix_(window, cols)])
        mark = (held * units * close).sum(axis=1)
        entry = (window == e)[:, None] & np.ones(len(cols), dtype=bool)
        exits = window[:, None] == exit_at[None, :]
        tau = entry * units - exits * units  # signed units traded at each open
        x = np.cumsum((-tau * opens).sum(axis=1))
        y = np.cumsum((-np.abs(tau) * opens).sum(axis=1))
        # Borrow debited at the open of t for shorts held at the previous close.
        nights = np.zeros(len(window))
        nights[1:] = np.diff(days[window])
        prev_short = np.zeros_like(close)
        prev_short[1:] = (held[:-1] & (units < 0)) * np.abs(units) * close[:-1]
        borrow = np.cumsum(prev_short.sum(axis=1) * nights / 365)

        length = len(window)
        parts["book"].append(np.full(length, book.id))
        parts["session"].append(window)
        parts["M"].append(mark)
        parts["X"].append(x)
        parts["Y"].append(y)
        parts["B"].append(borrow)
        starts.append(position)
        ends.append(position + length - 1)
        closed.append(book.exit is not None)
        position += length

    def cat(name: str, dtype=float) -> np.ndarray:
        return np.concatenate(parts[name]).astype(dtype) if parts[name] else np.empty(0, dtype)

    return PlanArrays(
        n_sessions=n,
        book_of=cat("book", np.int64),
        session_of=cat("session", np.int64),
        start=np.array(starts, dtype=np.int64),
        end=np.array(ends, dtype=np.int64),
        closed=np.array(closed, dtype=bool),
        M=cat("M"),
        X=cat("X"),
        Y=cat("Y"),
        B=cat("B"),
        sessions=market.sessions,
    )


@dataclass(frozen=True)
class Batch:
    """Parameters of many configs sharing one plan: 1-d arrays of equal length.

    Rates are fractions (1 bp = 1e-4; borrow annual); ``cash`` is the starting cash.
    """

    gross: np.ndarray
    commission: np.ndarray
    slippage: np.ndarray
    borrow: np.ndarray
    cash: np.ndarray

    @classmethod
    def of(cls, gross, commission, slippage, borrow, cash) -> Batch:
        arrays = [
            np.atleast_1d(np.asarray(v, dtype=float))
            for v in (gross, commission, slippage, borrow, cash)
        ]
        size = max(len(a) for a in arrays)
        return cls(*(np.broadcast_to(a, size).copy() for a in arrays))

    def __len__(self) -> int:
        return len(self.gross)


@dataclass(frozen=True)
class Evaluation:
    """Book-window equity of a batch: ``window_equity[c, j]`` for window position j.

    ``ruin[c]`` is the window position of config c's ruin close (-1 if never ruined); after it,
    ``window_equity`` holds that close's value, later books have ``decision_equity`` equal to it
    and ``book_value`` 1, and the ruined book's ``book_value`` is its value at the ruin close.
    """

    arrays: PlanArrays
    batch: Batch
    window_equity: np.ndarray
    decision_equity: np.ndarray  # (configs, books)
    book_value: np.ndarray  # (configs, books): 1 + G * F at the book's last window position
    ruin: np.ndarray  # (configs,): window position of the ruin close, -1 if none

    def equity(self) -> np.ndarray:
        """Equity at every session's close, shape (configs, sessions)."""
        a = self.arrays
        n_cfg = len(self.batch)
        level = np.empty((n_cfg, a.n_sessions))
        level[:, :] = self.batch.cash[:, None]
        # Flat stretches hold the equity of the last window position before them.
        for k in range(a.n_books):
            after = a.session_of[a.end[k]] + 1
            level[:, after:] = self.window_equity[:, a.end[k]][:, None]
        if a.n_books:
            level[:, a.session_of] = self.window_equity
        return level


def evaluate(arrays: PlanArrays, batch: Batch) -> Evaluation:
    """Equity inside every book window for every config of ``batch``."""
    g, c, s, b = (v[:, None] for v in (batch.gross, batch.commission, batch.slippage, batch.borrow))
    F = arrays.M[None, :] + (1 + c * s) * arrays.X[None, :] + (s + c) * arrays.Y[None, :]
    F -= b * arrays.B[None, :]
    value = 1 + g * F  # equity / decision equity inside the window
    book_value = value[:, arrays.end] if arrays.n_books else np.ones((len(batch), 0))
    growth = np.cumprod(book_value, axis=1)
    decision = np.empty_like(book_value)
    if arrays.n_books:
        decision[:, 0] = batch.cash
        decision[:, 1:] = batch.cash[:, None] * growth[:, :-1]
    window_equity = decision[:, arrays.book_of] * value
    ruin = _apply_ruin(arrays, value, window_equity, decision, book_value)
    return Evaluation(arrays, batch, window_equity, decision, book_value, ruin)


def _apply_ruin(
    arrays: PlanArrays,
    value: np.ndarray,
    window_equity: np.ndarray,
    decision: np.ndarray,
    book_value: np.ndarray,
) -> np.ndarray:
    """End each ruined config's run at its first window close with equity <= 0 (in place);
    return the ruin positions (-1: not ruined)."""
    n_cfg = window_equity.shape[0]
    ruin = np.full(n_cfg, -1, dtype=np.int64)
    if not arrays.n_books:
        return ruin
    with np.errstate(invalid="ignore"):
        alive = window_equity > 0  # False at equity <= 0 and at NaN
    rows = np.flatnonzero(~alive.all(axis=1))
    if not rows.size:
        return ruin
    first = (~alive[rows]).argmax(axis=1)
    ruin[rows] = first
    level = window_equity[rows, first]
    after = np.arange(window_equity.shape[1])[None, :] > first[:, None]
    window_equity[rows] = np.where(after, level[:, None], window_equity[rows])
    book = arrays.book_of[first]
    books = np.arange(arrays.n_books)[None, :]
    later = books > book[:, None]
    decision[rows] = np.where(later, level[:, None], decision[rows])
    book_value[rows] = np.where(later, 1.0, book_value[rows])
    book_value[rows, book] = value[rows, first]
    return ruin


def run_fast(
    market: MarketData, plan: BookPlan, rules: RotationRules, costs: CostModel, cash: float
) -> Evaluation:
    """One config through the fast engine, with the signature of ``run_backtrader``; models the
    closed form cannot express are refused (:func:`check_supported`)."""
    check_supported(rules, costs)
    batch = Batch.of(rules.gross, costs.commission, costs.slippage, costs.borrow, cash)
    return evaluate(plan_arrays(market, plan), batch)


METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "volatility",
    "books",
    "winning_books",
    "turnover",
    "commission",
    "slippage_cost",
    "borrow_cost",
    "costs",
    "final_equity",
    "min_decision_equity",
    "min_equity",
    "ruined_on",
)
# Metrics a sweep can rank by (``ruined_on`` is a date, not a score).
RANKABLE = tuple(name for name in METRICS if name != "ruined_on")
# Undefined (NaN) for a ruined config: they depend on the returns of an equity that reached zero.
UNDEFINED_WHEN_RUINED = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "volatility",
    "winning_books",
    "turnover",
)


def metrics(ev: Evaluation) -> dict[str, np.ndarray]:
    """Per-config metrics with quantstats' definitions (252 periods, rf = 0), from the windows.

    Returns are zero outside book windows, so sums over the windows are sums over the run.
    A ruined config (``ruined_on`` = the date of its ruin close, else "") has the metrics of
    UNDEFINED_WHEN_RUINED as NaN; its costs are those of the fills and fees up to the ruin
    close, ``books`` counts the books entered by then, ``final_equity`` is the ruin close's.
    ``min_equity`` is the lowest close equity (or the cash, if lower).
    """
    a, batch = ev.arrays, ev.batch
    n = a.n_sessions
    n_cfg = len(batch)
    eq = ev.window_equity
    cash = batch.cash
    ruined = ev.ruin >= 0
    if a.n_books:
        previous = np.empty_like(eq)
        previous[:, 1:] = eq[:, :-1]
        previous[:, a.start] = ev.decision_equity  # the close before each entry
        with np.errstate(divide="ignore", invalid="ignore"):
            r = eq / previous - 1
        if ruined.any():
            r[ruined] = 0.0  # their return metrics are undefined (set below); keep sums finite
        final = eq[:, -1]
        running = np.maximum.accumulate(np.maximum(eq, cash[:, None]), axis=1)
        max_dd = np.minimum((eq / running).min(axis=1) - 1, 0.0)
        min_equity = np.minimum(eq.min(axis=1), cash)
    else:
        r = np.zeros((n_cfg, 0))
        final = cash.copy()
        max_dd = np.zeros(n_cfg)
        min_equity = cash.copy()
    total_r, total_r2 = r.sum(axis=1), (r * r).sum(axis=1)
    mean = total_r / n
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(np.maximum(total_r2 - total_r * mean, 0.0) / (n - 1))
        downside = np.sqrt((np.where(r < 0, r, 0.0) ** 2).sum(axis=1) / n)
        sharpe = np.where(std > 0, mean / std * np.sqrt(PERIODS), np.nan)
        sortino = np.where(downside > 0, mean / downside * np.sqrt(PERIODS), np.nan)
        total = final / cash - 1
        wealth = 1 + total
        cagr = np.where(wealth >= 0, np.abs(wealth) ** (PERIODS / n) - 1, np.nan)

    # Costs and turnover per book: notional G*E_d*(Z + s*W), Z = -Y_end, W = -X_end; a ruined
    # config's ruined book counts its fills and fees up to the ruin close, its later books none.
    any_ruined = bool(ruined.any())
    z, w, b = (v[a.end][None, :] for v in (-a.Y, -a.X, a.B))
    scale = batch.gross[:, None] * ev.decision_equity
    executed = np.ones((n_cfg, a.n_books), dtype=bool)
    if any_ruined:
        z, w, b = (np.broadcast_to(v, (n_cfg, a.n_books)).copy() for v in (z, w, b))
        rows = np.flatnonzero(ruined)
        at = ev.ruin[rows]
        book = a.book_of[at]
        executed[rows] = np.arange(a.n_books)[None, :] <= book[:, None]
        for part, cumulative in ((z, -a.Y), (w, -a.X), (b, a.B)):
            part[rows] = np.where(executed[rows], part[rows], 0.0)
            part[rows, book] = cumulative[at]
        # Books after a ruin never trade: zero, even when the ruin equity is not a number.
        scale = np.where(executed, scale, 0.0)
    notional = (scale * (z + batch.slippage[:, None] * w)).sum(axis=1)
    commission = batch.commission * notional
    slippage = batch.slippage * (scale * z).sum(axis=1)
    borrow = batch.borrow * (scale * b).sum(axis=1)
    mean_equity = _mean_equity(ev)
    books = executed.sum(axis=1).astype(np.int64)
    winning = (ev.book_value > 1).mean(axis=1) if a.n_books else np.full(n_cfg, np.nan)
    if not a.n_books:
        min_decision = cash.copy()
    elif any_ruined:
        min_decision = np.where(executed, ev.decision_equity, np.inf).min(axis=1)
    else:
        min_decision = ev.decision_equity.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        turnover = notional / mean_equity
    values = {
        "total_return": total,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "volatility": std * np.sqrt(PERIODS),
        "books": books,
        "winning_books": winning,
        "turnover": turnover,
        "commission": commission,
        "slippage_cost": slippage,
        "borrow_cost": borrow,
        "costs": commission + slippage + borrow,
        "final_equity": final,
        "min_decision_equity": min_decision,
        "min_equity": min_equity,
    }
    if any_ruined:
        for name in UNDEFINED_WHEN_RUINED:
            values[name] = np.where(ruined, np.nan, values[name])
    values["ruined_on"] = _ruin_dates(a, ev.ruin)
    return values


def _ruin_dates(a: PlanArrays, ruin: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of each config's ruin close, "" when not ruined."""
    out = np.full(len(ruin), "", dtype=object)
    hit = ruin >= 0
    if hit.any():
        if a.sessions is None:
            raise ValueError("PlanArrays.sessions is needed to name a ruin session")
        out[hit] = list(a.sessions[a.session_of[ruin[hit]]].strftime("%Y-%m-%d"))
    return out


def _mean_equity(ev: Evaluation) -> np.ndarray:
    """Mean equity over all sessions: window values plus flat stretches between them."""
    a = ev.arrays
    total = ev.window_equity.sum(axis=1) if a.n_books else np.zeros(len(ev.batch))
    level = ev.batch.cash.copy()
    previous_end = -1
    for k in range(a.n_books):
        first = a.session_of[a.start[k]]
        total += level * (first - previous_end - 1)
        previous_end = a.session_of[a.end[k]]
        level = ev.window_equity[:, a.end[k]]
    total += level * (a.n_sessions - previous_end - 1)
    return total / a.n_sessions
