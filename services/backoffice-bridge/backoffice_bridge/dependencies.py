"""The bridge's application layer over the event store and Mongo, and its nameko dependency (``BridgeApp``).

:class:`Bridge` does everything the entrypoints need; ``service.py`` only wires HTTP/subscriptions/timer to it.

Collections (prefix ``bridge_``):

* ``bridge_decisions`` — projection of ``DecisionRecorded``: ``{_id: "tenant/decision_id", tenant, decision_id, seq,
  position, kind, outcome, origin, source_event_id, decision}``; ``seq`` is a per-tenant contiguous counter
  (``bridge_counters``) so that list pages and the pull feed are index range queries (no server-side sort).
* ``bridge_adapters`` — projection of ``DeliveryConfigured`` (the tenant's delivery adapters).
* ``bridge_secrets`` — webhook secrets (written by the HTTP API, never put in events).
* ``bridge_deliveries`` — the delivery log and retry schedule, one document per (decision, push adapter):
  ``status`` pending → in_flight → succeeded | pending (retry, ``next_retry`` Unix s) | dead_lettered | cancelled;
  ``attempts``, ``log`` (one entry per attempt). It is created in the same transaction as the decision projection
  and is operational state (not disposable): a succeeded delivery is recorded (journaled write) before anything
  else happens, so a restarted bridge never sends it again; retries survive restarts because ``next_retry`` is
  stored and the timer picks due deliveries. A claimed delivery carries a lease: if the process dies mid-flight
  the lease expires and the delivery is retried (the receiver dedupes by ``Idempotency-Key``).
* ``bridge_pull_cursors`` — the highest cursor each pull adapter acknowledged (by pulling ``after`` it).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

from pymongo import ReturnDocument, WriteConcern
from nameko.extensions import DependencyProvider

from agora.errors import AgoraError, BadRequest, Conflict, NotFound, ValidationFailed
from agora.events.envelope import NewEvent, StoredEvent
from agora.store import ANY, EventStore
from agora.events.bridge import ADAPTER_ID_RE, FORMATS

from backoffice_bridge import decisions as dmap
from backoffice_bridge import delivery as dl
from backoffice_bridge import inbound as inb
from backoffice_bridge.renderers import EXTENSIONS, MEDIA_TYPES, render
from backoffice_bridge.schemas import DecisionInvalid, load_decision

log = logging.getLogger("backoffice_bridge")

PUSH_TYPES = ("webhook", "drop_folder")
STATUSES = ("pending", "in_flight", "succeeded", "dead_lettered", "cancelled")
ERROR_STATUS = {"ValidationFailed": 422, "ValidationError": 422, "NotFound": 404, "Conflict": 409,
                "ConcurrencyError": 409, "Forbidden": 403, "Unauthorized": 401, "BadRequest": 400}


class UnsupportedMediaType(AgoraError):
    status = 415
    code = "unsupported_media_type"


class UpstreamUnavailable(AgoraError):
    status = 503
    code = "upstream_unavailable"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class BridgeSettings:
    """Configuration from the environment (see README)."""

    def __init__(self):
        from agora.config import settings
        s = settings()
        self.public_url = s.public_url
        self.default_language = s.default_language
        self.body = {"id": _env("AGORA_BRIDGE_BODY_ID", "council"),
                     "name": _env("AGORA_BRIDGE_BODY_NAME", "Municipal council"),
                     "classification": _env("AGORA_BRIDGE_BODY_CLASSIFICATION", "council")}
        self.iri_base = os.environ.get("AGORA_BRIDGE_IRI_BASE") or None
        self.drop_root = Path(_env("AGORA_BRIDGE_DROP_ROOT", "/tmp/agora-bridge-drop"))
        self.oslo_context = os.environ.get("AGORA_BRIDGE_OSLO_CONTEXT") or None
        self.rpc_timeout_s = float(_env("AGORA_BRIDGE_RPC_TIMEOUT_S", "30"))
        self.lease_s = float(_env("AGORA_BRIDGE_LEASE_S", "120"))
        self.batch = int(_env("AGORA_BRIDGE_BATCH", "50"))


def _now() -> float:
    return time.time()


def _iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    import datetime as dt
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _key(tenant: str, ident: str) -> str:
    return f"{tenant}/{ident}"


class Bridge:
    def __init__(self, store: EventStore, db, settings: BridgeSettings | None = None,
                 spawn_all: Callable[[list], None] | None = None, http=None):
        self.store = store
        self.db = db
        self.settings = settings or BridgeSettings()
        durable = WriteConcern(w=1, j=True)
        self.decisions = db.get_collection("bridge_decisions", write_concern=durable)
        self.counters = db.get_collection("bridge_counters", write_concern=durable)
        self.adapters = db.get_collection("bridge_adapters", write_concern=durable)
        self.secrets = db.get_collection("bridge_secrets", write_concern=durable)
        self.deliveries = db.get_collection("bridge_deliveries", write_concern=durable)
        self.cursors = db.get_collection("bridge_pull_cursors", write_concern=durable)
        self.spawn_all = spawn_all or (lambda fns: [fn() for fn in fns])
        if http is None:
            import requests
            http = requests.Session()
        self.http = http
        self._contexts = None

    def ensure_indexes(self) -> "Bridge":
        self.decisions.create_index([("tenant", 1), ("seq", 1)], unique=True, name="tenant_seq")
        self.deliveries.create_index([("status", 1), ("next_retry", 1)], name="due")
        self.deliveries.create_index([("tenant", 1), ("decision_id", 1)], name="by_decision")
        self.adapters.create_index([("tenant", 1)], name="by_tenant")
        return self

    # ================================================================== recording decisions
    def record_from_event(self, event: StoredEvent) -> Optional[str]:
        """Subscription handler for other services' decision events: append ``DecisionRecorded`` (idempotent:
        the event id derives from the source event id). Returns the decision id (None: not a decision)."""
        options = {"public_url": self.settings.public_url, "body": self.settings.body,
                   "default_language": self.settings.default_language}
        if event.type in dmap.BUDGET_TYPES:
            if not dmap.selected_projects(event.data):
                return None                    # RoundClosed {round_id, ballots, at}: no outcome in it
            # titles and currency live in the round's RoundOpened / ProjectAdded events
            options["round_info"] = dmap.round_info_from(self.store.read_stream(event.tenant, event.stream))
        doc = dmap.from_event(event.type, event.tenant, event.id, event.time, event.data, **options)
        if doc is None:
            return None
        inbound_cmd = event.causationid if (event.causationid or "").startswith(dmap.INBOUND_PREFIX) else None
        data = {"decision_id": doc["id"], "kind": doc["kind"], "outcome": doc["outcome"], "origin": event.source,
                "source_event_id": event.id, "source_type": event.type, "decision": doc,
                "inbound_command_id": inbound_cmd}
        self.store.append(event.tenant, f"decision-{doc['id']}",
                          [NewEvent("DecisionRecorded", data, id=dmap.recorded_event_id(doc["id"]),
                                    correlationid=event.correlationid or event.id, causationid=event.id)], ANY)
        return doc["id"]

    # ================================================================== projection (one transaction per batch)
    def project(self, event: StoredEvent, session) -> None:
        if event.type == "DecisionRecorded":
            self._project_decision(event, session)
        elif event.type == "DeliveryConfigured":
            self._project_adapter(event, session)

    def _project_decision(self, event: StoredEvent, session) -> None:
        t, d = event.tenant, event.data
        key = _key(t, d["decision_id"])
        if self.decisions.find_one({"_id": key}, {"_id": 1}, session=session):
            return
        counter = self.counters.find_one_and_update({"_id": f"seq:{t}"}, {"$inc": {"seq": 1}}, upsert=True,
                                                    return_document=ReturnDocument.AFTER, session=session)
        seq = int(counter["seq"])
        self.decisions.insert_one({
            "_id": key, "tenant": t, "decision_id": d["decision_id"], "seq": seq, "position": event.position,
            "kind": d["kind"], "outcome": d["outcome"], "origin": d["origin"], "source_event_id":
            d["source_event_id"], "source_type": d["source_type"], "inbound_command_id": d.get("inbound_command_id"),
            "recorded_at": event.time, "title": d["decision"].get("title"), "decision": d["decision"]},
            session=session)
        now = _now()
        for adapter in self.adapters.find({"tenant": t, "enabled": True, "type": {"$in": list(PUSH_TYPES)}},
                                          session=session):
            delivery_id = dmap.delivery_id_for(d["decision_id"], adapter["adapter_id"])
            self.deliveries.update_one({"_id": _key(t, delivery_id)}, {"$setOnInsert": {
                "tenant": t, "delivery_id": delivery_id, "decision_id": d["decision_id"],
                "adapter_id": adapter["adapter_id"], "adapter_type": adapter["type"], "format": adapter["format"],
                "status": "pending", "attempts": 0, "generation": 0, "next_retry": now, "created_at": now,
                "log": []}}, upsert=True, session=session)

    def _project_adapter(self, event: StoredEvent, session) -> None:
        d = dict(event.data)
        self.adapters.update_one({"_id": _key(event.tenant, d["adapter_id"])},
                                 {"$set": dict(d, tenant=event.tenant, position=event.position,
                                               configured_at=event.time)}, upsert=True, session=session)

    # ================================================================== reads
    def _decision_doc(self, tenant: str, decision_id: str) -> dict:
        doc = self.decisions.find_one({"_id": _key(tenant, decision_id)})
        if doc is None:
            raise NotFound(f"no decision {decision_id!r} in tenant {tenant!r}")
        return doc

    @staticmethod
    def _summary(doc: dict) -> dict:
        return {"decision_id": doc["decision_id"], "seq": doc["seq"], "kind": doc["kind"], "outcome": doc["outcome"],
                "title": doc.get("title"), "origin": doc["origin"], "source_event_id": doc["source_event_id"],
                "source_type": doc["source_type"], "recorded_at": doc.get("recorded_at"),
                "inbound_command_id": doc.get("inbound_command_id")}

    def list_decisions(self, tenant: str, after: int = 0, limit: int = 50) -> dict:
        limit = max(1, min(int(limit), 500))
        docs = list(self.decisions.find({"tenant": tenant, "seq": {"$gt": after, "$lte": after + limit}}))
        docs.sort(key=lambda d: d["seq"])
        items = [self._summary(d) for d in docs]
        head = (self.counters.find_one({"_id": f"seq:{tenant}"}) or {}).get("seq", 0)
        nxt = items[-1]["seq"] if items else after
        return {"items": items, "next": nxt, "has_more": nxt < head}

    def get_decision(self, tenant: str, decision_id: str) -> dict:
        doc = self._decision_doc(tenant, decision_id)
        out = self._summary(doc)
        out["decision"] = doc["decision"]
        out["formats"] = {fmt: f"{decision_id}.{EXTENSIONS[fmt]}" for fmt in FORMATS}
        return out

    def resolve(self, tenant: str, name: str, fmt_param: Optional[str]) -> tuple[dict, str]:
        """``name`` may carry an extension (``d-1.akn.xml``); an exact decision id wins over the extension."""
        fmt = None
        if fmt_param:
            fmt = dmap.format_of(fmt_param)
            if fmt is None:
                raise ValidationFailed({"format": [f"unknown format {fmt_param!r}; one of "
                                                   f"{', '.join(list(FORMATS) + ['json'])} or an extension"]})
        doc = self.decisions.find_one({"_id": _key(tenant, name)})
        if doc is None:
            base, ext_fmt = dmap.split_extension(name)
            if ext_fmt is not None:
                doc = self.decisions.find_one({"_id": _key(tenant, base)})
                fmt = fmt or ext_fmt
        if doc is None:
            raise NotFound(f"no decision {name!r} in tenant {tenant!r}")
        return doc, fmt or "json"

    def render_doc(self, doc: dict, fmt: str) -> tuple[str, str]:
        decision = load_decision(doc["decision"])
        return render(decision, fmt, base=self.settings.iri_base), MEDIA_TYPES[fmt]

    # ================================================================== adapters
    def configure_adapter(self, tenant: str, adapter_id: str, body: dict, who: str) -> dict:
        import re
        if not re.match(ADAPTER_ID_RE, adapter_id):
            raise ValidationFailed({"adapter_id": [f"must match {ADAPTER_ID_RE}"]})
        errors: dict = {}
        atype = body.get("type")
        if atype == "webhook":
            url = body.get("url") or ""
            if not re.match(r"^https?://[^\s/]+", url):
                errors["url"] = ["an http(s) URL is required for a webhook"]
            secret = body.get("secret")
            existing = self.secrets.find_one({"_id": _key(tenant, adapter_id)})
            if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
                errors["secret"] = ["at least 16 characters"]
            elif secret is None and existing is None:
                errors["secret"] = ["a shared secret is required for a webhook (HMAC-SHA256 signatures)"]
        elif atype == "drop_folder":
            folder = body.get("folder") or ""
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", folder):
                errors["folder"] = ["a folder name ([A-Za-z0-9._-], no path): created under the tenant's drop root"]
        if errors:
            raise ValidationFailed(errors)
        data = {k: body[k] for k in ("type", "format", "enabled", "url", "folder", "max_attempts", "backoff_base_s",
                                     "backoff_cap_s", "timeout_s") if k in body}
        data.update(adapter_id=adapter_id, configured_by=who)
        secret = body.get("secret")
        if atype == "webhook":
            if secret is not None:
                self.secrets.update_one({"_id": _key(tenant, adapter_id)},
                                        {"$set": {"secret": secret, "tenant": tenant, "at": _now()}}, upsert=True)
            stored = self.secrets.find_one({"_id": _key(tenant, adapter_id)})
            data["secret_sha256"] = hashlib.sha256(stored["secret"].encode("utf-8")).hexdigest()
        positions = self.store.append(tenant, f"adapter-{adapter_id}", [NewEvent("DeliveryConfigured", data)], ANY)
        return {"adapter_id": adapter_id, "position": positions[-1]}

    @staticmethod
    def _adapter_out(doc: dict) -> dict:
        return {k: v for k, v in doc.items() if k not in ("_id", "secret")}

    def list_adapters(self, tenant: str) -> dict:
        docs = sorted(self.adapters.find({"tenant": tenant}), key=lambda d: d["adapter_id"])
        return {"items": [self._adapter_out(d) for d in docs]}

    def get_adapter(self, tenant: str, adapter_id: str) -> dict:
        doc = self.adapters.find_one({"_id": _key(tenant, adapter_id)})
        if doc is None:
            raise NotFound(f"no delivery adapter {adapter_id!r} in tenant {tenant!r}")
        return self._adapter_out(doc)

    # ================================================================== delivery log
    @staticmethod
    def _delivery_out(doc: dict) -> dict:
        out = {k: v for k, v in doc.items() if k not in ("_id", "lease")}
        out["next_retry_at"] = _iso(doc.get("next_retry")) if doc.get("status") == "pending" else None
        out["log"] = [dict(e, at_iso=_iso(e.get("at"))) for e in doc.get("log", [])]
        return out

    def deliveries_of(self, tenant: str, decision_id: str) -> dict:
        doc = self._decision_doc(tenant, decision_id)
        items = [self._delivery_out(d) for d in self.deliveries.find({"tenant": tenant, "decision_id": decision_id})]
        for adapter in self.adapters.find({"tenant": tenant, "type": "pull"}):
            cur = self.cursors.find_one({"_id": _key(tenant, adapter["adapter_id"])}) or {}
            acked = int(cur.get("acked", 0))
            items.append({"delivery_id": dmap.delivery_id_for(decision_id, adapter["adapter_id"]),
                          "decision_id": decision_id, "adapter_id": adapter["adapter_id"], "adapter_type": "pull",
                          "format": adapter["format"], "cursor": doc["seq"],
                          "status": "acknowledged" if doc["seq"] <= acked else "available"})
        items.sort(key=lambda d: d["adapter_id"])
        return {"decision_id": decision_id, "items": items}

    def list_deliveries(self, tenant: str, status: Optional[str] = None, adapter_id: Optional[str] = None,
                        limit: int = 100) -> dict:
        query: dict = {"tenant": tenant}
        if status:
            if status not in STATUSES:
                raise ValidationFailed({"status": [f"one of {', '.join(STATUSES)}"]})
            query["status"] = status
        if adapter_id:
            query["adapter_id"] = adapter_id
        docs = list(self.deliveries.find(query).limit(max(1, min(int(limit), 1000))))
        docs.sort(key=lambda d: (d.get("created_at", 0), d["delivery_id"]))
        return {"items": [self._delivery_out(d) for d in docs]}

    def get_delivery(self, tenant: str, delivery_id: str) -> dict:
        doc = self.deliveries.find_one({"_id": _key(tenant, delivery_id), "tenant": tenant})
        if doc is None:
            raise NotFound(f"no delivery {delivery_id!r} in tenant {tenant!r}")
        return self._delivery_out(doc)

    def replay(self, tenant: str, delivery_id: str, who: str, force: bool = False) -> dict:
        doc = self.deliveries.find_one({"_id": _key(tenant, delivery_id), "tenant": tenant})
        if doc is None:
            raise NotFound(f"no delivery {delivery_id!r} in tenant {tenant!r}")
        allowed = ["dead_lettered", "cancelled"] + (["succeeded"] if force else [])
        if doc["status"] not in allowed:
            raise Conflict(f"delivery is {doc['status']}; replay applies to {' or '.join(allowed)}"
                           + ("" if force else " (force=true also replays a succeeded delivery)"))
        generation = int(doc.get("generation", 0)) + 1
        # the request is recorded first (idempotent id per generation), so it precedes the new attempts' events
        self._append_delivery_event(tenant, doc, "DeliveryReplayRequested", {"requested_by": who},
                                    dmap.derived_id("replay", tenant, delivery_id, generation))
        res = self.deliveries.update_one(
            {"_id": doc["_id"], "status": doc["status"], "generation": doc.get("generation", 0)},
            {"$set": {"status": "pending", "attempts": 0, "generation": generation, "next_retry": _now(),
                      "replayed_by": who}, "$unset": {"dead_at": "", "last_error": ""}})
        if res.modified_count != 1:
            raise Conflict("the delivery changed meanwhile; retry")
        return self.get_delivery(tenant, delivery_id)

    # ================================================================== pull
    def pull(self, tenant: str, adapter_id: str, after: int, limit: int) -> dict:
        adapter = self.adapters.find_one({"_id": _key(tenant, adapter_id)})
        if adapter is None or adapter.get("type") != "pull":
            raise NotFound(f"no pull adapter {adapter_id!r} in tenant {tenant!r}")
        if not adapter.get("enabled", True):
            raise Conflict(f"pull adapter {adapter_id!r} is disabled")
        limit = max(1, min(int(limit), 200))
        docs = list(self.decisions.find({"tenant": tenant, "seq": {"$gt": after, "$lte": after + limit}}))
        docs.sort(key=lambda d: d["seq"])
        fmt = adapter["format"]
        items = []
        for doc in docs:
            body, ctype = self.render_doc(doc, fmt)
            items.append({"cursor": doc["seq"], "decision_id": doc["decision_id"], "format": fmt,
                          "content_type": ctype, "idempotency_key": dl.idempotency_key(doc["decision_id"],
                                                                                       adapter_id, fmt),
                          "document": body})
        # pulling after N acknowledges everything up to N
        self.cursors.update_one({"_id": _key(tenant, adapter_id)},
                                {"$max": {"acked": int(after)}, "$set": {"last_pull_at": _now()}}, upsert=True)
        head = (self.counters.find_one({"_id": f"seq:{tenant}"}) or {}).get("seq", 0)
        nxt = items[-1]["cursor"] if items else after
        return {"adapter_id": adapter_id, "items": items, "next": nxt, "has_more": nxt < head}

    # ================================================================== the delivery engine
    def due(self, now: float | None = None) -> list[dict]:
        now = _now() if now is None else now
        docs = list(self.deliveries.find({"status": "pending", "next_retry": {"$lte": now}})
                    .limit(self.settings.batch))
        docs += list(self.deliveries.find({"status": "in_flight", "lease_until": {"$lte": now}})
                     .limit(self.settings.batch))
        docs.sort(key=lambda d: d.get("next_retry", 0))
        return docs

    def tick(self) -> int:
        """Claim and run every due delivery (concurrently via ``spawn_all``); returns how many ran."""
        claimed = []
        for doc in self.due():
            token = uuid.uuid4().hex
            got = self.deliveries.find_one_and_update(
                {"_id": doc["_id"], "status": doc["status"], "attempts": doc["attempts"],
                 "generation": doc.get("generation", 0)},
                {"$set": {"status": "in_flight", "lease": token, "lease_until": _now() + self.settings.lease_s}},
                return_document=ReturnDocument.AFTER)
            if got is not None:
                claimed.append(got)
        self.spawn_all([lambda d=d: self._run_guarded(d) for d in claimed])
        return len(claimed)

    def _run_guarded(self, doc: dict) -> None:
        try:
            self.attempt(doc)
        except Exception:  # noqa: BLE001 - the lease expires and the delivery is retried
            log.exception("delivery %s: attempt crashed", doc["delivery_id"])

    def attempt(self, doc: dict) -> str:
        tenant = doc["tenant"]
        started = _now()
        adapter = self.adapters.find_one({"_id": _key(tenant, doc["adapter_id"])})
        if adapter is None or not adapter.get("enabled", True):
            self._finish(doc, "cancelled", None, "adapter removed or disabled", started, None)
            return "cancelled"
        decision = self.decisions.find_one({"_id": _key(tenant, doc["decision_id"])})
        http_status, error, wait = None, None, None
        try:
            body, ctype = self.render_doc(decision, doc["format"])
            if adapter["type"] == "webhook":
                outcome, http_status, error, wait = self._post(doc, adapter, body, ctype)
            elif adapter["type"] == "drop_folder":
                outcome, error = self._drop(doc, adapter, body)
            else:
                outcome, error = "failed", f"adapter type {adapter['type']!r} is not pushed"
        except (DecisionInvalid, ValueError, KeyError, TypeError) as exc:
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        return self._finish(doc, outcome, http_status, error, started, wait, adapter)

    def _post(self, doc, adapter, body, ctype):
        import requests
        secret = (self.secrets.find_one({"_id": _key(doc["tenant"], doc["adapter_id"])}) or {}).get("secret")
        if not secret:
            return "failed", None, "no webhook secret configured for this adapter", None
        req = dl.build_webhook_request(adapter["url"], body, secret=secret, decision_id=doc["decision_id"],
                                       adapter=doc["adapter_id"], fmt=doc["format"], content_type=ctype)
        timeout = float(adapter.get("timeout_s") or 10.0)
        try:
            resp = self.http.post(req.url, data=req.body, headers=dict(req.headers),
                                  timeout=(min(3.0, timeout), timeout), allow_redirects=False)
        except requests.RequestException as exc:
            return dl.classify_response(error=exc), None, f"{type(exc).__name__}: {str(exc)[:500]}", None
        outcome = dl.classify_response(resp.status_code)
        error = None if outcome == "delivered" else f"HTTP {resp.status_code}: {resp.text[:300]}"
        return outcome, resp.status_code, error, dl.retry_after(resp.headers)

    def _drop(self, doc, adapter, body):
        folder = self.settings.drop_root / doc["tenant"] / adapter["folder"]
        name = dl.drop_file_name(doc["decision_id"], doc["adapter_id"], EXTENSIONS[doc["format"]])
        try:
            from eventlet import tpool  # file I/O + fsync off the hub
            folder.mkdir(parents=True, exist_ok=True)
            tpool.execute(dl.write_drop_file, folder, name, body)
        except OSError as exc:
            return "retry", f"{type(exc).__name__}: {exc}"
        return "delivered", None

    def _finish(self, doc, outcome, http_status, error, started, wait, adapter=None) -> str:
        now = _now()
        attempts = int(doc["attempts"]) + (0 if outcome == "cancelled" else 1)
        max_attempts = int((adapter or {}).get("max_attempts") or 8)
        entry = {"attempt": attempts, "generation": doc.get("generation", 0), "at": now, "outcome": outcome,
                 "http_status": http_status, "error": error, "duration_ms": round((now - started) * 1000, 1)}
        next_retry = None
        if outcome == "delivered":
            status = "succeeded"
        elif outcome == "cancelled":
            status = "cancelled"
        elif outcome == "retry" and attempts < max_attempts:
            status = "pending"
            delay = dl.backoff_delay(attempts - 1, base=float(adapter.get("backoff_base_s") or 2.0),
                                     cap=float(adapter.get("backoff_cap_s") or 3600.0), jitter="equal")
            next_retry = now + max(delay, min(wait or 0, float(adapter.get("backoff_cap_s") or 3600.0)))
            entry["next_retry"] = next_retry
        else:
            status = "dead_lettered"
        update = {"$set": {"status": status, "attempts": attempts, "last_attempt_at": now, "last_error": error},
                  "$unset": {"lease": "", "lease_until": ""}, "$push": {"log": entry}}
        if next_retry is not None:
            update["$set"]["next_retry"] = next_retry
        if status == "succeeded":
            update["$set"]["succeeded_at"] = now
        if status == "dead_lettered":
            update["$set"]["dead_at"] = now
        # durable (journaled) before anything else: a restarted bridge never re-sends a succeeded delivery
        res = self.deliveries.update_one({"_id": doc["_id"], "lease": doc.get("lease")}, update)
        if res.modified_count != 1:
            log.warning("delivery %s: lease lost before recording %s", doc["delivery_id"], outcome)
            return outcome
        if outcome != "cancelled":
            gen = doc.get("generation", 0)
            events = [("DeliveryAttempted", {"attempt": attempts, "outcome": outcome, "http_status": http_status,
                                             "error": (error or None) and error[:2000], "next_retry": next_retry},
                       dmap.derived_id("attempt", doc["_id"], gen, attempts))]
            if status == "succeeded":
                events.append(("DeliverySucceeded", {"attempts": attempts, "detail": None},
                               dmap.derived_id("succeeded", doc["_id"], gen)))
            elif status == "dead_lettered":
                events.append(("DeliveryDeadLettered", {"attempts": attempts, "error": (error or "")[:2000]},
                               dmap.derived_id("dead", doc["_id"], gen)))
            for etype, data, eid in events:
                try:
                    self._append_delivery_event(doc["tenant"], doc, etype, data, eid)
                except Exception:  # noqa: BLE001 - the delivery log in Mongo is authoritative
                    log.exception("delivery %s: could not append %s", doc["delivery_id"], etype)
        return outcome

    def _append_delivery_event(self, tenant, doc, etype, data, eid) -> None:
        payload = {"delivery_id": doc["delivery_id"], "decision_id": doc["decision_id"],
                   "adapter_id": doc["adapter_id"], **data}
        self.store.append(tenant, f"delivery-{doc['delivery_id']}", [NewEvent(etype, payload, id=eid)], ANY)

    # ================================================================== inbound
    def contexts(self) -> dict:
        if self._contexts is None:
            self._contexts = {}
            if self.settings.oslo_context:
                from backoffice_bridge.vocab import OFFICIAL_CONTEXT_URL
                from backoffice_bridge.validation import load_context
                self._contexts[OFFICIAL_CONTEXT_URL] = load_context(self.settings.oslo_context)
        return self._contexts

    def parse_inbound(self, tenant: str, raw: bytes, content_type: str) -> tuple[str, list[dict]]:
        try:
            kind = inb.media_kind(content_type or "")
        except inb.InboundError as exc:
            raise UnsupportedMediaType(str(exc)) from None
        if len(raw) > inb.MAX_BODY:
            raise BadRequest(f"body too large ({len(raw)} bytes > {inb.MAX_BODY})")
        if kind == "json":
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BadRequest(f"request body is not valid UTF-8 JSON: {exc}") from None
            try:
                decision = load_decision(data)
            except DecisionInvalid as exc:
                raise ValidationFailed(exc.fields, "invalid decision") from None
            try:
                commands = inb.commands_from_decision(decision, "json")
            except inb.InboundError as exc:
                raise ValidationFailed({"subjects": [str(exc)]}, str(exc)) from None
        else:
            try:
                commands = inb.parse_inbound(raw, content_type, contexts=self.contexts())
            except inb.InboundError as exc:
                msg = str(exc)
                if msg.startswith(("malformed", "body is not UTF-8", "remote JSON-LD", "JSON-LD @import")):
                    raise BadRequest(msg) from None
                raise ValidationFailed({"_schema": [msg]}, msg) from None
        from agora.events.ideas import FEEDBACK_MAX   # the IdeaStatusChanged contract: checked here, with reasons
        too_long = [c["idea_id"] for c in commands if len((c.get("feedback") or {}).get("text") or "") > FEEDBACK_MAX]
        if too_long:
            raise ValidationFailed({"motivation": [f"at most {FEEDBACK_MAX} characters: it becomes the ideas' "
                                                   "official feedback"]}, "motivation too long for idea feedback")
        wrong = sorted({c["tenant"] for c in commands if c["tenant"] != tenant})
        if wrong:
            raise ValidationFailed({"subjects": [f"refers to ideas of tenant(s) {wrong}, not {tenant!r}"]},
                                   "decision is about another tenant's ideas")
        return kind, commands

    def apply_inbound(self, tenant: str, raw: bytes, content_type: str, who, change_status) -> tuple[int, dict]:
        """Validate, call the ideas service's ``change_status`` for each idea, record InboundDecisionReceived.

        ``change_status(**kwargs)`` is the RPC (raises nameko's RemoteError or a timeout)."""
        kind, commands = self.parse_inbound(tenant, raw, content_type)
        decision_id = commands[0]["decision_id"]
        actor = {"sub": f"backoffice:{who.sub}", "roles": ["admin"], "tenant": tenant}
        results, codes = [], []
        for c in commands:
            fb = c.get("feedback") or {}
            command_id = dmap.inbound_command_id(tenant, c["decision_id"], c["idea_id"], c["status"])
            entry = {"idea_id": c["idea_id"], "status": c["status"], "feedback": fb.get("text"),
                     "feedback_language": fb.get("language"), "command_id": command_id}
            try:
                reply = change_status(tenant=tenant, idea_id=c["idea_id"], status=c["status"],
                                      feedback=fb.get("text") or "", actor=actor,
                                      feedback_language=fb.get("language"), command_id=command_id)
                entry.update(result="applied", error=None)
                codes.append(200)
                results.append(dict(entry, reply=reply))
            except UpstreamUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - nameko RemoteError carries the remote type
                etype = getattr(exc, "exc_type", None) or type(exc).__name__
                message = getattr(exc, "value", None) or str(exc)
                code = ERROR_STATUS.get(etype, 502)
                entry.update(result="failed", error=f"{etype}: {message}"[:2000])
                codes.append(code)
                results.append(dict(entry, http_status=code))
        sha = hashlib.sha256(raw).hexdigest()
        event = {"decision_id": decision_id[:2000], "source": kind, "body_sha256": sha,
                 "received_by": who.sub[:200],
                 "commands": [{k: r.get(k) for k in ("idea_id", "status", "feedback", "feedback_language",
                                                     "command_id", "result", "error")} for r in results]}
        key = dmap.derived_id("inbound", tenant, decision_id, sha)
        self.store.append(tenant, f"inbound-{key}", [NewEvent("InboundDecisionReceived", event,
                                                              id=key)], ANY)
        failed = [c for c in codes if c != 200]
        if not failed:
            status = 200
        elif len(failed) == len(codes) and len(set(failed)) == 1:
            status = failed[0]
        else:
            status = 207
        body = {"decision_id": decision_id, "source": kind, "results": results}
        if status != 200:
            body.update(error="inbound_failed" if status != 207 else "partially_applied",
                        message="; ".join(r["error"] for r in results if r.get("error")))
        return status, body


class BridgeApp(DependencyProvider):
    """Injects the :class:`Bridge` (one per container; indexes ensured at start)."""

    def setup(self):
        import eventlet

        from agora.nameko import mongo_db, process_store

        def spawn_all(fns):
            pool = eventlet.GreenPool(20)
            for fn in fns:
                pool.spawn_n(fn)
            pool.waitall()

        db = mongo_db()
        self.bridge = Bridge(process_store(db), db, spawn_all=spawn_all).ensure_indexes()

    def get_dependency(self, worker_ctx):
        return self.bridge
