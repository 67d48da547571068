"""Synthetic universes and event files for the scaling benchmark (bench/bench_scale.py).

Built from the shared data's real daily bars, so prices behave like prices:

- **Names.** Synthetic name ``Sxxxx`` takes one real ticker's daily bars (cycling through the
  tickers of the shared folder, benchmark excepted) and rotates them by a random offset: its
  close-to-close returns on the run's sessions are the real ones of a shifted day, compounded
  from a random start price; open, high and low keep that day's ratios to its close; volume is
  that day's. About one name in ten lists late and one in twenty ends early (like SNDK and
  ENTG), so late feeds and names that end mid-run are exercised.
- **Sessions.** The benchmark's (SPY's) real dates: real NYSE sessions. The benchmark file is
  the real one, copied.
- **Events.** ``count`` events between 2016-02-01 and 2026-07-31 (a year of estimation window
  before the first one), in clusters like real news: cluster starts uniform over the period,
  cluster sizes geometric (mean 2), the events of a cluster within a few calendar days of its
  start, hours drawn like the bundled calendar's (08:00 and 16:30 New York, 12:00, or the date
  alone), directions +1 with the bundled calendar's share, categories from its list.

Everything is a function of the seed: the same arguments write byte-identical files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BENCHMARK = "SPY"
LONG_SHARE = 4 / 13  # the default universe: 4 spenders long, 9 capex names short
CATEGORIES = (
    ("custom_silicon", 1),
    ("compute_resale", 1),
    ("capex_cut", 1),
    ("efficiency_breakthrough", 1),
    ("capex_raise", -1),
    ("mega_order", -1),
)
EVENTS_FROM, EVENTS_TO = "2016-02-01", "2026-07-31"


@dataclass(frozen=True)
class Universe:
    """A synthetic price folder and the baskets over its names."""

    folder: Path
    long: tuple[str, ...]
    short: tuple[str, ...]
    benchmark: str = BENCHMARK

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.long, *self.short)


def _read_bars(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["date"]).set_index("date")
    frame = frame[["open", "high", "low", "close", "volume"]].astype(float)
    return frame[(frame > 0).all(axis=1) | (frame["volume"] == 0)]


def write_universe(
    market_data: Path, folder: Path, names: int, seed: int = 11, start: str = "2015-01-01"
) -> Universe:
    """Write ``names`` synthetic price files and the benchmark's real file into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bench_path = market_data / f"{BENCHMARK}.csv"
    bench = _read_bars(bench_path)
    sessions = bench.index[bench.index >= pd.Timestamp(start)]
    (folder / f"{BENCHMARK}.csv").write_bytes(bench_path.read_bytes())
    sources = []
    for path in sorted(market_data.glob("*.csv")):
        if path.stem.upper() == BENCHMARK:
            continue
        bars = _read_bars(path)
        bars = bars[bars.index.isin(sessions)]
        if len(bars) > 500:
            sources.append(bars)
    rng = np.random.default_rng(seed)
    n = len(sessions)
    tickers = [f"S{k:04d}" for k in range(names)]
    for k, ticker in enumerate(tickers):
        bars = sources[k % len(sources)]
        m = len(bars)
        close = bars["close"].to_numpy()
        ratios = bars[["open", "high", "low"]].to_numpy() / close[:, None]
        growth = np.ones(m)
        growth[1:] = close[1:] / close[:-1]
        shift = int(rng.integers(0, m))
        day = (np.arange(n) + shift) % m  # the real day each synthetic session copies
        g = growth[day]
        g[0] = 1.0
        synthetic_close = float(rng.uniform(10, 400)) * np.cumprod(g)
        first, last = 0, n
        roll = rng.random()
        if roll < 0.10:  # lists late
            first = int(rng.integers(n // 4, 3 * n // 4))
        elif roll < 0.15:  # ends early
            last = int(rng.integers(n // 2, n - 50))
        rows = slice(first, last)
        ohlc = ratios[day] * synthetic_close[:, None]
        high = np.maximum(ohlc[:, 1], np.maximum(ohlc[:, 0], synthetic_close))
        low = np.minimum(ohlc[:, 2], np.minimum(ohlc[:, 0], synthetic_close))
        table = pd.DataFrame(
            {
                "date": sessions.strftime("%Y-%m-%d"),
                "open": ohlc[:, 0],
                "high": high,
                "low": low,
                "close": synthetic_close,
                "adj_close": "",
                "volume": bars["volume"].to_numpy()[day].astype(np.int64),
            }
        ).iloc[rows]
        table.to_csv(folder / f"{ticker}.csv", index=False, lineterminator="\n")
    n_long = max(1, round(names * LONG_SHARE))
    return Universe(folder, tuple(tickers[:n_long]), tuple(tickers[n_long:]))


def write_events(path: Path, count: int, seed: int = 5) -> Path:
    """Write ``count`` clustered events (see the module doc) as an events CSV."""
    rng = np.random.default_rng(seed)
    lo, hi = pd.Timestamp(EVENTS_FROM), pd.Timestamp(EVENTS_TO)
    span_days = (hi - lo).days
    days: list[int] = []
    while len(days) < count:
        start = int(rng.integers(0, span_days))
        size = int(rng.geometric(0.5))
        for _ in range(size):
            days.append(min(span_days, start + int(rng.integers(0, 4))))
    days = sorted(days[:count])
    hours = rng.choice(4, size=count, p=[0.25, 0.25, 0.2, 0.3])
    plus = rng.random(count) < 37 / 60  # the bundled calendar's share of +1 events
    kinds = rng.integers(0, 4, size=count)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "known_at", "direction", "category", "headline"])
        for k, day in enumerate(days):
            date = (lo + pd.Timedelta(days=day)).date().isoformat()
            known_at = (date + "T08:00:00", date + "T12:00:00", date + "T16:30:00", date)[
                int(hours[k])
            ]
            pick = int(kinds[k]) if plus[k] else 4 + int(kinds[k]) % 2
            category, direction = CATEGORIES[pick]
            writer.writerow(
                [f"syn-{k:05d}", known_at, f"{direction:+d}", category, f"synthetic event {k}"]
            )
    return path


def write_config(path: Path, universe: Universe, events: Path | None, end: str) -> Path:
    """A backtest config over ``universe`` (and ``events`` when given), 2015-01-01 to ``end``."""
    lines = [
        "[run]",
        'name = "scale"',
        "start = 2015-01-01",
        f"end = {end}",
        f'benchmark = "{universe.benchmark}"',
        "",
        "[data]",
        'source = "csv"',
        f'dir = "{universe.folder}"',
        "",
        "[universe]",
        "long = [" + ", ".join(f'"{t}"' for t in universe.long) + "]",
        "short = [" + ", ".join(f'"{t}"' for t in universe.short) + "]",
        "",
    ]
    if events is not None:
        lines += ["[events]", f'file = "{events}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
