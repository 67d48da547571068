"""The books of many calendars of one strategy, fast: the planner's single-book rules replayed on
integer sessions, for the placebo's thousands of calendars (strategies/plan.py is the reference;
tests/test_placebo_fast.py compares the two book by book and metric by metric).

It covers strategies whose plan is a chain of books with no path-dependent exit
(:func:`refusal` names what it does not cover; the caller then uses ``build_plan``): one book
at a time (``books.kind = "single"``), counter-triggers that close or are ignored (a reversal
opens a book over the closing one), no stop_loss / trailing_stop / take_profit, a built-in
sizer. Books are sized by :class:`strategies.plan.BookOpener` (the planner's own code), once
per (side, fill session, signal scale) for all calendars.

The rules replayed (README, "Strategy policies"), at each fill session f with events (in
schedule order) and net signal S: a book whose planned exit or data end (the last bar of all
its names) comes before f closes there first; then S = 0 or an ignored counter-trigger does
nothing, S of the book's side extends its exit to max(exit, f + hold) (capped by max_hold), S
against it closes it at f, and S while flat opens a book at f (+1; a -1 while flat with
counter = close is ignored); then a book that was not just opened closes at f if its planned
exit or data end is f. Each name leaves at min(its data end, the book's exit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.market import MarketData
from strategies.plan import NEVER, PURE_SIZERS, Book, BookOpener, EventSchedule
from strategies.strategy import Strategy


def refusal(strategy: Strategy) -> str:
    """Why the fast calendar planner cannot plan ``strategy`` ("" when it can)."""
    if strategy.books.kind != "single":
        return f"books.kind = {strategy.books.kind!r} (sub-books overlap)"
    if strategy.books.counter not in ("close", "ignore"):
        return f"books.counter = {strategy.books.counter!r} (a reversal overlaps the closing book)"
    if strategy.exits.uses_returns:
        return "a stop or take-profit (exits depend on the book's path)"
    if type(strategy.sizer) not in PURE_SIZERS:
        return f"the sizer {type(strategy.sizer).__name__} is not a built-in one"
    return ""


@dataclass(frozen=True)
class PlannedBook:
    """One book of a calendar: decided at the close of ``decision``, filled at the next open,
    closed at the open of ``exit`` (-1: still open at the end of the run); ``sized`` is the
    book the planner would open (its names, unit weights, gross, unit vol, signal scale)."""

    decision: int
    exit: int
    sized: Book


class CalendarPlanner:
    """Plans calendars that move the events of ``schedule`` to other sessions.

    ``plan(index)``: ``index[k]`` is event k's entry session (-1: out of the run), as for
    :meth:`EventSchedule.moved`; returns the books in order. Needs a strategy :func:`refusal`
    accepts; ``weights`` as for ``build_plan``.
    """

    def __init__(
        self,
        market: MarketData,
        strategy: Strategy,
        schedule: EventSchedule,
        weights: np.ndarray | None = None,
        sizing_cache: dict | None = None,
    ) -> None:
        why = refusal(strategy)
        if why:
            raise ValueError(f"the fast calendar planner does not cover {why}")
        self.n = len(market.sessions)
        self.strategy = strategy
        directions = schedule.directions
        self.values = strategy.signal.values(directions, weights) if len(directions) else directions
        self.delay = int(strategy.books.delay)
        self.hold = int(strategy.hold)
        self.max_hold = strategy.exits.max_hold
        self.counter = strategy.books.counter
        self.scale_size = bool(strategy.signal.scale_size)
        last = market.last_bar
        self.ends_at = np.where((last >= 0) & (last < self.n - 1), last, NEVER)
        self.opener = BookOpener(market, strategy, weights, sizing_cache)
        self._sized: dict[tuple, tuple[Book | None, int]] = {}

    def _open(self, f: int, total: float, side: int) -> tuple[Book | None, int]:
        """The sized book at ``f`` and the session its names have all ended (NEVER if not)."""
        # Books whose sizing the planner's memo shares (a built-in sizer that reads no prices
        # shares it across sessions with the same eligible names) share their entry here.
        sizing = self.opener.sizing_key(f, side)
        key = (sizing if sizing is not None else (side, f), abs(total) if self.scale_size else 1.0)
        got = self._sized.get(key)
        if got is None:
            book, _ = self.opener.open(f, total, side)
            end = int(self.ends_at[book.cols].max()) if book is not None else NEVER
            got = self._sized[key] = (book, end)
        return got

    def _capped(self, entry: int, uncapped: int) -> int:
        return uncapped if self.max_hold is None else min(uncapped, entry + self.max_hold)

    def plan(self, index: np.ndarray) -> list[PlannedBook]:
        n, delay = self.n, self.delay
        by_session: dict[int, list[int]] = {}
        for k, i in enumerate(index.tolist()):
            if i >= 0 and 0 < i + delay <= n - 1:
                by_session.setdefault(i + delay, []).append(k)
        values = self.values
        books: list[PlannedBook] = []
        book: Book | None = None  # the open book
        entry = uncapped = planned = all_end = 0
        for f in sorted(by_session):
            if book is not None and min(planned, all_end) < f:
                books.append(PlannedBook(entry - 1, min(planned, all_end), book))
                book = None
            todays = by_session[f]
            total = float(values[todays].sum()) if len(todays) > 1 else float(values[todays[0]])
            just_opened = False
            if total != 0:
                side = 1 if total > 0 else -1
                if side < 0 and self.counter == "ignore":
                    pass
                elif book is not None:
                    if book.direction == side:
                        uncapped = max(uncapped, f + self.hold)
                        planned = self._capped(entry, uncapped)
                    else:
                        books.append(PlannedBook(entry - 1, f, book))
                        book = None
                elif side > 0 or self.counter != "close":
                    sized, end = self._open(f, total, side)
                    if sized is not None:
                        book, entry, all_end, just_opened = sized, f, end, True
                        uncapped = f + self.hold
                        planned = self._capped(f, uncapped)
            if book is not None and not just_opened and (planned == f or all_end == f):
                books.append(PlannedBook(entry - 1, f, book))
                book = None
        if book is not None:
            close = min(planned, all_end)
            books.append(PlannedBook(entry - 1, close if close < n else -1, book))
        return books
