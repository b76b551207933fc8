"""Use cases over the in-memory event store (agora.memory) and the read models on SecantusDB: no broker, no
service process. The interface tests cover the same paths over HTTP."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from agora.application import command
from agora.auth import Principal
from agora.events import NewEvent
from agora.memory import InMemoryEventStore
from agora.privacy import any_small
from agora.store import ALL_TENANTS
from agora.tenants import TenantRegistry
from votes import projections as p
from votes.application import VotesApp
from votes.context_cache import ContextCache

T = "city"


def person(sub, *roles):
    return Principal(sub, T, frozenset(roles or ("citizen",)))


class Stack:
    def __init__(self, db):
        self.store = InMemoryEventStore()
        self.db = db
        self.tenants = TenantRegistry(db)
        self.tenants.add(T, {"min_cell_size": 3})
        self.app = VotesApp(self.store, db, cache=ContextCache(), tenants=self.tenants)
        self.context, self.tallies = p.ContextProjection(db), p.TallyProjection(db)
        self.seen = 0

    def project(self):
        now = datetime.now(timezone.utc)
        iso = lambda dt: dt.isoformat().replace("+00:00", "Z")  # noqa: E731
        self.store.append(T, "project-p1", [
            NewEvent("ProjectCreated", {"project_id": "p1", "title": "Park", "language": "en", "created_by": "adm",
                                        "workflow": {"published": ["accepted"]}}),
            NewEvent("PhaseAdded", {"project_id": "p1", "phase_id": "ph1", "kind": "voting", "title": "vote",
                                    "start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=9)),
                                    "added_by": "adm"})], 0)
        for iid in ("i1", "i2"):
            self.store.append(T, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
                "idea_id": iid, "project_id": "p1", "phase_id": "ph1", "title": "Trees", "body": "More trees",
                "language": "en", "author": "p-author", "status": "published",
                "personal": {"birth_year": 1970, "gender": "male", "district": "east", "consent": True}})], 0)
        self.project_all()

    def project_all(self):
        """What the two subscriptions do, in one go."""
        events = [e for e in self.store.read_all(ALL_TENANTS, after=self.seen, limit=10_000)]
        for e in events:
            if e.type in {t for ts in p.CONTEXT_SOURCES.values() for t in ts}:
                self.context.handle(e)
        self.tallies.handle_batch([e for e in events if e.type in {t for ts in p.TALLY_SOURCES.values()
                                                                   for t in ts}])
        self.seen = events[-1].position if events else self.seen


@pytest.fixture
def stack(mongo_db):
    s = Stack(mongo_db)
    s.project()
    return s


def test_votes_carry_the_pseudonym_and_only_demographics_given_with_the_vote(stack):
    out = stack.app.react(T, person("ann-sub"), "idea", "i1", 1,
                          {"birth_year": 1990, "gender": "female", "district": "north", "consent": True})
    assert out["result"] == "cast" and out["counted_for"] == "i1"
    assert stack.app.react(T, person("bob-sub"), "idea", "i1", -1, None)["result"] == "cast"
    ann, bob = stack.store.person_id(T, "ann-sub"), stack.store.person_id(T, "bob-sub")
    cast = [e for e in stack.store.read_all(T, limit=1000) if e.type == "ReactionCast"]
    assert [(e.stream, e.data["voter"]) for e in cast] == [(f"reactions-p1-{ann}", ann),
                                                           (f"reactions-p1-{bob}", bob)]
    assert cast[0].data["personal"] == {"birth_year": 1990, "gender": "female", "district": "north"}
    assert cast[1].data["personal"] is None        # not copied from anything else (the idea author's demographics)
    assert "ann-sub" not in json.dumps([e.data for e in cast]) and "bob-sub" not in json.dumps([e.stream for e in cast])
    assert stack.app.my_reaction(T, person("ann-sub"), "idea", "i1")["value"] == 1
    assert stack.app.my_reaction(T, person("nobody"), "idea", "i1")["value"] == 0
    assert stack.store.person_id(T, "nobody", create=False) is None     # a read creates no pseudonym


def test_an_idempotent_command_appends_once_and_answers_the_same(stack):
    with command("cmd-1"):
        first = stack.app.react(T, person("ann"), "idea", "i1", 1, None)
    with command("cmd-1"):
        again = stack.app.react(T, person("ann"), "idea", "i1", 1, None)
    assert first["result"] == again["result"] == "cast" and first["position"] == again["position"]
    assert sum(e.type == "ReactionCast" for e in stack.store.read_all(T, limit=1000)) == 1


def test_public_sees_totals_staff_sees_suppressed_segments(stack):
    for i in range(4):
        stack.app.react(T, person(f"young{i}"), "idea", "i1", 1, {"birth_year": 2000, "consent": True})
    stack.app.react(T, person("old"), "idea", "i1", 1, {"birth_year": 1940, "consent": True})
    stack.project_all()
    public = stack.app.tally(T, None, "idea", "i1")
    assert public["up"] == 5 and public["segments"] is None
    assert stack.app.tally(T, person("c"), "idea", "i1")["segments"] is None
    staff = stack.app.tally(T, person("m", "moderator"), "idea", "i1")
    assert staff["min_cell_size"] == 3 and not any_small(staff["segments"], 3)
    assert staff["segments"]["age"] == {"20-40": {"up": "< 3", "down": 0}, "80+": {"up": "< 3", "down": 0}}


def test_erasure_reaches_the_tallies_and_counts_stay(stack):
    stack.app.react(T, person("ann"), "idea", "i1", 1, {"birth_year": 1990, "district": "north", "consent": True})
    stack.app.react(T, person("ann"), "idea", "i2", -1, {"birth_year": 1990, "district": "north", "consent": True})
    stack.app.set_manual(T, person("ann", "admin"), "i1", 7, 0, "paper ballots")
    stack.project_all()
    pseudonym = stack.store.erase_subject(T, "ann", "asked", "dpo")
    stack.project_all()
    text = json.dumps([d for c in (p.TALLY, p.TALLY_MANUAL) for d in stack.db[c].find({})], default=str)
    assert pseudonym not in text and "north" not in text and "1990" not in text
    t1, t2 = stack.app.tally(T, None, "idea", "i1"), stack.app.tally(T, None, "idea", "i2")
    assert (t1["up"], t1["manual"]["up"], t2["down"]) == (1, 7, 1)
