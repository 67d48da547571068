"""pandas' ``to_csv`` bytes for plain tables, written faster.

For a frame of float64, int64, bool and string columns, pandas formats every float with numpy's
shortest round-trip repr (the same digits as Python's ``repr``), writes a missing value as an
empty field, and hands the fields to Python's ``csv`` writer (QUOTE_MINIMAL). Doing exactly
that, without pandas' per-block conversions, gives the same bytes in about a quarter less time on
the event study's 288,000-row table (the float reprs are most of what is left). Any other
column type (dates, categories, objects that are not all strings) is left to pandas.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

CHUNK_ROWS = 50_000  # rows formatted at a time: memory stays bounded
_NUMERIC = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))


def _plain(column: pd.Series) -> bool:
    dtype = column.dtype
    if dtype in _NUMERIC or isinstance(dtype, pd.StringDtype):
        return True
    if dtype == np.dtype(object):  # strings and missing values only
        kind = pd.api.types.infer_dtype(column, skipna=True)
        return kind in ("string", "empty")
    return False


def _text(column: pd.Series) -> list[str]:
    dtype = column.dtype
    if dtype == np.float64:
        values = column.to_numpy()
        out = list(map(repr, values.tolist()))
        for k in np.flatnonzero(np.isnan(values)).tolist():
            out[k] = ""
        return out
    if dtype in _NUMERIC:
        return [str(v) for v in column.to_numpy().tolist()]
    values = column.to_numpy(dtype=object, na_value=None).tolist()
    return ["" if v is None else v for v in values]


def write_plain_csv(path: Path, frame: pd.DataFrame) -> bool:
    """Write ``frame`` (no index) as ``frame.to_csv(path, index=False, lineterminator="\\n")``
    would; return False, writing nothing, when a column is not one of the plain types."""
    names = list(frame.columns)
    if not names or len(set(names)) != len(names) or not all(isinstance(c, str) for c in names):
        return False
    if not all(_plain(frame[name]) for name in names):
        return False
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(names)
        for start in range(0, len(frame), CHUNK_ROWS):
            block = frame.iloc[start : start + CHUNK_ROWS]
            writer.writerows(zip(*(_text(block[name]) for name in names), strict=True))
    return True
