"""Plain rows of a sweep's selection statistics, for reports and the ``evidence`` command.

:func:`selection_verdicts` turns a :class:`~backtests.research.sweep_selection.SelectionResult`
(or selection.json read back) into one row per test with a one-line plain meaning.
"""

from __future__ import annotations

import math
from typing import Any

from backtests.research.sweep_selection import SelectionResult


def _p(value: Any) -> float:
    return float("nan") if value is None else float(value)


def selection_verdicts(selection: SelectionResult | dict[str, Any]) -> list[dict[str, Any]]:
    """Plain rows for a report (the ``evidence`` command), one per test:

    - ``test``: its name; ``config``: the config index, or "all" for grid-wide tests;
    - ``statistic`` and ``statistic_name``: the number the test is computed from (a daily
      Sharpe, the luck-only best Sharpe, SPA's studentized or RC's raw statistic, PBO's median
      logit);
    - ``value`` and ``kind``: a "probability" (PSR, DSR, PBO) or a "p-value" (SPA, RC); NaN
      when undefined;
    - ``meaning``: one plain line.

    ``selection``: a :class:`SelectionResult` or its ``document()`` (selection.json read
    back). Rows: per reported config (the best first) PSR vs 0, PSR vs the benchmark's Sharpe
    and DSR; then per benchmark (flat, buy-and-hold) SPA and RC; then PBO."""
    doc = selection.document() if isinstance(selection, SelectionResult) else selection
    n = doc["n_trials"]
    ticker = doc["benchmark"]["ticker"]
    rows: list[dict[str, Any]] = []
    for index, report in doc["configs"].items():
        label = f"config {index}" + (f" ({report['role']})" if report.get("role") else "")
        rows += [
            {
                "test": "PSR vs Sharpe 0",
                "config": int(index),
                "statistic": _p(report["sharpe"]),
                "statistic_name": "daily Sharpe",
                "value": _p(report["psr_vs_flat"]),
                "kind": "probability",
                "meaning": f"chance that {label}'s true Sharpe is above 0, ignoring the {n} trials",
            },
            {
                "test": f"PSR vs {ticker} Sharpe",
                "config": int(index),
                "statistic": _p(report["sharpe"]),
                "statistic_name": "daily Sharpe",
                "value": _p(report["psr_vs_buy_and_hold"]),
                "kind": "probability",
                "meaning": f"chance that {label}'s true Sharpe is above buy-and-hold {ticker}'s "
                f"({_fmt(_p(report['benchmark_sharpe_buy_and_hold']))} per day)",
            },
            {
                "test": "Deflated Sharpe ratio",
                "config": int(index),
                "statistic": _p(report["expected_max_sharpe"]),
                "statistic_name": "luck-only best daily Sharpe",
                "value": _p(report["dsr"]),
                "kind": "probability",
                "meaning": f"chance that {label}'s true Sharpe is above "
                f"{_fmt(_p(report['expected_max_sharpe']))} per day, the best Sharpe {n} "
                "luck-only trials would show (the deflated Sharpe ratio)",
            },
        ]
    names = {"flat": "flat (no position)", "buy_and_hold": f"buy-and-hold {ticker}"}
    short = {"flat": "flat", "buy_and_hold": f"buy-and-hold {ticker}"}
    for name, block in doc["spa"].items():
        rows += [
            {
                "test": f"Hansen SPA vs {short.get(name, name)}",
                "config": "all",
                "statistic": _p(block["spa_statistic"]),
                "statistic_name": "max studentized excess",
                "value": _p(block["spa_consistent"]),
                "kind": "p-value",
                "meaning": f"p-value of 'none of the {n} configs beats "
                f"{names.get(name, name)}': how often luck alone gives a best this good "
                "(studentized mean excess return, Hansen 2005)",
            },
            {
                "test": f"White reality check vs {short.get(name, name)}",
                "config": "all",
                "statistic": _p(block["rc_statistic"]),
                "statistic_name": "max mean daily excess",
                "value": _p(block["rc_upper"]),
                "kind": "p-value",
                "meaning": f"the same null against {names.get(name, name)} with the raw mean "
                "daily excess return (White 2000; conservative when poor configs are many)",
            },
        ]
    pbo = doc["pbo"]
    rows.append(
        {
            "test": f"PBO (CSCV, {pbo['blocks']} blocks)",
            "config": "all",
            "statistic": _p(pbo["median_logit"]),
            "statistic_name": "median logit",
            "value": _p(pbo["pbo"]),
            "kind": "probability",
            "meaning": f"share of {pbo['splits']} in/out-of-sample splits where the in-sample "
            "best config ranks in the bottom half out of sample",
        }
    )
    return rows


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"
