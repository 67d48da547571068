"""Command-line options shared by several commands, declared once (typer ``Annotated`` types),
and the progress bar every long command shows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

ConfigArg = Annotated[
    Path | None,
    typer.Argument(metavar="[CONFIG.toml]", help="Config file (defaults if omitted)."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder of <TICKER>.csv files (offline); default: Yahoo via the cache."
    ),
]
EventsOption = Annotated[
    Path | None, typer.Option("--events", help="Events CSV (default: the bundled calendar).")
]
StartOption = Annotated[str | None, typer.Option("--start", help="First day, YYYY-MM-DD.")]
EndOption = Annotated[str | None, typer.Option("--end", help="Last day, YYYY-MM-DD.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="SECTION.KEY=VALUE", help="Override a config key (repeatable)."),
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]

WindowOption = Annotated[
    str, typer.Option("--window", metavar="PRE,POST", help="Event window, sessions.")
]
EstimationOption = Annotated[
    str,
    typer.Option("--estimation", metavar="START,END", help="Market-model window, sessions."),
]
MinObsOption = Annotated[
    int, typer.Option("--min-obs", help="Fewest estimation sessions to keep an event.")
]


def progress_bar(label: str, console: Console) -> Progress:
    """The bar long commands show on stderr (it disappears when done)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
