"""A sweep's checkpoint: its finished tasks, keyed on the grid and on the inputs.

Every finished task is one parquet part in ``<out>/.checkpoint``, written atomically, so an
interrupted sweep resumes where it stopped and a kill -9 loses at most the task in flight.
Results are reused only for the same grid on the same input files and package version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from backtests.grid import Grid
from data.atomic import write_atomically, write_bytes_atomically
from data.errors import CapexRotationError
from reports.output_folder import CHECKPOINT, os_error, say_on_stderr


class CheckpointError(CapexRotationError):
    """The folder holds another grid's checkpoint, or one that cannot be read."""


def _package_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("capex-rotation")
    except metadata.PackageNotFoundError:
        return None


class Checkpoint:
    """Finished tasks of one grid on given inputs, as parquet parts in ``<out>/.checkpoint``.

    ``grid.json`` records the grid's digest, the sha256 of every input file (``inputs``: path ->
    sha256) and the package version. Another grid's checkpoint is refused (SweepError: it is
    another experiment's work). Other inputs or another version make the parts stale: they are
    deleted, and every config is computed again (``say`` tells why in one line), so results and
    manifest always describe the current files. Partial files a killed write left
    (``.part-*.tmp``) are removed on opening.
    """

    def __init__(
        self,
        out_dir: Path,
        grid: Grid,
        inputs: dict[str, str],
        say: Callable[[str], None] = say_on_stderr,
    ) -> None:
        self.folder = out_dir / CHECKPOINT
        self.grid = grid
        meta = self.folder / "grid.json"
        key = {
            "digest": grid.digest,
            "path": grid.path,
            "inputs": dict(sorted(inputs.items())),
            "version": _package_version(),
        }
        saved = self._read(meta)
        if saved is not None and saved.get("digest") != grid.digest:
            raise CheckpointError(
                f"{out_dir} holds a sweep of another grid ({saved.get('path')}); choose "
                "another --out or delete that folder"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        for partial in self.folder.glob(".*.tmp"):  # a killed process's unfinished write
            partial.unlink()
        if saved == key:
            return
        parts = sorted(self.folder.glob("part-*.parquet"))
        if saved is not None and parts:
            say(
                f"the checkpoint in {self.folder} was computed on {_difference(saved, key)}; "
                f"recomputing all {len(grid)} configs"
            )
            for part in parts:
                part.unlink()
        write_bytes_atomically(meta, (json.dumps(key, indent=1) + "\n").encode())

    @staticmethod
    def _read(meta: Path) -> dict[str, Any] | None:
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"{meta} cannot be read ({exc}); delete the .checkpoint folder to start over"
            ) from None
        if not isinstance(saved, dict):
            raise CheckpointError(f"{meta} is not a checkpoint; delete it to start over")
        return saved

    def load(self) -> pd.DataFrame:
        parts = sorted(self.folder.glob("part-*.parquet"))
        if not parts:
            return pd.DataFrame()
        frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        return frame.drop_duplicates("config", keep="last")

    def save(self, frame: pd.DataFrame) -> None:
        first = int(frame["config"].iloc[0])
        target = self.folder / f"part-{first:09d}-{len(frame):06d}.parquet"
        try:
            write_atomically(target, lambda tmp: frame.to_parquet(tmp, index=False), record=True)
        except OSError as exc:
            raise os_error(exc, "write the sweep checkpoint", target) from exc


def _difference(saved: dict[str, Any], key: dict[str, Any]) -> str:
    """What differs between a checkpoint's record and the current inputs, in a few words."""
    before, now = saved.get("inputs"), key["inputs"]
    if not isinstance(before, dict):
        return "inputs it did not record (an earlier version wrote it)"
    changed = sorted(p for p in set(before) | set(now) if before.get(p) != now.get(p))
    if changed:
        names = ", ".join(Path(p).name for p in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"other inputs ({names}{more} changed)"
    return f"capex-rotation {saved.get('version')}, not {key['version']}"
