"""The backoffice-bridge nameko service: thin entrypoints over :class:`backoffice_bridge.application.Bridge`.

* ``@subscribe("sources")``: decision events of other services (``IdeaStatusChanged`` with a decision status,
  budget round outcomes) → ``DecisionRecorded`` in stream ``decision-{id}`` (id derived from the source event id).
* ``@subscribe("projection")``: ``DecisionRecorded`` / ``DeliveryConfigured`` / ``PersonalDataForgotten`` → the
  decision projection, adapters and the delivery log (one pending delivery per push adapter), in the checkpoint's
  transaction.
* ``@timer``: the delivery scheduler runs due deliveries (:mod:`backoffice_bridge.delivery`).
* HTTP under ``/api/v1/tenants/<tenant>/`` for admins and partners (a partner sees and manages only the adapters it
  registered): decisions and their renderings, adapters (register, rotate the secret, ping, replay), the delivery
  log, the pull feed, inbound decisions (→ the ideas service's ``change_status_from_decision``, called with the
  bridge's service identity).
"""
from __future__ import annotations

import os

import eventlet
from nameko.timer import timer
from werkzeug.wrappers import Response

from agora.errors import ValidationFailed
from agora.events.bridge import ADAPTER_ID_RE
from agora.nameko import subscribe
from agora.rpc import ServiceRpc
from agora.web import MAX_BODY_BYTES, ObservableService, PayloadTooLarge, content_disposition, json_route, openapi

from backoffice_bridge import api_schemas as api
from backoffice_bridge.application import negotiate
from backoffice_bridge.decisions import format_of
from backoffice_bridge.dependencies import BridgeApp
from backoffice_bridge.inbound import UpstreamUnavailable
from backoffice_bridge.projections import READ_MODELS
from backoffice_bridge.renderers import EXTENSIONS, FORMATS

T = "/api/v1/tenants/<tenant>"
READERS = ["admin", "partner"]
NOT_FOUND = {404: "unknown tenant, or no such decision, adapter or delivery (of yours)"}
TICK_S = float(os.environ.get("AGORA_BRIDGE_TICK_S") or 0.5)


def _adapter_id(adapter_id: str) -> str:
    import re
    if not re.match(ADAPTER_ID_RE, adapter_id):
        raise ValidationFailed({"adapter_id": [f"must match {ADAPTER_ID_RE}"]})
    return adapter_id


class BackofficeBridgeService(ObservableService):
    name = "backoffice_bridge"

    bridge = BridgeApp()
    ideas = ServiceRpc("ideas", permissions=["ideas.change_status"])

    # ================================================================== subscriptions and timer
    @subscribe("sources", {"ideas": ["IdeaStatusChanged"], "budgets": ["OutcomeComputed", "RoundClosed"]},
               max_attempts=5, backoff_s=0.2, collections=[])  # appends DecisionRecorded only (idempotent ids)
    def on_decision_event(self, event, session):
        self.bridge.record_from_event(event)

    # the read models a rebuild may empty; secrets, the delivery log and pull cursors are state, not projections
    @subscribe("projection", {"bridge": ["DecisionRecorded", "DeliveryConfigured"],
                              "agora": ["PersonalDataForgotten"]},
               max_attempts=5, backoff_s=0.2, collections=READ_MODELS)
    def on_bridge_event(self, event, session):
        self.bridge.projection.apply(event, session)

    @timer(interval=TICK_S)
    def deliver_due(self):
        self.bridge.scheduler.tick()

    # ================================================================== docs
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        doc = openapi(BackofficeBridgeService, "Agora back-office bridge API", "1.0.0",
                      "Decisions exported to municipal back offices (OSLO, Akoma Ntoso, Popolo, CSV), delivery "
                      "adapters (webhook with Standard Webhooks signatures, drop folder, pull) and inbound decisions.")
        inbound = doc["paths"].get("/api/v1/tenants/{tenant}/decisions/inbound", {}).get("post")
        if inbound:
            inbound["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"type": "object", "description": "a Decision (see the README)"}},
                "text/turtle": {"schema": {"type": "string", "description": "an OSLO besluit:Besluit"}},
                "application/ld+json": {"schema": {"type": "object",
                                                   "description": "an OSLO besluit:Besluit (JSON-LD)"}}}}
        detail = doc["paths"].get("/api/v1/tenants/{tenant}/decisions/{decision_id}", {}).get("get")
        if detail:
            detail["responses"]["200"]["content"].update({
                "text/turtle": {"schema": {"type": "string"}}, "application/ld+json": {"schema": {"type": "object"}},
                "application/akn+xml": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}},
                "application/vnd.popolo+json": {"schema": {"type": "object"}}})
        return doc

    # ================================================================== decisions
    @json_route("GET", T + "/decisions", summary="List recorded decisions (seq cursor pages)", roles=READERS,
                query_schema=api.ListQuery, response_schema=api.DecisionList, tags=["decisions"])
    def http_list(self, request, tenant, query):
        return self.bridge.queries.list_decisions(tenant, query["after"], query["limit"])

    @json_route("POST", T + "/decisions/inbound", roles=READERS,
                summary="A back office posts a decision (application/json, text/turtle, application/ld+json); "
                        "the ideas' statuses change through the ideas service",
                response_schema=api.InboundOut, tags=["inbound"],
                responses={404: "unknown tenant or idea", 409: "status change not allowed now",
                           415: "unsupported media type", 207: "some ideas changed, some not",
                           503: "ideas service unavailable"})
    def http_inbound(self, request, tenant, caller):
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        raw = request.get_data()
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")

        def change_status(tenant_, idea_id, status, feedback, feedback_language):
            try:
                with eventlet.Timeout(self.bridge.settings.rpc_timeout_s):
                    return self.ideas.change_status_from_decision(tenant_, idea_id, status, feedback,
                                                                  feedback_language)
            except eventlet.Timeout:
                raise UpstreamUnavailable("the ideas service did not answer in time") from None
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ == "UnknownService":
                    raise UpstreamUnavailable("the ideas service is not running") from None
                raise

        return self.bridge.apply_inbound(tenant, caller, raw, request.headers.get("Content-Type", ""),
                                         change_status)

    @json_route("GET", T + "/decisions/<decision_id>", roles=READERS,
                summary="A decision (JSON), or rendered: append .ttl | .jsonld | .akn.xml | .popolo.json | .csv, "
                        "pass ?format=, or send Accept (406 when nothing acceptable exists)",
                query_schema=api.RenderQuery, response_schema=api.DecisionDetail, tags=["decisions"],
                responses={**NOT_FOUND, 406: "no representation matches Accept"})
    def http_decision(self, request, tenant, decision_id, query):
        explicit = None
        if query.get("format"):
            explicit = format_of(query["format"])
            if explicit is None:
                raise ValidationFailed({"format": [f"unknown format {query['format']!r}; one of "
                                                   f"{', '.join(list(FORMATS) + ['json'])} or an extension"]})
        doc, ext_fmt = self.bridge.queries.find_decision(tenant, decision_id)
        if doc is None:
            self.bridge.queries.decision_doc(tenant, decision_id)          # 404
        fmt = negotiate(explicit or ext_fmt, request.accept_mimetypes if request.headers.get("Accept") else None)
        if fmt == "json":
            out = {**self._summary(doc), "decision": doc["decision"],
                   "formats": {f: f"{doc['decision_id']}.{EXTENSIONS[f]}" for f in FORMATS}}
            return out
        options = {"excel": True} if fmt == "csv" and query.get("variant") == "excel" else {}
        body, ctype = self.bridge.render_doc(doc, fmt, **options)
        if options:
            ctype = "text/csv; charset=utf-8; header=present"
        name = f"{doc['decision_id']}.{EXTENSIONS[fmt]}"
        return Response(body.encode("utf-8"), status=200, headers={
            "Content-Type": ctype, "Content-Disposition": content_disposition(name), "Vary": "Accept"})

    @staticmethod
    def _summary(doc):
        from backoffice_bridge.projections import decision_summary
        return decision_summary(doc)

    @json_route("GET", T + "/decisions/<decision_id>/deliveries", roles=READERS,
                summary="Delivery log of a decision: one entry per adapter of yours (attempts, status, next retry)",
                response_schema=api.DecisionDeliveries, tags=["deliveries"], responses=NOT_FOUND)
    def http_decision_deliveries(self, request, tenant, decision_id, caller):
        return self.bridge.queries.deliveries_of(tenant, decision_id, self.bridge.viewer(tenant, caller))

    # ================================================================== adapters
    @json_route("PUT", T + "/deliveries/adapters/<adapter_id>", roles=READERS,
                summary="Register or change a delivery adapter: webhook or pull (partners: their own), drop_folder "
                        "(admin)", request_schema=api.AdapterIn, response_schema=api.CommandOut,
                tags=["deliveries"], responses={409: "the adapter id belongs to someone else"})
    def http_configure(self, request, tenant, adapter_id, caller, body):
        return self.bridge.configure_adapter(tenant, caller, _adapter_id(adapter_id), dict(body))

    @json_route("GET", T + "/deliveries/adapters", roles=READERS,
                summary="Delivery adapters (a partner: its own; admin: all)", response_schema=api.AdapterList,
                tags=["deliveries"])
    def http_adapters(self, request, tenant, caller):
        return self.bridge.queries.list_adapters(tenant, self.bridge.viewer(tenant, caller))

    @json_route("GET", T + "/deliveries/adapters/<adapter_id>", summary="One delivery adapter (of yours)",
                roles=READERS, response_schema=api.Adapter, tags=["deliveries"], responses=NOT_FOUND)
    def http_adapter(self, request, tenant, adapter_id, caller):
        return self.bridge.queries.get_adapter(tenant, adapter_id, self.bridge.viewer(tenant, caller))

    @json_route("POST", T + "/deliveries/adapters/<adapter_id>/secret", roles=READERS,
                summary="Rotate a webhook's signing secret: the new one signs now, the previous one too until "
                        "previous_valid_s has passed", request_schema=api.SecretIn, response_schema=api.SecretOut,
                tags=["deliveries"], responses={**NOT_FOUND, 409: "not a webhook"})
    def http_rotate(self, request, tenant, adapter_id, caller, body):
        return self.bridge.rotate_secret(tenant, caller, adapter_id, body["secret"], body["previous_valid_s"])

    @json_route("POST", T + "/deliveries/adapters/<adapter_id>/ping", roles=READERS,
                summary="Send a signed test request (webhook-event-type: ping) to a webhook and tell the outcome",
                response_schema=api.PingOut, tags=["deliveries"], responses={**NOT_FOUND, 409: "not a webhook"})
    def http_ping(self, request, tenant, adapter_id, caller):
        return self.bridge.ping(tenant, caller, adapter_id)

    @json_route("POST", T + "/deliveries/adapters/<adapter_id>/replay", roles=READERS,
                summary="Deliver the decisions after a cursor to a push adapter again (or for the first time)",
                query_schema=api.AdapterReplayQuery, response_schema=api.AdapterReplayOut, tags=["deliveries"],
                responses={**NOT_FOUND, 409: "a pull adapter, or disabled"})
    def http_replay_adapter(self, request, tenant, adapter_id, caller, query):
        return self.bridge.replay_adapter(tenant, caller, adapter_id, query["after"], query["limit"])

    # ================================================================== delivery log, replay, pull
    @json_route("GET", T + "/deliveries", summary="Delivery log (of your adapters; filter by status, adapter)",
                roles=READERS, query_schema=api.DeliveryQuery, response_schema=api.DeliveryList,
                tags=["deliveries"])
    def http_deliveries(self, request, tenant, caller, query):
        return self.bridge.queries.list_deliveries(tenant, self.bridge.viewer(tenant, caller), query.get("status"),
                                                   query.get("adapter"), query["limit"])

    @json_route("GET", T + "/deliveries/pull", roles=READERS,
                summary="Pull feed of your pull adapter: decisions after a cursor, rendered in its format; pulling "
                        "after N acknowledges everything up to N", query_schema=api.PullQuery,
                response_schema=api.PullOut, tags=["deliveries"], responses=NOT_FOUND)
    def http_pull(self, request, tenant, caller, query):
        return self.bridge.pull(tenant, caller, query["adapter"], query["after"], query["limit"])

    @json_route("GET", T + "/deliveries/<delivery_id>", summary="One delivery (of yours) with its attempts",
                roles=READERS, response_schema=api.Delivery, tags=["deliveries"], responses=NOT_FOUND)
    def http_delivery(self, request, tenant, delivery_id, caller):
        return self.bridge.queries.get_delivery(tenant, delivery_id, self.bridge.viewer(tenant, caller))

    @json_route("POST", T + "/deliveries/<delivery_id>/replay", roles=READERS,
                summary="Replay a dead-lettered (or, with force=true, a succeeded) delivery of yours now",
                query_schema=api.ReplayQuery, response_schema=api.Delivery, tags=["deliveries"],
                responses={**NOT_FOUND, 409: "the delivery is pending or in flight"})
    def http_replay(self, request, tenant, delivery_id, caller, query):
        return self.bridge.replay(tenant, caller, delivery_id, query["force"])
