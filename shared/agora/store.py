"""Append-only event store on MongoDB (pymongo), production on a replica set, embedded on SecantusDB.

Layout — one document per event in collection ``events``::

    {_id: <global position>, p: <the same position>, tenant, stream, version, eid, type, v (schema version),
     source, time, data, cid (correlation id), caid (causation id)}

* ``_id`` is the **global position**: contiguous integers 1, 2, 3, ...  A writer takes ``head + 1``; the unique
  ``_id`` makes two writers that picked the same position collide, and the loser re-reads the head and retries.
  A position is only ever taken by a committed insert and a writer only picks ``p + 1`` after it has *seen* ``p``,
  so positions become visible in order: ``read_all`` never skips an event that commits later with a lower position
  (the high-watermark problem of NEventStore #273 / Occurrent ADR 0045 cannot arise), and there are no gaps.
* Unique index ``(tenant, stream, version)`` enforces optimistic concurrency in the database: a losing writer gets
  :class:`~agora.errors.ConcurrencyError`, never a silent overwrite.
* Unique index ``eid``: appending an event whose id is stored already is a no-op returning the original position.
* A multi-event append is one transaction (all or nothing); a single-event append is one atomic insert.
* Group commit: concurrent appends in one process are written together with one ``insert_many`` (one round trip,
  one journal flush) by whichever caller holds the write lock; conflicts fall back to the one-by-one path.
* No update or delete path exists in this module (nor anywhere else for ``events``).

SecantusDB answers any ``sort()``, and any range query on ``_id``, with a full scan (~650 ms at 20k events), while
a range on a secondary index costs ~0.09 ms per document returned. So this module never sorts on the server and
reads the log by ranges of ``p`` (a copy of the position with its own index), in bounded windows, filtering
tenant and type client-side; positions and versions are contiguous, so every window's size is known exactly.
"""
from __future__ import annotations

import threading
import time as _time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import pymongo
from pymongo import WriteConcern
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from agora.errors import ConcurrencyError
from agora.events import registry
from agora.events.envelope import NewEvent, StoredEvent, now_iso
from agora import metrics
from agora.grouping import GroupCommit
from agora.personal import PersonalVault

ALL_TENANTS = "*"   # system readers only (relay, cross-tenant subscriptions)
ANY = "any"         # expected_version: append whatever the stream's version is
NO_STREAM = 0       # expected_version: the stream must not exist yet

EVENTS = "events"


@dataclass
class _Request:
    tenant: str
    stream: str
    docs: list
    expected: int | str
    done: threading.Event = field(default_factory=threading.Event)
    result: list | None = None
    error: BaseException | None = None

    @property
    def batchable(self) -> bool:
        return len(self.docs) == 1 and self.expected != ANY


class EventStore:
    """The event store. Thread-safe (and green-thread safe under eventlet)."""

    def __init__(self, db: pymongo.database.Database, *, journal: bool = True, group_commit: bool = True,
                 max_batch: int = 256, events_db: pymongo.database.Database | None = None):
        """``db`` holds the read side (personal keys, relay and subscription state); ``events_db`` (default: the
        same) holds the log, so that production can make it append-only by role (insert + find only)."""
        self.db = db
        events_db = db if events_db is None else events_db
        wc = WriteConcern(w=events_db.write_concern.document.get("w", 1) or 1, j=journal)
        self.events = events_db.get_collection(EVENTS, write_concern=wc)
        self.client = db.client
        self.vault = PersonalVault(db)
        self.group_commit = group_commit
        self._head = 0
        self._head_known = False
        self._head_probed = False
        self._head_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._group: GroupCommit[_Request] = GroupCommit(self._write_batch_locked, max_batch)

    # ------------------------------------------------------------------ setup
    def ensure_indexes(self) -> "EventStore":
        self.events.create_index([("tenant", 1), ("stream", 1), ("version", 1)], unique=True, name="stream_version")
        self.events.create_index([("eid", 1)], unique=True, name="event_id")
        self.events.create_index([("p", 1)], name="position")
        return self

    # ------------------------------------------------------------------ head
    def _exists(self, position: int) -> bool:
        return self.events.find_one({"_id": position}, {"_id": 1}) is not None

    def head(self) -> int:
        """Highest stored global position (0 when empty).

        The first call probes ``_id`` (exponential probe then binary search, which also finds events written
        before the ``p`` field existed); later calls ask the ``p`` index for what lies above the cached head —
        one query, whose answer is exactly the events stored since (positions are contiguous)."""
        with self._head_lock:
            if self._head_probed:
                step = 10_000
                while True:
                    known = self._head
                    ids = sorted(d["_id"] for d in self.events.find({"p": {"$gt": known, "$lte": known + step}},
                                                                       {"_id": 1}))
                    run = next((i for i, position in enumerate(ids) if position != known + 1 + i), len(ids))
                    self._head = known + run
                    if run < step:
                        return self._head
            lo = self._head
            if not self._exists(lo + 1):
                self._head_probed = True
                return lo
            step = 1
            hi = lo + 1
            while self._exists(hi):
                lo = hi
                step *= 2
                hi = lo + step
            while hi - lo > 1:  # invariant: lo exists (or is 0), hi does not
                mid = (lo + hi) // 2
                if self._exists(mid):
                    lo = mid
                else:
                    hi = mid
            self._head = lo
            self._head_probed = True
            return lo

    @property
    def known_head(self) -> int:
        """The highest position this process has seen stored (no round trip; may lag the real head)."""
        return self._head

    def _guess_next(self) -> int:
        """Next free position as far as this process knows (no round trip after the first call); a collision on
        ``_id`` tells the writer its guess was stale, and it re-probes the head."""
        if not self._head_known:
            self._head_known = True
            return self.head() + 1
        return self._head + 1

    def _advance_head(self, position: int) -> None:
        with self._head_lock:
            if position > self._head:
                self._head = position

    # ------------------------------------------------------------------ append
    def _docs(self, tenant: str, stream: str, events: Sequence[NewEvent]) -> list[dict]:
        if not tenant or tenant == ALL_TENANTS:
            raise ValueError("append needs a concrete tenant")
        docs = []
        for ev in events:
            etype, data = registry.validate(ev.type, ev.data)  # refused before anything is stored
            doc = {"tenant": tenant, "stream": stream, "eid": ev.id, "type": etype.name, "v": etype.version,
                   "source": etype.source, "time": ev.time or now_iso(), "data": self.vault.seal(tenant, data)}
            if ev.correlationid:
                doc["cid"] = ev.correlationid
            if ev.causationid:
                doc["caid"] = ev.causationid
            docs.append(doc)
        return docs

    def append(self, tenant: str, stream: str, events: Sequence[NewEvent] | NewEvent,
               expected_version: int | str = ANY) -> list[int]:
        """Append ``events`` atomically to ``tenant/stream``; returns their global positions.

        ``expected_version`` is the stream's current version (0 = new stream) or :data:`ANY`.
        Raises :class:`ConcurrencyError` when another writer got there first, ``ValidationFailed`` for a payload
        that does not match its schema. Re-appending already stored event ids returns the original positions.
        """
        if isinstance(events, NewEvent):
            events = [events]
        if not events:
            return []
        req = _Request(tenant, stream, self._docs(tenant, stream, events), expected_version)
        started = _time.perf_counter()
        if self.group_commit and req.batchable:
            self._group.submit(req)
        else:
            with self._write_lock:
                self._write_one(req)
        metrics.STORE_APPEND_SECONDS.observe(_time.perf_counter() - started)
        if req.error is not None:
            raise req.error
        for doc in req.docs:
            metrics.EVENTS_APPENDED.labels(service=doc["source"], type=doc["type"]).inc()
        return req.result

    def _write_batch_locked(self, batch: list[_Request]) -> None:
        with self._write_lock:
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Request]) -> None:
        """Insert single-event requests with one ordered insert_many; isolate failures one by one."""
        try:
            self._write_batch_unsafe(batch)
        except BaseException as exc:  # noqa: BLE001 - never leave a waiter hanging
            for req in batch:
                if not req.done.is_set():
                    req.error = exc
                    req.done.set()

    def _write_batch_unsafe(self, batch: list[_Request]) -> None:
        stale = False
        while batch:
            start = (self.head() if stale else self._guess_next() - 1) + 1
            docs = []
            for i, req in enumerate(batch):
                doc = dict(req.docs[0], _id=start + i, p=start + i, version=req.expected + 1)
                docs.append(doc)
            try:
                if len(docs) == 1:
                    self.events.insert_one(docs[0])
                else:
                    self.events.insert_many(docs, ordered=True)
                inserted = len(docs)
                failed_index = None
            except DuplicateKeyError as dup:
                inserted, failed_index = 0, 0
                errors = [dict(dup.details or {}, index=0, code=11000)]
            except BulkWriteError as bwe:
                inserted = bwe.details.get("nInserted", 0)
                errors = bwe.details.get("writeErrors") or [{}]
                failed_index = errors[0].get("index", inserted)
                if errors[0].get("code") not in (11000, 11001):
                    for req in batch:
                        req.error = bwe
                        req.done.set()
                    return
            for req, doc in zip(batch[:inserted], docs[:inserted]):
                req.result = [doc["_id"]]
                req.done.set()
            if inserted:
                self._advance_head(start + inserted - 1)
            if failed_index is None:
                return
            failed = batch[failed_index]
            key = (errors[0].get("keyPattern") or {})
            if "_id" in key and len(key) == 1:
                batch = batch[failed_index:]          # lost the position race: re-read head, retry the rest
                stale = True
                continue
            stale = False
            self._write_one(failed)                   # version conflict or duplicate id: slow path decides
            batch = batch[failed_index + 1:]

    def _write_one(self, req: _Request) -> None:
        try:
            req.result = self._insert_with_retry(req)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            req.error = exc
        finally:
            req.done.set()

    def _insert_with_retry(self, req: _Request) -> list[int]:
        expected = req.expected
        stale = False
        while True:
            if expected == ANY:
                current = self.stream_version(req.tenant, req.stream)
            else:
                current = int(expected)
            start = self.head() + 1 if stale else self._guess_next()
            docs = [dict(d, _id=start + i, p=start + i, version=current + 1 + i) for i, d in enumerate(req.docs)]
            try:
                if len(docs) == 1:
                    self.events.insert_one(docs[0])
                else:
                    with self.client.start_session() as session:
                        session.with_transaction(
                            lambda s, docs=docs: self.events.insert_many(docs, ordered=True, session=s),
                            write_concern=self.events.write_concern)
                self._advance_head(docs[-1]["_id"])
                return [d["_id"] for d in docs]
            except (DuplicateKeyError, BulkWriteError, OperationFailure) as exc:
                key = _dup_key(exc)
                if key is None:
                    if isinstance(exc, OperationFailure) and exc.has_error_label("TransientTransactionError"):
                        continue
                    raise
                original = self._positions_of(req)
                if original is not None:
                    return original                      # idempotent retry of a stored append
                if key == "_id":
                    stale = True                         # position taken meanwhile: re-read the head
                    continue
                if expected == ANY:
                    continue
                raise ConcurrencyError(req.tenant, req.stream, expected,
                                       self.stream_version(req.tenant, req.stream)) from None

    def _positions_of(self, req: _Request) -> list[int] | None:
        eids = [d["eid"] for d in req.docs]
        found = {d["eid"]: d["_id"] for d in self.events.find({"eid": {"$in": eids}}, {"eid": 1})}
        if not found:
            return None
        if len(found) != len(eids):
            # part of this append is stored under other appends: a genuine conflict, not a retry
            raise ConcurrencyError(req.tenant, req.stream, req.expected, "partially stored under other appends")
        return [found[e] for e in eids]

    # ------------------------------------------------------------------ reads
    def stream_version(self, tenant: str, stream: str) -> int:
        cur = self.events.find({"tenant": tenant, "stream": stream}, {"version": 1, "_id": 0})
        return max((d["version"] for d in cur), default=0)

    def read_stream(self, tenant: str, stream: str, from_version: int = 1) -> list[StoredEvent]:
        """Events of one stream with version ≥ ``from_version``, in version order."""
        _check_tenant(tenant)
        docs = list(self.events.find({"tenant": tenant, "stream": stream, "version": {"$gte": from_version}}))
        docs.sort(key=lambda d: d["version"])
        return [self._stored(d) for d in docs]

    def read_all(self, tenant: str, after: int = 0, limit: int = 1000, types: Iterable[str] | None = None,
                 until: int | None = None, upcast: bool = True) -> list[StoredEvent]:
        """Events with global position > ``after`` (at most ``limit``), for one tenant or :data:`ALL_TENANTS`.

        Scans position windows up to the head (or ``until``), so a tenant-scoped reader never stalls on a window
        holding only other tenants' events. ``types`` filters event types.
        """
        return self.read_page(tenant, after, limit, types, until, upcast)[0]

    def read_page(self, tenant: str, after: int = 0, limit: int = 1000, types: Iterable[str] | None = None,
                  until: int | None = None, upcast: bool = True) -> tuple[list[StoredEvent], int]:
        """Like :meth:`read_all`, plus the position the scan reached: every event in ``(after, reached]`` was
        looked at, so a reader that filters types can move its checkpoint to ``reached`` even when nothing
        matched. Without ``until`` it reads windows of the ``p`` index up to the first position not stored yet —
        no head lookup: positions are contiguous, so the first missing one is the head."""
        if not tenant:
            raise ValueError("read_all needs a tenant (or ALL_TENANTS for system readers)")
        wanted_types = set(types) if types is not None else None
        out: list[dict] = []
        lo = seen = after
        while (until is None or lo < until) and len(out) < limit:
            hi = lo + self.read_window if until is None else min(lo + self.read_window, until)
            docs = self._window(lo, hi, open_ended=until is None)
            if docs:
                seen = max(seen, docs[-1]["_id"])
            for doc in docs:
                if (tenant == ALL_TENANTS or doc["tenant"] == tenant) and \
                        (wanted_types is None or doc["type"] in wanted_types):
                    out.append(doc)
                    if len(out) == limit:
                        lo = doc["_id"]
                        break
            else:
                lo = docs[-1]["_id"] if docs and until is None else hi if until is not None else lo
            if until is None and (not docs or docs[-1]["_id"] < hi):
                break                                   # reached the head
        if seen > after:
            self._advance_head(seen)        # stored positions: what head() would find, without a round trip
        return [self._stored(d, upcast) for d in out], lo

    read_window = 1000

    def _window(self, lo: int, hi: int, open_ended: bool = False) -> list[dict]:
        """Every event with lo < position ≤ hi, in order (positions have no gaps: exactly hi - lo documents).
        ``open_ended``: ``hi`` may lie beyond the head; the contiguous run from lo + 1 is returned."""
        docs, run = self._p_window(lo, hi)
        if open_ended and not self._head_probed:
            self.head()           # the first head lookup probes _id: it also sees events stored without `p`
        for _attempt in range(self.GAP_READS):
            gap = (run < len(docs) or (not docs and lo < self._head)) if open_ended else len(docs) != hi - lo
            if not gap:
                break
            # the hole is an event being written (visible a moment later) or, in a log older than the `p` field,
            # an event that has only `_id`: one lookup tells them apart
            missing = self.events.find_one({"_id": lo + 1 + run}, {"p": 1})
            if missing is None:
                break                               # not stored (yet): the run is all there is
            if "p" not in missing:
                # only the _id range finds those: a full scan in SecantusDB (~300 ms at 30k events, every request
                # waits), so it is never run for the first kind
                docs, run = _in_order(list(self.events.find({"_id": {"$gt": lo, "$lte": hi}})), lo)
                break
            # an append that became visible just after the read: read the window again (an open-ended reader would
            # otherwise stop short and wait for the next doorbell)
            self._advance_head(lo + 1 + run)
            docs, run = self._p_window(lo, hi)
        return docs[:run] if open_ended else docs

    # a window with a hole that has since become visible is read again at most this often
    GAP_READS = 5

    def _p_window(self, lo: int, hi: int) -> tuple[list[dict], int]:
        """The stored events with lo < p ≤ hi in position order, and the length of their contiguous run."""
        # the whole window in one reply: pymongo's default first batch is 101 documents, then a getMore round trip
        return _in_order(list(self.events.find({"p": {"$gt": lo, "$lte": hi}}, batch_size=hi - lo + 1)), lo)

    def iter_all(self, tenant: str, after: int = 0, batch: int = 1000, types=None,
                 until: int | None = None) -> Iterator[StoredEvent]:
        end = self.head() if until is None else until
        while after < end:
            events = self.read_all(tenant, after, batch, types, until=end)
            if not events:
                return
            yield from events
            after = events[-1].position

    def get(self, event_id: str) -> StoredEvent | None:
        doc = self.events.find_one({"eid": event_id})
        return self._stored(doc) if doc else None

    def _stored(self, doc: dict, upcast: bool = True) -> StoredEvent:
        """Personal data is decrypted for readers of the store (not for the relay, which publishes as stored)."""
        if upcast:
            doc = dict(doc, data=self.vault.open(doc["data"]))
        return to_stored(doc, upcast)

    def forget_person(self, tenant: str, person: str, reason: str = "", requested_by: str = "") -> bool:
        """Crypto-shred ``person``'s personal data in every event of ``tenant`` (see agora.personal), and record
        ``PersonalDataForgotten`` so that projections holding copies can drop them."""
        forgotten = self.vault.forget(tenant, person)
        self.append(tenant, f"person-{person}", [NewEvent("PersonalDataForgotten", {
            "person": person, "reason": reason, "requested_by": requested_by})], ANY)
        return forgotten


    def person_id(self, tenant: str, subject: str, create: bool = True) -> str | None:
        """The tenant-scoped pseudonym events carry for the identity provider's ``subject`` (agora.personal)."""
        return self.vault.pseudonym(tenant, subject, create)

    def erase_subject(self, tenant: str, subject: str, reason: str = "", requested_by: str = "") -> str | None:
        """Erase the person known by ``subject``: delete the subject→pseudonym mapping and their key, then record
        ``PersonalDataForgotten`` under the pseudonym (never the subject) so that every projection drops its copies.
        Returns the pseudonym (None when the tenant never saw this subject: nothing is recorded)."""
        person = self.vault.forget_subject(tenant, subject)
        self._forget_subject_records(tenant, subject)
        if person is None:
            return None
        self.append(tenant, f"person-{person}", [NewEvent("PersonalDataForgotten", {
            "person": person, "reason": reason, "requested_by": requested_by})], ANY)
        return person

    def _forget_subject_records(self, tenant: str, subject: str) -> None:
        """The route layer keys two records by a digest of the subject (computable by whoever knows it): the
        person's ``Idempotency-Key`` records (their stored responses name the ideas, comments and ballots the person
        made) and their abuse-limit counters. Both go with the person (tests/e2e/test_erasure.py)."""
        import re

        from agora.application import request_fingerprint
        from agora.ratelimit import COLLECTION as RATE_LIMITS, person_key
        self.db.get_collection("idempotency_keys").delete_many(     # agora.web.IDEMPOTENCY, _Idempotency.owner
            {"tenant": tenant, "owner": request_fingerprint("owner", tenant, subject)})
        prefix = person_key(tenant, subject)
        self.db.get_collection(RATE_LIMITS).delete_many({"_id": {"$regex": "^" + re.escape(prefix) + r"\|"}})


def _in_order(docs: list[dict], lo: int) -> tuple[list[dict], int]:
    """``docs`` in position order, and the length of their contiguous run from ``lo + 1``."""
    docs.sort(key=lambda d: d["_id"])
    return docs, next((i for i, d in enumerate(docs) if d["_id"] != lo + 1 + i), len(docs))


def to_stored(doc: dict, upcast: bool = True) -> StoredEvent:
    """Document → StoredEvent; ``upcast`` brings old schema versions up to date (the relay publishes as stored)."""
    version, data = doc.get("v", 1), doc["data"]
    if upcast:
        version, data = registry.upcast(doc["type"], version, data)
    return StoredEvent(id=doc["eid"], type=doc["type"], source=doc["source"], tenant=doc["tenant"],
                       stream=doc["stream"], version=doc["version"], position=doc["_id"], time=doc["time"],
                       data=data, schema_version=version, correlationid=doc.get("cid"),
                       causationid=doc.get("caid"))


def _check_tenant(tenant: str) -> None:
    if not tenant or tenant == ALL_TENANTS:
        raise ValueError("stream reads are scoped to one tenant")


def _dup_key(exc: Exception) -> str | None:
    """Which unique index a duplicate-key error hit: '_id', 'version' or 'eid' (None if not a dup)."""
    details = getattr(exc, "details", None) or {}
    if isinstance(exc, BulkWriteError):
        errs = details.get("writeErrors") or []
        if not errs or errs[0].get("code") not in (11000, 11001):
            return None
        details = errs[0]
    elif getattr(exc, "code", None) not in (11000, 11001):
        return None
    pattern = details.get("keyPattern") or {}
    msg = str(details.get("errmsg", exc))
    if "eid" in pattern or "event_id" in msg:
        return "eid"
    if "version" in pattern or "stream_version" in msg:
        return "version"
    return "_id"


def open_store(settings_=None) -> "EventStore":
    """The EventStore for the configured AGORA_MONGO_URI / AGORA_MONGO_DB / AGORA_EVENTS_DB."""
    from agora.config import settings
    cfg = settings_ or settings()
    db = connect(cfg.mongo_uri, cfg.mongo_db)
    return EventStore(db, events_db=db.client.get_database(cfg.events_db)).ensure_indexes()


def connect(uri: str, db_name: str, **kwargs) -> pymongo.database.Database:
    """A pymongo database handle with Agora's defaults (short server selection, tz-aware)."""
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=kwargs.pop("timeout_ms", 5000),
                                 tz_aware=True, **kwargs)
    return client.get_database(db_name)
