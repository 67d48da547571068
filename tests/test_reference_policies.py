"""The policy reference (tests/reference_policies.py) against numbers computed by hand.

Every test runs a tiny synthetic market (six sessions, Monday 2024-01-08 to Monday 2024-01-15,
so the Friday -> Monday night is 3 calendar days) and writes the expected arithmetic out. Unless
a test says otherwise: cash 1,000, no commission, no slippage, no borrow, H = 2 sessions, legs
"spenders" = [A] (+1, 0.5) and "suppliers" = [B] (-1, 0.5). Session k is called dk.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from reference_policies import ReferenceResult, reference_run

DAYS = pd.DatetimeIndex(
    ["2024-01-08", "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12", "2024-01-15"]
)
D = list(DAYS)
NAN = math.nan
BENCH = pd.Series(100.0, index=DAYS)
LEGS = [
    {"name": "spenders", "tickers": ["A"], "side": 1, "share": 0.5},
    {"name": "suppliers", "tickers": ["B"], "side": -1, "share": 0.5},
]


def approx(value: float | list[float]) -> Any:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def frame(
    opens: list[float], closes: list[float] | None = None, volume: list[float] | None = None
) -> pd.DataFrame:
    """Bars on DAYS; closes default to the opens, volume to 1e6."""
    closes = opens if closes is None else closes
    volume = [1e6] * len(DAYS) if volume is None else volume
    o, c = np.array(opens, dtype=float), np.array(closes, dtype=float)
    return pd.DataFrame(
        {
            "open": o,
            "high": np.fmax(o, c),
            "low": np.fmin(o, c),
            "close": c,
            "volume": np.array(volume, dtype=float),
        },
        index=DAYS,
    )


# The standard market: A rises, B falls.
#            d0  d1  d2  d3  d4  d5
A_OPEN = [10, 10, 11, 12, 13, 14]
A_CLOSE = [10, 10, 12, 12, 13, 14]
B_OPEN = [20, 20, 19, 18, 17, 16]
B_CLOSE = [20, 20, 18, 18, 17, 16]


def standard() -> dict[str, pd.DataFrame]:
    return {"A": frame(A_OPEN, A_CLOSE), "B": frame(B_OPEN, B_CLOSE)}


def events(*rows: tuple) -> pd.DataFrame:
    """rows: (session index or None, direction[, weight]); ids e0, e1, ..."""
    return pd.DataFrame(
        {
            "entry": [pd.NaT if r[0] is None else DAYS[r[0]] for r in rows],
            "direction": [r[1] for r in rows],
            "weight": [r[2] if len(r) > 2 else 1.0 for r in rows],
            "id": [f"e{k}" for k in range(len(rows))],
        }
    )


def config(
    strategy: dict[str, Any] | None = None,
    costs: dict[str, Any] | None = None,
    legs: list[dict[str, Any]] | None = None,
    cash: float = 1000.0,
) -> dict[str, Any]:
    st: dict[str, Any] = {"hold_sessions": 2, "legs": legs or LEGS}
    st.update(strategy or {})
    c: dict[str, Any] = {"commission_bps": 0.0, "slippage_bps": 0.0, "borrow_bps": 0.0}
    c.update(costs or {})
    return {"cash": cash, "strategy": st, "costs": c}


def run(
    ev: pd.DataFrame,
    cfg: dict[str, Any],
    bars: dict[str, pd.DataFrame] | None = None,
    bench: pd.Series | None = None,
) -> ReferenceResult:
    return reference_run(bars or standard(), BENCH if bench is None else bench, DAYS, ev, cfg)


def fill_rows(result: ReferenceResult) -> list[tuple]:
    f = result.fills
    return list(zip(f.date, f.ticker, f.side, f.book, strict=True))


def log_of(result: ReferenceResult, event_id: str) -> tuple[str, str]:
    row = result.event_log.set_index("id").loc[event_id]
    return row.action, row.reason


# ---------------------------------------------------------------------------------------------
# The baseline (every policy at its default) and the cost model
# ---------------------------------------------------------------------------------------------


def test_baseline_single_book_hold() -> None:
    # Decision d1 (equity 1000): q_A = 0.5 * 1000 / 10 = 50, q_B = -0.5 * 1000 / 20 = -25.
    # d2 open: short 25 B at 19 (+475), buy 50 A at 11 (-550): cash 925.
    # d2 close: 925 + 50*12 - 25*18 = 1075; d3 the same. Exit d2 + 2 = d4 open:
    # sell 50 A at 13 (+650), cover 25 B at 17 (-425): cash 1150.
    r = run(events((2, 1)), config())
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1150, 1150])
    assert list(r.equity.cash) == approx([1000, 1000, 925, 925, 1150, 1150])
    assert r.equity.long_value[D[2]] == approx(600)
    assert r.equity.short_value[D[2]] == approx(-450)
    assert fill_rows(r) == [
        (D[2], "B", "short", 0),
        (D[2], "A", "buy", 0),
        (D[4], "A", "sell", 0),
        (D[4], "B", "cover", 0),
    ]
    assert list(r.fills.shares) == approx([25, 50, 50, 25])
    assert list(r.fills.price) == approx([19, 11, 13, 17])
    book = r.books.iloc[0]
    assert (book.direction, book.decision, book.entry, book.exit) == (1, D[1], D[2], D[4])
    assert book.closed_by == "hold"
    assert (approx(50), approx(-25)) == (book.A, book.B)
    assert r.ruined_on is None


def test_flat_slippage_and_commission() -> None:
    # c = 1 bp, s = 2 bp. d2: short 25 B at 19 * 0.9998, buy 50 A at 11 * 1.0002; commission
    # 1e-4 * |shares * price| on each. d4: sell 50 A at 13 * 0.9998, cover 25 B at 17 * 1.0002.
    r = run(events((2, 1)), config(costs={"commission_bps": 1.0, "slippage_bps": 2.0}))
    b_in, a_in, a_out, b_out = 19 * 0.9998, 11 * 1.0002, 13 * 0.9998, 17 * 1.0002
    assert list(r.fills.price) == approx([b_in, a_in, a_out, b_out])
    commissions = [1e-4 * 25 * b_in, 1e-4 * 50 * a_in, 1e-4 * 50 * a_out, 1e-4 * 25 * b_out]
    assert list(r.fills.commission) == approx(commissions)
    slippage = [25 * 19 * 0.0002, 50 * 11 * 0.0002, 50 * 13 * 0.0002, 25 * 17 * 0.0002]
    assert list(r.fills.slippage) == approx(slippage)
    cash_d2 = 1000 + 25 * b_in - 50 * a_in - commissions[0] - commissions[1]
    assert r.equity.equity[D[2]] == approx(cash_d2 + 50 * 12 - 25 * 18)
    cash_d4 = cash_d2 + 50 * a_out - 25 * b_out - commissions[2] - commissions[3]
    assert r.equity.equity[D[5]] == approx(cash_d4)


# ---------------------------------------------------------------------------------------------
# §1 Signals
# ---------------------------------------------------------------------------------------------


def test_sum_signal_nets_directions_and_logs_the_outweighed() -> None:
    # S(d2) = +1 + 1 - 1 = +1 > 0: the book of the baseline test; e2 is outweighed.
    r = run(events((2, 1), (2, 1), (2, -1)), config())
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1150, 1150])
    assert r.books.iloc[0].events == ("e0", "e1")
    assert log_of(r, "e2")[0] == "outweighed"
    assert log_of(r, "e0") == ("opened", "book 0")


def test_sum_signal_zero_does_nothing() -> None:
    r = run(events((2, 1), (2, -1)), config())
    assert r.books.empty and r.fills.empty
    assert list(r.equity.equity) == approx([1000] * 6)


def test_weighted_signal_sign_decides() -> None:
    # kind = weighted: S(d2) = 0.5 > 0 opens; S(d3) = 0.25 * (+1) + 1.0 * (-1) = -0.75 < 0
    # closes at the d3 open: sell 50 A at 12, cover 25 B at 18: 925 + 600 - 450 = 1075.
    ev = events((2, 1, 0.5), (3, 1, 0.25), (3, -1, 1.0))
    r = run(ev, config(strategy={"signal": {"kind": "weighted"}}))
    assert r.books.iloc[0].exit == D[3] and r.books.iloc[0].closed_by == "counter"
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1075, 1075])
    assert log_of(r, "e1")[0] == "outweighed"


def test_weighted_signal_reads_the_configured_column() -> None:
    # column = "score": S(d2) = 2 * (+1) + 3 * (-1) = -1: a counter-trigger while flat.
    ev = events((2, 1), (2, -1)).assign(score=[2.0, 3.0])
    r = run(ev, config(strategy={"signal": {"kind": "weighted", "column": "score"}}))
    assert r.books.empty
    assert log_of(r, "e1") == ("ignored", "counter-trigger while flat")


@pytest.mark.parametrize("bad", [-1.0, NAN, "abc", None])
def test_weighted_signal_refuses_bad_cells(bad: object) -> None:
    ev = events((2, 1)).astype({"weight": object})
    ev.loc[0, "weight"] = bad
    with pytest.raises(ValueError, match="e0 column weight"):
        run(ev, config(strategy={"signal": {"kind": "weighted"}}))


def test_weighted_signal_missing_column_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"signal\.column 'score'"):
        run(events((2, 1)), config(strategy={"signal": {"kind": "weighted", "column": "score"}}))


def test_scale_size_multiplies_gross_by_abs_signal() -> None:
    # weight 2: g = 1 * |2| = 2: q_A = 2 * 0.5 * 1000 / 10 = 100, q_B = -2 * 0.5 * 1000/20 = -50.
    # d2: cash = 1000 - 100*11 + 50*19 = 850; close: 850 + 100*12 - 50*18 = 1150.
    signal = {"kind": "weighted", "scale_size": True}
    r = run(events((2, 1, 2.0)), config(strategy={"signal": signal}))
    assert (r.books.iloc[0].A, r.books.iloc[0].B, r.books.iloc[0].gross) == (100, -50, 2.0)
    assert r.equity.equity[D[2]] == approx(1150)
    # weight 5: g = min(5, max_gross 3) = 3: q_A = 150, q_B = -75.
    r = run(events((2, 1, 5.0)), config(strategy={"signal": signal}))
    assert (r.books.iloc[0].A, r.books.iloc[0].B, r.books.iloc[0].gross) == (150, -75, 3.0)


def test_scale_size_with_sum_signal() -> None:
    # Two +1 events: |S| = 2, g = 2.
    r = run(events((2, 1), (2, 1)), config(strategy={"signal": {"scale_size": True}}))
    assert (r.books.iloc[0].A, r.books.iloc[0].B) == (100, -50)


# ---------------------------------------------------------------------------------------------
# §2 Single books and counter-triggers
# ---------------------------------------------------------------------------------------------


def test_single_book_is_extended_not_resized() -> None:
    # +1 at d2 (exit d4), +1 at d3: exit = max(4, 3 + 2) = 5. Close at the d5 open:
    # sell 50 A at 14 (+700), cover 25 B at 16 (-400): 925 + 300 = 1225.
    r = run(events((2, 1), (3, 1)), config())
    assert len(r.books) == 1 and len(r.fills) == 4
    assert r.books.iloc[0].exit == D[5] and r.books.iloc[0].planned_exit == D[5]
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1150, 1225])
    assert log_of(r, "e1") == ("extended", "book 0")


def test_counter_close_while_flat_is_ignored() -> None:
    r = run(events((2, -1)), config())
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "counter-trigger while flat")


def test_counter_ignore() -> None:
    # The -1 at d3 does nothing: the baseline book, exit d4.
    r = run(events((2, 1), (3, -1)), config(strategy={"books": {"counter": "ignore"}}))
    assert r.books.iloc[0].exit == D[4] and r.books.iloc[0].closed_by == "hold"
    assert log_of(r, "e1") == ("ignored", "counter-triggers ignored")


def test_counter_reverse_closes_and_opens_the_flipped_book() -> None:
    # Book 0 (+1) from d2. -1 at d3: decided at the d2 close (equity 1075): book 0 closes at
    # the d3 open and book 1 (-1: long B, short A) opens there, exit d3 + 2 = d5.
    # q_A = -0.5 * 1075 / 12, q_B = +0.5 * 1075 / 18 (closes of d2).
    r = run(events((2, 1), (3, -1)), config(strategy={"books": {"counter": "reverse"}}))
    q_a, q_b = -0.5 * 1075 / 12, 0.5 * 1075 / 18
    b0, b1 = r.books.iloc[0], r.books.iloc[1]
    assert (b0.exit, b0.closed_by, b1.direction, b1.entry, b1.exit) == (
        D[3],
        "counter",
        -1,
        D[3],
        D[5],
    )
    assert (approx(q_a), approx(q_b)) == (b1.A, b1.B)
    # Sells (long exits, short sales) before buys, each group by (book, column).
    assert fill_rows(r)[2:] == [
        (D[3], "A", "sell", 0),
        (D[3], "A", "short", 1),
        (D[3], "B", "cover", 0),
        (D[3], "B", "buy", 1),
        (D[5], "B", "sell", 1),
        (D[5], "A", "cover", 1),
    ]
    # d3 open: 925 + 50*12 - 25*18 = 1075, then -q_a*12 - q_b*18 = 537.5 - 537.5 = 0.
    cash_d3 = 1075 - q_a * 12 - q_b * 18
    assert r.equity.equity[D[3]] == approx(cash_d3 + q_a * 12 + q_b * 18)
    assert r.equity.equity[D[4]] == approx(cash_d3 + q_a * 13 + q_b * 17)
    assert r.equity.equity[D[5]] == approx(cash_d3 + q_a * 14 + q_b * 16)


def test_counter_reverse_from_flat_opens_a_short_book_that_extends() -> None:
    # -1 at d1 while flat opens a -1 book (decision d0: q_A = -0.5*1000/10 = -50,
    # q_B = +0.5*1000/20 = +25), exit 1 + 2 = 3; -1 at d2 extends it to max(3, 2 + 2) = 4.
    r = run(events((1, -1), (2, -1)), config(strategy={"books": {"counter": "reverse"}}))
    book = r.books.iloc[0]
    assert (book.direction, book.A, book.B, book.exit, book.closed_by) == (
        -1,
        -50,
        25,
        D[4],
        "hold",
    )
    # d1 open: short 50 A at 10, buy 25 B at 20: cash 1000. d4 open: cover 50 A at 13,
    # sell 25 B at 17: 1000 - 650 + 425 = 775.
    assert r.equity.equity[D[5]] == approx(775)


# ---------------------------------------------------------------------------------------------
# §2 Per-event sub-books
# ---------------------------------------------------------------------------------------------


def test_per_event_orders_are_not_netted() -> None:
    # H = 1, c = 1 bp, s = 2 bp. Book 0: decision d0 (equity 1000): q_A = 50, q_B = -25,
    # filled at d1 (A 10, B 20); exit d2. Book 1: decision d1, entry d2. At d2 the two
    # books trade A and B in opposite directions: four fills, each with its costs.
    cfg = config(
        strategy={"hold_sessions": 1, "books": {"kind": "per_event"}},
        costs={"commission_bps": 1.0, "slippage_bps": 2.0},
    )
    r = run(events((1, 1), (2, 1)), cfg)
    a1, b1 = 10 * 1.0002, 20 * 0.9998
    cash_d1 = 1000 - 50 * a1 * (1 + 1e-4) + 25 * b1 * (1 - 1e-4)
    equity_d1 = cash_d1 + 50 * 10 - 25 * 20
    assert r.equity.equity[D[1]] == approx(equity_d1)
    q_a, q_b = 0.5 * equity_d1 / 10, -0.5 * equity_d1 / 20  # book 1, sized on equity at d1
    assert fill_rows(r)[2:6] == [
        (D[2], "A", "sell", 0),
        (D[2], "B", "short", 1),
        (D[2], "B", "cover", 0),
        (D[2], "A", "buy", 1),
    ]
    assert list(r.fills.shares[2:6]) == approx([50, -q_b, 25, q_a])
    sell_a, short_b, cover_b, buy_a = 11 * 0.9998, 19 * 0.9998, 19 * 1.0002, 11 * 1.0002
    cash_d2 = (
        cash_d1
        + 50 * sell_a * (1 - 1e-4)
        - q_b * short_b * (1 - 1e-4)
        - 25 * cover_b * (1 + 1e-4)
        - q_a * buy_a * (1 + 1e-4)
    )
    assert r.equity.equity[D[2]] == approx(cash_d2 + q_a * 12 + q_b * 18)


def test_per_event_gross_cap_counts_books_open_after_the_closes() -> None:
    # G = 1, max_gross = 2, H = 3, +1 at d1, d2, d3, d4. Books 0 (d1-d4) and 1 (d2-d5) open;
    # at the d2 close the d3 trigger would make 1 + 1 + 1 = 3 > 2: ignored. At the d3 close
    # book 0 closes at d4, so the d4 trigger sees 1 + 1 = 2 <= 2: book 2 opens at d4.
    cfg = config(strategy={"hold_sessions": 3, "max_gross": 2.0, "books": {"kind": "per_event"}})
    r = run(events((1, 1), (2, 1), (3, 1), (4, 1)), cfg)
    assert list(r.books.entry) == [D[1], D[2], D[4]]
    assert list(r.books.exit[:2]) == [D[4], D[5]] and pd.isna(r.books.exit[2])
    assert log_of(r, "e2") == (
        "ignored",
        "gross cap: sub-books open with gross 2.0 of max_gross 2.0",
    )
    # Book 1 (decision d1, equity 1000): q_A = 0.5*1000/10 = 50 bought at 11.
    assert approx(50) == r.books.iloc[1].A


def test_per_event_counter_close_closes_every_sub_book() -> None:
    cfg = config(strategy={"hold_sessions": 5, "books": {"kind": "per_event"}})
    r = run(events((1, 1), (2, 1), (3, -1)), cfg)
    assert list(r.books.exit) == [D[3], D[3]]
    assert list(r.books.closed_by) == ["counter", "counter"]


def test_per_event_reverse_closes_the_opposite_sub_books_first() -> None:
    # Two +1 sub-books; -1 at d3 closes both and opens a -1 sub-book sized on equity at d2.
    cfg = config(
        strategy={"hold_sessions": 5, "books": {"kind": "per_event", "counter": "reverse"}}
    )
    r = run(events((1, 1), (2, 1), (3, -1)), cfg)
    assert list(r.books.direction) == [1, 1, -1]
    assert list(r.books.closed_by[:2]) == ["counter", "counter"]
    equity_d2 = r.equity.equity[D[2]]
    # Book 0: 50 A at 10 / -25 B at 20 (equity 1000); book 1 sized at d1 (equity 1000):
    # 50 A at 11, -25 B at 19. d2 close: cash 1000 - 550 + 475 = 925; 925 + 100*12 - 50*18.
    assert equity_d2 == approx(925 + 100 * 12 - 50 * 18)
    assert (
        approx(-0.5 * equity_d2 / 12),
        approx(0.5 * equity_d2 / 18),
    ) == (r.books.iloc[2].A, r.books.iloc[2].B)
    assert [row[1:] for row in fill_rows(r) if row[0] == D[3]] == [
        ("A", "sell", 0),
        ("A", "sell", 1),
        ("A", "short", 2),
        ("B", "cover", 0),
        ("B", "cover", 1),
        ("B", "buy", 2),
    ]


def test_per_event_borrow_is_charged_per_sub_book() -> None:
    # borrow 50 bp. Book 0 short 25 B from d1, book 1 short 25 B from d2 (both sized on
    # equity 1000). d3 open: each pays 0.005 * 25 * close_d2 (18) * 1/365.
    cfg = config(
        strategy={"hold_sessions": 3, "books": {"kind": "per_event"}}, costs={"borrow_bps": 50.0}
    )
    r = run(events((1, 1), (2, 1)), cfg)
    at_d3 = r.borrow[r.borrow.date == D[3]]
    assert list(at_d3.book) == [0, 1]
    assert list(at_d3.fee) == approx([0.005 * 25 * 18 / 365] * 2)
    assert list(r.borrow.fee[r.borrow.date == D[2]]) == approx([0.005 * 25 * 20 / 365])


# ---------------------------------------------------------------------------------------------
# §3 Entry delay and the run's edges
# ---------------------------------------------------------------------------------------------


def test_entry_delay_moves_the_entry_and_the_decision() -> None:
    # Raw entry d1, delay 1: enters d2, decided at d1: the baseline book.
    r = run(events((1, 1)), config(strategy={"entry": {"delay": 1}}))
    assert (r.books.iloc[0].decision, r.books.iloc[0].entry) == (D[1], D[2])
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1150, 1150])


def test_entry_delay_past_the_run_is_ignored() -> None:
    r = run(events((5, 1)), config(strategy={"entry": {"delay": 1}}))
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "effective entry after the run")


def test_first_session_and_outside_events() -> None:
    # §9 A1: delay 0, raw entry d0 = effective entry d0: no decision close before it.
    r = run(events((0, 1), (None, 1)), config())
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "enters at the run's first session")
    assert log_of(r, "e1") == ("ignored", "enters outside the run")


def test_delay_trades_a_raw_entry_at_the_first_session() -> None:
    # §9 A1: only the EFFECTIVE entry at d0 is "at the run's first session".
    # Delay 1: raw d0 enters d1 (decision d0 + 1 - 1 = d0, equity 1000): q_A = 0.5*1000/10 = 50
    # bought at 10, q_B = -0.5*1000/20 = -25 shorted at 20 (cash 1000); exit d1 + 2 = d3:
    # sell 50 A at 12 (+600), cover 25 B at 18 (-450): 1150. Closes d1: 1000 + 500 - 500.
    r = run(events((0, 1)), config(strategy={"entry": {"delay": 1}}))
    book = r.books.iloc[0]
    assert (book.decision, book.entry, book.exit) == (D[0], D[1], D[3])
    assert list(r.equity.equity) == approx([1000, 1000, 1150, 1150, 1150, 1150])
    assert log_of(r, "e0") == ("opened", "book 0")
    assert r.event_log.set_index("id").entry["e0"] == D[1]
    # Delay 2: raw d0 enters d2 (decision d1): the baseline book, 1000 -> 1075 -> 1150.
    r = run(events((0, 1)), config(strategy={"entry": {"delay": 2}}))
    assert (r.books.iloc[0].decision, r.books.iloc[0].entry) == (D[1], D[2])
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1150, 1150])


# ---------------------------------------------------------------------------------------------
# §4 Legs and sizers
# ---------------------------------------------------------------------------------------------


def test_equal_with_leg_shares_and_a_late_listing() -> None:
    # Legs: [A, C] +1 share 0.6; [B] -1 share 0.4. C is listed from d2, so at decision d1 it
    # is not eligible: A gets the whole 0.6: q_A = 0.6*1000/10 = 60, q_B = -0.4*1000/20 = -20.
    legs = [
        {"name": "spenders", "tickers": ["A", "C"], "side": 1, "share": 0.6},
        {"name": "suppliers", "tickers": ["B"], "side": -1, "share": 0.4},
    ]
    bars = standard() | {"C": frame([NAN, NAN, 40, 40, 40, 40])}
    r = run(events((2, 1), (4, 1)), config(legs=legs, strategy={"hold_sessions": 1}), bars)
    first, second = r.books.iloc[0], r.books.iloc[1]
    assert (approx(60), approx(-20)) == (first.A, first.B) and math.isnan(first.C)
    # Second book, decision d3: cash after the first = 1000 - 60*11 + 20*19 + 60*12 - 20*18
    # = 1080; w = 0.3, 0.3, -0.4: q_A = 0.3*1080/12, q_C = 0.3*1080/40, q_B = -0.4*1080/18.
    assert (
        approx(0.3 * 1080 / 12),
        approx(0.3 * 1080 / 40),
        approx(-0.4 * 1080 / 18),
    ) == (second.A, second.C, second.B)


def _stdev(values: list[float]) -> float:
    """Sample standard deviation (ddof = 1), written out."""
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# Inverse-vol market: returns over d1, d2: A +10%, -10%; C +20%, -20%; B +5%, -4.76%.
IV_BARS = {
    "A": frame([10, 11, 9.9, 10, 10, 10]),
    "C": frame([10, 12, 9.6, 10, 10, 10]),
    "B": frame([20, 21, 20, 20, 20, 20]),
    "D": frame([NAN, 10, 11, 10, 10, 10]),  # listed at d1: one return by d2
    "E": frame([10, 10, 10, 10, 10, 10]),  # zero volatility
}
IV_LEGS = [
    {"name": "spenders", "tickers": ["A", "C", "D", "E"], "side": 1, "share": 0.5},
    {"name": "suppliers", "tickers": ["B"], "side": -1, "share": 0.5},
]


@pytest.mark.parametrize("lookback, min_history", [(2, 2), (3, 2)])
def test_inverse_vol(lookback: int, min_history: int) -> None:
    # Decision d2 (entry d3). Window r[d1], r[d2] (with lookback 3 the window also holds
    # r[d0], which is NaN, so 2 finite returns still meet min_history 2).
    # D has 1 finite return < 2: excluded; E has sigma 0: excluded.
    sizing = {"kind": "inverse_vol", "lookback": lookback, "min_history": min_history}
    r = run(events((3, 1)), config(strategy={"sizing": sizing}, legs=IV_LEGS), IV_BARS)
    sigma_a = _stdev([11 / 10 - 1, 9.9 / 11 - 1])
    sigma_c = _stdev([12 / 10 - 1, 9.6 / 12 - 1])
    inv = 1 / sigma_a + 1 / sigma_c
    w_a, w_c = 0.5 * (1 / sigma_a) / inv, 0.5 * (1 / sigma_c) / inv  # ~ 1/3, 1/6
    book = r.books.iloc[0]
    assert approx(w_a * 1000 / 9.9) == book.A
    assert approx(w_c * 1000 / 9.6) == book.C
    assert approx(-0.5 * 1000 / 20) == book.B
    assert math.isnan(book.D) and math.isnan(book.E)


def test_inverse_vol_records_the_excluded_names() -> None:
    sizing = {"kind": "inverse_vol", "lookback": 2, "min_history": 2}
    r = run(events((3, 1)), config(strategy={"sizing": sizing}, legs=IV_LEGS), IV_BARS)
    assert r.books.iloc[0].excluded == ("D: short history", "E: zero volatility")


def test_inverse_vol_leg_without_history_is_not_opened() -> None:
    legs = [
        {"name": "spenders", "tickers": ["A"], "side": 1, "share": 0.5},
        {"name": "suppliers", "tickers": ["D"], "side": -1, "share": 0.5},
    ]
    sizing = {"kind": "inverse_vol", "lookback": 2, "min_history": 2}
    r = run(events((3, 1)), config(strategy={"sizing": sizing}, legs=legs), IV_BARS)
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "leg suppliers has no eligible name")


def test_equal_ignores_sizing_within() -> None:
    # sizing.within belongs to beta_neutral and vol_target (§4): kind = "equal" with within =
    # "inverse_vol" is still equal: spenders [A, C] get 0.25 each at decision d2:
    # q_A = 0.25*1000/9.9, q_C = 0.25*1000/9.6; q_B = -0.5*1000/20 = -25.
    legs = [IV_LEGS[0] | {"tickers": ["A", "C"]}, IV_LEGS[1]]
    sizing = {"kind": "equal", "within": "inverse_vol", "lookback": 2}
    r = run(events((3, 1)), config(strategy={"sizing": sizing}, legs=legs), IV_BARS)
    book = r.books.iloc[0]
    assert (approx(250 / 9.9), approx(250 / 9.6), approx(-25)) == (book.A, book.C, book.B)


# Beta market: rb = +1%, -1%, +2% over d1..d3; A returns 2 rb, C 3 rb, B 1 rb, N -1 rb.
RB = [0.01, -0.01, 0.02, 0.0, 0.0]


def _path(start: float, multiple: float) -> list[float]:
    prices = [start]
    for x in RB:
        prices.append(prices[-1] * (1 + multiple * x))
    return prices


BETA_BARS = {
    "A": frame(_path(10, 2)),
    "C": frame(_path(10, 3)),
    "B": frame(_path(20, 1)),
    "N": frame(_path(20, -1)),
}
BETA_BENCH = pd.Series(_path(100, 1), index=DAYS)
BETA_LEGS = [
    {"name": "spenders", "tickers": ["A", "C"], "side": 1, "share": 0.5},
    {"name": "suppliers", "tickers": ["B"], "side": -1, "share": 0.5},
]


def test_beta_neutral() -> None:
    # Decision d3, window r[d1..d3]. Long leg x = 0.5*2rb + 0.5*3rb = 2.5 rb: beta 2.5; short
    # leg beta 1. B+ = 0.5*2.5 = 1.25, B- = 0.5*1 = 0.5, S+ = S- = 0.5.
    # a = 1 / (S+ + S- B+/B-) = 1 / (0.5 + 1.25) = 4/7, b = a B+/B- = 10/7.
    # w_A = w_C = 0.5 * a * 0.5 = 1/7; w_B = -b * 0.5 = -5/7 (sum |w| = 1; beta 5/7 each side).
    sizing = {"kind": "beta_neutral", "lookback": 3, "min_history": 3}
    r = run(
        events((4, 1)), config(strategy={"sizing": sizing}, legs=BETA_LEGS), BETA_BARS, BETA_BENCH
    )
    book = r.books.iloc[0]
    a3, c3, b3 = BETA_BARS["A"].close[D[3]], BETA_BARS["C"].close[D[3]], BETA_BARS["B"].close[D[3]]
    assert approx(1 / 7 * 1000 / a3) == book.A
    assert approx(1 / 7 * 1000 / c3) == book.C
    assert approx(-5 / 7 * 1000 / b3) == book.B


def test_beta_neutral_short_book_flips_the_legs() -> None:
    # counter = reverse, -1 while flat: the long legs are now the suppliers (beta 1) and the
    # short legs the spenders (beta 2.5): B+ = 0.5, B- = 1.25, a = 1 / (0.5 + 0.5*0.4) = 10/7,
    # b = a * 0.4 = 4/7: w_B = +0.5 * 10/7 = 5/7, w_A = w_C = -0.5 * 4/7 * 0.5 = -1/7.
    sizing = {"kind": "beta_neutral", "lookback": 3, "min_history": 3}
    cfg = config(strategy={"sizing": sizing, "books": {"counter": "reverse"}}, legs=BETA_LEGS)
    r = run(events((4, -1)), cfg, BETA_BARS, BETA_BENCH)
    book = r.books.iloc[0]
    a3, c3, b3 = (BETA_BARS[x].close[D[3]] for x in "ACB")
    assert book.direction == -1
    assert approx(-1 / 7 * 1000 / a3) == book.A
    assert approx(-1 / 7 * 1000 / c3) == book.C
    assert approx(5 / 7 * 1000 / b3) == book.B


def test_beta_neutral_refuses_no_hedge_and_short_history() -> None:
    sizing = {"kind": "beta_neutral", "lookback": 3, "min_history": 3}
    legs = [BETA_LEGS[0], {"name": "suppliers", "tickers": ["N"], "side": -1, "share": 0.5}]
    # Short leg beta -1: B- = -0.5 <= 0.
    r = run(events((4, 1)), config(strategy={"sizing": sizing}, legs=legs), BETA_BARS, BETA_BENCH)
    assert r.books.empty and log_of(r, "e0")[1].startswith("no beta hedge")
    # §9 A4: decision d2: r[d0] is NaN, so every name has 2 < 3 finite returns and is
    # excluded for short history: the spenders leg is left empty.
    r = run(
        events((3, 1)), config(strategy={"sizing": sizing}, legs=BETA_LEGS), BETA_BARS, BETA_BENCH
    )
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "leg spenders has no eligible name")


# Vol-target market: over d1..d3, A returns +1%, -1%, +2%; B 0%, +1%, -1%.
def _from_returns(start: float, returns: list[float]) -> list[float]:
    prices = [start]
    for x in returns:
        prices.append(prices[-1] * (1 + x))
    return prices


VT_BARS = {
    "A": frame(_from_returns(10, [0.01, -0.01, 0.02, 0, 0])),
    "B": frame(_from_returns(20, [0.0, 0.01, -0.01, 0, 0])),
}


def test_vol_target() -> None:
    # Book returns p = 0.5 rA - 0.5 rB = (1, -2, 3) / 200; w' Sigma w = var(p) (ddof 1)
    # = ((1/3)^2 + (8/3)^2 + (7/3)^2) / 200^2 / 2 = 57 / 360000.
    # sigma_book = sqrt(252 * 57 / 360000) = sqrt(0.0399); g = 0.10 / sqrt(0.0399) ~ 0.5006.
    # strategy.gross = 5 (above max_gross) is ignored by vol_target.
    sizing = {"kind": "vol_target", "lookback": 3, "min_history": 3, "target": 0.10}
    r = run(events((4, 1)), config(strategy={"sizing": sizing, "gross": 5.0}), VT_BARS)
    g = 0.10 / math.sqrt(252 * 57 / 360000)
    book = r.books.iloc[0]
    assert book.gross == approx(g)
    assert approx(g * 0.5 * 1000 / VT_BARS["A"].close[D[3]]) == book.A
    assert approx(-g * 0.5 * 1000 / VT_BARS["B"].close[D[3]]) == book.B


def test_vol_target_with_scale_size() -> None:
    # READING: scale_size also multiplies vol_target's gross: weight 2: g = 2 * 0.10 /
    # sqrt(0.0399) ~ 1.0013 (below max_gross 3).
    sizing = {"kind": "vol_target", "lookback": 3, "min_history": 3, "target": 0.10}
    signal = {"kind": "weighted", "scale_size": True}
    r = run(events((4, 1, 2.0)), config(strategy={"sizing": sizing, "signal": signal}), VT_BARS)
    assert r.books.iloc[0].gross == approx(2 * 0.10 / math.sqrt(252 * 57 / 360000))


def test_vol_target_capped_at_max_gross_and_short_history() -> None:
    # target 100 (10,000%): 100 / 0.1998 > 3, so g = max_gross = 3.
    sizing = {"kind": "vol_target", "lookback": 3, "min_history": 3, "target": 100.0}
    r = run(events((4, 1)), config(strategy={"sizing": sizing}), VT_BARS)
    assert r.books.iloc[0].gross == 3.0
    # §9 A4: decision d2: A and B have 2 < 3 finite returns each: excluded, legs empty.
    r = run(events((3, 1)), config(strategy={"sizing": sizing}), VT_BARS)
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "leg spenders has no eligible name")


# ---------------------------------------------------------------------------------------------
# §5 Rounding, impact slippage, the participation cap, borrow
# ---------------------------------------------------------------------------------------------


def test_whole_share_rounding_toward_zero() -> None:
    # Legs [A] +0.5, [B, C] -0.5. Decision d1, equity 1000: q_A = 500/7 = 71.43 -> 71;
    # q_B = -250/2000 = -0.125 -> 0 (listed, noted, no fill); q_C = -250/38.9 = -6.43 -> -6.
    # Uninvested: (500/7 - 71)*7 + 0.125*2000 + (250/38.9 - 6)*38.9 = 3 + 250 + 16.6.
    legs = [
        {"name": "spenders", "tickers": ["A"], "side": 1, "share": 0.5},
        {"name": "suppliers", "tickers": ["B", "C"], "side": -1, "share": 0.5},
    ]
    bars = {"A": frame([7] * 6), "B": frame([2000] * 6), "C": frame([38.9] * 6)}
    r = run(events((2, 1)), config(legs=legs, costs={"rounding": "whole"}), bars)
    book = r.books.iloc[0]
    assert (book.A, book.B, book.C) == (71, 0, -6)
    assert book.note == "rounded to 0 shares: B"
    assert book.uninvested == approx(3 + 250 + 16.6)
    assert fill_rows(r) == [
        (D[2], "C", "short", 0),
        (D[2], "A", "buy", 0),
        (D[4], "A", "sell", 0),
        (D[4], "C", "cover", 0),
    ]
    # d2: cash = 1000 - 71*7 + 6*38.9 = 736.4; equity = cash + 497 - 233.4 = 1000.
    assert list(r.equity.cash[2:4]) == approx([736.4, 736.4])
    assert list(r.equity.equity) == approx([1000] * 6)


# Impact market. A: closes 10, 11, 9.9 (returns +10%, -10%), volume 1000 and 3000 on d1, d2;
# opens 10 at d3 and 10.5 at d5. B: flat at 20 (sigma 0). C: listed at d1. Z: volume 0.
IMPACT_BARS = {
    "A": frame(
        [10, 11, 9.9, 10, 10, 10.5], [10, 11, 9.9, 10, 10, 10.5], [500, 1000, 3000, 1, 1, 1]
    ),
    "B": frame([20] * 6),
    "C": frame([NAN, 10, 11, 10, 10, 10]),
    "Z": frame([10, 11, 10, 10, 10, 10], volume=[0] * 6),
}
IMPACT_LEGS = [
    {"name": "spenders", "tickers": ["A", "C", "Z"], "side": 1, "share": 0.5},
    {"name": "suppliers", "tickers": ["B"], "side": -1, "share": 0.5},
]
IMPACT_COSTS = {
    "slippage": "impact",
    "half_spread_bps": 1.0,
    "impact_k": 0.1,
    "impact_lookback": 2,
}


def test_impact_slippage() -> None:
    # Decision d2, window r[d1], r[d2]. A: sigma = stdev(+0.1, -0.1), ADV = (1000+3000)/2
    # = 2000, q_A = 0.5*1000/9.9; slip_A = 1e-4 + 0.1 * sigma * sqrt(q_A / 2000), used for the
    # d3 entry (open 10) and the d5 exit (open 10.5). B: sigma 0, so slip_B = 1e-4.
    # C (one finite return) and Z (ADV 0) are excluded at sizing.
    r = run(events((3, 1)), config(costs=IMPACT_COSTS, legs=IMPACT_LEGS), IMPACT_BARS)
    q_a = 0.5 * 1000 / 9.9
    slip_a = 1e-4 + 0.1 * _stdev([11 / 10 - 1, 9.9 / 11 - 1]) * math.sqrt(q_a / 2000)
    book = r.books.iloc[0]
    assert approx(q_a) == book.A and math.isnan(book.C) and math.isnan(book.Z)
    assert fill_rows(r) == [
        (D[3], "B", "short", 0),
        (D[3], "A", "buy", 0),
        (D[5], "A", "sell", 0),
        (D[5], "B", "cover", 0),
    ]
    assert list(r.fills.price) == approx(
        [20 * (1 - 1e-4), 10 * (1 + slip_a), 10.5 * (1 - slip_a), 20 * (1 + 1e-4)]
    )
    assert list(r.fills.slippage) == approx(
        [25 * 20 * 1e-4, q_a * 10 * slip_a, q_a * 10.5 * slip_a, 25 * 20 * 1e-4]
    )


def test_impact_records_the_excluded_names() -> None:
    r = run(events((3, 1)), config(costs=IMPACT_COSTS, legs=IMPACT_LEGS), IMPACT_BARS)
    assert r.books.iloc[0].excluded == ("C: fewer than 2 returns for sigma and ADV", "Z: ADV 0")


def test_participation_cap_fail_names_session_ticker_shares_and_adv() -> None:
    # q_A = 50.505... > 0.01 * ADV 2000 = 20.
    costs = IMPACT_COSTS | {"max_participation": 0.01}
    with pytest.raises(ValueError) as caught:
        run(events((3, 1)), config(costs=costs, legs=IMPACT_LEGS), IMPACT_BARS)
    message = str(caught.value)
    for part in ("A", "2024-01-11", repr(0.5 * 1000 / 9.9), "2000"):
        assert part in message


def test_participation_cap_scale_cuts_the_entry_not_the_exit() -> None:
    # Flat slippage 0; ADV over impact_lookback = 2 sessions: A 2000, B 1e6.
    # q_A cut to 0.01 * 2000 = 20 (B's 25 < 10,000 is not cut); the exit sells the 20.
    costs = {"max_participation": 0.01, "on_cap": "scale", "impact_lookback": 2}
    r = run(events((3, 1)), config(costs=costs), IMPACT_BARS)
    book = r.books.iloc[0]
    assert (book.A, book.B, book.capped) == (approx(20), approx(-25), ("A",))
    assert list(r.fills.shares) == approx([25, 20, 20, 25])
    # d3: cash 1000 + 25*20 - 20*10 = 1300; d5: + 20*10.5 - 25*20 = 1010.
    assert r.equity.equity[D[5]] == approx(1010)


def test_participation_cap_scale_after_whole_rounding() -> None:
    # READING: the cap is checked on the rounded q and cuts it to exactly cap x ADV, not
    # re-rounded: max_participation 0.00625 x ADV 2000 = 12.5; q_A = 50.5 -> 50 -> 12.5.
    costs = {
        "max_participation": 0.00625,
        "on_cap": "scale",
        "impact_lookback": 2,
        "rounding": "whole",
    }
    r = run(events((3, 1)), config(costs=costs), IMPACT_BARS)
    assert (r.books.iloc[0].A, r.books.iloc[0].B) == (12.5, -25)


def test_borrow_flat_with_weekend() -> None:
    # borrow 50 bp, H = 3: short 25 B held at the closes of d2 (18), d3 (18), d4 (17, Friday:
    # 3 nights to Monday d5). Fees at the opens of d3, d4, d5.
    r = run(events((2, 1)), config(strategy={"hold_sessions": 3}, costs={"borrow_bps": 50.0}))
    f3, f4, f5 = 0.005 * 25 * 18 / 365, 0.005 * 25 * 18 / 365, 0.005 * 25 * 17 * 3 / 365
    assert list(r.borrow.date) == [D[3], D[4], D[5]]
    assert list(r.borrow.fee) == approx([f3, f4, f5])
    # d5 open: sell 50 A at 14, cover 25 B at 16: 925 - fees + 700 - 400.
    assert r.equity.equity[D[5]] == approx(1225 - f3 - f4 - f5)
    assert r.equity.equity[D[3]] == approx(1075 - f3)


def test_borrow_by_ticker() -> None:
    # Short leg [B, C]: q_B = -0.25*1000/20 = -12.5 at 300 bp; q_C = -0.25*1000/40 = -6.25 at
    # the flat 50 bp. Held at the closes of d2 (B 18, C 40) and d3 (B 18, C 40).
    legs = [LEGS[0], {"name": "suppliers", "tickers": ["B", "C"], "side": -1, "share": 0.5}]
    bars = standard() | {"C": frame([40] * 6)}
    costs = {"borrow_bps": 50.0, "borrow_by_ticker": {"B": 300.0}}
    r = run(events((2, 1)), config(legs=legs, costs=costs), bars)
    fee_b, fee_c = 0.03 * 12.5 * 18 / 365, 0.005 * 6.25 * 40 / 365
    assert list(zip(r.borrow.date, r.borrow.ticker, strict=True)) == [
        (D[3], "B"),
        (D[3], "C"),
        (D[4], "B"),
        (D[4], "C"),
    ]
    assert list(r.borrow.fee) == approx([fee_b, fee_c, fee_b, fee_c])


def test_borrow_table_carries_forward() -> None:
    # One row: B 300 bp from d3. Close d2: before the first row -> borrow_bps 50;
    # close d3: the d3 row (300); close d4: carried forward (300), 3 nights.
    table = pd.DataFrame({"date": ["2024-01-11"], "ticker": ["B"], "borrow_bps": [300.0]})
    costs = {"borrow_bps": 50.0, "borrow_table": table}
    r = run(events((2, 1)), config(strategy={"hold_sessions": 3}, costs=costs))
    expected = [0.005 * 25 * 18 / 365, 0.03 * 25 * 18 / 365, 0.03 * 25 * 17 * 3 / 365]
    assert list(r.borrow.fee) == approx(expected)


def test_borrow_table_replaces_borrow_by_ticker() -> None:
    # READING: with a table, a ticker it does not list (and dates before a ticker's first row)
    # use borrow_bps, as written, even when borrow_by_ticker names it. B: no row -> 50 bp.
    table = pd.DataFrame({"date": ["2024-01-11"], "ticker": ["Q"], "borrow_bps": [300.0]})
    costs = {"borrow_bps": 50.0, "borrow_table": table, "borrow_by_ticker": {"B": 900.0}}
    r = run(events((2, 1)), config(costs=costs))
    assert list(r.borrow.fee) == approx([0.005 * 25 * 18 / 365] * 2)


# ---------------------------------------------------------------------------------------------
# §6 Exits
# ---------------------------------------------------------------------------------------------


def exit_bars(a_closes: list[float]) -> dict[str, pd.DataFrame]:
    """A opens at 10 every session with the given closes; B flat at 20.

    A book entered at d1 (decision d0: A 10, B 20) has R_t = 0.5 * (A_close_t / 10 - 1).
    """
    return {"A": frame([10] * 6, a_closes), "B": frame([20] * 6)}


def exits_config(**exits: float) -> dict[str, Any]:
    return config(strategy={"hold_sessions": 10, "exits": exits})


def test_stop_loss() -> None:
    # R_d1 = 0, R_d2 = 0.5*(8.8/10 - 1) = -0.06 <= -0.05: close at the d3 open.
    r = run(events((1, 1)), exits_config(stop_loss=0.05), exit_bars([10, 10, 8.8, 9, 9, 9]))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "stop_loss")
    # d1: buy 50 A at 10, short 25 B at 20 (cash 1000); d3: sell 50 at 10, cover 25 at 20.
    assert list(r.equity.equity) == approx([1000, 1000, 940, 1000, 1000, 1000])


def test_take_profit() -> None:
    # R_d2 = 0.5*(11.2/10 - 1) = 0.06 >= 0.05.
    r = run(events((1, 1)), exits_config(take_profit=0.05), exit_bars([10, 10, 11.2, 9, 9, 9]))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "take_profit")


def test_trailing_stop() -> None:
    # R: d1 0.1 (peak), d2 0.04: 0.1 - 0.04 = 0.06 >= 0.05 fires (0.1 - 0.1 = 0 at d1 does not).
    r = run(events((1, 1)), exits_config(trailing_stop=0.05), exit_bars([10, 12, 10.8, 9, 9, 9]))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "trailing_stop")


def test_trailing_stop_peak_starts_at_zero() -> None:
    # R_d1 = -0.06 at the entry close: M = max(0, -0.06) = 0, 0 - (-0.06) >= 0.05 fires.
    r = run(events((1, 1)), exits_config(trailing_stop=0.05), exit_bars([10, 8.8, 10, 10, 10, 10]))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[2], "trailing_stop")


def test_stop_loss_comes_before_trailing_stop() -> None:
    # R: d1 0.1, d2 -0.06: both stop_loss (-0.06 <= -0.05) and trailing (0.16 >= 0.05) fire.
    cfg = exits_config(stop_loss=0.05, trailing_stop=0.05)
    r = run(events((1, 1)), cfg, exit_bars([10, 12, 8.8, 9, 9, 9]))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "stop_loss")


def test_a_stop_fires_on_the_close_that_extends_the_book() -> None:
    # Entry d1, H = 2 (exit d3). The +1 entering d3 extends the exit to 5 at the d2 close, then
    # (c) checks the stop on R_d2 = -0.06: closed at d3 by stop_loss; no new book.
    cfg = config(strategy={"exits": {"stop_loss": 0.05}})
    r = run(events((1, 1), (3, 1)), cfg, exit_bars([10, 10, 8.8, 9, 9, 9]))
    assert len(r.books) == 1
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "stop_loss")
    assert log_of(r, "e1") == ("extended", "book 0")


def test_hold_and_counter_come_before_stops() -> None:
    # H = 2: planned exit d3 = the stop's fill (R_d2 = -0.06): closed_by hold.
    cfg = config(strategy={"exits": {"stop_loss": 0.05}})
    r = run(events((1, 1)), cfg, exit_bars([10, 10, 8.8, 9, 9, 9]))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "hold")
    # A -1 event entering d3: the signal (a) comes first: closed_by counter.
    r = run(
        events((1, 1), (3, -1)), exits_config(stop_loss=0.05), exit_bars([10, 10, 8.8, 9, 9, 9])
    )
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "counter")


def test_stop_at_the_last_close_cannot_fill() -> None:
    # R_d5 = -0.06 fires at the last close: no next open, the book stays open.
    r = run(events((1, 1)), exits_config(stop_loss=0.05), exit_bars([10, 10, 10, 10, 10, 8.8]))
    assert pd.isna(r.books.iloc[0].exit) and r.books.iloc[0].closed_by is None
    assert r.equity.equity[D[5]] == approx(1000 + 50 * (8.8 - 10))


def test_max_hold() -> None:
    # H = 5, K = 2: planned exit = min(1 + 5, 1 + 2) = d3, set by the cap: max_hold.
    cfg = config(strategy={"hold_sessions": 5, "exits": {"max_hold": 2}})
    r = run(events((1, 1)), cfg)
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "max_hold")
    # H = 2, K = 3, extended at d2: uncapped max(3, 4) = 4 = entry + K: not the cap -> hold.
    cfg = config(strategy={"exits": {"max_hold": 3}})
    r = run(events((1, 1), (2, 1)), cfg)
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[4], "hold")
    # ... extended again at d3: uncapped 5 > entry + K = 4: max_hold at d4.
    r = run(events((1, 1), (2, 1), (3, 1)), cfg)
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[4], "max_hold")


# ---------------------------------------------------------------------------------------------
# §7 Data that ends; §8 ruin
# ---------------------------------------------------------------------------------------------


def ending_bars(a_last: int = 5) -> dict[str, pd.DataFrame]:
    """A opens at 10 (close 10.2 at d3); B's last bar is d3, where it opens at 24."""
    a_close = [10, 10, 10, 10.2, 10, 10]
    a_open = [10] * 6
    for k in range(a_last + 1, 6):
        a_close[k] = a_open[k] = NAN
    return {
        "A": frame(a_open, a_close),
        "B": frame([20, 20, 20, 24, NAN, NAN], [20, 20, 20, 20, NAN, NAN]),
    }


def test_data_end_closes_the_name_and_the_book_runs_on() -> None:
    # Book from d1 (50 A at 10, -25 B at 20: cash 1000). B ends at d3: cover 25 at its d3 open
    # 24 (cash 400). d3 close: 400 + 50*10.2 = 910; d4, d5: 400 + 500 = 900.
    r = run(events((1, 1)), config(strategy={"hold_sessions": 10}), ending_bars())
    assert fill_rows(r)[2:] == [(D[3], "B", "cover", 0)]
    assert list(r.equity.equity) == approx([1000, 1000, 1000, 910, 900, 900])
    assert pd.isna(r.books.iloc[0].exit)


def test_book_return_uses_the_exit_open_of_an_ended_name() -> None:
    # R_d3 = 0.5*(10.2/10 - 1) - 0.5*(24/20 - 1) = 0.01 - 0.1 = -0.09 (B at its d3 open, not
    # its d3 close 20, which would give +0.01): stop_loss, A sold at the d4 open.
    r = run(events((1, 1)), exits_config(stop_loss=0.05), ending_bars())
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[4], "stop_loss")
    assert fill_rows(r)[-1] == (D[4], "A", "sell", 0)


def test_book_whose_names_all_ended_is_closed_by_data_end() -> None:
    # A's last bar is d4 too: sold at the d4 open; the book counts as closed at d4.
    r = run(events((1, 1)), config(strategy={"hold_sessions": 10}), ending_bars(a_last=4))
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[4], "data_end")


def test_name_ending_at_the_entry_is_not_eligible() -> None:
    # Entry d3 = B's last bar: the suppliers leg is empty, so no book.
    r = run(events((3, 1)), config(), ending_bars())
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "leg suppliers has no eligible name")


def test_ruin_freezes_the_run() -> None:
    # borrow 50 bp. Book from d1: 50 A at 10, -25 B at 20: cash 1000. d2 open: fee
    # 0.005*25*20/365. d2 close: B at 62: equity = 1000 - fee + 500 - 1550 < 0: ruin. The
    # planned exit at d3 never fills; no more borrow; equity held.
    bars = {"A": frame([10] * 6), "B": frame([20, 20, 20, 20, 20, 20], [20, 20, 62, 20, 20, 20])}
    r = run(events((1, 1)), config(costs={"borrow_bps": 50.0}), bars)
    fee = 0.005 * 25 * 20 / 365
    ruin = 1000 - fee + 500 - 25 * 62
    assert r.ruined_on == D[2]
    assert list(r.equity.equity) == approx([1000, 1000, ruin, ruin, ruin, ruin])
    assert list(r.borrow.fee) == approx([fee])
    assert len(r.fills) == 2 and pd.isna(r.books.iloc[0].exit)


# ---------------------------------------------------------------------------------------------
# §9 Amendments A2-A7 (A1 is with §3 above) and the fill order of one open
# ---------------------------------------------------------------------------------------------

VT_SIZING = {"kind": "vol_target", "lookback": 3, "min_history": 3, "target": 0.10}
# VT_BARS at decision d3: sigma_book = sqrt(252 * 57 / 360000) = sqrt(0.0399) (test_vol_target),
# so g_vt = 0.10 / sqrt(0.0399) = 0.50063 (below max_gross 3).
G_VT = 0.10 / math.sqrt(252 * 57 / 360000)


def test_a2_scale_size_scales_vol_target_and_caps_at_max_gross() -> None:
    # A2: g = min(g_vt * |S|, max_gross). Weight 2: 2 * 0.50063 = 1.00125 < 3 (uncapped).
    signal = {"kind": "weighted", "scale_size": True}
    cfg = config(strategy={"sizing": VT_SIZING, "signal": signal})
    r = run(events((4, 1, 2.0)), cfg, VT_BARS)
    book = r.books.iloc[0]
    assert book.gross == approx(2 * G_VT)
    # q_A = g * 0.5 * 1000 / close_A[d3], q_B = -g * 0.5 * 1000 / close_B[d3].
    assert approx(2 * G_VT * 0.5 * 1000 / VT_BARS["A"].close[D[3]]) == book.A
    assert approx(-2 * G_VT * 0.5 * 1000 / VT_BARS["B"].close[D[3]]) == book.B
    # Weight 7: 7 * 0.50063 = 3.504 > 3: g = max_gross = 3.
    r = run(events((4, 1, 7.0)), cfg, VT_BARS)
    assert r.books.iloc[0].gross == 3.0


def test_a2_reading_g_vt_is_the_capped_vol_target_gross() -> None:
    # READING: A2's g_vt is §4's vol_target gross min(target / sigma_book, max_gross).
    # target 100: 100 / 0.19975 = 500.6 -> g_vt = 3; weight 0.5: g = min(3 * 0.5, 3) = 1.5
    # (not min(500.6 * 0.5, 3) = 3).
    sizing = VT_SIZING | {"target": 100.0}
    signal = {"kind": "weighted", "scale_size": True}
    r = run(events((4, 1, 0.5)), config(strategy={"sizing": sizing, "signal": signal}), VT_BARS)
    assert r.books.iloc[0].gross == approx(1.5)


def test_a3_counter_comes_before_a_scheduled_close() -> None:
    # per_event, counter close, H = 2: sub-book 0 enters d1 (planned exit d3), sub-book 1 enters
    # d2 (exit d4). The -1 entering d3 closes both first: book 0 is closed_by counter, not hold.
    cfg = config(strategy={"books": {"kind": "per_event"}})
    r = run(events((1, 1), (2, 1), (3, -1)), cfg)
    assert list(r.books.exit) == [D[3], D[3]]
    assert list(r.books.closed_by) == ["counter", "counter"]
    assert log_of(r, "e2") == ("closed", "counter")


def test_a3_gross_cap_counts_a_sub_book_stopped_at_the_same_open() -> None:
    # per_event, max_gross 1 (one sub-book at a time), H = 10, stop_loss 5%. A closes 10, 10,
    # 8.8, ... (opens 10), B flat 20. Sub-book 0: decision d0 (equity 1000): q_A = 50, q_B =
    # -25, filled at d1 (cash 1000 - 500 + 500 = 1000). At the d2 close R = 0.5*(8.8/10 - 1)
    # = -0.06 <= -0.05: stop, closing at d3. The +1 entering d3 sees 0 open + 1 <= 1: opens.
    cfg = config(
        strategy={
            "hold_sessions": 10,
            "max_gross": 1.0,
            "books": {"kind": "per_event"},
            "exits": {"stop_loss": 0.05},
        }
    )
    r = run(events((1, 1), (3, 1)), cfg, exit_bars([10, 10, 8.8, 9, 9, 9]))
    assert list(r.books.entry) == [D[1], D[3]]
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[3], "stop_loss")
    assert log_of(r, "e1") == ("opened", "book 1")
    # Sub-book 1 on equity at d2 = 1000 + 50*(8.8 - 10) = 940: q_A = 0.5*940/8.8,
    # q_B = -0.5*940/20 = -23.5.
    q_a, q_b = 0.5 * 940 / 8.8, -0.5 * 940 / 20
    assert (approx(q_a), approx(q_b)) == (r.books.iloc[1].A, r.books.iloc[1].B)
    # d3 open: sells (book 0 sells A, book 1 shorts B), then buys (book 0 covers B, book 1
    # buys A): cash = 1000 + 50*10 + 23.5*20 - 25*20 - q_a*10 = 1470 - q_a*10.
    assert fill_rows(r)[2:] == [
        (D[3], "A", "sell", 0),
        (D[3], "B", "short", 1),
        (D[3], "B", "cover", 0),
        (D[3], "A", "buy", 1),
    ]
    assert list(r.fills.shares[2:]) == approx([50, 23.5, 25, q_a])
    # d3 close: A 9, B 20: 1470 - 10 q_a + 9 q_a - 23.5*20 = 1000 - q_a.
    assert r.equity.equity[D[3]] == approx(1000 - q_a)


def test_a3_gross_cap_counts_a_sub_book_closed_by_data_end_at_the_same_open() -> None:
    # per_event, max_gross 1, H = 10. Legs spenders [A, C] +1, suppliers [B, F] -1; C and F
    # list at d1, so sub-book 0 (decision d0) holds A and B only: q_A = 0.5*1000/10 = 50,
    # q_B = -0.5*1000/20 = -25 (cash 1000 after d1). B's last bar is d3: covered at its d3 open
    # 24 (cash 1000 - 600 = 400); A's last bar is d4: sold at the d4 open 10, so sub-book 0
    # closes at d4 by data_end. The +1 entering d4 (decision d3, where A and B are no longer
    # eligible) sees 0 open + 1 <= 1: sub-book 1 opens with C and F.
    legs = [
        {"name": "spenders", "tickers": ["A", "C"], "side": 1, "share": 0.5},
        {"name": "suppliers", "tickers": ["B", "F"], "side": -1, "share": 0.5},
    ]
    bars = ending_bars(a_last=4) | {
        "C": frame([NAN, 10, 10, 10, 10, 10]),
        "F": frame([NAN, 20, 20, 20, 20, 20]),
    }
    cfg = config(
        strategy={"hold_sessions": 10, "max_gross": 1.0, "books": {"kind": "per_event"}},
        legs=legs,
    )
    r = run(events((1, 1), (4, 1)), cfg, bars)
    assert (r.books.iloc[0].exit, r.books.iloc[0].closed_by) == (D[4], "data_end")
    assert log_of(r, "e1") == ("opened", "book 1")
    # Sub-book 1 on equity at d3 = 400 + 50*10.2 = 910: q_C = 0.5*910/10 = 45.5,
    # q_F = -0.5*910/20 = -22.75; A and B are not in it.
    second = r.books.iloc[1]
    assert (approx(45.5), approx(-22.75)) == (second.C, second.F)
    assert math.isnan(second.A) and math.isnan(second.B)
    assert fill_rows(r)[3:] == [
        (D[4], "A", "sell", 0),
        (D[4], "F", "short", 1),
        (D[4], "C", "buy", 1),
    ]
    # d4: cash = 400 + 50*10 + 22.75*20 - 45.5*10 = 900; C and F flat: equity 900 from d4.
    assert list(r.equity.equity) == approx([1000, 1000, 1000, 910, 900, 900])


# A4 markets: a name listed late joins the long leg of the beta and vol-target markets.
BETA_LATE = BETA_BARS | {"L": frame([NAN, NAN, 10, 10.8, 10.8, 10.8])}  # only r[d3] by d3
VT_LATE = VT_BARS | {"L": frame([NAN, NAN, 10, 11, 12, 13])}


def test_a4_beta_neutral_excludes_a_short_history_instead_of_refusing() -> None:
    # Spenders [A, C, L], decision d3, lookback = min_history = 3. L has 1 finite return in
    # r[d1..d3] < 3: excluded for short history before weighting. The sample is then over the
    # kept names A, C, B (3 sessions), so the book is test_beta_neutral's: w_A = w_C = 1/7,
    # w_B = -5/7. (Without A4 the common sessions of A, C, L would be 1 < 3: refused.)
    legs = [BETA_LEGS[0] | {"tickers": ["A", "C", "L"]}, BETA_LEGS[1]]
    sizing = {"kind": "beta_neutral", "lookback": 3, "min_history": 3}
    r = run(events((4, 1)), config(strategy={"sizing": sizing}, legs=legs), BETA_LATE, BETA_BENCH)
    book = r.books.iloc[0]
    a3, c3, b3 = (BETA_BARS[x].close[D[3]] for x in "ACB")
    assert approx(1 / 7 * 1000 / a3) == book.A
    assert approx(1 / 7 * 1000 / c3) == book.C
    assert approx(-5 / 7 * 1000 / b3) == book.B
    assert math.isnan(book.L) and book.excluded == ("L: short history",)


def test_a4_beta_neutral_keeps_a_name_with_min_history() -> None:
    # lookback 3, min_history 2, decision d3. L (returns 4 rb) has no bar at d0 and lists at
    # d1: finite r[d2], r[d3] (2 >= 2), so it is kept. The long leg's sample is the sessions
    # where A, C, L and rb all have returns: d2, d3 (2 >= 2); the short leg's: d1..d3.
    bars = BETA_BARS | {"L": frame([NAN, *_path(10, 4)[1:]])}
    legs = [BETA_LEGS[0] | {"tickers": ["A", "C", "L"]}, BETA_LEGS[1]]
    sizing = {"kind": "beta_neutral", "lookback": 3, "min_history": 2}
    r = run(events((4, 1)), config(strategy={"sizing": sizing}, legs=legs), bars, BETA_BENCH)
    # v = 1/3 each: x = (2 + 3 + 4)/3 rb = 3 rb over d2, d3: beta 3; short leg beta 1.
    # B+ = 0.5*3 = 1.5, B- = 0.5: a = 1 / (0.5 + 0.5*3) = 1/2, b = a*3 = 3/2.
    # w_A = w_C = w_L = 0.5 * 1/2 * 1/3 = 1/12, w_B = -3/2 * 0.5 = -3/4 (sum |w| = 1).
    book = r.books.iloc[0]
    closes = {x: bars[x].close[D[3]] for x in "ACLB"}
    for x in "ACL":
        assert approx(1 / 12 * 1000 / closes[x]) == book[x]
    assert approx(-3 / 4 * 1000 / closes["B"]) == book.B
    assert book.excluded == ()


def test_a4_vol_target_excludes_a_short_history_instead_of_refusing() -> None:
    # Spenders [A, L], decision d3, lookback = min_history = 3: L (1 return) excluded, so the
    # book is test_vol_target's: w_A = 0.5, w_B = -0.5, g = 0.10 / sqrt(0.0399).
    legs = [LEGS[0] | {"tickers": ["A", "L"]}, LEGS[1]]
    r = run(events((4, 1)), config(strategy={"sizing": VT_SIZING}, legs=legs), VT_LATE)
    book = r.books.iloc[0]
    assert book.gross == approx(G_VT)
    assert approx(G_VT * 0.5 * 1000 / VT_BARS["A"].close[D[3]]) == book.A
    assert approx(-G_VT * 0.5 * 1000 / VT_BARS["B"].close[D[3]]) == book.B
    assert math.isnan(book.L) and book.excluded == ("L: short history",)


def test_a4_a_leg_left_empty_refuses_the_book() -> None:
    # Suppliers [L] only: L excluded (short history) leaves the leg empty, for each sizer.
    legs = [LEGS[0], LEGS[1] | {"tickers": ["L"]}]
    for sizing, bars in (
        ({"kind": "inverse_vol", "lookback": 3, "min_history": 3}, VT_LATE),
        (VT_SIZING, VT_LATE),
        ({"kind": "beta_neutral", "lookback": 3, "min_history": 3}, BETA_LATE),
    ):
        r = run(events((4, 1)), config(strategy={"sizing": sizing}, legs=legs), bars, BETA_BENCH)
        assert r.books.empty
        assert log_of(r, "e0") == ("ignored", "leg suppliers has no eligible name")


def test_a4_common_sample_over_the_kept_names_can_still_refuse() -> None:
    # vol_target, lookback 4, min_history 2, decision d4 (window r[d1..d4]). G has no bar at
    # d2: finite r[d1], r[d4]. H has no bar at d3: finite r[d1], r[d2]. Both kept (2 >= 2),
    # but they share only d1: 1 < 2 sessions, so the book is not opened.
    bars = {"G": frame([10, 11, NAN, 12, 13, 13]), "H": frame([20, 21, 22, NAN, 23, 23])}
    legs = [LEGS[0] | {"tickers": ["G"]}, LEGS[1] | {"tickers": ["H"]}]
    sizing = VT_SIZING | {"lookback": 4, "min_history": 2}
    r = run(events((5, 1)), config(strategy={"sizing": sizing}, legs=legs), bars)
    assert r.books.empty
    assert log_of(r, "e0") == (
        "ignored",
        "vol_target: 1 sessions with every name's return (min_history 2)",
    )


def test_a5_participation_cap_with_flat_slippage_excludes_like_impact() -> None:
    # Flat slippage 0, max_participation 0.5, impact_lookback 2, decision d2 (window r[d1],
    # r[d2]). C has no bar at d0, so r[d1] is NaN: excluded; Z has ADV 0: excluded (not a
    # cap failure). A: ADV (1000 + 3000)/2 = 2000, q_A = 0.5*1000/9.9 = 50.5 <= 1000;
    # B: q_B = -25 <= 0.5 * 1e6. Nothing is cut.
    costs = {"max_participation": 0.5, "impact_lookback": 2}
    r = run(events((3, 1)), config(costs=costs, legs=IMPACT_LEGS), IMPACT_BARS)
    book = r.books.iloc[0]
    q_a = 0.5 * 1000 / 9.9
    assert (approx(q_a), approx(-25)) == (book.A, book.B)
    assert math.isnan(book.C) and math.isnan(book.Z) and book.capped == ()
    assert book.excluded == ("C: fewer than 2 returns for sigma and ADV", "Z: ADV 0")
    # d3: buy q_A at 10, short 25 B at 20; d5: sell q_A at 10.5, cover 25 at 20:
    # 1000 + q_A * (10.5 - 10) = 1000 + 0.5 q_A.
    assert r.equity.equity[D[5]] == approx(1000 + 0.5 * q_a)


def test_a5_adv_window_is_not_clipped_at_the_run_start() -> None:
    # Decision d1 with impact_lookback 2: the window r[d0], r[d1] has r[d0] = NaN (no close
    # before d0), so every name lacks 2 returns: the spenders leg is empty, no book. (Flat
    # slippage, only the cap needs ADV.)
    costs = {"max_participation": 0.5, "impact_lookback": 2}
    r = run(events((2, 1)), config(costs=costs))
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "leg spenders has no eligible name")
    # Without a cap (flat slippage), ADV is not needed and the baseline book opens.
    r = run(events((2, 1)), config(costs={"impact_lookback": 2}))
    assert list(r.equity.equity) == approx([1000, 1000, 1075, 1075, 1150, 1150])


def test_a5_reading_a_missing_volume_excludes_the_name() -> None:
    # READING: a bar with a close but no volume inside the window makes ADV NaN: excluded
    # like ADV 0. C joins the spenders with volume NaN at d2: C excluded, A keeps the leg
    # (q_A = 0.5*1000/9.9 as in the A5 test above).
    bars = IMPACT_BARS | {"C": frame([10] * 6, volume=[1e6, 1e6, NAN, 1e6, 1e6, 1e6])}
    legs = [IMPACT_LEGS[0] | {"tickers": ["A", "C"]}, IMPACT_LEGS[1]]
    costs = {"max_participation": 0.5, "impact_lookback": 2}
    r = run(events((3, 1)), config(costs=costs, legs=legs), bars)
    book = r.books.iloc[0]
    assert approx(0.5 * 1000 / 9.9) == book.A and math.isnan(book.C)
    assert book.excluded == ("C: ADV nan",)


def test_a6_vol_target_with_zero_book_volatility_takes_max_gross() -> None:
    # B = 2 x A exactly, so r_B = r_A on every session and, with w = (0.5, -0.5),
    # w' Sigma w = 0.25 (s - s - s + s) = 0: sigma_book = 0, g = max_gross = 3 (target / 0).
    a = VT_BARS["A"]
    bars = {"A": a, "B": frame(list(2 * a.open), list(2 * a.close))}
    r = run(events((4, 1)), config(strategy={"sizing": VT_SIZING, "max_gross": 3.0}), bars)
    book = r.books.iloc[0]
    assert book.gross == 3.0
    # q_A = 3 * 0.5 * 1000 / close_A[d3], q_B = -3 * 0.5 * 1000 / (2 close_A[d3]).
    assert approx(1500 / a.close[D[3]]) == book.A
    assert approx(-1500 / (2 * a.close[D[3]])) == book.B
    # READING (A2 with A6): scale_size then multiplies that capped gross: weight 0.5 gives
    # g = min(3 * 0.5, 3) = 1.5.
    signal = {"kind": "weighted", "scale_size": True}
    cfg = config(strategy={"sizing": VT_SIZING, "max_gross": 3.0, "signal": signal})
    r = run(events((4, 1, 0.5)), cfg, bars)
    assert r.books.iloc[0].gross == 1.5


@pytest.mark.parametrize(
    "books",
    [
        {"kind": "single", "counter": "close"},
        {"kind": "single", "counter": "reverse"},
        {"kind": "per_event", "counter": "close"},
        {"kind": "per_event", "counter": "reverse"},
    ],
)
def test_a7_a_book_closed_by_a_counter_trigger_is_closed_by_counter(books: dict) -> None:
    # H = 5. Book 0 enters d1 (decision d0: q_A = 50 at 10, q_B = -25 at 20, cash 1000). The -1
    # entering d3 closes it at the d3 open (sell 50 A at 12, cover 25 B at 18: cash 1150),
    # closed_by "counter" with or without reverse; reverse then opens a -1 book at d3.
    r = run(events((1, 1), (3, -1)), config(strategy={"hold_sessions": 5, "books": books}))
    first = r.books.iloc[0]
    assert (first.exit, first.closed_by) == (D[3], "counter")
    assert r.fills.price[(r.fills.book == 0) & (r.fills.date == D[3])].tolist() == [12, 18]
    if books["counter"] == "reverse":
        assert list(r.books.direction) == [1, -1] and r.books.entry[1] == D[3]
    else:
        assert len(r.books) == 1
        assert list(r.equity.equity[3:]) == approx([1150, 1150, 1150])


def test_fill_order_sells_then_buys_by_book_leg_and_ticker_in_leg() -> None:
    # Legs spenders [C, A] +1 0.5 and suppliers [Z, B] -1 0.5 (not alphabetical); per_event,
    # H = 1. Sub-book 0: decision d0 (equity 1000): q_C = 0.25*1000/40 = 6.25, q_A = 0.25*1000
    # /10 = 25, q_Z = -0.25*1000/5 = -50, q_B = -0.25*1000/20 = -12.5; filled at d1, exit d2.
    # Sub-book 1: decision d1 (equity 1000, closes C 40, A 10, Z 5, B 20): the same shares,
    # entering d2. At d2 the sells (long exits, short sales) come first, by (book, leg, ticker
    # in leg): book 0 sells C then A; book 1 shorts Z then B; then the buys: book 0 covers Z
    # then B; book 1 buys C then A.
    legs = [
        {"name": "spenders", "tickers": ["C", "A"], "side": 1, "share": 0.5},
        {"name": "suppliers", "tickers": ["Z", "B"], "side": -1, "share": 0.5},
    ]
    bars = standard() | {"C": frame([40] * 6), "Z": frame([5] * 6)}
    cfg = config(strategy={"hold_sessions": 1, "books": {"kind": "per_event"}}, legs=legs)
    r = run(events((1, 1), (2, 1)), cfg, bars)
    at_d2 = [(row[1], row[2], row[3]) for row in fill_rows(r) if row[0] == D[2]]
    assert at_d2 == [
        ("C", "sell", 0),
        ("A", "sell", 0),
        ("Z", "short", 1),
        ("B", "short", 1),
        ("Z", "cover", 0),
        ("B", "cover", 0),
        ("C", "buy", 1),
        ("A", "buy", 1),
    ]
    assert list(r.fills.shares[r.fills.date == D[2]]) == approx(
        [6.25, 25, 50, 12.5, 50, 12.5, 6.25, 25]
    )
    # d2 cash: +6.25*40 + 25*11 + 50*5 + 12.5*19 - 50*5 - 12.5*19 - 6.25*40 - 25*11 = 1000;
    # close: 1000 + 6.25*40 + 25*12 - 50*5 - 12.5*18 = 1075.
    assert r.equity.cash[D[2]] == approx(1000)
    assert r.equity.equity[D[2]] == approx(1075)


# ---------------------------------------------------------------------------------------------
# Config checks
# ---------------------------------------------------------------------------------------------


def test_config_refuses_unknown_keys_and_bad_legs() -> None:
    with pytest.raises(ValueError, match=r"unknown key strategy\.sizing\.scale_by_signal"):
        run(events((2, 1)), config(strategy={"sizing": {"scale_by_signal": True}}))
    legs = [LEGS[0] | {"share": 0.6}, LEGS[1]]
    with pytest.raises(ValueError, match="shares must sum to 1"):
        run(events((2, 1)), config(legs=legs))
    with pytest.raises(ValueError, match=r"above strategy\.max_gross"):
        run(events((2, 1)), config(strategy={"gross": 4.0}))
