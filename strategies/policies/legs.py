"""Legs: the named baskets a book is made of, each with a side and a share of the book's gross."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from strategies.errors import PolicyError


@dataclass(frozen=True)
class Leg:
    """A basket traded together.

    ``side`` is +1 (bought in a +1 book) or -1 (sold short); ``share`` is the leg's fraction of
    the book's gross exposure. A -1 book (``counter = "reverse"``) flips every side.
    """

    name: str
    tickers: tuple[str, ...]
    side: int
    share: float = 0.5

    def __post_init__(self) -> None:
        if self.side not in (1, -1):
            raise PolicyError(f"leg {self.name!r}: side must be +1 or -1, got {self.side!r}")
        if not self.tickers:
            raise PolicyError(f"leg {self.name!r} has no ticker; list at least one")
        if not 0 < self.share <= 1:
            raise PolicyError(f"leg {self.name!r}: share must be in (0, 1], got {self.share:g}")


def check_legs(legs: Sequence[Leg]) -> tuple[Leg, ...]:
    """Legs that can make a book: named once, tickers on one leg only, shares summing to 1, at
    least one long and one short leg."""
    legs = tuple(legs)
    if len(legs) < 2:
        raise PolicyError("a book needs at least two legs (one long, one short)")
    names = [leg.name for leg in legs]
    if len(set(names)) != len(names):
        raise PolicyError(f"leg names must be unique, got {', '.join(names)}")
    seen: dict[str, str] = {}
    for leg in legs:
        for ticker in leg.tickers:
            if ticker in seen:
                raise PolicyError(
                    f"{ticker} is in legs {seen[ticker]!r} and {leg.name!r}; a name can be on "
                    "one leg only"
                )
            seen[ticker] = leg.name
    total = sum(leg.share for leg in legs)
    if abs(total - 1.0) > 1e-9:
        raise PolicyError(f"leg shares must sum to 1, they sum to {total:g}")
    if not any(leg.side > 0 for leg in legs) or not any(leg.side < 0 for leg in legs):
        raise PolicyError("a book needs a long leg (side +1) and a short leg (side -1)")
    return legs


class LegSlice(NamedTuple):
    """A leg as one book sees it: its side in that book and the eligible columns."""

    name: str
    side: int
    share: float
    cols: np.ndarray
