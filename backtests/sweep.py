"""Run a Grid through the fast engine: group configs by plan, evaluate, checkpoint, verify.

Configs that differ only in gross, costs or cash share a plan (the schedule of books), so each
group is planned once and evaluated as one array operation. Data is loaded once and shipped
once to each worker. Every finished task is checkpointed in ``<out>/.checkpoint``; a rerun with
the same grid on the same inputs skips what is there (Ctrl-C or a crash loses nothing).

Before anything is created, :func:`run_sweep` checks every combination's dates against the
loaded data, the output folder (``reports/output_folder.py``: only a sweep folder of ours) and,
with ``--scheduler``, that the Dask scheduler answers within :data:`DASK_CONNECT_TIMEOUT_S`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.checkpoint import Checkpoint
from backtests.config import Config
from backtests.grid import Grid
from backtests.prepare import Prepared, prepare, price_source
from backtests.process_pool import ignore_interrupts, run_forked
from data.errors import CapexRotationError, DataError
from data.events import EventCalendar, load_events
from data.market import resolve_sessions
from data.prices import PriceHistory
from reports.metrics import METRICS, batch_metrics
from reports.output_folder import os_error, say_on_stderr
from reports.run_folder import InPlaceFolder
from strategies.engines.fast import Batch, borrow_rates, evaluate, run_fast
from strategies.engines.plan_arrays import plan_arrays

# Keys that do not change the plan: configs differing only in these are evaluated together.
BATCHED_KEYS = (
    "strategy.gross",
    "strategy.max_gross",
    "strategy.sizing.target",
    "costs.commission_bps",
    "costs.slippage_bps",
    "costs.borrow_bps",
    "costs.half_spread_bps",
    "costs.impact_k",
    "run.cash",
    "run.name",
)
# Per-event sub-books are capped on their opening gross: with books.kind = "per_event" these
# decide the plan too, so they are batched only for single books.
GROSS_KEYS = ("strategy.gross", "strategy.max_gross", "strategy.sizing.target")
TASK_SIZE = 4096  # configs per task at most (and per checkpoint part)
CHECKPOINT_EVERY_S = 2.0  # finished work is checkpointed at least this often
VERIFY_TOLERANCE = 1e-9
DASK_CONNECT_TIMEOUT_S = 5.0  # an unreachable --scheduler fails after this long


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

    def distinct(key: str) -> list[Any]:
        return [values[0] for _, values in grid.distinct((key,))]

    tickers: dict[str, None] = {}
    for key in ("universe.long", "universe.short"):
        for names in distinct(key):
            tickers.update(dict.fromkeys(names))
    for (legs,) in (values for _, values in grid.distinct(("strategy.legs",))):
        for leg in legs:
            tickers.update(
                dict.fromkeys(leg.tickers if hasattr(leg, "tickers") else leg["tickers"])
            )
    tickers.update(dict.fromkeys(distinct("run.benchmark")))
    starts, ends = distinct("run.start"), distinct("run.end")
    start = None if None in starts else pd.Timestamp(min(starts))
    end = None if None in ends else pd.Timestamp(max(ends))
    histories = (source or price_source(grid.base)).load(list(tickers), start, end)
    return SweepData(histories, load_calendars(grid))


def load_calendars(grid: Grid) -> dict[str, EventCalendar]:
    """Every events file any config of ``grid`` reads, once."""
    files = [values[0] for _, values in grid.distinct(("events.file",))]
    return {_events_key(f): load_events(f) for f in files}


def input_digests(data: SweepData) -> dict[str, str]:
    """The sha256 of every input file (prices, events), by path: what a checkpoint is keyed on."""
    digests = {h.source: h.sha256 for h in data.histories.values()}
    digests.update({c.path: c.sha256 for c in data.calendars.values()})
    return dict(sorted(digests.items()))


def check_sessions(grid: Grid, data: SweepData) -> None:
    """Every combination's run.start/run.end must hold at least two sessions of the loaded data
    (the rule of data.market.resolve_sessions): checked before any work, naming the first
    combination that does not."""
    for index, (start, end) in grid.distinct(("run.start", "run.end")):
        try:
            resolve_sessions(
                pd.Timestamp(start) if start else None,
                pd.Timestamp(end) if end else None,
                data.histories,
            )
        except DataError as exc:
            raise SweepError(
                f"{grid.path} combination {index} {grid.describe(index)}: {exc}; change or "
                "exclude those dates in the grid"
            ) from None


def tasks(grid: Grid, done: set[int]) -> list[list[int]]:
    """Config indices to evaluate, grouped by plan (configs differing only in BATCHED_KEYS share
    one) and cut into tasks of TASK_SIZE at most."""
    planned = [k for k, key in enumerate(grid.keys) if key not in BATCHED_KEYS]
    gross = [k for k, key in enumerate(grid.keys) if key in GROSS_KEYS]
    keys = grid.combinations[:, planned + gross].astype(np.int64)
    if gross:  # single books batch their gross; per-event sub-books plan on it
        per_event = np.array(
            [v == "per_event" for v in grid.column("strategy.books.kind", np.arange(len(grid)))]
        )
        keys[~per_event, len(planned) :] = -1
    if keys.shape[1]:
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
    else:
        group = np.zeros(len(grid), dtype=np.int64)
    pending = np.ones(len(grid), dtype=bool)
    pending[np.fromiter(done, dtype=np.int64, count=len(done))] = False
    todo = np.flatnonzero(pending)
    out = []
    for g in dict.fromkeys(group[todo].tolist()):  # groups in grid order
        indices = todo[group[todo] == g].tolist()
        out.extend(indices[k : k + TASK_SIZE] for k in range(0, len(indices), TASK_SIZE))
    return out


def prepare_config(data: SweepData, config: Config) -> Prepared:
    """Market (kept per process), events and plan of one config (shared by its group)."""
    calendar = data.calendars[_events_key(config.events.file)]
    return prepare(config, events=calendar, histories=data.histories, memo=data.cache)


def batch_of(grid: Grid, indices: list[int]) -> Batch:
    """The numbers a plan does not depend on, per config (from the grid where varied, else
    the base): gross and its cap, the vol target, cost rates, cash."""

    def col(key: str, scale: float = 1.0) -> list[float]:
        return [float(v) * scale for v in grid.column(key, indices)]

    return Batch.of(
        gross=col("strategy.gross"),
        max_gross=col("strategy.max_gross"),
        target=col("strategy.sizing.target"),
        commission=col("costs.commission_bps", 1e-4),
        slippage=col("costs.slippage_bps", 1e-4),
        borrow=col("costs.borrow_bps", 1e-4),
        cash=col("run.cash"),
        half_spread=col("costs.half_spread_bps", 1e-4),
        impact_k=col("costs.impact_k"),
    )


def metrics_of(ev) -> dict[str, np.ndarray]:
    return batch_metrics(
        ev.equity,
        ev.batch.cash,
        ev.book_pnl,
        ev.decision_equity,
        ev.commission,
        ev.slippage_cost,
        ev.borrow_cost,
        ev.notional,
        ev.ruined_on,
        ev.arrays.decision,
    )


def evaluate_task(data: SweepData, grid: Grid, indices: list[int]) -> pd.DataFrame:
    """Metrics of configs sharing one plan: one row per config index."""
    prepared = prepare_config(data, grid.config(indices[0]))
    market, strategy = prepared.market, prepared.strategy
    arrays = plan_arrays(market, prepared.plan, borrow_rates(strategy, market))
    ev = evaluate(arrays, batch_of(grid, indices), strategy)
    values = metrics_of(ev)
    ruined_on = np.full(len(indices), "", dtype=object)
    ruined = ev.ruined_on >= 0
    if ruined.any():
        ruined_on[ruined] = list(market.sessions[ev.ruined_on[ruined]].strftime("%Y-%m-%d"))
    columns = {"config": np.asarray(indices, dtype=np.int64)}
    columns.update((name, values[name]) for name in METRICS)
    columns["ruined_on"] = ruined_on
    columns["sessions"] = np.full(len(indices), len(market.sessions), dtype=np.int64)
    frame = pd.DataFrame(columns)
    return frame


# -- executors ----------------------------------------------------------------------------------

_WORKER_DATA: SweepData | None = None
_WORKER_GRID: Grid | None = None


def _init_worker(data: SweepData, grid: Grid) -> None:
    ignore_interrupts()
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
    yield from run_forked(_run_in_worker, todo, workers, _init_worker, (data, grid))


def _evaluate_remote(data: SweepData, grid: Grid, indices: list[int]) -> pd.DataFrame:
    return evaluate_task(data, grid, indices)


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``scheduler`` (SweepError if it does not answer within
    DASK_CONNECT_TIMEOUT_S), or of a LocalCluster of ``workers`` processes."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SweepError(
            "--executor dask needs the optional extra: pip install 'capex-rotation[distributed]'"
        ) from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = str(exc).split("\n")[0] or type(exc).__name__
            raise SweepError(
                f"cannot reach the Dask scheduler {scheduler} within "
                f"{DASK_CONNECT_TIMEOUT_S:g} s ({reason}); start it (dask scheduler) or fix "
                "--scheduler"
            ) from None
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
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_dask(
    grid: Grid, data: SweepData, todo: list[list[int]], client: Any
) -> Iterable[pd.DataFrame]:
    """Evaluate tasks on the Dask cluster of ``client`` (see :func:`dask_client`)."""
    from dask.distributed import as_completed as dask_completed

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


@dataclass
class SweepResult:
    table: pd.DataFrame
    computed: int
    resumed: int
    folder: Path


def run_sweep(
    grid: Grid,
    data: SweepData,
    out_dir: Path,
    executor: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    say: Callable[[str], None] = say_on_stderr,
    client: Any | None = None,
) -> SweepResult:
    """Evaluate every config of ``grid`` not yet in the checkpoint; return the full table.

    Nothing is created before the dates, the output folder and the executor are checked (see
    the module doc); ``out_dir`` gets a provisional manifest and the checkpoint. ``client``:
    a Dask client the caller opened (:func:`dask_client`) and closes; else, with executor
    "dask", one is opened here.
    """
    if executor not in ("local", "dask"):
        raise SweepError(f"unknown executor {executor!r}; use local or dask")
    check_sessions(grid, data)
    with ExitStack() as stack:
        if executor == "dask" and client is None:
            client = stack.enter_context(dask_client(workers, scheduler))
        folder = stack.enter_context(InPlaceFolder.open(out_dir, "sweep", say)).path
        try:
            checkpoint = Checkpoint(folder, grid, input_digests(data), say)
        except OSError as exc:
            raise os_error(exc, "open the sweep checkpoint in", folder) from exc
        previous = checkpoint.load()
        done = set(previous["config"].tolist()) if len(previous) else set()
        if on_progress and done:
            on_progress(len(done))
        todo = tasks(grid, done)
        if executor == "dask":
            stream = run_dask(grid, data, todo, client)
        else:
            stream = run_local(grid, data, todo, workers)
        parts = [previous] if len(previous) else []
        computed = 0
        pending: list[pd.DataFrame] = []
        flushed = time.monotonic()
        try:
            for frame in stream:
                parts.append(frame)
                pending.append(frame)
                computed += len(frame)
                # Small tasks (one plan each) are checkpointed together, at least every
                # CHECKPOINT_EVERY_S seconds: a part file per task would cost more than the
                # task; whatever is pending is saved when the sweep stops, however it stops.
                if sum(map(len, pending)) >= TASK_SIZE or time.monotonic() - flushed >= (
                    CHECKPOINT_EVERY_S
                ):
                    checkpoint.save(pd.concat(pending, ignore_index=True))
                    pending, flushed = [], time.monotonic()
                if on_progress:
                    on_progress(len(frame))
        finally:
            if pending:
                checkpoint.save(pd.concat(pending, ignore_index=True))
    table = pd.concat(parts, ignore_index=True).sort_values("config", ignore_index=True)
    return SweepResult(table, computed, len(done), folder)


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
    for name in (*METRICS, "ruined_on", "sessions"):
        table[name] = metrics[name].to_numpy()
    return table


def verify(grid: Grid, data: SweepData, indices: list[int]) -> list[tuple[int, float]]:
    """Re-run configs through backtrader; return (config, max relative equity difference)."""
    from strategies.engines.backtrader_engine import run_backtrader  # only when it runs

    out = []
    for index in indices:
        config = grid.config(index)
        prepared = prepare_config(data, config)
        reference = (
            run_backtrader(prepared.market, prepared.plan, config.run.cash)
            .equity["equity"]
            .to_numpy()
        )
        fast = run_fast(prepared.market, prepared.plan, config.run.cash).equity[0]
        out.append((index, float(np.max(np.abs(fast - reference) / np.abs(reference)))))
    return out
