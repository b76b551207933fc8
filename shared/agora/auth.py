"""Bearer JWT (PyJWT, HS256) with claims ``sub``, ``tenant``, ``roles``; role checks and tenant isolation.

CLI (development tokens): ``python -m agora.auth mint --sub alice --tenant demo --roles citizen,admin``.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from dataclasses import dataclass

import jwt

from agora.config import DEV_JWT_SECRET
from agora.errors import Forbidden, Unauthorized

ROLES = ("citizen", "moderator", "admin", "partner")
ALGORITHM = "HS256"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    sub: str
    tenant: str
    roles: frozenset

    def has_any(self, roles) -> bool:
        return bool(self.roles & set(roles))

    def as_actor(self) -> dict:
        return {"sub": self.sub, "tenant": self.tenant, "roles": sorted(self.roles)}


def _secret(secret: str | None) -> str:
    # = settings().jwt_secret, read alone: building every setting on each request cost more than the JWT check
    secret = secret or os.environ.get("AGORA_JWT_SECRET") or DEV_JWT_SECRET
    if secret == DEV_JWT_SECRET:
        log.debug("using the development JWT secret; set AGORA_JWT_SECRET in production")
    return secret


def mint(sub: str, tenant: str, roles, secret: str | None = None, ttl_s: int = 3600) -> str:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; known: {', '.join(ROLES)}")
    now = int(time.time())
    claims = {"sub": sub, "tenant": tenant, "roles": roles, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, _secret(secret), algorithm=ALGORITHM)


def decode(token: str, secret: str | None = None) -> Principal:
    principal, exp = _verified(token, _secret(secret))
    if exp <= time.time():  # PyJWT's own test (exp <= now): a token verified while valid expires all the same
        raise Unauthorized("token expired")
    return principal


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[Principal, int]:
    """The token's principal and expiry after PyJWT's signature and claim checks, memoised per (token, secret).

    Only tokens that passed are remembered (an exception is not cached), and of their checks only ``exp`` can
    fail later as time goes on (``nbf``/``iat`` only ever become valid): :func:`decode` re-checks it every time.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "tenant", "exp"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("invalid token: roles must be a list of strings")
    return Principal(str(claims["sub"]), str(claims["tenant"]), frozenset(roles)), int(claims["exp"])


def from_header(header: str | None, secret: str | None = None) -> Principal:
    if not header:
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <jwt>'")
    return decode(token.strip(), secret)


def authorize(principal: Principal, tenant: str, roles=None) -> Principal:
    """Tenant isolation and role check: 403 when the token is for another tenant or lacks every listed role."""
    if principal.tenant != tenant:
        raise Forbidden(f"token is for tenant {principal.tenant!r}, not {tenant!r}")
    if roles and not principal.has_any(roles):
        raise Forbidden(f"requires one of the roles {sorted(roles)}")
    return principal


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agora.auth", description="Agora JWT tools.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mint", help="mint a development token (uses AGORA_JWT_SECRET)")
    m.add_argument("--sub", required=True, help="user id (JWT subject)")
    m.add_argument("--tenant", required=True, help="tenant (city) the token is valid for")
    m.add_argument("--roles", default="citizen", help=f"comma-separated roles from {', '.join(ROLES)}")
    m.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds (default: one day)")
    args = parser.parse_args(argv)
    try:
        print(mint(args.sub, args.tenant, [r for r in args.roles.split(",") if r], ttl_s=args.ttl))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
