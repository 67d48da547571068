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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """Book-window equity of a batch: ``window_equity[c, j]`` for window position j."""

    arrays: PlanArrays
    batch: Batch
    window_equity: np.ndarray
    decision_equity: np.ndarray  # (configs, books)
    book_value: np.ndarray  # (configs, books): 1 + G * F at the book's last window position

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
    return Evaluation(arrays, batch, window_equity, decision, book_value)


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
)


def metrics(ev: Evaluation) -> dict[str, np.ndarray]:
    """Per-config metrics with quantstats' definitions (252 periods, rf = 0), from the windows.

    Returns are zero outside book windows, so sums over the windows are sums over the run.
    """
    a, batch = ev.arrays, ev.batch
    n = a.n_sessions
    n_cfg = len(batch)
    eq = ev.window_equity
    cash = batch.cash
    if a.n_books:
        previous = np.empty_like(eq)
        previous[:, 1:] = eq[:, :-1]
        previous[:, a.start] = ev.decision_equity  # the close before each entry
        r = eq / previous - 1
        final = eq[:, -1]
        running = np.maximum.accumulate(np.maximum(eq, cash[:, None]), axis=1)
        max_dd = np.minimum((eq / running).min(axis=1) - 1, 0.0)
    else:
        r = np.zeros((n_cfg, 0))
        final = cash.copy()
        max_dd = np.zeros(n_cfg)
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

    # Costs and turnover per book: notional G*E_d*(Z + s*W), Z = -Y_end, W = -X_end.
    z = -a.Y[a.end] if a.n_books else np.zeros(0)
    w = -a.X[a.end] if a.n_books else np.zeros(0)
    scale = batch.gross[:, None] * ev.decision_equity
    notional = (scale * (z[None, :] + batch.slippage[:, None] * w[None, :])).sum(axis=1)
    commission = batch.commission * notional
    slippage = batch.slippage * (scale * z[None, :]).sum(axis=1)
    borrow = batch.borrow * (scale * (a.B[a.end][None, :] if a.n_books else 0.0)).sum(axis=1)
    mean_equity = _mean_equity(ev)
    books = np.full(n_cfg, a.n_books, dtype=np.int64)
    winning = (ev.book_value > 1).mean(axis=1) if a.n_books else np.full(n_cfg, np.nan)
    min_decision = ev.decision_equity.min(axis=1) if a.n_books else cash.copy()
    return {
        "total_return": total,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "volatility": std * np.sqrt(PERIODS),
        "books": books,
        "winning_books": winning,
        "turnover": notional / mean_equity,
        "commission": commission,
        "slippage_cost": slippage,
        "borrow_cost": borrow,
        "costs": commission + slippage + borrow,
        "final_equity": final,
        "min_decision_equity": min_decision,
    }


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
