"""NYSE sessions (exchange_calendars XNYS) and the event -> entry-session rule.

The entry session of a piece of news is the first session whose 09:30 New York open is
strictly after the moment the news became known. Early closes do not move the open, and the
calendar's opens are exact UTC instants, so DST and other time zones need no special casing.

Building XNYS from 1990 takes about 0.7 s (plus 0.3 s to import exchange_calendars), on every
command. So the sessions, opens and closes are kept in the user cache
(``<user cache>/capex-rotation/calendar/XNYS-1990-01-01-exchange_calendars-<version>.npz``,
written atomically) and read back in a few milliseconds. The file is keyed by the
exchange_calendars version and holds the calendar built two years past the end needed; it is
cut at exchange_calendars' own default end (today + 1 year), so every session, open and close
is exactly the one ``xcals.get_calendar("XNYS", start="1990-01-01")`` gives (a test checks
it). A cache that cannot be read is rebuilt; one that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data.errors import DataError

if TYPE_CHECKING:
    import exchange_calendars as xcals

CALENDAR_NAME = "XNYS"
CALENDAR_START = "1990-01-01"
NEW_YORK = "America/New_York"
_MARGIN = pd.DateOffset(years=2)  # how far past the needed end a cached calendar is built


@dataclass(frozen=True)
class SessionTable:
    """The calendar as arrays: session labels (tz-naive midnights) and their opens and closes
    (UTC instants, tz-naive), all ``datetime64[ns]``, ascending; ``built_to`` is the end the
    calendar was built with (its sessions may stop earlier)."""

    sessions: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    built_to: np.datetime64

    def until(self, end: pd.Timestamp) -> SessionTable:
        """The sessions on or before ``end``."""
        n = int(np.searchsorted(self.sessions, np.datetime64(end, "ns"), side="right"))
        return SessionTable(self.sessions[:n], self.opens[:n], self.closes[:n], self.built_to)

    def index_of(self, session: pd.Timestamp) -> int:
        """Position of ``session`` (a date); DataError if it is not a NYSE session."""
        day = np.datetime64(pd.Timestamp(session).normalize().tz_localize(None), "ns")
        k = int(np.searchsorted(self.sessions, day))
        if k >= len(self.sessions) or self.sessions[k] != day:
            raise DataError(f"{pd.Timestamp(session).date()} is not a NYSE session")
        return k


def default_end() -> pd.Timestamp:
    """exchange_calendars' default last day: today (local clock) + 1 year (its formula)."""
    return pd.Timestamp.now().floor("D") + pd.DateOffset(years=1)


def _xcals_version() -> str:
    """exchange_calendars' installed version, without importing it (0.3 s).

    Its dist-info folder beside the package names the version; importlib.metadata (which
    scans every folder of sys.path, about 50 ms) is the fallback.
    """
    spec = importlib.util.find_spec("exchange_calendars")
    if spec is not None and spec.origin:
        found = sorted(Path(spec.origin).parent.parent.glob("exchange_calendars-*.dist-info"))
        if len(found) == 1:
            return found[0].name.removeprefix("exchange_calendars-").removesuffix(".dist-info")
    return metadata.version("exchange-calendars")


def cache_file() -> Path:
    """Where the sessions are cached, keyed by the exchange_calendars version."""
    import platformdirs

    version = _xcals_version()
    folder = Path(platformdirs.user_cache_dir("capex-rotation")) / "calendar"
    return folder / f"{CALENDAR_NAME}-{CALENDAR_START}-exchange_calendars-{version}.npz"


def _build(end: pd.Timestamp) -> SessionTable:
    cal = _get_calendar(end)
    return SessionTable(
        sessions=cal.sessions.to_numpy(dtype="datetime64[ns]"),
        opens=cal.opens.to_numpy(dtype="datetime64[ns]"),
        closes=cal.closes.to_numpy(dtype="datetime64[ns]"),
        built_to=np.datetime64(end, "ns"),
    )


def _get_calendar(end: pd.Timestamp | None = None) -> xcals.ExchangeCalendar:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.13.2 reads Series.values of tz-aware columns (a pandas 3.1
        # deprecation inside the library, harmless here).
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START, end=end)


def _read(path: Path) -> SessionTable | None:
    """The cached table, or None when the file is missing or not one we wrote."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            table = SessionTable(
                stored["sessions"], stored["opens"], stored["closes"], stored["built_to"][()]
            )
    except (OSError, ValueError, KeyError, EOFError, TypeError, AttributeError, zipfile.BadZipFile):
        return None
    arrays = (table.sessions, table.opens, table.closes)
    ns = np.dtype("datetime64[ns]")
    if any(a.dtype != ns or a.ndim != 1 or len(a) != len(table.sessions) for a in arrays):
        return None
    if table.built_to.dtype != ns or not len(table.sessions):
        return None
    if any((np.diff(a) <= np.timedelta64(0)).any() for a in arrays):
        return None
    return table


def _write(path: Path, table: SessionTable) -> None:
    from data.atomic import write_atomically

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                sessions=table.sessions,
                opens=table.opens,
                closes=table.closes,
                built_to=np.array(table.built_to),
            )

    with contextlib.suppress(OSError):  # a read-only or full cache only costs the speed
        write_atomically(path, save)


@lru_cache(maxsize=1)
def sessions_table() -> SessionTable:
    """XNYS from 1990 to exchange_calendars' default end, from the cache when it can be."""
    end = default_end()
    path = cache_file()
    table = _read(path)
    if table is None or pd.Timestamp(table.built_to) < end:
        table = _build(end + _MARGIN)
        _write(path, table)
    return table.until(end)


def clear_cache() -> None:
    """Forget the calendar read in this process (tests that change the cache folder)."""
    sessions_table.cache_clear()
    nyse.cache_clear()


@lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    """exchange_calendars' XNYS object from 1990 to its default end (a year ahead).

    It takes about a second to build: the functions of this module use :func:`sessions_table`.
    """
    return _get_calendar()


def sessions_between(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE sessions from ``start`` to ``end`` inclusive (tz-naive midnight timestamps)."""
    sessions = sessions_table().sessions
    lo = np.datetime64(pd.Timestamp(start).normalize(), "ns")
    hi = np.datetime64(pd.Timestamp(end).normalize(), "ns")
    first = int(np.searchsorted(sessions, lo, side="left"))
    last = int(np.searchsorted(sessions, hi, side="right"))
    return pd.DatetimeIndex(sessions[first : max(first, last)], name="session")


def entry_sessions(known_at: Sequence[pd.Timestamp]) -> list[pd.Timestamp | None]:
    """For each tz-aware ``known_at``, the first session whose open is strictly after it.

    ``None`` where that session lies beyond the calendar's last session.
    """
    table = sessions_table()
    out: list[pd.Timestamp | None] = []
    for stamp in known_at:
        stamp = pd.Timestamp(stamp)
        if stamp.tzinfo is None:
            raise DataError(f"known_at {stamp} has no time zone (internal error: parse it first)")
        utc = np.datetime64(stamp.tz_convert("UTC").tz_localize(None).as_unit("ns"), "ns")
        k = int(np.searchsorted(table.opens, utc, side="right"))
        out.append(None if k >= len(table.opens) else pd.Timestamp(table.sessions[k]))
    return out


def session_open(session: pd.Timestamp) -> pd.Timestamp:
    """The UTC instant of a session's open."""
    table = sessions_table()
    return pd.Timestamp(table.opens[table.index_of(session)]).tz_localize("UTC")


def session_close(session: pd.Timestamp) -> pd.Timestamp:
    """The UTC instant of a session's close (early closes included)."""
    table = sessions_table()
    return pd.Timestamp(table.closes[table.index_of(session)]).tz_localize("UTC")
