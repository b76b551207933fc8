"""HTTP routes of partner streams, served by the relay's HTTP server (``AGORA_HTTP_PORT``) or by
``python -m agora.partners``. Plain ``http.server`` handlers (no nameko: the relay is not a nameko service).

* ``GET /asyncapi.json``, ``GET /schemas/<Type>.v<N>.json`` — anyone: the contract (agora.contract); an event's
  ``dataschema`` points here.
* ``POST /api/v1/partners`` — an admin token (of tenant ``*`` or of every tenant granted): grant
  ``{name, tenants, types, identities, demographics, rotate}`` → 201 ``{amqp_uri, queue, …}``.
* ``GET /api/v1/partners`` — an admin token: the grants of its tenant (all for ``*``), without secrets.
* ``DELETE /api/v1/partners/<name>`` — an admin token: revoke at once.
* ``GET /api/v1/partners/<name>/events?after=<sequence>&since=<ISO time>&limit=N`` — the partner (HTTP Basic: its
  broker user and password; or a bearer token with role ``partner``, ``sub`` = its name) or an admin: replay as
  NDJSON, one CloudEvent per line, then
  ``{"cursor": "<20 digits>", "more": bool}``.
* ``POST /api/v1/partners/<name>/replay`` ``{"after": …}`` or ``{"since": …}`` — the partner or an admin:
  republish into the partner's own queue only.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import urllib.parse

from agora import contract
from agora.errors import Forbidden, Unauthorized
from agora.events.envelope import schema_base_url
from agora.partners import replay
from agora.partners.grants import GrantError, GrantRegistry

log = logging.getLogger("agora.partners")
_ctx: dict = {}


def configure(store, amqp_uri: str) -> None:
    _ctx["store"] = store
    _ctx["amqp_uri"] = amqp_uri
    _ctx["registry"] = GrantRegistry(store.db, amqp_uri, store=store)


def _send(handler, status: int, body, ctype: str = "application/json") -> None:
    if not isinstance(body, bytes):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _error(handler, status: int, code: str, message: str) -> bool:
    _send(handler, status, {"error": code, "message": message})
    return True


def _admin(handler, tenants=()):
    from agora import auth
    principal = auth.from_header(handler.headers.get("Authorization"))
    if principal.is_service or "admin" not in principal.roles:
        raise Forbidden("this needs an admin token")
    outside = [t for t in tenants if principal.tenant not in (auth.ANY_TENANT, t)]
    if outside:
        raise Forbidden(f"this token is for tenant {principal.tenant!r}, not {', '.join(outside)}")
    return principal


def _partner_or_admin(handler, name: str):
    registry: GrantRegistry = _ctx["registry"]
    header = handler.headers.get("Authorization") or ""
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except ValueError:
            raise Unauthorized("malformed Basic credentials") from None
        grant = registry.authenticate(user, password)
        if grant is None:
            raise Unauthorized("unknown partner or wrong password (or the grant was revoked)")
        if user != name:
            raise Forbidden("a partner may replay its own stream only")
        return grant
    grant = registry.get(name)
    from agora import auth
    principal = auth.from_header(header)
    if "partner" in principal.roles and not principal.is_service:      # the partner's own token (role partner)
        if principal.sub != name or grant is None or principal.tenant not in grant.tenants:
            raise Forbidden("a partner may replay its own stream only")
    else:
        _admin(handler, grant.tenants if grant else ())
    if grant is None or grant.revoked:
        raise LookupError(name)
    return grant


def _read_json(handler) -> dict:
    n = int(handler.headers.get("Content-Length") or 0)
    try:
        body = json.loads(handler.rfile.read(n) or b"{}")
    except ValueError:
        raise GrantError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise GrantError("the body must be a JSON object")
    return body


def _instant(value: str) -> None:
    from marshmallow import ValidationError

    from agora.events.ideas import parse_instant
    try:
        parse_instant(value)
    except ValidationError:
        raise GrantError("since must be an ISO 8601 date or date-time") from None


def _position(value: str | None) -> int:
    if value in (None, ""):
        return 0
    if not str(value).isdigit():
        raise GrantError("after must be a sequence (digits)")
    return int(value)


def handle(handler, method: str) -> bool:
    """Serve ``handler.path`` if it is one of these routes; False otherwise (the caller answers 404)."""
    parsed = urllib.parse.urlsplit(handler.path)
    path, query = parsed.path, dict(urllib.parse.parse_qsl(parsed.query))
    if method == "GET":
        served = contract.http_get(path, schema_base_url())
        if served is not None:
            _send(handler, *served)
            return True
    if not path.startswith("/api/v1/partners") or "registry" not in _ctx:
        return False
    try:
        return _route(handler, method, path, query)
    except Unauthorized as exc:
        return _error(handler, 401, "unauthorized", str(exc))
    except Forbidden as exc:
        return _error(handler, 403, "forbidden", str(exc))
    except LookupError:
        return _error(handler, 404, "not_found", "no such partner grant")
    except (GrantError, ValueError) as exc:
        return _error(handler, 422, "validation_failed", str(exc))
    except Exception as exc:  # noqa: BLE001 - one JSON line, the details in the log
        log.exception("partner route %s %s failed", method, path)
        return _error(handler, 503 if type(exc).__name__ == "ConfigurationError" else 500, "unavailable", str(exc))


def _route(handler, method: str, path: str, query: dict) -> bool:
    registry: GrantRegistry = _ctx["registry"]
    if path == "/api/v1/partners":
        if method == "POST":
            body = _read_json(handler)
            tenants = body.get("tenants") or ([body["tenant"]] if body.get("tenant") else [])
            _admin(handler, tenants)
            grant, uri = registry.grant(str(body.get("name", "")), tenants, body.get("types") or [],
                                        identities=body.get("identities", "pseudonym"),
                                        demographics=bool(body.get("demographics")), rotate=bool(body.get("rotate")))
            _send(handler, 201, dict(grant.public(), amqp_uri=uri))
            return True
        if method == "GET":
            from agora.auth import ANY_TENANT
            who = _admin(handler)
            _send(handler, 200, {"items": [g.public() for g in registry.all()
                                           if who.tenant == ANY_TENANT or who.tenant in g.tenants]})
            return True
        return False
    match = re.fullmatch(r"/api/v1/partners/([a-z][a-z0-9-]{1,62})(/events|/replay)?", path)
    if not match:
        return False
    name, sub = match.group(1), match.group(2)
    if sub is None and method == "DELETE":
        grant = registry.get(name)
        _admin(handler, grant.tenants if grant else ())
        if not registry.revoke(name):
            raise LookupError(name)
        _send(handler, 200, {"partner": name, "revoked": True})
        return True
    if sub == "/events" and method == "GET":
        grant = _partner_or_admin(handler, name)
        if query.get("since"):
            _instant(query["since"])
        items = replay.events(_ctx["store"], grant, after=_position(query.get("after")), since=query.get("since"),
                              limit=int(query.get("limit") or 100_000))
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Connection", "close")
        handler.end_headers()
        out = handler.wfile
        buf = []
        for item in items:
            line = item.line() if isinstance(item, replay.Cursor) else item
            buf.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
            if len(buf) >= 500:
                out.write(("\n".join(buf) + "\n").encode("utf-8"))
                buf.clear()
        if buf:
            out.write(("\n".join(buf) + "\n").encode("utf-8"))
        handler.close_connection = True
        return True
    if sub == "/replay" and method == "POST":
        grant = _partner_or_admin(handler, name)
        body = _read_json(handler)
        if body.get("since"):
            _instant(body["since"])
        n, cursor = replay.republish(_ctx["store"], grant, _ctx["amqp_uri"], after=_position(body.get("after")),
                                     since=body.get("since"))
        _send(handler, 202, {"republished": n, **cursor.line()})
        return True
    return False
