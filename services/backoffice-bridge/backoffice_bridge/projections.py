"""The bridge's read models and their queries (collections prefixed ``bridge_``).

* ``bridge_decisions`` — projection of ``DecisionRecorded``: ``{_id: "tenant/decision_id", tenant, decision_id, seq,
  position, kind, outcome, origin, source_event_id, decision}``; ``seq`` is a per-tenant contiguous counter
  (``bridge_counters``) so that list pages and the pull feed are index range queries (no server-side sort).
* ``bridge_adapters`` — projection of ``DeliveryConfigured`` (the tenant's delivery adapters, with ``owned_by``: the
  partner who registered one, or null for staff).
* ``bridge_secrets`` — webhook signing secrets (written by the HTTP API, never put in events nor shown again):
  ``{secrets: [{secret, created_at, valid_until}]}``, the current one first.
* ``bridge_deliveries`` — the delivery log (see :mod:`backoffice_bridge.delivery`), created here in the same
  transaction as the decision it delivers, one per enabled push adapter.
* ``bridge_pull_cursors`` — the highest cursor each pull adapter acknowledged (by pulling ``after`` it).

``PersonalDataForgotten {person}``: the person's pseudonym is removed from every adapter (``configured_by``,
``owned_by``) and delivery (``replayed_by``) that names it; the adapters and deliveries themselves stay.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Optional

from pymongo import ReturnDocument, WriteConcern

from agora.errors import NotFound
from agora.events.envelope import StoredEvent

from backoffice_bridge import decisions as dmap
from backoffice_bridge.delivery import PUSH_TYPES, key, new_delivery

READ_MODELS = ["bridge_decisions", "bridge_counters", "bridge_adapters"]


@dataclass
class Collections:
    decisions: object
    counters: object
    adapters: object
    secrets: object
    deliveries: object
    cursors: object

    @classmethod
    def of(cls, db) -> "Collections":
        durable = WriteConcern(w=1, j=True)
        get = lambda name: db.get_collection(name, write_concern=durable)  # noqa: E731
        return cls(get("bridge_decisions"), get("bridge_counters"), get("bridge_adapters"), get("bridge_secrets"),
                   get("bridge_deliveries"), get("bridge_pull_cursors"))

    def ensure_indexes(self) -> "Collections":
        self.decisions.create_index([("tenant", 1), ("seq", 1)], unique=True, name="tenant_seq")
        self.deliveries.create_index([("status", 1), ("next_retry", 1)], name="due")
        self.deliveries.create_index([("tenant", 1), ("decision_id", 1)], name="by_decision")
        self.adapters.create_index([("tenant", 1)], name="by_tenant")
        return self


def iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Viewer:
    """Who reads: staff (admin) see the whole tenant's adapters and deliveries, a partner only its own."""
    person: Optional[str]
    staff: bool


# ================================================================== the subscription handler
class BridgeProjection:
    def __init__(self, cols: Collections):
        self.cols = cols

    def apply(self, event: StoredEvent, session) -> None:
        if event.type == "DecisionRecorded":
            self._decision(event, session)
        elif event.type == "DeliveryConfigured":
            self._adapter(event, session)
        elif event.type == "PersonalDataForgotten":
            self._forget(event.tenant, event.data["person"], session)

    def _decision(self, event: StoredEvent, session) -> None:
        t, d = event.tenant, event.data
        if self.cols.decisions.find_one({"_id": key(t, d["decision_id"])}, {"_id": 1}, session=session):
            return
        counter = self.cols.counters.find_one_and_update({"_id": f"seq:{t}"}, {"$inc": {"seq": 1}}, upsert=True,
                                                         return_document=ReturnDocument.AFTER, session=session)
        self.cols.decisions.insert_one({
            "_id": key(t, d["decision_id"]), "tenant": t, "decision_id": d["decision_id"], "seq": int(counter["seq"]),
            "position": event.position, "kind": d["kind"], "outcome": d["outcome"], "origin": d["origin"],
            "source_event_id": d["source_event_id"], "source_type": d["source_type"],
            "inbound_command_id": d.get("inbound_command_id"), "recorded_at": event.time,
            "title": d["decision"].get("title"), "decision": d["decision"]}, session=session)
        now = time.time()
        for adapter in self.cols.adapters.find({"tenant": t, "enabled": True, "type": {"$in": list(PUSH_TYPES)}},
                                               session=session):
            doc = new_delivery(t, d["decision_id"], adapter, now)
            self.cols.deliveries.update_one({"_id": key(t, doc["delivery_id"])}, {"$setOnInsert": doc},
                                            upsert=True, session=session)

    def _adapter(self, event: StoredEvent, session) -> None:
        d = dict(event.data)
        self.cols.adapters.update_one({"_id": key(event.tenant, d["adapter_id"])},
                                      {"$set": dict(d, tenant=event.tenant, position=event.position,
                                                    configured_at=event.time)}, upsert=True, session=session)

    def _forget(self, tenant: str, person: str, session) -> None:
        self.cols.adapters.update_many({"tenant": tenant, "configured_by": person}, {"$set": {"configured_by": ""}},
                                       session=session)
        self.cols.adapters.update_many({"tenant": tenant, "owned_by": person}, {"$set": {"owned_by": None}},
                                       session=session)
        self.cols.deliveries.update_many({"tenant": tenant, "replayed_by": person}, {"$unset": {"replayed_by": ""}},
                                         session=session)


# ================================================================== queries
def decision_summary(doc: dict) -> dict:
    return {"decision_id": doc["decision_id"], "seq": doc["seq"], "kind": doc["kind"], "outcome": doc["outcome"],
            "title": doc.get("title"), "origin": doc["origin"], "source_event_id": doc["source_event_id"],
            "source_type": doc["source_type"], "recorded_at": doc.get("recorded_at"),
            "inbound_command_id": doc.get("inbound_command_id")}


ADAPTER_OUT = ("adapter_id", "type", "format", "enabled", "url", "folder", "max_attempts", "backoff_base_s",
               "backoff_cap_s", "timeout_s", "position", "configured_at")


DELIVERY_OUT = ("delivery_id", "decision_id", "adapter_id", "adapter_type", "format", "status", "attempts",
                "generation", "next_retry", "last_error", "created_at", "last_attempt_at", "succeeded_at", "dead_at")


class BridgeQueries:
    def __init__(self, cols: Collections):
        self.cols = cols

    # ------------------------------------------------------------------ decisions
    def head(self, tenant: str) -> int:
        return int((self.cols.counters.find_one({"_id": f"seq:{tenant}"}) or {}).get("seq", 0))

    def decisions_after(self, tenant: str, after: int, limit: int) -> list[dict]:
        docs = list(self.cols.decisions.find({"tenant": tenant, "seq": {"$gt": after, "$lte": after + limit}}))
        docs.sort(key=lambda d: d["seq"])
        return docs

    def list_decisions(self, tenant: str, after: int = 0, limit: int = 50) -> dict:
        items = [decision_summary(d) for d in self.decisions_after(tenant, after, max(1, min(int(limit), 500)))]
        nxt = items[-1]["seq"] if items else after
        return {"items": items, "next": nxt, "has_more": nxt < self.head(tenant)}

    def decision_doc(self, tenant: str, decision_id: str) -> dict:
        doc = self.cols.decisions.find_one({"_id": key(tenant, decision_id)})
        if doc is None:
            raise NotFound(f"no decision {decision_id!r} in tenant {tenant!r}")
        return doc

    def find_decision(self, tenant: str, name: str) -> tuple[Optional[dict], Optional[str]]:
        """``name`` may carry an extension (``d-1.akn.xml``); an exact decision id wins over the extension.
        Returns (document or None, the extension's format or None)."""
        doc = self.cols.decisions.find_one({"_id": key(tenant, name)})
        if doc is not None:
            return doc, None
        base, ext_fmt = dmap.split_extension(name)
        if ext_fmt is not None:
            return self.cols.decisions.find_one({"_id": key(tenant, base)}), ext_fmt
        return None, None

    # ------------------------------------------------------------------ adapters
    def adapter_doc(self, tenant: str, adapter_id: str, viewer: Viewer) -> dict:
        doc = self.cols.adapters.find_one({"_id": key(tenant, adapter_id)})
        if doc is None or not (viewer.staff or doc.get("owned_by") == viewer.person):
            raise NotFound(f"no delivery adapter {adapter_id!r} of yours in tenant {tenant!r}")
        return doc

    @staticmethod
    def adapter_out(doc: dict, viewer: Viewer) -> dict:
        out = {k: doc.get(k) for k in ADAPTER_OUT if k in doc}
        out["owned_by_you"] = doc.get("owned_by") is not None and doc.get("owned_by") == viewer.person
        out["owner"] = "partner" if doc.get("owned_by") else "staff"
        return out

    def visible_adapters(self, tenant: str, viewer: Viewer) -> list[dict]:
        query = {"tenant": tenant} if viewer.staff else {"tenant": tenant, "owned_by": viewer.person or "\x00"}
        return sorted(self.cols.adapters.find(query), key=lambda d: d["adapter_id"])

    def list_adapters(self, tenant: str, viewer: Viewer) -> dict:
        return {"items": [self.adapter_out(d, viewer) for d in self.visible_adapters(tenant, viewer)]}

    def get_adapter(self, tenant: str, adapter_id: str, viewer: Viewer) -> dict:
        return self.adapter_out(self.adapter_doc(tenant, adapter_id, viewer), viewer)

    # ------------------------------------------------------------------ deliveries
    @staticmethod
    def delivery_out(doc: dict) -> dict:
        out = {k: doc[k] for k in DELIVERY_OUT if k in doc}
        out["next_retry_at"] = iso(doc.get("next_retry")) if doc.get("status") == "pending" else None
        out["log"] = [dict(e, at_iso=iso(e.get("at"))) for e in doc.get("log", [])]
        return out

    def _scope(self, tenant: str, viewer: Viewer) -> dict:
        if viewer.staff:
            return {"tenant": tenant}
        own = [d["adapter_id"] for d in self.visible_adapters(tenant, viewer)]
        return {"tenant": tenant, "adapter_id": {"$in": own}}

    def deliveries_of(self, tenant: str, decision_id: str, viewer: Viewer) -> dict:
        doc = self.decision_doc(tenant, decision_id)
        query = dict(self._scope(tenant, viewer), decision_id=decision_id)
        items = [self.delivery_out(d) for d in self.cols.deliveries.find(query)]
        for adapter in self.visible_adapters(tenant, viewer):
            if adapter.get("type") != "pull":
                continue
            cur = self.cols.cursors.find_one({"_id": key(tenant, adapter["adapter_id"])}) or {}
            acked = int(cur.get("acked", 0))
            items.append({"delivery_id": dmap.delivery_id_for(decision_id, adapter["adapter_id"]),
                          "decision_id": decision_id, "adapter_id": adapter["adapter_id"], "adapter_type": "pull",
                          "format": adapter["format"], "cursor": doc["seq"],
                          "status": "acknowledged" if doc["seq"] <= acked else "available"})
        items.sort(key=lambda d: d["adapter_id"])
        return {"decision_id": decision_id, "items": items}

    def list_deliveries(self, tenant: str, viewer: Viewer, status: Optional[str] = None,
                        adapter_id: Optional[str] = None, limit: int = 100) -> dict:
        query = self._scope(tenant, viewer)
        if status:
            query["status"] = status
        if adapter_id:
            if isinstance(query.get("adapter_id"), dict) and adapter_id not in query["adapter_id"]["$in"]:
                return {"items": []}
            query["adapter_id"] = adapter_id
        docs = list(self.cols.deliveries.find(query).limit(max(1, min(int(limit), 1000))))
        docs.sort(key=lambda d: (d.get("created_at", 0), d["delivery_id"]))
        return {"items": [self.delivery_out(d) for d in docs]}

    def delivery_doc(self, tenant: str, delivery_id: str, viewer: Viewer) -> dict:
        doc = self.cols.deliveries.find_one({"_id": key(tenant, delivery_id), "tenant": tenant})
        if doc is not None and not viewer.staff:
            adapter = self.cols.adapters.find_one({"_id": key(tenant, doc["adapter_id"])}) or {}
            if adapter.get("owned_by") != viewer.person:
                doc = None
        if doc is None:
            raise NotFound(f"no delivery {delivery_id!r} of yours in tenant {tenant!r}")
        return doc

    def get_delivery(self, tenant: str, delivery_id: str, viewer: Viewer) -> dict:
        return self.delivery_out(self.delivery_doc(tenant, delivery_id, viewer))
