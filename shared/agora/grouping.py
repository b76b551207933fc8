"""Group commit: concurrent callers in a process hand their requests to one writer at a time.

Whoever submits while no leader is writing becomes the leader and writes everything pending (its own request
first), batch after batch, until the queue is empty; requests that arrive meanwhile are guaranteed to be drained
before the leader resigns. The others wait on their request's ``done`` event. The store groups appends this way
(one ordered ``insert_many``) and the personal vault groups key creations (one unordered ``insert_many``).
Thread-safe, and green-thread safe under eventlet (the locks and events are created after monkey patching).
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, Protocol, TypeVar


class Request(Protocol):
    done: threading.Event


R = TypeVar("R", bound=Request)


class GroupCommit(Generic[R]):
    def __init__(self, write_batch: Callable[[list[R]], None], max_batch: int):
        """``write_batch(batch)`` must set every request's ``done`` (also when it fails)."""
        self.write_batch = write_batch
        self.max_batch = max_batch
        self._pending: list[R] = []
        self._lock = threading.Lock()
        self._leading = False

    def submit(self, req: R) -> R:
        """Queue ``req``, write it (as the leader) or wait for the leader to; returns it once done."""
        with self._lock:
            self._pending.append(req)
            lead = not self._leading
            self._leading = True
        if lead:
            while True:
                with self._lock:
                    if not self._pending:
                        self._leading = False
                        break
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                self.write_batch(batch)
        req.done.wait()
        return req
