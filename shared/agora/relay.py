"""Relay (transactional outbox): the only publisher of events to RabbitMQ.

It tails the store's global position and publishes each event's CloudEvent JSON to the topic exchange
``<source>.events`` with the event type as routing key (persistent, ``mandatory=True``), with publisher confirms
**pipelined**: up to ``window`` messages are in flight, and broker acks (``multiple=True``) advance the confirmed
position. The last confirmed position is checkpointed in the store (``relay_checkpoints``); after a crash the relay
resumes from it: duplicates possible, gaps never (consumers dedupe by position/event id).

Exchange layout (declared by the relay, durable): ``ideas.events``, ``votes.events``, ``budgets.events``, … —
exactly what nameko's ``@event_handler("ideas", "IdeaSubmitted")`` binds to, and a plain pika/kombu consumer can
bind a queue to ``ideas.events`` with ``#`` or a type. Message: the CloudEvents AMQP/RabbitMQ binding in structured
mode — body = CloudEvent JSON, content type ``application/cloudevents+json``, no ``ce-`` headers — ``message_id`` =
event id, headers ``tenant``, ``sequence`` (the body's 20-digit string), ``type``, ``source`` (``/agora/<service>``,
as in the body).
A returned (unroutable) message means nobody subscribed yet: it is counted (``agora_relay_unroutable_total``) and
not retried — subscribers catch up from the store.

A lease in ``relay_leases`` keeps a single active relay per store (a second one waits as a standby). The lease
lasts 3 s and is renewed every second while publishing; a standby checks it every 0.5 s, so it takes over a dead
relay's lease within about 3.5 s (a relay that merely stalled and lost it stops publishing: duplicates possible for
that moment, never gaps).

Run: ``python -m agora.relay [--window 1000] [--batch 500] [--http-port 8000]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika

from agora import logs, metrics
from agora.config import settings, tune_gc
from agora.events.envelope import format_sequence
from agora.store import ALL_TENANTS, EventStore, open_store

log = logging.getLogger("agora.relay")
CHECKPOINTS = "relay_checkpoints"
CLOUDEVENTS_JSON = "application/cloudevents+json"   # structured mode of the CloudEvents AMQP binding
LEASES = "relay_leases"


class Relay:
    def __init__(self, store: EventStore, amqp_uri: str, *, name: str = "relay", window: int = 1000,
                 batch: int = 500, idle_s: float = 0.02, checkpoint_every_s: float = 0.05,
                 lease_s: float = 3.0):
        self.store = store
        self.amqp_uri = amqp_uri
        self.name = name
        self.window = window
        self.batch = batch
        self.idle_s = idle_s
        self.checkpoint_every_s = checkpoint_every_s
        self.lease_s = lease_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.checkpoints = store.db.get_collection(CHECKPOINTS)
        self.leases = store.db.get_collection(LEASES)
        self.checkpoints.update_one({"_id": name}, {"$setOnInsert": {"position": 0}}, upsert=True)
        self.leases.update_one({"_id": name}, {"$setOnInsert": {"owner": None, "expires": 0.0}}, upsert=True)
        self._stop = threading.Event()
        self.connected = False
        self.confirmed = self.checkpoint()

    # ------------------------------------------------------------ state in the store
    def checkpoint(self) -> int:
        return int(self.checkpoints.find_one({"_id": self.name})["position"])

    def _save_checkpoint(self, position: int) -> None:
        self.checkpoints.update_one({"_id": self.name}, {"$max": {"position": position}})

    def acquire_lease(self) -> bool:
        now = time.time()
        doc = self.leases.find_one_and_update(
            {"_id": self.name, "$or": [{"owner": self.owner}, {"expires": {"$lt": now}}]},
            {"$set": {"owner": self.owner, "expires": now + self.lease_s}})
        return doc is not None

    def release_lease(self) -> None:
        self.leases.update_one({"_id": self.name, "owner": self.owner}, {"$set": {"expires": 0.0}})

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------ main loop
    def run_forever(self) -> None:
        while not self._stop.is_set():
            if not self.acquire_lease():
                if not getattr(self, "_standing_by", False):
                    log.info("relay lease held by another instance; standing by")
                self._standing_by = True
                self._stop.wait(min(0.5, self.lease_s / 4))   # a dead owner's lease is taken over within ~lease_s
                continue
            self._standing_by = False
            try:
                self._run_connection()
            except Exception as exc:  # noqa: BLE001 - reconnect after a pause
                self.connected = False
                if self._stop.is_set():
                    break
                log.warning("relay connection failed: %s; reconnecting", exc)
                self._stop.wait(1.0)
        self.release_lease()

    def _run_connection(self) -> None:
        """One AMQP connection; returns on stop, raises on a broker error (the caller reconnects)."""
        params = pika.URLParameters(self.amqp_uri)
        params.heartbeat = 30
        state = _PublishState(self.checkpoint())
        failure: list[BaseException] = []
        conn_holder: dict = {}

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
            conn_holder["ch"] = ch
            ch.add_on_close_callback(lambda c, reason: conn_holder["conn"].close()
                                     if conn_holder["conn"].is_open else None)
            ch.add_on_return_callback(on_return)
            ch.confirm_delivery(on_confirm, callback=lambda _frame: start())

        def start():
            self.connected = True
            log.info("relay publishing from position %d", state.published)
            pump()

        def on_return(ch, method, props, body):
            metrics.RELAY_UNROUTABLE.inc()

        def on_confirm(frame):
            method = frame.method
            tag = method.delivery_tag
            if isinstance(method, pika.spec.Basic.Nack):
                failure.append(RuntimeError(f"broker nacked delivery {tag}"))
                conn_holder["conn"].close()
                return
            state.ack(tag, method.multiple)
            metrics.RELAY_PUBLISHED.inc(state.just_acked)
            maybe_checkpoint()

        def maybe_checkpoint(force=False):
            now = time.monotonic()
            if state.confirmed > state.saved and (force or now - state.saved_at >= self.checkpoint_every_s):
                self._save_checkpoint(state.confirmed)
                state.saved, state.saved_at = state.confirmed, now
                self.confirmed = state.confirmed
            metrics.RELAY_POSITION.set(state.confirmed)

        def pump():
            conn = conn_holder["conn"]
            if self._stop.is_set():
                maybe_checkpoint(force=True)
                conn.close()
                return
            room = self.window - state.inflight
            sent = 0
            if room > 0:
                events = self.store.read_all(ALL_TENANTS, after=state.published, limit=min(room, self.batch),
                                             upcast=False)
                ch = conn_holder["ch"]
                for event in events:
                    exchange = f"{event.source}.events"
                    if exchange not in state.declared:
                        ch.exchange_declare(exchange, exchange_type="topic", durable=True)
                        state.declared.add(exchange)
                    ch.basic_publish(exchange, event.type, event.to_json(), pika.BasicProperties(
                        content_type=CLOUDEVENTS_JSON, content_encoding="utf-8", delivery_mode=2,
                        message_id=event.id, type=event.type, timestamp=int(time.time()),
                        headers={"tenant": event.tenant, "sequence": format_sequence(event.position),
                                 "type": event.type, "source": f"/agora/{event.source}"}), mandatory=True)
                    state.sent(event.position)
                    sent += 1
            more = sent == min(room, self.batch) and sent > 0      # a full read: more may be waiting
            now = time.monotonic()
            if now - state.lag_at >= 1.0:                             # the exact head only for the lag metric
                state.lag_at = now
                metrics.RELAY_LAG.set(max(0, self.store.head() - state.confirmed))
            maybe_checkpoint()
            if time.monotonic() - state.lease_at > self.lease_s / 3:
                if not self.acquire_lease():
                    failure.append(RuntimeError("relay lease lost"))
                    conn.close()
                    return
                state.lease_at = time.monotonic()
            conn.ioloop.call_later(0 if more else self.idle_s, pump)

        conn = pika.SelectConnection(params, on_open_callback=on_open, on_open_error_callback=on_open_error,
                                     on_close_callback=on_closed)
        conn_holder["conn"] = conn
        conn.ioloop.start()
        self.connected = False
        if state.confirmed > state.saved:
            self._save_checkpoint(state.confirmed)
        if failure and not self._stop.is_set():
            raise failure[0]


class _PublishState:
    def __init__(self, position: int):
        self.published = position     # last position handed to the broker
        self.confirmed = position     # every position ≤ this is confirmed
        self.saved = position
        self.saved_at = time.monotonic()
        self.lease_at = time.monotonic()
        self.lag_at = 0.0
        self.next_tag = 1
        self.tags: dict[int, int] = {}   # delivery tag → position, in order
        self.declared: set[str] = set()
        self.just_acked = 0

    @property
    def inflight(self) -> int:
        return len(self.tags)

    def sent(self, position: int) -> None:
        self.tags[self.next_tag] = position
        self.next_tag += 1
        self.published = position

    def ack(self, tag: int, multiple: bool) -> None:
        acked = [t for t in self.tags if t <= tag] if multiple else [tag]
        for t in acked:
            self.tags.pop(t, None)
        self.just_acked = len(acked)
        # confirmed = just below the oldest outstanding delivery, or everything published
        self.confirmed = (self.tags[min(self.tags)] - 1) if self.tags else self.published


class _OpsHandler(BaseHTTPRequestHandler):
    relay: Relay = None

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path == "/health":
            self._send(200, b'{"status":"ok","service":"relay"}', "application/json")
        elif self.path == "/ready":
            ok = self.relay.connected
            self._send(200 if ok else 503, json.dumps({"status": "ready" if ok else "unavailable"}).encode(),
                       "application/json")
        elif self.path == "/metrics":
            body, ctype = metrics.exposition()
            self._send(200, body, ctype)
        elif not _partner_routes(self, "GET"):   # the contract, partner grants and replay (agora.partners.http)
            self._send(404, b'{"error":"not_found"}', "application/json")

    def do_POST(self):  # noqa: N802 - http.server API
        if not _partner_routes(self, "POST"):
            self._send(404, b'{"error":"not_found"}', "application/json")

    def do_DELETE(self):  # noqa: N802 - http.server API
        if not _partner_routes(self, "DELETE"):
            self._send(404, b'{"error":"not_found"}', "application/json")

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _partner_routes(handler, method: str) -> bool:
    from agora.partners import http as partner_http
    return partner_http.handle(handler, method)


def main(argv=None) -> int:
    tune_gc()
    cfg = settings()
    parser = argparse.ArgumentParser(prog="python -m agora.relay",
                                     description="Publish stored events to RabbitMQ (transactional outbox relay).")
    parser.add_argument("--window", type=int, default=1000, help="max unconfirmed messages in flight")
    parser.add_argument("--batch", type=int, default=500, help="events read from the store per query")
    parser.add_argument("--http-port", type=int, default=cfg.http_port,
                        help="port for /health, /ready, /metrics (0 disables; default AGORA_HTTP_PORT)")
    parser.add_argument("--name", default="relay", help="checkpoint/lease name (one relay per name)")
    args = parser.parse_args(argv)
    logs.setup("relay", cfg.log_level)
    metrics.serve_as("relay")   # this process exposes the relay's metrics only
    store = open_store(cfg)
    relay = Relay(store, cfg.amqp_uri, name=args.name, window=args.window, batch=args.batch)
    from agora.partners import dispatcher_in_relay     # partner streams: dispatcher thread + HTTP routes
    partners = dispatcher_in_relay(store, cfg.amqp_uri)
    if args.http_port:
        _OpsHandler.relay = relay
        server = ThreadingHTTPServer(("0.0.0.0", args.http_port), _OpsHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (relay.stop(), partners and partners.stop()))
    relay.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
