"""Signal policies: the events entering on one session -> one net signal S.

Only the sign of S decides what a book does (README, "Strategy policies"); with
``scale_size`` its size also scales by |S|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strategies.errors import PolicyError


@dataclass(frozen=True)
class SumSignal:
    """S = sum of the directions of the session's events (the baseline).

    Needs: nothing but directions. Sets: S per session.
    """

    scale_size: bool = False

    def values(self, directions: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """Each event's contribution to S (summed per session by the planner)."""
        return directions.astype(float)


@dataclass(frozen=True)
class WeightedSignal:
    """S = sum of weight x direction, the weight read from the events file's ``column``
    (e.g. ``weight``, or ``score`` of classified news).

    Needs: a non-negative number per event in ``column`` (checked when the events are read).
    """

    column: str = "weight"
    scale_size: bool = False

    def __post_init__(self) -> None:
        if not self.column:
            raise PolicyError("strategy.signal.column must name a column of the events file")

    def values(self, directions: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        if weights is None:
            raise PolicyError(
                f"strategy.signal.kind = 'weighted' needs the events' {self.column!r} column"
            )
        return directions * weights
