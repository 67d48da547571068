"""Strategies: the policies, the plan they produce, and the engines that execute it.

from strategies import Strategy
from strategies.policies import BetaNeutral, ExitRules, Leg
"""

from strategies.strategy import Strategy

__all__ = ["Strategy"]
