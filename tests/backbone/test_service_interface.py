"""The backbone over the real RabbitMQ and SecantusDB: a nameko service, the relay, subscriptions, the DLQ."""
import json
import sys
import time
from pathlib import Path

import pika
import pytest
import requests

from agora.testing import eventually as wait_for
from agora.store import EventStore
from agora.subscriptions import Subscription
from agora.testing.services import run_relay, run_service

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from testsvc_service import project  # noqa: E402




@pytest.fixture
def stack(secantus, mongo_db, amqp_uri):
    with run_relay(secantus, mongo_db.name, amqp_uri), \
            run_service("testsvc_service", secantus, mongo_db.name, amqp_uri, cwd=str(HERE)) as svc:
        yield svc


def test_health_ready_metrics(stack):
    assert requests.get(stack.url + "/health").json()["status"] == "ok"
    assert requests.get(stack.url + "/ready").json()["status"] == "ready"
    requests.post(stack.url + "/api/v1/tenants/city/things", json={"id": 1, "n": 1})
    text = requests.get(stack.url + "/metrics").text
    for name in ("agora_events_appended_total", "agora_http_requests_total", "agora_handler_seconds",
                 "agora_subscription_lag_events"):
        assert name in text


def test_bad_json_is_400_and_stores_nothing(stack, mongo_db):
    resp = requests.post(stack.url + "/api/v1/tenants/city/things", data=b"{not json",
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"] == "bad_request"
    resp = requests.post(stack.url + "/api/v1/tenants/city/things", json={"id": 1, "n": "NaN"})
    assert resp.status_code == 422 and "n" in resp.json()["details"]["fields"]
    assert EventStore(mongo_db).head() == 0


def test_live_projection_poison_parked_and_rebuild_equal(stack, mongo_db, amqp_uri):
    for i in range(1, 41):
        body = {"id": i, "n": i}
        if i == 10:
            body["poison"] = True
        assert requests.post(stack.url + "/api/v1/tenants/city/things", json=body).status_code == 201
    # the poison event is parked after its retries, and every later event still flows
    totals = wait_for(lambda: (d := mongo_db.testsvc_totals.find_one({"_id": "city"})) and d["count"] == 39 and d)
    assert totals["sum"] == sum(range(1, 41)) - 10
    parked = list(mongo_db.dead_letters.find())
    assert len(parked) == 1 and parked[0]["type"] == "TestPoison" and parked[0]["attempts"] == 3
    # ... and it sits in the RabbitMQ dead-letter queue
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    method, props, body = wait_for(lambda: (m := conn.channel().basic_get("agora.dlq.testsvc", auto_ack=True))[0]
                                   and m)
    assert json.loads(body)["type"] == "TestPoison"
    # duplicate deliveries are absorbed: ring the doorbell again with copies of already applied events
    ch = conn.channel()
    store = EventStore(mongo_db)
    for event in store.read_all("city", limit=5):
        for _ in range(3):
            ch.basic_publish("testsvc.events", event.type, event.to_json(),
                             pika.BasicProperties(headers={"sequence": event.position}))
    time.sleep(1.0)
    assert mongo_db.testsvc_totals.find_one({"_id": "city"}) == totals
    conn.close()
    # rebuild: drop the projection, replay from position 0 → identical state
    live = list(mongo_db.testsvc_totals.find())
    mongo_db.testsvc_totals.drop()
    sub = Subscription(store, mongo_db, "testsvc", "rebuild", ["TestHappened", "TestPoison"],
                       lambda e, s: project(mongo_db, e, s), max_attempts=1, backoff_s=0)
    sub.poll()
    assert list(mongo_db.testsvc_totals.find()) == live


def test_new_subscriber_catches_up_from_zero_then_goes_live(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    from agora.events.envelope import NewEvent
    for i in range(1, 21):  # history written before the service (and its queue) exists
        store.append("city", f"old-{i}", [NewEvent("TestHappened", {"n": i, "text": "x", "words": 1})], 0)
    with run_relay(secantus, mongo_db.name, amqp_uri), \
            run_service("testsvc_service", secantus, mongo_db.name, amqp_uri, cwd=str(HERE)) as svc:
        wait_for(lambda: (d := mongo_db.testsvc_totals.find_one({"_id": "city"})) and d["count"] == 20)
        for i in range(21, 31):
            requests.post(svc.url + "/api/v1/tenants/city/things", json={"id": i, "n": i})
        total = wait_for(lambda: (d := mongo_db.testsvc_totals.find_one({"_id": "city"})) and d["count"] == 30
                         and d)
        assert total["sum"] == sum(range(1, 31))


def test_sigterm_stops_service_within_seconds(secantus, mongo_db, amqp_uri):
    with run_service("testsvc_service", secantus, mongo_db.name, amqp_uri, cwd=str(HERE)) as svc:
        time.sleep(1.5)
        took = svc.terminate()
    assert svc.proc.returncode is not None
    assert took < 10, f"nameko took {took:.1f}s to stop after SIGTERM"
