"""On-disk price cache: one parquet file per ticker, written atomically.

``<dir>/<TICKER>.parquet`` holds a ticker's validated daily bars (index ``date``, float columns
``open, high, low, close, volume``). Its parquet schema metadata, under the key
``capex_rotation``, records the COVERED request range: ``covered_start`` and ``covered_end``
(ISO dates, both inclusive). Coverage is what was asked for and answered, not the span of the
bars, so a ticker that lists late (no bars before its listing) is not asked again for the years
before it. Every bar lies inside the covered range.

Tickers are valid file names as they are (``data.prices.validate_ticker`` allows only letters,
digits, ``.``, ``-``, ``=`` and a leading ``^``), so ``^SOX`` is stored as ``^SOX.parquet``.

Writes go to a temporary file in the same folder, which is flushed, fsync'ed and then renamed
over the old file with ``os.replace``: a crash or an error leaves either the old file or the new
one, never a partial file. Temporary files start with ``.`` and end with ``.tmp``.

Corruption policy: a cache file that cannot be read, lacks the metadata, or whose bars fail
validation is REPORTED (a :class:`DataError` naming the file and saying to delete it, after
which it is downloaded again); it is never silently replaced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.atomic import write_bytes_atomically
from data.errors import DataError
from data.prices import PRICE_FIELDS, validate_bars, validate_ticker

METADATA_KEY = b"capex_rotation"
CACHE_FORMAT = 1
SUFFIX = ".parquet"


@dataclass(frozen=True)
class CachedPrices:
    """A ticker's cache file as read or written: bars, covered range, path and sha256 of bytes."""

    ticker: str
    bars: pd.DataFrame
    covered_start: pd.Timestamp
    covered_end: pd.Timestamp
    path: Path
    sha256: str


class PriceCache:
    """Per-ticker parquet files in ``directory`` (created on the first write)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser()

    def path(self, ticker: str) -> Path:
        return self.directory / f"{validate_ticker(ticker)}{SUFFIX}"

    def read(self, ticker: str) -> CachedPrices | None:
        """The cached bars of ``ticker``, or None when there is no cache file.

        Raises :class:`DataError` when the file exists but is unusable (see the module doc).
        """
        symbol = validate_ticker(ticker)
        path = self.path(symbol)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DataError(
                f"{symbol}: cannot read cache file {path}: {exc.strerror or exc}; check its "
                "permissions or delete it"
            ) from exc
        try:
            bars, covered_start, covered_end = _decode(raw, symbol)
            validate_bars(bars, symbol, str(path))
        except (DataError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:
            reason = str(exc).replace("\n", " ")
            raise DataError(
                f"{symbol}: cache file {path} is corrupted or from another version ({reason}); "
                "delete it and it will be downloaded again"
            ) from exc
        return CachedPrices(
            symbol, bars, covered_start, covered_end, path, hashlib.sha256(raw).hexdigest()
        )

    def write(
        self,
        ticker: str,
        bars: pd.DataFrame,
        covered_start: pd.Timestamp,
        covered_end: pd.Timestamp,
    ) -> CachedPrices:
        """Validate ``bars`` and replace the ticker's cache file atomically."""
        symbol = validate_ticker(ticker)
        path = self.path(symbol)
        covered_start = pd.Timestamp(covered_start).normalize()
        covered_end = pd.Timestamp(covered_end).normalize()
        bars = _normalise(bars)
        validate_bars(bars, symbol, f"bars to cache in {path}")
        if covered_start > covered_end:
            raise DataError(
                f"{symbol}: covered range {covered_start.date()} to {covered_end.date()} is "
                "empty (internal error)"
            )
        if bars.index[0] < covered_start or bars.index[-1] > covered_end:
            raise DataError(
                f"{symbol}: bars {bars.index[0].date()} to {bars.index[-1].date()} lie outside "
                f"the covered range {covered_start.date()} to {covered_end.date()} (internal "
                "error)"
            )
        raw = _encode(bars, symbol, covered_start, covered_end)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(path, raw, durable=True)
        except OSError as exc:
            raise DataError(
                f"{symbol}: cannot write cache file {path}: {exc.strerror or exc}; free disk "
                "space, fix the folder's permissions or set CAPEX_ROTATION_CACHE to another "
                "folder"
            ) from exc
        return CachedPrices(
            symbol, bars, covered_start, covered_end, path, hashlib.sha256(raw).hexdigest()
        )


def _normalise(bars: pd.DataFrame) -> pd.DataFrame:
    """The project's bar shape: ns midnight tz-naive index named ``date``, float OHLCV columns."""
    index = pd.DatetimeIndex(bars.index)
    if index.tz is not None:
        raise DataError("bars to cache have a time-zone-aware index (internal error)")
    frame = pd.DataFrame(
        {name: bars[name].to_numpy(dtype="float64") for name in PRICE_FIELDS},
        index=pd.DatetimeIndex(index.as_unit("ns"), name="date"),
    )
    return frame


def _encode(
    bars: pd.DataFrame, ticker: str, covered_start: pd.Timestamp, covered_end: pd.Timestamp
) -> bytes:
    table = pa.Table.from_pandas(bars, preserve_index=True)
    ours = {
        "format": CACHE_FORMAT,
        "ticker": ticker,
        "covered_start": covered_start.date().isoformat(),
        "covered_end": covered_end.date().isoformat(),
    }
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps(ours, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _decode(raw: bytes, ticker: str) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    table = pq.read_table(pa.BufferReader(raw))
    metadata = table.schema.metadata or {}
    if METADATA_KEY not in metadata:
        raise ValueError("no capex_rotation metadata")
    ours = json.loads(metadata[METADATA_KEY])
    if ours.get("format") != CACHE_FORMAT:
        raise ValueError(f"cache format {ours.get('format')!r}, expected {CACHE_FORMAT}")
    if ours.get("ticker") != ticker:
        raise ValueError(f"the file holds ticker {ours.get('ticker')!r}")
    covered_start = pd.Timestamp(ours["covered_start"])
    covered_end = pd.Timestamp(ours["covered_end"])
    frame = table.to_pandas()
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.name != "date":
        raise ValueError("no 'date' index")
    missing = [c for c in PRICE_FIELDS if c not in frame.columns]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    bars = _normalise(frame)
    if len(bars) and (bars.index[0] < covered_start or bars.index[-1] > covered_end):
        raise ValueError("bars outside the covered range")
    return bars, covered_start, covered_end
