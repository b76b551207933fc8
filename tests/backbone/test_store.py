import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agora.errors import ConcurrencyError, ValidationFailed
from agora.events.envelope import NewEvent, StoredEvent
from agora.store import ALL_TENANTS, ANY, EventStore

HERE = Path(__file__).parent


def ev(n, text="hello world", **kw):
    return NewEvent("TestHappened", {"n": n, "text": text, "words": len(text.split())}, **kw)


@pytest.fixture
def store(mongo_db):
    return EventStore(mongo_db).ensure_indexes()


def test_append_and_read_stream(store):
    assert store.append("city", "s1", [ev(1), ev(2)], expected_version=0) == [1, 2]
    assert store.append("city", "s1", [ev(3)], expected_version=2) == [3]
    events = store.read_stream("city", "s1")
    assert [e.data["n"] for e in events] == [1, 2, 3]
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.data["n"] for e in store.read_stream("city", "s1", from_version=2)] == [2, 3]


def test_expected_version_conflict_is_clear_and_stores_nothing(store):
    store.append("city", "s1", [ev(1)], 0)
    with pytest.raises(ConcurrencyError) as err:
        store.append("city", "s1", [ev(2), ev(3)], 0)
    assert err.value.actual_version == 1
    assert [e.data["n"] for e in store.read_stream("city", "s1")] == [1]
    assert store.head() == 1


def test_idempotent_append_returns_original_positions(store):
    first = ev(1)
    pos = store.append("city", "s1", [first], 0)
    store.append("city", "s2", [ev(9)], 0)
    again = store.append("city", "s1", [NewEvent(first.type, first.data, id=first.id)], 0)
    assert again == pos
    assert store.head() == 2


def test_invalid_payload_refused_before_storing(store):
    with pytest.raises(ValidationFailed) as err:
        store.append("city", "s1", [NewEvent("TestHappened", {"n": "not a number", "words": -1})], 0)
    assert set(err.value.fields) == {"n", "words"}
    with pytest.raises(ValidationFailed):
        store.append("city", "s1", [NewEvent("NoSuchType", {})], 0)
    assert store.head() == 0


def test_read_all_is_scoped_and_contiguous(store):
    for i in range(30):
        store.append("a" if i % 3 else "b", f"s{i}", [ev(i)], 0)
    everything = store.read_all(ALL_TENANTS, after=0, limit=100)
    assert [e.position for e in everything] == list(range(1, 31))
    only_b = store.read_all("b", after=0, limit=100)
    assert {e.tenant for e in only_b} == {"b"} and len(only_b) == 10
    page = store.read_all("b", after=only_b[3].position, limit=2)
    assert [e.position for e in page] == [only_b[4].position, only_b[5].position]
    with pytest.raises(ValueError):
        store.read_all("", after=0)
    with pytest.raises(ValueError):
        store.read_stream(ALL_TENANTS, "s1")


def test_cloudevent_envelope(store):
    store.append("city", "idea-1", [ev(1, correlationid="corr-1", causationid="cause-1")], 0)
    ce = store.read_all("city")[0].to_cloudevent()
    assert ce["specversion"] == "1.0" and ce["datacontenttype"] == "application/json"
    assert ce["sequence"] == "00000000000000000001" and ce["streamversion"] == 1 and ce["tenant"] == "city"
    assert ce["subject"] == "idea-1" and ce["source"] == "/agora/testsvc" and ce["type"] == "TestHappened"
    assert ce["dataschema"].endswith("/schemas/TestHappened.v2.json")
    assert ce["correlationid"] == "corr-1" and ce["causationid"] == "cause-1"
    assert StoredEvent.from_cloudevent(json.loads(store.read_all("city")[0].to_json())) == store.read_all("city")[0]


def test_upcasting_old_version(store):
    # a v1 event stored by an older release of the service, written raw as that release did
    store.events.insert_one({"_id": 1, "tenant": "city", "stream": "old", "version": 1, "eid": "old-1",
                             "type": "TestHappened", "v": 1, "source": "testsvc", "time": "2020-01-01T00:00:00Z",
                             "data": {"n": 1, "text": "three word text"}})
    old = store.read_stream("city", "old")[0]
    assert old.schema_version == 2 and old.data["words"] == 3
    assert old.to_cloudevent()["dataschema"].endswith("/schemas/TestHappened.v2.json")


def test_group_commit_under_threads(store):
    errors = []

    def writer(k):
        try:
            for i in range(25):
                store.append("city", f"w{k}", [ev(i)], expected_version=i)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    positions = [e.position for e in store.read_all(ALL_TENANTS, limit=1000)]
    assert positions == list(range(1, 401))
    for k in range(16):
        assert [e.data["n"] for e in store.read_stream("city", f"w{k}")] == list(range(25))


def test_expected_any_appends_at_the_end(store):
    store.append("city", "s", [ev(1)], ANY)
    store.append("city", "s", [ev(2), ev(3)], ANY)
    assert [e.version for e in store.read_stream("city", "s")] == [1, 2, 3]


def test_four_processes_racing_one_stream(store, secantus):
    rounds = 40
    env = dict(os.environ, PYTHONPATH=str(HERE))
    procs = [subprocess.Popen([sys.executable, str(HERE / "racer.py"), secantus, store.db.name, f"p{i}",
                               str(rounds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
             for i in range(4)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    wins = sorted(v for r in results for v in r["wins"])
    assert wins == list(range(1, rounds + 1)), "exactly one writer wins each version"
    stored = store.read_stream("city", "race")
    assert [e.version for e in stored] == list(range(1, rounds + 1))
    assert sum(r["losses"] for r in results) > 0, "the racers really raced"
    assert [e.position for e in store.read_all(ALL_TENANTS, limit=1000)] == list(range(1, rounds + 1))


def test_projections_cli_status_and_rebuild(store, mongo_db):
    from agora.projections import rebuild, status
    from agora.subscriptions import Subscription

    for i in range(5):
        store.append("city", f"s{i}", [ev(i)], 0)
    sub = Subscription(store, mongo_db, "testsvc", "totals", ["TestHappened"],
                       lambda e, s: mongo_db.testsvc_totals.update_one(
                           {"_id": e.tenant}, {"$inc": {"n": 1}}, upsert=True, session=s))
    sub.poll()
    before = list(mongo_db.testsvc_totals.find())
    st = status(mongo_db)
    assert st["head"] == 5 and st["subscriptions"] == [{"subscription": "testsvc:totals", "position": 5, "lag": 0}]
    out = rebuild(mongo_db, "testsvc")
    assert out["emptied_collections"] == ["testsvc_totals"] and out["reset_checkpoints"] == 1
    assert "_id_" in mongo_db.testsvc_totals.index_information()
    assert mongo_db.testsvc_totals.count_documents({}) == 0 and sub.position() == 0
    sub.poll()
    assert list(mongo_db.testsvc_totals.find()) == before


def test_acknowledged_appends_survive_kill9_of_the_database(tmp_path):
    """The embedded default (j=true writes, SecantusDB --sync-on-commit) loses nothing on kill -9."""
    import pymongo

    from agora.testing.plugin import SecantusServer

    server = SecantusServer(storage=str(tmp_path / "db"), sync_on_commit=True)
    try:
        store = EventStore(pymongo.MongoClient(server.uri)["durable"]).ensure_indexes()
        acknowledged = []
        for i in range(300):
            acknowledged += store.append("city", f"s{i % 7}", [ev(i)], ANY)
        store.append("city", "multi", [ev(1000), ev(1001), ev(1002)], 0)
        server.kill()                                  # SIGKILL: no clean shutdown, no flush
        server = SecantusServer(storage=str(tmp_path / "db"), port=server.port, sync_on_commit=True)
        store = EventStore(pymongo.MongoClient(server.uri)["durable"])
        positions = [e.position for e in store.read_all(ALL_TENANTS, limit=1000)]
        assert positions == list(range(1, 304))
        assert set(acknowledged) <= set(positions)
        assert [e.data["n"] for e in store.read_stream("city", "multi")] == [1000, 1001, 1002]
    finally:
        server.stop()


def test_personal_data_is_encrypted_and_crypto_shredded(store, mongo_db):
    personal = {"birth_year": 1990, "gender": "female", "district": "Noord — 北"}
    store.append("city", "p1", [NewEvent("TestProfiled", {"author": "alice", "personal": personal})], 0)
    store.append("city", "p2", [NewEvent("TestProfiled", {"author": "bob", "personal": {"gender": "male"}})], 0)
    store.append("city", "p3", [NewEvent("TestProfiled", {"author": "carol", "personal": None})], 0)
    raw = mongo_db.events.find_one({"stream": "p1"})
    assert "Noord" not in str(raw) and set(raw["data"]["personal"]) == {"_enc", "_kid"}
    assert store.read_stream("city", "p1")[0].data["personal"] == personal
    # the relay publishes events as stored: no plaintext ever reaches the broker
    published = store.read_all(ALL_TENANTS, upcast=False)
    assert all("Noord" not in e.to_json().decode() for e in published)
    assert store.forget_person("city", "alice", reason="GDPR art. 17 request", requested_by="dpo")
    notice = store.read_stream("city", "person-alice")[0]
    assert notice.type == "PersonalDataForgotten" and notice.data["person"] == "alice"
    fresh = EventStore(mongo_db)        # another process: no cached key
    for reader in (store, fresh):
        shredded = reader.read_stream("city", "p1")[0].data
        assert shredded["personal"] is None and shredded["personal_shredded"] is True
        assert shredded["author"] == "alice"
        assert reader.read_stream("city", "p2")[0].data["personal"] == {"gender": "male"}
    assert mongo_db.events.count_documents({}) == 4      # no event was updated or deleted (+ the notice)
    # alice comes back: her new data gets a new key, her old data stays shredded
    store.append("city", "p4", [NewEvent("TestProfiled", {"author": "alice", "personal": {"gender": "female"}})], 0)
    assert fresh.read_stream("city", "p4")[0].data["personal"] == {"gender": "female"}
    assert fresh.read_stream("city", "p1")[0].data["personal"] is None
    assert mongo_db.events.find_one({"stream": "p1"}) == raw


def test_read_all_finds_events_stored_before_the_position_field(store, mongo_db):
    store.append("city", "new", [ev(2)], 0)
    mongo_db.events.insert_one({"_id": 2, "tenant": "city", "stream": "legacy", "version": 1, "eid": "legacy-2",
                                "type": "TestHappened", "v": 2, "source": "testsvc", "time": "2026-01-01T00:00:00Z",
                                "data": {"n": 1, "text": "x", "words": 1}})
    assert [e.position for e in store.read_all(ALL_TENANTS, until=5)] == [1, 2]


def test_a_hole_that_becomes_visible_is_read_again_without_an_id_range_scan(store, mongo_db):
    """A window read can miss an event being written while the next one is already visible. Such a hole is
    re-read through the `p` index (or left to the next read), never with the `_id` range that only events older
    than the `p` field need — in SecantusDB that range is a full scan (~300 ms at 30k events)."""
    for i in range(6):
        store.append("city", f"s{i}", [ev(i)], 0)
    real_events, real_window = store.events, store._p_window
    filters, calls = [], []

    class Recording:
        def __getattr__(self, name):
            return getattr(real_events, name)

        def find(self, flt, *a, **kw):
            filters.append(flt)
            return real_events.find(flt, *a, **kw)

    def racy_window(lo, hi):            # the first read misses position 3 (written "meanwhile")
        calls.append((lo, hi))
        docs, run = real_window(lo, hi)
        if len(calls) == 1:
            docs = [d for d in docs if d["_id"] != 3]
            run = 2
        return docs, run

    store.events, store._p_window = Recording(), racy_window
    try:
        assert [e.position for e in store.read_all(ALL_TENANTS, until=6)] == [1, 2, 3, 4, 5, 6]   # closed: re-read
        calls.clear()
        assert [e.position for e in store.read_all(ALL_TENANTS)] == [1, 2, 3, 4, 5, 6]   # open-ended: the same
    finally:
        store.events, store._p_window = real_events, real_window
    assert not any(isinstance(f.get("_id"), dict) for f in filters)


def test_agora_errors_cross_nameko_rpc_with_their_details():
    from nameko.exceptions import deserialize, serialize

    import agora.nameko  # noqa: F401  (registers the errors with nameko)
    from agora.errors import Conflict, NotFound

    for exc in (ValidationFailed({"feedback": ["required for accepted"]}, "invalid status change"),
                NotFound("no idea i-1"), Conflict("phase closed", reason="ideation ended"),
                ConcurrencyError("city", "idea-1", 3, 4)):
        back = deserialize(serialize(exc))
        assert type(back) is type(exc) and str(back) == str(exc) and back.status == exc.status
        assert back.to_dict().keys() == exc.to_dict().keys()
    assert deserialize(serialize(ValidationFailed({"f": ["x"]}))).fields == {"f": ["x"]}


def test_rebuild_empties_only_declared_collections(store, mongo_db):
    from agora.projections import rebuild
    from agora.subscriptions import Subscription

    store.append("city", "s", [ev(1)], 0)
    sub = Subscription(store, mongo_db, "svc", "decl", ["TestHappened"],
                       lambda e, s: mongo_db.svc_read.insert_one({"n": e.data["n"]}, session=s),
                       collections=["svc_read"])
    sub.poll()
    mongo_db.svc_secrets.insert_one({"secret": "not a projection"})
    out = rebuild(mongo_db, "svc")
    assert out["emptied_collections"] == ["svc_read"]
    assert mongo_db.svc_secrets.count_documents({}) == 1 and mongo_db.svc_read.count_documents({}) == 0
    sub.poll()
    assert mongo_db.svc_read.count_documents({}) == 1


def test_a_new_read_model_layout_empties_the_declared_collections_and_replays(store, mongo_db):
    """A subscription whose documents changed shape (``layout``) is rebuilt from the log on start, once."""
    from agora.subscriptions import CHECKPOINTS, Subscription

    for i in range(3):
        store.append("city", f"s{i}", [ev(i)], 0)

    def sub(layout, shape):
        return Subscription(store, mongo_db, "svc", "shaped", ["TestHappened"],
                            lambda e, s: mongo_db.svc_shaped.insert_one({"n": e.data["n"], "shape": shape}, session=s),
                            collections=["svc_shaped", "svc_shaped_old"], layout=layout)
    assert sub(None, "v0").poll() == 3                       # written before layouts existed
    mongo_db.svc_shaped_old.insert_one({"left": "by layout 0"})
    assert sub(2, "v2").poll() == 3                          # emptied, reset, replayed in the new shape
    assert sorted((d["n"], d["shape"]) for d in mongo_db.svc_shaped.find()) == [(0, "v2"), (1, "v2"), (2, "v2")]
    assert mongo_db.svc_shaped_old.count_documents({}) == 0
    assert mongo_db[CHECKPOINTS].find_one({"_id": "svc:shaped"})["layout"] == 2
    again = sub(2, "v2")                                     # same layout: nothing is emptied or replayed
    assert again.poll() == 0 and mongo_db.svc_shaped.count_documents({}) == 3


def test_competing_consumers_of_one_subscription_apply_each_event_once(store, mongo_db):
    """Two replicas running the same subscription: a non-idempotent $inc projection still counts exactly."""
    from agora.subscriptions import Subscription

    for i in range(600):
        store.append("city", f"s{i}", [ev(i)], 0)

    def consumer():
        sub = Subscription(EventStore(mongo_db), mongo_db, "svc", "count", ["TestHappened"],
                           lambda e, s: mongo_db.svc_count.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True,
                                                                      session=s), batch=25)
        while sub.poll():
            pass

    mongo_db.svc_count.insert_one({"_id": "n", "n": 0})
    threads = [threading.Thread(target=consumer) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert mongo_db.svc_count.find_one({"_id": "n"})["n"] == 600
    assert mongo_db.subscription_checkpoints.find_one({"_id": "svc:count"})["position"] == 600


def test_concurrent_first_appends_of_many_people_share_key_inserts_and_one_key_each(store, mongo_db):
    """Personal keys of first-time authors are created in groups (one insert_many), one key per person even when
    the same person appends from several threads at once, and every event opens with its author's key."""
    from pymongo import monitoring

    inserts = []

    class Listener(monitoring.CommandListener):
        def started(self, event):
            if event.command_name == "insert" and event.command.get("insert") == "personal_keys":
                inserts.append(len(event.command.get("documents") or []))

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    import pymongo
    client = pymongo.MongoClient(mongo_db.client.address and f"mongodb://{mongo_db.client.address[0]}:"
                                 f"{mongo_db.client.address[1]}/?directConnection=true", event_listeners=[Listener()])
    writer = EventStore(client[mongo_db.name])
    people = [f"p{i % 40}" for i in range(120)]          # 40 people, each appending 3 times, all at once
    barrier = threading.Barrier(len(people))

    def append(i, person):
        barrier.wait()
        writer.append("city", f"prof-{i}", [NewEvent("TestProfiled", {"author": person,
                                                                       "personal": {"n": i}})], 0)
    threads = [threading.Thread(target=append, args=(i, p)) for i, p in enumerate(people)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert mongo_db.personal_keys.count_documents({}) == 40
    # grouped: far fewer inserts than people (a person whose key was being inserted when their next append
    # missed the cache is asked for again in the next group: a duplicate, answered with the stored key)
    assert len(inserts) < 20 and max(inserts) > 1
    fresh = EventStore(mongo_db)
    for i in range(len(people)):
        assert fresh.read_stream("city", f"prof-{i}")[0].data["personal"] == {"n": i}


def test_personal_key_created_meanwhile_elsewhere_is_reused(store, mongo_db):
    """Another process created the key between this process's cache miss and its insert: the duplicate is
    detected and the existing key is used, so both processes' events open."""
    other = EventStore(mongo_db)
    other.append("city", "a", [NewEvent("TestProfiled", {"author": "dora", "personal": {"x": 1}})], 0)
    store.append("city", "b", [NewEvent("TestProfiled", {"author": "dora", "personal": {"x": 2}})], 0)
    assert mongo_db.personal_keys.count_documents({}) == 1
    assert EventStore(mongo_db).read_stream("city", "a")[0].data["personal"] == {"x": 1}
    assert other.read_stream("city", "b")[0].data["personal"] == {"x": 2}


def test_read_page_reports_how_far_it_scanned_and_head_follows_other_writers(store, mongo_db):
    for i in range(5):
        store.append("city", f"s{i}", [ev(i)], 0)
    events, reached = store.read_page(ALL_TENANTS, after=0, types=["NoSuchType"])
    assert events == [] and reached == 5                  # nothing matched, but positions 1..5 were looked at
    events, reached = store.read_page("city", after=2, limit=2)
    assert [e.position for e in events] == [3, 4] and reached == 4
    reader = EventStore(mongo_db)
    assert reader.head() == 5                             # first call: probes _id
    EventStore(mongo_db).append("city", "t", [ev(9)], 0)  # another writer
    assert reader.head() == 6                             # later calls: the `p` index above the cached head
    assert reader.read_page(ALL_TENANTS, after=6)[0] == [] and reader.read_page(ALL_TENANTS, after=6)[1] == 6


def test_batched_subscription_gets_lists_and_still_parks_a_poison_event(store, mongo_db):
    from agora.subscriptions import Subscription

    for i in range(10):
        store.append("city", f"s{i}", [ev(i)], 0)
    calls = []

    def handler(events, session):
        assert isinstance(events, list)
        if any(e.data["n"] == 4 for e in events):
            raise RuntimeError("poison")
        calls.append([e.data["n"] for e in events])
        mongo_db.svc_sum.update_one({"_id": "n"}, {"$inc": {"n": len(events)}}, upsert=True, session=session)

    sub = Subscription(store, mongo_db, "svc", "batched", ["TestHappened"], handler, batched=True, batch=100,
                       max_attempts=2, backoff_s=0.001)
    assert sub.poll() == 10
    assert [n for c in calls for n in c] == [0, 1, 2, 3, 5, 6, 7, 8, 9]   # one by one after the batch failed
    assert mongo_db.svc_sum.find_one({"_id": "n"})["n"] == 9
    assert [d["position"] for d in sub.parked()] == [5] and sub.position() == 10 and sub.reached == 10
    for i in range(10, 13):
        store.append("city", f"s{i}", [ev(i)], 0)
    assert sub.poll() == 3 and calls[-1] == [10, 11, 12]             # healthy batches: one call each


def test_poll_exposes_its_progress_after_every_batch(store, mongo_db):
    """A poll under steady load can run for long; the nameko entrypoint acks doorbells by ``reached``, so it
    must move with each committed batch, not only when the poll returns (else the prefetch window fills up)."""
    from agora.subscriptions import Subscription

    for i in range(30):
        store.append("city", f"s{i}", [ev(i)], 0)
    seen = []
    sub = Subscription(store, mongo_db, "svc", "progress", ["TestHappened"],
                       lambda events, s: seen.append((sub.reached, len(events))), batched=True, batch=10)
    sub.poll()
    assert seen == [(0, 10), (10, 10), (20, 10)] and sub.reached == 30
