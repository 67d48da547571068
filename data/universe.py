"""The two baskets of the rotation and the benchmark, read from a TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from data.errors import DataError
from data.prices import validate_ticker

BUNDLED_UNIVERSE = "universe.toml"


@dataclass(frozen=True)
class Universe:
    """``long`` (capital spenders), ``short`` (capex-sensitive names) and the benchmark ticker."""

    long: tuple[str, ...]
    short: tuple[str, ...]
    benchmark: str = "SPY"

    def __post_init__(self) -> None:
        long = tuple(validate_ticker(t) for t in self.long)
        short = tuple(validate_ticker(t) for t in self.short)
        object.__setattr__(self, "long", long)
        object.__setattr__(self, "short", short)
        object.__setattr__(self, "benchmark", validate_ticker(self.benchmark))
        for side, names in (("long", long), ("short", short)):
            if not names:
                raise DataError(f"universe.{side} is empty; list at least one ticker")
            dupes = sorted({t for t in names if names.count(t) > 1})
            if dupes:
                raise DataError(f"universe.{side} lists {', '.join(dupes)} more than once")
        both = sorted(set(long) & set(short))
        if both:
            raise DataError(
                f"{', '.join(both)} is in both universe.long and universe.short; a name can only "
                "be on one side"
            )

    @property
    def traded(self) -> tuple[str, ...]:
        """Long names, then short names."""
        return self.long + self.short


def load_universe(path: Path | str | None = None) -> Universe:
    """Read ``[universe] long, short, benchmark`` from a TOML file (the bundled default if None)."""
    if path is None:
        text = resources.files("data").joinpath(BUNDLED_UNIVERSE).read_text(encoding="utf-8")
        where = f"<bundled>/{BUNDLED_UNIVERSE}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot read universe file {path}: {exc.strerror or exc}") from exc
        where = str(path)
    try:
        table = tomllib.loads(text).get("universe", {})
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{where} is not valid TOML: {exc}") from exc
    unknown = sorted(set(table) - {"long", "short", "benchmark"})
    if unknown:
        raise DataError(
            f"{where}: unknown key universe.{unknown[0]} (keys: long, short, benchmark)"
        )
    try:
        return Universe(tuple(table["long"]), tuple(table["short"]), table.get("benchmark", "SPY"))
    except KeyError as exc:
        raise DataError(f"{where}: missing universe.{exc.args[0]}") from None
