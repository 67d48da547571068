"""The command line: bad input gives one line and exit 2; runs write complete, reproducible
folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from clitools import assert_one_line_error, run_cli

from backtests import runner
from data.errors import DataError

TICKERS = [
    "META",
    "MSFT",
    "GOOGL",
    "AMZN",
    "AMAT",
    "LRCX",
    "KLAC",
    "ASML",
    "TER",
    "ENTG",
    "MU",
    "WDC",
    "SNDK",
    "SPY",
]


@pytest.fixture
def data_copy(tmp_path, shared_market_data) -> Path:
    """A private copy of the universe's CSV files, safe to corrupt."""
    folder = tmp_path / "data"
    folder.mkdir()
    for ticker in TICKERS:
        shutil.copy(shared_market_data / f"{ticker}.csv", folder / f"{ticker}.csv")
    return folder


def test_nonexistent_data_dir(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "backtest", "--data-dir", "/nonexistent", "--out", str(out))
    assert_one_line_error(code, err, "/nonexistent", "does not exist", "--data-dir")
    assert not out.exists()


def test_unknown_config_key_suggests(capsys, tmp_path):
    config = tmp_path / "cfg.toml"
    config.write_text("[strategy]\nhold_session = 3\n")
    code, _, err = run_cli(capsys, "backtest", str(config), "--data-dir", "/x")
    assert_one_line_error(code, err, "cfg.toml", "strategy.hold_session", "strategy.hold_sessions")


def test_unknown_set_key_suggests(capsys):
    code, _, err = run_cli(capsys, "backtest", "--set", "costs.comission_bps=2")
    assert_one_line_error(code, err, "costs.comission_bps", "costs.commission_bps")


def test_bad_value_names_key(capsys):
    code, _, err = run_cli(
        capsys, "backtest", "--set", "strategy.hold_sessions=0", "--data-dir", "/x"
    )
    assert_one_line_error(code, err, "strategy.hold_sessions")


def test_gross_above_cap(capsys):
    code, _, err = run_cli(capsys, "backtest", "--set", "strategy.gross=4", "--data-dir", "/x")
    assert_one_line_error(code, err, "strategy.gross", "max_gross")


def test_bad_start_date(capsys):
    code, _, err = run_cli(capsys, "backtest", "--start", "2015-13-01", "--data-dir", "/x")
    assert_one_line_error(code, err, "--start", "2015-13-01")


def test_start_after_end(capsys):
    code, _, err = run_cli(capsys, "backtest", "--start", "2020-01-02", "--end", "2019-01-01")
    assert_one_line_error(code, err, "empty date range")


def test_unknown_option_is_one_line(capsys):
    code, _, err = run_cli(capsys, "backtest", "--hold", "3")
    assert code == 2
    assert len([x for x in err.splitlines() if x.strip()]) == 1


def test_debug_shows_traceback(capsys):
    code, _, err = run_cli(capsys, "backtest", "--data-dir", "/nonexistent", "--debug")
    assert code == 2
    assert "Traceback" in err


def test_empty_date_range(capsys, shared_market_data, tmp_path):
    code, _, err = run_cli(
        capsys,
        "backtest",
        "--data-dir",
        str(shared_market_data),
        "--start",
        "2030-01-01",
        "--out",
        str(tmp_path / "r"),
    )
    assert_one_line_error(code, err, "empty date range")
    assert not (tmp_path / "r").exists()


def test_unknown_ticker(capsys, shared_market_data):
    code, _, err = run_cli(
        capsys,
        "backtest",
        "--data-dir",
        str(shared_market_data),
        "--set",
        'universe.long=["META","NOPE"]',
    )
    assert_one_line_error(code, err, "NOPE", "NOPE.csv")


def test_malformed_csv_names_file_line_column(capsys, data_copy, tmp_path):
    path = data_copy / "MU.csv"
    lines = path.read_text().splitlines()
    fields = lines[9].split(",")
    fields[4] = "12.x"
    lines[9] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "backtest", "--data-dir", str(data_copy), "--out", str(out))
    assert_one_line_error(code, err, "MU", "MU.csv", "line 10", "'close'", "12.x")
    assert not out.exists()


def test_bad_events_file(capsys, shared_market_data, tmp_path):
    events = tmp_path / "ev.csv"
    events.write_text("known_at,direction\n2025-01-27T08:00,+1\n2025-13-01,+1\n")
    code, _, err = run_cli(
        capsys, "backtest", "--data-dir", str(shared_market_data), "--events", str(events)
    )
    assert_one_line_error(code, err, "ev.csv", "line 3", "known_at")


def test_yahoo_unreachable_is_one_line(capsys, monkeypatch, tmp_path):
    def unreachable(config):
        class Source:
            def load(self, tickers, start, end):
                raise DataError(f"Yahoo returned no data for {', '.join(tickers)}; use --data-dir")

        return Source()

    monkeypatch.setattr(runner, "price_source", unreachable)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "backtest", "--out", str(out))
    assert_one_line_error(code, err, "Yahoo", "META", "--data-dir")
    assert not out.exists()


def test_refuses_foreign_output_folder(capsys, shared_market_data, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = run_cli(
        capsys, "backtest", "--data-dir", str(shared_market_data), "--out", str(out)
    )
    assert_one_line_error(code, err, "not empty")
    assert (out / "notes.txt").read_text() == "keep me"


def test_failure_while_writing_leaves_nothing(capsys, monkeypatch, shared_market_data, tmp_path):
    import reports.backtest_report as report

    def broken(*args, **kwargs):
        raise DataError("simulated failure while writing the tear sheet")

    monkeypatch.setattr(report, "write_tearsheet", broken)
    out = tmp_path / "run"
    code, _, _ = run_cli(
        capsys,
        "backtest",
        "--data-dir",
        str(shared_market_data),
        "--start",
        "2026-06-01",
        "--out",
        str(out),
    )
    assert code == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in {".csv", ".json"}}


def test_run_writes_complete_reproducible_folder(capsys, shared_market_data, tmp_path):
    args = [
        "backtest",
        "--data-dir",
        str(shared_market_data),
        "--start",
        "2025-06-01",
        "--no-tearsheet",
    ]
    code, out, err = run_cli(capsys, *args, "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert "Report:" in out and "in-sample" in out
    code, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "b"))
    assert code == 0, err
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert set(first) == {
        "metrics.json",
        "equity.csv",
        "trades.csv",
        "events.csv",
        "books.csv",
        "manifest.json",
    }
    for name in ("metrics.json", "equity.csv", "trades.csv", "events.csv", "books.csv"):
        assert first[name] == second[name], name

    equity = pd.read_csv(tmp_path / "a" / "equity.csv")
    assert list(equity.columns) == [
        "date",
        "equity",
        "cash",
        "long_value",
        "short_value",
        "gross_exposure",
    ]
    trades = pd.read_csv(tmp_path / "a" / "trades.csv")
    assert list(trades.columns) == ["date", "ticker", "side", "shares", "price", "commission"]
    assert set(trades["side"]) <= {"buy", "sell", "short", "cover"}
    events = pd.read_csv(tmp_path / "a" / "events.csv")
    assert len(events) == 60
    assert set(events["action"]) <= {"opened", "extended", "closed", "ignored"}
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["facts"]["final_equity"] == pytest.approx(equity["equity"].iloc[-1], rel=1e-15)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["strategy"]["hold_sessions"] == 5
    assert {Path(i["path"]).name for i in manifest["inputs"]} >= {"SPY.csv", "capex_events.csv"}

    # A rerun into the same folder replaces the previous run.
    code, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert _files(tmp_path / "a")["equity.csv"] == first["equity.csv"]


def test_set_and_events_options(capsys, shared_market_data, tmp_path):
    events = tmp_path / "my_events.csv"
    events.write_text(
        "id,known_at,direction,category,headline\n"
        "a,2026-07-01T08:00:00-04:00,+1,compute_resale,Meta sells surplus compute\n"
        "b,2026-07-02,+1,custom_silicon,<script>alert(1)</script> custom chip talks\n"
    )
    out = tmp_path / "run2"
    code, _, err = run_cli(
        capsys,
        "backtest",
        "--data-dir",
        str(shared_market_data),
        "--events",
        str(events),
        "--set",
        "strategy.hold_sessions=3",
        "--start",
        "2026-01-01",
        "--out",
        str(out),
    )
    assert code == 0, err
    log = pd.read_csv(out / "events.csv")
    assert list(log["action"]) == ["opened", "extended"]
    assert list(log["entry_session"]) == ["2026-07-01", "2026-07-06"]
    books = pd.read_csv(out / "books.csv")
    assert books.loc[0, "exit"] == "2026-07-09"  # 2026-07-06 + 3 sessions
    page = (out / "tearsheet.html").read_text()
    assert "<script>alert(1)" not in page
    assert "SPY" in page
