"""Bench diagnostics: count a service's MongoDB commands by kind (count, documents returned, mean latency), rewritten
to ``AGORA_VOTES_CMDSTATS=/path/file.json`` every 200 commands.

bench/votes.py runs the votes service as ``nameko run cmdstats`` (from this folder, which holds no module named like a
service package) when that variable is set: this
module installs the pymongo command listener, then serves the votes service unchanged. Nothing of it ships in the
service package."""
from __future__ import annotations

import json
import os
import threading
from collections import Counter

from pymongo import monitoring


def _kind(cmd: dict) -> str:
    name = next(iter(cmd))
    coll = cmd.get(name) if isinstance(cmd.get(name), str) else ""
    if name == "find":
        f = cmd.get("filter") or {}
        keys = ",".join(sorted(f))
        if coll == "events":
            idf = f.get("_id")
            if isinstance(idf, dict):
                return "events.find[_id range" + (" +type" if "type" in f else "") + "]"
            if idf is not None:
                return "events.find[_id=] (head probe)"
            return f"events.find[{keys}]"
        return f"{coll}.find[{keys}]"
    if name in ("insert", "update", "delete"):
        n = len(cmd.get("documents") or cmd.get("updates") or cmd.get("deletes") or [])
        return f"{coll}.{name}(n{'>1' if n > 1 else '=1'})"
    return f"{name} {coll}".strip()


class CommandStats(monitoring.CommandListener):
    def __init__(self, path: str):
        self.path = path
        self.counts: Counter = Counter()
        self.docs: Counter = Counter()
        self.micros: Counter = Counter()
        self.n = 0
        self.lock = threading.Lock()
        self._kinds: dict = {}

    def started(self, event):
        cmd = event.command
        kind = _kind(cmd)
        with self.lock:
            self._kinds[event.request_id] = kind
            self.counts[kind] += 1
            self.n += 1
            if self.n % 200 == 0:
                self.dump()

    def dump(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"total": self.n, "by_kind": dict(self.counts.most_common()),
                       "docs_returned_by_kind": dict(self.docs.most_common()),
                       "avg_ms_by_kind": {k: round(self.micros[k] / self.counts[k] / 1000, 2)
                                          for k in self.micros if self.counts[k]}}, f, indent=1)
        os.replace(tmp, self.path)

    def succeeded(self, event):
        with self.lock:
            kind = self._kinds.pop(event.request_id, None)
            if kind:
                self.micros[kind] += event.duration_micros
            cursor = (event.reply or {}).get("cursor")
            if kind and isinstance(cursor, dict):
                self.docs[kind] += len(cursor.get("firstBatch") or cursor.get("nextBatch") or [])

    def failed(self, event):
        with self.lock:
            self._kinds.pop(event.request_id, None)


def install_from_env() -> None:
    path = os.environ.get("AGORA_VOTES_CMDSTATS")
    if path:
        monitoring.register(CommandStats(path))


install_from_env()

from votes.service import VotesService  # noqa: E402,F401  (served by `nameko run cmdstats`)
