"""Stories: the same news told by several outlets is one trigger, and a denial retracts it.

Merging. Headlines of the same category that share an actor and were published within the
dedup window (default 36 hours) of the story's first headline are one story, known at its
EARLIEST ``published_at``. A headline joins the oldest open story it qualifies for, and the
story then also counts the headline's actors as its own.

Retraction. A headline that denies a category ("Microsoft denies report it is cancelling data
center leases": its verdict's ``denies`` is capex_cut) retracts the latest story of that
category sharing an actor whose first headline was published at most the retraction window
(default 168 hours) before the denial. The past is never rewritten: the story's trigger stays
in the events file as it was known, and the retraction is an event of its own, known at the
DENIAL's ``published_at``, with the story's category and the opposite direction, id
``<trigger id>-retracted`` and ``retracts`` naming the trigger. Under the baseline rules this
means: a retraction that enters at the same session as its trigger cancels it (the sum of
directions is 0, no book opens); one that enters later is a counter-event (it closes the book;
the retraction of a -1 story is a +1 event and may open one). Later denials of the same story
are merged into its retraction as sources. A denial published before a story's first headline
retracts nothing (a report that comes after a denial is news); one published at the same
instant as the story's first headline is taken after it.

Both passes index open stories by (category, actor), so the cost grows with the number of
headlines, not with headlines times stories.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from data.calendar import NEW_YORK
from data.events import RETRACTION_ID_SUFFIX

if TYPE_CHECKING:
    from data.news.triggers import Classified, Trigger

RETRACTED_SUFFIX = RETRACTION_ID_SUFFIX


@dataclass
class _Story:
    entries: list[Classified]
    actors: set[str] = field(default_factory=set)
    denials: list[Classified] = field(default_factory=list)


def deduplicate(
    classified: Sequence[Classified], window_hours: float, retraction_hours: float = 0.0
) -> list[Trigger]:
    """Merge the triggering headlines of each story into one trigger and add a retraction
    event for each story a later headline denies (``retraction_hours`` 0: no retractions).

    Needs: ``classified`` in publication order (as ``classify_items`` returns it; it is
    re-sorted stably otherwise). Returns triggers and retractions in ``known_at`` order (a
    retraction after any trigger known at the same instant), trigger ids
    ``news-<date>-<category>[-n]``.
    """
    window = pd.Timedelta(hours=window_hours)
    reach = pd.Timedelta(hours=retraction_hours)
    wanted = [
        e for e in classified if e.verdict.triggered or (retraction_hours and e.verdict.denies)
    ]
    entries = sorted(wanted, key=lambda e: (e.item.published_at, not e.verdict.triggered))
    stories: list[_Story] = []
    open_stories: dict[str, deque[int]] = {}  # category -> stories open for merging
    by_actor: dict[tuple[str, str], set[int]] = {}  # (category, actor) -> open stories
    retractable: dict[tuple[str, str], deque[int]] = {}  # (category, actor) -> stories
    for entry in entries:
        verdict = entry.verdict
        now = entry.item.published_at
        if not verdict.triggered:
            _retract(entry, stories, retractable, now - reach)
            continue
        category = verdict.category or ""
        actors = verdict.category_actors()
        queue = open_stories.setdefault(category, deque())
        while queue and now - _first(stories[queue[0]]) > window:
            closed = queue.popleft()  # later headlines are later still: closed for good
            for actor in stories[closed].actors:
                by_actor[(category, actor)].discard(closed)
        candidates = [n for a in actors for n in by_actor.get((category, a), ())]
        if candidates:
            number = min(candidates)
            stories[number].entries.append(entry)
        else:
            number = len(stories)
            stories.append(_Story([entry]))
            queue.append(number)
        for actor in actors:
            if actor not in stories[number].actors:
                stories[number].actors.add(actor)
                by_actor.setdefault((category, actor), set()).add(number)
                retractable.setdefault((category, actor), deque()).append(number)
    return _triggers(stories)


def _first(story: _Story) -> pd.Timestamp:
    return story.entries[0].item.published_at


def _retract(
    denial: Classified,
    stories: list[_Story],
    retractable: dict[tuple[str, str], deque[int]],
    oldest: pd.Timestamp,
) -> None:
    """Attach ``denial`` to the latest story it denies whose first headline is not older than
    ``oldest`` (nothing when there is none)."""
    category = denial.verdict.denies or ""
    score = next((s for s in denial.verdict.scores if s.category == category), None)
    actors = score.actors if score is not None else denial.verdict.actors
    found = None
    for actor in actors:
        numbers = retractable.get((category, actor), deque())
        while numbers and _first(stories[numbers[0]]) < oldest:
            numbers.popleft()  # too old for this denial, so for every later one
        for number in numbers:
            if _first(stories[number]) >= oldest and (found is None or number > found):
                found = number
    if found is not None:
        stories[found].denials.append(denial)


def _triggers(stories: Sequence[_Story]) -> list[Trigger]:
    """One trigger per story (its first headline's category, score and rules), with ids, and
    one retraction per denied story, all in known_at order."""
    from data.news.triggers import Trigger

    triggers = []
    used: dict[str, int] = {}
    for story in stories:
        first = story.entries[0]
        verdict = first.verdict
        day = first.item.published_at.tz_convert(NEW_YORK).date().isoformat()
        base = f"news-{day}-{verdict.category}"
        used[base] = used.get(base, 0) + 1
        actors = dict.fromkeys(a for s in story.entries for a in s.verdict.category_actors())
        trigger = Trigger(
            id=base if used[base] == 1 else f"{base}-{used[base]}",
            category=verdict.category or "",
            direction=verdict.direction,
            score=verdict.score,
            headline=first.item.headline,
            actors=tuple(actors),
            matched_rules=verdict.matched_rules(),
            items=tuple(s.item for s in story.entries),
        )
        triggers.append(trigger)
        if story.denials:
            triggers.append(_retraction(trigger, story.denials))
    return sorted(triggers, key=lambda t: (t.known_at, bool(t.retracts)))


def _retraction(trigger: Trigger, denials: list[Classified]) -> Trigger:
    from data.news.triggers import Trigger

    first = denials[0]
    score = next((s for s in first.verdict.scores if s.category == trigger.category), None)
    hits = score.hits if score is not None else ()
    cancelled = tuple(f"{h.rule()} negated by {h.negated_by!r}" for h in hits if h.negated_by)
    return Trigger(
        id=trigger.id + RETRACTED_SUFFIX,
        category=trigger.category,
        direction=-trigger.direction,
        score=sum(h.weight for h in hits),
        headline=first.item.headline,
        actors=trigger.actors,
        matched_rules=cancelled or (f"denies {trigger.category}",),
        items=tuple(d.item for d in denials),
        retracts=trigger.id,
    )
