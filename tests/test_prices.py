"""Price files, CSV source, universe and alignment on NYSE sessions: input handling."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import one_line

from data.calendar import sessions_between
from data.csv_source import CsvPriceSource
from data.errors import DataError
from data.market import align, resolve_sessions
from data.prices import (
    PriceHistory,
    parse_price_csv,
    read_price_csv,
    validate_bars,
    validate_ticker,
)
from data.universe import Universe, load_universe

SHARED_HEADER = "date,open,high,low,close,adj_close,volume"
YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
SHARED_TICKERS = (
    "AMAT", "AMD", "AMKR", "AMZN", "ARM", "ASML", "AVGO", "ENTG", "GOOG", "GOOGL", "KLAC", "LRCX",
    "META", "MRVL", "MSFT", "MU", "NVDA", "ONTO", "ORCL", "QQQ", "SMH", "SNDK", "SOX", "SOXX",
    "SPY", "STX", "TER", "TSM", "WDC",
)  # fmt: skip


def csv_text(*rows: str, header: str = SHARED_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


GOOD_ROWS = (
    "2024-01-02,10,11,9,10.5,,1000",
    "2024-01-03,10.5,12,10,11,,2000",
    "2024-01-04,11,11.5,10.25,11.25,,0",
)


def parse_error(text: str, ticker: str = "ABC", path: str = "prices/ABC.csv") -> str:
    with pytest.raises(DataError) as exc_info:
        parse_price_csv(text, ticker, path)
    message = one_line(exc_info)
    assert message.startswith(f"{ticker}: {path}"), message
    return message


# --- parsing: accepted formats -------------------------------------------------------------------


def test_shared_format_is_read_as_is():
    bars = parse_price_csv(csv_text(*GOOD_ROWS), "ABC", "ABC.csv")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.name == "date"
    assert str(bars.index.dtype) == "datetime64[ns]"
    assert list(bars.index) == [pd.Timestamp(d) for d in ("2024-01-02", "2024-01-03", "2024-01-04")]
    assert bars["open"].tolist() == [10.0, 10.5, 11.0]
    assert bars["high"].tolist() == [11.0, 12.0, 11.5]
    assert bars["low"].tolist() == [9.0, 10.0, 10.25]
    assert bars["close"].tolist() == [10.5, 11.0, 11.25]
    assert bars["volume"].tolist() == [1000.0, 2000.0, 0.0]
    assert all(bars[c].dtype == np.float64 for c in bars.columns)


def test_shared_format_without_adj_close_column():
    header = "date,open,high,low,close,volume"
    rows = [r.replace(",,", ",") for r in GOOD_ROWS]
    bars = parse_price_csv(csv_text(*rows, header=header), "ABC", "ABC.csv")
    assert bars["close"].tolist() == [10.5, 11.0, 11.25]


def test_yahoo_export_rescales_ohlc_by_adj_close_over_close():
    text = csv_text(
        "2024-01-02,102,104,100,100,50,1000",  # factor 0.5
        "2024-01-03,10,12,8,8,2,5",  # factor 0.25
        "2024-01-04,20,24,16,20,20,7",  # factor 1
        header=YAHOO_HEADER,
    )
    bars = parse_price_csv(text, "ABC", "ABC.csv")
    assert bars["open"].tolist() == [51.0, 2.5, 20.0]
    assert bars["high"].tolist() == [52.0, 3.0, 24.0]
    assert bars["low"].tolist() == [50.0, 2.0, 16.0]
    assert bars["close"].tolist() == [50.0, 2.0, 20.0]
    assert bars["volume"].tolist() == [1000.0, 5.0, 7.0]


def test_yahoo_export_read_from_file_with_bom_and_crlf(tmp_path):
    path = tmp_path / "ABC.csv"
    body = f"{YAHOO_HEADER}\r\n2024-01-02,102,104,100,100,50,1000\r\n2024-01-03,10,12,8,8,2,5\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    history = read_price_csv(path, "ABC")
    assert isinstance(history, PriceHistory)
    assert history.ticker == "ABC" and history.source == str(path)
    assert history.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert history.bars["open"].tolist() == [51.0, 2.5]
    assert history.bars["close"].tolist() == [50.0, 2.0]
    assert (history.first_date, history.last_date) == (
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-03"),
    )


def test_yahoo_partly_empty_adj_close_is_an_error():
    text = csv_text(
        "2024-01-02,102,104,100,100,50,1000", "2024-01-03,10,12,8,8,,5", header=YAHOO_HEADER
    )
    message = parse_error(text)
    assert "line 3, column 'adj_close'" in message and "empty" in message


def test_yahoo_bad_adj_close_is_an_error():
    text = csv_text(
        "2024-01-02,102,104,100,100,50,1000", "2024-01-03,10,12,8,8,null,5", header=YAHOO_HEADER
    )
    message = parse_error(text)
    assert "line 3, column 'adj_close'" in message and "'null' is not a number" in message


def test_header_names_are_normalised():
    header = " DATE , Open,HIGH,low , Close,adj-close,VOLUME"
    bars = parse_price_csv(csv_text(*GOOD_ROWS, header=header), "ABC", "ABC.csv")
    assert bars["close"].tolist() == [10.5, 11.0, 11.25]


def test_extra_columns_are_ignored():
    header = "date,open,high,low,close,adj_close,volume,dividends"
    rows = [r + ",0" for r in GOOD_ROWS]
    bars = parse_price_csv(csv_text(*rows, header=header), "ABC", "ABC.csv")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]


def test_blank_lines_and_spaces_in_cells_are_tolerated():
    text = (
        f"\n{SHARED_HEADER}\n\n2024-01-02, 10 ,11,9,10.5,, 1000\n\n2024-01-03,10.5,12,10,11,,2000\n"
    )
    bars = parse_price_csv(text, "ABC", "ABC.csv")
    assert bars["open"].tolist() == [10.0, 10.5]
    assert bars["volume"].tolist() == [1000.0, 2000.0]


def test_iso_datetimes_are_reduced_to_new_york_dates():
    text = csv_text(
        "2024-01-02 00:00:00-05:00,10,11,9,10.5,,1000",
        "2024-01-03 00:00:00-05:00,10.5,12,10,11,,2000",
    )
    bars = parse_price_csv(text, "ABC", "ABC.csv")
    assert list(bars.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert bars.index.tz is None


# --- parsing: errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("date,open,high,low,close", ["'volume'"]),
        ("open,high,low,close,volume", ["'date'"]),
        ("Date,Open,High,Low,Adj Close,Volume", ["'close'"]),
        ("day,o,h,l,c,v", ["'date'", "'open'", "'high'", "'low'", "'close'", "'volume'"]),
    ],
)
def test_missing_columns(header, missing):
    fields = len(header.split(","))
    message = parse_error(csv_text(",".join(["1"] * fields), header=header))
    assert "has no column" in message
    for name in missing:
        assert name in message
    assert "found" in message and "Adj Close" in message  # the accepted formats are listed


@pytest.mark.parametrize(
    "bad", ["2024-02-30", "2024-13-01", "01/03/2024", "20240103", "yesterday", "", "2024-01-0x"]
)
def test_unparsable_dates(bad):
    message = parse_error(csv_text(GOOD_ROWS[0], f"{bad},10,11,9,10.5,,1000"))
    assert "line 3, column 'date'" in message
    assert f"{bad!r} is not a date" in message
    assert "YYYY-MM-DD" in message


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
@pytest.mark.parametrize("bad", ["abc", "", "1,5", "nan", "inf", "$10", "--1"])
def test_unparsable_numbers(column, bad):
    columns = SHARED_HEADER.split(",")
    cells = GOOD_ROWS[1].split(",")
    cells[columns.index(column)] = f'"{bad}"'
    message = parse_error(csv_text(GOOD_ROWS[0], ",".join(cells), GOOD_ROWS[2]))
    assert f"line 3, column {column!r}" in message
    assert f"{bad!r} is not a number" in message


def test_unparsable_numbers_counts_the_rows():
    rows = ["2024-01-02,10,11,9,x,,1", "2024-01-03,10,11,9,10,,1", "2024-01-04,10,11,9,y,,1"]
    message = parse_error(csv_text(*rows))
    assert "line 2, column 'close'" in message and "(2 such rows)" in message


def test_duplicate_dates():
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[1].replace("10.5,12", "10.6,12")]
    message = parse_error(csv_text(*rows))
    assert "line 4" in message
    assert "date 2024-01-03 appears twice (also at line 3)" in message


def test_unsorted_dates():
    message = parse_error(csv_text(GOOD_ROWS[1], GOOD_ROWS[0], GOOD_ROWS[2]))
    assert "line 3" in message
    assert "date 2024-01-02 comes after 2024-01-03" in message and "ascending" in message


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
@pytest.mark.parametrize("value", ["0", "-1", "-0.0"])
def test_non_positive_prices(column, value):
    columns = SHARED_HEADER.split(",")
    cells = GOOD_ROWS[2].split(",")
    cells[columns.index(column)] = value
    if column == "high":  # keep high >= low so the price check is what fails
        cells[columns.index("low")] = value
    message = parse_error(csv_text(GOOD_ROWS[0], GOOD_ROWS[1], ",".join(cells)))
    assert f"line 4, column {column!r}" in message
    assert "2024-01-04" in message and "must be a positive number" in message


def test_negative_volume():
    message = parse_error(csv_text(GOOD_ROWS[0], "2024-01-03,10.5,12,10,11,,-5"))
    assert "line 3, column 'volume'" in message and "negative" in message


def test_high_below_low():
    message = parse_error(csv_text(GOOD_ROWS[0], "2024-01-03,10.5,9,10,9.5,,5"))
    assert "line 3" in message
    assert "high 9.0 is below low 10.0 on 2024-01-03" in message


@pytest.mark.parametrize("text", ["", "\n", "\n \n\n", ",,,\n"])
def test_empty_file(text):
    message = parse_error(text)
    assert "is empty" in message and "expected a header" in message


def test_header_only_file():
    message = parse_error(SHARED_HEADER + "\n")
    assert message == "ABC: prices/ABC.csv has a header but no rows"


@pytest.mark.parametrize(
    "row", ["2024-01-03,10.5,12,10,11,2000", "2024-01-03,10.5,12,10,11,,2000,9", "2024-01-03"]
)
def test_wrong_field_count(row):
    message = parse_error(csv_text(GOOD_ROWS[0], row, GOOD_ROWS[2]))
    n = len(row.split(","))
    assert message == f"ABC: prices/ABC.csv, line 3: {n} fields, but the header has 7"


def test_first_problem_wins_and_line_numbers_count_blank_lines():
    text = f"{SHARED_HEADER}\n\n{GOOD_ROWS[0]}\n\n2024-01-03,10.5,12,10,oops,,2000\n"
    assert "line 5, column 'close'" in parse_error(text)


def test_read_price_csv_not_utf8(tmp_path):
    path = tmp_path / "ABC.csv"
    path.write_bytes(csv_text(*GOOD_ROWS).encode() + b"\xff\xfe\n")
    with pytest.raises(DataError) as exc_info:
        read_price_csv(path, "ABC")
    message = one_line(exc_info)
    assert message.startswith(f"ABC: {path}") and "not UTF-8" in message


def test_read_price_csv_missing_file(tmp_path):
    path = tmp_path / "ABC.csv"
    with pytest.raises(DataError) as exc_info:
        read_price_csv(path, "ABC")
    message = one_line(exc_info)
    assert message == f"ABC: price file {path} does not exist"


def test_read_price_csv_error_names_the_real_file(tmp_path):
    path = tmp_path / "ABC.csv"
    path.write_text(csv_text(GOOD_ROWS[0], "2024-01-03,10.5,12,10,bad,,2000"), encoding="utf-8")
    with pytest.raises(DataError) as exc_info:
        read_price_csv(path, "ABC")
    assert one_line(exc_info).startswith(f"ABC: {path}, line 3, column 'close': 'bad'")


# --- validate_bars on frames (no line numbers) ---------------------------------------------------


def frame(dates, open_=10.0, high=11.0, low=9.0, close=10.0, volume=100.0) -> pd.DataFrame:
    n = len(dates)
    index = pd.DatetimeIndex(pd.to_datetime(dates), name="date")
    return pd.DataFrame(
        {
            "open": np.full(n, open_, dtype=float),
            "high": np.full(n, high, dtype=float),
            "low": np.full(n, low, dtype=float),
            "close": np.full(n, close, dtype=float),
            "volume": np.full(n, volume, dtype=float),
        },
        index=index,
    )


def test_validate_bars_accepts_good_bars():
    validate_bars(frame(["2024-01-02", "2024-01-03"]), "ABC", "yahoo")


@pytest.mark.parametrize(
    ("bars", "fragment"),
    [
        (frame([]), "has no bars"),
        (frame(["2024-01-03", "2024-01-02"]), "comes after"),
        (frame(["2024-01-02", "2024-01-02"]), "appears twice"),
        (frame(["2024-01-02"], close=np.nan), "column 'close'"),
        (frame(["2024-01-02"], open_=np.inf), "column 'open'"),
        (frame(["2024-01-02"], volume=np.nan), "column 'volume'"),
        (frame(["2024-01-02"], high=8.0), "below low"),
    ],
)
def test_validate_bars_without_lines_names_ticker_and_source(bars, fragment):
    with pytest.raises(DataError) as exc_info:
        validate_bars(bars, "ABC", "yahoo:ABC")
    message = one_line(exc_info)
    assert message.startswith("ABC: yahoo:ABC") and fragment in message
    assert "line" not in message


# --- tickers and the CSV source ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "symbol"),
    [("SPY", "SPY"), ("spy", "SPY"), (" msft ", "MSFT"), ("^SOX", "^SOX"), ("BRK.B", "BRK.B"),
     ("BRK-B", "BRK-B"), ("ES=F", "ES=F"), ("005930.KS", "005930.KS"), ("A" * 15, "A" * 15)],
)  # fmt: skip
def test_validate_ticker_accepts(raw, symbol):
    assert validate_ticker(raw) == symbol


@pytest.mark.parametrize(
    "raw",
    ["../x", "a/b", "..", ".", "/etc/passwd", "a\\b", "..\\x", "", " ", "^", "^^SOX", "SO X",
     "SP\nY", "X\x00", "A" * 16, ".hidden", "-X", "$SPY", "SPY*", "~/SPY"],
)  # fmt: skip
def test_validate_ticker_rejects(raw):
    with pytest.raises(DataError) as exc_info:
        validate_ticker(raw)
    message = one_line(exc_info)
    assert repr(raw) in message and "is not a ticker symbol" in message


def write(folder: Path, name: str, *rows: str, header: str = SHARED_HEADER) -> Path:
    path = folder / name
    path.write_text(csv_text(*rows, header=header), encoding="utf-8")
    return path


def test_csv_source_loads_shared_and_yahoo_files(tmp_path):
    write(tmp_path, "ABC.csv", *GOOD_ROWS)
    write(tmp_path, "XYZ.csv", "2024-01-02,102,104,100,100,50,1000", header=YAHOO_HEADER)
    source = CsvPriceSource(tmp_path)
    assert str(tmp_path) in source.describe()
    loaded = source.load(["ABC", "xyz"])
    assert list(loaded) == ["ABC", "XYZ"]
    assert loaded["XYZ"].bars["open"].tolist() == [51.0]
    assert loaded["ABC"].source == str(tmp_path / "ABC.csv")


def test_csv_source_index_ticker_finds_file_without_caret(tmp_path):
    write(tmp_path, "SOX.csv", *GOOD_ROWS)
    loaded = CsvPriceSource(tmp_path).load(["^SOX"])
    assert list(loaded) == ["^SOX"]
    assert loaded["^SOX"].ticker == "^SOX"
    assert loaded["^SOX"].source == str(tmp_path / "SOX.csv")


def test_csv_source_index_ticker_file_with_caret(tmp_path):
    write(tmp_path, "^SOX.csv", *GOOD_ROWS)
    assert CsvPriceSource(tmp_path).load(["^SOX"])["^SOX"].source == str(tmp_path / "^SOX.csv")


def test_csv_source_lower_case_file_name(tmp_path):
    write(tmp_path, "spy.csv", *GOOD_ROWS)
    assert list(CsvPriceSource(tmp_path).load(["SPY"])) == ["SPY"]


def test_csv_source_nonexistent_directory(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(missing).load(["SPY"])
    message = one_line(exc_info)
    assert str(missing) in message and "does not exist" in message and "--data-dir" in message


def test_csv_source_directory_is_a_file(tmp_path):
    path = write(tmp_path, "SPY.csv", *GOOD_ROWS)
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(path).load(["SPY"])
    assert "is not a folder" in one_line(exc_info)


def test_csv_source_unknown_ticker_lists_available_files(tmp_path):
    write(tmp_path, "SPY.csv", *GOOD_ROWS)
    write(tmp_path, "MSFT.csv", *GOOD_ROWS)
    (tmp_path / "notes.txt").write_text("not a csv", encoding="utf-8")
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(tmp_path).load(["SPY", "nvda"])
    message = one_line(exc_info)
    assert message.startswith("unknown ticker NVDA: no NVDA.csv in " + str(tmp_path))
    assert "CSV files there: MSFT, SPY" in message
    assert "notes" not in message.lower()


def test_csv_source_unknown_ticker_in_empty_folder(tmp_path):
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(tmp_path).load(["SPY"])
    assert "CSV files there: none" in one_line(exc_info)


@pytest.mark.parametrize("ticker", ["../SPY", "sub/SPY", "..", "/tmp/SPY"])
def test_csv_source_rejects_path_traversal(tmp_path, ticker):
    folder = tmp_path / "data"
    folder.mkdir()
    write(tmp_path, "SPY.csv", *GOOD_ROWS)  # outside the data folder
    (folder / "sub").mkdir()
    write(folder / "sub", "SPY.csv", *GOOD_ROWS)
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(folder).load([ticker])
    assert "is not a ticker symbol" in one_line(exc_info)


def test_csv_source_bad_file_names_ticker_and_file(tmp_path):
    write(tmp_path, "SPY.csv", *GOOD_ROWS)
    write(tmp_path, "BAD.csv", GOOD_ROWS[0], "2024-01-03,1,2,3,x,,5")
    with pytest.raises(DataError) as exc_info:
        CsvPriceSource(tmp_path).load(["SPY", "BAD"])
    message = one_line(exc_info)
    assert message.startswith(f"BAD: {tmp_path / 'BAD.csv'}, line 3, column 'close'")


# --- universe ------------------------------------------------------------------------------------


def test_bundled_universe_is_the_baseline_default():
    universe = load_universe()
    assert universe.long == ("META", "MSFT", "GOOGL", "AMZN")
    assert universe.short == (
        "AMAT", "LRCX", "KLAC", "ASML", "TER", "ENTG", "MU", "WDC", "SNDK",
    )  # fmt: skip
    assert universe.benchmark == "SPY"
    assert universe.traded == universe.long + universe.short


def test_universe_normalises_tickers():
    universe = Universe(("meta",), (" mu ",), "spy")
    assert (universe.long, universe.short, universe.benchmark) == (("META",), ("MU",), "SPY")


@pytest.mark.parametrize(
    ("long", "short", "fragment"),
    [
        ((), ("MU",), "universe.long is empty"),
        (("META",), (), "universe.short is empty"),
        (("META", "meta"), ("MU",), "universe.long lists META more than once"),
        (("META",), ("MU", "MU"), "universe.short lists MU more than once"),
        (("META", "MU"), ("mu",), "MU is in both universe.long and universe.short"),
        (("../META",), ("MU",), "is not a ticker symbol"),
    ],
)
def test_universe_rejects(long, short, fragment):
    with pytest.raises(DataError) as exc_info:
        Universe(long, short)
    assert fragment in one_line(exc_info)


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[universe]\nlong = ["META"]\n', "missing universe.short"),
        ('[universe]\nshort = ["MU"]\n', "missing universe.long"),
        ('[universe]\nlong = ["META"]\nshort = ["MU"]\nshorts = ["X"]\n', "universe.shorts"),
        ("[universe\nlong = 1\n", "is not valid TOML"),
    ],
)
def test_load_universe_errors(tmp_path, toml, fragment):
    path = tmp_path / "u.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(DataError) as exc_info:
        load_universe(path)
    message = str(exc_info.value)
    assert str(path) in message and fragment in message


def test_load_universe_missing_file(tmp_path):
    with pytest.raises(DataError) as exc_info:
        load_universe(tmp_path / "none.toml")
    assert "cannot read universe file" in one_line(exc_info)


# --- alignment on NYSE sessions ------------------------------------------------------------------


def history(ticker: str, days, source: str | None = None) -> PriceHistory:
    index = pd.DatetimeIndex(pd.to_datetime(list(days)), name="date").as_unit("ns")
    n = len(index)
    base = np.arange(1.0, n + 1.0) + 100.0
    bars = pd.DataFrame(
        {"open": base, "high": base + 1, "low": base - 1, "close": base + 0.5, "volume": base},
        index=index,
    )
    return PriceHistory(ticker, bars, source or f"{ticker}.csv", "0" * 64)


def sessions(start: str, end: str) -> pd.DatetimeIndex:
    return sessions_between(pd.Timestamp(start), pd.Timestamp(end))


RUN = ("2024-03-25", "2024-04-05")  # holds Good Friday 2024-03-29


def test_align_full_coverage():
    run = sessions(*RUN)
    hist = {"SPY": history("SPY", run), "ABC": history("ABC", run)}
    market = align(hist, run, ("ABC",), "SPY")
    assert market.close.shape == (len(run), 1)
    assert market.has_bar.all()
    assert market.benchmark == "SPY" and market.tickers == ("ABC",)
    assert market.close[:, 0].tolist() == (np.arange(1.0, len(run) + 1) + 100.5).tolist()
    assert market.benchmark_returns().iloc[0] == 0.0


def test_align_gap_inside_the_span_is_an_error_naming_the_session():
    run = sessions(*RUN)
    days = [d for d in run if d != pd.Timestamp("2024-04-02")]
    hist = {"SPY": history("SPY", run), "ABC": history("ABC", days, "data/ABC.csv")}
    with pytest.raises(DataError) as exc_info:
        align(hist, run, ("ABC",), "SPY")
    message = one_line(exc_info)
    assert message.startswith("ABC: data/ABC.csv has no bar for the NYSE session 2024-04-02")
    assert "1 session(s) missing" in message


def test_align_bar_on_a_non_session_day_is_an_error():
    run = sessions(*RUN)
    days = sorted([*run, pd.Timestamp("2024-03-29")])  # Good Friday
    hist = {"SPY": history("SPY", run), "ABC": history("ABC", days, "data/ABC.csv")}
    with pytest.raises(DataError) as exc_info:
        align(hist, run, ("ABC",), "SPY")
    message = one_line(exc_info)
    assert "ABC: data/ABC.csv has a bar on 2024-03-29, which is not a NYSE session" in message


def test_align_weekend_bar_is_an_error():
    run = sessions(*RUN)
    days = sorted([*run, pd.Timestamp("2024-03-30")])
    hist = {"SPY": history("SPY", days), "ABC": history("ABC", run)}
    with pytest.raises(DataError) as exc_info:
        align(hist, run, ("ABC",), "SPY")
    assert "SPY: SPY.csv has a bar on 2024-03-30" in one_line(exc_info)


def test_align_ignores_bars_outside_the_run():
    run = sessions(*RUN)
    days = [pd.Timestamp("2024-03-16"), *sessions("2024-03-18", "2024-04-12")]  # a Saturday
    hist = {"SPY": history("SPY", run), "ABC": history("ABC", days)}
    assert align(hist, run, ("ABC",), "SPY").has_bar.all()


def test_align_late_listing_and_early_end_are_nan_outside():
    run = sessions(*RUN)
    late = history("LATE", run[3:])
    early = history("EARLY", run[:-2])
    never = history("NEVER", sessions("2023-01-03", "2023-01-31"))
    hist = {"SPY": history("SPY", run), "LATE": late, "EARLY": early, "NEVER": never}
    market = align(hist, run, ("LATE", "EARLY", "NEVER"), "SPY")
    has = market.has_bar
    assert has[:, 0].tolist() == [False] * 3 + [True] * (len(run) - 3)
    assert has[:, 1].tolist() == [True] * (len(run) - 2) + [False] * 2
    assert not has[:, 2].any()
    for field in (market.open, market.high, market.low, market.close, market.volume):
        assert np.isnan(field[:3, 0]).all() and np.isnan(field[-2:, 1]).all()
    assert market.first_bar.tolist() == [3, 0, -1]
    assert market.last_bar.tolist() == [len(run) - 1, len(run) - 3, -1]
    assert market.close[3, 0] == late.bars["close"].iloc[0]


@pytest.mark.parametrize(
    ("bench_days", "missing_day"),
    [
        (("2024-03-26", "2024-04-05"), "2024-03-25"),  # starts late
        (("2024-03-25", "2024-04-03"), "2024-04-04"),  # ends early
    ],
)
def test_align_benchmark_must_cover_the_run(bench_days, missing_day):
    run = sessions(*RUN)
    hist = {"SPY": history("SPY", sessions(*bench_days)), "ABC": history("ABC", run)}
    with pytest.raises(DataError) as exc_info:
        align(hist, run, ("ABC",), "SPY")
    message = one_line(exc_info)
    assert message.startswith(f"benchmark SPY has no bar on {missing_day}")
    assert f"its data runs {bench_days[0]} to {bench_days[1]}" in message


def test_align_benchmark_gap_is_an_error():
    run = sessions(*RUN)
    days = [d for d in run if d != pd.Timestamp("2024-04-01")]
    hist = {"SPY": history("SPY", days), "ABC": history("ABC", run)}
    with pytest.raises(DataError) as exc_info:
        align(hist, run, ("ABC",), "SPY")
    assert "SPY: SPY.csv has no bar for the NYSE session 2024-04-01" in one_line(exc_info)


def test_resolve_sessions_defaults_to_the_data_span():
    hist = {
        "SPY": history("SPY", sessions("2024-03-25", "2024-04-05")),
        "ABC": history("ABC", sessions("2024-03-20", "2024-04-03")),
    }
    run = resolve_sessions(None, None, hist)
    assert run[0] == pd.Timestamp("2024-03-20") and run[-1] == pd.Timestamp("2024-04-05")
    assert pd.Timestamp("2024-03-29") not in run


def test_resolve_sessions_cuts_the_end_at_the_newest_bar():
    hist = {"SPY": history("SPY", sessions(*RUN))}
    run = resolve_sessions(pd.Timestamp("2024-03-27"), pd.Timestamp("2030-01-01"), hist)
    assert run[0] == pd.Timestamp("2024-03-27") and run[-1] == pd.Timestamp("2024-04-05")
    inner = resolve_sessions(pd.Timestamp("2024-03-23"), pd.Timestamp("2024-04-02"), hist)
    assert inner[0] == pd.Timestamp("2024-03-25") and inner[-1] == pd.Timestamp("2024-04-02")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-04-03", "2024-03-27"),  # start after end
        ("2024-03-29", "2024-03-31"),  # Good Friday + weekend
        ("2024-05-01", None),  # starts after the newest bar
    ],
)
def test_resolve_sessions_empty_range(start, end):
    hist = {"SPY": history("SPY", sessions(*RUN))}
    end_ts = pd.Timestamp(end) if end else None
    with pytest.raises(DataError) as exc_info:
        resolve_sessions(pd.Timestamp(start), end_ts, hist)
    message = one_line(exc_info)
    assert message.startswith("empty date range: no NYSE session from")
    assert "newest bar loaded is 2024-04-05" in message and "--start/--end" in message


def test_resolve_sessions_single_session_is_an_error():
    hist = {"SPY": history("SPY", sessions(*RUN))}
    with pytest.raises(DataError) as exc_info:
        resolve_sessions(pd.Timestamp("2024-03-28"), pd.Timestamp("2024-03-31"), hist)
    assert "single session" in one_line(exc_info)


def test_resolve_sessions_without_data():
    with pytest.raises(DataError, match="no price data loaded"):
        resolve_sessions(None, None, {})


# --- the shared market data ----------------------------------------------------------------------


@pytest.mark.shared_data
def test_every_shared_market_file_parses(shared_market_data):
    files = sorted(shared_market_data.glob("*.csv"))
    assert sorted(p.stem for p in files) == sorted(SHARED_TICKERS)
    assert len(files) == 29
    loaded = CsvPriceSource(shared_market_data).load(SHARED_TICKERS)
    assert sorted(loaded) == sorted(SHARED_TICKERS)
    for ticker, hist in loaded.items():
        bars = hist.bars
        assert len(bars) > 300, ticker
        assert bars.index.is_monotonic_increasing and bars.index.is_unique, ticker
        assert (bars[["open", "high", "low", "close"]] > 0).all().all(), ticker
        assert (bars["high"] >= bars["low"]).all(), ticker
    assert loaded["SNDK"].first_date == pd.Timestamp("2025-02-13")


@pytest.mark.shared_data
def test_shared_market_data_aligns_on_nyse_sessions(shared_market_data):
    loaded = CsvPriceSource(shared_market_data).load(SHARED_TICKERS)
    run = resolve_sessions(pd.Timestamp("2004-01-01"), loaded["SPY"].last_date, loaded)
    others = tuple(t for t in SHARED_TICKERS if t != "SPY")
    market = align(loaded, run, others, "SPY")
    assert run[-1] == loaded["SPY"].last_date
    assert market.close.shape == (len(run), 28)
    assert not np.isnan(market.benchmark_close).any()
    sndk = market.column("SNDK")
    assert run[market.first_bar[sndk]] == pd.Timestamp("2025-02-13")
    # the index loads under its ^ name from SOX.csv
    sox = CsvPriceSource(shared_market_data).load(["^SOX"])["^SOX"]
    assert sox.source.endswith("SOX.csv") and sox.first_date == loaded["SOX"].first_date
