"""``agora import-pabulib FILE``: import a Pabulib ``.pb`` file as a budget round, through the running platform's
budgets API (the same commands and events as live ballots)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, urlencode

from agora.cli import CliError, admin_token, http, platform, print_json

TIMEOUT_S = 600.0


def register(subparsers) -> None:
    from agora.cli import SERVICES  # noqa: F401 - documents where the address comes from
    p = subparsers.add_parser(
        "import-pabulib", help="import a Pabulib .pb file as a budget round (budgets API)",
        description="Import a Pabulib .pb file as a budget round through the budgets service of the running "
                    "platform (address from .run/platform.json or AGORA_BUDGETS_URL), as an admin of the tenant. "
                    "Prints the round id, projects and ballots (JSON).")
    p.add_argument("file", metavar="FILE", help="the .pb file (UTF-8 text)")
    p.add_argument("--tenant", help="tenant (default: the local platform's demo tenant)")
    p.add_argument("--project-id", help="participation project the round belongs to (default: from the file name)")
    p.add_argument("--round-id", help="round id (default: chosen by the service)")
    p.add_argument("--district", help="district the round is for")
    p.add_argument("--title", help="round title")
    p.add_argument("--rule", help="counting rule (default: the file's META rule when ours, else greedy)")
    p.add_argument("--open", action="store_true", help="leave the round open (default: closed after the ballots)")
    p.add_argument("--token", help="bearer token to use (default: an admin token minted for the tenant)")
    p.set_defaults(handler=handle)


def tenant_of(args, p) -> str:
    tenant = args.tenant or p.tenant
    if not tenant:
        raise CliError("which tenant? pass --tenant (no local platform found to take its tenant from)", 2)
    return tenant


def handle(args) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", 2) from None
    p = platform()
    tenant = tenant_of(args, p)
    base = p.service_url("budgets")
    project_id = args.project_id or re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")[:60] or "pabulib"
    params = {"project_id": project_id, "close": "false" if args.open else "true"}
    for key in ("round_id", "district", "title", "rule"):
        if getattr(args, key):
            params[key] = getattr(args, key)
    url = f"{base}/api/v1/tenants/{quote(tenant)}/budgets/rounds/import?{urlencode(params)}"
    token = args.token or admin_token(p, tenant)
    _status, body, _headers = http("POST", url, token=token, data=data, content_type="text/plain; charset=utf-8",
                                   timeout=TIMEOUT_S)
    print_json(json.loads(body))
    return 0
