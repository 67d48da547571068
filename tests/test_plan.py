"""The book plan: what each event did, and why."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from synthetic import event, market

from data.calendar import entry_sessions
from strategies.errors import PolicyError
from strategies.plan import build_plan
from strategies.strategy import Strategy

LONG, SHORT = ("L1", "L2"), ("S1", "S2")


def plan_for(m, events, hold=3):
    entries = entry_sessions([e.known_at for e in events])
    return build_plan(m, Strategy.baseline(LONG, SHORT, hold=hold), events, entries)


def closes(m, plan):
    """(fill session, columns) of every close order group, in session order."""
    actions = plan.actions()
    return [
        (day(m, a.session + 1), a.cols)
        for session in sorted(actions)
        for a in actions[session]
        if a.kind == "close"
    ]


def target_weights(book):
    """Column -> target weight at the book's gross (the old plan's open_weights)."""
    return {int(c): book.gross * w for c, w in zip(book.cols, book.weights, strict=True)}


def day(m, k):
    return m.sessions[k].date().isoformat()


def test_open_extend_close_and_reasons():
    m = market("2024-03-01", "2024-04-30")
    events = [
        event("2024-03-28T12:00", +1, "a"),  # entry Mon 04-01 (Good Friday closed)
        event("2024-03-29", +1, "b"),  # holiday, date only -> also 04-01
        event("2024-04-02T08:00", +1, "c"),  # pre-market -> 04-02: extension
        event("2024-04-03T16:30", -1, "d"),  # after close -> 04-04: closes the book
        event("2024-04-10T08:00", -1, "e"),  # counter while flat
        event("2024-04-15T08:00", +1, "f"),
        event("2024-04-15T09:00", -1, "g"),  # same session as f: nets to zero
        event("2024-03-01T08:00", +1, "h"),  # entry is the run's first session
        event("2024-06-03T08:00", +1, "i"),  # after the run
    ]
    plan = plan_for(m, events)
    got = {o.event.id: (o.action, o.book) for o in plan.outcomes}
    assert got == {
        "a": ("opened", 0),
        "b": ("opened", 0),
        "c": ("extended", 0),
        "d": ("closed", 0),
        "e": ("ignored", None),
        "f": ("ignored", None),
        "g": ("ignored", None),
        "h": ("ignored", None),
        "i": ("ignored", None),
    }
    reasons = {o.event.id: o.reason for o in plan.outcomes}
    assert "counter-trigger while flat" in reasons["e"]
    assert "cancelled" in reasons["f"]
    assert "first session" in reasons["h"]
    assert "after the run" in reasons["i"]
    (book,) = plan.books
    assert (day(m, book.entry), day(m, book.exit), book.closed_by) == (
        "2024-04-01",
        "2024-04-04",
        "counter",
    )
    assert book.extensions == 1
    # The decision for the open of 04-01 is taken at the close of 03-28.
    assert day(m, book.decision) == "2024-03-28"
    actions = plan.actions()
    assert sorted(actions) == [book.decision, book.exit - 1]
    assert [a.kind for a in actions[book.decision]] == ["open"]
    assert [a.kind for a in actions[book.exit - 1]] == ["close"]


def test_hold_expiry_counts_sessions_not_days():
    m = market("2024-11-01", "2024-12-31")
    plan = plan_for(m, [event("2024-11-26T08:00", +1)], hold=3)
    (book,) = plan.books
    # 11-26 + 3 sessions skips Thanksgiving: 11-27, 11-29, 12-02.
    assert (day(m, book.entry), day(m, book.exit), book.closed_by) == (
        "2024-11-26",
        "2024-12-02",
        "hold",
    )


def test_outweighed_event_is_ignored_but_the_session_acts():
    m = market("2024-03-01", "2024-04-30")
    events = [
        event("2024-04-09T08:00", +1, "p1"),
        event("2024-04-09T07:00", +1, "p2"),
        event("2024-04-09T06:00", -1, "n1"),
    ]
    plan = plan_for(m, events)
    got = {o.event.id: o.action for o in plan.outcomes}
    assert got == {"p1": "opened", "p2": "opened", "n1": "ignored"}
    assert "outweighed" in plan.outcomes[2].reason


def test_name_ending_mid_hold_is_closed_at_its_last_bar():
    m = market("2024-03-01", "2024-04-30", spans={"S2": (None, "2024-04-10")})
    plan = plan_for(m, [event("2024-04-08T08:00", +1)], hold=5)
    (book,) = plan.books
    s2 = m.column("S2")
    assert s2 in book.shorts
    assert closes(m, plan)[0] == ("2024-04-10", (s2,))
    assert day(m, book.exit) == "2024-04-15"
    (last,) = (a for a in plan.actions()[book.exit - 1] if a.kind == "close")
    assert s2 not in last.cols
    j = list(book.cols).index(s2)
    assert day(m, book.name_exit[j]) == "2024-04-10"


def test_late_listing_and_early_end_are_not_eligible():
    m = market(
        "2024-03-01",
        "2024-04-30",
        spans={"S1": ("2024-04-09", None), "L2": (None, "2024-04-05")},
    )
    plan = plan_for(m, [event("2024-04-05T08:00", +1)])
    (book,) = plan.books
    # S1 has no bar yet; L2's last bar is the entry session itself.
    assert [m.tickers[c] for c in book.longs] == ["L1"]
    assert [m.tickers[c] for c in book.shorts] == ["S2"]
    (opening,) = plan.actions()[book.decision]
    assert (opening.kind, opening.cols) == ("open", (m.column("L1"), m.column("S2")))
    assert target_weights(book) == {m.column("L1"): 0.5, m.column("S2"): -0.5}


def test_no_eligible_short_name_means_no_book():
    m = market(
        "2024-03-01", "2024-04-30", spans={"S1": ("2024-04-20", None), "S2": ("2024-04-20", None)}
    )
    plan = plan_for(m, [event("2024-04-05T08:00", +1)])
    assert plan.books == []
    assert plan.outcomes[0].action == "ignored"
    assert "no short name" in plan.outcomes[0].reason


def test_plan_does_not_look_at_prices():
    m = market("2024-03-01", "2024-04-30")
    events = [event("2024-04-02T08:00", +1), event("2024-04-12", -1)]
    first = plan_for(m, events)
    shifted = dataclasses.replace(m, close=m.close * 3.0, open=m.open * 0.5)
    second = plan_for(shifted, events)
    assert first.actions() == second.actions()
    assert len(first.books) == len(second.books) > 0
    for a, b in zip(first.books, second.books, strict=True):
        assert (a.decision, a.entry, a.exit, a.closed_by) == (
            b.decision,
            b.entry,
            b.exit,
            b.closed_by,
        )
        assert np.array_equal(a.cols, b.cols) and np.array_equal(a.name_exit, b.name_exit)
        assert target_weights(a) == target_weights(b)


@pytest.mark.parametrize("kwargs", [{"hold": 0}, {"gross": 0}, {"gross": 4.0}])
def test_rules_refuse_bad_parameters(kwargs):
    with pytest.raises(PolicyError):
        Strategy.baseline(LONG, SHORT, **kwargs)


def test_entry_sessions_of_events_use_the_calendar():
    (entry,) = entry_sessions([event("2024-03-29", +1).known_at])
    assert entry == pd.Timestamp("2024-04-01")
