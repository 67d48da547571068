"""Parameter grids: a backtest config plus ``[grid]`` lists and ``[[exclude]]`` rules.

A grid file is the same TOML as a backtest config (every section optional; ``base = "file"``
may name a config file to start from, relative to the grid file), plus

    [grid]
    "strategy.hold_sessions" = [1, 2, 3]
    "costs.slippage_bps" = [0, 2, 5]

    [[exclude]]                      # drop every combination matching ALL of these keys
    "strategy.hold_sessions" = 1
    "costs.slippage_bps" = [0, 2]    # a list matches any of its values

The grid is the cartesian product of the lists, in file order (the last key varies fastest),
minus the excluded combinations. Every combination is validated as a full Config.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from backtests.config import (
    VALID_KEYS,
    Config,
    ConfigError,
    apply_overrides,
    explain,
    get_key,
    load_config,
    read_toml,
    resolve_paths,
    run_name,
    set_key,
    suggest_key,
    validate,
)


@dataclass(frozen=True)
class Grid:
    """The base config, the varied keys with their values, and the kept combinations.

    ``values[k]`` are key k's values as validated by the config model (dates, floats...);
    ``combinations[i, k]`` indexes them for config i. Configs are built on demand
    (:meth:`config`), so a large grid costs a small integer array, not one object per config.
    """

    name: str
    path: str
    base: Config
    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    combinations: np.ndarray
    digest: str

    def __len__(self) -> int:
        return len(self.combinations)

    def params(self, index: int) -> dict[str, Any]:
        row = self.combinations[index]
        return {key: self.values[k][row[k]] for k, key in enumerate(self.keys)}

    def column(self, key: str, indices: np.ndarray | list[int]) -> list[Any]:
        """The value of ``key`` for each config (from the grid, else the base config)."""
        if key in self.keys:
            k = self.keys.index(key)
            options = self.values[k]
            return [options[j] for j in self.combinations[np.asarray(indices), k]]
        return [get_key(self.base, key)] * len(indices)

    def config(self, index: int) -> Config:
        """The full, validated Config of combination ``index``."""
        table = self.base.resolved()
        for key, value in self.params(index).items():
            set_key(table, key, _plain(value))
        return validate(table, f"{self.path} combination {self.params(index)}")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _typed(base: Config, key: str, value: Any, origin: str) -> Any:
    """``value`` as the config model reads it (validated against the base config)."""
    table = base.resolved()
    set_key(table, key, value)
    try:
        config = Config.model_validate(table)
    except ValidationError as exc:
        raise explain(exc, f"{origin} [grid] {key} = {value!r}") from None
    return get_key(config, key)


def _matches(rule: dict[str, Any], combo: dict[str, Any]) -> bool:
    for key, wanted in rule.items():
        options = (
            wanted if isinstance(wanted, list) and not isinstance(combo[key], list) else [wanted]
        )
        if combo[key] not in options:
            return False
    return True


def load_grid(
    path: Path, overrides: list[str] | None = None, settings: dict[str, Any] | None = None
) -> Grid:
    """Read and expand a grid file; raise ConfigError naming the key or combination at fault.

    ``overrides`` are ``--set`` texts; ``settings`` maps dotted keys to values set by flags
    (e.g. ``--data-dir``). Both apply to the base config, before the grid is expanded.
    """
    table = read_toml(path, "grid file")
    origin = str(path)
    grid = table.pop("grid", None)
    excludes = table.pop("exclude", [])
    base_file = table.pop("base", None)
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{origin}: no [grid] table; list at least one key with its values")
    for key, values in grid.items():
        if key not in VALID_KEYS:
            raise ConfigError(f"{origin}: [grid] has unknown config key {key!r}{suggest_key(key)}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: [grid] {key!r} must be a non-empty list of values")
    if not isinstance(excludes, list) or not all(isinstance(r, dict) for r in excludes):
        raise ConfigError(f"{origin}: exclude rules must be [[exclude]] tables")
    for rule in excludes:
        for key in rule:
            if key not in grid:
                raise ConfigError(
                    f"{origin}: [[exclude]] key {key!r} is not a [grid] key ({', '.join(grid)})"
                )

    here = Path(path).resolve().parent
    base_table: dict[str, Any] = {}
    if base_file is not None:
        base_table = json.loads(load_config(here / str(base_file)).model_dump_json())
    resolve_paths(table, here)
    for section, values in table.items():
        if isinstance(values, dict):
            base_table.setdefault(section, {}).update(values)
        else:
            base_table[section] = values
    base_table.setdefault("run", {}).setdefault("name", run_name(path))
    apply_overrides(base_table, overrides or [])
    for key, value in (settings or {}).items():
        set_key(base_table, key, value)
    base = validate(base_table, origin)

    keys = tuple(grid)
    typed = tuple(tuple(_typed(base, key, v, origin) for v in grid[key]) for key in keys)
    kept = [
        combo
        for combo in itertools.product(*(range(len(grid[key])) for key in keys))
        if not any(
            _matches(rule, {key: grid[key][combo[k]] for k, key in enumerate(keys)})
            for rule in excludes
        )
    ]
    if not kept:
        raise ConfigError(f"{origin}: the [[exclude]] rules leave no combination to run")
    combinations = np.array(kept, dtype=np.int32).reshape(len(kept), len(keys))
    _check_across_keys(base, keys, typed, combinations, origin)
    blob = json.dumps(
        {
            "base": base.resolved(),
            "keys": keys,
            "values": [[_plain(v) for v in vs] for vs in typed],
            "combinations": combinations.tolist(),
        },
        sort_keys=True,
        default=str,
    )
    return Grid(
        name=base.run.name,
        path=origin,
        base=base,
        keys=keys,
        values=typed,
        combinations=combinations,
        digest=hashlib.sha256(blob.encode()).hexdigest()[:12],
    )


def _check_across_keys(
    base: Config,
    keys: tuple[str, ...],
    typed: tuple[tuple[Any, ...], ...],
    combinations: np.ndarray,
    origin: str,
) -> None:
    """The checks of config.validate that involve two keys, for every combination."""

    def column(key: str) -> np.ndarray:
        if key in keys:
            k = keys.index(key)
            return np.array(typed[k], dtype=object)[combinations[:, k]]
        return np.full(len(combinations), get_key(base, key), dtype=object)

    gross, cap = column("strategy.gross"), column("strategy.max_gross")
    own_gross = column("strategy.sizing.kind") == "vol_target"  # vol_target sets its own
    bad = np.flatnonzero((gross.astype(float) > cap.astype(float)) & ~own_gross)
    if bad.size:
        i = int(bad[0])
        raise ConfigError(
            f"{origin} combination {_describe(keys, typed, combinations[i])}: strategy.gross "
            f"{gross[i]:g} exceeds strategy.max_gross {cap[i]:g}"
        )
    lookback, history = column("strategy.sizing.lookback"), column("strategy.sizing.min_history")
    for i in range(len(combinations)):
        if history[i] is not None and history[i] > lookback[i]:
            raise ConfigError(
                f"{origin} combination {_describe(keys, typed, combinations[i])}: "
                f"strategy.sizing.min_history {history[i]} exceeds lookback {lookback[i]}"
            )
    start, end = column("run.start"), column("run.end")
    for i in range(len(combinations)):
        if start[i] is not None and end[i] is not None and start[i] > end[i]:
            raise ConfigError(
                f"{origin} combination {_describe(keys, typed, combinations[i])}: run.start "
                f"{start[i]} is after run.end {end[i]}: empty date range"
            )


def _describe(keys, typed, row) -> dict[str, Any]:
    return {key: _plain(typed[k][row[k]]) for k, key in enumerate(keys)}
