"""The strategy's policies, one seam each (README, "Strategy policies")."""

from strategies.policies.books import BookRules
from strategies.policies.costs import (
    Costs,
    FlatBorrow,
    FlatCommission,
    FlatSlippage,
    ImpactSlippage,
    TableBorrow,
    TickerBorrow,
)
from strategies.policies.exits import ExitRules
from strategies.policies.legs import Leg, LegSlice
from strategies.policies.signal import SumSignal, WeightedSignal
from strategies.policies.sizing import (
    BetaNeutral,
    EqualWeights,
    InverseVolWeights,
    Sizer,
    Sizing,
    VolTarget,
)

__all__ = [
    "BetaNeutral",
    "BookRules",
    "Costs",
    "EqualWeights",
    "ExitRules",
    "FlatBorrow",
    "FlatCommission",
    "FlatSlippage",
    "ImpactSlippage",
    "InverseVolWeights",
    "Leg",
    "LegSlice",
    "Sizer",
    "Sizing",
    "SumSignal",
    "TableBorrow",
    "TickerBorrow",
    "VolTarget",
    "WeightedSignal",
]
