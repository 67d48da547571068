"""Stationary-bootstrap confidence intervals (backtests/research/bootstrap.py)."""

from __future__ import annotations

import numpy as np
import pytest
from arch.bootstrap import StationaryBootstrap, optimal_block_length

from backtests.research.bootstrap import (
    block_length,
    sharpe_ratio,
    stationary_bootstrap_ci,
    total_return,
)


def _strategy_returns(seed: int, n: int = 800) -> np.ndarray:
    # Flat most days, autocorrelated while "in a book", like an event strategy.
    rng = np.random.default_rng(seed)
    active = np.convolve(rng.random(n) < 0.03, np.ones(5), mode="same") > 0
    return np.where(active, rng.normal(0.001, 0.015, n), 0.0)


def test_interval_against_a_hand_written_resampling():
    r = _strategy_returns(1)
    out = stationary_bootstrap_ci(r, seed=42, reps=300)
    block = max(1.0, float(optimal_block_length(r)["stationary"].iloc[0]))
    assert out["block_length"] == pytest.approx(block)
    bs = StationaryBootstrap(block, r, seed=np.random.default_rng(42))
    sharpes, totals = [], []
    for data, _ in bs.bootstrap(300):
        x = data[0]
        std = x.std(ddof=1)
        if std > 0:
            sharpes.append(x.mean() / std * np.sqrt(252))
        totals.append(np.prod(1 + x) - 1)
    assert out["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert out["total_return"] == pytest.approx(np.prod(1 + r) - 1)
    assert out["sharpe_ci_low"] == pytest.approx(np.quantile(sharpes, 0.025))
    assert out["sharpe_ci_high"] == pytest.approx(np.quantile(sharpes, 0.975))
    assert out["total_return_ci_low"] == pytest.approx(np.quantile(totals, 0.025))
    assert out["total_return_ci_high"] == pytest.approx(np.quantile(totals, 0.975))
    assert out["sharpe_undefined"] == 300 - len(sharpes)


def test_same_seed_same_interval_and_a_given_block():
    r = _strategy_returns(2)
    a = stationary_bootstrap_ci(r, seed=7, reps=200, block=5)
    b = stationary_bootstrap_ci(r, seed=7, reps=200, block=5)
    assert a == b
    assert a["block_length"] == 5
    c = stationary_bootstrap_ci(r, seed=8, reps=200, block=5)
    assert c["sharpe_ci_low"] != a["sharpe_ci_low"]
    assert a["sharpe_ci_low"] < a["sharpe"] < a["sharpe_ci_high"]


def test_point_metrics_and_degenerate_input():
    assert np.isnan(sharpe_ratio(np.zeros(10)))
    assert total_return(np.array([0.1, -0.1])) == pytest.approx(-0.01)
    assert block_length(np.zeros(100)) == 1.0
    with pytest.raises(ValueError, match="finite"):
        stationary_bootstrap_ci(np.array([0.1, np.nan, 0.2]), seed=1)
    only_flat = stationary_bootstrap_ci(np.r_[np.zeros(50), 0.01], seed=1, reps=50, block=1)
    assert only_flat["sharpe_undefined"] > 0  # resamples that miss the one move
