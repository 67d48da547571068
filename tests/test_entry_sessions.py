"""Event ``known_at`` -> entry session, checked exhaustively (zipline style).

The entry session of an event is the first NYSE session whose 09:30 America/New_York open is
strictly after ``known_at``. The expected answers here are built independently of
exchange_calendars: a hand-written list of NYSE holidays gives the sessions, and each open is the
session date at 09:30 New York wall time (zoneinfo). Every combination of day x time of day x time
zone in the grids below is checked.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.calendar import entry_sessions, nyse, session_open, sessions_between
from data.errors import DataError
from data.events import parse_known_at

NY = ZoneInfo("America/New_York")

# NYSE full-day closures, written out by hand (not taken from exchange_calendars).
HOLIDAYS = frozenset(
    date.fromisoformat(d)
    for d in (
        "2023-12-25",
        # 2024
        "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
        "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
        # 2025 (01-09: national day of mourning for President Carter)
        "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26",
        "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
        # 2026 (07-03: Independence Day observed, the 4th is a Saturday)
        "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
        "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25",
    )
)  # fmt: skip
# 13:00 early closes: the open stays at 09:30.
EARLY_CLOSES = tuple(
    date.fromisoformat(d)
    for d in ("2024-07-03", "2024-11-29", "2024-12-24", "2025-07-03", "2025-11-28", "2025-12-24")
)
HAND_START, HAND_END = date(2023, 12, 1), date(2026, 12, 31)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


SESSIONS = [d for d in _days(HAND_START, HAND_END) if d.weekday() < 5 and d not in HOLIDAYS]
OPENS = [datetime.combine(d, time(9, 30), NY) for d in SESSIONS]


def expected_entry(known_at: datetime) -> date:
    """First hand-listed session whose 09:30 NY open is strictly after ``known_at``."""
    k = bisect_right(OPENS, known_at)
    assert 0 < k < len(SESSIONS), f"{known_at} is outside the hand-written sessions"
    return SESSIONS[k]


def ny_instant(day: date, wall: time) -> datetime:
    """A New York wall time as an instant: a spring-forward gap moves to 03:00, the first valid
    instant; a fall-back repeat is the later (EST) one."""
    naive = datetime.combine(day, wall)
    later = naive.replace(tzinfo=NY, fold=1)
    if later.astimezone(UTC).astimezone(NY).replace(tzinfo=None) != naive:  # does not exist
        return datetime.combine(day, time(3, 0), NY)
    return later


def entry_of(text: str) -> date:
    (session,) = entry_sessions([parse_known_at(text)])
    assert session is not None
    return session.date()


# Weeks that hold every kind of special day, as (first, last) calendar days, inclusive.
WINDOWS = {
    "mlk-2024": (date(2024, 1, 11), date(2024, 1, 17)),
    "dst-spring-2024": (date(2024, 3, 7), date(2024, 3, 13)),
    "good-friday-2024": (date(2024, 3, 26), date(2024, 4, 2)),
    "juneteenth-2024": (date(2024, 6, 17), date(2024, 6, 21)),
    "july-2024": (date(2024, 7, 1), date(2024, 7, 8)),
    "dst-fall-2024": (date(2024, 10, 31), date(2024, 11, 5)),
    "thanksgiving-2024": (date(2024, 11, 26), date(2024, 12, 3)),
    "christmas-new-year-2024": (date(2024, 12, 20), date(2025, 1, 3)),
    "mourning-2025": (date(2025, 1, 6), date(2025, 1, 14)),
    "good-friday-2025": (date(2025, 4, 15), date(2025, 4, 22)),
    "juneteenth-2025": (date(2025, 6, 16), date(2025, 6, 23)),
    "july-2025": (date(2025, 7, 1), date(2025, 7, 8)),
    "thanksgiving-2025": (date(2025, 11, 24), date(2025, 12, 2)),
    "christmas-new-year-2025": (date(2025, 12, 22), date(2026, 1, 5)),
}
WALL_TIMES = (
    "00:00:00", "01:30:00", "02:30:00", "08:00:00", "09:29:59", "09:30:00", "09:30:01",
    "12:00:00", "13:00:00", "15:59:59", "16:00:00", "16:30:00", "23:59:59",
)  # fmt: skip
OFFSETS = {
    "Z": timedelta(0),
    "+00:00": timedelta(0),
    "+01:00": timedelta(hours=1),
    "+02:00": timedelta(hours=2),
    "+05:30": timedelta(hours=5, minutes=30),
    "+09:00": timedelta(hours=9),
    "-04:00": timedelta(hours=-4),
    "-05:00": timedelta(hours=-5),
    "-08:00": timedelta(hours=-8),
}


# --- the hand-written calendar agrees with the one the code uses --------------------------------


def test_hand_written_sessions_match_the_nyse_calendar():
    got = sessions_between(pd.Timestamp(HAND_START), pd.Timestamp(HAND_END))
    assert [d.date() for d in got] == SESSIONS


@pytest.mark.parametrize("day", sorted(HOLIDAYS), ids=str)
def test_holidays_are_not_sessions(day):
    assert len(sessions_between(pd.Timestamp(day), pd.Timestamp(day))) == 0


@pytest.mark.parametrize("day", EARLY_CLOSES, ids=str)
def test_early_close_keeps_the_0930_open(day):
    cal = nyse()
    assert session_open(pd.Timestamp(day)) == pd.Timestamp(datetime.combine(day, time(9, 30), NY))
    close = cal.session_close(pd.Timestamp(day)).tz_convert(NY)
    assert (close.hour, close.minute) == (13, 0)


def test_calendar_opens_are_0930_new_york_for_every_session_used():
    for day, expected in zip(SESSIONS, OPENS, strict=True):
        assert session_open(pd.Timestamp(day)) == pd.Timestamp(expected), day


# --- exhaustive grids ----------------------------------------------------------------------------


@pytest.mark.parametrize("window", list(WINDOWS), ids=str)
def test_grid_new_york_wall_times_and_date_only(window):
    """Every day x every NY wall time (naive strings), plus the date-only form."""
    days = _days(*WINDOWS[window])
    cases: list[tuple[str, datetime]] = []
    for day, wall in itertools.product(days, WALL_TIMES):
        for sep in ("T", " "):
            cases.append((f"{day}{sep}{wall}", ny_instant(day, time.fromisoformat(wall))))
        cases.append((f"{day}T{wall[:5]}", ny_instant(day, time.fromisoformat(wall[:5]))))
    for day in days:
        cases.append((day.isoformat(), datetime.combine(day, time(23, 59, 59), NY)))

    parsed = [parse_known_at(text) for text, _ in cases]
    entries = entry_sessions(parsed)
    bad = []
    for (text, instant), stamp, entry in zip(cases, parsed, entries, strict=True):
        if stamp != pd.Timestamp(instant) or stamp.tzinfo is None:
            bad.append(f"{text}: parsed {stamp}, expected {instant}")
        elif entry is None or entry.date() != expected_entry(instant):
            bad.append(f"{text}: entry {entry}, expected {expected_entry(instant)}")
    assert not bad, f"{len(bad)} of {len(cases)} wrong, e.g. {bad[:5]}"


@pytest.mark.parametrize("window", list(WINDOWS), ids=str)
def test_grid_days_times_offsets(window):
    """Every day x time x UTC offset, given as aware ISO strings."""
    days = _days(*WINDOWS[window])
    cases = [
        (f"{day}T{wall}{suffix}", datetime.combine(day, time.fromisoformat(wall), timezone(off)))
        for day, wall, (suffix, off) in itertools.product(days, WALL_TIMES, OFFSETS.items())
    ]
    parsed = [parse_known_at(text) for text, _ in cases]
    entries = entry_sessions(parsed)
    bad = []
    for (text, instant), stamp, entry in zip(cases, parsed, entries, strict=True):
        if stamp != pd.Timestamp(instant) or stamp.utcoffset() != instant.utcoffset():
            bad.append(f"{text}: parsed {stamp}, expected {instant}")
        elif entry is None or entry.date() != expected_entry(instant):
            bad.append(f"{text}: entry {entry}, expected {expected_entry(instant)}")
    assert not bad, f"{len(bad)} of {len(cases)} wrong, e.g. {bad[:5]}"


def test_grid_every_minute_around_the_open():
    """Each second from 09:29:00 to 09:31:00 NY on the sessions around both DST switches."""
    bad = []
    for day in (date(2024, 3, 8), date(2024, 3, 11), date(2024, 11, 1), date(2024, 11, 4)):
        start = datetime.combine(day, time(9, 29), NY)
        instants = [start + timedelta(seconds=s) for s in range(121)]
        entries = entry_sessions([pd.Timestamp(i) for i in instants])
        for instant, entry in zip(instants, entries, strict=True):
            want = day if instant.time() < time(9, 30) else expected_entry(instant)
            assert want == expected_entry(instant)
            if entry is None or entry.date() != want:
                bad.append(f"{instant}: {entry} != {want}")
    assert not bad, bad[:5]


# --- named cases (readable documentation of the rule) -------------------------------------------

NAMED = [
    # (known_at, entry, why)
    ("2024-06-17T08:00", "2024-06-17", "pre-market Monday -> that Monday"),
    ("2024-06-17T09:29:59", "2024-06-17", "one second before the open"),
    ("2024-06-17T09:30:00", "2024-06-18", "exactly at the open -> next session (strictly after)"),
    ("2024-06-17T09:30:00.000000001", "2024-06-18", "a nanosecond after the open"),
    ("2024-06-17T12:00", "2024-06-18", "in session"),
    ("2024-06-17T16:00", "2024-06-18", "exactly at the close"),
    ("2024-06-17T16:30", "2024-06-18", "after the close"),
    ("2024-06-17T00:00", "2024-06-17", "midnight starts the day"),
    ("2024-06-17T23:59:59", "2024-06-18", "last second of the day"),
    ("2024-06-17", "2024-06-18", "date only = known by 23:59:59"),
    ("2024-06-18T16:30", "2024-06-20", "eve of Juneteenth (Wednesday) -> Thursday"),
    ("2025-06-18T16:30", "2025-06-20", "eve of Juneteenth (Thursday) -> Friday"),
    ("2024-06-15T10:00", "2024-06-17", "Saturday -> Monday"),
    ("2024-06-16", "2024-06-17", "Sunday, date only -> Monday"),
    ("2024-01-13T10:00", "2024-01-16", "Saturday before MLK day -> Tuesday"),
    ("2024-01-14", "2024-01-16", "Sunday before MLK day -> Tuesday"),
    ("2024-01-15T08:00", "2024-01-16", "pre-market on MLK day -> Tuesday"),
    ("2024-03-28T16:30", "2024-04-01", "Thursday before Good Friday -> Monday"),
    ("2024-03-29T08:00", "2024-04-01", "Good Friday pre-market -> Monday"),
    ("2024-03-29", "2024-04-01", "Good Friday (market_closed) -> Monday"),
    ("2024-11-28T12:00", "2024-11-29", "Thanksgiving -> the early-close Friday"),
    ("2024-11-29T09:29:59", "2024-11-29", "early-close Friday opens at 09:30 as usual"),
    ("2024-11-29T09:30", "2024-12-02", "early-close Friday: exactly at the open -> Monday"),
    ("2024-11-29T14:00", "2024-12-02", "after the 13:00 early close -> Monday"),
    ("2024-07-03T08:00", "2024-07-03", "July 3 early close still opens at 09:30"),
    ("2024-07-03T16:00", "2024-07-05", "after July 3 2024 -> Friday July 5"),
    ("2025-07-03T13:30", "2025-07-07", "after July 3 2025 -> Monday July 7"),
    ("2024-12-24T12:00", "2024-12-26", "Christmas Eve in session -> Dec 26"),
    ("2024-12-25", "2024-12-26", "Christmas -> Dec 26"),
    ("2024-12-31T16:30", "2025-01-02", "New Year's Eve after close -> Jan 2"),
    ("2025-01-01T10:00", "2025-01-02", "New Year's Day -> Jan 2"),
    ("2025-01-08T16:30", "2025-01-10", "eve of the 2025-01-09 closure -> Jan 10"),
    ("2025-01-09T09:00", "2025-01-10", "day of mourning pre-market -> Jan 10"),
    # DST, spring forward (Sunday 2024-03-10): 02:30 does not exist in New York.
    ("2024-03-10T02:30", "2024-03-11", "spring-forward gap -> Monday"),
    ("2024-03-11T13:29:59Z", "2024-03-11", "09:29:59 EDT"),
    ("2024-03-11T13:30:00Z", "2024-03-12", "09:30 EDT = 13:30Z, the first EDT open"),
    ("2024-03-08T14:29:59Z", "2024-03-08", "Friday before: 09:29:59 EST"),
    ("2024-03-08T13:30:00Z", "2024-03-08", "Friday before: 08:30 EST"),
    ("2024-03-11T09:15:00-05:00", "2024-03-12", "stale EST offset on Monday = 10:15 EDT"),
    # DST, fall back (Sunday 2024-11-03).
    ("2024-11-03T01:30", "2024-11-04", "ambiguous 01:30 -> Monday"),
    ("2024-11-01T13:29:59Z", "2024-11-01", "Friday before: 09:29:59 EDT"),
    ("2024-11-01T13:30:00Z", "2024-11-04", "Friday before: 09:30 EDT exactly"),
    ("2024-11-04T13:30:00Z", "2024-11-04", "Monday 08:30 EST"),
    ("2024-11-04T14:30:00Z", "2024-11-05", "Monday 09:30 EST = 14:30Z"),
    ("2024-11-04T09:45:00-04:00", "2024-11-04", "stale EDT offset on Monday = 08:45 EST"),
    # Other zones.
    ("2024-06-17T13:29:59+00:00", "2024-06-17", "UTC, summer: open is 13:30Z"),
    ("2024-06-17T13:30:00Z", "2024-06-18", "UTC at the summer open"),
    ("2024-01-08T14:29:59Z", "2024-01-08", "UTC, winter: open is 14:30Z"),
    ("2024-01-08T14:30:00+00:00", "2024-01-09", "UTC at the winter open"),
    ("2024-06-17T22:00+09:00", "2024-06-17", "Seoul Monday 22:00 = Monday 09:00 EDT"),
    ("2024-06-17T22:30+09:00", "2024-06-18", "Seoul Monday 22:30 = the EDT open"),
    ("2024-06-17T23:30+09:00", "2024-06-18", "Seoul Monday 23:30 = Monday 10:30 EDT"),
    ("2024-01-08T23:00+09:00", "2024-01-08", "Seoul Monday 23:00 = Monday 09:00 EST"),
    ("2024-01-08T23:30+09:00", "2024-01-09", "Seoul Monday 23:30 = the EST open"),
    ("2024-06-18T08:00+09:00", "2024-06-18", "Seoul Tuesday morning = Monday 19:00 EDT"),
    ("2024-06-17T15:29+02:00", "2024-06-17", "Paris summer, 09:29 EDT"),
    ("2024-06-17T15:30+02:00", "2024-06-18", "Paris summer, 09:30 EDT"),
    ("2024-03-12T14:29+01:00", "2024-03-12", "Paris winter vs New York EDT: 09:29 EDT"),
    ("2024-03-12T14:30+01:00", "2024-03-13", "Paris winter vs New York EDT: 09:30 EDT"),
    ("2024-01-08T15:29:59+01:00", "2024-01-08", "Paris winter, 09:29:59 EST"),
    ("2024-06-17T06:29:59-07:00", "2024-06-17", "California, 09:29:59 EDT"),
    ("2024-06-14T23:00-07:00", "2024-06-17", "California Friday night = Saturday 02:00 EDT"),
]


@pytest.mark.parametrize(("known_at", "entry", "why"), NAMED, ids=[c[0] for c in NAMED])
def test_named_cases(known_at, entry, why):
    assert entry_of(known_at) == date.fromisoformat(entry), why
    # the independent model gives the same answer
    assert expected_entry(parse_known_at(known_at).to_pydatetime()) == date.fromisoformat(entry)


def test_several_events_map_to_one_session():
    stamps = [
        "2024-03-28T09:30",  # Thursday at the open
        "2024-03-28T16:30",  # Thursday after close
        "2024-03-29",  # Good Friday
        "2024-03-30T11:00+09:00",  # Saturday in Seoul
        "2024-03-31T23:59:59Z",  # Sunday night UTC
        "2024-04-01T08:00",  # Monday pre-market
        "2024-04-01T13:29:59Z",  # Monday 09:29:59 EDT
    ]
    entries = entry_sessions([parse_known_at(s) for s in stamps])
    assert entries == [pd.Timestamp("2024-04-01")] * len(stamps)
    assert entry_sessions([parse_known_at("2024-04-01T13:30:00Z")]) == [pd.Timestamp("2024-04-02")]


def test_entry_sessions_preserves_order_and_length():
    stamps = [parse_known_at(s) for s in ("2024-06-20T12:00", "2024-06-14T08:00", "2024-06-17")]
    assert entry_sessions(stamps) == [
        pd.Timestamp("2024-06-21"),
        pd.Timestamp("2024-06-14"),
        pd.Timestamp("2024-06-18"),
    ]
    assert entry_sessions([]) == []


def test_entry_sessions_return_naive_session_labels():
    (entry,) = entry_sessions([parse_known_at("2024-06-17T08:00")])
    assert entry.tzinfo is None
    assert entry == entry.normalize()


def test_entry_sessions_accepts_datetimes_and_timestamps_alike():
    instant = datetime(2024, 6, 17, 9, 0, tzinfo=NY)
    assert entry_sessions([instant]) == entry_sessions([pd.Timestamp(instant)])


def test_naive_known_at_is_an_error():
    with pytest.raises(DataError, match="no time zone"):
        entry_sessions([pd.Timestamp("2024-06-17 08:00")])


def test_known_at_beyond_the_calendar_gives_none():
    last = nyse().last_session
    after_last_open = session_open(last) + pd.Timedelta(minutes=1)
    assert entry_sessions([after_last_open]) == [None]
    assert entry_sessions([session_open(last) - pd.Timedelta(seconds=1)]) == [last]


def test_known_at_before_the_calendar_gives_its_first_session():
    first = nyse().first_session
    assert entry_sessions([pd.Timestamp("1980-01-01", tz=NY)]) == [first]


# --- sessions_between ----------------------------------------------------------------------------


def test_sessions_between_is_inclusive_and_skips_closures():
    got = sessions_between(pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-13"))
    assert list(got.strftime("%Y-%m-%d")) == [
        "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13",
    ]  # fmt: skip
    assert got.name == "session"
    assert str(got.dtype) == "datetime64[ns]"


def test_sessions_between_normalises_times_and_handles_empty_ranges():
    got = sessions_between(pd.Timestamp("2024-03-28 15:00"), pd.Timestamp("2024-04-01 01:00"))
    assert list(got) == [pd.Timestamp("2024-03-28"), pd.Timestamp("2024-04-01")]
    assert len(sessions_between(pd.Timestamp("2024-03-29"), pd.Timestamp("2024-03-31"))) == 0
    assert len(sessions_between(pd.Timestamp("2024-04-02"), pd.Timestamp("2024-04-01"))) == 0


def test_sessions_between_clips_to_the_calendar():
    got = sessions_between(pd.Timestamp("1900-01-01"), pd.Timestamp("1990-01-05"))
    assert got[0] == nyse().first_session
    far = sessions_between(pd.Timestamp("2100-01-01"), pd.Timestamp("2100-12-31"))
    assert len(far) == 0


# --- property test -------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [
        NY,
        UTC,
        ZoneInfo("Asia/Seoul"),
        ZoneInfo("Europe/Paris"),
        ZoneInfo("America/Los_Angeles"),
        timezone(timedelta(hours=9)),
        timezone(timedelta(hours=-5)),
        timezone(timedelta(hours=5, minutes=45)),
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2015, 1, 1),
        max_value=datetime(2026, 12, 31, 23, 59, 59),
        timezones=ZONES,
        allow_imaginary=False,
    )
)
def test_property_entry_is_the_first_open_strictly_after(known_at):
    stamp = pd.Timestamp(known_at)
    (entry,) = entry_sessions([stamp])
    assert entry is not None
    window = sessions_between(entry - pd.Timedelta(days=14), entry)
    assert window[-1] == entry, "entry is a session"
    entry_open = datetime.combine(entry.date(), time(9, 30), NY)
    previous_open = datetime.combine(window[-2].date(), time(9, 30), NY)
    assert entry_open > known_at
    # opens are increasing, so no open in (known_at, entry_open) <=> the one before is <= known_at
    assert previous_open <= known_at
    assert entry_open - known_at <= timedelta(days=7)
