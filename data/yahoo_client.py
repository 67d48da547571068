"""The yfinance call behind the ``yahoo`` source: one download per range of dates, in a daemon
worker thread under a whole-call wall-clock deadline.

yfinance's own ``timeout`` bounds single requests only (its cookie and time-zone requests have
their own hard-coded timeouts), hence the thread and the deadline. yfinance is called with
``threads=False``: with ``threads=True`` it starts non-daemon ``multitasking`` threads, and a hung
request would then keep the process from exiting after our deadline error.

Side effects on yfinance (process-wide, done once): its tz/cookie caches are pointed at
``<cache_dir>/yfinance`` (the first download wins: yfinance ignores later moves once its caches
are open); its logger stops propagating and only feeds our error messages; its pandas
deprecation warnings are ignored.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yfinance as yf

from data.calendar import NEW_YORK
from data.prices import PRICE_FIELDS

_YAHOO_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Volume": "volume",
}
_ONE_DAY = pd.Timedelta(days=1)

# One download at a time per process: yfinance keeps its session in a process-wide singleton
# (YfData), so concurrent downloads with different sessions would mix them up.
_DOWNLOAD_LOCK = threading.Lock()
_SETUP_LOCK = threading.Lock()
_yf_cache_dir: Path | None = None
_capture: ErrorCapture | None = None

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"yfinance(\.|$)")


class ErrorCapture(logging.Handler):
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


def _setup_yfinance(cache_dir: Path) -> ErrorCapture:
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
            _capture = ErrorCapture()
            logger.addHandler(_capture)
            logger.propagate = False
        return _capture


@dataclass
class Batch:
    """The tickers requested for one range, and what came back."""

    lo: pd.Timestamp
    hi: pd.Timestamp
    tickers: list[str]
    frame: pd.DataFrame | None = None
    reasons: dict[str, str] | None = None
    error: str | None = None


def download(batches: list[Batch], session: Any, cache_dir: Path, deadline_s: float) -> list[Batch]:
    """Run one yf.download per batch in a daemon thread; wait at most ``deadline_s`` in all.

    Returns the batches that finished (with a frame or an error) before the deadline.
    """
    capture = _setup_yfinance(cache_dir)
    done: list[Batch] = []
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
                _download_batch(batch, capture, session)
            finally:
                _DOWNLOAD_LOCK.release()
            with lock:
                done.append(batch)

    worker = threading.Thread(target=work, name="capex-rotation-yahoo", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        cancel.set()
    with lock:
        return list(done)


def _download_batch(batch: Batch, capture: ErrorCapture, session: Any) -> None:
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
            session=session,
        )
        batch.frame = frame if frame is not None else pd.DataFrame()
    except Exception as exc:  # yfinance raises for a bad session, rate limits, ...
        batch.error = f"{type(exc).__name__}: {exc}"
    finally:
        capture.end()
    batch.reasons = parse_reasons(messages)


def bars_for(
    batch: Batch | None, ticker: str, lo: pd.Timestamp, hi: pd.Timestamp
) -> pd.DataFrame | None:
    """``ticker``'s bars from ``lo`` to ``hi`` in a batch's yfinance frame (None if none)."""
    if batch is None or batch.frame is None or batch.frame.empty:
        return None
    frame = batch.frame
    columns = frame.columns
    if isinstance(columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in columns.names else columns.nlevels - 1
        if ticker not in columns.get_level_values(level):
            return None
        sub = frame.xs(ticker, axis=1, level=level)
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
    bars = bars[(bars.index >= lo) & (bars.index <= hi)]
    return bars if len(bars) else None


_SUMMARY = re.compile(r"^\[(?P<names>[^\]]*)\]: (?P<reason>.*)$", re.DOTALL)


def parse_reasons(messages: list[str]) -> dict[str, str]:
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


def reason(batch: Batch, symbol: str) -> str:
    if batch.error:
        return batch.error if len(batch.error) <= 120 else batch.error[:117] + "..."
    return (batch.reasons or {}).get(symbol, "")
