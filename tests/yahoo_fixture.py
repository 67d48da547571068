"""A fake Yahoo Finance transport for offline tests of the ``yahoo`` price source.

:class:`FakeYahoo` is a ``requests`` transport adapter. Mount it on a ``requests.Session`` with
:meth:`FakeYahoo.session` and pass that session to yfinance (``session=``): yfinance then runs
its real request and parsing code (yfinance 1.7.0: ``scrapers/history.py``, ``utils.parse_quotes``,
``data.YfData``) against answers built here, and nothing touches the network.

What yfinance 1.7.0 asks for, and what is answered (read from its sources):

- ``https://fc.yahoo.com`` (cookie, ``data.py:_get_cookie_basic``): 200, empty body.
- ``https://query1.finance.yahoo.com/v1/test/getcrumb``: 200, a crumb string.
- ``https://guce.yahoo.com/consent`` (the "csrf" cookie strategy, tried after any HTTP >= 400):
  404, so yfinance falls back to the basic strategy.
- ``https://query2.finance.yahoo.com/v8/finance/chart/<SYM>``:
  - ``range=1d`` (time-zone lookup, ``base.py:_fetch_ticker_tz``; skipped once yfinance's tz
    cache knows the symbol) and ``period1``/``period2`` (the history request; ``period1`` is
    midnight New York of the start day, ``period2`` midnight of the day after the last day);
  - bars are stamped at the 09:30 New York open, as Yahoo does for daily bars, and served when
    ``period1 <= stamp < period2`` (start inclusive, end exclusive);
  - JSON fields: ``chart.result[0].meta`` (``exchangeTimezoneName``, ``currency``,
    ``instrumentType``, ``gmtoffset``, ``dataGranularity``, ``currentTradingPeriod``,
    ``validRanges``...), ``timestamp``, ``indicators.quote[0].open/high/low/close/volume``,
    ``indicators.adjclose[0].adjclose``; ``chart.error`` for unknown symbols (HTTP 404).
- anything else (e.g. ``/v10/finance/quoteSummary`` for the time-zone fallback): 404.

Modes per symbol (:meth:`FakeYahoo.set_mode`): ``"ok"`` (the default for a symbol with a frame),
``"empty"`` (a valid answer without bars), ``"unknown"`` (404 + "No data found"; the default for
a symbol without a frame), ``"timeout"`` (raise ``requests.exceptions.ReadTimeout`` at once) and
``"hang"`` (block until :meth:`FakeYahoo.release` or ``block_s`` seconds, then raise
``ReadTimeout``). Every request is recorded in :attr:`FakeYahoo.requests`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

NEW_YORK = "America/New_York"
CRUMB = "fake-crumb"
MODES = ("ok", "empty", "unknown", "timeout", "hang")
_VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]


def ny_midnight(day: str | pd.Timestamp) -> int:
    """Epoch seconds of midnight New York on ``day`` (what yfinance sends as period1/period2)."""
    return int(pd.Timestamp(day).normalize().tz_localize(NEW_YORK).timestamp())


def make_bars(first: str, sessions: int, base: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """``sessions`` NYSE sessions of plausible OHLCV bars from ``first`` on, in the project's shape.

    Index: tz-naive ``DatetimeIndex`` named ``date`` (datetime64[ns], midnight); float columns
    ``open, high, low, close, volume``.
    """
    from data.calendar import nyse

    days = nyse().sessions_in_range(
        pd.Timestamp(first), pd.Timestamp(first) + pd.Timedelta(days=sessions * 2 + 10)
    )[:sessions]
    rng = np.random.default_rng(seed)
    close = base * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(days))))
    open_ = close * (1 + rng.normal(0.0, 0.005, len(days)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.01, len(days)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.01, len(days)))
    volume = rng.integers(1_000_000, 5_000_000, len(days)).astype(float)
    index = pd.DatetimeIndex(days.to_numpy(), name="date", freq=None).as_unit("ns")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake transport received."""

    method: str
    url: str
    host: str
    path: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def symbol(self) -> str | None:
        prefix = "/v8/finance/chart/"
        return self.path[len(prefix) :] if self.path.startswith(prefix) else None

    @property
    def period1(self) -> int | None:
        return int(self.params["period1"]) if "period1" in self.params else None

    @property
    def period2(self) -> int | None:
        return int(self.params["period2"]) if "period2" in self.params else None

    @property
    def is_history(self) -> bool:
        """A chart request for a date range (not the ``range=1d`` time-zone lookup)."""
        return self.symbol is not None and self.period1 is not None


def _epoch_of_opens(index: pd.DatetimeIndex) -> np.ndarray:
    """09:30 New York of each date, as epoch seconds (Yahoo's stamp for a daily bar)."""
    opens = (index.normalize() + pd.Timedelta(hours=9, minutes=30)).tz_localize(NEW_YORK)
    return (opens.tz_convert("UTC").as_unit("s").asi8).astype(np.int64)


class FakeYahoo(BaseAdapter):
    """A requests transport answering like Yahoo's v8 chart API from in-memory frames.

    ``frames`` maps symbols to OHLCV frames (columns ``open, high, low, close, volume``, optional
    ``adj_close``; a date index). Without ``adj_close`` the adjusted close equals the close, so
    yfinance's ``auto_adjust=True`` leaves the values unchanged.
    """

    def __init__(
        self, frames: dict[str, pd.DataFrame] | None = None, *, block_s: float = 30.0
    ) -> None:
        super().__init__()
        self.frames: dict[str, pd.DataFrame] = {}
        self.modes: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self.block_s = block_s
        self._released = threading.Event()
        self._lock = threading.Lock()
        for symbol, frame in (frames or {}).items():
            self.add(symbol, frame)

    # -- configuration --------------------------------------------------------------------------

    def add(self, symbol: str, frame: pd.DataFrame) -> None:
        self.frames[symbol.upper()] = frame

    def set_mode(self, symbol: str, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        self.modes[symbol.upper()] = mode

    def mode(self, symbol: str) -> str:
        return self.modes.get(symbol, "ok" if symbol in self.frames else "unknown")

    def session(self) -> requests.Session:
        """A plain ``requests.Session`` whose every http(s) request goes to this fake."""
        session = requests.Session()
        session.mount("https://", self)
        session.mount("http://", self)
        return session

    def release(self) -> None:
        """Let every blocked ("hang") request fail now, and later ones at once."""
        self._released.set()

    # -- inspection -----------------------------------------------------------------------------

    def history_requests(self, symbol: str | None = None) -> list[RecordedRequest]:
        """Chart requests for a date range (period1/period2), optionally for one symbol."""
        with self._lock:
            recorded = list(self.requests)
        return [r for r in recorded if r.is_history and (symbol is None or r.symbol == symbol)]

    # -- transport ------------------------------------------------------------------------------

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        recorded = RecordedRequest(
            request.method, request.url, parts.hostname or "", parts.path, params
        )
        with self._lock:
            self.requests.append(recorded)

        if recorded.host == "fc.yahoo.com":
            return self._response(request, 200, b"", "text/html")
        if recorded.path == "/v1/test/getcrumb":
            return self._response(request, 200, CRUMB.encode(), "text/plain")
        symbol = recorded.symbol
        if symbol is None:
            body = {
                "finance": {
                    "result": None,
                    "error": {"code": "Not Found", "description": "Not found"},
                }
            }
            return self._json(request, 404, body)

        mode = self.mode(symbol)
        if mode == "timeout":
            raise requests.exceptions.ReadTimeout(f"fake Yahoo: read timed out ({request.url})")
        if mode == "hang":
            self._released.wait(self.block_s)
            raise requests.exceptions.ReadTimeout(f"fake Yahoo: blocked request ({request.url})")
        if mode == "unknown":
            body = {
                "chart": {
                    "result": None,
                    "error": {
                        "code": "Not Found",
                        "description": "No data found, symbol may be delisted",
                    },
                }
            }
            return self._json(request, 404, body)
        frame = self.frames.get(symbol) if mode == "ok" else None
        return self._json(request, 200, self.chart(symbol, frame, params))

    def close(self) -> None:
        self.release()

    # -- answers --------------------------------------------------------------------------------

    def chart(self, symbol: str, frame: pd.DataFrame | None, params: dict[str, str]) -> dict:
        """The v8 chart JSON for ``symbol`` restricted to the request's period (or range)."""
        rows = (
            frame
            if frame is not None
            else pd.DataFrame(
                columns=["open", "high", "low", "close", "volume"], index=pd.DatetimeIndex([])
            )
        )
        stamps = _epoch_of_opens(pd.DatetimeIndex(rows.index))
        if "period1" in params:
            keep = (stamps >= int(params["period1"])) & (stamps < int(params["period2"]))
        else:  # range=1d (time-zone lookup): the last bar only
            keep = np.zeros(len(stamps), dtype=bool)
            keep[-1:] = True
        rows, stamps = rows[keep], stamps[keep]

        now = int(pd.Timestamp.now("UTC").timestamp())
        period = {"timezone": "EST", "start": now, "end": now + 3600, "gmtoffset": -18000}
        meta = {
            "currency": "USD",
            "symbol": symbol,
            "exchangeName": "NMS",
            "fullExchangeName": "NasdaqGS",
            "instrumentType": "INDEX" if symbol.startswith("^") else "EQUITY",
            "firstTradeDate": int(_epoch_of_opens(pd.DatetimeIndex(frame.index[:1]))[0])
            if frame is not None and len(frame)
            else None,
            "regularMarketTime": int(stamps[-1]) if len(stamps) else now,
            "hasPrePostMarketData": True,
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": NEW_YORK,
            "regularMarketPrice": float(rows["close"].iloc[-1]) if len(rows) else 1.0,
            "chartPreviousClose": float(rows["close"].iloc[0]) if len(rows) else 1.0,
            "priceHint": 2,
            "currentTradingPeriod": {
                "pre": dict(period),
                "regular": dict(period),
                "post": dict(period),
            },
            "dataGranularity": params.get("interval", "1d"),
            "range": params.get("range", ""),
            "validRanges": list(_VALID_RANGES),
        }
        result: dict = {"meta": meta}
        if len(rows):
            adj = rows["adj_close"] if "adj_close" in rows.columns else rows["close"]
            result["timestamp"] = [int(s) for s in stamps]
            result["indicators"] = {
                "quote": [
                    {
                        "open": [float(v) for v in rows["open"]],
                        "high": [float(v) for v in rows["high"]],
                        "low": [float(v) for v in rows["low"]],
                        "close": [float(v) for v in rows["close"]],
                        "volume": [int(v) for v in rows["volume"]],
                    }
                ],
                "adjclose": [{"adjclose": [float(v) for v in adj]}],
            }
        else:  # what Yahoo sends for a range without bars
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return {"chart": {"result": [result], "error": None}}

    @staticmethod
    def _json(request, status: int, body: dict) -> requests.Response:
        return FakeYahoo._response(request, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _response(request, status: int, content: bytes, content_type: str) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.reason = "OK" if status < 400 else "Not Found"
        response._content = content
        response.headers = CaseInsensitiveDict({"Content-Type": content_type})
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response
