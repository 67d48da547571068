"""How much of a Sharpe ratio is skill: the probabilistic and deflated Sharpe ratios.

All Sharpe ratios here are per period (daily, not annualised): SR = mean(r) / std(r, ddof=1).
Skewness g3 and kurtosis g4 are pandas' bias-corrected sample skewness and kurtosis, the
latter converted from excess to raw (g4 = excess + 3; 3 for a normal law), the convention of
README "Metrics" and of quantstats 0.0.86.

- **Probabilistic Sharpe ratio** (Bailey & Lopez de Prado 2012, "The Sharpe ratio efficient
  frontier", J. of Risk 15(2)): the probability that the true Sharpe exceeds a benchmark SR*,
  PSR(SR*) = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)), n returns.
- **Deflated Sharpe ratio** (Bailey & Lopez de Prado 2014, "The deflated Sharpe ratio",
  J. of Portfolio Management 40(5)): PSR against the Sharpe the best of N unskilled trials
  would show, SR*_0 = sqrt(V) ((1 - e) Phi^-1(1 - 1/N) + e Phi^-1(1 - 1/(N exp(1)))), where V is
  the variance (ddof=1) of the N trials' Sharpe ratios and e = 0.5772... is the Euler-Mascheroni
  constant. N counts every config tried; configs that share most of their returns are not
  independent trials, so N overstates the number of independent ones and the DSR is then
  conservative (it deflates more than needed).

quantstats 0.0.86's ``probabilistic_sharpe_ratio`` computes the same PSR for SR* = 0 (its
kurtosis was once used as raw while being excess, ranaroussi/quantstats#195; 0.0.86 adds the 3),
but it cannot test against another Sharpe, so this module has its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

EULER_GAMMA = float(np.euler_gamma)


def sharpe_moments(returns: np.ndarray) -> dict[str, float]:
    """``sharpe`` (per period), ``skew``, ``kurtosis`` (raw), ``n`` of a return series."""
    r = pd.Series(np.asarray(returns, dtype=float))
    std = float(r.std(ddof=1))
    return {
        "sharpe": float(r.mean()) / std if std > 0 else float("nan"),
        "skew": float(r.skew()),
        "kurtosis": float(r.kurtosis()) + 3.0,
        "n": int(r.size),
    }


def psr_from_moments(
    sharpe: float, n: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """PSR(SR*) from the per-period Sharpe, the number of returns, skewness and raw kurtosis.
    NaN when the variance term 1 - g3 SR + (g4 - 1) / 4 SR^2 is not positive or n < 2."""
    if n < 2 or not np.isfinite(sharpe):
        return float("nan")
    variance = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if not variance > 0:
        return float("nan")
    return float(stats.norm.cdf((sharpe - benchmark) * np.sqrt(n - 1) / np.sqrt(variance)))


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark: float = 0.0) -> float:
    """PSR of ``returns`` against the per-period Sharpe ``benchmark``."""
    m = sharpe_moments(returns)
    return psr_from_moments(m["sharpe"], m["n"], m["skew"], m["kurtosis"], benchmark)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR*_0: the expected maximum per-period Sharpe of ``n_trials`` unskilled trials whose
    Sharpe ratios have variance ``variance`` (0 for a single trial)."""
    if n_trials < 1:
        raise ValueError(f"n_trials {n_trials}: need at least one trial")
    if n_trials == 1 or variance <= 0:
        return 0.0
    g = EULER_GAMMA
    quantile = (1 - g) * stats.norm.ppf(1 - 1 / n_trials) + g * stats.norm.ppf(
        1 - 1 / (n_trials * np.e)
    )
    return float(np.sqrt(variance) * quantile)


def deflated_sharpe_ratio(
    returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int | None = None
) -> dict[str, Any]:
    """DSR of the selected config's ``returns`` given every trial's per-period Sharpe
    (``trial_sharpes``; undefined ones are left out of the variance). ``n_trials`` defaults to
    the number of trials given."""
    trials = np.asarray(trial_sharpes, dtype=float)
    defined = trials[np.isfinite(trials)]
    n = int(trials.size if n_trials is None else n_trials)
    variance = float(defined.var(ddof=1)) if defined.size > 1 else 0.0
    threshold = expected_max_sharpe(n, variance)
    m = sharpe_moments(returns)
    return {
        "dsr": psr_from_moments(m["sharpe"], m["n"], m["skew"], m["kurtosis"], threshold),
        "expected_max_sharpe": threshold,
        "trial_sharpe_variance": variance,
        "n_trials": n,
        "sharpe": m["sharpe"],
        "skew": m["skew"],
        "kurtosis": m["kurtosis"],
        "n": m["n"],
    }
