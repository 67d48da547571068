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
    r = run(events((0, 1), (None, 1)), config())
    assert r.books.empty
    assert log_of(r, "e0") == ("ignored", "enters at the run's first session")
    assert log_of(r, "e1") == ("ignored", "enters outside the run")
    # READING: with delay 1 a raw entry at d0 enters at d1 (decision d0, inside the run):
    # q_A = 50 at 10, q_B = -25 at 20 (cash 1000); exit d3: +50*12 - 25*18 = 1150.
    r = run(events((0, 1)), config(strategy={"entry": {"delay": 1}}))
    assert r.books.iloc[0].entry == D[1]
    assert list(r.equity.equity) == approx([1000, 1000, 1150, 1150, 1150, 1150])


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
    # Decision d2: r[d0] is NaN, so only 2 < 3 sessions of returns.
    r = run(
        events((3, 1)), config(strategy={"sizing": sizing}, legs=BETA_LEGS), BETA_BARS, BETA_BENCH
    )
    assert r.books.empty and log_of(r, "e0")[1].startswith("beta_neutral: leg spenders has 2")


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
    # Decision d2: only 2 sessions with every return < 3: not opened.
    r = run(events((3, 1)), config(strategy={"sizing": sizing}), VT_BARS)
    assert r.books.empty and log_of(r, "e0")[1].startswith("vol_target: 2 sessions")


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
    assert r.books.iloc[0].excluded == ("C: impact: fewer than 2 returns", "Z: impact: ADV 0")


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
