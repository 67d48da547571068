"""The plan: every decision of a run, computed once from events, bars and the strategy.

The planner applies the policies (README, "Strategy policies") at each decision close, with a
point-in-time :class:`~strategies.view.MarketView` (bars up to that close), and records the
books: when each opens, which names at which unit weights, when and why it closes. Engines only
execute a plan (size at the decision close with the equity there, fill at the next open), so
the rules live in one place and two engines can be compared decision by decision.

Nothing in a plan depends on gross (except the per_event gross cap), costs or equity: a stop
watches the book's unit return, not its P&L. Session indices are positions in
``MarketData.sessions``; a decision at the close of ``t`` fills at the open of ``t + 1``.

The planner is event-driven: it visits only the sessions where something can happen (an
event's entry, a planned exit, a stop, a name's last bar), with integer indices, so a plan of
the baseline costs well under a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.events import Event
from data.market import MarketData
from strategies.policies.costs import trailing_sigma_adv
from strategies.policies.legs import LegSlice
from strategies.policies.sizing import BetaNeutral, EqualWeights, InverseVolWeights, VolTarget
from strategies.strategy import Strategy
from strategies.view import MarketView

NEVER = 1 << 40  # a session index beyond any run
PURE_SIZERS = (EqualWeights, InverseVolWeights, BetaNeutral, VolTarget)  # answers can be cached


@dataclass
class Book:
    """One book: opened at the open of ``entry`` (decided at the close of ``decision``).

    ``cols``/``weights``: its names (columns of MarketData) and signed unit weights (sum |w| =
    1, sides already flipped for a -1 book). ``name_exit[j]``: the session whose open closes
    name j (its last bar when its data ends, else the book's exit; NEVER while open).
    ``exit``: the session of the closing fill (None: open at the end of the run).
    ``closed_by``: hold, counter, reversed, max_hold, stop_loss, trailing_stop, take_profit or
    data_end. ``signal_scale`` (|S| when the signal scales the size) and ``unit_vol`` (the unit
    book's annual volatility, vol_target) decide its gross with the config's G
    (:func:`strategies.strategy.book_gross`); ``gross`` is that gross for the planned strategy.
    ``sigma``/``adv``: per name, for a size-dependent cost model (else None).
    """

    id: int
    direction: int
    decision: int
    entry: int
    planned_exit: int
    cols: np.ndarray
    weights: np.ndarray
    name_exit: np.ndarray
    gross: float
    signal_scale: float = 1.0
    unit_vol: float = math.nan
    sigma: np.ndarray | None = None
    adv: np.ndarray | None = None
    excluded: tuple[tuple[int, str], ...] = ()
    exit: int | None = None
    closed_by: str | None = None
    extensions: int = 0
    uncapped_exit: int = 0  # the planned exit before max_hold (labels a max_hold exit)

    @property
    def longs(self) -> tuple[int, ...]:
        return tuple(int(c) for c, w in zip(self.cols, self.weights, strict=True) if w > 0)

    @property
    def shorts(self) -> tuple[int, ...]:
        return tuple(int(c) for c, w in zip(self.cols, self.weights, strict=True) if w < 0)

    @property
    def last(self) -> int:
        """The last session the book counts in (its exit, or the run's last session)."""
        return self.exit if self.exit is not None else -1


@dataclass(frozen=True)
class EventOutcome:
    """What an event did: ``opened``, ``extended``, ``closed``, ``reversed`` or ``ignored``
    (with ``reason``); ``book`` is the book it opened, extended or closed."""

    event: Event
    entry_session: pd.Timestamp | None
    action: str
    reason: str = ""
    book: int | None = None


@dataclass(frozen=True)
class Action:
    """An order group for the engines: at the open of ``session + 1``, decided at the close of
    ``session``: open ``book`` (its cols at their weights) or close its ``cols``."""

    session: int
    book: int
    kind: str  # "open" or "close"
    cols: tuple[int, ...]


@dataclass
class Plan:
    """The books of a run, the event outcomes (built lazily: the placebo never reads them) and
    the strategy they were planned with."""

    market: MarketData
    strategy: Strategy
    books: list[Book] = field(default_factory=list)
    _outcomes: list = field(default_factory=list, repr=False)
    _events: Sequence[Event] = ()
    _entries: Sequence[pd.Timestamp | None] = ()

    @property
    def outcomes(self) -> list[EventOutcome]:
        """One outcome per event, in the events' order (reasons formatted now). The entry
        session is the event's own (a delay moves the fill, not the event)."""
        out = []
        for k, (action, reason, book) in enumerate(self._outcomes):
            text = reason() if callable(reason) else reason
            out.append(EventOutcome(self._events[k], self._entries[k], action, text, book))
        return out

    def actions(self) -> dict[int, list[Action]]:
        """The order groups by decision session, in execution-independent order (the engines
        put sells before buys): closes first, then openings, each by book id."""
        by_session: dict[int, list[Action]] = {}
        for book in self.books:
            by_session.setdefault(book.decision, []).append(
                Action(book.decision, book.id, "open", tuple(int(c) for c in book.cols))
            )
            exits: dict[int, list[int]] = {}
            for col, x in zip(book.cols, book.name_exit, strict=True):
                if x < NEVER:
                    exits.setdefault(int(x), []).append(int(col))
            for x, cols in exits.items():
                by_session.setdefault(x - 1, []).append(
                    Action(x - 1, book.id, "close", tuple(cols))
                )
        for actions in by_session.values():
            actions.sort(key=lambda a: (a.kind != "close", a.book))
        return by_session


# -- the planner --------------------------------------------------------------------------------


class _Open:
    """Planner state of an open book: which names are still held and its next forced fill."""

    __slots__ = ("book", "held", "next_end", "stop_at", "stop_label", "stop_upto")

    def __init__(self, book: Book, ends_at: np.ndarray) -> None:
        self.book = book
        self.held = np.ones(len(book.cols), dtype=bool)
        self.next_end = int(ends_at[book.cols].min())  # the first data-end close among held
        self.stop_at = NEVER  # the fill session of the first stop found
        self.stop_label = ""
        self.stop_upto = book.entry - 1  # closes checked for stops so far


@dataclass(frozen=True)
class EventSchedule:
    """Events placed on the run's sessions, computed once per market and calendar (a sweep or
    a placebo plans many times on it): ``index[k]`` is event k's entry session in the run, or
    -1 with ``reasons[k]`` saying why it cannot be traded (before or after the run). An entry
    at the run's first session (index 0) can be traded only with an entry delay."""

    events: Sequence[Event]
    entries: Sequence[pd.Timestamp | None]
    index: np.ndarray
    reasons: tuple[str, ...]
    directions: np.ndarray

    @classmethod
    def of(
        cls, market: MarketData, events: Sequence[Event], entries: Sequence[pd.Timestamp | None]
    ) -> EventSchedule:
        sessions = market.sessions
        index = np.full(len(events), -1, dtype=np.int64)
        known = [k for k, e in enumerate(entries) if e is not None]
        if known:
            index[known] = sessions.get_indexer(pd.DatetimeIndex([entries[k] for k in known]))
        first, last = sessions[0], sessions[-1]
        reasons = []
        for k, entry in enumerate(entries):
            i = int(index[k])
            if entry is None:
                why = "known after the last session of the NYSE calendar"
            elif i < 0 and entry < first:
                why = f"entry session {entry.date()} is before the run ({first.date()})"
            elif i < 0 and entry > last:
                why = f"entry session {entry.date()} is after the run ({last.date()})"
            elif i < 0:
                why = f"entry session {entry.date()} is not a session of the run"
            else:
                why = ""
            if why:
                index[k] = -1
            reasons.append(why)
        directions = np.array([e.direction for e in events], dtype=float)
        return cls(tuple(events), tuple(entries), index, tuple(reasons), directions)

    def moved(self, index: np.ndarray, sessions: pd.DatetimeIndex) -> EventSchedule:
        """The same events entering on other sessions of ``sessions`` (a placebo calendar);
        an index of -1 keeps the event out, with its reason."""
        entries = tuple(
            sessions[i] if i >= 0 else e for i, e in zip(index, self.entries, strict=True)
        )
        return EventSchedule(self.events, entries, index, self.reasons, self.directions)


def build_plan(
    market: MarketData,
    strategy: Strategy,
    events: Sequence[Event] | EventSchedule,
    entry_sessions: Sequence[pd.Timestamp | None] | None = None,
    weights: np.ndarray | None = None,
    sizing_cache: dict | None = None,
) -> Plan:
    """Apply the strategy's policies at every decision close of the run.

    ``events`` with ``entry_sessions[k]`` the entry session of ``events[k]``
    (data.calendar.entry_sessions), or an :class:`EventSchedule` made once for many plans;
    ``weights[k]``: event k's weight for a weighted signal (None otherwise). ``sizing_cache``:
    a dict kept across plans on the same market (a sweep) to reuse built-in sizers' answers.
    """
    if not isinstance(events, EventSchedule):
        events = EventSchedule.of(market, events, entry_sessions or [])
    planner = _Planner(market, strategy, events, weights, sizing_cache)
    planner.run()
    return planner.plan


class BookOpener:
    """Sizes a book exactly as the planner opens one (the same code), for a caller that places
    books itself (the placebo's fast calendars, strategies/calendar_planner.py).

    ``open(f, total, side)`` returns the book the planner would open at the open of ``f`` for
    a net signal ``total`` of sign ``side`` (its id is 0, its exits unset), or (None, why) when
    it cannot open. Single-book strategies only: the per_event gross cap needs the open books.
    """

    def __init__(
        self,
        market: MarketData,
        strategy: Strategy,
        weights: np.ndarray | None = None,
        sizing_cache: dict | None = None,
    ) -> None:
        empty = EventSchedule.of(market, [], [])
        self._planner = _Planner(market, strategy, empty, weights, sizing_cache)

    def sizing_key(self, f: int, side: int) -> tuple | None:
        """What the book opened at ``f`` depends on, besides the signal's scale: the planner's
        own memo key for a built-in sizer (side, decision close unless the sizer reads no
        prices, eligible names), None for another sizer."""
        planner = self._planner
        if not planner.pure_sizer:
            return None
        t = f - 1
        row = planner.eligible[t]
        return (side, t if planner.reads_prices else -1, row[planner.all_cols].tobytes())

    def open(self, f: int, total: float, side: int) -> tuple[Book | None, str]:
        planner = self._planner
        planner.open.clear()
        planner.plan.books.clear()
        book, why = planner._open(f, total, side)
        planner.open.clear()
        planner.plan.books.clear()
        return book, why


class _Planner:
    def __init__(
        self, market, strategy, schedule: EventSchedule, weights, sizing_cache=None
    ) -> None:
        self.market = market
        self.s = strategy
        self.n = n = len(market.sessions)
        self.plan = Plan(market, strategy, _events=schedule.events, _entries=schedule.entries)
        self.outcomes: list = [None] * len(schedule.events)
        self.plan._outcomes = self.outcomes
        self.events = schedule.events
        self.has_bar = market.has_bar
        last = market.last_bar
        self.ends_at = np.where((last >= 0) & (last < n - 1), last, NEVER)  # per column
        self.leg_cols = [
            np.array([market.column(t) for t in leg.tickers], dtype=np.int64)
            for leg in strategy.legs
        ]
        self.all_cols = np.concatenate(self.leg_cols)
        self.eligible = market.eligible
        self.open: list[_Open] = []
        self.hold = int(strategy.hold)
        self.max_hold = strategy.exits.max_hold
        self.watch = strategy.exits.uses_returns
        self.per_event = strategy.books.kind == "per_event"
        self.counter = strategy.books.counter
        self.history = strategy.costs.history
        # Built-in sizers' answers, shared across plans of one market (a sweep): one table per
        # (sizer, cost history, legs), hashed once per plan, keyed by (side, session, names).
        cache = sizing_cache if sizing_cache is not None else {}
        self.memo: dict = cache.setdefault((strategy.sizer, self.history, strategy.legs), {})
        self.reads_prices = getattr(strategy.sizer, "uses_prices", True) or bool(self.history)
        self.pure_sizer = type(strategy.sizer) in PURE_SIZERS
        self._map_events(schedule, weights)

    # -- events -> signals per fill session ------------------------------------------------------

    def _map_events(self, schedule: EventSchedule, weights) -> None:
        n = self.n
        delay = int(self.s.books.delay)
        directions = schedule.directions
        values = self.s.signal.values(directions, weights) if len(directions) else directions
        self.by_session: dict[int, list[int]] = {}
        for k, i in enumerate(schedule.index.tolist()):
            if i < 0:
                self.outcomes[k] = ("ignored", schedule.reasons[k], None)
            elif i + delay == 0:
                self.outcomes[k] = (
                    "ignored",
                    f"entry session {self.market.sessions[0].date()} is the run's first session: "
                    "there is no decision close before it inside the run",
                    None,
                )
            elif i + delay > n - 1:
                self.outcomes[k] = (
                    "ignored",
                    f"entry session {self.market.sessions[i].date()} + {delay} session(s) of "
                    "delay is after the run",
                    None,
                )
            else:
                self.by_session.setdefault(i + delay, []).append(k)
        self.values = values
        self.signal_sessions = sorted(self.by_session)

    def _record(self, f: int, todays: list[int], total: float, action: str, book, reason) -> None:
        """The action of fill session ``f`` for the events that drove it; events against a
        nonzero net signal were outweighed."""
        sign = (total > 0) - (total < 0)
        for k in todays:
            d = self.events[k].direction
            if sign != 0 and (d > 0) != (sign > 0):
                self.outcomes[k] = (
                    "ignored",
                    "outweighed by opposite events entering the same session",
                    None,
                )
            else:
                self.outcomes[k] = (action, reason, book)

    def _day(self, k: int) -> str:
        if k < self.n:
            return str(self.market.sessions[k].date())
        return f"+{k - self.n + 1} after the run's end"

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        signals = self.signal_sessions
        j = 0
        while True:
            s = signals[j] if j < len(signals) else NEVER
            forced = NEVER
            for o in self.open:
                forced = min(forced, self._next_forced(o))
            f = min(s, forced)
            if f >= self.n:
                break
            opened: set[int] = set()
            self.scheduled_done = False
            if f == s:
                opened = self._signal(f, self.by_session[f])
                j += 1
            if not self.scheduled_done:
                for o in list(self.open):
                    if o.book.id not in opened:
                        self._scheduled(o, f)

    def _scheduled_all(self, f: int) -> None:
        """(b)-(d) for every open book at ``f`` (per-event sub-books, before a new one opens:
        its gross cap counts the sub-books still open after every close of that open)."""
        for o in list(self.open):
            self._scheduled(o, f)
        self.scheduled_done = True

    def _next_forced(self, o: _Open) -> int:
        book = o.book
        f = book.planned_exit
        if self.watch:
            self._scan_stops(o, f)
            f = min(f, o.stop_at)
        return min(f, o.next_end)

    def _scheduled(self, o: _Open, f: int) -> None:
        """(b) the planned exit, (c) a stop, (d) names whose data ends, at the open of ``f``."""
        book = o.book
        if self.watch:  # the signal at f may have extended the book: scan up to the new exit
            self._scan_stops(o, book.planned_exit)
        if book.planned_exit == f:
            capped = self.max_hold is not None and book.uncapped_exit > f
            self._close(o, f, "max_hold" if capped else "hold")
        elif self.watch and o.stop_at == f:
            self._close(o, f, o.stop_label)
        else:
            ending = o.held & (self.ends_at[book.cols] == f)
            if ending.any():
                book.name_exit[ending] = f
                o.held &= ~ending
                if not o.held.any():
                    book.exit, book.closed_by = f, "data_end"
                    self.open.remove(o)
                else:
                    o.next_end = int(self.ends_at[book.cols[o.held]].min())

    def _close(self, o: _Open, f: int, why: str) -> None:
        book = o.book
        book.name_exit[o.held] = f
        book.exit, book.closed_by = f, why
        self.open.remove(o)

    def _set_exit(self, book: Book, exit_: int) -> None:
        book.uncapped_exit = exit_
        if self.max_hold is not None:
            exit_ = min(exit_, book.entry + self.max_hold)
        book.planned_exit = exit_

    # -- signals ----------------------------------------------------------------------------------

    def _signal(self, f: int, todays: list[int]) -> set[int]:
        """(a): the net signal of the events entering at ``f``; returns the ids of the books it
        opened (their scheduled exits and stops do not apply at ``f``)."""
        total = (
            float(self.values[todays].sum()) if len(todays) > 1 else float(self.values[todays[0]])
        )
        if total == 0:
            self._record(f, todays, total, "ignored", None, "cancelled by an opposite event")
            return set()
        side = 1 if total > 0 else -1
        if side < 0 and self.counter == "ignore":
            self._record(
                f,
                todays,
                total,
                "ignored",
                None,
                "counter-triggers ignored (strategy.books.counter)",
            )
            return set()
        if self.per_event:
            return self._signal_per_event(f, todays, total, side)
        return self._signal_single(f, todays, total, side)

    def _signal_single(self, f, todays, total, side) -> set[int]:
        o = self.open[0] if self.open else None
        if o is not None and o.book.direction == side:
            book = o.book
            old = book.planned_exit
            self._set_exit(book, max(book.uncapped_exit, f + self.hold))
            book.extensions += 1
            new = book.planned_exit
            self._record(
                f,
                todays,
                total,
                "extended",
                book.id,
                lambda: f"book {book.id} exit moved from {self._day(old)} to {self._day(new)}",
            )
            return set()
        if o is not None:  # the book is against the signal
            closed = o.book
            if self.counter != "reverse":
                self._close(o, f, "counter")
                self._record(
                    f,
                    todays,
                    total,
                    "closed",
                    closed.id,
                    lambda: f"book {closed.id} closed at the open of {self._day(f)}",
                )
                return set()
            self._close(o, f, "counter")
            opened, why = self._open(f, total, side)
            if opened is None:
                self._record(
                    f,
                    todays,
                    total,
                    "closed",
                    closed.id,
                    lambda: (
                        f"book {closed.id} closed at the open of {self._day(f)}; the "
                        f"reversed book was not opened: {why}"
                    ),
                )
                return set()
            self._record(
                f,
                todays,
                total,
                "reversed",
                opened.id,
                lambda: (
                    f"book {closed.id} closed and book {opened.id} "
                    f"({'+1' if side > 0 else '-1'}) opened at the open of {self._day(f)}, exit "
                    f"planned at session {self._day(opened.planned_exit)}"
                ),
            )
            return {opened.id}
        if side < 0 and self.counter == "close":
            self._record(f, todays, total, "ignored", None, "counter-trigger while flat")
            return set()
        return self._open_and_record(f, todays, total, side)

    def _signal_per_event(self, f, todays, total, side) -> set[int]:
        against = [o for o in self.open if o.book.direction != side]
        closed = [o.book.id for o in against]
        for o in against:
            self._close(o, f, "counter")
        names = ", ".join(map(str, closed))
        self._scheduled_all(f)
        if side < 0 and self.counter == "close":
            if closed:
                self._record(
                    f,
                    todays,
                    total,
                    "closed",
                    closed[0],
                    lambda: f"book(s) {names} closed at the open of {self._day(f)}",
                )
            else:
                self._record(f, todays, total, "ignored", None, "counter-trigger while flat")
            return set()
        if not closed:
            return self._open_and_record(f, todays, total, side)
        opened, why = self._open(f, total, side)
        if opened is None:
            self._record(
                f,
                todays,
                total,
                "closed",
                closed[0],
                lambda: (
                    f"book(s) {names} closed at the open of {self._day(f)}; no book opened: {why}"
                ),
            )
            return set()
        self._record(
            f,
            todays,
            total,
            "reversed",
            opened.id,
            lambda: (
                f"book(s) {names} closed and book {opened.id} opened at the open of "
                f"{self._day(f)}, exit planned at session {self._day(opened.planned_exit)}"
            ),
        )
        return {opened.id}

    def _open_and_record(self, f, todays, total, side) -> set[int]:
        book, why = self._open(f, total, side)
        if book is None:
            self._record(f, todays, total, "ignored", None, why)
            return set()
        planned = book.planned_exit
        self._record(
            f,
            todays,
            total,
            "opened",
            book.id,
            lambda: f"book {book.id} opened, exit planned at session {self._day(planned)}",
        )
        return {book.id}

    # -- opening ----------------------------------------------------------------------------------

    def _open(self, f: int, total: float, side: int) -> tuple[Book | None, str]:
        """Size and record a new book at the open of ``f``; (None, why) when it cannot open."""
        t = f - 1
        row = self.eligible[t]
        memo_key = None
        if self.pure_sizer:
            # A built-in sizer's answer depends on the decision close (unless it reads no
            # prices), the eligible names and the side only: plans of one sweep share it.
            memo_key = (side, t if self.reads_prices else -1, row[self.all_cols].tobytes())
            hit = self.memo.get(memo_key)
            if hit is not None:
                if hit[0] is None:
                    return None, hit[1]
                return self._new_book(t, f, side, total, *hit)
        legs = [
            LegSlice(leg.name, leg.side * side, leg.share, cols[row[cols]])
            for leg, cols in zip(self.s.legs, self.leg_cols, strict=True)
        ]
        sigma = adv = None
        excluded: list[tuple[int, str]] = []
        if self.history:
            view = MarketView(self.market, t)
            legs, sigma_all, adv_all, excluded = self._cost_history(view, legs)
        empty = next((leg for leg in legs if not len(leg.cols)), None)
        if empty is not None:
            word = self._leg_word(empty)
            reason = (
                f"no {word} has bars on {self.market.sessions[t].date()} and "
                f"{self.market.sessions[f].date()}"
            )
            if excluded:
                reason += f" and the cost model's history ({excluded[0][1]})"
            if memo_key is not None:
                self.memo[memo_key] = (None, reason)
            return None, reason
        sizing = self.s.sizer.size(MarketView(self.market, t), legs)
        if sizing.refused:
            reason = f"{self.s.sizer.name} sizer: {sizing.refused}"
            if memo_key is not None:
                self.memo[memo_key] = (None, reason)
            return None, reason
        cols = sizing.cols.astype(np.int64)
        if self.history:
            order = {int(c): k for k, c in enumerate(np.concatenate([leg.cols for leg in legs]))}
            pick = [order[int(c)] for c in cols]
            sigma, adv = sigma_all[pick], adv_all[pick]
        entry = (sizing, cols, sigma, adv, tuple(excluded) + tuple(sizing.excluded))
        if memo_key is not None:
            cols.setflags(write=False)
            sizing.weights.setflags(write=False)
            self.memo[memo_key] = entry
        return self._new_book(t, f, side, total, *entry)

    def _new_book(self, t, f, side, total, sizing, cols, sigma, adv, excluded):
        scale = abs(total) if self.s.signal.scale_size else 1.0
        gross = self.s.book_gross(sizing.unit_vol, scale)
        if self.per_event:
            used = sum(o.book.gross for o in self.open)
            if used + gross > self.s.max_gross * (1 + 1e-12):
                return None, (
                    f"gross cap: sub-books open with gross {used:g} of max_gross "
                    f"{self.s.max_gross:g}"
                )
        book = Book(
            id=len(self.plan.books),
            direction=side,
            decision=t,
            entry=f,
            planned_exit=f + self.hold,
            cols=cols,
            weights=sizing.weights,
            name_exit=np.full(len(cols), NEVER, dtype=np.int64),
            gross=gross,
            signal_scale=scale,
            unit_vol=float(sizing.unit_vol),
            sigma=sigma,
            adv=adv,
            excluded=excluded,
        )
        self._set_exit(book, f + self.hold)
        self.plan.books.append(book)
        self.open.append(_Open(book, self.ends_at))
        return book, ""

    def _leg_word(self, leg: LegSlice) -> str:
        if len(self.s.legs) == 2 and {lg.name for lg in self.s.legs} == {"long", "short"}:
            return "long name" if leg.side > 0 else "short name"
        return f"name of leg {leg.name!r}"

    def _cost_history(self, view: MarketView, legs: list[LegSlice]):
        """Drop names without the cost model's history at the decision close; return the legs,
        sigma and ADV of the kept names (in leg order) and the exclusions."""
        lookback = self.history
        all_cols = np.concatenate([leg.cols for leg in legs])
        sigma, adv = trailing_sigma_adv(view.close[:, all_cols], view.volume[:, all_cols], lookback)
        ok = np.isfinite(sigma) & np.isfinite(adv) & (adv > 0)
        excluded = [
            (int(c), f"no {lookback}-session volume history for the cost model")
            for c, k in zip(all_cols, ok, strict=True)
            if not k
        ]
        kept, start = [], 0
        for leg in legs:
            mask = ok[start : start + len(leg.cols)]
            kept.append(LegSlice(leg.name, leg.side, leg.share, leg.cols[mask]))
            start += len(leg.cols)
        return kept, sigma[ok], adv[ok], excluded

    # -- stops ------------------------------------------------------------------------------------

    def _scan_stops(self, o: _Open, planned_exit: int) -> None:
        """Find the first close in [entry, planned_exit - 2] where a stop fires (fills at the
        next open), extending the scan when the book was extended."""
        upto = min(planned_exit - 2, self.n - 2)
        if o.stop_at < NEVER or upto <= o.stop_upto:
            return
        book = o.book
        r = self._returns(book, upto)
        first = max(o.stop_upto + 1, book.entry) - book.entry
        last = upto - book.entry + 1
        ex = self.s.exits
        best, label = NEVER, ""
        # The first close where any rule fires; at one close, stop_loss beats trailing_stop
        # beats take_profit (checked in that order, a later one only wins at an earlier close).
        if ex.stop_loss is not None:
            hit = np.flatnonzero(r[first:last] <= -ex.stop_loss)
            if hit.size:
                best, label = int(hit[0]), "stop_loss"
        if ex.trailing_stop is not None:
            peak = np.maximum(np.maximum.accumulate(r[:last]), 0.0)
            hit = np.flatnonzero(peak[first:] - r[first:last] >= ex.trailing_stop)
            if hit.size and int(hit[0]) < best:
                best, label = int(hit[0]), "trailing_stop"
        if ex.take_profit is not None:
            hit = np.flatnonzero(r[first:last] >= ex.take_profit)
            if hit.size and int(hit[0]) < best:
                best, label = int(hit[0]), "take_profit"
        if best < NEVER:
            o.stop_at, o.stop_label = book.entry + first + best + 1, label
        o.stop_upto = upto

    def _returns(self, book: Book, upto: int) -> np.ndarray:
        """R_t of ``book`` from its entry to at least ``upto``. Books of a built-in sizer share
        their weights across the plans of a sweep, so their paths are kept with them."""
        key = ("returns", id(book.weights), book.decision)
        got = self.memo.get(key) if self.pure_sizer else None
        if got is None or got[1] < upto:
            horizon = min(self.n - 2, max(upto, 2 * upto - book.entry + 20))
            window = np.arange(book.entry, horizon + 1)
            got = (book_returns(self.market, book, window, self.ends_at), horizon, book.weights)
            if self.pure_sizer:  # the entry keeps the weights alive, so their id stays theirs
                self.memo[key] = got
        return got[0]


def book_returns(
    market: MarketData, book: Book, window: np.ndarray, ends_at: np.ndarray
) -> np.ndarray:
    """R_t of ``book`` at the closes of ``window`` (module doc of strategies.policies.exits):
    names whose data ended count at their exit open from that session on."""
    cols = book.cols
    base = market.close[book.decision, cols]
    close = market.close[window[0] : window[-1] + 1][:, cols]  # window is consecutive
    end = ends_at[cols]
    ended = window[:, None] >= end[None, :]
    if ended.any():
        exit_open = market.open[np.minimum(end, len(market.sessions) - 1), cols]
        close = np.where(ended, exit_open[None, :], close)
    return (close / base[None, :] - 1.0) @ book.weights


Reason = str | Callable[[], str]
