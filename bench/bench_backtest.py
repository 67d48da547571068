"""Time the default backtest on the shared data: the engine alone, and the whole run with the
quantstats tear sheet. Prints figures; asserts nothing.

    python bench/bench_backtest.py [--data-dir ../shared/market-data] [--repeat 3]

"engine" = load and validate the CSVs, align, map events, plan, run backtrader.
"whole run" = engine + metrics + tear sheet + every output file, written to a temp folder.
Imports are timed once, separately (a fresh process pays them once).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=HERE.parent.parent / "shared" / "market-data"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        print(f"no market data at {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    import quantstats  # noqa: F401  (the tear sheet's import, paid once per process)

    from backtests.config import load_config, with_cli_options
    from backtests.publish import publish
    from backtests.runner import run_backtest

    imports = time.perf_counter() - t0

    config = with_cli_options(
        load_config(None), data_dir=args.data_dir, start="2015-01-01", end="2026-08-14"
    )
    engine, whole, sessions = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            t1 = time.perf_counter()
            run = run_backtest(config)
            t2 = time.perf_counter()
            publish(run, Path(tmp) / f"run{k}", tearsheet=True)
            t3 = time.perf_counter()
            engine.append(t2 - t1)
            whole.append(t3 - t1)
            sessions = run.facts["sessions"]
    bars = sessions * (len(config.universe.long) + len(config.universe.short) + 1)
    print(f"default backtest 2015-01-01..2026-08-14 on {args.data_dir}")
    print(f"  sessions: {sessions}, bars fed (universe + benchmark, max): {bars}")
    print(f"  imports (once per process):        {imports:6.2f} s")
    print(
        f"  engine alone (median of {args.repeat}):      "
        f"{statistics.median(engine):6.2f} s   runs: " + ", ".join(f"{x:.2f}" for x in engine)
    )
    print(
        f"  whole run with tear sheet (median): {statistics.median(whole):6.2f} s   runs: "
        + ", ".join(f"{x:.2f}" for x in whole)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
