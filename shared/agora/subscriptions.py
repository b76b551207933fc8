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

Handlers must keep side effects outside MongoDB idempotent (they may run again after a crash between the side
effect and the commit).

A handler takes ``(event, session)``; with ``batched=True`` it takes ``(events, session)`` instead and gets a whole
batch in position order (one call per transaction), so a projection can read what the batch touches with one
query and write it with one bulk write. When a batch fails, its events are retried one by one (each as a batch of
one) to isolate and park the poison event, exactly as for per-event handlers.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from pymongo.errors import OperationFailure, PyMongoError

from agora import metrics
from agora.events.envelope import StoredEvent
from agora.store import ALL_TENANTS, EventStore

log = logging.getLogger("agora.subscriptions")
CHECKPOINTS = "subscription_checkpoints"
DEAD_LETTERS = "dead_letters"
Handler = Callable[[StoredEvent, object], None]       # or, batched, Callable[[list[StoredEvent], object], None]


class _Moved(Exception):
    """Another consumer of the same subscription advanced the checkpoint: re-poll from the new position."""


class Subscription:
    def __init__(self, store: EventStore, db, service: str, name: str, types: list[str] | None,
                 handler: Handler, *, batch: int = 200, max_attempts: int = 5, backoff_s: float = 0.05,
                 on_park: Callable[[StoredEvent, str], None] | None = None, transactional: bool = True,
                 collections: list[str] | None = None, batched: bool = False, layout: int | None = None):
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
        self.transactional = transactional
        self.checkpoints = db.get_collection(CHECKPOINTS)
        self.dead = db.get_collection(DEAD_LETTERS)
        update: dict = {"$setOnInsert": {"position": 0}}
        if collections is not None:      # the read models this subscription fills (emptied by a rebuild)
            update["$set"] = {"collections": sorted(collections)}
        self.checkpoints.update_one({"_id": self.key}, update, upsert=True)
        self.reached = 0
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
        if doc.get("position", 0) > 0:
            log.warning("subscription %s: read-model layout %s -> %s: emptying %s and replaying the log", self.key,
                        doc.get("layout"), layout, ", ".join(collections) or "nothing")
        for name in collections:
            self.db[name].delete_many({})
        self.checkpoints.update_one({"_id": self.key}, {"$set": {"position": 0, "layout": layout}})
        self.reached = 0

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
    def poll(self, until: int | None = None) -> int:
        """Process everything pending (up to ``until``); returns how many events were handled or parked.

        Reads need no head lookup (:meth:`EventStore.read_page` stops at the first position not stored yet). If
        another consumer moves the checkpoint meanwhile (a replica, or a rebuild resetting it), the batch's
        transaction sees it (:meth:`_claim`) and the poll re-reads it."""
        total = 0
        start = self.position()
        while until is None or start < until:
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
            outcome = self._run_batch(events, start, last)
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

    def park(self, event: StoredEvent, error: str) -> None:
        """Record the poison event in ``dead_letters`` and move the checkpoint past it."""
        doc = {"_id": f"{self.key}:{event.id}", "service": self.service, "subscription": self.name,
               "event_id": event.id, "type": event.type, "tenant": event.tenant, "position": event.position,
               "error": error, "attempts": self.max_attempts, "parked_at": time.time(),
               "cloudevent": event.to_cloudevent()}
        self.dead.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
        self._save(event.position)
        metrics.DLQ_MESSAGES.labels(self.service).set(self.dead.count_documents({"service": self.service}))
        log.error("subscription %s parked event %s (%s) after %d attempts: %s", self.key, event.id, event.type,
                  self.max_attempts, error)
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
