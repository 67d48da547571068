"""How cost grows with the number of names and of events, and the fixed costs a user feels.
Prints figures; asserts nothing.

    python bench/bench_scale.py [--data-dir ../shared/market-data] [--quick] [--only CMD ...]
                                [--skip-fixed] [--skip-scaling] [--keep DIR]

Scaling. Synthetic universes built from the shared data's real daily bars (bench/scale_data.py:
each name is a real ticker's bars rotated by a random offset, on real NYSE sessions) and
synthetic clustered event files. Two axes:

- names 13, 50, 200, 500 (long 4/13 of them, short the rest; the bundled 60 events);
- events 60, 600, 6,000 (13 names).

Commands: ``load`` (read and validate every price file of the universe), ``backtest
--no-tearsheet``, ``backtest`` (with the quantstats tear sheet; names axis only), ``sweep`` of a
fixed 28-config grid (bench/grid_small.toml's [grid] on the universe), ``event-study``, and
``placebo --draws 100`` (100 draws, not the default 1,000, to keep the bench to minutes).

Each measurement runs in a fresh child process. The child first imports every module the
commands use and builds the NYSE calendar (fixed costs, measured below), then times the command
itself in-process: "work" wall and CPU seconds (its own CPU plus that of any worker it
waited for). Peak memory is the child's maximum resident set (``wait4`` rusage: numpy and
matplotlib memory included, unlike tracemalloc). "x linear" = (work CPU / work CPU at the
smallest size) / (size / smallest size): 1.0 is proportional, below 1 means fixed costs still
dominate, above 1 means worse than linear; "step" is the same ratio from the previous size
(the strictest: fixed costs matter least there). CPU time (the command's and its workers')
is used for the ratios because wall time on a shared machine swings with the other jobs.
"png" is the largest plot written (pixels).

Fixed costs (whole process, wall and CPU, on the shared data): ``--help``; the default backtest
with and without its tear sheet; the 2,000-config sweep (bench/grid_2000.toml, heatmaps
included, and without its selection statistics); one plan (build_plan, then plan_arrays) on
the default data; each next to its target. Then the floors of the two slowest commands: the
libraries they import, imported and nothing run, and quantstats' tear sheet of the default
period drawn in one process (its CPU seconds, which forked chart workers can only spread over
the cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # scale_data, when run as a script
NAMES = (13, 50, 200, 500)
EVENTS = (60, 600, 6000)
QUICK_NAMES = (13, 50, 200)
QUICK_EVENTS = (60, 600)
PLACEBO_DRAWS = 100
GRID = """\
[grid]
"strategy.hold_sessions" = [1, 3, 5, 10]
"strategy.gross" = [0.5, 1.0, 2.0]
"costs.slippage_bps" = [2, 10, 20]

[[exclude]]
"strategy.gross" = 2.0
"costs.slippage_bps" = [10, 20]
"""
NAME_COMMANDS = ("load", "backtest-no-tearsheet", "backtest", "sweep", "event-study", "placebo")
EVENT_COMMANDS = ("backtest-no-tearsheet", "sweep", "event-study", "placebo")
WARM_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy.stats",
    "matplotlib.pyplot",
    "backtrader",
    "exchange_calendars",
    "quantstats",
    "rich.console",
    "typer",
    "backtests.cli.app",
    "backtests.config",
    "backtests.runner",
    "backtests.publish",
    "backtests.sweep",
    "backtests.grid",
    "backtests.research.event_study",
    "backtests.research.placebo",
    "reports.backtest_report",
    "reports.event_study_report",
    "reports.placebo_report",
    "reports.sweep_report",
    "reports.tearsheet",
    "reports.run_index",
)


# --- the child: one measurement ----------------------------------------------------------------


def _cpu() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _warm_modules(command: str) -> tuple[str, ...]:
    if command == "load":
        return ("numpy", "pandas", "data.csv_source")
    if command == "backtest":
        return WARM_MODULES
    return tuple(m for m in WARM_MODULES if m not in ("quantstats", "reports.tearsheet"))


def _child(spec: dict) -> None:
    import importlib

    for name in _warm_modules(spec["command"]):
        with contextlib.suppress(ImportError):  # a module another branch has not got yet
            importlib.import_module(name)
    from data.calendar import entry_sessions, nyse

    nyse()
    entry_sessions([])  # builds the table of opens
    wall, cpu = time.perf_counter(), _cpu()
    if spec["command"] == "load":
        from data.csv_source import CsvPriceSource

        CsvPriceSource(spec["folder"]).load(spec["tickers"])
        code = 0
    else:
        from backtests.cli import main

        code = main(spec["argv"])
    result = {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "code": code}
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


# --- the parent ----------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as handle:
        head = handle.read(24)
    return struct.unpack(">II", head[16:24])


def _largest_png(folder: Path) -> str:
    sizes = [_png_size(p) for p in folder.rglob("*.png")] if folder.is_dir() else []
    if not sizes:
        return ""
    w, h = max(sizes, key=lambda s: s[0] * s[1])
    return f"{w}x{h}"


def _run_child(spec: dict, work: Path) -> dict:
    """Run one measurement in a fresh interpreter; wall/CPU of the work, peak RSS, exit code."""
    result = work / "result.json"
    result.unlink(missing_ok=True)
    spec = {**spec, "result": str(result)}
    log = work / "child.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
            cwd=work,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    whole = time.perf_counter() - started
    out = {"whole": whole, "rss_mib": usage.ru_maxrss / 1024, "exit": child.returncode}
    if result.is_file():
        out.update(json.loads(result.read_text(encoding="utf-8")))
    if out["exit"] != 0 or out.get("code") != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        out["error"] = " / ".join(tail)
    return out


def _argv(command: str, config: Path, grid: Path, out: Path) -> list[str]:
    if command == "backtest-no-tearsheet":
        return ["backtest", str(config), "--no-tearsheet", "--out", str(out)]
    if command == "backtest":
        return ["backtest", str(config), "--out", str(out)]
    if command == "sweep":
        return ["sweep", str(grid), "--out", str(out)]
    if command == "event-study":
        return ["event-study", str(config), "--out", str(out)]
    if command == "placebo":
        return ["placebo", str(config), "--draws", str(PLACEBO_DRAWS), "--out", str(out)]
    raise ValueError(command)


def _measure(command: str, universe, config: Path, grid: Path, work: Path) -> dict:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    if command == "load":
        spec = {
            "command": "load",
            "folder": str(universe.folder),
            "tickers": [*universe.names, universe.benchmark],
        }
    else:
        spec = {"command": command, "argv": _argv(command, config, grid, out)}
    result = _run_child(spec, work)
    result["png"] = _largest_png(out)
    shutil.rmtree(out, ignore_errors=True)
    return result


def _print_axis(title: str, unit: str, sizes: tuple[int, ...], rows: dict[str, list[dict]]) -> None:
    print(f"\n{title}")
    header = (
        f"  {'command':<22}{unit:>7}  {'work s':>7}  {'work CPU':>8}  {'whole s':>7}  "
        f"{'peak MiB':>8}  {'x linear':>8}  {'step':>5}  {'png':>10}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for command, results in rows.items():
        base = previous = None
        for size, r in zip(sizes, results, strict=False):
            if "error" in r:
                print(f"  {command:<22}{size:>7}  failed: {r['error'][:90]}")
                continue
            base = base or (size, r["cpu"])
            ratio = _versus_linear(base, (size, r["cpu"]))
            step = _versus_linear(previous, (size, r["cpu"])) if previous else float("nan")
            previous = (size, r["cpu"])
            print(
                f"  {command:<22}{size:>7}  {r['wall']:7.2f}  {r['cpu']:8.2f}  {r['whole']:7.2f}  "
                f"{r['rss_mib']:8.0f}  {ratio:8.2f}  {_num(step):>5}  {r['png']:>10}"
            )
        print()


def _versus_linear(a: tuple[int, float], b: tuple[int, float]) -> float:
    """(cost_b / cost_a) / (size_b / size_a): 1 is linear growth from a to b."""
    return (b[1] / a[1]) / (b[0] / a[0]) if a[1] > 0 else float("nan")


def _num(value: float) -> str:
    return "" if value != value else f"{value:.2f}"


def _scaling(args, work: Path) -> None:
    import scale_data

    names_sizes = QUICK_NAMES if args.quick else NAMES
    events_sizes = QUICK_EVENTS if args.quick else EVENTS
    end = "2026-08-14"
    t0 = time.perf_counter()
    by_names: dict[str, list[dict]] = {c: [] for c in NAME_COMMANDS if _wanted(args, c)}
    for n in names_sizes:
        universe = scale_data.write_universe(args.data_dir, work / f"names{n}", n)
        config = scale_data.write_config(work / f"names{n}.toml", universe, None, end)
        grid = work / f"names{n}-grid.toml"
        grid.write_text(f'base = "{config}"\n\n{GRID}', encoding="utf-8")
        for command in by_names:
            by_names[command].append(_measure(command, universe, config, grid, work))
            print(f"  . {command} at {n} names", file=sys.stderr, flush=True)
    by_events: dict[str, list[dict]] = {c: [] for c in EVENT_COMMANDS if _wanted(args, c)}
    universe = scale_data.write_universe(args.data_dir, work / "names13", 13)
    for k in events_sizes:
        events = scale_data.write_events(work / f"events{k}.csv", k)
        config = scale_data.write_config(work / f"events{k}.toml", universe, events, end)
        grid = work / f"events{k}-grid.toml"
        grid.write_text(f'base = "{config}"\n\n{GRID}', encoding="utf-8")
        for command in by_events:
            by_events[command].append(_measure(command, universe, config, grid, work))
            print(f"  . {command} at {k} events", file=sys.stderr, flush=True)
    _print_axis(
        "Cost over names (synthetic universe, the bundled 60 events, 2015-01-02..2026-08-14)",
        "names",
        names_sizes,
        by_names,
    )
    _print_axis(
        "Cost over events (13 synthetic names, clustered synthetic events 2016-2026)",
        "events",
        events_sizes,
        by_events,
    )
    print(f"  (scaling section: {time.perf_counter() - t0:.0f} s)")


def _wanted(args, command: str) -> bool:
    return not args.only or command in args.only


SPEED_PROBE = """
import time
t = time.process_time()
s = 0
for i in range(10_000_000):
    s += i
loop = time.process_time() - t
t = time.perf_counter()
import pandas
print(f"{loop} {time.perf_counter() - t}")
"""


def _machine_speed() -> str:
    """How fast this machine is today (the same machine's speed varies with its host): figures
    of two runs compare only next to these two."""
    best = [float("inf"), float("inf")]
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", SPEED_PROBE], capture_output=True, text=True, check=False
        )
        try:
            best = [min(b, float(v)) for b, v in zip(best, done.stdout.split(), strict=True)]
        except ValueError:
            return "machine speed: the probe failed"
    return (
        f"machine speed (best of 3): a 10,000,000-step Python loop {best[0]:.2f} CPU s, "
        f"import pandas {best[1]:.2f} s"
    )


# --- fixed costs on the shared data ------------------------------------------------------------


def _whole_process(argv: list[str], work: Path, python: list[str] | None = None) -> dict:
    """Run ``python -m backtests argv`` (or ``python <python>``) in ``work``: wall, CPU (its own
    and its children's), peak RSS, exit code."""
    started = time.perf_counter()
    log = work / "fixed.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, *(python or ["-m", "backtests", *argv])],
            cwd=work,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
        _, status, usage = os.wait4(child.pid, 0)
    out = {
        "wall": time.perf_counter() - started,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "code": os.waitstatus_to_exitcode(status),
    }
    if out["code"] != 0:
        out["error"] = log.read_text(encoding="utf-8", errors="replace").strip()[-200:]
    return out


def _plan_ms(data_dir: Path) -> tuple[float, float]:
    """Milliseconds a plan of the default data takes: build_plan, then the fast engine's
    arrays of it (plan_arrays)."""
    code = f"""
import time
from backtests.config import load_config, with_cli_options
from backtests.prepare import prepare
from strategies.engines.plan_arrays import plan_arrays
from strategies.plan import build_plan
c = with_cli_options(load_config(None, []), {str(data_dir)!r}, None, "2015-01-01", "2026-08-14")
p = prepare(c)
m, schedule = p.market, p.schedule
from strategies.strategy import Strategy
u = c.universe
strategies = [Strategy.baseline(tuple(u.long), tuple(u.short), hold=h) for h in range(1, 21)]
plan_arrays(m, build_plan(m, strategies[4], schedule))  # warm: first-call costs are not a plan's
build, arrays = [], []
for _ in range(5):  # the best of 5 passes over the 20 strategies (a shared machine is noisy)
    t = time.perf_counter()
    plans = [build_plan(m, s, schedule) for s in strategies]
    t1 = time.perf_counter()
    for plan in plans:
        plan_arrays(m, plan)
    build.append((t1 - t) / 20 * 1e3)
    arrays.append((time.perf_counter() - t1) / 20 * 1e3)
print(min(build), min(arrays))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    try:
        build, arrays = map(float, done.stdout.split()[-2:])
        return build, arrays
    except ValueError:
        return float("nan"), float("nan")


# What the two slowest commands cannot go below with the libraries they are built on: the
# imports alone (nothing run), and quantstats' HTML report of the default period drawn in one
# process (the tear sheet's CPU, which its forked chart workers can only spread over the cores).
SWEEP_LIBRARIES = (
    "import pandas, pyarrow.parquet, matplotlib.figure, matplotlib.backends.backend_agg, "
    "pydantic, typer, rich.console, exchange_calendars"
)
BACKTEST_LIBRARIES = (
    "import pandas, pyarrow.parquet, matplotlib.pyplot, pydantic, typer, rich.console, "
    "exchange_calendars, backtrader, quantstats"
)
TEARSHEET_ALONE = """
import os, sys, time
from pathlib import Path
import pandas as pd
from reports.tearsheet import write_tearsheet
spy = pd.read_csv(sys.argv[1], index_col=0, parse_dates=True)
close = spy["close"].loc["2015-01-01":"2026-08-14"]  # adjusted already (adj_close is empty)
benchmark = close.pct_change().fillna(0.0).rename("SPY")
returns = (0.3 * benchmark).rename("Strategy")
t, c = time.perf_counter(), os.times()
write_tearsheet(Path("tearsheet.html"), returns, benchmark, "alone", {}, workers=1)
d = os.times()
print(f"{time.perf_counter() - t} {d.user + d.system - c.user - c.system}")
"""


def _fixed(args, work: Path) -> None:
    d = str(args.data_dir)
    period = ["--start", "2015-01-01", "--end", "2026-08-14"]
    cases = [
        ("--help", ["--help"], 0.3),
        ("backtest, tear sheet", ["backtest", "--data-dir", d, *period, "--out", "bt1"], 5.0),
        (
            "backtest, no tear sheet",
            ["backtest", "--data-dir", d, *period, "--no-tearsheet", "--out", "bt2"],
            None,
        ),
        (
            "sweep grid_2000 (2,000)",
            ["sweep", str(HERE / "grid_2000.toml"), "--data-dir", d, "--out", "sw"],
            2.0,
        ),
        (
            "  same, --no-selection",
            [
                "sweep",
                str(HERE / "grid_2000.toml"),
                "--data-dir",
                d,
                "--out",
                "sw",
                "--no-selection",
            ],
            2.0,
        ),
        ("event-study (60 events)", ["event-study", "--data-dir", d, *period, "--out", "es"], None),
        (
            "placebo (1,000 draws)",
            ["placebo", "--data-dir", d, *period, "--out", "pl"],
            None,
        ),
    ]
    print("\nFixed costs on the shared data (whole process)")
    print(f"  {'what':<26}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}{'target s':>10}")
    for label, argv, target in cases:
        for name in ("bt1", "bt2", "sw", "es", "pl"):
            shutil.rmtree(work / name, ignore_errors=True)
        r = _whole_process(argv, work)
        if "error" in r:
            print(f"  {label:<26}failed: {r['error']}")
            continue
        goal = f"< {target:g}" if target else ""
        print(f"  {label:<26}{r['wall']:8.2f}{r['cpu']:8.2f}{r['rss_mib']:10.0f}{goal:>10}")
    build, arrays = _plan_ms(args.data_dir)
    print(f"  {'one plan: build_plan (ms)':<26}{build:8.2f}{'':8}{'':10}{'< 1 ms':>10}")
    print(f"  {'  + plan_arrays (ms)':<26}{build + arrays:8.2f}")
    print("\nFloors: what those commands cannot go below with the libraries they are built on")
    floors = [
        ("sweep's libraries, imported", ["-c", SWEEP_LIBRARIES + ", arch.bootstrap"]),
        ("  without arch (selection)", ["-c", SWEEP_LIBRARIES]),
        ("backtest's libraries", ["-c", BACKTEST_LIBRARIES]),
    ]
    for label, python in floors:
        r = _whole_process([], work, python)
        if "error" in r:
            print(f"  {label:<30}failed: {r['error']}")
            continue
        print(f"  {label:<30}{r['wall']:8.2f}{r['cpu']:8.2f}{r['rss_mib']:10.0f}")
    done = subprocess.run(
        [sys.executable, "-c", TEARSHEET_ALONE, str(args.data_dir / "SPY.csv")],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
        check=False,
    )
    try:
        wall, cpu = map(float, done.stdout.split()[-2:])
        print(
            f"  {'tear sheet alone, 1 process':<30}{wall:8.2f}{cpu:8.2f}"
            f"   (quantstats' report after its import; {os.cpu_count()} cores spread it to "
            f">= {cpu / (os.cpu_count() or 1):.2f} s)"
        )
    except ValueError:
        print(f"  {'tear sheet alone':<30}failed: {done.stderr.strip()[-200:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "market-data")
    parser.add_argument("--quick", action="store_true", help="names up to 200, events up to 600")
    parser.add_argument("--only", nargs="*", help=f"commands among {', '.join(NAME_COMMANDS)}")
    parser.add_argument("--skip-fixed", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--keep", type=Path, help="build the synthetic data here and keep it")
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return 0
    if not args.data_dir.is_dir():
        print(f"no market data at {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2
    args.data_dir = args.data_dir.resolve()
    load = os.getloadavg()
    print(
        f"bench_scale on {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} at the start"
    )
    print(_machine_speed(), "at the start")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work_dir = args.keep.resolve()
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="bench-scale-")
        work_dir = Path(cleanup.name)
    try:
        # Fixed costs first: a child forked from this process counts its memory at the fork in
        # its peak, and this process grows while it builds the synthetic data.
        if not args.skip_fixed:
            _fixed(args, work_dir)
        if not args.skip_scaling:
            _scaling(args, work_dir)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    print(_machine_speed(), "at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
