"""Numbers as the terminal tables and the pages show them: one place for n/a, percentages,
ratios and money (a ruin can reach 1e305: huge amounts in three digits)."""

from __future__ import annotations

import math
from typing import Any


def missing(value: Any) -> bool:
    """None, NaN and infinities are shown as n/a."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def pct(value: Any, signed: bool = False, digits: int = 2) -> str:
    if missing(value):
        return "n/a"
    return f"{float(value):+.{digits}%}" if signed else f"{float(value):.{digits}%}"


def num(value: Any, digits: int = 2) -> str:
    return "n/a" if missing(value) else f"{float(value):.{digits}f}"


def money(value: Any, signed: bool = False) -> str:
    """Whole units with separators; from 1e15 on, three significant digits."""
    if missing(value):
        return "n/a"
    value = float(value)
    if abs(value) >= 1e15:
        return f"{value:+.3g}" if signed else f"{value:.3g}"
    return f"{value:+,.0f}" if signed else f"{value:,.0f}"
