"""Store-driven subscriptions: checkpointed, deduplicated, retried, poison events parked.

A subscription reads the event store from its checkpoint in global order (``read_all``), calls its handler for
each event of the types it wants, and commits the new checkpoint **in the same MongoDB transaction** as the
handler's projection writes (the handler gets the ``session``). Hence:

* catch-up and live delivery are one code path: a new subscriber starts at position 0, and RabbitMQ messages are
  only a doorbell saying "something new up to sequence S" — no gap, no double apply, whatever the broker does;
* duplicate deliveries are absorbed: an event id maps to exactly one position, and positions at or below the
  checkpoint are never handled again;
* a failing event is retried with exponential backoff (``max_attempts``), then parked in ``dead_letters`` (and
  handed to ``on_park``, which the nameko entrypoint uses to publish it to ``agora.dlq.<service>``) and the
  subscription moves on: a poison event never blocks the rest;
* projections are disposable: ``reset()`` forgets the checkpoint, the caller drops its collections, and the next
  ``poll`` rebuilds them from the log (``python -m agora.projections rebuild``).

One poison policy for every handler: an event whose data lacks a field its registered schema requires (or holds
null where null is not allowed) is parked at once, before any handler sees it (:func:`contract_violation`); an event
whose handler raises is retried ``max_attempts`` times with backoff, then parked. Handlers may therefore rely on
the required fields of their events and should raise, never skip silently, on anything else they cannot apply.

**Ownership (lease) and orphaned transactions.** One process at a time runs a subscription: it holds a short lease
(``subscription_leases``, ``lease_s`` = 3 s, renewed while it works) naming the process and the server sessions
its transactions run in. A process killed inside a transaction leaves an orphan that holds the checkpoint document
(and whatever the handler wrote) until the server reaps it (60 s by default). The next owner, on taking over an
expired lease, kills the previous owner's sessions (``killSessions``), which aborts the orphan at once, so the
subscription resumes within a few seconds instead of a minute. Standby instances (other replicas) poll the lease
and take over when it expires. Correctness never depends on the lease: the checkpoint claim inside each
transaction still guarantees each event is applied once.

Handlers must keep side effects outside MongoDB idempotent (they may run again after a crash between the side
effect and the commit).

A handler takes ``(event, session)``; with ``batched=True`` it takes ``(events, session)`` instead and gets a whole
batch in position order (one call per transaction), so a projection can read what the batch touches with one
query and write it with one bulk write. When a batch fails, its events are retried one by one (each as a batch of
one) to isolate and park the poison event, exactly as for per-event handlers.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable

from pymongo import ReturnDocument
from pymongo.errors import OperationFailure, PyMongoError

from agora import metrics
from agora.events.envelope import StoredEvent
from agora.store import ALL_TENANTS, EventStore

log = logging.getLogger("agora.subscriptions")
CHECKPOINTS = "subscription_checkpoints"
DEAD_LETTERS = "dead_letters"
LEASES = "subscription_leases"
REBUILDS = "projection_rebuilds"
DEFAULT_LEASE_S = 3.0
SHADOW_SUFFIX = "__next"        # a read model being rebuilt: <collection>__next until the switch
Handler = Callable[[StoredEvent, object], None]       # or, batched, Callable[[list[StoredEvent], object], None]


class _Moved(Exception):
    """Another consumer of the same subscription advanced the checkpoint: re-poll from the new position."""


_owner_lock = threading.Lock()
_owner: tuple[int, str] | None = None


def process_owner() -> str:
    """This process's lease owner token (host:pid:random; a new one after a fork)."""
    global _owner
    with _owner_lock:
        if _owner is None or _owner[0] != os.getpid():
            _owner = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
        return _owner[1]


_REQUIRED: dict[str, tuple[tuple[str, bool], ...] | None] = {}


def _required_fields(event_type: str):
    """((field, allow_none), ...) of the latest registered schema of ``event_type`` (personal data aside: it may be
    shredded), or None for a type without a registered schema."""
    if event_type not in _REQUIRED:
        from agora.errors import ValidationFailed
        from agora.events import registry
        try:
            etype = registry.get(event_type)
        except ValidationFailed:
            _REQUIRED[event_type] = None
        else:
            schema, _ = registry._instance(etype)
            _REQUIRED[event_type] = tuple(
                (field.data_key or name, bool(field.allow_none)) for name, field in schema.fields.items()
                if field.required and not field.dump_only and (field.data_key or name) != "personal")
    return _REQUIRED[event_type]


def contract_violation(event: StoredEvent) -> str | None:
    """Why ``event`` cannot be applied by any handler (a field its schema requires is missing or null), or None.

    The store validates every payload before appending, so this only catches events written around it (an old bug,
    a hand-made repair, a restored foreign log): such an event is parked, never "applied" with a default."""
    required = _required_fields(event.type)
    if not required:
        return None
    data = event.data if isinstance(event.data, dict) else {}
    missing = [name for name, allow_none in required
               if name not in data or (data[name] is None and not allow_none)]
    if missing:
        return f"contract violation: {event.type} lacks required field(s) {', '.join(sorted(missing))}"
    return None


class Subscription:
    def __init__(self, store: EventStore, db, service: str, name: str, types: list[str] | None,
                 handler: Handler, *, batch: int = 200, max_attempts: int = 5, backoff_s: float = 0.05,
                 on_park: Callable[[StoredEvent, str], None] | None = None, transactional: bool = True,
                 collections: list[str] | None = None, batched: bool = False, layout: int | None = None,
                 lease_s: float | None = DEFAULT_LEASE_S):
        self.store = store
        self.db = db
        self.service = service
        self.name = name
        self.key = f"{service}:{name}"
        self.types = sorted(set(types)) if types else None
        self.handler = handler
        self.batched = batched
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.on_park = on_park
        self.dead_key, self.dead_name = self.key, name      # a rebuild's shadow parks as the live subscription
        self.collections = sorted(collections) if collections is not None else None
        self.rebuild_handler = None   # (db view) -> handler writing through that view: enables blue/green rebuilds
        self._rebuild_checked = 0.0
        self.transactional = transactional
        self.checkpoints = db.get_collection(CHECKPOINTS)
        self.dead = db.get_collection(DEAD_LETTERS)
        self.leases = db.get_collection(LEASES)
        self.lease_s = lease_s
        self._lease_until = 0.0          # monotonic time until which this instance may assume it holds the lease
        self._session = None             # the one server session this instance's transactions run in
        self._lease_lock = threading.Lock()
        self._released = False
        if lease_s:
            self.leases.update_one({"_id": self.key}, {"$setOnInsert": {"owner": None, "expires": 0.0,
                                                                         "sessions": []}}, upsert=True)
        update: dict = {"$setOnInsert": {"position": 0}}
        if collections is not None:      # the read models this subscription fills (emptied by a rebuild)
            update["$set"] = {"collections": sorted(collections)}
        # read first: a transaction a dead owner left open may hold this document (a plain write would wait for
        # it to be reaped); the lease takeover in the first poll aborts it
        current = self.checkpoints.find_one({"_id": self.key})
        if current is None or (collections is not None and current.get("collections") != sorted(collections)):
            self.checkpoints.update_one({"_id": self.key}, update, upsert=True)
        self.reached = 0
        self.more = False
        if layout is not None:
            self._ensure_layout(layout, collections or [])

    def _ensure_layout(self, layout: int, collections: list[str]) -> None:
        """A read model whose documents changed shape is rebuilt, not migrated: when the checkpoint records another
        ``layout`` than the code's, the declared collections are emptied and the checkpoint reset, so the next poll
        replays the log into the new layout (projections are disposable). Replicas still running the old code must
        be stopped first: they would keep writing the old shape."""
        doc = self.checkpoints.find_one({"_id": self.key}) or {}
        if doc.get("layout") == layout:
            return
        self.acquire()       # taking the lease over aborts a transaction a dead owner left on the checkpoint
        if doc.get("position", 0) > 0:
            log.warning("subscription %s: read-model layout %s -> %s: emptying %s and replaying the log", self.key,
                        doc.get("layout"), layout, ", ".join(collections) or "nothing")
        for name in collections:
            self.db[name].delete_many({})
        self.checkpoints.update_one({"_id": self.key}, {"$set": {"position": 0, "layout": layout}})
        self.reached = 0

    # ------------------------------------------------------------ lease
    def _session_id(self):
        return self._session.session_id if self._session is not None else None

    def acquire(self) -> bool:
        """Hold (or renew) this subscription's lease; True when this process owns it. Taking it over from another
        owner kills that owner's server sessions first, aborting a transaction it left open when it died."""
        if not self.lease_s:
            return True
        with self._lease_lock:
            if self._released:
                return False
            now_m = time.monotonic()
            if self._lease_until - now_m > self.lease_s * 2 / 3:
                return True                                   # renewed less than a third of a lease ago
            me = process_owner()
            now = time.time()
            prev = self.leases.find_one_and_update(
                {"_id": self.key, "$or": [{"owner": me}, {"owner": None}, {"expires": {"$lt": now}}]},
                {"$set": {"owner": me, "expires": now + self.lease_s}}, return_document=ReturnDocument.BEFORE)
            if prev is None:
                self._lease_until = 0.0
                return False
            if prev.get("owner") != me:
                stale = [s for s in prev.get("sessions") or [] if s]
                if stale:
                    self._kill_sessions(stale, prev.get("owner"))
                self._drop_session()
                self._session = self.db.client.start_session()
                self.leases.update_one({"_id": self.key, "owner": me}, {"$set": {"sessions": [self._session_id()]}})
                if prev.get("owner"):
                    log.warning("subscription %s: took over from %s (lease expired)", self.key, prev["owner"])
            elif self._session is None or self._session_id() not in (prev.get("sessions") or []):
                if self._session is None:
                    self._session = self.db.client.start_session()
                self.leases.update_one({"_id": self.key, "owner": me}, {"$addToSet": {"sessions": self._session_id()}})
            self._lease_until = now_m + self.lease_s
            return True

    def renew(self) -> bool:
        """Keep the lease while a long batch runs (the nameko entrypoint calls this about every second)."""
        if not self.lease_s or self._lease_until == 0.0:
            return False
        return self.acquire()

    def release(self) -> None:
        """Give the lease up (clean shutdown): a standby takes over at once instead of after ``lease_s``. This
        instance then stops processing (its polls return 0)."""
        if not self.lease_s:
            return
        with self._lease_lock:
            self._released = True
            if self._lease_until:
                try:     # the sessions stay named: the successor aborts a transaction still open in them
                    self.leases.update_one({"_id": self.key, "owner": process_owner()}, {"$set": {"expires": 0.0}})
                except PyMongoError:
                    pass
            self._lease_until = 0.0

    def _drop_session(self) -> None:
        if self._session is not None:
            try:
                self._session.end_session()
            except Exception:  # noqa: BLE001 - best effort
                pass
            self._session = None

    def _kill_sessions(self, sessions: list, owner) -> None:
        started = time.monotonic()
        try:
            self.db.client.admin.command("killSessions", sessions)
        except PyMongoError as exc:
            log.warning("subscription %s: could not kill the sessions of %s: %s", self.key, owner, exc)
            return
        log.info("subscription %s: killed %d session(s) of previous owner %s in %.3fs", self.key, len(sessions),
                 owner, time.monotonic() - started)

    # ------------------------------------------------------------ checkpoint
    def position(self) -> int:
        doc = self.checkpoints.find_one({"_id": self.key})
        return int(doc["position"]) if doc else 0

    def _save(self, position: int, session=None) -> None:
        self.checkpoints.update_one({"_id": self.key}, {"$max": {"position": position}}, session=session)

    def reset(self) -> None:
        """Forget the checkpoint (the caller drops the projection); the next poll replays from position 0."""
        self.checkpoints.update_one({"_id": self.key}, {"$set": {"position": 0}}, upsert=True)
        self.reached = 0

    # ------------------------------------------------------------ processing
    def poll(self, until: int | None = None, max_batches: int | None = None) -> int:
        """Process everything pending (up to ``until``); returns how many events were handled or parked.

        Reads need no head lookup (:meth:`EventStore.read_page` stops at the first position not stored yet). If
        another consumer moves the checkpoint meanwhile (a replica, or a rebuild resetting it), the batch's
        transaction sees it (:meth:`_claim`) and the poll re-reads it."""
        if not self.acquire():
            return 0                                 # another process owns this subscription: stand by
        total = 0
        batches = 0
        self.more = False
        start = self.position()
        while until is None or start < until:
            if max_batches is not None and batches >= max_batches:
                self.more = True                     # stopped by max_batches: more may be pending
                break
            batches += 1
            if not self.acquire():
                break                                # lost the lease (stalled past it): the new owner goes on
            events, scanned = self.store.read_page(ALL_TENANTS, after=start, limit=self.batch, types=self.types,
                                                   until=until)
            if scanned <= start:
                break                                # nothing new
            if not events:                           # nothing of ours: move on, unless another consumer moved it
                moved = self.checkpoints.update_one({"_id": self.key, "position": start},
                                                    {"$set": {"position": scanned}}).matched_count == 0
                start = self.position() if moved else scanned
                self.reached = start
                continue
            last = events[-1].position if len(events) == self.batch else scanned
            poisoned = any(contract_violation(e) for e in events)
            outcome = "failed" if poisoned else self._run_batch(events, start, last)
            if outcome == "moved":
                start = self.position()
                continue
            if outcome == "failed":
                for event in events:             # isolate the failing event(s), in order
                    self._run_one(event)
                self._save(last)
            start = last
            self.reached = start      # after every batch: a poll under steady load may run for a long time
            total += len(events)
            metrics.SUBSCRIPTION_PROCESSED.labels(self.service, self.name).inc(len(events))
        metrics.SUBSCRIPTION_LAG.labels(self.service, self.name).set(max(0, self.store.known_head - start))
        self.reached = start     # the checkpoint this poll left behind (no need to read it back)
        return total

    def _in_txn(self, fn) -> None:
        if not self.transactional:
            fn(None)
            return
        if self._session is not None:
            self._session.with_transaction(fn)       # the lease names this session: a successor can abort it
            return
        with self.db.client.start_session() as session:
            session.with_transaction(fn)

    def _claim(self, session, expected: int, position: int) -> None:
        """Move the checkpoint from ``expected`` to ``position``, in the transaction, before the handler runs (it
        commits with the handler's writes or not at all). If the checkpoint is no longer where this batch starts,
        another consumer got there first: :class:`_Moved`. Writing it first also makes a concurrent consumer's
        commit on it a write conflict (→ retry → _Moved). One round trip: the condition is the guard.
        Without transactions the checkpoint is saved after the handler instead (at least once)."""
        if not self.transactional:
            return
        res = self.checkpoints.update_one({"_id": self.key, "position": expected}, {"$set": {"position": position}},
                                          session=session)
        if res.matched_count == 0:
            raise _Moved()

    def _run_batch(self, events: list[StoredEvent], start: int, last: int) -> str:
        def work(session):
            self._claim(session, start, last)
            if self.batched:
                self._handle(events, session)
            else:
                for event in events:
                    self._handle(event, session)
            if not self.transactional:
                self._save(last)
        try:
            self._in_txn(work)
            return "done"
        except _Moved:
            return "moved"
        except Exception as exc:  # noqa: BLE001 - retried one by one
            if len(events) == 1:
                log.warning("subscription %s: event %s failed: %s", self.key, events[0].id, exc)
            return "failed"

    def _handle(self, event: StoredEvent | list[StoredEvent], session) -> None:
        """Call the handler with one event, or with a list of events when ``batched``."""
        if self.batched and not isinstance(event, list):
            event = [event]
        started = time.perf_counter()
        try:
            self.handler(event, session)
        finally:
            metrics.HANDLER_SECONDS.labels(self.service, self.name).observe(time.perf_counter() - started)

    def _run_one(self, event: StoredEvent) -> None:
        violation = contract_violation(event)
        if violation is not None:
            if event.position > self.position():
                metrics.HANDLER_FAILURES.labels(self.service, self.name).inc()
                self.park(event, violation, attempts=0)
            return
        error = ""
        for attempt in range(self.max_attempts):
            current = self.position()
            if event.position <= current:
                return                               # already applied (a concurrent consumer, or a retry)

            def work(session, event=event, current=current):
                self._claim(session, current, event.position)
                self._handle(event, session)
                if not self.transactional:
                    self._save(event.position)
            try:
                self._in_txn(work)
                return
            except _Moved:
                continue
            except Exception as exc:  # noqa: BLE001
                error = f"{type(exc).__name__}: {exc}"
                metrics.HANDLER_FAILURES.labels(self.service, self.name).inc()
                log.warning("subscription %s: event %s attempt %d/%d failed: %s", self.key, event.id,
                            attempt + 1, self.max_attempts, error,
                            extra={"event_id": event.id, "event_type": event.type, "subscription": self.key})
                if attempt + 1 < self.max_attempts:
                    time.sleep(self.backoff_s * (2 ** attempt))
        self.park(event, error)

    def park(self, event: StoredEvent, error: str, attempts: int | None = None) -> None:
        """Record the poison event in ``dead_letters`` and move the checkpoint past it."""
        attempts = self.max_attempts if attempts is None else attempts
        doc = {"_id": f"{self.dead_key}:{event.id}", "service": self.service, "subscription": self.dead_name,
               "event_id": event.id, "type": event.type, "tenant": event.tenant, "position": event.position,
               "error": error, "attempts": attempts, "parked_at": time.time(),
               "cloudevent": event.to_cloudevent()}
        self.dead.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
        self._save(event.position)
        metrics.DLQ_MESSAGES.labels(self.service).set(self.dead.count_documents({"service": self.service}))
        log.error("subscription %s parked event %s (%s) after %d attempts: %s", self.key, event.id, event.type,
                  attempts, error)
        if self.on_park is not None:
            try:
                self.on_park(event, error)
            except PyMongoError:
                raise
            except Exception:  # noqa: BLE001 - the dead_letters record is the source of truth
                log.exception("on_park callback failed for %s", event.id)

    def parked(self) -> list[dict]:
        return list(self.dead.find({"service": self.service, "subscription": self.name}))

    def replay_parked(self, event_id: str) -> bool:
        """Run a parked event's handler again (after a fix); removes it from dead_letters on success."""
        doc = self.dead.find_one({"_id": f"{self.key}:{event_id}"})
        if not doc:
            return False
        event = self.store.get(event_id)

        def work(session):
            self._handle(event, session)
        try:
            self._in_txn(work)
        except (OperationFailure, Exception) as exc:  # noqa: BLE001
            log.warning("replay of %s failed again: %s", event_id, exc)
            return False
        self.dead.delete_one({"_id": doc["_id"]})
        return True


# ================================================================================================ rebuilds
class RedirectedDatabase:
    """A pymongo Database whose read-model collections are replaced by their rebuild copies (``<name>__next``):
    what a blue/green rebuild hands the subscription's handler. Anything else is the database itself."""

    def __init__(self, db, mapping: dict[str, str] | None = None, prefix: str | None = None):
        self._db = db
        self._mapping = dict(mapping or {})
        self._prefix = prefix            # no declared collections: every ``<service>_*`` collection is redirected

    def target(self, name: str) -> str:
        if name in self._mapping:
            return self._mapping[name]
        if self._prefix and name.startswith(self._prefix) and not name.endswith(SHADOW_SUFFIX):
            return name + SHADOW_SUFFIX
        return name

    def __getitem__(self, name):
        return self._db[self.target(name)]

    def get_collection(self, name, *args, **kwargs):
        return self._db.get_collection(self.target(name), *args, **kwargs)

    def drop_collection(self, name, *args, **kwargs):
        name = name if isinstance(name, str) else name.name
        return self._db.drop_collection(self.target(name), *args, **kwargs)

    def create_collection(self, name, *args, **kwargs):
        return self._db.create_collection(self.target(name), *args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._mapping or (self._prefix and name.startswith(self._prefix)):
            return self._db[self.target(name)]
        return getattr(self._db, name)


def request_rebuild(db, service: str, subscription: str | None = None, *, names: list[str] | None = None) -> list[str]:
    """Ask the owners of a service's subscriptions (all, or one) to rebuild their read models; returns the keys.

    Only that service's checkpoints are read; nothing is emptied or reset here. The owner of each subscription
    (the running service) does the work between its live batches (:meth:`Subscription.rebuild_step`)."""
    import re
    query = {"_id": f"{service}:{subscription}"} if subscription else {"_id": {"$regex": f"^{re.escape(service)}:"}}
    keys = [d["_id"] for d in db[CHECKPOINTS].find(query, {"_id": 1}) if not d["_id"].endswith("~rebuild")]
    for key in keys:
        try:
            db[REBUILDS].insert_one({"_id": key, "state": "requested", "requested_at": time.time()})
        except PyMongoError:          # requested before: ask again unless one is under way
            db[REBUILDS].update_one({"_id": key, "state": {"$nin": ["requested", "building", "switching"]}},
                                    {"$set": {"state": "requested", "requested_at": time.time()},
                                     "$unset": {"finished_at": "", "mode": "", "position": ""}})
    return keys


def _rebuild_step(self: Subscription, max_batches: int = 4, check_every_s: float = 1.0) -> str | None:
    """Advance a requested rebuild of this subscription's read models by a few batches (called by the lease owner
    between live polls): ``None`` when there is nothing to do, else the rebuild's state afterwards.

    Blue/green (when :attr:`rebuild_handler` is set): the log is replayed into ``<collection>__next`` copies (same
    indexes) by a shadow subscription with its own checkpoint, while the live collections keep serving and the live
    subscription keeps applying new events. When the shadow has caught up with the live checkpoint, the copies are
    renamed over the live collections (``renameCollection`` with ``dropTarget``) and the live checkpoint set to the
    shadow's position. Every step is recorded in ``projection_rebuilds``: a rebuild interrupted (kill -9) resumes
    where it stopped, including a switch cut half-way. Without a ``rebuild_handler`` the owner empties the
    collections and resets its own checkpoint in place (readers see the model refill)."""
    now = time.monotonic()
    if now - self._rebuild_checked < check_every_s and not getattr(self, "_rebuilding", False):
        return None
    self._rebuild_checked = now
    rebuilds = self.db[REBUILDS]
    req = rebuilds.find_one({"_id": self.key, "state": {"$in": ["requested", "building", "switching"]}})
    self._rebuilding = req is not None
    if req is None or not self.acquire():
        return None
    if self.rebuild_handler is None or (self.collections is None and _undeclared_siblings(self)):
        return _rebuild_in_place(self, req)      # blue/green needs to know exactly which collections are its own
    shadow_key = f"{self.key}~rebuild"
    live_names = self._read_model_names()
    if req["state"] == "requested":
        for name in live_names:                   # leftovers of an abandoned attempt
            self.db.drop_collection(name + SHADOW_SUFFIX)
        for name in live_names:
            _copy_indexes(self.db, name, name + SHADOW_SUFFIX)
        self.checkpoints.update_one({"_id": shadow_key}, {"$set": {"position": 0}}, upsert=True)
        rebuilds.update_one({"_id": self.key}, {"$set": {"state": "building", "started_at": time.time(),
                                                         "collections": live_names}})
        log.warning("subscription %s: blue/green rebuild of %s started", self.key, ", ".join(live_names))
        req["state"], req["collections"] = "building", live_names
    names = req.get("collections") or live_names
    if req["state"] == "building":
        shadow = self._shadow(names)
        shadow._session = self._session           # the lease's session: a successor aborts what a crash left open
        shadow.poll(max_batches=max_batches)
        live = self.position()
        if shadow.position() < live or shadow.poll(until=None, max_batches=1):
            return "building"                     # not caught up yet (or more arrived meanwhile)
        rebuilds.update_one({"_id": self.key}, {"$set": {"state": "switching", "position": shadow.position()}})
        req = rebuilds.find_one({"_id": self.key})
    if req["state"] == "switching":
        _switch(self, req, names, shadow_key)
        return "done"
    return req["state"]


def _undeclared_siblings(self: Subscription) -> list[str]:
    """The service's other subscriptions that declared no collections (they share ``<service>_*`` with this one)."""
    import re
    return [d["_id"] for d in self.checkpoints.find({"_id": {"$regex": f"^{re.escape(self.service)}:"}})
            if d["_id"] != self.key and "collections" not in d and not d["_id"].endswith("~rebuild")]


def _rebuild_in_place(self: Subscription, req: dict) -> str:
    """Empty the read models and reset the checkpoint in ONE transaction (never one without the other, even if the
    process dies). A subscription that declared no collections shares ``<service>_*`` with the service's other
    undeclared subscriptions: their checkpoints are reset in the same transaction (their requests are then done
    too), else they would go on from where they were over emptied collections."""
    names = self._read_model_names()
    keys = [self.key] + (_undeclared_siblings(self) if self.collections is None else [])

    def work(session):
        for name in names:
            self.db[name].delete_many({}, session=session)
        self.checkpoints.update_many({"_id": {"$in": keys}}, {"$set": {"position": 0}}, session=session)
    self._in_txn(work)
    self.reached = 0
    self.db[REBUILDS].update_many({"_id": {"$in": keys}}, {"$set": {"state": "done", "mode": "in-place",
                                                                    "collections": names,
                                                                    "finished_at": time.time()}})
    log.warning("subscription %s: read models %s emptied, replaying the log (in place%s)", self.key,
                ", ".join(names), f"; also reset {', '.join(keys[1:])}" if keys[1:] else "")
    return "done"


def _switch(self: Subscription, req: dict, names: list[str], shadow_key: str) -> None:
    existing = set(self.db.list_collection_names())
    for name in names:
        if name + SHADOW_SUFFIX in existing:
            self.db.client.admin.command("renameCollection", f"{self.db.name}.{name}{SHADOW_SUFFIX}",
                                         to=f"{self.db.name}.{name}", dropTarget=True)
    position = int(req["position"])
    self.checkpoints.update_one({"_id": self.key}, {"$set": {"position": position}})
    self.reached = position
    self.checkpoints.delete_one({"_id": shadow_key})
    self.db[REBUILDS].update_one({"_id": self.key}, {"$set": {"state": "done", "mode": "blue-green",
                                                               "finished_at": time.time()}})
    self._rebuilding = False
    self._shadow_sub = None
    log.warning("subscription %s: switched to the rebuilt read models at position %d", self.key, position)


def _copy_indexes(db, source: str, target: str) -> None:
    db.create_collection(target) if target not in db.list_collection_names() else None
    try:
        info = db[source].index_information()
    except PyMongoError:
        info = {}
    for name, spec in info.items():
        if name == "_id_":
            continue
        options = {k: v for k, v in spec.items() if k in ("unique", "sparse", "partialFilterExpression",
                                                           "expireAfterSeconds")}
        db[target].create_index(spec["key"], name=name, **options)


def _read_model_names(self: Subscription) -> list[str]:
    """The collections this subscription fills: the declared ones, else every ``<service>_*`` collection."""
    if self.collections is not None:
        return list(self.collections)
    return sorted(n for n in self.db.list_collection_names()
                  if n.startswith(f"{self.service}_") and not n.endswith(SHADOW_SUFFIX))


def _shadow(self: Subscription, names: list[str]) -> Subscription:
    shadow = getattr(self, "_shadow_sub", None)
    if shadow is None:
        view = RedirectedDatabase(self.db, {n: n + SHADOW_SUFFIX for n in names},
                                  prefix=None if self.collections is not None else f"{self.service}_")
        shadow = Subscription(self.store, self.db, self.service, f"{self.name}~rebuild", self.types,
                              self.rebuild_handler(view), batch=self.batch, max_attempts=self.max_attempts,
                              backoff_s=self.backoff_s, transactional=self.transactional, batched=self.batched,
                              lease_s=None)
        shadow.dead_key, shadow.dead_name = self.dead_key, self.dead_name
        self._shadow_sub = shadow
    return shadow


def rebuild_status(db, key: str) -> dict | None:
    return db[REBUILDS].find_one({"_id": key})


Subscription.rebuild_step = _rebuild_step
Subscription._read_model_names = _read_model_names
Subscription._shadow = _shadow
