"""An independent plain-pandas/numpy implementation of the strategy policies (POLICY_SPEC.md).

It exists to check the project's production engines in parity tests. It re-derives every rule
of the policy spec (signals, books and counter-triggers, entry delay, legs and sizers, rounding,
slippage models, the participation cap, borrow, exits, data ends, ruin) and deliberately
imports nothing from the project. It is one plain loop over the sessions; clarity beats speed.

Spec sections are cited as "§n". Where the spec is open, the reading chosen here is marked
"READING:" in a comment (each is listed in the module's report to the lead).

Interface: ``reference_run(bars, benchmark, sessions, events, config) -> ReferenceResult``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from reference_policy_config import DEFAULT_CONFIG, resolve_config
from reference_policy_sizers import Market, NotOpened, unit_weights

__all__ = ["DEFAULT_CONFIG", "ReferenceResult", "reference_run", "resolve_config"]

# Tolerance of the per_event gross cap, as written in §2.
GROSS_CAP_SLACK = 1e-12


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceResult:
    """What a run produced.

    equity: indexed by session; columns equity, cash, long_value (>= 0), short_value (<= 0,
        signed market value of the shorts), so equity = cash + long_value + short_value.
    fills: date, ticker, side (buy/sell/short/cover), shares (> 0), price, commission,
        slippage (= |shares x (price - open)|), book; in execution order, which at one open is
        §5's: every sell (long exit, short sale) before every buy (short cover, long entry),
        each group by (sub-book id, leg order, ticker order in the leg).
    borrow: date (the open at which it is debited), ticker, book, fee.
    books: one row per (sub-)book: book, direction, decision, entry, exit (NaT while open),
        closed_by (None while open), planned_exit (NaT if beyond the calendar), gross,
        uninvested, capped, excluded ("NAME: reason"), note, events, then one column per
        ticker: signed shares at entry (NaN when the name is not in the book, 0.0 when rounded
        to zero).
    ruined_on: the first close with equity <= 0, or None.
    event_log: per event: id, entry (effective entry session or NaT), action, reason.
    """

    equity: pd.DataFrame
    fills: pd.DataFrame
    borrow: pd.DataFrame
    books: pd.DataFrame
    ruined_on: pd.Timestamp | None
    event_log: pd.DataFrame = field(default_factory=pd.DataFrame)


# ---------------------------------------------------------------------------------------------
# Books
# ---------------------------------------------------------------------------------------------


@dataclass
class _Book:
    """One (sub-)book: its schedule, its unit weights, its own positions and slippage."""

    id: int
    direction: int
    decision: int
    entry: int
    gross: float
    weights: dict[str, float]  # unit weights w, signed for this book's direction
    base_close: dict[str, float]  # close[d, i], the denominator of the book's return R_t
    shares: dict[str, float]  # signed shares at entry (0.0 for a name rounded to zero)
    slip: dict[str, float]  # slip per name, for the entry AND the exit fill (§5)
    uncapped_exit: int  # planned exit before max_hold
    planned_exit: int
    events: tuple[str, ...]
    uninvested: float
    capped: tuple[str, ...]
    excluded: tuple[str, ...]  # "NAME: reason" for eligible names the sizing left out
    note: str
    held: list[str] = field(default_factory=list)  # names still held, in column order
    position: dict[str, float] = field(default_factory=dict)  # shares held now (after fills)
    closed_at_open: dict[str, int] = field(default_factory=dict)  # data-end closes: x_i
    peak: float = 0.0  # M_t of the trailing stop: max(0, max R_u)
    exit: int | None = None
    closed_by: str | None = None

    def is_open(self) -> bool:
        return self.exit is None


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _event_signal(
    events: pd.DataFrame, sessions: pd.DatetimeIndex, cfg: dict[str, Any]
) -> tuple[np.ndarray, list[list[tuple[str, float]]], list[dict[str, Any]]]:
    """§1 and §3: the net signal S per effective entry session, its events, the event log."""
    n = len(sessions)
    signal_cfg = cfg["strategy"]["signal"]
    delay = int(cfg["strategy"]["entry"]["delay"])
    weighted = signal_cfg["kind"] == "weighted"
    column = signal_cfg["column"]
    if weighted and column not in events.columns:
        raise ValueError(f"config: signal.column {column!r} is not a column of the events")
    signal = np.zeros(n)
    members: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    log: list[dict[str, Any]] = []
    position = {day: k for k, day in enumerate(sessions)}
    for row in events.itertuples(index=False):
        event_id = str(row.id)
        direction = int(row.direction)
        if direction not in (1, -1):
            raise ValueError(f"events: {event_id} direction must be +1 or -1, got {direction}")
        weight = 1.0
        if weighted:
            raw = getattr(row, column)
            try:
                weight = float(raw)
            except (TypeError, ValueError):
                weight = math.nan
            # READING: a non-finite weight (inf) is refused like an empty cell.
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"events: {event_id} column {column} has {raw!r}; need a number >= 0"
                )
        raw_entry = row.entry
        if pd.isna(raw_entry):
            log.append(
                dict(id=event_id, entry=pd.NaT, action="ignored", reason="enters outside the run")
            )
            continue
        if pd.Timestamp(raw_entry) not in position:
            raise ValueError(f"events: {event_id} entry {raw_entry} is not a session of the run")
        effective = position[pd.Timestamp(raw_entry)] + delay
        if effective > n - 1:
            log.append(
                dict(
                    id=event_id,
                    entry=pd.NaT,
                    action="ignored",
                    reason="effective entry after the run",
                )
            )
            continue
        if effective == 0:
            # No decision close inside the run for the first session (§7). §9 A1: only the
            # EFFECTIVE entry counts, so with delay >= 1 a raw entry at session 0 is traded.
            log.append(
                dict(
                    id=event_id,
                    entry=sessions[0],
                    action="ignored",
                    reason="enters at the run's first session",
                )
            )
            continue
        signal[effective] += weight * direction
        members[effective].append((event_id, float(direction)))
        log.append(dict(id=event_id, entry=sessions[effective], action=None, reason=None))
    return signal, members, log


class _Run:
    """State of one run; ``execute`` is the session loop."""

    def __init__(
        self,
        bars: dict[str, pd.DataFrame],
        benchmark: pd.Series,
        sessions: pd.DatetimeIndex,
        events: pd.DataFrame,
        cfg: dict[str, Any],
    ) -> None:
        self.cfg = cfg
        st, costs = cfg["strategy"], cfg["costs"]
        self.legs = st["legs"]
        # The market's columns: legs in config order, tickers in leg order. The fill order of §5
        # sorts by (leg order, ticker order in the leg) within a sub-book: ``leg_rank``.
        names = [x for leg in self.legs for x in leg["tickers"]]
        self.leg_rank = {
            x: (k, j) for k, leg in enumerate(self.legs) for j, x in enumerate(leg["tickers"])
        }
        self.market = Market(bars, benchmark, sessions, names)
        self.sessions = self.market.sessions
        self.signal, self.members, self.log = _event_signal(events, self.sessions, cfg)
        self.log_index = {entry["id"]: k for k, entry in enumerate(self.log)}
        self.hold = int(st["hold_sessions"])
        self.max_hold = st["exits"]["max_hold"]
        self.per_event = st["books"]["kind"] == "per_event"
        self.counter = st["books"]["counter"]
        self.sizing = st["sizing"]
        self.commission = float(costs["commission_bps"]) / 1e4
        self.borrow_table = self._prepare_borrow_table(costs["borrow_table"])
        self.books: list[_Book] = []
        self.cash = float(cfg["cash"])
        self.orders: list[tuple[int, str, float, str]] = []  # (book id, name, shares, kind)
        self.fills: list[dict[str, Any]] = []
        self.fees: list[dict[str, Any]] = []

    # --- costs -----------------------------------------------------------------------------

    @staticmethod
    def _prepare_borrow_table(
        table: pd.DataFrame | None,
    ) -> dict[str, tuple[pd.DatetimeIndex, np.ndarray]] | None:
        """Per ticker: the table's dates (sorted, file order kept on ties) and rates (bps)."""
        if table is None:
            return None
        frame = pd.DataFrame(table)
        out: dict[str, tuple[pd.DatetimeIndex, np.ndarray]] = {}
        for ticker, rows in frame.groupby("ticker", sort=False):
            rows = rows.assign(_date=pd.to_datetime(rows["date"])).sort_values(
                "_date", kind="stable"
            )
            out[str(ticker)] = (
                pd.DatetimeIndex(rows["_date"]),
                rows["borrow_bps"].to_numpy(dtype=float),
            )
        return out

    def borrow_rate(self, name: str, t: int) -> float:
        """rate_i(t) as a fraction per year (§5 Borrow)."""
        costs = self.cfg["costs"]
        flat = float(costs["borrow_bps"])
        if self.borrow_table is not None:
            # READING: with a table, names and dates before a ticker's first row use
            # borrow_bps (as written), not borrow_by_ticker.
            if name not in self.borrow_table:
                return flat / 1e4
            dates, rates = self.borrow_table[name]
            # The latest row on or before t (on tied dates, the file's last row).
            k = int(dates.searchsorted(self.sessions[t], side="right")) - 1
            return (float(rates[k]) if k >= 0 else flat) / 1e4
        return float(costs["borrow_by_ticker"].get(name, flat)) / 1e4

    def adv_measures(self, name: str, d: int) -> tuple[float, float] | str:
        """§9 A5: (sigma_i, ADV_i) over u in [d-N+1, d], N = costs.impact_lookback, or the
        reason the name is excluded from the book (fewer than N finite returns, or ADV 0).

        The window is never clipped: it needs N sessions inside the run, each with a return
        (so a bar at d-N too). ADV is the plain mean of the N volumes.
        """
        n_sessions = int(self.cfg["costs"]["impact_lookback"])
        rows = list(self.market.window(d, n_sessions))
        window = self.market.returns(name, rows)
        if len(rows) < n_sessions or not np.isfinite(window).all():
            return f"fewer than {n_sessions} returns for sigma and ADV"
        adv = float(np.mean(self.market.volume[rows, self.market.col[name]]))
        # READING: a missing volume beside a close gives a NaN ADV, excluded like ADV 0.
        if not adv > 0:
            return "ADV 0" if adv == 0 else f"ADV {adv}"
        return float(np.std(window, ddof=1)), adv

    # --- opening a book ----------------------------------------------------------------------

    def open_book(self, direction: int, t: int, equity: float) -> _Book:
        """Size a book decided at close t for the open of t+1 (§4, §5). Raises NotOpened."""
        market, costs = self.market, self.cfg["costs"]
        e = t + 1
        impact = costs["slippage"] == "impact"
        cap = costs["max_participation"]
        # §9 A5: ADV is needed by impact slippage and by the cap under any slippage model.
        needs_adv = impact or cap is not None
        measures: dict[str, tuple[float, float]] = {}  # name -> (sigma_i, ADV_i)
        legs = []
        excluded: dict[str, str] = {}
        for leg in self.legs:
            names = [x for x in leg["tickers"] if market.eligible(x, t, e)]
            if needs_adv:
                kept = []
                for x in names:
                    measured = self.adv_measures(x, t)
                    if isinstance(measured, str):
                        excluded[x] = measured
                    else:
                        measures[x] = measured
                        kept.append(x)
                names = kept
            if not names:
                raise NotOpened(f"leg {leg['name']} has no eligible name")
            legs.append(
                {
                    "name": leg["name"],
                    "side": int(leg["side"]) * direction,  # a -1 book flips every leg
                    "share": leg["share"],
                    "names": names,
                }
            )
        weights, vt_gross, sizer_excluded = unit_weights(
            market, legs, t, self.sizing, float(self.cfg["strategy"]["max_gross"])
        )
        excluded.update(sizer_excluded)

        st = self.cfg["strategy"]
        gross = float(st["gross"]) if vt_gross is None else vt_gross
        if st["signal"]["scale_size"]:
            # §4 and §9 A2: every sizer's gross, vol_target's included, times |S|, capped.
            # READING: A2's g_vt is vol_target's gross of §4, min(target / sigma_book,
            # max_gross), so g = min(min(target / sigma_book, max_gross) * |S|, max_gross).
            gross = min(gross * abs(float(self.signal[e])), float(st["max_gross"]))

        shares: dict[str, float] = {}
        slip: dict[str, float] = {}
        base_close: dict[str, float] = {}
        uninvested = 0.0
        capped: list[str] = []
        zeros: list[str] = []
        for x in market.names:  # column order
            if x not in weights:
                continue
            close_d = float(market.close[t, market.col[x]])
            base_close[x] = close_d
            q = gross * weights[x] * equity / close_d
            if costs["rounding"] == "whole":
                rounded = float(math.trunc(q))  # toward zero
                uninvested += (abs(q) - abs(rounded)) * close_d
                q = rounded
                if q == 0.0:
                    zeros.append(x)
            if cap is not None:
                adv = measures[x][1]
                if abs(q) > float(cap) * adv:
                    if costs["on_cap"] == "fail":
                        raise ValueError(
                            f"participation cap: {x} on {self.sessions[e].date()} "
                            f"(decided {self.sessions[t].date()}): order of {abs(q)} shares "
                            f"is above {cap} x ADV {adv}"
                        )
                    # READING: cut to exactly cap x ADV, not re-rounded under "whole".
                    q = math.copysign(float(cap) * adv, q)
                    capped.append(x)
            shares[x] = q
            if impact:
                # READING: |q_i| is the order actually sent (after rounding and the cap).
                slip[x] = float(costs["half_spread_bps"]) / 1e4 + float(
                    costs["impact_k"]
                ) * measures[x][0] * math.sqrt(abs(q) / measures[x][1])
            else:
                slip[x] = float(costs["slippage_bps"]) / 1e4
        uncapped = e + self.hold
        return _Book(
            id=len(self.books),
            direction=direction,
            decision=t,
            entry=e,
            gross=gross,
            weights=weights,
            base_close=base_close,
            shares=shares,
            slip=slip,
            uncapped_exit=uncapped,
            planned_exit=self._capped_exit(e, uncapped),
            events=(),
            uninvested=uninvested,
            capped=tuple(capped),
            excluded=tuple(f"{x}: {why}" for x, why in excluded.items()),
            note=f"rounded to 0 shares: {', '.join(zeros)}" if zeros else "",
            held=list(shares),
        )

    def _capped_exit(self, entry: int, uncapped: int) -> int:
        """§6 max_hold: planned exit = min(planned exit, entry + K)."""
        return uncapped if self.max_hold is None else min(uncapped, entry + int(self.max_hold))

    def try_open(self, direction: int, t: int, equity: float, action: list[str]) -> None:
        """Open a book of ``direction`` at t+1 if it can be sized (and, per_event, fits the
        gross cap); record the outcome in ``action`` for the session's events."""
        try:
            book = self.open_book(direction, t, equity)
        except NotOpened as why:
            action[:] = ["ignored", str(why)]
            return
        if self.per_event:
            max_gross = float(self.cfg["strategy"]["max_gross"])
            # Sub-books still open after this open's closes (those decided at t are closed).
            open_gross = sum(b.gross for b in self.books if b.is_open())
            if open_gross + book.gross > max_gross * (1 + GROSS_CAP_SLACK):
                action[:] = [
                    "ignored",
                    f"gross cap: sub-books open with gross {open_gross} of max_gross {max_gross}",
                ]
                return
        book.events = tuple(
            event_id for event_id, d in self.members[t + 1] if d * self.signal[t + 1] > 0
        )
        self.books.append(book)
        for x in book.held:
            if book.shares[x] != 0.0:
                self.orders.append((book.id, x, book.shares[x], "entry"))
        action[:] = ["opened", f"book {book.id}"]

    # --- closing -----------------------------------------------------------------------------

    def close_book(self, book: _Book, e: int, closed_by: str) -> None:
        """Close every name still held by ``book`` at the open of e."""
        for x in book.held:
            if book.shares[x] != 0.0:
                self.orders.append((book.id, x, -book.shares[x], "exit"))
        book.held = []
        book.exit = e
        book.closed_by = closed_by

    def book_return(self, book: _Book, t: int) -> float:
        """§6 R_t = sum_i w_i (P_i,t / close[d, i] - 1)."""
        market = self.market
        total = 0.0
        for x, w in book.weights.items():
            if x in book.closed_at_open:
                price = float(market.open[book.closed_at_open[x], market.col[x]])
            else:
                price = float(market.close[t, market.col[x]])
            total += w * (price / book.base_close[x] - 1.0)
        return total

    def stop_reason(self, book: _Book, t: int) -> str | None:
        """§6 (c): stop_loss, then trailing_stop, then take_profit on R_t."""
        exits = self.cfg["strategy"]["exits"]
        r_t = self.book_return(book, t)
        book.peak = max(book.peak, r_t)  # M_t = max(0, max_{entry<=u<=t} R_u)
        if exits["stop_loss"] is not None and r_t <= -float(exits["stop_loss"]):
            return "stop_loss"
        if exits["trailing_stop"] is not None and book.peak - r_t >= float(exits["trailing_stop"]):
            return "trailing_stop"
        if exits["take_profit"] is not None and r_t >= float(exits["take_profit"]):
            return "take_profit"
        return None

    # --- the decision at a close -------------------------------------------------------------

    def decide(self, t: int, equity: float) -> None:
        """Decisions at the close of t for the fills at the open of e = t + 1.

        Order (§6 and §9 A3): the signal's closes (counter / reverse), then the scheduled
        closes of the other books (hold / max_hold, stops, data_end), then the signal's new
        book, whose gross cap counts the books still open after all those closes.
        """
        e = t + 1
        s = float(self.signal[e])
        action: list[str] = []
        open_books = [b for b in self.books if b.is_open()]
        new_direction = 0

        # (a) the signal of session e (§1-§2).
        if s != 0:
            sign = 1 if s > 0 else -1
            if self.per_event:
                if sign < 0 and self.counter == "ignore":
                    action = ["ignored", "counter-triggers ignored"]
                elif sign < 0 and self.counter == "close":
                    if open_books:
                        for book in open_books:
                            self.close_book(book, e, "counter")
                        action = ["closed", "counter"]
                    else:
                        action = ["ignored", "counter-trigger while flat"]
                else:
                    if self.counter == "reverse":
                        for book in open_books:
                            if book.direction == -sign:
                                self.close_book(book, e, "counter")
                    new_direction = sign
            else:
                book = open_books[0] if open_books else None
                if sign < 0 and self.counter == "ignore":
                    action = ["ignored", "counter-triggers ignored"]
                elif sign < 0 and self.counter == "close":
                    if book is None:
                        action = ["ignored", "counter-trigger while flat"]
                    else:
                        self.close_book(book, e, "counter")  # §9 A7
                        action = ["closed", "counter"]
                elif book is not None and book.direction == sign:
                    # Extend (no resizing): exit = max(exit, e + H), then the max_hold cap.
                    book.uncapped_exit = max(book.uncapped_exit, e + self.hold)
                    book.planned_exit = self._capped_exit(book.entry, book.uncapped_exit)
                    action = ["extended", f"book {book.id}"]
                else:
                    if book is not None:  # reverse: the held book of the other direction
                        self.close_book(book, e, "counter")  # §9 A7: reverse too
                    new_direction = sign

        # (b) planned exits and (c) stops, for the books still held (not just opened).
        for book in self.books:
            if not book.is_open():
                continue
            if book.planned_exit == e:
                capped = book.uncapped_exit > book.planned_exit
                self.close_book(book, e, "max_hold" if capped else "hold")
                continue
            reason = self.stop_reason(book, t)
            if reason is not None:
                self.close_book(book, e, reason)

        # §7: held names whose data ends at e close at its open; the rest of the book runs on.
        for book in self.books:
            if not book.is_open():
                continue
            ending = [x for x in book.held if self.market.ends_at(x, e)]
            for x in ending:
                if book.shares[x] != 0.0:
                    self.orders.append((book.id, x, -book.shares[x], "exit"))
                book.closed_at_open[x] = e
            book.held = [x for x in book.held if x not in ending]
            if not book.held:
                book.exit = e
                book.closed_by = "data_end"

        # (a, continued) §9 A3: the new book last, so its gross cap sees every close above.
        if new_direction:
            self.try_open(new_direction, t, equity, action)

        self._log_session(e, s, action)

    def _log_session(self, e: int, s: float, action: list[str]) -> None:
        """Each event of session e: outweighed if against S, else the session's action."""
        for event_id, d in self.members[e]:
            entry = self.log[self.log_index[event_id]]
            if s == 0:
                entry.update(action="ignored", reason="net signal 0")
            elif d * s < 0:
                entry.update(action="outweighed", reason=f"net signal {s}")
            else:
                entry.update(
                    action=action[0] if action else "none", reason=action[1] if action else None
                )

    # --- the open ----------------------------------------------------------------------------

    def at_open(self, t: int) -> None:
        """Open of t: borrow for the shorts held at the close of t-1, then the orders (§5)."""
        market = self.market
        day = self.sessions[t]
        nights = (self.sessions[t] - self.sessions[t - 1]).days
        for book in self.books:  # per sub-book, each pays for its own shorts
            if not book.position:
                continue
            for x in market.names:
                size = book.position.get(x, 0.0)
                if size < 0:
                    close_prev = float(market.close[t - 1, market.col[x]])
                    fee = self.borrow_rate(x, t - 1) * abs(size) * close_prev * nights / 365
                    self.cash -= fee
                    self.fees.append(dict(date=day, ticker=x, book=book.id, fee=fee))
        # §5: every sell (long exits, short sales: shares < 0) before every buy (short covers,
        # long entries); within each group by (sub-book id, leg order, ticker order in the leg).
        ordered = sorted(
            self.orders, key=lambda o: (0 if o[2] < 0 else 1, o[0], *self.leg_rank[o[1]])
        )
        for book_id, x, size, kind in ordered:
            book = self.books[book_id]
            open_price = float(market.open[t, market.col[x]])
            if math.isnan(open_price):
                raise ValueError(f"{x} has an order on {day.date()} but no bar")
            slip = book.slip[x]
            price = open_price * (1 + slip) if size > 0 else open_price * (1 - slip)
            commission = self.commission * abs(size * price)
            self.cash -= size * price + commission
            if kind == "entry":
                side = "buy" if size > 0 else "short"
                book.position[x] = size
            else:
                side = "cover" if size > 0 else "sell"
                del book.position[x]
            self.fills.append(
                dict(
                    date=day,
                    ticker=x,
                    side=side,
                    shares=abs(size),
                    price=price,
                    commission=commission,
                    slippage=abs(size * (price - open_price)),
                    book=book_id,
                )
            )
        self.orders = []

    def marks(self, t: int) -> tuple[float, float]:
        """Long and short market value at the close of t (short value signed, <= 0)."""
        market = self.market
        long_value = short_value = 0.0
        for book in self.books:
            if not book.position:
                continue
            for x in market.names:
                size = book.position.get(x)
                if size is None:
                    continue
                close_t = float(market.close[t, market.col[x]])
                if math.isnan(close_t):
                    # READING: the spec has no rule for a gap inside a name's data.
                    raise ValueError(f"{x} is held on {self.sessions[t].date()} but has no bar")
                if size > 0:
                    long_value += size * close_t
                else:
                    short_value += size * close_t
        return long_value, short_value

    def execute(self) -> ReferenceResult:
        n = self.market.n
        rows: list[tuple[float, float, float, float]] = []
        ruined_on: int | None = None
        for t in range(n):
            if ruined_on is not None:
                rows.append(rows[-1])  # §8: held at the ruin close's values
                continue
            if t > 0:
                self.at_open(t)
            long_value, short_value = self.marks(t)
            equity = self.cash + long_value + short_value
            rows.append((equity, self.cash, long_value, short_value))
            if equity <= 0:
                ruined_on = t  # §8: no decision, no fill after this close
                continue
            if t < n - 1:
                self.decide(t, equity)
        return self._result(rows, ruined_on)

    def _result(
        self, rows: list[tuple[float, float, float, float]], ruined_on: int | None
    ) -> ReferenceResult:
        sessions = self.sessions
        n = len(sessions)

        def day(k: int | None) -> pd.Timestamp:
            return sessions[k] if k is not None and k < n else pd.NaT

        equity = pd.DataFrame(
            rows,
            index=pd.DatetimeIndex(sessions, name="date"),
            columns=["equity", "cash", "long_value", "short_value"],
        )
        fills = pd.DataFrame(
            self.fills,
            columns=["date", "ticker", "side", "shares", "price", "commission", "slippage", "book"],
        )
        borrow = pd.DataFrame(self.fees, columns=["date", "ticker", "book", "fee"])
        book_rows = []
        for b in self.books:
            row: dict[str, Any] = dict(
                book=b.id,
                direction=b.direction,
                decision=day(b.decision),
                entry=day(b.entry),
                exit=day(b.exit),
                closed_by=b.closed_by,
                planned_exit=day(b.planned_exit),
                gross=b.gross,
                uninvested=b.uninvested,
                capped=b.capped,
                excluded=b.excluded,
                note=b.note,
                events=b.events,
            )
            for x in self.market.names:
                row[x] = b.shares.get(x, math.nan)
            book_rows.append(row)
        columns = [
            "book",
            "direction",
            "decision",
            "entry",
            "exit",
            "closed_by",
            "planned_exit",
            "gross",
            "uninvested",
            "capped",
            "excluded",
            "note",
            "events",
            *self.market.names,
        ]
        books = pd.DataFrame(book_rows, columns=columns)
        return ReferenceResult(
            equity=equity,
            fills=fills,
            borrow=borrow,
            books=books,
            ruined_on=None if ruined_on is None else sessions[ruined_on],
            event_log=pd.DataFrame(self.log, columns=["id", "entry", "action", "reason"]),
        )


def reference_run(
    bars: dict[str, pd.DataFrame],
    benchmark: pd.Series,
    sessions: pd.DatetimeIndex,
    events: pd.DataFrame,
    config: dict[str, Any],
) -> ReferenceResult:
    """Run the policy spec on ``sessions``.

    bars[ticker]: open/high/low/close/volume indexed by ``sessions`` (NaN where no bar).
    benchmark: its close on every session. events: entry (raw entry session or NaT),
    direction (+1/-1), id, and the signal column when signal.kind = "weighted".
    config: nested dict of the spec's keys (missing keys take DEFAULT_CONFIG's values).
    Raises ValueError for a bad config or event, and for the participation cap with
    on_cap = "fail".
    """
    cfg = resolve_config(config)
    return _Run(bars, benchmark, sessions, events, cfg).execute()
