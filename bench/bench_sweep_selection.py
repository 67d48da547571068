"""A sweep with its selection statistics, end to end on the shared data: time and peak memory.
Prints figures; asserts nothing.

    python bench/bench_sweep_selection.py [--data-dir ../shared/market-data] [--workers 1]
                                          [--reps 1000] [--grid 20000|2000]

``--grid 20000`` builds a 20,000-config grid (hold 1..20 x gross 0.5..2.0 in 10 steps x
slippage 0..45 bps in 10 steps x commission 0..9 bps in 10 steps, default universe and events,
2015-01-01 to 2026-08-14); ``--grid 2000`` runs bench/grid_2000.toml. In a fresh subprocess:
the metrics pass (``run_sweep``, which writes its checkpoint to a temporary folder) then the
selection pass (``run_selection``: the fast engine again in tasks of 512 configs, streamed into
the statistics), as ``capex-rotation sweep`` does. The child prints its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and, with workers, the largest worker's
(``RUSAGE_CHILDREN``), and the seconds of each pass.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GRID_20000 = """
[run]
start = 2015-01-01
end = 2026-08-14

[grid]
"strategy.hold_sessions" = [{holds}]
"strategy.gross" = [0.5, 0.65, 0.8, 0.95, 1.1, 1.25, 1.4, 1.55, 1.7, 2.0]
"costs.slippage_bps" = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
"costs.commission_bps" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
""".format(holds=", ".join(str(h) for h in range(1, 21)))


def _child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from backtests.grid import load_grid
    from backtests.research.sweep_selection import run_selection
    from backtests.sweep import load_sweep_data, run_sweep
    from reports.sweep_report import rank

    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-selection-"))
    if args.grid == "20000":
        path = folder / "grid_20000.toml"
        path.write_text(GRID_20000)
    else:
        path = ROOT / "bench" / "grid_2000.toml"
    settings = {"data.source": "csv", "data.dir": str(Path(args.data_dir).resolve())}
    t0 = time.perf_counter()
    grid = load_grid(path, [], settings)
    data = load_sweep_data(grid)
    t1 = time.perf_counter()
    result = run_sweep(grid, data, folder / "sweep", workers=args.workers, say=lambda _: None)
    from backtests.sweep import results_table

    table = results_table(grid, result.table)
    best = int(rank(table, "sharpe")["config"].iloc[0])
    t2 = time.perf_counter()
    selection = run_selection(grid, data, args.workers, "sharpe", (), best, reps=args.reps)
    t3 = time.perf_counter()
    report = selection.report(best)
    spa = selection.statistics["spa"]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "grid": args.grid,
                "configs": len(grid),
                "sessions": selection.sessions[2],
                "workers": args.workers,
                "reps": args.reps,
                "load_s": round(t1 - t0, 2),
                "metrics_pass_s": round(t2 - t1, 2),
                "selection_pass_s": round(t3 - t2, 2),
                "peak_rss_mib": round(own, 1),
                "peak_worker_rss_mib": round(children, 1),
                "best": best,
                "psr_vs_0": round(report["psr_vs_flat"], 4),
                "dsr": round(report["dsr"], 4),
                "spa_flat": spa["flat"]["spa_consistent"],
                "rc_flat": spa["flat"]["rc_upper"],
                "spa_buy_and_hold": spa["buy_and_hold"]["spa_consistent"],
                "rc_buy_and_hold": spa["buy_and_hold"]["rc_upper"],
                "pbo": round(selection.statistics["pbo"]["pbo"], 4),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "market-data"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--grid", choices=("20000", "2000"), default="20000")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    command = [
        sys.executable,
        __file__,
        "--child",
        f"--data-dir={args.data_dir}",
        f"--workers={args.workers}",
        f"--reps={args.reps}",
        f"--grid={args.grid}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    print(out.stdout.strip())


if __name__ == "__main__":
    main()
