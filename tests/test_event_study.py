"""Event study: per-event abnormal returns against an independent computation on the real data,
skipped events and their reasons, the summary statistics against scipy, the CLI end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import assert_one_line_error, run_cli
from scipy import stats

from backtests.config import load_config, with_cli_options
from backtests.research.event_evidence import ADDED_COLUMNS
from backtests.research.event_stats import SUMMARY_COLUMNS
from backtests.research.event_study import (
    ROW_COLUMNS,
    EventStudyError,
    StudyWindow,
    parse_pair,
    run_event_study,
)
from data.errors import CapexRotationError

LONG = ["META", "MSFT", "GOOGL", "AMZN"]
SHORT = ["AMAT", "LRCX", "KLAC", "ASML", "TER", "ENTG", "MU", "WDC", "SNDK"]


def _config(data_dir: Path, **flags):
    return with_cli_options(
        load_config(None, []), data_dir, flags.get("events"), flags.get("start"), flags.get("end")
    )


@pytest.fixture(scope="module")
def study(shared_market_data):
    return run_event_study(_config(shared_market_data), StudyWindow())


# --- an independent computation: plain pandas on the CSV files, numpy lstsq ---------------------


def _closes(folder: Path, tickers: list[str]) -> pd.DataFrame:
    frames = {}
    for ticker in tickers:
        raw = pd.read_csv(folder / f"{ticker}.csv", parse_dates=["date"]).set_index("date")
        frames[ticker] = raw["adj_close"].where(raw["adj_close"].notna(), raw["close"])
    return pd.DataFrame(frames)


def _expected(folder: Path, day0: str) -> dict[str, pd.DataFrame]:
    closes = _closes(folder, [*LONG, *SHORT, "SPY"])
    sessions = closes.index[closes.index >= "2015-01-02"]  # SPY trades every NYSE session
    closes = closes.loc[sessions]
    returns = closes / closes.shift(1) - 1.0  # NaN unless there is a bar today and yesterday
    basket = {
        "long": returns[LONG].mean(axis=1, skipna=True),
        "short": returns[SHORT].mean(axis=1, skipna=True),
    }
    basket["spread"] = basket["long"] - basket["short"]
    market = returns["SPY"].to_numpy()
    i0 = sessions.get_loc(pd.Timestamp(day0))
    out = {}
    for name, series in basket.items():
        y = series.to_numpy()
        est = np.arange(i0 - 250, i0 - 21 + 1)
        ok = np.isfinite(y[est]) & np.isfinite(market[est])
        design = np.column_stack([np.ones(ok.sum()), market[est][ok]])
        (alpha, beta), *_ = np.linalg.lstsq(design, y[est][ok], rcond=None)
        rows = []
        for k in range(-5, 11):
            ret = y[i0 + k]
            ar = ret - (alpha + beta * market[i0 + k])
            rows.append({"k": k, "ret": ret, "ar": ar})
        frame = pd.DataFrame(rows).set_index("k")
        car = {}
        for k in range(-5, 11):
            span = range(0, k + 1) if k >= 0 else range(k, 0)
            car[k] = sum(frame.loc[j, "ar"] for j in span)
        frame["car_from_0"] = pd.Series(car)
        frame.attrs["n_est"] = int(ok.sum())
        out[name] = frame
    return out


@pytest.mark.parametrize(
    ("event_id", "day0"),
    [
        # DeepSeek: known 2025-01-27 08:00 ET, before that Monday's open -> day 0 that day.
        ("ev-2025-01-27", "2025-01-27"),
        # Meta Compute: Bloomberg 2026-07-01 08:00 ET, before the open -> day 0 that day.
        ("ev-2026-07-01", "2026-07-01"),
    ],
)
def test_matches_independent_computation(study, shared_market_data, event_id, day0):
    expected = _expected(shared_market_data, day0)
    rows = study.rows[study.rows["event_id"] == event_id]
    assert set(rows["entry_session"]) == {day0}
    record = study.events.set_index("event_id").loc[event_id]
    assert record["status"] == "used"
    for basket, frame in expected.items():
        got = rows[rows["basket"] == basket].set_index("k")
        assert got.index.tolist() == list(range(-5, 11))
        assert record[f"{basket}_n_est"] == frame.attrs["n_est"] == 230
        for column in ("ret", "ar", "car_from_0"):
            np.testing.assert_allclose(
                got[column].to_numpy(), frame[column].to_numpy(), rtol=0, atol=1e-9
            )
        assert record[f"{basket}_car_0_5"] == pytest.approx(frame.loc[5, "car_from_0"], abs=1e-12)


def test_car_from_0_definition(study):
    for (_, _), block in study.rows.groupby(["event_id", "basket"]):
        ar = block.set_index("k")["ar"]
        car = block.set_index("k")["car_from_0"]
        for k in car.index:
            span = ar.loc[0:k] if k >= 0 else ar.loc[k:-1]
            assert car[k] == pytest.approx(span.sum(), abs=1e-12)


def test_csv_columns_and_shape(study):
    assert list(study.rows.columns) == list(ROW_COLUMNS)
    assert list(study.summary.columns) == [*SUMMARY_COLUMNS, *ADDED_COLUMNS]
    used = study.used
    assert len(study.rows) == len(used) * 3 * 16
    assert set(study.summary["k"]) == set(range(11))
    assert set(study.summary["basket"]) == {"long", "short", "spread"}
    assert {"all", "all_signed", "direction", "category"} <= set(study.summary["group"])


def _summary_row(study, basket, group, value, k):
    s = study.summary
    match = s[(s["basket"] == basket) & (s["group"] == group) & (s["value"] == value)]
    return match[match["k"] == k].iloc[0]


@pytest.mark.parametrize(
    ("basket", "group", "value", "k"),
    [
        ("spread", "all", "all", 5),
        ("spread", "direction", "+1", 10),
        ("short", "direction", "-1", 0),
        ("long", "category", "custom_silicon", 3),
        ("spread", "all_signed", "all", 5),
    ],
)
def test_summary_against_scipy(study, basket, group, value, k):
    rows = study.rows[(study.rows["basket"] == basket) & (study.rows["k"] == k)]
    events = study.used.set_index("event_id")
    cars = rows.set_index("event_id")["car_from_0"]
    if group == "direction":
        cars = cars[events.loc[cars.index, "direction"] == int(value)]
    elif group == "category":
        cars = cars[events.loc[cars.index, "category"] == value]
    elif group == "all_signed":
        cars = cars * events.loc[cars.index, "direction"]
    values = cars.to_numpy()
    row = _summary_row(study, basket, group, value, k)
    n = len(values)
    test = stats.ttest_1samp(values, 0.0)
    low, high = stats.t.interval(0.95, n - 1, loc=values.mean(), scale=stats.sem(values))
    positive, negative = int((values > 0).sum()), int((values < 0).sum())
    sign = stats.binomtest(positive, positive + negative, 0.5, alternative="two-sided")
    assert row["n"] == n
    assert row["mean_car"] == pytest.approx(values.mean(), abs=1e-14)
    assert row["t_stat"] == pytest.approx(test.statistic, rel=1e-10)
    assert row["t_pvalue"] == pytest.approx(test.pvalue, rel=1e-10)
    assert row["ci_low"] == pytest.approx(low, rel=1e-10)
    assert row["ci_high"] == pytest.approx(high, rel=1e-10)
    assert (row["n_positive"], row["n_negative"]) == (positive, negative)
    assert row["sign_pvalue"] == pytest.approx(sign.pvalue, rel=1e-12)


def test_default_run_uses_every_bundled_event(study):
    assert len(study.events) == 60
    assert (study.events["status"] == "used").all()
    # DeepSeek's window overlaps Stargate (01-22) and Meta's capex raise (01-24).
    overlapping = study.events.set_index("event_id").loc["ev-2025-01-27", "overlapping"]
    assert {"ev-2025-01-21", "ev-2025-01-24"} <= set(overlapping.split(";"))


def test_skipped_events_with_reasons(shared_market_data):
    start, end = "2023-01-03", "2026-07-10"
    result = run_event_study(_config(shared_market_data, start=start, end=end), StudyWindow())
    sessions = pd.DatetimeIndex(
        pd.read_csv(shared_market_data / "SPY.csv", parse_dates=["date"])["date"]
    )
    sessions = sessions[(sessions >= start) & (sessions <= end)]
    table = result.events.set_index("event_id")
    for event_id, record in table.iterrows():
        i0 = sessions.get_loc(pd.Timestamp(record["entry_session"]))
        n_est = max(0, i0 - 21)  # sessions 1 .. i0-21 have a return inside the run
        if i0 + 10 > len(sessions) - 1:
            assert record["status"] == "skipped"
            assert "falls after 2026-07-10" in record["reason"], event_id
        elif n_est < 120:
            assert record["status"] == "skipped"
            assert f"{n_est} estimation sessions" in record["reason"], event_id
            assert "--min-obs 120" in record["reason"] and "--start" in record["reason"]
        else:
            assert record["status"] == "used", (event_id, record["reason"])
    assert table.loc["ev-2023-02-01", "status"] == "skipped"
    assert table.loc["ev-2026-07-01", "status"] == "skipped"
    assert table.loc["ev-2025-01-27", "status"] == "used"
    assert set(result.rows["event_id"]) == set(table.index[table["status"] == "used"])
    assert result.summary["n"].max() == (table["status"] == "used").sum()

    looser = run_event_study(
        _config(shared_market_data, start=start, end=end), StudyWindow(min_obs=30)
    )
    assert len(looser.used) > len(result.used)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((1, 10, -250, -21, 120), "day 0 must be inside the window"),
        ((-5, 10, -20, -250, 120), "the start is after the end"),
        ((-5, 10, -250, -3, 120), "must end before the event window starts"),
        ((-5, 10, -250, -21, 500), "--min-obs 500"),
    ],
)
def test_bad_windows(args, fragment):
    with pytest.raises(EventStudyError, match=fragment):
        StudyWindow(*args)


def test_parse_pair():
    assert parse_pair("-5,10", "--window") == (-5, 10)
    assert parse_pair(" -250 , -21 ", "--estimation") == (-250, -21)
    for bad in ("5", "a,b", "1,2,3", "1.5,2"):
        with pytest.raises(CapexRotationError, match="--window"):
            parse_pair(bad, "--window")


# --- the command line ----------------------------------------------------------------------------


def test_cli_end_to_end(capsys, shared_market_data, tmp_path):
    out = tmp_path / "es"
    code, stdout, err = run_cli(
        capsys, "event-study", "--data-dir", str(shared_market_data), "--out", str(out)
    )
    assert code == 0, err
    for name in (
        "event_study.csv",
        "summary.csv",
        "events.csv",
        "car_paths.png",
        "car_by_direction.png",
        "car_0_5_by_event.png",
        "index.html",
        "README.md",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = pd.read_csv(out / "event_study.csv")
    assert list(rows.columns) == list(ROW_COLUMNS)
    assert rows["event_id"].nunique() == 60
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == [*SUMMARY_COLUMNS, *ADDED_COLUMNS]
    first_summary = (out / "summary.csv").read_bytes()
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "http" not in html.split("<h2>Events</h2>")[0]
    for png in ("car_paths.png", "car_by_direction.png", "car_0_5_by_event.png"):
        assert f'src="{png}"' in html
    assert "in-sample" in html and "not independent" in html
    assert "spread" in stdout and "Report:" in stdout and "in-sample" in stdout
    # The terminal's second table: p-values that allow for overlap at CAR(0,5), with rbar.
    overlap = stdout[stdout.index("p-values that allow for overlapping windows") :]
    for header in ("rbar", "p (t)", "KP", "HAC", "signed"):
        assert header in overlap, header
    # Same inputs, same bytes.
    again = tmp_path / "es-again"
    code, _, err = run_cli(
        capsys, "event-study", "--data-dir", str(shared_market_data), "--out", str(again)
    )
    assert code == 0, err
    assert (again / "summary.csv").read_bytes() == first_summary
    # A rerun replaces the previous output folder.
    code, _, err = run_cli(
        capsys,
        "event-study",
        "--data-dir",
        str(shared_market_data),
        "--out",
        str(out),
        "--window",
        "-2,5",
        "--categories",
        "custom_silicon,compute_resale",
    )
    assert code == 0, err
    rows = pd.read_csv(out / "event_study.csv")
    assert set(rows["k"]) == set(range(-2, 6))
    assert set(rows["category"]) == {"custom_silicon", "compute_resale"}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--window", "3,10"), ("--window 3,10", "day 0")),
        (("--window", "abc"), ("--window 'abc'",)),
        (("--estimation", "-250,-3"), ("--estimation -250,-3",)),
        (("--min-obs", "1"), ("--min-obs 1",)),
        (("--categories", "capex_cutt"), ("capex_cutt", "capex_cut")),
        (("--start", "2026-06-01"), ("no event could be studied", "--min-obs")),
        (("--set", "run.benchmark=NOPE"), ("unknown ticker NOPE",)),
    ],
)
def test_cli_bad_input_is_one_line(capsys, shared_market_data, tmp_path, args, fragments):
    out = tmp_path / "es"
    code, _, err = run_cli(
        capsys, "event-study", "--data-dir", str(shared_market_data), "--out", str(out), *args
    )
    assert_one_line_error(code, err, *fragments)
    assert not out.exists()


def test_cli_missing_data_dir(capsys, tmp_path):
    code, _, err = run_cli(capsys, "event-study", "--data-dir", str(tmp_path / "none"))
    assert_one_line_error(code, err, "does not exist")


def test_headlines_are_escaped(capsys, shared_market_data, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text(
        "id,known_at,direction,category,headline\n"
        "x-1,2025-01-27T08:00:00-05:00,+1,efficiency_breakthrough,"
        '"<script>alert(1)</script> & co"\n'
        "x-2,2024-06-12T16:30:00-04:00,-1,capex_raise,<b>bold</b> <img src=x onerror=alert(2)>\n",
        encoding="utf-8",
    )
    out = tmp_path / "es"
    code, _, err = run_cli(
        capsys,
        "event-study",
        "--data-dir",
        str(shared_market_data),
        "--events",
        str(events),
        "--out",
        str(out),
    )
    assert code == 0, err
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<b>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
