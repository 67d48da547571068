"""Wires the tests that allow for overlapping events into the event study's ``summary.csv``.

From a finished study (the daily basket returns and the per-event table with each used event's
market model) it builds, per basket, the arrays of :mod:`backtests.research.event_tests`
(estimation residuals and event-window abnormal returns in event time) and runs
:func:`backtests.research.event_inference.inference_table` on them: BMP, Kolari-Pynnonen (with
its mean correlation rbar), Corrado rank, generalized sign and the calendar-time regression with
Newey-West errors, per group and k = 0..post. :func:`with_inference` appends those columns to
the summary rows of the same basket, group, value and k; the existing columns are unchanged.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from backtests.research.event_inference import INFERENCE_COLUMNS, inference_table
from backtests.research.event_stats import BASKETS
from backtests.research.event_tests import EventArrays
from reports.parallel import run_concurrently

if TYPE_CHECKING:
    from backtests.research.event_study import StudyWindow

KEYS = ("basket", "group", "value", "k")
# n and n_positive are already in summary.csv (the same counts); the rest is appended.
EVIDENCE_COLUMNS = tuple(c for c in INFERENCE_COLUMNS if c not in ("group", "value", "k", "n"))
ADDED_COLUMNS = tuple(c for c in EVIDENCE_COLUMNS if c != "n_positive")


def day0_positions(sessions: pd.DatetimeIndex, entry_sessions: pd.Series) -> np.ndarray:
    """Index of each entry session (ISO date text) among ``sessions``."""
    stamps = pd.DatetimeIndex(pd.to_datetime(entry_sessions.to_numpy()))
    at = sessions.get_indexer(stamps)
    if (at < 0).any():
        raise KeyError(f"entry session {entry_sessions.iloc[int(np.argmax(at < 0))]} not found")
    return at.astype(np.int64)


def event_arrays(
    y: np.ndarray,
    x: np.ndarray,
    day0: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    window: StudyWindow,
) -> EventArrays:
    """One basket's :class:`EventArrays` for events with day 0 at ``day0``: residuals
    y - (alpha + beta x) over days [est_start, est_end] (NaN where the fit did not use the
    session: before session 1 or either return missing) and abnormal returns on days 0..post
    (computed as in ``study_events``, so they equal ``event_study.csv``'s ``ar``)."""
    est = day0[:, None] + np.arange(window.est_start, window.est_end + 1)
    take = np.maximum(est, 0)
    est_x, est_y = x[take], y[take]
    used = (est >= 1) & np.isfinite(est_x) & np.isfinite(est_y)
    with np.errstate(invalid="ignore"):
        est_ar = np.where(used, est_y - (alpha[:, None] + beta[:, None] * est_x), np.nan)
        span = day0[:, None] + np.arange(0, window.post + 1)
        event_x = x[span]
        event_ar = y[span] - (alpha[:, None] + beta[:, None] * event_x)
    return EventArrays(est_ar, np.where(used, est_x, np.nan), event_ar, event_x)


def study_inference(
    returns: pd.DataFrame, events: pd.DataFrame, window: StudyWindow
) -> pd.DataFrame:
    """Every basket's :func:`inference_table` (a ``basket`` column first) for the used events of
    ``events`` (the per-event table of ``study_events``: entry_session, direction, category and
    ``<basket>_alpha`` / ``<basket>_beta``), in their order."""
    used = events[events["status"] == "used"]
    columns = ["basket", *INFERENCE_COLUMNS]
    if used.empty:
        return pd.DataFrame(columns=columns)
    day0 = day0_positions(returns.index, used["entry_session"])
    x = returns["benchmark"].to_numpy(dtype=float)
    direction = used["direction"].to_numpy(dtype=np.int64)
    category = used["category"].to_numpy(dtype=object)

    def basket_table(basket: str) -> pd.DataFrame:
        y = returns[basket].to_numpy(dtype=float)
        arrays = event_arrays(
            y,
            x,
            day0,
            used[f"{basket}_alpha"].to_numpy(dtype=float),
            used[f"{basket}_beta"].to_numpy(dtype=float),
            window,
        )
        table = inference_table(arrays, day0, direction, category, y, x)
        table.insert(0, "basket", basket)
        return table

    # The baskets are independent and each is a few seconds at thousands of events: forked
    # workers compute all but the last while this process computes the last (the same tables).
    *others, last = BASKETS
    here: dict[str, pd.DataFrame] = {}
    parts = run_concurrently(
        {basket: partial(basket_table, basket) for basket in others},
        meanwhile=lambda: here.update({last: basket_table(last)}),
    )
    parts.update(here)
    return pd.concat([parts[basket] for basket in BASKETS], ignore_index=True)[columns]


def with_inference(summary: pd.DataFrame, inference: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with ``ADDED_COLUMNS`` of ``inference`` appended on the rows of the same
    basket, group, value and k (rows and existing columns unchanged, in their order)."""
    extra = inference[[*KEYS, *ADDED_COLUMNS]]
    merged = summary.merge(extra, on=list(KEYS), how="left", validate="one_to_one")
    if len(merged) != len(summary):
        raise ValueError("inference rows do not match the summary's")
    return merged[[*summary.columns, *ADDED_COLUMNS]]
