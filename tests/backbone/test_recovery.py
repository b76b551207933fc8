"""Recovery of subscriptions: a lease per subscription, orphaned transactions aborted by the next owner, standby
replicas, and one poison policy (events lacking a required field are parked, never applied)."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.subscriptions import LEASES, Subscription, contract_violation

HERE = Path(__file__).parent


def ev(n, text="hello world"):
    return NewEvent("TestHappened", {"n": n, "text": text, "words": len(text.split())})


@pytest.fixture
def store(mongo_db):
    return EventStore(mongo_db).ensure_indexes()


def counting(mongo_db, name="svc_orphan"):
    return lambda e, s: mongo_db[name].update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=s)


def test_a_process_killed_inside_a_subscription_transaction_does_not_freeze_the_subscription(store, mongo_db,
                                                                                              secantus):
    """The orphaned transaction (projection write + checkpoint claim) is aborted by the next owner as soon as the
    dead owner's lease expires, instead of holding the checkpoint until the server reaps it (60 s)."""
    for i in range(5):
        store.append("city", f"s{i}", [ev(i)], 0)
    child = subprocess.Popen([sys.executable, str(HERE / "orphan_child.py"), secantus, mongo_db.name],
                             cwd=str(HERE), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "in-transaction"
        child.kill()                                          # kill -9 inside the transaction
        child.wait()
        killed = time.monotonic()
        sub = Subscription(store, mongo_db, "svc", "orphaned", ["TestHappened"], counting(mongo_db), batch=1)
        done = 0
        while done < 5 and time.monotonic() - killed < 60:
            done += sub.poll()
            time.sleep(0.05)
        recovered_s = time.monotonic() - killed
    finally:
        if child.poll() is None:
            child.kill()
    print(f"recovered after {recovered_s:.2f}s")
    assert done == 5 and sub.position() == 5
    # the orphan's write was rolled back: every event counted exactly once
    assert mongo_db.svc_orphan.find_one({"_id": "n"})["n"] == 5
    # far sooner than the server's 60 s transaction reaping (the lease is 3 s)
    assert recovered_s < 30


def test_a_standby_instance_waits_for_the_lease_and_takes_over_after_release(store, mongo_db):
    from agora import subscriptions

    for i in range(4):
        store.append("city", f"s{i}", [ev(i)], 0)
    owner = Subscription(store, mongo_db, "svc", "leased", ["TestHappened"], counting(mongo_db, "svc_leased"))
    assert owner.poll() == 4
    # another process: a different owner token
    original = subscriptions.process_owner
    subscriptions.process_owner = lambda: "other-host:1:abc"
    try:
        standby = Subscription(store, mongo_db, "svc", "leased", ["TestHappened"], counting(mongo_db, "svc_leased"))
        store.append("city", "s9", [ev(9)], 0)
        assert standby.poll() == 0                          # the lease is held: stand by
        assert mongo_db[LEASES].find_one({"_id": "svc:leased"})["owner"] != "other-host:1:abc"
    finally:
        subscriptions.process_owner = original
    owner.release()
    subscriptions.process_owner = lambda: "other-host:1:abc"
    try:
        assert standby.poll() == 1                          # released: taken over at once
        assert mongo_db[LEASES].find_one({"_id": "svc:leased"})["owner"] == "other-host:1:abc"
    finally:
        subscriptions.process_owner = original
    assert mongo_db.svc_leased.find_one({"_id": "n"})["n"] == 5


def _strip_field(mongo_db, position, field):
    """An event written around the store's validation (an old bug, a hand-made repair): its data lacks a field."""
    mongo_db.events.update_one({"p": position}, {"$unset": {f"data.{field}": ""}})


@pytest.mark.parametrize("batched", [False, True])
def test_an_event_lacking_a_required_field_is_parked_not_applied(store, mongo_db, batched):
    for i in range(6):
        store.append("city", f"s{i}", [ev(i)], 0)
    _strip_field(mongo_db, 3, "n")
    seen = []

    def handler(events, session):
        for e in events if batched else [events]:
            seen.append(e.data.get("n", "MISSING"))
            mongo_db.svc_strict.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=session)

    sub = Subscription(store, mongo_db, "svc", f"strict{int(batched)}", ["TestHappened"], handler,
                       batched=batched, backoff_s=0.001)
    assert sub.poll() == 6
    assert "MISSING" not in seen and sorted(seen) == [0, 1, 3, 4, 5]
    assert mongo_db.svc_strict.find_one({"_id": "n"})["n"] == 5
    parked = sub.parked()
    assert [d["position"] for d in parked] == [3] and "lacks required field(s) n" in parked[0]["error"]
    assert parked[0]["attempts"] == 0 and sub.position() == 6


def test_contract_violation_ignores_shredded_personal_data_and_unknown_types(store, mongo_db):
    store.append("city", "p", [NewEvent("TestProfiled", {"author": "ann", "personal": {"age": 3}})], 0)
    store.forget_person("city", "ann")
    shredded = store.read_all("city")[0]
    assert shredded.data["personal"] is None and contract_violation(shredded) is None
    from dataclasses import replace
    assert contract_violation(replace(shredded, type="NoSuchType", data={})) is None
    assert "author" in contract_violation(replace(shredded, data={"personal": None}))


def test_competing_replicas_with_leases_still_count_exactly(store, mongo_db):
    """Replicas in one process share the process's lease; across processes only the owner works."""
    for i in range(300):
        store.append("city", f"s{i}", [ev(i)], 0)
    mongo_db.svc_c.insert_one({"_id": "n", "n": 0})

    def consumer():
        sub = Subscription(EventStore(mongo_db), mongo_db, "svc", "c", ["TestHappened"], counting(mongo_db, "svc_c"),
                           batch=20)
        while sub.poll():
            pass
    threads = [threading.Thread(target=consumer) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert mongo_db.svc_c.find_one({"_id": "n"})["n"] == 300
