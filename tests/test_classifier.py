"""The headline classifier: patterns, actors, negations, vetoes, threshold, explanations,
deduplication into triggers and the rules file (the pinned figures on the labelled sets are in
test_figures.py, the generalising axes of the rules in test_rules_axes.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data.errors import DataError
from data.events import parse_events_csv
from data.news.classifier import classify_headline, explain, find_actors
from data.news.evaluation import load_labelled
from data.news.feeds import NewsItem
from data.news.patterns import Headline, compile_pattern
from data.news.rules import load_rules
from data.news.triggers import (
    TRIGGER_COLUMNS,
    classify_items,
    deduplicate,
    events_csv_text,
    trigger_calendar,
)
from data.news.words import word as _word

DATA = Path(__file__).parent / "data"
LABELLED = DATA / "labelled_headlines.csv"
HOLDOUT = DATA / "holdout_headlines.csv"

SMALL_RULES = """
[settings]
threshold = 2
max_gap = 2
negation_window = 3

[terms]
chip = ["chip", "accelerator"]

[negations]
before = ["denies", "no plans to", "not"]
after = ["is false"]
scope_breaks = ["and"]

[vetoes]
words = ["hires"]

[actors.Meta]
group = "spender"
aliases = ["Meta"]
tickers = ["META"]

[actors.Nvidia]
group = "supplier"
aliases = ["Nvidia"]

[categories.custom_silicon]
direction = 1
actor_groups = ["spender"]
negations = ["scraps"]
vetoes = ["phone*"]

[[categories.custom_silicon.signals]]
name = "own_chip"
weight = 2
patterns = ["own ... <chip>"]

[[categories.custom_silicon.signals]]
name = "design"
weight = 1
patterns = ["design*"]

[categories.capex_cut]
direction = 1
actor_groups = ["spender"]

[[categories.capex_cut.signals]]
name = "cut"
weight = 2
patterns = ["cut* ... capex", "will not fund"]

[categories.capex_raise]
direction = -1
actor_groups = ["spender"]

[[categories.capex_raise.signals]]
name = "raise"
weight = 2
patterns = ["raise* ... capex"]
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "small.toml"
    path.write_text(SMALL_RULES)
    return load_rules(path)


@pytest.fixture(scope="module")
def shipped():
    return load_rules()


def matches(pattern: str, text: str, gap: int = 4) -> bool:
    compiled = compile_pattern(pattern, "test")
    return bool(compiled.find(Headline(text), gap))


# --- patterns: word boundaries and case ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("Meta", "Meta to sell compute", True),
        ("Meta", "META TO SELL COMPUTE", True),
        ("Meta", "Meta's cloud unit", True),
        ("Meta", "Copper and metal prices rally", False),
        ("Meta", "Metal prices rally", False),
        ("Meta", "Metaverse spending falls", False),
        ("Meta", "A meta-analysis of studies", False),
        ("AI", "Fed official said rates may fall", False),
        ("AI", "xAI raises money", False),
        ("AI", "AI chips in demand", True),
        ("AI", "The AIs are coming", True),
        ("chip", "Custom CHIPS for all", True),
        ("in-house chip", "an in house chip", True),
        ("cancel*", "Microsoft cancelled leases", True),
        ("cancel*", "Microsoft recancelled leases", False),
        ("# GW", "a 10GW campus", True),
        ("# GW", "a 3.5 GW campus", True),
        ("# GW", "GW campus", False),
        ("own ... chip", "its own AI chip", True),
        ("own ... chip", "own shiny new AI inference training chip", False),  # 5 > gap 4
        ("own ... chip", "own, chip", False),  # a clause break stops the gap
        ("own ... chip", "own - chip", False),  # so does a spaced hyphen
        ("Google's ... chip", "Google's new AI chip", True),
    ],
)
def test_pattern_words_case_and_gaps(pattern, text, expected):
    assert matches(pattern, text) is expected


_PIECES = ["Meta", "META", "meta", "metal", "AI", "ai", "said", "chip", "Chips", "CHIPES", "s"]


@given(
    st.lists(st.sampled_from([*_PIECES, "10", "3.5", "350k", "'s", ",", "-"]), max_size=12),
    st.sampled_from(["Meta", "meta", "AI", "chip", "Chip", "s", "me", "CHIP"]),
    st.booleans(),
    st.booleans(),
)
def test_headline_index_agrees_with_word_matches(pieces, text, prefix, number):
    """The per-headline lookup tables give exactly the tokens the reference rule accepts."""
    before = Headline(" ".join(pieces))  # built before the word exists: matched on demand
    word = _word(text, prefix=prefix, number=number)
    after = Headline(" ".join(pieces))  # built after: matched through the word index
    for headline in (before, after):
        tokens = enumerate(headline.tokens)
        expected = {i for i, t in tokens if not t.brk and word.matches(t.text)}
        assert headline.positions(word) == expected
        assert (word in headline.matched) == bool(expected) or headline is before


def test_possessive_s_does_not_count_as_a_skipped_word():
    assert matches("cut ... budget", "cut next year's data budget", gap=3)
    assert not matches("cut ... budget", "cut next year data center budget", gap=3)


def test_terms_expand_and_unknown_terms_are_errors():
    terms = {"chip": ["chip", "AI accelerator"]}
    pattern = compile_pattern("own ... <chip>", "test", terms)
    assert pattern.text == "own ... <chip>"
    assert [len(run) for run in pattern.elements[-1]] == [1, 2]
    assert pattern.find(Headline("its own AI accelerator"), 4) == [(1, 3)]
    assert pattern.find(Headline("its own new chip"), 4) == [(1, 3)]
    with pytest.raises(DataError, match=r"unknown term <chips>; did you mean <chip>\?"):
        compile_pattern("own <chips>", "rules.toml", {"chip": ["chip"]})
    with pytest.raises(DataError, match="must start and end with a word"):
        compile_pattern("... chip", "rules.toml")


# --- scoring, actors, negations, vetoes, threshold -----------------------------------------------


def test_trigger_with_score_and_matched_rules(small):
    verdict = classify_headline("Meta builds its own AI accelerator, design team grows", small)
    assert verdict.category == "custom_silicon" and verdict.direction == 1
    assert verdict.score == 3
    assert verdict.matched_rules() == ("custom_silicon.own_chip+2", "custom_silicon.design+1")


def test_a_signal_counts_once(small):
    verdict = classify_headline("Meta: own chip, own accelerator", small)
    assert verdict.score == 2


def test_actor_is_required(small):
    verdict = classify_headline("Startup builds its own chip", small)
    assert not verdict.triggered
    assert "no actor" in verdict.reason
    assert classify_headline("Startup builds its own chip", small, tickers=["META"]).triggered
    assert not classify_headline("Nvidia builds its own chip", small).triggered  # wrong group


def test_find_actors(shipped):
    assert find_actors("Copper and metal prices rally on AI said", shipped) == {}
    assert list(find_actors("META AND MICROSOFT RAISE CAPEX", shipped)) == ["Meta", "Microsoft"]
    assert list(find_actors("Quiet day", shipped, tickers=["nvda"])) == ["Nvidia"]


@pytest.mark.parametrize(
    "headline",
    [
        "Meta denies it will build own chip",
        "Meta has no plans to build own chip",
        "Report that Meta builds own chip is false",
        "Meta scraps plan to build own chip",  # custom_silicon's own negation
    ],
)
def test_negations_cancel(small, headline):
    verdict = classify_headline(headline, small)
    assert not verdict.triggered
    assert verdict.reason.startswith("negated:")


@pytest.mark.parametrize(
    "headline",
    [
        "Meta denies a b c d e own chip",  # cue 5 words before: outside the window of 3
        "Meta denies rumor; builds own chip",  # clause break
        "Meta denies rumor and builds own chip",  # scope-breaking word
    ],
)
def test_negation_scope(small, headline):
    assert classify_headline(headline, small).category == "custom_silicon"


def test_cue_inside_the_signal_does_not_negate_it(small):
    verdict = classify_headline("Lender will not fund Meta project", small)
    assert verdict.category == "capex_cut"


def test_category_negation_only_affects_its_category(small):
    assert classify_headline("Meta scraps plan, will cut 2026 capex", small).category == "capex_cut"


def test_vetoes(small):
    verdict = classify_headline("Meta hires designer for own chip", small)
    assert not verdict.triggered and "vetoed by 'hires'" in verdict.reason
    verdict = classify_headline("Meta phones get own chip", small)
    assert "vetoed by 'phones'" in verdict.reason


def test_threshold(small):
    assert not classify_headline("Meta design team", small).triggered
    assert "score 1 < threshold 2" in classify_headline("Meta design team", small).reason
    assert classify_headline("Meta design team", small, threshold=1).triggered
    assert not classify_headline("Meta own chip", small, threshold=3).triggered


def test_opposite_directions_tied_is_no_trigger(small):
    verdict = classify_headline("Meta cuts 2026 capex, raises 2027 capex", small)
    assert not verdict.triggered and verdict.reason.startswith("conflicting signals")


def test_explanation_lists_decision_actors_and_rules(small):
    lines = explain(classify_headline("Meta builds its own AI chip", small))
    assert lines[0] == "TRIGGER custom_silicon (+1): custom_silicon score 2 >= threshold 2"
    assert lines[1] == "  actors: Meta"
    assert "own_chip +2: 'own AI chip' (pattern 'own ... <chip>')" in lines[3]
    lines = explain(classify_headline("Meta denies it will build own chip", small))
    assert lines[0].startswith("no trigger: negated")
    assert any("negated by 'denies'" in line for line in lines)


# --- the shipped rules on the cases the issue names ----------------------------------------------


@pytest.mark.parametrize(
    ("headline", "category"),
    [
        ("Meta Is Building a Cloud Unit to Sell Excess AI Compute", "compute_resale"),
        ("META PLATFORMS TO RENT OUT SPARE AI CAPACITY", "compute_resale"),
        ("Anthropic in early talks with Samsung to build custom AI chip", "custom_silicon"),
        ("Microsoft Cancels Some Data Center Leases, TD Cowen Says", "capex_cut"),
        ("Blue Owl will not fund Oracle's $10 billion data center", "capex_cut"),
        ("Meta raises 2026 capex forecast to as much as $145 billion", "capex_raise"),
        ("OpenAI signs $38 billion cloud deal with Amazon for Nvidia GPUs", "mega_order"),
        ("DeepSeek model trained for a fraction of the cost", "efficiency_breakthrough"),
        ("Copper and metal prices rally on China demand hopes", None),
        ("Fed official said rate cuts may come later this year", None),
        ("Amazon Scraps Plan to Build Its Own AI Training Chip", None),
        ("Meta has no plans to sell excess computing capacity, CFO says", None),
        ("Anthropic rules out designing its own chips for now", None),
        ("Microsoft denies report it is cancelling data center leases", None),
        ("Google launches Pixel 9 phones with its own Tensor G4 chip", None),
        ("Microsoft quarterly profit beats estimates on strong cloud growth", None),
        ("Microsoft raises quarterly dividend by 10%", None),
        ("US tightens export rules on AI chips to China, hitting Nvidia", None),
        ("DRAM contract prices rise 15% in fourth quarter on tight supply", None),
        ("Amazon Names New Head of AWS Custom Silicon Unit", None),
    ],
)
def test_shipped_rules_on_named_cases(shipped, headline, category):
    assert classify_headline(headline, shipped).category == category


# --- the rules file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (("threshold = 2", "treshold = 2"), ["settings.treshold", "did you mean 'threshold'"]),
        (("weight = 1", "weight = -1"), ["signals[1].weight", "> 0"]),
        (
            ('actor_groups = ["spender"]\nnegations', 'actor_groups = ["spend"]\nnegations'),
            ["categories.custom_silicon.actor_groups", "did you mean 'spender'"],
        ),
        (("direction = -1", "direction = 2"), ["categories.capex_raise.direction", "1 or -1"]),
        (('patterns = ["design*"]', 'patterns = ["<chips>"]'), ["unknown term <chips>"]),
        (('chip = ["chip", "accelerator"]', 'chip = ["chip ... x"]'), ["terms.chip"]),
        (("max_gap = 2", "max_gap = 2.5"), ["settings.max_gap", "whole number"]),
    ],
)
def test_rules_errors_name_file_and_key(tmp_path, edit, fragments):
    path = tmp_path / "rules.toml"
    path.write_text(SMALL_RULES.replace(*edit, 1))
    with pytest.raises(DataError) as exc:
        load_rules(path)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_rules_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text("[settings]\nthreshold = \n")
    with pytest.raises(DataError, match=r"not valid TOML: .*line 2"):
        load_rules(path)
    with pytest.raises(DataError, match="does not exist; pass --rules FILE"):
        load_rules(tmp_path / "nope.toml")


def test_shipped_rules_load(shipped):
    assert shipped.path == "<bundled>/news/rules.toml"
    assert [c.name for c in shipped.categories] == [
        "custom_silicon",
        "compute_resale",
        "capex_cut",
        "efficiency_breakthrough",
        "capex_raise",
        "mega_order",
    ]
    assert [c.direction for c in shipped.categories] == [1, 1, 1, 1, -1, -1]
    assert shipped.threshold == 2 and shipped.dedup_window_hours == 36


# --- deduplication and the events file -----------------------------------------------------------


def item(when: str, headline: str, source: str, tickers: tuple[str, ...] = ()) -> NewsItem:
    return NewsItem(pd.Timestamp(when), headline, source, tickers=tickers, origin=f"{source}")


STORY = [
    item("2026-07-01T09:15:00-04:00", "Meta plans to sell surplus AI computing power", "Reuters"),
    item("2026-07-01T07:40:00-04:00", "Meta to sell excess AI compute to outside customers", "BBG"),
    item("2026-07-02T15:00:00-04:00", "META TO RENT OUT SPARE AI CAPACITY", "Benzinga"),
    item("2026-07-01T08:00:00-04:00", "Copper and metal prices rally", "Reuters"),
]


def test_same_story_is_one_trigger_at_the_earliest_time(shipped):
    triggers = deduplicate(classify_items(STORY, shipped), 36)
    assert len(triggers) == 1
    trigger = triggers[0]
    assert trigger.known_at == pd.Timestamp("2026-07-01T07:40:00-04:00")
    assert trigger.headline == "Meta to sell excess AI compute to outside customers"
    assert trigger.sources == ("BBG", "Reuters", "Benzinga")
    assert trigger.id == "news-2026-07-01-compute_resale"


def test_outside_the_window_is_a_new_trigger(shipped):
    late = [*STORY, item("2026-07-03T08:00:00-04:00", "Meta to sell spare compute", "FT")]
    triggers = deduplicate(classify_items(late, shipped), 36)
    assert [t.sources for t in triggers] == [("BBG", "Reuters", "Benzinga"), ("FT",)]
    assert [t.id for t in triggers] == [
        "news-2026-07-01-compute_resale",
        "news-2026-07-03-compute_resale",
    ]
    # a 1-hour window from the story's first headline: Reuters (1h35 later) starts a new one
    assert [t.sources for t in deduplicate(classify_items(STORY, shipped), 1)] == [
        ("BBG",),
        ("Reuters",),
        ("Benzinga",),
    ]


def test_other_category_or_no_shared_actor_is_a_new_trigger(shipped):
    news = [
        item("2026-07-01T07:40:00-04:00", "Meta to sell excess AI compute", "BBG"),
        item("2026-07-01T08:00:00-04:00", "Meta builds its own AI chip", "Reuters"),
        item("2026-07-01T09:00:00-04:00", "Amazon to sell excess AI compute", "CNBC"),
        item("2026-07-01T10:00:00-04:00", "Company to sell excess AI compute", "WSJ", ("META",)),
    ]
    triggers = deduplicate(classify_items(news, shipped), 36)
    assert [(t.category, t.sources) for t in triggers] == [
        ("compute_resale", ("BBG", "WSJ")),  # WSJ shares Meta through its tickers
        ("custom_silicon", ("Reuters",)),
        ("compute_resale", ("CNBC",)),
    ]


def test_events_file_is_the_backtest_format(shipped):
    triggers = deduplicate(classify_items(STORY, shipped), 36)
    text = events_csv_text(triggers)
    rows = list(csv.DictReader(text.splitlines()))
    assert tuple(rows[0]) == TRIGGER_COLUMNS
    assert rows[0]["known_at"] == "2026-07-01T07:40:00-04:00"
    assert rows[0]["direction"] == "+1"
    assert rows[0]["source"] == "BBG"
    assert rows[0]["sources"] == "BBG;Reuters;Benzinga"
    assert rows[0]["matched_rules"].startswith("compute_resale.idle_compute+2")
    assert rows[0]["retracts"] == ""
    (event,) = parse_events_csv(text, "x.csv")
    assert event.id == triggers[0].id and event.known_at == triggers[0].known_at
    assert event.companies == ("Meta",)
    calendar = trigger_calendar(triggers, "news:test")
    assert calendar.events[0].source == "BBG;Reuters;Benzinga"
    assert calendar.categories == ("compute_resale",)


def test_no_trigger_gives_a_header_only_file(shipped):
    text = events_csv_text(deduplicate(classify_items(STORY[3:], shipped), 36))
    assert text == ",".join(TRIGGER_COLUMNS) + "\n"


# --- the labelled sets ---------------------------------------------------------------------------


def test_labelled_set_covers_the_reference_events(shared_news_events):
    reference = {(r["date"], r["category"]) for r in csv.DictReader(shared_news_events.open())}
    rows = list(csv.DictReader(LABELLED.open()))
    covered = {(r["reference_event"], r["label_category"]) for r in rows if r["reference_event"]}
    assert covered == reference and len(reference) == 60
    assert len(rows) >= 120
    holdout = list(csv.DictReader(HOLDOUT.open()))
    assert len(holdout) >= 60
    assert not {r["headline"] for r in rows} & {r["headline"] for r in holdout}


def test_labelled_file_errors(tmp_path, shipped):
    path = tmp_path / "l.csv"
    path.write_text("headline,label_category,label_direction\nMeta chip,custom_silicone,+1\n")
    with pytest.raises(DataError, match=r"l\.csv, line 2, column 'label_category'"):
        load_labelled(path, shipped)
    path.write_text("headline,label_category,label_direction\nMeta chip,custom_silicon,-1\n")
    with pytest.raises(DataError, match="contradicts category custom_silicon"):
        load_labelled(path, shipped)
    path.write_text("headline,category\nMeta chip,custom_silicon\n")
    with pytest.raises(DataError, match="missing column 'label_category'"):
        load_labelled(path, shipped)
