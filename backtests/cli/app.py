"""The typer application: every command registered under ``capex-rotation``.

Command modules import only typer, rich and the option types at module level; each command
imports what it needs when it runs, so ``capex-rotation --help`` starts in a fraction of a
second.
"""

from __future__ import annotations

import typer

from backtests.cli.backtest import backtest as backtest_command
from backtests.cli.compare import compare as compare_command
from backtests.cli.event_study import event_study as event_study_command
from backtests.cli.events import events_app
from backtests.cli.evidence import evidence as evidence_command
from backtests.cli.placebo import placebo as placebo_command
from backtests.cli.sweep import sweep as sweep_command
from backtests.cli.walk_forward import walk_forward as walk_forward_command

app = typer.Typer(
    name="capex-rotation",
    help="Backtest the capex-to-efficiency rotation on dated news.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich's help renderer costs 0.15 s at startup
)


@app.callback()
def _root() -> None:
    """Backtest the capex-to-efficiency rotation on dated news."""


app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
app.command("event-study")(event_study_command)
app.command("placebo")(placebo_command)
app.command("walk-forward")(walk_forward_command)
app.command("compare")(compare_command)
app.command("evidence")(evidence_command)
app.add_typer(events_app, name="events")
