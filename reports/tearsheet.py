"""The quantstats HTML tear sheet, written headless and offline."""

from __future__ import annotations

import html
import logging
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: no display here or in CI

import pandas as pd

from data.conventions import PERIODS_PER_YEAR

PERIODS = PERIODS_PER_YEAR
# quantstats 0.0.86's template asks https://qtpylib.io for its favicon and calls an undefined
# save() on load: offline that is a failed request and a ReferenceError in the console.
_REMOTE_ICON = re.compile(r'<link\b[^>]*\brel="(?:shortcut )?icon"[^>]*>', re.IGNORECASE)
_ONLOAD_SAVE = re.compile(r'(<body\b[^>]*?)\s+onload="save\(\)"', re.IGNORECASE)


def make_offline(page: str) -> str:
    """quantstats' page without its remote favicon and its call to a missing function."""
    page = _REMOTE_ICON.sub('<link rel="icon" href="data:,">', page)
    return _ONLOAD_SAVE.sub(r"\1", page)


def write_tearsheet(
    path: Path,
    returns: pd.Series,
    benchmark: pd.Series,
    title: str,
    parameters: dict[str, str],
) -> None:
    """Write quantstats' full HTML report of ``returns`` against ``benchmark`` (a returns Series,
    never a ticker: a ticker makes quantstats call yfinance, and offline it silently compares
    against zeros).

    The whole run is shown (``match_dates=False``): quantstats would otherwise cut the report
    at the first non-zero return, hiding the flat sessions the strategy spent waiting for news.
    quantstats pastes ``title`` and ``parameters`` into the page as is, so they are escaped.
    """
    import quantstats as qs

    if not isinstance(benchmark, pd.Series):
        raise TypeError("benchmark must be a returns Series")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    safe_params = {html.escape(str(k)): html.escape(str(v)) for k, v in parameters.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantstats/seaborn deprecation noise, not ours
        qs.reports.html(
            returns.rename("Strategy"),
            benchmark=benchmark,
            rf=0.0,
            title=html.escape(title),
            output=str(path),
            periods_per_year=PERIODS,
            match_dates=False,
            benchmark_title=html.escape(str(benchmark.name or "Benchmark")),
            strategy_title="Strategy",
            parameters=safe_params,
        )
    # Work offline from the file system: no favicon request, no console error (see make_offline).
    path.write_text(make_offline(path.read_text(encoding="utf-8")), encoding="utf-8")
    import matplotlib.pyplot as plt

    plt.close("all")
