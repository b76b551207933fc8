"""CLI of the votes service: rebuild a projection from the event log.

    python -m votes rebuild tallies      # drop votes_tally*, reset the checkpoint, replay the log
    python -m votes rebuild context
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m votes", description="Agora votes service tools "
                                     "(AGORA_MONGO_URI / AGORA_MONGO_DB select the store).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rb = sub.add_parser("rebuild", help="drop a projection and replay the whole log into it (stop the service "
                                        "first or let it idle)")
    rb.add_argument("projection", choices=["tallies", "context"])
    args = parser.parse_args(argv)
    try:
        from agora.store import open_store
        from votes.projections import rebuild
        store = open_store()
        n = rebuild(store, store.db, args.projection)
    except Exception as exc:  # noqa: BLE001 - one line, exit 2
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"rebuilt {args.projection}: {n} events replayed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
