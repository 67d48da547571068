"""A custom sizer in a dozen lines: weight each leg's names by their trailing dollar volume.

    python examples/custom_sizer.py [--data-dir ../shared/market-data]

A sizer is any object with a ``name`` and ``size(view, legs) -> Sizing``. The planner calls it at
every decision close with a point-in-time view (bars up to that close only: it cannot read a
later one) and the book's legs (their eligible columns); it returns signed weights that sum to 1
in absolute value. Since its weights are part of the plan, both engines execute it exactly: this
script runs it through backtrader and through the vectorised engine and prints both.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from backtests import Backtest
from strategies import Strategy
from strategies.policies import Sizing


@dataclass(frozen=True)
class DollarVolumeWeights:
    """Within each leg, weight proportional to the mean close x volume of the last
    ``lookback`` sessions up to the decision close (a name without a full window gets the
    leg's smallest weight, so a late listing still joins)."""

    lookback: int = 20
    name: str = "dollar_volume"

    def size(self, view, legs) -> Sizing:
        cols, weights = [], []
        for leg in legs:
            dollars = (
                view.close[-self.lookback :, leg.cols] * view.volume[-self.lookback :, leg.cols]
            )
            level = np.nanmean(dollars, axis=0)
            level = np.where(np.isfinite(level), level, np.nanmin(level))
            cols.append(leg.cols)
            weights.append(leg.side * leg.share * level / level.sum())
        return Sizing(np.concatenate(cols), np.concatenate(weights))


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "market-data"
    parser.add_argument("--data-dir", default=str(default))
    args = parser.parse_args()
    base = Backtest.from_config(None, args.data_dir)
    legs = Strategy.baseline(base.config.universe.long, base.config.universe.short).legs
    strategy = Strategy(legs=legs, sizer=DollarVolumeWeights())
    backtest = Backtest.from_config(None, args.data_dir, strategy=strategy)
    for engine in ("backtrader", "fast"):
        result = backtest.run(engine=engine)
        s = result.stats
        print(
            f"{engine:>10}: total return {s['total_return']:+.4%}, Sharpe {s['sharpe']:.4f}, "
            f"{s['books']} books, final equity {s['final_equity']:,.2f}"
        )
    first = result.books.iloc[0]
    print(f"first book {first['entry']}: long {first['long']}; short {first['short']}")


if __name__ == "__main__":
    main()
