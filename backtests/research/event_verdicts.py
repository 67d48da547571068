"""Plain rows for the ``evidence`` command: every event-study test, what it found and what that
means in one line.

Input: an event study's summary (``EventStudy.summary``, or ``summary.csv`` read back with
pandas: the columns of ``event_stats.SUMMARY_COLUMNS`` and ``event_evidence.ADDED_COLUMNS``).
Output: one dict per test, group, basket and horizon, with plain Python values:

- ``test``: ``t_test``, ``sign_test`` (treat events as independent), ``bmp``, ``kp``
  (Kolari-Pynnonen), ``rank`` (Corrado), ``generalized_sign``, ``calendar_time`` (HAC);
- ``group`` and ``value`` (``all``/``all``, ``all_signed``/``all``, ``direction``/``+1``...,
  ``category``/<name>), ``basket`` (``long``, ``short``, ``spread``), ``k`` (CAR(0, k));
- ``statistic`` (t or z; for the sign test the number of positive CARs), ``p_value``
  (two-sided; NaN when the test is undefined), ``n`` (events), ``estimate`` (the mean CAR, or
  the calendar-time CAR for ``calendar_time``), ``rbar`` (for ``kp``, else NaN),
  ``allows_overlap`` (whether the test allows for events that share sessions) and ``meaning``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

INDEPENDENT = "treats events as independent: too narrow when windows overlap"
FAT_TAILS = "robust to fat tails; does not fully allow for overlapping windows"
# (test, statistic column, p column, estimate column, allows overlap, what it is, caveat)
TESTS = (
    ("t_test", "t_stat", "t_pvalue", "mean_car", False, "cross-sectional t-test", INDEPENDENT),
    ("sign_test", "n_positive", "sign_pvalue", "mean_car", False, "sign test", INDEPENDENT),
    (
        "bmp",
        "bmp_t",
        "bmp_p",
        "mean_car",
        False,
        "BMP standardised test",
        "allows for event-induced variance, not for overlapping windows",
    ),
    (
        "kp",
        "kp_t",
        "kp_p",
        "mean_car",
        True,
        "Kolari-Pynnonen adjusted BMP",
        "allows for overlapping windows through rbar",
    ),
    ("rank", "rank_z", "rank_p", "mean_car", False, "Corrado rank test", FAT_TAILS),
    (
        "generalized_sign",
        "gsign_z",
        "gsign_p",
        "mean_car",
        False,
        "generalized sign test",
        FAT_TAILS,
    ),
    (
        "calendar_time",
        "ct_t",
        "ct_p",
        "ct_car",
        True,
        "calendar-time regression with Newey-West errors",
        "counts each session once: allows for overlapping windows",
    ),
)
VERDICT_KEYS = (
    "test",
    "group",
    "value",
    "basket",
    "k",
    "statistic",
    "p_value",
    "n",
    "estimate",
    "rbar",
    "allows_overlap",
    "meaning",
)


def _float(value: Any) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)


def _who(group: str, value: str) -> str:
    if group == "all":
        return "all events"
    if group == "all_signed":
        return "all events, CAR x direction"
    if group == "direction":
        return f"direction {value} events"
    return f"{value} events"


def _meaning(
    name: str,
    caveat: str,
    basket: str,
    k: int,
    who: str,
    estimate: float,
    p: float,
    alpha: float,
    rbar: float,
) -> str:
    if not math.isfinite(p):
        return f"The {name} is not defined for the {basket} CAR(0,{k}) of {who}."
    size = "n/a" if not math.isfinite(estimate) else f"{estimate:+.2%}"
    found = "significant" if p < alpha else "not significant"
    if math.isfinite(rbar):
        caveat = f"{caveat} {rbar:.3f}"
    return (
        f"{basket} CAR(0,{k}) of {who} is {size}: {found} at {alpha:g} by the {name}, "
        f"p = {p:.3f} ({caveat})."
    )


def event_study_verdicts(
    summary: pd.DataFrame,
    k: int | None = None,
    groups: Iterable[str] | None = None,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Rows (keys ``VERDICT_KEYS``) for every row of ``summary`` at horizon ``k`` (every k when
    None) and in ``groups`` (every group when None), tests in ``TESTS`` order within a summary
    row, summary rows in their order. ``alpha`` only words the meaning ("significant at")."""
    rows = summary
    if k is not None:
        rows = rows[rows["k"] == k]
    if groups is not None:
        rows = rows[rows["group"].isin(list(groups))]
    out: list[dict[str, Any]] = []
    for r in rows.to_dict("records"):
        group, value, basket, horizon = (
            str(r["group"]),
            str(r["value"]),
            str(r["basket"]),
            int(r["k"]),
        )
        for test, stat, p_col, est_col, overlap, name, caveat in TESTS:
            p = _float(r.get(p_col))
            estimate = _float(r.get(est_col))
            rbar = _float(r.get("rbar")) if test == "kp" else float("nan")
            out.append(
                {
                    "test": test,
                    "group": group,
                    "value": value,
                    "basket": basket,
                    "k": horizon,
                    "statistic": _float(r.get(stat)),
                    "p_value": p,
                    "n": int(r["n"]),
                    "estimate": estimate,
                    "rbar": rbar,
                    "allows_overlap": overlap,
                    "meaning": _meaning(
                        name, caveat, basket, horizon, _who(group, value), estimate, p, alpha, rbar
                    ),
                }
            )
    return out
