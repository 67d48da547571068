"""``capex-rotation events classify / list / validate / evaluate`` and ``backtest --news``, end
to end through the console entry point (one-line errors, exit codes, files written)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from clitools import assert_one_line_error, run_cli

from data.events import check_events_file, load_events

DATA = Path(__file__).parent / "data"
SAMPLES = [DATA / f"news_sample.{ext}" for ext in ("csv", "jsonl", "rss", "atom")]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """Rich tables as on a wide terminal, so rows are not folded in the captured output."""
    monkeypatch.setenv("COLUMNS", "250")


# --- classify ------------------------------------------------------------------------------------


def test_classify_all_formats_into_a_loadable_events_file(capsys, tmp_path):
    out = tmp_path / "ev.csv"
    code, stdout, err = run_cli(capsys, "events", "classify", *map(str, SAMPLES), "--out", str(out))
    assert code == 0, err
    assert "13 headlines read, 8 triggered, 4 triggers" in stdout
    assert "2 retracted by a later denial (rules classifier" in stdout
    calendar = load_events(out)  # the backtest's own loader accepts it
    assert [e.id for e in calendar.events] == [
        "news-2025-02-21-capex_cut",
        "news-2025-02-21-capex_cut-retracted",  # Microsoft's denial, three days later (RSS)
        "news-2026-03-24-efficiency_breakthrough",
        "news-2026-07-01-compute_resale",
        "news-2026-07-02-custom_silicon",
        "news-2026-07-01-compute_resale-retracted",  # Meta's denial of 07-03 (JSON Lines)
    ]
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    resale = rows[rows["category"] == "compute_resale"].iloc[0]
    assert resale["known_at"] == "2026-07-01T07:40:00-04:00"  # the earliest of the story
    assert resale["source"] == "Bloomberg"
    assert resale["sources"] == "Bloomberg;Reuters;Benzinga"  # CSV, CSV, JSON Lines
    assert resale["direction"] == "+1" and resale["score"] == "6"
    assert resale["matched_rules"] == (
        "compute_resale.idle_compute+2;compute_resale.rent_out+2;compute_resale.sell_compute+1;"
        "compute_resale.cloud_unit+1"
    )
    assert resale["retracts"] == ""
    denial = rows[rows["id"] == "news-2026-07-01-compute_resale-retracted"].iloc[0]
    assert denial["known_at"] == "2026-07-03T10:00:00-04:00"  # the denial's own time
    assert denial["direction"] == "-1" and denial["category"] == "compute_resale"
    assert denial["retracts"] == "news-2026-07-01-compute_resale"
    assert denial["headline"] == "Meta denies report that it will sell surplus AI compute"
    silicon = rows[rows["category"] == "custom_silicon"].iloc[0]
    assert silicon["known_at"] == "2026-07-02T18:00:00+00:00"  # JSON 18:00Z before CSV 23:59 NY
    assert silicon["sources"] == "Reuters;The Information"
    assert "Events: " in stdout


def test_classify_explain_shows_why(capsys):
    code, stdout, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--explain")
    assert code == 0, err
    assert "TRIGGER compute_resale (+1): compute_resale score 6 >= threshold 2" in stdout
    assert "idle_compute +2: 'Excess AI Compute' (pattern '<idle> ... <compute>')" in stdout
    assert "no trigger: no rule matched" in stdout  # the copper and metal headline
    assert "no trigger: negated: 'surplus AI compute' (compute_resale) cancelled by 'denies'" in (
        stdout
    )
    assert "actors: Meta" in stdout
    assert "denies compute_resale: retracts an earlier trigger of the same story" in stdout


def test_classify_min_score_and_window(capsys, tmp_path):
    code, stdout, _ = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--min-score", "7")
    assert code == 0 and "5 headlines read, 0 triggered, 0 triggers" in stdout, stdout
    code, stdout, _ = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--window", "0.1")
    assert "3 triggered, 3 triggers" in stdout  # Bloomberg and Reuters 25 min apart
    out = tmp_path / "none.csv"
    code, _, err = run_cli(
        capsys, "events", "classify", str(SAMPLES[0]), "--min-score", "9", "--out", str(out)
    )
    assert code == 0 and "holds a header only" in err
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--min-score", "0")
    assert_one_line_error(code, err, "--min-score 0")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--min-score", "nan"),
        ("--min-score", "inf"),
        ("--min-score", "-inf"),
        ("--window", "inf"),
        ("--window", "nan"),
        ("--window", "-inf"),
    ],
)
def test_classify_refuses_non_finite_numbers(capsys, tmp_path, flag, value):
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), flag, value)
    assert_one_line_error(code, err, f"{flag} {value}", "finite")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_evaluate_refuses_a_non_finite_min_score(capsys, value):
    args = ["events", "evaluate", str(DATA / "holdout_headlines.csv"), "--min-score", value]
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, f"--min-score {value}", "finite")


@pytest.mark.parametrize(
    ("key", "value"), [("threshold", "nan"), ("threshold", "inf"), ("dedup_window_hours", "inf")]
)
def test_rules_file_refuses_non_finite_settings(capsys, tmp_path, key, value):
    rules = tmp_path / "r.toml"
    text = (DATA.parent.parent / "data" / "news" / "rules.toml").read_text()
    rules.write_text(re.sub(rf"(?m)^{key} = \S+", f"{key} = {value}", text, count=1))
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--rules", str(rules))
    assert_one_line_error(code, err, "r.toml", f"settings.{key}", "finite")


# --- classify --out: never lose a file ---------------------------------------------------------


def test_classify_out_onto_its_own_input_is_refused(capsys, tmp_path):
    news = tmp_path / "news.csv"
    news.write_bytes(SAMPLES[0].read_bytes())
    before = news.read_bytes()
    for target in (news, tmp_path / "." / "news.csv"):
        code, _, err = run_cli(capsys, "events", "classify", str(news), "--out", str(target))
        assert_one_line_error(code, err, "news.csv", "input")
        code, _, err = run_cli(
            capsys, "events", "classify", str(news), "--out", str(target), "--overwrite"
        )
        assert_one_line_error(code, err, "news.csv", "input")
    link = tmp_path / "link.csv"
    link.symlink_to(news)
    code, _, err = run_cli(capsys, "events", "classify", str(news), "--out", str(link))
    assert_one_line_error(code, err, "link.csv", "input")
    assert news.read_bytes() == before and link.is_symlink()


def test_classify_out_onto_the_rules_file_is_refused(capsys, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_bytes((DATA.parent.parent / "data" / "news" / "rules.toml").read_bytes())
    args = ["events", "classify", str(SAMPLES[0]), "--rules", str(rules), "--out", str(rules)]
    code, _, err = run_cli(capsys, *args, "--overwrite")
    assert_one_line_error(code, err, "rules.toml", "input")


def test_classify_out_a_folder_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--out", str(tmp_path))
    assert_one_line_error(code, err, str(tmp_path), "folder")
    assert list(tmp_path.iterdir()) == []


def test_classify_out_never_replaces_a_file_it_did_not_write(capsys, tmp_path):
    mine = tmp_path / "notes.csv"
    mine.write_text("my,own\nprecious,data\n")
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--out", str(mine))
    assert_one_line_error(code, err, "notes.csv", "--overwrite")
    assert mine.read_text() == "my,own\nprecious,data\n"
    hand_made = tmp_path / "hand.csv"  # an events file, but not one classify wrote
    hand_made.write_text("id,known_at,direction,category,headline\na,2026-07-01,+1,x,y\n")
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--out", str(hand_made))
    assert_one_line_error(code, err, "hand.csv", "--overwrite")
    assert hand_made.read_text().startswith("id,known_at,direction,category,headline\na,")
    code, _, err = run_cli(
        capsys, "events", "classify", str(SAMPLES[0]), "--out", str(mine), "--overwrite"
    )
    assert code == 0, err
    assert len(load_events(mine)) == 3  # two stories and a retraction


def test_classify_out_replaces_its_own_events_file(capsys, tmp_path):
    out = tmp_path / "ev.csv"
    assert run_cli(capsys, "events", "classify", *map(str, SAMPLES), "--out", str(out))[0] == 0
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--out", str(out))
    assert code == 0, err
    assert len(load_events(out)) == 3
    empty = tmp_path / "empty.csv"  # an empty file holds nothing to lose
    empty.write_text("")
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--out", str(empty))
    assert code == 0, err
    older = tmp_path / "older.csv"  # written by classify before retractions had a column
    older.write_text(
        "id,known_at,direction,category,headline,companies,source,score,sources,matched_rules\n"
    )
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--out", str(older))
    assert code == 0, err


# --- terminal escapes from headlines -------------------------------------------------------------

HOSTILE = "\x1b[2J\x1b]0;pwned\x07Meta\x9b31m to sell \u202espare\u202c AI compute\x1b[0m"


def test_list_and_classify_never_print_terminal_escapes(capsys, tmp_path):
    news = tmp_path / "evil.jsonl"
    news.write_text(
        json.dumps(
            {"published_at": "2026-07-01T08:00", "headline": HOSTILE, "source": "Wire\x1b[31m"}
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "ev.csv"
    code, stdout, err = run_cli(
        capsys, "events", "classify", str(news), "--explain", "--out", str(out)
    )
    assert code == 0, err
    for text in (stdout, err):
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e\u202c"), repr(text)
    assert "\\x1b[2J" in stdout  # shown, visibly escaped
    code, stdout, err = run_cli(capsys, "events", "list", "--file", str(out))
    assert code == 0, err
    for text in (stdout, err):
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e\u202c"), repr(text)
    assert "\\x1b[2J" in stdout and "\\u202e" in stdout
    assert "Wire\\x1b[31m" in stdout


def test_classify_shows_the_first_triggers_and_writes_them_all(capsys, tmp_path, monkeypatch):
    from backtests.cli import events

    monkeypatch.setattr(events, "SHOWN_TRIGGERS", 2)
    out = tmp_path / "ev.csv"
    code, stdout, err = run_cli(capsys, "events", "classify", *map(str, SAMPLES), "--out", str(out))
    assert code == 0, err
    assert "First 2 triggers" in stdout and f"... and 4 more triggers (all are in {out})" in stdout
    assert len(load_events(out)) == 6
    code, stdout, err = run_cli(capsys, "events", "classify", *map(str, SAMPLES))
    assert "... and 4 more triggers (pass --out FILE to keep them all)" in stdout


def test_classify_with_replacement_rules(capsys, tmp_path):
    rules = tmp_path / "mine.toml"
    rules.write_text(
        "[settings]\nthreshold = 1\n"
        '[actors.Copper]\ngroup = "metal"\naliases = ["Copper"]\n'
        '[categories.capex_raise]\ndirection = -1\nactor_groups = ["metal"]\n'
        '[[categories.capex_raise.signals]]\nname = "rally"\nweight = 1\npatterns = ["rally"]\n'
    )
    code, stdout, err = run_cli(
        capsys, "events", "classify", str(SAMPLES[0]), "--rules", str(rules), "--explain"
    )
    assert code == 0, err
    assert "TRIGGER capex_raise (-1)" in stdout and "rally +1: 'rally'" in stdout
    assert "1 triggered, 1 triggers" in stdout and str(rules) in stdout


def test_bad_rules_file_is_one_line(capsys, tmp_path):
    rules = tmp_path / "bad.toml"
    rules.write_text("[settings]\nthreshold = 2\n[categories.x]\ndirection = 0\n")
    code, _, err = run_cli(capsys, "events", "classify", str(SAMPLES[0]), "--rules", str(rules))
    assert_one_line_error(code, err, "bad.toml", "categories.x.direction")


BAD_NEWS = (
    "published_at,headline,source\n"
    "2026-07-01T08:00,Meta to sell surplus AI compute,Bloomberg\n"
    "not-a-date,Anthropic to build custom AI chip,Reuters\n"
    ",Microsoft cancels data center leases,Reuters\n"
)


def test_bad_rows_fail_with_file_and_line(capsys, tmp_path):
    news = tmp_path / "wire.csv"
    news.write_text(BAD_NEWS)
    out = tmp_path / "ev.csv"
    code, _, err = run_cli(capsys, "events", "classify", str(news), "--out", str(out))
    assert_one_line_error(
        code, err, "wire.csv, line 3, column 'published_at'", "and 1 more bad rows", "--skip-bad"
    )
    assert not out.exists()


def test_skip_bad_prints_the_count_and_goes_on(capsys, tmp_path):
    news = tmp_path / "wire.csv"
    news.write_text(BAD_NEWS)
    out = tmp_path / "ev.csv"
    code, stdout, err = run_cli(
        capsys, "events", "classify", str(news), "--skip-bad", "--out", str(out)
    )
    assert code == 0, err
    assert "skipped 2 bad rows (first: " in err and "wire.csv, line 3" in err
    assert "1 headlines read, 1 triggered, 1 triggers" in stdout
    assert len(load_events(out)) == 1


def test_headlines_with_brackets_are_printed_as_text(capsys, tmp_path):
    news = tmp_path / "b.csv"
    news.write_text(
        "published_at,headline,source\n"
        "2026-07-01T08:00,[UPDATE] Meta [/bold] to sell surplus AI compute,[Wire]\n"
    )
    out = tmp_path / "ev.csv"
    code, stdout, err = run_cli(
        capsys, "events", "classify", str(news), "--explain", "--out", str(out)
    )
    assert code == 0, err
    assert "[UPDATE] Meta [/bold] to sell surplus AI compute" in stdout
    code, stdout, err = run_cli(capsys, "events", "list", "--file", str(out))
    assert code == 0, err
    assert "[/bold]" in stdout and "[Wire]" in stdout


def test_missing_input_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "events", "classify", str(tmp_path / "nope.jsonl"))
    assert_one_line_error(code, err, "nope.jsonl", "does not exist")


# --- list ----------------------------------------------------------------------------------------


def test_list_the_bundled_calendar(capsys):
    code, stdout, err = run_cli(capsys, "events", "list", "--category", "compute_resale")
    assert code == 0, err
    assert "3 of 60 events" in stdout
    assert "ev-2026-07-01" in stdout and "Meta Compute" in stdout


def test_list_a_classified_file_with_sources_and_since(capsys, tmp_path):
    out = tmp_path / "ev.csv"
    assert run_cli(capsys, "events", "classify", *map(str, SAMPLES), "--out", str(out))[0] == 0
    args = ["events", "list", "--file", str(out), "--since", "2026-07-01"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "3 of 6 events" in stdout  # the resale story, the chip story, the resale's denial
    assert "Bloomberg;Reuters;Benzinga" in stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--category", "custom_silicone"], ["--category 'custom_silicone'", "custom_silicon"]),
        (["--since", "2026-13-01"], ["--since '2026-13-01'", "YYYY-MM-DD"]),
        (["--file", "/nonexistent/ev.csv"], ["/nonexistent/ev.csv", "does not exist"]),
    ],
)
def test_list_errors_are_one_line(capsys, args, fragments):
    code, _, err = run_cli(capsys, "events", "list", *args)
    assert_one_line_error(code, err, *fragments)


# --- validate ------------------------------------------------------------------------------------

BROKEN_EVENTS = (
    "id,known_at,direction,category,headline,sorce\n"
    "a,2026-07-01T08:00:00-04:00,+1,compute_resale,Meta sells compute,x\n"
    "b,2026-13-01,+1,custom_silicon,bad date,x\n"
    "c,2026-07-02,up,custom_silicon,bad direction,x\n"
    "a,2026-07-03,-1,capex_raise,duplicate id,x\n"
    "d,2026-07-06,-1,custom_silicon,odd direction,x\n"
    "e,2026-07-07,+1,custom_silicone,typo category,x,extra\n"
)


def test_validate_reports_every_problem(capsys, tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text(BROKEN_EVENTS)
    code, stdout, err = run_cli(capsys, "events", "validate", str(path))
    assert_one_line_error(code, err, "ev.csv: 5 problem(s), listed above")
    problems = [line for line in stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 5
    assert "unknown column 'sorce'; did you mean 'source'?" in problems[0]
    assert "ev.csv, line 3, column 'known_at'" in problems[1]
    assert "ev.csv, line 4, column 'direction'" in problems[2]
    assert "ev.csv, line 5, column 'id': id 'a' already used at line 2" in problems[3]
    assert "ev.csv, line 7: 7 fields, header has 6" in problems[4]
    assert "warning: " in stdout and "'custom_silicon' usually has direction +1" in stdout


def test_validate_agrees_with_the_loader(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text(BROKEN_EVENTS)
    check = check_events_file(path)
    with pytest.raises(Exception) as exc:
        load_events(path)
    assert str(exc.value).startswith(check.problems[0])


def test_validate_a_good_file(capsys, tmp_path):
    out = tmp_path / "ev.csv"
    assert run_cli(capsys, "events", "classify", *map(str, SAMPLES), "--out", str(out))[0] == 0
    code, stdout, err = run_cli(capsys, "events", "validate", str(out))
    assert code == 0, err
    assert "OK, 6 events, 0 warning(s)" in stdout  # retractions have the opposite direction
    bundled = DATA.parent.parent / "data" / "capex_events.csv"
    code, stdout, _ = run_cli(capsys, "events", "validate", str(bundled))
    assert code == 0 and "OK, 60 events" in stdout


def test_validate_empty_and_missing(capsys, tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("id,known_at,direction\n")
    code, stdout, err = run_cli(capsys, "events", "validate", str(empty))
    assert_one_line_error(code, err, "1 problem(s)")
    assert "has a header but no events" in stdout
    code, stdout, err = run_cli(capsys, "events", "validate", str(tmp_path / "nope.csv"))
    assert_one_line_error(code, err, "1 problem(s)")
    assert "does not exist" in stdout


# --- evaluate ------------------------------------------------------------------------------------


def test_evaluate_prints_pinned_figures(capsys):
    code, stdout, err = run_cli(capsys, "events", "evaluate", str(DATA / "labelled_headlines.csv"))
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    assert lines["custom_silicon"][1:] == ["81", "78", "78", "1.000", "0.963", "0.981"]
    assert lines["mega_order"][1:] == ["38", "25", "25", "1.000", "0.658", "0.794"]
    assert lines["labelled_headlines.csv"][1:] == ["346", "207/217", "95.4%", "129/129", "100.0%"]
    assert "Confusion matrix" in stdout
    assert "1 custom_silicon" in stdout
    none_row = next(line for line in stdout.splitlines() if line.strip().startswith("none "))
    assert none_row.split() == ["none", "0", "0", "0", "0", "0", "0", "129"]
    assert "rules: direction right on 207 of 217 should-trigger headlines (95.4%)" in stdout
    assert "no trigger on 129 of 129 should-not headlines (100.0%)" in stdout


def test_evaluate_errors_name_classifier_set_and_line(capsys):
    code, stdout, err = run_cli(
        capsys, "events", "evaluate", str(DATA / "holdout_headlines.csv"), "--errors"
    )
    assert code == 0, err
    assert "rules: direction right on 51 of 54 should-trigger headlines (94.4%)" in stdout
    assert "no trigger on 36 of 36 should-not headlines (100.0%)" in stdout
    errors = [line for line in stdout.splitlines() if line.startswith("rules: holdout")]
    assert len(errors) == 4
    assert errors[0].startswith(
        "rules: holdout_headlines.csv, line 5: mega_order -> none: Nvidia stock rockets"
    )


def test_evaluate_several_sets_and_classifiers_side_by_side(capsys):
    sets = [str(DATA / "headline_sets" / "dev" / f"{name}.csv") for name in ("wire", "passive")]
    code, stdout, err = run_cli(
        capsys, "events", "evaluate", *sets, "--classifier", "rules,model", "--by-set"
    )
    assert code == 0, err
    header = next(line for line in stdout.splitlines() if line.strip().startswith("set "))
    assert header.split() == [
        "set", "rows", "rules", "direction", "rules", "quiet", "model", "direction", "model",
        "quiet",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.strip()}
    assert rows["wire.csv"][0] == "70" and rows["passive.csv"][0] == "70"
    assert rows["pooled"][0] == "140"
    assert "Per category (pooled): precision, recall, F1" in stdout
    assert "Per category, model, " in stdout and "passive.csv" in stdout  # --by-set
    summary = [line for line in stdout.splitlines() if "should-trigger headlines" in line]
    assert [line.split(":")[0] for line in summary] == ["rules", "model"]
    assert "of 90 should-trigger headlines" in summary[0]
    assert "of 50 should-not headlines" in summary[0]


def test_evaluate_unknown_classifier_and_repeated_set(capsys):
    path = str(DATA / "holdout_headlines.csv")
    code, _, err = run_cli(capsys, "events", "evaluate", path, "--classifier", "gpt")
    assert_one_line_error(code, err, "--classifier 'gpt'", "rules, model, llm, ensemble")
    code, _, err = run_cli(capsys, "events", "evaluate", path, path)
    assert_one_line_error(code, err, "given twice")


def test_evaluate_bad_labelled_file(capsys, tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("headline,label_category\nMeta chip,chips\n")
    code, _, err = run_cli(capsys, "events", "evaluate", str(path))
    assert_one_line_error(code, err, "l.csv, line 2, column 'label_category'", "'chips'")


# --- backtest --news -----------------------------------------------------------------------------


def test_backtest_news_on_real_data(capsys, shared_market_data, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        capsys,
        "backtest",
        "--data-dir",
        str(shared_market_data),
        "--news",
        str(SAMPLES[0]),
        "--news",
        str(SAMPLES[1]),
        "--start",
        "2026-01-01",
        "--no-tearsheet",
        "--out",
        str(out),
    )
    assert code == 0, err
    assert "Report:" in stdout
    log = pd.read_csv(out / "events.csv", dtype=str, keep_default_na=False)
    assert list(log.columns[:9]) == [
        "event_id",
        "known_at",
        "entry_session",
        "category",
        "direction",
        "headline",
        "score",
        "sources",
        "matched_rules",
    ]
    assert list(log["event_id"]) == [
        "news-2026-07-01-compute_resale",
        "news-2026-07-02-custom_silicon",
        "news-2026-07-01-compute_resale-retracted",
    ]
    first, second, denial = log.iloc[0], log.iloc[1], log.iloc[2]
    assert first["headline"].startswith("Meta Is Building a Cloud Unit")
    assert first["sources"] == "Bloomberg;Reuters;Benzinga"
    assert first["matched_rules"].startswith("compute_resale.idle_compute+2")
    assert (first["entry_session"], first["action"]) == ("2026-07-01", "opened")
    assert second["sources"] == "Reuters;The Information"
    # Meta's denial (Fri 07-03, a holiday) enters with the chip story on Mon 07-06: the sum of
    # directions is 0, so neither extends nor closes the book opened on 07-01
    assert (denial["known_at"], denial["direction"]) == ("2026-07-03T10:00:00-04:00", "-1")
    assert denial["retracts"] == "news-2026-07-01-compute_resale"
    assert (second["entry_session"], second["action"]) == ("2026-07-06", "ignored")
    assert (denial["entry_session"], denial["action"]) == ("2026-07-06", "ignored")
    books = pd.read_csv(out / "books.csv")
    assert list(books["entry"]) == ["2026-07-01"]
    manifest = json.loads((out / "manifest.json").read_text())
    inputs = {Path(i["path"]).name for i in manifest["inputs"]}
    assert {"news_sample.csv", "news_sample.jsonl", "rules.toml", "actors.toml"} <= inputs


def test_backtest_news_errors_are_one_line(capsys, shared_market_data, tmp_path):
    base = ["backtest", "--data-dir", str(shared_market_data), "--out", str(tmp_path / "r")]
    code, _, err = run_cli(
        capsys, *base, "--news", str(SAMPLES[0]), "--events", str(tmp_path / "ev.csv")
    )
    assert_one_line_error(code, err, "--news and --events")
    quiet = tmp_path / "quiet.csv"
    quiet.write_text("published_at,headline\n2026-07-01,Copper and metal prices rally\n")
    code, _, err = run_cli(capsys, *base, "--news", str(quiet))
    assert_one_line_error(code, err, "no headline in", "quiet.csv", "--explain")
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_NEWS)
    code, _, err = run_cli(capsys, *base, "--news", str(bad))
    assert_one_line_error(code, err, "bad.csv, line 3", "events classify --skip-bad")
    assert not (tmp_path / "r").exists()


def test_events_help_lists_the_commands(capsys):
    code, stdout, _ = run_cli(capsys, "events", "--help")
    assert code == 0
    for command in ("classify", "list", "validate", "evaluate"):
        assert command in stdout
