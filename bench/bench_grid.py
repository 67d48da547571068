"""Grid size: how long a grid takes to load at the limit, and to be refused above it.

    python bench/bench_grid.py

Each case runs in a fresh process and prints its wall time and peak memory (ru_maxrss):
a grid of exactly MAX_COMBINATIONS combinations (with an exclusion rule) is loaded; a grid of
10^10 combinations is refused by ``capex-rotation sweep`` (exit code 2) before anything is
expanded.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

AT_LIMIT = """
[grid]
"costs.slippage_bps" = [{slippage}]
"costs.commission_bps" = [{commission}]
"strategy.gross" = [0.5, 1.0]
"strategy.hold_sessions" = [1, 2, 3, 4, 5]

[[exclude]]
"strategy.gross" = 1.0
"strategy.hold_sessions" = [4, 5]
"""
KEYS = (
    "run.cash",
    "strategy.hold_sessions",
    "strategy.gross",
    "strategy.max_gross",
    "costs.commission_bps",
    "costs.slippage_bps",
    "costs.borrow_bps",
    "data.deadline_s",
    "run.name",
    "run.benchmark",
)


def _child(path: str) -> None:
    started = time.perf_counter()
    from backtests.grid import load_grid

    grid = load_grid(Path(path))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"configs": len(grid), "seconds": seconds, "peak_mib": peak}))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        at_limit = Path(folder) / "at_limit.toml"
        at_limit.write_text(
            AT_LIMIT.format(
                slippage=", ".join(str(k) for k in range(100)),
                commission=", ".join(str(k / 10) for k in range(1000)),
            )
        )
        line = subprocess.run(
            [sys.executable, __file__, "--child", str(at_limit)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(line)
        print(
            f"grid of 1,000,000 combinations ({result['configs']:,} kept): loaded in "
            f"{result['seconds']:.2f} s, peak memory {result['peak_mib']:.0f} MiB"
        )

        huge = Path(folder) / "huge.toml"
        lines = []
        for key in KEYS:
            text = key in ("run.name", "run.benchmark")
            values = ", ".join(f'"N{k}"' if text else str(k + 1) for k in range(10))
            lines.append(f'"{key}" = [{values}]')
        huge.write_text("[grid]\n" + "\n".join(lines) + "\n")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "backtests", "sweep", str(huge), "--data-dir", folder],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        print(
            f"grid of 10^10 combinations: exit code {done.returncode} in {seconds:.2f} s "
            f"(whole process): {done.stderr.strip()}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
