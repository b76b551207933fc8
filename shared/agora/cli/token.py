"""``agora token --sub S --tenant T --roles R``: mint a bearer token and print it alone (for scripts)."""
from __future__ import annotations

import os

from agora.cli import CliError, platform, use_platform_env


def register(subparsers) -> None:
    from agora.auth import ROLES
    p = subparsers.add_parser(
        "token", help="mint a bearer token (printed alone on stdout)",
        description="Mint a JWT bearer token for a person, signed like the platform's: with AGORA_JWT_SECRET, or "
                    "with the development secret when the local platform (`make run`) runs in development mode.")
    p.add_argument("--sub", required=True, help="the person's id (JWT subject)")
    p.add_argument("--tenant", required=True, help="the tenant (city) the token is valid for")
    p.add_argument("--roles", default="citizen", help=f"comma-separated roles among {', '.join(ROLES)} "
                                                      "(default: citizen)")
    p.add_argument("--ttl", type=int, default=None,
                   help="lifetime in seconds (default and maximum: AGORA_JWT_MAX_LIFETIME_S, one day)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from agora import auth
    use_platform_env(platform())
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    if not roles:
        raise CliError("--roles names no role", 2)
    ttl = args.ttl if args.ttl is not None else int(os.environ.get("AGORA_JWT_MAX_LIFETIME_S") or 86400)
    if ttl <= 0:
        raise CliError("--ttl must be a positive number of seconds", 2)
    try:
        token = auth.mint(args.sub, args.tenant, roles, ttl_s=ttl)
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc), 2) from None
    print(token)
    return 0
