"""Exits beyond the holding period: stops and take-profit on the book's own return, and a cap
on how long a book may live.

The book's return at close t is R_t = sum_i w_i (P_i,t / close_i,d - 1) with its unit weights
w (sum |w| = 1) and P the close (or, for a name already closed because its data ended, its exit
open). It depends on prices and the plan only, never on gross, costs or equity, so a schedule
with stops is the same for every config of a sweep and in both engines. A stop is decided at a
close and filled at the next open, never inside a bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from strategies.errors import PolicyError


@dataclass(frozen=True)
class ExitRules:
    """``stop_loss`` L: close when R_t <= -L. ``trailing_stop`` T: close when
    max(0, max R since entry) - R_t >= T. ``take_profit`` P: close when R_t >= P.
    ``max_hold`` K: the planned exit is never later than entry + K sessions, whatever the
    extensions. None switches a rule off. Checked at every close while the book is held, in
    the order stop_loss, trailing_stop, take_profit (the first that fires names the exit)."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_hold: int | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 10:
                raise PolicyError(
                    f"strategy.exits.{name} must be a return in (0, 10) (0.05 = 5%), got {value:g}"
                )
        if self.max_hold is not None and (int(self.max_hold) != self.max_hold or self.max_hold < 1):
            raise PolicyError("strategy.exits.max_hold must be a whole number >= 1")

    @property
    def uses_returns(self) -> bool:
        """Whether the planner must follow the book's return (any price-path exit is on)."""
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop))
