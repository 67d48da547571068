"""From classified headlines to point-in-time triggers: deduplication and the events file.

The same story reported by several outlets is one trigger: headlines of the same category that
share an actor and were published within the dedup window (default 36 hours) of the story's
first headline are merged into one trigger at the EARLIEST ``published_at`` (the instant the
news became known), listing every source. The trigger keeps the first headline, its score and
its matched rules.

The events file written here is the backtest's format (:mod:`data.events`): ``id, known_at,
direction, category, headline, companies, source`` (the earliest source), plus ``score``,
``sources`` (all, ``;``-separated) and ``matched_rules``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.calendar import NEW_YORK
from data.events import Event, EventCalendar
from data.news.classifier import Verdict, classify_headline
from data.news.feeds import NewsBatch, NewsItem, load_news, sort_news
from data.news.rules import Rules

TRIGGER_COLUMNS = (
    "id",
    "known_at",
    "direction",
    "category",
    "headline",
    "companies",
    "source",
    "score",
    "sources",
    "matched_rules",
)


@dataclass(frozen=True)
class Classified:
    """A headline and its verdict."""

    item: NewsItem
    verdict: Verdict


@dataclass(frozen=True)
class Trigger:
    """One trigger: the first headline of a story and every headline merged into it."""

    id: str
    category: str
    direction: int
    score: float
    headline: str
    actors: tuple[str, ...]
    matched_rules: tuple[str, ...]
    items: tuple[NewsItem, ...]

    @property
    def known_at(self) -> pd.Timestamp:
        return self.items[0].published_at

    @property
    def sources(self) -> tuple[str, ...]:
        """Every source, earliest first, without repeats (``;`` in a name becomes ``,``)."""
        return tuple(dict.fromkeys(item.label.replace(";", ",") for item in self.items))

    @property
    def companies(self) -> tuple[str, ...]:
        tickers = (t for item in self.items for t in item.tickers)
        return tuple(dict.fromkeys((*self.actors, *tickers)))


def classify_items(
    items: Sequence[NewsItem], rules: Rules, threshold: float | None = None
) -> list[Classified]:
    """Classify every item (in publication order) with ``rules``."""
    return [
        Classified(item, classify_headline(item.headline, rules, item.tickers, threshold))
        for item in sort_news(items)
    ]


def deduplicate(classified: Sequence[Classified], window_hours: float) -> list[Trigger]:
    """Merge the triggering headlines of one story (same category, a shared actor, published
    within ``window_hours`` of the story's first headline) into one trigger, earliest first.

    A headline joins the OLDEST open story it qualifies for; the story then also counts the
    headline's actors as its own. Stories are indexed by (category, actor) and closed once
    their window has passed, so the cost grows with the number of headlines, not with
    headlines times stories.

    Needs: ``classified`` in publication order (as :func:`classify_items` returns it; it is
    re-sorted stably otherwise). Returns the triggers in ``known_at`` order with ids
    ``news-<date>-<category>[-n]``.
    """
    window = pd.Timedelta(hours=window_hours)
    entries = sorted((e for e in classified if e.verdict.triggered), key=_published)
    stories: list[list[Classified]] = []
    story_actors: list[set[str]] = []
    open_stories: dict[str, deque[int]] = {}  # category -> open story numbers, oldest first
    by_actor: dict[tuple[str, str], set[int]] = {}  # (category, actor) -> open story numbers
    for entry in entries:
        category = entry.verdict.category or ""
        actors = entry.verdict.winner.actors
        now = entry.item.published_at
        queue = open_stories.setdefault(category, deque())
        while queue and now - stories[queue[0]][0].item.published_at > window:
            closed = queue.popleft()  # later headlines are later still: closed for good
            for actor in story_actors[closed]:
                by_actor[(category, actor)].discard(closed)
        candidates = [n for a in actors for n in by_actor.get((category, a), ())]
        if candidates:
            number = min(candidates)
            stories[number].append(entry)
        else:
            number = len(stories)
            stories.append([entry])
            story_actors.append(set())
            queue.append(number)
        for actor in actors:
            if actor not in story_actors[number]:
                story_actors[number].add(actor)
                by_actor.setdefault((category, actor), set()).add(number)
    return _triggers(stories)


def _published(entry: Classified) -> pd.Timestamp:
    return entry.item.published_at


def _triggers(stories: Sequence[Sequence[Classified]]) -> list[Trigger]:
    """One trigger per story (its first headline's category, score and rules), with ids."""
    triggers = []
    used: dict[str, int] = {}
    for story in stories:
        first = story[0]
        verdict = first.verdict
        day = first.item.published_at.tz_convert(NEW_YORK).date().isoformat()
        base = f"news-{day}-{verdict.category}"
        used[base] = used.get(base, 0) + 1
        actors = dict.fromkeys(a for s in story for a in s.verdict.winner.actors)
        triggers.append(
            Trigger(
                id=base if used[base] == 1 else f"{base}-{used[base]}",
                category=verdict.category or "",
                direction=verdict.direction,
                score=verdict.score,
                headline=first.item.headline,
                actors=tuple(actors),
                matched_rules=verdict.matched_rules(),
                items=tuple(s.item for s in story),
            )
        )
    return triggers


def events_csv_text(triggers: Sequence[Trigger]) -> str:
    """The triggers as an events CSV the backtest reads (header only when there are none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRIGGER_COLUMNS)
    for t in triggers:
        writer.writerow(
            [
                t.id,
                t.known_at.isoformat(),
                f"{t.direction:+d}",
                t.category,
                t.headline,
                ";".join(t.companies),
                t.sources[0],
                f"{t.score:g}",
                ";".join(t.sources),
                ";".join(t.matched_rules),
            ]
        )
    return buffer.getvalue()


def trigger_calendar(triggers: Sequence[Trigger], label: str) -> EventCalendar:
    """The triggers as an in-memory EventCalendar named ``label``; its sha256 is the one of the
    events CSV they would be written as. ``source`` holds every source (``;``-separated)."""
    events = tuple(
        Event(
            id=t.id,
            known_at=t.known_at,
            direction=t.direction,
            category=t.category,
            headline=t.headline,
            companies=t.companies,
            source=";".join(t.sources),
        )
        for t in triggers
    )
    digest = hashlib.sha256(events_csv_text(triggers).encode()).hexdigest()
    return EventCalendar(events, label, digest, tuple(sorted({e.category for e in events})))


def classify_news(
    inputs: Sequence[Path],
    rules: Rules,
    skip_bad: bool = False,
    min_score: float | None = None,
    window_hours: float | None = None,
    skip_hint: str = "pass --skip-bad to process the other rows",
) -> tuple[NewsBatch, list[Classified], list[Trigger]]:
    """Read, classify and deduplicate headline files.

    Returns the batch read, every headline's verdict (publication order) and the triggers.
    Raises DataError for unreadable input or bad rows (unless ``skip_bad``).
    """
    batch = load_news(inputs, skip_bad=skip_bad, skip_hint=skip_hint)
    classified = classify_items(batch.items, rules, min_score)
    window = rules.dedup_window_hours if window_hours is None else window_hours
    return batch, classified, deduplicate(classified, window)
