"""Partner streams benchmark, against the relay's raw publish rate measured in the same run.

* The store is preloaded with N events over 5 tenants (reactions and ballots with sealed demographics, ideas,
  status changes, …).
* ``relay_per_s``: the relay (in this process) publishes the N events from position 0 to confirmed, to the
  platform's exchanges (a queue bound with ``#``), with its usual pipelined confirms.
* ``partners_per_s``: the partner dispatcher, with 10 grants (each one tenant; five with every type, five with
  three types, demographics bucketed for half, pseudonyms for all), reads the same N events from position 0,
  filters and transforms them per grant and publishes each to its partner's queue, to confirmed (checkpoint = N).
  ``partners_vs_relay`` = partners_per_s / relay_per_s (goal ≥ 0.8); every queue is checked to hold exactly its
  grant's events.
* ``replay_per_s``: events per second of a replay over HTTP (``python -m agora.partners`` serving
  ``GET /api/v1/partners/<p>/events``, NDJSON) for a partner granted every tenant and type, read from the embedded
  store (goal ≥ 5,000/s); ``replay_one_tenant_per_s`` for a one-tenant grant (it scans the whole log).

The grants are real (registry, queues, bindings) but their RabbitMQ users are not created (that is rabbitmqctl time,
not throughput). Prints one JSON object on its last line and writes ``bench/results/streams.json``.
Usage: ``python bench/streams.py [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pika
import pymongo
import requests

from agora.events.envelope import NewEvent
from agora.partners import broker
from agora.partners.dispatcher import Dispatcher
from agora.partners.grants import GrantRegistry
from agora.relay import Relay
from agora.store import ANY, EventStore
from agora.testing.plugin import SecantusServer, Vhost, free_port

RESULTS = Path(__file__).resolve().parent / "results"
TENANTS = [f"city{i}" for i in range(5)]
TYPED = ["ReactionCast", "IdeaSubmitted", "IdeaStatusChanged"]


class _NoUsers(broker.BrokerAdmin):
    """Queues and bindings as granted; no RabbitMQ users (not part of the throughput)."""

    def set_user(self, *args, **kwargs):
        pass

    def delete_user(self, *args, **kwargs):
        pass


def _events(i: int, rng: random.Random) -> tuple[str, str, list[NewEvent]]:
    """One stream of 50 events (one append transaction)."""
    tenant = TENANTS[i % len(TENANTS)]
    kind = i % 4
    out = []
    if kind in (0, 1):
        voter = f"citizen-{i}"
        for k in range(50):
            out.append(NewEvent("ReactionCast" if k == 0 else "ReactionChanged", {
                "target_type": "idea", "target_id": f"idea-{k}", "idea_id": f"idea-{k}", "project_id": "p1",
                "phase_id": "vote", "voter": voter, "value": 1 if k == 0 else rng.choice([1, -1]),
                "previous": 0 if k == 0 else -1,
                "personal": {"birth_year": rng.randint(1940, 2008), "gender": "female", "district": "Centrum"}}))
        return tenant, f"reactions-p1-{voter}", out
    if kind == 2:
        for k in range(50):
            out.append(NewEvent("IdeaSubmitted" if k == 0 else "IdeaEdited", {
                "idea_id": f"idea-{i}", "project_id": "p1", "phase_id": "ideation", "title": f"Idea {i}.{k}",
                "body": "More trees along the canal, and benches in the shade.", "language": "en",
                "author": f"author-{i}", "tags": ["green"], "location": None, "status": "proposed",
                "personal": {"birth_year": 1970, "gender": "male", "district": "Noord", "domicile": None,
                             "consent": True}} if k == 0 else {
                "idea_id": f"idea-{i}", "project_id": "p1", "title": f"Idea {i}.{k}", "body": "Edited text.",
                "language": "en", "tags": [], "location": None, "edited_by": f"author-{i}"}))
        return tenant, f"idea-{i}", out
    for _ in range(50):
        out.append(NewEvent("IdeaStatusChanged", {
            "idea_id": f"idea-{i}", "project_id": "p1", "title": "Idea", "from": "proposed", "to": "accepted",
            "decision": True, "feedback": "", "feedback_language": None, "decided_by": f"clerk-{i % 7}"}))
    return tenant, f"status-{i}", out


def preload(store: EventStore, n: int) -> None:
    rng = random.Random(7)
    for i in range(n // 50):
        tenant, stream, events = _events(i, rng)
        store.append(tenant, stream, events, ANY)


def _wait(pred, timeout: float, what: str):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise RuntimeError(f"{what} not reached within {timeout}s")
        time.sleep(0.005)


def bench_relay(store: EventStore, amqp_uri: str, n: int) -> float:
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    ch = conn.channel()
    for source in ("votes", "ideas"):
        ch.exchange_declare(f"{source}.events", exchange_type="topic", durable=True)
        ch.queue_declare(f"bench.{source}", durable=True)
        ch.queue_bind(f"bench.{source}", f"{source}.events", "#")
    conn.close()
    relay = Relay(store, amqp_uri, name="bench-relay")
    thread = threading.Thread(target=relay.run_forever, daemon=True)
    started = time.perf_counter()
    thread.start()
    _wait(lambda: relay.confirmed >= n, 600, "relay confirmed everything")
    seconds = time.perf_counter() - started
    relay.stop()
    thread.join(30)
    return n / seconds


def make_grants(store: EventStore, amqp_uri: str) -> list:
    registry = GrantRegistry(store.db, amqp_uri, admin=_NoUsers(amqp_uri), store=store)
    grants = []
    for k in range(10):
        types = ["*"] if k < 5 else TYPED
        g, _ = registry.grant(f"bench-{k}", [TENANTS[k % 5]], types, demographics=k % 2 == 0)
        grants.append(g)
    # measured from position 0: the grants cover the whole preloaded log
    store.db.get_collection("partner_grants").update_many({}, {"$set": {"start": 0, "caught_up": True}})
    return grants


def bench_partners(store: EventStore, amqp_uri: str, n: int) -> tuple[float, int]:
    grants = make_grants(store, amqp_uri)
    expected = {g.name: 0 for g in grants}
    for event in store.iter_all("*", batch=1000):
        for g in grants:
            if g.covers(event.tenant, event.type):
                expected[g.name] += 1
    dispatcher = Dispatcher(store, amqp_uri, name="bench-partners")
    started = time.perf_counter()
    thread = dispatcher.start_thread()
    _wait(lambda: dispatcher.checkpoint() >= n, 600, "dispatcher confirmed everything")
    seconds = time.perf_counter() - started
    dispatcher.stop()
    thread.join(30)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    ch = conn.channel()
    got = {g.name: ch.queue_declare(g.queue, passive=True).method.message_count for g in grants}
    conn.close()
    if got != expected:
        raise RuntimeError(f"partner queues hold {got}, expected {expected}")
    return n / seconds, sum(expected.values())


def bench_replay(store: EventStore, mongo_uri: str, db_name: str, amqp_uri: str, n: int) -> dict:
    registry = GrantRegistry(store.db, amqp_uri, admin=_NoUsers(amqp_uri), store=store)
    every, _ = registry.grant("bench-replay", TENANTS, ["*"], demographics=True)
    # the process's own dispatcher is at the head (as in production): it publishes nothing during the replay
    store.db.get_collection("partner_checkpoints").update_one({"_id": "partners"}, {"$set": {"position": n}},
                                                              upsert=True)
    port = free_port()
    env = dict(os.environ, AGORA_MONGO_URI=mongo_uri, AGORA_MONGO_DB=db_name, AGORA_AMQP_URI=amqp_uri,
               AGORA_HTTP_PORT=str(port), AGORA_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "agora.partners", "--http-port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _up(url), 60, "partners process up")
        out = {}
        for label, grant in (("replay", every), ("replay_one_tenant", registry.get("bench-0"))):
            started = time.perf_counter()
            r = requests.get(f"{url}/api/v1/partners/{grant.name}/events", params={"after": "0", "limit": n},
                             auth=(grant.name, grant.password), stream=True, timeout=600)
            count = sum(1 for line in r.iter_lines(chunk_size=1 << 16) if line) - 1   # the last line: the cursor
            seconds = time.perf_counter() - started
            out[f"{label}_events"] = count
            out[f"{label}_per_s"] = round(count / seconds, 1)
        out["replay_one_tenant_scanned_per_s"] = round(n * out["replay_one_tenant_per_s"]
                                                       / max(1, out["replay_one_tenant_events"]), 1)
        if out["replay_events"] != n:
            raise RuntimeError(f"replay returned {out['replay_events']} of {n} events")
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 events (under a minute)")
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.events or (5_000 if args.quick else 20_000)
    n -= n % 50
    server = SecantusServer()
    vhost = Vhost()
    client = pymongo.MongoClient(server.uri, tz_aware=True)
    try:
        db = client.get_database("bench_streams")
        store = EventStore(db).ensure_indexes()
        t0 = time.perf_counter()
        preload(store, n)
        preload_s = time.perf_counter() - t0
        relay_per_s = bench_relay(store, vhost.uri, n)
        partners_per_s, messages = bench_partners(store, vhost.uri, n)
        replay = bench_replay(store, server.uri, db.name, vhost.uri, n)
        result = {
            "bench": "streams", "quick": args.quick, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "events": n, "preload_s": round(preload_s, 1), "partners": 10, "partner_messages": messages,
            "relay_per_s": round(relay_per_s, 1), "partners_per_s": round(partners_per_s, 1),
            "partner_messages_per_s": round(partners_per_s * messages / n, 1),
            "partners_vs_relay": round(partners_per_s / relay_per_s, 3),
            **replay,
            "goals": {"partners_vs_relay": ">= 0.8", "replay_per_s": ">= 5000"},
        }
    finally:
        client.close()
        vhost.delete()
        server.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "streams.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
