"""Every inference of an event study for one basket, per group of events and horizon k.

Groups (the same as today's t-test in ``summary.csv``): ``all``; ``all_signed`` (each event's
residuals times its direction, so the rotation's own bet counts as positive for +1 and -1 news
alike); ``direction`` +1 and -1; one per ``category``. For each group and k = 0..post the row
holds the cross-sectional tests of :mod:`backtests.research.event_tests` and the calendar-time
regression of :mod:`backtests.research.calendar_time`. In the calendar-time regression of a
direction or category group, the sessions inside a window [0, post] of another event and of no
event of the group are dropped (they would otherwise sit in the baseline); ``all`` and
``all_signed`` use every session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from backtests.research.calendar_time import calendar_time_test, windows_mask
from backtests.research.event_tests import (
    EventArrays,
    apply_signs,
    corrado_rank_test,
    estimation_sums,
    generalized_sign_test,
    kp_test,
    positive_shares,
    rolling_sums_by_length,
    signed_mean_correlation,
    unit_rows,
)

INFERENCE_COLUMNS = (
    "group",
    "value",
    "k",
    "n",
    "bmp_t",
    "bmp_p",
    "rbar",
    "kp_t",
    "kp_p",
    "rank_z",
    "rank_p",
    "n_positive",
    "p_hat",
    "gsign_z",
    "gsign_p",
    "ct_car",
    "ct_gamma",
    "ct_se",
    "ct_t",
    "ct_p",
    "ct_obs",
    "ct_event_sessions",
    "ct_maxlags",
)


def event_groups(
    direction: np.ndarray, category: np.ndarray
) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(group, value, row indices, signs) for all, all_signed, each direction, each category."""
    direction = np.asarray(direction, dtype=np.int64)
    category = np.asarray(category, dtype=object)
    rows = np.arange(len(direction))
    ones = np.ones(len(direction))
    groups = [("all", "all", rows, ones), ("all_signed", "all", rows, direction.astype(float))]
    for value in (1, -1):
        mask = direction == value
        if mask.any():
            groups.append(("direction", f"{value:+d}", rows[mask], ones[mask]))
    for name in sorted(set(category.tolist())):
        mask = category == name
        groups.append(("category", str(name), rows[mask], ones[mask]))
    return groups


def group_inference(
    arrays: EventArrays,
    signs: np.ndarray,
    day0: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    exclude: np.ndarray | None = None,
    min_overlap: int = 30,
    est_sums: list[np.ndarray] | None = None,
    rbar: np.ndarray | None = None,
    p_hat: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One dict per k = 0..L-1 for the events of ``arrays`` signed by ``signs``; ``day0`` their
    day-0 session indices into the daily series ``y`` (basket) and ``x`` (benchmark).
    ``est_sums``: ``estimation_sums`` of the *signed* residuals, ``rbar`` the group's mean
    correlations and ``p_hat`` its generalized-sign p_hat per k, when the caller has them."""
    signed = apply_signs(arrays, signs)
    if est_sums is None and (rbar is None or p_hat is None):
        est_sums = estimation_sums(signed.est_ar, signed.horizons)
    kp = kp_test(signed, min_overlap, est_sums, rbar)
    rank_z, rank_p = corrado_rank_test(signed)
    sign = generalized_sign_test(signed, est_sums=est_sums, p_hat=p_hat)
    out = []
    for k in range(arrays.horizons):
        ct = calendar_time_test(y, x, day0, signs, k, exclude=exclude)
        out.append(
            {
                "k": k,
                "n": int(sign["n"][k]),
                "bmp_t": float(kp["bmp_t"][k]),
                "bmp_p": float(kp["bmp_p"][k]),
                "rbar": float(kp["rbar"][k]),
                "kp_t": float(kp["kp_t"][k]),
                "kp_p": float(kp["kp_p"][k]),
                "rank_z": float(rank_z[k]),
                "rank_p": float(rank_p[k]),
                "n_positive": int(sign["n_positive"][k]),
                "p_hat": float(sign["p_hat"][k]),
                "gsign_z": float(sign["z"][k]),
                "gsign_p": float(sign["p"][k]),
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
    return out


def inference_table(
    arrays: EventArrays,
    day0: np.ndarray,
    direction: np.ndarray,
    category: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    min_overlap: int = 30,
) -> pd.DataFrame:
    """Every group's rows (columns ``INFERENCE_COLUMNS``) for one basket: ``arrays`` holds the
    used events in the order of ``day0``, ``direction`` and ``category``."""
    day0 = np.asarray(day0, dtype=np.int64)
    rows: list[dict[str, Any]] = []
    groups = event_groups(direction, category)
    # From the rolling sums of the estimation residuals, one k at a time (bounded memory), every
    # group's rbar (one product per group when no event has a gap: linear in events) and p_hat
    # (each event's share of positive sums, or of negative ones when its sign is -1). A group
    # whose rbar cannot be had that way (a gap) gets it from kp_test, pair by pair.
    group_rbar: list[np.ndarray | None] = [np.full(arrays.horizons, np.nan) for _ in groups]
    group_p_hat = [np.full(arrays.horizons, np.nan) for _ in groups]
    by_length = rolling_sums_by_length(arrays.est_ar, range(1, arrays.horizons + 1))
    for k, block in enumerate(by_length):
        unit = unit_rows(block, min_overlap)
        varies = None if unit is None else unit.any(axis=1)
        above, below, counts = positive_shares(block)
        for g, (_, _, members, signs) in enumerate(groups):
            share = np.where(signs > 0, above[members], below[members])[counts[members] > 0]
            if share.size:
                group_p_hat[g][k] = share.mean()
            if unit is None:
                group_rbar[g] = None
            elif group_rbar[g] is not None:
                weights = np.zeros(len(day0))
                weights[members] = signs
                group_rbar[g][k] = signed_mean_correlation(unit, weights, varies)
        del block, unit
    for (group, value, members, signs), rbar, p_hat in zip(
        groups, group_rbar, group_p_hat, strict=True
    ):
        exclude = None
        if group in ("direction", "category"):
            others = np.setdiff1d(np.arange(len(day0)), members)
            # A session of another event's window [day0, day0 + post] never enters the baseline.
            exclude = windows_mask(len(y), day0[others], arrays.horizons - 1)
            exclude &= ~windows_mask(len(y), day0[members], arrays.horizons - 1)
        for row in group_inference(
            arrays.subset(members),
            signs,
            day0[members],
            y,
            x,
            exclude,
            min_overlap,
            None,
            rbar,
            p_hat,
        ):
            rows.append({"group": group, "value": value, **row})
    return pd.DataFrame(rows, columns=list(INFERENCE_COLUMNS))
