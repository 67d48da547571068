"""Events: ``known_at`` parsing, events-CSV validation and the bundled calendar."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from clitools import one_line

from data.errors import DataError
from data.events import (
    COUNTER_CATEGORIES,
    ROTATION_ON_CATEGORIES,
    Event,
    EventCalendar,
    known_at_from_report,
    load_events,
    parse_events_csv,
    parse_known_at,
)

NY = ZoneInfo("America/New_York")


# --- parse_known_at ------------------------------------------------------------------------------

ACCEPTED = [
    # date only: known by the end of the day, New York
    ("2024-01-02", datetime(2024, 1, 2, 23, 59, 59, tzinfo=NY), -5),
    ("2024-07-02", datetime(2024, 7, 2, 23, 59, 59, tzinfo=NY), -4),
    ("2024-02-29", datetime(2024, 2, 29, 23, 59, 59, tzinfo=NY), -5),
    ("2024-03-10", datetime(2024, 3, 10, 23, 59, 59, tzinfo=NY), -4),
    ("2024-11-03", datetime(2024, 11, 3, 23, 59, 59, tzinfo=NY), -5),
    # naive date and time: New York wall time
    ("2024-01-02T08:00", datetime(2024, 1, 2, 8, 0, tzinfo=NY), -5),
    ("2024-01-02 08:00", datetime(2024, 1, 2, 8, 0, tzinfo=NY), -5),
    ("2024-01-02T08:00:07", datetime(2024, 1, 2, 8, 0, 7, tzinfo=NY), -5),
    ("2024-01-02T08:00:07.25", datetime(2024, 1, 2, 8, 0, 7, 250000, tzinfo=NY), -5),
    ("2024-07-02T16:30:00", datetime(2024, 7, 2, 16, 30, tzinfo=NY), -4),
    ("  2024-07-02T16:30  ", datetime(2024, 7, 2, 16, 30, tzinfo=NY), -4),
    # spring forward: 02:00-02:59:59 do not exist -> 03:00 EDT
    ("2024-03-10T02:00", datetime(2024, 3, 10, 3, 0, tzinfo=NY), -4),
    ("2024-03-10T02:30", datetime(2024, 3, 10, 3, 0, tzinfo=NY), -4),
    ("2024-03-10T02:59:59", datetime(2024, 3, 10, 3, 0, tzinfo=NY), -4),
    ("2024-03-10T01:59:59", datetime(2024, 3, 10, 1, 59, 59, tzinfo=NY), -5),
    ("2024-03-10T03:00", datetime(2024, 3, 10, 3, 0, tzinfo=NY), -4),
    # fall back: 01:00-01:59:59 happen twice -> the later (EST) one
    ("2024-11-03T01:30", datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NY), -5),
    ("2024-11-03T01:00", datetime(2024, 11, 3, 1, 0, fold=1, tzinfo=NY), -5),
    ("2024-11-03T00:59:59", datetime(2024, 11, 3, 0, 59, 59, tzinfo=NY), -4),
    ("2024-11-03T02:00", datetime(2024, 11, 3, 2, 0, tzinfo=NY), -5),
    # with an offset: taken as is
    ("2024-01-02T08:00Z", datetime(2024, 1, 2, 8, 0, tzinfo=UTC), 0),
    ("2024-01-02T08:00:00+00:00", datetime(2024, 1, 2, 8, 0, tzinfo=UTC), 0),
    ("2024-01-02T22:00+09:00", datetime(2024, 1, 2, 13, 0, tzinfo=UTC), 9),
    ("2024-01-02T22:00+0900", datetime(2024, 1, 2, 13, 0, tzinfo=UTC), 9),
    ("2024-01-02 08:00-04:00", datetime(2024, 1, 2, 12, 0, tzinfo=UTC), -4),
    ("2024-03-10T02:30-05:00", datetime(2024, 3, 10, 7, 30, tzinfo=UTC), -5),
]


@pytest.mark.parametrize(
    ("text", "instant", "offset_hours"), ACCEPTED, ids=[a[0] for a in ACCEPTED]
)
def test_parse_known_at_accepts(text, instant, offset_hours):
    stamp = parse_known_at(text)
    assert isinstance(stamp, pd.Timestamp)
    assert stamp.tzinfo is not None
    assert stamp == pd.Timestamp(instant)
    assert stamp.utcoffset() == timedelta(hours=offset_hours)


def test_parse_known_at_keeps_wall_time_in_new_york():
    stamp = parse_known_at("2024-11-03T01:30")
    assert (stamp.hour, stamp.minute) == (1, 30)
    assert str(stamp.tz) == "America/New_York"


REJECTED = [
    ("garbage", "not an ISO 8601 timestamp"),
    ("", "not an ISO 8601 timestamp"),
    ("   ", "not an ISO 8601 timestamp"),
    ("2024-13-01", "not a valid date or time"),
    ("2024-02-30", "not a valid date or time"),
    ("2023-02-29", "not a valid date or time"),
    ("2024-00-10", "not a valid date or time"),
    ("2024-01-02T24:00", "not a valid date or time"),
    ("2024-01-02T10:60", "not a valid date or time"),
    ("2024-01-02T10:00+25:00", "not a valid date or time"),
    ("10:00", "not an ISO 8601 timestamp"),
    ("T10:00", "not an ISO 8601 timestamp"),
    ("2024-01-02T10", "not an ISO 8601 timestamp"),
    ("2024-01-02T10:00 junk", "not an ISO 8601 timestamp"),
    ("2024-01-02T10:00+09:00x", "not an ISO 8601 timestamp"),
    ("2024-01-02T10:00 EST", "not an ISO 8601 timestamp"),
    ("2024-01-02x", "not an ISO 8601 timestamp"),
    ("2024/01/02", "not an ISO 8601 timestamp"),
    ("02/01/2024", "not an ISO 8601 timestamp"),
    ("2024-1-2", "not an ISO 8601 timestamp"),
    ("20240102", "not an ISO 8601 timestamp"),
    ("2024-01-02+09:00", "not an ISO 8601 timestamp"),
]


@pytest.mark.parametrize(("text", "reason"), REJECTED, ids=[r[0] or "<empty>" for r in REJECTED])
def test_parse_known_at_rejects(text, reason):
    with pytest.raises(ValueError, match=reason) as exc_info:
        parse_known_at(text)
    one_line(exc_info)


# --- events CSV ----------------------------------------------------------------------------------


def parse(text: str, path: str = "events.csv") -> tuple[Event, ...]:
    return parse_events_csv(text, path)


@pytest.mark.parametrize(("raw", "direction"), [("+1", 1), ("1", 1), (" +1 ", 1), ("-1", -1)])
def test_direction_accepted(raw, direction):
    (event,) = parse(f"known_at,direction\n2024-01-02,{raw}\n")
    assert event.direction == direction
    assert isinstance(event.direction, int)


@pytest.mark.parametrize("raw", ["0", "2", "-2", "up", "down", "", "+", "1-", "+-1", "one"])
def test_direction_rejected(raw):
    with pytest.raises(DataError) as exc_info:
        parse(f"known_at,direction\n2024-01-02,{raw}\n")
    message = one_line(exc_info)
    assert "events.csv, line 2, column 'direction'" in message
    assert repr(raw) in message
    assert "+1" in message and "-1" in message


def test_minimal_file_and_defaults():
    events = parse("known_at,direction\n2024-01-02T08:00,+1\n2024-01-03,-1\n")
    assert [e.id for e in events] == ["line-2", "line-3"]
    assert [e.category for e in events] == ["uncategorised", "uncategorised"]
    assert events[0].known_at == pd.Timestamp("2024-01-02 08:00", tz=NY)
    assert events[0].headline == "" and events[0].companies == () and events[0].source == ""


def test_all_optional_columns_are_read():
    text = (
        "id,known_at,direction,category,headline,companies,source\n"
        'e1,2024-01-02T08:00,+1, Capex_Cut ,"Meta cuts capex, again", META; MSFT ;,Reuters\n'
    )
    (event,) = parse(text)
    assert event == Event(
        id="e1",
        known_at=pd.Timestamp("2024-01-02 08:00", tz=NY),
        direction=1,
        category="capex_cut",
        headline="Meta cuts capex, again",
        companies=("META", "MSFT"),
        source="Reuters",
    )


def test_header_is_case_and_space_insensitive_and_column_order_free():
    (event,) = parse(" Direction , KNOWN_AT ,Id\n-1,2024-01-02,x\n")
    assert (event.id, event.direction) == ("x", -1)


def test_extra_unrelated_columns_are_ignored():
    text = (
        "id,known_at,direction,reported_date,session,time_of_day,reaction,confidence,notes\n"
        "a,2024-01-02,+1,2024-01-02,unknown,whenever,big,high,free text\n"
    )
    (event,) = parse(text)
    assert event.id == "a"


def test_blank_lines_are_skipped_and_line_numbers_stay_physical():
    text = "\nknown_at,direction\n\n2024-01-02,+1\n,\n2024-01-03,bad\n"
    with pytest.raises(DataError) as exc_info:
        parse(text)
    assert "events.csv, line 6, column 'direction'" in one_line(exc_info)


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("known_at,category", ["'direction'"]),
        ("direction,headline", ["'known_at'"]),
        ("id,headline", ["'known_at'", "'direction'"]),
        ("knownat,direction", ["'known_at'"]),
    ],
)
def test_missing_required_columns(header, missing):
    with pytest.raises(DataError) as exc_info:
        parse(f"{header}\nx,y\n", "my/events.csv")
    message = one_line(exc_info)
    assert message.startswith("my/events.csv: missing column")
    for name in missing:
        assert name in message
    assert f"found {header.replace(',', ', ')}" in message
    assert "known_at and direction" in message


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("headlines", "headline"), ("categroy", "category"), ("sources", "source")],
)
def test_misspelt_optional_column_suggests_the_right_name(wrong, right):
    with pytest.raises(DataError) as exc_info:
        parse(f"known_at,direction,{wrong}\n2024-01-02,+1,x\n", "ev.csv")
    message = one_line(exc_info)
    assert f"ev.csv: unknown column {wrong!r}; did you mean {right!r}?" == message


def test_present_optional_column_is_not_suggested_again():
    # 'headlines' next to 'headline' is an unrelated extra column, not a typo
    (event,) = parse("known_at,direction,headline,headlines\n2024-01-02,+1,a,b\n")
    assert event.headline == "a"


def test_duplicate_ids():
    text = "id,known_at,direction\na,2024-01-02,+1\nb,2024-01-03,+1\na,2024-01-04,-1\n"
    with pytest.raises(DataError) as exc_info:
        parse(text)
    message = one_line(exc_info)
    assert message == "events.csv, line 4, column 'id': id 'a' already used at line 2"


def test_blank_id_falls_back_to_line_number():
    events = parse("id,known_at,direction\n,2024-01-02,+1\n  ,2024-01-03,+1\n")
    assert [e.id for e in events] == ["line-2", "line-3"]


@pytest.mark.parametrize("row", ["2024-01-02", "2024-01-02,+1,extra", "2024-01-02,+1,,"])
def test_wrong_field_count(row):
    with pytest.raises(DataError) as exc_info:
        parse(f"known_at,direction\n2024-01-03,+1\n{row}\n")
    message = one_line(exc_info)
    n = len(row.split(","))
    assert message == f"events.csv, line 3: {n} fields, header has 2"


def test_bad_known_at_names_file_line_column_and_value():
    with pytest.raises(DataError) as exc_info:
        parse("id,known_at,direction\na,2024-01-02,+1\nb,2024-02-30,+1\n", "cal.csv")
    message = one_line(exc_info)
    assert message.startswith("cal.csv, line 3, column 'known_at': '2024-02-30' is not a valid")


def test_every_bad_row_is_counted():
    text = (
        "id,known_at,direction\n"
        "ok1,2024-01-02,+1\n"
        "b1,yesterday,+1\n"  # line 3: bad known_at
        "b2,2024-01-03,up\n"  # line 4: bad direction
        "ok1,2024-01-04,+1\n"  # line 5: duplicate id
        "b4,2024-01-05\n"  # line 6: wrong field count
        "ok2,2024-01-06,-1\n"
        "b5,2024-13-01,+1\n"  # line 8: bad date
    )
    with pytest.raises(DataError) as exc_info:
        parse(text, "data/events.csv")
    message = one_line(exc_info)
    assert message.startswith("data/events.csv, line 3, column 'known_at': 'yesterday' is not")
    assert message.endswith("(and 4 more problem rows)")


def test_a_single_bad_row_has_no_count():
    with pytest.raises(DataError) as exc_info:
        parse("known_at,direction\n2024-01-02,+1\n2024-01-03,0\n")
    assert "more problem" not in one_line(exc_info)


def test_embedded_newline_in_a_value_stays_on_one_line():
    with pytest.raises(DataError) as exc_info:
        parse('known_at,direction\n"2024-01-02\nnoon",+1\n')
    assert "column 'known_at'" in one_line(exc_info)


@pytest.mark.parametrize("text", ["", "\n", "\n\n  \n", ",,\n"])
def test_empty_file(text):
    with pytest.raises(DataError) as exc_info:
        parse(text, "empty.csv")
    message = one_line(exc_info)
    assert message == "empty.csv is empty; expected a header with known_at,direction"


@pytest.mark.parametrize(
    "text", ["known_at,direction\n", "known_at,direction", "id,known_at,direction\n\n"]
)
def test_header_only_file(text):
    with pytest.raises(DataError) as exc_info:
        parse(text, "head.csv")
    assert one_line(exc_info) == "head.csv has a header but no events"


# --- load_events (files) -------------------------------------------------------------------------


def test_load_events_from_a_file_with_bom_and_crlf(tmp_path):
    path = tmp_path / "ev.csv"
    raw = "\ufeffid,known_at,direction\r\na,2024-01-02T08:00,+1\r\nb,2024-01-03,-1\r\n"
    path.write_bytes(raw.encode("utf-8"))
    cal = load_events(path)
    assert isinstance(cal, EventCalendar)
    assert len(cal) == 2
    assert [e.id for e in cal.events] == ["a", "b"]
    assert cal.path == str(path)
    assert cal.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cal.categories == ("uncategorised",)


def test_load_events_line_numbers_in_a_file(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("known_at,direction\n2024-01-02,+1\n2024-01-03,+2\n", encoding="utf-8")
    with pytest.raises(DataError) as exc_info:
        load_events(path)
    message = one_line(exc_info)
    assert str(path) in message
    assert "line 3, column 'direction'" in message


def test_load_events_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as exc_info:
        load_events(path)
    message = one_line(exc_info)
    assert str(path) in message and "does not exist" in message and "--events" in message


def test_load_events_directory_is_an_error(tmp_path):
    with pytest.raises(DataError) as exc_info:
        load_events(tmp_path)
    message = one_line(exc_info)
    assert str(tmp_path) in message and "is a folder, not a file" in message


def test_load_events_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("known_at,direction,headline\n2024-01-02,+1,Société\n".encode("latin-1"))
    with pytest.raises(DataError) as exc_info:
        load_events(path)
    message = one_line(exc_info)
    assert str(path) in message and "not UTF-8" in message


def test_load_events_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="is empty") as exc_info:
        load_events(path)
    assert str(path) in one_line(exc_info)


# --- the bundled calendar ------------------------------------------------------------------------


def bundled_rows() -> list[dict[str, str]]:
    text = resources.files("data").joinpath("capex_events.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_bundled_calendar_has_60_valid_events():
    cal = load_events()
    assert len(cal) == 60
    assert cal.path == "<bundled>/capex_events.csv"
    raw = resources.files("data").joinpath("capex_events.csv").read_bytes()
    assert cal.sha256 == hashlib.sha256(raw).hexdigest()
    ids = [e.id for e in cal.events]
    assert len(set(ids)) == 60
    assert set(cal.categories) == set(ROTATION_ON_CATEGORIES) | set(COUNTER_CATEGORIES)
    for event in cal.events:
        assert event.known_at.tzinfo is not None, event.id
        assert event.headline, event.id
        assert event.companies, event.id
        assert event.source, event.id
        expected = 1 if event.category in ROTATION_ON_CATEGORIES else -1
        assert event.category in ROTATION_ON_CATEGORIES + COUNTER_CATEGORIES, event.id
        assert event.direction == expected, event.id


def test_bundled_calendar_matches_the_reference_row_by_row(shared_news_events):
    with shared_news_events.open(encoding="utf-8-sig", newline="") as handle:
        reference = list(csv.DictReader(handle))
    cal = load_events()
    rows = bundled_rows()
    assert len(reference) == len(rows) == len(cal) == 60
    for n, (ref, row, event) in enumerate(zip(reference, rows, cal.events, strict=True), start=2):
        regenerated = known_at_from_report(ref["date"], ref["time_of_day"], ref["session"])
        assert row["known_at"] == regenerated, f"reference line {n}: {ref['headline']}"
        assert event.known_at == parse_known_at(regenerated), f"reference line {n}"
        # the news day in New York is the reported date (date-only -> 23:59:59 that day)
        assert event.known_at.tz_convert(NY).date().isoformat() == ref["date"], n
        assert event.headline == ref["headline"], n
        assert event.category == ref["category"], n
        assert event.direction == int(ref["direction"]), n
        assert event.source == ref["source"].strip(), n
        assert row["session"] == ref["session"] and row["time_of_day"] == ref["time_of_day"], n


def test_bundled_session_rules_hold():
    for event, row in zip(load_events().events, bundled_rows(), strict=True):
        local = event.known_at.tz_convert(NY)
        session = row["session"]
        if session in ("market_closed", "unknown"):
            assert (local.hour, local.minute, local.second) == (23, 59, 59), event.id
        elif session == "pre_market":
            assert local.hour * 60 + local.minute < 9 * 60 + 30, event.id
        elif session == "during_session":
            assert 9 * 60 + 30 < local.hour * 60 + local.minute < 16 * 60, event.id
        else:
            assert session == "after_close", event.id
            assert local.hour >= 16, event.id


def test_filter_categories():
    cal = load_events()
    assert cal.filter_categories([]) is cal
    assert cal.filter_categories(()) is cal
    cut = cal.filter_categories(["capex_cut"])
    assert len(cut) > 0
    assert {e.category for e in cut.events} == {"capex_cut"}
    assert cut.path == cal.path and cut.sha256 == cal.sha256 and cut.categories == cal.categories
    on = cal.filter_categories(list(ROTATION_ON_CATEGORIES))
    counter = cal.filter_categories(COUNTER_CATEGORIES)
    assert len(on) + len(counter) == 60
    assert all(e.direction == 1 for e in on.events)
    assert all(e.direction == -1 for e in counter.events)
    # file order is kept
    order = {e.id: k for k, e in enumerate(cal.events)}
    assert [order[e.id] for e in on.events] == sorted(order[e.id] for e in on.events)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("capex_cuts", "capex_cut"),
        ("custom-silicon", "custom_silicon"),
        ("mega_orders", "mega_order"),
        ("efficiency", "efficiency_breakthrough"),
    ],
)
def test_filter_unknown_category_suggests_the_closest(name, hint):
    with pytest.raises(DataError) as exc_info:
        load_events().filter_categories(["capex_cut", name])
    message = one_line(exc_info)
    assert message.startswith("events.categories: no event in <bundled>/capex_events.csv")
    assert repr(name) in message
    assert f"did you mean {hint!r}?" in message
    assert "capex_raise" in message  # lists what is there


def test_filter_unknown_category_without_a_close_match():
    with pytest.raises(DataError) as exc_info:
        load_events().filter_categories(["zzz"])
    message = one_line(exc_info)
    assert "'zzz'" in message and "did you mean" not in message


# --- known_at_from_report ------------------------------------------------------------------------

REPORT_RULES = [
    # defaults by session
    ("2024-01-10", "", "pre_market", "2024-01-10T08:00:00-05:00"),
    ("2024-01-10", "before the open", "pre_market", "2024-01-10T08:00:00-05:00"),
    ("2024-01-10", "during US day", "during_session", "2024-01-10T12:00:00-05:00"),
    ("2024-01-10", "afternoon", "after_close", "2024-01-10T16:30:00-05:00"),
    ("2024-07-10", "", "after_close", "2024-07-10T16:30:00-04:00"),
    # 'after 16:00 ET' bounds the hour, it does not name it
    ("2024-01-10", "after 16:00 ET (earnings)", "after_close", "2024-01-10T16:30:00-05:00"),
    ("2024-01-10", "After 16:00 ET", "after_close", "2024-01-10T16:30:00-05:00"),
    ("2024-01-10", "after  16:05 ET", "after_close", "2024-01-10T16:30:00-05:00"),
    ("2024-01-10", "before 09:30 ET", "pre_market", "2024-01-10T08:00:00-05:00"),
    # a named hour is used
    ("2025-10-06", "07:00 ET press release", "pre_market", "2025-10-06T07:00:00-04:00"),
    ("2026-02-24", "before the open (~08:00 ET)", "pre_market", "2026-02-24T08:00:00-05:00"),
    ("2024-01-10", "~07:45 ET", "pre_market", "2024-01-10T07:45:00-05:00"),
    ("2024-01-10", "7:15 ET wire", "pre_market", "2024-01-10T07:15:00-05:00"),
    ("2024-01-10", "14:05ET blog post", "during_session", "2024-01-10T14:05:00-05:00"),
    ("2024-01-10", "16:05 ET release", "after_close", "2024-01-10T16:05:00-05:00"),
    ("2024-01-10", "after 16:00 ET; call at 17:00 ET", "after_close", "2024-01-10T17:00:00-05:00"),
    # a time that is not ET is not an hour we can use
    ("2024-01-10", "Seoul 15:00 KST", "pre_market", "2024-01-10T08:00:00-05:00"),
    ("2024-01-10", "at 10:30", "during_session", "2024-01-10T12:00:00-05:00"),
    # closed market or unknown hour: the date alone (end of that day)
    ("2024-03-29", "Good Friday 07:00 ET", "market_closed", "2024-03-29"),
    ("2024-01-10", "unknown (Tuesday)", "unknown", "2024-01-10"),
]


@pytest.mark.parametrize(
    ("day", "time_of_day", "session", "expected"),
    REPORT_RULES,
    ids=[f"{r[2]}:{r[1] or '-'}" for r in REPORT_RULES],
)
def test_known_at_from_report(day, time_of_day, session, expected):
    result = known_at_from_report(day, time_of_day, session)
    assert result == expected
    parse_known_at(result)  # always something the events file accepts


def test_known_at_from_report_rejects_an_unknown_session():
    with pytest.raises(ValueError, match="unknown session 'premarket'"):
        known_at_from_report("2024-01-10", "", "premarket")
