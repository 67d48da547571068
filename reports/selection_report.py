"""The selection section of a sweep folder (selection.md) from plain verdict rows.

Knows no engine: it receives the rows of ``backtests.research.sweep_selection.
selection_verdicts`` (test, config, statistic, value, kind, meaning) and a few facts (trials,
blocks, sessions), and formats them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def number(value: Any, digits: int = 4) -> str:
    """A float with ``digits`` decimals, "n/a" when undefined."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def verdict_lines(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Table cells per row: test, config, statistic, value, kind."""
    return [
        [
            str(r["test"]),
            str(r["config"]),
            f"{r['statistic_name']} {number(r['statistic'])}",
            number(r["value"]),
            str(r["kind"]),
        ]
        for r in rows
    ]


def selection_markdown(rows: Sequence[dict[str, Any]], facts: dict[str, Any]) -> str:
    """selection.md: what was tried, the table of tests and one line per test saying what it
    means. ``facts``: ``n_trials``, ``metric``, ``best_config``, ``ruined_configs``,
    ``ruin_convention``, ``sessions`` (first, last, count), ``settings`` (spa_reps, spa_block,
    spa_seed, pbo_blocks)."""
    s = facts["settings"]
    sessions = facts["sessions"]
    lines = [
        "# Selection: how much of the best config is the luck of trying many",
        "",
        f"- Trials: **{facts['n_trials']}** configs tried (every config of the grid); "
        f"best by {facts['metric']}: config {facts['best_config']}.",
        f"- Sessions: {sessions['first']} to {sessions['last']} ({sessions['count']}); "
        "Sharpe ratios per day (mean / std, ddof 1).",
        f"- Ruined configs: {facts['ruined_configs']} ({facts['ruin_convention']}).",
        f"- SPA / reality check: stationary bootstrap, {s['spa_reps']} resamples, mean block "
        f"{number(float(s['spa_block']), 1)} sessions, seed {s['spa_seed']}; PBO: CSCV with "
        f"{s['pbo_blocks']} blocks.",
        "",
        "| test | config | statistic | value | kind |",
        "|---|---|---|---:|---|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in verdict_lines(rows)]
    lines += ["", "What each line means:", ""]
    lines += [f"- {r['test']} (config {r['config']}): {r['meaning']}." for r in rows]
    lines += [
        "",
        "References: Bailey & Lopez de Prado (2012, 2014) for PSR and DSR; White (2000) and "
        "Hansen (2005) for the reality check and SPA; Bailey, Borwein, Lopez de Prado & Zhu "
        "(2017) for PBO. The grid and the events were chosen with hindsight: these statistics "
        "account for the configs tried here, not for choices made before the grid.",
        "",
    ]
    return "\n".join(lines)
