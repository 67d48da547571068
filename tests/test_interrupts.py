"""Ctrl-C: exit code 130 and one line on stderr, whenever it comes, and nothing half-written.

The subprocess tests send SIGINT to the command's whole process group (as a terminal's Ctrl-C
does) at several moments, each recognised by the process's state rather than by a delay (a
loaded machine stretches every delay): while it imports numpy, once it has computed for a few
CPU seconds, and once its staging folder exists (it is writing the report).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backtests import cli
from data.atomic import clear_interrupted, mark_interrupted, write_bytes_atomically
from reports.run_folder import write_run_folder

REPO = Path(__file__).resolve().parents[1]


def _interrupt(args: list[str], after: float, cwd: Path, ready=None) -> subprocess.CompletedProcess:
    """Run the command, wait ``after`` seconds (and until ``ready()`` if given), Ctrl-C it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "backtests", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal job
    )
    if isinstance(ready, list):  # a pid holder, and which state to wait for
        kind = ready.pop()
        ready.append(process.pid)
        ready = _importing_numpy(ready) if kind == "importing" else _cpu_seconds(ready, kind)
    time.sleep(after)
    while ready is not None and not ready() and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # a hung command must not outlive the test
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _importing_numpy(pid_holder: list[int]):
    """True once the process maps numpy's core library: it is importing the heavy modules,
    after Python's own start-up (a Ctrl-C before that is the interpreter's, not ours)."""

    def ready() -> bool:
        try:
            maps = Path(f"/proc/{pid_holder[0]}/maps").read_text()
        except (OSError, IndexError):
            return False
        return "_multiarray_umath" in maps

    return ready


def _cpu_seconds(pid_holder: list[int], at_least: float):
    """True once the process has used ``at_least`` seconds of CPU (past its imports)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def ready() -> bool:
        try:
            fields = Path(f"/proc/{pid_holder[0]}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return False
        return (int(fields[11]) + int(fields[12])) / ticks >= at_least

    return ready


def _writing(folder: Path):
    """True once a staging folder of the run exists beside ``folder``."""

    def ready() -> bool:
        return any(folder.parent.glob(f".{folder.name}.*.tmp"))

    return ready


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.shared_data
@pytest.mark.parametrize("moment", ["importing", "computing", "writing"])
def test_backtest_interrupted_exits_130_and_writes_nothing(shared_market_data, tmp_path, moment):
    out = tmp_path / "run"
    args = ["backtest", "--data-dir", str(shared_market_data), "--out", str(out)]
    if moment == "importing":
        result = _interrupt(args, 0.0, tmp_path, ready=["importing"])
    elif moment == "computing":
        result = _interrupt(args, 0.0, tmp_path, ready=[2.5])
    else:
        result = _interrupt(args, 0.0, tmp_path, ready=_writing(out))
    assert result.returncode == 130, result.stderr
    assert "interrupted" in _one_line(result.stderr)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left either


@pytest.mark.shared_data
@pytest.mark.parametrize("workers", ["1", "2"])
def test_placebo_interrupted_exits_130(shared_market_data, tmp_path, workers):
    out = tmp_path / "placebo"
    args = ["placebo", "--data-dir", str(shared_market_data), "--draws", "200000"]
    result = _interrupt([*args, "--workers", workers, "--out", str(out)], 3.0, tmp_path)
    assert result.returncode == 130, result.stderr
    assert "interrupted" in _one_line(result.stderr)
    assert not out.exists()


@pytest.mark.shared_data
def test_sweep_interrupted_exits_130_and_keeps_its_checkpoint(shared_market_data, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        '[grid]\n"strategy.hold_sessions" = [' + ", ".join(str(h) for h in range(1, 400)) + "]\n"
        '"costs.slippage_bps" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n',
        encoding="utf-8",
    )
    out = tmp_path / "sweep"
    result = _interrupt(
        ["sweep", str(grid), "--data-dir", str(shared_market_data), "--out", str(out)],
        0.0,
        tmp_path,
        ready=lambda: any((out / ".checkpoint").glob("part-*.parquet")),
    )
    assert result.returncode == 130, result.stderr
    line = _one_line(result.stderr)
    assert "interrupted" in line and ".checkpoint" in line


@pytest.mark.shared_data
def test_an_interrupt_swallowed_by_a_library_still_exits_130(
    capsys, shared_market_data, tmp_path, monkeypatch
):
    """A library that catches KeyboardInterrupt cannot make the run look finished: the run
    completes, but its folder is never put in place and the exit code is 130."""
    import backtests.runner as runner

    real = runner.run_backtest

    def swallowing_run(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # what a careless library does
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_backtest", swallowing_run)
    out = tmp_path / "run"
    previous = signal.getsignal(signal.SIGINT)
    try:
        args = ["--data-dir", str(shared_market_data), "--start", "2025-01-01"]
        code = cli.main(["backtest", *args, "--no-tearsheet", "--out", str(out)])
    finally:
        signal.signal(signal.SIGINT, previous)
        clear_interrupted()
    err = capsys.readouterr().err
    assert code == 130, err
    assert "interrupted" in _one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_no_file_is_committed_after_an_interrupt(tmp_path):
    target = tmp_path / "cache.bin"
    folder = tmp_path / "run"
    mark_interrupted()
    try:
        with pytest.raises(KeyboardInterrupt):
            write_bytes_atomically(target, b"data")
        with pytest.raises(KeyboardInterrupt):
            write_run_folder(folder, {"a.txt": lambda p: p.write_text("a")}, kind="backtest")
    finally:
        clear_interrupted()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
