"""The book plan: every decision of the baseline rules, computed once from events and bar dates.

The rules of spec/baseline-rules.md decide *when* to open, extend and close a book and *which*
names are eligible from two things only: the sessions on which events enter and which names
have bars. Neither depends on prices, so the whole schedule is computed here, before any engine
runs. Engines then only execute it (size at the decision close, fill at the next open), which
keeps the rules in one place and lets two engines be compared decision by decision.

Session indices are positions in ``MarketData.sessions``; a decision at the close of session
``t`` fills at the open of ``t + 1``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.events import Event
from data.market import MarketData
from strategies.rules import RotationRules


@dataclass(frozen=True)
class Decision:
    """What to do at the open of ``fill`` (= ``session + 1``), decided at the close of ``session``.

    ``open_weights`` maps a column of MarketData to its target weight (sized with the equity and
    the close of ``session``); ``close`` lists columns whose whole position is closed.
    """

    session: int
    book: int
    open_weights: tuple[tuple[int, float], ...] = ()
    close: tuple[int, ...] = ()

    @property
    def fill(self) -> int:
        return self.session + 1


@dataclass
class Book:
    """One episode of holding the rotation: opened at ``entry``, closed at ``exit``.

    ``exit`` is the session of the closing fill, or None when the book is still open at the end
    of the run. ``closed_by`` is ``"hold"`` (H sessions passed), ``"counter"`` (a -1 event), or
    ``"data_end"`` (every name's data ended).
    """

    id: int
    decision: int
    entry: int
    planned_exit: int
    longs: tuple[int, ...]
    shorts: tuple[int, ...]
    exit: int | None = None
    closed_by: str | None = None
    extensions: int = 0


@dataclass(frozen=True)
class EventOutcome:
    """What an event did: ``opened``, ``extended``, ``closed`` or ``ignored`` (with ``reason``)."""

    event: Event
    entry_session: pd.Timestamp | None
    action: str
    reason: str = ""
    book: int | None = None


@dataclass
class BookPlan:
    decisions: dict[int, Decision] = field(default_factory=dict)
    books: list[Book] = field(default_factory=list)
    outcomes: list[EventOutcome] = field(default_factory=list)


def build_plan(
    market: MarketData,
    long: Sequence[str],
    short: Sequence[str],
    events: Sequence[Event],
    entry_sessions: Sequence[pd.Timestamp | None],
    rules: RotationRules,
) -> BookPlan:
    """Apply the decision rules at every close of the run.

    ``entry_sessions[k]`` is the entry session of ``events[k]`` (data.calendar.entry_sessions).
    """
    sessions = market.sessions
    n = len(sessions)
    has_bar = market.has_bar
    last_bar = market.last_bar
    long_cols = [market.column(t) for t in long]
    short_cols = [market.column(t) for t in short]
    hold = int(rules.hold_sessions)

    plan = BookPlan()
    by_entry: dict[int, list[int]] = defaultdict(list)
    outcomes: dict[int, EventOutcome] = {}
    for k, (event, entry) in enumerate(zip(events, entry_sessions, strict=True)):
        reason = _outside_run(entry, sessions)
        if reason:
            outcomes[k] = EventOutcome(event, entry, "ignored", reason)
        else:
            by_entry[int(sessions.get_loc(entry))].append(k)

    # A name whose data ends before the run's last session is closed at the open of its last
    # bar, and cannot join a book opening there: ending[e] = the names whose last bar is e.
    ending: dict[int, set[int]] = defaultdict(set)
    for col in (*long_cols, *short_cols):
        if 0 <= last_bar[col] < n - 1:
            ending[int(last_bar[col])].add(col)

    def ends_at(col: int, e: int) -> bool:
        return e in ending and col in ending[e]

    def eligible(cols: list[int], t: int, e: int) -> tuple[int, ...]:
        return tuple(c for c in cols if has_bar[t, c] and has_bar[e, c] and not ends_at(c, e))

    book: Book | None = None
    held: list[int] = []
    for t in range(n - 1):
        e = t + 1
        todays = by_entry.get(e, [])
        s = sum(events[k].direction for k in todays)
        if s > 0 and book is None:
            longs, shorts = eligible(long_cols, t, e), eligible(short_cols, t, e)
            if longs and shorts:
                w_long, w_short = rules.weights(len(longs), len(shorts))
                book = Book(len(plan.books), t, e, e + hold, longs, shorts)
                plan.books.append(book)
                held = [*longs, *shorts]
                weights = tuple((c, w_long) for c in longs) + tuple((c, w_short) for c in shorts)
                plan.decisions[t] = Decision(t, book.id, open_weights=weights)
                _record(
                    outcomes,
                    todays,
                    events,
                    sessions[e],
                    s,
                    "opened",
                    book.id,
                    f"book {book.id} opened, exit planned at session {_day(sessions, e + hold)}",
                )
            else:
                side = "long" if not longs else "short"
                _record(
                    outcomes,
                    todays,
                    events,
                    sessions[e],
                    s,
                    "ignored",
                    None,
                    f"no {side} name has bars on {sessions[t].date()} and {sessions[e].date()}",
                )
            continue
        if s > 0 and book is not None:
            old = book.planned_exit
            book.planned_exit = max(book.planned_exit, e + hold)
            book.extensions += 1
            _record(
                outcomes,
                todays,
                events,
                sessions[e],
                s,
                "extended",
                book.id,
                f"book {book.id} exit moved from {_day(sessions, old)} to "
                f"{_day(sessions, book.planned_exit)}",
            )
        elif s < 0 and book is not None:
            _close_book(plan, book, held, t, "counter")
            _record(
                outcomes,
                todays,
                events,
                sessions[e],
                s,
                "closed",
                book.id,
                f"book {book.id} closed at the open of {sessions[e].date()}",
            )
            book, held = None, []
            continue
        else:
            if todays:
                why = "counter-trigger while flat" if s < 0 else "cancelled by an opposite event"
                _record(outcomes, todays, events, sessions[e], s, "ignored", None, why)
            if book is not None and book.planned_exit == e:
                _close_book(plan, book, held, t, "hold")
                book, held = None, []
                continue
        if book is not None and e in ending:
            closing = tuple(c for c in held if c in ending[e])
            if closing:
                held = [c for c in held if c not in closing]
                plan.decisions[t] = Decision(t, book.id, close=closing)
                if not held:
                    book.exit, book.closed_by = e, "data_end"
                    book = None

    plan.outcomes = [outcomes[k] for k in range(len(events))]
    return plan


def _close_book(plan: BookPlan, book: Book, held: list[int], t: int, why: str) -> None:
    plan.decisions[t] = Decision(t, book.id, close=tuple(held))
    book.exit, book.closed_by = t + 1, why


def _outside_run(entry: pd.Timestamp | None, sessions: pd.DatetimeIndex) -> str:
    if entry is None:
        return "known after the last session of the NYSE calendar"
    if entry < sessions[0]:
        return f"entry session {entry.date()} is before the run ({sessions[0].date()})"
    if entry > sessions[-1]:
        return f"entry session {entry.date()} is after the run ({sessions[-1].date()})"
    if entry == sessions[0]:
        return (
            f"entry session {entry.date()} is the run's first session: there is no decision "
            "close before it inside the run"
        )
    return ""


def _day(sessions: pd.DatetimeIndex, k: int) -> str:
    if k < len(sessions):
        return str(sessions[k].date())
    return f"+{k - len(sessions) + 1} after the run's end"


def _record(
    outcomes: dict[int, EventOutcome],
    todays: list[int],
    events: Sequence[Event],
    entry: pd.Timestamp,
    total: int,
    action: str,
    book: int | None,
    reason: str,
) -> None:
    """Record the session's action for events that drove it; opposite ones were outweighed."""
    for k in todays:
        event = events[k]
        if total != 0 and np.sign(event.direction) != np.sign(total):
            outcomes[k] = EventOutcome(
                event, entry, "ignored", "outweighed by opposite events entering the same session"
            )
        else:
            outcomes[k] = EventOutcome(event, entry, action, reason, book)
