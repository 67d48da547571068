"""Forked renderers (reports/parallel.py): results come back by name, errors come back as the
same exception (one line at the CLI), a run folder written concurrently has the same bytes as
one written sequentially, and a failing plot leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data.errors import CapexRotationError
from reports import parallel
from reports.parallel import RenderError, run_concurrently
from reports.run_folder import write_run_folder

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _refuse(*_args):
    raise TypeError("cannot rebuild this exception")


class _Unpicklable(Exception):
    """An exception that pickles but cannot be unpickled (as some libraries' are)."""

    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")

    def __reduce__(self):
        return (_refuse, self.args)


def test_results_by_name_from_children():
    parent = os.getpid()
    results = run_concurrently({f"t{k}": (lambda k=k: (k * k, os.getpid())) for k in range(5)}, 2)
    assert [results[f"t{k}"][0] for k in range(5)] == [0, 1, 4, 9, 16]
    assert all(pid != parent for _, pid in results.values())


def test_meanwhile_runs_in_the_parent():
    seen = []
    run_concurrently({"a": lambda: 1}, 2, meanwhile=lambda: seen.append(os.getpid()))
    assert seen == [os.getpid()]


def test_one_worker_runs_in_process():
    assert run_concurrently({"a": os.getpid}, 1) == {"a": os.getpid()}


def test_user_error_comes_back_as_itself():
    def bad():
        raise CapexRotationError("prices/AMAT.csv line 3: bad number")

    with pytest.raises(CapexRotationError, match=r"AMAT\.csv line 3") as info:
        run_concurrently({"ok": lambda: 1, "bad": bad}, 2)
    assert any("render worker" in note for note in info.value.__notes__)


def test_first_failure_in_task_order_wins():
    def fail(text):
        raise ValueError(text)

    with pytest.raises(ValueError, match="first"):
        run_concurrently({"a": lambda: fail("first"), "b": lambda: fail("second")}, 2)


def test_unpicklable_error_becomes_render_error():
    def bad():
        raise _Unpicklable(1, 2)

    with pytest.raises(RenderError, match="_Unpicklable: 1/2"):
        run_concurrently({"bad": bad}, 2)


def test_a_dying_worker_is_an_error():
    with pytest.raises(RenderError, match="died"):
        run_concurrently({"dies": lambda: os._exit(3)}, 2)


def _writers():
    def text(name: str, content: str):
        def write(path: Path) -> None:
            path.write_text(content, encoding="utf-8")

        return write

    return {f"f{k}.txt": text(f"f{k}", f"content {k}\n" * (k + 1)) for k in range(6)}


def test_run_folder_concurrent_equals_sequential(tmp_path, monkeypatch):
    files = _writers()
    write_run_folder(tmp_path / "seq", files, kind="backtest")
    monkeypatch.setattr(parallel, "WORKERS", 3)
    write_run_folder(
        tmp_path / "par", files, kind="backtest", concurrent=["f1.txt", "f3.txt", "f4.txt"]
    )
    for name in files:
        assert (tmp_path / "par" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes()


def test_run_folder_failure_in_a_worker_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "WORKERS", 2)

    def broken(path: Path) -> None:
        path.write_text("half")
        raise CapexRotationError("cannot draw the plot")

    files = {**_writers(), "plot.png": broken}
    with pytest.raises(CapexRotationError, match="cannot draw"):
        write_run_folder(tmp_path / "out", files, kind="backtest", concurrent=["plot.png"])
    assert list(tmp_path.iterdir()) == []


def test_in_place_commit_concurrent_equals_sequential(tmp_path, monkeypatch):
    from reports.run_folder import InPlaceFolder

    files = _writers()
    with InPlaceFolder.open(tmp_path / "seq", "sweep", say=lambda _m: None) as target:
        target.commit(files, {})
    monkeypatch.setattr(parallel, "WORKERS", 3)
    with InPlaceFolder.open(tmp_path / "par", "sweep", say=lambda _m: None) as target:
        target.commit(files, {}, concurrent=["f0.txt", "f2.txt", "f5.txt"])
    for name in [*files, "manifest.json"]:
        assert (tmp_path / "par" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "par").iterdir()) == sorted([*files, "manifest.json"])


def test_workers_die_with_a_killed_parent(tmp_path):
    """A command SIGKILLed while its renderers run leaves no renderer behind (Linux)."""
    if os.uname().sysname != "Linux":
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    import signal
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids"
    code = f"""
import os, time
from reports.parallel import run_concurrently
def slow():
    with open({str(pids)!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    time.sleep(60)
run_concurrently({{"a": slow, "b": slow}}, 2)
"""
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(repo)}
    )
    while not (pids.exists() and len(pids.read_text().split()) == 2):
        assert process.poll() is None
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    process.send_signal(signal.SIGKILL)
    process.wait()
    for pid in children:  # the kernel kills them at once; wait for it, without a deadline
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
