"""``agora export-pabulib ROUND``: a budget round as a Pabulib ``.pb`` file, from the running platform's budgets
API (counted ballots, no personal data)."""
from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

from agora.cli import CliError, admin_token, http, platform
from agora.cli.import_pabulib import tenant_of


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-pabulib", help="export a budget round as a Pabulib .pb file (budgets API)",
        description="Export a budget round as a Pabulib .pb file through the budgets service of the running "
                    "platform (address from .run/platform.json or AGORA_BUDGETS_URL), to stdout or -o FILE.")
    p.add_argument("round", metavar="ROUND", help="the round id")
    p.add_argument("--tenant", help="tenant (default: the local platform's demo tenant)")
    p.add_argument("-o", "--output", help="write to this file (default: stdout)")
    p.add_argument("--token", help="bearer token to use (default: an admin token minted for the tenant)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    p = platform()
    tenant = tenant_of(args, p)
    url = f"{p.service_url('budgets')}/api/v1/tenants/{quote(tenant)}/budgets/rounds/{quote(args.round)}/export.pb"
    _status, body, _headers = http("GET", url, token=args.token or admin_token(p, tenant), timeout=300)
    if args.output:
        try:
            Path(args.output).write_bytes(body)
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", 2) from None
        print(f"{args.output}: {len(body)} bytes", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
