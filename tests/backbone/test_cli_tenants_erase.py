"""`agora tenants` and `agora erase` against a real store (the commands as an operator types them)."""
import json
import os
import subprocess
import sys

from agora.events import NewEvent
from agora.store import EventStore


def agora(secantus, db, *args):
    env = dict(os.environ, AGORA_MONGO_URI=secantus, AGORA_MONGO_DB=db, AGORA_RUN_DIR="/nonexistent")
    return subprocess.run([sys.executable, "-m", "agora", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_tenants_add_list_show(secantus, mongo_db):
    out = agora(secantus, mongo_db.name, "tenants", "add", "gent", "--min-cell-size", "10", "--languages", "nl,en")
    assert out.returncode == 0, out.stderr
    assert agora(secantus, mongo_db.name, "tenants", "add", "leuven").returncode == 0
    dup = agora(secantus, mongo_db.name, "tenants", "add", "gent")
    assert dup.returncode == 2 and "exists already" in dup.stderr and "Traceback" not in dup.stderr
    assert agora(secantus, mongo_db.name, "tenants", "add", "gent", "--if-missing").returncode == 0
    bad = agora(secantus, mongo_db.name, "tenants", "add", "Gent!")
    assert bad.returncode == 2 and "tenant name" in bad.stderr
    assert agora(secantus, mongo_db.name, "tenants", "list").stdout.split() == ["gent", "leuven"]
    shown = json.loads(agora(secantus, mongo_db.name, "tenants", "show", "gent").stdout)
    assert shown["settings"]["min_cell_size"] == 10 and shown["settings"]["languages"] == ["nl", "en"]
    missing = agora(secantus, mongo_db.name, "tenants", "show", "brugge")
    assert missing.returncode == 2 and "unknown tenant" in missing.stderr


def test_erase_by_subject(secantus, mongo_db):
    store = EventStore(mongo_db).ensure_indexes()
    assert agora(secantus, mongo_db.name, "tenants", "add", "gent").returncode == 0
    person = store.person_id("gent", "citizen-157")
    store.append("gent", "thing-1", [NewEvent("TestProfiled", {"author": person, "personal": {"age": 33}})])
    out = agora(secantus, mongo_db.name, "erase", "--tenant", "gent", "--person", "citizen-157", "--reason", "GDPR")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"tenant": "gent", "erased": True, "person": person}
    assert EventStore(mongo_db).read_stream("gent", "thing-1")[0].data["personal"] is None
    forgotten = EventStore(mongo_db).read_stream("gent", f"person-{person}")[0]
    assert forgotten.data == {"person": person, "reason": "GDPR", "requested_by": "operator"}
    assert "citizen-157" not in json.dumps([d for d in mongo_db.events.find()], default=str)
    unknown = agora(secantus, mongo_db.name, "erase", "--tenant", "nowhere", "--person", "x", "--reason", "r")
    assert unknown.returncode == 2 and "unknown tenant" in unknown.stderr
