"""The backtest configuration: a TOML file validated by pydantic, plus ``--set`` overrides.

Every key has a default (the baseline rules), so an empty file or no file is a valid config.
Unknown keys are errors that name the closest valid key. Paths in a config file are relative
to that file; paths given on the command line are relative to the working directory.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from backtests.config_base import Section as _Section
from backtests.config_base import scalar_kind as _scalar_kind
from backtests.strategy_config import CostsSection, StrategySection
from data.bars import OhlcCheck
from data.errors import CapexRotationError
from data.prices import validate_ticker
from data.universe import load_universe

_DEFAULT_UNIVERSE = load_universe()


class ConfigError(CapexRotationError):
    """The configuration file or an override is invalid."""


class RunSection(_Section):
    name: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    start: date | None = date(2015, 1, 1)
    end: date | None = None
    cash: float = Field(default=1_000_000.0, gt=0)
    benchmark: str = _DEFAULT_UNIVERSE.benchmark

    @field_validator("benchmark")
    @classmethod
    def _ticker(cls, value: str) -> str:
        return validate_ticker(value)


class DataSection(_Section):
    source: Literal["yahoo", "csv"] = "yahoo"
    dir: Path | None = None
    cache_dir: Path | None = None
    deadline_s: float = Field(default=30.0, gt=0, le=600)
    ohlc_check: OhlcCheck = "error"

    @model_validator(mode="after")
    def _dir_for_csv(self) -> DataSection:
        if self.source == "csv" and self.dir is None:
            raise ValueError("data.source = 'csv' needs data.dir (or pass --data-dir)")
        return self


class UniverseSection(_Section):
    long: list[str] = Field(default_factory=lambda: list(_DEFAULT_UNIVERSE.long), min_length=1)
    short: list[str] = Field(default_factory=lambda: list(_DEFAULT_UNIVERSE.short), min_length=1)

    @field_validator("long", "short")
    @classmethod
    def _tickers(cls, values: list[str]) -> list[str]:
        return [validate_ticker(v) for v in values]


class EventsSection(_Section):
    file: Path | None = None
    categories: list[str] = Field(default_factory=list)


class Config(_Section):
    """A whole backtest configuration (all sections optional)."""

    run: RunSection = Field(default_factory=RunSection)
    data: DataSection = Field(default_factory=DataSection)
    universe: UniverseSection = Field(default_factory=UniverseSection)
    strategy: StrategySection = Field(default_factory=StrategySection)
    costs: CostsSection = Field(default_factory=CostsSection)
    events: EventsSection = Field(default_factory=EventsSection)

    def resolved(self) -> dict[str, Any]:
        """The config as plain JSON-able data (dates and paths as strings)."""
        return json.loads(self.model_dump_json())

    def digest(self, extra: dict[str, str] | None = None) -> str:
        """A short hash of the config (and of ``extra``, e.g. input file hashes)."""
        blob = json.dumps({"config": self.resolved(), "inputs": extra or {}}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_all_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


VALID_KEYS = tuple(_all_keys(Config))


def numeric_keys() -> tuple[str, ...]:
    """Every config key that holds a number (booleans and text are refused there)."""
    out = []
    for key in VALID_KEYS:
        *path, name = key.split(".")
        model: Any = Config
        for part in path:
            model = model.model_fields[part].annotation
        if _scalar_kind(model.model_fields[name].annotation) in (int, float):
            out.append(key)
    return tuple(out)


def suggest_key(key: str) -> str:
    """'; did you mean ...?' for an unknown key (or the list of valid keys): a key of the same
    section whose name starts with the one given (``strategy.hold`` -> hold_sessions) first,
    then the closest spelling."""
    section, _, leaf = key.rpartition(".")
    if leaf:
        started = [
            k
            for k in VALID_KEYS
            if k.rpartition(".")[0] == section and k.rpartition(".")[2].startswith(leaf)
        ]
        if len(started) == 1:
            return f"; did you mean {started[0]!r}?"
    close = difflib.get_close_matches(key, VALID_KEYS, n=1, cutoff=0.5)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in VALID_KEYS if k.endswith("." + leaf)]
    return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(VALID_KEYS)}"


def explain(exc: ValidationError, origin: str) -> ConfigError:
    """One line for the first pydantic error (and how many more there are)."""
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
    if error["type"] == "extra_forbidden":
        return ConfigError(f"{origin}: unknown config key {key!r}{suggest_key(key)}")
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    message = error["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem(s))" if more else ""
    return ConfigError(f"{origin}: {key or 'config'}: {message}{shown}{tail}")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is read as TOML (3, 0.5, "x", [..], 2024-01-02)
    and falls back to a plain string."""
    if "=" not in text:
        raise ConfigError(
            f"--set {text!r}: expected section.key=value, e.g. strategy.hold_sessions=3"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in VALID_KEYS:
        raise ConfigError(f"--set {text!r}: unknown config key {key!r}{suggest_key(key)}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def get_key(config: BaseModel, key: str) -> Any:
    """The value of a dotted key (``strategy.sizing.kind``) of a config."""
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def set_key(table: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted ``section.key`` in a nested table."""
    node = table
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def apply_overrides(table: dict[str, Any], overrides: list[str]) -> None:
    for text in overrides:
        set_key(table, *parse_override(text))


def resolve_paths(table: dict[str, Any], base: Path) -> None:
    """Make the relative paths of a config table relative to ``base`` (the file's folder)."""
    for section, key in (
        ("events", "file"),
        ("data", "dir"),
        ("data", "cache_dir"),
        ("costs", "borrow_file"),
    ):
        value = table.get(section, {}).get(key) if isinstance(table.get(section), dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            table[section][key] = str(base / value)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def run_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-._")[:64] or "config"


def validate(table: dict[str, Any], origin: str) -> Config:
    """Build a Config from a nested table, with the checks that span keys."""
    try:
        config = Config.model_validate(table)
    except ValidationError as exc:
        raise explain(exc, origin) from None
    vol_target = config.strategy.sizing.kind == "vol_target"  # its own gross, capped
    if config.strategy.gross > config.strategy.max_gross and not vol_target:
        raise ConfigError(
            f"{origin}: strategy.gross {config.strategy.gross:g} exceeds strategy.max_gross "
            f"{config.strategy.max_gross:g}; lower gross or raise the cap deliberately"
        )
    if config.run.start and config.run.end and config.run.start > config.run.end:
        raise ConfigError(
            f"{origin}: run.start {config.run.start} is after run.end {config.run.end}: "
            "empty date range"
        )
    return config


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a TOML config (defaults when ``path`` is None) and apply ``--set`` overrides."""
    table: dict[str, Any] = {}
    origin = "default config"
    if path is not None:
        origin = str(path)
        table = read_toml(path, "config file")
        resolve_paths(table, Path(path).resolve().parent)
        if isinstance(table.get("run", {}), dict):
            table.setdefault("run", {}).setdefault("name", run_name(path))
    apply_overrides(table, overrides or [])
    return validate(table, origin)


def _parse_day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a date; use YYYY-MM-DD") from None


def with_cli_options(
    config: Config,
    data_dir: Path | None = None,
    events: Path | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Config:
    """Command-line flags win over the config file and ``--set``."""
    table = config.model_dump()
    if data_dir is not None:
        table["data"].update(source="csv", dir=data_dir)
    if events is not None:
        table["events"]["file"] = events
    if start is not None:
        table["run"]["start"] = _parse_day(start, "--start")
    if end is not None:
        table["run"]["end"] = _parse_day(end, "--end")
    return validate(table, "command line")
