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
from concurrent.futures import ProcessPoolExecutor, as_completed
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
) -> Iterator[Any]:
    """Yield ``function(task)`` for every task, as they complete, from ``workers`` forked
    processes set up by ``initializer(*initargs)`` (which should call
    :func:`ignore_interrupts`)."""
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=initializer,
        initargs=initargs,
    )
    try:
        futures = [pool.submit(function, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
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
