"""Time loading folders of price files (13, 50, 200, 500 names) and the NYSE calendar.

Prints figures; asserts nothing.

    python bench/bench_load.py [--data-dir ../shared/market-data] [--sizes 13,50,200,500]
                               [--repeat 3]

Each folder is built in a temp dir from the shared data's files, copied under new names
(AMAT.csv -> AMAT0.csv, AMAT1.csv, ...), so every file is a real, well-formed price file.
Each size runs in a fresh process:

- "load": ``CsvPriceSource.load`` of every name (read, validate, sha256), best of ``--repeat``;
- "align": the same plus alignment on the NYSE sessions of the whole span (what a run does
  before its engine starts), best of ``--repeat``;
- "row-by-row": the same load with the Arrow fast path switched off (the parser every file
  went through before; it is still the path of any file with a problem);
- "CPU s": the process's CPU time of the best load (all threads): on a loaded machine wall time
  is inflated by waiting for a core, CPU time much less;
- "bars MB": the frames the load returns; "peak RSS": the process's maximum resident memory
  after its first load, and "added" what that load added to it after the imports.

The calendar figures compare, in fresh processes, exchange_calendars' own build with a read of
the cached sessions (see data/calendar.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def build_folder(source: Path, target: Path, size: int) -> list[str]:
    """``size`` copies of the source's files under new names; returns their tickers (the
    first is a copy of SPY, the benchmark of the alignment)."""
    files = sorted(source.glob("*.csv"), key=lambda p: (p.stem != "SPY", p.stem))  # SPY first
    target.mkdir(parents=True)
    tickers = []
    for k in range(size):
        original = files[k % len(files)]
        ticker = f"{original.stem}{k // len(files)}"
        shutil.copyfile(original, target / f"{ticker}.csv")
        tickers.append(ticker)
    return tickers


def _child(folder: str, tickers: list[str], repeat: int, mode: str) -> None:
    """Run in the fresh process: time the loads, print one JSON line."""
    import resource

    sys.path.insert(0, str(ROOT))
    from data import prices
    from data.csv_source import CsvPriceSource
    from data.market import align, resolve_sessions

    if mode == "row-by-row":
        prices.read_bars_fast = lambda raw: None  # type: ignore[assignment]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    source = CsvPriceSource(folder)
    histories = source.load(tickers)  # the first load: its memory
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    frames_mb = sum(h.bars.memory_usage(index=True).sum() for h in histories.values()) / 2**20
    del histories
    times, cpu, aligned = [], [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        histories = source.load(tickers)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del histories
        if mode == "fast":
            t2 = time.perf_counter()
            histories = source.load(tickers)
            start, end = histories[tickers[0]].first_date, histories[tickers[0]].last_date
            sessions = resolve_sessions(start, end, histories)
            align(histories, sessions, tuple(tickers[1:]), tickers[0])
            aligned.append(time.perf_counter() - t2)
            del histories
    print(
        json.dumps(
            {
                "load": min(times),
                "cpu": min(cpu),
                "align": min(aligned) if aligned else None,
                "peak_mb": peak / 1024,
                "added_mb": (peak - before) / 1024,
                "frames_mb": frames_mb,
                "bytes": sum((Path(folder) / f"{t}.csv").stat().st_size for t in tickers),
            }
        )
    )


def _calendar_child(mode: str) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy  # noqa: F401  (imported by every command anyway: not part of the figure)
    import pandas  # noqa: F401

    t0 = time.perf_counter()
    from data import calendar

    if mode == "exchange_calendars":
        calendar.nyse().opens  # noqa: B018  (what every command paid before)
    else:
        calendar.sessions_table()
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def _run(args: list[str], env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), sys.argv[5])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--calendar-child":
        _calendar_child(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "market-data")
    parser.add_argument("--sizes", default="13,50,200,500")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        print(f"no market data at {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"price folders built from {args.data_dir} (best of {args.repeat}, fresh process each)")
    header = (
        f"{'names':>6} {'CSV MB':>7} {'load s':>7} {'CPU s':>6} {'ms/file':>8} {'+align s':>9} "
        f"{'row-by-row s (CPU)':>18} {'bars MB':>8} {'peak RSS MB':>12} {'added MB':>9}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "xdg-cache"  # the calendar cache of these runs, not the user's
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        for size in sizes:
            folder = Path(tmp) / f"n{size}"
            tickers = build_folder(args.data_dir, folder, size)
            common = ["--child", str(folder), ",".join(tickers), str(args.repeat)]
            fast = _run([*common, "fast"], env)
            slow = _run([*common, "row-by-row"], env) if size <= 50 else None
            slow_text = (
                f"{slow['load']:11.2f} ({slow['cpu']:4.2f})" if slow else f"{'(skipped)':>18}"
            )
            print(
                f"{size:6d} {fast['bytes'] / 1e6:7.1f} {fast['load']:7.3f} {fast['cpu']:6.2f} "
                f"{1000 * fast['load'] / size:8.2f} {fast['align']:9.3f} {slow_text} "
                f"{fast['frames_mb']:8.0f} {fast['peak_mb']:12.0f} {fast['added_mb']:9.0f}"
            )
        shutil.rmtree(cache, ignore_errors=True)
        xcals = min(
            _run(["--calendar-child", "exchange_calendars"], env)["seconds"] for _ in range(3)
        )
        first = _run(["--calendar-child", "cached"], env)["seconds"]  # builds and writes it
        cached = min(_run(["--calendar-child", "cached"], env)["seconds"] for _ in range(3))
    print("NYSE calendar (fresh process, after pandas is imported; best of 3):")
    print(f"  exchange_calendars build (before):  {xcals:6.3f} s")
    print(f"  first use, builds the cache:        {first:6.3f} s")
    print(f"  cached sessions (every later use):  {cached:6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
