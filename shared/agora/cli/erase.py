"""``agora erase --tenant T --person SUB --reason R``: erase a person (right to erasure, GDPR art. 17).

SUB is the subject of the person's tokens (what the city knows). The person's key and the subject→pseudonym
mapping are destroyed, and ``PersonalDataForgotten`` is recorded under the pseudonym (never the subject): every
service's projections then drop the person's demographics and identifiers; their votes still count, anonymously.
"""
from __future__ import annotations

import json

from agora.cli import CliError, open_store


def register(subparsers) -> None:
    p = subparsers.add_parser("erase", help="erase a person's personal data everywhere",
                              description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--tenant", required=True, help="the tenant (city)")
    p.add_argument("--person", required=True, help="the subject of the person's tokens")
    p.add_argument("--reason", required=True, help="why (recorded with the erasure, e.g. 'GDPR request 2026-118')")
    p.add_argument("--by", default="operator", help="who asked (recorded; default: operator)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from agora.tenants import TenantRegistry
    store, _db = open_store()
    if not TenantRegistry(store).exists(args.tenant):
        raise CliError(f"unknown tenant {args.tenant!r} (see `agora tenants list`)", 2)
    if not args.reason.strip():
        raise CliError("--reason must say why", 2)
    person = store.erase_subject(args.tenant, args.person, args.reason.strip(), args.by)
    print(json.dumps({"tenant": args.tenant, "erased": person is not None, "person": person}))
    return 0
