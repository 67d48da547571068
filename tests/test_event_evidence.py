"""The overlap-robust tests wired into the event study's summary.csv: the new columns against an
independent computation (plain loops, numpy lstsq, the pure functions called group by group),
on synthetic returns with hand-checkable counts and on the shared data; determinism; the
linear mean correlation against a loop over pairs; event_study_verdicts; the page's table."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import backtests.research.event_tests as event_tests
from backtests.config import load_config, with_cli_options
from backtests.research.calendar_time import calendar_time_test, newey_west_lags
from backtests.research.event_evidence import ADDED_COLUMNS, study_inference, with_inference
from backtests.research.event_stats import SUMMARY_COLUMNS, summarize
from backtests.research.event_study import StudyWindow, run_event_study, study_events
from backtests.research.event_tests import (
    EventArrays,
    _rolling_sums,
    corrado_rank_test,
    generalized_sign_test,
    kp_test,
    mean_correlation,
    signed_mean_correlation,
    unit_rows,
)
from backtests.research.event_verdicts import VERDICT_KEYS, event_study_verdicts
from data.calendar import sessions_between
from data.events import Event
from reports.event_study_report import index_html
from reports.run_folder import write_csv

BASKETS = ("long", "short", "spread")


# --- the independent computation ----------------------------------------------------------------


def _arrays_by_loop(y, x, day0, window: StudyWindow) -> EventArrays:
    """Per event: lstsq over the estimation sessions with both returns, residuals, ARs."""
    est_ar, est_x, ev_ar, ev_x = [], [], [], []
    rel = np.arange(window.est_start, window.est_end + 1)
    for d in day0:
        pos = d + rel
        ok = np.array([p >= 1 and np.isfinite(y[p]) and np.isfinite(x[p]) for p in pos])
        design = np.column_stack([np.ones(ok.sum()), x[pos][ok]])
        (alpha, beta), *_ = np.linalg.lstsq(design, y[pos][ok], rcond=None)
        est_ar.append(np.where(ok, y[pos] - alpha - beta * x[pos], np.nan))
        est_x.append(np.where(ok, x[pos], np.nan))
        span = d + np.arange(0, window.post + 1)
        ev_ar.append(y[span] - alpha - beta * x[span])
        ev_x.append(x[span])
    return EventArrays(*(np.array(v, dtype=float) for v in (est_ar, est_x, ev_ar, ev_x)))


def _expected_rows(returns: pd.DataFrame, used: pd.DataFrame, window: StudyWindow) -> pd.DataFrame:
    """Every new column, group by group, by hand: the groups, signs and calendar-time
    exclusions built with plain loops, then the pure tests called on each group."""
    sessions = returns.index
    day0 = np.array([sessions.get_loc(pd.Timestamp(d)) for d in used["entry_session"]])
    direction = used["direction"].to_numpy(dtype=int)
    category = used["category"].to_numpy(dtype=object)
    x = returns["benchmark"].to_numpy(float)
    n_sessions = len(sessions)
    post = window.post
    everyone = list(range(len(day0)))
    groups = [("all", "all", everyone, [1.0] * len(day0))]
    groups.append(("all_signed", "all", everyone, [float(d) for d in direction]))
    for value in (1, -1):
        members = [i for i in everyone if direction[i] == value]
        if members:
            groups.append(("direction", f"{value:+d}", members, [1.0] * len(members)))
    for name in sorted(set(category)):
        members = [i for i in everyone if category[i] == name]
        groups.append(("category", name, members, [1.0] * len(members)))
    rows = []
    for basket in BASKETS:
        y = returns[basket].to_numpy(float)
        arrays = _arrays_by_loop(y, x, day0, window)
        for group, value, members, signs in groups:
            s = np.array(signs)[:, None]
            sub = arrays.subset(np.array(members))
            signed = EventArrays(sub.est_ar * s, sub.est_market, sub.event_ar * s, sub.event_market)
            kp = kp_test(signed)
            rank_z, rank_p = corrado_rank_test(signed)
            sign = generalized_sign_test(signed)
            exclude = None
            if group in ("direction", "category"):
                exclude = np.zeros(n_sessions, dtype=bool)
                for t in range(n_sessions):
                    mine = any(day0[i] <= t <= day0[i] + post for i in members)
                    other = any(
                        day0[i] <= t <= day0[i] + post for i in everyone if i not in members
                    )
                    exclude[t] = other and not mine
            for k in range(post + 1):
                ct = calendar_time_test(y, x, day0[members], np.array(signs), k, exclude=exclude)
                rows.append(
                    {
                        "basket": basket,
                        "group": group,
                        "value": value,
                        "k": k,
                        "bmp_t": kp["bmp_t"][k],
                        "bmp_p": kp["bmp_p"][k],
                        "rbar": kp["rbar"][k],
                        "kp_t": kp["kp_t"][k],
                        "kp_p": kp["kp_p"][k],
                        "rank_z": rank_z[k],
                        "rank_p": rank_p[k],
                        "gsign_n_positive": sign["n_positive"][k],
                        "p_hat": sign["p_hat"][k],
                        "gsign_z": sign["z"][k],
                        "gsign_p": sign["p"][k],
                        "ct_car": ct["car"],
                        "ct_gamma": ct["gamma"],
                        "ct_se": ct["se"],
                        "ct_t": ct["t"],
                        "ct_p": ct["p"],
                        "ct_obs": ct["n_obs"],
                        "ct_event_sessions": ct["event_sessions"],
                        "ct_maxlags": ct["maxlags"],
                    }
                )
    return pd.DataFrame(rows)


def _assert_matches(summary: pd.DataFrame, expected: pd.DataFrame) -> None:
    keys = ["basket", "group", "value", "k"]
    merged = summary.merge(expected, on=keys, how="outer", suffixes=("", "_x"), indicator=True)
    assert (merged["_merge"] == "both").all()
    assert len(merged) == len(summary)
    # n_positive is not repeated: the generalized sign test's count is summary.csv's.
    np.testing.assert_array_equal(merged["n_positive"], merged["gsign_n_positive"])
    for column in ADDED_COLUMNS:
        got, want = merged[column].to_numpy(float), merged[f"{column}_x"].to_numpy(float)
        if column in ("ct_obs", "ct_event_sessions", "ct_maxlags"):
            np.testing.assert_array_equal(got, want, err_msg=column)
        else:
            # lstsq and the study's OLS differ in the last bits only.
            np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12, err_msg=column)


# --- synthetic returns ----------------------------------------------------------------------------

WINDOW = StudyWindow(pre=-2, post=3, est_start=-60, est_end=-5, min_obs=40)
DAY0 = (100, 102, 130, 131, 200, 260)  # two overlapping pairs, two lone events
DIRECTIONS = (1, -1, 1, 1, -1, 1)
CATEGORIES = ("custom_silicon", "capex_raise", "custom_silicon", "capex_cut", "capex_raise", "x")


def _synthetic():
    rng = np.random.default_rng(11)
    sessions = sessions_between(pd.Timestamp("2020-01-01"), pd.Timestamp("2021-03-31"))
    n = len(sessions)
    bench = rng.normal(0.0004, 0.01, n)
    long = 0.9 * bench + rng.standard_t(4, n) * 0.01
    short = 1.3 * bench + rng.normal(0.0, 0.02, n)
    for d, s in zip(DAY0, DIRECTIONS, strict=True):
        short[d : d + 4] -= 0.01 * s  # the rotation's bet: short falls after +1 news
    bench[0] = long[0] = short[0] = np.nan
    long[[40, 77, 95]] = np.nan  # gaps inside estimation windows
    returns = pd.DataFrame(
        {"long": long, "short": short, "spread": long - short, "benchmark": bench},
        index=sessions,
    )
    events = [
        Event(
            id=f"e{i}",
            known_at=pd.Timestamp("2020-01-01T08:00:00-05:00"),
            direction=d,
            category=c,
        )
        for i, (d, c) in enumerate(zip(DIRECTIONS, CATEGORIES, strict=True))
    ]
    return returns, events, [sessions[d] for d in DAY0]


def _synthetic_summary():
    returns, events, entries = _synthetic()
    rows, table = study_events(returns, events, entries, WINDOW)
    summary, _ = summarize(rows, table, WINDOW)
    return returns, table, with_inference(summary, study_inference(returns, table, WINDOW))


def test_synthetic_summary_columns_equal_the_pure_functions():
    returns, table, summary = _synthetic_summary()
    assert (table["status"] == "used").all()
    assert list(summary.columns) == [*SUMMARY_COLUMNS, *ADDED_COLUMNS]
    _assert_matches(summary, _expected_rows(returns, table, WINDOW))


def test_synthetic_hand_checkable_values():
    returns, _, summary = _synthetic_summary()
    old, _ = summarize(*study_events(returns, *_synthetic()[1:], WINDOW), WINDOW)
    # The existing columns and rows are unchanged.
    pd.testing.assert_frame_equal(summary[list(SUMMARY_COLUMNS)], old)
    spread = summary[summary["basket"] == "spread"].set_index(["group", "value", "k"])
    n_sessions = len(returns)
    # Sessions with both returns: all but the first and the three gaps of the long basket.
    assert (spread["ct_obs"].loc[("all", "all")] == n_sessions - 4).all()
    assert (spread["ct_maxlags"] == newey_west_lags(n_sessions - 4)).loc[("all", "all")].all()
    # Sessions inside some [day0, day0 + k]: windows at 100, 102, 130, 131, 200, 260.
    # k = 0: 6 sessions; k = 3: [100..105] + [130..134] + 4 + 4 = 6 + 5 + 8 = 19.
    assert spread.loc[("all", "all", 0), "ct_event_sessions"] == 6
    assert spread.loc[("all", "all", 3), "ct_event_sessions"] == 19
    # Signed, k = 3: 100..101 +1, 102..103 cancel (+1 - 1), 104..105 -1, 130..134 +1,
    # 200..203 -1, 260..263 +1: 17 sessions with D != 0.
    assert spread.loc[("all_signed", "all", 3), "ct_event_sessions"] == 17
    # A group of one event: cross-sectional tests undefined, the calendar-time one is not.
    lone = spread.loc[("category", "x", 3)]
    assert lone["n"] == 1 and np.isnan(lone["bmp_t"]) and np.isnan(lone["rbar"])
    assert np.isfinite(lone["ct_p"]) and lone["ct_event_sessions"] == 4
    # The calendar-time CAR is (k + 1) times the window coefficient.
    assert spread["ct_car"].to_numpy() == pytest.approx(
        (spread.index.get_level_values("k").to_numpy() + 1) * spread["ct_gamma"].to_numpy(),
        nan_ok=True,
    )


def test_summary_csv_is_deterministic(tmp_path: Path):
    paths = []
    for name in ("a.csv", "b.csv"):
        _, _, summary = _synthetic_summary()
        write_csv(tmp_path / name, summary)
        paths.append(tmp_path / name)
    assert paths[0].read_bytes() == paths[1].read_bytes()


# --- the linear mean correlation ----------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 4])
def test_linear_mean_correlation_equals_the_loop_over_pairs(monkeypatch, length):
    rng = np.random.default_rng(5)
    base = rng.normal(0, 0.01, 400)
    rows = [base[s : s + 90] + rng.normal(0, 0.004, 90) for s in rng.integers(0, 300, 14)]
    est = np.array(rows)
    est[3, [5, 40]] = np.nan  # incomplete events
    est[7, :50] = np.nan
    est[9, 10:] = np.nan  # too few positions with anyone
    est[11] = 0.002  # constant: no correlation
    sums = np.array([[np.sum(r[j : j + length]) for j in range(91 - length)] for r in est])
    values = []
    for i, j in itertools.combinations(range(len(est)), 2):
        both = np.isfinite(sums[i]) & np.isfinite(sums[j])
        a, b = sums[i][both], sums[j][both]
        if both.sum() >= 30 and np.ptp(a) > 0 and np.ptp(b) > 0:  # a constant: no r
            values.append(np.corrcoef(a, b)[0, 1])
    monkeypatch.setattr(event_tests, "PAIR_BLOCK", 2)  # several blocks of incomplete events
    assert mean_correlation(est, length) == pytest.approx(np.mean(values), rel=1e-10)


# --- the shared data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_study(shared_market_data):
    config = with_cli_options(load_config(None, []), shared_market_data, None, None, None)
    return config, run_event_study(config, StudyWindow())


@pytest.mark.shared_data
def test_shared_summary_columns_equal_the_pure_functions(shared_study):
    config, study = shared_study
    from backtests.research.event_study import basket_returns
    from backtests.runner import load_prices
    from data.market import align, resolve_sessions

    histories = load_prices(config)
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    sessions = resolve_sessions(start, end, histories)
    assert sessions[0].date().isoformat() == study.facts["first_session"]
    long, short = list(config.universe.long), list(config.universe.short)
    market = align(histories, sessions, tuple(dict.fromkeys([*long, *short])), config.run.benchmark)
    returns = basket_returns(market, long, short)
    _assert_matches(study.summary, _expected_rows(returns, study.used, StudyWindow()))


@pytest.mark.shared_data
def test_shared_headline_figures(shared_study):
    _, study = shared_study
    s = study.summary.set_index(["basket", "group", "value", "k"])
    row = s.loc[("spread", "all_signed", "all", 5)]
    assert row["n"] == 60
    assert row["t_pvalue"] == pytest.approx(0.0805266204228564, abs=1e-12)
    assert row["rbar"] == pytest.approx(-0.000931, abs=5e-7)
    assert row["kp_p"] == pytest.approx(0.10371311113525128, abs=1e-9)
    assert row["ct_p"] == pytest.approx(0.45568803269772074, abs=1e-9)
    assert row["ct_maxlags"] == 8


@pytest.mark.shared_data
def test_shared_page_shows_the_table_escaped(shared_study):
    _, study = shared_study
    events = study.events.copy()
    events.loc[0, "category"] = "<b>cat</b>"
    summary = study.summary.copy()
    summary.loc[summary["value"] == "capex_cut", "value"] = "<b>cat</b>"
    html = index_html(events, summary, study.facts, "t")
    section = html[html.index('id="overlap-tests"') :]
    assert "r\u0304" in section and "p (KP)" in section and "p (HAC)" in section
    assert "&lt;b&gt;cat&lt;/b&gt;" in section and "<b>cat</b>" not in html
    s = study.summary
    rbar = s[(s["basket"] == "spread") & (s["group"] == "all_signed") & (s["k"] == 5)]["rbar"]
    assert f"{float(rbar.iloc[0]):.3f}" in section


# --- verdicts -----------------------------------------------------------------------------------


def _one_row(**overrides) -> pd.DataFrame:
    row = {c: np.nan for c in (*SUMMARY_COLUMNS, *ADDED_COLUMNS)}
    row.update(basket="spread", group="all_signed", value="all", k=5, n=60, mean_car=0.0172)
    row.update(t_stat=1.78, t_pvalue=0.0805, n_positive=36, n_negative=24, sign_pvalue=0.155)
    row.update(bmp_t=1.61, bmp_p=0.114, rbar=-0.001, kp_t=1.65, kp_p=0.104, rank_z=1.64)
    row.update(rank_p=0.101, gsign_z=1.44, gsign_p=0.0301, ct_car=0.0071, ct_t=0.75, ct_p=0.456)
    row.update(overrides)
    return pd.DataFrame([row])


def test_verdicts_rows_and_meanings():
    rows = event_study_verdicts(_one_row())
    assert [r["test"] for r in rows] == [
        "t_test",
        "sign_test",
        "bmp",
        "kp",
        "rank",
        "generalized_sign",
        "calendar_time",
    ]
    assert all(list(r) == list(VERDICT_KEYS) for r in rows)
    by = {r["test"]: r for r in rows}
    assert by["kp"]["statistic"] == 1.65 and by["kp"]["p_value"] == 0.104
    assert by["kp"]["rbar"] == -0.001 and np.isnan(by["t_test"]["rbar"])
    assert by["sign_test"]["statistic"] == 36.0
    assert by["calendar_time"]["estimate"] == 0.0071 and by["t_test"]["estimate"] == 0.0172
    assert by["kp"]["allows_overlap"] and by["calendar_time"]["allows_overlap"]
    assert not by["t_test"]["allows_overlap"]
    assert by["kp"]["meaning"] == (
        "spread CAR(0,5) of all events, CAR x direction is +1.72%: not significant at 0.05 by "
        "the Kolari-Pynnonen adjusted BMP, p = 0.104 (allows for overlapping windows through "
        "rbar -0.001)."
    )
    assert (
        "significant at 0.05 by the generalized sign test, p = 0.030"
        in (by["generalized_sign"]["meaning"])
    )
    assert "not significant" not in by["generalized_sign"]["meaning"]
    assert "too narrow when windows overlap" in by["t_test"]["meaning"]
    for r in rows:
        assert all(isinstance(r[key], (str, int, float, bool)) for key in VERDICT_KEYS)


def test_verdicts_filters_and_undefined_tests():
    two = pd.concat([_one_row(), _one_row(k=3, group="all", kp_p=np.nan)], ignore_index=True)
    assert len(event_study_verdicts(two)) == 14
    at3 = event_study_verdicts(two, k=3)
    assert {r["k"] for r in at3} == {3} and len(at3) == 7
    assert len(event_study_verdicts(two, groups=["all_signed"])) == 7
    kp = next(r for r in at3 if r["test"] == "kp")
    assert np.isnan(kp["p_value"])
    assert kp["meaning"] == (
        "The Kolari-Pynnonen adjusted BMP is not defined for the spread CAR(0,3) of all events."
    )


@pytest.mark.shared_data
def test_verdicts_read_back_from_summary_csv(shared_study, tmp_path: Path):
    _, study = shared_study
    write_csv(tmp_path / "summary.csv", study.summary)
    back = pd.read_csv(tmp_path / "summary.csv")
    rows = event_study_verdicts(back, k=5, groups=["direction"])
    assert {r["value"] for r in rows} == {"+1", "-1"}
    kp = next(
        r for r in rows if r["test"] == "kp" and r["basket"] == "spread" and r["value"] == "-1"
    )
    want = study.summary.set_index(["basket", "group", "value", "k"]).loc[
        ("spread", "direction", "-1", 5)
    ]
    assert kp["p_value"] == pytest.approx(want["kp_p"], rel=1e-15)
    assert kp["rbar"] == pytest.approx(want["rbar"], rel=1e-15)


@pytest.mark.parametrize("length", [1, 3])
def test_signed_mean_correlation_equals_mean_correlation_of_the_signed_group(length):
    rng = np.random.default_rng(8)
    base = rng.normal(0, 0.01, 300)
    est = np.array([base[s : s + 80] + rng.normal(0, 0.005, 80) for s in rng.integers(0, 200, 12)])
    est[4] = 0.001  # constant: left out
    sums = _rolling_sums(est, length)
    unit = unit_rows(sums)
    members = np.array([0, 2, 3, 4, 7, 8, 11])
    signs = np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
    weights = np.zeros(len(est))
    weights[members] = signs
    expected = mean_correlation(est[members] * signs[:, None], length)
    assert signed_mean_correlation(unit, weights) == pytest.approx(expected, rel=1e-12)
    est[5, 3] = np.nan
    assert unit_rows(_rolling_sums(est, length)) is None  # a gap: use mean_correlation
    assert unit_rows(sums, min_overlap=200) is None
