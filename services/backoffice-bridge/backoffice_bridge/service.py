"""The backoffice-bridge nameko service: thin entrypoints over :class:`backoffice_bridge.dependencies.Bridge`.

* ``@subscribe("sources")``: decision events of other services (``IdeaStatusChanged`` with a decision status,
  budget round outcomes) → ``DecisionRecorded`` in stream ``decision-{id}`` (id derived from the source event id).
* ``@subscribe("projection")``: ``DecisionRecorded`` / ``DeliveryConfigured`` → decision projection, adapters and
  the delivery log (one pending delivery per push adapter), in the checkpoint's transaction.
* ``@timer``: runs due deliveries (webhook POST with HMAC signature + Idempotency-Key, drop-folder write),
  exponential back-off with ``next_retry`` stored in Mongo, dead letter after ``max_attempts``.
* HTTP under ``/api/v1/tenants/<tenant>/``: decisions and their renderings, delivery adapters, delivery log,
  replay, pull feed, inbound decisions (→ ideas service RPC ``change_status``). Roles: admin or partner.
"""
from __future__ import annotations

import os

import eventlet
from nameko.rpc import RpcProxy
from nameko.timer import timer
from werkzeug.wrappers import Response

from agora.nameko import subscribe
from agora.web import ObservableService, json_route, load_query, openapi, principal, read_json

from backoffice_bridge import api_schemas as api
from backoffice_bridge.dependencies import BridgeApp, UpstreamUnavailable
from backoffice_bridge.schemas import DecisionSchema

T = "/api/v1/tenants/<tenant>"
READERS = {"admin", "partner"}
ADMINS = {"admin"}
NOT_FOUND = {404: "unknown decision, adapter or delivery"}
TICK_S = float(os.environ.get("AGORA_BRIDGE_TICK_S") or 0.5)
INBOUND_MEDIA = ("application/json", "text/turtle", "application/ld+json")


class BackofficeBridgeService(ObservableService):
    name = "backoffice_bridge"

    bridge = BridgeApp()
    ideas = RpcProxy("ideas")

    # ================================================================== subscriptions and timer
    @subscribe("sources", {"ideas": ["IdeaStatusChanged"], "budgets": ["OutcomeComputed", "RoundClosed"]},
               max_attempts=5, backoff_s=0.2, collections=[])  # appends DecisionRecorded only (idempotent ids)
    def on_decision_event(self, event, session):
        self.bridge.record_from_event(event)

    # the read models a rebuild may empty; secrets, the delivery log and pull cursors are state, not projections
    @subscribe("projection", {"bridge": ["DecisionRecorded", "DeliveryConfigured"]}, max_attempts=5,
               backoff_s=0.2, collections=["bridge_decisions", "bridge_counters", "bridge_adapters"])
    def on_bridge_event(self, event, session):
        self.bridge.project(event, session)

    @timer(interval=TICK_S)
    def deliver_due(self):
        self.bridge.tick()

    # ================================================================== docs
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        doc = openapi(BackofficeBridgeService, "Agora back-office bridge API", "1.0.0",
                      "Decisions exported to municipal back offices (OSLO, Akoma Ntoso, Popolo, CSV), delivery "
                      "adapters (webhook, drop folder, pull) and inbound decisions.")
        inbound = doc["paths"].get("/api/v1/tenants/{tenant}/decisions/inbound", {}).get("post")
        if inbound:
            content = inbound["requestBody"]["content"]
            content["text/turtle"] = {"schema": {"type": "string", "description": "an OSLO besluit:Besluit"}}
            content["application/ld+json"] = {"schema": {"type": "object",
                                                         "description": "an OSLO besluit:Besluit (JSON-LD)"}}
        detail = doc["paths"].get("/api/v1/tenants/{tenant}/decisions/{decision_id}", {}).get("get")
        if detail:
            detail["responses"]["200"]["content"].update({
                "text/turtle": {"schema": {"type": "string"}}, "application/ld+json": {"schema": {"type": "object"}},
                "application/akn+xml": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}})
        return doc

    # ================================================================== decisions
    @json_route("GET", T + "/decisions", summary="List recorded decisions (seq cursor pages)",
                query_schema=api.ListQuery, response_schema=api.DecisionList, auth_roles=sorted(READERS),
                tags=["decisions"])
    def http_list(self, request, tenant):
        principal(request, tenant, READERS)
        q = load_query(request, api.ListQuery)
        return self.bridge.list_decisions(tenant, q["after"], q["limit"])

    @json_route("POST", T + "/decisions/inbound",
                summary="A back office posts a decision (application/json, text/turtle, application/ld+json); "
                        "the ideas' statuses change through the ideas service",
                request_schema=DecisionSchema, response_schema=api.InboundOut, auth_roles=sorted(READERS),
                tags=["inbound"], responses={404: "unknown idea", 409: "status change not allowed now",
                                             415: "unsupported media type", 207: "some ideas changed, some not",
                                             503: "ideas service unavailable"})
    def http_inbound(self, request, tenant):
        who = principal(request, tenant, READERS)

        def change_status(**kwargs):
            try:
                with eventlet.Timeout(self.bridge.settings.rpc_timeout_s):
                    return self.ideas.change_status(**kwargs)
            except eventlet.Timeout:
                raise UpstreamUnavailable("the ideas service did not answer in time") from None
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ == "UnknownService":
                    raise UpstreamUnavailable("the ideas service is not running") from None
                raise

        return self.bridge.apply_inbound(tenant, request.get_data(), request.headers.get("Content-Type", ""),
                                         who, change_status)

    @json_route("GET", T + "/decisions/<decision_id>",
                summary="A decision (JSON), or rendered: append .ttl | .jsonld | .akn.xml | .popolo.json | .csv "
                        "or pass ?format=", query_schema=api.RenderQuery, response_schema=api.DecisionDetail,
                auth_roles=sorted(READERS), tags=["decisions"], responses=NOT_FOUND)
    def http_decision(self, request, tenant, decision_id):
        principal(request, tenant, READERS)
        q = load_query(request, api.RenderQuery)
        doc, fmt = self.bridge.resolve(tenant, decision_id, q.get("format"))
        if fmt == "json":
            return self.bridge.get_decision(tenant, doc["decision_id"])
        body, ctype = self.bridge.render_doc(doc, fmt)
        return Response(body.encode("utf-8"), status=200, headers={"Content-Type": ctype})

    @json_route("GET", T + "/decisions/<decision_id>/deliveries",
                summary="Delivery log of a decision: one entry per adapter (attempts, status, next retry)",
                response_schema=api.DecisionDeliveries, auth_roles=sorted(READERS), tags=["deliveries"],
                responses=NOT_FOUND)
    def http_decision_deliveries(self, request, tenant, decision_id):
        principal(request, tenant, READERS)
        return self.bridge.deliveries_of(tenant, decision_id)

    # ================================================================== adapters
    @json_route("PUT", T + "/deliveries/adapters/<adapter_id>",
                summary="Create or change a delivery adapter (admin): webhook, drop_folder or pull",
                request_schema=api.AdapterIn, response_schema=api.CommandOut, auth_roles=sorted(ADMINS),
                tags=["deliveries"])
    def http_configure(self, request, tenant, adapter_id):
        who = principal(request, tenant, ADMINS)
        body = read_json(request, api.AdapterIn)
        return self.bridge.configure_adapter(tenant, adapter_id, body, who.sub)

    @json_route("GET", T + "/deliveries/adapters", summary="The tenant's delivery adapters",
                response_schema=api.AdapterList, auth_roles=sorted(READERS), tags=["deliveries"])
    def http_adapters(self, request, tenant):
        principal(request, tenant, READERS)
        return self.bridge.list_adapters(tenant)

    @json_route("GET", T + "/deliveries/adapters/<adapter_id>", summary="One delivery adapter",
                response_schema=api.Adapter, auth_roles=sorted(READERS), tags=["deliveries"], responses=NOT_FOUND)
    def http_adapter(self, request, tenant, adapter_id):
        principal(request, tenant, READERS)
        return self.bridge.get_adapter(tenant, adapter_id)

    # ================================================================== delivery log, replay, pull
    @json_route("GET", T + "/deliveries", summary="Delivery log (filter by status, adapter)",
                query_schema=api.DeliveryQuery, response_schema=api.DeliveryList, auth_roles=sorted(READERS),
                tags=["deliveries"])
    def http_deliveries(self, request, tenant):
        principal(request, tenant, READERS)
        q = load_query(request, api.DeliveryQuery)
        return self.bridge.list_deliveries(tenant, q.get("status"), q.get("adapter"), q["limit"])

    @json_route("GET", T + "/deliveries/pull",
                summary="Pull feed of a pull adapter: decisions after a cursor, rendered in its format; pulling "
                        "after N acknowledges everything up to N", query_schema=api.PullQuery,
                response_schema=api.PullOut, auth_roles=sorted(READERS), tags=["deliveries"], responses=NOT_FOUND)
    def http_pull(self, request, tenant):
        principal(request, tenant, READERS)
        q = load_query(request, api.PullQuery)
        return self.bridge.pull(tenant, q["adapter"], q["after"], q["limit"])

    @json_route("GET", T + "/deliveries/<delivery_id>", summary="One delivery with its attempts",
                response_schema=api.Delivery, auth_roles=sorted(READERS), tags=["deliveries"], responses=NOT_FOUND)
    def http_delivery(self, request, tenant, delivery_id):
        principal(request, tenant, READERS)
        return self.bridge.get_delivery(tenant, delivery_id)

    @json_route("POST", T + "/deliveries/<delivery_id>/replay",
                summary="Replay a dead-lettered (or, with force=true, a succeeded) delivery now (admin)",
                query_schema=api.ReplayQuery, response_schema=api.Delivery, auth_roles=sorted(ADMINS),
                tags=["deliveries"], responses={**NOT_FOUND, 409: "the delivery is pending or in flight"})
    def http_replay(self, request, tenant, delivery_id):
        who = principal(request, tenant, ADMINS)
        q = load_query(request, api.ReplayQuery)
        return self.bridge.replay(tenant, delivery_id, who.sub, q["force"])
