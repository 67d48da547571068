"""The event-study page's table of the tests that allow for overlapping events.

Reads only ``summary.csv``'s columns (``backtests/research/event_evidence.py`` defines them):
for each group and basket at CAR(0, h), today's t-test p next to BMP, Kolari-Pynnonen (with the
mean correlation rbar it uses), the Corrado rank test, the generalized sign test and the
calendar-time regression with Newey-West errors. Every cell goes through ``html_page.table``,
which escapes it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.formatting import num, pct
from reports.html_page import esc, table

BASKETS = ("long", "short", "spread")
GROUP_ORDER = {"all": 0, "all_signed": 1, "direction": 2, "category": 3}

HEADERS = (
    "events",
    "basket",
    "N",
    "mean CAR",
    "p (t)",
    "BMP t",
    "p (BMP)",
    "r\u0304",
    "KP t",
    "p (KP)",
    "rank z",
    "p (rank)",
    "gen. sign z",
    "p (gen. sign)",
    "calendar-time CAR",
    "p (HAC)",
)
NUMERIC = set(range(2, len(HEADERS)))

EXPLANATION = (
    "The t-test and sign test treat the events as independent; here most windows overlap "
    "another's, on the same two baskets, so their intervals are too narrow. BMP (Boehmer, "
    "Musumeci & Poulsen 1991) standardises each CAR by its market-model forecast error; KP "
    "(Kolari & Pynnonen 2010) shrinks BMP's t by the mean correlation r\u0304 of the events' "
    "estimation residuals (in event time, summed over k + 1 days); the rank test (Corrado 1989) "
    "and the generalized sign test (Cowan 1992) are robust to fat tails; the calendar-time "
    "regression (daily return on the benchmark and an in-window indicator, signed by direction "
    "for all_signed, Newey & West 1987 errors) counts each session once, however many windows "
    "cover it. With overlapping windows, believe p (KP) and p (HAC) first."
)


def _p(value: Any, digits: int = 3) -> str:
    return num(value, digits)


def group_label(group: str, value: str) -> str:
    """How the pages name a group of events (``group`` and ``value`` of summary.csv)."""
    if group == "all":
        return "all events"
    if group == "all_signed":
        return "all, CAR x direction"
    if group == "direction":
        return f"direction {value}"
    return str(value)


def evidence_rows(summary: pd.DataFrame, k: int) -> list[list[str | int]]:
    """The table's rows at CAR(0, k): groups in summary order (all, all_signed, direction,
    category), baskets long, short, spread within each."""
    block = summary[summary["k"] == k]
    block = block.assign(
        _g=block["group"].map(GROUP_ORDER),
        _b=block["basket"].map({b: i for i, b in enumerate(BASKETS)}),
    ).sort_values(["_g", "value", "_b"], kind="stable")
    return [
        [
            group_label(r["group"], r["value"]),
            r["basket"],
            int(r["n"]),
            pct(r["mean_car"], signed=True),
            _p(r["t_pvalue"]),
            _p(r["bmp_t"], 2),
            _p(r["bmp_p"]),
            _p(r["rbar"]),
            _p(r["kp_t"], 2),
            _p(r["kp_p"]),
            _p(r["rank_z"], 2),
            _p(r["rank_p"]),
            _p(r["gsign_z"], 2),
            _p(r["gsign_p"]),
            pct(r["ct_car"], signed=True),
            _p(r["ct_p"]),
        ]
        for r in block.to_dict("records")
    ]


def evidence_section(summary: pd.DataFrame, k: int) -> str:
    """``<h2>``, the explanation and the table at CAR(0, k); empty when ``summary`` has none of
    the columns (a summary written before they existed)."""
    if "kp_p" not in summary.columns:
        return ""
    return "\n".join(
        [
            f'<h2 id="overlap-tests">CAR(0,{k}): tests that allow for overlapping events</h2>',
            f"<p>{esc(EXPLANATION)}</p>",
            table(HEADERS, evidence_rows(summary, k), numeric=NUMERIC),
        ]
    )
