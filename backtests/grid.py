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

Size: the product of the list lengths is counted before anything is expanded, and a grid of
more than :data:`MAX_COMBINATIONS` combinations (counted before the exclusions) is refused. Below
it the combinations are one integer array (4 bytes per key and combination: 40 MB at the limit
with ten keys) and the exclusion rules are applied to it as array masks.
"""

from __future__ import annotations

import hashlib
import json
import math
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

MAX_COMBINATIONS = 1_000_000  # combinations of a [grid] before its exclusions (README: sweeps)
DIGEST_CHUNK = 65_536  # combinations hashed at a time


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

    def describe(self, index: int) -> dict[str, Any]:
        """The grid values of combination ``index``, as written in a grid file (for messages)."""
        return _describe(self.keys, self.values, self.combinations[index])

    def distinct(self, keys: tuple[str, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        """Each distinct combination of the values of ``keys``, with the first config index
        having it (in grid order); keys outside the grid take the base config's value."""
        varied = [self.keys.index(k) for k in keys if k in self.keys]
        if varied:
            _, first = np.unique(self.combinations[:, varied], axis=0, return_index=True)
            indices = sorted(int(i) for i in first)
        else:
            indices = [0]
        return [(i, tuple(self.column(k, [i])[0] for k in keys)) for i in indices]

    def config(self, index: int) -> Config:
        """The full, validated Config of combination ``index``.

        Every value was validated against the base when the grid was read (``_typed``) and the
        checks that span keys were run for every combination (``_check_across_keys``), so the
        config is the base with those values set (a sweep asks for one per plan); a grid that
        varies the data section is validated in full.
        """
        params = self.params(index)
        if not any(key.startswith("data.") for key in params):
            return _with_values(self.base, params)
        table = self.base.resolved()
        for key, value in params.items():
            set_key(table, key, _plain(value))
        return validate(table, f"{self.path} combination {params}")


def _with_values(model: Any, values: dict[str, Any]) -> Any:
    """``model`` with the dotted keys of ``values`` replaced (nested models copied, not
    re-validated: the values are already the model's own types)."""
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, inner in nested.items():
        direct[head] = _with_values(getattr(model, head), inner)
    return model.model_copy(update=direct)


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


def _matches(wanted: Any, value: Any) -> bool:
    """Whether an [[exclude]] rule's ``wanted`` (a value, or a list of values for a scalar key)
    matches a grid ``value``."""
    options = wanted if isinstance(wanted, list) and not isinstance(value, list) else [wanted]
    return value in options


def _count(grid: dict[str, list[Any]], origin: str) -> int:
    """The number of combinations, refused above MAX_COMBINATIONS (nothing is expanded yet)."""
    lengths = [len(values) for values in grid.values()]
    count = math.prod(lengths)
    if count > MAX_COMBINATIONS:
        raise ConfigError(
            f"{origin}: the [grid] has {count:,} combinations "
            f"({' x '.join(f'{n:,}' for n in lengths)} values), more than the limit of "
            f"{MAX_COMBINATIONS:,} (counted before [[exclude]] rules); split it into several "
            "grids or use fewer values"
        )
    return count


def _expand(grid: dict[str, list[Any]], excludes: list[dict[str, Any]]) -> np.ndarray:
    """The kept combinations as value indices, in itertools.product order, one row each."""
    keys = list(grid)
    lengths = [len(grid[key]) for key in keys]
    combinations = np.indices(lengths, dtype=np.int32).reshape(len(keys), -1).T
    keep = np.ones(len(combinations), dtype=bool)
    for rule in excludes:
        hit = np.ones(len(combinations), dtype=bool)
        for key, wanted in rule.items():
            k = keys.index(key)
            matching = np.array([_matches(wanted, value) for value in grid[key]], dtype=bool)
            hit &= matching[combinations[:, k]]
        keep &= ~hit
    return np.ascontiguousarray(combinations[keep])


def _digest(base: Config, keys, typed, combinations: np.ndarray) -> str:
    """sha256 of the JSON of base, keys, values and combinations (sorted keys), streamed so
    that a large grid is never one big string; the same digest as ``json.dumps`` of it all."""

    def dumps(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    values = [[_plain(v) for v in vs] for vs in typed]
    h = hashlib.sha256()
    h.update(f'{{"base": {dumps(base.resolved())}, "combinations": ['.encode())
    for start in range(0, len(combinations), DIGEST_CHUNK):
        rows = dumps(combinations[start : start + DIGEST_CHUNK].tolist())[1:-1]
        h.update(((", " if start else "") + rows).encode())
    h.update(f'], "keys": {dumps(list(keys))}, "values": {dumps(values)}}}'.encode())
    return h.hexdigest()[:12]


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
    return grid_of(base, grid, excludes, origin)


def grid_of(
    base: Config,
    grid: dict[str, list[Any]],
    excludes: list[dict[str, Any]] | None = None,
    origin: str = "grid",
) -> Grid:
    """The Grid of ``base`` varied by ``grid`` (config key -> values), minus ``excludes``: the
    expansion behind load_grid, and behind the Python API's ``Backtest.sweep``."""
    excludes = excludes or []
    for key, values in grid.items():
        if key not in VALID_KEYS:
            raise ConfigError(f"{origin}: [grid] has unknown config key {key!r}{suggest_key(key)}")
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"{origin}: [grid] {key!r} must be a non-empty list of values")
    grid = {key: list(values) for key, values in grid.items()}
    _count(grid, origin)
    keys = tuple(grid)
    typed = tuple(tuple(_typed(base, key, v, origin) for v in grid[key]) for key in keys)
    combinations = _expand(grid, excludes)
    if not len(combinations):
        raise ConfigError(f"{origin}: the [[exclude]] rules leave no combination to run")
    _check_across_keys(base, keys, typed, combinations, origin)
    return Grid(
        name=base.run.name,
        path=origin,
        base=base,
        keys=keys,
        values=typed,
        combinations=combinations,
        digest=_digest(base, keys, typed, combinations),
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
    dated = [keys.index(k) for k in ("run.start", "run.end") if k in keys]
    if dated:
        _, first = np.unique(combinations[:, dated], axis=0, return_index=True)
        rows = sorted(int(i) for i in first)
    else:
        rows = [0]
    start, end = column("run.start"), column("run.end")
    for i in rows:  # one check per distinct (start, end)
        if start[i] is not None and end[i] is not None and start[i] > end[i]:
            raise ConfigError(
                f"{origin} combination {_describe(keys, typed, combinations[i])}: run.start "
                f"{start[i]} is after run.end {end[i]}: empty date range"
            )


def _describe(keys, typed, row) -> dict[str, Any]:
    return {key: _plain(typed[k][row[k]]) for k, key in enumerate(keys)}
