"""An independent plain-pandas/numpy implementation of the baseline rules (README, "The rules";
the contract they were specified in is kept beside the repository as shared/spec/baseline-rules.md).

It exists to check the project's backtrader engine (tests/test_parity.py). It re-derives every
rule from the spec and deliberately imports nothing from the project (not ``strategies``, not
``data.market`` or ``data.calendar``): entry sessions, the decision rules, eligibility, sizing,
fills, costs and equity are all computed here, in one plain loop over the sessions. Clarity
beats speed.

Conventions the spec leaves open (the project's choices):

1. If, at opening, one side has no eligible name, the book is not opened (the events are
   ignored).
2. If every name of a book has been closed because its data ended, the book counts as flat.
3. Ruin: the first session close at which equity <= 0 (or is not a number) ends the run. No
   order decided at or after that close is filled, no borrow is charged after it, and equity
   and cash keep the ruin close's values to the last session. A book held at that close has no
   exit and is ``closed_by="ruin"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NEW_YORK = "America/New_York"
OPEN_TIME = pd.Timedelta(hours=9, minutes=30)


@dataclass(frozen=True)
class ReferenceBook:
    """One book: entry/exit are session dates (exit None if still open at the end of the run)."""

    entry: pd.Timestamp
    longs: tuple[str, ...]
    shorts: tuple[str, ...]
    planned_exit: int
    exit: pd.Timestamp | None
    closed_by: str | None


@dataclass(frozen=True)
class ReferenceResult:
    equity: pd.Series  # equity at each session's close
    cash: pd.Series  # cash at each session's close
    fills: pd.DataFrame  # date, ticker, shares (signed), price, commission
    borrow: pd.DataFrame  # date, ticker, fee (debited at the open of date)
    books: list[ReferenceBook] = field(default_factory=list)
    entries: list[pd.Timestamp | None] = field(default_factory=list)  # per event, in the run
    ruined_on: pd.Timestamp | None = None  # convention 3: the first close with equity <= 0


def session_opens_utc(sessions: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The 09:30 America/New_York open of each session date, as UTC instants."""
    days = pd.DatetimeIndex(sessions).normalize()
    local = (days + OPEN_TIME).tz_localize(NEW_YORK)
    return local.tz_convert("UTC")


def entry_session_index(known_at: pd.Timestamp, opens_utc: pd.DatetimeIndex) -> int | None:
    """Index of the first session whose open is strictly after ``known_at`` (None: none)."""
    stamp = pd.Timestamp(known_at)
    if stamp.tzinfo is None:
        raise ValueError(f"known_at {stamp} must be timezone-aware")
    later = np.flatnonzero(opens_utc > stamp.tz_convert("UTC"))
    return int(later[0]) if len(later) else None


def reference_backtest(
    bars: dict[str, pd.DataFrame],
    sessions: pd.DatetimeIndex,
    long: list[str],
    short: list[str],
    events: list[tuple[pd.Timestamp, int]],
    hold: int = 5,
    gross: float = 1.0,
    commission: float = 0.0001,
    slippage: float = 0.0002,
    borrow: float = 0.005,
    cash: float = 1_000_000.0,
) -> ReferenceResult:
    """Run the baseline rules on ``sessions``.

    ``bars[ticker]``: a frame indexed by tz-naive midnight dates with open/high/low/close, only
    on the dates the ticker has a bar (dates outside ``sessions`` are ignored).
    ``events``: (known_at tz-aware, direction +1/-1).
    """
    sessions = pd.DatetimeIndex(sessions)
    n = len(sessions)
    tickers = [*long, *short]

    # --- prices on the run's sessions (NaN where a ticker has no bar) -------------------------
    opens: dict[str, np.ndarray] = {}
    closes: dict[str, np.ndarray] = {}
    has: dict[str, np.ndarray] = {}
    last: dict[str, int] = {}
    for ticker in tickers:
        frame = bars[ticker].reindex(sessions)
        opens[ticker] = frame["open"].to_numpy(dtype=float)
        closes[ticker] = frame["close"].to_numpy(dtype=float)
        has[ticker] = ~np.isnan(closes[ticker])
        present = np.flatnonzero(has[ticker])
        last[ticker] = int(present[-1]) if len(present) else -1

    def ends_early_at(ticker: str, e: int) -> bool:
        """``e`` is the ticker's last bar and its data ends before the run's last session."""
        return last[ticker] == e and last[ticker] < n - 1

    def eligible(names: list[str], t: int, e: int) -> list[str]:
        return [x for x in names if has[x][t] and has[x][e] and not ends_early_at(x, e)]

    # --- entry sessions and the net direction entering each session ---------------------------
    opens_utc = session_opens_utc(sessions)
    net = np.zeros(n, dtype=int)
    entries: list[pd.Timestamp | None] = []
    for known_at, direction in events:
        k = entry_session_index(known_at, opens_utc)
        # The first session of the run has no decision close before it inside the run, and an
        # event known before the run's first open enters at or before that session: ignored.
        # An event known after the last open enters after the run: ignored.
        entries.append(None if k is None else sessions[k])
        if k is not None and k >= 1:
            net[k] += int(direction)

    # --- the loop ------------------------------------------------------------------------------
    shares: dict[str, float] = {}  # open positions, signed
    orders: list[tuple[str, float]] = []  # (ticker, signed shares) decided at the last close
    money = float(cash)
    equity = np.zeros(n)
    cash_at_close = np.zeros(n)
    fills: list[tuple[pd.Timestamp, str, float, float, float]] = []
    fees: list[tuple[pd.Timestamp, str, float]] = []
    books: list[dict] = []
    book: dict | None = None  # the open book: entry, exit, held names
    ruined: int | None = None

    for t in range(n):
        day = sessions[t]
        if t > 0:
            # Open of t: borrow fee for the shorts held at the previous close, then the fills.
            nights = (sessions[t] - sessions[t - 1]).days
            for ticker, size in shares.items():
                if size < 0:
                    fee = borrow * abs(size) * closes[ticker][t - 1] * nights / 365
                    money -= fee
                    fees.append((day, ticker, fee))
            for ticker, size in orders:
                open_price = opens[ticker][t]
                if np.isnan(open_price):
                    raise AssertionError(f"{ticker} has no bar on {day.date()} but has an order")
                price = open_price * (1 + slippage) if size > 0 else open_price * (1 - slippage)
                fee = commission * abs(size * price)
                money -= size * price + fee
                fills.append((day, ticker, size, price, fee))
                shares[ticker] = shares.get(ticker, 0.0) + size
                if shares[ticker] == 0.0:  # closing orders are exactly -shares
                    del shares[ticker]
            orders = []

        # Close of t: equity.
        value = 0.0
        for ticker, size in shares.items():
            if np.isnan(closes[ticker][t]):
                raise AssertionError(f"{ticker} is held on {day.date()} but has no bar")
            value += size * closes[ticker][t]
        equity[t] = money + value
        cash_at_close[t] = money

        if not equity[t] > 0:  # convention 3: ruined, the run ends at this close
            ruined = t
            equity[t + 1 :] = equity[t]
            cash_at_close[t + 1 :] = money
            if book is not None:
                book.update(closed_by="ruin")
            break
        if t == n - 1:
            break

        # Decision at the close of t for the open of e = t + 1.
        e = t + 1
        s = net[e]
        if s > 0 and book is None:
            longs, shorts = eligible(long, t, e), eligible(short, t, e)
            if longs and shorts:  # convention 1: both sides or nothing
                for x in longs:
                    orders.append((x, gross / 2 / len(longs) * equity[t] / closes[x][t]))
                for x in shorts:
                    orders.append((x, -gross / 2 / len(shorts) * equity[t] / closes[x][t]))
                book = {
                    "entry": e,
                    "exit": e + hold,
                    "held": [*longs, *shorts],
                    "longs": tuple(longs),
                    "shorts": tuple(shorts),
                }
                books.append(book)
            continue
        if s > 0:
            book["exit"] = max(book["exit"], e + hold)
        elif s < 0 and book is not None:
            orders = [(x, -shares[x]) for x in book["held"]]
            book.update(closed_at=e, closed_by="counter")
            book = None
            continue
        elif book is not None and book["exit"] == e:
            orders = [(x, -shares[x]) for x in book["held"]]
            book.update(closed_at=e, closed_by="hold")
            book = None
            continue
        if book is not None:
            ending = [x for x in book["held"] if ends_early_at(x, e)]
            orders = [(x, -shares[x]) for x in ending]
            book["held"] = [x for x in book["held"] if x not in ending]
            if not book["held"]:  # convention 2: a book whose names all ended is flat
                book.update(closed_at=e, closed_by="data_end")
                book = None

    index = pd.DatetimeIndex(sessions, name="date")
    fill_frame = pd.DataFrame(fills, columns=["date", "ticker", "shares", "price", "commission"])
    fee_frame = pd.DataFrame(fees, columns=["date", "ticker", "fee"])
    return ReferenceResult(
        equity=pd.Series(equity, index=index, name="equity"),
        cash=pd.Series(cash_at_close, index=index, name="cash"),
        fills=fill_frame,
        borrow=fee_frame,
        books=[
            ReferenceBook(
                entry=sessions[b["entry"]],
                longs=b["longs"],
                shorts=b["shorts"],
                planned_exit=b["exit"],
                exit=sessions[b["closed_at"]] if "closed_at" in b else None,
                closed_by=b.get("closed_by"),
            )
            for b in books
        ],
        entries=entries,
        ruined_on=None if ruined is None else sessions[ruined],
    )
