"""Reading the user's text files: one place for "missing", "unreadable", "not UTF-8", and for
walking CSV rows with the line numbers error messages need."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from data.errors import DataError


def read_input(path: Path | str, what: str, hint: str = "") -> bytes:
    """The bytes of ``path``; a one-line DataError naming ``what`` it is when it cannot be read.

    ``hint`` is appended to the "does not exist" message (e.g. "; pass --events FILE").
    """
    file = Path(path)
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {file} does not exist{hint}") from None
    except IsADirectoryError:
        raise DataError(f"{what} {file} is a folder, not a file{hint}") from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {file}: {exc.strerror or exc}") from None


def decode_text(raw: bytes, path: Path | str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank CSV row, the header included.

    The line number is where the row ends in the file, as a text editor counts lines.
    """
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        if row and any(cell.strip() for cell in row):
            yield reader.line_num, row
