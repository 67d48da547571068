"""The HTML pages people open: a run folder's index.html and tear sheet, the compare page.

Each is rendered in headless Chromium from the file system (``browser.py``) and must load with
no console error, no failed or off-machine resource and every image decoded. Unit tests check
escaping, the compare command's errors and that the compare table shows metrics.json's values.
"""

from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, assert_page_ok
from clitools import assert_one_line_error, run_cli

from backtests import cli
from backtests.runner import EVENT_LOG_COLUMNS
from reports.backtest_report import TRADE_COLUMNS, write_backtest_report
from reports.compare import METRIC_ROWS, TABLE_CSV

NASTY = """<script>document.title="pwned"</script> Q&A: <img src=x onerror="document.title='x'"> 'AI' "capex" </td>"""  # noqa: E501


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (fails under CI=true when it is missing)."""
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, shared_market_data) -> dict[str, Path]:
    """Two short runs on the real data: 'hold5' with its tear sheet, 'hold3' without."""
    root = tmp_path_factory.mktemp("runs")
    common = ["backtest", "--data-dir", str(shared_market_data), "--start", "2026-05-01"]
    runs = {
        "hold5": [*common, "--out", str(root / "hold5")],
        "hold3": [*common, "--set", "strategy.hold_sessions=3", "--no-tearsheet"],
    }
    runs["hold3"] += ["--out", str(root / "hold3")]
    for name, args in runs.items():
        assert cli.main(args) == 0, name
    return {name: root / name for name in runs}


def synthetic_run(
    folder: Path, *, headline: str = "Meta sells surplus compute", hold: int = 5, seed: int = 0
) -> Path:
    """A complete run folder from made-up numbers (no market data needed)."""
    rng = np.random.default_rng(seed)
    sessions = pd.bdate_range("2025-03-03", periods=60)
    returns = pd.Series(rng.normal(0.0005, 0.01, len(sessions)), index=sessions, name="strategy")
    returns.iloc[0] = 0.0
    bench = pd.Series(rng.normal(0.0004, 0.008, len(sessions)), index=sessions, name="SPY")
    bench.iloc[0] = 0.0
    value = 1_000_000.0 * (1.0 + returns).cumprod()
    equity = pd.DataFrame(
        {"equity": value, "cash": value, "long_value": 0.0, "short_value": 0.0},
        index=sessions.rename("date"),
    )
    equity["gross_exposure"] = 0.0
    day = [d.date().isoformat() for d in sessions]
    book = {
        "book_id": 0,
        "decision": day[9],
        "entry": day[10],
        "exit": day[10 + hold],
        "status": "hold",
        "extensions": 0,
        "sessions_held": hold,
        "long": "META MSFT",
        "short": "AMAT MU",
        "equity_at_decision": float(value.iloc[9]),
        "pnl": float(value.iloc[10 + hold] - value.iloc[9]),
        "return": float(value.iloc[10 + hold] / value.iloc[9] - 1),
    }
    books = pd.DataFrame([book])
    log = pd.DataFrame(
        [
            {
                "event_id": "old",
                "known_at": "2024-01-02T08:00:00-05:00",
                "entry_session": "2024-01-02",
                "category": "capex_cut",
                "direction": 1,
                "headline": "before the run",
                "action": "ignored",
                "reason": "entry session 2024-01-02 is before the run",
                "book_id": "",
                "book_entry": "",
                "book_exit": "",
                "book_status": "",
                "book_pnl": np.nan,
                "book_return": np.nan,
            },
            {
                "event_id": "e1",
                "known_at": f"{day[10]}T08:00:00-04:00",
                "entry_session": day[10],
                "category": "compute_resale",
                "direction": 1,
                "headline": headline,
                "action": "opened",
                "reason": f"book 0 opened, exit planned at session {day[10 + hold]}",
                "book_id": 0,
                "book_entry": day[10],
                "book_exit": day[10 + hold],
                "book_status": "hold",
                "book_pnl": book["pnl"],
                "book_return": book["return"],
            },
        ],
        columns=list(EVENT_LOG_COLUMNS),
    )
    facts = {
        "first_session": day[0],
        "last_session": day[-1],
        "sessions": len(day),
        "books_opened": 1,
        "days_invested": hold,
        "fills": 0,
        "final_equity": float(value.iloc[-1]),
        "turnover": 0.0,
        "costs": {"commission": 0.0, "slippage": 0.0, "borrow": 0.0, "total": 0.0},
    }
    manifest = {
        "tool": "capex-rotation",
        "command": ["backtest"],
        "config": {
            "run": {"name": "synthetic", "cash": 1_000_000.0, "benchmark": "SPY"},
            "strategy": {"hold_sessions": hold, "gross": 1.0, "max_gross": 3.0},
            "costs": {"commission_bps": 1.0, "slippage_bps": 2.0, "borrow_bps": 50.0},
            "universe": {"long": ["META", "MSFT"], "short": ["AMAT", "MU"]},
            "events": {"file": None, "categories": []},
        },
        "calendar": "XNYS",
        "sessions": {"first": day[0], "last": day[-1], "count": len(day)},
        "inputs": [{"path": "<made up>/SPY.csv", "sha256": "0" * 64}],
        "python": "3.11",
        "packages": {"capex-rotation": "0.1.0"},
        "engine": "synthetic",
    }
    write_backtest_report(
        folder,
        returns=returns,
        benchmark=bench,
        equity=equity,
        fills=pd.DataFrame(columns=TRADE_COLUMNS),
        event_log=log,
        books=books,
        facts=facts,
        manifest=manifest,
        title=f"Synthetic run <{hold}>",
        parameters={"Hold": f"{hold} sessions"},
        tearsheet=False,
    )
    return folder


class _Cells(HTMLParser):
    """The compare page's metric cells: (run, metric) -> exact value (title attribute)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-metric" in a:
            self.cells[(a["data-run"], a["data-metric"])] = a["title"]


def _lookup(document: dict, key: str):
    for part in key.split("."):
        document = document[part]
    return document


# -- pages in the browser ------------------------------------------------------------------------


def test_run_index_renders(real_runs, browser):
    for name, folder in real_runs.items():
        assert_page_ok(folder / "index.html", browser)
        page = (folder / "index.html").read_text(encoding="utf-8")
        assert "<script" not in page
        assert ('href="tearsheet.html"' in page) == (name == "hold5")
        assert 'src="equity_events.png"' in page and (folder / "equity_events.png").is_file()
        manifest = json.loads((folder / "manifest.json").read_text())
        for item in manifest["inputs"]:
            assert item["sha256"] in page
        assert "2026-07-01" in page  # the Meta surplus-compute event is in the log


def test_tearsheet_renders_offline(real_runs, browser):
    path = real_runs["hold5"] / "tearsheet.html"
    assert_page_ok(path, browser)
    page = path.read_text(encoding="utf-8")
    assert "qtpylib.io" not in page and "save()" not in page


def test_compare_page_renders(real_runs, browser, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(
        capsys, "compare", str(real_runs["hold5"]), str(real_runs["hold3"]), "--out", str(out)
    )
    assert code == 0, err
    assert str(out / "index.html") in stdout.replace("\n", "")
    assert_page_ok(out / "index.html", browser)
    for png in ("compare_equity.png", "compare_drawdown.png"):
        assert (out / png).is_file()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "hold5 (hold 5)" in page and "hold3 (hold 3)" in page  # folder name + what differs
    assert '<a href="../' in page  # relative links to the runs' own pages


def test_escaped_headline_is_inert_in_the_browser(tmp_path, browser):
    folder = synthetic_run(tmp_path / "run", headline=NASTY)
    assert_page_ok(folder / "index.html", browser)
    problems, found = browser.inspect(
        folder / "index.html",
        "({title: document.title, scripts: document.scripts.length, "
        "text: document.body.innerText})",
    )
    assert problems == []
    assert found["title"] == "Synthetic run <5>" and found["scripts"] == 0
    assert NASTY.strip() in found["text"]


# -- unit tests ----------------------------------------------------------------------------------


def test_headlines_are_escaped_in_index(tmp_path):
    folder = synthetic_run(tmp_path / "run", headline=NASTY)
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert (
        "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt; Q&amp;A: "
        "&lt;img src=x onerror=&quot;document.title=&#x27;x&#x27;&quot;&gt; "
        "&#x27;AI&#x27; &quot;capex&quot; &lt;/td&gt;"
    ) in page
    assert "<title>Synthetic run &lt;5&gt;</title>" in page
    assert "before the run" not in page  # events outside the run are counted, not listed
    assert "1 event(s) of the file fall outside the run" in page


def test_index_written_with_every_run(real_runs):
    for folder in real_runs.values():
        assert {"index.html", "equity_events.png"} <= {p.name for p in folder.iterdir()}


def test_compare_table_equals_metrics_json(tmp_path, capsys):
    runs = [synthetic_run(tmp_path / f"h{h}", hold=h, seed=h) for h in (3, 5, 8)]
    out = tmp_path / "cmp"
    code, _, err = run_cli(capsys, "compare", *map(str, runs), "--out", str(out))
    assert code == 0, err
    parser = _Cells()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    table = pd.read_csv(out / TABLE_CSV).set_index("run")
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        for key, *_ in METRIC_ROWS:
            expected = _lookup(metrics, key)
            shown = parser.cells[(run.name, key)]
            in_csv = table.loc[run.name, key]
            if expected is None:
                assert shown == "null" and math.isnan(in_csv), key
            else:
                assert float(shown) == expected, key  # exact: the cell carries repr(value)
                assert float(in_csv) == expected, key
    assert len(parser.cells) == len(runs) * len(METRIC_ROWS)
    assert list(table["hold"]) == [3, 5, 8]


def test_compare_rerun_replaces_its_folder(tmp_path, capsys):
    a, b = synthetic_run(tmp_path / "a"), synthetic_run(tmp_path / "b", hold=3)
    out = tmp_path / "cmp"
    for _ in range(2):
        code, _, err = run_cli(capsys, "compare", str(a), str(b), "--out", str(out))
        assert code == 0, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_same_folder_names_are_told_apart(tmp_path, capsys):
    a = synthetic_run(tmp_path / "x" / "run")
    b = synthetic_run(tmp_path / "y" / "run", hold=3)
    code, _, err = run_cli(capsys, "compare", str(a), str(b), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    page = (tmp_path / "cmp" / "index.html").read_text(encoding="utf-8")
    assert "x/run (hold 5)" in page and "y/run (hold 3)" in page


@pytest.fixture
def two_runs(tmp_path) -> tuple[Path, Path]:
    return synthetic_run(tmp_path / "a"), synthetic_run(tmp_path / "b", hold=3)


def test_compare_needs_two_runs(two_runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, _, err = run_cli(capsys, "compare", str(two_runs[0]), "--out", str(out))
    assert_one_line_error(code, err, "at least two run folders", "got 1")
    code, _, err = run_cli(capsys, "compare", "--out", str(out))
    assert_one_line_error(code, err, "RUN_DIR")
    assert not out.exists()


@pytest.mark.parametrize(
    ("breakage", "fragments"),
    [
        ("missing", ["does not exist"]),
        ("file", ["is not a folder"]),
        ("empty", ["is not a run folder", "equity.csv", "metrics.json", "manifest.json"]),
        ("no_equity", ["is not a run folder", "equity.csv"]),
        ("bad_json", ["metrics.json", "not valid JSON", "line 1"]),
        ("not_metrics", ["metrics.json", "no 'strategy' metrics"]),
        ("bad_equity", ["equity.csv", "line 4", "12.x"]),
        ("no_equity_column", ["equity.csv", "no 'equity' column"]),
    ],
)
def test_compare_bad_run_folder(two_runs, tmp_path, capsys, breakage, fragments):
    bad = two_runs[1]
    if breakage == "missing":
        shutil.rmtree(bad)
    elif breakage == "file":
        shutil.rmtree(bad)
        bad.write_text("x")
    elif breakage == "empty":
        shutil.rmtree(bad)
        bad.mkdir()
    elif breakage == "no_equity":
        (bad / "equity.csv").unlink()
    elif breakage == "bad_json":
        (bad / "metrics.json").write_text("{not json")
    elif breakage == "not_metrics":
        (bad / "metrics.json").write_text('{"grid": []}')
    elif breakage == "bad_equity":
        lines = (bad / "equity.csv").read_text().splitlines()
        fields = lines[3].split(",")
        fields[1] = "12.x"  # line 4, column equity
        lines[3] = ",".join(fields)
        (bad / "equity.csv").write_text("\n".join(lines) + "\n")
    elif breakage == "no_equity_column":
        (bad / "equity.csv").write_text("date,value\n2025-03-03,1\n")
    out = tmp_path / "cmp"
    code, _, err = run_cli(capsys, "compare", str(two_runs[0]), str(bad), "--out", str(out))
    assert_one_line_error(code, err, str(bad), *fragments)
    assert not out.exists()


def test_compare_refuses_to_overwrite_a_run(two_runs, capsys):
    a, b = two_runs
    before = sorted(p.name for p in b.iterdir())
    for out in (b, b / "sub"):
        code, _, err = run_cli(capsys, "compare", str(a), str(b), "--out", str(out))
        assert_one_line_error(code, err, "--out", "overlaps run folder")
    assert sorted(p.name for p in b.iterdir()) == before


def test_compare_same_run_twice(two_runs, tmp_path, capsys):
    a, _ = two_runs
    code, _, err = run_cli(capsys, "compare", str(a), str(a) + "/", "--out", str(tmp_path / "c"))
    assert_one_line_error(code, err, "given twice")


def test_compare_refuses_foreign_output_folder(two_runs, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = run_cli(capsys, "compare", *map(str, two_runs), "--out", str(out))
    assert_one_line_error(code, err, "not empty")
    assert (out / "notes.txt").read_text() == "keep me"


# -- the research pages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("event-study", ["--start", "2024-01-02"]),
        ("placebo", ["--draws", "20", "--seed", "3", "--start", "2023-01-03"]),
        ("walk-forward", ["--train", "1y", "--test", "6m", "--step", "6m", "--no-tearsheet"]),
    ],
)
def test_research_pages_render(command, extra, shared_market_data, tmp_path, capsys, browser):
    out = tmp_path / command
    args = [command]
    if command == "walk-forward":
        grid = tmp_path / "grid.toml"
        grid.write_text(
            '[run]\nstart = 2022-01-03\n[grid]\n"strategy.hold_sessions" = [1, 5]\n'
            '"strategy.gross" = [0.5, 1.0]\n'
        )
        args.append(str(grid))
    code, _, err = run_cli(
        capsys, *args, "--data-dir", str(shared_market_data), "--out", str(out), *extra
    )
    assert code == 0, err
    assert_page_ok(out / "index.html", browser)
    assert list(out.glob("*.png")), "the page has no picture to check"
    if command == "event-study":  # the tests that allow for overlap, with rbar, as a table
        page = (out / "index.html").read_text(encoding="utf-8")
        section = page[page.index('id="overlap-tests"') :]
        assert "<table>" in section and "r\u0304" in section and "p (HAC)" in section
