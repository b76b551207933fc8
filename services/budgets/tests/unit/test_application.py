"""Application-level tests of the budgets use cases over the in-memory event store (read models in SecantusDB):
pseudonyms in events and stream names, idempotent commands, erasure in the read models, counts unchanged."""
from __future__ import annotations

import pytest

from agora.application import command
from agora.auth import Principal
from agora.errors import Conflict, NotFound, ValidationFailed
from agora.memory import InMemoryEventStore
from budgets import projections
from budgets.application import Budgets

T = "city"


def who(sub, *roles):
    return Principal(sub, T, frozenset(roles or ("citizen",)))


ADA = who("ada", "admin")


class Stack:
    def __init__(self, db):
        self.store = InMemoryEventStore()
        self.db = db
        projections.ensure_indexes(db)
        self.app = Budgets(self.store, db)
        self.seen = 0

    def project(self):
        """Run the ``rounds`` projection over what the log holds (as the subscription would, in global order)."""
        for event in self.store.read_all("*", after=self.seen, limit=10_000):
            if event.type in sum(projections.ROUND_SOURCES.values(), []):
                projections.apply_round_event(self.db, event)
            self.seen = event.position
        self.db["subscription_checkpoints"].replace_one({"_id": projections.CHECKPOINT_ID},
                                                        {"_id": projections.CHECKPOINT_ID, "position": self.seen},
                                                        upsert=True)

    def open(self, **body):
        body = {"project_id": "proc", "budget": "100", "currency": "EUR", "ballot_type": "approval", **body}
        rid = self.app.open_round(T, ADA, body)["round_id"]
        for pid, cost in (("a", "60"), ("b", "40")):
            self.app.add_project(T, ADA, rid, {"id": pid, "cost": cost, "title": pid.upper()})
        return rid


@pytest.fixture
def stack(mongo_db):
    return Stack(mongo_db)


def test_ballots_are_named_by_pseudonyms_and_commands_are_coded(stack):
    app, store = stack.app, stack.store
    rid = stack.open()
    opened = store.read_stream(T, f"round-{rid}")[0]
    assert opened.data["opened_by"] == store.person_id(T, "ada") != "ada"
    out = app.cast_ballot(T, who("alice"), rid, ["a"], {"birth_year": 1990, "consent": True})
    assert out["result"] == "cast" and "voter_id" not in out
    alice = store.person_id(T, "alice", create=False)
    [cast] = store.read_stream(T, f"ballot-{rid}-{alice}")
    assert cast.data["voter"] == cast.data["voter_id"] == alice
    assert cast.data["personal"] == {"birth_year": 1990, "age": None, "gender": None, "district": None}
    assert app.cast_ballot(T, who("alice"), rid, ["a", "b"], None)["result"] == "replaced"
    assert app.my_ballot(T, who("alice"), rid)["projects"] == ["a", "b"]
    assert app.my_ballot(T, who("nobody"), rid)["result"] == "none"
    assert store.person_id(T, "nobody", create=False) is None       # reading creates no pseudonym
    with pytest.raises(ValidationFailed) as bad:
        app.cast_ballot(T, who("bob"), rid, ["zzz"], None)
    assert {v["code"] for v in bad.value.details["violations"]} == {"unknown_project"}
    with pytest.raises(Conflict) as no:
        app.withdraw_ballot(T, who("bob"), rid)
    assert no.value.details["reason"] == "no_ballot"
    with pytest.raises(NotFound):
        app.cast_ballot(T, who("bob"), "r-none", ["a"], None)
    stack.project()
    with pytest.raises(Conflict) as late:
        app.add_project(T, ADA, rid, {"id": "c", "cost": "1", "title": "C"})
    assert late.value.details["reason"] == "ballots_already_cast"


def test_an_idempotent_command_appends_once_and_answers_the_same(stack):
    app, store = stack.app, stack.store
    with command("cmd-1"):
        first = app.open_round(T, ADA, {"project_id": "proc", "budget": "100", "currency": "EUR",
                                        "ballot_type": "approval"})
    head = store.head()
    with command("cmd-1"):
        again = app.open_round(T, ADA, {"project_id": "proc", "budget": "100", "currency": "EUR",
                                        "ballot_type": "approval"})
    assert again["round_id"] == first["round_id"] and store.head() == head
    rid = first["round_id"]
    app.add_project(T, ADA, rid, {"id": "a", "cost": "10", "title": "A"})
    with command("cast-1"):
        app.cast_ballot(T, who("alice"), rid, ["a"], None)
    head = store.head()
    with command("cast-1"):
        assert app.cast_ballot(T, who("alice"), rid, ["a"], None)["result"] == "cast"
    assert store.head() == head


def test_erasure_anonymises_the_read_models_and_keeps_the_count(stack):
    app, store, db = stack.app, stack.store, stack.db
    rid = stack.open()
    app.cast_ballot(T, who("mallory"), rid, ["a"], {"gender": "female", "consent": True})
    app.cast_ballot(T, who("nina"), rid, ["b"], None)
    stack.project()
    mallory = store.person_id(T, "mallory", create=False)
    assert db[projections.BALLOTS].count_documents({"voter_id": mallory}) == 1
    assert store.erase_subject(T, "mallory", reason="request") == mallory
    stack.project()
    docs = list(db[projections.BALLOTS].find({"tenant": T, "round_id": rid}))
    assert len(docs) == 2 and not [d for d in docs if mallory in str(d)]
    assert any(d["voter_id"].startswith("erased-") and d["projects"] == ["a"] for d in docs)
    assert app.round_view(T, rid)["ballots"] == 2
    assert app.close_round(T, ADA, rid)["ballots"] == 2
    assert store.read_stream(T, f"ballot-{rid}-{mallory}")[0].data["personal"] is None
