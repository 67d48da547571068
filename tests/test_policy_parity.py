"""Every built-in policy, alone and combined: backtrader, the vectorised engine and the
independent reference (tests/reference_policies.py) agree on every session's equity (1e-9
relative), every fill, every book and the ruin.

Synthetic markets give exact control (late listings, data that ends, weekends, volumes for
ADV-based costs); the real data checks the policies the README's research table uses.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_harness import assert_same, calendar_of, run_all, synthetic_histories

LONG, SHORT = ("L1", "L2", "L3"), ("S1", "S2", "S3", "S4")
START, END = "2023-01-03", "2023-12-29"
SPANS = {"L3": ("2023-05-15", None), "S4": (None, "2023-09-15")}  # a late listing, an early end

EVENTS = [
    ("2023-03-01T08:00", 1),
    ("2023-03-03T16:30", 1),  # extends, or a second sub-book
    ("2023-03-10", -1),  # a counter-trigger
    ("2023-04-03T12:00", 1),
    ("2023-05-16T08:00", 1),  # the day after L3 lists
    ("2023-05-16T09:00", 1),  # the same entry session
    ("2023-06-01T08:00", -1),  # counter while flat or holding
    ("2023-06-02T08:00", 1),
    ("2023-06-02T08:30", -1),  # cancels
    ("2023-07-10T08:00", 1),
    ("2023-07-11T08:00", 1),
    ("2023-07-12T08:00", 1),
    ("2023-07-13T08:00", 1),  # a cluster: the gross cap of per_event
    ("2023-09-13T08:00", 1),  # S4's data ends inside the book
    ("2023-11-01T08:00", -1),
    ("2023-12-27T08:00", 1),  # still open at the end
]


def base(**sections) -> dict:
    table = {
        "run": {"start": START, "end": END, "benchmark": "BM", "cash": 1_000_000.0},
        "universe": {"long": list(LONG), "short": list(SHORT)},
        "strategy": {"hold_sessions": 5},
        "costs": {"commission_bps": 1.0, "slippage_bps": 2.0, "borrow_bps": 50.0},
    }
    for section, values in sections.items():
        for key, value in values.items():
            node = table.setdefault(section, {})
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
    return table


SHORT_LOOKBACK = {"sizing.lookback": 20, "sizing.min_history": 15}
CASES = {
    "baseline": base(),
    "signal weighted": base(strategy={"signal.kind": "weighted"}),
    "signal scales size": base(strategy={"signal.kind": "weighted", "signal.scale_size": True}),
    "per_event": base(strategy={"books.kind": "per_event"}),
    "per_event reverse": base(strategy={"books.kind": "per_event", "books.counter": "reverse"}),
    "per_event capped at 2": base(strategy={"books.kind": "per_event", "max_gross": 2.0}),
    "counter ignore": base(strategy={"books.counter": "ignore"}),
    "counter reverse": base(strategy={"books.counter": "reverse"}),
    "delay 2": base(strategy={"entry.delay": 2}),
    "inverse_vol": base(strategy={"sizing.kind": "inverse_vol", **SHORT_LOOKBACK}),
    "beta_neutral": base(strategy={"sizing.kind": "beta_neutral", **SHORT_LOOKBACK}),
    "beta_neutral inverse_vol": base(
        strategy={"sizing.kind": "beta_neutral", "sizing.within": "inverse_vol", **SHORT_LOOKBACK}
    ),
    "vol_target": base(
        strategy={"sizing.kind": "vol_target", "sizing.target": 0.10, **SHORT_LOOKBACK}
    ),
    "vol_target capped": base(
        strategy={"sizing.kind": "vol_target", "sizing.target": 2.0, **SHORT_LOOKBACK}
    ),
    "stop_loss": base(strategy={"exits.stop_loss": 0.01, "hold_sessions": 20}),
    "take_profit": base(strategy={"exits.take_profit": 0.01, "hold_sessions": 20}),
    "trailing_stop": base(strategy={"exits.trailing_stop": 0.01, "hold_sessions": 20}),
    "max_hold": base(strategy={"exits.max_hold": 6, "hold_sessions": 4}),
    "legs with a hedge": base(
        strategy={
            "legs": [
                {"name": "spenders", "tickers": ["L1", "L2", "L3"], "side": 1, "share": 0.5},
                {"name": "suppliers", "tickers": ["S1", "S2", "S3"], "side": -1, "share": 0.3},
                {"name": "hedge", "tickers": ["S4"], "side": -1, "share": 0.2},
            ]
        }
    ),
    "whole shares": base(costs={"rounding": "whole"}, run={"cash": 20_000.0}),
    "impact slippage": base(costs={"slippage_model": "impact", "impact_k": 0.5}),
    "participation cap scales": base(
        costs={"max_participation": 0.01, "on_cap": "scale"}, strategy={"gross": 2.0}
    ),
    "borrow by ticker": base(costs={"borrow_by_ticker": {"S1": 300.0, "S3": 1200.0}}),
    "ruin at gross 25": base(strategy={"gross": 25.0, "max_gross": 30.0}),
}
EVENT_ROWS = [(*row, 0.5 + (k % 4) * 0.5) for k, row in enumerate(EVENTS)]


@pytest.fixture(scope="module")
def histories():
    return synthetic_histories(START, END, LONG + SHORT, SPANS, seed=3, vol=0.03)


@pytest.mark.parametrize("name", list(CASES))
def test_every_policy_agrees_with_the_reference(histories, name):
    runs = run_all(histories, calendar_of(EVENT_ROWS), CASES[name])
    assert runs.prepared.plan.books, "the case must trade"
    assert_same(runs)


def test_the_cases_exercise_what_they_name(histories):
    """Guard against a case that silently does not test its policy."""

    def plan(name):
        return run_all(histories, calendar_of(EVENT_ROWS), CASES[name]).prepared.plan

    closed_by = {b.closed_by for b in plan("stop_loss").books}
    assert "stop_loss" in closed_by
    assert "take_profit" in {b.closed_by for b in plan("take_profit").books}
    assert "trailing_stop" in {b.closed_by for b in plan("trailing_stop").books}
    assert "max_hold" in {b.closed_by for b in plan("max_hold").books}
    per_event = plan("per_event capped at 2")
    assert any("gross cap" in o.reason for o in per_event.outcomes)
    assert {b.direction for b in plan("counter reverse").books} == {1, -1}
    assert any(b.closed_by == "data_end" or len(b.cols) for b in plan("baseline").books)
    runs = run_all(histories, calendar_of(EVENT_ROWS), CASES["ruin at gross 25"])
    assert runs.backtrader.ruined_on is not None


POLICIES = {
    "strategy.books.kind": st.sampled_from(["single", "per_event"]),
    "strategy.books.counter": st.sampled_from(["close", "ignore", "reverse"]),
    "strategy.entry.delay": st.integers(0, 3),
    "strategy.sizing.kind": st.sampled_from(["equal", "inverse_vol", "beta_neutral", "vol_target"]),
    "strategy.exits.stop_loss": st.sampled_from(["off", 0.01, 0.03]),
    "strategy.exits.trailing_stop": st.sampled_from(["off", 0.02]),
    "strategy.exits.take_profit": st.sampled_from(["off", 0.04]),
    "strategy.exits.max_hold": st.sampled_from(["off", 3, 8]),
    "strategy.hold_sessions": st.integers(1, 12),
    "strategy.gross": st.sampled_from([0.5, 1.0, 2.0]),
    "costs.rounding": st.sampled_from(["none", "whole"]),
    "costs.slippage_model": st.sampled_from(["flat", "impact"]),
    "costs.commission_bps": st.sampled_from([0.0, 1.0, 25.0]),
}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choice=st.fixed_dictionaries(POLICIES))
def test_random_combinations_agree(histories, choice):
    table = copy.deepcopy(base(strategy=SHORT_LOOKBACK))
    for key, value in choice.items():
        section, *rest = key.split(".")
        node = table[section]
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = value
    assert_same(run_all(histories, calendar_of(EVENT_ROWS), table))
