"""``capex-rotation event-study``: market-model abnormal returns of the baskets around events."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from backtests.cli.options import (
    ConfigArg,
    DataDirOption,
    DebugOption,
    EndOption,
    EstimationOption,
    EventsOption,
    MinObsOption,
    SetOption,
    StartOption,
    WindowOption,
)
from reports.formatting import num, pct

out = Console()
err = Console(stderr=True)
DEFAULT_DIR = Path("reports") / "event_studies"


def event_study(
    config_file: ConfigArg = None,
    data_dir: DataDirOption = None,
    events: EventsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    overrides: SetOption = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default reports/event_studies/<name>-<hash>)."),
    ] = None,
    window: WindowOption = "-5,10",
    estimation: EstimationOption = "-250,-21",
    min_obs: MinObsOption = 120,
    categories: Annotated[
        list[str] | None,
        typer.Option(
            "--categories",
            metavar="CAT[,CAT...]",
            help="Only these event categories (repeatable; default events.categories).",
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Event study: abnormal returns (market model) of the long, short and spread baskets
    around each news event; writes event_study.csv, summary.csv, plots and index.html."""
    from backtests.config import load_config, with_cli_options
    from backtests.research.event_study import StudyWindow, parse_pair, run_event_study
    from reports.output_folder import check_can_create, check_destination

    pre, post = parse_pair(window, "--window")
    est_start, est_end = parse_pair(estimation, "--estimation")
    study_window = StudyWindow(pre, post, est_start, est_end, min_obs)
    wanted = [c.strip() for text in categories or [] for c in text.split(",") if c.strip()]
    config = load_config(config_file, overrides or [])
    config = with_cli_options(config, data_dir, events, start, end)
    if out_dir is not None:  # before the run, so that it does not fail at its end
        check_destination(out_dir, "event-study")
    else:  # the default's name ends in a 10-character digest known after the run
        check_can_create(DEFAULT_DIR / f"{config.run.name}-{'0' * 10}")

    started = time.perf_counter()
    with err.status("starting", spinner="dots") as status:
        study = run_event_study(
            config, study_window, wanted or None, progress=lambda msg: status.update(msg)
        )
        params = {**study_window.describe(), "categories": study.facts["categories"]}
        extra = {**study.inputs, "event_study": repr(sorted(params.items()))}
        folder = out_dir or DEFAULT_DIR / f"{config.run.name}-{config.digest(extra)}"
        status.update("writing the tables and plots")
        folder = write_report(folder, config, study)
    _print_summary(study, time.perf_counter() - started, folder)


def write_report(folder: Path, config, study) -> Path:
    """The event-study folder of ``study`` (also written inside an evidence folder)."""
    from reports.event_study_report import write_event_study

    return write_event_study(
        folder,
        rows=study.rows,
        events=study.events,
        summary=study.summary,
        paths=study.paths,
        facts=study.facts,
        manifest=_manifest(config, study),
    )


def _manifest(config, study) -> dict:
    from backtests.provenance import package_versions

    facts = {k: v for k, v in study.facts.items() if k != "seconds"}
    return {
        "command": sys.argv[1:],
        "config": config.resolved(),
        "event_study": facts,
        "inputs": [{"path": p, "sha256": d} for p, d in sorted(study.inputs.items())],
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def _pct(value: float) -> str:
    return pct(value, signed=True)


def _num(value: float) -> str:
    return num(value, 3)


def _print_summary(study, seconds: float, folder: Path) -> None:
    facts = study.facts
    h = facts["bar_k"]
    table = Table(
        title=f"CAR(0,{h}) across events, {facts['first_session']} to {facts['last_session']}",
        box=box.SIMPLE_HEAD,
    )
    headers = ("basket", "events", "N", f"CAR(0,{h})", "95% CI, %", "t", "p (t)", "p (sign)")
    for name in headers:
        table.add_column(name, justify="left" if name in ("basket", "events") else "right")
    for basket, label, r in _rows_by_basket(study.summary, h, SUMMARY_GROUPS, table):
        table.add_row(
            basket,
            label,
            str(int(r["n"])),
            _pct(r["mean_car"]),
            f"[{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}]",
            _num(r["t_stat"]),
            _num(r["t_pvalue"]),
            _num(r["sign_pvalue"]),
        )
    out.print(table)
    out.print(_overlap_table(study.summary, h))
    out.print(
        "signed: CAR x direction. Overlapping windows can make p (t) too small: trust KP "
        "(Kolari-Pynnonen, with rbar) and HAC (calendar time, Newey-West) first; rank and g.sign "
        "are robust to fat tails (summary.csv has every k)."
    )
    out.print(
        f"{facts['events_used']} events studied, {facts['events_skipped']} skipped (see "
        f"events.csv), {facts['events_overlapping']} overlapping another, in {seconds:.2f} s."
    )
    out.print(
        "Results are in-sample (the event list was chosen with hindsight); overlapping events "
        "are not independent."
    )
    out.print(f"Report: {folder}")


# (group, value, label) of summary.csv's rows in each terminal table
SUMMARY_GROUPS = (("all", "all", "all"), ("direction", "+1", "+1"), ("direction", "-1", "-1"))
OVERLAP_GROUPS = (
    ("all", "all", "all"),
    ("all_signed", "all", "signed"),
    ("direction", "+1", "+1"),
    ("direction", "-1", "-1"),
)


def _overlap_table(summary, h: int) -> Table:
    """p-values at CAR(0,h) of the tests that allow for overlapping events, next to the t-test's
    (``signed``: each CAR times the event's direction)."""
    table = Table(
        title=f"CAR(0,{h}): p-values that allow for overlapping windows",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    headers = ("basket", "events", "N", "rbar", "p (t)", "BMP", "KP", "rank", "g.sign", "HAC")
    for name in headers:
        table.add_column(name, justify="left" if name in ("basket", "events") else "right")
    for basket, label, r in _rows_by_basket(summary, h, OVERLAP_GROUPS, table):
        table.add_row(
            basket,
            label,
            str(int(r["n"])),
            _num(r["rbar"]),
            *(_num(r[c]) for c in ("t_pvalue", "bmp_p", "kp_p", "rank_p", "gsign_p", "ct_p")),
        )
    return table


def _rows_by_basket(summary, h: int, groups, table: Table):
    """(basket, label, summary row) at k = h for each basket and each of ``groups`` present,
    basket by basket; a section line is added to ``table`` after each basket."""
    rows = summary[summary["k"] == h]
    for basket in ("long", "short", "spread"):
        for group, value, label in groups:
            match = rows[
                (rows["basket"] == basket) & (rows["group"] == group) & (rows["value"] == value)
            ]
            if not match.empty:
                yield basket, label, match.iloc[0]
        table.add_section()
