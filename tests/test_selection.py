"""Probabilistic and deflated Sharpe ratios (backtests/research/selection.py), and quantstats'
probabilistic Sharpe checked against the formula on the pinned version."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backtests.research.selection import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    psr_from_moments,
    sharpe_moments,
)


def _fat_tailed() -> pd.Series:
    """100 daily returns with fat tails (Student t, 3 df): kurtosis 8.83, skew -0.77."""
    return pd.Series(0.002 + 0.01 * np.random.default_rng(4).standard_t(3, 100))


def test_psr_is_the_bailey_lopez_de_prado_formula():
    r = _fat_tailed()
    x = r.to_numpy()
    n = x.size
    sr = x.mean() / x.std(ddof=1)
    g3 = stats.skew(x, bias=False)
    g4 = stats.kurtosis(x, fisher=False, bias=False)
    for benchmark in (0.0, 0.05, -0.02):
        z = (sr - benchmark) * np.sqrt(n - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
        assert probabilistic_sharpe_ratio(x, benchmark) == pytest.approx(stats.norm.cdf(z))
    m = sharpe_moments(x)
    assert m["kurtosis"] == pytest.approx(8.82690645635931)
    assert m["skew"] == pytest.approx(-0.7714521502476743)
    assert m["sharpe"] == pytest.approx(0.10773609100659051)


def test_quantstats_psr_on_the_pinned_version_matches_the_formula():
    """quantstats 0.0.86 converts its excess kurtosis to raw (+3) before the formula, the fix
    that ranaroussi/quantstats#195 asked for: on this series its PSR equals ours to 1e-12.
    The formula with the excess kurtosis plugged in as raw (the reported bug) would give
    0.84694 instead of 0.84599. quantstats can only test against SR* = 0, so for a benchmark
    Sharpe we need our own."""
    qs = pytest.importorskip("quantstats")
    assert qs.__version__ == "0.0.86"
    r = _fat_tailed()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = float(qs.stats.probabilistic_sharpe_ratio(r))
    ours = probabilistic_sharpe_ratio(r.to_numpy())
    assert ours == pytest.approx(0.8459884130892308, abs=1e-12)
    assert theirs == pytest.approx(ours, abs=1e-12)
    m = sharpe_moments(r)
    excess_as_raw = psr_from_moments(m["sharpe"], m["n"], m["skew"], m["kurtosis"] - 3)
    assert excess_as_raw == pytest.approx(0.8469441693601754, abs=1e-12)
    # With the benchmark Sharpe quantstats cannot take:
    assert probabilistic_sharpe_ratio(r.to_numpy(), 0.05) < ours


def test_deflated_sharpe_reproduces_the_papers_numerical_example():
    """Bailey & Lopez de Prado (2014), numerical example: N = 100 trials, V[SR_n] = 1/2
    (annualised), SR = 2.5 annualised over T = 1,250 daily returns (250 a year), skewness -3,
    kurtosis 10: SR*_0 = 0.1132 (daily) and DSR = 0.9004."""
    daily = np.sqrt(250)
    threshold = expected_max_sharpe(100, 0.5 / 250)
    assert threshold == pytest.approx(0.1132, abs=5e-5)
    dsr = psr_from_moments(2.5 / daily, 1250, -3.0, 10.0, threshold)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_approximates_the_maximum_of_normal_trials():
    rng = np.random.default_rng(0)
    for n in (10, 100, 1000):
        simulated = rng.standard_normal((2000, n)).max(axis=1).mean()
        # An asymptotic approximation: within 3% already at 10 trials (1.575 vs 1.539).
        assert expected_max_sharpe(n, 1.0) == pytest.approx(simulated, rel=0.03)
    assert expected_max_sharpe(1, 0.3) == 0.0
    with pytest.raises(ValueError):
        expected_max_sharpe(0, 1.0)


def test_deflated_sharpe_ratio_from_trial_sharpes():
    r = _fat_tailed().to_numpy()
    trials = np.r_[np.random.default_rng(1).normal(0, 0.05, 499), np.nan]
    out = deflated_sharpe_ratio(r, trials)
    variance = np.nanvar(trials, ddof=1)
    assert out["n_trials"] == 500
    assert out["trial_sharpe_variance"] == pytest.approx(variance)
    assert out["expected_max_sharpe"] == pytest.approx(expected_max_sharpe(500, variance))
    assert out["dsr"] == pytest.approx(probabilistic_sharpe_ratio(r, out["expected_max_sharpe"]))
    assert out["dsr"] < probabilistic_sharpe_ratio(r)
    # One trial: nothing to deflate.
    assert deflated_sharpe_ratio(r, [0.1])["dsr"] == pytest.approx(probabilistic_sharpe_ratio(r))


def test_psr_undefined_cases():
    assert np.isnan(probabilistic_sharpe_ratio(np.zeros(20)))
    assert np.isnan(psr_from_moments(0.5, 1, 0.0, 3.0))
    assert np.isnan(psr_from_moments(2.0, 100, 1.0, 1.0))  # variance term 1 - 2 + 0 < 0
