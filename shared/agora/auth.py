"""Bearer JWT (PyJWT, HS256 pinned): claims ``sub``, ``tenant``, ``roles``, ``iss``, ``aud``, ``iat``, ``exp``.

- People: :class:`Principal` with kind ``user``; roles citizen, moderator, admin, partner; one tenant per token.
- Services: internal RPC carries a service identity (kind ``service``, ``sub`` = ``service:<name>``) with named
  permissions (e.g. ``ideas.change_status``), minted by the calling service itself (:func:`service_token`);
  never a role list supplied by a caller.
- Outside development mode (``AGORA_ENV=development``) a missing, empty or short ``AGORA_JWT_SECRET`` stops the
  service at start (:func:`check_configuration`).
- Checks: algorithm pinned, ``iss``/``aud`` (``AGORA_JWT_ISSUER``/``AGORA_JWT_AUDIENCE``, default ``agora``),
  a maximum lifetime ``exp - iat`` (``AGORA_JWT_MAX_LIFETIME_S``, default one day), 30 s clock leeway
  (``AGORA_JWT_LEEWAY_S``). Errors are said in plain words.

CLI (development tokens): ``agora token --sub alice --tenant demo --roles citizen,admin``
(or ``python -m agora.auth mint …``).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from dataclasses import dataclass

import jwt

from agora.config import DEV_JWT_SECRET
from agora.errors import Forbidden, Unauthorized

ROLES = ("citizen", "moderator", "admin", "partner")
STAFF = ("moderator", "admin")
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
ANY_TENANT = "*"


class ConfigurationError(RuntimeError):
    """The process cannot start with this configuration (said in one line)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (``kind="user"``) or a service (``kind="service"``)."""
    sub: str
    tenant: str
    roles: frozenset
    kind: str = "user"
    permissions: frozenset = frozenset()

    def has_any(self, roles) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_staff(self) -> bool:
        return self.has_any(STAFF)

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def as_actor(self) -> dict:
        return {"sub": self.sub, "tenant": self.tenant, "roles": sorted(self.roles), "kind": self.kind}


# ---------------------------------------------------------------- configuration
def development_mode() -> bool:
    return os.environ.get("AGORA_ENV", "").strip().lower() in ("development", "dev", "test")


def jwt_secret() -> str:
    secret = os.environ.get("AGORA_JWT_SECRET") or ""
    if secret:
        return secret
    if development_mode():
        return DEV_JWT_SECRET
    raise ConfigurationError("AGORA_JWT_SECRET is not set: set a random secret of at least "
                             f"{MIN_SECRET_LENGTH} characters (or AGORA_ENV=development for local use)")


def check_configuration() -> None:
    """Refuse to start with an unsafe token configuration outside development mode."""
    secret = jwt_secret()
    if development_mode():
        return
    if secret == DEV_JWT_SECRET:
        raise ConfigurationError("AGORA_JWT_SECRET is the public development secret: set a random one")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(f"AGORA_JWT_SECRET is {len(secret)} characters long: use at least "
                                 f"{MIN_SECRET_LENGTH} (e.g. `openssl rand -hex 32`)")


def _issuer() -> str:
    return os.environ.get("AGORA_JWT_ISSUER") or "agora"


def _audience() -> str:
    return os.environ.get("AGORA_JWT_AUDIENCE") or "agora"


def _max_lifetime() -> int:
    """``AGORA_JWT_MAX_LIFETIME_S``; default one day (seven in development mode, for the launcher's tokens)."""
    return int(os.environ.get("AGORA_JWT_MAX_LIFETIME_S") or (7 * 86400 if development_mode() else 86400))


def _leeway() -> int:
    return int(os.environ.get("AGORA_JWT_LEEWAY_S") or 30)


# ---------------------------------------------------------------- tokens
def mint(sub: str, tenant: str, roles, secret: str | None = None, ttl_s: int = 3600, *, kind: str = "user",
         permissions=()) -> str:
    roles = sorted(set(roles))
    if kind == "user":
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown roles {unknown}; known: {', '.join(ROLES)}")
    if ttl_s > _max_lifetime():
        raise ValueError(f"a token lives at most {_max_lifetime()} s (AGORA_JWT_MAX_LIFETIME_S); asked {ttl_s} s")
    now = int(time.time())
    claims = {"sub": sub, "tenant": tenant, "roles": roles, "iat": now, "exp": now + ttl_s,
              "iss": _issuer(), "aud": _audience()}
    if kind != "user":
        claims["kind"] = kind
        claims["permissions"] = sorted(set(permissions))
    return jwt.encode(claims, secret or jwt_secret(), algorithm=ALGORITHM)


def service_token(service: str, permissions, ttl_s: int = 300, secret: str | None = None) -> str:
    """A short-lived token naming the calling service and what it may ask of others."""
    return mint(f"service:{service}", ANY_TENANT, ["service"], secret, ttl_s, kind="service",
                permissions=permissions)


def decode(token: str, secret: str | None = None) -> Principal:
    principal, exp = _verified(token, secret or jwt_secret(), _issuer(), _audience(), _max_lifetime(), _leeway())
    if exp + _leeway() <= time.time():   # a token verified while valid expires all the same
        raise Unauthorized("the token has expired: sign in again")
    return principal


_PLAIN = [
    (jwt.ExpiredSignatureError, "the token has expired: sign in again"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (check the clocks)"),
    (jwt.InvalidAudienceError, "the token is not meant for this platform (audience)"),
    (jwt.InvalidIssuerError, "the token was not issued by this platform's identity provider (issuer)"),
    (jwt.InvalidSignatureError, "the token's signature does not match: it was signed with another key or altered"),
    (jwt.InvalidAlgorithmError, f"the token must be signed with {ALGORITHM}"),
]


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, issuer: str, audience: str, max_lifetime: int,
              leeway: int) -> tuple[Principal, int]:
    """The token's principal and expiry after PyJWT's checks, memoised (only tokens that passed are remembered;
    of their checks only ``exp`` can fail later, and :func:`decode` re-checks it every time)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                            leeway=leeway, options={"require": ["sub", "tenant", "exp", "iat", "iss", "aud"]})
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"the token lacks the claim {exc.claim!r}") from None
    except jwt.PyJWTError as exc:
        for cls, text in _PLAIN:
            if isinstance(exc, cls):
                raise Unauthorized(text) from None
        raise Unauthorized("the bearer token is not a valid JWT") from None
    try:
        exp, iat = int(claims["exp"]), int(claims["iat"])
    except (TypeError, ValueError):
        raise Unauthorized("the token's exp and iat must be numbers") from None
    if exp - iat > max_lifetime:
        raise Unauthorized(f"the token lives longer than the {max_lifetime} s this platform accepts")
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("the token's roles must be a list of strings")
    kind = claims.get("kind") or "user"
    if kind not in ("user", "service"):
        raise Unauthorized("the token's kind must be 'user' or 'service'")
    perms = claims.get("permissions") or []
    if kind == "user" and perms:
        raise Unauthorized("a person's token carries no permissions")
    if kind == "user" and claims["tenant"] == ANY_TENANT:
        raise Unauthorized("a person's token names one tenant")
    return Principal(str(claims["sub"]), str(claims["tenant"]), frozenset(roles), kind, frozenset(perms)), exp


def from_header(header: str | None, secret: str | None = None) -> Principal:
    if not header:
        raise Unauthorized("sign in first: this needs a bearer token (Authorization: Bearer <token>)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return decode(token.strip(), secret)


def authorize(principal: Principal, tenant: str, roles=None) -> Principal:
    """Tenant isolation and role check: 403 when the token is for another tenant or lacks every listed role."""
    if principal.is_service:
        raise Forbidden("a service identity may only call the internal RPC methods it holds a permission for")
    if principal.tenant != tenant:
        raise Forbidden(f"this token is for tenant {principal.tenant!r}, not {tenant!r}")
    if roles and not principal.has_any(roles):
        raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}")
    return principal


def authorize_service(principal: Principal, permission: str) -> Principal:
    if not principal.is_service or not principal.may(permission):
        raise Forbidden(f"this internal call needs a service identity with the permission {permission!r}")
    return principal


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agora.auth", description="Agora JWT tools.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mint", help="mint a token (signed with AGORA_JWT_SECRET)")
    m.add_argument("--sub", required=True, help="user id (JWT subject)")
    m.add_argument("--tenant", required=True, help="tenant (city) the token is valid for")
    m.add_argument("--roles", default="citizen", help=f"comma-separated roles from {', '.join(ROLES)}")
    m.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds (default: one day)")
    args = parser.parse_args(argv)
    try:
        print(mint(args.sub, args.tenant, [r for r in args.roles.split(",") if r], ttl_s=args.ttl))
    except (ValueError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
