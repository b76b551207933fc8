"""The grants registry: which partner may read which tenants and event types, and how identities leave.

A grant lives in the read-side collection ``partner_grants`` (``_id`` = partner name): tenants, types (``*`` =
every type), ``identities`` (``pseudonym``: a per-partner pseudonym; ``drop``: null), ``demographics`` (bucketed
demographics when true), the partner's pseudonym key and broker password (credentials of the read side, like the
bridge's webhook secrets; never in the event log), ``revoked``. Granting creates (or updates) what the broker
enforces (:mod:`agora.partners.broker`); revoking removes it at once.
"""
from __future__ import annotations

import base64
import os
import re
import secrets
import time
from dataclasses import dataclass

from agora.partners import broker as _broker

GRANTS = "partner_grants"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
TENANT_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
TYPE_RE = re.compile(r"^(\*|[A-Z][A-Za-z0-9]{0,99})$")
IDENTITIES = ("pseudonym", "drop")


class GrantError(ValueError):
    """A grant request that cannot be honoured (said in one line)."""


@dataclass(frozen=True)
class Grant:
    name: str
    tenants: tuple
    types: tuple
    identities: str
    demographics: bool
    key: bytes
    password: str
    revoked: bool = False
    start: int = 0            # the log's head when granted: live delivery covers the positions after it
    caught_up: bool = False   # the dispatcher has sent (and the broker confirmed) what it passed before noticing

    @property
    def queue(self) -> str:
        return _broker.queue_name(self.name)

    @property
    def all_types(self) -> bool:
        return "*" in self.types

    def covers(self, tenant: str, type_: str) -> bool:
        return not self.revoked and tenant in self.tenants and (self.all_types or type_ in self.types)

    @property
    def pseudonym_key(self) -> bytes | None:
        return self.key if self.identities == "pseudonym" else None

    @classmethod
    def from_doc(cls, doc: dict) -> "Grant":
        return cls(name=doc["_id"], tenants=tuple(doc["tenants"]), types=tuple(doc["types"]),
                   identities=doc.get("identities", "pseudonym"), demographics=bool(doc.get("demographics")),
                   key=base64.b64decode(doc["key"]), password=doc["password"], revoked=bool(doc.get("revoked")),
                   start=int(doc.get("start", 0)), caught_up=bool(doc.get("caught_up")))

    def public(self) -> dict:
        """What may be shown (no key, no password)."""
        return {"partner": self.name, "tenants": list(self.tenants), "types": list(self.types),
                "identities": self.identities, "demographics": self.demographics, "queue": self.queue,
                "exchange": _broker.PARTNER_EXCHANGE, "revoked": self.revoked}


def _check(name: str, tenants, types, identities: str) -> None:
    if not NAME_RE.match(name or ""):
        raise GrantError(f"partner name {name!r} must be 2-63 of a-z, 0-9 and '-', starting with a letter")
    if not tenants:
        raise GrantError("grant at least one tenant (--tenant T)")
    bad = [t for t in tenants if not TENANT_RE.match(t)]
    if bad:
        raise GrantError(f"not a tenant id: {', '.join(bad)}")
    if not types:
        raise GrantError("grant at least one event type (--types A,B or '*')")
    bad = [t for t in types if not TYPE_RE.match(t)]
    if bad:
        raise GrantError(f"not an event type: {', '.join(bad)}")
    from agora.events import registry
    known = {t.name for t in registry.all_types()}
    unknown = [t for t in types if t != "*" and t not in known]
    if unknown:
        raise GrantError(f"unknown event type(s): {', '.join(unknown)} (see docs/asyncapi.json)")
    if identities not in IDENTITIES:
        raise GrantError(f"identities must be one of {', '.join(IDENTITIES)}")


class GrantRegistry:
    def __init__(self, db, amqp_uri: str, admin: _broker.BrokerAdmin | None = None, store=None):
        """``store`` (the EventStore) gives a new grant its start position (the head)."""
        self.store = store
        self.col = db.get_collection(GRANTS)
        self.amqp_uri = amqp_uri
        self.admin = admin or _broker.BrokerAdmin(amqp_uri)

    def get(self, name: str) -> Grant | None:
        doc = self.col.find_one({"_id": name})
        return Grant.from_doc(doc) if doc else None

    def active(self) -> list[Grant]:
        return [Grant.from_doc(d) for d in self.col.find({"revoked": {"$ne": True}})]

    def all(self) -> list[Grant]:
        return [Grant.from_doc(d) for d in self.col.find({})]

    def grant(self, name: str, tenants, types, *, identities: str = "pseudonym", demographics: bool = False,
              rotate: bool = False) -> tuple[Grant, str]:
        """Create or change a grant; returns (grant, the partner's AMQP URI). The broker user, queue, bindings and
        permissions are (re)made to match exactly; the password and pseudonym key are kept unless ``rotate``."""
        tenants = sorted(dict.fromkeys(tenants))
        types = ["*"] if "*" in types else sorted(dict.fromkeys(types))
        _check(name, tenants, types, identities)
        old = self.col.find_one({"_id": name})
        keep = old is not None and not old.get("revoked") and not rotate
        # hex: a urlsafe token may start with "-", which rabbitmqctl takes for an option
        password = old["password"] if keep else secrets.token_hex(24)
        key = old["key"] if old is not None and not rotate else base64.b64encode(os.urandom(32)).decode()
        previous = _broker.routing_keys(name, old["tenants"], old["types"]) if old and not old.get("revoked") else []
        keys = _broker.routing_keys(name, tenants, types)
        # broker first, record after: a failure leaves nothing the dispatcher would act on
        self.admin.declare_queue(name, keys, previous)
        self.admin.set_user(name, password, name, tenants)
        now = time.time()
        fields = {"tenants": tenants, "types": types, "identities": identities, "demographics": bool(demographics),
                  "key": key, "password": password, "revoked": False, "updated_at": now}
        if not keep:          # a new (or renewed) grant: live from the current head, earlier events by replay
            fields.update(start=self.store.head() if self.store is not None else 0, caught_up=False)
        self.col.update_one({"_id": name}, {"$set": fields, "$setOnInsert": {"created_at": now}}, upsert=True)
        grant = self.get(name)
        return grant, _broker.partner_uri(self.amqp_uri, name, password)

    def revoke(self, name: str) -> bool:
        """Withdraw access at once: the dispatcher stops (grant marked revoked), the user is deleted and its
        connections closed, the queue deleted (a consumer is cancelled). False when no such grant."""
        doc = self.col.find_one_and_update({"_id": name}, {"$set": {"revoked": True, "updated_at": time.time()}})
        if doc is None:
            return False
        self.admin.delete_user(name)
        self.admin.delete_queue(name)
        return True

    def mark_caught_up(self, name: str) -> None:
        self.col.update_one({"_id": name, "revoked": {"$ne": True}}, {"$set": {"caught_up": True}})

    def authenticate(self, name: str, password: str) -> Grant | None:
        grant = self.get(name)
        if grant is None or grant.revoked or not secrets.compare_digest(grant.password, password or ""):
            return None
        return grant
