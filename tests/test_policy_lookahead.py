"""Look-ahead: perturbing every price after a cutoff changes no decision, no fill and no
equity up to the cutoff, for every built-in policy and for random combinations of them, in
both engines.

Sizers, stops and ADV-based costs read trailing windows of bars; this is the test that they
only ever read bars up to the decision close. Volumes are perturbed too.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_harness import calendar_of, config_of, synthetic_histories
from test_policy_parity import CASES, END, EVENT_ROWS, LONG, POLICIES, SHORT, SPANS, START, base

from backtests.prepare import prepare
from data.prices import PriceHistory
from strategies.engines.backtrader_engine import run_backtrader
from strategies.engines.fast import run_fast

CUTOFFS = ("2023-03-08", "2023-07-12", "2023-09-14")


def perturbed(histories: dict[str, PriceHistory], cutoff: str, seed: int) -> dict:
    """Every bar after ``cutoff`` scaled by a random factor (prices) and volumes reshuffled."""
    rng = np.random.default_rng(seed)
    out = {}
    for ticker, history in histories.items():
        bars = history.bars.copy()
        later = bars.index > pd.Timestamp(cutoff)
        factor = np.exp(rng.normal(0, 0.2, later.sum()))
        for field in ("open", "high", "low", "close"):
            bars.loc[later, field] = bars.loc[later, field].to_numpy() * factor
        bars.loc[later, "volume"] = rng.permutation(bars.loc[later, "volume"].to_numpy()) + 1
        out[ticker] = PriceHistory(ticker, bars, history.source, history.sha256)
    return out


def runs(histories, table):
    config = config_of(table)
    prepared = prepare(config, events=calendar_of(EVENT_ROWS), histories=histories)
    bt = run_backtrader(prepared.market, prepared.plan, config.run.cash)
    fast = run_fast(prepared.market, prepared.plan, config.run.cash)
    return prepared, bt, fast


def assert_unchanged_before(histories, table, cutoff: str, seed: int = 1) -> None:
    p0, bt0, f0 = runs(histories, table)
    p1, bt1, f1 = runs(perturbed(histories, cutoff, seed), table)
    sessions = p0.market.sessions
    t = int(sessions.searchsorted(pd.Timestamp(cutoff), side="right")) - 1
    np.testing.assert_array_equal(
        bt0.equity["equity"].to_numpy()[: t + 1], bt1.equity["equity"].to_numpy()[: t + 1]
    )
    np.testing.assert_array_equal(f0.equity[0, : t + 1], f1.equity[0, : t + 1])
    day = sessions[t].date()
    before0 = bt0.fills[bt0.fills["date"].dt.date <= day].reset_index(drop=True)
    before1 = bt1.fills[bt1.fills["date"].dt.date <= day].reset_index(drop=True)
    pd.testing.assert_frame_equal(before0, before1)

    # Decisions taken at closes up to the cutoff are the same (a fill after it may differ).
    def decided(plan):
        return [
            (b.decision, b.entry, tuple(b.cols), tuple(b.weights), b.direction)
            for b in plan.books
            if b.decision <= t
        ]

    assert decided(p0.plan) == decided(p1.plan)
    for b0, b1 in zip(p0.plan.books, p1.plan.books, strict=False):
        if b0.exit is not None and b0.exit - 1 <= t:
            assert (b0.exit, b0.closed_by) == (b1.exit, b1.closed_by)


@pytest.fixture(scope="module")
def histories():
    return synthetic_histories(START, END, LONG + SHORT, SPANS, seed=3, vol=0.03)


@pytest.mark.parametrize("cutoff", CUTOFFS)
@pytest.mark.parametrize("name", list(CASES))
def test_no_policy_reads_a_later_bar(histories, name, cutoff):
    assert_unchanged_before(histories, CASES[name], cutoff)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choice=st.fixed_dictionaries(POLICIES), cutoff=st.sampled_from(CUTOFFS))
def test_random_combinations_read_no_later_bar(histories, choice, cutoff):
    table = copy.deepcopy(base(strategy={"sizing.lookback": 20, "sizing.min_history": 15}))
    for key, value in choice.items():
        section, *rest = key.split(".")
        node = table[section]
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = value
    assert_unchanged_before(histories, table, cutoff)
