"""The selection statistics of a sweep: how much of its best config is the luck of trying many.

:func:`run_selection` runs every config of a grid through the fast engine once more (after the
metrics pass, so a sweep resumed from its checkpoint gets them too), in tasks of at most
:data:`CHUNK` configs, and streams each task's daily returns into
:class:`~backtests.research.selection_stream.SelectionStatistics` (per-config Sharpe, PBO block
sums, the SPA bootstrap maxima, and the returns of the configs reported): memory is bounded by
the chunk and the bootstrap, not by the number of configs. It reports, for the best config by
the sweep's metric and for any named config:

- PSR against Sharpe 0 and against the benchmark's own (per-period) Sharpe;
- the deflated Sharpe ratio (N = every config tried, V = variance of their Sharpes);
- for the whole grid: Hansen's SPA and White's reality check p-values against two benchmarks,
  flat (zero return) and buy-and-hold of the base config's ``run.benchmark``;
- the probability of backtest overfitting by CSCV (S blocks, stated).

Returns. r_t = equity_t / equity_{t-1} - 1 on the sessions from the earliest ``run.start`` to
the latest ``run.end`` of the grid (the first session against the cash, as the sweep's
metrics); a config is flat (0) on sessions outside its own run. Ruined configs (equity <= 0 at
a close): the ruin session's return is floored at -100% (everything was lost), later ones are 0
(the run ended), and undefined ones (0/0) are 0. They count as trials (N) and enter SPA and PBO
with those returns, but their Sharpe is left out of the trials' Sharpe variance and they are
never the best (the sweep ranks them last).

Determinism: the tasks are the same whatever ``workers``; results are accumulated by config
index (the pool's completion order does not matter) and the bootstrap is seeded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests import sweep as sweep_module
from backtests.grid import Grid
from backtests.process_pool import run_forked
from backtests.research.pbo import DEFAULT_BLOCKS
from backtests.research.selection import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
)
from backtests.research.selection_stream import SelectionStatistics
from backtests.sweep import SweepData, batch_of, metrics_of, prepare_config, tasks
from data.errors import CapexRotationError
from data.market import align, resolve_sessions
from reports.metrics import PERIODS, daily_returns
from strategies.engines.fast import borrow_rates, evaluate
from strategies.engines.plan_arrays import plan_arrays

CHUNK = 512  # configs per task of the returns pass (bounds its arrays: CHUNK x T floats)
DEFAULT_REPS = 1000  # bootstrap resamples of SPA / RC
DEFAULT_SEED = 0
BENCHMARKS = ("flat", "buy_and_hold")
# As reports.sweep_report.HIGHER_IS_BETTER (tests/test_sweep_selection.py keeps them equal).
HIGHER_IS_BETTER = frozenset(
    {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "winning_books", "final_equity"}
)
RUIN_CONVENTION = (
    "ruined configs count as trials and enter SPA/RC and PBO with a -100% return on their ruin "
    "session and 0 after it; their Sharpe is left out of the trials' Sharpe variance"
)


class SelectionError(CapexRotationError):
    """The selection statistics cannot be computed for this grid or these options."""


def config_returns(equity: np.ndarray, cash: np.ndarray, ruined_on: np.ndarray) -> np.ndarray:
    """(configs x T) daily returns of a batch with the ruin convention of the module doc."""
    r = daily_returns(equity, cash)
    r = np.where(np.isfinite(r), r, 0.0)
    for cfg in np.flatnonzero(ruined_on >= 0):
        t = int(ruined_on[cfg])
        r[cfg, t] = max(r[cfg, t], -1.0)
        r[cfg, t + 1 :] = 0.0
    return r


def grid_sessions(grid: Grid, data: SweepData) -> pd.DatetimeIndex:
    """The sessions from the grid's earliest run.start to its latest run.end."""
    starts = [v[0] for _, v in grid.distinct(("run.start",))]
    ends = [v[0] for _, v in grid.distinct(("run.end",))]
    start = None if None in starts else pd.Timestamp(min(starts))
    end = None if None in ends else pd.Timestamp(max(ends))
    return resolve_sessions(start, end, data.histories)


@dataclass
class TaskReturns:
    """One task of the returns pass: config indices, their returns on the grid's sessions,
    which were ruined, and the value of the ranking metric."""

    indices: np.ndarray
    returns: np.ndarray
    ruined: np.ndarray
    metric: np.ndarray


def returns_task(
    data: SweepData, grid: Grid, indices: list[int], sessions: pd.DatetimeIndex, metric: str
) -> TaskReturns:
    """Evaluate configs sharing one plan and return their daily returns on ``sessions``."""
    prepared = prepare_config(data, grid.config(indices[0]))
    market, strategy = prepared.market, prepared.strategy
    arrays = plan_arrays(market, prepared.plan, borrow_rates(strategy, market))
    ev = evaluate(arrays, batch_of(grid, indices), strategy)
    own = config_returns(ev.equity, ev.batch.cash, ev.ruined_on)
    where = sessions.get_indexer(market.sessions)
    if (where < 0).any():
        raise SelectionError("a config's sessions fall outside the grid's sessions")
    returns = np.zeros((len(indices), len(sessions)))
    returns[:, where] = own
    return TaskReturns(
        indices=np.asarray(indices, dtype=np.int64),
        returns=returns,
        ruined=ev.ruined_on >= 0,
        metric=np.asarray(metrics_of(ev)[metric], dtype=float),
    )


_WORKER_CONTEXT: tuple[pd.DatetimeIndex, str] | None = None


def _init_returns_worker(data: SweepData, grid: Grid, sessions, metric: str) -> None:
    global _WORKER_CONTEXT
    sweep_module._init_worker(data, grid)
    _WORKER_CONTEXT = (sessions, metric)


def _returns_in_worker(indices: list[int]) -> TaskReturns:
    assert sweep_module._WORKER_DATA is not None and sweep_module._WORKER_GRID is not None
    assert _WORKER_CONTEXT is not None
    return returns_task(
        sweep_module._WORKER_DATA, sweep_module._WORKER_GRID, indices, *_WORKER_CONTEXT
    )


class _BestByMetric:
    """The best config as ``reports.sweep_report.rank`` orders them (defined values best
    first, then undefined, then ruined; ties to the lowest index), with its returns."""

    def __init__(self, metric: str) -> None:
        self.sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
        self.key: tuple[int, float, int] | None = None
        self.returns: np.ndarray | None = None

    def add(self, part: TaskReturns) -> None:
        value = part.metric
        kind = np.where(part.ruined, 2, np.where(np.isfinite(value), 0, 1))
        score = np.where(kind == 0, self.sign * value, 0.0)
        k = int(np.lexsort((part.indices, score, kind))[0])
        key = (int(kind[k]), float(score[k]), int(part.indices[k]))
        if self.key is None or key < self.key:
            self.key, self.returns = key, part.returns[k].copy()

    @property
    def config(self) -> int:
        assert self.key is not None
        return self.key[2]


@dataclass
class SelectionResult:
    """What :func:`run_selection` measured (``statistics``: SelectionStatistics.finish's
    dictionary, the best config by ``metric`` being ``best``)."""

    n_trials: int
    metric: str
    best: int
    named: list[int]
    ruined: int
    sessions: tuple[str, str, int]
    benchmark: str
    benchmark_sharpe: float
    statistics: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def report(self, index: int) -> dict[str, Any]:
        """PSR/DSR report of config ``index`` (the best or a named one)."""
        return self.statistics["kept"][index]

    def document(self) -> dict[str, Any]:
        """The content of selection.json (NaN as null)."""
        order = [self.best] + [k for k in sorted(self.statistics["kept"]) if k != self.best]
        kept = self.statistics["kept"]
        configs = {str(k): {"role": _role(self, k), **kept[k]} for k in order}
        return _clean(
            {
                "n_trials": self.n_trials,
                "metric": self.metric,
                "best_config": self.best,
                "named_configs": self.named,
                "ruined_configs": self.ruined,
                "ruin_convention": RUIN_CONVENTION,
                "sessions": {
                    "first": self.sessions[0],
                    "last": self.sessions[1],
                    "count": self.sessions[2],
                },
                "benchmark": {
                    "ticker": self.benchmark,
                    "per_period_sharpe": self.benchmark_sharpe,
                },
                "settings": self.settings,
                "configs": configs,
                "best_by_sharpe": (self.statistics["best"] or {}).get("config"),
                "spa": self.statistics["spa"],
                "pbo": self.statistics["pbo"],
                "sharpe_convention": (
                    "per period (daily): mean / std(ddof=1); annualised = x sqrt(252)"
                ),
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.document(), indent=2, allow_nan=False) + "\n"


def _role(result: SelectionResult, index: int) -> str:
    roles = []
    if index == result.best:
        roles.append(f"best by {result.metric}")
    if index in result.named:
        roles.append("named")
    return ", ".join(roles)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def run_selection(
    grid: Grid,
    data: SweepData,
    workers: int = 1,
    metric: str = "sharpe",
    named: Sequence[int] = (),
    best: int | None = None,
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
    blocks: int = DEFAULT_BLOCKS,
    on_progress: Callable[[int], None] | None = None,
) -> SelectionResult:
    """The selection statistics of every config of ``grid`` on ``data`` (module doc), with
    ``workers`` forked processes. ``best``: the config the sweep ranked first by ``metric``
    (found here, by the same rule, when not given); ``named``: configs reported besides it.
    Writes nothing."""
    n = len(grid)
    bad = [k for k in named if not 0 <= int(k) < n]
    if bad:
        raise SelectionError(
            f"--select-config {bad[0]}: the grid has configs 0 to {n - 1} (the config column "
            "of sweep.csv)"
        )
    if n < 2:
        raise SelectionError("selection statistics need at least two configs in the grid")
    sessions = grid_sessions(grid, data)
    if len(sessions) < 2 * blocks:
        raise SelectionError(
            f"{len(sessions)} sessions are too few for PBO's {blocks} blocks; widen the run"
        )
    ticker = grid.base.run.benchmark
    bench = align(data.histories, sessions, (), ticker).benchmark_returns().to_numpy(float)
    benchmarks = {"flat": np.zeros(len(sessions)), "buy_and_hold": bench}
    keep = sorted({int(k) for k in named} | ({int(best)} if best is not None else set()))
    todo = [t[k : k + CHUNK] for t in tasks(grid, set()) for k in range(0, len(t), CHUNK)]
    by_metric = _BestByMetric(metric)
    stats = SelectionStatistics(
        len(sessions), benchmarks, keep=keep, reps=reps, seed=seed, blocks=blocks
    )
    ruined = 0
    if workers <= 1:
        stream = (returns_task(data, grid, t, sessions, metric) for t in todo)
    else:
        # The statistics (here) are slower than the engine: at most workers + 1 tasks are out
        # at a time. Ctrl-C or an error terminates the workers at once.
        stream = run_forked(
            _returns_in_worker,
            todo,
            workers,
            _init_returns_worker,
            (data, grid, sessions, metric),
            in_flight=workers + 1,
        )
    for part in stream:
        stats.add(part.returns, part.indices, exclude=part.ruined)
        by_metric.add(part)
        ruined += int(part.ruined.sum())
        if on_progress:
            on_progress(len(part.indices))
    chosen = by_metric.config if best is None else int(best)
    if best is None:  # found in the stream: its returns were kept there
        stats.keep = sorted(set(stats.keep) | {chosen})
        stats.kept.setdefault(chosen, by_metric.returns)
    statistics = stats.finish()
    flat_block = statistics["spa"]["flat"]
    return SelectionResult(
        n_trials=n,
        metric=metric,
        best=chosen,
        named=sorted({int(k) for k in named}),
        ruined=ruined,
        sessions=(sessions[0].date().isoformat(), sessions[-1].date().isoformat(), len(sessions)),
        benchmark=ticker,
        benchmark_sharpe=statistics["kept"][chosen]["benchmark_sharpe_buy_and_hold"],
        statistics=statistics,
        settings={
            "spa_reps": reps,
            "spa_block": flat_block["block"],
            "spa_seed": seed,
            "spa_bootstrap": "stationary (arch), mean block length as stated",
            "pbo_blocks": blocks,
        },
    )


# -- walk-forward folds --------------------------------------------------------------------------


def fold_selection(
    train: pd.DataFrame, returns: np.ndarray, n_trials: int
) -> dict[str, float | int]:
    """In-sample PSR vs 0 and DSR of the config a walk-forward fold chose. ``train``: the
    fold's train table (one row per config tried; ``sharpe`` annualised, NaN for ruined or
    flat configs, which are left out of the variance); ``returns``: the chosen config's daily
    returns on the train sessions."""
    trial = train["sharpe"].to_numpy(dtype=float) / np.sqrt(PERIODS)
    dsr = deflated_sharpe_ratio(returns, trial, n_trials)
    return {
        "trials": int(n_trials),
        "is_psr": probabilistic_sharpe_ratio(returns, 0.0),
        "is_dsr": dsr["dsr"],
        "is_expected_max_sharpe": dsr["expected_max_sharpe"] * np.sqrt(PERIODS),
    }
