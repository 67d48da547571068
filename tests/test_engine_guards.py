"""The backtrader engine refuses to go on silently when an order does not fill as planned."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import market

from strategies.engines import backtrader_engine
from strategies.engines.backtrader_engine import ExecutionError, run_backtrader
from strategies.engines.bt_parts import PolicyBroker
from strategies.plan import NEVER, Book, Plan
from strategies.strategy import Strategy

LONG, SHORT = ("L1", "L2"), ("S1", "S2")


def _plan(m, weights, strategy):
    """One book decided at the close of session 10, entered at 11 and never closed (the old
    plan's single opening decision): ``weights`` are (column, target weight at its gross)."""
    gross = sum(abs(w) for _, w in weights)
    book = Book(
        id=0,
        direction=1,
        decision=10,
        entry=11,
        planned_exit=16,
        cols=np.array([c for c, _ in weights], dtype=np.int64),
        weights=np.array([w / gross for _, w in weights]),
        name_exit=np.full(len(weights), NEVER, dtype=np.int64),
        gross=gross,
    )
    return Plan(m, strategy, books=[book])


def test_long_book_beyond_cash_fills():
    """The rules cap gross, not cash (README "The rules", leverage): a long-only book of 3x
    equity fills in full and leaves cash at about -2x equity. (backtrader's cash floor used to
    mark this buy "Margin"; the engine removes that floor, so cash alone never rejects an
    order now. The rejection path is tested below with a broker that refuses.)"""
    m = market("2024-03-01", "2024-04-30")
    strategy = Strategy.baseline(LONG, SHORT, gross=1.0, max_gross=5.0)
    result = run_backtrader(m, _plan(m, [(m.column("L1"), 3.0)], strategy), 1e6)
    assert len(result.fills) == 1 and result.fills["side"].iloc[0] == "buy"
    assert result.equity["cash"].iloc[11] == pytest.approx(-2e6, rel=0.05)
    assert result.equity["gross_exposure"].iloc[11] == pytest.approx(3.0, rel=0.05)


class _Refusing(PolicyBroker):
    """A broker that ends the first order for S1 in ``status`` (Margin, Rejected, Canceled) or
    fills half of it (Partial), as a real broker can (no borrow, a halted name, liquidity)."""

    status = "Margin"

    def _try_exec_market(self, order, popen, phigh, plow):
        if order.data._name != "S1" or order.data.datetime[0] <= order.created.dt:
            return super()._try_exec_market(order, popen, phigh, plow)
        if self.status == "Partial":  # backtrader's volume filler: half the order
            self.p.filler = lambda order, price, ago: abs(order.executed.remsize) / 2
            return super()._try_exec_market(order, popen, phigh, plow)
        if self.status == "Margin":
            order.margin()
        elif self.status == "Rejected":
            order.reject(self)
        else:
            order.cancel()
        self.notify(order)


@pytest.mark.parametrize("status", ["Margin", "Rejected", "Canceled", "Partial"])
def test_order_the_broker_refuses_fails_the_run(monkeypatch, status):
    m = market("2024-03-01", "2024-04-30")
    monkeypatch.setattr(_Refusing, "status", status)
    monkeypatch.setattr(backtrader_engine, "PolicyBroker", _Refusing)
    strategy = Strategy.baseline(LONG, SHORT, gross=1.0)
    plan = _plan(m, [(m.column("L1"), 0.5), (m.column("S1"), -0.5)], strategy)
    with pytest.raises(ExecutionError, match=rf"S1 ended {status} at the broker"):
        run_backtrader(m, plan, 1e6)


def test_book_above_the_gross_cap_fails_the_run():
    m = market("2024-03-01", "2024-04-30")
    strategy = Strategy.baseline(LONG, SHORT, gross=1.0, max_gross=2.0)
    plan = _plan(m, [(m.column("L1"), 1.5), (m.column("S1"), -1.5)], strategy)
    with pytest.raises(ExecutionError, match="max_gross"):
        run_backtrader(m, plan, 1e6)


def test_gross_three_fills_without_rejections():
    m = market("2024-03-01", "2024-04-30")
    weights = [
        (m.column("L1"), 0.75),
        (m.column("L2"), 0.75),
        (m.column("S1"), -0.75),
        (m.column("S2"), -0.75),
    ]
    strategy = Strategy.baseline(LONG, SHORT, gross=3.0)
    result = run_backtrader(m, _plan(m, weights, strategy), 1e6)
    assert len(result.fills) == 4
    assert result.equity["gross_exposure"].iloc[11] == pytest.approx(3.0, rel=0.05)
