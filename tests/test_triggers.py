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
from data.news.triggers import Classified, Trigger, classify_items, deduplicate, trigger_calendar

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


# --- retractions: a later denial of a story, at the denial's own time ---------------------------


def news(when: str, headline: str, source: str) -> NewsItem:
    return NewsItem(pd.Timestamp(when), headline, source, origin=source)


REPORT = "Microsoft cancels some data center leases, TD Cowen says"
ECHO = "Microsoft walks away from data-center leases, analysts say"
DENIAL = "Microsoft denies report it is cancelling data center leases"
OTHER_DENIAL = "Meta denies report that it will sell surplus AI compute"


def merged(shipped, items, window=36, reach=168):
    return deduplicate(classify_items(items, shipped), window, reach)


def test_a_later_denial_is_a_retraction_at_its_own_time(shipped):
    triggers = merged(
        shipped,
        [
            news("2025-02-21T15:00:00-05:00", REPORT, "Reuters"),
            news("2025-02-24T17:00:00-05:00", DENIAL, "Bloomberg"),
        ],
    )
    story, retraction = triggers
    assert (story.id, story.direction, story.retracts) == ("news-2025-02-21-capex_cut", 1, "")
    assert retraction.id == "news-2025-02-21-capex_cut-retracted"
    assert retraction.known_at == pd.Timestamp("2025-02-24T17:00:00-05:00")  # never earlier
    assert (retraction.category, retraction.direction) == ("capex_cut", -1)
    assert retraction.retracts == story.id and retraction.sources == ("Bloomberg",)
    assert retraction.matched_rules == ("capex_cut.data_center_retreat+2 negated by 'denies'",)


def test_a_denial_before_the_story_retracts_nothing(shipped):
    triggers = merged(
        shipped,
        [
            news("2025-02-20T09:00:00-05:00", DENIAL, "Bloomberg"),
            news("2025-02-21T15:00:00-05:00", REPORT, "Reuters"),
        ],
    )
    assert [t.id for t in triggers] == ["news-2025-02-21-capex_cut"]


def test_a_denial_at_the_same_instant_comes_after_the_story(shipped):
    for order in ((REPORT, DENIAL), (DENIAL, REPORT)):  # whatever the input order
        items = [news("2025-02-21T15:00:00-05:00", h, s) for h, s in zip(order, "AB", strict=True)]
        triggers = merged(shipped, items)
        assert [t.retracts for t in triggers] == ["", "news-2025-02-21-capex_cut"]
        assert triggers[0].known_at == triggers[1].known_at


def test_a_denial_after_the_retraction_window_retracts_nothing(shipped):
    items = [
        news("2025-02-21T15:00:00-05:00", REPORT, "Reuters"),
        news("2025-02-28T15:00:01-05:00", DENIAL, "Bloomberg"),  # 168 h and 1 s later
    ]
    assert [t.retracts for t in merged(shipped, items)] == [""]
    assert [t.retracts for t in merged(shipped, items, reach=169)][1] == (
        "news-2025-02-21-capex_cut"
    )
    assert [t.retracts for t in merged(shipped, items, reach=0)] == [""]  # retractions off


def test_a_denial_of_another_story_retracts_nothing(shipped):
    triggers = merged(
        shipped,
        [
            news("2025-02-21T15:00:00-05:00", REPORT, "Reuters"),
            news("2025-02-22T10:00:00-05:00", OTHER_DENIAL, "Bloomberg"),  # Meta, resale
        ],
    )
    assert [t.retracts for t in triggers] == [""]


def test_reports_after_the_denial_join_the_story_and_later_denials_the_retraction(shipped):
    triggers = merged(
        shipped,
        [
            news("2025-02-21T15:00:00-05:00", REPORT, "Reuters"),
            news("2025-02-21T18:00:00-05:00", DENIAL, "Bloomberg"),
            news("2025-02-22T09:00:00-05:00", ECHO, "CNBC"),  # the report, repeated
            news("2025-02-23T09:00:00-05:00", DENIAL, "FT"),
        ],
    )
    story, retraction = triggers
    assert story.sources == ("Reuters", "CNBC")  # still one story: no new trigger
    assert retraction.sources == ("Bloomberg", "FT")
    assert retraction.known_at == pd.Timestamp("2025-02-21T18:00:00-05:00")


def test_a_denial_retracts_the_latest_story_it_denies(shipped):
    triggers = merged(
        shipped,
        [
            news("2025-02-17T15:00:00-05:00", REPORT, "Reuters"),
            news("2025-02-21T15:00:00-05:00", REPORT, "WSJ"),  # outside 36 h: a new story
            news("2025-02-22T09:00:00-05:00", DENIAL, "Bloomberg"),
        ],
    )
    assert [(t.id, t.retracts) for t in triggers] == [
        ("news-2025-02-17-capex_cut", ""),
        ("news-2025-02-21-capex_cut", ""),
        ("news-2025-02-21-capex_cut-retracted", "news-2025-02-21-capex_cut"),
    ]


# --- what the backtest does with a retraction (baseline rules, NYSE sessions) -------------------


def _plan(shipped, items, hold=5):
    from synthetic import market

    from data.calendar import entry_sessions
    from strategies.plan import build_plan
    from strategies.strategy import Strategy

    calendar = trigger_calendar(merged(shipped, items), "news:test")
    events = list(calendar.events)
    m = market("2025-02-03", "2025-03-31")
    entries = entry_sessions([e.known_at for e in events])
    plan = build_plan(m, Strategy.baseline(("L1", "L2"), ("S1", "S2"), hold=hold), events, entries)
    return [(o.event.id, o.entry_session.date().isoformat(), o.action) for o in plan.outcomes], plan


@pytest.mark.parametrize(
    ("denial_at", "expected"),
    [
        # published before the story's entry open (Fri 15:00 -> Mon 02-24 open; the denial
        # at Fri 18:00 also enters Mon): the two cancel, no book ever opens
        ("2025-02-21T18:00:00-05:00", [("2025-02-24", "ignored"), ("2025-02-24", "ignored")]),
        # Monday 08:00, still before the entry open: the same
        ("2025-02-24T08:00:00-05:00", [("2025-02-24", "ignored"), ("2025-02-24", "ignored")]),
        # Monday 10:00, after the open: the book opened at 09:30 closes at Tuesday's open
        ("2025-02-24T10:00:00-05:00", [("2025-02-24", "opened"), ("2025-02-25", "closed")]),
        # Friday 02-28, after the 3-session hold ended (exit 02-27): nothing left to close
        ("2025-02-28T10:00:00-05:00", [("2025-02-24", "opened"), ("2025-03-03", "ignored")]),
    ],
)
def test_every_interleaving_of_a_denial_with_the_sessions(shipped, denial_at, expected):
    outcomes, _ = _plan(
        shipped,
        [
            news("2025-02-21T15:00:00-05:00", REPORT, "Reuters"),
            news(denial_at, DENIAL, "Bloomberg"),
        ],
        hold=3,
    )
    assert [(session, action) for _, session, action in outcomes] == expected
    assert [event_id for event_id, _, _ in outcomes] == [
        "news-2025-02-21-capex_cut",
        "news-2025-02-21-capex_cut-retracted",
    ]


def test_the_retraction_of_a_counter_trigger_is_a_plus_one_event(shipped):
    triggers = merged(
        shipped,
        [
            news("2025-03-03T08:00:00-05:00", "Samsung wins HBM4 supply deal from Nvidia", "KED"),
            news(
                "2025-03-03T20:00:00-05:00",
                "Samsung denies report of HBM4 supply deal with Nvidia",
                "Yonhap",
            ),
        ],
    )
    story, retraction = triggers
    assert (story.category, story.direction) == ("mega_order", -1)
    assert (retraction.category, retraction.direction, retraction.retracts) == (
        "mega_order",
        1,
        story.id,
    )
