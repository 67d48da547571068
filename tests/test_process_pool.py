"""Forked pools stop their workers when the consumer stops, instead of running the queue out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backtests import process_pool
from backtests.process_pool import ignore_interrupts, run_forked


def _slow(task: int) -> int:
    time.sleep(0.2)
    return task


def test_results_are_every_task():
    out = sorted(run_forked(_slow, range(6), 2, ignore_interrupts))
    assert out == list(range(6))


def test_with_a_bound_in_flight_every_task_comes_back_and_no_more_are_submitted(monkeypatch):
    """``in_flight``: a task is submitted only when a result has been consumed."""
    submitted = []
    real = process_pool.ProcessPoolExecutor.submit

    def counting(self, fn, *args, **kwargs):
        submitted.append(args[0])
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(process_pool.ProcessPoolExecutor, "submit", counting)
    results = run_forked(_slow, range(7), 2, ignore_interrupts, in_flight=3)
    first = next(results)
    assert len(submitted) == 3  # three out, one consumed: the fourth not yet asked for
    assert sorted([first, *results]) == list(range(7))
    assert sorted(submitted) == list(range(7))


def test_an_interrupt_terminates_the_workers_and_cancels_the_queue(monkeypatch):
    pools = []
    real = process_pool.ProcessPoolExecutor

    def recording(*args, **kwargs):
        pools.append(real(*args, **kwargs))
        return pools[-1]

    monkeypatch.setattr(process_pool, "ProcessPoolExecutor", recording)
    results = run_forked(_slow, range(10_000), 2, ignore_interrupts)
    next(results)
    processes = list(pools[0]._processes.values())
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)
    # 10,000 queued tasks of 0.2 s would take over 15 minutes: the workers were terminated.
    # Checked on the system's process table, not with Process.is_alive(): a child that another
    # waiter (the executor's own manager thread) reaped first stays "started" to is_alive().
    assert processes and not any(_running(p.pid) for p in processes)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that is neither gone nor a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
