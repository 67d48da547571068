"""Placebo calendars: is the news timing the reason the rotation pays, or would any dates do?

A placebo calendar keeps the real events entering inside the run (their number, directions and
weights) and moves them to other sessions with one of three schemes
(backtests/research/placebo_calendars.py, numpy ``default_rng(seed)``):

- ``circular`` (the default): the whole real calendar shifted by one random offset, wrapping
  around the run's sessions after the first. Its clustering (the bursts of 2024-2026), every
  gap between events and the sequence of directions are kept exactly; only its position in the
  market's history moves. This is the like-for-like null: "would the same calendar have paid
  as well at another time?".
- ``block``: runs of same-direction events kept whole, the gaps between runs permuted, then a
  circular offset (a looser null: the spacing between episodes is reshuffled).
- ``iid``: entry sessions drawn uniformly and independently, sorted, the k-th earliest draw
  getting the k-th real event (the placebo before issue 9; it spreads clustered news out, so it
  compares the real calendar with calendars that never cluster).

Two events on one session enter together (their signals add up, as real ones do). Each
calendar is planned and run with the real calendar's config (backtests/research/placebo_draws.py:
the exact path, or a fast path that is bit-identical to it).

Metrics (fast engine, README "Metrics"): ``sharpe``, ``total_return`` and ``hit_rate`` = the
share of books whose P&L is positive (P&L = equity at the close of the book's exit session, or
the last close for a book still open, minus equity at its decision close: every fill, cost and
borrow fee of the episode). A calendar with no book has an undefined Sharpe and hit rate (NaN).
A draw whose equity reaches zero or below at some close is ruined (``ruined_on``; README "The
rules": the run ends at that close): its Sharpe, total return and hit rate are all undefined,
as every return-based metric of a ruined run. Undefined values are left out of the placebo
distribution (``placebo_defined`` says how many draws count).

Against the N placebo values of a metric that are defined (d_1..d_n):

- ``percentile`` = 100 x (#{d_i < x} + 0.5 x #{d_i = x}) / n (mid-rank: ties count half, which
  matters for the hit rate, a ratio of small integers);
- ``p_value`` = (1 + #{d_i >= x}) / (1 + n), one-sided (is the real value unusually HIGH?), the
  real calendar counted as one more draw, so it is never 0.

The real run's Sharpe and total return also get stationary-bootstrap confidence intervals
(backtests/research/bootstrap.py: Politis & Romano 1994, mean block length from arch's
``optimal_block_length``, Politis & White 2004 with Patton, Politis & White 2009), over its
daily returns, seeded with the placebo's seed: they say how uncertain the real figures are
from the run's own returns, whatever the dates.

The "always on" baseline holds the rotation every day: at every close it is rebalanced to the
target weights (each long name with bars on both sessions +G/2/n_long, each short -G/2/n_short,
the same eligibility rule as the books), so its daily return is
``r_t = sum_i w_i * (close_i,t / close_i,t-1 - 1) - b * (G/2) * n_t / 365`` (borrow on the short
half over the n_t calendar days since the previous session). It is an idealised baseline: the
daily rebalancing is assumed to trade at the close at no commission or slippage (the books pay
both), so it flatters the always-on rotation. It has no books: its hit rate is undefined.
(A single book held unrebalanced for the whole run is no baseline: on the shared data its short
side outgrows the equity in the 2025-26 memory rally and the book goes bust.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtests.research.bootstrap import stationary_bootstrap_ci
from backtests.research.placebo_calendars import event_sessions
from backtests.research.placebo_definitions import DEFAULT_SCHEME, SCHEMES
from backtests.research.placebo_draws import (
    CHUNK,
    DRAW_COLUMNS,
    PlaceboError,
    PlaceboSetup,
    evaluate_draws,
    placebo_index,
    placebo_plan,
    plan_evaluation,
    plan_metrics,
    prepare_placebo,
    real_plan,
    run_draws,
)
from reports.metrics import daily_returns

__all__ = [
    "CHUNK",
    "DEFAULT_SCHEME",
    "DRAW_COLUMNS",
    "REPORTED",
    "SCHEMES",
    "PlaceboError",
    "PlaceboResult",
    "PlaceboSetup",
    "always_on_metrics",
    "always_on_returns",
    "draw_event_sessions",
    "evaluate_draws",
    "p_value",
    "percentile",
    "placebo_index",
    "placebo_plan",
    "placebo_verdicts",
    "plan_metrics",
    "prepare_placebo",
    "real_bootstrap",
    "real_plan",
    "real_returns",
    "run_draws",
    "run_placebo",
    "summary_table",
]

REPORTED = ("sharpe", "total_return", "hit_rate")
BOOTSTRAP_REPS = 2000
BOOTSTRAP_CONFIDENCE = 0.95


def always_on_returns(setup: PlaceboSetup) -> pd.Series:
    """Daily returns of the rotation rebalanced to its target weights at every close (see the
    module doc); 0 on the first session."""
    market = setup.market
    gross = float(setup.strategy.gross)
    borrow = float(setup.batch.borrow[0])
    close = market.close
    with np.errstate(invalid="ignore", divide="ignore"):
        moves = close[1:] / close[:-1] - 1  # NaN where a name lacks either bar
    days = np.diff(market.sessions.asi8) / 86_400_000_000_000
    out = np.zeros(len(market.sessions))
    for side, sign in ((setup.long, 1.0), (setup.short, -1.0)):
        cols = [market.column(t) for t in side]
        side_moves = moves[:, cols]
        held = np.isfinite(side_moves)
        count = held.sum(axis=1)
        mean = np.where(count > 0, np.nansum(side_moves, axis=1) / np.maximum(count, 1), 0.0)
        out[1:] += sign * gross / 2 * mean
        if sign < 0:
            out[1:] -= borrow * gross / 2 * days * (count > 0) / 365
    return pd.Series(out, index=market.sessions, name="always_on")


def always_on_metrics(setup: PlaceboSetup) -> dict[str, Any]:
    """Sharpe and total return of :func:`always_on_returns` (README "Metrics" definitions).

    Ruined like any run at its first close with equity <= 0 (a daily return <= -100%): it
    ends there (equity held), and its Sharpe and total return are undefined.
    """
    r = always_on_returns(setup).to_numpy()
    cash = float(setup.batch.cash[0])
    equity = cash * np.cumprod(1 + r)
    bad = ~(equity > 0)
    if bad.any():
        first = int(bad.argmax())
        equity[first:] = equity[first]
        return {
            "sharpe": float("nan"),
            "total_return": float("nan"),
            "hit_rate": float("nan"),
            "books": 0,
            "final_equity": float(equity[-1]),
            "min_equity": float(min(equity.min(), cash)),
            "ruined_on": setup.market.sessions[first].date().isoformat(),
        }
    std = r.std(ddof=1)
    return {
        "sharpe": float(r.mean() / std * np.sqrt(252)) if std > 0 else float("nan"),
        "total_return": float(np.prod(1 + r) - 1),
        "hit_rate": float("nan"),
        "books": 0,
        "final_equity": float(equity[-1]),
        "min_equity": float(min(equity.min(), cash)),
        "ruined_on": "",
    }


def draw_event_sessions(setup: PlaceboSetup, scheme: str, draws: int, seed: int) -> np.ndarray:
    """Draw r's entry session of each real event inside the run (chronological), (draws,
    events), under ``scheme`` with numpy ``default_rng(seed)``."""
    if draws < 1:
        raise PlaceboError(f"--draws {draws}: need at least 1 draw")
    if scheme not in SCHEMES:
        raise PlaceboError(f"--scheme {scheme}: expected one of {', '.join(SCHEMES)}")
    rng = np.random.default_rng(seed)
    n = len(setup.market.sessions)
    return event_sessions(scheme, n, setup.entry_index, setup.directions, draws, rng)


def percentile(value: float, placebo: np.ndarray) -> float:
    """Mid-rank percentile of ``value`` among the defined placebo values (NaN if undefined)."""
    d = np.asarray(placebo, dtype=float)
    d = d[np.isfinite(d)]
    if not np.isfinite(value) or d.size == 0:
        return float("nan")
    return float(100.0 * ((d < value).sum() + 0.5 * (d == value).sum()) / d.size)


def p_value(value: float, placebo: np.ndarray) -> float:
    """One-sided p-value (1 + #placebo >= value) / (1 + n) over the defined placebo values."""
    d = np.asarray(placebo, dtype=float)
    d = d[np.isfinite(d)]
    if not np.isfinite(value) or d.size == 0:
        return float("nan")
    return float((1 + (d >= value).sum()) / (1 + d.size))


def summary_table(
    real: dict,
    always_on: dict,
    draws: pd.DataFrame,
    bootstrap: dict | None = None,
    scheme: str = DEFAULT_SCHEME,
) -> pd.DataFrame:
    """One row per baseline and reported metric: the placebo scheme, value, placebo
    distribution, percentile, p, and (real Sharpe and total return, given ``bootstrap``) the
    bootstrap interval."""
    rows = []
    for baseline, values in (("real", real), ("always_on", always_on)):
        for name in REPORTED:
            dist = draws[name].to_numpy(dtype=float)
            defined = dist[np.isfinite(dist)]
            q = np.quantile(defined, [0.05, 0.5, 0.95]) if defined.size else [np.nan] * 3
            boot = bootstrap if baseline == "real" and bootstrap else {}
            rows.append(
                {
                    "scheme": scheme,
                    "baseline": baseline,
                    "metric": name,
                    "value": float(values[name]),
                    "placebo_defined": int(defined.size),
                    "placebo_mean": float(defined.mean()) if defined.size else np.nan,
                    "placebo_std": float(defined.std(ddof=1)) if defined.size > 1 else np.nan,
                    "placebo_p05": float(q[0]),
                    "placebo_median": float(q[1]),
                    "placebo_p95": float(q[2]),
                    "percentile": percentile(values[name], dist),
                    "p_value": p_value(values[name], dist),
                    "ci_low": float(boot.get(f"{name}_ci_low", np.nan)),
                    "ci_high": float(boot.get(f"{name}_ci_high", np.nan)),
                }
            )
    return pd.DataFrame(rows)


def real_returns(setup: PlaceboSetup) -> tuple[np.ndarray, dict[str, Any]]:
    """The real run's daily returns (fast engine; the first session against the cash) and its
    metrics."""
    plan = real_plan(setup)
    evaluation = plan_evaluation(setup, plan)
    returns = daily_returns(evaluation.equity, evaluation.batch.cash)[0]
    return returns, plan_metrics(setup, plan)


def real_bootstrap(
    setup: PlaceboSetup,
    seed: int,
    reps: int = BOOTSTRAP_REPS,
    confidence: float = BOOTSTRAP_CONFIDENCE,
) -> dict[str, Any]:
    """Stationary-bootstrap intervals of the real run's Sharpe and total return (module doc);
    a ruined real run has none (``undefined`` says why)."""
    returns, real = real_returns(setup)
    base = {
        "method": "stationary bootstrap (Politis & Romano 1994), percentile interval",
        "block_rule": "arch.bootstrap.optimal_block_length, stationary (Politis & White 2004; "
        "Patton, Politis & White 2009), at least 1",
        "reps": reps,
        "seed": seed,
        "confidence": confidence,
        "returns": len(returns),
    }
    if real["ruined_on"] or not np.isfinite(returns).all():
        nan = float("nan")
        return {
            **base,
            "block_length": nan,
            **{
                f"{m}{x}": nan
                for m in ("sharpe", "total_return")
                for x in ("", "_ci_low", "_ci_high")
            },
            "undefined": f"the real run was ruined on {real['ruined_on']}",
        }
    ci = stationary_bootstrap_ci(returns, seed=seed, reps=reps, confidence=confidence)
    return {
        **base,
        **{k: v for k, v in ci.items() if k not in ("reps", "seed", "confidence", "method")},
    }


@dataclass
class PlaceboResult:
    setup: PlaceboSetup
    scheme: str
    seed: int
    event_sessions: np.ndarray  # (draws, events): draw r's session of each real event
    draws: pd.DataFrame
    real: dict[str, Any]
    always_on: dict[str, Any]
    summary: pd.DataFrame
    bootstrap: dict[str, Any]

    def calendars_table(self) -> pd.DataFrame:
        """One row per draw: its entry sessions (YYYY-MM-DD, space-separated, chronological)
        and the directions entering on them, in that order."""
        days = np.array([d.date().isoformat() for d in self.setup.market.sessions], dtype=object)
        order = np.argsort(self.event_sessions, axis=1, kind="stable")
        sessions = np.take_along_axis(self.event_sessions, order, axis=1)
        signs = np.where(self.setup.directions > 0, "+", "-")[order]
        return pd.DataFrame(
            {
                "draw": np.arange(len(sessions), dtype=np.int64),
                "entry_sessions": [" ".join(days[row]) for row in sessions],
                "directions": ["".join(row) for row in signs],
            }
        )


def run_placebo(
    setup: PlaceboSetup,
    scheme: str = DEFAULT_SCHEME,
    draws: int = 1000,
    seed: int = 7,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
    bootstrap_reps: int = BOOTSTRAP_REPS,
) -> PlaceboResult:
    """The real calendar, the always-on book and ``draws`` placebo calendars of ``scheme``
    (circular, block or iid), all evaluated, and the real run's bootstrap intervals.

    ``setup`` comes from :func:`prepare_placebo` and can be reused for several schemes (the
    data is loaded once). The same setup, scheme, draws and seed give the same result whatever
    ``workers`` is.
    """
    if workers < 1:
        raise PlaceboError(f"--workers {workers}: need at least 1 worker")
    sessions = draw_event_sessions(setup, scheme, draws, seed)
    table = run_draws(setup, sessions, workers, on_progress)
    real = plan_metrics(setup, real_plan(setup))
    always = always_on_metrics(setup)
    boot = real_bootstrap(setup, seed, bootstrap_reps)
    return PlaceboResult(
        setup=setup,
        scheme=scheme,
        seed=seed,
        event_sessions=sessions,
        draws=table,
        real=real,
        always_on=always,
        summary=summary_table(real, always, table, boot, scheme),
        bootstrap=boot,
    )


LABELS = {"sharpe": "Sharpe", "total_return": "total return", "hit_rate": "hit rate"}


def placebo_verdicts(results: PlaceboResult | Sequence[PlaceboResult]) -> list[dict[str, Any]]:
    """Plain rows for an evidence table, one per result and reported metric of the real
    calendar: ``test`` (e.g. "placebo (circular) Sharpe percentile"), ``statistic`` (the
    percentile, 0-100), ``p_value`` (one-sided), ``draws`` (placebo draws with a defined
    value) and ``meaning`` (one line in plain words). Undefined values are NaN."""
    if isinstance(results, PlaceboResult):
        results = [results]
    rows = []
    for result in results:
        table = result.summary[result.summary["baseline"] == "real"].set_index("metric")
        for name in REPORTED:
            rec = table.loc[name]
            label = LABELS[name]
            pct, p, n = float(rec["percentile"]), float(rec["p_value"]), int(rec["placebo_defined"])
            if np.isfinite(pct) and np.isfinite(p):
                meaning = (
                    f"the real calendar's {label} ranks at percentile {pct:.1f} of {n} "
                    f"{result.scheme} placebo calendars; random timing does at least as well "
                    f"with probability {p:.3f} (one-sided)"
                )
            else:
                meaning = (
                    f"undefined: the real calendar's {label} or every placebo value is undefined"
                )
            rows.append(
                {
                    "test": f"placebo ({result.scheme}) {label} percentile",
                    "statistic": pct,
                    "p_value": p,
                    "draws": n,
                    "meaning": meaning,
                }
            )
    return rows
