"""``capex-rotation placebo``: the real calendar against random calendars (see
backtests/research/placebo.py for the definitions)."""

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

from backtests.cli.options import (
    ConfigArg,
    DataDirOption,
    DebugOption,
    EndOption,
    EventsOption,
    SetOption,
    StartOption,
    WorkersOption,
    progress_bar,
)
from reports.formatting import num, pct

if TYPE_CHECKING:
    from backtests.research.placebo import PlaceboResult

from backtests.research.placebo_definitions import (
    DEFAULT_SCHEME,
    PLACEBO_DEFINITIONS,
    SCHEME_RULES,
    SCHEMES,
    WHY_DEFAULT,
)

out = Console()
err = Console(stderr=True)
DEFAULT_PLACEBO_DIR = Path("reports") / "placebo"


def _fmt(metric: str, value: float) -> str:
    return pct(value, digits=1) if metric in ("total_return", "hit_rate") else num(value, 3)


def _document(result: PlaceboResult) -> dict[str, Any]:
    setup = result.setup
    sessions = setup.market.sessions
    directions = setup.directions
    results: dict[str, dict] = {}
    for rec in result.summary.to_dict("records"):
        row = {k: v for k, v in rec.items() if k not in ("scheme", "baseline", "metric")}
        results.setdefault(rec["baseline"], {})[rec["metric"]] = row
    facts = {
        name: {
            "books": values["books"],
            "final_equity": values["final_equity"],
            "min_equity": values["min_equity"],
            "ruined_on": values["ruined_on"] or None,
        }
        for name, values in (("real", result.real), ("always_on", result.always_on))
    }
    return {
        "scheme": result.scheme,
        "scheme_rule": SCHEME_RULES[result.scheme],
        "default_scheme": DEFAULT_SCHEME,
        "why_default": WHY_DEFAULT,
        "seed": result.seed,
        "draws": len(result.draws),
        "first_session": sessions[0].date().isoformat(),
        "last_session": sessions[-1].date().isoformat(),
        "sessions": len(sessions),
        "events": {
            "file": setup.calendar.path,
            "in_file": len(setup.calendar),
            "inside_run": len(setup.events),
            "plus": int((directions > 0).sum()),
            "minus": int((directions < 0).sum()),
            "directions": "".join("+" if d > 0 else "-" for d in directions),
        },
        "results": results,
        "bootstrap": result.bootstrap,
        "facts": facts,
        "definitions": PLACEBO_DEFINITIONS,
    }


def _parameters(result: PlaceboResult, document: dict) -> dict[str, str]:
    c = result.setup.config
    ev = document["events"]
    return {
        "Period": f"{document['first_session']} to {document['last_session']} "
        f"({document['sessions']} sessions)",
        "Events": f"{ev['inside_run']} inside the run ({ev['plus']} +1, {ev['minus']} -1) of "
        f"{ev['in_file']} in {Path(ev['file']).name}",
        "Hold": f"{c.strategy.hold_sessions} sessions",
        "Gross": f"{c.strategy.gross:g}",
        "Costs (bp)": f"commission {c.costs.commission_bps:g} / slippage {c.costs.slippage_bps:g}"
        f" / borrow {c.costs.borrow_bps:g} a year",
        "Placebo calendars": f"{result.scheme}"
        + (" (the default)" if result.scheme == DEFAULT_SCHEME else "")
        + f": {SCHEME_RULES[result.scheme]}",
        "Draws": f"{document['draws']} (seed {document['seed']})",
        "Bootstrap": _bootstrap_setting(result.bootstrap),
    }


def _bootstrap_setting(boot: dict) -> str:
    block = boot["block_length"]
    length = f"mean block length {block:.2f} sessions" if math.isfinite(block) else "no block"
    return (
        f"stationary bootstrap (Politis & Romano 1994) of the real run's {boot['returns']} daily "
        f"returns, {length} (arch optimal_block_length: Politis & White 2004; Patton, Politis & "
        f"White 2009), {boot['reps']} resamples, seed {boot['seed']}, "
        f"{boot['confidence']:.0%} percentile intervals"
    )


def _bootstrap_line(result: PlaceboResult) -> str:
    boot = result.bootstrap
    level = f"{boot['confidence']:.0%}"
    if boot.get("undefined"):
        return f"Real run, {level} bootstrap intervals: undefined ({boot['undefined']})."
    return (
        f"Real run, {level} stationary-bootstrap intervals (mean block length "
        f"{boot['block_length']:.2f} sessions, {boot['reps']} resamples, seed {boot['seed']}): "
        f"Sharpe [{num(boot['sharpe_ci_low'], 3)}, {num(boot['sharpe_ci_high'], 3)}], "
        f"total return [{pct(boot['total_return_ci_low'], digits=1)}, "
        f"{pct(boot['total_return_ci_high'], digits=1)}]."
    )


def _notes(result: PlaceboResult) -> list[str]:
    default = " (the default)" if result.scheme == DEFAULT_SCHEME else ""
    notes = [
        f"Placebo calendars: {result.scheme}{default}, {SCHEME_RULES[result.scheme]}. "
        f"Why circular is the default: {WHY_DEFAULT}",
        _bootstrap_line(result)
        + " The intervals come from the run's own daily returns (blocks keep their serial "
        "dependence); the placebo asks a different question, whether the dates matter.",
        "Percentile: mid-rank of the value among the placebo draws with a defined value "
        "(ties count half). p-value: one-sided, (1 + #placebo >= value) / (1 + #placebo); "
        "a small p-value says random dates rarely do as well.",
        "Hit rate: share of books with a positive P&L (fills, costs and borrow included).",
        "Always on: the rotation rebalanced to its target weights at every close (each long "
        "name +G/2/n, each short -G/2/n, names with bars on both sessions), borrow charged on the "
        "short half, no commission or slippage: an idealised baseline for the rotation itself, "
        "with no books and so no hit rate, not an investable strategy.",
    ]
    return notes + _ruin_notes(result)


def _ruin_notes(result: PlaceboResult) -> list[str]:
    notes = []
    for name, values in (("real calendar", result.real), ("always-on rotation", result.always_on)):
        if values["ruined_on"]:
            notes.append(
                f"The {name} was ruined: its equity reached {values['min_equity']:,.0f} at the "
                f"close of {values['ruined_on']}, where the run ended; its Sharpe, total return "
                "and hit rate are undefined."
            )
    return notes


def _manifest(result: PlaceboResult, document: dict) -> dict[str, Any]:
    from backtests.provenance import package_versions

    setup = result.setup
    return {
        "command": sys.argv[1:],
        "config": setup.config.resolved(),
        "scheme": result.scheme,
        "default_scheme": DEFAULT_SCHEME,
        "why_default": WHY_DEFAULT,
        "seed": result.seed,
        "draws": len(result.draws),
        "bootstrap": {
            k: result.bootstrap[k]
            for k in ("method", "block_rule", "block_length", "reps", "seed", "confidence")
        },
        "sessions": {
            "first": document["first_session"],
            "last": document["last_session"],
            "count": document["sessions"],
        },
        "inputs": [{"path": p, "sha256": d} for p, d in sorted(setup.inputs.items())],
        "packages": package_versions(),
    }


def placebo(
    config_file: ConfigArg = None,
    data_dir: DataDirOption = None,
    events: EventsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    draws: Annotated[int, typer.Option("--draws", help="Number of placebo calendars.")] = 1000,
    scheme: Annotated[
        str,
        typer.Option(
            "--scheme",
            help="How placebo dates are drawn: circular (the default: the real calendar shifted "
            "by one random offset, so its clustering and spacing are kept exactly and only its "
            "position moves), block (runs of same-direction events kept, the gaps between runs "
            "permuted, then shifted) or iid (uniform independent dates, which spread clustered "
            "news out).",
        ),
    ] = DEFAULT_SCHEME,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the random calendars and the bootstrap.")
    ] = 7,
    workers: WorkersOption = 1,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default reports/placebo/...).")
    ] = None,
    overrides: SetOption = None,
    debug: DebugOption = False,
) -> None:
    """Compare the real calendar's Sharpe, total return and hit rate with placebo calendars
    (default scheme: circular shifts of the real calendar), with bootstrap intervals."""
    from backtests.config import load_config, with_cli_options
    from backtests.research.placebo import PlaceboError, prepare_placebo, run_placebo
    from reports.output_folder import check_can_create, check_destination

    if draws < 1:
        raise PlaceboError(f"--draws {draws}: need at least 1 draw")
    if workers < 1:
        raise PlaceboError(f"--workers {workers}: need at least 1 worker")
    if seed < 0:
        raise PlaceboError(f"--seed {seed}: use a non-negative integer")
    if scheme not in SCHEMES:
        raise PlaceboError(f"--scheme {scheme}: expected one of {', '.join(SCHEMES)}")
    config = with_cli_options(
        load_config(config_file, overrides or []), data_dir, events, start, end
    )
    if out_dir is not None:  # before the run, so that it does not fail at its end
        check_destination(out_dir, "placebo")
    else:  # the default's name ends in a 10-character digest known after the run
        check_can_create(DEFAULT_PLACEBO_DIR / f"{config.run.name}-{'0' * 10}")
    started = time.perf_counter()
    with err.status("loading prices and events"):
        setup = prepare_placebo(config)
    progress = progress_bar("placebo", err)
    with progress:
        task = progress.add_task("draws", total=draws)
        result = run_placebo(
            setup, scheme, draws, seed, workers, on_progress=lambda n: progress.advance(task, n)
        )
    digest = config.digest(
        {**setup.inputs, "seed": str(seed), "draws": str(draws), "scheme": scheme}
    )
    folder = out_dir or DEFAULT_PLACEBO_DIR / f"{config.run.name}-{digest}"
    with err.status("writing the report"):
        folder = write_report(folder, result)
    elapsed = time.perf_counter() - started
    _print_summary(result, _document(result))
    out.print(
        f"{draws} {scheme} placebo calendars in {elapsed:.1f} s; report: {folder / 'index.html'}"
    )


def write_report(folder: Path, result: PlaceboResult) -> Path:
    """The placebo folder of ``result`` (also written inside an evidence folder)."""
    from reports.placebo_report import write_placebo_report

    document = _document(result)
    config = result.setup.config
    return write_placebo_report(
        folder,
        draws=result.draws,
        calendars=result.calendars_table(),
        summary=result.summary,
        document=document,
        manifest=_manifest(result, document),
        title=f"Placebo test of the news timing ({config.run.name}, {result.scheme} "
        f"calendars), {document['first_session']} to {document['last_session']}",
        parameters=_parameters(result, document),
        notes=_notes(result),
        scheme=result.scheme,
    )


def _print_summary(result: PlaceboResult, document: dict) -> None:
    from backtests.research.placebo import REPORTED

    ev = document["events"]
    table = Table(
        title=f"Against {len(result.draws)} {result.scheme} placebo calendars "
        f"({ev['inside_run']} events, "
        f"{document['first_session']} to {document['last_session']})",
        box=box.SIMPLE_HEAD,
    )
    for name in ("baseline", "metric", "value", "pctile", "p-value", "placebo 5% / 50% / 95%"):
        table.add_column(name, justify="left" if name in ("baseline", "metric") else "right")
    for r in result.summary.to_dict("records"):
        m = r["metric"]
        table.add_row(
            "real calendar" if r["baseline"] == "real" else "always on",
            m,
            _fmt(m, r["value"]),
            "n/a" if not math.isfinite(r["percentile"]) else f"{r['percentile']:.1f}",
            "n/a" if not math.isfinite(r["p_value"]) else f"{r['p_value']:.3f}",
            f"{_fmt(m, r['placebo_p05'])} / {_fmt(m, r['placebo_median'])} / "
            f"{_fmt(m, r['placebo_p95'])}",
        )
        if m == REPORTED[-1] and r["baseline"] == "real":
            table.add_section()
    out.print(table)
    out.print(_bootstrap_line(result))
    for note in _ruin_notes(result):
        out.print(note)
    out.print("Results are in-sample: the event list was chosen with hindsight.")
