"""Calendar-time regression with Newey-West errors, and the per-group inference table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backtests.research.calendar_time import (
    calendar_time_test,
    event_indicator,
    newey_west_lags,
    windows_mask,
)
from backtests.research.event_inference import INFERENCE_COLUMNS, event_groups, inference_table
from backtests.research.event_tests import EventArrays


def test_lag_rule():
    # floor(4 (n / 100)^(2/9)): 4 at n = 100, 8 at 2,900 sessions (our run).
    assert newey_west_lags(100) == 4
    assert newey_west_lags(2900) == 8
    assert newey_west_lags(20) == 2


def test_event_indicator_against_a_loop():
    day0 = np.array([2, 4, 10, 18])
    signs = np.array([1.0, -1.0, 1.0, 1.0])
    for k in (0, 1, 3):
        expected = np.zeros(20)
        for t in range(20):
            total = sum(s for d, s in zip(day0, signs, strict=True) if d <= t <= d + k)
            expected[t] = np.sign(total)
        np.testing.assert_array_equal(event_indicator(20, day0, signs, k), expected)
    # Opposite windows cancel, same-direction windows count once; windows are cut at the end.
    d = event_indicator(20, day0, signs, 3)
    assert d[4] == 0 and d[3] == 1 and d[6] == -1 and d[19] == 1
    assert windows_mask(20, day0, 3)[4]


def _newey_west_loop(y, x_matrix, lags):
    n, p = x_matrix.shape
    beta = np.linalg.lstsq(x_matrix, y, rcond=None)[0]
    u = y - x_matrix @ beta
    s = np.zeros((p, p))
    for t in range(n):
        s += u[t] ** 2 * np.outer(x_matrix[t], x_matrix[t])
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        for t in range(lag, n):
            g = u[t] * u[t - lag] * np.outer(x_matrix[t], x_matrix[t - lag])
            s += w * (g + g.T)
    bread = np.linalg.inv(x_matrix.T @ x_matrix)
    cov = bread @ s @ bread * n / (n - p)  # statsmodels' small-sample correction
    return beta, np.sqrt(np.diag(cov))


@pytest.mark.parametrize("signed", [False, True])
def test_calendar_time_regression_matches_a_hand_written_newey_west(signed):
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(0, 0.01, n)
    day0 = np.sort(rng.choice(np.arange(5, n - 10), 25, replace=False))
    signs = np.where(rng.random(25) < 0.5, -1.0, 1.0) if signed else np.ones(25)
    k = 3
    d = event_indicator(n, day0, signs, k)
    y = 0.0002 + 0.8 * x + 0.004 * d + rng.standard_t(5, n) * 0.01
    y[[7, 100]] = np.nan  # missing returns are dropped
    out = calendar_time_test(y, x, day0, signs, k)
    keep = np.isfinite(y)
    design = np.column_stack([np.ones(keep.sum()), x[keep], d[keep]])
    beta, se = _newey_west_loop(y[keep], design, newey_west_lags(int(keep.sum())))
    assert out["n_obs"] == n - 2
    assert out["maxlags"] == newey_west_lags(n - 2)
    assert out["gamma"] == pytest.approx(beta[2], rel=1e-10)
    assert out["beta"] == pytest.approx(beta[1], rel=1e-10)
    assert out["car"] == pytest.approx(4 * beta[2], rel=1e-10)
    assert out["se"] == pytest.approx(se[2], rel=1e-9)
    assert out["t"] == pytest.approx(beta[2] / se[2], rel=1e-9)
    assert out["p"] == pytest.approx(2 * stats.norm.sf(abs(beta[2] / se[2])), rel=1e-8)
    assert out["event_sessions"] == int((d[keep] != 0).sum())


def test_excluded_sessions_leave_the_sample_and_no_event_gives_nan():
    rng = np.random.default_rng(4)
    y, x = rng.normal(0, 0.01, 100), rng.normal(0, 0.01, 100)
    exclude = np.zeros(100, dtype=bool)
    exclude[50:60] = True
    out = calendar_time_test(y, x, np.array([10, 30]), np.ones(2), 2, exclude=exclude)
    assert out["n_obs"] == 90 and out["event_sessions"] == 6
    empty = calendar_time_test(y, x, np.array([], dtype=int), np.ones(0), 2)
    assert np.isnan(empty["gamma"]) and empty["event_sessions"] == 0


def _basket(seed: int, n_events: int = 8, m: int = 80, length: int = 4):
    rng = np.random.default_rng(seed)
    sessions = 600
    x = rng.normal(0, 0.01, sessions)
    y = 0.9 * x + rng.normal(0, 0.01, sessions)
    day0 = np.sort(rng.choice(np.arange(m + 30, sessions - length), n_events, replace=False))
    est = np.array([y[d - m - 20 : d - 20] - 0.9 * x[d - m - 20 : d - 20] for d in day0])
    est_x = np.array([x[d - m - 20 : d - 20] for d in day0])
    ev = np.array([y[d : d + length] - 0.9 * x[d : d + length] for d in day0])
    ev_x = np.array([x[d : d + length] for d in day0])
    direction = np.where(np.arange(n_events) % 3 == 0, -1, 1)
    category = np.array(["b", "a"] * (n_events // 2))
    return EventArrays(est, est_x, ev, ev_x), day0, direction, category, y, x


def test_groups_mirror_the_summary_groups():
    groups = event_groups(np.array([1, -1, 1]), np.array(["b", "a", "b"]))
    assert [(g, v) for g, v, _, _ in groups] == [
        ("all", "all"),
        ("all_signed", "all"),
        ("direction", "+1"),
        ("direction", "-1"),
        ("category", "a"),
        ("category", "b"),
    ]
    np.testing.assert_array_equal(groups[1][3], [1.0, -1.0, 1.0])
    np.testing.assert_array_equal(groups[5][2], [0, 2])


def test_inference_table_rows_and_signed_group():
    arrays, day0, direction, category, y, x = _basket(5)
    table = inference_table(arrays, day0, direction, category, y, x, min_overlap=20)
    assert list(table.columns) == list(INFERENCE_COLUMNS)
    assert len(table) == 6 * arrays.horizons
    # all_signed on these events equals `all` on events whose residuals were flipped.
    flipped = EventArrays(
        arrays.est_ar * direction[:, None],
        arrays.est_market,
        arrays.event_ar * direction[:, None],
        arrays.event_market,
    )
    plain = inference_table(flipped, day0, np.ones(len(day0), dtype=int), category, y, x, 20)
    signed = table[table["group"] == "all_signed"].reset_index(drop=True)
    same = plain[plain["group"] == "all"].reset_index(drop=True)
    cross = ["bmp_t", "rbar", "kp_t", "rank_z", "gsign_z", "n_positive"]
    pd.testing.assert_frame_equal(signed[cross], same[cross])
    # The calendar-time regression of a direction group drops the other events' windows.
    plus = table[(table["group"] == "direction") & (table["value"] == "+1")]
    all_rows = table[table["group"] == "all"]
    assert (plus["ct_obs"].to_numpy() < all_rows["ct_obs"].to_numpy()).all()
