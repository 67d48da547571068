"""Run independent tasks at the same time, in forked worker processes: a report's outputs, or
the independent parts of a computation (the event study's baskets).

Plots dominate the time of most reports, and each is independent of the others: a forked child
inherits everything the parent has computed (no pickling of the inputs), renders its file or
its bytes, and reports back through a pipe. The outputs are the same bytes as a sequential
rendering (each writer is deterministic and reads nothing another writes).

Errors: the first failing task (in task order) is raised again in the parent, as the same
exception when it can be pickled (a ``CapexRotationError`` stays one line at the command
line), else as a :class:`RenderError` naming its type and message; the child's traceback is
attached as a note (``--debug`` shows it). Ctrl-C: children ignore SIGINT; the parent gets it,
kills them and raises KeyboardInterrupt. Without ``os.fork`` (Windows) or with one worker,
tasks run in this process, one after the other.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

Task = Callable[[], Any]


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


WORKERS = min(4, _available_cpus())  # forked renderers at most at a time


class RenderError(RuntimeError):
    """A task failed in a worker with an exception that could not be sent back as is."""


def _payload(ok: bool, value: Any) -> bytes:
    try:
        data = pickle.dumps((ok, value))
        pickle.loads(data)  # an exception must also come back whole
        return data
    except Exception:
        if ok:
            raise
        text = f"{type(value).__name__}: {value}"
        fallback = RenderError(text)
        fallback.__notes__ = list(getattr(value, "__notes__", []))
        return pickle.dumps((False, fallback))


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux (looked up once, in the parent, before any fork), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this child when its parent dies: a command killed with SIGKILL
    must not leave renderers writing into its staging folder while the next run removes it."""
    prctl = _prctl()
    if prctl is not None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child(task: Task, write_fd: int, parent: int) -> None:
    """Run in the forked child: never returns."""
    code = 0
    try:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            data = _payload(True, task())
        except BaseException as exc:  # everything goes back to the parent
            with contextlib.suppress(Exception):
                exc.add_note("in a render worker:\n" + "".join(traceback.format_exc()))
            data = _payload(False, exc)
            code = 1
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 2
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers


class _Running:
    def __init__(self, name: str, task: Task) -> None:
        self.name = name
        self.task = task
        self.pid = 0
        self.read_fd = -1

    def start(self) -> None:
        """Fork the child (call once the object is where a kill finds it)."""
        task = self.task
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        _prctl()  # looked up before the fork, once
        # Ctrl-C is held back across the fork: one arriving inside it would raise in the
        # child's at-fork hooks (logging's "Exception ignored in _releaseLock") before the child
        # ignores SIGINT. The parent gets a held-back Ctrl-C as soon as it is unblocked.
        self.read_fd = read_fd
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (coverage cannot see it)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                os.close(read_fd)
                _child(task, write_fd, parent)
            self.pid = pid
            os.close(write_fd)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def collect(self) -> tuple[bool, Any]:
        with os.fdopen(self.read_fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if not data:
            code = os.waitstatus_to_exitcode(status)
            return False, RenderError(f"{self.name}: the render worker died (exit {code})")
        return pickle.loads(data)

    def kill(self) -> None:
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def run_concurrently(
    tasks: Mapping[str, Task],
    workers: int | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run every task (a callable without arguments), at most ``workers`` at a time in forked
    children; return their results by name (they must pickle). ``meanwhile`` runs in this
    process while the first children work. Raise the first failure, in task order."""
    workers = WORKERS if workers is None else workers
    if workers <= 1 or len(tasks) == 0 or not hasattr(os, "fork"):
        if meanwhile is not None:
            meanwhile()
        return {name: task() for name, task in tasks.items()}
    sys.stdout.flush()
    sys.stderr.flush()
    pending = list(tasks.items())
    running: list[_Running] = []
    results: dict[str, tuple[bool, Any]] = {}
    try:
        while pending and len(running) < workers:
            running.append(_Running(*pending.pop(0)))
            running[-1].start()
        if meanwhile is not None:
            meanwhile()
        while running:
            results[running[0].name] = running[0].collect()
            running.pop(0)
            if pending:
                running.append(_Running(*pending.pop(0)))
                running[-1].start()
    except BaseException:
        for child in running:
            child.kill()
        raise
    for name in tasks:
        ok, value = results[name]
        if not ok:
            raise value
    return {name: value for name, (_, value) in results.items()}
