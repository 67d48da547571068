"""Output folders: nothing of the user's is ever touched (issue 11, defects 1, 2, 12, 13, 22).

The rule (reports/output_folder.py): a destination may be used when it does not exist, is an
empty folder, or is a folder whose manifest says capex-rotation wrote it, for the same command,
and which holds nothing but the files that manifest lists. Anything else is one line, exit 2,
and the folder is left exactly as it was.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from clitools import assert_one_line_error, run_cli

from reports import output_folder, staging
from reports.run_folder import write_run_folder

REPO = Path(__file__).resolve().parents[1]
SHORT = ["--start", "2026-05-01"]  # a quick backtest
GRID = '[run]\nstart = 2026-01-02\n[grid]\n"strategy.hold_sessions" = [1, 5]\n'


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), hidden ones included."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def command(name: str, data: Path, tmp_path: Path) -> list[str]:
    """A quick run of command ``name`` (its --out is appended by the caller)."""
    if name == "backtest":
        return ["backtest", "--data-dir", str(data), *SHORT, "--no-tearsheet"]
    if name == "placebo":
        return ["placebo", "--data-dir", str(data), "--draws", "5", "--start", "2025-06-02"]
    if name == "event-study":
        return ["event-study", "--data-dir", str(data), "--start", "2024-01-02"]
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    if name == "walk-forward":
        return [
            "walk-forward",
            str(grid),
            "--data-dir",
            str(data),
            "--train",
            "3m",
            "--test",
            "2m",
            "--step",
            "2m",
            "--no-tearsheet",
        ]
    if name == "sweep":
        return ["sweep", str(grid), "--data-dir", str(data), "--top", "0"]
    assert name == "compare"
    return ["compare", str(tmp_path / "run-a"), str(tmp_path / "run-b")]


COMMANDS = ["backtest", "placebo", "event-study", "walk-forward", "compare", "sweep"]


@pytest.fixture
def two_runs(tmp_path, shared_market_data):
    """Two real backtest run folders (for compare)."""
    base = ["backtest", "--data-dir", str(shared_market_data), *SHORT, "--no-tearsheet"]
    for name, hold in (("run-a", 5), ("run-b", 3)):
        code = run_cli_quiet([*base, "--set", f"strategy.hold_sessions={hold}"], tmp_path / name)
        assert code == 0
    return tmp_path / "run-a", tmp_path / "run-b"


def run_cli_quiet(args: list[str], out: Path) -> int:
    from backtests import cli

    return cli.main([*args, "--out", str(out)])


# -- defect 1 and 2: a folder we did not write is never replaced or written into ---------------


def _foreign_folders(tmp_path: Path) -> dict[str, Path]:
    """Folders a careless --out may name, each with a manifest.json that is not ours for
    every command, or files beside one of ours."""
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    (web / "manifest.json").write_text('{"name": "my-web-app", "short_name": "app"}\n')
    (web / "src" / "app.js").write_text("console.log('mine')\n")
    (web / "index.php").write_text("<?php echo 1;\n")

    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / ".bashrc").write_text("export PS1='$ '\n")
    (home / "Documents" / "taxes.pdf").write_bytes(b"%PDF-1.4 mine")

    own_sweep = tmp_path / "own-sweep"  # the user's own sweep.csv and manifest.json
    own_sweep.mkdir()
    (own_sweep / "sweep.csv").write_text("a,b\n1,2\n")
    (own_sweep / "manifest.json").write_text('{"tool": "my-own-script"}\n')

    photo = tmp_path / "photo"  # one of ours (legacy backtest manifest) plus a photo
    photo.mkdir()
    (photo / "manifest.json").write_text(
        json.dumps({"tool": "capex-rotation", "command": [], "config": {}, "engine": "x"})
    )
    (photo / "equity.csv").write_text("date,equity\n")
    (photo / "holiday.jpg").write_bytes(b"\xff\xd8\xff\xe0 a photo")
    return {"web": web, "home": home, "own-sweep": own_sweep, "photo": photo}


@pytest.mark.parametrize("name", COMMANDS)
def test_no_command_writes_into_a_folder_it_did_not_write(
    name, capsys, shared_market_data, tmp_path, request
):
    if name == "compare":
        request.getfixturevalue("two_runs")
    folders = _foreign_folders(tmp_path)
    args = command(name, shared_market_data, tmp_path)
    for key, folder in folders.items():
        before = snapshot(folder)
        code, _, err = run_cli(capsys, *args, "--out", str(folder))
        line = assert_one_line_error(code, err, str(folder), "choose another --out")
        if key == "web":
            assert "did not write" in line, line
        assert snapshot(folder) == before, (name, key)
        assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("name", "other", "fragment"),
    [
        ("sweep", "backtest", "it is a backtest run folder, not a sweep folder"),
        ("backtest", "sweep", "it is a sweep folder, not a backtest run folder"),
        ("placebo", "backtest", "it is a backtest run folder, not a placebo folder"),
        ("compare", "sweep", "it is a sweep folder, not a comparison folder"),
    ],
)
def test_a_folder_of_another_command_is_refused(
    name, other, fragment, capsys, shared_market_data, tmp_path, two_runs
):
    theirs = tmp_path / f"{other}-out"
    code, _, err = run_cli(
        capsys, *command(other, shared_market_data, tmp_path), "--out", str(theirs)
    )
    assert code == 0, err
    before = snapshot(theirs)
    code, _, err = run_cli(
        capsys, *command(name, shared_market_data, tmp_path), "--out", str(theirs)
    )
    assert_one_line_error(code, err, fragment)
    assert snapshot(theirs) == before


def test_files_beside_a_previous_run_keep_it_from_being_replaced(
    capsys, shared_market_data, tmp_path
):
    out = tmp_path / "run"
    args = command("backtest", shared_market_data, tmp_path)
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert code == 0, err
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("mine")
    before = snapshot(out)
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert_one_line_error(code, err, "notes/todo.txt", "capex-rotation did not write")
    assert snapshot(out) == before


@pytest.mark.parametrize("name", COMMANDS)
def test_manifest_lists_every_file_and_a_rerun_replaces_it(
    name, capsys, shared_market_data, tmp_path, request
):
    if name == "compare":
        request.getfixturevalue("two_runs")
    out = tmp_path / "out"
    args = command(name, shared_market_data, tmp_path)
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert code == 0, err
    assert "replacing" not in err
    manifest = json.loads((out / "manifest.json").read_text())
    kind = name
    assert (manifest["tool"], manifest["kind"]) == ("capex-rotation", kind)
    written = sorted(p for p in snapshot(out) if not p.startswith(".checkpoint/"))
    assert manifest["files"] == written
    assert "manifest.json" in written
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert code == 0, err
    assert f"in {out.resolve()}" in err and "previous" in err


def test_a_folder_of_the_previous_version_is_replaced_only_if_it_holds_known_files(
    capsys, shared_market_data, tmp_path
):
    args = command("backtest", shared_market_data, tmp_path)
    legacy = {"tool": "capex-rotation", "command": ["backtest"], "config": {}, "engine": "bt"}
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps(legacy))
    for name in ("metrics.json", "equity.csv", "index.html", "equity_events.png"):
        (old / name).write_text("old")
    code, _, err = run_cli(capsys, *args, "--out", str(old))
    assert code == 0, err
    assert "replacing the previous backtest run in" in err
    assert json.loads((old / "manifest.json").read_text())["kind"] == "backtest"

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "manifest.json").write_text(json.dumps(legacy))
    (mixed / "equity.csv").write_text("old")
    (mixed / "cv.docx").write_text("mine")
    code, _, err = run_cli(capsys, *args, "--out", str(mixed))
    assert_one_line_error(code, err, "cv.docx", "did not write")
    assert (mixed / "cv.docx").read_text() == "mine"


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a capex-rotation manifest"),
        ('{"tool": "capex-rotation", "kind": "backtest", "files": "x"}', "malformed"),
        ('{"tool": "other-tool", "kind": "backtest", "files": []}', "not a capex-rotation"),
    ],
)
def test_a_manifest_that_is_not_ours_is_refused(manifest, fragment, tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest)
    with pytest.raises(output_folder.OutputError) as info:
        output_folder.check_destination(folder, "backtest")
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_or_missing_folders_are_usable(tmp_path):
    (tmp_path / "empty").mkdir()
    assert output_folder.check_destination(tmp_path / "empty", "backtest").previous is None
    assert output_folder.check_destination(tmp_path / "new" / "deeper", "sweep").previous is None


def test_a_sweep_folder_keeps_its_checkpoint_and_drops_its_own_stale_heatmaps(
    capsys, shared_market_data, tmp_path
):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        '[run]\nstart = 2026-01-02\n[grid]\n"strategy.hold_sessions" = [1, 5]\n'
        '"strategy.gross" = [0.5, 1.0]\n"costs.slippage_bps" = [0, 5]\n'
    )
    out = tmp_path / "sw"
    base = ["sweep", str(grid), "--data-dir", str(shared_market_data), "--out", str(out)]
    code, _, err = run_cli(capsys, *base, "--top", "0")
    assert code == 0, err
    first = json.loads((out / "manifest.json").read_text())["files"]
    assert "heatmap_sharpe_strategy-gross_costs-slippage_bps.png" in first
    code, _, err = run_cli(
        capsys, *base, "--top", "0", "--heatmap", "strategy.hold_sessions,strategy.gross"
    )
    assert code == 0, err
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert files == [
        "heatmap_sharpe_strategy-hold_sessions_strategy-gross.png",
        "manifest.json",
        "selection.json",
        "selection.md",
        "sweep.csv",
        "sweep.parquet",
    ]
    assert sorted(p for p in snapshot(out) if not p.startswith(".checkpoint/")) == files


# -- defect 12: a full disk --------------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_writing_a_run_folder(capsys, monkeypatch, shared_market_data, tmp_path):
    monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc)
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys, *command("backtest", shared_market_data, tmp_path), "--out", str(out)
    )
    assert_one_line_error(code, err, str(out.resolve()), "No space left on device")
    assert list(tmp_path.iterdir()) == []  # no staging folder left either


def test_full_disk_keeps_a_previous_run_intact(capsys, monkeypatch, shared_market_data, tmp_path):
    out = tmp_path / "run"
    args = command("backtest", shared_market_data, tmp_path)
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert code == 0, err
    before = snapshot(out)
    monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc)
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    assert_one_line_error(code, err, "No space left on device", "free")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("moment", ["checkpoint", "outputs"])
def test_full_disk_during_a_sweep(moment, capsys, monkeypatch, shared_market_data, tmp_path):
    out = tmp_path / "sw"
    args = [*command("sweep", shared_market_data, tmp_path), "--out", str(out)]
    if moment == "outputs":
        code, _, err = run_cli(capsys, *args)
        assert code == 0, err
        before = snapshot(out)
        monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc)
    else:
        monkeypatch.setattr(pd.DataFrame, "to_parquet", _enospc)
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, str(out.resolve()), "No space left on device")
    if moment == "outputs":
        assert snapshot(out) == before  # every file as it was: none half-replaced
    names = [p.name for p in out.rglob("*")]
    assert not [n for n in names if n.endswith(".tmp")], names


def test_full_disk_in_the_price_cache_names_the_file(monkeypatch, tmp_path):
    import data.price_cache as price_cache
    from data.errors import DataError

    monkeypatch.setattr(price_cache, "write_bytes_atomically", _enospc)
    bars = pd.DataFrame(
        {f: [1.0, 1.0] for f in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex(["2026-01-02", "2026-01-05"], name="date"),
    )
    cache = price_cache.PriceCache(tmp_path / "cache")
    with pytest.raises(DataError) as info:
        cache.write("SPY", bars, pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-05"))
    assert str(tmp_path / "cache" / "SPY.parquet") in str(info.value)
    assert "No space left on device" in str(info.value)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (errno.ENOSPC, "free some disk space"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "Permission denied"),
        (errno.ENAMETOOLONG, "shorter"),
        (errno.ENOTDIR, "Not a directory"),
    ],
)
def test_os_errors_become_one_line_messages_naming_the_path(code, fragment):
    exc = OSError(code, os.strerror(code), "/some/where/file.csv")
    error = output_folder.os_error(exc, "write the backtest run folder", Path("/some/where"))
    message = str(error)
    assert "/some/where/file.csv" in message and fragment in message and "\n" not in message
    assert isinstance(error, output_folder.OutputError)


# -- defect 13: bad paths ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["backtest", "sweep", "placebo", "event-study", "walk-forward"])
@pytest.mark.parametrize("case", ["long-name", "proc", "parent-file", "out-file"])
def test_bad_paths_are_refused_before_the_run(
    name, case, capsys, shared_market_data, tmp_path, monkeypatch
):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    out = {
        "long-name": tmp_path / ("x" * 300),
        "proc": Path("/proc/x"),
        "parent-file": afile / "run",
        "out-file": afile,
    }[case]
    fragment = {
        "long-name": "characters",
        "proc": "/proc",
        "parent-file": "is a file",
        "out-file": "is a file",
    }[case]

    def no_run(*args, **kwargs):
        raise AssertionError("the run started before the destination was checked")

    import backtests.research.event_study as event_study
    import backtests.research.placebo as placebo
    import backtests.runner as runner
    import backtests.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "load_sweep_data", no_run)
    monkeypatch.setattr(runner, "run_backtest", no_run)
    monkeypatch.setattr(placebo, "prepare_placebo", no_run)
    monkeypatch.setattr(event_study, "run_event_study", no_run)
    code, _, err = run_cli(capsys, *command(name, shared_market_data, tmp_path), "--out", str(out))
    assert_one_line_error(code, err, fragment)
    assert afile.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) in (["afile"], ["afile", "grid.toml"])


def test_an_unreachable_dask_scheduler_is_one_line_and_leaves_nothing(
    capsys, monkeypatch, shared_market_data, tmp_path
):
    import socket

    import backtests.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "DASK_CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "sw"
    args = [*command("sweep", shared_market_data, tmp_path), "--out", str(out)]
    code, _, err = run_cli(
        capsys, *args, "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"
    )
    assert_one_line_error(code, err, f"tcp://127.0.0.1:{port}", "scheduler", "1 s")
    assert not out.exists()


# -- defect 22: what a killed run leaves behind ------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_staging_folders_of_killed_runs_are_removed_and_only_those(capsys, tmp_path):
    stale = tmp_path / ".run.abc12345.tmp"
    stale.mkdir()
    (stale / "equity.csv").write_text("half")
    staging.write_marker(stale, "run", pid=_dead_pid())
    old = tmp_path / ".other.def67890.old"
    (old / "run").mkdir(parents=True)
    staging.write_marker(old, "other", pid=_dead_pid())
    (tmp_path / "other").mkdir()  # the destination it retired was put back: nothing to restore
    alive = tmp_path / ".run.live0000.tmp"
    alive.mkdir()
    staging.write_marker(alive, "run", pid=os.getpid())
    users = tmp_path / ".run.mine.tmp"  # looks like ours, has no marker: the user's
    users.mkdir()
    (users / "keep.txt").write_text("mine")

    write_run_folder(tmp_path / "run", {"a.txt": lambda p: p.write_text("a")}, kind="backtest")
    assert not stale.exists() and not old.exists()
    assert alive.exists() and (users / "keep.txt").read_text() == "mine"
    assert (tmp_path / "run" / "a.txt").read_text() == "a"
    assert "removed" in capsys.readouterr().err


def test_a_killed_replacement_puts_the_previous_run_back(capsys, tmp_path):
    """Killed between retiring the old folder and renaming the new one in: the old one is
    still whole in ``.NAME.*.old``; the next run restores it before deciding anything."""
    write_run_folder(tmp_path / "run", {"a.txt": lambda p: p.write_text("old")}, kind="backtest")
    retired = tmp_path / ".run.k1ll3d00.old"
    retired.mkdir()
    staging.write_marker(retired, "run", pid=_dead_pid())
    os.replace(tmp_path / "run", retired / "run")
    staging.remove_stale(tmp_path)
    assert (tmp_path / "run" / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert "restored" in capsys.readouterr().err


@pytest.mark.shared_data
def test_a_backtest_killed_while_staging_is_cleaned_by_the_next_run(shared_market_data, tmp_path):
    out = tmp_path / "run"
    args = ["backtest", "--data-dir", str(shared_market_data), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "backtests", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".run.*.tmp")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = list(tmp_path.glob(".run.*.tmp"))
    assert left, "the run finished before it could be killed"
    env_args = [sys.executable, "-m", "backtests", *args[:3], *SHORT, "--no-tearsheet"]
    rerun = subprocess.run(
        [*env_args, "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_partial_checkpoint_parts_are_removed_when_the_checkpoint_opens(tmp_path):
    from backtests import sweep
    from backtests.grid import load_grid

    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(GRID)
    grid = load_grid(grid_file)
    out = tmp_path / "sw"
    sweep.Checkpoint(out, grid, {"a.csv": "0" * 64})
    partial = out / ".checkpoint" / ".part-000000000-000002.parquet.x1y2z3.tmp"
    partial.write_bytes(b"PAR1 half")
    sweep.Checkpoint(out, grid, {"a.csv": "0" * 64})
    assert not partial.exists()


def test_the_legacy_sweep_folder_of_a_killed_sweep_is_still_resumable(tmp_path):
    """The previous version wrote only ``.checkpoint/`` before its first result: still ours."""
    folder = tmp_path / "sw"
    (folder / ".checkpoint").mkdir(parents=True)
    (folder / ".checkpoint" / "grid.json").write_text('{"digest": "abc", "path": "g.toml"}')
    assert output_folder.check_destination(folder, "sweep").previous is not None
    with pytest.raises(output_folder.OutputError, match="not a backtest"):
        output_folder.check_destination(folder, "backtest")


def test_replacing_a_folder_rechecks_it_at_commit_time(tmp_path):
    """A file the user drops into the old folder during a long run is not deleted."""
    out = tmp_path / "run"
    write_run_folder(out, {"a.txt": lambda p: p.write_text("old")}, kind="backtest")

    def meanwhile(path: Path) -> None:
        path.write_text("new")
        (out / "dropped.txt").write_text("mine")

    with pytest.raises(output_folder.OutputError, match=r"dropped\.txt"):
        write_run_folder(out, {"a.txt": meanwhile}, kind="backtest")
    assert (out / "dropped.txt").read_text() == "mine"
    assert (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_nothing_is_left_when_the_check_refuses(tmp_path):
    with pytest.raises(output_folder.OutputError):
        write_run_folder(tmp_path / ("y" * 260), {"a": lambda p: p.write_text("a")}, kind="x")
    assert list(tmp_path.iterdir()) == []


def test_two_sweeps_never_write_into_one_folder_at_once(tmp_path):
    from reports.run_folder import InPlaceFolder

    with InPlaceFolder.open(tmp_path / "sw", "sweep") as first:
        assert json.loads((first.path / "manifest.json").read_text())["kind"] == "sweep"
        busy = pytest.raises(output_folder.OutputError, match="another capex-rotation process")
        with busy, InPlaceFolder.open(tmp_path / "sw", "sweep"):
            pass
    with InPlaceFolder.open(tmp_path / "sw", "sweep"):  # free again
        pass
