"""The axes the rules generalise along: inflections, numbers and ratios in words, the gazetteer
(names, tickers, people, subsidiaries, products, nicknames; the longer alias wins), questions,
denials that reach the whole clause, a strong signal beating weak ones, named phrase lists, and
the validation of all of it."""

from __future__ import annotations

import pytest

from data.errors import DataError
from data.news.classifier import classify_headline, find_actors
from data.news.gazetteer import parse_gazetteer
from data.news.patterns import Headline, compile_pattern
from data.news.rules import load_rules
from data.news.verdict import explain
from data.news.words import Word, inflections


@pytest.fixture(scope="module")
def shipped():
    return load_rules()


def matches(pattern: str, text: str, gap: int = 4) -> bool:
    return bool(compile_pattern(pattern, "test").find(Headline(text), gap))


# --- inflections and numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "forms"),
    [
        ("sell", {"sell", "sells", "selling", "sold", "selled"}),
        ("cut", {"cut", "cuts", "cutting", "cutted"}),
        ("plan", {"plan", "plans", "planned", "planning"}),
        ("lease", {"lease", "leases", "leased", "leasing"}),
        ("supply", {"supply", "supplies", "supplied", "supplying"}),
        ("cancel", {"cancel", "cancelled", "canceled", "cancelling", "canceling"}),
        ("build", {"build", "builds", "building", "built"}),
        ("rise", {"rise", "rose", "risen", "rising"}),
    ],
)
def test_one_stem_matches_its_verb_family(base, forms):
    assert forms <= inflections(base)
    for form in forms:
        assert Word(base, prefix=False).matches(form.upper())  # any case, ALL CAPS included


def test_function_words_take_only_a_plural():
    assert inflections("not") == {"not", "nots", "notes"}
    assert not matches("not ... chip", "Meta noted its chip plans")
    assert inflections("own") == {"own", "owns", "ownes"}


def test_capitalised_words_stay_names():
    assert matches("Meta", "META") and matches("Meta", "Meta's")
    assert not matches("Meta", "Metaed") and not matches("Meta", "meta")


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("# GW", "a ten GW campus", True),
        ("# GW", "a 10GW campus", True),
        ("# <bn>", "five billion dollars", True),
        ("# <bn>", "forty billion", True),
        ("# <bn>", "the billion", False),
        ("<fraction> ... compute", "one-tenth the compute", True),
        ("<fraction> ... compute", "a quarter of the compute", True),
        ("<multiple> ... memory", "tenfold less memory", True),
        ("<multiple> ... memory", "10x less memory", True),
    ],
)
def test_numbers_and_ratios_in_words(pattern, text, expected):
    terms = {
        "bn": ["billion"],
        "fraction": ["tenth", "quarter", "half"],
        "multiple": ["tenfold", "# x"],
    }
    compiled = compile_pattern(pattern, "test", terms)
    assert bool(compiled.find(Headline(text), 4)) is expected


@pytest.mark.parametrize(
    ("headline", "category"),
    [
        ("Google says new Gemini model runs on one-tenth the compute", "efficiency_breakthrough"),
        (
            "Meta's Llama recipe halves GPU hours needed for frontier models",
            "efficiency_breakthrough",
        ),
        ("Baidu slashes 2026 AI infrastructure budget by one-third", "capex_cut"),
        ("OpenAI signs deal for six gigawatts of AMD Instinct GPUs", "mega_order"),
    ],
)
def test_shipped_rules_read_numbers_in_words(shipped, headline, category):
    assert classify_headline(headline, shipped).category == category


# --- the gazetteer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headline", "actor", "kind"),
    [
        ("The Facebook parent trims its 2026 capex", "Meta", "nickname"),
        ("Redmond pauses early-stage data-centre construction", "Microsoft", "nickname"),
        ("$MSFT: subleasing surplus data-centre space", "Microsoft", "ticker"),
        ("Zuckerberg says spending will rise", "Meta", "person"),
        ("AWS rolls out Trainium2 servers", "Amazon", "subsidiary"),
        ("Kimi model trained for under $5 million", "Moonshot", "product"),
        ("TikTok owner rents out idle Nvidia chips", "ByteDance", "nickname"),
    ],
)
def test_actors_by_nickname_ticker_person_subsidiary_product(shipped, headline, actor, kind):
    verdict = classify_headline(headline, shipped)
    assert actor in verdict.actors
    assert any(e.startswith(f"{actor} ({kind} ") for e in verdict.evidence), verdict.evidence


def test_the_longer_alias_wins(shipped):
    assert list(find_actors("The Beijing search giant monetises idle servers", shipped)) == [
        "Baidu"
    ]
    assert list(find_actors("The search giant trims its capex guidance", shipped)) == ["Alphabet"]
    assert list(find_actors("Musk's carmaker cuts prices", shipped)) == ["Tesla"]  # not xAI
    assert "xAI" in find_actors("Musk's AI startup builds Colossus 2", shipped)


def test_explain_says_how_an_actor_was_recognised(shipped):
    lines = explain(classify_headline("Redmond pauses data-centre construction in Ohio", shipped))
    assert lines[1] == "  actors: Microsoft (nickname 'Redmond')"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[Meta]\nnames = ["Meta"]\n', ["Meta.group"]),
        ('[Meta]\ngroup = "hyperscaler"\nnickname = ["Zuck"]\n', ["Meta.nickname", "nicknames"]),
        ('[Meta]\ngroup = "hyperscaler"\ntickers = ["meta"]\n', ["Meta.tickers", "'meta'"]),
        ('[Meta]\ngroup = "hyperscaler"\n', ["Meta", "no names"]),
        (
            '[Meta]\ngroup = "h"\nnames = ["Meta"]\n[Other]\ngroup = "h"\nnicknames = ["Meta"]\n',
            ["Other.nicknames", "'Meta' already names Meta"],
        ),
        ('[Meta]\ngroup = "h"\nnames = [""]\n', ["Meta.names", "non-empty"]),
        ("[Meta\n", ["not valid TOML"]),
    ],
)
def test_gazetteer_errors_name_file_and_key(text, fragments):
    with pytest.raises(DataError) as exc:
        parse_gazetteer(text, "actors.toml", {})
    message = str(exc.value)
    assert message.startswith("actors.toml") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_rules_name_a_gazetteer_beside_them_or_the_bundled_one(tmp_path):
    rules = (load_rules().path, None)
    del rules
    text = (
        '[settings]\ngazetteer = "mine.toml"\n'
        '[categories.capex_cut]\ndirection = 1\nactor_groups = ["spender"]\n'
        '[[categories.capex_cut.signals]]\nname = "cut"\nweight = 2\npatterns = ["cut capex"]\n'
    )
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(DataError, match=r"settings\.gazetteer: .*mine\.toml does not exist"):
        load_rules(path)
    (tmp_path / "mine.toml").write_text('[Acme]\ngroup = "spender"\nnicknames = ["the firm"]\n')
    mine = load_rules(path)
    assert classify_headline("The firm will cut capex", mine).category == "capex_cut"
    assert [f for f, _ in mine.files] == [str(path), str(tmp_path / "mine.toml")]
    path.write_text(text.replace("mine.toml", "actors.toml").replace("spender", "hyperscaler"))
    bundled = load_rules(path)  # not beside the file: the bundled gazetteer of that name
    assert bundled.files[1][0] == "<bundled>/news/actors.toml"


# --- questions, denials, strong signals ----------------------------------------------------------


@pytest.mark.parametrize(
    "headline",
    [
        "Should Meta Build Its Own AI Chips? Analysts Are Split",
        "Is Meta's AI Spending Spree Finally Peaking?",
        "Should Microsoft Rent Out Its Spare GPUs? Analysts Duke It Out",
    ],
)
def test_a_question_reports_nothing(shipped, headline):
    verdict = classify_headline(headline, shipped)
    assert not verdict.triggered
    assert verdict.denies is None  # a question is not a denial: it retracts nothing


def test_a_signal_after_the_question_still_counts(shipped):
    verdict = classify_headline(
        "GPUs Going Cheap? Meta Starts Renting Out Its Spare AI Muscle to Startups", shipped
    )
    assert verdict.category == "compute_resale"


@pytest.mark.parametrize(
    ("headline", "denied"),
    [
        (
            "Meta denies report that it will rent out its AI servers to outside companies",
            "compute_resale",
        ),
        (
            "Report that the ChatGPT maker is renting out spare compute is untrue, CFO says",
            "compute_resale",
        ),
        ("Microsoft denies report it is cancelling data center leases", "capex_cut"),
        ("Samsung denies report of HBM4 supply deal with Nvidia", "mega_order"),
        ("Anthropic rules out designing its own chips for now", "custom_silicon"),
    ],
)
def test_denials_reach_the_whole_clause_and_name_what_they_deny(shipped, headline, denied):
    verdict = classify_headline(headline, shipped)
    assert not verdict.triggered
    assert verdict.denies == denied
    assert f"denies {denied}" in "\n".join(explain(verdict))


def test_a_denial_stops_at_a_clause_break(shipped):
    verdict = classify_headline(
        "Meta denies layoffs report; separately sells surplus AI compute", shipped
    )
    assert verdict.category == "compute_resale"


def test_a_strong_signal_beats_a_sum_of_weak_ones(shipped):
    verdict = classify_headline(
        "Capital-spending guidance trimmed by Meta as AI build-out is paced more carefully", shipped
    )
    raise_score = next(s for s in verdict.scores if s.category == "capex_raise")
    assert raise_score.score >= 2 and raise_score.strongest < 2  # weak signals only
    assert verdict.category == "capex_cut"


def test_a_category_can_require_a_strong_signal(shipped):
    verdict = classify_headline("Google releases Gemini 3 model with efficient caching", shipped)
    assert not verdict.triggered
    assert "no signal of weight >= 2" in verdict.reason


# --- phrases and pattern errors ------------------------------------------------------------------


def test_named_phrase_lists_and_their_errors(tmp_path):
    text = (
        '[phrases]\nprice_change = ["cut* ... price*"]\n'
        '[actors.Meta]\ngroup = "g"\naliases = ["Meta"]\n'
        '[categories.capex_cut]\ndirection = 1\nactor_groups = ["g"]\nvetoes = ["@price_change"]\n'
        '[[categories.capex_cut.signals]]\nname = "cut"\nweight = 2\n'
        'patterns = ["cut* ... capex"]\n'
    )
    path = tmp_path / "rules.toml"
    path.write_text(text)
    rules = load_rules(path)
    assert classify_headline("Meta cuts capex", rules).category == "capex_cut"
    verdict = classify_headline("Meta cuts prices and capex", rules)
    assert "vetoed by 'cuts prices'" in verdict.reason
    path.write_text(text.replace('"@price_change"', '"@price_chang"'))
    with pytest.raises(
        DataError, match=r"no \[phrases\] list 'price_chang'; did you mean @price_change"
    ):
        load_rules(path)
    with pytest.raises(DataError, match=r"'\.\.\. \.\.\.'"):
        compile_pattern("cut ... ... capex", "rules.toml")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("strong", "-1", "settings.strong"),
        ("questions", "1", "settings.questions"),
        ("retraction_window_hours", "nan", "settings.retraction_window_hours"),
    ],
)
def test_new_settings_are_validated(tmp_path, key, value, fragment):
    path = tmp_path / "rules.toml"
    path.write_text(
        f"[settings]\n{key} = {value}\n"
        '[actors.Meta]\ngroup = "g"\naliases = ["Meta"]\n'
        '[categories.capex_cut]\ndirection = 1\nactor_groups = ["g"]\n'
        '[[categories.capex_cut.signals]]\nname = "cut"\nweight = 2\npatterns = ["cut capex"]\n'
    )
    with pytest.raises(DataError, match=fragment):
        load_rules(path)
