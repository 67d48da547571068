"""Market arrays and the sizers of the policy reference (POLICY_SPEC.md §4).

Every sizer reads data up to the decision close t only and returns the book's unit weights
(sum |w| = 1). Imports nothing from the project.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

TRADING_DAYS = 252


class NotOpened(Exception):
    """A book cannot be opened; the message is the reason its events are logged with."""


# ---------------------------------------------------------------------------------------------
# The market: aligned arrays and the windows the sizers read
# ---------------------------------------------------------------------------------------------


class Market:
    """Aligned bars (sessions x names, NaN where a name has no bar) and their returns."""

    def __init__(
        self,
        bars: dict[str, pd.DataFrame],
        benchmark: pd.Series,
        sessions: pd.DatetimeIndex,
        names: list[str],
    ) -> None:
        self.sessions = pd.DatetimeIndex(sessions)
        self.n = len(self.sessions)
        self.names = names
        self.col = {name: j for j, name in enumerate(names)}
        shape = (self.n, len(names))
        self.open = np.full(shape, np.nan)
        self.close = np.full(shape, np.nan)
        self.volume = np.full(shape, np.nan)
        for name, j in self.col.items():
            if name not in bars:
                raise ValueError(f"bars: no bars for {name}")
            frame = bars[name].reindex(self.sessions)
            self.open[:, j] = frame["open"].to_numpy(dtype=float)
            self.close[:, j] = frame["close"].to_numpy(dtype=float)
            self.volume[:, j] = frame["volume"].to_numpy(dtype=float)
        bench = pd.Series(benchmark).reindex(self.sessions).to_numpy(dtype=float)
        if np.isnan(bench).any():
            raise ValueError("benchmark: a session has no close")
        # r[t, i] = close[t, i] / close[t-1, i] - 1, NaN unless both bars exist (Notation).
        self.ret = np.full(shape, np.nan)
        self.ret[1:] = self.close[1:] / self.close[:-1] - 1.0
        self.bench_ret = np.full(self.n, np.nan)
        self.bench_ret[1:] = bench[1:] / bench[:-1] - 1.0
        self.last = {}
        for name, j in self.col.items():
            present = np.flatnonzero(~np.isnan(self.close[:, j]))
            self.last[name] = int(present[-1]) if len(present) else -1

    def has_bar(self, name: str, t: int) -> bool:
        return not math.isnan(self.close[t, self.col[name]])

    def ends_at(self, name: str, e: int) -> bool:
        """``e`` is the name's last bar and its data ends before the run's last session (§7)."""
        return self.last[name] == e and e < self.n - 1

    def eligible(self, name: str, t: int, e: int) -> bool:
        """§4 Eligibility: bars at t and e, and the data does not end at e."""
        return self.has_bar(name, t) and self.has_bar(name, e) and not self.ends_at(name, e)

    def window(self, t: int, n_sessions: int) -> range:
        """Sessions u in [t - N + 1, t] (clipped at the run's first session)."""
        return range(max(0, t - n_sessions + 1), t + 1)

    def returns(self, name: str, rows: range | list[int]) -> np.ndarray:
        return self.ret[list(rows), self.col[name]]


# ---------------------------------------------------------------------------------------------
# §4 Sizers: unit weights (sum |w| = 1) at the decision close t, from data up to t only
# ---------------------------------------------------------------------------------------------


def _with_history(
    market: Market, names: list[str], t: int, sizing: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """§9 A4: the names with at least min_history finite returns in the lookback window.

    Every price-based sizer (inverse_vol, beta_neutral, vol_target) drops the others before
    weighting, so a late listing leaves the book rather than blocking it.
    """
    kept: list[str] = []
    excluded: dict[str, str] = {}
    for x in names:
        window = market.returns(x, market.window(t, int(sizing["lookback"])))
        if int(np.isfinite(window).sum()) < int(sizing["min_history"]):
            excluded[x] = "short history"
        else:
            kept.append(x)
    return kept, excluded


def _within_leg(
    market: Market, names: list[str], t: int, kind: str, sizing: dict[str, Any]
) -> tuple[dict[str, float], dict[str, str]]:
    """Within-leg weights v (sum 1) of ``names`` (already past A4) and the names excluded."""
    if kind == "equal":
        return {x: 1.0 / len(names) for x in names}, {}
    inverse: dict[str, float] = {}
    excluded: dict[str, str] = {}
    for x in names:
        window = market.returns(x, market.window(t, int(sizing["lookback"])))
        finite = window[np.isfinite(window)]
        # READING: sigma is the std of the finite returns of the window (min_history may be
        # below N, so some of the N returns can be missing); a NaN sigma (one return) excludes.
        sigma = float(np.std(finite, ddof=1)) if len(finite) >= 2 else math.nan
        if not sigma > 0:
            excluded[x] = "zero volatility"
            continue
        inverse[x] = 1.0 / sigma
    total = sum(inverse.values())
    return {x: value / total for x, value in inverse.items()}, excluded


def _complete_rows(market: Market, names: list[str], t: int, n_sessions: int) -> list[int]:
    """Sessions of the window at which every one of ``names`` has a finite return."""
    rows = []
    for u in market.window(t, n_sessions):
        if all(math.isfinite(market.ret[u, market.col[x]]) for x in names):
            rows.append(u)
    return rows


def unit_weights(
    market: Market,
    legs: list[dict[str, Any]],
    t: int,
    sizing: dict[str, Any],
    max_gross: float,
) -> tuple[dict[str, float], float | None, dict[str, str]]:
    """The book's unit weights w (sum |w| = 1, signed), vol_target's gross, exclusions.

    ``legs``: name, side IN THE BOOK (already flipped for a -1 book), share, names (the names
    still eligible). Raises NotOpened with the reason when the book cannot be opened.
    Returns (w, vol_target gross or None, excluded name -> reason).
    """
    kind = sizing["kind"]
    # sizing.within belongs to beta_neutral and vol_target only (§4): equal stays equal.
    within_kind = {"equal": "equal", "inverse_vol": "inverse_vol"}.get(kind, sizing["within"])
    within: dict[str, dict[str, float]] = {}
    excluded: dict[str, str] = {}
    for leg in legs:
        names = leg["names"]
        if kind != "equal":  # §9 A4: short histories leave before within-leg weighting
            names, out = _with_history(market, names, t, sizing)
            excluded.update(out)
        v, out = _within_leg(market, names, t, within_kind, sizing) if names else ({}, {})
        excluded.update(out)
        if not v:
            raise NotOpened(f"leg {leg['name']} has no eligible name")
        within[leg["name"]] = v

    if kind in ("equal", "inverse_vol"):
        w = {
            x: leg["side"] * float(leg["share"]) * v_i
            for leg in legs
            for x, v_i in within[leg["name"]].items()
        }
        return w, None, excluded

    lookback, min_history = int(sizing["lookback"]), int(sizing["min_history"])
    if kind == "beta_neutral":
        betas: dict[str, float] = {}
        for leg in legs:
            v = within[leg["name"]]
            rows = [
                u
                for u in _complete_rows(market, list(v), t, lookback)
                if math.isfinite(market.bench_ret[u])
            ]
            if len(rows) < min_history:
                raise NotOpened(
                    f"beta_neutral: leg {leg['name']} has {len(rows)} sessions of returns "
                    f"(min_history {min_history})"
                )
            x_leg = np.array(
                [sum(v_i * market.ret[u, market.col[x]] for x, v_i in v.items()) for u in rows]
            )
            y = market.bench_ret[rows]
            dy = y - y.mean()
            betas[leg["name"]] = float(np.sum((x_leg - x_leg.mean()) * dy) / np.sum(dy * dy))
        longs = [leg for leg in legs if leg["side"] > 0]
        shorts = [leg for leg in legs if leg["side"] < 0]
        b_plus = sum(float(leg["share"]) * betas[leg["name"]] for leg in longs)
        b_minus = sum(float(leg["share"]) * betas[leg["name"]] for leg in shorts)
        # `not (x > 0)` also refuses a NaN beta (a benchmark with zero variance).
        if not (b_plus > 0 and b_minus > 0):
            raise NotOpened(f"no beta hedge: B+ = {b_plus}, B- = {b_minus}")
        s_plus = sum(float(leg["share"]) for leg in longs)
        s_minus = sum(float(leg["share"]) for leg in shorts)
        # b = a B+/B-, a S+ + b S- = 1  =>  a = 1 / (S+ + S- B+/B-).
        a = 1.0 / (s_plus + s_minus * b_plus / b_minus)
        b = a * b_plus / b_minus
        w = {}
        for leg in legs:
            scale = a if leg["side"] > 0 else b
            for x, v_i in within[leg["name"]].items():
                w[x] = leg["side"] * scale * float(leg["share"]) * v_i
        return w, None, excluded

    # vol_target: w as `within`, legs at their shares; gross from the book's volatility.
    w = {
        x: leg["side"] * float(leg["share"]) * v_i
        for leg in legs
        for x, v_i in within[leg["name"]].items()
    }
    names = list(w)
    rows = _complete_rows(market, names, t, lookback)
    if len(rows) < min_history or len(rows) < 2:
        raise NotOpened(
            f"vol_target: {len(rows)} sessions with every name's return (min_history {min_history})"
        )
    matrix = np.column_stack([market.returns(x, rows) for x in names])
    sigma_matrix = np.atleast_2d(np.cov(matrix, rowvar=False, ddof=1))
    vector = np.array([w[x] for x in names])
    sigma_book = math.sqrt(TRADING_DAYS * float(vector @ sigma_matrix @ vector))
    # §9 A6: sigma_book = 0 gives g = max_gross (target / 0, capped).
    gross = max_gross if sigma_book == 0 else min(float(sizing["target"]) / sigma_book, max_gross)
    return w, gross, excluded
