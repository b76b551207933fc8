"""``python -m agora partners grant|revoke|list``: partner stream grants (see agora.partners).

    agora partners grant city-lab --tenant ghent --types IdeaSubmitted,IdeaStatusChanged [--demographics]
        [--identities pseudonym|drop] [--rotate]
      → one JSON line: {"partner", "amqp_uri", "queue", "exchange", "tenants", "types", ...}
    agora partners revoke city-lab
    agora partners list

Reads the platform's addresses (agora.cli.platform: the local run file or AGORA_MONGO_URI / AGORA_MONGO_DB for
the grants, AGORA_AMQP_URI (the broker, with rights to create users:
``rabbitmqctl`` on this host, or the management API at AGORA_RABBITMQ_API). AGORA_PARTNER_AMQP_URI sets the
public broker address printed in ``amqp_uri``.
"""
from __future__ import annotations

import argparse
import json
import sys


def _registry():
    from agora.cli import open_store, platform
    from agora.partners.grants import GrantRegistry
    p = platform()
    store, db = open_store(p)
    return GrantRegistry(db, p.amqp_uri, store=store)


def _split(values) -> list[str]:
    out = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def _fail(message: str, code: int = 2) -> int:
    print(f"agora partners: {message}", file=sys.stderr)
    return code


def grant(args) -> int:
    from agora.partners.broker import BrokerError
    from agora.partners.grants import GrantError
    try:
        registry = _registry()
        g, uri = registry.grant(args.name, _split(args.tenant), _split(args.types), identities=args.identities,
                                demographics=args.demographics, rotate=args.rotate)
    except GrantError as exc:
        return _fail(str(exc))
    except BrokerError as exc:
        return _fail(str(exc), 1)
    print(json.dumps(dict(g.public(), amqp_uri=uri), ensure_ascii=False))
    return 0


def revoke(args) -> int:
    from agora.partners.broker import BrokerError
    try:
        done = _registry().revoke(args.name)
    except BrokerError as exc:
        return _fail(str(exc), 1)
    if not done:
        return _fail(f"no grant named {args.name!r}")
    print(json.dumps({"partner": args.name, "revoked": True}))
    return 0


def list_(args) -> int:
    for g in _registry().all():
        print(json.dumps(g.public(), ensure_ascii=False))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("partners", help="grant or revoke partners' access to event streams",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="partners_command", metavar="{grant,revoke,list}")
    sub.required = True
    g = sub.add_parser("grant", help="create or change a grant; prints one JSON line with amqp_uri and queue")
    g.add_argument("name", help="partner name (its RabbitMQ user): a-z, 0-9, '-'")
    g.add_argument("--tenant", action="append", required=True, help="granted tenant (repeat or comma-separate)")
    g.add_argument("--types", action="append", required=True, help="granted event types, comma-separated, or '*'")
    g.add_argument("--identities", choices=("pseudonym", "drop"), default="pseudonym",
                   help="person ids become a per-partner pseudonym (default) or null")
    g.add_argument("--demographics", action="store_true", help="include bucketed demographics (age band …)")
    g.add_argument("--rotate", action="store_true", help="new password and pseudonym key")
    g.set_defaults(handler=grant)
    r = sub.add_parser("revoke", help="withdraw access at once (user, connections and queue removed)")
    r.add_argument("name")
    r.set_defaults(handler=revoke)
    ls = sub.add_parser("list", help="the grants, one JSON line each (no secrets)")
    ls.set_defaults(handler=list_)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agora.cli.partners")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["partners", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
