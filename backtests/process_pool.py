"""Forked worker pools that stop at once on Ctrl-C or any error.

``ProcessPoolExecutor``'s context manager waits for every submitted task on the way out, so an
interrupt that arrives while thousands of tasks are queued (or while they are being submitted)
left the command waiting for all of them. Here, any exception (KeyboardInterrupt included, and a
consumer that stops iterating) cancels what is queued and terminates the workers before it
propagates.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from typing import Any


def ignore_interrupts() -> None:
    """For a worker's initializer: Ctrl-C reaches the whole process group, and the parent
    handles it (by terminating the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_forked(
    function: Callable[[Any], Any],
    tasks: Iterable[Any],
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple = (),
    in_flight: int | None = None,
) -> Iterator[Any]:
    """Yield ``function(task)`` for every task, as they complete, from ``workers`` forked
    processes set up by ``initializer(*initargs)`` (which should call
    :func:`ignore_interrupts`).

    ``in_flight``: at most this many tasks submitted and not yet consumed, for a consumer
    slower than the workers (finished results waiting for it would otherwise pile up in
    memory); None submits every task at once."""
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=initializer,
        initargs=initargs,
    )
    try:
        if in_flight is None:
            futures = [pool.submit(function, task) for task in tasks]
            for future in as_completed(futures):
                yield future.result()
        else:
            yield from _bounded(pool, function, tasks, in_flight)
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True)


def stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued tasks and terminate the workers now (not after their tasks)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # SIGTERM not acted on in time (a loaded machine): SIGKILL
            process.kill()
            process.join()


def _bounded(
    pool: ProcessPoolExecutor, function: Callable[[Any], Any], tasks: Iterable[Any], limit: int
) -> Iterator[Any]:
    queue = iter(tasks)
    pending = set()
    for task in queue:
        pending.add(pool.submit(function, task))
        if len(pending) >= limit:
            break
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()
            task = next(queue, None)
            if task is not None:
                pending.add(pool.submit(function, task))
