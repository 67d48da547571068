"""Walk-forward: choose a config of a grid on each train window, run it on the next test window.

Windows (all on the NYSE sessions of the grid's run, S_0..S_last). With ``d0`` the date of S_0,
window k's anchor is ``a_k = d0 + k x step`` (calendar offsets: ``3y``, ``6m``, ``2w``, ``90d``);
its train sessions are those in [a_k, a_k + train) and its test sessions those in
[a_k + train, a_k + train + test). Windows are generated while the test part holds at least one
session; the last one may be shorter (cut at the newest bar). ``step`` must be at least ``test``
so that test windows never overlap (with step = test they tile the out-of-sample period).

Train. Every config of the grid is run by the fast engine on the train sessions alone, as its
own backtest (flat at the train start, a book still open at the train end marked to its last
close): no bar after the train window is read. The chosen config has the best value of the
metric (highest, or lowest for metrics where lower is better, as in ``capex-rotation sweep``);
undefined values (NaN) never win, nor do configs ruined on the train window (equity <= 0 at a
close; README "The rules"), even for a metric still defined for them (costs, books...); ties go
to the lowest config index. If no config has a defined value (e.g. no book opened, so no
Sharpe) the window stays flat: zero returns on its test sessions, and the reason is recorded.

Test. The chosen config runs fresh from the close of the last train session (flat; the first
possible fill is the open of the first test session, so an event entering on that session is
traded) to the last test session. Its returns on the test sessions are the out-of-sample
returns; its metrics (``oos_*``) are the fast engine's over that run, whose first session (the
decision close) has a zero return like every run's first session. A book still open at the end
of a test window is marked to that close, not liquidated: the next window starts flat from that
equity (no exit costs are charged at a window boundary).

Stitching. The out-of-sample equity compounds the test windows' returns from the base config's
cash: equity_t = cash x prod(1 + r_s, s <= t). Each test window runs from the equity carried
out of the previous one, so the stitched equity is exact for every cost model (with whole
shares or a size-dependent cost, returns depend on the equity's level).

Ruin out of sample. A chosen config ruined on its test window ends there like any run (its
equity held, so zero returns after the ruin close; its ``oos_*`` metrics undefined), and so
does the stitched account: the stitched equity is held from that close, and every later window
is ``ruined`` (not traded, zero returns), its reason naming the ruin session.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtests.config import set_key, validate
from backtests.grid import Grid
from backtests.research.sweep_selection import config_returns, fold_selection
from backtests.sweep import (
    SweepData,
    batch_of,
    cell,
    evaluate_task,
    metrics_of,
    prepare_config,
    tasks,
)
from data.errors import CapexRotationError
from data.market import align, resolve_sessions
from reports.metrics import RANKABLE
from strategies.engines.fast import borrow_rates, evaluate
from strategies.engines.plan_arrays import plan_arrays

# As reports.sweep_report.HIGHER_IS_BETTER (a test keeps them equal): higher is better for these,
# lower for the rest (volatility, costs, turnover...).
HIGHER_IS_BETTER = frozenset(
    {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "winning_books", "final_equity"}
)
FORBIDDEN_GRID_KEYS = ("run.start", "run.end", "run.benchmark")
_PERIOD = re.compile(r"^\s*(\d+)\s*([ymwd])\s*$", re.IGNORECASE)
_UNITS = {"y": "years", "m": "months", "w": "weeks", "d": "days"}


class WalkForwardError(CapexRotationError):
    """The walk-forward cannot run with these options or this grid."""


def parse_period(text: str, flag: str) -> pd.DateOffset:
    """``3y``, ``6m``, ``2w``, ``90d`` (calendar years, months, weeks, days) as a DateOffset."""
    match = _PERIOD.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise WalkForwardError(
            f"{flag} {text!r}: expected a positive length like 3y, 6m, 2w or 90d "
            "(years, months, weeks, calendar days)"
        )
    return pd.DateOffset(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


@dataclass(frozen=True)
class Window:
    """Positions in the run's sessions (inclusive) of one train and one test part."""

    index: int
    train_first: int
    train_last: int
    test_first: int
    test_last: int


def make_windows(
    sessions: pd.DatetimeIndex, train: pd.DateOffset, test: pd.DateOffset, step: pd.DateOffset
) -> list[Window]:
    """The rolling windows over ``sessions`` (see the module docstring)."""
    d0 = sessions[0]
    probe = pd.Timestamp("2000-01-01")
    if probe + step < probe + test:
        raise WalkForwardError(
            "--step is shorter than --test: test windows would overlap; use --step >= --test"
        )
    values = sessions.to_numpy()
    windows: list[Window] = []
    short_train = False
    k = 0
    while True:
        anchor = d0 + step * k if k else d0
        split = anchor + train
        stop = split + test
        if split > sessions[-1]:
            break
        a, b, c = (
            int(np.searchsorted(values, np.datetime64(x, "ns"), side="left"))
            for x in (anchor, split, stop)
        )
        if b - a < 2:
            short_train = True
        elif c > b:
            windows.append(Window(len(windows), a, b - 1, b, c - 1))
        k += 1
    if not windows and short_train:
        raise WalkForwardError(
            "--train holds fewer than 2 sessions: a backtest needs a decision close and a fill; "
            "use a longer --train"
        )
    if not windows:
        raise WalkForwardError(
            f"the run {sessions[0].date()} to {sessions[-1].date()} ({len(sessions)} sessions) "
            "is too short for one train window plus one test session; shorten --train or widen "
            "run.start/run.end"
        )
    return windows


def check_grid(grid: Grid, metric: str) -> None:
    if metric not in RANKABLE:
        raise WalkForwardError(f"--metric {metric!r}: choose one of {', '.join(RANKABLE)}")
    bad = [key for key in grid.keys if key in FORBIDDEN_GRID_KEYS]
    if bad:
        raise WalkForwardError(
            f"{grid.path}: [grid] varies {bad[0]!r}, which the walk-forward sets itself; remove it "
            "from [grid] (set it in [run])"
        )


def window_grid(grid: Grid, first: pd.Timestamp, last: pd.Timestamp) -> Grid:
    """``grid`` with its run cut to the sessions from ``first`` to ``last``."""
    table = grid.base.resolved()
    set_key(table, "run.start", first.date().isoformat())
    set_key(table, "run.end", last.date().isoformat())
    return dataclasses.replace(grid, base=validate(table, f"{grid.path} window"))


def train_table(grid: Grid, data: SweepData, first: pd.Timestamp, last: pd.Timestamp):
    """Fast-engine metrics of every config of ``grid`` run on the sessions first..last alone:
    one row per config (column ``config`` then METRICS), in config order."""
    cut = window_grid(grid, first, last)
    parts = [evaluate_task(data, cut, indices) for indices in tasks(cut, set())]
    return pd.concat(parts, ignore_index=True).sort_values("config", ignore_index=True)


def ruined(table: pd.DataFrame) -> np.ndarray:
    """True for configs of ``table`` ruined on its sessions (non-empty ``ruined_on``)."""
    if "ruined_on" not in table.columns:
        return np.zeros(len(table), dtype=bool)
    days = table["ruined_on"]
    return (days.notna() & (days.astype(str) != "")).to_numpy()


def choose(table: pd.DataFrame, metric: str) -> int | None:
    """The best config of ``table`` by ``metric`` (None if no value is defined); a ruined
    config's value counts as undefined."""
    values = np.where(ruined(table), np.nan, table[metric].to_numpy(dtype=float))
    if not np.isfinite(values).any():
        return None
    values = np.where(np.isfinite(values), values, np.nan)
    best = np.nanargmax(values) if metric in HIGHER_IS_BETTER else np.nanargmin(values)
    return int(table["config"].iloc[int(best)])


def train_returns(
    grid: Grid, data: SweepData, index: int, first: pd.Timestamp, last: pd.Timestamp
) -> np.ndarray:
    """Daily returns of config ``index`` run on the sessions first..last alone, as the train
    table's metrics see them (the first session against the cash; ruin as
    :func:`backtests.research.sweep_selection.config_returns`)."""
    cut = window_grid(grid, first, last)
    prepared = prepare_config(data, cut.config(index))
    market, strategy = prepared.market, prepared.strategy
    arrays = plan_arrays(market, prepared.plan, borrow_rates(strategy, market))
    ev = evaluate(arrays, batch_of(cut, [index]), strategy)
    return config_returns(ev.equity, ev.batch.cash, ev.ruined_on)[0]


@dataclass
class OutOfSample:
    returns: np.ndarray  # on the test sessions
    metrics: dict[str, float]
    ruined_on: str = ""  # the ruin session inside the test window, if any


def run_test_window(
    grid: Grid,
    data: SweepData,
    index: int,
    decision: pd.Timestamp,
    last: pd.Timestamp,
    cash: float | None = None,
) -> OutOfSample:
    """Config ``index`` run fresh (flat) from the close of ``decision`` to ``last``, with
    ``cash`` (default: the config's) as its starting equity."""
    cut = window_grid(grid, decision, last)
    prepared = prepare_config(data, cut.config(index))
    market, strategy = prepared.market, prepared.strategy
    arrays = plan_arrays(market, prepared.plan, borrow_rates(strategy, market))
    batch = batch_of(cut, [index])
    if cash is not None:
        batch = dataclasses.replace(batch, cash=np.array([float(cash)]))
    ev = evaluate(arrays, batch, strategy)
    equity = ev.equity[0]
    values = metrics_of(ev)
    ruin = int(ev.ruined_on[0])
    ruined_on = market.sessions[ruin].date().isoformat() if ruin >= 0 else ""
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = equity[1:] / equity[:-1] - 1
    if ruined_on:  # held after the ruin close: no return (0/0 when it was exactly zero)
        k = int(np.flatnonzero(~(equity > 0))[0])
        returns[k:] = 0.0
    numbers = {name: float(v[0]) for name, v in values.items()}
    return OutOfSample(returns=returns, metrics=numbers, ruined_on=ruined_on)


@dataclass
class WalkForwardResult:
    grid: Grid
    metric: str
    sessions: pd.DatetimeIndex
    windows: pd.DataFrame  # one row per window (see window_row)
    oos: pd.DataFrame  # indexed by test session: window, return, equity, benchmark_return
    train_tables: list[pd.DataFrame]
    benchmark: str
    cash: float


def run_sessions(grid: Grid, data: SweepData) -> pd.DatetimeIndex:
    base = grid.base.run
    start = pd.Timestamp(base.start) if base.start else None
    end = pd.Timestamp(base.end) if base.end else None
    return resolve_sessions(start, end, data.histories)


def run_walk_forward(
    grid: Grid,
    data: SweepData,
    train: pd.DateOffset,
    test: pd.DateOffset,
    step: pd.DateOffset,
    metric: str = "sharpe",
    on_progress: Callable[[int], None] | None = None,
    windows: list[Window] | None = None,
) -> WalkForwardResult:
    """Choose, test and stitch every window (``windows`` defaults to make_windows)."""
    check_grid(grid, metric)
    sessions = run_sessions(grid, data)
    windows = windows if windows is not None else make_windows(sessions, train, test, step)
    bench_market = align(data.histories, sessions, (), grid.base.run.benchmark)
    bench = bench_market.benchmark_returns().to_numpy()
    rows, tables, parts = [], [], []
    carried = float(grid.base.run.cash)  # the OOS equity each test window starts from
    account_ruined = ""  # the session the stitched out-of-sample account was ruined on
    for w in windows:
        table = train_table(grid, data, sessions[w.train_first], sessions[w.train_last])
        tables.append(table)
        chosen = choose(table, metric)
        test_sessions = sessions[w.test_first : w.test_last + 1]
        row = {
            "window": w.index,
            "train_start": sessions[w.train_first].date().isoformat(),
            "train_end": sessions[w.train_last].date().isoformat(),
            "test_start": test_sessions[0].date().isoformat(),
            "test_end": test_sessions[-1].date().isoformat(),
            "train_sessions": w.train_last - w.train_first + 1,
            "test_sessions": len(test_sessions),
            "configs_defined": int(
                np.isfinite(np.where(ruined(table), np.nan, table[metric].to_numpy(float))).sum()
            ),
            "trials": len(table),
        }
        fold = {"is_psr": np.nan, "is_dsr": np.nan}
        oos: dict[str, float] = {}
        is_row: dict[str, float] = {}
        undefined = bool(account_ruined)  # the window's OOS total return
        if account_ruined:
            chosen = None
            returns = np.zeros(len(test_sessions))
            row.update(config=None, status="ruined")
            row["reason"] = (
                f"the out-of-sample account was ruined on {account_ruined}: nothing trades after it"
            )
        elif chosen is None:
            returns = np.zeros(len(test_sessions))
            row.update(config=None, status="flat")
            row["reason"] = (
                f"no config has a defined {metric} on the train window (no book, or all ruined)"
            )
        else:
            run = run_test_window(
                grid, data, chosen, sessions[w.train_last], sessions[w.test_last], carried
            )
            returns = run.returns
            oos = run.metrics
            is_row = table.loc[table["config"] == chosen].iloc[0].to_dict()
            chosen_train = train_returns(
                grid, data, chosen, sessions[w.train_first], sessions[w.train_last]
            )
            fold = fold_selection(table, chosen_train, len(table))
            row.update(config=chosen, status="chosen", reason="")
            if run.ruined_on:
                account_ruined, undefined = run.ruined_on, True
                row["reason"] = (
                    f"ruined on {run.ruined_on} (equity <= 0 at that close): the "
                    "out-of-sample run ends there"
                )
        for key in grid.keys:
            row[key] = cell(grid.params(chosen)[key]) if chosen is not None else None
        for name in dict.fromkeys((metric, "sharpe")):
            row[f"is_{name}"] = float(is_row.get(name, np.nan))
            row[f"oos_{name}"] = float(oos.get(name, np.nan))
        row["is_psr"], row["is_dsr"] = float(fold["is_psr"]), float(fold["is_dsr"])
        row["oos_total_return"] = np.nan if undefined else float(np.prod(1 + returns) - 1)
        row["oos_books"] = int(oos.get("books", 0))
        rows.append(row)
        carried *= float(np.prod(1 + returns))
        parts.append(
            pd.DataFrame(
                {
                    "window": w.index,
                    "return": returns,
                    "benchmark_return": bench[w.test_first : w.test_last + 1],
                },
                index=test_sessions,
            )
        )
        if on_progress:
            on_progress(1)
    oos_frame = pd.concat(parts)
    oos_frame.index.name = "date"
    cash = float(grid.base.run.cash)
    oos_frame.insert(2, "equity", cash * np.cumprod(1 + oos_frame["return"].to_numpy()))
    frame = pd.DataFrame(rows)
    frame["config"] = frame["config"].astype("Int64")
    for key in grid.keys:  # keep each parameter's own type (3, not 3.0); empty when flat
        frame[key] = pd.Series([row[key] for row in rows], dtype=object)
    return WalkForwardResult(
        grid=grid,
        metric=metric,
        sessions=sessions,
        windows=frame,
        oos=oos_frame,
        train_tables=tables,
        benchmark=grid.base.run.benchmark,
        cash=cash,
    )
