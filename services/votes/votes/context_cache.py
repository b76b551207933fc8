"""The hot path's cache of the context projection (ideas and phases), one per process.

The context projection is eventually consistent anyway: a withdrawal, merge or phase change takes effect on votes
once the projection applied it plus at most ``TTL`` (another replica's projection) — or, when this process's own
subscription applied it, at once: :meth:`ContextCache.changed` drops the entry and keeps it uncached for
``FRESH_S`` (covers the transaction's commit). With 50 busy ideas a 0.5 s TTL still cost ~one read per vote, and
without single flight every expiry cost one read per concurrent request.
"""
from __future__ import annotations

import threading
import time as _time

from votes.domain import PHASE_VOTING_CONFIGURED


class ContextCache:
    TTL = 2.0
    FRESH_S = 1.0

    def __init__(self):
        self._items: dict = {}
        self._fresh_until: dict = {}
        self._loading: dict = {}

    def get(self, key, load):
        now = _time.monotonic()
        if self._fresh_until and self._fresh_until.get(key, 0.0) > now:
            return load()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        flight = self._loading.get(key)
        if flight is not None:                      # single flight: a burst of misses on one key loads it once
            flight.wait()
            hit = self._items.get(key)
            if hit is not None and hit[0] > _time.monotonic():
                return hit[1]
            return load()
        flight = self._loading[key] = threading.Event()
        try:
            value = load()
            if self._fresh_until.get(key, 0.0) > _time.monotonic():
                return value                        # changed while loading: do not keep what may be the old value
            if len(self._items) > 50_000:
                self._items.clear()
            self._items[key] = (now + self.TTL, value)
            return value
        finally:
            del self._loading[key]
            flight.set()

    def changed(self, *keys) -> None:
        until = _time.monotonic() + self.FRESH_S
        for key in keys:
            self._items.pop(key, None)
            self._fresh_until[key] = until
        if len(self._fresh_until) > 10_000:
            now = _time.monotonic()
            self._fresh_until = {k: t for k, t in self._fresh_until.items() if t > now}

    def changed_by(self, event) -> None:
        """Forget what a context event changes (called by this process's context subscription)."""
        t, data = event.tenant, event.data
        if event.type in ("PhaseAdded", "PhaseChanged", PHASE_VOTING_CONFIGURED):
            self.changed(("phases", t, data.get("project_id")))
        elif event.type == "IdeaMerged":
            self.changed(("idea", t, data.get("idea_id")), ("idea", t, data.get("survivor_id")))
        elif "idea_id" in data and event.type != "CommentPosted":
            self.changed(("idea", t, data["idea_id"]))


context_cache = ContextCache()     # shared by the process's application object and its context subscription
