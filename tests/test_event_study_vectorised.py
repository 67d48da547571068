"""The vectorised event study reproduces the event-by-event computation it replaced, to the last
bit: on the bundled calendar and the shared data, and on synthetic returns with every way an
event can be skipped (gaps in the estimation window, a constant benchmark, a missing return in
the event window, a window off either end of the data, no entry session, duplicate ids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from event_study_reference import study_events_reference

from backtests.config import load_config, with_cli_options
from backtests.research.event_study import StudyWindow, basket_returns, study_events
from backtests.runner import load_prices
from data.calendar import entry_sessions, sessions_between
from data.events import Event, load_events
from data.market import align, resolve_sessions
from reports.event_study_report import MAX_BARS, plot_event_bars

WINDOWS = [
    StudyWindow(),
    StudyWindow(min_obs=30),
    StudyWindow(-3, 5, -120, -10, 60),
    StudyWindow(0, 0, -30, -1, 3),
]


def _assert_identical(window, returns, events, entries):
    new = study_events(returns, events, entries, window)
    old = study_events_reference(returns, events, entries, window)
    for got, expected in zip(new, old, strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    return new


@pytest.fixture(scope="module")
def bundled(shared_market_data):
    config = with_cli_options(load_config(None, []), shared_market_data, None, None, None)
    histories = load_prices(config)
    sessions = resolve_sessions(pd.Timestamp(config.run.start), None, histories)
    long, short = tuple(config.universe.long), tuple(config.universe.short)
    market = align(histories, sessions, (*long, *short), config.run.benchmark)
    events = load_events(None).events
    return basket_returns(market, long, short), events, entry_sessions([e.known_at for e in events])


@pytest.mark.shared_data
@pytest.mark.parametrize("window", WINDOWS)
def test_bundled_calendar_identical(bundled, window):
    returns, events, entries = bundled
    _, table = _assert_identical(window, returns, events, entries)
    assert (table["status"] == "used").sum() == 60


@pytest.mark.shared_data
@pytest.mark.parametrize("window", WINDOWS)
def test_bundled_calendar_on_a_short_history(bundled, window):
    # Cut the data so that early events lose estimation sessions and late ones their window.
    returns, events, entries = bundled
    cut = returns.loc["2023-06-01":"2026-07-08"]
    _, table = _assert_identical(window, cut, events, entries)
    assert (table["status"] == "skipped").any()


def _synthetic(seed: int):
    rng = np.random.default_rng(seed)
    sessions = sessions_between(pd.Timestamp("2019-01-01"), pd.Timestamp("2021-12-31"))
    n = len(sessions)
    bench = rng.normal(0.0004, 0.01, n)
    long = rng.normal(0.0005, 0.015, n) + 0.9 * bench
    short = rng.normal(0.0, 0.02, n) + 1.3 * bench
    bench[0] = long[0] = short[0] = np.nan
    long[rng.random(n) < 0.03] = np.nan  # scattered gaps: estimation windows lose sessions
    short[300:340] = np.nan  # a long gap: too few observations, and missing window returns
    bench[500:560] = 0.0  # a constant benchmark over a whole estimation window
    returns = pd.DataFrame(
        {"long": long, "short": short, "spread": long - short, "benchmark": bench},
        index=sessions,
    )
    picks = rng.integers(0, n, size=80)
    picks = np.concatenate([picks, [0, 3, 200, 330, 560, 565, n - 3, n - 1]])
    entries: list[pd.Timestamp | None] = [sessions[int(k)] for k in picks]
    entries += [None, pd.Timestamp("2018-06-01"), pd.Timestamp("2022-06-01")]
    events = [
        Event(
            id=f"e{k % 40}" if k % 7 == 0 else f"ev{k}",  # some ids repeat
            known_at=pd.Timestamp("2020-01-01T08:00:00-05:00"),
            direction=1 if k % 3 else -1,
            category=("custom_silicon", "capex_raise", "capex_cut")[k % 3],
            headline=f"headline {k}",
        )
        for k in range(len(entries))
    ]
    return returns, events, entries


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("window", WINDOWS)
def test_synthetic_returns_identical(seed, window):
    returns, events, entries = _synthetic(seed)
    _, table = _assert_identical(window, returns, events, entries)
    reasons = " | ".join(table["reason"])
    assert (table["status"] == "used").sum() > 25
    for fragment in ("no NYSE session", "day 0 is before", "day 0 is after", "falls"):
        assert fragment in reasons


def test_synthetic_skip_reasons_cover_every_check():
    returns, events, entries = _synthetic(1)
    _, table = _assert_identical(StudyWindow(), returns, events, entries)
    reasons = " | ".join(table["reason"])
    assert "estimation sessions for the" in reasons
    assert "has no return on day" in reasons


def test_constant_benchmark_is_skipped():
    returns, events, _ = _synthetic(1)
    window = StudyWindow(0, 0, -30, -1, 3)
    day0 = returns.index[540]  # its estimation window [510, 539] is all constant benchmark
    _, table = _assert_identical(window, returns, events[:1], [day0])
    assert table.loc[0, "reason"] == "the benchmark's return does not vary in the estimation window"


def test_no_event():
    returns, _, _ = _synthetic(1)
    rows, table = study_events(returns, [], [], StudyWindow())
    assert rows.empty and table.empty


def _events_table(count: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "status": "used",
            "direction": np.where(rng.random(count) < 0.6, 1, -1),
            "entry_session": [f"2020-01-{1 + k % 28:02d}" for k in range(count)],
            **{f"{b}_car_0_5": rng.normal(0, 0.03, count) for b in ("long", "short", "spread")},
        }
    )


@pytest.mark.parametrize("count", [MAX_BARS, MAX_BARS + 1, 6000])
def test_bar_chart_size_is_bounded(tmp_path: Path, count: int):
    from PIL import Image

    path = tmp_path / "bars.png"
    plot_event_bars(_events_table(count), 5, path)
    width, height = Image.open(path).size
    assert width <= (0.22 * MAX_BARS + 2) * 110 + 1
    assert height <= 9 * 110 + 1
