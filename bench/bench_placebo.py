"""CPU seconds of 1,000 placebo draws on the shared data with the default config. Prints
figures; asserts nothing.

    python bench/bench_placebo.py [--data-dir ../shared/market-data] [--draws 1000]
                                  [--schemes circular block iid] [--skip-exact]

For each scheme: the draws (planning and running every calendar, backtests/research/
placebo_draws.run_draws) at workers 1 and 2 on the fast path, and at workers 1 on the exact path
(build_plan + the fast engine per calendar, the path before the fast one; ``--skip-exact`` to
leave it out). Loading the data, the real run, the bootstrap and the report are not counted.
CPU = this process's CPU plus that of the worker processes it waited for (their rusage), so
the figure does not move with the other jobs of a shared machine as wall time does. Each
timing also checks that the rows equal those at workers 1 (the bench prints "same rows").
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtests.config import load_config, with_cli_options
from backtests.research import placebo


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(function):
    wall, cpu = time.perf_counter(), _cpu()
    out = function()
    return out, time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/market-data")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--schemes", nargs="+", default=list(placebo.SCHEMES))
    parser.add_argument("--skip-exact", action="store_true")
    args = parser.parse_args()
    config = with_cli_options(load_config(None, []), Path(args.data_dir))
    setup = placebo.prepare_placebo(config)
    print(
        f"{len(setup.market.sessions)} sessions, {len(setup.events)} events, {args.draws} draws; "
        f"fast path: {'yes' if not setup.fast_refusal else 'no (' + setup.fast_refusal + ')'}"
    )
    print(f"{'scheme':<9} {'path':<6} {'workers':>7} {'wall s':>8} {'CPU s':>8}  rows")
    for scheme in args.schemes:
        sessions = placebo.draw_event_sessions(setup, scheme, args.draws, seed=7)
        reference = None
        runs = [("fast", 1), ("fast", 2)] + ([] if args.skip_exact else [("exact", 1)])
        for path, workers in runs:
            table, wall, cpu = _timed(
                lambda path=path, workers=workers, sessions=sessions: placebo.run_draws(
                    setup, sessions, workers, fast=path == "fast"
                )
            )
            if reference is None:
                reference, same = table, "reference"
            else:
                same = "same rows" if table.equals(reference) else "DIFFERENT ROWS"
            print(f"{scheme:<9} {path:<6} {workers:>7} {wall:>8.2f} {cpu:>8.2f}  {same}")


if __name__ == "__main__":
    main()
