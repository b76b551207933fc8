"""HTTP helpers for nameko services: JSON routes with error mapping and metrics, health/ready/metrics, OpenAPI.

``json_route(method, url, ...)`` wraps nameko's ``@http``: the handler returns a dict/list (200), a
``(status, body)`` tuple or a werkzeug Response; :class:`agora.errors.AgoraError` becomes its status with a JSON
body, marshmallow ``ValidationError`` becomes 422 with the failing fields, anything else a logged 500.
Route metadata is kept on the function so :func:`openapi` can document every route of a service class.
"""
from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import re
import time
import uuid

from marshmallow import Schema, ValidationError
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from agora import auth, metrics
from agora.config import freeze_startup_heap
from agora.errors import AgoraError, BadRequest, Forbidden, NotFound, ValidationFailed
from agora.logs import correlation

log = logging.getLogger("agora.web")
ROUTE_ATTR = "__agora_route__"


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json", headers=headers)


def error_response(exc: AgoraError, headers: dict | None = None) -> Response:
    return json_response(exc.to_dict(), exc.status, headers)


@functools.lru_cache(maxsize=None)
def _shared(schema_cls: type[Schema]) -> Schema:
    """One instance per schema class: building a schema deep-copies its fields (nested schemas included) and cost
    more than loading a request with it; an instance keeps no state between ``load`` calls."""
    return schema_cls()


# ---------------------------------------------------------------- content negotiation
class NotAcceptable(AgoraError):
    status = 406
    code = "not_acceptable"


def negotiate(request, offered) -> str:
    """The media type to answer among ``offered`` (best first) for the request's ``Accept``; 406 naming what is
    available when none is acceptable. No ``Accept`` (or ``*/*``) takes the first offered."""
    offered = list(offered)
    accept = request.accept_mimetypes
    if not accept or not request.headers.get("Accept"):
        return offered[0]
    best = accept.best_match(offered)
    if best is None:
        raise NotAcceptable(f"cannot answer {request.headers.get('Accept')!r}: this resource is available as "
                            f"{', '.join(offered)}", available=offered)
    return best


# ---------------------------------------------------------------- input limits
MAX_BODY_BYTES = int(os.environ.get("AGORA_MAX_BODY_BYTES") or 1 << 20)
MAX_JSON_DEPTH = 32


class PayloadTooLarge(AgoraError):
    status = 413
    code = "payload_too_large"


def _check_json(value, depth: int = 0) -> None:
    """Depth limit and Unicode scalar values (no lone surrogates) in every key and string."""
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            if isinstance(v, (dict, list)) or (isinstance(v, str) and not v.isascii()):
                _check_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list)) or (isinstance(v, str) and not v.isascii()):
                _check_json(v, depth + 1)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("text must be Unicode scalar values (a lone surrogate was sent)") from None


def _raw_json(request):
    body = getattr(request, "_agora_json", _MISSING)
    if body is not _MISSING:
        return body
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    raw = request.get_data()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_json(body)
    request._agora_json = body
    return body


_MISSING = object()


def read_json(request, schema: Schema | type[Schema] | None = None):
    """Parse the request body as JSON (400 when malformed, 413 when too large); optionally load it with a marshmallow
    schema (422). A body the route layer loaded already with the same schema is returned as loaded."""
    if schema is not None:
        loaded = getattr(request, "_agora_loaded", None)
        if loaded is not None and loaded[0] in (schema, type(schema)):
            return loaded[1]
    body = _raw_json(request)
    if schema is None:
        return body
    schema = _shared(schema) if isinstance(schema, type) else schema
    if not isinstance(body, dict) and not getattr(schema, "many", False):
        raise ValidationFailed({"_schema": ["expected a JSON object"]})
    try:
        return schema.load(body)
    except ValidationError as err:
        raise ValidationFailed(err.messages) from None


def load_query(request, schema: Schema | type[Schema]):
    loaded = getattr(request, "_agora_query", None)
    if loaded is not None and loaded[0] in (schema, type(schema)):
        return loaded[1]
    schema_obj = _shared(schema) if isinstance(schema, type) else schema
    args = request.args.to_dict()
    for k, v in args.items():
        _check_text(k)
        _check_text(v)
    try:
        return schema_obj.load(args)
    except ValidationError as err:
        raise ValidationFailed(err.messages) from None


def principal(request, tenant: str, roles=None) -> auth.Principal:
    """Authenticate the bearer token (401) and check tenant and roles (403)."""
    caller = getattr(request, "_agora_caller", None)
    if caller is None or caller.tenant != tenant:
        caller = auth.from_header(request.headers.get("Authorization"))
    return auth.authorize(caller, tenant, roles)


def optional_principal(request, tenant: str):
    if not request.headers.get("Authorization"):
        return None
    return principal(request, tenant)


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value for any file name (RFC 6266 / RFC 5987): an ASCII fallback without quotes,
    backslashes or control characters, and the exact name as ``filename*`` (UTF-8, percent-encoded)."""
    from urllib.parse import quote
    fallback = "".join(c if (32 <= ord(c) < 127 and c not in '"\\;') else "_" for c in filename) or "download"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# ---------------------------------------------------------------- load shedding
class ShedLoad(AgoraError):
    status = 503
    code = "overloaded"


_inflight: dict[int, int] = {}


def _max_inflight(container) -> int:
    """Requests a container takes at once: its worker pool plus a short queue (``AGORA_MAX_QUEUE``, default half the
    pool); beyond that a request is answered 503 with ``Retry-After`` at once instead of waiting in line."""
    workers = int(getattr(container, "max_workers", None) or container.config.get("max_workers") or 10)
    queue = int(os.environ.get("AGORA_MAX_QUEUE") or max(4, workers // 2))
    return workers + queue


class AgoraHttp(HttpRequestHandler):
    """nameko's HTTP entrypoint with load shedding (bounded requests in flight per service process, 503 +
    ``Retry-After`` when full) and ``inline`` routes answered without a worker from the pool (health, readiness,
    metrics: they keep answering while every worker is busy)."""

    def __init__(self, method, url, inline=None, **kwargs):
        super().__init__(method, url, **kwargs)
        self.inline = inline

    def handle_request(self, request):
        if self.inline is not None:
            try:
                return _to_response(self.inline(self.container, request), 200)
            except AgoraError as exc:
                return error_response(exc)
        key = id(self.container)
        current = _inflight.get(key, 0)
        if current >= _max_inflight(self.container):
            metrics.child(metrics.HTTP_REQUESTS, self.container.service_name, request.method, self.url,
                          "503").inc()
            return error_response(ShedLoad("the service is at capacity: try again in a moment"),
                                  {"Retry-After": "1"})
        _inflight[key] = current + 1
        try:
            return super().handle_request(request)
        finally:
            _inflight[key] -= 1


agora_http = AgoraHttp.decorator


# ---------------------------------------------------------------- the route layer
_TENANT_PARAM = "tenant"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY = "idempotency_keys"
IDEMPOTENCY_TTL_S = 7 * 86400


def _process_store():
    from agora.nameko import process_store
    return process_store()


def check_tenant(tenant: str):
    """404 ``unknown_tenant`` for a tenant no operator registered (see agora.tenants)."""
    from agora.tenants import registry_for
    return registry_for(_process_store()).get(tenant)


class _Idempotency:
    """Idempotency-Key records, scoped to (tenant, authenticated caller, route), in the read-side database.

    The key is looked up after authentication, authorization and validation; the same key with another request
    (path or body) → 422; a key never answers another caller's request (the caller is part of the scope). The
    command runs inside :class:`agora.application.command` scope, so its event ids are derived from the scope:
    a retry whose first attempt was stored but never answered re-appends nothing."""

    _indexed = False

    @staticmethod
    def collection():
        from agora.nameko import mongo_db
        coll = mongo_db().get_collection(IDEMPOTENCY)
        if not _Idempotency._indexed:
            coll.create_index([("tenant", 1), ("owner", 1), ("key", 1)])
            coll.create_index("expires", expireAfterSeconds=0)
            _Idempotency._indexed = True
        return coll

    @staticmethod
    def scope(tenant: str, caller: auth.Principal, route: str, key: str) -> str:
        from agora.application import request_fingerprint
        return request_fingerprint("idem", tenant, caller.sub, route, key)

    @staticmethod
    def owner(tenant: str, caller: auth.Principal) -> str:
        from agora.application import request_fingerprint
        return request_fingerprint("owner", tenant, caller.sub)


def _validate_key(key: str) -> str:
    if not (1 <= len(key) <= 200) or not key.isprintable() or not key.isascii():
        raise BadRequest("Idempotency-Key must be 1-200 printable ASCII characters")
    return key


def json_route(method: str, url: str, *, summary: str = "", request_schema=None, response_schema=None,
               query_schema=None, status: int = 200, roles=None, auth_roles=None, public: bool = False, tags=(),
               responses: dict | None = None, headers: dict | None = None, idempotent: bool | None = None,
               tenant_scoped: bool = True, produces: tuple = ("application/json",), read_only: bool = False):
    """Decorator: a nameko ``@http`` entrypoint speaking JSON, documented for OpenAPI, with permissions enforced.

    Order for every request: authenticate (401) → authorize the tenant and the declared ``roles`` (403) → the
    tenant must be registered (404 ``unknown_tenant``) → query and body validation (400/413/422) →
    ``Idempotency-Key`` (writes) → the handler. ``public`` routes accept anonymous callers (a token, when sent, must
    be valid and for the tenant). The handler receives the path parameters and, when its signature names them,
    ``caller`` (the :class:`agora.auth.Principal`, None for anonymous), ``body`` (the loaded request schema) and
    ``query`` (the loaded query schema). Writes (POST/PUT/PATCH/DELETE by a person, unless ``read_only``, e.g. a
    search sent as POST) count against the tenant's abuse limits (429 with ``Retry-After``, agora.ratelimit).
    """
    method = method.upper()
    roles = roles if roles is not None else auth_roles
    roles = frozenset(roles) if roles else None
    idempotent = (method in WRITE_METHODS and not public) if idempotent is None else idempotent

    def deco(fn):
        route_name = url
        params = inspect.signature(fn).parameters
        wants = {name for name in ("caller", "body", "query") if name in params}
        scoped = tenant_scoped and (f"<{_TENANT_PARAM}>" in url or f":{_TENANT_PARAM}>" in url)

        def handle(self, request, kwargs):
            tenant = kwargs.get(_TENANT_PARAM) if scoped else None
            caller = None
            if not public or request.headers.get("Authorization"):
                caller = auth.from_header(request.headers.get("Authorization"))
                if tenant is not None:
                    auth.authorize(caller, tenant, roles)
                elif caller.is_service or (roles and not caller.has_any(roles)):
                    raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles or ['(any)']))}")
                request._agora_caller = caller
            if tenant is not None:
                found = check_tenant(tenant)
                if method in WRITE_METHODS and caller is not None and not read_only:
                    from agora.nameko import mongo_db
                    from agora.ratelimit import check_write
                    check_write(mongo_db(), found, request, caller)
            extra = {}
            if query_schema is not None:
                q = load_query(request, query_schema)
                request._agora_query = (query_schema, q)
                if "query" in wants:
                    extra["query"] = q
            if request_schema is not None and method in WRITE_METHODS:
                b = read_json(request, request_schema)
                request._agora_loaded = (request_schema, b)
                if "body" in wants:
                    extra["body"] = b
            if "caller" in wants:
                extra["caller"] = caller
            key = request.headers.get("Idempotency-Key") if idempotent else None
            if key and caller is not None:
                return _idempotent(self, fn, request, kwargs, extra, tenant or "-", caller,
                                   f"{method} {url}", _validate_key(key))
            return fn(self, request, **kwargs, **extra)

        @functools.wraps(fn)
        def wrapper(self, request, **kwargs):
            started = time.perf_counter()
            cid = request.headers.get("X-Correlation-Id") or str(uuid.uuid4())
            if len(cid) > 200 or not cid.isascii() or not cid.isprintable():
                cid = str(uuid.uuid4())
            service = getattr(self, "name", "agora")
            with correlation(cid):
                try:
                    resp = _to_response(handle(self, request, kwargs), status)
                except AgoraError as exc:
                    retry = getattr(exc, "retry_after", None)
                    resp = error_response(exc, {"Retry-After": str(retry)} if retry else None)
                except ValidationError as err:
                    resp = json_response(ValidationFailed(err.messages).to_dict(), 422)
                except Exception:  # noqa: BLE001 - a 500 with a logged traceback, never a crash
                    log.exception("unhandled error in %s %s", method, url)
                    resp = json_response({"error": "internal_error", "message": "internal error",
                                          "correlation_id": cid}, 500)
            resp.headers["X-Correlation-Id"] = cid
            if _RESPONSE_LOG:
                _check_response(type(self), method, url, resp)
            elapsed = time.perf_counter() - started
            metrics.child(metrics.HTTP_REQUESTS, service, method, route_name, str(resp.status_code)).inc()
            metrics.child(metrics.HTTP_SECONDS, service, method, route_name).observe(elapsed)
            return resp

        # nameko checks each request's arguments against the entrypoint's signature (inspect.getcallargs): give it
        # the wrapper's own signature once instead of having it rebuilt from the code object per request
        wrapper.__signature__ = inspect.signature(wrapper, follow_wrapped=False)
        setattr(wrapper, ROUTE_ATTR, {"method": method, "url": url, "summary": summary or
                                      (fn.__doc__ or "").strip().split("\n")[0], "request_schema": request_schema,
                                      "response_schema": response_schema, "query_schema": query_schema,
                                      "status": status, "auth_roles": sorted(roles) if roles else None,
                                      "public": public, "tags": list(tags), "responses": responses or {},
                                      "headers": headers or {}, "idempotent": idempotent,
                                      "tenant_scoped": scoped, "produces": list(produces)})
        return agora_http(method, url)(wrapper)
    return deco


# ---------------------------------------------------------------- responses checked against the OpenAPI document
# ``AGORA_CHECK_RESPONSES=<file>`` (the test suite sets it): every JSON response is validated against the schema the
# service's own OpenAPI document gives for its route and status; a violation is logged and appended to the file as
# one JSON line (agora.testing.plugin fails the test session when the file is not empty).
_RESPONSE_LOG = os.environ.get("AGORA_CHECK_RESPONSES") or ""
_validators: dict = {}


def _response_validator(service_cls, method: str, url: str, status: int):
    key = (service_cls, method, url, status)
    if key not in _validators:
        from openapi_schema_validator import OAS30Validator
        doc = openapi(service_cls, "check")
        op = doc["paths"].get(openapi_path(url), {}).get(method.lower(), {})
        responses = op.get("responses", {})
        entry = responses.get(str(status))
        schema = None
        if entry is None:
            schema = False                              # an undocumented status
        else:
            schema = ((entry.get("content") or {}).get("application/json") or {}).get("schema")
        _validators[key] = (None if schema is None else
                            OAS30Validator({**(schema if isinstance(schema, dict) else {"not": {}}),
                                            "components": doc.get("components", {})}))
    return _validators[key]


def _check_response(service_cls, method: str, url: str, resp: Response) -> None:
    try:
        if resp.mimetype != "application/json" or resp.status_code >= 500:
            return
        validator = _response_validator(service_cls, method, url, resp.status_code)
        if validator is None:
            return
        errors = sorted(validator.iter_errors(json.loads(resp.get_data())), key=lambda e: list(e.path))
        if not errors:
            return
        problem = {"service": getattr(service_cls, "name", "?"), "route": f"{method} {url}",
                   "status": resp.status_code,
                   "errors": [f"{'/'.join(map(str, e.path))}: {e.message[:300]}" for e in errors[:5]]}
    except Exception as exc:  # noqa: BLE001 - checking must never change a response
        problem = {"service": getattr(service_cls, "name", "?"), "route": f"{method} {url}",
                   "status": resp.status_code, "errors": [f"checker failed: {exc!r}"]}
    log.error("response does not match the OpenAPI document: %s", problem)
    with open(_RESPONSE_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(problem) + "\n")


def _to_response(result, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        return json_response(result[1], result[0], result[2] if len(result) > 2 else None)
    return json_response(result, status)


def _idempotent(service, fn, request, kwargs, extra, tenant, caller, route, key):
    from agora.application import command, derive_id, request_fingerprint
    scope = _Idempotency.scope(tenant, caller, route, key)
    fingerprint = request_fingerprint(sorted(kwargs.items()), request.query_string, request.get_data())
    coll = _Idempotency.collection()
    prior = coll.find_one({"_id": scope})
    if prior is not None:
        if prior.get("fingerprint") != fingerprint:
            raise ValidationFailed({"Idempotency-Key": ["this key was used for another request: use a new key"]},
                                   "Idempotency-Key reused with another request")
        return json_response(prior["body"], prior["status"], {"Idempotent-Replayed": "true"})
    with command(derive_id("command", scope)):
        resp = _to_response(fn(service, request, **kwargs, **extra), 200)
    if 200 <= resp.status_code < 300 and resp.mimetype == "application/json":
        import datetime as _dt
        from pymongo.errors import DuplicateKeyError
        now = _dt.datetime.now(_dt.timezone.utc)
        try:
            coll.insert_one({"_id": scope, "tenant": tenant, "owner": _Idempotency.owner(tenant, caller),
                             "key": key, "route": route, "fingerprint": fingerprint, "status": resp.status_code,
                             "body": json.loads(resp.get_data()), "at": now,
                             "expires": now + _dt.timedelta(seconds=IDEMPOTENCY_TTL_S)})
        except DuplicateKeyError:
            pass                            # a concurrent twin answered first: it appended the same events
    return resp


class PlatformSetup(DependencyProvider):
    """Checks at container start that the process may run (token configuration outside development mode) and
    registers the tenants an operator declared in ``AGORA_TENANTS`` (see agora.tenants)."""

    def setup(self):
        try:
            auth.check_configuration()
        except auth.ConfigurationError as exc:
            log.critical("refusing to start: %s", exc)
            raise SystemExit(f"agora: refusing to start: {exc}") from None
        from agora.tenants import ensure_declared, registry_for
        ensure_declared(registry_for(_process_store()))

    def get_dependency(self, worker_ctx):
        return None


class ObservableService:
    """Mixin: ``GET /health`` (process alive), ``/ready`` (store and broker reachable), ``/metrics``, JSON 404/405
    for unknown routes and methods, ``GET /api/v1/tenants/<tenant>/commands/<key>`` (the recorded outcome of the
    caller's ``Idempotency-Key``), and a 1 s timer so that nameko stops within a second of SIGTERM (an idle
    eventlet hub otherwise sleeps ~60 s).

    The entrypoints are attached to each subclass (``__init_subclass__``), so ``nameko run module`` does not
    mistake this imported mixin for a service of its own.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)

        def metrics_(container, request):
            body, content_type = metrics.exposition()
            return Response(body, status=200, headers={"Content-Type": content_type})

        def heartbeat(self):
            """Keeps the eventlet hub awake so SIGTERM is handled within a second."""

        def command_outcome(self, request, tenant, key, caller):
            """The outcome recorded for the caller's ``Idempotency-Key`` (for a client that lost its answer)."""
            coll = _Idempotency.collection()
            docs = list(coll.find({"tenant": tenant, "owner": _Idempotency.owner(tenant, caller),
                                   "key": _validate_key(key)}))
            if not docs:
                raise NotFound("no outcome is recorded for this Idempotency-Key: the command was not completed "
                               "(send it again with the same key)")
            return {"key": key, "outcomes": [{"route": d["route"], "status": d["status"], "body": d["body"],
                                              "at": d["at"]} for d in docs]}

        def not_found(self, request, path):
            allowed = _allowed_methods(type(self), "/" + path)
            if allowed and request.method.upper() not in allowed:
                return json_response({"error": "method_not_allowed",
                                      "message": f"{request.method} is not allowed here; use "
                                                 f"{', '.join(sorted(allowed))}"}, 405,
                                     {"Allow": ", ".join(sorted(allowed))})
            return json_response({"error": "not_found", "message": f"no route {request.method} /{path}"}, 404)

        service_name = cls.name
        cls.health = ops_route("GET", "/health", "Liveness: the process is alive",
                               lambda container, request: {"status": "ok", "service": service_name})
        cls.ready = ops_route("GET", "/ready", "Readiness: the event store is reachable (the broker's state is "
                              "reported: the service keeps serving without it)", _ready,
                              responses={503: "the event store is unreachable"})
        cls.metrics = agora_http("GET", "/metrics", inline=metrics_)(_never_called)
        cls.command_outcome = json_route(
            "GET", "/api/v1/tenants/<tenant>/commands/<key>", tags=["ops"],
            summary="The recorded outcome of one of your Idempotency-Keys",
            responses={400: "not a valid Idempotency-Key (1-200 printable ASCII characters)",
                       404: "no outcome recorded for this key"})(command_outcome)
        cls._not_found = agora_http("GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS", "/<path:path>")(not_found)
        cls._heartbeat = timer(interval=1)(heartbeat)
        cls._agora_config = Config()
        cls._agora_platform = PlatformSetup()


def _never_called(self, request):   # pragma: no cover - inline routes are answered by AgoraHttp itself
    raise AssertionError("inline route")


def ops_route(method: str, url: str, summary: str, inline, responses: dict | None = None):
    """An operations route answered inline (no worker from the pool), documented like a json_route."""
    def entry(self, request):   # pragma: no cover - never called (inline)
        raise AssertionError("inline route")
    wrapped = agora_http(method, url, inline=inline)(entry)
    setattr(wrapped, ROUTE_ATTR, {"method": method, "url": url, "summary": summary, "request_schema": None,
                                  "response_schema": None, "query_schema": None, "status": 200,
                                  "auth_roles": None, "public": True, "tags": ["ops"],
                                  "responses": responses or {}, "headers": {}, "idempotent": False,
                                  "tenant_scoped": False, "produces": ["application/json"]})
    return wrapped


def _ready(container, request):
    from agora.nameko import check_ready
    problems = check_ready(container.config)
    store = [p for p in problems if p.startswith("event store")]
    if store:
        return 503, {"status": "unavailable", "problems": problems}
    freeze_startup_heap()   # before the first "ready": the one full collection then costs no request
    body = {"status": "ready", "service": container.service_name}
    if problems:
        body["degraded"] = problems     # no broker: commands still work, projections poll the store
    return body


@functools.lru_cache(maxsize=None)
def _url_map(service_cls):
    from werkzeug.routing import Map, Rule
    rules = []
    for method, path in http_entrypoints_of(service_cls, raw=True):
        if path != "/<path:path>":
            rules.append(Rule(path, methods=[method], endpoint=f"{method} {path}"))
    return Map(rules)


def _allowed_methods(service_cls, path: str) -> set[str]:
    adapter = _url_map(service_cls).bind("localhost")
    allowed = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            adapter.match(path, method=method)
            allowed.add(method)
        except Exception:  # noqa: BLE001 - werkzeug's NotFound / MethodNotAllowed / RequestRedirect
            continue
    return allowed


# ---------------------------------------------------------------- OpenAPI 3 (apispec + its marshmallow plugin)
def _field_extras(converter, field, ret=None, **kwargs) -> dict:
    """A field class may carry an ``openapi`` dict (e.g. a decimal amount written as a string with a pattern)."""
    return dict(getattr(field, "openapi", None) or {})


def _plugin():
    from apispec.ext.marshmallow import MarshmallowPlugin
    return MarshmallowPlugin()


def schema_to_jsonschema(schema) -> dict:
    """The OpenAPI 3.0 schema object of a marshmallow schema (nested schemas inlined)."""
    from apispec import APISpec
    plugin = _plugin()
    APISpec("x", "1", "3.0.3", plugins=[plugin])      # initialises the plugin's converter
    plugin.converter.add_attribute_function(_field_extras)
    schema = schema() if isinstance(schema, type) else schema
    return plugin.converter.schema2jsonschema(schema)


def routes_of(service_cls) -> list[dict]:
    out = []
    for _, member in inspect.getmembers(service_cls):
        meta = getattr(member, ROUTE_ATTR, None)
        if meta:
            out.append(meta)
    return out


def http_entrypoints_of(service_cls, raw: bool = False) -> set[tuple[str, str]]:
    """(METHOD, openapi path) of every nameko @http entrypoint on the class (documented or not); ``raw`` keeps the
    werkzeug rule. The JSON 404/405 catch-all is left out."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    out = set()
    for _, member in inspect.getmembers(service_cls):
        for ext in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
            if isinstance(ext, HttpRequestHandler):
                if ext.url == "/<path:path>":
                    continue
                for m in ext.method.split(","):
                    out.add((m.strip().upper(), ext.url if raw else openapi_path(ext.url)))
    return out


def openapi_path(url: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", url)


def openapi(service_cls, title: str, version: str = "1.0.0", description: str = "") -> dict:
    """OpenAPI 3.0.3 document of every ``json_route`` of ``service_cls``, built with apispec's marshmallow plugin:
    request and response schemas are reusable components (``#/components/schemas/…``), with nullable fields,
    patterns, enums, lengths and ranges from the schemas' fields and validators; declared roles and the errors the
    route layer answers (401, 403, 404 unknown tenant, 400/413/422, 429) are documented per operation."""
    from apispec import APISpec
    plugin = _plugin()
    spec = APISpec(title=title, version=version, openapi_version="3.0.3", plugins=[plugin],
                   info={"description": description})
    plugin.converter.add_attribute_function(_field_extras)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"},
        "correlation_id": {"type": "string"}}})
    error = {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def err(text: str) -> dict:
        return dict(error, description=text)

    paths: dict = {}
    for meta in sorted(routes_of(service_cls), key=lambda m: (m["url"], m["method"])):
        path = openapi_path(meta["url"])
        ok: dict = {"description": "success"}
        if meta["response_schema"] is not None:
            ok["content"] = {"application/json": {"schema": meta["response_schema"]}}
        elif meta.get("produces") and meta["produces"] != ["application/json"]:
            ok["content"] = {media: {"schema": {"type": "string"}} for media in meta["produces"]}
        op: dict = {"summary": meta["summary"] or f"{meta['method']} {path}", "tags": meta["tags"],
                    "operationId": f"{meta['method'].lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
                    "responses": {str(meta["status"]): ok}}
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"{([^}]+)}", path)]
        if meta["query_schema"] is not None:
            params.append({"in": "query", "schema": meta["query_schema"]})
        for name, text in meta.get("headers", {}).items():
            params.append({"name": name, "in": "header", "required": False, "description": text,
                           "schema": {"type": "string"}})
        if meta.get("idempotent"):
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "makes the request safe to retry: scoped to you and this route; the same "
                                          "key with another body is refused (422)",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 200}})
        if params:
            op["parameters"] = params
        if meta["request_schema"] is not None and meta["method"] in WRITE_METHODS:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["request_schema"]}}}
        if meta["method"] in WRITE_METHODS:
            op["responses"]["400"] = err("malformed JSON, too deep, text that is not Unicode, or a bad "
                                         "Idempotency-Key")
            op["responses"]["413"] = err("request body too large")
        if meta["request_schema"] is not None or meta["query_schema"] is not None or \
                meta["method"] in WRITE_METHODS:
            op["responses"]["422"] = err("invalid fields (details.fields names each failing field)")
        if meta.get("tenant_scoped"):
            op["responses"]["404"] = err("unknown tenant, or the resource does not exist")
        if meta["public"] and meta.get("tenant_scoped"):
            op["security"] = [{}, {"bearer": []}]
            op["responses"]["401"] = err("a token was sent and it is expired or invalid (anonymous is allowed)")
            op["responses"]["403"] = err("a token for another tenant was sent")
        if not meta["public"]:
            op["security"] = [{"bearer": []}]
            op["responses"]["401"] = err("missing, expired or invalid token")
            roles = meta.get("auth_roles")
            op["responses"]["403"] = err("token for another tenant" + (f", or none of the roles {', '.join(roles)}"
                                                                        if roles else ""))
            if roles:
                op["description"] = f"Roles: {', '.join(roles)}."
            if meta["method"] in WRITE_METHODS and meta.get("tenant_scoped"):
                op["responses"]["429"] = err("too many writes: abuse limit reached (see Retry-After)")
        if meta.get("produces") and meta["produces"] != ["application/json"]:
            op["responses"]["406"] = err("none of the formats the Accept header asks for")
        for code, text in meta["responses"].items():
            # a text documents an error; a marshmallow schema (class) a second success status, e.g. 201 beside 200
            op["responses"][str(code)] = err(text) if isinstance(text, str) else {
                "description": "success", "content": {"application/json": {"schema": text}}}
        paths.setdefault(path, {})[meta["method"].lower()] = op
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    doc = spec.to_dict()
    if ("GET", "/metrics") in http_entrypoints_of(service_cls):
        doc["paths"]["/metrics"] = {"get": {"summary": "Prometheus metrics", "tags": ["ops"],
                                            "operationId": "get_metrics",
                                            "responses": {"200": {"description": "text exposition format",
                                                                  "content": {"text/plain": {
                                                                      "schema": {"type": "string"}}}}}}}
    return doc
