"""``capex-rotation walk-forward``: choose a grid config on rolling train windows, run it on the
following test windows, stitch the out-of-sample returns (backtests/research/walk_forward.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from backtests.cli.options import DataDirOption, DebugOption, SetOption, progress_bar
from reports.formatting import num, pct

if TYPE_CHECKING:
    from backtests.research.walk_forward import WalkForwardResult

out = Console()
err = Console(stderr=True)
DEFAULT_WALK_FORWARD_DIR = Path("reports") / "walk-forward"
NOTES = [
    "Windows: train = sessions in [a, a + train), test = sessions in [a + train, a + train + "
    "test), a = first session's date + k x step; the last test window may be shorter.",
    "Choice: every grid config runs on the train sessions alone (fast engine, flat at the "
    "train start); the best value of the metric wins, undefined values never, ties go to the "
    "lowest config index. No defined value (no book): the test window stays flat.",
    "Test: the chosen config runs fresh from the close of the last train session (flat), so its "
    "first fill can be the open of the first test session. A book open at a test window's end "
    "is marked to that close, not liquidated (no exit costs at window boundaries).",
    "OOS equity compounds the test windows' returns from the base config's cash.",
]


def _num(value: Any) -> str:
    return num(value)


def walk_forward(
    grid_file: Annotated[Path, typer.Argument(metavar="GRID.toml", help="Grid file.")],
    data_dir: DataDirOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default reports/walk-forward/...).")
    ] = None,
    train: Annotated[str, typer.Option("--train", help="Train length (3y, 18m, 2w, 90d).")] = "3y",
    test: Annotated[str, typer.Option("--test", help="Test length.")] = "6m",
    step: Annotated[str, typer.Option("--step", help="Step between windows (>= --test).")] = "6m",
    metric: Annotated[str, typer.Option("--metric", help="Metric that picks the config.")] = (
        "sharpe"
    ),
    overrides: SetOption = None,
    no_tearsheet: Annotated[
        bool, typer.Option("--no-tearsheet", help="Skip the quantstats HTML.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Pick the best grid config on each train window, run it out of sample, stitch the result."""
    from backtests.grid import load_grid
    from backtests.provenance import package_versions
    from backtests.research.walk_forward import (
        check_grid,
        make_windows,
        parse_period,
        run_sessions,
        run_walk_forward,
    )
    from backtests.sweep import load_sweep_data
    from reports.output_folder import check_can_create, check_destination
    from reports.walk_forward_report import write_walk_forward_report

    periods = (parse_period(train, "--train"), parse_period(test, "--test"))
    period_step = parse_period(step, "--step")
    settings = {"data.source": "csv", "data.dir": str(data_dir)} if data_dir else None
    grid = load_grid(grid_file, overrides or [], settings)
    check_grid(grid, metric)
    if out_dir is not None:  # before the run, so that it does not fail at its end
        check_destination(out_dir, "walk-forward")
    else:  # the default's name ends in a 10-character digest known after the run
        check_can_create(DEFAULT_WALK_FORWARD_DIR / f"{grid.name}-{'0' * 10}")
    started = time.perf_counter()
    with err.status("loading prices and events"):
        data = load_sweep_data(grid)
    sessions = run_sessions(grid, data)
    windows = make_windows(sessions, *periods, period_step)
    progress = progress_bar("walk-forward", err)
    with progress:
        task = progress.add_task("windows", total=len(windows))
        result = run_walk_forward(
            grid,
            data,
            *periods,
            period_step,
            metric,
            on_progress=lambda n: progress.advance(task, n),
            windows=windows,
        )
    options = {"train": train, "test": test, "step": step, "metric": metric}
    digest = grid.base.digest({"grid": grid.digest, **options})
    folder = out_dir or DEFAULT_WALK_FORWARD_DIR / f"{grid.name}-{digest}"
    parameters = {
        "Grid": f"{Path(grid.path).name}: {len(grid)} configs over {', '.join(grid.keys)}",
        "Run": f"{sessions[0].date()} to {sessions[-1].date()} ({len(sessions)} sessions)",
        "Windows": f"train {train}, test {test}, step {step}: {len(windows)} windows",
        "Chosen by": f"{metric} on the train window",
    }
    manifest = {
        "command": sys.argv[1:],
        "grid": grid.path,
        "grid_digest": grid.digest,
        "configs": len(grid),
        "keys": list(grid.keys),
        "options": options,
        "base_config": grid.base.resolved(),
        "inputs": [{"path": h.source, "sha256": h.sha256} for h in data.histories.values()]
        + [{"path": c.path, "sha256": c.sha256} for c in data.calendars.values()],
        "packages": package_versions(),
    }
    with err.status(
        "writing the report" + ("" if no_tearsheet else " and the quantstats tear sheet")
    ):
        folder, summary = write_walk_forward_report(
            folder,
            windows=result.windows,
            oos=result.oos,
            keys=list(grid.keys),
            metric=metric,
            benchmark=result.benchmark,
            cash=result.cash,
            manifest=manifest,
            title=f"Walk-forward of {grid.name}: {metric}-chosen configs, out-of-sample "
            f"{summary_period(result)}",
            parameters=parameters,
            notes=NOTES,
            tearsheet=not no_tearsheet,
        )
    _print_summary(result, summary)
    out.print(
        f"{len(windows)} windows x {len(grid)} configs in {time.perf_counter() - started:.1f} s; "
        f"report: {folder / 'index.html'}"
    )


def summary_period(result: WalkForwardResult) -> str:
    index = result.oos.index
    return f"{index[0].date()} to {index[-1].date()}"


def _print_summary(result: WalkForwardResult, summary: dict) -> None:
    metric = result.metric
    table = Table(title=f"Walk-forward windows (chosen by {metric})", box=box.SIMPLE_HEAD)
    for name in (
        "test window",
        "config",
        "trials",
        "IS sharpe",
        "IS DSR",
        "OOS sharpe",
        "OOS return",
    ):
        table.add_column(name, justify="left" if name == "test window" else "right")
    for rec in result.windows.to_dict("records"):
        flat = rec["status"] == "flat"
        table.add_row(
            f"{rec['test_start']} to {rec['test_end']}",
            "flat" if flat else str(rec["config"]),
            str(rec["trials"]),
            _num(rec["is_sharpe"]),
            _num(rec["is_dsr"]),
            _num(rec["oos_sharpe"]),
            f"{rec['oos_total_return']:.2%}",
        )
    out.print(table)
    if (result.windows["status"] == "flat").any():
        out.print(f"flat: no config had a defined {metric} on the train window (no book).")
    oos, bench = summary["oos"], summary["benchmark"]
    out.print(
        f"Out-of-sample {summary['oos_first_session']} to {summary['oos_last_session']}: "
        f"Sharpe {_num(oos['sharpe'])}, total return {_pct(oos['total_return'])} "
        f"({bench['ticker']}: Sharpe {_num(bench['sharpe'])}, {_pct(bench['total_return'])}); "
        f"mean Sharpe of chosen configs IS {_num(summary['mean_is_sharpe'])} vs OOS "
        f"{_num(summary['mean_oos_sharpe'])} over {summary['windows_chosen']} window(s)."
    )
    out.print(
        "IS DSR: probability that the chosen config's true train-window Sharpe beats the best of "
        "its trials by luck alone (deflated Sharpe ratio)."
    )
    out.print(
        "Only the parameter choice is out of sample: the event list was chosen with hindsight."
    )


def _pct(value: Any) -> str:
    return pct(value)
