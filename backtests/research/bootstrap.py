"""Stationary-bootstrap confidence intervals for a run's Sharpe ratio and total return.

The stationary bootstrap (Politis & Romano 1994) resamples the daily returns in blocks of
random, geometrically distributed length, so the serial dependence of a strategy that holds a
book for several sessions survives the resampling (shuffling single days, as quantstats'
``montecarlo`` does, breaks it). The mean block length is ``arch.bootstrap.
optimal_block_length``'s stationary estimate (Politis & White 2004, with the correction of
Patton, Politis & White 2009), at least 1, unless given. Intervals are percentile intervals of
``reps`` resamples (``arch.bootstrap.StationaryBootstrap`` with ``numpy.random.default_rng(seed)``:
the same returns and seed give the same interval). Definitions as in README "Metrics": Sharpe =
mean / std(ddof=1) * sqrt(252), total return = prod(1 + r) - 1. A resample whose Sharpe is
undefined (zero variance, e.g. only flat days) is left out of the Sharpe interval and counted in
``sharpe_undefined``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from arch.bootstrap import StationaryBootstrap, optimal_block_length

PERIODS = 252


def sharpe_ratio(returns: np.ndarray, periods: int = PERIODS) -> float:
    """mean / std(ddof=1) * sqrt(periods); NaN with zero variance or fewer than two returns."""
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return float("nan")
    std = r.std(ddof=1)
    return float(r.mean() / std * np.sqrt(periods)) if std > 0 else float("nan")


def total_return(returns: np.ndarray) -> float:
    """prod(1 + r) - 1."""
    return float(np.prod(1 + np.asarray(returns, dtype=float)) - 1)


def block_length(returns: np.ndarray) -> float:
    """arch's optimal stationary-bootstrap mean block length, at least 1."""
    r = np.asarray(returns, dtype=float)
    if r.size < 10 or r.std() == 0:
        return 1.0
    estimate = float(optimal_block_length(r)["stationary"].iloc[0])
    return max(1.0, estimate) if np.isfinite(estimate) else 1.0


def stationary_bootstrap_ci(
    returns: np.ndarray,
    seed: int,
    reps: int = 2000,
    confidence: float = 0.95,
    block: float | None = None,
    periods: int = PERIODS,
) -> dict[str, Any]:
    """Point values and percentile intervals of the Sharpe ratio and total return of
    ``returns`` (daily, in order) under the stationary bootstrap (see the module doc)."""
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 2 or not np.isfinite(r).all():
        raise ValueError("returns must be a 1-d array of at least two finite daily returns")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence}: must be between 0 and 1")
    mean_block = block_length(r) if block is None else float(block)
    bs = StationaryBootstrap(mean_block, r, seed=np.random.default_rng(seed))

    def both(x: np.ndarray) -> np.ndarray:
        return np.array([sharpe_ratio(x, periods), total_return(x)])

    draws = bs.apply(both, reps=reps)
    point = both(r)
    tail = (1 - confidence) / 2
    out: dict[str, Any] = {
        "block_length": mean_block,
        "reps": reps,
        "seed": seed,
        "confidence": confidence,
        "method": "stationary bootstrap, percentile interval",
    }
    for j, name in enumerate(("sharpe", "total_return")):
        column = draws[:, j]
        defined = column[np.isfinite(column)]
        low, high = np.quantile(defined, [tail, 1 - tail]) if defined.size else (np.nan, np.nan)
        out[name] = float(point[j])
        out[f"{name}_ci_low"] = float(low)
        out[f"{name}_ci_high"] = float(high)
        out[f"{name}_undefined"] = int(column.size - defined.size)
    return out
