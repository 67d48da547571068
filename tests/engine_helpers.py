"""The baseline strategy and its flat costs for the engine tests (test_parity, test_fast_engine,
test_lookahead): costs given as fractions (the reference engine's unit) or basis points, and the
plan's order groups in session order."""

from __future__ import annotations

from collections.abc import Sequence

from strategies.plan import Action, Plan
from strategies.policies.costs import Costs, FlatBorrow, FlatCommission, FlatSlippage
from strategies.strategy import Strategy


def flat_costs(commission_bps: float, slippage_bps: float, borrow_bps: float) -> Costs:
    """Flat commission and slippage per fill, flat annual borrow, all in basis points."""
    return Costs(
        commission=FlatCommission(commission_bps),
        slippage=FlatSlippage(slippage_bps),
        borrow=FlatBorrow(borrow_bps),
    )


def costs_of_fractions(commission: float, slippage: float, borrow: float) -> Costs:
    """The same from fractions (1 bp = 1e-4; borrow annual), as the old CostModel took them."""
    return flat_costs(commission * 1e4, slippage * 1e4, borrow * 1e4)


def fractions(costs: Costs) -> dict[str, float]:
    """The rates a flat Costs charges, as fractions: the reference engine's arguments."""
    return {
        "commission": costs.commission.rate,
        "slippage": costs.slippage.rate_value,
        "borrow": costs.borrow.bps / 1e4,
    }


def baseline(
    long: Sequence[str],
    short: Sequence[str],
    hold: int = 5,
    gross: float = 1.0,
    max_gross: float = 3.0,
    costs: Costs | None = None,
) -> Strategy:
    """The baseline rotation (README "The rules") with the old RotationRules' three numbers."""
    return Strategy.baseline(
        long, short, hold=hold, gross=gross, max_gross=max_gross, costs=costs or Costs()
    )


def actions_in_order(plan: Plan, kind: str | None = None) -> list[Action]:
    """The plan's order groups by decision session (closes before openings in a session),
    only those of ``kind`` ("open" or "close") when given."""
    by_session = plan.actions()
    return [
        a
        for session in sorted(by_session)
        for a in by_session[session]
        if kind is None or a.kind == kind
    ]
