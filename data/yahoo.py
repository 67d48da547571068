"""Price source ``yahoo``: yfinance downloads kept in an on-disk parquet cache.

Only dates the cache does not cover yet are requested (see :mod:`data.price_cache`): before the
covered start and after the covered end; a requested range already covered costs no request.
Request ends are capped at the last COMPLETED NYSE session as of ``now`` (a session is complete
after its close), so a partial intraday bar is never cached.

Downloads run under a whole-call wall-clock deadline (see :mod:`data.yahoo_client`, which also
lists what we change in yfinance's process-wide state).

Failures: a ticker for which Yahoo returned nothing (unknown symbol, empty answer, network
error) or that did not finish before the deadline gets no cache file (an existing one is left
untouched); the tickers that did succeed are still validated and cached; then one
:class:`DataError` names the failed tickers and suggests ``--data-dir``.

An empty answer for a range is accepted (coverage extended, no bars added) only for a ticker
that already has cached bars AND either another request of the same call returned bars (so
Yahoo was reachable), or the range lies before the cached bars and the cache already shows the
listing (covered sessions without bars before the first bar). Otherwise it is an error: offline,
yfinance also answers "nothing".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import platformdirs
import yfinance as yf

from data.calendar import CALENDAR_START, NEW_YORK, sessions_between, sessions_table
from data.errors import DataError
from data.price_cache import CachedPrices, PriceCache
from data.prices import PriceHistory, validate_bars, validate_ticker
from data.yahoo_client import Batch, bars_for, download, reason

CACHE_ENV = "CAPEX_ROTATION_CACHE"
OFFLINE_HINT = "run offline with --data-dir DIR pointing at <TICKER>.csv files"
_ONE_DAY = pd.Timedelta(days=1)


def default_cache_dir() -> Path:
    """``$CAPEX_ROTATION_CACHE`` if set, else the user cache folder's ``capex-rotation/prices``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("capex-rotation")) / "prices"


def last_completed_session(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The newest NYSE session whose close is at or before ``now`` (default: the current time).

    A tz-naive ``now`` is New York wall time.
    """
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(NEW_YORK, ambiguous=True, nonexistent="shift_forward")
    table = sessions_table()
    k = int(
        np.searchsorted(
            table.closes,
            np.datetime64(stamp.tz_convert("UTC").tz_localize(None), "ns"),
            side="right",
        )
    )
    if k == 0:
        raise DataError(f"no NYSE session has closed by {stamp}; check the clock")
    return pd.Timestamp(table.sessions[k - 1])


@dataclass(frozen=True)
class _Job:
    """One range of sessions (inclusive) to request for one ticker."""

    ticker: str
    lo: pd.Timestamp
    hi: pd.Timestamp
    before: bool  # the range lies before the cached bars


def _as_day(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(NEW_YORK).tz_localize(None)
    return stamp.normalize()


def _fmt(lo: pd.Timestamp, hi: pd.Timestamp) -> str:
    return f"{lo.date()} to {hi.date()}"


class YahooPriceSource:
    """Daily bars from Yahoo Finance (yfinance, ``auto_adjust=True``) through a parquet cache.

    ``session``: a ``requests.Session`` or ``curl_cffi.requests.Session`` handed to yfinance
    (tests inject a fake transport this way). ``deadline_s``: wall-clock limit for all downloads
    of one :meth:`load`. ``now``: the clock used to find the last completed session (default: the
    current time; tz-naive means New York).
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        session: Any = None,
        deadline_s: float = 30.0,
        now: pd.Timestamp | None = None,
    ) -> None:
        if not deadline_s > 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s!r}")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.cache = PriceCache(self.cache_dir)
        self.session = session
        self.deadline_s = float(deadline_s)
        self.now = now

    def describe(self) -> str:
        return (
            f"Yahoo Finance via yfinance {yf.__version__} (auto-adjusted), cached in "
            f"{self.cache_dir}"
        )

    def load(
        self,
        tickers: Iterable[str],
        start: pd.Timestamp | None,
        end: pd.Timestamp | None = None,
    ) -> dict[str, PriceHistory]:
        """Bars of every ticker covering ``start`` to ``end`` (both inclusive).

        ``end=None`` means up to the last completed NYSE session; a later ``end`` is capped
        there. ``start=None`` means from 1990-01-01. Each history holds the whole cache file
        (it may reach beyond the range); ``source`` is the file and ``sha256`` its bytes' hash.
        When some tickers fail, the others are still cached, then a DataError names the failed
        ones (see the module doc).
        """
        symbols = list(dict.fromkeys(validate_ticker(t) for t in tickers))
        if not symbols:
            return {}
        lo = _as_day(start if start is not None else CALENDAR_START)
        last_done = last_completed_session(self.now)
        hi = last_done if end is None else min(_as_day(end), last_done)
        if hi < lo or len(sessions_between(lo, hi)) == 0:
            raise DataError(
                f"no completed NYSE session from {lo.date()} to "
                f"{(_as_day(end) if end is not None else hi).date()} (the last completed session "
                f"is {last_done.date()}); check --start/--end"
            )

        cached = {s: self.cache.read(s) for s in symbols}
        jobs: dict[str, list[_Job]] = {}
        coverage: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
        for symbol in symbols:
            ticker_jobs, covered = _plan(symbol, cached[symbol], lo, hi)
            coverage[symbol] = covered
            if ticker_jobs:  # a fresh ticker always has one (the range has sessions)
                jobs[symbol] = ticker_jobs

        histories: dict[str, PriceHistory] = {}
        for symbol in symbols:
            entry = cached[symbol]
            if symbol not in jobs and entry is not None:
                histories[symbol] = _history(entry)
        if not jobs:
            return histories

        batches = self._download([job for js in jobs.values() for job in js])
        results = {(b.lo, b.hi): b for b in batches}
        got_any = any(
            _job_bars(results.get((j.lo, j.hi)), j) is not None for js in jobs.values() for j in js
        )
        pending: list[str] = []
        empty: dict[str, list[str]] = {}
        invalid: list[str] = []
        for symbol, ticker_jobs in jobs.items():
            entry = cached[symbol]
            parts: list[pd.DataFrame] = []
            problem: str | None = None
            for job in ticker_jobs:
                batch = results.get((job.lo, job.hi))
                if batch is None:  # not finished before the deadline
                    pending.append(symbol)
                    problem = "pending"
                    break
                bars = _job_bars(batch, job)
                if bars is not None:
                    parts.append(bars)
                elif not _empty_is_fine(entry, job, got_any):
                    problem = reason(batch, symbol)
                    empty.setdefault(problem, []).append(symbol)
                    break
            if problem is not None:
                continue
            try:
                written = self._merge_and_write(symbol, entry, parts, coverage[symbol])
            except DataError as exc:
                invalid.append(str(exc))
                continue
            histories[symbol] = _history(written)

        if pending or empty or invalid:
            raise DataError(self._failure_message(pending, empty, invalid, jobs, histories))
        return {s: histories[s] for s in symbols}

    # -- internals ------------------------------------------------------------------------------

    def _merge_and_write(
        self,
        symbol: str,
        entry: CachedPrices | None,
        parts: list[pd.DataFrame],
        covered: tuple[pd.Timestamp, pd.Timestamp],
    ) -> CachedPrices:
        new = pd.concat(parts).sort_index() if parts else None
        if new is not None:
            validate_bars(new, symbol, "Yahoo's answer")
        if entry is None:
            merged = new
        elif new is None:
            merged = entry.bars
        else:  # overlapping dates: the new answer wins
            merged = pd.concat([entry.bars.drop(new.index, errors="ignore"), new]).sort_index()
        assert merged is not None
        return self.cache.write(symbol, merged, covered[0], covered[1])

    def _download(self, jobs: list[_Job]) -> list[Batch]:
        """One batch per distinct range of dates (tickers sharing it share one call)."""
        by_range: dict[tuple[pd.Timestamp, pd.Timestamp], Batch] = {}
        for job in jobs:
            batch = by_range.setdefault((job.lo, job.hi), Batch(job.lo, job.hi, []))
            if job.ticker not in batch.tickers:
                batch.tickers.append(job.ticker)
        return download(list(by_range.values()), self.session, self.cache_dir, self.deadline_s)

    def _failure_message(
        self,
        pending: list[str],
        empty: dict[str, list[str]],
        invalid: list[str],
        jobs: dict[str, list[_Job]],
        histories: dict[str, PriceHistory],
    ) -> str:
        def ranges(names: list[str]) -> str:
            spans = {n: _fmt(jobs[n][0].lo, jobs[n][-1].hi) if jobs[n] else "" for n in names}
            if len(set(spans.values())) == 1:
                span = next(iter(spans.values()))
                return ", ".join(names) + (f" ({span})" if span else "")
            return ", ".join(f"{n} ({s})" if s else n for n, s in spans.items())

        parts: list[str] = []
        if pending:
            parts.append(
                f"Yahoo did not answer within {self.deadline_s:g} s for {ranges(pending)} "
                "(network slow or unreachable?)"
            )
        failed_set = {n for names in empty.values() for n in names}
        failed = [n for n in jobs if n in failed_set]
        if failed:
            guess = "unknown symbol or not listed yet?" if histories else "network unreachable?"
            said = "; ".join([r for r in empty if r][:2])
            parts.append(
                f"Yahoo returned no data for {ranges(failed)} ({guess})"
                + (f" [yfinance: {said}]" if said else "")
            )
        parts.extend(invalid)
        fix = OFFLINE_HINT
        if pending:
            fix = f"raise data.deadline_s or {OFFLINE_HINT}"
        elif failed and histories:
            fix = f"check the ticker symbols and dates, or {OFFLINE_HINT}"
        elif not failed:
            fix = ""
        cached_note = (
            f"; {', '.join(sorted(histories))} cached" if histories and (pending or failed) else ""
        )
        return "; ".join(parts) + cached_note + (f"; {fix}" if fix else "")


def _plan(
    symbol: str, entry: CachedPrices | None, lo: pd.Timestamp, hi: pd.Timestamp
) -> tuple[list[_Job], tuple[pd.Timestamp, pd.Timestamp]]:
    """The ranges to request (trimmed to sessions) and the coverage once they are answered."""
    if entry is None:
        gaps = [(lo, hi, False)]
        covered = (lo, hi)
    else:
        gaps = []
        if lo < entry.covered_start:
            gaps.append((lo, entry.covered_start - _ONE_DAY, True))
        if hi > entry.covered_end:
            gaps.append((entry.covered_end + _ONE_DAY, hi, False))
        covered = (min(lo, entry.covered_start), max(hi, entry.covered_end))
    jobs = []
    for g_lo, g_hi, before in gaps:
        sessions = sessions_between(g_lo, g_hi)
        if len(sessions):
            jobs.append(_Job(symbol, pd.Timestamp(sessions[0]), pd.Timestamp(sessions[-1]), before))
    return jobs, covered


def _job_bars(batch: Batch | None, job: _Job) -> pd.DataFrame | None:
    return bars_for(batch, job.ticker, job.lo, job.hi)


def _empty_is_fine(entry: CachedPrices | None, job: _Job, got_any: bool) -> bool:
    """Whether "no bars in this range" can be believed (see the module doc)."""
    if entry is None:
        return False
    if got_any:
        return True
    # Before the cached bars: believable if the cache already shows sessions without bars
    # between the covered start and the first bar (the ticker listed late).
    return (
        job.before
        and len(sessions_between(entry.covered_start, entry.bars.index[0] - _ONE_DAY)) > 0
    )


def _history(entry: CachedPrices) -> PriceHistory:
    return PriceHistory(entry.ticker, entry.bars, str(entry.path), entry.sha256)
