"""Staging folders beside an output folder, and the markers that let a later run clean up.

Staged folders (``reports/run_folder.py``) are written in ``.NAME.*.tmp``
beside the destination, and a replaced folder is moved aside to ``.NAME.*.old`` first. Both hold
:data:`MARKER`, naming our process (pid, its start time, the host and the boot). A later run
removes those left by killed runs (:func:`remove_stale`): only folders with our marker, and only
when that process is gone. A moved-aside folder whose replacement never arrived is put back.
Folders of the previous version carry no marker and are never removed: nothing proves that
they are ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reports.output_folder import MARKER, TOOL, say_on_stderr


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def write_marker(folder: Path, destination: str, pid: int | None = None) -> None:
    """Mark ``folder`` (a staging or moved-aside folder) as this process's, for ``destination``
    (the final folder's name, beside it)."""
    pid = os.getpid() if pid is None else pid
    document = {
        "tool": TOOL,
        "destination": destination,
        "pid": pid,
        "started": _start_time(pid),
        "host": socket.gethostname(),
        "boot": _boot_id(),
    }
    (folder / MARKER).write_text(json.dumps(document) + "\n", encoding="utf-8")


def _is_stale(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` if it is ours and its process is gone, else None."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != TOOL:
        return None
    pid = marker.get("pid")
    if marker.get("host") != socket.gethostname() or not isinstance(pid, int):
        return None  # another machine's: we cannot tell whether it still runs
    boot = _boot_id()
    if boot is not None and marker.get("boot") not in (None, boot):
        return marker  # written before a reboot
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return marker
    except OSError:
        return None  # alive, another user's
    started = marker.get("started")
    return marker if started is not None and _start_time(pid) != started else None


def remove_stale(parent: Path, say: Callable[[str], None] = say_on_stderr) -> None:
    """Remove the ``.NAME.*.tmp`` and ``.NAME.*.old`` folders in ``parent`` that killed runs of
    ours left, putting back a moved-aside folder whose replacement never arrived. Best effort."""
    try:
        candidates = sorted(os.scandir(parent), key=lambda e: e.name)
    except OSError:
        return
    for entry in candidates:
        name = entry.name
        if not (name.startswith(".") and name.endswith((".tmp", ".old"))):
            continue
        folder = Path(entry.path)
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False):
                continue
            marker = _is_stale(folder)
            if marker is None:
                continue
            kept, destination = folder / "run", str(marker.get("destination", ""))
            target = parent / destination
            if (
                name.endswith(".old")
                and kept.is_dir()
                and _plain(destination)
                and not target.exists()
            ):
                os.replace(kept, target)
                say(f"restored {target}, which a killed run had moved aside to replace it")
            shutil.rmtree(folder)
            say(f"removed {folder}, left by a killed run")


def _plain(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..")


def make_staging(destination: Path, suffix: str) -> Path:
    """A marked, empty ``.NAME.XXXXXXXX<suffix>`` folder beside ``destination``."""
    folder = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=suffix, dir=destination.parent)
    )
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(folder, 0o777 & ~umask)  # mkdtemp makes it private; a report folder is not
        write_marker(folder, destination.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def listing(folder: Path) -> list[str]:
    """Relative paths of every file under ``folder`` but the staging marker (sorted)."""
    out = []
    for root, _, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        for name in files:
            entry = name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"
            if entry != MARKER:
                out.append(entry)
    return sorted(out)
