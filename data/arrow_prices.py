"""The fast path for price files: Arrow's C CSV reader for files that are well formed.

It only parses (no validation, no messages): :func:`data.prices.read_bars_fast` decides whether
its result may be used, and falls back to the row-by-row parser of :mod:`data.prices` whenever
anything is off, so every located message (file, line, column) comes from that parser.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

_TYPES = {"date": pa.date32(), "number": pa.float64()}


@dataclass(frozen=True)
class ArrowColumn:
    """One parsed column: its values (``datetime64[D]`` or ``float64``) and how many cells were
    empty (Arrow nulls; their values are NaT or NaN)."""

    values: np.ndarray
    empty: int


def arrow_columns(
    raw: bytes, header: list[str], kinds: dict[str, str]
) -> dict[str, ArrowColumn] | None:
    """Parse the columns named in ``kinds`` ("date" or "number") of CSV bytes whose first line
    is the header ``header`` (already split, one name per field); None when Arrow refuses the
    file (a wrong field count, an unparsable cell, a newline inside a quoted cell...).

    Only an empty cell is empty: "NA", "null" or "nan" are not (they are text, or NaN).
    """
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(
                column_names=header, skip_rows=1, use_threads=False, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: _TYPES[kind] for name, kind in kinds.items()},
                include_columns=list(kinds),
                null_values=[""],
                true_values=[],
                false_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    out = {}
    for name in kinds:
        column = table.column(name)
        values = column.to_numpy()
        if kinds[name] == "date":
            values = values.astype("datetime64[D]")
        out[name] = ArrowColumn(values, column.null_count)
    return out
