"""Story merging (deduplication into triggers): the indexed merge gives exactly the triggers of
the original all-pairs merge, on the sample feeds, the labelled sets and random streams."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.calendar import NEW_YORK
from data.news.classifier import CategoryScore, Verdict
from data.news.feeds import NewsItem, load_news
from data.news.rules import load_rules
from data.news.triggers import Classified, Trigger, classify_items, deduplicate

DATA = Path(__file__).parent / "data"
SAMPLES = [DATA / f"news_sample.{ext}" for ext in ("csv", "jsonl", "rss", "atom")]
LABELLED_SETS = [
    DATA / "labelled_headlines.csv",
    DATA / "holdout_headlines.csv",
    *sorted((DATA / "headline_sets" / "dev").glob("*.csv")),
]


@pytest.fixture(scope="module")
def shipped():
    return load_rules()


def reference_deduplicate(classified, window_hours):
    """The merge as it was first written (every trigger against every earlier story): the
    specification the indexed merge must reproduce exactly."""
    window = pd.Timedelta(hours=window_hours)
    stories = []
    for entry in classified:
        if not entry.verdict.triggered:
            continue
        actors = set(entry.verdict.winner.actors)
        for story in stories:
            first = story[0]
            shared = set().union(*(set(s.verdict.winner.actors) for s in story)) & actors
            if (
                first.verdict.category == entry.verdict.category
                and shared
                and entry.item.published_at - first.item.published_at <= window
            ):
                story.append(entry)
                break
        else:
            stories.append([entry])
    triggers = []
    used = {}
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
                category=verdict.category,
                direction=verdict.direction,
                score=verdict.score,
                headline=first.item.headline,
                actors=tuple(actors),
                matched_rules=verdict.matched_rules(),
                items=tuple(s.item for s in story),
            )
        )
    return triggers


@pytest.mark.parametrize("window", [0, 1, 36, 24 * 30])
def test_merge_matches_the_reference_on_the_sample_feeds(shipped, window):
    classified = classify_items(load_news(SAMPLES).items, shipped)
    assert deduplicate(classified, window) == reference_deduplicate(classified, window)


@pytest.mark.parametrize("window", [0, 6, 36, 24 * 7, 24 * 365])
def test_merge_matches_the_reference_on_the_labelled_sets(shipped, window):
    """The labelled sets read as one stream of dated news (about 1,000 headlines)."""
    classified = classify_items(load_news(LABELLED_SETS).items, shipped)
    merged = deduplicate(classified, window)
    assert merged == reference_deduplicate(classified, window)
    assert sum(len(t.items) for t in merged) == sum(c.verdict.triggered for c in classified)


def _entry(minutes: int, category: str | None, actors: tuple[str, ...], n: int) -> Classified:
    when = pd.Timestamp("2026-07-01T08:00:00-04:00") + pd.Timedelta(minutes=minutes)
    scores = ()
    if category is not None:
        scores = (CategoryScore(category, 1, 2.0, (), actors),)
    verdict = Verdict(f"h{n}", category, 1 if category else 0, 2.0, 2.0, "", actors, scores)
    return Classified(NewsItem(when, f"h{n}", f"s{n}", origin=f"s{n}"), verdict)


_ENTRIES = st.lists(
    st.tuples(
        st.integers(0, 60 * 24 * 6),
        st.sampled_from([None, "capex_cut", "custom_silicon"]),
        st.lists(st.sampled_from("ABCDE"), min_size=1, max_size=3, unique=True),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_ENTRIES, st.sampled_from([0, 1, 12, 36, 100]))
def test_merge_matches_the_reference_on_random_streams(entries, window):
    """Random interleavings of categories and overlapping actor sets, including stories that
    gain actors from later headlines and ties in time."""
    entries = sorted(entries, key=lambda e: e[0])
    classified = [_entry(m, c, tuple(a), n) for n, (m, c, a) in enumerate(entries)]
    assert deduplicate(classified, window) == reference_deduplicate(classified, window)
