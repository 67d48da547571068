"""Calendar-time inference for an event study: one regression over every session, so that events
whose windows share sessions are counted once per session, not once per event.

For a basket (or the spread) with daily return y_t and benchmark return x_t:

    y_t = a + b x_t + g D_t + e_t,

with D_t the event indicator for horizon k: D_t = 1 if session t is in [day0_i, day0_i + k] for
some event i of the group (for a signed group, the sign of the sum of the directions of the
windows covering t: +1, -1 or 0 where opposite windows cancel). g is the mean abnormal daily
return inside the windows; (k + 1) g is the CAR(0, k) it implies. Its standard error is Newey-West
(1987) HAC (Bartlett kernel, statsmodels ``cov_type="HAC"`` with the n / (n - 3) small-sample
correction), with ``maxlags`` = floor(4 (n / 100)^(2/9)) (the Newey-West 1994 plug-in rule; 8
for 2,900 sessions); the p-value is two-sided from N(0, 1). Sessions where y or x is missing,
and the sessions in ``exclude`` (e.g. the windows of events outside the group), are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats


def newey_west_lags(n: int) -> int:
    """floor(4 (n / 100)^(2/9)): the Newey-West (1994) rule of thumb for the Bartlett kernel."""
    return int(np.floor(4 * (n / 100.0) ** (2.0 / 9.0)))


def event_indicator(n_sessions: int, day0: np.ndarray, signs: np.ndarray, k: int) -> np.ndarray:
    """D_t (length ``n_sessions``): sign of the sum of ``signs`` over the events whose window
    [day0, day0 + k] covers t (windows past the last session are cut)."""
    day0 = np.asarray(day0, dtype=np.int64)
    signs = np.asarray(signs, dtype=float)
    total = np.zeros(n_sessions + k + 1)
    # Difference array: +sign at the window's first session, -sign after its last.
    np.add.at(total, day0, signs)
    np.add.at(total, day0 + k + 1, -signs)
    return np.sign(np.cumsum(total)[:n_sessions])


def windows_mask(n_sessions: int, day0: np.ndarray, k: int) -> np.ndarray:
    """True on every session inside some window [day0, day0 + k]."""
    return event_indicator(n_sessions, day0, np.ones(len(day0)), k) != 0


def calendar_time_test(
    y: np.ndarray,
    x: np.ndarray,
    day0: np.ndarray,
    signs: np.ndarray,
    k: int,
    exclude: np.ndarray | None = None,
    maxlags: int | None = None,
) -> dict[str, Any]:
    """Fit the regression of the module doc for horizon ``k``.

    Returns ``gamma`` (g), ``car`` ((k + 1) g), ``se``, ``t``, ``p``, ``alpha``, ``beta``,
    ``n_obs``, ``event_sessions`` (sessions with D != 0 in the sample) and ``maxlags``; NaN
    statistics when no sample session is inside a window (or every one is).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    n_sessions = len(y)
    d = event_indicator(n_sessions, day0, signs, k)
    keep = np.isfinite(y) & np.isfinite(x)
    if exclude is not None:
        keep &= ~np.asarray(exclude, dtype=bool)
    n = int(keep.sum())
    lags = newey_west_lags(n) if maxlags is None else int(maxlags)
    events = int((d[keep] != 0).sum())
    out: dict[str, Any] = {
        "gamma": np.nan,
        "car": np.nan,
        "se": np.nan,
        "t": np.nan,
        "p": np.nan,
        "alpha": np.nan,
        "beta": np.nan,
        "n_obs": n,
        "event_sessions": events,
        "maxlags": lags,
    }
    if events == 0 or events == n or n < 4:
        return out
    design = np.column_stack([np.ones(n), x[keep], d[keep]])
    fit = sm.OLS(y[keep], design).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags, "kernel": "bartlett", "use_correction": True}
    )
    gamma, se = float(fit.params[2]), float(fit.bse[2])
    t = gamma / se if se > 0 else np.nan
    out.update(
        gamma=gamma,
        car=(k + 1) * gamma,
        se=se,
        t=t,
        p=float(2 * stats.norm.sf(abs(t))) if np.isfinite(t) else np.nan,
        alpha=float(fit.params[0]),
        beta=float(fit.params[1]),
    )
    return out
