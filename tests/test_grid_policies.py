"""Grids over the strategy policies: nested keys, how configs are grouped into plans, and the
sweep's vectorised results against backtrader config by config."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from policy_harness import calendar_of, synthetic_histories
from test_policy_parity import END, EVENT_ROWS, LONG, SHORT, SPANS, START

from backtests.config import ConfigError, load_config, set_key, validate
from backtests.grid import _plain, grid_of, load_grid
from backtests.sweep import SweepData, evaluate_task, prepare_config, tasks
from strategies.engines.backtrader_engine import run_backtrader

REPO = Path(__file__).resolve().parents[1]
POLICY_GRID = REPO / "bench" / "grid_policies.toml"


def full_config(grid, index):
    table = grid.base.resolved()
    for key, value in grid.params(index).items():
        set_key(table, key, _plain(value))
    return validate(table, "test")


def test_a_grid_config_is_the_validated_config():
    grid = load_grid(POLICY_GRID, [], {"data.source": "csv", "data.dir": "/nowhere"})
    assert len(grid) == 2560
    for index in random.Random(1).sample(range(len(grid)), 150):
        fast, slow = grid.config(index), full_config(grid, index)
        assert fast == slow and fast.digest() == slow.digest()


def test_single_books_batch_their_gross_per_event_sub_books_plan_on_it():
    base = load_config(None, [])
    grid = grid_of(
        base,
        {
            "strategy.books.kind": ["single", "per_event"],
            "strategy.gross": [0.5, 1.0, 2.0],
            "costs.slippage_bps": [0, 5],
        },
    )
    groups = tasks(grid, set())
    kinds = [{grid.params(i)["strategy.books.kind"] for i in g} for g in groups]
    assert all(len(k) == 1 for k in kinds)
    single = [g for g, k in zip(groups, kinds, strict=True) if k == {"single"}]
    per_event = [g for g, k in zip(groups, kinds, strict=True) if k == {"per_event"}]
    assert len(single) == 1 and len(single[0]) == 6  # gross and slippage batched
    assert len(per_event) == 3 and all(len(g) == 2 for g in per_event)  # one plan per gross


@pytest.mark.parametrize(
    ("grid", "fragment"),
    [
        ({"strategy.sizing.knd": ["equal"]}, "did you mean 'strategy.sizing.kind'"),
        ({"strategy.sizing.kind": ["equall"]}, "strategy.sizing.kind"),
        ({"strategy.exits.stop_loss": [True]}, "stop_loss"),
        ({"strategy.books.counter": []}, "non-empty list"),
    ],
)
def test_bad_policy_grids_are_one_line_errors(grid, fragment):
    with pytest.raises(ConfigError) as info:
        grid_of(load_config(None, []), grid)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_off_switches_a_rule_off_in_a_grid():
    grid = grid_of(load_config(None, []), {"strategy.exits.stop_loss": ["off", 0.05]})
    assert [grid.config(i).strategy.exits.stop_loss for i in range(2)] == [None, 0.05]


def test_sweep_results_equal_backtrader_config_by_config():
    histories = synthetic_histories(START, END, LONG + SHORT, SPANS, seed=3, vol=0.03)
    base = validate(
        {
            "run": {"start": START, "end": END, "benchmark": "BM"},
            "universe": {"long": list(LONG), "short": list(SHORT)},
            "strategy": {"sizing": {"lookback": 20, "min_history": 15}},
        },
        "test",
    )
    grid = grid_of(
        base,
        {
            "strategy.sizing.kind": ["equal", "beta_neutral", "vol_target"],
            "strategy.books.kind": ["single", "per_event"],
            "strategy.exits.stop_loss": ["off", 0.02],
            "strategy.gross": [0.5, 1.5],
            "costs.slippage_bps": [0, 10],
            "costs.rounding": ["none", "whole"],
        },
    )
    data = SweepData(histories, {"": calendar_of(EVENT_ROWS)})
    frame = {}
    for group in tasks(grid, set()):
        for row in evaluate_task(data, grid, group).to_dict("records"):
            frame[row["config"]] = row
    assert sorted(frame) == list(range(len(grid)))
    for index in random.Random(2).sample(range(len(grid)), 24):
        config = grid.config(index)
        prepared = prepare_config(data, config)
        equity = run_backtrader(prepared.market, prepared.plan, config.run.cash).equity
        final = float(equity["equity"].iloc[-1])
        assert abs(frame[index]["final_equity"] - final) <= 1e-9 * abs(final), grid.params(index)
        r = equity["equity"].to_numpy()
        previous = np.concatenate([[config.run.cash], r[:-1]])
        returns = r / previous - 1
        sharpe = returns.mean() / returns.std(ddof=1) * np.sqrt(252)
        assert abs(frame[index]["sharpe"] - sharpe) <= 1e-9 * max(1, abs(sharpe))
