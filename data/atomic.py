"""Writing a file all-or-nothing: a temporary file beside it, then a rename over it.

A crash or an error leaves either the old file or the new one, never a partial one. Used for
the price cache, checkpoints and every output written outside a staged run folder.

Interrupts. The command line marks a Ctrl-C (:func:`mark_interrupted`) before it raises
KeyboardInterrupt. Every commit (the final rename here and of a staged run folder) first calls
:func:`raise_if_interrupted`, so even when a library swallows the KeyboardInterrupt, an
interrupted run never puts a file in place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

_INTERRUPTED = threading.Event()


def mark_interrupted() -> None:
    """Record that the user interrupted this process (the CLI's SIGINT handler calls it)."""
    _INTERRUPTED.set()


def was_interrupted() -> bool:
    return _INTERRUPTED.is_set()


def clear_interrupted() -> None:
    """Forget an interrupt (tests that run several commands in one process)."""
    _INTERRUPTED.clear()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if the process was interrupted: call it before any commit."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def _temporary(path: Path) -> Path:
    """An empty temporary file beside ``path``: ``.NAME.XXXXXXXX.tmp``."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def _as_new_file(tmp: Path) -> None:
    """Give ``tmp`` the permissions the umask gives a new file (mkstemp makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def write_atomically(
    path: Path,
    write: Callable[[Path], None],
    durable: bool = False,
    record: bool = False,
) -> None:
    """Call ``write(temporary_path)``, then rename the result to ``path``.

    ``durable`` also fsyncs the file and its folder, so the new file survives a power cut
    (the price cache wants that; report files do not need it). The file gets the permissions
    the umask gives a new file (mkstemp alone would make it private). ``record``: the file
    records work already finished (a sweep's checkpoint part), so it is committed even after
    an interrupt — that is what lets a rerun continue where Ctrl-C stopped.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        _as_new_file(tmp)
        if not record:
            raise_if_interrupted()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_directory(path.parent)


def write_together(
    items: Sequence[tuple[Path, Callable[[Path], None]]],
    before_renames: Callable[[], None] | None = None,
    write_all: Callable[[list[tuple[Path, Callable[[Path], None]]]], None] | None = None,
) -> None:
    """Write several files, all or none: each to a temporary beside it, then, once every one
    is written (and ``before_renames()`` has run), rename them all into place.

    ``write_all(pairs)``, when given, writes every (temporary, writer) pair itself (in
    parallel, say); by default they are written one after the other.

    A failure while writing (a full disk) or an interrupt leaves every file as it was and no
    temporary behind. Used by folders written in place (the sweep's), whose files must not be
    left half-updated: a new ``sweep.parquet`` beside an old ``sweep.csv``.
    """
    written: list[tuple[Path, Path]] = []
    try:
        pairs = []
        for path, write in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temporary(path)
            written.append((tmp, path))
            pairs.append((tmp, write))
        if write_all is None:
            for tmp, write in pairs:
                write(tmp)
        else:
            write_all(pairs)
        for tmp, _ in pairs:
            _as_new_file(tmp)
        if before_renames is not None:
            before_renames()
        raise_if_interrupted()
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def write_bytes_atomically(path: Path, raw: bytes, durable: bool = False) -> None:
    write_atomically(path, lambda tmp: tmp.write_bytes(raw), durable)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
