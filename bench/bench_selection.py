"""Selection-aware statistics on a 20,000-config sweep: time and peak memory. Prints figures;
asserts nothing.

    python bench/bench_selection.py [--configs 20000] [--sessions 2900] [--reps 1000]
                                    [--chunk 512] [--source generated|memmap]

Synthetic returns (seeded): config k's daily return is a mix of a common factor and its own
noise, flat (0) on about 80% of sessions like an event strategy. They are fed chunk by chunk to
``SelectionStatistics`` with two SPA benchmarks (flat and a buy-and-hold-like series), PBO with
S = 16 and the DSR's trial Sharpes. ``--source memmap`` first writes the returns to a float32
memmap (configs x sessions) in a temporary folder and streams them from disk, as a sweep that
keeps its returns would.

Each measurement runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own; the
numpy peak (``tracemalloc``, which numpy reports its buffers to) is printed too. Wall times
(``*_s``) depend on what else the machine runs; ``*_cpu_s`` are this process's CPU seconds
(``accumulate_cpu_s`` excludes making the chunks, ``chunk_source_cpu_s``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _synthetic(start: int, count: int, sessions: int) -> np.ndarray:
    rng = np.random.default_rng([7, start])
    factor = np.random.default_rng(11).standard_normal(sessions) * 0.01
    active = rng.random((count, sessions)) < 0.2
    loading = rng.uniform(-1, 1, size=(count, 1))
    noise = rng.standard_normal((count, sessions)) * 0.01
    drift = rng.normal(0, 2e-4, size=(count, 1))
    return np.where(active, loading * factor + noise + drift, 0.0)


def _child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from backtests.research.selection_stream import SelectionStatistics, iter_chunks

    tracemalloc.start()
    t0 = time.perf_counter()
    sessions = args.sessions
    market = np.random.default_rng(11).standard_normal(sessions) * 0.01 + 3e-4
    stats = SelectionStatistics(
        sessions,
        {"flat": np.zeros(sessions), "buy_and_hold": market},
        keep=(0,),
        reps=args.reps,
        seed=1,
    )
    setup = time.perf_counter() - t0
    write = 0.0
    if args.source == "memmap":
        folder = tempfile.mkdtemp(prefix="bench-selection-")
        path = Path(folder) / "returns.f32"
        t1 = time.perf_counter()
        stored = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.float32, shape=(args.configs, sessions)
        )
        for start in range(0, args.configs, args.chunk):
            count = min(args.chunk, args.configs - start)
            stored[start : start + count] = _synthetic(start, count, sessions)
        stored.flush()
        del stored
        write = time.perf_counter() - t1
        source = np.load(path, mmap_mode="r")
        chunks = iter_chunks(source, args.chunk)
    else:
        chunks = (
            _synthetic(start, min(args.chunk, args.configs - start), sessions)
            for start in range(0, args.configs, args.chunk)
        )
    t2, c2 = time.perf_counter(), time.process_time()
    making = 0.0
    for chunk in chunks:
        t_add = time.process_time()
        stats.add(chunk)
        making -= time.process_time() - t_add
    accumulate = time.perf_counter() - t2
    accumulate_cpu = time.process_time() - c2
    making += accumulate_cpu  # CPU spent producing the chunks (generating or reading them)
    t3, c3 = time.perf_counter(), time.process_time()
    result = stats.finish()
    finish = time.perf_counter() - t3
    finish_cpu = time.process_time() - c3
    _, numpy_peak = tracemalloc.get_traced_memory()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "configs": args.configs,
                "sessions": sessions,
                "reps": args.reps,
                "chunk": args.chunk,
                "source": args.source,
                "setup_s": round(setup, 2),
                "write_memmap_s": round(write, 2),
                "accumulate_s": round(accumulate, 2),
                "accumulate_cpu_s": round(accumulate_cpu - making, 2),
                "chunk_source_cpu_s": round(making, 2),
                "finish_s": round(finish, 2),
                "finish_cpu_s": round(finish_cpu, 2),
                "peak_rss_mib": round(rss_kib / 1024, 1),
                "peak_traced_mib": round(numpy_peak / 2**20, 1),
                "best": result["best"]["config"],
                "dsr": round(result["best"]["dsr"], 4),
                "pbo": round(result["pbo"]["pbo"], 4),
                "spa_flat": result["spa"]["flat"]["spa_consistent"],
                "rc_flat": result["spa"]["flat"]["rc_upper"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=2_900)
    parser.add_argument("--reps", type=int, default=1_000)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--source", choices=("generated", "memmap", "both"), default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    sources = ("generated", "memmap") if args.source == "both" else (args.source,)
    for source in sources:
        command = [
            sys.executable,
            __file__,
            "--child",
            f"--configs={args.configs}",
            f"--sessions={args.sessions}",
            f"--reps={args.reps}",
            f"--chunk={args.chunk}",
            f"--source={source}",
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
