"""Configuration of the policy reference (tests/reference_policies.py): keys, defaults, checks.

The keys and defaults are POLICY_SPEC.md's, spelt as the parity tests pass them (a nested
dict; ``sizing.scale_by_signal`` of the spec is ``strategy.signal.scale_size`` here). Imports
nothing from the project.
"""

from __future__ import annotations

import copy
from typing import Any

# ---------------------------------------------------------------------------------------------
# Configuration: the spec's keys and defaults
# ---------------------------------------------------------------------------------------------

DEFAULT_CONFIG: dict[str, Any] = {
    "cash": 1_000_000.0,
    "strategy": {
        "hold_sessions": 5,
        "gross": 1.0,
        "max_gross": 3.0,
        "signal": {"kind": "sum", "column": "weight", "scale_size": False},
        "books": {"kind": "single", "counter": "close"},
        "entry": {"delay": 0},
        "sizing": {
            "kind": "equal",
            "within": "equal",
            "lookback": 60,
            "min_history": None,  # None: = lookback (§4 "Defaults")
            "target": 0.10,
        },
        "exits": {
            "hold": None,  # None: = strategy.hold_sessions (§6 "exits.hold = H")
            "stop_loss": None,
            "take_profit": None,
            "trailing_stop": None,
            "max_hold": None,
        },
        "legs": None,  # None: built from config["universe"] = {"long": [...], "short": [...]}
    },
    "costs": {
        "commission_bps": 1.0,
        "slippage_bps": 2.0,
        "borrow_bps": 50.0,
        "slippage": "flat",
        "half_spread_bps": 1.0,
        "impact_k": 0.1,
        "impact_lookback": 20,
        "max_participation": None,
        "on_cap": "fail",
        "borrow_by_ticker": {},
        "borrow_table": None,
        "rounding": "none",
    },
}


def _merge(defaults: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    """``given`` over ``defaults``; an unknown key inside a known section is refused.

    Unknown keys are refused so that a misspelt policy (e.g. ``sizing.scale_by_signal`` instead
    of ``signal.scale_size``) cannot silently run the default.
    """
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ValueError(f"config: unknown key {where}{key}")
        if isinstance(defaults[key], dict) and key != "borrow_by_ticker":
            if not isinstance(value, dict):
                raise ValueError(f"config: {where}{key} must be a table")
            merged[key] = _merge(defaults[key], value, f"{where}{key}.")
        else:
            merged[key] = value
    return merged


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """The full config: ``config`` over DEFAULT_CONFIG, legs resolved, values checked."""
    top = {k: v for k, v in config.items() if k in ("cash", "strategy", "costs")}
    cfg = _merge(DEFAULT_CONFIG, top, "")
    st, costs = cfg["strategy"], cfg["costs"]

    # Legs (§4): default two legs from the universe.
    if st["legs"] is None:
        universe = config.get("universe")
        if not universe:
            raise ValueError("config: strategy.legs or universe.long/universe.short is required")
        st["legs"] = [
            {"name": "spenders", "tickers": list(universe["long"]), "side": 1, "share": 0.5},
            {"name": "suppliers", "tickers": list(universe["short"]), "side": -1, "share": 0.5},
        ]
    seen: dict[str, str] = {}
    for leg in st["legs"]:
        if not leg.get("tickers"):
            raise ValueError(f"config: leg {leg.get('name')} needs at least one ticker")
        if leg.get("side") not in (1, -1):
            raise ValueError(f"config: leg {leg.get('name')} side must be +1 or -1")
        for ticker in leg["tickers"]:
            if ticker in seen:
                raise ValueError(f"config: {ticker} is in legs {seen[ticker]} and {leg['name']}")
            seen[ticker] = leg["name"]
    if abs(sum(float(leg["share"]) for leg in st["legs"]) - 1.0) > 1e-9:
        raise ValueError("config: leg shares must sum to 1")

    # Hold: exits.hold is the same H as strategy.hold_sessions (§6).
    hold = st["exits"]["hold"]
    if hold is not None and hold != st["hold_sessions"]:
        raise ValueError("config: exits.hold and strategy.hold_sessions disagree")
    st["exits"]["hold"] = st["hold_sessions"]
    if int(st["hold_sessions"]) < 1:
        raise ValueError("config: strategy.hold_sessions must be >= 1")
    max_hold = st["exits"]["max_hold"]
    if max_hold is not None and int(max_hold) < 1:
        raise ValueError("config: exits.max_hold must be >= 1")
    if int(st["entry"]["delay"]) < 0:
        raise ValueError("config: entry.delay must be >= 0")

    sizing = st["sizing"]
    if sizing["min_history"] is None:
        sizing["min_history"] = sizing["lookback"]
    if sizing["kind"] not in ("equal", "inverse_vol", "beta_neutral", "vol_target"):
        raise ValueError(f"config: unknown sizing.kind {sizing['kind']!r}")
    if sizing["within"] not in ("equal", "inverse_vol"):
        raise ValueError(f"config: unknown sizing.within {sizing['within']!r}")
    # strategy.gross is ignored by vol_target (§4), so only the others check it.
    if sizing["kind"] != "vol_target" and float(st["gross"]) > float(st["max_gross"]):
        raise ValueError("config: strategy.gross is above strategy.max_gross")
    if st["signal"]["kind"] not in ("sum", "weighted"):
        raise ValueError(f"config: unknown signal.kind {st['signal']['kind']!r}")
    if st["books"]["kind"] not in ("single", "per_event"):
        raise ValueError(f"config: unknown books.kind {st['books']['kind']!r}")
    if st["books"]["counter"] not in ("close", "ignore", "reverse"):
        raise ValueError(f"config: unknown books.counter {st['books']['counter']!r}")
    if costs["slippage"] not in ("flat", "impact"):
        raise ValueError(f"config: unknown costs.slippage {costs['slippage']!r}")
    if costs["on_cap"] not in ("fail", "scale"):
        raise ValueError(f"config: unknown costs.on_cap {costs['on_cap']!r}")
    if costs["rounding"] not in ("none", "whole"):
        raise ValueError(f"config: unknown costs.rounding {costs['rounding']!r}")
    return cfg
