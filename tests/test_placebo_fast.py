"""The placebo's fast path (strategies/calendar_planner.py, strategies/engines/calendar_batch.py)
against build_plan + the fast engine, draw by draw and bit for bit; its fallbacks; run_placebo
on several schemes of one setup; placebo_verdicts; the real run's bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.config import load_config, with_cli_options
from backtests.research import placebo
from backtests.research.bootstrap import stationary_bootstrap_ci
from backtests.research.placebo_draws import DrawRunner
from strategies.calendar_planner import CalendarPlanner, refusal
from strategies.plan import NEVER

START = "2023-01-01"


def _setup(data, *overrides):
    config = with_cli_options(load_config(None, [f"run.start={START}", *overrides]), data)
    return placebo.prepare_placebo(config)


@pytest.fixture(scope="module")
def setup(shared_market_data):
    return _setup(shared_market_data)


def _assert_same_rows(fast: pd.DataFrame, exact: pd.DataFrame) -> None:
    """Equal bit for bit (NaN equal to NaN), column by column."""
    assert list(fast.columns) == list(exact.columns)
    for name in fast.columns:
        a, b = fast[name].to_numpy(), exact[name].to_numpy()
        assert a.dtype == b.dtype, name
        both_nan = pd.isna(a) & pd.isna(b)
        assert ((a == b) | both_nan).all(), name


@pytest.mark.parametrize("scheme", placebo.SCHEMES)
def test_fast_draws_equal_the_exact_path_bit_for_bit(setup, scheme):
    assert setup.fast_refusal == ""
    sessions = placebo.draw_event_sessions(setup, scheme, 80, seed=11)
    fast = placebo.run_draws(setup, sessions)
    exact = placebo.run_draws(setup, sessions, fast=False)
    _assert_same_rows(fast, exact)
    assert fast["books"].min() > 0


@pytest.mark.parametrize("scheme", placebo.SCHEMES)
def test_the_calendar_planner_places_the_books_of_build_plan(setup, scheme):
    planner = CalendarPlanner(setup.market, setup.strategy, setup.schedule, setup.weights, {})
    n = len(setup.market.sessions)
    ends = setup.market.last_bar
    for row in placebo.draw_event_sessions(setup, scheme, 40, seed=5):
        books = planner.plan(placebo.placebo_index(setup, row))
        plan = placebo.placebo_plan(setup, row)
        assert len(books) == len(plan.books)
        for mine, theirs in zip(books, plan.books, strict=True):
            assert mine.decision == theirs.decision
            assert mine.exit == (theirs.exit if theirs.exit is not None else -1)
            np.testing.assert_array_equal(mine.sized.cols, theirs.cols)
            np.testing.assert_array_equal(mine.sized.weights, theirs.weights)
            assert mine.sized.gross == theirs.gross
            # Each name leaves at min(its data end, the book's exit).
            last = np.where((ends >= 0) & (ends < n - 1), ends, NEVER)[theirs.cols]
            close = theirs.exit if theirs.exit is not None else NEVER
            np.testing.assert_array_equal(np.minimum(last, close), theirs.name_exit)


@pytest.mark.parametrize(
    "overrides",
    [
        ["strategy.exits.max_hold=7", "strategy.hold_sessions=10"],
        ["strategy.books.counter=ignore"],
        ["strategy.entry.delay=2"],
        ["strategy.sizing.kind=inverse_vol"],
        ["strategy.signal.scale_size=true"],
    ],
)
def test_fast_path_of_other_policies_equals_the_exact_path(shared_market_data, overrides):
    setup = _setup(shared_market_data, *overrides)
    assert setup.fast_refusal == ""
    sessions = placebo.draw_event_sessions(setup, "circular", 30, seed=2)
    _assert_same_rows(
        placebo.run_draws(setup, sessions), placebo.run_draws(setup, sessions, fast=False)
    )


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["strategy.books.kind=per_event"], "per_event"),
        (["strategy.exits.stop_loss=0.05"], "stop"),
        (["strategy.books.counter=reverse"], "reverse"),
    ],
)
def test_other_policies_fall_back_to_the_exact_path(shared_market_data, overrides, fragment):
    setup = _setup(shared_market_data, *overrides)
    assert fragment in setup.fast_refusal
    sessions = placebo.draw_event_sessions(setup, "circular", 6, seed=3)
    assert DrawRunner(setup, sessions).planner is None
    table = placebo.run_draws(setup, sessions)
    for r in (0, 5):
        single = placebo.plan_metrics(setup, placebo.placebo_plan(setup, sessions[r]))
        for name in placebo.DRAW_COLUMNS:
            assert table.loc[r, name] == single[name] or (
                np.isnan(table.loc[r, name]) and np.isnan(single[name])
            ), name


def test_ruined_draws_take_the_exact_path(shared_market_data):
    setup = _setup(shared_market_data, "strategy.gross=50", "strategy.max_gross=100")
    sessions = placebo.draw_event_sessions(setup, "iid", 20, seed=3)
    fast = placebo.run_draws(setup, sessions)
    assert (fast["min_equity"] <= 0).any()
    _assert_same_rows(fast, placebo.run_draws(setup, sessions, fast=False))


def test_refusal_names_the_policy(setup, shared_market_data):
    assert refusal(setup.strategy) == ""
    per_event = _setup(shared_market_data, "strategy.books.kind=per_event")
    with pytest.raises(ValueError, match="does not cover"):
        CalendarPlanner(per_event.market, per_event.strategy, per_event.schedule)


def test_run_placebo_on_several_schemes_of_one_setup_and_the_verdicts(setup):
    results = [placebo.run_placebo(setup, scheme, 40, seed=9) for scheme in placebo.SCHEMES]
    again = placebo.run_placebo(setup, "circular", 40, seed=9, workers=2)
    pd.testing.assert_frame_equal(again.draws, results[0].draws)
    pd.testing.assert_frame_equal(again.summary, results[0].summary)
    assert [r.scheme for r in results] == list(placebo.SCHEMES)
    assert not results[0].draws.equals(results[2].draws)
    rows = placebo.placebo_verdicts(results)
    assert len(rows) == 3 * len(placebo.REPORTED)
    assert rows[0]["test"] == "placebo (circular) Sharpe percentile"
    assert rows[-1]["test"] == "placebo (iid) hit rate percentile"
    for result, chunk in zip(results, np.array_split(np.arange(len(rows)), 3), strict=True):
        summary = result.summary.set_index(["baseline", "metric"])
        for k, name in zip(chunk, placebo.REPORTED, strict=True):
            row = rows[k]
            assert set(row) == {"test", "statistic", "p_value", "draws", "meaning"}
            assert row["statistic"] == summary.loc[("real", name), "percentile"]
            assert row["p_value"] == summary.loc[("real", name), "p_value"]
            assert row["draws"] == 40
            assert f"{result.scheme} placebo calendars" in row["meaning"]
    assert placebo.placebo_verdicts(results[1]) == rows[3:6]


def test_real_bootstrap_is_the_stationary_bootstrap_of_the_real_returns(setup):
    returns, real = placebo.real_returns(setup)
    assert len(returns) == len(setup.market.sessions)
    assert np.prod(1 + returns) - 1 == pytest.approx(real["total_return"], rel=1e-12)
    boot = placebo.real_bootstrap(setup, seed=5, reps=300)
    direct = stationary_bootstrap_ci(returns, seed=5, reps=300)
    for key in ("block_length", "sharpe_ci_low", "sharpe_ci_high", "total_return_ci_low"):
        assert boot[key] == direct[key]
    assert boot == placebo.real_bootstrap(setup, seed=5, reps=300)
    assert boot["reps"] == 300 and boot["seed"] == 5 and boot["returns"] == len(returns)


def test_a_ruined_real_run_has_no_interval(shared_market_data):
    setup = _setup(shared_market_data, "strategy.gross=50", "strategy.max_gross=100")
    boot = placebo.real_bootstrap(setup, seed=1, reps=50)
    assert "ruined" in boot["undefined"]
    assert np.isnan(boot["sharpe_ci_low"]) and np.isnan(boot["block_length"])
