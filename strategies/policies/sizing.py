"""Sizers: the weight of each name of a book at its decision close, from data up to that close.

A sizer gets a :class:`~strategies.view.MarketView` cut at the decision close and the book's
legs (their eligible columns); it returns signed unit weights (sum |w| = 1: the book at unit
gross), and may exclude names (with a reason) or refuse the book. The planner multiplies the
weights by the book's gross. Every built-in states its lookback and what it does with a name
whose history is too short (a late listing such as SNDK).

Writing your own: any object with ``size(view, legs) -> Sizing`` (and ``name``) works; both
engines execute its weights exactly, since they are part of the plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from data.conventions import PERIODS_PER_YEAR
from strategies.errors import PolicyError
from strategies.policies.legs import LegSlice
from strategies.view import MarketView


@dataclass(frozen=True)
class Sizing:
    """A sizer's answer for one book.

    ``cols``/``weights``: the book's names and their signed unit weights (sum |w| = 1), leg by
    leg. ``unit_vol``: the annualised volatility of the unit book (vol_target; NaN otherwise).
    ``excluded``: (column, reason) of eligible names the sizer dropped. ``refused``: why no book
    can be opened ('' when it can).
    """

    cols: np.ndarray
    weights: np.ndarray
    unit_vol: float = math.nan
    excluded: tuple[tuple[int, str], ...] = ()
    refused: str = ""


def refuse(reason: str, excluded: Sequence[tuple[int, str]] = ()) -> Sizing:
    empty = np.empty(0, dtype=np.int64)
    return Sizing(empty, np.empty(0), excluded=tuple(excluded), refused=reason)


class Sizer(Protocol):
    """What the planner needs of a sizer."""

    name: str

    def size(self, view: MarketView, legs: Sequence[LegSlice]) -> Sizing: ...


def _assemble(legs: Sequence[LegSlice], within: Sequence[np.ndarray], scale=None) -> Sizing:
    """Weights side x share x within-leg weight (x the leg's scale), concatenated."""
    cols = np.concatenate([leg.cols for leg in legs])
    parts = []
    for k, (leg, v) in enumerate(zip(legs, within, strict=True)):
        factor = leg.side * leg.share * (1.0 if scale is None else scale[k])
        parts.append(factor * v)
    # Shares sum to 1 and within-leg weights to 1, so sum |w| = 1 by construction (a
    # renormalisation would only move the last bit of the baseline's G/2/n).
    return Sizing(cols, np.concatenate(parts))


@dataclass(frozen=True)
class EqualWeights:
    """Each leg's share split equally among its eligible names (the baseline).

    Needs: nothing beyond eligibility. No lookback, so a late listing joins at its first book.
    """

    name: str = field(default="equal", init=False)
    uses_prices: bool = field(default=False, init=False)  # weights from eligibility alone

    def size(self, view: MarketView, legs: Sequence[LegSlice]) -> Sizing:
        return _assemble(legs, [np.full(len(leg.cols), 1.0 / len(leg.cols)) for leg in legs])


def _check_lookback(lookback: int, min_history: int, kind: str) -> None:
    if int(lookback) != lookback or lookback < 2:
        raise PolicyError(f"strategy.sizing.lookback ({kind}) must be a whole number >= 2")
    if int(min_history) != min_history or not 2 <= min_history <= lookback:
        raise PolicyError(
            f"strategy.sizing.min_history ({kind}) must be between 2 and lookback {lookback}"
        )


def _inverse_vol(view: MarketView, leg: LegSlice, lookback: int, min_history: int):
    """Within-leg weights proportional to 1/sigma over the lookback; names with fewer than
    ``min_history`` finite returns, or sigma = 0, are excluded."""
    r = view.returns(leg.cols, lookback)
    finite = np.isfinite(r)
    count = finite.sum(axis=0)
    keep = count >= min_history
    sigma = np.full(len(leg.cols), np.nan)
    for j in np.flatnonzero(keep):
        sigma[j] = np.std(r[finite[:, j], j], ddof=1)
    keep &= sigma > 0
    excluded = [
        (
            int(c),
            f"short history: {int(n)} of {min_history} returns"
            if n < min_history
            else "zero volatility",
        )
        for c, n, k in zip(leg.cols, count, keep, strict=True)
        if not k
    ]
    inverse = 1.0 / sigma[keep]
    return keep, inverse / inverse.sum(), excluded


def _with_history(view, leg: LegSlice, lookback: int, min_history: int):
    """Which names of a leg have ``min_history`` finite returns in the lookback."""
    count = np.isfinite(view.returns(leg.cols, lookback)).sum(axis=0)
    keep = count >= min_history
    excluded = [
        (int(c), f"short history: {int(n)} of {min_history} returns")
        for c, n, k in zip(leg.cols, count, keep, strict=True)
        if not k
    ]
    return keep, excluded


def _within(view, legs, within: str, lookback: int, min_history: int):
    """Legs reduced to the names with enough history (a late listing is left out until it has
    ``min_history`` returns, so it never blocks a book), and their within-leg weights."""
    kept, weights, excluded = [], [], []
    for leg in legs:
        if within == "equal":
            keep, dropped = _with_history(view, leg, lookback, min_history)
            excluded.extend(dropped)
            if not keep.any():
                return None, None, excluded, f"leg {leg.name!r}: no name with {min_history} returns"
            cols = leg.cols[keep]
            kept.append(LegSlice(leg.name, leg.side, leg.share, cols))
            weights.append(np.full(len(cols), 1.0 / len(cols)))
            continue
        keep, v, dropped = _inverse_vol(view, leg, lookback, min_history)
        excluded.extend(dropped)
        if not keep.any():
            return None, None, excluded, f"leg {leg.name!r}: no name with {min_history} returns"
        kept.append(LegSlice(leg.name, leg.side, leg.share, leg.cols[keep]))
        weights.append(v)
    return kept, weights, excluded, ""


@dataclass(frozen=True)
class InverseVolWeights:
    """Within each leg, weights proportional to 1 / sigma_i (sample std, ddof=1, of the last
    ``lookback`` daily returns up to the decision close).

    A name with fewer than ``min_history`` finite returns in that window (a late listing) or a
    zero sigma is excluded from the book; a leg left empty refuses the book.
    """

    lookback: int = 60
    min_history: int = 60
    name: str = field(default="inverse_vol", init=False)

    def __post_init__(self) -> None:
        _check_lookback(self.lookback, self.min_history, self.name)

    def size(self, view: MarketView, legs: Sequence[LegSlice]) -> Sizing:
        kept, within, excluded, why = _within(
            view, legs, "inverse_vol", self.lookback, self.min_history
        )
        if why:
            return refuse(why, excluded)
        sizing = _assemble(kept, within)
        return Sizing(sizing.cols, sizing.weights, excluded=tuple(excluded))


def _ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Slope of x on y (x = leg returns, y = benchmark returns)."""
    dy = y - y.mean()
    return float(((x - x.mean()) * dy).sum() / (dy * dy).sum())


@dataclass(frozen=True)
class BetaNeutral:
    """Legs scaled so the book's trailing beta to the benchmark is zero at unit gross.

    Names with fewer than ``min_history`` returns in the last ``lookback`` sessions are left
    out (a late listing joins once it has them); the rest are weighted ``within`` ("equal" or
    "inverse_vol"). beta_L is the OLS slope of the leg's return (within-weighted) on the
    benchmark's over the sessions of the lookback at which every kept name of the leg and the
    benchmark have a return; fewer than ``min_history`` such sessions refuse the book.
    Long legs are scaled by a, short ones by b: a * B+ = b * B- (B = sum share x beta),
    a * S+ + b * S- = 1 (S = sum of shares). No positive beta on either side refuses the book.
    """

    within: str = "equal"
    lookback: int = 60
    min_history: int = 60
    name: str = field(default="beta_neutral", init=False)

    def __post_init__(self) -> None:
        _check_within(self.within)
        _check_lookback(self.lookback, self.min_history, self.name)

    def size(self, view: MarketView, legs: Sequence[LegSlice]) -> Sizing:
        kept, within, excluded, why = _within(
            view, legs, self.within, self.lookback, self.min_history
        )
        if why:
            return refuse(why, excluded)
        rb = view.benchmark_returns(self.lookback)
        betas = []
        for leg, v in zip(kept, within, strict=True):
            r = view.returns(leg.cols, self.lookback)
            rows = np.isfinite(r).all(axis=1) & np.isfinite(rb)
            if rows.sum() < self.min_history:
                return refuse(
                    f"leg {leg.name!r}: {int(rows.sum())} sessions with every return, fewer than "
                    f"{self.min_history}",
                    excluded,
                )
            betas.append(_ols_slope(r[rows] @ v, rb[rows]))
        long_ = [k for k, leg in enumerate(kept) if leg.side > 0]
        short = [k for k, leg in enumerate(kept) if leg.side < 0]
        b_plus = sum(kept[k].share * betas[k] for k in long_)
        b_minus = sum(kept[k].share * betas[k] for k in short)
        if not (b_plus > 0 and b_minus > 0):
            return refuse(
                f"no beta hedge: long legs' beta {b_plus:.3g}, short legs' {b_minus:.3g}", excluded
            )
        s_plus = sum(kept[k].share for k in long_)
        s_minus = sum(kept[k].share for k in short)
        a = 1.0 / (s_plus + s_minus * b_plus / b_minus)
        b = a * b_plus / b_minus
        scale = [a if leg.side > 0 else b for leg in kept]
        sizing = _assemble(kept, within, scale)
        return Sizing(sizing.cols, sizing.weights, excluded=tuple(excluded))


@dataclass(frozen=True)
class VolTarget:
    """The book scaled to a target annual volatility: gross = min(target / sigma_book,
    max_gross), sigma_book = sqrt(252 w' Sigma w) of the unit book.

    Names with fewer than ``min_history`` returns in the last ``lookback`` sessions are left
    out; weights within legs as ``within``; Sigma is the sample covariance (ddof=1) of the kept
    names' returns over the sessions of the lookback at which all of them have a return; fewer
    than ``min_history`` such sessions refuse the book. A zero trailing volatility gives the
    cap, max_gross. strategy.gross is not used.
    """

    target: float = 0.10
    within: str = "equal"
    lookback: int = 60
    min_history: int = 60
    name: str = field(default="vol_target", init=False)

    def __post_init__(self) -> None:
        if not 0 < self.target < 10:
            raise PolicyError(
                f"strategy.sizing.target must be an annual volatility in (0, 10), got "
                f"{self.target:g}"
            )
        _check_within(self.within)
        _check_lookback(self.lookback, self.min_history, self.name)

    def size(self, view: MarketView, legs: Sequence[LegSlice]) -> Sizing:
        kept, within, excluded, why = _within(
            view, legs, self.within, self.lookback, self.min_history
        )
        if why:
            return refuse(why, excluded)
        sizing = _assemble(kept, within)
        r = view.returns(sizing.cols, self.lookback)
        rows = np.isfinite(r).all(axis=1)
        if rows.sum() < self.min_history:
            return refuse(
                f"{int(rows.sum())} sessions with every name's return, fewer than "
                f"{self.min_history}",
                excluded,
            )
        sigma = np.cov(r[rows], rowvar=False, ddof=1)
        w = sizing.weights
        unit_vol = math.sqrt(PERIODS_PER_YEAR * float(w @ np.atleast_2d(sigma) @ w))
        return Sizing(sizing.cols, w, unit_vol=unit_vol, excluded=tuple(excluded))


def _check_within(within: str) -> None:
    if within not in ("equal", "inverse_vol"):
        raise PolicyError(
            f"strategy.sizing.within must be 'equal' or 'inverse_vol', got {within!r}"
        )
