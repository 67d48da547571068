"""Run a Grid through the fast engine: group configs by plan, evaluate, checkpoint, verify.

Configs that differ only in gross, costs or cash share a plan (the schedule of books), so each
group is planned once and evaluated as one array operation. Data is loaded once and shipped
once to each worker. Every finished task is checkpointed in ``<out>/.checkpoint``; a rerun with
the same grid skips what is there (Ctrl-C or a crash loses nothing).
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config
from backtests.grid import Grid
from backtests.runner import price_source
from data.atomic import write_atomically, write_bytes_atomically
from data.calendar import entry_sessions
from data.errors import CapexRotationError
from data.events import EventCalendar, load_events
from data.market import MarketData, align, resolve_sessions
from data.prices import PriceHistory
from data.universe import Universe
from strategies.engines.fast import METRICS, Batch, evaluate, metrics, plan_arrays, run_fast
from strategies.plan import BookPlan, build_plan
from strategies.rules import CostModel, RotationRules

# Keys that do not change the plan: configs differing only in these are evaluated together.
BATCHED_KEYS = (
    "strategy.gross",
    "strategy.max_gross",
    "costs.commission_bps",
    "costs.slippage_bps",
    "costs.borrow_bps",
    "run.cash",
    "run.name",
)
TASK_SIZE = 4096  # configs per task at most (checkpoint and progress granularity)
VERIFY_TOLERANCE = 1e-9


class SweepError(CapexRotationError):
    """The sweep cannot run or a verification failed."""


@dataclass(frozen=True)
class SweepData:
    """Everything a worker needs, loaded once: prices and event calendars."""

    histories: dict[str, PriceHistory]
    calendars: dict[str, EventCalendar]
    # Per-process memo of aligned markets and mapped events (filled by prepare()).
    cache: dict[str, dict] = field(default_factory=dict, compare=False, repr=False)


def _events_key(file: Path | None) -> str:
    return str(file) if file else ""


def load_sweep_data(grid: Grid, source: Any | None = None) -> SweepData:
    """Prices of every ticker any config uses, and every events file, read once."""
    everyone = np.arange(len(grid))
    tickers: dict[str, None] = {}
    for key in ("universe.long", "universe.short"):
        for names in _distinct(grid.column(key, everyone)):
            tickers.update(dict.fromkeys(names))
    tickers.update(dict.fromkeys(_distinct(grid.column("run.benchmark", everyone))))
    starts = _distinct(grid.column("run.start", everyone))
    ends = _distinct(grid.column("run.end", everyone))
    start = None if None in starts else pd.Timestamp(min(starts))
    end = None if None in ends else pd.Timestamp(max(ends))
    histories = (source or price_source(grid.base)).load(list(tickers), start, end)
    calendars = {
        _events_key(f): load_events(f) for f in _distinct(grid.column("events.file", everyone))
    }
    return SweepData(histories, calendars)


def _distinct(values: list[Any]) -> list[Any]:
    out: dict[str, Any] = {}
    for value in values:
        out.setdefault(json.dumps(value, default=str), value)
    return list(out.values())


def tasks(grid: Grid, done: set[int]) -> list[list[int]]:
    """Config indices to evaluate, grouped by plan (configs differing only in BATCHED_KEYS share
    one) and cut into tasks of TASK_SIZE at most."""
    planned = [k for k, key in enumerate(grid.keys) if key not in BATCHED_KEYS]
    if planned:
        _, group = np.unique(grid.combinations[:, planned], axis=0, return_inverse=True)
        group = group.reshape(-1)
    else:
        group = np.zeros(len(grid), dtype=np.int64)
    todo = np.array([i for i in range(len(grid)) if i not in done], dtype=np.int64)
    out = []
    for g in dict.fromkeys(group[todo].tolist()):  # groups in grid order
        indices = todo[group[todo] == g].tolist()
        out.extend(indices[k : k + TASK_SIZE] for k in range(0, len(indices), TASK_SIZE))
    return out


@dataclass
class Prepared:
    market: MarketData
    plan: BookPlan
    rules: RotationRules


def prepare(data: SweepData, config: Config) -> Prepared:
    """Market (cached per process), events and plan of one config (shared by its group)."""
    universe = Universe(
        tuple(config.universe.long), tuple(config.universe.short), config.run.benchmark
    )
    start = pd.Timestamp(config.run.start) if config.run.start else None
    end = pd.Timestamp(config.run.end) if config.run.end else None
    markets, events = data.cache.setdefault("markets", {}), data.cache.setdefault("events", {})
    key = (start, end, universe.traded, universe.benchmark)
    market = markets.get(key)
    if market is None:
        sessions = resolve_sessions(start, end, data.histories)
        market = align(data.histories, sessions, universe.traded, universe.benchmark)
        markets.clear()  # one market at a time keeps memory flat over big grids
        markets[key] = market
    events_key = (_events_key(config.events.file), tuple(config.events.categories))
    if events_key not in events:
        calendar = data.calendars[events_key[0]].filter_categories(config.events.categories)
        events[events_key] = (calendar, entry_sessions([e.known_at for e in calendar.events]))
    calendar, entries = events[events_key]
    s = config.strategy
    rules = RotationRules(s.hold_sessions, s.gross, s.max_gross)
    plan = build_plan(market, universe.long, universe.short, calendar.events, entries, rules)
    return Prepared(market, plan, rules)


def batch_of(grid: Grid, indices: list[int]) -> Batch:
    """Gross, costs and cash of configs (from the grid where varied, else the base)."""

    def col(key: str, scale: float = 1.0) -> list[float]:
        return [float(v) * scale for v in grid.column(key, indices)]

    return Batch.of(
        col("strategy.gross"),
        col("costs.commission_bps", 1e-4),
        col("costs.slippage_bps", 1e-4),
        col("costs.borrow_bps", 1e-4),
        col("run.cash"),
    )


def evaluate_task(data: SweepData, grid: Grid, indices: list[int]) -> pd.DataFrame:
    """Metrics of configs sharing one plan: one row per config index."""
    prepared = prepare(data, grid.config(indices[0]))
    values = metrics(evaluate(plan_arrays(prepared.market, prepared.plan), batch_of(grid, indices)))
    frame = pd.DataFrame({name: values[name] for name in METRICS})
    frame.insert(0, "config", np.asarray(indices, dtype=np.int64))
    frame["sessions"] = len(prepared.market.sessions)
    return frame


# -- checkpoints --------------------------------------------------------------------------------


class Checkpoint:
    """Finished tasks of one grid, as parquet parts in ``<out>/.checkpoint``."""

    def __init__(self, out_dir: Path, grid: Grid) -> None:
        self.folder = out_dir / ".checkpoint"
        self.grid = grid
        meta = self.folder / "grid.json"
        if meta.exists():
            saved = json.loads(meta.read_text())
            if saved.get("digest") != grid.digest:
                raise SweepError(
                    f"{out_dir} holds a sweep of another grid ({saved.get('path')}); choose "
                    "another --out or delete that folder"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(
                meta, json.dumps({"digest": grid.digest, "path": grid.path}).encode()
            )

    def load(self) -> pd.DataFrame:
        parts = sorted(self.folder.glob("part-*.parquet"))
        if not parts:
            return pd.DataFrame()
        frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        return frame.drop_duplicates("config", keep="last")

    def save(self, frame: pd.DataFrame) -> None:
        first = int(frame["config"].iloc[0])
        target = self.folder / f"part-{first:09d}-{len(frame):06d}.parquet"
        write_atomically(target, lambda tmp: frame.to_parquet(tmp, index=False))


# -- executors ----------------------------------------------------------------------------------

_WORKER_DATA: SweepData | None = None
_WORKER_GRID: Grid | None = None


def _init_worker(data: SweepData, grid: Grid) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _WORKER_DATA, _WORKER_GRID
    _WORKER_DATA, _WORKER_GRID = data, grid


def _run_in_worker(indices: list[int]) -> pd.DataFrame:
    assert _WORKER_DATA is not None and _WORKER_GRID is not None
    return evaluate_task(_WORKER_DATA, _WORKER_GRID, indices)


def run_local(
    grid: Grid, data: SweepData, todo: list[list[int]], workers: int
) -> Iterable[pd.DataFrame]:
    """Evaluate tasks in this process (workers=1) or in a pool of forked processes."""
    if workers <= 1:
        for indices in todo:
            yield evaluate_task(data, grid, indices)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(data, grid)
    ) as pool:
        futures = [pool.submit(_run_in_worker, indices) for indices in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _evaluate_remote(data: SweepData, grid: Grid, indices: list[int]) -> pd.DataFrame:
    return evaluate_task(data, grid, indices)


def run_dask(
    grid: Grid, data: SweepData, todo: list[list[int]], workers: int, scheduler: str | None
) -> Iterable[pd.DataFrame]:
    """Evaluate tasks on a Dask cluster: an existing one (``scheduler``) or a LocalCluster."""
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise SweepError(
            "--executor dask needs the optional extra: pip install 'capex-rotation[distributed]'"
        ) from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(
            n_workers=max(workers, 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            local_directory=tempfile.gettempdir(),
        )
        client = Client(cluster)
    try:
        # The data goes to every worker once; tasks only carry their configs.
        shared, shared_grid = client.scatter([data, grid], broadcast=True)
        futures = [
            client.submit(_evaluate_remote, shared, shared_grid, indices, pure=False)
            for indices in todo
        ]
        try:
            for future in dask_completed(futures):
                yield future.result()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class SweepResult:
    table: pd.DataFrame
    computed: int
    resumed: int


def run_sweep(
    grid: Grid,
    data: SweepData,
    out_dir: Path,
    executor: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Evaluate every config of ``grid`` not yet in the checkpoint; return the full table."""
    checkpoint = Checkpoint(out_dir, grid)
    previous = checkpoint.load()
    done = set(previous["config"].tolist()) if len(previous) else set()
    if on_progress and done:
        on_progress(len(done))
    todo = tasks(grid, done)
    if executor == "dask":
        stream = run_dask(grid, data, todo, workers, scheduler)
    elif executor == "local":
        stream = run_local(grid, data, todo, workers)
    else:
        raise SweepError(f"unknown executor {executor!r}; use local or dask")
    parts = [previous] if len(previous) else []
    computed = 0
    for frame in stream:
        checkpoint.save(frame)
        parts.append(frame)
        computed += len(frame)
        if on_progress:
            on_progress(len(frame))
    table = pd.concat(parts, ignore_index=True).sort_values("config", ignore_index=True)
    return SweepResult(table, computed, len(done))


def cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def results_table(grid: Grid, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per config: its id, the grid parameters, then the metrics."""
    index = metrics["config"].to_numpy()
    params = {key: [cell(v) for v in grid.column(key, index)] for key in grid.keys}
    table = pd.DataFrame({"config": index, **params})
    for name in (*METRICS, "sessions"):
        table[name] = metrics[name].to_numpy()
    return table


def verify(grid: Grid, data: SweepData, indices: list[int]) -> list[tuple[int, float]]:
    """Re-run configs through backtrader; return (config, max relative equity difference)."""
    from strategies.engines.backtrader_engine import run_backtrader  # only when it runs

    out = []
    for index in indices:
        config = grid.config(index)
        prepared = prepare(data, config)
        c = config.costs
        costs = CostModel.from_bps(c.commission_bps, c.slippage_bps, c.borrow_bps)
        reference = (
            run_backtrader(prepared.market, prepared.plan, prepared.rules, costs, config.run.cash)
            .equity["equity"]
            .to_numpy()
        )
        fast = run_fast(prepared.market, prepared.plan, prepared.rules, costs, config.run.cash)
        fast = fast.equity()[0]
        out.append((index, float(np.max(np.abs(fast - reference) / np.abs(reference)))))
    return out
