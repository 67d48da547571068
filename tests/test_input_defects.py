"""Issue 11, the input defects (6, 9, 10, 11, 14, 15, 17, 18): each reproduced as it was
reported, then the behaviour the README promises.

Also the two speed changes of that issue that must not change a result: the Arrow fast path of
price files gives exactly what the row-by-row parser gives (or falls back to it), and the cached
NYSE calendar has exactly exchange_calendars' sessions, opens and closes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import assert_one_line_error, one_line, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from backtests.config import ConfigError, load_config
from data.csv_source import CsvPriceSource
from data.errors import DataError
from data.events import check_events_file, load_events, parse_known_at
from data.news.feeds import load_news, read_news_file
from data.prices import parse_price_csv, read_price_csv
from data.textfiles import decode_text

HEADER = "date,open,high,low,close,adj_close,volume"
YAHOO = "Date,Open,High,Low,Close,Adj Close,Volume"
ROWS = (
    "2024-01-02,10,11,9,10.5,,1000",
    "2024-01-03,10.5,12,10,11,,2000",
    "2024-01-04,11,11.5,10.25,11.25,,0",
)
LIMIT = csv.field_size_limit()  # 131,072: the csv module's cell limit


def text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def price_error(body: str, path: str = "p/ABC.csv") -> str:
    with pytest.raises(DataError) as exc_info:
        parse_price_csv(body, "ABC", path)
    message = one_line(exc_info)
    assert message.startswith(f"ABC: {path}"), message
    return message


def write_prices(folder: Path, name: str, *rows: str, header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text(*rows, header=header), encoding="utf-8")
    return path


# --- 6. dates outside pandas' nanosecond range ---------------------------------------------------


@pytest.mark.parametrize(
    "day",
    ["2262-05-01", "2262-04-12", "9999-12-31", "1600-01-01", "0001-01-01", "1677-09-21"],
)
def test_price_date_out_of_range_is_refused_where_it_is(day):
    # Reported: 2262-05-01 became a bar dated 1677-10-10 and the run exited 0; 9999-12-31 was
    # reported as "date 1816-03-29 comes after 2024-01-02".
    message = price_error(text(ROWS[0], f"{day},10,11,9,10.5,,1000"))
    assert "line 3, column 'date'" in message
    assert f"{day!r} is outside the supported dates 1678-01-01 to 2261-12-31" in message


@pytest.mark.parametrize("cell", ["2300-01-02 00:00:00-05:00", "1500-01-02 09:30:00+00:00"])
def test_price_datetime_out_of_range_is_refused(cell):
    message = price_error(text(ROWS[0], f"{cell},10,11,9,10.5,,1000"))
    assert "line 3, column 'date'" in message and "outside the supported dates" in message


def test_price_dates_at_the_edges_of_the_range_are_read():
    bars = parse_price_csv(
        text("1678-01-01,10,11,9,10.5,,1", "2261-12-31,10,11,9,10.5,,1"), "ABC", "x"
    )
    assert [d.date().isoformat() for d in bars.index] == ["1678-01-01", "2261-12-31"]


@pytest.mark.parametrize(
    "stamp", ["2262-05-01", "2262-05-01T08:00", "9999-12-31T10:00:00Z", "0001-01-01", "1677-01-01"]
)
def test_known_at_out_of_range_is_refused(stamp):
    with pytest.raises(ValueError, match="outside the supported dates 1678-01-01 to 2261-12-31"):
        parse_known_at(stamp)


def test_known_at_edges_of_the_range_are_read():
    assert parse_known_at("1678-01-01T00:00Z") == pd.Timestamp("1678-01-01", tz="UTC")
    assert parse_known_at("2261-12-31").isoformat() == "2261-12-31T23:59:59-05:00"
    # the date as written decides; an offset cannot leave pandas' range (whole-year margins)
    late = parse_known_at("2261-12-31T23:00:00-12:00")
    assert late.tz_convert("UTC").isoformat() == "2262-01-01T11:00:00+00:00"
    with pytest.raises(ValueError, match="outside the supported dates"):
        parse_known_at("2262-01-01T01:00:00+12:00")


def test_events_file_out_of_range_load_and_validate_agree(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("known_at,direction\n2025-01-27T08:00,+1\n2262-05-01,+1\n", encoding="utf-8")
    with pytest.raises(DataError) as exc_info:
        load_events(path)
    message = one_line(exc_info)
    assert message.startswith(f"{path}, line 3, column 'known_at': '2262-05-01' is outside")
    assert check_events_file(path).problems == (message,)


def test_news_csv_out_of_range_is_a_located_bad_row(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text(
        "published_at,headline\n2026-07-01T08:00,Meta sells compute\n2262-05-01,Far away\n",
        encoding="utf-8",
    )
    items, bad = read_news_file(path)
    assert len(items) == 1 and len(bad) == 1
    assert str(bad[0]).startswith(f"{path}, line 3, column 'published_at': '2262-05-01' is ")
    assert "outside the supported dates" in str(bad[0])


# --- 9. open and close against high and low ------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("2024-01-03,999999,12,10,11,,2000", "open", "open 999999.0 is above high 12.0"),
        ("2024-01-03,9.5,12,10,11,,2000", "open", "open 9.5 is below low 10.0"),
        ("2024-01-03,10.5,12,10,12.5,,2000", "close", "close 12.5 is above high 12.0"),
        ("2024-01-03,10.5,12,10,9,,2000", "close", "close 9.0 is below low 10.0"),
    ],
)
def test_open_and_close_outside_high_low_are_errors(row, column, fragment):
    # Reported: an open of 999,999 far above its bar's high gave +56,187%.
    message = price_error(text(ROWS[0], row, ROWS[2]))
    assert f"line 3, column {column!r}" in message
    assert f"{fragment} on 2024-01-03" in message
    assert 'data.ohlc_check = "warn"' in message  # how to load it anyway


def test_ohlc_tolerance_is_one_billionth():
    high = 12.0
    inside = f"2024-01-03,{high * (1 + 0.9e-9)!r},12,10,11,,1"
    outside = f"2024-01-03,{high * (1 + 1.1e-9)!r},12,10,11,,1"
    assert len(parse_price_csv(text(inside), "ABC", "x")) == 1
    assert "is above high" in price_error(text(outside))
    low = 10.0
    below = f"2024-01-03,10.5,12,10,{low * (1 - 1.1e-9)!r},,1"
    assert "is below low" in price_error(text(below))


def test_yahoo_rescaling_never_breaks_ohlc_order():
    # open == high and close == low before rescaling stay so after it (rounding is monotonic)
    rows = [f"2024-01-{d:02d},{v},{v},{v / 3},{v / 3},{v / 7},1" for d, v in [(2, 1.1), (3, 0.3)]]
    bars = parse_price_csv(text(*rows, header=YAHOO), "ABC", "x")
    assert (bars["open"] <= bars["high"]).all() and (bars["close"] >= bars["low"]).all()


def test_ohlc_warn_mode_loads_and_prints_one_line_per_file(tmp_path, capsys):
    path = write_prices(
        tmp_path,
        "ABC.csv",
        ROWS[0],
        "2024-01-03,999999,12,10,11,,2000",
        "2024-01-04,11,11.5,10.25,99,,0",
    )
    warned: list[str] = []
    loaded = CsvPriceSource(tmp_path, ohlc_check="warn", warn=warned.append).load(["ABC"])
    assert loaded["ABC"].bars["open"].iloc[1] == 999999.0  # kept as it is
    assert warned == [
        f"ABC: {path}, line 3, column 'open': open 999999.0 is above high 12.0 on 2024-01-03 "
        "(and 1 more bar with open or close outside high-low); kept as is "
        '(data.ohlc_check = "warn")'
    ]
    CsvPriceSource(tmp_path, ohlc_check="warn").load(["ABC"])  # default: stderr
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: ABC: {path}, line 3")


def test_files_read_side_by_side_report_in_ticker_order(tmp_path):
    write_prices(tmp_path, "BAD.csv", ROWS[0], "2024-01-03,1,2,1,x,,5")
    for k in range(6):
        write_prices(tmp_path, f"W{k}.csv", ROWS[0], "2024-01-03,99,12,10,11,,2000")
    with pytest.raises(DataError, match=r"^BAD: .*line 3, column 'close'"):
        CsvPriceSource(tmp_path).load(["BAD", "NOPE"])
    with pytest.raises(DataError, match=r"^unknown ticker NOPE"):
        CsvPriceSource(tmp_path).load(["NOPE", "BAD"])
    warned: list[str] = []
    tickers = [f"W{k}" for k in (5, 0, 3, 1, 4, 2)]
    CsvPriceSource(tmp_path, ohlc_check="warn", warn=warned.append).load(tickers)
    assert [w.split(":")[0] for w in warned] == tickers


def test_ohlc_check_config_key(tmp_path):
    assert load_config().data.ohlc_check == "error"
    config = load_config(None, ['data.ohlc_check="warn"', f'data.dir="{tmp_path}"'])
    assert config.data.ohlc_check == "warn"
    from backtests.runner import price_source

    source = price_source(config)
    assert isinstance(source, CsvPriceSource) and source.ohlc_check == "warn"
    with pytest.raises(ConfigError) as exc_info:
        load_config(None, ['data.ohlc_check="ignore"'])
    assert "data.ohlc_check" in one_line(exc_info) and "'error' or 'warn'" in str(exc_info.value)


# --- 10. a CSV cell over 131,072 characters ------------------------------------------------------


def test_long_cell_in_a_price_file(tmp_path):
    # Reported: "internal error: Error: field larger than field limit (131072)", no file named.
    path = write_prices(tmp_path, "ABC.csv", ROWS[0], "2024-01-03,1" + "0" * LIMIT + ",12,10,11,,1")
    with pytest.raises(DataError) as exc_info:
        read_price_csv(path, "ABC")
    message = one_line(exc_info)
    assert message.startswith(f"ABC: {path}, line 3: a cell is longer than 131,072 characters")
    assert len(message) < 400


def test_long_cell_in_an_ignored_price_column(tmp_path):
    header = HEADER + ",notes"
    path = write_prices(tmp_path, "ABC.csv", ROWS[0] + ",ok", ROWS[1] + ",x" * 1, header=header)
    assert len(read_price_csv(path, "ABC").bars) == 2
    path = write_prices(
        tmp_path, "ABC.csv", ROWS[0] + ",ok", ROWS[1] + ",x" + "y" * LIMIT, header=header
    )
    with pytest.raises(DataError, match=r"line 3: a cell is longer than 131,072"):
        read_price_csv(path, "ABC")


def test_long_cell_in_an_events_file(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text(
        f"known_at,direction,headline\n2025-01-27T08:00,+1,ok\n2025-01-28,+1,{'h' * (LIMIT + 1)}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as exc_info:
        load_events(path)
    message = one_line(exc_info)
    assert message.startswith(f"{path}, line 3: a cell is longer than 131,072 characters")
    assert check_events_file(path).problems == (message,)


def test_long_cell_in_a_news_csv(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text(
        f"published_at,headline\n2026-07-01T08:00,ok\n2026-07-02,{'h' * (LIMIT + 1)}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as exc_info:
        load_news([path])
    assert one_line(exc_info).startswith(f"{path}, line 3: a cell is longer than 131,072")


# --- 11. far-future and far-past known_at in backtest and event study ----------------------------


def test_far_known_at_maps_to_no_session_or_the_first():
    from data.calendar import entry_sessions, nyse

    far = [parse_known_at("2261-12-31"), parse_known_at("1678-01-01"), parse_known_at("2200-06-01")]
    assert entry_sessions(far) == [None, nyse().first_session, None]


@pytest.mark.shared_data
def test_far_known_at_is_ignored_in_backtest_and_event_study(shared_market_data, tmp_path, capsys):
    # Reported: an internal error in backtest and event-study; `events validate` called it OK.
    events = tmp_path / "ev.csv"
    events.write_text(
        "id,known_at,direction\nfar,2261-06-01,+1\npast,1700-01-01,+1\n"
        "a,2026-03-02T08:00,+1\nb,2026-04-01T08:00,+1\nc,2026-05-01T08:00,+1\n",
        encoding="utf-8",
    )
    code, out, _ = run_cli(capsys, "events", "validate", str(events))
    assert code == 0, out
    run = tmp_path / "run"
    common = [
        "--data-dir",
        str(shared_market_data),
        "--events",
        str(events),
        "--start",
        "2025-06-01",
    ]
    code, _, err = run_cli(capsys, "backtest", *common, "--no-tearsheet", "--out", str(run))
    assert code == 0, err
    log = pd.read_csv(run / "events.csv", keep_default_na=False).set_index("event_id")
    assert log.loc["far", "action"] == "ignored"
    assert log.loc["far", "reason"] == "known after the last session of the NYSE calendar"
    assert log.loc["past", "action"] == "ignored"
    assert "before the run" in log.loc["past", "reason"]
    study = tmp_path / "study"
    code, _, err = run_cli(capsys, "event-study", *common, "--out", str(study))
    assert code == 0, err


@pytest.mark.shared_data
@pytest.mark.parametrize("stamp", ["3000-01-01", "9999-12-31T10:00:00Z", "1200-01-01T08:00"])
def test_known_at_beyond_pandas_is_refused_alike(shared_market_data, tmp_path, capsys, stamp):
    # Reported: `events validate` called the file OK, backtest and event-study failed with an
    # internal error. Now all three refuse it, with the same located message.
    events = tmp_path / "ev.csv"
    events.write_text(f"known_at,direction\n2026-03-02T08:00,+1\n{stamp},+1\n", "utf-8")
    where = f"{events}, line 3, column 'known_at': {stamp!r} is outside the supported dates"
    code, out, err = run_cli(capsys, "events", "validate", str(events))
    assert code == 2 and where in out + err
    common = [
        "--data-dir",
        str(shared_market_data),
        "--events",
        str(events),
        "--start",
        "2026-01-01",
    ]
    for command in (["backtest", "--no-tearsheet"], ["event-study"]):
        out_dir = tmp_path / command[0]
        code, _, err = run_cli(capsys, *command, *common, "--out", str(out_dir))
        assert_one_line_error(code, err, where)
        assert not out_dir.exists()


# --- 14. compare: a cut equity.csv and non-numeric metrics ---------------------------------------


def run_folder(folder: Path, equity: str | None = None, metrics: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    rows = ["date,equity,cash", "2025-03-03,1000000.0,1000000.0", "2025-03-04,1001000.5,1000.0"]
    (folder / "equity.csv").write_text(
        equity if equity is not None else "\n".join(rows) + "\n", encoding="utf-8"
    )
    document = metrics or {"strategy": {"sharpe": 1.5, "total_return": 0.01}, "facts": {}}
    (folder / "metrics.json").write_text(json.dumps(document), encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"tool": "capex-rotation"}), "utf-8")
    return folder


@pytest.mark.parametrize(
    ("equity", "fragment"),
    [
        ("date,equity,cash\n2025-03-03,1000000.0,1000000.0\n2025-03-04,10", "line 3: cut short"),
        ("date,equity,cash\n2025-03-03,1000000.0,1000000.0\n2025-03-04,1001000.5\n", "line 3"),
        ("date,equity,cash\n2025-03-03,1000000.0,1000000.0\n2025-03-0", "line 3: cut short"),
    ],
)
def test_compare_refuses_an_equity_file_cut_mid_row(tmp_path, equity, fragment):
    from reports.compare import CompareError, load_run

    folder = run_folder(tmp_path / "r", equity=equity)
    with pytest.raises(CompareError) as exc_info:
        load_run(folder)
    message = one_line(exc_info)
    assert message.startswith(str(folder / "equity.csv")) and fragment in message


def test_compare_refuses_fewer_rows_than_the_run_had(tmp_path):
    from reports.compare import CompareError, load_run

    metrics = {"strategy": {"sharpe": 1.5}, "facts": {"sessions": 3}}
    folder = run_folder(tmp_path / "r", metrics=metrics)
    with pytest.raises(CompareError, match=r"2 rows, but metrics.json says the run had 3"):
        load_run(folder)


@pytest.mark.parametrize(
    ("key", "value"),
    [("sharpe", "high"), ("sharpe", True), ("total_return", [1]), ("sharpe", {"a": 1})],
)
def test_compare_refuses_a_non_numeric_metric(tmp_path, capsys, key, value):
    good = run_folder(tmp_path / "good")
    metrics = {"strategy": {"sharpe": 1.0, "total_return": 0.1, key: value}}
    bad = run_folder(tmp_path / "bad", metrics=metrics)
    code, _, err = run_cli(capsys, "compare", str(good), str(bad), "--out", str(tmp_path / "c"))
    assert_one_line_error(code, err, str(bad / "metrics.json"), f"strategy.{key}", "not a number")
    assert not (tmp_path / "c").exists()


def test_compare_accepts_null_and_nan_metrics(tmp_path):
    from reports.compare import load_run

    metrics = {"strategy": {"sharpe": None, "sortino": float("nan"), "total_return": 0.1}}
    folder = run_folder(tmp_path / "r", metrics=metrics)
    assert load_run(folder).metric("strategy.sharpe") is None


# --- 15. META.csv and meta.csv side by side ------------------------------------------------------


def test_two_files_for_one_ticker_are_refused(tmp_path):
    write_prices(tmp_path, "META.csv", *ROWS)
    write_prices(tmp_path, "meta.csv", ROWS[0])
    write_prices(tmp_path, "SPY.csv", *ROWS)
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(tmp_path).load(["SPY", "META"])
    message = one_line(exc_info)
    assert message == (
        f"ticker META has two files in {tmp_path}: META.csv and meta.csv; keep one of them"
    )
    assert list(CsvPriceSource(tmp_path).load(["SPY"])) == ["SPY"]  # unrelated tickers load


def test_caret_file_wins_over_the_plain_one(tmp_path):
    write_prices(tmp_path, "^SOX.csv", *ROWS)
    write_prices(tmp_path, "SOX.csv", ROWS[0])
    assert len(CsvPriceSource(tmp_path).load(["^SOX"])["^SOX"].bars) == 3
    assert len(CsvPriceSource(tmp_path).load(["SOX"])["SOX"].bars) == 1


# --- 17. booleans are not numbers in the config --------------------------------------------------

NUMERIC_KEYS = (
    "run.cash",
    "data.deadline_s",
    "strategy.hold_sessions",
    "strategy.gross",
    "strategy.max_gross",
    "costs.commission_bps",
    "costs.slippage_bps",
    "costs.borrow_bps",
    "costs.half_spread_bps",
    "costs.impact_k",
    "costs.impact_lookback",
    "costs.max_participation",
    "strategy.entry.delay",
    "strategy.exits.max_hold",
    "strategy.exits.stop_loss",
    "strategy.exits.take_profit",
    "strategy.exits.trailing_stop",
    "strategy.sizing.lookback",
    "strategy.sizing.min_history",
    "strategy.sizing.target",
)


def test_every_numeric_key_is_listed():
    from backtests.config import numeric_keys

    assert set(numeric_keys()) == set(NUMERIC_KEYS)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
@pytest.mark.parametrize("value", ["true", "false", '"3"'])
def test_set_boolean_or_text_for_a_number_is_refused(key, value):
    # Reported: strategy.hold_sessions=true was read as 1.
    with pytest.raises(ConfigError) as exc_info:
        load_config(None, [f"{key}={value}"])
    message = one_line(exc_info)
    assert f"{key}: " in message and "not a number" in message


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[strategy]\nhold_sessions = true\n", "strategy.hold_sessions"),
        ("[strategy]\ngross = false\n", "strategy.gross"),
        ("[costs]\nborrow_bps = true\n", "costs.borrow_bps"),
        ("[strategy]\nhold_sessions = 2.0\n", "strategy.hold_sessions"),
        ("[run]\nstart = 0\n", "run.start"),
        ("[run]\nend = true\n", "run.end"),
    ],
)
def test_config_file_wrong_types_are_refused(tmp_path, toml, key):
    path = tmp_path / "c.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as exc_info:
        load_config(path)
    assert f"{path}: {key}: " in one_line(exc_info)


def test_integers_still_work_for_float_keys_and_dates_as_text():
    config = load_config(None, ["strategy.gross=2", "run.cash=5", "run.start=2020-01-02"])
    assert config.strategy.gross == 2.0 and isinstance(config.strategy.gross, float)
    assert config.run.cash == 5.0
    table = {"run": {"start": "2020-01-02"}}
    from backtests.config import validate

    assert str(validate(table, "x").run.start) == "2020-01-02"


def test_grid_boolean_value_is_refused(tmp_path):
    from backtests.grid import load_grid

    grid = tmp_path / "g.toml"
    grid.write_text('[grid]\n"strategy.hold_sessions" = [3, true]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc_info:
        load_grid(grid)
    message = one_line(exc_info)
    assert "strategy.hold_sessions" in message and "not a number" in message


# --- 18. misleading messages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell", ["2024-01-02T00:00:00Z", "2024-01-02 00:00:00+00:00", "2024-01-02 00:00:00+09:00"]
)
def test_midnight_in_any_offset_is_the_date_written(cell):
    # Reported: midnight-UTC dates were reported as "a bar on" the previous day.
    bars = parse_price_csv(text(f"{cell},10,11,9,10.5,,1000"), "ABC", "x")
    assert list(bars.index) == [pd.Timestamp("2024-01-02")]


def test_a_time_of_day_is_read_in_new_york():
    bars = parse_price_csv(text("2024-01-03 02:00:00+00:00,10,11,9,10.5,,1000"), "ABC", "x")
    assert list(bars.index) == [pd.Timestamp("2024-01-02")]  # 21:00 New York the day before


@pytest.mark.parametrize(("adj", "column"), [("0", "adj_close"), ("-3", "adj_close")])
def test_zero_adj_close_is_blamed_on_adj_close(adj, column):
    message = price_error(
        text("2024-01-02,102,104,100,100,50,1000", f"2024-01-03,10,12,8,8,{adj},5", header=YAHOO)
    )
    assert f"line 3, column {column!r}" in message and "must be a positive number" in message


def test_zero_close_with_adj_close_is_blamed_on_close():
    message = price_error(text("2024-01-03,10,12,8,0,2,5", header=YAHOO))
    assert "line 2, column 'close'" in message and "price 0.0" in message


@pytest.mark.parametrize(
    "row",
    [
        "2024-01-02,10,11,9,-5,,5",
        "2024-01-02,10,11,9,10,,-5",
        "2024-01-02,10,9,10,9.5,,5",
        "2024-01-02,12,11,9,10,,5",
    ],
)
def test_messages_show_plain_numbers(row):
    message = price_error(text(row))
    assert "np." not in message and "float64" not in message
    assert "-5.0" in message or "9.0" in message or "12.0" in message


def test_no_array_element_is_shown_with_repr():
    # numpy 2 prints repr(np.float64(-5.0)) as "np.float64(-5.0)": in data/ and the config,
    # no message formats an array element with !r (values[k]!r was the culprit)
    import re

    root = Path(__file__).resolve().parents[1]
    files = [*sorted((root / "data").rglob("*.py")), root / "backtests" / "config.py"]
    pattern = re.compile(r"\{\w+\[(k|i|j|row|index)\]!r\}")  # an array element by position
    offenders = [
        f"{file.name}:{number}: {line.strip()}"
        for file in files
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line) and "{raw[k]!r}" not in line  # raw: the cells, as text
    ]
    assert offenders == []


# --- speed: the Arrow fast path reads exactly what the row-by-row parser reads -------------------

TRICKY_CELLS = {
    "date": ["2024-01-03", "2024-01-03 ", " 2024-01-03", '"2024-01-03"', "2024-1-3", "2024-02-30",
             "2024-01-03T00:00", "2024-01-03 00:00:00-05:00", "2262-05-01", "0001-01-01", ""],
    "open": ["10.5", "+10.5", ".5", "5.", "1e1", "1E1", " 10.5", "10.5 ", '"10.5"', "nan", "NaN",
             "inf", "-inf", "Infinity", "1_000", "0x10", "1e400", "1e-400", "-0", "0", "", "N/A",
             "null", "1e", "10.5.1", "999999"],
    "volume": ["0", "1000", "1e3", "-1", "", "nan", "1.5"],
    "adj_close": ["", "5", "0", "-1", "nan", "x"],
}  # fmt: skip


def both_paths(body: str) -> tuple[object, object]:
    """(fast result, slow result): a frame, or the DataError message, or None (no fast path)."""
    from data.prices import read_bars_fast

    try:
        fast: object = read_bars_fast(body.encode())
    except DataError as exc:  # pragma: no cover - the fast path never raises
        fast = f"fast path raised: {exc}"
    try:
        slow: object = parse_price_csv(decode_text(body.encode(), "x"), "ABC", "x")
    except DataError as exc:
        slow = str(exc)
    return fast, slow


@pytest.mark.parametrize(
    ("column", "cell"), [(c, v) for c, cells in TRICKY_CELLS.items() for v in cells]
)
def test_fast_path_agrees_with_the_slow_path(column, cell):
    header = HEADER.split(",")
    cells = ROWS[1].split(",")
    cells[header.index(column)] = cell
    if column == "adj_close":
        rows = [f"{r.replace(',,', ',5,')}" for r in (ROWS[0], ROWS[2])]
        body = text(rows[0], ",".join(cells), rows[1])
    else:
        body = text(ROWS[0], ",".join(cells), ROWS[2])
    fast, slow = both_paths(body)
    if fast is None:
        return  # the fast path declined: the slow path decides, as before
    assert isinstance(fast, pd.DataFrame), fast
    assert isinstance(slow, pd.DataFrame), (fast, slow)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@settings(max_examples=400, deadline=None)
@given(
    column=st.sampled_from(["date", "open", "high", "low", "close", "adj_close", "volume"]),
    cell=st.text(alphabet='0123456789.-+eE naifNA:TZ"', max_size=12),
)
def test_fast_path_agrees_on_random_cells(column, cell):
    header = HEADER.split(",")
    cells = ROWS[1].split(",")
    cells[header.index(column)] = cell
    fast, slow = both_paths(text(ROWS[0], ",".join(cells), ROWS[2]))
    if fast is not None:
        assert isinstance(slow, pd.DataFrame), (cell, slow)
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@pytest.mark.parametrize(
    "body",
    [
        text(*ROWS),
        text(*ROWS).replace("\n", "\r\n"),
        "\ufeff" + text(*ROWS),
        text(*ROWS, header=" DATE , Open,HIGH,low , Close,adj-close,VOLUME"),
        text(*(r + ",x" for r in ROWS), header=HEADER + ",dividends"),
        text(*(r.replace(",,", ",") for r in ROWS), header="date,open,high,low,close,volume"),
        text("2024-01-02,102,104,100,100,50,1000", "2024-01-03,10,12,8,8,2,5", header=YAHOO),
        text(*ROWS) + "\n\n",
        text(ROWS[0], ROWS[2], ROWS[1]),
        text(ROWS[0], ROWS[0]),
        text(ROWS[0], "2024-01-03,10.5,12,10,11,,2000,9"),
        text(ROWS[0], '2024-01-03,"10.5\n",12,10,11,,2000'),
        text(*ROWS, header="date,open,high,low,close,close,volume"),
        text(*ROWS, header="date,open,high,low,close,adj_close"),
        HEADER + "\n",
        "",
    ],
)
def test_fast_path_agrees_on_whole_files(body):
    fast, slow = both_paths(body)
    if fast is not None:
        assert isinstance(slow, pd.DataFrame), (body, slow)
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(st.integers(0, 40), min_size=1, max_size=8), limit=st.integers(1, 25))
def test_long_line_probe_equals_a_full_scan(lines, limit):
    from data.prices import _has_long_line

    raw = b"\n".join(b"x" * n for n in lines)
    assert _has_long_line(raw, limit) == (max(lines) > limit)


@pytest.mark.parametrize("where", ["date", "extra"])
def test_fast_path_leaves_non_utf8_to_the_slow_path(tmp_path, where):
    rows = [r + ",x" for r in ROWS]
    body = text(*rows, header=HEADER + ",notes").encode()
    old, new = (b"2024-01-03", b"2024-01-0\xff") if where == "date" else (b",x\n", b",\xff\n")
    body = body.replace(old, new, 1)
    path = tmp_path / "ABC.csv"
    path.write_bytes(body)
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read_price_csv(path, "ABC")


@pytest.mark.shared_data
def test_fast_path_reads_every_shared_file_like_the_slow_path(shared_market_data):
    from data.prices import read_bars_fast

    for path in sorted(shared_market_data.glob("*.csv")):
        raw = path.read_bytes()
        body = raw.decode("utf-8")
        fast = read_bars_fast(raw)
        assert fast is not None, path  # the fast path is taken for well-formed files
        pd.testing.assert_frame_equal(fast, parse_price_csv(body, path.stem, str(path)))


# --- speed: the cached NYSE calendar equals exchange_calendars' ----------------------------------


def test_cached_calendar_equals_exchange_calendars(tmp_path, monkeypatch):
    import exchange_calendars as xcals

    from data import calendar

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calendar.clear_cache()
    built = calendar.sessions_table()  # built and written to the cache
    files = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 1 and xcals.__version__ in files[0].name
    calendar.clear_cache()
    cached = calendar.sessions_table()  # read back from the file
    full = xcals.get_calendar("XNYS", start=calendar.CALENDAR_START)
    expected_sessions = full.sessions.to_numpy(dtype="datetime64[ns]")
    for table in (built, cached):
        assert np.array_equal(table.sessions, expected_sessions)
        assert np.array_equal(table.opens, full.opens.to_numpy(dtype="datetime64[ns]"))
        assert np.array_equal(table.closes, full.closes.to_numpy(dtype="datetime64[ns]"))
    day = pd.Timestamp("2024-11-29")  # an early close
    assert calendar.session_open(day) == full.session_open(day)
    assert calendar.session_close(day) == full.session_close(day)


def test_calendar_cache_key_is_the_installed_version():
    from importlib import metadata

    from data import calendar

    assert calendar._xcals_version() == metadata.version("exchange-calendars")


def test_calendar_cache_is_rebuilt_when_unreadable(tmp_path, monkeypatch):
    from data import calendar

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calendar.clear_cache()
    good = calendar.sessions_table()
    (file,) = list((tmp_path / "cache").rglob("*.npz"))
    file.write_bytes(b"not a numpy file")
    calendar.clear_cache()
    again = calendar.sessions_table()
    assert np.array_equal(again.opens, good.opens)
    assert file.read_bytes()[:2] == b"PK"  # replaced by a good one
    assert not [p for p in file.parent.iterdir() if p.name.endswith(".tmp")]
