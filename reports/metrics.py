"""Performance metrics of a daily returns Series, computed with quantstats' own functions.

Definitions (quantstats 0.0.86, 252 periods a year, risk-free rate 0, no autocorrelation
penalty) are listed in the README under "Metrics". The benchmark is always a returns Series.

Ruin (README "The rules"): returns whose growth prod(1 + r) reaches zero or below at some
session describe an equity that went to zero or below; every metric of them is undefined
(None), whatever quantstats would compute. A backtest also says so in its facts
(``ruined_on``), and metrics.json then reports the ruin instead of metrics.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from data.conventions import PERIODS_PER_YEAR

PERIODS = PERIODS_PER_YEAR


def _stats():
    import quantstats as qs  # slow import (it pulls in yfinance): only when metrics are asked

    return qs.stats


def _clean(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


PERFORMANCE_KEYS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "volatility",
    "max_drawdown",
    "calmar",
    "time_in_market",
    "win_rate_days",
    "best_day",
    "worst_day",
    "skew",
    "kurtosis",
    "daily_value_at_risk",
    "daily_cvar",
)
RELATIVE_KEYS = ("beta", "alpha", "correlation", "information_ratio")


def compounds_to_ruin(returns: pd.Series) -> bool:
    """True if prod(1 + r) reaches <= 0 at some session, i.e. some r <= -1 (NaN returns are
    skipped, as quantstats skips them)."""
    return bool((returns.to_numpy(dtype=float) <= -1.0).any())


def performance(returns: pd.Series) -> dict[str, float | None]:
    """Headline metrics of one returns Series (floats; None where undefined, and all None for
    returns that compound to zero or below: :func:`compounds_to_ruin`)."""
    if compounds_to_ruin(returns):
        return dict.fromkeys(PERFORMANCE_KEYS)
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
    """Beta, annualised alpha, correlation and information ratio against the benchmark (None
    if either side compounds to zero or below)."""
    if compounds_to_ruin(returns) or compounds_to_ruin(benchmark):
        return dict.fromkeys(RELATIVE_KEYS)
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


def ruin_block(facts: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's ``ruin``: whether the run was ruined, the session and equity of its ruin
    close (None when not ruined) and the lowest close equity."""
    day = facts.get("ruined_on") or None
    return {
        "ruined": day is not None,
        "ruined_on": day,
        "equity_at_ruin": facts.get("equity_at_ruin") if day else None,
        "min_equity": facts.get("min_equity"),
    }


def metrics_document(
    returns: pd.Series, benchmark: pd.Series, facts: dict[str, Any]
) -> dict[str, Any]:
    """The content of metrics.json. A ruined run (``facts["ruined_on"]``) has every strategy
    and versus-benchmark metric None: its returns are those of an equity that reached zero."""
    ruin = ruin_block(facts)
    if ruin["ruined"]:
        strategy = dict.fromkeys(PERFORMANCE_KEYS)
        versus = dict.fromkeys(RELATIVE_KEYS)
    else:
        strategy, versus = performance(returns), relative(returns, benchmark)
    return {
        "periods_per_year": PERIODS,
        "risk_free_rate": 0.0,
        "ruin": ruin,
        "strategy": strategy,
        "benchmark": {"ticker": str(benchmark.name), **performance(benchmark)},
        "versus_benchmark": versus,
        "facts": facts,
    }


# -- many runs at once ------------------------------------------------------------------------

METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "volatility",
    "books",
    "winning_books",
    "turnover",
    "commission",
    "slippage_cost",
    "borrow_cost",
    "costs",
    "final_equity",
    "min_decision_equity",
    "min_equity",
)
# Metrics a sweep can rank by (all of them: ``ruined_on`` is a date, not a metric).
RANKABLE = METRICS
# Undefined (NaN) for a ruined run: they depend on the returns of an equity that reached zero.
UNDEFINED_WHEN_RUINED = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "volatility",
    "winning_books",
    "turnover",
)


def daily_returns(equity: np.ndarray, cash: np.ndarray) -> np.ndarray:
    """r_t = equity_t / equity_{t-1} - 1 for every row (configs x sessions); the first session
    against the cash."""
    previous = np.empty_like(equity)
    previous[:, 0] = cash
    previous[:, 1:] = equity[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return equity / previous - 1


def batch_metrics(
    equity: np.ndarray,
    cash: np.ndarray,
    book_pnl: np.ndarray,
    decision_equity: np.ndarray,
    commission: np.ndarray,
    slippage: np.ndarray,
    borrow: np.ndarray,
    notional: np.ndarray,
    ruined_on: np.ndarray,
    book_decision: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The metrics of many runs (rows of ``equity``), with quantstats' definitions (252
    periods, rf = 0; a test checks them against quantstats on the same returns).

    A ruined run (``ruined_on >= 0``: equity <= 0 at a close) has undefined return metrics
    (NaN): returns of an equity that crosses zero mean nothing; its ``books`` and
    ``min_decision_equity`` count the books decided before its ruin close (``book_decision``:
    each book's decision session), the ones that traded.
    """
    n_cfg, n = equity.shape
    r = daily_returns(equity, cash)
    total_r, total_r2 = r.sum(axis=1), (r * r).sum(axis=1)
    mean = total_r / n
    final = equity[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(np.maximum(total_r2 - total_r * mean, 0.0) / (n - 1))
        downside = np.sqrt((np.where(r < 0, r, 0.0) ** 2).sum(axis=1) / n)
        sharpe = np.where(std > 0, mean / std * np.sqrt(PERIODS), np.nan)
        sortino = np.where(downside > 0, mean / downside * np.sqrt(PERIODS), np.nan)
        total = final / cash - 1
        wealth = 1 + total
        cagr = np.where(wealth >= 0, np.abs(wealth) ** (PERIODS / n) - 1, np.nan)
        running = np.maximum.accumulate(np.maximum(equity, cash[:, None]), axis=1)
        max_dd = np.minimum((equity / running).min(axis=1) - 1, 0.0)
        turnover = notional / equity.mean(axis=1)
    n_books = book_pnl.shape[1]
    values = {
        "total_return": total,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "volatility": std * np.sqrt(PERIODS),
        "books": np.full(n_cfg, n_books, dtype=np.int64),
        "winning_books": (book_pnl > 0).mean(axis=1) if n_books else np.full(n_cfg, np.nan),
        "turnover": turnover,
        "commission": commission,
        "slippage_cost": slippage,
        "borrow_cost": borrow,
        "costs": commission + slippage + borrow,
        "final_equity": final,
        "min_decision_equity": decision_equity.min(axis=1) if n_books else cash.copy(),
        "min_equity": np.minimum(equity.min(axis=1), cash),
    }
    ruined = ruined_on >= 0
    if ruined.any() and n_books and book_decision is not None:
        traded = book_decision[None, :] < ruined_on[:, None]  # (configs, books)
        values["books"] = np.where(ruined, traded.sum(axis=1), values["books"])
        decided = np.where(traded, decision_equity, np.inf).min(axis=1)
        values["min_decision_equity"] = np.where(
            ruined, np.where(np.isfinite(decided), decided, cash), values["min_decision_equity"]
        )
    if ruined.any():
        for name in UNDEFINED_WHEN_RUINED:
            values[name] = np.where(ruined, np.nan, values[name])
    return values
