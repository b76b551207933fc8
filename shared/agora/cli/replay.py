"""``python -m agora replay PARTNER [--after SEQUENCE | --since TIME] [--limit N] [--republish]``: a partner's
granted events from the store, transformed exactly as live (same id and sequence), as NDJSON on stdout (last line
``{"cursor": …, "more": …}``), or ``--republish``ed into that partner's own queue only."""
from __future__ import annotations

import argparse
import json
import sys


def replay(args) -> int:
    from agora.cli import open_store, platform
    from agora.partners import replay as rp
    from agora.partners.grants import GrantRegistry
    cfg = platform()
    store, db = open_store(cfg)
    grant = GrantRegistry(db, cfg.amqp_uri, store=store).get(args.partner)
    if grant is None or grant.revoked:
        print(f"agora replay: no active grant named {args.partner!r}", file=sys.stderr)
        return 2
    if args.after is not None and not args.after.isdigit():
        print("agora replay: --after must be a sequence (digits)", file=sys.stderr)
        return 2
    after = int(args.after or 0)
    try:
        if args.republish:
            n, cursor = rp.republish(store, grant, cfg.amqp_uri, after=after, since=args.since, limit=args.limit)
            print(json.dumps({"republished": n, **cursor.line()}))
            return 0
        out = sys.stdout
        for item in rp.events(store, grant, after=after, since=args.since, limit=args.limit):
            line = item.line() if isinstance(item, rp.Cursor) else item
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed --since: one line, no traceback
        print(f"agora replay: {exc}", file=sys.stderr)
        return 2
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="a partner's granted events from a position or time",
                                   description=__doc__)
    parser.add_argument("partner")
    parser.add_argument("--after", help="replay events after this sequence (default: from the start)")
    parser.add_argument("--since", help="replay events from this ISO 8601 time")
    parser.add_argument("--limit", type=int, default=1_000_000, help="at most this many events")
    parser.add_argument("--republish", action="store_true", help="publish into the partner's queue instead")
    parser.set_defaults(handler=replay)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agora.cli.replay")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["replay", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
