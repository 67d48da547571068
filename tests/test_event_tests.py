"""Event-study tests (backtests/research/event_tests.py) against published values and against
independent loop implementations written here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from backtests.research.event_tests import (
    EventArrays,
    apply_signs,
    bmp_test,
    car_scale,
    corrado_rank_test,
    cross_sectional_t,
    generalized_sign_test,
    kolari_pynnonen,
    kp_test,
    mean_correlation,
    residual_sigma,
    standardized_car,
)

# --- a published fixture ---------------------------------------------------------------------
# The three-event market-model fixture of the R package EventStudy (github.com/sipemu/eventstudy,
# tests/testthat/helper-golden-data.R, golden_multi_event_fixture: m = 8 estimation days, 3 event
# days) and the values its tests pin (tests/testthat/test_golden_values.R). Their BMP and KP
# standardise by the model sigma (no forecast-error correction); their Patell test uses the
# forecast-error-corrected SAR, which is ours.
SPEC = (
    (
        [-0.02, -0.01, 0.00, 0.01, 0.02, 0.03, -0.015, 0.005],
        [0.001, -0.001, 0.002, -0.002, 0.0015, -0.0015, 0.0005, -0.0005],
        0.004,
        1.2,
        [0.015, -0.005, 0.010],
        [0.040, 0.000, 0.030],
    ),
    (
        [-0.018, -0.008, 0.002, 0.012, 0.022, 0.028, -0.012, 0.008],
        [0.0012, -0.0008, 0.0018, -0.0016, 0.0010, -0.0012, 0.0006, -0.0010],
        0.003,
        1.0,
        [0.012, -0.004, 0.009],
        [0.030, -0.010, 0.020],
    ),
    (
        [-0.025, -0.012, 0.001, 0.010, 0.020, 0.030, -0.010, 0.006],
        [0.0008, -0.0012, 0.0016, -0.0014, 0.0012, -0.0010, 0.0004, -0.0004],
        0.005,
        1.4,
        [0.018, -0.006, 0.011],
        [0.050, -0.005, 0.035],
    ),
)


def _fixture() -> EventArrays:
    rows = []
    for x, resid, alpha, beta, x_event, y_event in SPEC:
        x = np.array(x)
        y = alpha + beta * x + np.array(resid)
        b, a = np.polyfit(x, y, 1)
        rows.append((y - a - b * x, x, np.array(y_event) - a - b * np.array(x_event), x_event))
    return EventArrays(*(np.array([r[j] for r in rows], dtype=float) for j in range(4)))


def test_published_fixture_cross_sectional_t_and_patell_sar():
    a = _fixture()
    t, _ = cross_sectional_t(a.event_ar)
    np.testing.assert_allclose(t, [12.785674729349529, -0.93664440956979689, 5.8589693453114027])
    t, _ = cross_sectional_t(np.cumsum(a.event_ar, axis=1))
    np.testing.assert_allclose(t, [12.785674729349529, 3.3332365393903789, 4.1627875088073241])
    # Patell (1976) Z = sum_i SAR_i / sqrt(sum_i Q_i), Q_i = (m - 2) / (m - 4) = 1.5: our
    # forecast-error-corrected SAR of each day (a one-day CAR) reproduces it.
    sars = [
        standardized_car(
            EventArrays(a.est_ar, a.est_market, a.event_ar[:, [j]], a.event_market[:, [j]])
        )
        for j in range(3)
    ]
    patell = np.array([s[:, 0].sum() for s in sars]) / np.sqrt(3 * 1.5)
    np.testing.assert_allclose(
        patell, [17.404798533168357, -3.239085545200092, 12.231088522816789], rtol=1e-12
    )
    # ... and its CAR(0,0) is the day-0 SAR.
    np.testing.assert_allclose(standardized_car(a)[:, 0], sars[0][:, 0])


def test_published_fixture_bmp_and_kolari_pynnonen():
    a = _fixture()
    sigma, m = residual_sigma(a.est_ar)
    assert list(m) == [8, 8, 8]
    # EventStudy's BMP: SAR = AR / model sigma, cross-sectional t.
    bmp, _ = cross_sectional_t(a.event_ar / sigma[:, None])
    np.testing.assert_allclose(bmp, [9.262881651878164, -0.99419205506945918, 5.6244379647718095])
    cbmp, _ = cross_sectional_t(np.cumsum(a.event_ar, axis=1) / sigma[:, None])
    np.testing.assert_allclose(cbmp, [9.262881651878164, 3.431336898228547, 4.2274213480688871])
    rbar = mean_correlation(a.est_ar, 1, min_overlap=2)
    assert rbar == pytest.approx(0.9827038784707933, abs=1e-12)  # "r_bar ~ 0.983"
    kp, _ = kolari_pynnonen(bmp, 3, np.full(3, rbar))
    np.testing.assert_allclose(
        kp, [0.70742152433092598, -0.075928084316215713, 0.42954758876108962], rtol=1e-9
    )
    ckp, _ = kolari_pynnonen(cbmp, 3, np.full(3, rbar))
    np.testing.assert_allclose(
        ckp, [0.70742152433092598, 0.26205684907413279, 0.32285512936825822], rtol=1e-9
    )


def test_published_fixture_rank_and_generalized_sign():
    a = _fixture()
    # EventStudy divides the mean rank by R's sd() over the 11 days (denominator T - 1 = 10);
    # Corrado (1989) divides by the root mean square over T = 11 days (mean 0 by construction).
    z, _ = corrado_rank_test(a, iid=True)
    t_days = 11
    np.testing.assert_allclose(z[0] * np.sqrt((t_days - 1) / t_days), 1.586435792425881)
    # Per day (each day's mean rank over the same 11-day ranking): Ubar_t / S.
    all_days = np.concatenate([a.est_ar, a.event_ar], axis=1)
    u = stats.rankdata(all_days, axis=1) / 12 - 0.5
    ubar = u.mean(axis=0)
    np.testing.assert_allclose(ubar[8:], [0.41666666666666663, -0.25, 0.33333333333333337])
    s = np.sqrt(np.mean(ubar**2))
    np.testing.assert_allclose(
        ubar[8:] / s * np.sqrt(10 / 11),
        [1.586435792425881, -0.95186147545552868, 1.269148633940705],
    )
    # Generalized sign (Cowan's daily p_hat = 0.5 here), on each day's AR and on the CARs.
    for j, expected in enumerate([1.7320508075688774, -0.57735026918962584, 1.7320508075688774]):
        one = EventArrays(a.est_ar, a.est_market, a.event_ar[:, [j]], a.event_market[:, [j]])
        assert generalized_sign_test(one)["z"][0] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(generalized_sign_test(a, iid=True)["z"], [1.7320508075688774] * 3)


# --- independent implementations -------------------------------------------------------------


def _random_arrays(seed: int, n: int = 9, m: int = 60, length: int = 6) -> EventArrays:
    rng = np.random.default_rng(seed)
    est_ar, est_x, ev_ar, ev_x = [], [], [], []
    for i in range(n):
        x = rng.normal(0, 0.01, m)
        y = 0.0005 + rng.uniform(0.5, 1.5) * x + rng.standard_t(4, m) * 0.01
        used = np.ones(m, dtype=bool)
        used[rng.choice(m, 3 + i % 4, replace=False)] = False  # sessions missing a return
        b, a = np.polyfit(x[used], y[used], 1)
        e = np.where(used, y - a - b * x, np.nan)
        xe = rng.normal(0, 0.01, length)
        est_ar.append(e)
        est_x.append(np.where(used, x, np.nan))
        ev_ar.append(rng.normal(0.002, 0.02, length))
        ev_x.append(xe)
    return EventArrays(*(np.array(v) for v in (est_ar, est_x, ev_ar, ev_x)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_standardized_car_is_the_ols_forecast_error_variance(seed):
    a = _random_arrays(seed)
    scar = standardized_car(a)
    for i in range(a.n):
        used = np.isfinite(a.est_ar[i])
        e, x = a.est_ar[i][used], a.est_market[i][used]
        m = len(e)
        sigma2 = e @ e / (m - 2)
        design = np.column_stack([np.ones(m), x])
        inverse = np.linalg.inv(design.T @ design)
        for k in range(a.horizons):
            # Var(CAR) = sigma^2 (L + i' X_e (X'X)^-1 X_e' i) (Campbell, Lo & MacKinlay 1997, 4.4)
            xe = np.column_stack([np.ones(k + 1), a.event_market[i, : k + 1]])
            ones = np.ones(k + 1)
            variance = sigma2 * (k + 1 + ones @ xe @ inverse @ xe.T @ ones)
            expected = a.event_ar[i, : k + 1].sum() / np.sqrt(variance)
            assert scar[i, k] == pytest.approx(expected, rel=1e-10)
            assert car_scale(a)[i, k] ** 2 * sigma2 == pytest.approx(variance, rel=1e-10)


@pytest.mark.parametrize("seed", [1, 2])
def test_bmp_is_a_one_sample_t_test_of_the_scars(seed):
    a = _random_arrays(seed)
    t, p = bmp_test(a)
    scar = standardized_car(a)
    for k in range(a.horizons):
        reference = stats.ttest_1samp(scar[:, k], 0.0)
        assert t[k] == pytest.approx(reference.statistic, rel=1e-12)
        assert p[k] == pytest.approx(reference.pvalue, rel=1e-9)


def _rolling_loop(row: np.ndarray, length: int) -> list[float]:
    out = []
    for start in range(len(row) - length + 1):
        window = row[start : start + length]
        out.append(float(window.sum()) if np.isfinite(window).all() else float("nan"))
    return out


@pytest.mark.parametrize("length", [1, 3])
def test_mean_correlation_against_pairwise_loops(length):
    a = _random_arrays(4)
    sums = [np.array(_rolling_loop(row, length)) for row in a.est_ar]
    values = []
    for i, j in itertools.combinations(range(a.n), 2):
        both = np.isfinite(sums[i]) & np.isfinite(sums[j])
        if both.sum() >= 45:  # pairs with fewer common positions are left out
            values.append(np.corrcoef(sums[i][both], sums[j][both])[0, 1])
    assert 0 < len(values) < 36 if length == 3 else len(values) == 36
    assert mean_correlation(a.est_ar, length, min_overlap=45) == pytest.approx(
        np.mean(values), rel=1e-10
    )


def test_mean_correlation_measures_window_overlap_of_events_on_one_basket():
    # One basket's iid residuals; events 0, 2, 4, ... sessions apart. Their 5-day sums overlap in
    # max(0, 5 - d) sessions, so the expected pairwise correlation is max(0, 5 - d) / 5.
    rng = np.random.default_rng(0)
    basket = rng.standard_normal(3000)
    day0 = np.arange(0, 20, 2) + 1500
    est = np.array([basket[d - 1000 : d - 20] for d in day0])
    expected = np.mean([max(0, 5 - abs(i - j)) / 5 for i, j in itertools.combinations(day0, 2)])
    assert mean_correlation(est, 5) == pytest.approx(expected, abs=0.02)
    assert mean_correlation(est, 1) == pytest.approx(0.0, abs=0.02)


def test_kolari_pynnonen_formula_and_limits():
    t, p = kolari_pynnonen(np.array([2.0, 2.0, 2.0]), 10, np.array([0.0, 0.1, -0.2]))
    assert t[0] == 2.0
    assert t[1] == pytest.approx(2.0 * np.sqrt(0.9 / 1.9))
    assert np.isnan(t[2])  # 1 + 9 * (-0.2) < 0
    assert p[1] == pytest.approx(2 * stats.t.sf(t[1], 9))


def test_kp_test_uses_the_horizon_correlation():
    a = _random_arrays(5)
    out = kp_test(a, min_overlap=10)
    for k in range(a.horizons):
        assert out["rbar"][k] == pytest.approx(mean_correlation(a.est_ar, k + 1, 10))
    expected, _ = kolari_pynnonen(out["bmp_t"], a.n, out["rbar"])
    np.testing.assert_allclose(out["kp_t"], expected)


def test_corrado_rank_test_against_loops():
    a = _random_arrays(6)
    m = a.est_ar.shape[1]
    combined = np.concatenate([a.est_ar, a.event_ar], axis=1)
    u = np.full(combined.shape, np.nan)
    for i, row in enumerate(combined):
        ok = np.isfinite(row)
        u[i, ok] = stats.rankdata(row[ok]) / (ok.sum() + 1) - 0.5
    ubar = np.array([np.nanmean(col) for col in u.T])
    s1 = np.sqrt(np.mean(ubar**2))
    z, p = corrado_rank_test(a)
    z_iid, _ = corrado_rank_test(a, iid=True)
    for k in range(a.horizons):
        length = k + 1
        head = ubar[m : m + length].sum()
        windows = _rolling_loop(ubar[:m], length) + _rolling_loop(ubar[m:], length)
        assert z[k] == pytest.approx(head / np.sqrt(np.mean(np.square(windows))), rel=1e-10)
        assert z_iid[k] == pytest.approx(head / (np.sqrt(length) * s1), rel=1e-10)
        assert p[k] == pytest.approx(2 * stats.norm.sf(abs(z[k])), rel=1e-10)
    assert z[0] == pytest.approx(z_iid[0])  # day 0: Corrado's statistic either way


def test_generalized_sign_test_against_loops():
    a = _random_arrays(7)
    out = generalized_sign_test(a)
    for k in range(a.horizons):
        shares = []
        for row in a.est_ar:
            sums = np.array(_rolling_loop(row, k + 1))
            sums = sums[np.isfinite(sums)]
            shares.append(np.mean(sums > 0))
        p_hat = np.mean(shares)
        cars = a.event_ar[:, : k + 1].sum(axis=1)
        w = int((cars > 0).sum())
        z = (w - a.n * p_hat) / np.sqrt(a.n * p_hat * (1 - p_hat))
        assert out["p_hat"][k] == pytest.approx(p_hat)
        assert out["n_positive"][k] == w
        assert out["z"][k] == pytest.approx(z)
        assert out["p"][k] == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_signs_flip_the_residuals_of_negative_events():
    a = _random_arrays(8)
    signs = np.where(np.arange(a.n) % 2, -1.0, 1.0)
    signed = apply_signs(a, signs)
    np.testing.assert_array_equal(signed.est_ar, a.est_ar * signs[:, None])
    np.testing.assert_array_equal(signed.event_ar, a.event_ar * signs[:, None])
    np.testing.assert_array_equal(signed.event_market, a.event_market)
    # The SCAR of a flipped event is minus the original (sigma and scale do not change).
    np.testing.assert_allclose(standardized_car(signed), standardized_car(a) * signs[:, None])


def test_too_few_events_give_nan_not_errors():
    a = _random_arrays(9, n=1)
    t, p = bmp_test(a)
    assert np.isnan(t).all() and np.isnan(p).all()
    assert np.isnan(mean_correlation(a.est_ar))
    assert np.isnan(kp_test(a)["kp_t"]).all()
