"""The partner dispatcher: tails the global log from its own checkpoint and publishes each event, transformed
(:mod:`agora.partners.stream`), to every partner whose active grant covers its tenant and type — through exchange
``agora.partners`` with routing key ``<partner>.<tenant>.<Type>``, which only that partner's queue is bound to.

Like the relay: a lease in the store keeps one active dispatcher (``partner_leases``), publisher confirms are
pipelined (a window of unconfirmed messages), the confirmed position is checkpointed (``partner_checkpoints``);
after a crash it resumes from the checkpoint (duplicates possible — same ``id``/``sequence`` — gaps never).
Grants are re-read every second. A grant covers the positions after its ``start`` (the head when it was granted;
older events: replay); a grant noticed after the dispatcher passed its start is first caught up over
``(start, position]``, then marked ``caught_up`` once the broker confirmed that — so no event after the grant is
missed, whenever the dispatcher notices it, and a restart does not send a caught-up grant's history again.
A revoked grant stops within a second (its user and queue are gone at once). Without any active grant it reads
nothing and keeps its checkpoint at the head, with no broker connection.

Runs inside the relay process (a thread, ``AGORA_PARTNER_STREAMS=0`` disables it) or on its own:
``python -m agora.partners``.
"""
from __future__ import annotations

import collections
import heapq
import logging
import os
import queue
import socket
import threading
import time
import uuid

import pika
from prometheus_client import Counter, Gauge

from agora import metrics
from agora.partners import broker, stream
from agora.partners.grants import GrantRegistry
from agora.store import ALL_TENANTS, EventStore

log = logging.getLogger("agora.partners")
CHECKPOINTS = "partner_checkpoints"
LEASES = "partner_leases"

PUBLISHED = Counter("agora_partner_published_total", "Events published to partner queues", ["partner"])
POSITION = Gauge("agora_partner_position", "Last global position confirmed by the partner dispatcher")


class Dispatcher:
    def __init__(self, store: EventStore, amqp_uri: str, *, name: str = "partners", window: int = 2000,
                 batch: int = 500, idle_s: float = 0.02, checkpoint_every_s: float = 0.05, lease_s: float = 10.0,
                 grants_every_s: float = 1.0):
        self.store = store
        self.amqp_uri = amqp_uri
        self.name = name
        self.window, self.batch, self.idle_s = window, batch, idle_s
        self.checkpoint_every_s, self.lease_s, self.grants_every_s = checkpoint_every_s, lease_s, grants_every_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.registry = GrantRegistry(store.db, amqp_uri, store=store)
        self.checkpoints = store.db.get_collection(CHECKPOINTS)
        self.leases = store.db.get_collection(LEASES)
        self.checkpoints.update_one({"_id": name}, {"$setOnInsert": {"position": 0}}, upsert=True)
        self.leases.update_one({"_id": name}, {"$setOnInsert": {"owner": None, "expires": 0.0}}, upsert=True)
        self._stop = threading.Event()
        self.connected = False
        self.active = False

    def checkpoint(self) -> int:
        return int(self.checkpoints.find_one({"_id": self.name})["position"])

    def _save(self, position: int) -> None:
        self.checkpoints.update_one({"_id": self.name}, {"$max": {"position": position}})
        POSITION.set(position)

    def acquire_lease(self) -> bool:
        now = time.time()
        return self.leases.find_one_and_update(
            {"_id": self.name, "$or": [{"owner": self.owner}, {"expires": {"$lt": now}}]},
            {"$set": {"owner": self.owner, "expires": now + self.lease_s}}) is not None

    def release_lease(self) -> None:
        self.leases.update_one({"_id": self.name, "owner": self.owner}, {"$set": {"expires": 0.0}})

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="partner-dispatcher", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------ main loop
    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.acquire_lease():
                    self.active = False
                    self._stop.wait(self.lease_s / 2)
                    continue
                self.active = True
                head = self.store.head()          # read before the grants: a grant made after this read only
                if not self.registry.active():    # precedes events appended after it, which stay above `head`
                    self._idle(head)
                    continue
                self._run_connection()
            except Exception as exc:  # noqa: BLE001 - reconnect after a pause
                self.connected = False
                if self._stop.is_set():
                    break
                log.warning("partner dispatcher: %s; retrying", exc)
                self._stop.wait(1.0)
        try:
            self.release_lease()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass

    def _idle(self, head: int) -> None:
        """No active grant: nothing to publish; keep the checkpoint at the head (a first grant starts live)."""
        if head > self.checkpoint():
            self._save(head)
        self._stop.wait(self.grants_every_s)

    def _run_connection(self) -> None:
        params = pika.URLParameters(self.amqp_uri)
        params.heartbeat = 30
        state = _State(self.checkpoint())
        failure: list[BaseException] = []
        holder: dict = {}
        # the log is read (and opened) a few pages ahead by a thread: store replies overlap with publishing
        def demographics():
            wanted = [g for g in state.grants if g.demographics]
            return (lambda e: any(g.covers(e.tenant, e.type) for g in wanted)) if wanted else False

        pages, done, reader_stop = stream.pages(self.store, state.published, self.batch, demographics, follow=True,
                                                idle_s=self.idle_s)

        def on_open(conn):
            conn.channel(on_open_callback=on_channel)

        def on_open_error(conn, err):
            failure.append(RuntimeError(f"AMQP connection failed: {err}"))
            conn.ioloop.stop()

        def on_closed(conn, reason):
            if not self._stop.is_set():
                failure.append(RuntimeError(f"AMQP connection closed: {reason}"))
            conn.ioloop.stop()

        def on_channel(ch):
            holder["ch"] = ch
            ch.add_on_close_callback(lambda c, reason: holder["conn"].close() if holder["conn"].is_open else None)
            ch.exchange_declare(broker.PARTNER_EXCHANGE, exchange_type="topic", durable=True,
                                callback=lambda _f: ch.confirm_delivery(on_confirm, callback=lambda _f2: start()))

        def start():
            self.connected = True
            log.info("partner dispatcher publishing from position %d", state.published)
            pump()

        def on_confirm(frame):
            method = frame.method
            if isinstance(method, pika.spec.Basic.Nack):
                failure.append(RuntimeError(f"broker nacked delivery {method.delivery_tag}"))
                holder["conn"].close()
                return
            state.ack(method.delivery_tag, method.multiple)
            maybe_checkpoint()

        def catch_up(grant):
            """Send ``grant`` what the dispatcher passed before noticing it: (start, published]."""
            ch = holder["ch"]
            position, end = grant.start, state.published
            types = None if grant.all_types else list(grant.types)
            while position < end:
                events, reached = self.store.read_page(ALL_TENANTS, after=position, limit=self.batch, types=types,
                                                       until=end, upcast=False)
                for event in stream.open_events(self.store, events, grant.demographics):
                    if grant.covers(event.tenant, event.type):
                        ce = stream.partner_event(event, grant)
                        ch.basic_publish(broker.PARTNER_EXCHANGE, stream.routing_key(grant, event),
                                         stream.encode(ce), stream.properties(ce))
                        state.sent(event.position)
                        metrics.child(PUBLISHED, grant.name).inc()
                if reached <= position:
                    break
                position = reached
            state.marks.append((grant.name, max(end, 0)))

        def maybe_checkpoint(force=False):
            now = time.monotonic()
            while state.marks and state.confirmed >= state.marks[0][1] and not state.catching_up(state.marks[0][1]):
                self.registry.mark_caught_up(state.marks.pop(0)[0])
            if state.confirmed > state.saved and (force or now - state.saved_at >= self.checkpoint_every_s):
                self._save(state.confirmed)
                state.saved, state.saved_at = state.confirmed, now

        def pump():
            conn = holder["conn"]
            if self._stop.is_set():
                maybe_checkpoint(force=True)
                conn.close()
                return
            now = time.monotonic()
            if now - state.grants_at >= self.grants_every_s:
                state.grants = self.registry.active()
                state.grants_at = now
                if not state.grants:                  # every grant revoked: back to idle
                    maybe_checkpoint(force=True)
                    conn.close()
                    return
                for grant in state.grants:
                    if (grant.name, grant.start) not in state.known:      # new, or revoked and granted again
                        state.known.add((grant.name, grant.start))
                        if not grant.caught_up:
                            catch_up(grant)
            room = self.window - state.inflight
            full = False
            if room > 0:
                try:
                    item = pages.get_nowait()
                except queue.Empty:
                    item = None
                if isinstance(item, BaseException):
                    failure.append(item)
                    conn.close()
                    return
                if item is not None and item is not done:
                    events, reached, full = item
                    ch = holder["ch"]
                    for event in events:
                        for grant in state.grants:
                            if event.position > grant.start and grant.covers(event.tenant, event.type):
                                ce = stream.partner_event(stream.opened_for(self.store, event, grant), grant)
                                ch.basic_publish(broker.PARTNER_EXCHANGE, stream.routing_key(grant, event),
                                                 stream.encode(ce), stream.properties(ce))
                                state.sent(event.position)
                                metrics.child(PUBLISHED, grant.name).inc()
                        state.advance(event.position)
                    state.advance(reached)
                    state.backlog = full
            maybe_checkpoint()
            if time.monotonic() - state.lease_at > self.lease_s / 3:
                if not self.acquire_lease():
                    failure.append(RuntimeError("partner dispatcher lease lost"))
                    conn.close()
                    return
                state.lease_at = time.monotonic()
            # a backlog: poll the read-ahead queue again at once (a page is usually waiting); at the head: idle
            delay = 0 if room > 0 and not pages.empty() else 0.001 if state.backlog or room <= 0 else self.idle_s
            conn.ioloop.call_later(delay, pump)

        conn = pika.SelectConnection(params, on_open_callback=on_open, on_open_error_callback=on_open_error,
                                     on_close_callback=on_closed)
        holder["conn"] = conn
        try:
            conn.ioloop.start()
        finally:
            reader_stop.set()
        self.connected = False
        if state.confirmed > state.saved:
            self._save(state.confirmed)
        if failure and not self._stop.is_set():
            raise failure[0]


class _State:
    def __init__(self, position: int):
        self.published = position       # every position ≤ this has been handed to the broker (or needed nothing)
        self.confirmed = position
        self.saved = position
        self.saved_at = time.monotonic()
        self.lease_at = time.monotonic()
        self.grants: list = []
        self.grants_at = -1e9
        self.backlog = False              # the last page read was full: more is coming at once
        self.known: set = set()           # grants seen by this connection (caught up, or being caught up)
        self.marks: list = []             # (grant, position): caught up once everything sent is confirmed
        self.next_tag = 1
        # unconfirmed deliveries: tag → position, the tags in publishing order, and a heap of (position, tag) for
        # the lowest unconfirmed position (catch-up messages carry older positions than live ones); O(log n) per
        # message instead of a scan of the whole window per ack
        self.tags: dict[int, int] = {}
        self.order: collections.deque = collections.deque()
        self.heap: list = []

    @property
    def inflight(self) -> int:
        return len(self.tags)

    def _lowest(self) -> int | None:
        heap = self.heap
        while heap and heap[0][1] not in self.tags:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def catching_up(self, position: int) -> bool:
        """Messages still unconfirmed at or below ``position``."""
        lowest = self._lowest()
        return lowest is not None and lowest <= position

    def sent(self, position: int) -> None:
        tag = self.next_tag
        self.next_tag += 1
        self.tags[tag] = position
        self.order.append(tag)
        heapq.heappush(self.heap, (position, tag))

    def advance(self, position: int) -> None:
        if position > self.published:
            self.published = position
            if not self.tags:
                self.confirmed = position

    def ack(self, tag: int, multiple: bool) -> None:
        order, tags = self.order, self.tags
        if multiple:
            while order and order[0] <= tag:
                tags.pop(order.popleft(), None)
        else:
            tags.pop(tag, None)
            while order and order[0] not in tags:
                order.popleft()
        lowest = self._lowest()
        # every position below the lowest unconfirmed one
        self.confirmed = lowest - 1 if lowest is not None else self.published
