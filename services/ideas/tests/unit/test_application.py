"""Use cases over the in-memory event store (agora.memory): no database, no broker. The read side is not involved
(the similarity index is empty), so these check what the commands append."""
import datetime as dt

import pytest

from agora import auth
from agora.application import command
from agora.errors import Conflict, Forbidden, NotFound
from agora.memory import InMemoryEventStore
from ideas import schemas
from ideas.application import Ideas
from ideas.similarity import IndexCache

T = "ghent"
NOW = dt.datetime(2026, 6, 15, 12, tzinfo=dt.timezone.utc)


def who(sub, *roles):
    return auth.Principal(sub, T, frozenset(roles))


ADA, ALICE, BOB = who("ada", "admin"), who("alice", "citizen"), who("bob", "citizen")
BRIDGE = auth.Principal("service:bridge", "*", frozenset({"service"}), "service", frozenset({"ideas.change_status"}))


@pytest.fixture
def app():
    store = InMemoryEventStore()
    return Ideas(store, None, IndexCache(lambda t, p: 0, lambda t, p: []), clock=lambda: NOW)


def project(app):
    body = schemas.ProjectCreateIn().load({"title": "Green", "phases": [
        {"kind": "ideation", "start": "2026-06-01", "end": "2026-07-01"}]})
    return app.create_project(T, ADA, body)["project_id"]


def submit(app, pid, caller=ALICE, **more):
    return app.submit_idea(T, caller, schemas.IdeaSubmitIn().load(dict(
        project_id=pid, title="Plant trees", body="Shade in summer", language="en", **more)))


def test_submit_appends_one_event_naming_the_pseudonym(app):
    pid = project(app)
    out = submit(app, pid, display_name="Ann", demographics={"birth_year": 1990, "consent": True})
    assert out["events"] == ["IdeaSubmitted"] and out["similar"] == []
    [ev] = app.store.read_stream(T, f"idea-{out['idea_id']}")
    assert ev.data["author"] == app.store.person_id(T, "alice") != "alice"
    assert ev.data["personal"]["display_name"] == "Ann" and ev.data["personal"]["birth_year"] == 1990
    [created, phase] = app.store.read_stream(T, f"project-{pid}")
    assert created.data["created_by"] == phase.data["added_by"] == app.store.person_id(T, "ada")


def test_a_retried_command_creates_nothing_new(app):
    pid = project(app)
    with command("cmd-1"):
        first = submit(app, pid)
    head = app.store.head()
    with command("cmd-1"):
        again = submit(app, pid)
    assert again["idea_id"] == first["idea_id"] and app.store.head() == head
    with command("cmd-2"):
        other = submit(app, pid, BOB)
    assert other["idea_id"] != first["idea_id"]


def test_business_rules_refuse_with_coded_errors(app):
    pid = project(app)
    idea = submit(app, pid)["idea_id"]
    with pytest.raises(Forbidden):
        app.edit_idea(T, BOB, idea, {"title": "mine"})
    app.flag(T, BOB, "idea", idea, {"reason": "spam"})
    with pytest.raises(Conflict) as err:
        app.flag(T, BOB, "idea", idea, {"reason": "spam"})
    assert err.value.details["reason"] == "flagged_already"
    with pytest.raises(NotFound):
        app.comment(T, BOB, "nope", {"body": "hi"})


def test_decisions_from_the_bridge_are_idempotent_and_named_by_the_service(app):
    pid = project(app)
    idea = submit(app, pid)["idea_id"]
    app.decide_status(T, ADA, idea, {"status": "under_review", "feedback": ""})
    first = app.change_status_from_decision(BRIDGE, T, idea, "accepted", "We do it", "en")
    head = app.store.head()
    assert app.change_status_from_decision(BRIDGE, T, idea, "accepted", "We do it", "en") == first
    assert app.store.head() == head
    ev = app.store.read_stream(T, f"idea-{idea}")[-1]
    assert ev.data["decided_by"] == "service:bridge" and ev.data["to"] == "accepted"


def test_erasure_records_the_pseudonym_and_shreds_the_personal_part(app):
    pid = project(app)
    idea = submit(app, pid, display_name="Ann")["idea_id"]
    alice = app.store.person_id(T, "alice")
    assert app.erase(T, ADA, {"person": "alice", "reason": "request"}) == {"person": alice}
    [ev] = app.store.read_stream(T, f"idea-{idea}")
    assert ev.data["personal"] is None
    forgotten = app.store.read_stream(T, f"person-{alice}")[-1]
    assert forgotten.data == {"person": alice, "reason": "request", "requested_by": app.store.person_id(T, "ada")}
    assert app.erase(T, ADA, {"person": "alice", "reason": "again"}) == {"person": None}
