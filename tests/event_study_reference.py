"""The event study's per-event computation as it was before it was vectorised (one event at a
time, one estimation window per event, a scan of every pair for overlaps): the reference the
vectorised ``study_events`` must reproduce exactly. Test code only; kept verbatim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtests.research.event_study import BASKETS, ROW_COLUMNS, StudyWindow
from data.events import Event


def market_model(y: np.ndarray, x: np.ndarray) -> tuple[float, float, int]:
    """OLS of y on x with an intercept, over the positions where both are finite:
    (alpha, beta, observations). NaN coefficients when x does not vary."""
    ok = np.isfinite(y) & np.isfinite(x)
    y, x = y[ok], x[ok]
    n = int(ok.sum())
    if n < 2:
        return np.nan, np.nan, n
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx == 0.0:
        return np.nan, np.nan, n
    beta = float(xc @ (y - y.mean())) / sxx
    return float(y.mean() - beta * x.mean()), beta, n


def _car_from_0(ar: np.ndarray, pre: int) -> np.ndarray:
    """CAR(0, k) for k >= 0 and CAR(k, -1) for k < 0, for AR over k = pre..post."""
    zero = -pre
    out = np.empty_like(ar)
    out[zero:] = np.cumsum(ar[zero:])
    if zero:
        out[:zero] = np.cumsum(ar[:zero][::-1])[::-1]
    return out


@dataclass
class _Fit:
    alpha: float
    beta: float
    n_est: int
    ret: np.ndarray
    ar: np.ndarray
    car: np.ndarray


def _study_one(
    returns: pd.DataFrame, i0: int, window: StudyWindow
) -> tuple[dict[str, _Fit] | None, str]:
    """Fit every basket for the event whose day 0 is session ``i0``; (None, reason) if skipped."""
    sessions = returns.index
    n = len(sessions)
    day = [d.date().isoformat() for d in sessions]
    if i0 + window.pre < 1:
        return None, (
            f"day {window.pre} falls before {day[1]}, the first session with a return in the "
            "data; use an earlier --start"
        )
    if i0 + window.post > n - 1:
        return None, (
            f"day +{window.post} falls after {day[-1]}, the last session of the data "
            "(the window is not complete yet)"
        )
    lo = max(1, i0 + window.est_start)
    hi = i0 + window.est_end  # >= lo - 1 since est_end < pre and i0 + pre >= 1
    bench = returns["benchmark"].to_numpy()
    x_est = bench[lo : hi + 1]
    x_win = bench[i0 + window.pre : i0 + window.post + 1]
    fits: dict[str, _Fit] = {}
    for basket in BASKETS:
        series = returns[basket].to_numpy()
        alpha, beta, n_est = market_model(series[lo : hi + 1], x_est)
        if n_est < window.min_obs:
            return None, (
                f"{n_est} estimation sessions for the {basket} basket in days "
                f"[{window.est_start},{window.est_end}] (fewer than --min-obs "
                f"{window.min_obs}); the data starts {day[0]}: use an earlier --start or a "
                "lower --min-obs"
            )
        if not np.isfinite(beta):
            return None, "the benchmark's return does not vary in the estimation window"
        ret = series[i0 + window.pre : i0 + window.post + 1]
        missing = np.flatnonzero(~np.isfinite(ret) | ~np.isfinite(x_win))
        if missing.size:
            j = int(missing[0])
            return None, (
                f"the {basket} basket has no return on day {window.pre + j:+d} "
                f"({day[i0 + window.pre + j]}): none of its names has a bar that day and the "
                "previous one"
            )
        ar = ret - (alpha + beta * x_win)
        fits[basket] = _Fit(alpha, beta, n_est, ret, ar, _car_from_0(ar, window.pre))
    return fits, ""


def study_events_reference(
    returns: pd.DataFrame,
    events: Sequence[Event],
    entries: Sequence[pd.Timestamp | None],
    window: StudyWindow,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, per-event table), computed event by event as before the vectorised version."""
    sessions = returns.index
    first, last = sessions[0].date().isoformat(), sessions[-1].date().isoformat()
    ks = np.arange(window.pre, window.post + 1)
    h = window.bar_k
    row_blocks: list[pd.DataFrame] = []
    table: list[dict[str, Any]] = []
    day0: dict[str, int] = {}
    for event, entry in zip(events, entries, strict=True):
        record: dict[str, Any] = {
            "event_id": event.id,
            "known_at": event.known_at.isoformat(),
            "entry_session": "" if entry is None else pd.Timestamp(entry).date().isoformat(),
            "category": event.category,
            "direction": event.direction,
            "headline": event.headline,
            "status": "skipped",
            "reason": "",
            "overlapping": "",
        }
        for basket in BASKETS:
            record.update(
                {
                    f"{basket}_alpha": np.nan,
                    f"{basket}_beta": np.nan,
                    f"{basket}_n_est": 0,
                    f"{basket}_car_0_{h}": np.nan,
                }
            )
        fits = None
        if entry is None:
            record["reason"] = "no NYSE session after known_at in the exchange calendar"
        elif entry > sessions[-1]:
            record["reason"] = f"day 0 is after {last}, the last session of the data"
        elif entry < sessions[0]:
            record["reason"] = (
                f"day 0 is before {first}, the first session of the data; use an earlier --start"
            )
        else:
            i0 = int(sessions.get_loc(pd.Timestamp(entry)))
            fits, record["reason"] = _study_one(returns, i0, window)
            if fits is not None:
                day0[event.id] = i0
        if fits is not None:
            record["status"] = "used"
            for basket, fit in fits.items():
                record.update(
                    {
                        f"{basket}_alpha": fit.alpha,
                        f"{basket}_beta": fit.beta,
                        f"{basket}_n_est": fit.n_est,
                        f"{basket}_car_0_{h}": float(fit.car[h - window.pre]),
                    }
                )
                row_blocks.append(
                    pd.DataFrame(
                        {
                            "event_id": event.id,
                            "known_at": record["known_at"],
                            "entry_session": record["entry_session"],
                            "category": event.category,
                            "direction": event.direction,
                            "basket": basket,
                            "k": ks,
                            "ret": fit.ret,
                            "ar": fit.ar,
                            "car_from_0": fit.car,
                        }
                    )
                )
        table.append(record)
    # Events whose windows [pre, post] intersect share sessions: they are not independent.
    span = window.post - window.pre
    for record in table:
        i0 = day0.get(record["event_id"])
        if i0 is not None:
            record["overlapping"] = ";".join(
                other
                for other, j in day0.items()
                if other != record["event_id"] and abs(j - i0) <= span
            )
    rows = (
        pd.concat(row_blocks, ignore_index=True)
        if row_blocks
        else pd.DataFrame(columns=list(ROW_COLUMNS))
    )
    return rows[list(ROW_COLUMNS)], pd.DataFrame(table)
