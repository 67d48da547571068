"""``capex-rotation events``: classify raw news into triggers, list, validate and evaluate.

Every command prints rich tables on stdout; bad input raises a CapexRotationError that
``backtests.cli.main`` prints as one line (exit code 2).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from backtests.cli.news_options import (
    ClassifierOption,
    LLMBudgetOption,
    LLMCacheOption,
    LLMDeadlineOption,
    LLMModelOption,
    LLMPriceInOption,
    LLMPriceOutOption,
    LLMUrlOption,
    ModelOption,
    OfflineOption,
    build_classifier,
)
from data.errors import CapexRotationError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from data.news.triggers import Trigger

out = Console()
err = Console(stderr=True)

events_app = typer.Typer(
    help="News triggers: classify headlines into an events file, list, validate, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


class InvalidEventsFile(CapexRotationError):
    """``events validate`` found problems (they are listed before this one-line error)."""


SHOWN_TRIGGERS = 200  # rows of the triggers table; the events file holds them all

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules TOML (default: the bundled data/news/rules.toml)."),
]
MinScoreOption = Annotated[
    float | None,
    typer.Option("--min-score", help="Trigger threshold (default: the rules' threshold)."),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


def _threshold(min_score: float | None) -> float | None:
    if min_score is not None and not math.isfinite(min_score):
        raise DataError(f"--min-score {min_score}: must be a finite number above 0")
    if min_score is not None and min_score <= 0:
        raise DataError(f"--min-score {min_score:g}: must be above 0")
    return min_score


def _window(hours: float | None) -> float | None:
    if hours is not None and not math.isfinite(hours):
        raise DataError(f"--window {hours}: must be a finite number of hours, 0 or more")
    if hours is not None and hours < 0:
        raise DataError(f"--window {hours:g}: must be 0 or more hours")
    return hours


# Characters a terminal would act on rather than show: C0 and C1 controls (ESC starts colour,
# title and cursor sequences; 0x9B is CSI on its own), DEL, and the bidirectional overrides
# that reorder what is shown. Text read from files is printed with these escaped.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with terminal control characters shown as escapes (``\\x1b``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _say(text: str, stream: Console | None = None) -> None:
    """Print plain text (no markup) read from files, escaped for the terminal."""
    (stream or out).print(printable(text), markup=False, highlight=False, soft_wrap=True)


def _check_out(out_file: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse an ``--out`` that would lose a file of the user's: a folder, anything but a
    regular file, one of the inputs (news or rules), or an existing file that is not an events
    file written by ``classify`` (unless ``overwrite``). An empty file holds nothing to lose."""
    import os

    from data.news.triggers import PREVIOUS_TRIGGER_COLUMNS, TRIGGER_COLUMNS

    if out_file.is_dir():
        raise DataError(
            f"--out {out_file} is a folder; give the events file's name, e.g. "
            f"{out_file / 'events.csv'}"
        )
    if not os.path.lexists(out_file):
        return
    for source in inputs:
        try:
            same = os.path.samefile(out_file, source)
        except OSError:
            same = False
        if same:
            raise DataError(
                f"--out {out_file} is the input {source}; write the events to another file"
            )
    if out_file.is_symlink() or not out_file.is_file():
        raise DataError(f"--out {out_file} is not a regular file; write the events to a file")
    if overwrite:
        return
    try:
        with out_file.open("rb") as stream:
            head = stream.read(4096)
    except OSError as exc:
        raise DataError(f"cannot read --out {out_file}: {exc.strerror or exc}") from None
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    ours = {",".join(TRIGGER_COLUMNS).encode(), ",".join(PREVIOUS_TRIGGER_COLUMNS).encode()}
    if head and first not in ours:
        raise DataError(
            f"--out {out_file} exists and is not an events file written by `events classify` "
            "(its first line is not our header); choose another file, or pass --overwrite to "
            "replace it"
        )


def _triggers_table(triggers: Sequence[Trigger], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    table.add_column("known_at", overflow="fold")
    table.add_column("dir", justify="right", no_wrap=True)
    table.add_column("category", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("headline", overflow="fold", min_width=20, ratio=3)
    table.add_column("sources", overflow="fold", min_width=10, ratio=1)
    for t in triggers:
        table.add_row(
            t.known_at.isoformat(),
            f"{t.direction:+d}",
            Text(printable(t.category + (" (retraction)" if t.retracts else ""))),
            f"{t.score:g}",
            Text(printable(t.headline)),
            Text(printable("; ".join(t.sources))),
        )
    return table


@events_app.command("classify")
def classify_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(metavar="INPUT...", help="Headline files: CSV, JSON Lines, RSS or Atom."),
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Events CSV to write (the backtest's format)."),
    ] = None,
    rules_file: RulesOption = None,
    explain_all: Annotated[
        bool, typer.Option("--explain", help="Show why each headline did or did not trigger.")
    ] = False,
    min_score: MinScoreOption = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip bad rows (their count is printed).")
    ] = False,
    window: Annotated[
        float | None,
        typer.Option("--window", help="Dedup window in hours (default: the rules', 36)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace --out even if it is not an events file written by classify.",
        ),
    ] = False,
    classifier_name: ClassifierOption = "rules",
    model_file: ModelOption = None,
    llm_model: LLMModelOption = None,
    llm_url: LLMUrlOption = None,
    llm_cache: LLMCacheOption = None,
    llm_budget: LLMBudgetOption = None,
    llm_deadline: LLMDeadlineOption = None,
    llm_price_in: LLMPriceInOption = None,
    llm_price_out: LLMPriceOutOption = None,
    offline: OfflineOption = False,
    debug: DebugOption = False,
) -> None:
    """Classify headlines into triggers and write an events file the backtest reads."""
    from data.atomic import write_bytes_atomically
    from data.news.rules import load_rules
    from data.news.triggers import classify_news, events_csv_text
    from data.news.verdict import explain

    threshold, window = _threshold(min_score), _window(window)
    if out_file is not None:
        given = [*inputs, *(f for f in (rules_file, model_file) if f is not None)]
        _check_out(out_file, given, overwrite)
    rules = load_rules(rules_file)
    llm = {
        "model": llm_model,
        "url": llm_url,
        "cache_dir": llm_cache,
        "budget": llm_budget,
        "deadline": llm_deadline,
        "price_in": llm_price_in,
        "price_out": llm_price_out,
        "offline": offline,
    }
    classifier = build_classifier(classifier_name, rules, threshold, model_file, llm)
    try:
        batch, classified, triggers = classify_news(
            inputs, rules, skip_bad, threshold, window, classifier=classifier
        )
    finally:
        usage = getattr(classifier, "usage", None)
        if usage is not None:
            _say(usage.summary(), err)
    if out_file is not None:  # written first: the report below may go to a closed pipe
        write_bytes_atomically(out_file, events_csv_text(triggers).encode("utf-8"))
    if batch.bad_rows:
        _say(f"skipped {len(batch.bad_rows)} bad rows (first: {batch.bad_rows[0]})", err)
    if explain_all:
        for entry in classified:
            out.print(
                f"[bold]{entry.item.published_at.isoformat()}[/] "
                f"{escape(printable(entry.item.label))}: {escape(printable(entry.item.headline))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            for line in explain(entry.verdict):
                _say("  " + line)
    fired = sum(e.verdict.triggered for e in classified)
    shown = triggers[:SHOWN_TRIGGERS]
    title = "Triggers" if len(shown) == len(triggers) else f"First {len(shown)} triggers"
    out.print(_triggers_table(shown, title))
    if len(shown) < len(triggers):
        where = f"all are in {out_file}" if out_file else "pass --out FILE to keep them all"
        _say(f"... and {len(triggers) - len(shown)} more triggers ({where})")
    retractions = sum(bool(t.retracts) for t in triggers)
    _say(
        f"{len(batch.items)} headlines read, {fired} triggered, {len(triggers) - retractions} "
        f"triggers after merging the same story, {retractions} retracted by a later denial "
        f"({classifier.name} classifier; rules {rules.path})"
    )
    if out_file is not None:
        _say(f"Events: {out_file}")
        if not triggers:
            _say(f"warning: no headline triggered; {out_file} holds a header only", err)


def _extra_columns(path: Path) -> dict[str, dict[str, str]]:
    """score/sources columns of an events file written by ``events classify``, by id."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {(r.get("id") or "").strip(): r for r in rows if r.get("id")}


def _parse_since(text: str | None) -> pd.Timestamp | None:
    import pandas as pd

    from data.calendar import NEW_YORK

    if text is None:
        return None
    try:
        return pd.Timestamp(date.fromisoformat(text)).tz_localize(NEW_YORK)
    except ValueError:
        raise DataError(f"--since {text!r} is not a date; use YYYY-MM-DD") from None


@events_app.command("list")
def list_command(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Events CSV (default: the bundled calendar)."),
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events known on or after YYYY-MM-DD.")
    ] = None,
    debug: DebugOption = False,
) -> None:
    """List the events of a file as a table."""
    from data.events import load_events

    if file is not None and not file.exists():
        raise DataError(f"events file {file} does not exist; check --file")
    calendar = load_events(file)
    start = _parse_since(since)
    if category is not None and category.lower() not in calendar.categories:
        raise DataError(
            f"--category {category!r}: no event in {calendar.path} has it (categories there: "
            f"{', '.join(calendar.categories)})"
        )
    extra = _extra_columns(file) if file is not None else {}
    table = Table(title=Text(printable(f"Events in {calendar.path}")), box=box.SIMPLE_HEAVY)
    table.add_column("id", overflow="fold", ratio=1)
    table.add_column("known_at", overflow="fold")
    table.add_column("dir", justify="right", no_wrap=True)
    table.add_column("category", overflow="fold")
    table.add_column("headline", overflow="fold", min_width=20, ratio=3)
    table.add_column("sources", overflow="fold", min_width=10, ratio=1)
    shown = 0
    for event in calendar.events:
        if category is not None and event.category != category.lower():
            continue
        if start is not None and event.known_at < start:
            continue
        sources = extra.get(event.id, {}).get("sources") or event.source
        table.add_row(
            Text(printable(event.id)),
            event.known_at.isoformat(),
            f"{event.direction:+d}",
            Text(printable(event.category)),
            Text(printable(event.headline)),
            Text(printable(sources)),
        )
        shown += 1
    out.print(table)
    _say(f"{shown} of {len(calendar)} events")


@events_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Events CSV to check.")],
    debug: DebugOption = False,
) -> None:
    """Check an events file and report every problem (exit 2 if there is any)."""
    from data.events import check_events_file

    check = check_events_file(file)
    for problem in check.problems:
        _say(f"problem: {problem}")
    for warning in check.warnings:
        _say(f"warning: {warning}")
    if check.problems:
        raise InvalidEventsFile(
            f"{check.path}: {len(check.problems)} problem(s), listed above; the backtest "
            "refuses this file"
        )
    out.print(
        f"{check.path}: OK, {check.events} events, {len(check.warnings)} warning(s)",
        markup=False,
        highlight=False,
    )


# `events evaluate` lives in its own module; importing it registers it on events_app.
from backtests.cli import events_evaluate  # noqa: E402, F401
