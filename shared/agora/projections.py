"""Operator CLI for projections and subscriptions: status, rebuild, dead letters.

Projections are disposable: every service fills its read models from store-driven subscriptions. ``rebuild``
empties the collections its subscriptions declared (``@subscribe(..., collections=[...])``; by default the
service's ``<service>_*`` collections), keeping their indexes, and resets the service's subscription checkpoints;
the running service (or the next one to start) replays the log from position 0. Services that keep state in
memory (analytics) must be restarted after a rebuild.

    python -m agora.projections status
    python -m agora.projections rebuild votes [tallies] [--yes]
    python -m agora.projections dead-letters [--service votes]
"""
from __future__ import annotations

import argparse
import json
import sys

from agora.config import settings
from agora.relay import CHECKPOINTS as RELAY_CHECKPOINTS
from agora.store import EventStore, open_store
from agora.subscriptions import CHECKPOINTS, DEAD_LETTERS


def status(db, store: EventStore | None = None) -> dict:
    head = (store or EventStore(db)).head()
    subs = [{"subscription": d["_id"], "position": d["position"], "lag": max(0, head - d["position"])}
            for d in db[CHECKPOINTS].find()]
    relay = [{"relay": d["_id"], "position": d["position"], "lag": max(0, head - d["position"])}
             for d in db[RELAY_CHECKPOINTS].find()]
    parked = {}
    for d in db[DEAD_LETTERS].find({}, {"service": 1}):
        parked[d["service"]] = parked.get(d["service"], 0) + 1
    return {"head": head, "relays": relay, "subscriptions": sorted(subs, key=lambda s: s["subscription"]),
            "dead_letters": parked}


def rebuild(db, service: str, subscription: str | None = None) -> dict:
    """Empty the service's read models (indexes are kept) and reset its checkpoints: the log is replayed.

    A subscription that declared its collections (``@subscribe(..., collections=[...])``) has exactly those
    emptied; without declarations the service's ``<service>_*`` collections are.
    """
    query = {"_id": f"{service}:{subscription}"} if subscription else {"_id": {"$regex": f"^{service}:"}}
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
    rb = sub.add_parser("rebuild", help="empty a service's projections and replay them from the log")
    rb.add_argument("service", help="service name, e.g. votes (empties collections votes_*)")
    rb.add_argument("subscription", nargs="?", help="reset only this subscription's checkpoint (e.g. board)")
    rb.add_argument("--yes", action="store_true", help="do not ask for confirmation")
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
            if input(f"drop every {args.service}_* collection in {cfg.mongo_db} and replay? [y/N] ") != "y":
                return 1
        print(json.dumps(rebuild(db, args.service, args.subscription), indent=2))
    else:
        query = {"service": args.service} if args.service else {}
        for d in db[DEAD_LETTERS].find(query, {"cloudevent": 0}):
            print(json.dumps(d, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
