"""From classified headlines to point-in-time triggers and the events file.

Each headline is classified (by the rules, the model, the LLM or the ensemble: see
:mod:`data.news.classifiers`), then the same story reported by several outlets is merged into
one trigger at the EARLIEST ``published_at``, and a later denial of a story becomes a
retraction event at the denial's own time (:mod:`data.news.stories`).

The events file written here is the backtest's format (:mod:`data.events`): ``id, known_at,
direction, category, headline, companies, source`` (the earliest source), plus ``score``,
``sources`` (all, ``;``-separated), ``matched_rules`` and ``retracts`` (for a retraction, the
id of the trigger it retracts).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from data.events import Event, EventCalendar
from data.news.feeds import NewsBatch, NewsItem, load_news, sort_news
from data.news.rules import Rules
from data.news.stories import RETRACTED_SUFFIX, deduplicate
from data.news.verdict import Verdict

if TYPE_CHECKING:
    from data.news.classifiers import HeadlineClassifier

__all__ = [
    "RETRACTED_SUFFIX",
    "TRIGGER_COLUMNS",
    "Classified",
    "Trigger",
    "classify_items",
    "classify_news",
    "deduplicate",
    "events_csv_text",
    "trigger_calendar",
]

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
    "retracts",
)
# The header of events files written before retractions existed (still ours to replace).
PREVIOUS_TRIGGER_COLUMNS = TRIGGER_COLUMNS[:-1]


@dataclass(frozen=True)
class Classified:
    """A headline and its verdict."""

    item: NewsItem
    verdict: Verdict


@dataclass(frozen=True)
class Trigger:
    """One trigger: the first headline of a story and every headline merged into it; for a
    retraction, the denials of a story, and ``retracts`` the id of the story's trigger."""

    id: str
    category: str
    direction: int
    score: float
    headline: str
    actors: tuple[str, ...]
    matched_rules: tuple[str, ...]
    items: tuple[NewsItem, ...]
    retracts: str = ""

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
    items: Sequence[NewsItem],
    classifier: HeadlineClassifier | Rules,
    threshold: float | None = None,
) -> list[Classified]:
    """Classify every item (in publication order) with ``classifier`` (a Rules object means
    the rules classifier, with ``threshold`` if given)."""
    if isinstance(classifier, Rules):
        from data.news.classifiers import RulesClassifier

        classifier = RulesClassifier(classifier, threshold)
    ordered = sort_news(items)
    verdicts = classifier.classify_many([(i.headline, i.tickers) for i in ordered])
    return [Classified(item, verdict) for item, verdict in zip(ordered, verdicts, strict=True)]


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
                t.retracts,
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
    classifier: HeadlineClassifier | None = None,
) -> tuple[NewsBatch, list[Classified], list[Trigger]]:
    """Read, classify (with ``classifier``, default the rules) and merge headline files into
    triggers and retractions (the rules' dedup and retraction windows).

    Returns the batch read, every headline's verdict (publication order) and the triggers.
    Raises DataError for unreadable input or bad rows (unless ``skip_bad``).
    """
    batch = load_news(inputs, skip_bad=skip_bad, skip_hint=skip_hint)
    classified = classify_items(batch.items, classifier or rules, min_score)
    window = rules.dedup_window_hours if window_hours is None else window_hours
    return batch, classified, deduplicate(classified, window, rules.retraction_window_hours)
