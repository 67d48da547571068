"""The ``capex-rotation`` command line (typer + rich).

Errors the user can fix print one line on stderr and exit with code 2; ``--debug`` shows the
traceback instead. Progress goes to stderr, the summary table to stdout.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from backtests.cli_options import (
    ConfigArg,
    DataDirOption,
    DebugOption,
    EndOption,
    EventsOption,
    SetOption,
    StartOption,
)
from backtests.compare_cli import compare
from backtests.config import load_config, with_cli_options
from backtests.event_study_cli import event_study
from backtests.events_cli import events_app
from backtests.placebo_cli import placebo
from backtests.sweep_cli import sweep
from backtests.walk_forward_cli import walk_forward
from data.errors import CapexRotationError

app = typer.Typer(
    name="capex-rotation",
    help="Backtest the capex-to-efficiency rotation on dated news.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Backtest the capex-to-efficiency rotation on dated news."""


@app.command()
def backtest(
    config_file: ConfigArg = None,
    data_dir: DataDirOption = None,
    events: EventsOption = None,
    news: Annotated[
        list[Path] | None,
        typer.Option("--news", metavar="INPUT", help="Headline file to classify (repeatable)."),
    ] = None,
    start: StartOption = None,
    end: EndOption = None,
    overrides: SetOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default reports/runs/<name>-<hash>).")
    ] = None,
    no_tearsheet: Annotated[
        bool, typer.Option("--no-tearsheet", help="Skip the quantstats HTML.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Run the rotation backtest and write its run folder (tear sheet, metrics, CSVs)."""
    from backtests.publish import publish
    from backtests.runner import run_backtest
    from reports.run_folder import check_destination

    config = load_config(config_file, overrides or [])
    config = with_cli_options(config, data_dir, events, start, end)
    if out_dir is not None:
        check_destination(out_dir.resolve())
    with err.status("starting", spinner="dots") as status:
        if news:
            from backtests.news_backtest import run_with_news

            run = run_with_news(config, news, events, progress=lambda msg: status.update(msg))
        else:
            run = run_backtest(config, progress=lambda msg: status.update(msg))
        status.update(
            "writing the report" + ("" if no_tearsheet else " and the quantstats tear sheet")
        )
        folder, metrics = publish(run, out_dir, tearsheet=not no_tearsheet)
    _summary(run.facts, metrics, folder)


app.command()(sweep)
app.command("event-study")(event_study)
app.command()(placebo)
app.command("walk-forward")(walk_forward)
app.command()(compare)
app.add_typer(events_app, name="events")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _summary(facts: dict, metrics: dict, folder: Path) -> None:
    strategy, bench = metrics["strategy"], metrics["benchmark"]
    table = Table(title=f"Capex rotation, {facts['first_session']} to {facts['last_session']}")
    table.add_column("")
    table.add_column("Strategy", justify="right")
    table.add_column(bench["ticker"], justify="right")
    for label, key, fmt in (
        ("Total return", "total_return", _pct),
        ("CAGR", "cagr", _pct),
        ("Sharpe", "sharpe", _num),
        ("Sortino", "sortino", _num),
        ("Max drawdown", "max_drawdown", _pct),
        ("Volatility", "volatility", _pct),
    ):
        table.add_row(label, fmt(strategy[key]), fmt(bench[key]))
    costs = facts["costs"]
    table.add_section()
    table.add_row("Books opened", str(facts["books_opened"]), "")
    table.add_row("Sessions invested", f"{facts['days_invested']} of {facts['sessions']}", "")
    table.add_row("Costs paid", f"{costs['total']:,.0f}", "")
    table.add_row("Final equity", f"{facts['final_equity']:,.0f}", "")
    out.print(table)
    out.print("Results are in-sample: the event list was chosen with hindsight.")
    out.print(f"Report: {folder}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="capex-rotation", standalone_mode=False)
    except CapexRotationError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return getattr(exc, "exit_code", 2)
    except typer.TyperException as exc:  # usage errors: unknown option, missing value...
        if debug:
            traceback.print_exc()
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err.print(
            f"[bold red]error:[/] {escape(message)} (see capex-rotation --help)",
            highlight=False,
            soft_wrap=True,
        )
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written")
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
                "(rerun with --debug for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
        return 1
    return 0
