"""Read raw news (headline files) into :class:`NewsItem` rows, point in time.

Formats, chosen by the file's extension (or sniffed from its first character when the
extension says nothing):

- CSV (``.csv``): a header with at least ``published_at`` and ``headline``; optional ``source``,
  ``url``, ``summary``, ``tickers`` (``;``-separated). Other columns are ignored.
- JSON Lines (``.jsonl``, ``.ndjson``, ``.json``): one object per line with the same keys;
  ``tickers`` may be a list or a ``;``-separated string.
- RSS 2.0 and Atom (``.xml``, ``.rss``, ``.atom``), parsed by feedparser: the entry title is the
  headline, ``pubDate`` / ``published`` (else ``updated``) the time, the entry's or the feed's
  title the source.

``published_at`` is ISO 8601, read like an events file's ``known_at``: with an offset as is, a
naive time as New York wall time, a date alone as the end of that day (see
:func:`data.events.parse_known_at`). Feeds may also use RFC 822 dates (``Wed, 01 Jul 2026
11:45:00 GMT``).

A bad row (no timestamp, an unparsable one, an empty headline, a broken JSON line) is reported
with file and line. Files with bad rows are refused unless the caller asks to skip them.
"""

from __future__ import annotations

import functools
import io
import json
import re
import xml.parsers.expat
import xml.sax
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from data.errors import DataError, where
from data.events import parse_known_at
from data.textfiles import csv_rows, decode_text, read_input

_RECORD_ENDS = re.compile(r"\r\n|\r|\n")
NEWS_COLUMNS = ("published_at", "headline", "source", "url", "summary", "tickers")
REQUIRED_NEWS_COLUMNS = ("published_at", "headline")
_FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
}


@dataclass(frozen=True)
class NewsItem:
    """One headline as published: ``published_at`` is tz-aware; ``origin`` says where it was read
    (``file, line N``)."""

    published_at: pd.Timestamp
    headline: str
    source: str = ""
    url: str = ""
    summary: str = ""
    tickers: tuple[str, ...] = ()
    origin: str = ""

    @property
    def label(self) -> str:
        """The source's name, or where the row was read when the file names no source."""
        return self.source or self.origin


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: where it is and why."""

    path: str
    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        return f"{where(self.path, self.line, self.column)}: {self.reason}"


@dataclass(frozen=True)
class NewsBatch:
    """The readable rows of one or more files, in file order, and the rows that were skipped."""

    items: tuple[NewsItem, ...]
    bad_rows: tuple[BadRow, ...]


def load_news(
    paths: Sequence[Path | str],
    skip_bad: bool = False,
    skip_hint: str = "pass --skip-bad to process the other rows",
) -> NewsBatch:
    """Read every file of ``paths`` (format by extension, else sniffed).

    Needs: existing, UTF-8 files. Returns the items of all files in order and the bad rows.
    Raises DataError for an unreadable or empty file, a missing column, or, when ``skip_bad`` is
    false, the first bad row (naming file and line, with the count of the others and
    ``skip_hint``).
    """
    if not paths:
        raise DataError("no news file given; pass one or more CSV, JSON Lines, RSS or Atom files")
    items: list[NewsItem] = []
    bad: list[BadRow] = []
    for path in paths:
        file_items, file_bad = read_news_file(path)
        items.extend(file_items)
        bad.extend(file_bad)
    if bad and not skip_bad:
        others = f" (and {len(bad) - 1} more bad rows)" if len(bad) > 1 else ""
        raise DataError(f"{bad[0]}{others}; {skip_hint}")
    return NewsBatch(tuple(items), tuple(bad))


def read_news_file(path: Path | str) -> tuple[list[NewsItem], list[BadRow]]:
    """Read one news file; return its good rows and its bad rows (file-level problems raise)."""
    file = Path(path)
    raw = read_input(file, "news file")
    kind = _FORMATS.get(file.suffix.lower()) or _sniff(raw)
    if kind == "feed":
        return _read_feed(raw, str(file))
    text = decode_text(raw, file)
    if not text.strip():
        raise DataError(f"{file} is empty; expected a header with published_at,headline")
    return (_read_jsonl if kind == "jsonl" else _read_csv)(text, str(file))


def _sniff(raw: bytes) -> str:
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return {b"<": "feed", b"{": "jsonl"}.get(head, "csv")


def _item(
    fields: dict[str, object],
    path: str,
    line: int | None,
    bad: list[BadRow],
    names: tuple[str, str] = ("published_at", "headline"),
) -> NewsItem | None:
    """Validate one record's fields into a NewsItem, or record why it is bad (``names``: how
    the time and headline fields are called in the file, for the message)."""
    time_name, headline_name = names
    stamp = fields.get("published_at")
    headline = _text(fields.get("headline"))
    if stamp is None or not str(stamp).strip():
        bad.append(BadRow(path, line, time_name, "no timestamp"))
        return None
    if not isinstance(stamp, str):
        bad.append(BadRow(path, line, time_name, f"{stamp!r} is not an ISO 8601 string"))
        return None
    try:
        published = parse_known_at(stamp)
    except ValueError as exc:
        bad.append(BadRow(path, line, time_name, f"{stamp!r} is {exc}"))
        return None
    if not headline:
        bad.append(BadRow(path, line, headline_name, "empty headline"))
        return None
    tickers = fields.get("tickers") or ()
    if isinstance(tickers, str):
        tickers = tickers.replace(",", ";").split(";")
    if not isinstance(tickers, list | tuple):
        bad.append(BadRow(path, line, "tickers", "tickers must be a list or a ';'-separated text"))
        return None
    return NewsItem(
        published_at=published,
        headline=headline,
        source=_text(fields.get("source")),
        url=_text(fields.get("url")),
        summary=_text(fields.get("summary")),
        tickers=tuple(str(t).strip().upper() for t in tickers if str(t).strip()),
        origin=where(_file_name(path), line),
    )


@functools.lru_cache(maxsize=64)
def _file_name(path: str) -> str:
    return Path(path).name


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _read_csv(text: str, path: str) -> tuple[list[NewsItem], list[BadRow]]:
    header: list[str] | None = None
    items: list[NewsItem] = []
    bad: list[BadRow] = []
    for line, row in csv_rows(text):
        if header is None:
            header = [c.strip().lower() for c in row]
            _check_columns(header, path)
            continue
        if len(row) != len(header):
            bad.append(BadRow(path, line, None, f"{len(row)} fields, header has {len(header)}"))
            continue
        item = _item(dict(zip(header, row, strict=True)), path, line, bad)
        if item is not None:
            items.append(item)
    return items, bad


def _check_columns(header: list[str], path: str) -> None:
    missing = [c for c in REQUIRED_NEWS_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}: missing column {', '.join(repr(m) for m in missing)} (found "
            f"{', '.join(header)}); a news file needs published_at and headline, optionally "
            "source, url, summary, tickers"
        )


def _read_jsonl(text: str, path: str) -> tuple[list[NewsItem], list[BadRow]]:
    if text.lstrip().startswith("["):
        raise DataError(
            f"{path} is a JSON array; expected JSON Lines (one object per line, e.g. "
            '{"published_at": "2026-07-01T07:45-04:00", "headline": "..."})'
        )
    items: list[NewsItem] = []
    bad: list[BadRow] = []
    # Only CR and LF end a record: JSON allows U+2028, U+0085... raw inside strings (which
    # str.splitlines would split on), and forbids raw CR and LF there.
    for number, line in enumerate(_RECORD_ENDS.split(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(BadRow(path, number, None, f"not valid JSON ({exc.msg}, char {exc.colno})"))
            continue
        except RecursionError:
            bad.append(BadRow(path, number, None, "not read: JSON nested too deeply"))
            continue
        if not isinstance(record, dict):
            bad.append(BadRow(path, number, None, "not a JSON object"))
            continue
        item = _item({k.strip().lower(): v for k, v in record.items()}, path, number, bad)
        if item is not None:
            items.append(item)
    return items, bad


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment (feed titles and summaries may hold markup)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _plain(fragment: str) -> str:
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return _text("".join(parser.parts))


def _entry_lines(raw: bytes) -> list[int]:
    """Line numbers of the <item>/<entry> elements, in document order (expat, no DTD loading)."""
    lines: list[int] = []
    parser = xml.parsers.expat.ParserCreate()

    def start(name: str, _attrs: object) -> None:
        if name.rsplit(":", 1)[-1] in ("item", "entry"):
            lines.append(parser.CurrentLineNumber)

    parser.StartElementHandler = start
    try:
        parser.Parse(raw, True)
    except xml.parsers.expat.ExpatError:
        return []
    return lines


def _feed_time(value: str) -> str:
    """An ISO 8601 string for a feed date (RFC 822 or ISO 8601); ValueError if neither."""
    try:
        parse_known_at(value)
        return value
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ValueError("not an RFC 822 or ISO 8601 date") from None
    return parsed.isoformat() if parsed.tzinfo else parsed.strftime("%Y-%m-%dT%H:%M:%S")


def _read_feed(raw: bytes, path: str) -> tuple[list[NewsItem], list[BadRow]]:
    import feedparser  # only needed for feeds

    parsed = feedparser.parse(io.BytesIO(raw), sanitize_html=False, resolve_relative_uris=False)
    problem = parsed.get("bozo_exception")
    if isinstance(problem, xml.sax.SAXParseException):
        raise DataError(
            f"{where(path, problem.getLineNumber())}, column {problem.getColumnNumber()}: "
            f"not well-formed XML ({problem.getMessage()})"
        )
    if not parsed.get("version") and not parsed.entries:
        raise DataError(f"{path} is not an RSS 2.0 or Atom feed (no channel/item or feed/entry)")
    lines = _entry_lines(raw)
    if len(lines) != len(parsed.entries):
        lines = []
    feed_title = _plain(parsed.feed.get("title", ""))
    names = ("published", "title") if parsed.version.startswith("atom") else ("pubDate", "title")
    items: list[NewsItem] = []
    bad: list[BadRow] = []
    for index, entry in enumerate(parsed.entries):
        line = lines[index] if lines else None
        raw_time = entry.get("published") or entry.get("updated")
        fields: dict[str, object] = {
            "headline": _plain(entry.get("title", "")),
            "source": _plain(entry.get("source", {}).get("title", "")) or feed_title,
            "url": entry.get("link", ""),
            "summary": _plain(entry.get("summary", "")),
        }
        if raw_time:
            try:
                fields["published_at"] = _feed_time(raw_time)
            except ValueError as exc:
                bad.append(BadRow(path, line, names[0], f"{raw_time!r} is {exc}"))
                continue
        item = _item(fields, path, line, bad, names)
        if item is not None:
            items.append(item)
    return items, bad


def sort_news(items: Iterable[NewsItem]) -> list[NewsItem]:
    """Items by publication instant (stable: ties keep their input order)."""
    return sorted(items, key=lambda item: item.published_at)
