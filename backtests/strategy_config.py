"""The ``[strategy]`` and ``[costs]`` sections of a config, and the Strategy they describe.

Every key has the default of the baseline rules, so a config without these sections runs the
baseline exactly. Tables (README, "Strategy policies"):

    [strategy]              hold_sessions, gross, max_gross
    [strategy.signal]       kind = "sum" | "weighted", column, scale_size
    [strategy.books]        kind = "single" | "per_event", counter = "close" | "ignore" | "reverse"
    [strategy.entry]        delay
    [strategy.sizing]       kind = "equal" | "inverse_vol" | "beta_neutral" | "vol_target",
                            within, lookback, min_history, target
    [strategy.exits]        stop_loss, take_profit, trailing_stop, max_hold ("off" = none)
    [[strategy.legs]]       name, tickers, side, share (default: universe.long / universe.short)
    [costs]                 commission_bps, slippage_bps, borrow_bps, slippage_model = "flat" |
                            "impact", half_spread_bps, impact_k, impact_lookback,
                            max_participation, on_cap, borrow_by_ticker, borrow_file, rounding
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from backtests.config_base import Section as _Section
from data.prices import validate_ticker


def _off(value: Any) -> Any:
    """ "off" (or "none") switches an optional rule off: TOML has no null, and a boolean is not
    a number (``false`` is refused like any other boolean)."""
    if isinstance(value, str) and value.strip().lower() in ("off", "none"):
        return None
    return value


def _switches(table: Any, keys: tuple[str, ...]) -> Any:
    """The section's table with its on/off keys' "off" read as None (before any other check:
    a true stays and is refused as not a number)."""
    if isinstance(table, dict):
        return {k: (_off(v) if k in keys else v) for k, v in table.items()}
    return table


class SignalSection(_Section):
    kind: Literal["sum", "weighted"] = "sum"
    column: str = Field(default="weight", min_length=1, max_length=64)
    scale_size: StrictBool = False


class BooksSection(_Section):
    kind: Literal["single", "per_event"] = "single"
    counter: Literal["close", "ignore", "reverse"] = "close"


class EntrySection(_Section):
    delay: int = Field(default=0, ge=0, le=250)


class SizingSection(_Section):
    kind: Literal["equal", "inverse_vol", "beta_neutral", "vol_target"] = "equal"
    within: Literal["equal", "inverse_vol"] = "equal"
    lookback: int = Field(default=60, ge=2, le=2520)
    min_history: int | None = Field(default=None, ge=2, le=2520)  # default: lookback
    target: float = Field(default=0.10, gt=0, lt=10)

    @model_validator(mode="after")
    def _history(self) -> SizingSection:
        if self.min_history is not None and self.min_history > self.lookback:
            raise ValueError(
                f"strategy.sizing.min_history {self.min_history} exceeds lookback {self.lookback}"
            )
        return self


class ExitsSection(_Section):
    stop_loss: float | None = Field(default=None, gt=0, lt=10)
    take_profit: float | None = Field(default=None, gt=0, lt=10)
    trailing_stop: float | None = Field(default=None, gt=0, lt=10)
    max_hold: int | None = Field(default=None, ge=1, le=2520)

    @model_validator(mode="before")
    @classmethod
    def _switch(cls, table: Any) -> Any:
        return _switches(table, ("stop_loss", "take_profit", "trailing_stop", "max_hold"))


class LegSection(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    tickers: list[str] = Field(min_length=1)
    side: Literal[1, -1]
    share: float = Field(gt=0, le=1)

    @field_validator("tickers")
    @classmethod
    def _tickers(cls, values: list[str]) -> list[str]:
        return [validate_ticker(v) for v in values]


class StrategySection(_Section):
    hold_sessions: int = Field(default=5, ge=1, le=2520)
    gross: float = Field(default=1.0, gt=0)
    max_gross: float = Field(default=3.0, gt=0)
    signal: SignalSection = Field(default_factory=SignalSection)
    books: BooksSection = Field(default_factory=BooksSection)
    entry: EntrySection = Field(default_factory=EntrySection)
    sizing: SizingSection = Field(default_factory=SizingSection)
    exits: ExitsSection = Field(default_factory=ExitsSection)
    legs: list[LegSection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _legs(self) -> StrategySection:
        if not self.legs:
            return self
        names = [leg.name for leg in self.legs]
        if len(set(names)) != len(names):
            raise ValueError(f"strategy.legs: leg names must be unique, got {', '.join(names)}")
        seen: dict[str, str] = {}
        for leg in self.legs:
            for ticker in leg.tickers:
                if ticker in seen:
                    raise ValueError(
                        f"strategy.legs: {ticker} is in legs {seen[ticker]!r} and {leg.name!r}"
                    )
                seen[ticker] = leg.name
        total = sum(leg.share for leg in self.legs)
        if abs(total - 1) > 1e-9:
            raise ValueError(f"strategy.legs: shares must sum to 1, they sum to {total:g}")
        if {leg.side for leg in self.legs} != {1, -1}:
            raise ValueError(
                "strategy.legs: need a long leg (side = 1) and a short leg (side = -1)"
            )
        return self


class CostsSection(_Section):
    commission_bps: float = Field(default=1.0, ge=0, lt=10_000)
    slippage_bps: float = Field(default=2.0, ge=0, lt=10_000)
    borrow_bps: float = Field(default=50.0, ge=0, lt=10_000)
    slippage_model: Literal["flat", "impact"] = "flat"
    half_spread_bps: float = Field(default=1.0, ge=0, lt=10_000)
    impact_k: float = Field(default=0.1, ge=0, lt=100)
    impact_lookback: int = Field(default=20, ge=2, le=2520)
    max_participation: float | None = Field(default=None, gt=0, le=1)
    on_cap: Literal["fail", "scale"] = "fail"
    borrow_by_ticker: dict[str, float] = Field(default_factory=dict)
    borrow_file: Path | None = None
    rounding: Literal["none", "whole"] = "none"

    @model_validator(mode="before")
    @classmethod
    def _switch(cls, table: Any) -> Any:
        return _switches(table, ("max_participation",))

    @field_validator("borrow_by_ticker")
    @classmethod
    def _rates(cls, table: dict[str, float]) -> dict[str, float]:
        out = {}
        for ticker, bps in table.items():
            if isinstance(bps, bool) or not 0 <= float(bps) < 10_000:
                raise ValueError(f"costs.borrow_by_ticker.{ticker}: {bps!r} is not a rate in bp")
            out[validate_ticker(ticker)] = float(bps)
        return out
