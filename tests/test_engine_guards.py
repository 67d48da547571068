"""The backtrader engine refuses to go on silently when an order does not fill as planned."""

from __future__ import annotations

import pytest
from synthetic import market

from strategies.engines.backtrader_engine import ExecutionError, run_backtrader
from strategies.plan import Book, BookPlan, Decision
from strategies.rules import CostModel, RotationRules


def _plan(m, weights):
    plan = BookPlan()
    plan.books.append(
        Book(
            0,
            10,
            11,
            16,
            tuple(c for c, w in weights if w > 0),
            tuple(c for c, w in weights if w < 0),
        )
    )
    plan.decisions[10] = Decision(10, 0, open_weights=tuple(weights))
    return plan


def test_margin_rejection_fails_the_run():
    m = market("2024-03-01", "2024-04-30")
    # A long-only book of 3x equity cannot be paid for: backtrader marks the buy "Margin".
    plan = _plan(m, [(m.column("L1"), 3.0)])
    with pytest.raises(ExecutionError, match="Margin"):
        run_backtrader(m, plan, RotationRules(gross=1.0, max_gross=5.0), CostModel(), 1e6)


def test_book_above_the_gross_cap_fails_the_run():
    m = market("2024-03-01", "2024-04-30")
    plan = _plan(m, [(m.column("L1"), 1.5), (m.column("S1"), -1.5)])
    with pytest.raises(ExecutionError, match="max_gross"):
        run_backtrader(m, plan, RotationRules(gross=1.0, max_gross=2.0), CostModel(), 1e6)


def test_gross_three_fills_without_rejections():
    m = market("2024-03-01", "2024-04-30")
    weights = [
        (m.column("L1"), 0.75),
        (m.column("L2"), 0.75),
        (m.column("S1"), -0.75),
        (m.column("S2"), -0.75),
    ]
    result = run_backtrader(m, _plan(m, weights), RotationRules(gross=3.0), CostModel(), 1e6)
    assert len(result.fills) == 4
    assert result.equity["gross_exposure"].iloc[11] == pytest.approx(3.0, rel=0.05)
