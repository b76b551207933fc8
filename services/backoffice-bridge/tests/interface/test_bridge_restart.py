"""Crash safety: the retry schedule lives in Mongo (a SIGKILLed bridge resumes it after a restart), a succeeded
delivery is recorded durably and never sent again after a restart, an in-flight delivery whose process died is
retried once its lease expires."""
import time
import uuid

import pymongo
import pytest
import requests

from agora.store import EventStore
from agora.testing.plugin import Vhost, free_port
from agora.testing.services import run_relay
from backoffice_bridge import decisions as dmap

from bridge_support import (ADMIN, WEBHOOK_SECRET, Receiver, Stack, configure, delivery_of, start_bridge,
                            status_changed, wait_for)


@pytest.fixture
def env(secantus, tmp_path):
    vhost = Vhost()
    client = pymongo.MongoClient(secantus, tz_aware=True)
    name = "t_" + uuid.uuid4().hex[:16]
    db = client.get_database(name)
    receiver = Receiver()
    try:
        with run_relay(secantus, name, vhost.uri):
            yield {"secantus": secantus, "name": name, "vhost": vhost.uri, "db": db, "receiver": receiver,
                   "store": EventStore(db).ensure_indexes(), "drop": tmp_path, "port": free_port()}
    finally:
        receiver.close()
        client.drop_database(name)
        client.close()
        vhost.delete()


def bridge(env, **extra):
    return start_bridge(env["secantus"], env["name"], env["vhost"], env["drop"], port=env["port"], **extra)


def stack_of(env, proc):
    return Stack(proc.url, None, env["store"], env["db"], env["secantus"], env["vhost"], env["drop"],
                 env["receiver"])


def test_retry_schedule_and_success_survive_sigkill(env):
    t, path = "crash", "/hooks/crash"
    receiver, db = env["receiver"], env["db"]
    receiver.fail_first(path, 1, 503)
    proc = bridge(env)
    try:
        s = stack_of(env, proc)
        configure(s, t, "erp", type="webhook", format="csv", url=receiver.url + path, secret=WEBHOOK_SECRET,
                  max_attempts=5, backoff_base_s=3, backoff_cap_s=3)
        did = dmap.decision_id_for(t, status_changed(env["store"], t, "idea-1", "accepted", feedback="ok"))
        key = f"{t}/{dmap.delivery_id_for(did, 'erp')}"
        # first attempt failed; the retry is scheduled in Mongo (1.5–3 s ahead) — kill the bridge hard now
        first = wait_for(lambda: (d := db.bridge_deliveries.find_one({"_id": key})) and d["attempts"] == 1 and d)
        assert first["status"] == "pending" and first["next_retry"] > first["log"][0]["at"]
        proc.kill()
        proc.log.close()
        proc = bridge(env)
        s = stack_of(env, proc)
        done = delivery_of(s, t, dmap.delivery_id_for(did, "erp"), "succeeded")
        assert done["attempts"] == 2 and done["log"][1]["at"] >= first["next_retry"]
        assert len(receiver.requests_to(path)) == 2
        # success is durable: after another SIGKILL + restart the delivery is not sent again. A new decision
        # delivered after the restart proves the restarted timer has run over the old one meanwhile.
        proc.kill()
        proc.log.close()
        proc = bridge(env)
        s = stack_of(env, proc)
        did2 = dmap.decision_id_for(t, status_changed(env["store"], t, "idea-2", "rejected", feedback="nee"))
        delivery_of(s, t, dmap.delivery_id_for(did2, "erp"), "succeeded")
        got = receiver.requests_to(path)
        assert len(got) == 3
        assert [r["headers"]["Idempotency-Key"].split(":")[0] for r in got] == [did, did, did2]
        assert len({r["headers"]["webhook-id"] for r in got}) == 2
        assert len(receiver.accepted_to(path)) == 2
    finally:
        proc.terminate()


def test_in_flight_delivery_of_a_dead_process_is_retried_after_its_lease(env):
    """A bridge that died between claiming and recording leaves an in_flight delivery: it is retried once the lease
    expires (the receiver would dedupe a second copy by Idempotency-Key)."""
    t, path = "lease", "/hooks/lease"
    receiver, db = env["receiver"], env["db"]
    proc = bridge(env, AGORA_BRIDGE_LEASE_S="2")
    try:
        s = stack_of(env, proc)
        configure(s, t, "erp", type="webhook", format="popolo", url=receiver.url + path, secret=WEBHOOK_SECRET,
                  enabled=False)
        configure(s, t, "other", type="pull", format="csv")
        did = dmap.decision_id_for(t, status_changed(env["store"], t, "idea-1", "accepted", feedback="ok"))
        wait_for(lambda: db.bridge_decisions.find_one({"_id": f"{t}/{did}"}))
        assert db.bridge_deliveries.count_documents({"tenant": t}) == 0      # disabled adapter: no delivery
        configure(s, t, "erp", type="webhook", format="popolo", url=receiver.url + path, max_attempts=3,
                  backoff_base_s=0.1)
        proc.kill()
        proc.log.close()
        # what a crash mid-flight leaves behind: claimed by a (now dead) process, lease still running
        key = f"{t}/{dmap.delivery_id_for(did, 'erp')}"
        now = time.time()
        db.bridge_deliveries.insert_one({
            "_id": key, "tenant": t, "delivery_id": dmap.delivery_id_for(did, "erp"), "decision_id": did,
            "adapter_id": "erp", "adapter_type": "webhook", "format": "popolo", "status": "in_flight",
            "attempts": 0, "generation": 0, "next_retry": now, "created_at": now, "log": [],
            "lease": "dead-process", "lease_until": now + 2})
        proc = bridge(env)
        s = stack_of(env, proc)
        done = delivery_of(s, t, dmap.delivery_id_for(did, "erp"), "succeeded")
        assert done["attempts"] == 1 and done["log"][0]["at"] >= now + 2
        assert len(receiver.requests_to(path)) == 1
        assert requests.get(f"{s.api(t)}/deliveries/adapters/erp", headers=ADMIN(t)).json()["enabled"] is True
    finally:
        proc.terminate()
