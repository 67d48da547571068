"""Placebo calendars: random event dates that keep what the real calendar says about how often
and which way, and (for the default schemes) how the news clusters.

Every scheme takes the number of sessions of the run, the real entry session indices (into the
run's sessions, each in 1..n_sessions-1: an entry needs a decision close before it), the real
directions in chronological order, the number of draws and a numpy Generator, and returns
``(sessions, directions)``, two int64 arrays of shape (draws, events), each row sorted by
session (ties keep the chronological order of the real events). Two events on one session enter
together, as real ones do.

- ``circular``: one offset u per draw, uniform on 0..n-2, added to every real entry position
  modulo the n - 1 eligible sessions (positions 1..n-1 wrap around). Each event keeps its own
  direction. Every gap between consecutive events, every burst and the whole sequence of
  directions are kept exactly (up to a rotation where the calendar wraps); only the alignment
  with the market's path changes. Draws are independent, so two draws can share an offset.
- ``block``: the events are cut into runs of equal direction (the real sequence ++-+++ has the
  runs ++, -, +++). The gaps inside a run are kept; the gaps between runs are permuted at random
  (``Generator.permuted``), and the whole calendar is then placed by a circular offset as above.
  Runs, their directions, their order and their internal spacing are kept; how the runs are
  spaced is drawn from the real spacings.
- ``iid``: entry sessions uniform and independent (with replacement) on 1..n-1, sorted, the k-th
  earliest getting the k-th real direction. Draws the same numbers as the placebo before the
  clustering-preserving schemes (``rng.integers(1, n, size=(draws, events))``), so a seed gives
  the same calendars as before.

**Default: circular.** A placebo answers "would the same calendar have paid as well at another
time?", so it should change the timing and nothing else. The real news is clustered (bursts in
2024-2026, runs of same-direction headlines a few sessions apart), and clustering changes what
a calendar earns: books that overlap are merged or extended, and a burst concentrates the
exposure in one market regime. Uniform independent dates (``iid``) spread the events out and
compare the real, clustered calendar with calendars that never cluster, which is not the null
we want to test. The circular shift keeps every feature of the calendar except its position, so
it is the strictest like-for-like comparison; it offers n - 1 distinct calendars (about 2,900
here), ample for 1,000 draws. ``block`` keeps the runs but reshuffles the space between them,
a looser null that tests whether the real spacing between episodes matters; use it as a
robustness check.
"""

from __future__ import annotations

import numpy as np

from backtests.research.placebo_definitions import SCHEMES
from data.errors import CapexRotationError


class CalendarError(CapexRotationError):
    """Bad input to a placebo calendar scheme."""


def _check(n_sessions: int, entries: np.ndarray, directions: np.ndarray, draws: int) -> None:
    if n_sessions < 2:
        raise CalendarError("the run needs at least two sessions for a placebo calendar")
    if entries.ndim != 1 or entries.shape != directions.shape:
        raise CalendarError(
            f"{entries.size} entry sessions but {directions.size} directions: one direction "
            "per event"
        )
    if entries.size and (entries.min() < 1 or entries.max() > n_sessions - 1):
        raise CalendarError(
            f"entry session indices must be in 1..{n_sessions - 1} (a session with a decision "
            f"close before it); got {int(entries.min())}..{int(entries.max())}"
        )
    if draws < 1:
        raise CalendarError(f"--draws {draws}: need at least 1 draw")


def _place(positions: np.ndarray, directions: np.ndarray, n_valid: int) -> tuple[np.ndarray, ...]:
    """Sort each row of 0-based positions (already in 0..n_valid-1) and carry the directions."""
    order = np.argsort(positions, axis=1, kind="stable")
    sessions = np.take_along_axis(positions, order, axis=1) + 1
    return sessions.astype(np.int64), np.take_along_axis(directions, order, axis=1)


def _circular_positions(n_sessions, entries, directions, draws, rng):
    n_valid = n_sessions - 1
    offsets = rng.integers(0, n_valid, size=draws)
    return (entries[None, :] - 1 + offsets[:, None]) % n_valid


def direction_runs(directions: np.ndarray) -> np.ndarray:
    """Run number of each event (0, 0, 1, 2, 2, ... for + + - + +)."""
    d = np.asarray(directions)
    if d.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(d[1:] != d[:-1])]).astype(np.int64)


def _block_positions(n_sessions, entries, directions, draws, rng):
    n_valid = n_sessions - 1
    gaps = np.diff(entries)
    runs = direction_runs(directions)
    between = runs[1:] != runs[:-1]  # the gap before the first event of each new run
    new_gaps = np.broadcast_to(gaps, (draws, gaps.size)).copy()
    if between.any():
        new_gaps[:, between] = rng.permuted(
            np.broadcast_to(gaps[between], (draws, int(between.sum()))), axis=1
        )
    relative = np.concatenate(
        [np.zeros((draws, 1), dtype=np.int64), np.cumsum(new_gaps, axis=1)], axis=1
    )
    offsets = rng.integers(0, n_valid, size=draws)
    return (relative + (entries[0] - 1) + offsets[:, None]) % n_valid


def _iid_positions(n_sessions, entries, directions, draws, rng):
    return np.sort(rng.integers(1, n_sessions, size=(draws, entries.size)), axis=1) - 1


_POSITIONS = {"circular": _circular_positions, "block": _block_positions, "iid": _iid_positions}


def _positions(scheme, n_sessions, entries, directions, draws, rng):
    """0-based positions (draws, events) of the events in chronological order, their
    directions in that order and the order (positions into the caller's arrays)."""
    if scheme not in _POSITIONS:
        raise CalendarError(f"placebo calendar {scheme!r}: expected one of {', '.join(SCHEMES)}")
    entries = np.asarray(entries, dtype=np.int64)
    directions = np.asarray(directions, dtype=np.int64)
    _check(n_sessions, entries, directions, draws)
    order = np.argsort(entries, kind="stable")
    entries, directions = entries[order], directions[order]
    positions = _POSITIONS[scheme](n_sessions, entries, directions, draws, rng)
    return positions.astype(np.int64), directions, order


def circular_calendars(
    n_sessions: int,
    entries: np.ndarray,
    directions: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The real calendar shifted by one uniform offset per draw, wrapping over 1..n-1."""
    return draw_calendars("circular", n_sessions, entries, directions, draws, rng)


def block_calendars(
    n_sessions: int,
    entries: np.ndarray,
    directions: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal direction kept whole, the gaps between runs permuted, then a circular
    offset (the permutations are drawn first, then the offsets)."""
    return draw_calendars("block", n_sessions, entries, directions, draws, rng)


def iid_calendars(
    n_sessions: int,
    entries: np.ndarray,
    directions: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform independent entry sessions on 1..n-1, sorted; the k-th gets the k-th direction."""
    return draw_calendars("iid", n_sessions, entries, directions, draws, rng)


def event_sessions(
    scheme: str,
    n_sessions: int,
    entries: np.ndarray,
    directions: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The session each real event enters on in each draw, (draws, events), the events in the
    order of ``entries`` (the same draws as :func:`draw_calendars` with the same generator
    state: sorting each row by session, ties in chronological order, gives its sessions)."""
    positions, _, order = _positions(scheme, n_sessions, entries, directions, draws, rng)
    out = np.empty_like(positions)
    out[:, order] = positions + 1
    return out


def draw_calendars(
    scheme: str,
    n_sessions: int,
    entries: np.ndarray,
    directions: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(sessions, directions)`` of ``draws`` calendars under ``scheme`` (see the module doc)."""
    positions, directions, _ = _positions(scheme, n_sessions, entries, directions, draws, rng)
    return _place(positions, np.broadcast_to(directions, positions.shape), n_sessions - 1)
