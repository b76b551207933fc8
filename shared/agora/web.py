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
import re
import time
import uuid

from marshmallow import Schema, ValidationError, fields
from nameko.dependency_providers import Config
from nameko.timer import timer
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from agora import auth, metrics
from agora.config import freeze_startup_heap
from agora.errors import AgoraError, BadRequest, ValidationFailed
from agora.logs import correlation

log = logging.getLogger("agora.web")
ROUTE_ATTR = "__agora_route__"


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json", headers=headers)


@functools.lru_cache(maxsize=None)
def _shared(schema_cls: type[Schema]) -> Schema:
    """One instance per schema class: building a schema deep-copies its fields (nested schemas included) and cost
    more than loading a request with it; an instance keeps no state between ``load`` calls."""
    return schema_cls()


def read_json(request, schema: Schema | type[Schema] | None = None):
    """Parse the request body as JSON (400 when malformed); optionally load it with a marshmallow schema (422)."""
    raw = request.get_data()
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid UTF-8 JSON: {exc}") from None
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
    schema = _shared(schema) if isinstance(schema, type) else schema
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as err:
        raise ValidationFailed(err.messages) from None


def principal(request, tenant: str, roles=None) -> auth.Principal:
    """Authenticate the bearer token (401) and check tenant and roles (403)."""
    return auth.authorize(auth.from_header(request.headers.get("Authorization")), tenant, roles)


def optional_principal(request, tenant: str):
    if not request.headers.get("Authorization"):
        return None
    return principal(request, tenant)


def json_route(method: str, url: str, *, summary: str = "", request_schema=None, response_schema=None,
               query_schema=None, status: int = 200, auth_roles=None, public: bool = False, tags=(),
               responses: dict | None = None, headers: dict | None = None):
    """Decorator: a nameko ``@http`` entrypoint speaking JSON, documented for OpenAPI."""
    def deco(fn):
        route_name = url

        @functools.wraps(fn)
        def wrapper(self, request, **kwargs):
            started = time.perf_counter()
            cid = request.headers.get("X-Correlation-Id") or str(uuid.uuid4())
            service = getattr(self, "name", "agora")
            with correlation(cid):
                try:
                    result = fn(self, request, **kwargs)
                    if isinstance(result, Response):
                        resp = result
                    elif isinstance(result, tuple):
                        resp = json_response(result[1], result[0])
                    else:
                        resp = json_response(result, status)
                except AgoraError as exc:
                    resp = json_response(exc.to_dict(), exc.status)
                except ValidationError as err:
                    resp = json_response(ValidationFailed(err.messages).to_dict(), 422)
                except Exception:  # noqa: BLE001 - a 500 with a logged traceback, never a crash
                    log.exception("unhandled error in %s %s", method, url)
                    resp = json_response({"error": "internal_error", "message": "internal error",
                                          "correlation_id": cid}, 500)
            resp.headers["X-Correlation-Id"] = cid
            elapsed = time.perf_counter() - started
            metrics.child(metrics.HTTP_REQUESTS, service, method, route_name, str(resp.status_code)).inc()
            metrics.child(metrics.HTTP_SECONDS, service, method, route_name).observe(elapsed)
            return resp

        # nameko checks each request's arguments against the entrypoint's signature (inspect.getcallargs): give it
        # the wrapper's own signature once instead of having it rebuilt from the code object per request
        wrapper.__signature__ = inspect.signature(wrapper, follow_wrapped=False)
        setattr(wrapper, ROUTE_ATTR, {"method": method.upper(), "url": url, "summary": summary or
                                      (fn.__doc__ or "").strip().split("\n")[0], "request_schema": request_schema,
                                      "response_schema": response_schema, "query_schema": query_schema,
                                      "status": status, "auth_roles": auth_roles, "public": public,
                                      "tags": list(tags), "responses": responses or {},
                                      "headers": headers or {}})
        return http(method.upper(), url)(wrapper)
    return deco


class ObservableService:
    """Mixin: ``GET /health`` (process alive), ``/ready`` (store and broker reachable), ``/metrics``, and a 1 s
    timer so that nameko stops within a second of SIGTERM (an idle eventlet hub otherwise sleeps ~60 s).

    The entrypoints are attached to each subclass (``__init_subclass__``), so ``nameko run module`` does not
    mistake this imported mixin for a service of its own.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)

        def health(self, request):
            return {"status": "ok", "service": self.name}

        def ready(self, request):
            from agora.nameko import check_ready
            problems = check_ready(self._agora_config)
            if problems:
                return 503, {"status": "unavailable", "problems": problems}
            freeze_startup_heap()   # before the first "ready": the one full collection then costs no request
            return {"status": "ready", "service": self.name}

        def metrics_(self, request):
            body, content_type = metrics.exposition()
            return Response(body, status=200, headers={"Content-Type": content_type})

        def heartbeat(self):
            """Keeps the eventlet hub awake so SIGTERM is handled within a second."""

        cls.health = json_route("GET", "/health", summary="Liveness: the process is alive", public=True,
                                tags=["ops"])(health)
        cls.ready = json_route("GET", "/ready", summary="Readiness: the event store and the broker are reachable",
                               public=True, tags=["ops"], responses={503: "store or broker unreachable"})(ready)
        cls.metrics = http("GET", "/metrics")(metrics_)
        cls._heartbeat = timer(interval=1)(heartbeat)
        cls._agora_config = Config()


# ---------------------------------------------------------------- OpenAPI 3
_FIELD_TYPES = [
    (fields.Boolean, {"type": "boolean"}),
    (fields.Integer, {"type": "integer"}),
    (fields.Float, {"type": "number"}),
    (fields.Decimal, {"type": "number"}),
    (fields.Number, {"type": "number"}),
    (fields.AwareDateTime, {"type": "string", "format": "date-time"}),
    (fields.DateTime, {"type": "string", "format": "date-time"}),
    (fields.Date, {"type": "string", "format": "date"}),
    (fields.UUID, {"type": "string", "format": "uuid"}),
    (fields.Email, {"type": "string", "format": "email"}),
    (fields.Url, {"type": "string", "format": "uri"}),
    (fields.String, {"type": "string"}),
    (fields.Dict, {"type": "object"}),
]


def _field_schema(field) -> dict:
    if isinstance(field, fields.Nested):
        nested = field.nested() if callable(field.nested) and not isinstance(field.nested, type) else field.nested
        inner = schema_to_jsonschema(nested)
        return {"type": "array", "items": inner} if field.many else inner
    if isinstance(field, fields.List):
        return {"type": "array", "items": _field_schema(field.inner)}
    out: dict = dict(getattr(field, "openapi", None) or {})
    if not out:
        for cls, js in _FIELD_TYPES:
            if isinstance(field, cls):
                out = dict(js)
                break
    for v in getattr(field, "validators", []) or []:
        name = type(v).__name__
        if name == "Length":
            if v.min is not None:
                out["minLength"] = v.min
            if v.max is not None:
                out["maxLength"] = v.max
        elif name == "Range":
            if v.min is not None:
                out["minimum"] = v.min
            if v.max is not None:
                out["maximum"] = v.max
        elif name == "OneOf":
            out["enum"] = list(v.choices)
    if field.allow_none:
        out["nullable"] = True
    return out


def schema_to_jsonschema(schema) -> dict:
    schema = schema() if isinstance(schema, type) else schema
    props, required = {}, []
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        key = field.data_key or name
        props[key] = _field_schema(field)
        if field.required:
            required.append(key)
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def routes_of(service_cls) -> list[dict]:
    out = []
    for _, member in inspect.getmembers(service_cls):
        meta = getattr(member, ROUTE_ATTR, None)
        if meta:
            out.append(meta)
    return out


def http_entrypoints_of(service_cls) -> set[tuple[str, str]]:
    """(METHOD, openapi path) of every nameko @http entrypoint on the class (documented or not)."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    out = set()
    for _, member in inspect.getmembers(service_cls):
        for ext in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
            if type(ext).__name__ == "HttpRequestHandler":
                for m in ext.method.split(","):
                    out.add((m.strip().upper(), openapi_path(ext.url)))
    return out


def openapi_path(url: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", url)


def openapi(service_cls, title: str, version: str = "1.0.0", description: str = "") -> dict:
    """OpenAPI 3.0 document for every ``json_route`` of ``service_cls``."""
    paths: dict = {}
    error = {"$ref": "#/components/schemas/Error"}
    for meta in routes_of(service_cls):
        path = openapi_path(meta["url"])
        op: dict = {"summary": meta["summary"] or f"{meta['method']} {path}", "tags": meta["tags"],
                    "responses": {str(meta["status"]): {"description": "success"}}}
        if meta["response_schema"] is not None:
            op["responses"][str(meta["status"])]["content"] = {
                "application/json": {"schema": schema_to_jsonschema(meta["response_schema"])}}
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"{([^}]+)}", path)]
        if meta["query_schema"] is not None:
            qs = schema_to_jsonschema(meta["query_schema"])
            for name, js in qs["properties"].items():
                params.append({"name": name, "in": "query", "required": name in qs.get("required", []),
                               "schema": js})
        for name, text in meta.get("headers", {}).items():
            params.append({"name": name, "in": "header", "required": False, "description": text,
                           "schema": {"type": "string"}})
        if params:
            op["parameters"] = params
        if meta["request_schema"] is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": schema_to_jsonschema(meta["request_schema"])}}}
            op["responses"]["400"] = {"description": "malformed JSON", "content": {
                "application/json": {"schema": error}}}
            op["responses"]["422"] = {"description": "invalid fields", "content": {
                "application/json": {"schema": error}}}
        if not meta["public"]:
            op["security"] = [{"bearer": []}]
            op["responses"]["401"] = {"description": "missing or invalid token"}
            op["responses"]["403"] = {"description": "wrong tenant or role"}
        for code, text in meta["responses"].items():
            op["responses"][str(code)] = {"description": text, "content": {"application/json": {"schema": error}}}
        paths.setdefault(path, {})[meta["method"].lower()] = op
    if ("GET", "/metrics") in http_entrypoints_of(service_cls):
        paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "tags": ["ops"],
                                     "responses": {"200": {"description": "text exposition format"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"},
                "details": {"type": "object"}}}},
        },
    }
