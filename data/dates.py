"""The dates a user's file may hold: whole years inside pandas' nanosecond range.

pandas stores instants as nanoseconds since 1970 in 64 bits, which spans 1677-09-21 to
2262-04-11; a date outside silently wraps around (2262-05-01 became 1677-10-10). Every date
read from a price, events or news file is checked against :data:`FIRST_DAY` and
:data:`LAST_DAY` (whole years, so that a time zone offset cannot push a date out) before it is
turned into a pandas timestamp.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

FIRST_DAY = date(1678, 1, 1)
LAST_DAY = date(2261, 12, 31)
SUPPORTED = f"the supported dates {FIRST_DAY} to {LAST_DAY}"

_FIRST_D = np.datetime64(FIRST_DAY, "D")
_LAST_D = np.datetime64(LAST_DAY, "D")


def in_range(day: date | datetime) -> bool:
    """Whether ``day`` (its calendar date as written) is inside the supported range."""
    value = day.date() if isinstance(day, datetime) else day
    return FIRST_DAY <= value <= LAST_DAY


def out_of_range(days: np.ndarray) -> np.ndarray:
    """Indices of the ``datetime64[D]`` values outside the supported range (NaT excluded)."""
    valid = ~np.isnat(days)
    return np.flatnonzero(valid & ((days < _FIRST_D) | (days > _LAST_D)))
