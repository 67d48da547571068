"""Time the policy reference (tests/reference_policies.py) on a synthetic 2,900-session,
13-name market with 60 events, for four policy mixes. Prints figures; asserts nothing.

    python bench/bench_reference_policies.py

Synthetic (seeded) data, so it needs no market data and no network: one name lists late and
one ends early, as SNDK and ENTG do in the shared data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_policies import reference_run

NAMES = ["META", "MSFT", "GOOGL", "AMZN", "AMAT", "LRCX", "KLAC", "ASML", "TER", "ENTG", "MU"]
NAMES += ["WDC", "SNDK"]
SESSIONS = 2900


def market(seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.Series, pd.DatetimeIndex]:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2015-01-02", periods=SESSIONS)
    bars = {}
    for name in NAMES:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, SESSIONS)))
        open_ = close * np.exp(rng.normal(0, 0.005, SESSIONS))
        frame = pd.DataFrame(
            {
                "open": open_,
                "high": np.fmax(open_, close),
                "low": np.fmin(open_, close),
                "close": close,
                "volume": rng.uniform(1e5, 1e6, SESSIONS),
            },
            index=days,
        )
        if name == "SNDK":
            frame.iloc[:2600] = np.nan  # lists late
        if name == "ENTG":
            frame.iloc[2300:] = np.nan  # data ends
        bars[name] = frame
    benchmark = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, SESSIONS))), index=days)
    return bars, benchmark, days


def main() -> None:
    bars, benchmark, days = market()
    rng = np.random.default_rng(1)
    at = np.sort(rng.choice(np.arange(1, SESSIONS), 60, replace=False))
    events = pd.DataFrame(
        {
            "entry": days[at],
            "direction": rng.choice([1, 1, -1], 60),
            "weight": rng.uniform(0, 2, 60),
            "id": [f"e{k}" for k in range(60)],
        }
    )
    legs = [
        {"name": "spenders", "tickers": NAMES[:4], "side": 1, "share": 0.5},
        {"name": "suppliers", "tickers": NAMES[4:], "side": -1, "share": 0.5},
    ]
    stops = {"stop_loss": 0.05, "trailing_stop": 0.08, "take_profit": 0.1, "max_hold": 8}
    mixes = {
        "defaults": ({}, {}),
        "per_event reverse, inverse_vol, stops, impact, whole": (
            {
                "books": {"kind": "per_event", "counter": "reverse"},
                "sizing": {"kind": "inverse_vol"},
                "exits": stops,
            },
            {"slippage": "impact", "rounding": "whole"},
        ),
        "beta_neutral (within equal)": ({"sizing": {"kind": "beta_neutral"}}, {}),
        "vol_target, weighted scale_size, borrow by ticker": (
            {"sizing": {"kind": "vol_target"}, "signal": {"kind": "weighted", "scale_size": True}},
            {"borrow_by_ticker": {"MU": 300.0}},
        ),
    }
    for label, (strategy, costs) in mixes.items():
        config = {"cash": 1e6, "strategy": {"legs": legs, **strategy}, "costs": costs}
        start = time.perf_counter()
        result = reference_run(bars, benchmark, days, events, config)
        seconds = time.perf_counter() - start
        print(
            f"{label}: {seconds:.2f} s, {len(result.books)} books, {len(result.fills)} fills, "
            f"final equity {result.equity.equity.iloc[-1]:,.2f}"
        )


if __name__ == "__main__":
    main()
