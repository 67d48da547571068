"""Sweep speed and memory on the shared data. Prints figures; asserts nothing.

    python bench/bench_sweep.py [--data-dir ../shared/market-data]

0. configs/s and memory on bench/grid_policies.toml (2,560 configs over the policies), and 16 of
   its configs through backtrader and the fast engine;
1. configs/s of the fast engine on bench/grid_2000.toml (hold 1..20 x gross x slippage x
   commission, 2015-01-01..2026-08-14), with 1 and 2 worker processes; loading and warm-up
   (calendar, first plan) are timed separately;
2. the same 16 configs through backtrader and through the fast engine, and the ratio;
3. peak memory (this process and its children) of the 2,000-config sweep, and of a 20,000-config
   sweep (more gross values), to show memory does not grow with the grid beyond the table.

Each measurement runs in a fresh subprocess so peak memory is its own.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's code, not an installed copy


def _child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    t0 = time.perf_counter()
    from backtests.grid import load_grid
    from backtests.sweep import evaluate_task, load_sweep_data, prepare_config, run_sweep, tasks
    from strategies.engines.backtrader_engine import run_backtrader

    imports = time.perf_counter() - t0
    settings = {"data.source": "csv", "data.dir": str(args.data_dir)}
    grid_path = Path(args.grid)
    t1 = time.perf_counter()
    grid = load_grid(grid_path, [], settings)
    t2 = time.perf_counter()
    data = load_sweep_data(grid)
    t3 = time.perf_counter()
    prepare_config(data, grid.config(0))  # warm-up: NYSE calendar, market alignment
    t4 = time.perf_counter()
    out: dict = {
        "configs": len(grid),
        "imports_s": imports,
        "grid_s": t2 - t1,
        "load_s": t3 - t2,
        "warmup_s": t4 - t3,
    }
    if args.mode == "sweep":
        with tempfile.TemporaryDirectory() as folder:
            t5 = time.perf_counter()
            run_sweep(grid, data, Path(folder), workers=args.workers)
            out["sweep_s"] = time.perf_counter() - t5
    else:  # 16 configs: backtrader one by one vs the fast engine
        configs = [grid.config(i) for i in range(16)]
        t5 = time.perf_counter()
        for config in configs:
            p = prepare_config(data, config)
            run_backtrader(p.market, p.plan, config.run.cash)
        out["backtrader_s"] = time.perf_counter() - t5
        t6 = time.perf_counter()
        for indices in tasks(grid, set(range(16, len(grid)))):  # the 16 configs, by plan
            evaluate_task(data, grid, indices)
        out["fast_s"] = time.perf_counter() - t6
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["peak_rss_mib"] = own / 1024
    out["peak_rss_children_mib"] = kids / 1024
    print(json.dumps(out))


def _run(data_dir: Path, grid: Path, mode: str, workers: int = 1) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--data-dir",
        str(data_dir),
        "--grid",
        str(grid),
        "--mode",
        mode,
        "--workers",
        str(workers),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"measurement failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=HERE.parent.parent / "shared" / "market-data"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--grid", default=str(HERE / "grid_2000.toml"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="sweep", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return 0
    if not args.data_dir.is_dir():
        print(f"no market data at {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2

    grid_2000 = HERE / "grid_2000.toml"
    policies = HERE / "grid_policies.toml"
    print(f"sweep benchmark on {args.data_dir}, grid {policies.name} (policies)")
    r = _run(args.data_dir, policies, "sweep", 1)
    print(
        f"  1 worker: {r['configs']} configs in {r['sweep_s']:.2f} s = "
        f"{r['configs'] / r['sweep_s']:,.0f} configs/s | loading {r['load_s']:.2f} s | "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB"
    )
    r = _run(args.data_dir, policies, "compare")
    print(
        f"  16 configs: backtrader {r['backtrader_s']:.2f} s, fast engine {r['fast_s']:.3f} s "
        f"-> {r['backtrader_s'] / r['fast_s']:,.0f}x"
    )
    print(f"sweep benchmark on {args.data_dir}, grid {grid_2000.name}")
    for workers in (1, 2):
        r = _run(args.data_dir, grid_2000, "sweep", workers)
        print(
            f"  {workers} worker(s): {r['configs']} configs in {r['sweep_s']:.2f} s = "
            f"{r['configs'] / r['sweep_s']:,.0f} configs/s | loading {r['load_s']:.2f} s, "
            f"warm-up {r['warmup_s']:.2f} s, grid expansion {r['grid_s']:.2f} s, imports "
            f"{r['imports_s']:.2f} s | peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"(+ workers {r['peak_rss_children_mib']:.0f} MiB)"
        )
    r = _run(args.data_dir, grid_2000, "compare")
    print(
        f"  16 configs: backtrader {r['backtrader_s']:.2f} s, fast engine {r['fast_s']:.3f} s "
        f"-> {r['backtrader_s'] / r['fast_s']:,.0f}x"
    )

    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "grid_20000.toml"
        grosses = ", ".join(f"{0.1 * k:.1f}" for k in range(1, 21))
        text = grid_2000.read_text().replace(
            '"strategy.gross" = [0.5, 1.0, 1.5, 2.0]', f'"strategy.gross" = [{grosses}]'
        )
        text = text.replace("[0, 1, 3, 5, 10]", "[0, 1, 2, 3, 4, 5, 6, 8, 10, 15]")
        big.write_text(text)
        r = _run(args.data_dir, big, "sweep", 1)
        print(
            f"  {r['configs']:,} configs, 1 worker: {r['sweep_s']:.2f} s = "
            f"{r['configs'] / r['sweep_s']:,.0f} configs/s | peak RSS {r['peak_rss_mib']:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
