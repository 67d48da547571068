"""Errors caused by what the user gave us (files, tickers, dates, config).

Every layer raises subclasses of :class:`CapexRotationError`; the CLI prints the message as one
line and exits with code 2. Messages say what is wrong, where (file, line, column, ticker, key)
and, when we can tell, how to fix it.
"""

from __future__ import annotations


class CapexRotationError(Exception):
    """Base class for errors the user can fix; ``str(err)`` is the one-line message."""


class DataError(CapexRotationError):
    """A price file, event file, universe or data source is unusable."""


class Interrupted(CapexRotationError):
    """The user pressed Ctrl-C; the message says what was kept (exit code 130)."""

    exit_code = 130


def where(path: object, line: int | None = None, column: str | None = None) -> str:
    """Format a location as ``path, line N, column C`` for error messages."""
    parts = [str(path)]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)
