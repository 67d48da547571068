"""Price source ``yahoo``: yfinance downloads kept in an on-disk parquet cache.

Only dates the cache does not cover yet are requested (see :mod:`data.price_cache`): before the
covered start and after the covered end; a requested range already covered costs no request.
Request ends are capped at the last COMPLETED NYSE session as of ``now`` (a session is complete
after its close), so a partial intraday bar is never cached.

yfinance's own ``timeout`` bounds single requests only (its cookie and time-zone requests have
their own hard-coded timeouts), so downloads run in a daemon worker thread under a whole-call
wall-clock deadline. yfinance is called with ``threads=False``: with ``threads=True`` it starts
non-daemon ``multitasking`` threads, and a hung request would then keep the process from
exiting after our deadline error.

Failures: a ticker for which Yahoo returned nothing (unknown symbol, empty answer, network
error) or that did not finish before the deadline gets no cache file (an existing one is left
untouched); the tickers that did succeed are still validated and cached; then one
:class:`DataError` names the failed tickers and suggests ``--data-dir``.

An empty answer for a range is accepted (coverage extended, no bars added) only for a ticker
that already has cached bars AND either another request of the same call returned bars (so
Yahoo was reachable), or the range lies before the cached bars and the cache already shows the
listing (covered sessions without bars before the first bar). Otherwise it is an error: offline,
yfinance also answers "nothing".

Side effects on yfinance (process-wide, done once): its tz/cookie caches are pointed at
``<cache_dir>/yfinance`` (the first source to download wins: yfinance ignores later moves once
its caches are open); its logger stops propagating and only feeds our error messages; its pandas
deprecation warnings are ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import platformdirs
import yfinance as yf

from data.calendar import CALENDAR_START, NEW_YORK, nyse, sessions_between
from data.errors import DataError
from data.price_cache import CachedPrices, PriceCache
from data.prices import PRICE_FIELDS, PriceHistory, validate_bars, validate_ticker

CACHE_ENV = "CAPEX_ROTATION_CACHE"
OFFLINE_HINT = "run offline with --data-dir DIR pointing at <TICKER>.csv files"
_YAHOO_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close",
                  "Volume": "volume"}
_ONE_DAY = pd.Timedelta(days=1)

# One download at a time per process: yfinance keeps its session in a process-wide singleton
# (YfData), so concurrent downloads with different sessions would mix them up.
_DOWNLOAD_LOCK = threading.Lock()
_SETUP_LOCK = threading.Lock()
_yf_cache_dir: Path | None = None
_capture: _ErrorCapture | None = None

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"yfinance(\.|$)")


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
    closes = nyse().closes
    k = int(np.searchsorted(closes.to_numpy(dtype="datetime64[ns]"),
                            np.datetime64(stamp.tz_convert("UTC").tz_localize(None), "ns"),
                            side="right"))
    if k == 0:
        raise DataError(f"no NYSE session has closed by {stamp}; check the clock")
    return pd.Timestamp(closes.index[k - 1])


class _ErrorCapture(logging.Handler):
    """Collects yfinance's ERROR log lines per thread while a download runs; drops the rest."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._buffers: dict[int, list[str]] = {}

    def begin(self) -> list[str]:
        buffer: list[str] = []
        self._buffers[threading.get_ident()] = buffer
        return buffer

    def end(self) -> None:
        self._buffers.pop(threading.get_ident(), None)

    def emit(self, record: logging.LogRecord) -> None:
        buffer = self._buffers.get(record.thread or 0)
        if buffer is not None:
            with contextlib.suppress(Exception):  # a bad record must not break the download
                buffer.append(record.getMessage())


def _setup_yfinance(cache_dir: Path) -> _ErrorCapture:
    """Point yfinance's caches into ours and silence its logger (once per process)."""
    global _yf_cache_dir, _capture
    with _SETUP_LOCK:
        if _yf_cache_dir is None:
            target = cache_dir / "yfinance"
            target.mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(target))
            _yf_cache_dir = target
        if _capture is None:
            logger = logging.getLogger("yfinance")
            _capture = _ErrorCapture()
            logger.addHandler(_capture)
            logger.propagate = False
        return _capture


@dataclass(frozen=True)
class _Job:
    """One range of sessions (inclusive) to request for one ticker."""

    ticker: str
    lo: pd.Timestamp
    hi: pd.Timestamp
    before: bool  # the range lies before the cached bars


@dataclass
class _Batch:
    """The tickers requested for one range, and what came back."""

    lo: pd.Timestamp
    hi: pd.Timestamp
    tickers: list[str]
    frame: pd.DataFrame | None = None
    reasons: dict[str, str] | None = None
    error: str | None = None


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
            _bars_for(results.get((j.lo, j.hi)), j) is not None for js in jobs.values() for j in js
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
                bars = _bars_for(batch, job)
                if bars is not None:
                    parts.append(bars)
                elif not _empty_is_fine(entry, job, got_any):
                    problem = _reason(batch, symbol)
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

    def _download(self, jobs: list[_Job]) -> list[_Batch]:
        """Run one yf.download per distinct range in a daemon thread; wait at most the deadline.

        Returns the batches that finished (with a frame or an error) before the deadline.
        """
        by_range: dict[tuple[pd.Timestamp, pd.Timestamp], _Batch] = {}
        for job in jobs:
            batch = by_range.setdefault((job.lo, job.hi), _Batch(job.lo, job.hi, []))
            if job.ticker not in batch.tickers:
                batch.tickers.append(job.ticker)
        batches = list(by_range.values())
        capture = _setup_yfinance(self.cache_dir)
        done: list[_Batch] = []
        lock = threading.Lock()
        cancel = threading.Event()

        def work() -> None:
            for batch in batches:
                while not _DOWNLOAD_LOCK.acquire(timeout=0.05):
                    if cancel.is_set():
                        return
                try:
                    if cancel.is_set():
                        return
                    self._download_batch(batch, capture)
                finally:
                    _DOWNLOAD_LOCK.release()
                with lock:
                    done.append(batch)

        worker = threading.Thread(target=work, name="capex-rotation-yahoo", daemon=True)
        worker.start()
        worker.join(self.deadline_s)
        if worker.is_alive():
            cancel.set()
        with lock:
            return list(done)

    def _download_batch(self, batch: _Batch, capture: _ErrorCapture) -> None:
        """One yf.download call (runs in the worker thread); fills batch.frame or batch.error."""
        yf_data = getattr(getattr(yf, "data", None), "YfData", None)
        clear = getattr(getattr(yf_data, "cache_get", None), "cache_clear", None)
        if callable(clear):  # yfinance keeps answers (failures included) in an in-process LRU
            clear()
        messages = capture.begin()
        try:
            frame = yf.download(
                batch.tickers,
                start=batch.lo.date().isoformat(),
                end=(batch.hi + _ONE_DAY).date().isoformat(),  # yfinance's end is exclusive
                auto_adjust=True,
                actions=False,
                progress=False,
                multi_level_index=True,
                group_by="column",
                threads=False,
                session=self.session,
            )
            batch.frame = frame if frame is not None else pd.DataFrame()
        except Exception as exc:  # yfinance raises for a bad session, rate limits, ...
            batch.error = f"{type(exc).__name__}: {exc}"
        finally:
            capture.end()
        batch.reasons = _parse_reasons(messages)

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
            jobs.append(_Job(symbol, pd.Timestamp(sessions[0]), pd.Timestamp(sessions[-1]),
                             before))
    return jobs, covered


def _bars_for(batch: _Batch | None, job: _Job) -> pd.DataFrame | None:
    """The job's bars from its batch's yfinance frame, or None when there are none."""
    if batch is None or batch.frame is None or batch.frame.empty:
        return None
    frame = batch.frame
    columns = frame.columns
    if isinstance(columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in columns.names else columns.nlevels - 1
        if job.ticker not in columns.get_level_values(level):
            return None
        sub = frame.xs(job.ticker, axis=1, level=level)
    elif len(batch.tickers) == 1:
        sub = frame
    else:
        return None
    if any(c not in sub.columns for c in _YAHOO_COLUMNS):
        return None
    sub = sub[list(_YAHOO_COLUMNS)].rename(columns=_YAHOO_COLUMNS)
    sub = sub.dropna(how="all")  # rows that only exist for the batch's other tickers
    if sub.empty:
        return None
    index = pd.DatetimeIndex(sub.index)
    if index.tz is not None:
        index = index.tz_convert(NEW_YORK).tz_localize(None)
    bars = pd.DataFrame(
        {name: sub[name].to_numpy(dtype="float64") for name in PRICE_FIELDS},
        index=pd.DatetimeIndex(index.normalize().as_unit("ns"), name="date"),
    )
    bars = bars[(bars.index >= job.lo) & (bars.index <= job.hi)]
    return bars if len(bars) else None


def _empty_is_fine(entry: CachedPrices | None, job: _Job, got_any: bool) -> bool:
    """Whether "no bars in this range" can be believed (see the module doc)."""
    if entry is None:
        return False
    if got_any:
        return True
    # Before the cached bars: believable if the cache already shows sessions without bars
    # between the covered start and the first bar (the ticker listed late).
    return job.before and len(
        sessions_between(entry.covered_start, entry.bars.index[0] - _ONE_DAY)
    ) > 0


_SUMMARY = re.compile(r"^\[(?P<names>[^\]]*)\]: (?P<reason>.*)$", re.DOTALL)


def _parse_reasons(messages: list[str]) -> dict[str, str]:
    """Ticker -> yfinance's failure reason, from its "['T1', 'T2']: reason" summary lines."""
    reasons: dict[str, str] = {}
    for message in messages:
        match = _SUMMARY.match(message.strip())
        if not match:
            continue
        reason = re.sub(r"\s*for url: [^'\s)]+", "", match["reason"])
        reason = " ".join(reason.split())
        if len(reason) > 120:
            reason = reason[:117] + "..."
        for name in re.findall(r"'([^']+)'", match["names"]):
            reasons[name.upper()] = reason
    return reasons


def _reason(batch: _Batch, symbol: str) -> str:
    if batch.error:
        return batch.error if len(batch.error) <= 120 else batch.error[:117] + "..."
    return (batch.reasons or {}).get(symbol, "")


def _history(entry: CachedPrices) -> PriceHistory:
    return PriceHistory(entry.ticker, entry.bars, str(entry.path), entry.sha256)
