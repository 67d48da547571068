"""Performance metrics of a daily returns Series, computed with quantstats' own functions.

Definitions (quantstats 0.0.86, 252 periods a year, risk-free rate 0, no autocorrelation
penalty) are listed in the README under "Metrics". The benchmark is always a returns Series.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pandas as pd

PERIODS = 252


def _stats():
    import quantstats as qs  # slow import (it pulls in yfinance): only when metrics are asked

    return qs.stats


def _clean(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def performance(returns: pd.Series) -> dict[str, float | None]:
    """Headline metrics of one returns Series (floats; None where undefined)."""
    qs = _stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = {
            "total_return": qs.comp(returns),
            "cagr": qs.cagr(returns, periods=PERIODS),
            "sharpe": qs.sharpe(returns, periods=PERIODS),
            "sortino": qs.sortino(returns, periods=PERIODS),
            "volatility": qs.volatility(returns, periods=PERIODS),
            "max_drawdown": qs.max_drawdown(returns),
            "calmar": qs.calmar(returns, periods=PERIODS),
            "time_in_market": qs.exposure(returns),
            "win_rate_days": qs.win_rate(returns),
            "best_day": qs.best(returns),
            "worst_day": qs.worst(returns),
            "skew": qs.skew(returns),
            "kurtosis": qs.kurtosis(returns),
            "daily_value_at_risk": qs.value_at_risk(returns),
            "daily_cvar": qs.cvar(returns),
        }
    return {name: _clean(value) for name, value in values.items()}


def relative(returns: pd.Series, benchmark: pd.Series) -> dict[str, float | None]:
    """Beta, annualised alpha, correlation and information ratio against the benchmark."""
    qs = _stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        greeks = qs.greeks(returns, benchmark, periods=PERIODS)
        values = {
            "beta": greeks["beta"],
            "alpha": greeks["alpha"],
            "correlation": returns.corr(benchmark),
            "information_ratio": qs.information_ratio(returns, benchmark),
        }
    return {name: _clean(value) for name, value in values.items()}


def metrics_document(
    returns: pd.Series, benchmark: pd.Series, facts: dict[str, Any]
) -> dict[str, Any]:
    """The content of metrics.json."""
    return {
        "periods_per_year": PERIODS,
        "risk_free_rate": 0.0,
        "strategy": performance(returns),
        "benchmark": {"ticker": str(benchmark.name), **performance(benchmark)},
        "versus_benchmark": relative(returns, benchmark),
        "facts": facts,
    }
