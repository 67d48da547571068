"""No look-ahead: prices after a cutoff cannot change anything on or before it.

Every open/high/low/close strictly after the cutoff is multiplied by a seeded random factor in
[0.5, 1.5] (each field its own factor; high/low then re-bracket the bar). Both the backtrader
engine and the reference are rerun; every equity value and every fill dated on or before the
cutoff must be unchanged (1e-12 relative; exact equality is expected), and so must the share
counts of the fills at the next open, which are decided at the cutoff's close.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pandas as pd
import pytest
from test_parity import (
    DEFAULT_COSTS,
    HIGH_COSTS,
    SYN_START,
    Run,
    SynCase,
    assert_parity,
    make_events,
    run_both,
    signed_fills,
    sorted_fills,
    synthetic_histories,
)

from data.csv_source import CsvPriceSource
from data.events import load_events
from data.prices import PriceHistory
from data.universe import load_universe

TOL = 1e-12
PRICES = ["open", "high", "low", "close"]


def perturb_after(history: PriceHistory, cutoff: pd.Timestamp, seed: int) -> PriceHistory:
    """A copy of ``history`` whose prices strictly after ``cutoff`` are scaled at random."""
    bars = history.bars.copy()
    later = bars.index > cutoff
    rng = np.random.default_rng([seed, zlib.crc32(history.ticker.encode())])
    factors = rng.uniform(0.5, 1.5, size=(int(later.sum()), 4))
    values = bars.loc[later, PRICES].to_numpy() * factors
    bars.loc[later, PRICES] = values
    bars.loc[later, "high"] = values.max(axis=1)
    bars.loc[later, "low"] = values.min(axis=1)
    digest = hashlib.sha256(bars.to_csv().encode()).hexdigest()
    return PriceHistory(history.ticker, bars, history.source + " (perturbed)", digest)


def assert_nothing_before_changed(base: Run, moved: Run, cutoff: pd.Timestamp) -> None:
    sessions = base.market.sessions
    assert list(sessions) == list(moved.market.sessions)
    upto = sessions <= cutoff
    after = sessions[~upto]
    assert upto.any() and len(after) > 0
    engines = {
        "backtrader": (
            base.engine.equity["equity"],
            moved.engine.equity["equity"],
            signed_fills(base.engine.fills),
            signed_fills(moved.engine.fills),
        ),
        "reference": (
            base.reference.equity,
            moved.reference.equity,
            sorted_fills(base.reference.fills),
            sorted_fills(moved.reference.fills),
        ),
    }
    for name, (eq0, eq1, f0, f1) in engines.items():
        a, b = eq0[upto].to_numpy(), eq1[upto].to_numpy()
        diff = np.abs(a - b) / np.abs(a)
        assert diff.max() <= TOL, f"{name}: equity up to {cutoff.date()} moved by {diff.max()}"
        assert not np.allclose(eq0.to_numpy(), eq1.to_numpy(), rtol=1e-6), (
            f"{name}: the perturbation changed nothing (bad test)"
        )

        early0 = f0[f0["date"] <= cutoff].reset_index(drop=True)
        early1 = f1[f1["date"] <= cutoff].reset_index(drop=True)
        assert len(early0) == len(early1), f"{name}: fills on or before the cutoff differ"
        assert (early0[["date", "ticker"]] == early1[["date", "ticker"]]).all().all()
        for column in ("shares", "price", "commission"):
            x, y = early0[column].to_numpy(), early1[column].to_numpy()
            assert (np.abs(x - y) <= TOL * np.abs(x)).all(), f"{name}: fill {column} moved"

        # The next open's orders are decided (sized) at the cutoff's close.
        nxt = after[0]
        next0 = f0[f0["date"] == nxt].reset_index(drop=True)
        next1 = f1[f1["date"] == nxt].reset_index(drop=True)
        assert (next0[["ticker"]] == next1[["ticker"]]).all().all() and len(next0) == len(next1)
        x, y = next0["shares"].to_numpy(), next1["shares"].to_numpy()
        assert (np.abs(x - y) <= TOL * np.abs(x)).all(), f"{name}: shares sized at the cutoff moved"


@pytest.fixture(scope="module")
def real(shared_market_data):
    universe = load_universe()
    histories = CsvPriceSource(shared_market_data).load((*universe.traded, universe.benchmark))
    return universe, histories, list(load_events().events)


def run_real(real, histories) -> Run:
    universe, _, events = real
    return run_both(
        histories, universe.long, universe.short, universe.benchmark, events, start="2015-01-01"
    )


@pytest.fixture(scope="module")
def real_base(real) -> Run:
    return run_real(real, real[1])


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("cutoff", "note"),
    [
        ("2023-02-06", "inside book 0 (2023-02-02 .. 2023-02-09)"),
        ("2024-12-03", "exit of book 8 and decision close of book 9 (enters 2024-12-04)"),
        ("2026-05-06", "decision close of the book entering 2026-05-07, ASML's last bar"),
    ],
)
def test_real_data_no_lookahead(real, real_base, cutoff, note):
    day = pd.Timestamp(cutoff)
    _, histories, _ = real
    moved = {t: perturb_after(h, day, seed=7) for t, h in histories.items()}
    run = run_real(real, moved)
    fills = signed_fills(real_base.engine.fills)
    assert (fills["date"] > day).any() and (fills["date"] <= day).any(), note
    assert_nothing_before_changed(real_base, run, day)
    assert_parity(run, tol=1e-9)  # the two engines still agree on the perturbed prices


def test_real_data_mid_book_cutoff_is_mid_book(real_base):
    books = [(b.entry, b.exit) for b in real_base.reference.books]
    day = pd.Timestamp("2023-02-06")
    assert any(entry < day and (exit is None or exit > day) for entry, exit in books)


SYN_CASE = SynCase(
    (
        ("2024-03-20T12:00", 1),
        ("2024-03-25T18:00", 1),
        ("2024-03-29", 1),
        ("2024-04-05T12:00", -1),
        ("2024-04-10T12:00", 1),
        ("2024-04-16T12:00", 1),
    ),
    (),
    spans={"LB": ("2024-04-02", None), "SB": (None, "2024-04-15")},
)


@pytest.mark.parametrize("cutoff", ["2024-03-27", "2024-04-12", "2024-04-15"])
@pytest.mark.parametrize(("gross", "costs"), [(1.0, DEFAULT_COSTS), (3.0, HIGH_COSTS)])
def test_synthetic_no_lookahead(cutoff, gross, costs):
    day = pd.Timestamp(cutoff)
    rules = dict(hold=5, gross=gross)
    events = make_events(SYN_CASE.events)
    histories = synthetic_histories(SYN_CASE.spans)
    moved = {t: perturb_after(h, day, seed=11) for t, h in histories.items()}
    base = run_both(
        histories,
        SYN_CASE.long,
        SYN_CASE.short,
        "BM",
        events,
        start=SYN_START,
        **rules,
        costs=costs,
    )
    run = run_both(
        moved,
        SYN_CASE.long,
        SYN_CASE.short,
        "BM",
        events,
        start=SYN_START,
        **rules,
        costs=costs,
    )
    held = [(b.entry, b.exit) for b in base.reference.books]
    assert any(entry <= day and (exit is None or exit > day) for entry, exit in held)
    assert_nothing_before_changed(base, run, day)
    assert_parity(run, tol=1e-9)
