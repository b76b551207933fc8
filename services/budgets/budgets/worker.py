"""Counting in a worker process, so CPU-heavy rounds never block nameko's eventlet hub.

``count_in_worker(instance, rule, tie_breaking=None, threshold=None, timeout=None) -> Outcome`` runs
:func:`budgets.rules.count` in a ``ProcessPoolExecutor`` using the *spawn* start method (safe with eventlet
monkey-patching and threads).  A module-level pool is created lazily and reused; :func:`shutdown` stops it.
Everything crossing the process boundary is plain picklable data (``Instance`` in, ``Outcome`` out).
"""
from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable

from budgets.instance import Instance
from budgets.rules import Outcome, count

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _executor(max_workers: int | None = None) -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=max_workers or 1,
                                        mp_context=multiprocessing.get_context("spawn"))
        return _pool


def submit_count(instance: Instance, rule: str, tie_breaking: Iterable[str] | None = None,
                 threshold=None) -> Future:
    """Schedule a count in the worker process; returns a ``concurrent.futures.Future`` of :class:`Outcome`."""
    tb = None if tie_breaking is None else tuple(tie_breaking)
    return _executor().submit(count, instance, rule, tb, threshold)


def count_in_worker(instance: Instance, rule: str, tie_breaking: Iterable[str] | None = None,
                    threshold=None, timeout: float | None = None) -> Outcome:
    """Count ``instance`` with ``rule`` in the worker process and wait for the :class:`Outcome`.

    From an eventlet service, call it through ``eventlet.tpool.execute(count_in_worker, ...)`` (or wait on
    :func:`submit_count`'s future from a tpool thread) so the hub keeps serving while the worker counts.
    """
    return submit_count(instance, rule, tie_breaking, threshold).result(timeout=timeout)


def shutdown() -> None:
    """Stop the worker pool (a new one is created on the next call)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
