"""The Python API: a backtest in a notebook, in a few lines, with plain pandas out.

    from backtests import Backtest
    bt = Backtest.from_config("my.toml", data_dir="../shared/market-data")
    result = bt.run()                      # backtrader, the engine of record
    result.stats                           # a pandas Series: the metrics table
    result.equity, result.trades, result.books, result.events
    result.plot(); result.publish("/tmp/run")

or with your own data and policies:

    from strategies import Strategy
    from strategies.policies import BetaNeutral, ExitRules
    strategy = Strategy.baseline(["META", "MSFT"], ["AMAT", "LRCX"], sizer=BetaNeutral(),
                                 exits=ExitRules(stop_loss=0.05))
    Backtest(prices=frames, events=events_frame, strategy=strategy, cash=1e6).run(engine="fast")

Inputs are validated eagerly, with the same one-line messages as the command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.config import Config, ConfigError, load_config, set_key, validate, with_cli_options
from backtests.prepare import Prepared, prepare
from backtests.runner import RunResult, finish
from data.errors import CapexRotationError, DataError
from data.events import EventCalendar, load_events, parse_events_csv
from data.prices import PriceHistory, validate_bars, validate_ticker
from strategies.engines.backtrader_engine import run_backtrader
from strategies.engines.fast_result import run_fast_result
from strategies.policies.costs import Costs
from strategies.strategy import Strategy

ENGINES = {"backtrader": run_backtrader, "fast": run_fast_result}
PRICE_FIELDS = ("open", "high", "low", "close", "volume")


class Backtest:
    """A run's inputs: prices, events, a strategy, costs and cash.

    ``prices``: a mapping ticker -> DataFrame (DatetimeIndex of days; open, high, low, close,
    volume), or one long DataFrame with columns date, ticker, open, high, low, close, volume;
    it must hold the benchmark. ``events``: a DataFrame with known_at and direction (and
    optionally id, category, headline, weight...), a CSV path, or an EventCalendar; default: the
    bundled calendar. ``strategy``: a Strategy (default: the config's); ``costs`` replaces its
    cost models. Without prices, they come from the config's data source.
    """

    def __init__(
        self,
        prices: Mapping[str, pd.DataFrame] | pd.DataFrame | None = None,
        events: pd.DataFrame | EventCalendar | str | Path | None = None,
        strategy: Strategy | None = None,
        costs: Costs | None = None,
        cash: float | None = None,
        benchmark: str | None = None,
        start: str | None = None,
        end: str | None = None,
        config: Config | None = None,
    ) -> None:
        table = (config or load_config()).resolved()
        for key, value in (("run.cash", cash), ("run.benchmark", benchmark)):
            if value is not None:
                set_key(table, key, value)
        for key, value in (("run.start", start), ("run.end", end)):
            if value is not None:
                set_key(table, key, str(value))
        self.config = validate(table, "Backtest(...)")
        self.histories = _histories(prices) if prices is not None else None
        if self.histories is not None and self.config.run.benchmark not in self.histories:
            raise DataError(
                f"prices hold no benchmark {self.config.run.benchmark}; add it or pass "
                "benchmark=<one of the tickers>"
            )
        self.events = _calendar(events)
        if strategy is not None and costs is not None:
            strategy = dataclasses.replace(strategy, costs=costs)
        elif costs is not None:
            raise ConfigError("costs= needs strategy= (or set [costs] in the config)")
        self.strategy = strategy

    @classmethod
    def from_config(
        cls,
        path: str | Path | None = None,
        data_dir: str | Path | None = None,
        overrides: Sequence[str] = (),
        **kwargs: Any,
    ) -> Backtest:
        """A Backtest of a TOML config (and ``--set``-style ``overrides``), as the CLI reads it;
        ``data_dir`` reads prices from a folder of <TICKER>.csv files."""
        config = load_config(Path(path) if path is not None else None, list(overrides))
        config = with_cli_options(config, Path(data_dir) if data_dir is not None else None)
        return cls(config=config, **kwargs)

    def prepare(self) -> Prepared:
        """Prices, events and the plan (what run() executes)."""
        return prepare(
            self.config, events=self.events, histories=self.histories, strategy=self.strategy
        )

    def run(self, engine: str = "backtrader") -> Result:
        """Execute the plan with ``engine`` ("backtrader", the reference, or "fast")."""
        if engine not in ENGINES:
            raise ConfigError(f"engine {engine!r}: choose 'backtrader' or 'fast'")
        prepared = self.prepare()
        result = ENGINES[engine](prepared.market, prepared.plan, self.config.run.cash)
        return Result(finish(prepared, result))

    def sweep(self, grid: Mapping[str, Sequence[Any]], workers: int = 1) -> pd.DataFrame:
        """Every combination of ``grid`` (config key -> values) through the fast engine: one
        row per config, keyed by its parameters, with the sweep's metrics."""
        from backtests.sweep_api import sweep_frame

        return sweep_frame(self, grid, workers)


class Result:
    """A finished run, as plain pandas (README, "Python API")."""

    def __init__(self, run: RunResult) -> None:
        self.run = run

    @property
    def stats(self) -> pd.Series:
        """The metrics table: quantstats' definitions (README, "Metrics") and the run facts."""
        from reports.metrics import metrics_document

        doc = metrics_document(self.returns, self.run.benchmark_returns, self.run.facts)
        values = {k: v for k, v in doc["strategy"].items()}
        values.update({f"vs_benchmark_{k}": v for k, v in doc["versus_benchmark"].items()})
        facts = self.run.facts
        values.update(
            books=facts["books_opened"],
            fills=facts["fills"],
            final_equity=facts["final_equity"],
            costs=facts["costs"]["total"],
            ruined_on=facts.get("ruined_on") or "",
        )
        return pd.Series(values, name="strategy", dtype=object)

    @property
    def returns(self) -> pd.Series:
        return self.run.returns

    @property
    def equity(self) -> pd.DataFrame:
        return self.run.result.equity

    @property
    def trades(self) -> pd.DataFrame:
        return self.run.result.fills

    @property
    def borrow(self) -> pd.DataFrame:
        return self.run.result.borrow

    @property
    def books(self) -> pd.DataFrame:
        return self.run.books

    @property
    def events(self) -> pd.DataFrame:
        return self.run.event_log

    def plot(self):
        """A matplotlib figure: the strategy's equity (left axis), the benchmark rebased to
        the same start (right axis), each book's entry marked."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        equity = self.equity["equity"]
        fig, ax = plt.subplots(figsize=(10, 4.5))
        ax.plot(equity.index, equity.to_numpy(), color="#1f77b4", label="strategy")
        bench = (1 + self.run.benchmark_returns).cumprod() * float(equity.iloc[0])
        twin = ax.twinx()
        twin.plot(bench.index, bench.to_numpy(), color="#999999", lw=0.8, label="benchmark")
        for entry in pd.to_datetime(self.books["entry"]):
            ax.axvline(entry, color="#2ca02c", lw=0.4, alpha=0.5)
        ax.set_ylabel("strategy equity")
        twin.set_ylabel("benchmark, rebased")
        ax.set_title(f"{self.run.config.run.name}: equity, books marked")
        fig.tight_layout()
        return fig

    def publish(self, path: str | Path, tearsheet: bool = True) -> Path:
        """Write the run folder the CLI writes (tear sheet, metrics, CSVs, page) at ``path``."""
        from backtests.publish import publish

        folder, _ = publish(self.run, Path(path), tearsheet=tearsheet, argv=["<python api>"])
        return folder


# -- inputs -----------------------------------------------------------------------------------


def _histories(prices: Mapping[str, pd.DataFrame] | pd.DataFrame) -> dict[str, PriceHistory]:
    """Price frames validated as price files are (one-line errors naming ticker and row)."""
    if isinstance(prices, pd.DataFrame):
        if "ticker" not in prices.columns:
            raise DataError(
                "prices: a single DataFrame needs a 'ticker' column (long format: date, ticker, "
                "open, high, low, close, volume); or pass a dict ticker -> frame"
            )
        frame = prices.copy()
        if "date" in frame.columns:
            frame = frame.set_index("date")
        prices = {str(t): g.drop(columns="ticker") for t, g in frame.groupby("ticker", sort=False)}
    out: dict[str, PriceHistory] = {}
    for name, frame in prices.items():
        ticker = validate_ticker(name)
        where = f"<prices[{ticker}]>"
        columns = {str(c).strip().lower().replace(" ", "_"): c for c in frame.columns}
        missing = [f for f in PRICE_FIELDS if f not in columns]
        if missing:
            raise DataError(f"{ticker}: {where} has no column {', '.join(map(repr, missing))}")
        try:
            index = pd.DatetimeIndex(pd.to_datetime(frame.index))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{ticker}: {where}: the index is not dates ({exc})") from None
        if index.tz is not None:
            index = index.tz_convert("America/New_York").tz_localize(None)
        bars = pd.DataFrame(
            {
                f: pd.to_numeric(frame[columns[f]], errors="coerce").to_numpy(float)
                for f in PRICE_FIELDS
            },
            index=index.normalize().as_unit("ns").rename("date"),
        )
        validate_bars(bars, ticker, where)
        digest = hashlib.sha256(pd.util.hash_pandas_object(bars).to_numpy().tobytes()).hexdigest()
        out[ticker] = PriceHistory(ticker, bars, where, digest)
    return out


def _calendar(events) -> EventCalendar | None:
    if events is None or isinstance(events, EventCalendar):
        return events
    if isinstance(events, str | Path):
        return load_events(events)
    if not isinstance(events, pd.DataFrame):
        raise CapexRotationError(
            f"events must be a DataFrame, a CSV path or an EventCalendar, not "
            f"{type(events).__name__}"
        )
    frame = events.copy()
    if "known_at" in frame.columns:
        frame["known_at"] = [
            v.isoformat() if isinstance(v, pd.Timestamp) else str(v) for v in frame["known_at"]
        ]
    text = io.StringIO()
    frame.to_csv(text, index=False, lineterminator="\n")
    raw = text.getvalue()
    parsed = parse_events_csv(raw, "<events DataFrame>")
    categories = tuple(sorted({e.category for e in parsed}))
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return EventCalendar(parsed, "<events DataFrame>", digest, categories)


__all__ = ["Backtest", "Result", "np"]
