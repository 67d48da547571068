"""Across-event statistics of an event study: mean CAR with a t interval, t and sign tests,
per basket and group (all, all_signed, direction, category)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from backtests.research.event_study import StudyWindow

BASKETS = ("long", "short", "spread")
SUMMARY_COLUMNS = (
    "basket",
    "group",
    "value",
    "k",
    "n",
    "mean_car",
    "std",
    "ci_low",
    "ci_high",
    "t_stat",
    "t_pvalue",
    "n_positive",
    "n_negative",
    "sign_pvalue",
)
PATH_COLUMNS = ("basket", "group", "value", "k", "n", "mean", "ci_low", "ci_high")
CONFIDENCE = 0.95


@lru_cache(maxsize=65536)
def _sign_pvalue(positive: int, trials: int) -> float:
    # Two-sided binomial test, p = 1/2; the same counts recur across k and groups.
    return float(stats.binomtest(positive, trials, 0.5).pvalue)


@lru_cache(maxsize=4096)
def _t_quantile(df: int) -> float:
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))


def car_stats(values: np.ndarray, sign_test: bool = True) -> dict[str, float | int]:
    """Mean, 95% t interval, t statistic (two-sided p) and sign test of CARs across events
    (``sign_test=False`` leaves ``sign_pvalue`` NaN, for callers that do not report it)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    positive, negative = int((values > 0).sum()), int((values < 0).sum())
    mean = float(values.mean()) if n else np.nan
    std = float(values.std(ddof=1)) if n > 1 else np.nan
    out = {
        "n": n,
        "mean_car": mean,
        "std": std,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "t_stat": np.nan,
        "t_pvalue": np.nan,
        "n_positive": positive,
        "n_negative": negative,
        "sign_pvalue": (
            _sign_pvalue(positive, positive + negative)
            if sign_test and positive + negative
            else np.nan
        ),
    }
    if n > 1 and std > 0:
        se = std / np.sqrt(n)
        half = _t_quantile(n - 1) * se
        t_stat = mean / se
        out.update(
            ci_low=mean - half,
            ci_high=mean + half,
            t_stat=t_stat,
            t_pvalue=float(2 * stats.t.sf(abs(t_stat), n - 1)),
        )
    return out


def _groups(events: pd.DataFrame) -> list[tuple[str, str, pd.Index, np.ndarray]]:
    """(group, value, event ids, sign) for overall, signed, per direction and per category.

    ``all_signed`` multiplies each CAR by the event's direction: the rotation's own bet
    (spread up after +1 news, down after -1 news) counts as positive either way.
    """
    ids = pd.Index(events["event_id"])
    direction = events["direction"].to_numpy()
    ones = np.ones(len(ids))
    groups = [("all", "all", ids, ones), ("all_signed", "all", ids, direction.astype(float))]
    for value in (1, -1):
        mask = direction == value
        if mask.any():
            groups.append(("direction", f"{value:+d}", ids[mask], ones[mask]))
    for category in sorted(events["category"].unique()):
        mask = (events["category"] == category).to_numpy()
        groups.append(("category", category, ids[mask], ones[mask]))
    return groups


def summarize(
    rows: pd.DataFrame, events: pd.DataFrame, window: StudyWindow
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, paths): CAR(0, k) statistics for k = 0..post, and the mean CAR path over the
    whole window for the plots (0 at the close of day -1: -CAR(k+1, -1) before day 0, CAR(0, k)
    from day 0, so the path rises by AR_k on day k)."""
    used = events[events["status"] == "used"]
    summary: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    if used.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS)), pd.DataFrame(columns=list(PATH_COLUMNS))
    ks = np.arange(window.pre, window.post + 1)
    for basket in BASKETS:
        car = (
            rows[rows["basket"] == basket]
            .pivot(index="event_id", columns="k", values="car_from_0")
            .reindex(columns=ks)
        )
        path = car.copy()
        for k in ks[ks < 0]:
            path[k] = -car[k + 1] if k + 1 < 0 else 0.0
        for group, value, ids, sign in _groups(used):
            block = car.loc[ids].to_numpy() * sign[:, None]
            for j, k in enumerate(ks):
                if k >= 0:
                    summary.append(
                        {
                            "basket": basket,
                            "group": group,
                            "value": value,
                            "k": int(k),
                            **car_stats(block[:, j]),
                        }
                    )
            if group in ("all", "direction"):
                trace = path.loc[ids].to_numpy() * sign[:, None]
                for j, k in enumerate(ks):
                    s = car_stats(trace[:, j], sign_test=False)
                    low, high = s["ci_low"], s["ci_high"]
                    if s["n"] > 1 and s["std"] == 0:  # day -1: the anchor, exactly 0
                        low = high = s["mean_car"]
                    paths.append(
                        {
                            "basket": basket,
                            "group": group,
                            "value": value,
                            "k": int(k),
                            "n": s["n"],
                            "mean": s["mean_car"],
                            "ci_low": low,
                            "ci_high": high,
                        }
                    )
    return (
        pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
        pd.DataFrame(paths, columns=list(PATH_COLUMNS)),
    )


# --- wiring ------------------------------------------------------------------------------------
