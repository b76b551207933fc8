"""nameko integration: EventStore/Mongo dependencies, the ``@subscribe`` entrypoint and readiness checks.

``@subscribe(name, {source: [types]})`` runs an :class:`agora.subscriptions.Subscription` inside the service
container. Its queue ``agora.sub.<service>.<name>`` is bound to each ``<source>.events`` topic exchange with the
event types as routing keys; a delivered message only rings the doorbell (the events themselves are read from the
store from the checkpoint) and is acked once the checkpoint has passed its sequence, so queue length reflects the
backlog (KEDA scales on it). A 1 s idle poll covers events published before the queue existed, and a broker
outage: the subscription then simply polls the store every second, and readiness does not depend on the broker.

One process at a time runs a subscription (a lease, renewed every second by a heartbeat thread; see
:mod:`agora.subscriptions`): other replicas stand by and take over within a few seconds of its death, aborting the
transaction it left open. ``@subscribe(..., collections=[...], blue_green=True)`` lets a requested rebuild
(``python -m agora.projections rebuild``) replay into copies of the read models while the live ones keep serving:
the handler must then reach its collections only through :class:`MongoDep` (``self.db``), which hands a rebuild's
worker the redirected database. ``AGORA_BLUE_GREEN=service:name,...`` opts subscriptions in by configuration (for
handlers known to write only through ``self.db``).
"""
from __future__ import annotations

import logging
import os
import threading

import eventlet
import kombu
import pymongo
from nameko.extensions import DependencyProvider, Entrypoint

from agora.config import settings, tune_gc
from agora.events.envelope import StoredEvent
from agora.store import EventStore
from agora.subscriptions import RedirectedDatabase, Subscription

log = logging.getLogger("agora.nameko")


def _register_rpc_errors():
    """Callers of a nameko RPC get the remote AgoraError back as itself (with its details), not a RemoteError."""
    from nameko.exceptions import get_module_path, registry

    from agora import errors

    def walk(cls):
        registry[get_module_path(cls)] = cls
        for sub in cls.__subclasses__():
            walk(sub)
    walk(errors.AgoraError)


_register_rpc_errors()
tune_gc()   # every service process imports this module before its container starts

_clients: dict[str, pymongo.MongoClient] = {}
_clients_lock = threading.Lock()


def mongo_client(uri: str | None = None) -> pymongo.MongoClient:
    """One MongoClient per URI and process (pymongo pools connections; it is thread- and greenlet-safe)."""
    uri = uri or settings().mongo_uri
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
        return _clients[uri]


def mongo_db(uri: str | None = None, name: str | None = None):
    return mongo_client(uri).get_database(name or settings().mongo_db)


_stores: dict[tuple[int, str], EventStore] = {}


def process_store(db=None) -> EventStore:
    """One EventStore per process and database (default: the configured one): HTTP handlers and subscriptions
    share its head cache, group commit and personal-key cache (a vote sealed by the HTTP handler is read back by
    the subscriptions without a ``personal_keys`` round trip)."""
    db = mongo_db() if db is None else db
    key = (id(db.client), db.name)
    with _clients_lock:
        store = _stores.get(key)
    if store is None:
        events_db = db.client.get_database(settings().events_db) if db.name == settings().mongo_db else db
        store = EventStore(db, events_db=events_db).ensure_indexes()
        with _clients_lock:
            store = _stores.setdefault(key, store)
    return store


class EventStoreDep(DependencyProvider):
    """Injects the process's shared :class:`EventStore` (indexes ensured at container start)."""

    def setup(self):
        self.store = process_store()

    def get_dependency(self, worker_ctx):
        return self.store


# views handed to the workers of blue/green rebuilds, by subscription key (see SubscriptionEntrypoint)
_rebuild_views: dict[str, RedirectedDatabase] = {}


def rebuild_database(worker_ctx) -> RedirectedDatabase | None:
    """For a worker applying events of a blue/green rebuild: the database whose read models are redirected to their
    rebuild copies (``<collection>__next``); None for every other worker. A service dependency that holds its own
    database handle (instead of :class:`MongoDep`) uses this to opt its subscription into ``blue_green=True``::

        def get_dependency(self, worker_ctx):
            db = rebuild_database(worker_ctx)
            return self.projections if db is None else Projections(self.store, db)
    """
    key = (worker_ctx.context_data or {}).get("agora_rebuild")
    return _rebuild_views.get(key) if key else None


class MongoDep(DependencyProvider):
    """Injects the pymongo Database that holds the service's projections (in a blue/green rebuild's worker: the
    same database with the subscription's read models redirected to their rebuild copies)."""

    def setup(self):
        self.db = mongo_db()

    def get_dependency(self, worker_ctx):
        view = rebuild_database(worker_ctx)
        return self.db if view is None else view


BROKER_PROBE_EVERY_S = 5.0
_broker = {"problem": None, "at": float("-inf")}    # the last known broker state (probe or consumer)


def _broker_seen(problem: str | None) -> None:
    """A subscription consumer connected (``None``) or lost its connection: fresher than any probe."""
    import time
    _broker["problem"], _broker["at"] = problem, time.monotonic()


def broker_problem(config: dict | None = None) -> str | None:
    """Why the broker is unusable, or None: what the subscription consumers last saw, else a connection probe at
    most every ``BROKER_PROBE_EVERY_S`` (a readiness poll never opens a connection per request)."""
    import time
    now = time.monotonic()
    if now - _broker["at"] < BROKER_PROBE_EVERY_S:
        return _broker["problem"]
    uri = (config or {}).get("AMQP_URI") or settings().amqp_uri
    try:
        with kombu.Connection(uri, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1)
        problem = None
    except Exception as exc:  # noqa: BLE001
        problem = f"broker unreachable: {exc}"
    _broker_seen(problem)
    return problem


def check_ready(config: dict | None = None) -> list[str]:
    """What this process cannot do right now: ``event store unreachable: …`` (it cannot serve: not ready) and
    ``broker unreachable: …`` (it still serves: the broker only rings doorbells, subscriptions fall back to polling
    the store every second and the relay publishes the backlog when it is back, so a broker outage must not take
    every replica out of its Service; ``/ready`` reports it as ``degraded``)."""
    problems = []
    try:
        mongo_client().admin.command("ping")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"event store unreachable: {exc}")
    broker = broker_problem(config)
    if broker:
        problems.append(broker)
    return problems


def exchange_for(source: str) -> kombu.Exchange:
    return kombu.Exchange(f"{source}.events", type="topic", durable=True)


class SubscriptionEntrypoint(Entrypoint):
    # doorbells are acked once the checkpoint passed them, at the latest this often: unacked doorbells count
    # against the prefetch window, and a full window would stop the broker from ringing at all
    ACK_EVERY_S = 0.1
    # unacked doorbells per consumer: bounds the broker's and this process's memory for a backlog (the events
    # themselves are read from the store); a full window only means the 1 s idle poll takes over the ringing
    PREFETCH = 1000
    LEASE_RENEW_S = 1.0

    def __init__(self, name: str, sources: dict[str, list[str]], batch: int = 200, max_attempts: int = 5,
                 backoff_s: float = 0.05, transactional: bool = True, collections: list[str] | None = None,
                 batched: bool = False, layout: int | None = None, blue_green: bool = False, **kwargs):
        self.sub_name = name
        self.sources = {src: list(types) for src, types in sources.items()}
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.transactional = transactional
        self.collections = collections
        self.batched = batched
        self.layout = layout
        self.blue_green = blue_green
        self._pending: list = []
        super().__init__(**kwargs)

    # nameko lifecycle --------------------------------------------------
    def setup(self):
        self._stop = threading.Event()
        self._bell = threading.Event()   # created after nameko's monkey patching: green
        self.service_name = self.container.service_name
        self.amqp_uri = self.container.config.get("AMQP_URI") or settings().amqp_uri
        self.queue_name = f"agora.sub.{self.service_name}.{self.sub_name}"
        self.dlq_name = f"agora.dlq.{self.service_name}"
        types = sorted({t for ts in self.sources.values() for t in ts})
        self.subscription = Subscription(process_store(), mongo_db(), self.service_name, self.sub_name, types,
                                         self._call_handler, batch=self.batch, max_attempts=self.max_attempts,
                                         backoff_s=self.backoff_s, on_park=self._publish_dead,
                                         transactional=self.transactional, collections=self.collections,
                                         batched=self.batched, layout=self.layout)
        opted = {k.strip() for k in os.environ.get("AGORA_BLUE_GREEN", "").split(",") if k.strip()}
        if self.blue_green or self.subscription.key in opted:
            key = self.subscription.key

            def rebuild_handler(view):
                _rebuild_views[key] = view
                return lambda event, session: self._call_handler(event, session, rebuild=key)
            self.subscription.rebuild_handler = rebuild_handler

    def start(self):
        self._stop.clear()
        self.container.spawn_managed_thread(self._consume, identifier=f"{self.queue_name}.consume")
        self.container.spawn_managed_thread(self._process, identifier=f"{self.queue_name}.process")
        self.container.spawn_managed_thread(self._keep_lease, identifier=f"{self.queue_name}.lease")

    def stop(self):
        self._stop.set()
        self._ring()
        try:
            self.subscription.release()        # a standby takes over at once
        except Exception:  # noqa: BLE001 - the lease expires anyway
            log.warning("subscription %s: could not release its lease", self.queue_name)

    def _keep_lease(self):
        """Renew the lease while a long batch runs (the process loop renews it between batches)."""
        while not self._stop.is_set():
            self._stop.wait(self.LEASE_RENEW_S)
            if self._stop.is_set():
                return
            try:
                self.subscription.renew()
            except Exception as exc:  # noqa: BLE001 - store hiccup: the next renewal or poll retries
                log.warning("subscription %s: lease renewal failed: %s", self.queue_name, exc)

    def kill(self):
        self.stop()

    # doorbell ----------------------------------------------------------
    def _ring(self):
        self._bell.set()

    def _declare(self, conn):
        queue = kombu.Queue(self.queue_name, durable=True, bindings=[
            kombu.binding(exchange_for(src), routing_key=t) for src, ts in self.sources.items() for t in ts])
        queue(conn.default_channel).declare()
        kombu.Queue(self.dlq_name, durable=True)(conn.default_channel).declare()
        return queue

    def _consume(self):
        outage = False
        while not self._stop.is_set():
            try:
                with kombu.Connection(self.amqp_uri, heartbeat=30) as conn:
                    queue = self._declare(conn)
                    _broker_seen(None)
                    if outage:
                        log.warning("subscription %s: broker connection back", self.queue_name)
                        outage = False
                    with conn.Consumer([queue], on_message=self._on_message, prefetch_count=self.PREFETCH,
                                       accept=["json", "application/json", "application/cloudevents+json"]):
                        while not self._stop.is_set():
                            try:
                                conn.drain_events(timeout=self.ACK_EVERY_S)
                            except TimeoutError:
                                conn.heartbeat_check()
                            except OSError as exc:
                                if "timed out" in str(exc):
                                    continue
                                raise
                            self._ack_passed()
            except Exception as exc:  # noqa: BLE001 - reconnect with a pause
                if self._stop.is_set():
                    return
                # once per outage: meanwhile the subscription polls the store every second
                (log.debug if outage else log.warning)(
                    "subscription %s: broker connection lost (%s); polling the store and reconnecting",
                    self.queue_name, exc)
                outage = True
                _broker_seen(f"broker unreachable: {exc}")
                self._pending.clear()
                eventlet.sleep(1)

    def _on_message(self, message):
        """A doorbell: only its ``sequence`` header matters (the event itself is read from the store), so the body
        is decoded only for a message without that header."""
        try:
            sequence = int(message.headers.get("sequence") or 0)
            if not sequence:
                sequence = int((message.decode() or {}).get("sequence") or 0)
        except (TypeError, ValueError, AttributeError):
            sequence = 0
        self._pending.append((sequence, message))
        self._ring()

    def _ack_passed(self):
        """Ack the doorbells the subscription's checkpoint has passed: the passed prefix (in delivery order) with
        one ``multiple`` ack, any later passed one on its own."""
        if not self._pending:
            return
        position = self.subscription.reached
        n = 0
        while n < len(self._pending) and self._pending[n][0] <= position:
            n += 1
        if n:
            self._pending[n - 1][1].ack(multiple=True)
        keep = []
        for sequence, message in self._pending[n:]:
            if sequence <= position:
                message.ack()
            else:
                keep.append((sequence, message))
        self._pending = keep

    # live batches per turn: under a load the projection barely keeps up with, an unbounded poll would never
    # return, and a requested rebuild (whose batches run between the live ones) would never advance
    LIVE_BATCHES_PER_TURN = 8

    def _process(self):
        while not self._stop.is_set():
            self._bell.clear()           # cleared before polling: a ring during the poll is never lost
            rebuilding = None
            handled = 0
            try:
                handled = self.subscription.poll(max_batches=self.LIVE_BATCHES_PER_TURN)
                rebuilding = self.subscription.rebuild_step()
            except Exception:  # noqa: BLE001 - store hiccup: retry shortly
                log.exception("subscription %s: poll failed", self.queue_name)
                eventlet.sleep(1)
            if rebuilding == "building" or handled or self.subscription.more:
                eventlet.sleep(0)                # more may be pending, or a rebuild is under way: go on
                continue
            self._bell.wait(timeout=1.0)

    # handler -----------------------------------------------------------
    def _call_handler(self, event: StoredEvent | list[StoredEvent], session, rebuild: str | None = None):
        """Run the service method in a nameko worker: ``(event, session)``, or ``(events, session)`` if batched.
        For a blue/green rebuild the worker's :class:`MongoDep` is the redirected database."""
        done = eventlet.event.Event()

        def handle_result(worker_ctx, result, exc_info):
            done.send((result, exc_info))
            return result, exc_info

        first = event[0] if isinstance(event, list) else event
        context = {"correlation_id": first.correlationid or first.id, "event_id": first.id}
        if rebuild:
            context["agora_rebuild"] = rebuild
        self.container.spawn_worker(self, (event, session), {}, context_data=context, handle_result=handle_result)
        result, exc_info = done.wait()
        if exc_info is not None:
            raise exc_info[1]
        return result

    def _publish_dead(self, event: StoredEvent, error: str):
        with kombu.Connection(self.amqp_uri) as conn:
            producer = conn.Producer()
            producer.publish(event.to_cloudevent(), routing_key=self.dlq_name, serializer="json",
                             delivery_mode=2, headers={"error": error[:1000], "subscription": self.sub_name},
                             declare=[kombu.Queue(self.dlq_name, durable=True)], retry=True)


subscribe = SubscriptionEntrypoint.decorator
