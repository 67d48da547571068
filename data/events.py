"""News events with point-in-time ``known_at`` timestamps (zipline's "learned at" model).

Every event carries the instant it became known. Strategies may act on it only from the first
session whose open is strictly after ``known_at`` (see :func:`data.calendar.entry_sessions`).

Events files are CSV: required ``known_at`` and ``direction``; optional ``id``, ``category``,
``headline``, ``companies``, ``source``. Other columns are ignored unless they look like a
misspelt optional column. :func:`load_events` stops at the first problem;
:func:`check_events_file` reports them all (both use the same row validator). The bundled
calendar (``data/capex_events.csv``) holds the 60 reference events of the project; see the
README for its caveats.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from data.calendar import NEW_YORK
from data.dates import FIRST_DAY, LAST_DAY, SUPPORTED
from data.errors import DataError, where
from data.textfiles import csv_rows, decode_text, read_input

REQUIRED_EVENT_COLUMNS = ("known_at", "direction")
OPTIONAL_EVENT_COLUMNS = ("id", "category", "headline", "companies", "source")
ROTATION_ON_CATEGORIES = (
    "custom_silicon",
    "compute_resale",
    "capex_cut",
    "efficiency_breakthrough",
)
COUNTER_CATEGORIES = ("capex_raise", "mega_order")
BUNDLED_EVENTS = "capex_events.csv"
# Ids of retraction events written by `events classify` (a later denial of a story).
RETRACTION_ID_SUFFIX = "-retracted"

_ISO_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?$"
)


@dataclass(frozen=True)
class Event:
    """A dated piece of news.

    ``known_at`` is tz-aware: the first instant the news could have been acted on.
    ``direction`` is +1 (rotation on) or -1 (counter-trigger).
    """

    id: str
    known_at: pd.Timestamp
    direction: int
    category: str = "uncategorised"
    headline: str = ""
    companies: tuple[str, ...] = ()
    source: str = ""
    # Where it was read (None for events made in memory) and the file's other columns as text
    # (e.g. a weight): metadata, not part of what the event is.
    line: int | None = field(default=None, compare=False)
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def value(self, column: str) -> str | None:
        """The text of another column of the events file (None when the file has none)."""
        return dict(self.extra).get(column)


@dataclass(frozen=True)
class EventCalendar:
    """The events of one file, in file order, with where they came from."""

    events: tuple[Event, ...]
    path: str
    sha256: str
    categories: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.events)

    def filter_categories(self, wanted: list[str] | tuple[str, ...]) -> EventCalendar:
        """Keep only events of the given categories (an empty list keeps all)."""
        if not wanted:
            return self
        present = set(self.categories)
        for name in wanted:
            if name not in present:
                hint = difflib.get_close_matches(name, sorted(present), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise DataError(
                    f"events.categories: no event in {self.path} has category {name!r} "
                    f"(categories there: {', '.join(sorted(present))}){suggestion}"
                )
        kept = tuple(e for e in self.events if e.category in set(wanted))
        return EventCalendar(kept, self.path, self.sha256, self.categories)


def parse_known_at(text: str) -> pd.Timestamp:
    """Parse an ISO 8601 ``known_at`` into a tz-aware timestamp.

    - with an offset (``+09:00``, ``Z``): taken as is;
    - a naive date and time: America/New_York wall time. A time that does not exist (the
      spring-forward hour) moves forward to the first valid instant; one that occurs twice (the
      fall-back hour) is read as the later of the two, the conservative choice;
    - a date alone: known by the end of that day, 23:59:59 America/New_York.

    The date as written must lie in :data:`data.dates.SUPPORTED` (pandas' nanosecond range
    with whole-year margins, so no offset can push the instant out of it).

    Raises ValueError with a short reason for anything else.
    """
    value = text.strip()
    match = _ISO_RE.match(value)
    if not match:
        raise ValueError(
            "not an ISO 8601 timestamp (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS], optionally with an "
            "offset such as +09:00 or Z)"
        )
    if not FIRST_DAY.year <= int(match.group("date")[:4]) <= LAST_DAY.year:  # whole years
        raise ValueError(f"outside {SUPPORTED}")
    try:
        if match.group("time") is None:
            day = datetime.fromisoformat(match.group("date"))
            naive = pd.Timestamp(day).replace(hour=23, minute=59, second=59)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return pd.Timestamp(parsed)
            naive = pd.Timestamp(parsed)
    except ValueError as exc:
        raise ValueError(f"not a valid date or time ({exc})") from None
    return naive.tz_localize(NEW_YORK, ambiguous=False, nonexistent="shift_forward")


def _parse_direction(raw: str) -> int:
    value = raw.strip()
    if value in {"1", "+1", "1.0", "+1.0"}:
        return 1
    if value in {"-1", "-1.0"}:
        return -1
    raise ValueError("must be +1 (rotation on) or -1 (counter-trigger)")


@dataclass
class _Scan:
    """What one pass over an events CSV found: header, events, problems and warnings."""

    header: list[str] | None = None
    header_problems: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    broken: bool = False  # the CSV reader stopped (its message is the last problem)


def _scan_events_csv(text: str, path: str) -> _Scan:
    """Read every row of an events CSV, collecting events and every problem (in file order).

    Rows are not read when a required column is missing.
    """
    scan = _Scan()
    try:
        _scan_rows(csv_rows(text, path), path, scan)
    except DataError as exc:  # the CSV itself is broken there (a cell over the limit): stop
        scan.problems.append(str(exc))
        scan.broken = True
    return scan


def _scan_rows(rows: Iterator[tuple[int, list[str]]], path: str, scan: _Scan) -> None:
    seen_ids: dict[str, int] = {}
    for line, row in rows:
        if scan.header is None:
            scan.header = [c.strip().lower() for c in row]
            scan.header_problems = _header_problems(scan.header, path)
            if any(c not in scan.header for c in REQUIRED_EVENT_COLUMNS):
                break
            continue
        if len(row) != len(scan.header):
            scan.problems.append(
                f"{where(path, line)}: {len(row)} fields, header has {len(scan.header)}"
            )
            continue
        cells = dict(zip(scan.header, row, strict=True))
        try:
            event = _parse_event_row(cells, path, line, seen_ids)
        except ValueError as exc:
            scan.problems.append(str(exc))
            continue
        scan.events.append(event)
        warning = _category_warning(event)
        if warning:
            scan.warnings.append(f"{where(path, line, 'category')}: {warning}")


def _parse_event_row(
    cells: dict[str, str], path: str, line: int, seen_ids: dict[str, int]
) -> Event:
    """One row's cells as an Event; ValueError with the located message when a cell is bad.

    Records the row's id in ``seen_ids`` (a repeated id is a problem).
    """
    try:
        known_at = parse_known_at(cells["known_at"])
    except ValueError as exc:
        located = where(path, line, "known_at")
        raise ValueError(f"{located}: {cells['known_at']!r} is {exc}") from None
    try:
        direction = _parse_direction(cells["direction"])
    except ValueError as exc:
        located = where(path, line, "direction")
        raise ValueError(f"{located}: {cells['direction']!r} {exc}") from None
    event_id = (cells.get("id") or "").strip() or f"line-{line}"
    if event_id in seen_ids:
        raise ValueError(
            f"{where(path, line, 'id')}: id {event_id!r} already used at line {seen_ids[event_id]}"
        )
    seen_ids[event_id] = line
    category = (cells.get("category") or "").strip().lower() or "uncategorised"
    companies = tuple(c.strip() for c in (cells.get("companies") or "").split(";") if c.strip())
    known = set(REQUIRED_EVENT_COLUMNS) | set(OPTIONAL_EVENT_COLUMNS)
    return Event(
        id=event_id,
        known_at=known_at,
        direction=direction,
        category=category,
        headline=(cells.get("headline") or "").strip(),
        companies=companies,
        source=(cells.get("source") or "").strip(),
        line=line,
        extra=tuple((k, v) for k, v in cells.items() if k not in known),
    )


def _category_warning(event: Event) -> str:
    """Why an event's category looks wrong ('' when it looks fine): unknown, or against its
    usual direction."""
    known = (*ROTATION_ON_CATEGORIES, *COUNTER_CATEGORIES)
    if event.category == "uncategorised":
        return ""
    if event.category not in known:
        close = difflib.get_close_matches(event.category, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{event.category!r} is not one of {', '.join(known)}{hint}"
    usual = 1 if event.category in ROTATION_ON_CATEGORIES else -1
    if event.id.endswith(RETRACTION_ID_SUFFIX):  # a denial: the opposite of its story
        usual = -usual
    if event.direction != usual:
        return (
            f"{event.category!r} usually has direction {usual:+d}, this row has "
            f"{event.direction:+d}"
        )
    return ""


def parse_events_csv(text: str, path: str) -> tuple[Event, ...]:
    """Parse events CSV text; every row is validated and the first problem is raised.

    The message names file, line and column, and how many other rows have problems.
    """
    scan = _scan_events_csv(text, path)
    if scan.broken and scan.header is None:
        raise DataError(scan.problems[0])
    if scan.header is None:
        raise DataError(f"{path} is empty; expected a header with known_at,direction")
    if scan.header_problems:
        raise DataError(scan.header_problems[0])
    if scan.problems:
        others = len(scan.problems) - 1
        more = f" (and {others} more problem rows)" if others else ""
        raise DataError(scan.problems[0] + more)
    if not scan.events:
        raise DataError(f"{path} has a header but no events")
    return tuple(scan.events)


@dataclass(frozen=True)
class EventsCheck:
    """Every problem of an events file (each makes it unloadable) and warnings (loadable, but
    probably not meant), one located line each, in file order; ``events`` counts good rows."""

    path: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    events: int


def check_events_file(path: Path | str) -> EventsCheck:
    """Check an events file without stopping at the first problem.

    Returns an EventsCheck whose ``problems`` is empty exactly when :func:`load_events` accepts
    the file; it reports the same messages load_events would raise, all of them.
    """
    file = str(path)
    try:
        text = decode_text(read_input(path, "events file"), file)
    except DataError as exc:
        return EventsCheck(file, (str(exc),), (), 0)
    scan = _scan_events_csv(text, file)
    problems = [*scan.header_problems, *scan.problems]
    if scan.header is None and not scan.broken:
        problems.append(f"{file} is empty; expected a header with known_at,direction")
    elif not scan.events and not problems:
        problems.append(f"{file} has a header but no events")
    return EventsCheck(file, tuple(problems), tuple(scan.warnings), len(scan.events))


def _header_problems(header: list[str], path: str) -> list[str]:
    problems = []
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in header]
    if missing:
        problems.append(
            f"{path}: missing column {', '.join(repr(m) for m in missing)} (found "
            f"{', '.join(header)}); an events file needs known_at and direction, optionally "
            f"{', '.join(OPTIONAL_EVENT_COLUMNS)}"
        )
    known = set(REQUIRED_EVENT_COLUMNS) | set(OPTIONAL_EVENT_COLUMNS)
    for name in header:
        if name in known:
            continue
        candidates = sorted(known - set(header))
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.85) or [
            k
            for k in candidates
            if name[:5] == k[:5] and len(name) >= 5  # company -> companies
        ]
        if close:
            problems.append(f"{path}: unknown column {name!r}; did you mean {close[0]!r}?")
    return problems


def _calendar_from_bytes(raw: bytes, path: str) -> EventCalendar:
    events = parse_events_csv(decode_text(raw, path), path)
    categories = tuple(sorted({e.category for e in events}))
    return EventCalendar(events, path, hashlib.sha256(raw).hexdigest(), categories)


def load_events(path: Path | str | None = None) -> EventCalendar:
    """Load an events CSV, or the bundled calendar when ``path`` is None."""
    if path is None:
        resource = resources.files("data").joinpath(BUNDLED_EVENTS)
        return _calendar_from_bytes(resource.read_bytes(), f"<bundled>/{BUNDLED_EVENTS}")
    raw = read_input(path, "events file", hint="; pass --events FILE")
    return _calendar_from_bytes(raw, str(path))


_NAMED_HOUR_RE = re.compile(
    r"(?<![\w:])(?P<bound>(?:after|before)\s+)?~?(?P<h>\d{1,2}):(?P<m>\d{2})\s*ET\b", re.IGNORECASE
)
_DEFAULT_HOUR = {"pre_market": (8, 0), "during_session": (12, 0), "after_close": (16, 30)}


def known_at_from_report(date: str, time_of_day: str, session: str) -> str:
    """Turn a reference row's (date, time_of_day, session) into an ISO ``known_at``.

    The rules of ``reference/README.md``: ``pre_market`` -> 08:00 ET, ``during_session`` ->
    12:00, ``after_close`` -> 16:30, unless ``time_of_day`` names an hour (``07:00 ET``, but not
    ``after 16:00 ET``); ``market_closed`` and ``unknown`` -> the date alone (known by the end
    of that day).
    """
    if session in ("market_closed", "unknown"):
        return date
    if session not in _DEFAULT_HOUR:
        raise ValueError(f"unknown session {session!r}")
    hour, minute = _DEFAULT_HOUR[session]
    for named in _NAMED_HOUR_RE.finditer(time_of_day):
        if not named.group("bound"):  # "after 16:00 ET", "before 09:30 ET" bound the hour
            hour, minute = int(named.group("h")), int(named.group("m"))
            break
    stamp = pd.Timestamp(f"{date} {hour:02d}:{minute:02d}").tz_localize(NEW_YORK)
    return stamp.isoformat()


def event_weights(calendar: EventCalendar, column: str) -> np.ndarray:
    """Each event's weight from ``column`` of its file (a weighted signal): a number >= 0.

    Raises DataError naming file, line and column for a missing column or a bad cell.
    """
    out = np.empty(len(calendar.events))
    for k, event in enumerate(calendar.events):
        text = event.value(column)
        if text is None:
            raise DataError(
                f"{calendar.path} has no column {column!r} for strategy.signal.column; add it or "
                "use strategy.signal.kind = 'sum'"
            )
        try:
            value = float(text.strip())
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value >= 0):
            raise DataError(
                f"{where(calendar.path, event.line, column)}: {text!r} is not a weight (a number "
                ">= 0)"
            )
        out[k] = value
    return out
