"""An in-memory :class:`~agora.store.EventStore` for fast application-level unit tests.

It keeps the store's contract (``tests/backbone/test_store_contract.py`` runs the same tests over both): contiguous
global positions from 1, optimistic concurrency per (tenant, stream), idempotent re-appends of an event id,
payloads validated against their schema before anything is stored, upcasting on read, tenant-scoped reads,
personal data sealed per person and shredded by erasure, pseudonyms for subjects. Nothing is persisted and nothing
is published: it serves pure unit tests only (interface tests use the real store and broker).
"""
from __future__ import annotations

import secrets
import threading
from typing import Iterable, Iterator, Sequence

from agora.errors import ConcurrencyError
from agora.events import registry
from agora.events.envelope import NewEvent, StoredEvent, now_iso
from agora.personal import owner_of

ANY = "any"
ALL_TENANTS = "*"


class InMemoryVault:
    """Per (tenant, person) "keys" and subject→pseudonym mappings; sealing keeps the plaintext under a key id."""

    def __init__(self):
        self.keys: dict[str, bytes] = {}
        self.sealed: dict[str, dict] = {}
        self.subjects: dict[tuple[str, str], str] = {}

    def seal(self, tenant: str, data: dict) -> dict:
        personal, owner = data.get("personal"), owner_of(data)
        if not personal or not owner or (isinstance(personal, dict) and "_enc" in personal):
            return data
        kid = f"{tenant}:{owner}"
        self.keys.setdefault(kid, secrets.token_bytes(8))
        ref = secrets.token_hex(8)
        self.sealed[ref] = personal
        return dict(data, personal={"_enc": ref, "_kid": kid, "_key": self.keys[kid]})

    def open(self, data: dict) -> dict:
        personal = data.get("personal")
        if not isinstance(personal, dict) or "_enc" not in personal:
            return data
        if self.keys.get(personal["_kid"]) != personal["_key"]:
            return dict(data, personal=None, personal_shredded=True)
        return dict(data, personal=self.sealed[personal["_enc"]])

    def forget(self, tenant: str, owner: str) -> bool:
        return self.keys.pop(f"{tenant}:{owner}", None) is not None

    def pseudonym(self, tenant: str, subject: str, create: bool = True) -> str | None:
        key = (tenant, subject)
        if key not in self.subjects and create:
            self.subjects[key] = "p-" + secrets.token_hex(10)
        return self.subjects.get(key)

    def forget_subject(self, tenant: str, subject: str) -> str | None:
        person = self.subjects.pop((tenant, subject), None)
        if person is not None:
            self.forget(tenant, person)
        self.forget(tenant, subject)
        return person


class InMemoryEventStore:
    """The EventStore API over Python lists (see the module docstring)."""

    def __init__(self):
        self._log: list[dict] = []
        self._streams: dict[tuple[str, str], list[dict]] = {}
        self._by_eid: dict[str, dict] = {}
        self._lock = threading.RLock()
        self.vault = InMemoryVault()

    def ensure_indexes(self) -> "InMemoryEventStore":
        return self

    # ------------------------------------------------------------------ writes
    def append(self, tenant: str, stream: str, events: Sequence[NewEvent] | NewEvent,
               expected_version: int | str = ANY) -> list[int]:
        if isinstance(events, NewEvent):
            events = [events]
        if not events:
            return []
        if not tenant or tenant == ALL_TENANTS:
            raise ValueError("append needs a concrete tenant")
        docs = []
        for ev in events:
            etype, data = registry.validate(ev.type, ev.data)        # refused before anything is stored
            docs.append({"tenant": tenant, "stream": stream, "eid": ev.id, "type": etype.name,
                         "v": etype.version, "source": etype.source, "time": ev.time or now_iso(),
                         "data": data, "cid": ev.correlationid, "caid": ev.causationid})
        with self._lock:
            known = [self._by_eid.get(d["eid"]) for d in docs]
            if all(known):
                return [k["_id"] for k in known]                    # idempotent re-append
            current = len(self._streams.get((tenant, stream), []))
            if expected_version != ANY and expected_version != current:
                raise ConcurrencyError(tenant, stream, expected_version, current)
            if any(known):
                raise ConcurrencyError(tenant, stream, expected_version, current)
            positions = []
            for i, doc in enumerate(docs):
                doc["data"] = self.vault.seal(tenant, doc["data"])
                doc["version"] = current + i + 1
                doc["_id"] = len(self._log) + 1
                self._log.append(doc)
                self._streams.setdefault((tenant, stream), []).append(doc)
                self._by_eid[doc["eid"]] = doc
                positions.append(doc["_id"])
            return positions

    # ------------------------------------------------------------------ reads
    def _stored(self, doc: dict, upcast: bool = True) -> StoredEvent:
        version, data = doc["v"], doc["data"]
        if upcast:
            data = self.vault.open(data)
            version, data = registry.upcast(doc["type"], version, data)
        return StoredEvent(id=doc["eid"], type=doc["type"], source=doc["source"], tenant=doc["tenant"],
                           stream=doc["stream"], version=doc["version"], position=doc["_id"], time=doc["time"],
                           data=data, schema_version=version, correlationid=doc.get("cid"),
                           causationid=doc.get("caid"))

    def head(self) -> int:
        return len(self._log)

    known_head = head

    def stream_version(self, tenant: str, stream: str) -> int:
        return len(self._streams.get((tenant, stream), []))

    def read_stream(self, tenant: str, stream: str, from_version: int = 1) -> list[StoredEvent]:
        if not tenant or tenant == ALL_TENANTS:
            raise ValueError("stream reads are scoped to one tenant")
        with self._lock:
            docs = list(self._streams.get((tenant, stream), []))[max(from_version, 1) - 1:]
        return [self._stored(d) for d in docs]

    def read_page(self, tenant: str, after: int = 0, limit: int = 1000, types: Iterable[str] | None = None,
                  until: int | None = None, upcast: bool = True) -> tuple[list[StoredEvent], int]:
        if not tenant:
            raise ValueError("read_all needs a tenant (or ALL_TENANTS for system readers)")
        wanted = set(types) if types is not None else None
        with self._lock:
            end = len(self._log) if until is None else min(until, len(self._log))
            out, reached = [], after
            for doc in self._log[after:end]:
                reached = doc["_id"]
                if (tenant == ALL_TENANTS or doc["tenant"] == tenant) and (wanted is None or doc["type"] in wanted):
                    out.append(doc)
                    if len(out) == limit:
                        break
        return [self._stored(d, upcast) for d in out], reached

    def read_all(self, tenant: str, after: int = 0, limit: int = 1000, types: Iterable[str] | None = None,
                 until: int | None = None, upcast: bool = True) -> list[StoredEvent]:
        return self.read_page(tenant, after, limit, types, until, upcast)[0]

    def iter_all(self, tenant: str, after: int = 0, batch: int = 1000, types=None,
                 until: int | None = None) -> Iterator[StoredEvent]:
        end = self.head() if until is None else until
        while after < end:
            events, reached = self.read_page(tenant, after, batch, types, until=end)
            yield from events
            if reached <= after:
                return
            after = reached

    def get(self, event_id: str) -> StoredEvent | None:
        doc = self._by_eid.get(event_id)
        return self._stored(doc) if doc else None

    # ------------------------------------------------------------------ people
    def person_id(self, tenant: str, subject: str, create: bool = True) -> str | None:
        return self.vault.pseudonym(tenant, subject, create)

    def forget_person(self, tenant: str, person: str, reason: str = "", requested_by: str = "") -> bool:
        forgotten = self.vault.forget(tenant, person)
        self.append(tenant, f"person-{person}", [NewEvent("PersonalDataForgotten", {
            "person": person, "reason": reason, "requested_by": requested_by})], ANY)
        return forgotten

    def erase_subject(self, tenant: str, subject: str, reason: str = "", requested_by: str = "") -> str | None:
        person = self.vault.forget_subject(tenant, subject)
        if person is None:
            return None
        self.append(tenant, f"person-{person}", [NewEvent("PersonalDataForgotten", {
            "person": person, "reason": reason, "requested_by": requested_by})], ANY)
        return person
