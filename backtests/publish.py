"""Turn a RunResult into its run folder: title, parameters, manifest, then the report writer."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from backtests.provenance import package_versions
from backtests.runner import RunResult
from data.calendar import CALENDAR_NAME
from reports.backtest_report import write_backtest_report

DEFAULT_REPORTS_DIR = Path("reports") / "runs"


def default_destination(run: RunResult) -> Path:
    """``reports/runs/<config name>-<hash of config and input files>`` under the working dir."""
    return DEFAULT_REPORTS_DIR / f"{run.config.run.name}-{run.config.digest(run.inputs)}"


def title_and_parameters(run: RunResult) -> tuple[str, dict[str, str]]:
    c = run.config
    period = f"{run.facts['first_session']} to {run.facts['last_session']}"
    title = f"Capex-to-efficiency rotation ({c.run.name}), {period}"
    parameters = {
        "Hold": f"{c.strategy.hold_sessions} sessions",
        "Gross": f"{c.strategy.gross:g}",
        "Costs (bp)": f"commission {c.costs.commission_bps:g} / slippage {c.costs.slippage_bps:g}"
        f" / borrow {c.costs.borrow_bps:g} a year",
        "Events": f"{run.facts['events']['in_file']} "
        f"({', '.join(c.events.categories) or 'all categories'})",
        "In-sample": "event list chosen with hindsight",
    }
    return title, parameters


def manifest(run: RunResult, argv: list[str] | None = None) -> dict[str, Any]:
    """Everything needed to reproduce the run: resolved config, inputs with sha256, versions."""
    return {
        "command": argv if argv is not None else sys.argv[1:],
        "config": run.config.resolved(),
        "calendar": CALENDAR_NAME,
        "sessions": {
            "first": run.facts["first_session"],
            "last": run.facts["last_session"],
            "count": run.facts["sessions"],
        },
        "inputs": [{"path": path, "sha256": digest} for path, digest in sorted(run.inputs.items())],
        "python": platform.python_version(),
        "packages": package_versions(),
        "engine": run.result.engine,
    }


def publish(
    run: RunResult,
    destination: Path | None = None,
    tearsheet: bool = True,
    argv: list[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write the run folder (atomically); return its path and the metrics document."""
    title, parameters = title_and_parameters(run)
    return write_backtest_report(
        destination or default_destination(run),
        returns=run.returns,
        benchmark=run.benchmark_returns,
        equity=run.result.equity,
        fills=run.result.fills,
        event_log=run.event_log,
        books=run.books,
        facts=run.facts,
        manifest=manifest(run, argv),
        title=title,
        parameters=parameters,
        tearsheet=tearsheet,
    )
