"""Reading the user's text files: one place for "missing", "unreadable", "not UTF-8", and for
walking CSV rows with the line numbers error messages need."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from data.errors import DataError

CELL_LIMIT = csv.field_size_limit()  # 131,072 characters unless someone changed it


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


class SourceText(str):
    """Text decoded from a file, which remembers the file (``path``) for error messages."""

    path: str

    def __new__(cls, text: str, path: Path | str) -> SourceText:
        value = super().__new__(cls, text)
        value.path = str(path)
        return value


def decode_text(raw: bytes, path: Path | str) -> SourceText:
    """UTF-8 text (a leading byte-order mark is dropped), remembering ``path``."""
    try:
        return SourceText(raw.decode("utf-8-sig"), path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def csv_rows(text: str, path: Path | str | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank CSV row, the header included.

    The line number is where the row ends in the file, as a text editor counts lines. A cell
    over :data:`CELL_LIMIT` characters (the csv module's limit; no price, date, timestamp or
    headline is that long) raises a DataError naming the file (``path``, else the file
    :func:`decode_text` read ``text`` from) and the line.
    """
    reader = csv.reader(io.StringIO(text))
    name = path if path is not None else getattr(text, "path", "<text>")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            if "field larger than field limit" in str(exc):
                raise DataError(
                    f"{name}, line {line}: a cell is longer than {CELL_LIMIT:,} characters (the "
                    "limit of the CSV reader); is a quote left open, or is it another file?"
                ) from None
            raise DataError(f"{name}, line {line}: not valid CSV ({exc})") from None
        if row and any(cell.strip() for cell in row):
            yield reader.line_num, row
