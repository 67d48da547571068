"""``evidence``: skill or luck, in one run (README, "Skill or luck").

Runs, on one config (or a grid's base config):

1. the event study, whose verdict rows are the spread's CAR(0,k) over every event signed by
   its direction (``all_signed``) at the study's headline horizon, under every test: the plain
   t-test and sign test (events independent), BMP, Kolari-Pynnonen (overlapping windows through
   the mean correlation r-bar), Corrado's rank test, the generalized sign test and the
   calendar-time regression with Newey-West errors;
2. the placebo under the clustering-preserving default (circular) and, for comparison, the
   block and iid schemes, on one loaded setup; the real run's stationary-bootstrap intervals;
3. given a grid: the selection statistics of every config (number of trials, PSR, DSR, SPA and
   the reality check against flat and buy-and-hold, PBO by CSCV).

Returns plain tables: the verdict rows (area, test, statistic, p_value, meaning) and each
study's own result for its report. Writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtests.config import Config, ConfigError, load_config, read_toml, with_cli_options

SCHEMES = ("circular", "block", "iid")  # the first is the headline (the placebo's default)
EVENT_GROUP = "all_signed"
EVENT_BASKET = "spread"


class EvidenceError(ConfigError):
    """A target file that is neither a config nor a grid, or options that do not fit."""


@dataclass
class Target:
    """What ``evidence`` runs on: a config, and the grid it is the base of (or None)."""

    path: Path | None
    config: Config
    grid: Any | None = None


def load_target(
    path: Path | None,
    overrides: list[str],
    data_dir: Path | None,
    events: Path | None,
    start: str | None,
    end: str | None,
) -> Target:
    """A config file, a grid file (one with a ``[grid]`` table) or None (the defaults).

    The command-line flags apply to the config, and to a grid's base config before it is
    expanded (as ``sweep`` does)."""
    if path is not None and "grid" in read_toml(path, "config or grid file"):
        from backtests.grid import load_grid

        settings: dict[str, Any] = {}
        if data_dir:
            settings.update({"data.source": "csv", "data.dir": str(data_dir)})
        if events:
            settings["events.file"] = str(events)
        if start:
            settings["run.start"] = start
        if end:
            settings["run.end"] = end
        grid = load_grid(path, overrides, settings or None)
        return Target(path, grid.base, grid)
    config = with_cli_options(load_config(path, overrides), data_dir, events, start, end)
    return Target(path, config, None)


@dataclass
class Evidence:
    """Every study's result and the verdict rows (see the module doc)."""

    target: Target
    study: Any  # backtests.research.event_study.EventStudy
    placebos: dict[str, Any]  # scheme -> backtests.research.placebo.PlaceboResult
    selection: Any | None  # backtests.research.sweep_selection.SelectionResult
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)


def run_evidence(
    target: Target,
    window: Any,
    *,
    draws: int = 1000,
    seed: int = 7,
    workers: int = 1,
    schemes: Sequence[str] = SCHEMES,
    progress: Callable[[str, int, int], None] | None = None,
) -> Evidence:
    """Run the studies of the module doc on ``target``.

    ``window``: the event study's StudyWindow. ``progress(stage, done, total)`` is called as
    each stage advances (stages: "event study", "placebo <scheme>", "selection").
    """
    from backtests.research.event_study import run_event_study
    from backtests.research.placebo import prepare_placebo, run_placebo

    tell = progress or (lambda _stage, _done, _total: None)
    config = target.config

    tell("event study", 0, 1)
    study = run_event_study(config, window)
    tell("event study", 1, 1)

    setup = prepare_placebo(config)
    placebos: dict[str, Any] = {}
    for scheme in schemes:
        done = [0]

        def advance(n: int, scheme: str = scheme, done: list[int] = done) -> None:
            done[0] += n
            tell(f"placebo {scheme}", done[0], draws)

        tell(f"placebo {scheme}", 0, draws)
        placebos[scheme] = run_placebo(
            setup, scheme=scheme, draws=draws, seed=seed, workers=workers, on_progress=advance
        )

    selection = None
    if target.grid is not None:
        from backtests.research.sweep_selection import run_selection
        from backtests.sweep import load_sweep_data

        grid = target.grid
        data = load_sweep_data(grid)
        done = [0]

        def configs(n: int) -> None:
            done[0] += n
            tell("selection", done[0], len(grid))

        tell("selection", 0, len(grid))
        selection = run_selection(grid, data, workers=workers, on_progress=configs)

    inputs = {**study.inputs, **setup.inputs}
    evidence = Evidence(target, study, placebos, selection, inputs=dict(sorted(inputs.items())))
    evidence.verdicts = verdict_rows(evidence)
    return evidence


def _finite(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def verdict_rows(evidence: Evidence) -> list[dict[str, Any]]:
    """The page's verdict table, in reading order: the event study's tests (spread, every event
    signed by its direction, the headline horizon), the placebo percentiles under each scheme
    and the bootstrap intervals, then the selection statistics."""
    from backtests.research.event_verdicts import TESTS, event_study_verdicts
    from backtests.research.placebo import placebo_verdicts

    rows: list[dict[str, Any]] = []
    names = {test[0]: test[5] for test in TESTS}
    k = int(evidence.study.facts["bar_k"])
    for r in event_study_verdicts(evidence.study.summary, k=k, groups=[EVENT_GROUP]):
        if r["basket"] != EVENT_BASKET:
            continue
        rows.append(
            {
                "area": "event study",
                "test": f"{names.get(r['test'], r['test'])}, spread CAR(0,{k}) signed",
                "statistic": _finite(r["statistic"]),
                "p_value": _finite(r["p_value"]),
                "meaning": r["meaning"],
            }
        )
    for r in placebo_verdicts(list(evidence.placebos.values())):
        rows.append(
            {
                "area": "placebo",
                "test": r["test"],
                "statistic": _finite(r["statistic"]),
                "p_value": _finite(r["p_value"]),
                "meaning": r["meaning"],
            }
        )
    headline = evidence.placebos.get(SCHEMES[0]) or next(iter(evidence.placebos.values()), None)
    if headline is not None:
        rows.extend(_bootstrap_rows(headline.bootstrap))
    if evidence.selection is not None:
        from backtests.research.selection_verdicts import selection_verdicts

        for r in selection_verdicts(evidence.selection):
            rows.append(_selection_row(r))
    return rows


def _bootstrap_rows(bootstrap: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per bootstrapped metric of the real run: the point value and its interval
    (keys of backtests.research.placebo.real_bootstrap)."""
    rows = []
    level = _finite(bootstrap.get("confidence", 0.95))
    for name, label in (("sharpe", "Sharpe"), ("total_return", "total return")):
        point = _finite(bootstrap.get(name))
        low, high = (
            _finite(bootstrap.get(f"{name}_ci_low")),
            _finite(bootstrap.get(f"{name}_ci_high")),
        )
        if math.isnan(low) or math.isnan(high):
            meaning = f"undefined: {bootstrap.get('undefined', 'no interval')}"
        else:
            verdict = (
                "the interval excludes 0"
                if low > 0 or high < 0
                else "the interval includes 0: the run's own path does not rule out no edge"
            )
            meaning = (
                f"[{low:.4g}, {high:.4g}], mean block {_block(bootstrap.get('block_length'))} "
                f"sessions: {verdict}"
            )
        rows.append(
            {
                "area": "placebo",
                "test": f"stationary bootstrap {level:.0%} interval of the real run's {label}",
                "statistic": point,
                "p_value": math.nan,
                "meaning": meaning,
            }
        )
    return rows


def _block(value: Any) -> str:
    x = _finite(value)
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def _selection_row(r: dict[str, Any]) -> dict[str, Any]:
    """A selection row in the verdict's columns: for a probability (PSR, DSR) the p-value is
    1 - probability (the chance of a Sharpe this high from a true Sharpe at or below the
    threshold); PBO is a probability of overfitting, not a test: no p-value."""
    value = _finite(r.get("value"))
    config = r.get("config")
    where = "" if config in (None, "all") else f" (config {config})"
    if r.get("kind") == "p-value":
        statistic, p = _finite(r.get("statistic")), value
    elif str(r.get("test", "")).upper().startswith("PBO"):
        statistic, p = value, math.nan
    else:
        statistic, p = value, (1.0 - value) if not math.isnan(value) else math.nan
    return {
        "area": "selection",
        "test": f"{r['test']}{where}",
        "statistic": statistic,
        "p_value": p,
        "meaning": r["meaning"],
    }
