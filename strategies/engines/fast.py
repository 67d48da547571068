"""The vectorised engine: a plan executed for many configs at once, exactly as backtrader does.

A batch is many configs that share one plan (same policies, baskets, events and dates) and
differ in numbers the plan does not depend on: gross, the vol target, the cost rates, cash. Two
ways to run it, both exact:

- **Linear costs** (flat commission and slippage, fractional shares, no participation cap):
  every cash flow of a book is proportional to g x E_d (its gross times the equity at its
  decision close), so per unit of g x E_d the book's value at a close of its window is

      F_t = M_t + (1 + c s) X_t + (s + c) Y_t - b B_rate,t - B_fixed,t

  (strategies/engines/plan_arrays.py defines M, X, Y, B), and the book adds g E_d F_t to the
  equity. Books that do not overlap chain by a cumulative product; overlapping sub-books
  (per_event) are summed, each sized on the equity at its own decision close.
- **General** (whole shares, a size-dependent slippage, a participation cap): book by book,
  the shares of every config are formed (rounded, capped), fills priced by the model, and the
  book's contribution follows from the member arrays by matrix products.

Ruin (README, "Ruin"): at the first close where equity <= 0 the run ends for that config; its
equity is held at that value after it, and no later book trades.

Models it does not know (a subclass or your own cost model) are refused with the model's name
(:func:`check_supported`): run them in backtrader. Policies are never refused: the plan holds
their decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.errors import CapexRotationError
from data.market import MarketData
from strategies.engines.plan_arrays import PlanArrays, plan_arrays
from strategies.errors import ExecutionError
from strategies.plan import Plan
from strategies.policies.costs import (
    Costs,
    FlatBorrow,
    FlatCommission,
    FlatSlippage,
    ImpactSlippage,
    TableBorrow,
    TickerBorrow,
)
from strategies.strategy import Strategy, book_gross


class UnsupportedConfig(CapexRotationError):
    """The vectorised engine cannot run this configuration exactly."""


KNOWN = {
    "commission": (FlatCommission,),
    "slippage": (FlatSlippage, ImpactSlippage),
    "borrow": (FlatBorrow, TickerBorrow, TableBorrow),
}


def check_supported(costs: Costs) -> None:
    """Refuse cost models the vectorised engine does not implement (never approximate)."""
    for seam, known in KNOWN.items():
        model = getattr(costs, seam)
        if type(model) not in known:
            raise UnsupportedConfig(
                f"the fast engine does not know the {seam} model {type(model).__name__}; run it "
                "with the backtrader engine (capex-rotation backtest), or use one of "
                f"{', '.join(k.__name__ for k in known)}"
            )


def borrow_rates(strategy: Strategy, market: MarketData) -> np.ndarray | None:
    """Names' own annual borrow rates (sessions x tickers), NaN where the flat rate applies."""
    borrow = strategy.costs.borrow
    if type(borrow) is FlatBorrow:
        return None
    rates = borrow.rates(market.tickers, market.sessions)
    flat = np.isclose(rates, borrow.bps / 1e4, rtol=0, atol=0)
    return np.where(flat, np.nan, rates)


@dataclass(frozen=True)
class Batch:
    """Numbers of many configs sharing one plan: 1-d arrays of equal length.

    Rates are fractions (1 bp = 1e-4; borrow annual). ``target`` is the vol target (annual;
    used with vol_target only). ``half_spread``/``impact_k``: the impact slippage model's.
    """

    gross: np.ndarray
    max_gross: np.ndarray
    target: np.ndarray
    commission: np.ndarray
    slippage: np.ndarray
    borrow: np.ndarray
    cash: np.ndarray
    half_spread: np.ndarray
    impact_k: np.ndarray

    @classmethod
    def of(cls, **values) -> Batch:
        defaults = {
            "max_gross": np.inf,
            "target": np.nan,
            "half_spread": 0.0,
            "impact_k": 0.0,
        }
        merged = {**defaults, **values}
        arrays = {
            k: np.atleast_1d(np.asarray(merged[k], dtype=float)) for k in cls.__dataclass_fields__
        }
        size = max(len(a) for a in arrays.values())
        return cls(**{k: np.broadcast_to(a, size).copy() for k, a in arrays.items()})

    @classmethod
    def of_strategy(cls, strategy: Strategy, cash: float) -> Batch:
        """The batch of one config: the numbers of ``strategy``'s own models."""
        costs = strategy.costs
        slip = costs.slippage
        return cls.of(
            gross=strategy.gross,
            max_gross=strategy.max_gross,
            target=getattr(strategy.sizer, "target", np.nan),
            commission=costs.commission.rate,
            slippage=getattr(slip, "rate_value", 0.0),
            borrow=costs.borrow.bps / 1e4,
            cash=cash,
            half_spread=getattr(slip, "half_spread", 0.0),
            impact_k=getattr(slip, "k", 0.0),
        )

    def __len__(self) -> int:
        return len(self.gross)


@dataclass(frozen=True)
class Evaluation:
    """A batch run on a plan.

    ``equity[c, t]``: equity at every close; ``decision_equity[c, k]``: at each book's decision
    close; ``book_pnl[c, k]``: the book's own P&L (fills, costs, borrow) at its last session;
    ``commission``, ``slippage_cost``, ``borrow_cost``, ``notional`` (traded value): totals per
    config; ``ruined_on[c]``: the session of ruin, -1 if none.
    """

    arrays: PlanArrays
    batch: Batch
    equity: np.ndarray
    decision_equity: np.ndarray
    book_pnl: np.ndarray
    commission: np.ndarray
    slippage_cost: np.ndarray
    borrow_cost: np.ndarray
    notional: np.ndarray
    ruined_on: np.ndarray


def gross_matrix(arrays: PlanArrays, batch: Batch, strategy: Strategy) -> np.ndarray:
    """Opening gross of every book for every config, (configs, books)."""
    g = book_gross(
        batch.gross[:, None],
        batch.max_gross[:, None],
        batch.target[:, None],
        strategy.targets_volatility,
        arrays.unit_vol[None, :],
        arrays.signal_scale[None, :],
    )
    return np.broadcast_to(g, (len(batch), arrays.n_books)).astype(float)


def is_linear(costs: Costs) -> bool:
    return (
        type(costs.slippage) is FlatSlippage
        and costs.rounding == "none"
        and costs.max_participation is None
    )


def evaluate(arrays: PlanArrays, batch: Batch, strategy: Strategy) -> Evaluation:
    """Run every config of ``batch`` on the plan behind ``arrays`` (planned with ``strategy``,
    whose structure — sizer kind, cost model kinds, rounding, cap — the batch shares)."""
    check_supported(strategy.costs)
    G = gross_matrix(arrays, batch, strategy)
    if is_linear(strategy.costs):
        if not arrays.overlapping:
            result = _linear_chained(arrays, batch, G)
        else:
            result = _linear_summed(arrays, batch, G)
        return _with_ruin(arrays, batch, G, *result)
    formed: dict[str, np.ndarray] = {}
    result = _general(arrays, batch, G, strategy.costs, formed=formed)
    return _with_ruin(arrays, batch, G, *result, formed=formed)


def run_fast(market: MarketData, plan: Plan, cash: float) -> Evaluation:
    """One config through the vectorised engine (the plan's own strategy and costs)."""
    strategy = plan.strategy
    check_supported(strategy.costs)
    arrays = plan_arrays(market, plan, borrow_rates(strategy, market))
    return evaluate(arrays, Batch.of_strategy(strategy, cash), strategy)


# -- linear costs -----------------------------------------------------------------------------


def _unit_value(a: PlanArrays, batch: Batch) -> np.ndarray:
    c, s, b = (v[:, None] for v in (batch.commission, batch.slippage, batch.borrow))
    F = a.M[None, :] + (1 + c * s) * a.X[None, :] + (s + c) * a.Y[None, :]
    F -= b * a.B_rate[None, :] + a.B_fixed[None, :]
    return F


def _linear_costs(a: PlanArrays, batch: Batch, scale: np.ndarray):
    """Commission, slippage, borrow and traded value per config; ``scale`` = g x E_d per book."""
    if not a.n_books:
        zero = np.zeros(len(batch))
        return zero, zero.copy(), zero.copy(), zero.copy()
    z = -a.Y[a.end]  # sum |tau| open over the book's fills
    w = -a.X[a.end]  # sum tau open
    notional = (scale * (z[None, :] + batch.slippage[:, None] * w[None, :])).sum(axis=1)
    commission = batch.commission * notional
    slippage = batch.slippage * (scale * z[None, :]).sum(axis=1)
    borrow = (
        scale * (batch.borrow[:, None] * a.B_rate[a.end][None, :] + a.B_fixed[a.end][None, :])
    ).sum(axis=1)
    return commission, slippage, borrow, notional


def _linear_chained(a: PlanArrays, batch: Batch, G: np.ndarray):
    """Books one after another: E_d of a book = the final equity of the one before."""
    n_cfg = len(batch)
    if not a.n_books:
        equity = np.repeat(batch.cash[:, None], a.n_sessions, axis=1)
        empty = np.zeros((n_cfg, 0))
        return (equity, empty, empty.copy(), *_linear_costs(a, batch, empty))
    value = 1 + G[:, a.position_book] * _unit_value(a, batch)
    book_value = value[:, a.end]
    decision = np.empty_like(book_value)
    decision[:, 0] = batch.cash
    decision[:, 1:] = batch.cash[:, None] * np.cumprod(book_value, axis=1)[:, :-1]
    window = decision[:, a.position_book] * value
    # Every session holds the latest window value at or before it (flat stretches keep the
    # last book's final equity); before the first book, the cash.
    src = np.searchsorted(a.position_session, np.arange(a.n_sessions), side="right") - 1
    equity = window[:, np.maximum(src, 0)]
    equity[:, src < 0] = batch.cash[:, None]
    pnl = decision * (book_value - 1)
    return (equity, decision, pnl, *_linear_costs(a, batch, G * decision))


def _linear_summed(a: PlanArrays, batch: Batch, G: np.ndarray):
    """Overlapping sub-books: each adds g E_d F_t over its window and its final P&L after."""
    F = _unit_value(a, batch)
    n_cfg, K, n = len(batch), a.n_books, a.n_sessions
    decision = np.empty((n_cfg, K))
    equity = np.repeat(batch.cash[:, None], n, axis=1)
    tail = np.zeros((n_cfg, n + 1))
    windows: dict[int, np.ndarray] = {}
    level = np.zeros(n_cfg)  # final P&L of books already over
    active: list[int] = []
    for k in range(K):
        d = int(a.decision[k])
        still = []
        for j in active:
            if a.last[j] <= d:
                level += windows.pop(j)[:, -1]
            else:
                still.append(j)
        active = still
        partial = sum(
            (windows[j][:, d - a.entry[j]] for j in active if a.entry[j] <= d),
            start=np.zeros(n_cfg),
        )
        decision[:, k] = batch.cash + level + partial
        lo, hi = int(a.start[k]), int(a.end[k]) + 1
        contribution = (G[:, k] * decision[:, k])[:, None] * F[:, lo:hi]
        windows[k] = contribution
        active.append(k)
        e, last = int(a.entry[k]), int(a.last[k])
        equity[:, e : last + 1] += contribution
        tail[:, last + 1] += contribution[:, -1]
    equity += np.cumsum(tail, axis=1)[:, :n]
    pnl = G * decision * F[:, a.end] if K else np.zeros((n_cfg, 0))
    return (equity, decision, pnl, *_linear_costs(a, batch, G * decision))


# -- general costs ------------------------------------------------------------------------------


def _general(
    a: PlanArrays,
    batch: Batch,
    G: np.ndarray,
    costs: Costs,
    trades: list | None = None,
    formed: dict | None = None,
):
    """Book by book: shares formed per config (rounded, capped), fills priced by the model.

    ``trades``: a list that receives, for the batch's first config, one tuple per member of
    every book: (book, member index, shares, entry fill, exit fill, entry commission, exit
    commission, slippage rate) — the fills of the run (strategies.engines.fast_result).
    ``formed``: a dict that receives the shares and slippage rates of every member, (configs,
    members) each (the costs of a ruined config are counted from them)."""
    n_cfg, K, n = len(batch), a.n_books, a.n_sessions
    decision = np.empty((n_cfg, K))
    pnl = np.zeros((n_cfg, K))
    equity = np.repeat(batch.cash[:, None], n, axis=1)
    tail = np.zeros((n_cfg, n + 1))
    totals = {name: np.zeros(n_cfg) for name in ("commission", "slippage", "borrow", "notional")}
    member_start = np.searchsorted(a.member_book, np.arange(K))
    member_end = np.searchsorted(a.member_book, np.arange(K), side="right")
    mp_start = np.searchsorted(a.mp_member, member_start)
    impact = type(costs.slippage) is ImpactSlippage
    cap = costs.max_participation
    windows: dict[int, np.ndarray] = {}
    level = np.zeros(n_cfg)
    active: list[int] = []
    c = batch.commission[:, None]
    shares_of: list[np.ndarray] = []
    slips_of: list[np.ndarray] = []
    for k in range(K):
        d = int(a.decision[k])
        still = []
        for j in active:
            if a.last[j] <= d:
                level += windows.pop(j)[:, -1]
            else:
                still.append(j)
        active = still
        partial = sum(
            (windows[j][:, d - a.entry[j]] for j in active if a.entry[j] <= d),
            start=np.zeros(n_cfg),
        )
        e_d = batch.cash + level + partial
        decision[:, k] = e_d
        ms, me = int(member_start[k]), int(member_end[k])
        m = me - ms
        L = int(a.end[k] - a.start[k] + 1)
        # Ruined configs (equity <= 0 at the decision close) trade nothing.
        q = (G[:, k] * np.where(e_d > 0, e_d, 0.0))[:, None] * a.units[None, ms:me]
        if costs.rounding == "whole":
            q = np.trunc(q)
        adv = a.adv[ms:me]
        if cap is not None:
            limit = cap * adv[None, :]
            over = np.abs(q) > limit
            if over.any():
                if costs.on_cap == "fail":
                    cfg, j = np.argwhere(over)[0]
                    raise ExecutionError(
                        f"participation cap: {abs(q[cfg, j]):,.0f} shares of column "
                        f"{int(a.member_col[ms + j])} at the open of session {int(a.entry[k])} "
                        f"exceed {cap:g} x ADV {adv[j]:,.0f} (config {int(cfg)}); lower the "
                        "gross, raise costs.max_participation, or set costs.on_cap = 'scale'"
                    )
                q = np.where(over, np.sign(q) * limit, q)
        if impact:
            slip = batch.half_spread[:, None] + batch.impact_k[:, None] * a.sigma[
                None, ms:me
            ] * np.sqrt(np.abs(q) / adv[None, :])
        else:
            slip = np.broadcast_to(batch.slippage[:, None], q.shape)
        shares_of.append(q)
        slips_of.append(np.broadcast_to(slip, q.shape))
        sign = np.sign(q)
        fill_in = a.open_entry[None, ms:me] * (1 + sign * slip)
        fill_out = a.open_exit[None, ms:me] * (1 - sign * slip)
        inside = (a.member_exit[ms:me] <= a.last[k])[None, :]
        comm_in = c * np.abs(q * fill_in)
        comm_out = np.where(inside, c * np.abs(q * fill_out), 0.0)
        rows = slice(int(mp_start[k]), int(mp_start[k]) + m * L)
        held = a.mp_close_held[rows].reshape(m, L)
        b_rate = a.mp_borrow_rate[rows].reshape(m, L)
        b_fixed = a.mp_borrow_fixed[rows].reshape(m, L)
        sessions = a.entry[k] + np.arange(L)
        step = (sessions[None, :] >= a.member_exit[ms:me, None]).astype(float)
        aq = np.abs(q)
        contribution = (
            _by_session(q, held)
            - (q * fill_in + comm_in).sum(axis=1)[:, None]
            + _by_session(np.where(inside, q * fill_out, 0.0) - comm_out, step)
            - batch.borrow[:, None] * _by_session(aq, b_rate)
            - _by_session(aq, b_fixed)
        )
        windows[k] = contribution
        active.append(k)
        lo, last = int(a.entry[k]), int(a.last[k])
        equity[:, lo : last + 1] += contribution
        tail[:, last + 1] += contribution[:, -1]
        pnl[:, k] = contribution[:, -1]
        totals["commission"] += comm_in.sum(axis=1) + comm_out.sum(axis=1)
        opens_in = a.open_entry[None, ms:me]
        opens_out = np.where(inside, a.open_exit[None, ms:me], 0.0)
        totals["slippage"] += (aq * slip * (opens_in + opens_out)).sum(axis=1)
        totals["borrow"] += batch.borrow * (aq @ b_rate[:, -1]) + aq @ b_fixed[:, -1]
        totals["notional"] += (np.abs(q * fill_in) + np.where(inside, np.abs(q * fill_out), 0)).sum(
            axis=1
        )
        if trades is not None:
            for j in range(m):
                trades.append(
                    (
                        k,
                        ms + j,
                        float(q[0, j]),
                        float(fill_in[0, j]),
                        float(fill_out[0, j]),
                        float(comm_in[0, j]),
                        float(comm_out[0, j]),
                        float(slip[0, j]),
                    )
                )
    equity += np.cumsum(tail, axis=1)[:, :n]
    if formed is not None:
        formed["shares"] = np.concatenate(shares_of, axis=1) if shares_of else np.zeros((n_cfg, 0))
        formed["slip"] = np.concatenate(slips_of, axis=1) if slips_of else np.zeros((n_cfg, 0))
    return (
        equity,
        decision,
        pnl,
        totals["commission"],
        totals["slippage"],
        totals["borrow"],
        totals["notional"],
    )


# -- ruin -------------------------------------------------------------------------------------


def _with_ruin(
    a, batch, G, equity, decision, pnl, commission, slippage, borrow, notional, formed=None
):
    """Hold each ruined config's equity at its first close <= 0 (or not a number): books
    decided at or after it did not trade (their P&L is 0), and its costs count the fills and
    fees up to that close only (:func:`_costs_until`)."""
    bust = ~(equity > 0)
    ruined = bust.any(axis=1)
    ruined_on = np.where(ruined, bust.argmax(axis=1), -1)
    for cfg in np.flatnonzero(ruined):
        t = int(ruined_on[cfg])
        equity[cfg, t + 1 :] = equity[cfg, t]
        pnl[cfg, a.decision >= t] = 0.0
        if formed is not None and len(formed["shares"]):
            q, slip = formed["shares"][cfg], formed["slip"][cfg]
        else:
            q = G[cfg, a.member_book] * decision[cfg, a.member_book] * a.units
            slip = np.full(len(q), batch.slippage[cfg])
        values = _costs_until(a, t, q, slip, batch.commission[cfg], batch.borrow[cfg])
        commission[cfg], slippage[cfg], borrow[cfg], notional[cfg] = values
    return Evaluation(
        arrays=a,
        batch=batch,
        equity=equity,
        decision_equity=decision,
        book_pnl=pnl,
        commission=commission,
        slippage_cost=slippage,
        borrow_cost=borrow,
        notional=notional,
        ruined_on=ruined_on,
    )


def _by_session(per_member: np.ndarray, per_member_session: np.ndarray) -> np.ndarray:
    """(configs, members) x (members, sessions) -> (configs, sessions), each session's sum
    over the members in member order. Not a matrix product: BLAS may sum a column in an order
    that depends on how many sessions the window has, and a window's length depends on its exit
    (decided later), so an early session's value would change with later prices by an ulp."""
    return (per_member[:, :, None] * per_member_session[None, :, :]).sum(axis=1)


def _costs_until(a: PlanArrays, t: int, q, slip, c: float, b: float):
    """Commission, slippage, borrow and traded value of the fills and fees at opens up to the
    close of ``t`` (a ruined config's: nothing trades after its ruin close)."""
    book = a.member_book
    entered = a.entry[book] <= t
    exits = (a.member_exit <= a.last[book]) & (a.member_exit <= t)
    sign = np.sign(q)
    aq = np.abs(q)
    fill_in = a.open_entry * (1 + sign * slip)
    fill_out = a.open_exit * (1 - sign * slip)
    value = np.where(entered, aq * fill_in, 0.0) + np.where(exits, aq * fill_out, 0.0)
    slipped = np.where(entered, aq * slip * a.open_entry, 0.0)
    slipped += np.where(exits, aq * slip * a.open_exit, 0.0)
    # Borrow debited at the positions of each member's window up to t (cumulated per share).
    fees = 0.0
    for p in np.flatnonzero(entered & (q < 0)):
        k = int(book[p])
        position = min(t, int(a.last[k])) - int(a.entry[k])
        row = int(np.searchsorted(a.mp_member, p)) + position
        fees += aq[p] * (b * a.mp_borrow_rate[row] + a.mp_borrow_fixed[row])
    notional = float(value.sum())
    return c * notional, float(slipped.sum()), float(fees), notional
