"""A plan as flat arrays: what the vectorised engine needs of its books, computed once per plan.

Nothing here depends on a config's gross, costs or cash: everything is per unit of "gross x
equity at the decision close". Three levels, all built with numpy index arithmetic (no loop
over books):

- books k: decision, entry, last session counted (its exit, or the run's last session), closed;
- members p (a book's names): column, unit shares u_p = w_p / close[decision, col] (signed),
  the session whose open closes it (n when never inside the run), opens at entry and exit;
- window positions j (each book's sessions entry..last, books concatenated), and member
  positions (member p at each position of its book's window).

Per window position, the linear-cost aggregates of the closed form (engine doc):
M = sum u close over held members (mark to market), X = cumulative sum of -tau x open over
fills (tau = +u at entry, -u at exit), Y = cumulative -|tau| x open, and two borrow aggregates,
cumulative fees per unit for the shorts held at earlier closes: ``B_rate`` to multiply by the
config's flat borrow rate, ``B_fixed`` already at each name's own rate (per-ticker or table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.market import MarketData
from strategies.plan import NEVER, Plan

DAY_NS = 86_400_000_000_000


@dataclass(frozen=True)
class PlanArrays:
    n_sessions: int
    # books
    decision: np.ndarray
    entry: np.ndarray
    last: np.ndarray
    closed: np.ndarray
    signal_scale: np.ndarray
    unit_vol: np.ndarray
    start: np.ndarray  # first window position of each book
    end: np.ndarray  # last window position of each book (inclusive)
    # members
    member_book: np.ndarray
    member_col: np.ndarray
    units: np.ndarray
    member_exit: np.ndarray
    open_entry: np.ndarray
    open_exit: np.ndarray  # 0 where the member never exits inside its window
    sigma: np.ndarray
    adv: np.ndarray
    # window positions
    position_book: np.ndarray
    position_session: np.ndarray
    M: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    B_rate: np.ndarray
    B_fixed: np.ndarray
    # member positions (for the general path): member, window position, its close where held
    # (0 otherwise), and the borrow per share debited up to that position's open, to multiply
    # by the flat rate (``rate``) or already at the name's own rate (``fixed``)
    mp_member: np.ndarray
    mp_position: np.ndarray
    mp_close_held: np.ndarray
    mp_borrow_rate: np.ndarray
    mp_borrow_fixed: np.ndarray

    @property
    def n_books(self) -> int:
        return len(self.decision)

    @property
    def overlapping(self) -> bool:
        """Whether a book opens before the previous one's last session (per_event)."""
        return bool(self.n_books > 1 and (self.decision[1:] < self.last[:-1]).any())


def _segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For consecutive segments of the given lengths: the segment of each element, its offset
    inside the segment, and each segment's first element."""
    starts = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths):
        starts[1:] = np.cumsum(lengths)[:-1]
    total = int(lengths.sum()) if len(lengths) else 0
    which = np.repeat(np.arange(len(lengths)), lengths)
    offset = np.arange(total) - starts[which]
    return which, offset, starts


def _segment_cumsum(values: np.ndarray, starts: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at every segment start."""
    if not len(values):
        return values
    total = np.cumsum(values)
    before = np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0.0)
    return total - before[which]


def plan_arrays(
    market: MarketData, plan: Plan, borrow_fixed: np.ndarray | None = None
) -> PlanArrays:
    """The arrays of ``plan`` on ``market``.

    ``borrow_fixed``: (sessions, tickers) annual borrow rates of names with their own rate,
    NaN where the config's flat rate applies (None: the flat rate everywhere).
    """
    n = len(market.sessions)
    books = plan.books
    K = len(books)
    decision = np.array([b.decision for b in books], dtype=np.int64)
    entry = decision + 1
    closed = np.array([b.exit is not None for b in books], dtype=bool)
    last = np.array([b.exit if b.exit is not None else n - 1 for b in books], dtype=np.int64)
    sizes = np.array([len(b.cols) for b in books], dtype=np.int64)
    member_book = np.repeat(np.arange(K), sizes)
    if K:
        member_col = np.concatenate([b.cols for b in books]).astype(np.int64)
        weights = np.concatenate([b.weights for b in books])
        member_exit = np.minimum(np.concatenate([b.name_exit for b in books]), n)
        has_sigma = all(b.sigma is not None for b in books)
        sigma = (
            np.concatenate([b.sigma for b in books])
            if has_sigma
            else np.full(len(member_col), np.nan)
        )
        adv = (
            np.concatenate([b.adv for b in books])
            if has_sigma
            else np.full(len(member_col), np.nan)
        )
    else:
        member_col = member_exit = np.empty(0, dtype=np.int64)
        weights = sigma = adv = np.empty(0)
    member_exit = np.where(member_exit >= NEVER, n, member_exit)
    units = weights / market.close[decision[member_book], member_col]

    w = window_arrays(
        market, entry, last, member_book, member_col, units, member_exit, borrow_fixed
    )
    return PlanArrays(
        n_sessions=n,
        decision=decision,
        entry=entry,
        last=last,
        closed=closed,
        signal_scale=np.array([b.signal_scale for b in books], dtype=float),
        unit_vol=np.array([b.unit_vol for b in books], dtype=float),
        start=w.start,
        end=w.end,
        member_book=member_book,
        member_col=member_col,
        units=units,
        member_exit=member_exit,
        open_entry=w.open_entry,
        open_exit=w.open_exit,
        sigma=sigma,
        adv=adv,
        position_book=w.position_book,
        position_session=w.position_session,
        M=w.M,
        X=w.X,
        Y=w.Y,
        B_rate=w.B_rate,
        B_fixed=w.B_fixed,
        mp_member=w.mp_member,
        mp_position=w.mp_position,
        mp_close_held=w.mp_close_held,
        mp_borrow_rate=w.mp_borrow_rate,
        mp_borrow_fixed=w.mp_borrow_fixed,
    )


@dataclass(frozen=True)
class WindowArrays:
    """The window-position and member-position arrays of :class:`PlanArrays` (see the module
    doc), with the fills' opens they are built from."""

    open_entry: np.ndarray
    open_exit: np.ndarray
    exits_inside: np.ndarray
    start: np.ndarray
    end: np.ndarray
    position_book: np.ndarray
    position_session: np.ndarray
    M: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    B_rate: np.ndarray
    B_fixed: np.ndarray
    mp_member: np.ndarray
    mp_position: np.ndarray
    mp_close_held: np.ndarray
    mp_borrow_rate: np.ndarray
    mp_borrow_fixed: np.ndarray
    position_bounds: np.ndarray | None  # with book_plan: each plan's slice of the positions


def _cumsum_by_plan(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """np.cumsum of each plan's slice (plans are the slices bounds[i]:bounds[i + 1])."""
    out = np.empty_like(values)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi > lo:
            np.cumsum(values[lo:hi], out=out[lo:hi])
    return out


def _bounds(plan_of: np.ndarray, lengths: np.ndarray, plans: int) -> np.ndarray:
    bounds = np.zeros(plans + 1, dtype=np.int64)
    bounds[1:] = np.cumsum(np.bincount(plan_of, lengths, minlength=plans)).astype(np.int64)
    return bounds


def window_arrays(
    market: MarketData,
    entry: np.ndarray,
    last: np.ndarray,
    member_book: np.ndarray,
    member_col: np.ndarray,
    units: np.ndarray,
    member_exit: np.ndarray,
    borrow_fixed: np.ndarray | None = None,
    book_plan: np.ndarray | None = None,
    plans: int = 1,
) -> WindowArrays:
    """The per-position aggregates of books (entry, last) and their members (module doc).

    ``book_plan``: for the books of several plans concatenated (the placebo's calendars), the
    plan of each book (0..plans-1, a plan may have none); the running sums then restart at
    each plan, so every plan's arrays are bit-identical to those of the plan alone. None: one
    plan.
    """
    n = len(market.sessions)
    open_entry = market.open[entry[member_book], member_col]
    exits_inside = member_exit <= last[member_book]
    open_exit = np.where(exits_inside, market.open[np.minimum(member_exit, n - 1), member_col], 0.0)
    lengths = last - entry + 1
    position_book, offset, start = _segments(lengths)
    position_session = entry[position_book] + offset
    end = start + lengths - 1
    J = len(position_book)
    position_bounds = None
    if book_plan is None:

        def positions_cumsum(values: np.ndarray) -> np.ndarray:
            return _segment_cumsum(values, start, position_book)

    else:
        position_bounds = _bounds(book_plan, lengths, plans)
        local_start = start - position_bounds[book_plan]

        def positions_cumsum(values: np.ndarray) -> np.ndarray:
            return _plan_segment_cumsum(values, position_bounds, start, local_start, position_book)

    # Member positions: member p at every position of its book's window.
    mp_member, mp_offset, _ = _segments(lengths[member_book])
    mp_position = start[member_book][mp_member] + mp_offset
    mp_session = position_session[mp_position]
    col = member_col[mp_member]
    held = mp_session < member_exit[mp_member]  # held at this close
    close = np.nan_to_num(market.close[mp_session, col])
    mp_close_held = np.where(held, close, 0.0)
    u = units[mp_member]
    M = np.bincount(mp_position, u * mp_close_held, minlength=J)

    # Fills: entry at the book's first position, exit at the member's exit session if inside.
    tau_x = np.zeros(J)
    tau_y = np.zeros(J)
    first = start[member_book]
    np.add.at(tau_x, first, -units * open_entry)
    np.add.at(tau_y, first, -np.abs(units) * open_entry)
    inside = np.flatnonzero(exits_inside)
    exit_pos = first[inside] + (member_exit[inside] - entry[member_book[inside]])
    np.add.at(tau_x, exit_pos, units[inside] * open_exit[inside])
    np.add.at(tau_y, exit_pos, -np.abs(units[inside]) * open_exit[inside])
    X = positions_cumsum(tau_x)
    Y = positions_cumsum(tau_y)

    # Borrow: a short held at the close of s pays |u| close_s nights_s / 365 x rate_s at the
    # open of s + 1, the next position of its window (the book's last counted session has no
    # next open inside the book). Per share, cumulated along each member's window.
    days = market.sessions.asi8 // DAY_NS
    nights = np.zeros(n)
    nights[:-1] = np.diff(days)
    pays = held & (u < 0) & (mp_session < last[member_book[mp_member]])
    per_share = np.where(pays, close * nights[mp_session] / 365.0, 0.0)
    if borrow_fixed is not None:
        rate = np.where(pays, borrow_fixed[mp_session, col], np.nan)
    else:
        rate = np.full(len(mp_member), np.nan)
    debit = np.zeros(len(mp_member))
    debit_rate = np.full(len(mp_member), np.nan)
    debit[1:] = per_share[:-1]
    debit_rate[1:] = rate[:-1]
    debit[mp_offset == 0] = 0.0  # a member's first position: nothing held before it
    own = np.isfinite(debit_rate)
    member_starts = np.zeros(len(member_book), dtype=np.int64)
    if len(member_book):
        member_starts[1:] = np.cumsum(lengths[member_book])[:-1]
    if book_plan is None:

        def members_cumsum(values: np.ndarray) -> np.ndarray:
            return _segment_cumsum(values, member_starts, mp_member)

    else:
        member_plan = book_plan[member_book]
        mp_bounds = _bounds(member_plan, lengths[member_book], plans)
        local_member_starts = member_starts - mp_bounds[member_plan]

        def members_cumsum(values: np.ndarray) -> np.ndarray:
            return _plan_segment_cumsum(
                values, mp_bounds, member_starts, local_member_starts, mp_member
            )

    mp_borrow_rate = members_cumsum(np.where(own, 0.0, debit))
    mp_borrow_fixed = members_cumsum(np.where(own, debit * np.nan_to_num(debit_rate), 0.0))
    B_rate = np.bincount(mp_position, np.abs(u) * mp_borrow_rate, minlength=J)
    B_fixed = np.bincount(mp_position, np.abs(u) * mp_borrow_fixed, minlength=J)

    return WindowArrays(
        open_entry=open_entry,
        open_exit=open_exit,
        exits_inside=exits_inside,
        start=start,
        end=end,
        position_book=position_book,
        position_session=position_session,
        M=M,
        X=X,
        Y=Y,
        B_rate=B_rate,
        B_fixed=B_fixed,
        mp_member=mp_member,
        mp_position=mp_position,
        mp_close_held=mp_close_held,
        mp_borrow_rate=mp_borrow_rate,
        mp_borrow_fixed=mp_borrow_fixed,
        position_bounds=position_bounds,
    )


def _plan_segment_cumsum(values, bounds, starts, local_starts, which):
    """:func:`_segment_cumsum` of every plan: each plan's running sum, restarted at its
    segments' starts (``starts`` global, ``local_starts`` inside their plan)."""
    if not len(values):
        return values
    total = _cumsum_by_plan(values, bounds)
    before = np.where(local_starts > 0, total[np.maximum(starts - 1, 0)], 0.0)
    return total - before[which]
