"""``agora backup DIR`` / ``agora restore DIR``: back up, destroy, restore, rebuild — every read model equal to the
live one, every erased person still erased."""
import json

import pymongo
import pytest

from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.subscriptions import Subscription


def project(db):
    """A read model holding copies of personal data (dropped on PersonalDataForgotten) and counts."""
    def handle(e, s):
        if e.type == "PersonalDataForgotten":
            db.bk_people.update_one({"_id": e.data["person"]}, {"$set": {"personal": None}}, session=s)
        elif e.type == "TestProfiled":
            db.bk_people.update_one({"_id": e.data["author"]}, {"$set": {"personal": e.data["personal"]},
                                                                 "$inc": {"events": 1}}, upsert=True, session=s)
        else:
            db.bk_totals.update_one({"_id": e.tenant}, {"$inc": {"n": 1, "sum": e.data["n"]}}, upsert=True,
                                    session=s)
    return handle


def read_models(db):
    return {name: sorted(db[name].find(), key=lambda d: str(d["_id"])) for name in ("bk_people", "bk_totals")}


def subscription(store, db):
    return Subscription(store, db, "bk", "all", ["TestProfiled", "TestHappened", "PersonalDataForgotten"],
                        project(db), collections=["bk_people", "bk_totals"])


def cli(monkeypatch, uri, db_name, *argv):
    from agora.cli import main
    monkeypatch.setenv("AGORA_MONGO_URI", uri)
    monkeypatch.setenv("AGORA_MONGO_DB", db_name)
    monkeypatch.setenv("AGORA_EVENTS_DB", db_name)
    monkeypatch.setenv("AGORA_RUN_DIR", "/nonexistent-agora-run-dir")
    return main(list(argv))


def test_backup_destroy_restore_rebuild(mongo_db, secantus, tmp_path, monkeypatch, capsys):
    store = EventStore(mongo_db).ensure_indexes()
    people = ["ann", "bob", "cem", "dua"]
    for i, person in enumerate(people * 3):
        store.append("city", f"profile-{person}-{i}", [NewEvent("TestProfiled", {
            "author": person, "personal": {"birth_year": 1950 + i, "district": f"d{i % 3}"}})], 0)
        store.append("city", f"thing-{i}", [NewEvent("TestHappened", {"n": i, "text": "x", "words": 1})], 0)
    store.forget_person("city", "bob", reason="GDPR request")            # erased before the backup
    mongo_db.tenants.insert_one({"_id": "city", "settings": {"display_name": "City"}})
    sub = subscription(store, mongo_db)
    sub.poll()
    live = read_models(mongo_db)
    assert next(d for d in live["bk_people"] if d["_id"] == "bob")["personal"] is None

    backup_dir = tmp_path / "backup"
    assert cli(monkeypatch, secantus, mongo_db.name, "backup", str(backup_dir)) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["head"] == store.head() == 25
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["files"]["log/events.bson"]["documents"] == 25
    assert manifest["files"]["read/personal_keys.bson"]["documents"] == 3          # bob's key is gone
    # a backup never overwrites
    assert cli(monkeypatch, secantus, mongo_db.name, "backup", str(backup_dir)) == 2

    # destroy
    client = pymongo.MongoClient(secantus)
    client.drop_database(mongo_db.name)
    assert mongo_db.list_collection_names() == []

    # restore (into the destroyed = empty store), then the read models rebuild from the log
    assert cli(monkeypatch, secantus, mongo_db.name, "restore", str(backup_dir)) == 0
    restored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert restored["head"] == 25 and restored["documents"]["personal_keys"] == 3
    fresh = EventStore(mongo_db)
    assert fresh.head() == 25
    assert mongo_db.tenants.find_one({"_id": "city"})["settings"] == {"display_name": "City"}
    subscription(fresh, mongo_db).poll()
    assert read_models(mongo_db) == live                                   # every read model equal
    # every erased person still erased, the others still readable
    by_author = {}
    for e in fresh.read_all("city", limit=100):
        if e.type == "TestProfiled":
            by_author.setdefault(e.data["author"], []).append(e.data["personal"])
    assert by_author["bob"] == [None, None, None]
    assert all(p is not None for a in ("ann", "cem", "dua") for p in by_author[a])
    # restoring over a store that is not empty is refused without --force
    assert cli(monkeypatch, secantus, mongo_db.name, "restore", str(backup_dir)) == 2
    assert "not empty" in capsys.readouterr().err


def test_restore_refuses_a_damaged_backup(mongo_db, secantus, tmp_path, monkeypatch, capsys):
    store = EventStore(mongo_db).ensure_indexes()
    store.append("city", "t", [NewEvent("TestHappened", {"n": 1, "text": "x", "words": 1})], 0)
    assert cli(monkeypatch, secantus, mongo_db.name, "backup", str(tmp_path / "b")) == 0
    events = tmp_path / "b" / "log" / "events.bson"
    events.write_bytes(events.read_bytes()[:-3] + b"xyz")
    pymongo.MongoClient(secantus).drop_database(mongo_db.name)
    assert cli(monkeypatch, secantus, mongo_db.name, "restore", str(tmp_path / "b")) == 2
    assert "damaged" in capsys.readouterr().err
    assert EventStore(mongo_db).head() == 0


@pytest.mark.parametrize("argv", [["backup", "--help"], ["restore", "--help"]])
def test_backup_commands_are_registered(argv, capsys):
    from agora.cli import main
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0 and "key vault" in capsys.readouterr().out


def test_restore_into_a_new_embedded_store(mongo_db, secantus, tmp_path, monkeypatch, capsys):
    """The embedded-store procedure: back up, then restore into new SecantusDB files the platform starts on."""
    from agora.testing.plugin import SecantusServer

    store = EventStore(mongo_db).ensure_indexes()
    for i in range(30):
        store.append("city", f"p{i}", [NewEvent("TestProfiled", {"author": f"u{i % 3}", "personal": {"i": i}})], 0)
    store.forget_person("city", "u1")
    assert cli(monkeypatch, secantus, mongo_db.name, "backup", str(tmp_path / "b")) == 0
    assert cli(monkeypatch, secantus, mongo_db.name, "restore", str(tmp_path / "b"),
               "--embedded", str(tmp_path / "db")) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["head"] == 31
    server = SecantusServer(storage=str(tmp_path / "db"))            # the platform starting on the restored files
    try:
        restored = EventStore(pymongo.MongoClient(server.uri, tz_aware=True)[mongo_db.name])
        events = restored.read_all("city", limit=100)
        assert len(events) == 31
        assert {e.data["author"] for e in events if e.type == "TestProfiled" and e.data["personal"] is None} == {"u1"}
        assert sorted(e.data["personal"]["i"] for e in events
                      if e.type == "TestProfiled" and e.data["personal"]) == [i for i in range(30) if i % 3 != 1]
    finally:
        server.stop()
    # a second restore onto the same files is refused
    assert cli(monkeypatch, secantus, mongo_db.name, "restore", str(tmp_path / "b"),
               "--embedded", str(tmp_path / "db")) == 2
