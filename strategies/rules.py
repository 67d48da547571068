"""The parameters of the baseline rotation and its cost models (one seam each).

``RotationRules`` says how big and how long a book is; ``CostModel`` says what a fill and a
night of borrowing cost. Both engines read these objects and nothing else for those questions,
so a different cost or sizing model is a different object, not an edit in an engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.errors import CapexRotationError


class RulesError(CapexRotationError):
    """Parameters that the rules cannot run with."""


@dataclass(frozen=True)
class RotationRules:
    """Book size and holding period (spec/baseline-rules.md).

    - ``hold_sessions`` (H): a book opened or extended at session e exits at e + H.
    - ``gross`` (G): gross exposure at opening, as a multiple of equity; half long, half short.
    - ``max_gross``: the cap on G. backtrader itself never limits shorts, so we do.
    """

    hold_sessions: int = 5
    gross: float = 1.0
    max_gross: float = 3.0

    def __post_init__(self) -> None:
        if int(self.hold_sessions) != self.hold_sessions or self.hold_sessions < 1:
            raise RulesError(
                f"strategy.hold_sessions must be a whole number >= 1, got {self.hold_sessions}"
            )
        if not self.gross > 0:
            raise RulesError(f"strategy.gross must be > 0, got {self.gross}")
        if self.gross > self.max_gross:
            raise RulesError(
                f"strategy.gross {self.gross} exceeds strategy.max_gross {self.max_gross}; lower "
                "gross or raise the cap deliberately"
            )

    def weights(self, n_long: int, n_short: int) -> tuple[float, float]:
        """Target weight of each long name and of each short name (negative)."""
        return self.gross / 2 / n_long, -self.gross / 2 / n_short


@dataclass(frozen=True)
class CostModel:
    """Commission and slippage per fill, borrow fee per night on short market value.

    Rates are fractions (1 bp = 0.0001; borrow is annual).
    """

    commission: float = 0.0001
    slippage: float = 0.0002
    borrow: float = 0.005

    def __post_init__(self) -> None:
        for name in ("commission", "slippage", "borrow"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise RulesError(
                    f"costs.{name}_bps must be between 0 and 10000 bp, got {value * 1e4:g}"
                )

    @classmethod
    def from_bps(cls, commission_bps: float, slippage_bps: float, borrow_bps: float) -> CostModel:
        return cls(commission_bps / 1e4, slippage_bps / 1e4, borrow_bps / 1e4)

    def fill_price(self, open_price: float, buy: bool) -> float:
        """Buys pay open * (1 + s); sells and short sales get open * (1 - s)."""
        return open_price * (1 + self.slippage) if buy else open_price * (1 - self.slippage)

    def commission_on(self, shares: float, price: float) -> float:
        return self.commission * abs(shares * price)

    def borrow_fee(self, shares: float, close: float, days: int) -> float:
        """Fee for holding ``shares`` (negative) short over ``days`` calendar days."""
        return self.borrow * abs(shares) * close * days / 365
