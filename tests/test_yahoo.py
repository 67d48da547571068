"""The ``yahoo`` price source and its parquet cache, offline through a fake Yahoo transport.

Every test injects :class:`yahoo_fixture.FakeYahoo` as ``session=``: yfinance 1.7.0's real
download and parsing code runs, and nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from yahoo_fixture import FakeYahoo, make_bars, ny_midnight

from data import atomic
from data.errors import DataError
from data.price_cache import PriceCache
from data.prices import PRICE_FIELDS
from data.yahoo import YahooPriceSource, default_cache_dir, last_completed_session

# yfinance 1.7.0 uses pandas' deprecated inplace= keywords (Pandas4Warning).
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:yfinance(\..*)?")

START = pd.Timestamp("2024-01-02")
# Thursday 2024-02-29 after the close: the last completed session is 2024-02-29.
NOW_1 = pd.Timestamp("2024-02-29 17:00")
# Wednesday 2024-03-20 at noon: 2024-03-20 is not complete, the last completed one is 03-19.
NOW_2 = pd.Timestamp("2024-03-20 12:00")


@pytest.fixture
def fake():
    transport = FakeYahoo(
        {
            "AMAT": make_bars("2024-01-02", 80, base=150.0, seed=1),
            "MU": make_bars("2024-01-02", 80, base=85.0, seed=2),
            "SNDK": make_bars("2025-02-13", 40, base=50.0, seed=3),
        }
    )
    yield transport
    transport.release()  # unblock any "hang" request left behind


def source(fake: FakeYahoo, cache: Path, now=NOW_1, deadline_s: float = 10.0):
    return YahooPriceSource(cache_dir=cache, session=fake.session(), deadline_s=deadline_s, now=now)


def periods(fake: FakeYahoo, symbol: str) -> list[tuple[int, int]]:
    return [(r.period1, r.period2) for r in fake.history_requests(symbol)]


def expected(frame: pd.DataFrame, lo: str, hi: str) -> pd.DataFrame:
    return frame.loc[lo:hi]


def test_downloads_two_tickers(fake, tmp_path):
    histories = source(fake, tmp_path).load(["amat", "MU"], START, None)

    assert list(histories) == ["AMAT", "MU"]
    for symbol, history in histories.items():
        bars = history.bars
        assert history.ticker == symbol
        assert list(bars.columns) == list(PRICE_FIELDS)
        assert all(str(bars[c].dtype) == "float64" for c in PRICE_FIELDS)
        assert bars.index.name == "date"
        assert str(bars.index.dtype) == "datetime64[ns]"
        assert bars.index.tz is None
        assert (bars.index == bars.index.normalize()).all()
        pd.testing.assert_frame_equal(
            bars, expected(fake.frames[symbol], "2024-01-02", "2024-02-29")
        )
        path = tmp_path / f"{symbol}.parquet"
        assert history.source == str(path)
        assert history.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        # One range request per ticker: midnight New York of the start day to midnight of the
        # day after the last completed session (yfinance's end is exclusive).
        assert periods(fake, symbol) == [(ny_midnight("2024-01-02"), ny_midnight("2024-03-01"))]
    meta = json.loads(pq.read_schema(tmp_path / "AMAT.parquet").metadata[b"capex_rotation"])
    assert (meta["covered_start"], meta["covered_end"]) == ("2024-01-02", "2024-02-29")


def test_yfinance_caches_and_logger_stay_out_of_the_way(fake, tmp_path, capsys):
    import yfinance.cache

    seen: list[logging.LogRecord] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    spy = Spy(logging.DEBUG)
    logging.getLogger().addHandler(spy)
    fake.set_mode("MU", "unknown")
    try:
        with pytest.raises(DataError):
            source(fake, tmp_path).load(["AMAT", "MU"], START, None)
    finally:
        logging.getLogger().removeHandler(spy)
    assert not [r for r in seen if r.name.startswith("yfinance")]
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    location = Path(yfinance.cache._TzDBManager.get_location())
    assert location.name == "yfinance" and "py-yfinance" not in str(location)


@pytest.mark.parametrize(
    ("now", "last"),
    [
        ("2024-03-20 12:00", "2024-03-19"),  # before the close: today is not complete
        ("2024-03-20 16:00", "2024-03-20"),  # at the close
        ("2024-03-23 10:00", "2024-03-22"),  # Saturday
        ("2024-11-29 13:30", "2024-11-29"),  # after the 13:00 early close
        (pd.Timestamp("2024-03-20 20:30", tz="UTC"), "2024-03-20"),  # 16:30 New York
    ],
)
def test_last_completed_session(now, last):
    assert last_completed_session(pd.Timestamp(now)) == pd.Timestamp(last)


def test_end_is_capped_at_the_last_completed_session(fake, tmp_path):
    history = source(fake, tmp_path, now=NOW_2).load(["AMAT"], START, pd.Timestamp("2024-12-31"))
    assert history["AMAT"].last_date == pd.Timestamp("2024-03-19")  # the frame has 03-20 too
    assert periods(fake, "AMAT") == [(ny_midnight("2024-01-02"), ny_midnight("2024-03-20"))]


def test_explicit_end_is_inclusive(fake, tmp_path):
    history = source(fake, tmp_path).load(["AMAT"], START, pd.Timestamp("2024-01-31"))
    assert history["AMAT"].last_date == pd.Timestamp("2024-01-31")
    assert periods(fake, "AMAT") == [(ny_midnight("2024-01-02"), ny_midnight("2024-02-01"))]


def test_empty_answer_is_an_error_and_caches_nothing(fake, tmp_path):
    fake.set_mode("AMAT", "empty")
    with pytest.raises(DataError) as err:
        source(fake, tmp_path).load(["AMAT"], START, None)
    message = str(err.value)
    assert "Yahoo returned no data for AMAT" in message
    assert "--data-dir" in message and "\n" not in message
    assert not (tmp_path / "AMAT.parquet").exists()


def test_unknown_ticker(fake, tmp_path):
    with pytest.raises(DataError) as err:
        source(fake, tmp_path).load(["ZZZZ"], START, None)
    message = str(err.value)
    assert "Yahoo returned no data for ZZZZ (2024-01-02 to 2024-02-29" in message
    assert "--data-dir" in message
    assert not list(tmp_path.glob("*.parquet"))


@pytest.mark.parametrize("mode", ["unknown", "timeout", "empty"])
def test_partial_answer_caches_the_good_tickers(fake, tmp_path, mode):
    fake.set_mode("MU", mode)
    with pytest.raises(DataError) as err:
        source(fake, tmp_path).load(["AMAT", "MU"], START, None)
    message = str(err.value)
    assert "Yahoo returned no data for MU" in message
    assert "AMAT cached" in message and "--data-dir" in message
    assert (tmp_path / "AMAT.parquet").exists()
    assert not (tmp_path / "MU.parquet").exists()
    # AMAT is now covered: fixing MU only asks for MU.
    fake.set_mode("MU", "ok")
    histories = source(fake, tmp_path).load(["AMAT", "MU"], START, None)
    assert len(periods(fake, "AMAT")) == 1
    assert set(histories) == {"AMAT", "MU"}


def test_deadline(fake, tmp_path):
    fake.set_mode("AMAT", "hang")
    fake.set_mode("MU", "hang")
    began = time.monotonic()
    with pytest.raises(DataError) as err:
        source(fake, tmp_path, deadline_s=1.0).load(["AMAT", "MU"], START, None)
    assert time.monotonic() - began < 10  # not yfinance's own timeouts (30 s and more)
    message = str(err.value)
    assert "did not answer within 1 s for AMAT, MU" in message
    assert "deadline_s" in message and "--data-dir" in message
    assert not list(tmp_path.glob("*.parquet"))


def test_top_up_requests_only_the_missing_dates(fake, tmp_path):
    first = source(fake, tmp_path, now=NOW_1).load(["AMAT", "MU"], START, None)
    second = source(fake, tmp_path, now=NOW_2).load(["AMAT", "MU"], START, None)
    for symbol in ("AMAT", "MU"):
        assert periods(fake, symbol) == [
            (ny_midnight("2024-01-02"), ny_midnight("2024-03-01")),
            (ny_midnight("2024-03-01"), ny_midnight("2024-03-20")),  # 03-01 .. 03-19
        ]
        pd.testing.assert_frame_equal(
            second[symbol].bars, expected(fake.frames[symbol], "2024-01-02", "2024-03-19")
        )
        assert second[symbol].sha256 != first[symbol].sha256
    cached = PriceCache(tmp_path).read("AMAT")
    assert (cached.covered_start, cached.covered_end) == (START, pd.Timestamp("2024-03-19"))


def test_earlier_start_requests_only_the_dates_before(fake, tmp_path):
    source(fake, tmp_path).load(["AMAT"], pd.Timestamp("2024-02-01"), None)
    history = source(fake, tmp_path).load(["AMAT"], START, None)
    assert periods(fake, "AMAT") == [
        (ny_midnight("2024-02-01"), ny_midnight("2024-03-01")),
        (ny_midnight("2024-01-02"), ny_midnight("2024-02-01")),  # 01-02 .. 01-31
    ]
    pd.testing.assert_frame_equal(
        history["AMAT"].bars, expected(fake.frames["AMAT"], "2024-01-02", "2024-02-29")
    )


def test_no_request_when_covered(fake, tmp_path):
    first = source(fake, tmp_path).load(["AMAT", "MU"], START, None)
    count = len(fake.requests)
    again = source(fake, tmp_path).load(["AMAT", "MU"], START, None)
    inside = source(fake, tmp_path).load(
        ["MU"], pd.Timestamp("2024-01-10"), pd.Timestamp("2024-02-15")
    )
    # A later clock before the next close adds no session: still nothing to ask.
    morning = source(fake, tmp_path, now=pd.Timestamp("2024-03-01 09:00")).load(
        ["AMAT"], START, None
    )
    assert len(fake.requests) == count
    assert again["AMAT"].sha256 == first["AMAT"].sha256
    pd.testing.assert_frame_equal(again["MU"].bars, first["MU"].bars)
    assert inside["MU"].source == first["MU"].source
    assert morning["AMAT"].sha256 == first["AMAT"].sha256


def test_late_listing_is_not_requested_again(fake, tmp_path):
    now = pd.Timestamp("2025-03-31 18:00")
    first = source(fake, tmp_path, now=now).load(["SNDK"], START, None)
    assert first["SNDK"].first_date == pd.Timestamp("2025-02-13")
    cached = PriceCache(tmp_path).read("SNDK")
    assert cached.covered_start == START  # coverage, not the first bar

    later = pd.Timestamp("2025-04-04 18:00")
    source(fake, tmp_path, now=later).load(["SNDK"], START, None)
    assert periods(fake, "SNDK") == [
        (ny_midnight("2024-01-02"), ny_midnight("2025-04-01")),
        (ny_midnight("2025-04-01"), ny_midnight("2025-04-05")),  # only the new sessions
    ]

    # An even earlier start: Yahoo answers "no bars"; the cache already shows the listing, so
    # the empty answer is believed and recorded, and not asked again.
    earlier = pd.Timestamp("2023-06-01")
    source(fake, tmp_path, now=later).load(["SNDK"], earlier, None)
    source(fake, tmp_path, now=later).load(["SNDK"], earlier, None)
    assert periods(fake, "SNDK")[2:] == [(ny_midnight("2023-06-01"), ny_midnight("2023-12-30"))]
    assert PriceCache(tmp_path).read("SNDK").covered_start == earlier


def test_offline_top_up_is_an_error_and_keeps_the_cache(fake, tmp_path):
    source(fake, tmp_path, now=NOW_1).load(["AMAT", "MU"], START, None)
    before = (tmp_path / "AMAT.parquet").read_bytes()
    fake.set_mode("AMAT", "timeout")
    fake.set_mode("MU", "timeout")
    with pytest.raises(DataError) as err:
        source(fake, tmp_path, now=NOW_2).load(["AMAT", "MU"], START, None)
    message = str(err.value)
    assert "Yahoo returned no data for AMAT, MU (2024-03-01 to 2024-03-19" in message
    assert "network unreachable?" in message and "--data-dir" in message
    assert (tmp_path / "AMAT.parquet").read_bytes() == before


def test_atomic_write_keeps_the_old_cache(fake, tmp_path, monkeypatch):
    source(fake, tmp_path, now=NOW_1).load(["AMAT"], START, None)
    path = tmp_path / "AMAT.parquet"
    before = path.read_bytes()

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail)  # after the temp file got its bytes
    with pytest.raises(DataError) as err:
        source(fake, tmp_path, now=NOW_2).load(["AMAT"], START, None)
    monkeypatch.undo()
    assert "cannot write cache file" in str(err.value) and "AMAT" in str(err.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["AMAT.parquet"]
    assert PriceCache(tmp_path).read("AMAT").covered_end == pd.Timestamp("2024-02-29")


def test_corrupted_cache_file_is_reported(fake, tmp_path):
    (tmp_path / "AMAT.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError) as err:
        source(fake, tmp_path).load(["AMAT"], START, None)
    message = str(err.value)
    assert str(tmp_path / "AMAT.parquet") in message and "delete it" in message
    assert fake.requests == []


def test_merge_new_bars_win_on_overlap(fake, tmp_path):
    src = source(fake, tmp_path)
    src.load(["AMAT"], START, pd.Timestamp("2024-01-31"))
    entry = src.cache.read("AMAT")
    new = fake.frames["AMAT"].loc["2024-01-30":"2024-02-02"] * 1.01
    written = src._merge_and_write("AMAT", entry, [new], (START, pd.Timestamp("2024-02-02")))
    assert written.bars.index[-1] == pd.Timestamp("2024-02-02")
    pd.testing.assert_frame_equal(written.bars.loc["2024-01-30":], new)
    pd.testing.assert_frame_equal(written.bars.loc[:"2024-01-29"], entry.bars.loc[:"2024-01-29"])


def test_bad_range_and_tickers(fake, tmp_path):
    src = source(fake, tmp_path)
    with pytest.raises(DataError, match="no completed NYSE session from 2024-03-04"):
        src.load(["AMAT"], pd.Timestamp("2024-03-04"), None)
    with pytest.raises(DataError, match="not a ticker symbol"):
        src.load(["AM AT"], START, None)
    assert src.load([], START, None) == {}
    assert fake.requests == []


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CAPEX_ROTATION_CACHE", str(tmp_path / "c"))
    assert YahooPriceSource().cache_dir == tmp_path / "c"
    monkeypatch.delenv("CAPEX_ROTATION_CACHE")
    assert default_cache_dir().parts[-2:] == ("capex-rotation", "prices")
    assert "cached in" in YahooPriceSource(cache_dir=tmp_path).describe()


def test_no_temp_files_or_stray_writes(fake, tmp_path):
    source(fake, tmp_path).load(["AMAT", "MU"], START, None)
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == ["AMAT.parquet", "MU.parquet"]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
