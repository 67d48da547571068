"""One config through the vectorised engine, as the same plain frames backtrader's run gives:
equity with cash and long/short values, fills and borrow fees (for the Python API's
``engine="fast"`` and for fill-by-fill parity tests).

The general path of :mod:`strategies.engines.fast` forms every member's shares and fill
prices; the rest follows: positions are the cumulated fills, marked at each close; borrow per
member position is the increment of its cumulated fee.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.market import MarketData
from strategies.engines.fast import (
    Batch,
    _general,
    _with_ruin,
    borrow_rates,
    check_supported,
    gross_matrix,
)
from strategies.engines.plan_arrays import plan_arrays
from strategies.plan import Plan
from strategies.result import EngineResult, borrow_frame, equity_frame, fills_frame


def run_fast_result(market: MarketData, plan: Plan, cash: float) -> EngineResult:
    """Execute ``plan`` with the vectorised engine and return an EngineResult."""
    strategy = plan.strategy
    check_supported(strategy.costs)
    a = plan_arrays(market, plan, borrow_rates(strategy, market))
    batch = Batch.of_strategy(strategy, cash)
    trades: list[tuple] = []
    G = gross_matrix(a, batch, strategy)
    formed: dict = {}
    result = _general(a, batch, G, strategy.costs, trades, formed)
    ev = _with_ruin(a, batch, G, *result, formed=formed)
    ruined = int(ev.ruined_on[0])
    n = a.n_sessions
    sessions = market.sessions
    stop = ruined if ruined >= 0 else n  # no fill after the ruin close
    positions = np.zeros((n + 1, len(market.tickers)))
    sells, buys, borrow_rows = [], [], []
    for book, member, q, fill_in, fill_out, comm_in, comm_out, _slip in trades:
        col = int(a.member_col[member])
        entry = int(a.entry[book])
        exit_ = int(a.member_exit[member])
        if entry > stop or q == 0:
            continue
        ticker = market.tickers[col]
        opening = ("buy" if q > 0 else "short", fill_in, comm_in, market.open[entry, col])
        (buys if q > 0 else sells).append((entry, book, col, ticker, abs(q), *opening))
        positions[entry, col] += q
        if exit_ <= a.last[book] and exit_ <= stop:
            closing = ("sell" if q > 0 else "cover", fill_out, comm_out, market.open[exit_, col])
            (sells if q > 0 else buys).append((exit_, book, col, ticker, abs(q), *closing))
            positions[exit_, col] -= q
        lo = int(np.searchsorted(a.mp_member, member))
        L = int(a.end[book] - a.start[book] + 1)
        cumulative = (
            batch.borrow[0] * a.mp_borrow_rate[lo : lo + L] + a.mp_borrow_fixed[lo : lo + L]
        ) * abs(q)
        fees = np.diff(cumulative, prepend=0.0)
        for j in np.flatnonzero(fees):
            day = entry + int(j)
            if day <= stop:
                borrow_rows.append((sessions[day].date(), ticker, float(fees[j]), book))
    rows = []
    for day, *_ in sorted({r[0]: None for r in sells + buys}.items()):
        for group in (sells, buys):
            for r in sorted((r for r in group if r[0] == day), key=lambda r: (r[1], r[2])):
                _, book, col, ticker, shares, side, price, comm, open_ = r
                rows.append(
                    (
                        sessions[day].date(),
                        ticker,
                        side,
                        shares,
                        price,
                        comm,
                        abs(shares * (price - open_)),
                        book,
                    )
                )
    held = np.cumsum(positions[:n], axis=0)
    value = held * np.nan_to_num(market.close)
    long_value = np.where(value > 0, value, 0.0).sum(axis=1)
    short_value = np.where(value < 0, value, 0.0).sum(axis=1)
    equity = ev.equity[0]
    if ruined >= 0:  # positions are frozen with the equity after the ruin close
        long_value[ruined + 1 :] = long_value[ruined]
        short_value[ruined + 1 :] = short_value[ruined]
    cash_col = equity - long_value - short_value
    frame = equity_frame(
        sessions, list(zip(equity, cash_col, long_value, short_value, strict=True))
    )
    borrow_rows.sort(key=lambda r: (r[0], r[3], market.column(r[1])))
    return EngineResult(
        equity=frame,
        fills=fills_frame(rows),
        borrow=borrow_frame(borrow_rows),
        cash=cash,
        engine="fast",
    )


__all__ = ["pd", "run_fast_result"]
