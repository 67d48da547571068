"""The README's research table: the rotation under each policy, on the shared data.

    python bench/research_policies.py [--data-dir ../shared/market-data] [--engine backtrader]

2015-01-01 to the newest bar, the bundled calendar, one backtrader run per row (the engine of
record; --engine fast gives the same numbers to 1e-9). In-sample: the event list and the baskets
were chosen with hindsight.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MEMORY = ("MU", "WDC", "SNDK")
ROWS = [
    ("baseline", []),
    ("beta_neutral", ["strategy.sizing.kind='beta_neutral'"]),
    ("vol_target 10%", ["strategy.sizing.kind='vol_target'", "strategy.sizing.target=0.10"]),
    ("per_event", ["strategy.books.kind='per_event'"]),
    ("stop_loss 5%", ["strategy.exits.stop_loss=0.05"]),
    ("counter = reverse", ["strategy.books.counter='reverse'"]),
    (
        "ETF legs (long QQQ, short SMH)",
        [
            "strategy.legs=[{name='qqq', tickers=['QQQ'], side=1, share=0.5}, "
            "{name='smh', tickers=['SMH'], side=-1, share=0.5}]"
        ],
    ),
    (
        "borrow 300 bp on memory",
        ["costs.borrow_by_ticker={" + ", ".join(f"{t}=300" for t in MEMORY) + "}"],
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "market-data"
    parser.add_argument("--data-dir", default=str(default))
    parser.add_argument("--engine", default="backtrader", choices=["backtrader", "fast"])
    args = parser.parse_args()
    from backtests import Backtest

    print(
        f"| policy | total return | Sharpe | max drawdown | books | costs | ({args.engine}) |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for label, overrides in ROWS:
        started = time.perf_counter()
        result = Backtest.from_config(None, args.data_dir, overrides).run(engine=args.engine)
        s = result.stats
        seconds = time.perf_counter() - started
        sharpe = "n/a" if s["sharpe"] is None else f"{s['sharpe']:.2f}"
        print(
            f"| {label} | {s['total_return']:+.2%} | {sharpe} | {s['max_drawdown']:.2%} | "
            f"{s['books']} | {s['costs']:,.0f} | {seconds:.1f} s |"
        )
    print("\nIn-sample: the event list and the baskets were chosen with hindsight.")


if __name__ == "__main__":
    main()
