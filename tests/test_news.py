"""News ingestion: CSV, JSON Lines, RSS 2.0 and Atom; bad rows with file and line; no network."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from clitools import one_line

from data.errors import DataError
from data.news.feeds import load_news, read_news_file, sort_news

DATA = Path(__file__).parent / "data"
NY = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a connection fails the test (feeds must never be fetched)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_rows_and_timestamps():
    items, bad = read_news_file(DATA / "news_sample.csv")
    assert bad == []
    sources = ["Bloomberg", "Reuters", "Reuters", "The Information", "Reuters"]
    assert [i.source for i in items] == sources
    # with an offset: as is; naive: New York wall time; a date alone: end of that day, New York
    assert items[0].published_at == pd.Timestamp("2026-07-01T07:40:00-04:00")
    assert items[1].published_at == pd.Timestamp(datetime(2026, 7, 1, 8, 5, tzinfo=NY))
    assert items[3].published_at == pd.Timestamp(datetime(2026, 7, 2, 23, 59, 59, tzinfo=NY))
    assert items[1].tickers == ("META", "MU")
    assert items[0].url == "https://example.com/a"
    assert items[0].origin == "news_sample.csv, line 2"


def test_csv_header_is_case_insensitive_bom_and_extra_columns(tmp_path):
    path = tmp_path / "h.csv"
    text = "\ufeffHeadline , Published_At,Extra\nMeta to sell spare compute,2026-07-01T08:00,x\n"
    path.write_bytes(text.encode())
    items, bad = read_news_file(path)
    assert bad == [] and items[0].headline == "Meta to sell spare compute"
    assert items[0].label == "h.csv, line 2"  # no source column: where it was read


def test_csv_missing_column_is_a_file_error(tmp_path):
    path = write(tmp_path, "n.csv", "date,title\n2026-07-01,Meta\n")
    with pytest.raises(DataError) as exc:
        read_news_file(path)
    message = one_line(exc)
    assert "n.csv" in message and "'published_at', 'headline'" in message


BAD_CSV = (
    "published_at,headline,source\n"
    "2026-07-01T08:00,Meta to sell surplus AI compute,Bloomberg\n"
    ",Anthropic to build custom AI chip,Reuters\n"  # line 3: no timestamp
    "2026-07-01T09:00,   ,Reuters\n"  # line 4: empty headline
    "2026-13-01,Microsoft cancels data center leases,Reuters\n"  # line 5: bad date
    "2026-07-02T09:00,Alphabet raises capex,Reuters,extra\n"  # line 6: field count
    "2026-07-03T09:00,Meta cuts capex,Reuters\n"
)


def test_csv_bad_rows_name_file_line_and_column(tmp_path):
    path = write(tmp_path, "bad.csv", BAD_CSV)
    items, bad = read_news_file(path)
    assert len(items) == 2
    assert [(b.line, b.column) for b in bad] == [
        (3, "published_at"),
        (4, "headline"),
        (5, "published_at"),
        (6, None),
    ]
    assert "no timestamp" in str(bad[0]) and "empty headline" in str(bad[1])
    assert "'2026-13-01'" in str(bad[2]) and "4 fields, header has 3" in str(bad[3])


def test_bad_rows_fail_without_skip_bad(tmp_path):
    path = write(tmp_path, "bad.csv", BAD_CSV)
    with pytest.raises(DataError) as exc:
        load_news([path])
    message = one_line(exc)
    assert "bad.csv, line 3, column 'published_at': no timestamp" in message
    assert "and 3 more bad rows" in message and "--skip-bad" in message


def test_skip_bad_keeps_the_good_rows_and_counts_the_bad(tmp_path):
    path = write(tmp_path, "bad.csv", BAD_CSV)
    batch = load_news([path], skip_bad=True)
    assert [i.headline for i in batch.items] == [
        "Meta to sell surplus AI compute",
        "Meta cuts capex",
    ]
    assert len(batch.bad_rows) == 4


# --- JSON Lines ----------------------------------------------------------------------------------


def test_jsonl_rows():
    items, bad = read_news_file(DATA / "news_sample.jsonl")
    assert bad == []
    assert len(items) == 3
    assert items[0].published_at == pd.Timestamp("2026-07-01T12:05:00Z")
    assert items[0].tickers == ("META",)
    assert items[1].origin == "news_sample.jsonl, line 3"  # blank line 2 is skipped


def test_jsonl_bad_lines(tmp_path):
    path = write(
        tmp_path,
        "feed.jsonl",
        '{"published_at": "2026-07-01T08:00", "headline": "Meta to sell spare compute"}\n'
        '{"published_at": "2026-07-01T08:00", "headline": \n'
        '["not", "an", "object"]\n'
        '{"headline": "Meta to sell spare compute"}\n'
        '{"published_at": 1751371200, "headline": "epoch seconds"}\n'
        '{"published_at": "2026-07-01", "headline": "x", "tickers": 5}\n',
    )
    items, bad = read_news_file(path)
    assert len(items) == 1
    assert [(b.line, b.column) for b in bad] == [
        (2, None),
        (3, None),
        (4, "published_at"),
        (5, "published_at"),
        (6, "tickers"),
    ]
    assert "not valid JSON" in str(bad[0]) and "not a JSON object" in str(bad[1])
    assert "no timestamp" in str(bad[2]) and "not an ISO 8601 string" in str(bad[3])


def test_json_array_is_refused_with_a_hint(tmp_path):
    path = write(tmp_path, "feed.json", '[{"published_at": "2026-07-01", "headline": "x"}]')
    with pytest.raises(DataError, match="JSON array; expected JSON Lines"):
        read_news_file(path)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path, separator):
    """JSON allows them raw inside strings: only a newline ends a JSON Lines record."""
    path = write(
        tmp_path,
        "feed.jsonl",
        '{"published_at": "2026-07-01T08:00", '
        f'"headline": "Meta to sell{separator}spare compute"}}\n'
        '{"published_at": "2026-07-01T09:00", "headline": "second"}\r\n'
        "broken\n",
    )
    items, bad = read_news_file(path)
    assert [i.headline for i in items] == ["Meta to sell spare compute", "second"]
    assert [i.origin for i in items] == ["feed.jsonl, line 1", "feed.jsonl, line 2"]
    assert [(b.line, b.column) for b in bad] == [(3, None)]


@pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x1c"])
def test_jsonl_raw_control_characters_are_one_bad_row_at_their_line(tmp_path, control):
    """JSON forbids raw control characters in strings; they no longer split the line either,
    so the rows after keep their line numbers."""
    path = write(
        tmp_path,
        "feed.jsonl",
        f'{{"published_at": "2026-07-01T08:00", "headline": "a{control}b"}}\n'
        '{"published_at": "2026-07-01T09:00", "headline": "second"}\n',
    )
    items, bad = read_news_file(path)
    assert [i.origin for i in items] == ["feed.jsonl, line 2"]
    assert [(b.line, b.column) for b in bad] == [(1, None)]
    assert "control character" in str(bad[0])


def test_csv_cells_may_hold_unicode_line_separators(tmp_path):
    path = write(
        tmp_path,
        "feed.csv",
        "published_at,headline\n2026-07-01T08:00,Meta to sell\u2028spare\x85compute\n"
        "2026-07-01T09:00,second\n",
    )
    items, bad = read_news_file(path)
    assert bad == [] and [i.headline for i in items] == ["Meta to sell spare compute", "second"]
    assert items[1].origin == "feed.csv, line 3"


def test_deeply_nested_json_is_a_bad_row_not_a_crash(tmp_path):
    deep = '{"published_at": "2026-07-01", "headline": "x", "extra": ' + "[" * 200_000
    path = write(
        tmp_path, "feed.jsonl", deep + "\n" + '{"published_at": "2026-07-01", "headline": "ok"}\n'
    )
    items, bad = read_news_file(path)
    assert [i.headline for i in items] == ["ok"]
    assert [(b.line, b.column) for b in bad] == [(1, None)]
    assert "nested too deeply" in str(bad[0])
    deep_ok = (
        '{"published_at": "2026-07-01", "headline": "x", "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    )
    path = write(tmp_path, "deep.jsonl", deep_ok + "\n")
    items, bad = read_news_file(path)
    assert len(items) + len(bad) == 1
    assert not items or items[0].headline == "x"
    assert not bad or "nested too deeply" in str(bad[0])


# --- RSS and Atom --------------------------------------------------------------------------------


def test_rss_items():
    items, bad = read_news_file(DATA / "news_sample.rss")
    assert bad == []
    assert [i.headline for i in items] == [
        "Microsoft Cancels Some Data Center Leases, TD Cowen Says",
        "Microsoft denies report it is cancelling data center leases",
        "Amazon unveils new Kindle lineup",
    ]
    assert items[0].published_at == pd.Timestamp("2025-02-21T20:00:00Z")
    assert items[1].published_at == pd.Timestamp("2025-02-24T17:00:00-05:00")
    assert items[0].source == "Wire & Tape"  # the channel's title, entities decoded
    assert items[2].source == "Gadget Desk"  # the item's own <source>
    assert items[0].summary == "Channel checks point to cancelled leases."  # markup removed
    assert [i.origin for i in items] == [
        "news_sample.rss, line 7",
        "news_sample.rss, line 13",
        "news_sample.rss, line 18",
    ]


def test_atom_entries():
    items, bad = read_news_file(DATA / "news_sample.atom")
    assert bad == []
    assert items[0].published_at == pd.Timestamp("2026-03-24T14:00:00-04:00")  # published
    assert items[1].published_at == pd.Timestamp("2026-03-25T10:30:00-04:00")  # else updated
    assert items[1].headline.startswith("Memory stocks slide as Google’s TurboQuant")
    assert items[0].source == "Research Notes"
    assert items[0].url == "https://example.com/turboquant"
    assert [i.origin for i in items] == ["news_sample.atom, line 6", "news_sample.atom, line 13"]


RSS_BAD = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>T</title>
<item><title>Meta to sell spare compute</title>
<pubDate>Wed, 01 Jul 2026 11:45:00 GMT</pubDate></item>
<item><title>No date here</title></item>
<item><title>Bad date</title><pubDate>yesterday</pubDate></item>
<item><title></title><pubDate>Wed, 01 Jul 2026 11:45:00 GMT</pubDate></item>
</channel></rss>
"""


def test_rss_bad_items_have_lines(tmp_path):
    items, bad = read_news_file(write(tmp_path, "f.xml", RSS_BAD))
    assert [i.headline for i in items] == ["Meta to sell spare compute"]
    assert [(b.line, b.column) for b in bad] == [(5, "pubDate"), (6, "pubDate"), (7, "title")]
    assert "'yesterday'" in str(bad[1])


def test_malformed_xml_names_line_and_column(tmp_path):
    text = '<?xml version="1.0"?>\n<rss><channel>\n<item><title>x</item>\n'
    path = write(tmp_path, "broken.rss", text)
    with pytest.raises(DataError) as exc:
        read_news_file(path)
    message = one_line(exc)
    assert "broken.rss, line 3, column" in message and "not well-formed XML" in message


def test_external_dtd_is_never_fetched(tmp_path):
    feed = RSS_BAD.replace(
        '<?xml version="1.0"?>',
        '<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "http://example.invalid/rss.dtd">',
    )
    items, _ = read_news_file(write(tmp_path, "f.rss", feed))  # _no_network would raise
    assert len(items) == 1


def test_xml_that_is_not_a_feed(tmp_path):
    with pytest.raises(DataError, match=r"not an RSS 2\.0 or Atom feed"):
        read_news_file(write(tmp_path, "x.xml", "<?xml version='1.0'?><html><p>hi</p></html>"))


# --- formats, files, order -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"published_at": "2026-07-01", "headline": "a"}\n', 1),
        ("published_at,headline\n2026-07-01,a\n2026-07-02,b\n", 2),
        (RSS_BAD, 1),
    ],
)
def test_unknown_extension_is_sniffed(tmp_path, text, expected):
    items, _ = read_news_file(write(tmp_path, "news.txt", text))
    assert len(items) == expected


def test_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_news_file(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is empty"):
        read_news_file(write(tmp_path, "e.csv", "\n\n"))
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"published_at,headline\n\xff\xfe\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_news_file(binary)
    with pytest.raises(DataError, match="no news file"):
        load_news([])


def test_several_files_in_order_and_sorting():
    batch = load_news([DATA / "news_sample.jsonl", DATA / "news_sample.csv"])
    assert len(batch.items) == 8
    ordered = sort_news(batch.items)
    assert [i.published_at for i in ordered] == sorted(i.published_at for i in batch.items)
    assert ordered[0].source == "Bloomberg"  # 07:40 New York is before 12:05 UTC
