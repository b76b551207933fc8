"""``agora projections status|rebuild|dead-letters``: the read models (wraps :mod:`agora.projections`)."""
from __future__ import annotations

import json
import sys
import time

from agora.cli import CliError, open_store, platform, print_json, progress


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "projections", help="read models: status, rebuild from the log, parked events",
        description="Projections are disposable: every read model is filled from the log by store-driven "
                    "subscriptions. `rebuild` empties a service's read models and resets its checkpoints; the "
                    "running service replays the log (services keeping state in memory, like analytics, must be "
                    "restarted after a rebuild).")
    sub = p.add_subparsers(dest="action", metavar="<action>", required=True)
    st = sub.add_parser("status", help="store head, relay and subscription positions and lag, dead letters",
                        description="Store head, relay and subscription positions and lag, dead letters per service "
                                    "(JSON).")
    st.set_defaults(handler=handle_status)
    rb = sub.add_parser("rebuild", help="have a service rebuild its read models from the log",
                        description="Ask a service's running subscriptions to rebuild their read models from the "
                                    "log (blue/green where the subscription allows it: the live models keep "
                                    "serving until the new ones caught up). --offline empties the read models and "
                                    "resets the checkpoints directly, for a service that is stopped.")
    rb.add_argument("service", help="service name, e.g. votes")
    rb.add_argument("subscription", nargs="?", help="only this subscription (e.g. board)")
    rb.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    rb.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                    help="wait up to this long for the running service to finish (exit 1 if it did not)")
    rb.add_argument("--offline", action="store_true",
                    help="the service is stopped: empty its read models and reset its checkpoints directly")
    rb.set_defaults(handler=handle_rebuild)
    dl = sub.add_parser("dead-letters", help="list parked events (one JSON object a line)",
                        description="List the events parked by subscriptions after their retries, one JSON object "
                                    "a line (without the event body).")
    dl.add_argument("--service", help="only this service's")
    dl.set_defaults(handler=handle_dead_letters)


def handle_status(args) -> int:
    from agora.projections import status
    store, db = open_store(platform())
    print_json(status(db, store))
    return 0


def handle_rebuild(args) -> int:
    from agora import projections
    p = platform()
    store, db = open_store(p)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("refusing to rebuild read models without --yes (no terminal to ask)", 2)
        what = "empty" if args.offline else "rebuild"
        answer = input(f"{what} the {args.service} read models in {p.mongo_db}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing done", file=sys.stderr)
            return 1
    if args.offline:
        print_json(projections.rebuild(db, args.service, args.subscription))
        return 0
    out = projections.request(db, args.service, args.subscription, 0.0)
    if not out["requested"]:
        raise CliError(f"no subscription of service {args.service!r} found (is it spelled as in `agora status`?)", 2)
    if args.wait:
        out["states"] = _wait(db, out["requested"], args.wait)
    print_json(out)
    if args.wait and not all(v == "done" for v in out["states"].values()):
        print(f"not every rebuild finished within {args.wait:g} s: see `agora projections status`", file=sys.stderr)
        return 1
    return 0


def _wait(db, keys: list, wait_s: float) -> dict:
    """Wait for the requested rebuilds, with a progress bar on a terminal; returns {subscription: state}."""
    from agora.subscriptions import REBUILDS
    deadline = time.monotonic() + wait_s
    bar = progress(total=len(keys), desc="rebuilt", unit="subscription")
    done = 0
    try:
        while True:
            states = {d["_id"]: d.get("state") for d in db[REBUILDS].find({"_id": {"$in": keys}})}
            now = sum(1 for v in states.values() if v == "done")
            if now > done:
                bar.update(now - done)
                done = now
            if done == len(keys) or time.monotonic() > deadline:
                return states
            time.sleep(0.2)
    finally:
        bar.close()


def handle_dead_letters(args) -> int:
    from agora.subscriptions import DEAD_LETTERS
    store, db = open_store(platform())
    query = {"service": args.service} if args.service else {}
    for doc in db[DEAD_LETTERS].find(query, {"cloudevent": 0}):
        print(json.dumps(doc, default=str, ensure_ascii=False))
    return 0
