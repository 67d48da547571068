"""``capex-rotation compare``: several run folders side by side on one HTML page."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from backtests.cli.options import DebugOption

out = Console()
DEFAULT_COMPARE_DIR = Path("reports") / "compare"


def default_destination(run_dirs: list[Path]) -> Path:
    """``reports/compare/compare-<hash of the run folders' paths>`` under the working dir."""
    key = "\n".join(str(p.resolve()) for p in run_dirs)
    return DEFAULT_COMPARE_DIR / f"compare-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR...",
            help="Two or more run folders written by capex-rotation backtest.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default reports/compare/compare-<hash>)."),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Compare runs: equity curves, drawdowns and a metrics table side by side (index.html)."""
    from reports.compare import load_runs, write_comparison
    from reports.output_folder import check_destination
    from reports.run_index import pct

    destination = out_dir or default_destination(run_dirs)
    runs = load_runs(run_dirs, destination)
    check_destination(destination, "compare")
    page = write_comparison(runs, destination, argv=sys.argv[1:])
    table = Table(title=f"{len(runs)} runs")
    for column in ("Run", "Total return", "Sharpe", "Max drawdown", "Books"):
        table.add_column(column, justify="left" if column == "Run" else "right")
    for run in runs:
        books = run.metric("facts.books_opened")
        sharpe = run.metric("strategy.sharpe")
        table.add_row(
            escape(run.label),
            pct(run.metric("strategy.total_return")),
            "n/a" if sharpe is None else f"{sharpe:.2f}",
            pct(run.metric("strategy.max_drawdown")),
            "" if books is None else str(books),
        )
    out.print(table)
    out.print(f"Report: {page}")
