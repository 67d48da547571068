"""``Backtest.sweep``: a grid of config keys through the vectorised engine, as one DataFrame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from backtests.config import ConfigError
from backtests.grid import grid_of
from backtests.sweep import (
    SweepData,
    evaluate_task,
    load_calendars,
    load_sweep_data,
    results_table,
    tasks,
)

if TYPE_CHECKING:
    from backtests.api import Backtest


def sweep_frame(
    backtest: Backtest, grid: Mapping[str, Sequence[Any]], workers: int = 1
) -> pd.DataFrame:
    """One row per combination of ``grid`` (config key -> values) over the backtest's config:
    ``config`` (its index), the parameters, then the sweep's metrics (README, "Sweeps");
    ``attrs["trials"]`` is the number of configs tried. The selection statistics of the grid:
    :func:`backtests.research.sweep_selection.run_selection`."""
    if backtest.strategy is not None:
        policies = ", ".join(
            f"{seam} {type(getattr(backtest.strategy, seam)).__name__}"
            for seam in ("signal", "books", "sizer", "exits")
        )
        raise ConfigError(
            "Backtest.sweep varies config keys, and this Backtest runs a Strategy object a "
            f"config cannot describe ({policies}); sweep with Backtest.from_config(...), or "
            "run each variant with run(engine='fast')"
        )
    expanded = grid_of(backtest.config, {k: list(v) for k, v in grid.items()}, [], "sweep grid")
    if backtest.events is not None and "events.file" in expanded.keys:
        raise ConfigError("Backtest.sweep: events.file cannot vary when events= is given")
    calendars = {"": backtest.events} if backtest.events is not None else load_calendars(expanded)
    if backtest.histories is not None:
        data = SweepData(dict(backtest.histories), calendars)
    else:
        data = SweepData(load_sweep_data(expanded).histories, calendars)
    parts = [evaluate_task(data, expanded, indices) for indices in tasks(expanded, set())]
    metrics = pd.concat(parts, ignore_index=True).sort_values("config", ignore_index=True)
    table = results_table(expanded, metrics)
    table.attrs["trials"] = len(expanded)  # every config tried (selection statistics need it)
    return table
