"""The relay over the real RabbitMQ and SecantusDB: layout, confirms, crash (kill -9) and resume."""
import json
import time

import pika

from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.testing.services import start_relay


def ev(i):
    return NewEvent("TestHappened", {"n": i, "text": "x", "words": 1})


def bind_queue(amqp_uri, name, routing_key="#"):
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    ch = conn.channel()
    ch.exchange_declare("testsvc.events", exchange_type="topic", durable=True)
    ch.queue_declare(name, durable=True)
    ch.queue_bind(name, "testsvc.events", routing_key)
    return conn, ch


def drain(ch, queue, expected, timeout=60):
    got = []
    deadline = time.time() + timeout
    while len(set(m["id"] for m in got)) < expected and time.time() < deadline:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        got.append(json.loads(body))
    return got


def test_plain_pika_consumer_gets_cloudevents(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    conn, ch = bind_queue(amqp_uri, "plain", "TestHappened")
    for i in range(1, 11):
        store.append("city", f"s{i}", [ev(i)], 0)
    relay = start_relay(secantus, mongo_db.name, amqp_uri)
    try:
        relay.wait_ready(30)
        got = drain(ch, "plain", 10)
    finally:
        relay.terminate()
    assert [m["data"]["n"] for m in got] == list(range(1, 11))
    first = got[0]
    assert first["specversion"] == "1.0" and first["type"] == "TestHappened" and first["tenant"] == "city"
    assert first["sequence"] == "00000000000000000001"
    assert mongo_db.relay_checkpoints.find_one({"_id": "relay"})["position"] == 10
    conn.close()


def test_kill9_mid_publish_then_restart_delivers_everything(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    conn, ch = bind_queue(amqp_uri, "all")
    total = 3000
    for start in range(0, total, 100):
        for i in range(start, start + 100):
            store.append("city", f"s{i}", [ev(i)], 0)
    relay = start_relay(secantus, mongo_db.name, amqp_uri)
    # kill -9 as soon as it has confirmed part of the log, i.e. mid-publish
    deadline = time.time() + 60
    while time.time() < deadline:
        doc = mongo_db.relay_checkpoints.find_one({"_id": "relay"})
        if doc and 0 < doc["position"] < total:
            break
        time.sleep(0.005)
    relay.kill()
    killed_at = mongo_db.relay_checkpoints.find_one({"_id": "relay"})["position"]
    assert 0 < killed_at < total, "the relay was killed mid-publish"
    # the lease of the dead relay expires; the new one takes over and resumes from the checkpoint
    mongo_db.relay_leases.update_one({"_id": "relay"}, {"$set": {"expires": 0.0}})
    relay = start_relay(secantus, mongo_db.name, amqp_uri)
    try:
        relay.wait_ready(30)
        got = drain(ch, "all", total, timeout=120)
    finally:
        relay.terminate()
    ids = {m["id"] for m in got}
    stored = {e.id for e in store.read_all("city", limit=total)}
    assert ids == stored, f"missing {len(stored - ids)} events"        # gaps never
    assert len(got) >= total                                            # duplicates possible
    conn.close()


def test_standby_relay_waits_for_the_lease(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    first = start_relay(secantus, mongo_db.name, amqp_uri)
    try:
        first.wait_ready(30)
        second = start_relay(secantus, mongo_db.name, amqp_uri)
        try:
            time.sleep(2)
            import urllib.request
            import urllib.error
            try:
                urllib.request.urlopen(second.url + "/ready", timeout=2)
                ready = True
            except urllib.error.HTTPError as exc:
                ready = exc.code == 200
            assert not ready, "a second relay must stand by while the first holds the lease"
            store.append("city", "s", [ev(1)], 0)
            time.sleep(0.5)
            assert mongo_db.relay_checkpoints.find_one({"_id": "relay"})["position"] == 1
        finally:
            second.terminate()
    finally:
        first.terminate()
