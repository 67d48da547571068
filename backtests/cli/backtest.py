"""``capex-rotation backtest``: one run of the rotation, written as a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from backtests.cli.options import (
    ConfigArg,
    DataDirOption,
    DebugOption,
    EndOption,
    EventsOption,
    SetOption,
    StartOption,
)
from reports.formatting import money, num, pct

out = Console()
err = Console(stderr=True)


def backtest(
    config_file: ConfigArg = None,
    data_dir: DataDirOption = None,
    events: EventsOption = None,
    news: Annotated[
        list[Path] | None,
        typer.Option("--news", metavar="INPUT", help="Headline file to classify (repeatable)."),
    ] = None,
    classifier: Annotated[
        str,
        typer.Option(
            "--classifier",
            help="With --news: rules (default), model, ensemble, or llm (answers from the "
            "LLM cache only; the backtest never calls the network).",
        ),
    ] = "rules",
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
    from backtests.config import load_config, with_cli_options
    from backtests.publish import DEFAULT_REPORTS_DIR, publish
    from backtests.runner import run_backtest
    from reports.output_folder import check_can_create, check_destination

    config = load_config(config_file, overrides or [])
    config = with_cli_options(config, data_dir, events, start, end)
    if out_dir is not None:  # before the run, so that it does not fail at its end
        check_destination(out_dir, "backtest")
    else:  # the default's name ends in a 10-character digest known after the run
        check_can_create(DEFAULT_REPORTS_DIR / f"{config.run.name}-{'0' * 10}")
    with err.status("starting", spinner="dots") as status:
        if news:
            from backtests.news_backtest import run_with_news

            run = run_with_news(
                config, news, events, progress=lambda msg: status.update(msg), classifier=classifier
            )
        else:
            run = run_backtest(config, progress=lambda msg: status.update(msg))
        status.update(
            "writing the report" + ("" if no_tearsheet else " and the quantstats tear sheet")
        )
        folder, metrics = publish(run, out_dir, tearsheet=not no_tearsheet)
    _summary(run.facts, metrics, folder)


def _pct(value: float | None) -> str:
    return pct(value)


def _num(value: float | None) -> str:
    return num(value)


def _money(value: float | None) -> str:
    return money(value)


def _ruined(facts: dict, folder: Path) -> None:
    """A ruined run: the ruin instead of metrics (they are undefined), then the facts."""
    out.print(f"Capex rotation, {facts['first_session']} to {facts['last_session']}")
    out.print(
        f"[bold red]RUINED on {facts['ruined_on']} (equity {_money(facts['equity_at_ruin'])} "
        "at that close)[/bold red]",
        soft_wrap=True,
    )
    out.print(
        "Equity reached zero or below: the run ended at that close (no fill after it, equity "
        "held), so its return metrics are undefined."
    )
    costs = facts["costs"]
    table = Table(show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("Books opened", str(facts["books_opened"]))
    table.add_row("Sessions invested", f"{facts['days_invested']} of {facts['sessions']}")
    table.add_row("Costs paid", _money(costs["total"]))
    table.add_row("Lowest equity", _money(facts["min_equity"]))
    out.print(table)
    out.print("Results are in-sample: the event list was chosen with hindsight.")
    out.print(f"Report: {folder}")


def _summary(facts: dict, metrics: dict, folder: Path) -> None:
    if facts.get("ruined_on"):
        _ruined(facts, folder)
        return
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
