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
  p-value, and a two-sided sign test (binomial, p = 1/2, on the non-zero CARs). These treat
  events as independent; the tests that do not (BMP, Kolari-Pynnonen with its rbar, Corrado
  rank, generalized sign, calendar-time regression with Newey-West errors) are appended to the
  same summary rows by :mod:`backtests.research.event_evidence`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from backtests.research.event_evidence import study_inference, with_inference
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


def _market_models(
    series: np.ndarray, bench: np.ndarray, i0: np.ndarray, window: StudyWindow
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`market_model` of one basket for every event whose day 0 is in ``i0``:
    (alpha, beta, observations), one value per event.

    The estimation windows are gathered as one events x sessions array. Events whose window is
    complete (every session after the first, both returns finite: the usual case) are fitted
    together with exactly the operations of :func:`market_model` (row means, then a dot
    product per row through ``matmul``), so the coefficients are the same to the last bit;
    the rest go through :func:`market_model` one by one.
    """
    m = len(i0)
    alpha = np.full(m, np.nan)
    beta = np.full(m, np.nan)
    if m == 0:
        return alpha, beta, np.zeros(0, dtype=np.int64)
    positions = i0[:, None] + np.arange(window.est_start, window.est_end + 1)
    inside = positions >= 1  # session 0 has no return
    take = np.maximum(positions, 0)
    x, y = bench[take], series[take]
    ok = inside & np.isfinite(x) & np.isfinite(y)
    n_est = ok.sum(axis=1).astype(np.int64)
    full = ok.all(axis=1)
    if full.any():
        xf, yf = x[full], y[full]
        x_mean, y_mean = xf.mean(axis=1), yf.mean(axis=1)
        xc = xf - x_mean[:, None]
        yc = yf - y_mean[:, None]
        sxx = np.matmul(xc[:, None, :], xc[:, :, None])[:, 0, 0]
        sxy = np.matmul(xc[:, None, :], yc[:, :, None])[:, 0, 0]
        varies = sxx != 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            b = np.where(varies, sxy / np.where(varies, sxx, 1.0), np.nan)
        alpha[full] = np.where(varies, y_mean - b * x_mean, np.nan)
        beta[full] = b
    for e in np.flatnonzero(~full):
        lo = max(1, int(i0[e]) + window.est_start)
        hi = int(i0[e]) + window.est_end
        alpha[e], beta[e], n_est[e] = market_model(series[lo : hi + 1], bench[lo : hi + 1])
    return alpha, beta, n_est


def _cars_from_0(ar: np.ndarray, pre: int) -> np.ndarray:
    """CAR(0, k) for k >= 0 and CAR(k, -1) for k < 0, for each row of AR over k = pre..post."""
    zero = -pre
    out = np.empty_like(ar)
    out[:, zero:] = np.cumsum(ar[:, zero:], axis=1)
    if zero:
        out[:, :zero] = np.cumsum(ar[:, :zero][:, ::-1], axis=1)[:, ::-1]
    return out


def _day(sessions: pd.DatetimeIndex, i: int) -> str:
    return sessions[i].date().isoformat()


def _fit_reason(
    check: int,
    basket: str,
    n_est: int,
    i0: int,
    j: int,
    sessions: pd.DatetimeIndex,
    window: StudyWindow,
) -> str:
    """Why an event is skipped, for the failed check of a basket (0: too few estimation
    sessions, 1: a constant benchmark, 2: a missing return in the event window, day pre+j)."""
    if check == 0:
        return (
            f"{n_est} estimation sessions for the {basket} basket in days "
            f"[{window.est_start},{window.est_end}] (fewer than --min-obs "
            f"{window.min_obs}); the data starts {_day(sessions, 0)}: use an earlier --start or "
            "a lower --min-obs"
        )
    if check == 1:
        return "the benchmark's return does not vary in the estimation window"
    return (
        f"the {basket} basket has no return on day {window.pre + j:+d} "
        f"({_day(sessions, i0 + window.pre + j)}): none of its names has a bar that day and the "
        "previous one"
    )


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


def _overlaps(day0: dict[str, int], span: int) -> dict[str, str]:
    """For each event id, the ids (``;``-joined, in ``day0``'s order) of the other events whose
    day 0 is at most ``span`` sessions away: a sort and two binary searches, not a scan of
    every pair."""
    keys = list(day0)
    where = np.fromiter(day0.values(), dtype=np.int64, count=len(keys))
    order = np.argsort(where, kind="stable")
    ranked = where[order]
    lo = np.searchsorted(ranked, where - span, side="left")
    hi = np.searchsorted(ranked, where + span, side="right")
    names = np.array(keys, dtype=object)
    out = {}
    for q, key in enumerate(keys):
        near = np.sort(order[lo[q] : hi[q]])
        out[key] = ";".join(names[near[near != q]].tolist())
    return out


def study_events(
    returns: pd.DataFrame,
    events: Sequence[Event],
    entries: Sequence[pd.Timestamp | None],
    window: StudyWindow,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, per-event table) for ``events`` with day 0 at ``entries`` (see the module doc).

    Vectorised over events: day 0 of every event is located in one binary search, each
    basket's market models are fitted over an events x sessions index
    (:func:`_market_models`), and the event windows are gathered as one events x k array.
    Cost grows linearly with the number of events (the overlap lists excepted: their size is
    the number of overlapping pairs).
    """
    if len(events) != len(entries):
        raise ValueError("events and entries differ in length")
    sessions = returns.index
    n = len(sessions)
    m = len(events)
    if m == 0:
        return pd.DataFrame(columns=list(ROW_COLUMNS)), pd.DataFrame()
    first, last = _day(sessions, 0), _day(sessions, n - 1)
    ks = np.arange(window.pre, window.post + 1)
    h = window.bar_k
    ids = [e.id for e in events]
    known_at = [e.known_at.isoformat() for e in events]
    entry_text = ["" if d is None else pd.Timestamp(d).date().isoformat() for d in entries]
    reason = [""] * m

    # Day 0 of every event: its position among the sessions (-1 when outside them).
    stamps = sessions.as_unit("ns").asi8
    i0 = np.full(m, -1, dtype=np.int64)
    for e, entry in enumerate(entries):
        if entry is None:
            reason[e] = "no NYSE session after known_at in the exchange calendar"
            continue
        value = pd.Timestamp(entry).as_unit("ns").value
        if value > stamps[-1]:
            reason[e] = f"day 0 is after {last}, the last session of the data"
        elif value < stamps[0]:
            reason[e] = (
                f"day 0 is before {first}, the first session of the data; use an earlier --start"
            )
        else:
            at = int(np.searchsorted(stamps, value))
            if stamps[at] != value:
                raise KeyError(pd.Timestamp(entry))
            i0[e] = at
    located = i0 >= 0
    early = located & (i0 + window.pre < 1)
    late = located & ~early & (i0 + window.post > n - 1)
    for e in np.flatnonzero(early):
        reason[e] = (
            f"day {window.pre} falls before {_day(sessions, 1)}, the first session with a return "
            "in the data; use an earlier --start"
        )
    for e in np.flatnonzero(late):
        reason[e] = (
            f"day +{window.post} falls after {last}, the last session of the data "
            "(the window is not complete yet)"
        )

    # Market models and event windows of the events that passed, every basket at once.
    candidates = np.flatnonzero(located & ~early & ~late)
    c0 = i0[candidates]
    bench = returns["benchmark"].to_numpy()
    span_index = c0[:, None] + ks
    x_win = bench[span_index]
    fits = {}
    checks = []  # per basket, in order: too few observations, constant benchmark, a gap
    for basket in BASKETS:
        series = returns[basket].to_numpy()
        alpha, beta, n_est = _market_models(series, bench, c0, window)
        ret = series[span_index]
        gap = ~np.isfinite(ret) | ~np.isfinite(x_win)
        with np.errstate(invalid="ignore"):
            ar = ret - (alpha[:, None] + beta[:, None] * x_win)
        fits[basket] = (alpha, beta, n_est, ret, ar, gap)
        checks += [n_est < window.min_obs, ~np.isfinite(beta), gap.any(axis=1)]
    failed = np.column_stack(checks) if len(candidates) else np.zeros((0, 9), dtype=bool)
    bad = failed.any(axis=1)
    first_failure = failed.argmax(axis=1)
    for q in np.flatnonzero(bad):
        b, check = divmod(int(first_failure[q]), 3)
        basket = BASKETS[b]
        _, _, n_est, _, _, gap = fits[basket]
        j = int(np.argmax(gap[q])) if check == 2 else 0
        reason[candidates[q]] = _fit_reason(
            check, basket, int(n_est[q]), int(c0[q]), j, sessions, window
        )
    good = ~bad
    used = candidates[good]

    # The per-event table (columns in the order of events.csv).
    status = np.full(m, "skipped", dtype=object)
    status[used] = "used"
    day0: dict[str, int] = {}
    for e, at in zip(used.tolist(), i0[used].tolist(), strict=True):
        day0[ids[e]] = at
    overlaps = _overlaps(day0, window.post - window.pre)
    table: dict[str, Any] = {
        "event_id": ids,
        "known_at": known_at,
        "entry_session": entry_text,
        "category": [e.category for e in events],
        "direction": [e.direction for e in events],
        "headline": [e.headline for e in events],
        "status": status.tolist(),
        "reason": reason,
        "overlapping": [overlaps.get(key, "") for key in ids],
    }
    blocks = {"ret": [], "ar": [], "car_from_0": []}
    for basket in BASKETS:
        alpha, beta, n_est, ret, ar, _ = fits[basket]
        car = _cars_from_0(ar[good], window.pre)
        values = {"alpha": np.full(m, np.nan), "beta": np.full(m, np.nan)}
        values["alpha"][used] = alpha[good]
        values["beta"][used] = beta[good]
        count = np.zeros(m, dtype=np.int64)
        count[used] = n_est[good]
        car_h = np.full(m, np.nan)
        car_h[used] = car[:, h - window.pre]
        table[f"{basket}_alpha"] = values["alpha"]
        table[f"{basket}_beta"] = values["beta"]
        table[f"{basket}_n_est"] = count
        table[f"{basket}_car_0_{h}"] = car_h
        blocks["ret"].append(ret[good])
        blocks["ar"].append(ar[good])
        blocks["car_from_0"].append(car)

    if not len(used):
        return pd.DataFrame(columns=list(ROW_COLUMNS)), pd.DataFrame(table)
    # One row per used event, basket and k: event-major, then basket, then k.
    width = len(BASKETS) * len(ks)
    per_event = {
        "event_id": np.array(ids, dtype=object)[used],
        "known_at": np.array(known_at, dtype=object)[used],
        "entry_session": np.array(entry_text, dtype=object)[used],
        "category": np.array(table["category"], dtype=object)[used],
        "direction": np.array(table["direction"], dtype=np.int64)[used],
    }
    rows = pd.DataFrame(
        {
            **{name: np.repeat(column, width) for name, column in per_event.items()},
            "basket": np.tile(np.repeat(np.array(BASKETS, dtype=object), len(ks)), len(used)),
            "k": np.tile(ks, len(used) * len(BASKETS)),
            **{name: np.stack(parts, axis=1).reshape(-1) for name, parts in blocks.items()},
        }
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
    say("testing across overlapping events")
    summary = with_inference(summary, study_inference(returns, table, window))
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
