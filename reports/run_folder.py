"""The run folder: every output file of a backtest, written all-or-nothing.

Files are written into a hidden temporary folder beside the destination and renamed into place
at the end, so a failed or interrupted run leaves no half-written report. A destination that
exists is replaced only if it is a previous run folder (it has a manifest.json); any other
non-empty folder is refused.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from data.atomic import raise_if_interrupted
from data.errors import CapexRotationError
from reports.fast_csv import write_plain_csv
from reports.parallel import run_concurrently

MANIFEST = "manifest.json"


class OutputError(CapexRotationError):
    """The output folder cannot be used."""


def check_destination(path: Path) -> None:
    """Fail early (before a run) if ``path`` cannot receive a run folder."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder; choose another --out")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).is_file():
        raise OutputError(
            f"output folder {path} is not empty and is not a previous run (no {MANIFEST}); "
            "choose another --out or empty it"
        )
    parent = path.parent
    if parent.exists() and not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write into {parent}; choose another --out")


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


@contextmanager
def staged_folder(destination: Path):
    """Yield a temporary folder; on success it replaces ``destination`` atomically."""
    destination = destination.resolve()
    check_destination(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    )
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a report folder is not
    try:
        yield staging
        raise_if_interrupted()  # a Ctrl-C swallowed by a library still commits nothing
        if destination.exists():
            retired = Path(
                tempfile.mkdtemp(
                    prefix=f".{destination.name}.", suffix=".old", dir=destination.parent
                )
            )
            os.replace(destination, retired / "run")
            os.replace(staging, destination)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_run_folder(
    destination: Path,
    files: dict[str, Callable[[Path], None]],
    concurrent: Iterable[str] = (),
) -> Path:
    """Create ``destination`` with one file per entry of ``files`` (name -> writer(path)).

    The files named in ``concurrent`` (slow, independent writers: plots, the tear sheet) are
    written by forked workers (:mod:`reports.parallel`) while this process writes the others;
    the bytes are the same as when written one after the other.
    """
    background = [name for name in files if name in set(concurrent)]
    with staged_folder(destination) as staging:

        def foreground() -> None:
            for name, writer in files.items():
                if name not in background:
                    writer(staging / name)

        run_concurrently(
            {name: partial(files[name], staging / name) for name in background},
            meanwhile=foreground,
        )
    return destination.resolve()
