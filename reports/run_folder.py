"""Writing output folders under the rule of ``reports/output_folder.py``, in one of two ways.

**Staged** (:func:`write_run_folder`, every command but the sweep): the files are written into
a marked ``.NAME.*.tmp`` folder beside the destination and renamed into place at the end, so a
failed, interrupted or out-of-space run leaves nothing half-written (and a previous folder as it
was). The destination is checked before anything is written and again just before it is
replaced, so a file the user drops into it during a long run is never deleted.

**In place** (:class:`InPlaceFolder`, the sweep, whose checkpoint grows as it runs): the folder
is checked and locked before the first write; a new folder gets a provisional manifest at once
(so that what a killed sweep leaves is still recognisably ours); the outputs are committed
together (``data.atomic.write_together``) with the manifest last.

Either way the manifest gets ``tool``, ``kind`` and the ``files`` list (``output_folder.stamp``),
and replacing a previous folder says so on stderr.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from data.atomic import raise_if_interrupted, write_atomically, write_together
from reports.fast_csv import write_plain_csv
from reports.output_folder import (
    ATOMIC_TEMPORARY,
    MANIFEST,
    MARKER,
    RUNS,
    OutputError,
    check_destination,
    inspect,
    os_error,
    say_on_stderr,
    stamp,
)
from reports.parallel import run_concurrently
from reports.staging import listing, make_staging, remove_stale

Writer = Callable[[Path], None]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, document: Any) -> None:
    text = json.dumps(_json_safe(document), indent=2, sort_keys=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def write_csv(path: Path, frame: pd.DataFrame, index: bool = False) -> None:
    """CSV with dates as YYYY-MM-DD and floats at full precision (byte-identical reruns).
    Plain tables take a faster writer with the same bytes (reports/fast_csv.py)."""
    if not index and write_plain_csv(path, frame):
        return
    frame.to_csv(path, index=index, date_format="%Y-%m-%d", lineterminator="\n")


def _noun(kind: str) -> str:
    return RUNS.get(kind, kind)


# -- staged ------------------------------------------------------------------------------------


@contextmanager
def staged_folder(
    destination: Path, kind: str, say: Callable[[str], None] = say_on_stderr
) -> Iterator[Path]:
    """Yield a marked staging folder; on success it replaces ``destination`` atomically.

    Raises OutputError before anything is written if ``destination`` may not be used, and
    turns any OSError while writing into one (nothing is left behind).
    """
    destination = Path(destination).expanduser().resolve()
    if destination.parent.is_dir():
        remove_stale(destination.parent, say)
    check_destination(destination, kind)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = make_staging(destination, ".tmp")
    except OSError as exc:
        raise os_error(exc, f"create the {_noun(kind)} folder", destination) from exc
    try:
        yield staging
        raise_if_interrupted()
        _commit(staging, destination, kind, say)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise os_error(exc, f"write the {_noun(kind)} folder", destination) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _commit(staging: Path, destination: Path, kind: str, say: Callable[[str], None]) -> None:
    current = inspect(destination, kind)  # again: the user may have added a file meanwhile
    if current.previous is None:
        os.replace(staging, destination)  # also over an empty folder
    else:
        say(f"replacing the previous {_noun(kind)} in {destination}")
        retired = make_staging(destination, ".old")
        try:
            os.replace(destination, retired / "run")
            os.replace(staging, destination)
        except BaseException:
            if (retired / "run").is_dir() and not os.path.exists(destination):
                os.replace(retired / "run", destination)  # put the previous folder back
            shutil.rmtree(retired, ignore_errors=True)
            raise
        shutil.rmtree(retired, ignore_errors=True)
    with contextlib.suppress(OSError):
        (destination / MARKER).unlink()


def write_run_folder(
    destination: Path,
    files: dict[str, Writer],
    *,
    kind: str,
    manifest: dict[str, Any] | None = None,
    say: Callable[[str], None] = say_on_stderr,
    concurrent: Iterable[str] = (),
) -> Path:
    """Create ``destination`` with one file per entry of ``files`` (name -> writer(path)), then
    ``manifest.json``: ``manifest`` stamped with the tool, ``kind`` and the files written.

    The files named in ``concurrent`` (slow, independent writers: plots, the tear sheet) are
    written by forked workers (:mod:`reports.parallel`) while this process writes the others;
    the bytes are the same as when written one after the other.
    """
    with staged_folder(destination, kind, say) as staging:
        slow = set(concurrent)
        write_concurrently([(staging / n, w) for n, w in files.items()], [n in slow for n in files])
        written = [*listing(staging), MANIFEST]
        write_json(staging / MANIFEST, stamp(manifest or {}, kind, written))
    return Path(destination).expanduser().resolve()


def write_concurrently(pairs: list[tuple[Path, Writer]], background: list[bool]) -> None:
    """Write every (path, writer) pair; those flagged in ``background`` in forked workers
    (:mod:`reports.parallel`) while this process writes the others."""
    if not any(background):
        for path, writer in pairs:
            writer(path)
        return

    def foreground() -> None:
        for (path, writer), later in zip(pairs, background, strict=True):
            if not later:
                writer(path)

    run_concurrently(
        {
            str(path): partial(writer, path)
            for (path, writer), later in zip(pairs, background, strict=True)
            if later
        },
        meanwhile=foreground,
    )


# -- in place ----------------------------------------------------------------------------------


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (two sweeps never write into one folder at once)."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise os_error(exc, "open the output folder", folder) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"another capex-rotation process is writing into {folder}; wait for it to "
                "finish or choose another --out"
            ) from None
        except OSError:
            pass  # a file system without locks
        yield
    finally:
        os.close(fd)


class InPlaceFolder:
    """An output folder written where it stands; see the module doc. Open it with :meth:`open`."""

    def __init__(self, path: Path, kind: str, say: Callable[[str], None]) -> None:
        self.path = path
        self.kind = kind
        self.say = say

    @classmethod
    @contextmanager
    def open(
        cls, path: Path, kind: str, say: Callable[[str], None] = say_on_stderr
    ) -> Iterator[InPlaceFolder]:
        """Check ``path`` (OutputError if it may not be used), create and lock it, and remove
        the temporary files a killed run of ours left in it."""
        destination = check_destination(path, kind, staged=False)
        folder = destination.path
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, f"create the {_noun(kind)} folder", folder) from exc
        with _locked(folder):
            try:
                if destination.manifest is None:
                    first = stamp({"complete": False}, kind, [MANIFEST])
                    write_atomically(folder / MANIFEST, lambda p: write_json(p, first))
                for name in os.listdir(folder):
                    if ATOMIC_TEMPORARY.match(name) and (folder / name).is_file():
                        (folder / name).unlink()
            except OSError as exc:
                raise os_error(exc, f"write the {_noun(kind)} folder", folder) from exc
            yield cls(folder, kind, say)

    def commit(
        self, files: dict[str, Writer], manifest: dict[str, Any], concurrent: Iterable[str] = ()
    ) -> None:
        """Write ``files`` together (those named in ``concurrent`` by forked workers, as in
        :func:`write_run_folder`), then the manifest; remove files of the previous run that
        this one did not write again. A failure leaves every file as it was."""
        slow = [name in set(concurrent) for name in files]
        current = inspect(self.path, self.kind)
        before = set(current.listed())
        names = {*files, MANIFEST}
        path = self.path / MANIFEST

        def pending() -> None:  # until the end, the manifest covers old and new files
            everything = sorted(before | names)
            write_atomically(
                path, lambda p: write_json(p, stamp({"complete": False}, self.kind, everything))
            )
            if before - {MANIFEST}:
                self.say(f"replacing the previous {_noun(self.kind)} in {self.path}")

        try:
            write_together(
                [(self.path / n, w) for n, w in files.items()],
                before_renames=pending,
                write_all=lambda pairs: write_concurrently(pairs, slow),
            )
            write_atomically(
                path, lambda p: write_json(p, stamp(manifest, self.kind, sorted(names)))
            )
            for name in sorted(before - names):
                stale = self.path / name
                if stale.is_file() and not stale.is_symlink():
                    stale.unlink()
        except OSError as exc:
            raise os_error(exc, f"write the {_noun(self.kind)} folder", self.path) from exc
