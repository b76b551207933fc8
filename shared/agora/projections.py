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

import argparse
import json
import re
import sys
import time

from agora.config import settings
from agora.relay import CHECKPOINTS as RELAY_CHECKPOINTS
from agora.store import EventStore, open_store
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
    parser = argparse.ArgumentParser(prog="python -m agora.projections", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status", help="store head, relay and subscription positions and lag, dead letters")
    rb = sub.add_parser("rebuild", help="have a service rebuild its projections from the log (blue/green when "
                                        "the subscription allows it)")
    rb.add_argument("service", help="service name, e.g. votes")
    rb.add_argument("subscription", nargs="?", help="rebuild only this subscription's read models (e.g. board)")
    rb.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rb.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                    help="wait up to this long for the running service to finish (exit 1 if it did not)")
    rb.add_argument("--offline", action="store_true",
                    help="the service is stopped: empty its read models and reset its checkpoints directly")
    dl = sub.add_parser("dead-letters", help="list parked events")
    dl.add_argument("--service")
    args = parser.parse_args(argv)
    cfg = settings()
    store = open_store(cfg)
    db = store.db
    if args.cmd == "status":
        print(json.dumps(status(db, store), indent=2))
    elif args.cmd == "rebuild":
        if not args.yes:
            if not sys.stdin.isatty():
                print("refusing to drop projections without --yes", file=sys.stderr)
                return 2
            if input(f"rebuild the read models of {args.service} in {cfg.mongo_db}? [y/N] ") != "y":
                return 1
        if args.offline:
            print(json.dumps(rebuild(db, args.service, args.subscription), indent=2))
        else:
            out = request(db, args.service, args.subscription, args.wait)
            print(json.dumps(out, indent=2))
            if not out["requested"]:
                print(f"no subscription of service {args.service!r} found", file=sys.stderr)
                return 2
            if args.wait and not all(v == "done" for v in out["states"].values()):
                return 1
    else:
        query = {"service": args.service} if args.service else {}
        for d in db[DEAD_LETTERS].find(query, {"cloudevent": 0}):
            print(json.dumps(d, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
