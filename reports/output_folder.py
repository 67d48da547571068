"""Which folders a command may write into, and what it says when it may not.

Every command writes one output folder, and nothing of the user's may ever be lost, so:

**The manifest.** Every output folder holds a ``manifest.json`` with ``"tool":
"capex-rotation"``, ``"kind"`` (the command: backtest, sweep, placebo, event-study,
walk-forward, compare...) and ``"files"``, the sorted relative paths of every file the tool
wrote there (``manifest.json`` included). :func:`stamp` adds these three keys.

**The rule** (:func:`check_destination`). A destination may be used only when it does not
exist, is an empty folder, or is a folder whose manifest parses, says tool capex-rotation and
the same kind, and which holds nothing but the files that manifest lists (a sweep also keeps its
``.checkpoint/`` and whatever is in it). Anything else raises :class:`OutputError` (one line,
exit code 2) naming the folder, why and the fix; the folder is not touched.

**Folders of the previous version** have no ``"files"`` list, and their ``"tool"`` says
``"capex-rotation sweep"`` (etc.), or plain ``"capex-rotation"`` for a backtest. Such a folder
is accepted only when every file in it is one of the names that version wrote for that kind
(:data:`PREVIOUS_VERSION_FILES`); one other file and it is refused like any other. A sweep
folder of that version killed before its first results holds only ``.checkpoint/`` (with its
``grid.json``): it is accepted as a sweep folder, so the sweep can be resumed.

**Checked before the run** (:func:`check_destination` too), so that a long run does not fail at
its end: that the destination is not a file, that its parent is a folder we can create things in
(a probe folder is made and removed: permissions, a read-only or pseudo file system such as
``/proc``), and that every name fits the file system's limits, counting the staging folder's
extra characters. Any OSError while writing later becomes :func:`os_error`: one line naming the
path and the system's reason (full disk, read-only, permission...).

Staging folders and their markers are in ``reports/staging.py``.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.errors import CapexRotationError

TOOL = "capex-rotation"
MANIFEST = "manifest.json"
MARKER = ".capex-rotation-staging.json"
CHECKPOINT = ".checkpoint"
# tempfile.mkdtemp(prefix=".NAME.", suffix=".tmp") adds a dot, 8 random characters and ".tmp".
STAGING_EXTRA = len("..") + 8 + len(".tmp")
# Room kept in a path for the deepest file we write (.checkpoint/.part-...parquet.XXXXXXXX.tmp).
DEEPEST_FILE = 64

# How a folder of each kind is named in messages.
LABELS = {
    "backtest": "a backtest run folder",
    "sweep": "a sweep folder",
    "placebo": "a placebo folder",
    "event-study": "an event-study folder",
    "walk-forward": "a walk-forward folder",
    "compare": "a comparison folder",
    "evidence": "an evidence folder",
}
# What is replaced, in "replacing the previous ... in FOLDER".
RUNS = {
    "backtest": "backtest run",
    "sweep": "sweep",
    "placebo": "placebo run",
    "event-study": "event study",
    "walk-forward": "walk-forward run",
    "compare": "comparison",
    "evidence": "evidence run",
}
# The files the previous version (manifests without "files") wrote, per kind (glob patterns).
PREVIOUS_VERSION_FILES = {
    "backtest": (
        "metrics.json",
        "equity.csv",
        "trades.csv",
        "events.csv",
        "books.csv",
        "manifest.json",
        "tearsheet.html",
        "index.html",
        "equity_events.png",
    ),
    "sweep": (
        "sweep.parquet",
        "sweep.csv",
        "manifest.json",
        "heatmap_*.png",
        "selection.json",
        "selection.md",
    ),
    "placebo": (
        "placebo.csv",
        "calendars.csv",
        "summary.csv",
        "summary.json",
        "hist_*.png",
        "index.html",
        "manifest.json",
    ),
    "event-study": (
        "event_study.csv",
        "summary.csv",
        "events.csv",
        "car_paths.png",
        "car_by_direction.png",
        "car_0_*_by_event.png",
        "README.md",
        "index.html",
        "manifest.json",
    ),
    "walk-forward": (
        "windows.csv",
        "oos_returns.csv",
        "summary.json",
        "is_vs_oos_sharpe.png",
        "oos_equity.png",
        "tearsheet.html",
        "index.html",
        "manifest.json",
    ),
    "compare": (
        "compare_equity.png",
        "compare_drawdown.png",
        "compare.csv",
        "manifest.json",
        "index.html",
    ),
}
# A file of data.atomic.write_atomically that a killed process left: ".NAME.XXXXXXXX.tmp".
ATOMIC_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")

# What to do about an OSError, by errno.
FIXES = {
    errno.ENOSPC: "free some disk space or choose another --out",
    errno.EDQUOT: "free some space (disk quota exceeded) or choose another --out",
    errno.EROFS: "that file system is read-only; choose another --out",
    errno.EACCES: "choose a folder you can write to (--out)",
    errno.EPERM: "choose a folder you can write to (--out)",
    errno.ENAMETOOLONG: "choose a shorter --out",
    errno.ENOTDIR: "a part of that path is a file; choose another --out",
    errno.EISDIR: "a folder stands where a file goes; choose another --out",
}


class OutputError(CapexRotationError):
    """The output folder cannot be used, or could not be written (nothing was left)."""


def say_on_stderr(text: str) -> None:
    """Tell the user what happened to a folder (one line on stderr)."""
    print(text, file=sys.stderr, flush=True)


def label(kind: str) -> str:
    return LABELS.get(kind, f"a {kind} folder")


def os_error(exc: OSError, action: str, path: Path | str, *, at_file: bool = True) -> OutputError:
    """One line for an OSError: ``cannot ACTION PATH: reason (at FILE); fix``."""
    reason = exc.strerror or (
        os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
    )
    filename = exc.filename if at_file else None
    where = f" (at {filename})" if filename and str(filename) != str(path) else ""
    fix = FIXES.get(exc.errno or 0, "choose another --out")
    return OutputError(f"cannot {action} {path}: {reason}{where}; {fix}")


# -- the manifest ------------------------------------------------------------------------------


def stamp(manifest: dict[str, Any], kind: str, files: list[str]) -> dict[str, Any]:
    """``manifest`` with ``tool``, ``kind`` first and the sorted ``files`` list last."""
    rest = {k: v for k, v in manifest.items() if k not in ("tool", "kind", "files")}
    return {"tool": TOOL, "kind": kind, **rest, "files": sorted(set(files))}


def manifest_kind(document: Any) -> str | None:
    """The kind of a manifest we wrote (either version), or None if it is not one of ours."""
    if not isinstance(document, dict):
        return None
    tool = document.get("tool")
    if tool == TOOL:
        kind = document.get("kind")
        if isinstance(kind, str) and kind:
            return kind
        if "kind" not in document and "config" in document and "engine" in document:
            return "backtest"  # the previous version's backtest manifest
        return None
    if isinstance(tool, str) and tool.startswith(TOOL + " "):
        kind = tool[len(TOOL) + 1 :]  # the previous version: "capex-rotation sweep"
        return kind if kind in PREVIOUS_VERSION_FILES else None
    return None


# -- the rule ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """What stands at an output path: nothing (``previous`` None) or a previous folder of ours."""

    path: Path
    previous: tuple[str, ...] | None = None  # every entry of the previous folder
    manifest: dict[str, Any] | None = None  # its manifest (None: none yet)

    def listed(self) -> list[str]:
        """The files the previous manifest lists (those the tool wrote there)."""
        files = (self.manifest or {}).get("files")
        if isinstance(files, list):
            return [f for f in files if isinstance(f, str) and _safe(f)]
        return [f for f in self.previous or () if "/" not in f and _known(f, self.kind())]

    def kind(self) -> str | None:
        return manifest_kind(self.manifest)


def check_destination(path: Path | str, kind: str, *, staged: bool = True) -> Destination:
    """Raise OutputError unless ``path`` may receive a ``kind`` folder (see the module doc).

    ``staged``: the folder is assembled beside ``path`` and renamed into place (every command
    but the sweep, which writes into the folder itself). Reads only; the probe folder it
    creates to test the parent is removed at once.
    """
    path = Path(path).expanduser().resolve()
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"output {path} is a file, not a folder; choose another --out")
    ancestor = _check_names(path, staged)
    destination = inspect(path, kind)  # before the probe: a folder not ours is not touched
    _probe(path, ancestor, staged)
    return destination


def inspect(path: Path, kind: str) -> Destination:
    """Apply the ownership rule to an existing or missing ``path`` (no probe, no name checks)."""
    if not os.path.exists(path):  # (os.path: a name too long to stat does not raise)
        return Destination(path)
    if not os.path.isdir(path):
        raise OutputError(f"output {path} is a file, not a folder; choose another --out")
    try:
        top = sorted(os.listdir(path))
    except OSError as exc:
        raise os_error(exc, "read the output folder", path) from exc
    if not top:
        return Destination(path)
    manifest = _read_manifest(path, kind, top)
    if manifest is None:  # a killed sweep of the previous version: only .checkpoint/
        return Destination(path, tuple(top), None)
    found = manifest_kind(manifest)
    if found != kind:
        _refuse(path, f"it is {label(found)}, not {label(kind)}")
    files = manifest.get("files")
    if "files" in manifest and not (
        isinstance(files, list) and all(isinstance(f, str) for f in files)
    ):
        _refuse(path, f"its {MANIFEST} has a malformed files list")
    listed = set(files) if isinstance(files, list) else None
    entries, foreign = _entries(path, lambda e: _ours(e, kind, listed))
    if foreign:
        _refuse(path, f"it holds {_shown(foreign)}, which capex-rotation did not write", move=True)
    return Destination(path, tuple(entries), manifest)


def _read_manifest(path: Path, kind: str, top: list[str]) -> dict[str, Any] | None:
    file = path / MANIFEST
    shown = (
        [  # (only the first names are shown: a home folder may hold thousands)
            n + "/" if os.path.isdir(path / n) and not os.path.islink(path / n) else n
            for n in top[:3]
        ]
        + top[3:]
    )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if top == [CHECKPOINT] and _is_checkpoint(path / CHECKPOINT):
            if kind == "sweep":
                return None
            _refuse(
                path, f"it is {label('sweep')} (a sweep's {CHECKPOINT} only), not {label(kind)}"
            )
        _refuse(path, f"it holds {_shown(shown)}, which capex-rotation did not write", move=True)
    except (UnicodeDecodeError, IsADirectoryError):
        text = ""
    except OSError as exc:
        raise os_error(exc, "read", file) from exc
    try:
        document = json.loads(text)
    except ValueError:
        document = None
        reason = "is not valid JSON"
    else:
        reason = "is not a capex-rotation manifest"
    if manifest_kind(document) is None:
        _refuse(
            path,
            f"it holds {_shown(shown)}, which capex-rotation did not write "
            f"(its {MANIFEST} {reason})",
            move=True,
        )
    return document


def _shown(names: list[str]) -> str:
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _refuse(path: Path, why: str, move: bool = False) -> None:
    fix = "choose another --out" + (", or move those files out of it" if move else "")
    raise OutputError(f"output folder {path} is not empty and cannot be used: {why}; {fix}")


def _is_checkpoint(folder: Path) -> bool:
    try:
        meta = json.loads((folder / "grid.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "digest" in meta


def _safe(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts and "" not in parts


def _known(name: str, kind: str | None) -> bool:
    patterns = PREVIOUS_VERSION_FILES.get(kind or "", (MANIFEST,))
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _ours(entry: str, kind: str, listed: set[str] | None) -> bool:
    if entry in (MANIFEST, MARKER):
        return True
    if kind == "sweep" and (entry == CHECKPOINT + "/" or entry.startswith(CHECKPOINT + "/")):
        return True
    if kind == "sweep" and "/" not in entry and ATOMIC_TEMPORARY.match(entry):
        return True  # a file a killed sweep was writing (the sweep writes in place)
    if listed is not None:
        return entry in listed
    return "/" not in entry and _known(entry, kind)


def _entries(
    path: Path, ours: Callable[[str], bool], most: int = 10
) -> tuple[list[str], list[str]]:
    """Every file (and empty folder, as ``name/``) under ``path``; stops after ``most`` foreign
    ones. ``.checkpoint`` is not walked into (all of it belongs to the sweep)."""
    entries: list[str] = []
    foreign: list[str] = []
    for root, folders, files in os.walk(path):
        rel = os.path.relpath(root, path)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        names = list(files)
        for folder in list(folders):
            full = os.path.join(root, folder)
            if os.path.islink(full) or (not prefix and folder == CHECKPOINT):
                names.append(folder + ("/" if folder == CHECKPOINT else ""))
                folders.remove(folder)
            elif not os.listdir(full):
                names.append(folder + "/")
        folders.sort()
        for name in sorted(names):
            entry = prefix + name
            entries.append(entry)
            if not ours(entry):
                foreign.append(entry)
                if len(foreign) >= most:
                    return entries, foreign
    return entries, foreign


def _check_names(path: Path, staged: bool) -> Path:
    """Names within the file system's limits, below an existing folder; return that folder (the
    nearest existing ancestor)."""
    ancestor = path.parent
    while not os.path.exists(ancestor):
        ancestor = ancestor.parent
    if not os.path.isdir(ancestor):
        raise OutputError(
            f"cannot create output folder {path}: its parent {ancestor} is a file, not a "
            "folder; choose another --out"
        )
    name_max = _limit(ancestor, "PC_NAME_MAX", 255)
    path_max = _limit(ancestor, "PC_PATH_MAX", 4096)
    names = path.relative_to(ancestor).parts
    for k, name in enumerate(names):
        size = len(os.fsencode(name))
        staging = staged and k == len(names) - 1
        room = name_max - STAGING_EXTRA if staging else name_max
        if size > room:
            why = f"; the staging folder beside it adds {STAGING_EXTRA}" if staging else ""
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise OutputError(
                f"cannot create output folder {path}: the name {shown} is {size} characters "
                f"long, more than the {room} that fit (file names have at most {name_max}"
                f"{why}); choose a shorter --out"
            )
    if len(os.fsencode(str(path))) + DEEPEST_FILE > path_max:
        raise OutputError(
            f"cannot create output folder {path}: its path is {len(str(path))} characters long, "
            f"too long for the files inside it (at most {path_max - DEEPEST_FILE}); choose a "
            "shorter --out"
        )
    return ancestor


def _probe(path: Path, ancestor: Path, staged: bool) -> None:
    """Create and remove a folder where ours will be created (in ``path`` itself for a folder
    written in place): the only reliable test of permissions, read-only and pseudo file
    systems (``/proc``), whoever runs us (root passes os.access)."""
    where = path if (not staged and os.path.isdir(path)) else ancestor
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".capex-rotation-probe-", dir=where))
    except OSError as exc:
        error = os_error(
            exc, f"create output folder {path}: nothing can be created in", where, at_file=False
        )
        raise error from exc


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(folder, name))
    except (OSError, ValueError, AttributeError):
        return default


def check_can_create(path: Path | str, *, staged: bool = True) -> None:
    """The checks of :func:`check_destination` that need no folder yet: names within the file
    system's limits, a parent we can create things in. For a default destination whose name
    is known only after the run (it holds a hash of the results' inputs): pass a name of the
    same length."""
    path = Path(path).expanduser().resolve()
    _probe(path, _check_names(path, staged), staged)
