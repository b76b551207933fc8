"""Recovery in seconds over real processes: readiness means "can serve" (a broker outage does not fail /ready and
subscriptions fall back to polling the store), and a standby relay takes over a dead relay's lease quickly."""
import sys
import time
from pathlib import Path

import requests

from agora.testing import eventually as wait_for
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.testing.plugin import free_port
from agora.testing.services import run_service, start_relay

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))




def test_without_a_broker_the_service_is_ready_and_its_projections_follow_by_polling(secantus, mongo_db):
    dead_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}/"           # nothing listens there
    with run_service("testsvc_service", secantus, mongo_db.name, dead_broker, cwd=str(HERE)) as svc:
        ready = requests.get(svc.url + "/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert any("broker" in p for p in ready.json()["degraded"])       # said, without leaving the Service
        for i in range(1, 6):
            assert requests.post(svc.url + "/api/v1/tenants/city/things", json={"id": i, "n": i}).status_code == 201
        totals = wait_for(lambda: (d := mongo_db.testsvc_totals.find_one({"_id": "city"})) and d["count"] == 5
                          and d)
        assert totals["sum"] == 15


def test_a_standby_relay_takes_over_a_killed_relays_lease_within_seconds(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    first = start_relay(secantus, mongo_db.name, amqp_uri)
    second = None
    try:
        first.wait_ready(30)
        second = start_relay(secantus, mongo_db.name, amqp_uri)
        time.sleep(1.0)
        first.kill()                                                        # kill -9, lease left behind
        killed = time.monotonic()
        second.wait_ready(60)
        took = time.monotonic() - killed
        store.append("city", "s", [NewEvent("TestHappened", {"n": 1, "text": "x", "words": 1})], 0)
        wait_for(lambda: mongo_db.relay_checkpoints.find_one({"_id": "relay"})["position"] == 1)
    finally:
        first.kill()
        if second is not None:
            second.terminate()
    print(f"relay takeover after {took:.2f}s")
    assert took < 10          # the lease is 3 s (was 10 s, and waited out in full)
