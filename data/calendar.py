"""NYSE sessions (exchange_calendars XNYS) and the event -> entry-session rule.

The entry session of a piece of news is the first session whose 09:30 New York open is
strictly after the moment the news became known. Early closes do not move the open, and the
calendar's opens are exact UTC instants, so DST and other time zones need no special casing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from data.errors import DataError

CALENDAR_NAME = "XNYS"
CALENDAR_START = "1990-01-01"
NEW_YORK = "America/New_York"


@lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    """The XNYS calendar from 1990 to exchange_calendars' default end (a year ahead)."""
    with warnings.catch_warnings():
        # exchange_calendars 4.13.2 reads Series.values of tz-aware columns (a pandas 3.1
        # deprecation inside the library, harmless here).
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START)


def sessions_between(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE sessions from ``start`` to ``end`` inclusive (tz-naive midnight timestamps)."""
    cal = nyse()
    lo = max(pd.Timestamp(start).normalize(), cal.first_session)
    hi = min(pd.Timestamp(end).normalize(), cal.last_session)
    if lo > hi:
        return pd.DatetimeIndex([], name="session", dtype="datetime64[ns]")
    sessions = cal.sessions_in_range(lo, hi)
    return pd.DatetimeIndex(sessions, name="session").as_unit("ns")


def entry_sessions(known_at: Sequence[pd.Timestamp]) -> list[pd.Timestamp | None]:
    """For each tz-aware ``known_at``, the first session whose open is strictly after it.

    ``None`` where that session lies beyond the calendar's last session.
    """
    opens_utc, sessions = _opens()
    out: list[pd.Timestamp | None] = []
    for stamp in known_at:
        stamp = pd.Timestamp(stamp)
        if stamp.tzinfo is None:
            raise DataError(f"known_at {stamp} has no time zone (internal error: parse it first)")
        utc = np.datetime64(stamp.tz_convert("UTC").tz_localize(None).as_unit("ns"), "ns")
        k = int(np.searchsorted(opens_utc, utc, side="right"))
        out.append(None if k >= len(opens_utc) else sessions[k])
    return out


@lru_cache(maxsize=1)
def _opens() -> tuple[np.ndarray, list[pd.Timestamp]]:
    """Session opens as UTC datetime64 (sorted) and the sessions they open."""
    opens = nyse().opens  # a new Series on every access: read it once
    return opens.to_numpy(dtype="datetime64[ns]"), [pd.Timestamp(d) for d in opens.index]


def session_open(session: pd.Timestamp) -> pd.Timestamp:
    """The UTC instant of a session's open."""
    return pd.Timestamp(nyse().session_open(pd.Timestamp(session)))
