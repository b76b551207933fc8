"""``agora projections status|rebuild|dead-letters``: the read models (wraps :mod:`agora.projections`)."""
from __future__ import annotations

import json
import sys

from agora.cli import CliError, open_store, platform, print_json


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
    rb = sub.add_parser("rebuild", help="empty a service's read models and replay them from the log",
                        description="Empty a service's read models (indexes kept) and reset its subscription "
                                    "checkpoints, so the log is replayed into them.")
    rb.add_argument("service", help="service name, e.g. votes")
    rb.add_argument("subscription", nargs="?", help="only this subscription (e.g. board)")
    rb.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
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
    from agora.projections import rebuild
    p = platform()
    store, db = open_store(p)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("refusing to empty read models without --yes (no terminal to ask)", 2)
        answer = input(f"empty the {args.service} read models in {p.mongo_db} and replay the log? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing done", file=sys.stderr)
            return 1
    print_json(rebuild(db, args.service, args.subscription))
    return 0


def handle_dead_letters(args) -> int:
    from agora.subscriptions import DEAD_LETTERS
    store, db = open_store(platform())
    query = {"service": args.service} if args.service else {}
    for doc in db[DEAD_LETTERS].find(query, {"cloudevent": 0}):
        print(json.dumps(doc, default=str, ensure_ascii=False))
    return 0
