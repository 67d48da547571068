"""The ``capex-rotation`` command line (typer + rich).

Errors the user can fix print one line on stderr and exit with code 2; ``--debug`` shows the
traceback instead. Progress goes to stderr, the summary table to stdout.
"""

from __future__ import annotations

import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from backtests.cli.backtest import backtest as backtest_command
from backtests.cli.compare import compare as compare_command
from backtests.cli.event_study import event_study as event_study_command
from backtests.cli.events import events_app
from backtests.cli.placebo import placebo as placebo_command
from backtests.cli.sweep import sweep as sweep_command
from backtests.cli.walk_forward import walk_forward as walk_forward_command
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


app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
app.command("event-study")(event_study_command)
app.command("placebo")(placebo_command)
app.command("walk-forward")(walk_forward_command)
app.command("compare")(compare_command)
app.add_typer(events_app, name="events")


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
