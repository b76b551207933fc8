"""The bridge's use cases, each a few lines over :class:`agora.application.CommandRunner`.

:class:`Bridge` is what the nameko entrypoints call. Who acts is the caller's pseudonym (``store.person_id``),
never the identity provider's subject; staff (admin) manage every adapter of their tenant, a partner only those it
registered. Read models and their queries: :mod:`backoffice_bridge.projections`; the delivery scheduler:
:mod:`backoffice_bridge.delivery`; inbound decisions: :mod:`backoffice_bridge.inbound`.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from agora.application import CommandRunner
from agora.errors import AgoraError, Conflict, NotFound, ValidationFailed
from agora.events import NewEvent, StoredEvent

from backoffice_bridge import decisions as dmap
from backoffice_bridge import domain
from backoffice_bridge import webhooks as wh
from backoffice_bridge.delivery import DeliveryScheduler, PUSH_TYPES, append_delivery_event, key, new_delivery
from backoffice_bridge.inbound import InboundDecisions
from backoffice_bridge.projections import BridgeProjection, BridgeQueries, Collections, Viewer
from backoffice_bridge.renderers import MEDIA_TYPES, render
from backoffice_bridge.schemas import load_decision
from backoffice_bridge.settings import BridgeSettings

STAFF_ROLES = ("admin",)


class NotAcceptable(AgoraError):
    status = 406
    code = "not_acceptable"


class Bridge:
    def __init__(self, store, db, settings: BridgeSettings | None = None,
                 spawn_all: Callable[[list], None] | None = None, http=None):
        self.store = store
        self.runner = CommandRunner(store)
        self.settings = settings or BridgeSettings()
        self.cols = Collections.of(db)
        self.projection = BridgeProjection(self.cols)
        self.queries = BridgeQueries(self.cols)
        self.scheduler = DeliveryScheduler(self.runner, self.cols, self.settings, self.render_doc, spawn_all, http)
        self.inbound = InboundDecisions(store, self.runner, self.settings)

    def ensure_indexes(self) -> "Bridge":
        self.cols.ensure_indexes()
        return self

    def viewer(self, tenant: str, caller) -> Viewer:
        return Viewer(self.store.person_id(tenant, caller.sub), caller.has_any(STAFF_ROLES))

    # ------------------------------------------------------------------ recording decisions (subscription)
    def record_from_event(self, event: StoredEvent) -> Optional[str]:
        """``DecisionRecorded`` for another service's decision event (idempotent: ids derive from the source event).
        Returns the decision id (None: not a decision)."""
        options = {"public_url": self.settings.public_url, "body": self.settings.body,
                   "default_language": self.settings.default_language}
        if event.type in dmap.BUDGET_TYPES:
            if not dmap.selected_projects(event.data):
                return None                    # RoundClosed {round_id, ballots, at}: no outcome in it
            options["round_info"] = dmap.round_info_from(self.store.read_stream(event.tenant, event.stream))
        doc = dmap.from_event(event.type, event.tenant, event.id, event.time, event.data, **options)
        if doc is None:
            return None
        data = {"decision_id": doc["id"], "kind": doc["kind"], "outcome": doc["outcome"], "origin": event.source,
                "source_event_id": event.id, "source_type": event.type, "decision": doc,
                "inbound_command_id": dmap.inbound_marker(event)}
        recorded = NewEvent("DecisionRecorded", data, id=dmap.recorded_event_id(doc["id"]),
                            correlationid=event.correlationid or event.id, causationid=event.id)
        self.runner.append_new(event.tenant, f"decision-{doc['id']}", recorded)
        return doc["id"]

    # ------------------------------------------------------------------ renderings
    def render_doc(self, doc: dict, fmt: str, **options) -> tuple[str, str]:
        return render(load_decision(doc["decision"]), fmt, base=self.settings.iri_base, **options), MEDIA_TYPES[fmt]

    # ------------------------------------------------------------------ adapters
    def configure_adapter(self, tenant: str, caller, adapter_id: str, spec: dict) -> dict:
        viewer = self.viewer(tenant, caller)
        stream = f"adapter-{adapter_id}"
        secret = spec.pop("secret", None)
        if spec["type"] == "webhook":
            try:
                wh.check_url(spec["url"])
            except wh.UnsafeDestination as exc:
                raise ValidationFailed({"url": [str(exc)]}) from None
        has_secret = secret is not None or bool(self.scheduler.secrets_of(tenant, adapter_id))

        def decide(events):
            return domain.configure_adapter(domain.adapter_from_events(events), adapter_id, spec,
                                            person=viewer.person, staff=viewer.staff, has_secret=has_secret)
        decide(self.store.read_stream(tenant, stream))          # refusals before the secret is stored
        if secret is not None:
            self._set_secrets(tenant, adapter_id, [{"secret": secret, "created_at": time.time(), "valid_until": None}])
        return self.runner.run(tenant, stream, decide).body(adapter_id=adapter_id)

    def _set_secrets(self, tenant: str, adapter_id: str, entries: list[dict]) -> None:
        self.cols.secrets.update_one({"_id": key(tenant, adapter_id)},
                                     {"$set": {"tenant": tenant, "secrets": entries}, "$unset": {"secret": ""}},
                                     upsert=True)

    def _own_adapter(self, tenant: str, caller, adapter_id: str) -> dict:
        return self.queries.adapter_doc(tenant, adapter_id, self.viewer(tenant, caller))

    def rotate_secret(self, tenant: str, caller, adapter_id: str, secret: str,
                      previous_valid_s: Optional[float]) -> dict:
        """The new secret signs from now on; the previous one signs too until ``previous_valid_s`` has passed, so
        receivers can switch without losing a delivery. Neither is ever shown."""
        adapter = self._own_adapter(tenant, caller, adapter_id)
        if adapter.get("type") != "webhook":
            raise Conflict("only webhook adapters have a signing secret", reason="not_a_webhook")
        now = time.time()
        overlap = self.settings.rotation_overlap_s if previous_valid_s is None else float(previous_valid_s)
        previous = self.scheduler.secrets_of(tenant, adapter_id)[:1]
        entries = [{"secret": secret, "created_at": now, "valid_until": None}]
        if previous and overlap > 0 and previous[0] != secret:
            entries.append({"secret": previous[0], "created_at": now, "valid_until": now + overlap})
        self._set_secrets(tenant, adapter_id, entries)
        return {"adapter_id": adapter_id, "secrets_in_force": len(entries),
                "previous_valid_until": entries[1]["valid_until"] if len(entries) > 1 else None}

    def ping(self, tenant: str, caller, adapter_id: str) -> dict:
        adapter = self._own_adapter(tenant, caller, adapter_id)
        if adapter.get("type") != "webhook":
            raise Conflict("only webhook adapters can be pinged", reason="not_a_webhook")
        return dict(self.scheduler.ping(tenant, adapter), adapter_id=adapter_id)

    # ------------------------------------------------------------------ replays
    def replay(self, tenant: str, caller, delivery_id: str, force: bool = False) -> dict:
        viewer = self.viewer(tenant, caller)
        doc = self.queries.delivery_doc(tenant, delivery_id, viewer)
        domain.check_replay(doc["status"], force)
        self._requeue(tenant, doc, viewer.person)
        return self.queries.get_delivery(tenant, delivery_id, viewer)

    def _requeue(self, tenant: str, doc: dict, person: str) -> bool:
        generation = int(doc.get("generation", 0)) + 1
        # the request is recorded first (idempotent id per generation), so it precedes the new attempts' events
        append_delivery_event(self.runner, tenant, doc, "DeliveryReplayRequested", {"requested_by": person},
                              dmap.derived_id("replay", tenant, doc["delivery_id"], generation))
        res = self.cols.deliveries.update_one(
            {"_id": doc["_id"], "status": doc["status"], "generation": doc.get("generation", 0)},
            {"$set": {"status": "pending", "attempts": 0, "generation": generation, "next_retry": time.time(),
                      "replayed_by": person}, "$unset": {"dead_at": "", "last_error": ""}})
        if res.modified_count != 1:
            raise Conflict("the delivery changed meanwhile; retry", reason="delivery_changed")
        return True

    def replay_adapter(self, tenant: str, caller, adapter_id: str, after: int, limit: int) -> dict:
        """Deliver again (or for the first time: decisions recorded before the adapter existed) every decision
        after the cursor ``after`` to one push adapter; deliveries pending or in flight are left as they are."""
        viewer = self.viewer(tenant, caller)
        adapter = self.queries.adapter_doc(tenant, adapter_id, viewer)
        if adapter.get("type") not in PUSH_TYPES:
            raise Conflict("a pull adapter replays by pulling from an earlier cursor", reason="not_pushed")
        if not adapter.get("enabled", True):
            raise Conflict(f"adapter {adapter_id!r} is disabled", reason="adapter_disabled")
        queued, skipped = [], []
        decisions = self.queries.decisions_after(tenant, after, limit)
        for decision in decisions:
            delivery_id = dmap.delivery_id_for(decision["decision_id"], adapter_id)
            doc = self.cols.deliveries.find_one({"_id": key(tenant, delivery_id)})
            if doc is None:
                fresh = new_delivery(tenant, decision["decision_id"], adapter, time.time())
                self.cols.deliveries.update_one({"_id": key(tenant, delivery_id)}, {"$setOnInsert": fresh},
                                                upsert=True)
                queued.append(delivery_id)
            elif doc["status"] in domain.REPLAYABLE + ("succeeded",):
                self._requeue(tenant, doc, viewer.person)
                queued.append(delivery_id)
            else:
                skipped.append(delivery_id)
        nxt = decisions[-1]["seq"] if decisions else after
        return {"adapter_id": adapter_id, "queued": queued, "skipped": skipped, "next": nxt,
                "has_more": nxt < self.queries.head(tenant)}

    # ------------------------------------------------------------------ pull
    def pull(self, tenant: str, caller, adapter_id: str, after: int, limit: int) -> dict:
        try:
            adapter = self.queries.adapter_doc(tenant, adapter_id, self.viewer(tenant, caller))
        except NotFound:
            adapter = None
        if adapter is None or adapter.get("type") != "pull":
            raise NotFound(f"no pull adapter {adapter_id!r} of yours in tenant {tenant!r}")
        if not adapter.get("enabled", True):
            raise Conflict(f"pull adapter {adapter_id!r} is disabled", reason="adapter_disabled")
        fmt = adapter["format"]
        items = []
        for doc in self.queries.decisions_after(tenant, after, max(1, min(int(limit), 200))):
            body, ctype = self.render_doc(doc, fmt)
            items.append({"cursor": doc["seq"], "decision_id": doc["decision_id"], "format": fmt,
                          "content_type": ctype, "document": body,
                          "idempotency_key": wh.idempotency_key(doc["decision_id"], adapter_id, fmt)})
        # pulling after N acknowledges everything up to N
        self.cols.cursors.update_one({"_id": key(tenant, adapter_id)},
                                     {"$max": {"acked": int(after)}, "$set": {"last_pull_at": time.time()}},
                                     upsert=True)
        nxt = items[-1]["cursor"] if items else after
        return {"adapter_id": adapter_id, "items": items, "next": nxt, "has_more": nxt < self.queries.head(tenant)}

    # ------------------------------------------------------------------ inbound
    def apply_inbound(self, tenant: str, caller, raw: bytes, content_type: str, change_status) -> tuple[int, dict]:
        return self.inbound.apply(tenant, self.store.person_id(tenant, caller.sub), raw, content_type, change_status)


# ------------------------------------------------------------------ content negotiation of renderings
#: the representations of a decision a client may ask for by ``Accept`` (server preference first)
NEGOTIABLE = (("json", "application/json"), ("oslo-ttl", "text/turtle"), ("oslo-jsonld", "application/ld+json"),
              ("akn", "application/akn+xml"), ("akn", "application/xml"), ("csv", "text/csv"),
              ("popolo", "application/vnd.popolo+json"))
FORMAT_MEDIA = {"json": ("application/json",), "oslo-ttl": ("text/turtle",),
                "oslo-jsonld": ("application/ld+json", "application/json"),
                "akn": ("application/akn+xml", "application/xml", "text/xml"),
                "popolo": ("application/vnd.popolo+json", "application/json"),
                "csv": ("text/csv",)}


def negotiate(explicit: Optional[str], accept) -> str:
    """The format to answer: ``explicit`` (an extension or ``?format=``) when ``Accept`` allows it, else the best
    of :data:`NEGOTIABLE` for ``Accept`` (a werkzeug ``MIMEAccept``); 406 when nothing acceptable exists."""
    if not accept:
        return explicit or "json"
    if explicit is not None:
        if any(accept.quality(m) > 0 for m in FORMAT_MEDIA[explicit]):
            return explicit
        offered = FORMAT_MEDIA[explicit]
    else:
        best = accept.best_match([m for _, m in NEGOTIABLE])
        if best is not None:
            return next(fmt for fmt, m in NEGOTIABLE if m == best)
        offered = tuple(dict.fromkeys(m for _, m in NEGOTIABLE))
    raise NotAcceptable(f"cannot answer {accept.to_header()!r}: this resource is available as {', '.join(offered)}",
                        available=list(offered))
