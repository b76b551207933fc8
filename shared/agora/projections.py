"""Operator CLI for projections and subscriptions: status, rebuild, dead letters.

Projections are disposable: every service fills its read models from store-driven subscriptions. ``rebuild``
asks the service's running subscriptions to rebuild their read models (``projection_rebuilds``); it touches no
collection and no checkpoint itself, and only that service's subscriptions are asked. The owner of each
subscription does the work between its live batches: blue/green for subscriptions declared with
``@subscribe(..., collections=[...], blue_green=True)`` (the log is replayed into ``<collection>__next`` while the
live collections keep serving, then they are switched by rename when caught up; interrupted rebuilds resume),
otherwise in place (emptied and replayed by the owner itself). ``--wait`` waits until every one is done.
``--offline`` empties and resets directly, for a service that is not running. Services that keep state in memory
(analytics) must be restarted after a rebuild.

    python -m agora.projections status
    python -m agora.projections rebuild votes [tallies] [--yes] [--wait SECONDS] [--offline]
    python -m agora.projections dead-letters [--service votes]
"""
from __future__ import annotations

import re
import sys
import time

from agora.relay import CHECKPOINTS as RELAY_CHECKPOINTS
from agora.store import EventStore
from agora.subscriptions import CHECKPOINTS, DEAD_LETTERS, REBUILDS, request_rebuild


def status(db, store: EventStore | None = None) -> dict:
    head = (store or EventStore(db)).head()
    subs = [{"subscription": d["_id"], "position": d["position"], "lag": max(0, head - d["position"])}
            for d in db[CHECKPOINTS].find()]
    relay = [{"relay": d["_id"], "position": d["position"], "lag": max(0, head - d["position"])}
             for d in db[RELAY_CHECKPOINTS].find()]
    parked = {}
    for d in db[DEAD_LETTERS].find({}, {"service": 1}):
        parked[d["service"]] = parked.get(d["service"], 0) + 1
    out = {"head": head, "relays": relay, "subscriptions": sorted(subs, key=lambda s: s["subscription"]),
           "dead_letters": parked}
    rebuilds = [{k: v for k, v in d.items() if k != "_id"} | {"subscription": d["_id"]} for d in db[REBUILDS].find()]
    if rebuilds:
        out["rebuilds"] = sorted(rebuilds, key=lambda r: r["subscription"])
    return out


def request(db, service: str, subscription: str | None = None, wait_s: float = 0.0) -> dict:
    """Ask the running service to rebuild (see the module doc); with ``wait_s``, wait until each is done."""
    keys = request_rebuild(db, service, subscription)
    deadline = time.monotonic() + wait_s
    states = {}
    while True:
        states = {d["_id"]: d.get("state") for d in db[REBUILDS].find({"_id": {"$in": keys}})}
        if not wait_s or all(v == "done" for v in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {"service": service, "requested": keys, "states": states}


def rebuild(db, service: str, subscription: str | None = None) -> dict:
    """Empty the service's read models (indexes are kept) and reset its checkpoints: the log is replayed.

    A subscription that declared its collections (``@subscribe(..., collections=[...])``) has exactly those
    emptied; without declarations the service's ``<service>_*`` collections are.
    """
    query = {"_id": f"{service}:{subscription}"} if subscription else {"_id": {"$regex": f"^{re.escape(service)}:"}}
    subs = list(db[CHECKPOINTS].find(query))
    declared = sorted({c for d in subs for c in d.get("collections", [])})
    if declared or any("collections" in d for d in subs):
        emptied = declared
    else:
        emptied = sorted(name for name in db.list_collection_names() if name.startswith(f"{service}_"))
    for name in emptied:
        db[name].delete_many({})
    reset = db[CHECKPOINTS].update_many(query, {"$set": {"position": 0}}).modified_count
    return {"service": service, "emptied_collections": emptied, "reset_checkpoints": reset}


def main(argv=None) -> int:
    """``python -m agora.projections …`` is ``agora projections …`` (one line and an exit code for expected
    failures such as an unreachable store, never a traceback)."""
    from agora.cli import main as agora_main
    return agora_main(["projections", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
