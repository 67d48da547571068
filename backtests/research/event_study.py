"""Event study of the rotation's baskets around each news event (market-model abnormal returns).

Definitions (the README's "Event study" section says the same):

- Day 0 is the event's entry session: the first NYSE session whose open is strictly after
  ``known_at``. Day k is the k-th session after it (before it for k < 0).
- Returns are daily close-to-close. A basket's return on a session is the equal-weight mean of
  the returns of its names that have a bar on that session and on the previous one. Baskets:
  ``long``, ``short`` and ``spread`` = long - short (defined where both are).
- Market model, per event and basket: OLS of the basket's returns on the benchmark's over the
  sessions [est_start, est_end] relative to day 0 (default [-250, -21]), using the sessions of
  that range where both returns exist; fewer than ``min_obs`` (default 120) and the event is
  skipped with the reason. AR_k = R_k - (alpha + beta * R_m,k).
- CAR(a, b) = sum of AR_k for k in [a, b]. ``car_from_0`` is CAR(0, k) for k >= 0 and the
  run-up CAR(k, -1) for k < 0.
- Across events: mean CAR(0, k) with a 95% t interval, the t statistic and its two-sided
  p-value, and a two-sided sign test (binomial, p = 1/2, on the non-zero CARs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from backtests.research.event_stats import BASKETS, CONFIDENCE, summarize
from backtests.runner import load_prices
from data.calendar import entry_sessions
from data.errors import CapexRotationError
from data.events import Event, load_events
from data.market import MarketData, align, resolve_sessions

ROW_COLUMNS = (
    "event_id",
    "known_at",
    "entry_session",
    "category",
    "direction",
    "basket",
    "k",
    "ret",
    "ar",
    "car_from_0",
)

BAR_K = 5  # the per-event bar chart and headline tables show CAR(0, 5) (or CAR(0, post))

Progress = Callable[[str], None]


class EventStudyError(CapexRotationError):
    """Bad event-study parameters, or nothing left to study."""


@dataclass(frozen=True)
class StudyWindow:
    """Event window [pre, post] and estimation window [est_start, est_end], relative to day 0."""

    pre: int = -5
    post: int = 10
    est_start: int = -250
    est_end: int = -21
    min_obs: int = 120

    def __post_init__(self) -> None:
        if not self.pre <= 0 <= self.post:
            raise EventStudyError(
                f"--window {self.pre},{self.post}: day 0 must be inside the window "
                "(PRE <= 0 <= POST, e.g. -5,10)"
            )
        if self.est_start > self.est_end:
            raise EventStudyError(
                f"--estimation {self.est_start},{self.est_end}: the start is after the end "
                "(e.g. -250,-21)"
            )
        if self.est_end >= self.pre:
            raise EventStudyError(
                f"--estimation {self.est_start},{self.est_end}: the estimation window must end "
                f"before the event window starts (day {self.pre}); e.g. -250,-21"
            )
        length = self.est_end - self.est_start + 1
        if self.min_obs < 3 or self.min_obs > length:
            raise EventStudyError(
                f"--min-obs {self.min_obs}: must be between 3 and the estimation window's "
                f"length ({length} sessions)"
            )

    @property
    def bar_k(self) -> int:
        """The horizon of the per-event bar chart and headline tables: min(5, post)."""
        return min(BAR_K, self.post)

    def describe(self) -> dict[str, Any]:
        return {
            "window": [self.pre, self.post],
            "estimation": [self.est_start, self.est_end],
            "min_obs": self.min_obs,
        }


def parse_pair(text: str, flag: str) -> tuple[int, int]:
    """``"-5,10"`` -> (-5, 10); a one-line EventStudyError otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise EventStudyError(
            f"{flag} {text!r}: expected two whole numbers of sessions A,B (e.g. -5,10)"
        ) from None


# --- returns -----------------------------------------------------------------------------------


def _name_returns(close: np.ndarray) -> np.ndarray:
    """Close-to-close returns (sessions x names); NaN without a bar today or yesterday."""
    out = np.full(close.shape, np.nan)
    out[1:] = close[1:] / close[:-1] - 1.0
    return out


def _basket_mean(returns: np.ndarray) -> np.ndarray:
    finite = np.isfinite(returns)
    count = finite.sum(axis=1)
    total = np.where(finite, returns, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def basket_returns(market: MarketData, long: Sequence[str], short: Sequence[str]) -> pd.DataFrame:
    """Daily returns of the long and short baskets, the spread and the benchmark."""
    names = _name_returns(market.close)
    long_r = _basket_mean(names[:, [market.column(t) for t in long]])
    short_r = _basket_mean(names[:, [market.column(t) for t in short]])
    bench = _name_returns(market.benchmark_close[:, None])[:, 0]
    return pd.DataFrame(
        {"long": long_r, "short": short_r, "spread": long_r - short_r, "benchmark": bench},
        index=market.sessions,
    )


# --- per event ---------------------------------------------------------------------------------


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


@dataclass
class EventStudy:
    """Everything an event-study report needs, as plain pandas."""

    window: StudyWindow
    rows: pd.DataFrame  # event_study.csv
    events: pd.DataFrame  # one row per event: used or skipped (why), coefficients, CAR(0, h)
    summary: pd.DataFrame  # summary.csv
    paths: pd.DataFrame  # mean CAR path with its band per basket and group (for the plots)
    facts: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> pd.DataFrame:
        return self.events[self.events["status"] == "used"]


def study_events(
    returns: pd.DataFrame,
    events: Sequence[Event],
    entries: Sequence[pd.Timestamp | None],
    window: StudyWindow,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, per-event table) for ``events`` with day 0 at ``entries`` (see the module doc)."""
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


# --- across events -----------------------------------------------------------------------------


def run_event_study(
    config: Config,
    window: StudyWindow,
    categories: list[str] | None = None,
    progress: Progress | None = None,
) -> EventStudy:
    """Load the configured prices and events and run the study (``categories`` overrides
    ``events.categories``)."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    long, short = tuple(config.universe.long), tuple(config.universe.short)
    benchmark = config.run.benchmark
    say("loading prices")
    histories = load_prices(config)
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    sessions = resolve_sessions(start, end, histories)
    traded = tuple(dict.fromkeys(t for t in (*long, *short) if t != benchmark))
    market = align(histories, sessions, traded, benchmark)

    say("mapping events to sessions")
    calendar = load_events(config.events.file)
    wanted = list(categories) if categories else list(config.events.categories)
    selected = calendar.filter_categories(wanted)
    if not selected.events:
        raise EventStudyError(f"no event to study in {calendar.path}")
    entries = entry_sessions([e.known_at for e in selected.events])

    say("estimating market models")
    returns = basket_returns(market, long, short)
    rows, table = study_events(returns, selected.events, entries, window)
    used = table[table["status"] == "used"]
    if used.empty:
        last = table.iloc[-1]
        raise EventStudyError(
            f"no event could be studied: all {len(table)} were skipped; e.g. "
            f"{last['event_id']}: {last['reason']}"
        )
    summary, paths = summarize(rows, table, window)
    inputs = {h.source: h.sha256 for h in histories.values()}
    inputs[calendar.path] = calendar.sha256
    facts = {
        "first_session": sessions[0].date().isoformat(),
        "last_session": sessions[-1].date().isoformat(),
        "sessions": len(sessions),
        "benchmark": benchmark,
        "long": list(long),
        "short": list(short),
        "events_file": calendar.path,
        "events_in_file": len(calendar),
        "categories": wanted,
        "events_selected": len(selected),
        "events_used": len(used),
        "events_skipped": len(table) - len(used),
        "events_overlapping": int((used["overlapping"] != "").sum()),
        "bar_k": window.bar_k,
        "confidence": CONFIDENCE,
        **window.describe(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return EventStudy(window, rows, table, summary, paths, facts, inputs)
