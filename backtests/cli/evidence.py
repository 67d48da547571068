"""``capex-rotation evidence``: is it skill or luck? The event study, the placebo under
clustering-preserving calendars (and iid for comparison) and, given a grid, the
selection-aware sweep statistics, on one offline page (backtests/research/evidence.py)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from backtests.cli.options import (
    DataDirOption,
    DebugOption,
    EndOption,
    EstimationOption,
    EventsOption,
    MinObsOption,
    SetOption,
    StartOption,
    WindowOption,
    WorkersOption,
    progress_bar,
)

if TYPE_CHECKING:
    import pandas as pd

    from backtests.research.evidence import Evidence

out = Console()
err = Console(stderr=True)
DEFAULT_DIR = Path("reports") / "evidence"

TargetArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="[CONFIG|GRID]",
        help="A config TOML, or a grid TOML (with a [grid] table: adds the selection "
        "statistics of its configs). Default: the built-in config.",
        show_default=False,
    ),
]


def evidence(
    target_file: TargetArg = None,
    data_dir: DataDirOption = None,
    events: EventsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    overrides: SetOption = None,
    draws: Annotated[
        int, typer.Option("--draws", min=1, help="Placebo calendars per scheme.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the placebo and bootstraps.")] = 7,
    workers: WorkersOption = 1,
    window: WindowOption = "-5,10",
    estimation: EstimationOption = "-250,-21",
    min_obs: MinObsOption = 120,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default reports/evidence/<name>-<hash>)."),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Skill or luck: event study (t, BMP, Kolari-Pynnonen, rank, generalized sign,
    calendar-time HAC), placebo (circular default, block and iid) with bootstrap intervals,
    and for a grid the trials, PSR, DSR, SPA, reality check and PBO; one page."""
    from backtests.research.event_study import StudyWindow, parse_pair
    from backtests.research.evidence import SCHEMES, load_target, run_evidence
    from reports.output_folder import check_can_create, check_destination

    pre, post = parse_pair(window, "--window")
    est_start, est_end = parse_pair(estimation, "--estimation")
    study_window = StudyWindow(pre, post, est_start, est_end, min_obs)
    target = load_target(target_file, overrides or [], data_dir, events, start, end)
    if out_dir is not None:  # before the run, so that it does not fail at its end
        check_destination(out_dir, "evidence")
    else:  # the default's name ends in a 10-character digest known after the run
        check_can_create(DEFAULT_DIR / f"{target.config.run.name}-{'0' * 10}")

    started = time.perf_counter()
    progress = progress_bar("evidence", err)
    tasks: dict[str, Any] = {}
    stages = ["event study", *(f"placebo {s}" for s in SCHEMES)]
    if target.grid is not None:
        stages.append("selection")

    def tell(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        result = run_evidence(
            target, study_window, draws=draws, seed=seed, workers=workers, progress=tell
        )
        writing = progress.add_task("writing the page and reports", total=None)
        folder = _write(result, out_dir, study_window, draws, seed)
        progress.update(writing, total=1, completed=1)
    _print(result, time.perf_counter() - started, folder)


def _write(result: Evidence, out_dir: Path | None, window, draws: int, seed: int) -> Path:
    from backtests.cli.evidence_parts import evidence_document, report_sections
    from backtests.provenance import package_versions
    from reports.evidence_report import verdict_table, write_evidence

    config = result.target.config
    verdicts = verdict_table(result.verdicts)
    document = evidence_document(result, window, draws, seed)
    extra = {**result.inputs, "evidence": repr(sorted(document["settings"].items()))}
    folder = out_dir or DEFAULT_DIR / f"{config.run.name}-{config.digest(extra)}"
    sections, reports = report_sections(result)
    manifest = {
        "command": sys.argv[1:],
        "config": config.resolved(),
        "grid": str(result.target.path) if result.target.grid is not None else None,
        "settings": document["settings"],
        "inputs": [{"path": p, "sha256": d} for p, d in result.inputs.items()],
        "packages": package_versions(),
    }
    first, last = document["sessions"]["first"], document["sessions"]["last"]
    return write_evidence(
        folder,
        title=f"Skill or luck? Evidence for {config.run.name}, {first} to {last}",
        verdicts=verdicts,
        sections=sections,
        document=document,
        parameters=document["parameters"],
        reports=reports,
        manifest=manifest,
        notes=document["notes"],
    )


def _p(value: float) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _stat(value: float) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _print(result: Evidence, seconds: float, folder: Path) -> None:
    from reports.evidence_report import IN_SAMPLE, bottom_line, verdict_table

    frame: pd.DataFrame = verdict_table(result.verdicts)
    table = Table(title="Skill or luck: the verdict", box=box.SIMPLE_HEAD)
    for name in ("area", "test", "statistic", "p-value"):
        table.add_column(name, justify="right" if name in ("statistic", "p-value") else "left")
    previous = None
    for r in frame.itertuples(index=False):
        if previous is not None and r.area != previous:
            table.add_section()
        previous = r.area
        table.add_row(Text(r.area), Text(r.test), _stat(r.statistic), _p(r.p_value))
    out.print(table)
    out.print(bottom_line(frame), markup=False, highlight=False)
    out.print(IN_SAMPLE, markup=False, highlight=False)
    out.print(f"Evidence in {seconds:.1f} s; page: {folder / 'index.html'}", markup=False)
