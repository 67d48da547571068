"""Placebo calendar schemes (backtests/research/placebo_calendars.py)."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.research.placebo_calendars import (
    CalendarError,
    block_calendars,
    circular_calendars,
    direction_runs,
    draw_calendars,
    event_sessions,
    iid_calendars,
)
from backtests.research.placebo_definitions import DEFAULT_SCHEME, SCHEMES
from data.errors import CapexRotationError

N = 300
ENTRIES = np.array([10, 12, 12, 40, 41, 45, 120, 200, 203, 290])
DIRECTIONS = np.array([1, 1, -1, -1, 1, 1, 1, -1, -1, 1])


def test_default_is_circular():
    assert DEFAULT_SCHEME == "circular"
    assert set(SCHEMES) == {"circular", "block", "iid"}


def test_iid_draws_the_numbers_of_the_old_placebo():
    # The placebo before clustering-aware schemes: rng.integers(1, n, (draws, events)), sorted,
    # the k-th earliest draw getting the k-th real direction.
    sessions, directions = iid_calendars(N, ENTRIES, DIRECTIONS, 50, np.random.default_rng(7))
    expected = np.sort(np.random.default_rng(7).integers(1, N, size=(50, ENTRIES.size)), axis=1)
    np.testing.assert_array_equal(sessions, expected)
    np.testing.assert_array_equal(directions, np.broadcast_to(DIRECTIONS, (50, 10)))


def _cyclic_gaps(sessions: np.ndarray, n_valid: int) -> np.ndarray:
    positions = sessions - 1
    return np.diff(np.concatenate([positions, [positions[0] + n_valid]]))


def test_circular_shift_against_a_loop_and_keeps_every_gap():
    draws = 200
    sessions, directions = circular_calendars(
        N, ENTRIES, DIRECTIONS, draws, np.random.default_rng(3)
    )
    offsets = np.random.default_rng(3).integers(0, N - 1, size=draws)
    for row in range(draws):
        shifted = [(e - 1 + offsets[row]) % (N - 1) + 1 for e in ENTRIES]
        pairs = sorted(zip(shifted, range(10), strict=True))  # by session, then real order
        assert list(sessions[row]) == [s for s, _ in pairs]
        assert list(directions[row]) == [DIRECTIONS[i] for _, i in pairs]
        # The cyclic gaps (including the wrap) are the real ones, rotated.
        real = _cyclic_gaps(ENTRIES, N - 1)
        drawn = _cyclic_gaps(sessions[row], N - 1)
        assert any(np.array_equal(np.roll(real, j), drawn) for j in range(10))
    assert sessions.min() >= 1 and sessions.max() <= N - 1
    assert (np.diff(sessions, axis=1) >= 0).all()


def test_direction_runs():
    np.testing.assert_array_equal(direction_runs(DIRECTIONS), [0, 0, 1, 1, 2, 2, 2, 3, 3, 4])


def test_block_scheme_against_a_loop():
    draws = 100
    sessions, directions = block_calendars(N, ENTRIES, DIRECTIONS, draws, np.random.default_rng(5))
    # The same draws by hand: permute the gaps between runs, then one circular offset per draw.
    rng = np.random.default_rng(5)
    gaps = np.diff(ENTRIES)
    runs = direction_runs(DIRECTIONS)
    between = np.flatnonzero(runs[1:] != runs[:-1])
    permuted = rng.permuted(np.tile(gaps[between], (draws, 1)), axis=1)
    offsets = rng.integers(0, N - 1, size=draws)
    for row in range(draws):
        new = gaps.copy()
        new[between] = permuted[row]
        relative = np.concatenate([[0], np.cumsum(new)])
        shifted = [(ENTRIES[0] - 1 + r + offsets[row]) % (N - 1) + 1 for r in relative]
        pairs = sorted(zip(shifted, range(10), strict=True))
        assert list(sessions[row]) == [s for s, _ in pairs]
        assert list(directions[row]) == [DIRECTIONS[i] for _, i in pairs]


def test_block_scheme_keeps_runs_and_their_spacing():
    draws = 300
    sessions, directions = block_calendars(N, ENTRIES, DIRECTIONS, draws, np.random.default_rng(9))
    # The gaps are a permutation of the real ones (and the wrap gap n - 1 - span is kept).
    real_gaps = sorted([*np.diff(ENTRIES), N - 1 - (ENTRIES[-1] - ENTRIES[0])])
    real_cycle = "".join("+" if d > 0 else "-" for d in DIRECTIONS)
    distinct = set()
    for row in range(draws):
        cycle = "".join("+" if d > 0 else "-" for d in directions[row])
        assert cycle in real_cycle + real_cycle  # the same cyclic sequence of directions
        assert sorted(_cyclic_gaps(sessions[row], N - 1)) == real_gaps
        distinct.add(tuple(np.diff(sessions[row])))
    assert len(distinct) > 100  # the gaps between runs really are reshuffled


def test_rows_are_sorted_and_in_range_for_every_scheme():
    for scheme in SCHEMES:
        sessions, directions = draw_calendars(
            scheme, N, ENTRIES, DIRECTIONS, 1000, np.random.default_rng(1)
        )
        assert sessions.shape == directions.shape == (1000, 10)
        assert sessions.dtype == np.int64 and directions.dtype == np.int64
        assert (np.diff(sessions, axis=1) >= 0).all()
        assert sessions.min() >= 1 and sessions.max() <= N - 1
        # Directions: the same counts as the real calendar in every draw.
        assert ((directions == 1).sum(axis=1) == 6).all()


def test_same_seed_same_calendars():
    for scheme in SCHEMES:
        a = draw_calendars(scheme, N, ENTRIES, DIRECTIONS, 20, np.random.default_rng(11))
        b = draw_calendars(scheme, N, ENTRIES, DIRECTIONS, 20, np.random.default_rng(11))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_bad_input_is_a_one_line_error():
    with pytest.raises(CalendarError, match="expected one of circular, block, iid"):
        draw_calendars("uniform", N, ENTRIES, DIRECTIONS, 10, np.random.default_rng(0))
    with pytest.raises(CalendarError, match=r"must be in 1\.\.299"):
        circular_calendars(N, np.array([0, 5]), np.array([1, 1]), 10, np.random.default_rng(0))
    with pytest.raises(CalendarError, match="one direction per event"):
        block_calendars(N, ENTRIES, DIRECTIONS[:3], 10, np.random.default_rng(0))
    assert issubclass(CalendarError, CapexRotationError)


def test_event_sessions_sorted_are_the_calendars():
    # event_sessions gives each real event's session; sorting a row (ties in chronological
    # order) gives draw_calendars' sessions and directions, from the same generator state.
    shuffled = np.random.default_rng(2).permutation(ENTRIES.size)
    for scheme in SCHEMES:
        for entries, directions in (
            (ENTRIES, DIRECTIONS),
            (ENTRIES[shuffled], DIRECTIONS[shuffled]),
        ):
            each = event_sessions(scheme, N, entries, directions, 200, np.random.default_rng(4))
            sessions, signs = draw_calendars(
                scheme, N, entries, directions, 200, np.random.default_rng(4)
            )
            chronological = np.argsort(entries, kind="stable")
            ordered = each[:, chronological]
            order = np.argsort(ordered, axis=1, kind="stable")
            np.testing.assert_array_equal(np.take_along_axis(ordered, order, axis=1), sessions)
            np.testing.assert_array_equal(directions[chronological][order], signs)
