"""A strategy: the policies that turn events and bars into a plan, and the costs of trading it.

:class:`Strategy` holds parameters and policy objects, nothing else; the planner
(:mod:`strategies.plan`) applies them and the engines (:mod:`strategies.engines`) execute the
plan. Every policy is one seam with a contract (README, "Strategy policies"):

- ``signal``: events entering on a session -> a net signal S (``SumSignal``, ``WeightedSignal``);
- ``books``: single book or one per trigger, the counter-trigger action, the entry delay;
- ``legs``: named baskets with a side and a share of the gross;
- ``sizer``: unit weights at the decision close (``EqualWeights``, ``InverseVolWeights``,
  ``BetaNeutral``, ``VolTarget``, or your own);
- ``exits``: stops, take-profit and a maximum holding period on top of ``hold``;
- ``costs``: commission, slippage and borrow models, rounding, a participation cap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from strategies.errors import PolicyError
from strategies.policies.books import BookRules
from strategies.policies.costs import Costs
from strategies.policies.exits import ExitRules
from strategies.policies.legs import Leg, check_legs
from strategies.policies.signal import SumSignal, WeightedSignal
from strategies.policies.sizing import EqualWeights, Sizer


@dataclass(frozen=True)
class Strategy:
    """Every choice of a run but its data.

    - ``hold`` (H): a book exits H sessions after its (last) entry.
    - ``gross`` (G): a book's gross exposure at opening, as a multiple of the equity at its
      decision close (vol_target replaces it by its own).
    - ``max_gross``: the cap on G, and on the sum of open sub-books' opening gross.
    """

    legs: tuple[Leg, ...]
    hold: int = 5
    gross: float = 1.0
    max_gross: float = 3.0
    signal: SumSignal | WeightedSignal = field(default_factory=SumSignal)
    books: BookRules = field(default_factory=BookRules)
    sizer: Sizer = field(default_factory=EqualWeights)
    exits: ExitRules = field(default_factory=ExitRules)
    costs: Costs = field(default_factory=Costs)

    def __post_init__(self) -> None:
        object.__setattr__(self, "legs", check_legs(self.legs))
        if int(self.hold) != self.hold or self.hold < 1:
            raise PolicyError(
                f"strategy.hold_sessions must be a whole number >= 1, got {self.hold}"
            )
        if not self.gross > 0:
            raise PolicyError(f"strategy.gross must be > 0, got {self.gross}")
        if not self.max_gross > 0:
            raise PolicyError(f"strategy.max_gross must be > 0, got {self.max_gross}")
        if self.gross > self.max_gross and not self.targets_volatility:
            raise PolicyError(
                f"strategy.gross {self.gross} exceeds strategy.max_gross {self.max_gross}; lower "
                "gross or raise the cap deliberately"
            )

    @classmethod
    def baseline(cls, long: Sequence[str], short: Sequence[str], **kwargs) -> Strategy:
        """The baseline rotation on two baskets: long ``long``, short ``short``, half each."""
        legs = (Leg("long", tuple(long), 1, 0.5), Leg("short", tuple(short), -1, 0.5))
        return cls(legs=legs, **kwargs)

    @property
    def targets_volatility(self) -> bool:
        return getattr(self.sizer, "name", "") == "vol_target"

    @property
    def tickers(self) -> tuple[str, ...]:
        """Every ticker of the legs, leg by leg."""
        return tuple(t for leg in self.legs for t in leg.tickers)

    def book_gross(self, unit_vol: float = math.nan, signal_scale: float = 1.0) -> float:
        """A book's opening gross: min(target / unit_vol, max_gross) for vol_target, else
        G (x |S| when the signal scales the size, capped at max_gross)."""
        if not self.targets_volatility:  # scalars in plain Python: the planner calls this a lot
            if signal_scale == 1.0:
                return self.gross
            return min(self.gross * signal_scale, self.max_gross)
        if unit_vol > 0:
            own = min(self.sizer.target / unit_vol, self.max_gross)
            return own if signal_scale == 1.0 else min(own * signal_scale, self.max_gross)
        return book_gross(
            self.gross,
            self.max_gross,
            getattr(self.sizer, "target", math.nan),
            self.targets_volatility,
            unit_vol,
            signal_scale,
        )


def book_gross(gross, max_gross, target, targets_volatility, unit_vol, signal_scale):
    """The opening gross of a book (scalars or numpy arrays, broadcast): the one formula both
    engines and the planner's gross cap use."""
    if targets_volatility:  # a zero trailing volatility gives the cap
        with np.errstate(divide="ignore"):
            own = np.minimum(target / unit_vol, max_gross)
        return (
            own
            if np.ndim(signal_scale) == 0 and signal_scale == 1.0
            else np.minimum(own * signal_scale, max_gross)
        )
    if np.ndim(signal_scale) == 0 and signal_scale == 1.0:
        return gross
    return np.minimum(gross * signal_scale, max_gross)
