"""Rebuilds that are safe under load: blue/green per read model, done by the subscription's owner between its
live batches, resumable, and confined to the service asked."""
import pytest

from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.subscriptions import CHECKPOINTS, REBUILDS, SHADOW_SUFFIX, Subscription, request_rebuild


def ev(n, text="hello world"):
    return NewEvent("TestHappened", {"n": n, "text": text, "words": len(text.split())})


@pytest.fixture
def store(mongo_db):
    return EventStore(mongo_db).ensure_indexes()


def totals_handler(db):
    def handle(event, session):
        db.bg_totals.update_one({"_id": event.tenant}, {"$inc": {"count": 1, "sum": event.data["n"]}},
                                upsert=True, session=session)
    return handle


def make(store, mongo_db, name="totals"):
    sub = Subscription(store, mongo_db, "bg", name, ["TestHappened"], totals_handler(mongo_db), batch=10,
                       collections=["bg_totals"])
    sub.rebuild_handler = totals_handler
    return sub


def test_blue_green_rebuild_keeps_serving_the_old_model_until_the_switch(store, mongo_db):
    for i in range(50):
        store.append("city", f"s{i}", [ev(i)], 0)
    sub = make(store, mongo_db)
    sub.poll()
    mongo_db.bg_totals.create_index("sum", name="by_sum")
    live = mongo_db.bg_totals.find_one({"_id": "city"})
    assert live["count"] == 50
    mongo_db.bg_totals.update_one({"_id": "city"}, {"$set": {"stale_marker": True}})   # only the old copy has it
    assert request_rebuild(mongo_db, "bg") == ["bg:totals"]
    steps, seen = 0, []
    n = 50
    while True:
        state = sub.rebuild_step(max_batches=1)
        steps += 1
        seen.append(mongo_db.bg_totals.find_one({"_id": "city"}))
        if state == "done":
            break
        assert state == "building"
        store.append("city", f"s{n}", [ev(n)], 0)          # load meanwhile: the live model follows it
        n += 1
        sub.poll()
        assert steps < 200
    assert steps > 3                                        # it really was built in several steps
    # every read during the rebuild was the complete old model (never a half-built one), growing with the load
    counts = [d["count"] for d in seen]
    assert counts == sorted(counts) and min(counts) >= 50
    assert all(d.get("stale_marker") for d in seen[:-1])
    final = mongo_db.bg_totals.find_one({"_id": "city"})
    sub.poll()
    final = mongo_db.bg_totals.find_one({"_id": "city"})
    assert "stale_marker" not in final                      # the new copy serves now
    assert final["count"] == n and final["sum"] == sum(range(n))
    assert "by_sum" in mongo_db.bg_totals.index_information()          # indexes came along
    assert "bg_totals" + SHADOW_SUFFIX not in mongo_db.list_collection_names()
    assert mongo_db[REBUILDS].find_one({"_id": "bg:totals"})["state"] == "done"
    assert mongo_db[CHECKPOINTS].find_one({"_id": "bg:totals~rebuild"}) is None


def test_an_interrupted_rebuild_resumes_from_its_own_checkpoint(store, mongo_db):
    for i in range(40):
        store.append("city", f"s{i}", [ev(i)], 0)
    sub = make(store, mongo_db)
    sub.poll()
    request_rebuild(mongo_db, "bg", "totals")
    assert sub.rebuild_step(max_batches=1) == "building"
    assert sub.rebuild_step(max_batches=1) == "building"
    partial = mongo_db[CHECKPOINTS].find_one({"_id": "bg:totals~rebuild"})["position"]
    assert 0 < partial < 40
    # the process dies; a new owner (a new instance) resumes the rebuild where it stopped
    again = make(store, mongo_db)
    while (state := again.rebuild_step(max_batches=1)) != "done":
        assert state == "building"
    assert mongo_db.bg_totals.find_one({"_id": "city"})["count"] == 40
    assert again.position() == 40


def test_a_switch_cut_half_way_is_completed_on_resume(store, mongo_db, monkeypatch):
    from agora import subscriptions

    for i in range(5):
        store.append("city", f"s{i}", [ev(i)], 0)

    def handler(db):
        def handle(e, s):
            db.bg_a.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=s)
            db.bg_b.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=s)
        return handle

    def make_two():
        sub = Subscription(store, mongo_db, "bg", "two", ["TestHappened"], handler(mongo_db),
                           collections=["bg_a", "bg_b"])
        sub.rebuild_handler = handler
        return sub
    sub = make_two()
    sub.poll()
    mongo_db.bg_a.update_one({"_id": "n"}, {"$set": {"old": True}})
    mongo_db.bg_b.update_one({"_id": "n"}, {"$set": {"old": True}})
    request_rebuild(mongo_db, "bg", "two")

    def dies_after_first_rename(self, req, names, shadow_key):
        mongo_db.client.admin.command("renameCollection", f"{mongo_db.name}.bg_a__next",
                                      to=f"{mongo_db.name}.bg_a", dropTarget=True)
        raise KeyboardInterrupt("kill -9")
    monkeypatch.setattr(subscriptions, "_switch", dies_after_first_rename)
    with pytest.raises(KeyboardInterrupt):
        while sub.rebuild_step(max_batches=10) == "building":
            pass
    monkeypatch.undo()
    assert mongo_db[REBUILDS].find_one({"_id": "bg:two"})["state"] == "switching"
    assert "old" not in mongo_db.bg_a.find_one() and "old" in mongo_db.bg_b.find_one()     # cut half-way
    fresh = make_two()                                      # the next owner completes the switch
    assert fresh.rebuild_step() == "done"
    assert mongo_db.bg_a.find_one({"_id": "n"}) == {"_id": "n", "n": 5}
    assert mongo_db.bg_b.find_one({"_id": "n"}) == {"_id": "n", "n": 5}
    assert fresh.position() == 5 and not [c for c in mongo_db.list_collection_names() if c.endswith(SHADOW_SUFFIX)]


def test_a_rebuild_request_touches_only_the_service_asked(store, mongo_db):
    for i in range(3):
        store.append("city", f"s{i}", [ev(i)], 0)
    mine = make(store, mongo_db)
    other = Subscription(store, mongo_db, "bgother", "x", ["TestHappened"],
                         lambda e, s: mongo_db.bgother_x.insert_one({"n": e.data["n"]}, session=s))
    mine.poll()
    other.poll()
    before = {d["_id"]: d["position"] for d in mongo_db[CHECKPOINTS].find()}
    assert request_rebuild(mongo_db, "bg") == ["bg:totals"]
    assert {d["_id"] for d in mongo_db[REBUILDS].find()} == {"bg:totals"}
    assert {d["_id"]: d["position"] for d in mongo_db[CHECKPOINTS].find()} == before   # nothing reset
    assert other.rebuild_step() is None and mongo_db.bgother_x.count_documents({}) == 3


def test_without_a_rebuild_handler_the_owner_rebuilds_in_place(store, mongo_db):
    for i in range(3):
        store.append("city", f"s{i}", [ev(i)], 0)
    sub = Subscription(store, mongo_db, "bg", "plain", ["TestHappened"], totals_handler(mongo_db),
                       collections=["bg_totals"])
    sub.poll()
    request_rebuild(mongo_db, "bg", "plain")
    assert sub.rebuild_step() == "done" and sub.position() == 0
    sub.poll()
    assert mongo_db.bg_totals.find_one({"_id": "city"})["count"] == 3
    assert mongo_db[REBUILDS].find_one({"_id": "bg:plain"})["mode"] == "in-place"


def test_projections_cli_requests_a_rebuild_and_waits_for_the_owner(store, mongo_db, monkeypatch, capsys):
    import json
    import threading

    from agora import projections

    for i in range(20):
        store.append("city", f"s{i}", [ev(i)], 0)
    sub = make(store, mongo_db)
    sub.poll()
    monkeypatch.setenv("AGORA_MONGO_URI", mongo_db.client.address and
                       f"mongodb://{mongo_db.client.address[0]}:{mongo_db.client.address[1]}/?directConnection=true")
    monkeypatch.setenv("AGORA_MONGO_DB", mongo_db.name)
    monkeypatch.setenv("AGORA_EVENTS_DB", mongo_db.name)
    stop = threading.Event()

    def owner():                                   # the running service: live polls and rebuild steps
        while not stop.is_set():
            sub.poll()
            sub.rebuild_step(max_batches=1, check_every_s=0.05)
    t = threading.Thread(target=owner)
    t.start()
    try:
        assert projections.main(["rebuild", "bg", "--yes", "--wait", "60"]) == 0
    finally:
        stop.set()
        t.join()
    out = json.loads(capsys.readouterr().out)
    assert out["requested"] == ["bg:totals"] and out["states"] == {"bg:totals": "done"}
    assert mongo_db.bg_totals.find_one({"_id": "city"})["count"] == 20
    assert projections.main(["rebuild", "nosuchservice", "--yes"]) == 2       # nothing to ask: said so


def test_in_place_rebuild_of_undeclared_subscriptions_resets_all_that_share_the_collections(store, mongo_db):
    """Two subscriptions without declared collections share ``<service>_*``: emptying them for one must reset the
    other too (in the same transaction), or the other would go on over emptied collections."""
    for i in range(6):
        store.append("city", f"s{i}", [ev(i)], 0)
    a = Subscription(store, mongo_db, "bgu", "a", ["TestHappened"],
                     lambda e, s: mongo_db.bgu_a.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=s))
    b = Subscription(store, mongo_db, "bgu", "b", ["TestHappened"],
                     lambda e, s: mongo_db.bgu_b.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=s))
    a.poll()
    b.poll()
    assert request_rebuild(mongo_db, "bgu", "a") == ["bgu:a"]
    assert a.rebuild_step() == "done"
    assert mongo_db.bgu_a.count_documents({}) == 0 and mongo_db.bgu_b.count_documents({}) == 0
    assert a.position() == 0 and b.position() == 0
    a.poll()
    b.poll()
    assert mongo_db.bgu_a.find_one()["n"] == 6 and mongo_db.bgu_b.find_one()["n"] == 6
