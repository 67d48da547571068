"""Conventions every layer shares (a utility module: reports may import it)."""

from __future__ import annotations

# Sessions a year: annualises Sharpe, volatility and CAGR (quantstats' periods=252) and the
# vol target's trailing volatility. One number for the whole tool.
PERIODS_PER_YEAR = 252
