"""Pure domain tests: aggregates rebuilt from events, commands validated, new events returned (nothing else)."""
import datetime as dt

import pytest

from agora.errors import Conflict, Forbidden, NotFound, ValidationFailed
from agora.events import validate
from ideas.domain import (DEFAULT_WORKFLOW, Actor, Comment, Event, Idea, Project, validate_workflow)

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
ADMIN = {"sub": "ada", "roles": ["admin"]}
ALICE = {"sub": "alice", "roles": ["citizen"]}
BOB = {"sub": "bob", "roles": ["citizen"]}
MOD = {"sub": "mo", "roles": ["moderator"]}


class E:
    """Stand-in for a StoredEvent (type + data) as the aggregates only need those."""
    def __init__(self, ev: Event):
        self.type, self.data = ev.type, validate(ev.type, ev.data)[1]   # events must match their schema


def replay(cls, *batches):
    return cls.from_events([E(ev) for batch in batches for ev in batch])


def project_events(phases=None):
    phases = phases if phases is not None else [
        {"kind": "ideation", "title": "Ideas", "start": "2026-06-01", "end": "2026-07-01"},
        {"kind": "voting", "start": "2026-07-01T00:00:00Z", "end": "2026-08-01T00:00:00+02:00"}]
    return Project.create("p1", "Green Ghent", "More green", "en", ADMIN, phases=phases,
                          phase_ids=[f"ph{i}" for i in range(len(phases))])


def project(phases=None):
    return replay(Project, project_events(phases))


def submitted(text="Plant trees in the park", author=ALICE, **kw):
    return Idea.submit(project(), "i1", text, "Shade for everyone " + text, "en", author, NOW, **kw)


def idea(*more):
    return replay(Idea, submitted(), *more)


# ------------------------------------------------------------------ project
def test_create_project_emits_created_then_phases():
    events = project_events()
    assert [e.type for e in events] == ["ProjectCreated", "PhaseAdded", "PhaseAdded"]
    assert events[0].data["workflow"] == DEFAULT_WORKFLOW
    assert events[1].data["start"] == "2026-06-01T00:00:00Z"
    p = project()
    assert p.exists and p.version == 3 and set(p.phases) == {"ph0", "ph1"}
    assert p.phases["ph1"].end == dt.datetime(2026, 7, 31, 22, tzinfo=dt.timezone.utc)


def test_create_project_needs_admin_and_valid_fields():
    with pytest.raises(Forbidden):
        Project.create("p", "T", "", "en", ALICE)
    with pytest.raises(ValidationFailed) as err:
        Project.create("p", "", "", "en", ADMIN, phases=[{"kind": "party", "start": "x", "end": "2026-01-01"}],
                       phase_ids=["a"])
    assert set(err.value.fields) == {"title", "phases"}
    assert set(err.value.fields["phases"][0]) == {"kind", "start"}
    with pytest.raises(ValidationFailed) as err:
        Project.create("p", "T", "", "en", ADMIN, phases=[{"kind": "voting", "start": "2026-02-01",
                                                           "end": "2026-01-01"}], phase_ids=["a"])
    assert err.value.fields["phases"][0] == {"end": ["must be after start"]}


def test_custom_workflow_is_validated():
    wf = validate_workflow({"proposed": ["accepted", "rejected"]})
    assert wf == {"proposed": ["accepted", "rejected"], "accepted": [], "rejected": []}
    for bad in ({"under_review": []}, {"proposed": ["merged"]}, {"proposed": ["Not OK"]}, ["proposed"]):
        with pytest.raises(ValidationFailed):
            validate_workflow(bad)


def test_add_and_change_phase():
    p = project()
    [ev] = p.add_phase("ph9", "budgeting", "PB", "2026-09-01", "2026-10-01", ADMIN)
    assert ev.type == "PhaseAdded" and ev.data["kind"] == "budgeting"
    with pytest.raises(Conflict):
        p.add_phase("ph0", "voting", "", "2026-09-01", "2026-10-01", ADMIN)
    with pytest.raises(Forbidden):
        p.add_phase("ph9", "voting", "", "2026-09-01", "2026-10-01", ALICE)
    [ch] = p.change_phase("ph0", ADMIN, end="2026-06-20")
    assert ch.type == "PhaseChanged" and ch.data["end"] == "2026-06-20T00:00:00Z" and ch.data["kind"] == "ideation"
    assert p.change_phase("ph0", ADMIN, title="Ideas") == []                    # no change, no event
    with pytest.raises(NotFound):
        p.change_phase("nope", ADMIN, title="x")
    with pytest.raises(ValidationFailed):
        p.change_phase("ph0", ADMIN, end="2026-05-01")                         # before start
    with pytest.raises(NotFound):
        Project().add_phase("x", "voting", "", "2026-01-01", "2026-02-01", ADMIN)


def test_open_phase_and_reason():
    p = project()
    assert p.open_phase("ideation", NOW).phase_id == "ph0"
    assert p.open_phase("voting", NOW) is None
    later = NOW + dt.timedelta(days=30)
    assert "closed at 2026-07-01T00:00:00Z" in p.why_closed("ideation", later)
    assert "opens at 2026-07-01T00:00:00Z" in p.why_closed("voting", NOW)
    assert "no budgeting phase" in p.why_closed("budgeting", NOW)


# ------------------------------------------------------------------ idea
def test_submit_only_while_ideation_is_open():
    [ev] = submitted()
    assert ev.type == "IdeaSubmitted"
    assert ev.data["phase_id"] == "ph0" and ev.data["status"] == "proposed" and ev.data["author"] == "alice"
    closed = project([{"kind": "ideation", "start": "2026-01-01", "end": "2026-02-01"}])
    with pytest.raises(Conflict) as err:
        Idea.submit(closed, "i1", "T", "B", "en", ALICE, NOW)
    assert "closed at 2026-02-01" in err.value.message
    with pytest.raises(NotFound):
        Idea.submit(Project(), "i1", "T", "B", "en", ALICE, NOW)
    with pytest.raises(Forbidden):
        Idea.submit(project(), "i1", "T", "B", "en", {"sub": "p", "roles": ["partner"]}, NOW)


def test_submit_validates_lengths_and_tags():
    with pytest.raises(ValidationFailed) as err:
        Idea.submit(project(), "i1", "x" * 201, "y" * 10_001, "en", ALICE, NOW, tags=["ok"] * 1 + [""])
    assert set(err.value.fields) == {"title", "body", "tags"}
    [ev] = Idea.submit(project(), "i1", "x" * 200, "y" * 10_000, "en", ALICE, NOW, tags=[" Green  Park", "green park"])
    assert ev.data["tags"] == ["green park"]


def test_unicode_round_trips():
    title = "🌳 حديقة خضراء — 公园 Zoë"
    [ev] = Idea.submit(project(), "i1", title, "שלום 👋🏽", "ar", ALICE, NOW)
    i = replay(Idea, [ev])
    assert i.title == title and i.body == "שלום 👋🏽"


def test_demographics_need_consent_and_go_to_personal():
    [ev] = submitted(demographics={"birth_year": 1980, "gender": "female", "district": "Gentbrugge",
                                   "consent": True})
    assert ev.data["personal"] == {"birth_year": 1980, "gender": "female", "district": "Gentbrugge",
                                   "domicile": None, "consent": True}
    assert not {"birth_year", "gender", "district"} & set(ev.data)            # only under personal
    with pytest.raises(ValidationFailed) as err:
        submitted(demographics={"birth_year": 1980})
    assert "consent" in err.value.fields["demographics"]
    [ev] = submitted(demographics={"consent": False})
    assert ev.data["personal"] is None
    [ev] = submitted(demographics={"consent": True})
    assert ev.data["personal"] is None


def test_edit_by_author_before_review_only():
    i = idea()
    [ev] = i.edit(ALICE, title="Plant oaks")
    assert ev.type == "IdeaEdited" and ev.data["title"] == "Plant oaks" and ev.data["body"] == i.body
    assert i.edit(ALICE, title=i.title) == []
    with pytest.raises(Forbidden):
        i.edit(BOB, title="mine now")
    reviewed = idea(i.change_status("under_review", "", ADMIN))
    with pytest.raises(Conflict) as err:
        reviewed.edit(ALICE, title="late")
    assert "under_review" in err.value.message
    with pytest.raises(NotFound):
        Idea().edit(ALICE, title="x")


def test_withdraw():
    i = idea()
    with pytest.raises(Forbidden):
        i.withdraw(BOB)
    [ev] = i.withdraw(ALICE, "changed my mind")
    w = idea([ev])
    assert w.status == "withdrawn"
    with pytest.raises(Conflict):
        w.withdraw(ALICE)
    with pytest.raises(Conflict):
        w.change_status("under_review", "", ADMIN)


def test_status_workflow_and_decisions():
    i = idea()
    with pytest.raises(Forbidden):
        i.change_status("under_review", "", ALICE)
    with pytest.raises(Forbidden):
        i.change_status("under_review", "", MOD)
    with pytest.raises(Conflict) as err:
        i.change_status("accepted", "Great", ADMIN)
    assert "allowed: ['under_review']" in err.value.message
    with pytest.raises(ValidationFailed):
        i.change_status("bogus", "", ADMIN)
    [rev] = i.change_status("under_review", "", ADMIN)
    assert rev.data["decision"] is False and rev.data["from"] == "proposed"
    r = idea([rev])
    with pytest.raises(ValidationFailed) as err:
        r.change_status("accepted", "  ", ADMIN)
    assert "feedback" in err.value.fields
    [acc] = r.change_status("accepted", "Planned for autumn", ADMIN, feedback_language="en")
    assert acc.data == {"idea_id": "i1", "project_id": "p1", "title": r.title, "from": "under_review",
                        "to": "accepted", "decision": True, "feedback": "Planned for autumn",
                        "feedback_language": "en", "decided_by": "ada"}
    a = idea([rev], [acc])
    assert a.status == "accepted" and a.feedback == "Planned for autumn"
    [imp] = a.change_status("implemented", "", ADMIN)
    assert imp.data["decision"] is True and imp.data["feedback_language"] is None
    with pytest.raises(Conflict):
        idea([rev], [acc], [imp]).change_status("rejected", "no", ADMIN)


def test_custom_workflow_applies():
    wf = validate_workflow({"proposed": ["accepted", "rejected"]})
    [ev] = idea().change_status("accepted", "yes", ADMIN, wf)
    assert ev.data["to"] == "accepted"


def test_merge():
    a = idea()
    b = replay(Idea, Idea.submit(project(), "i2", "Trees in the park", "more trees", "en", BOB, NOW))
    with pytest.raises(Forbidden):
        a.merge_into(b, ALICE)
    with pytest.raises(ValidationFailed):
        a.merge_into(a, ADMIN)
    with pytest.raises(NotFound):
        a.merge_into(Idea(), ADMIN)
    [ev] = a.merge_into(b, ADMIN, "duplicate")
    assert ev.data == {"idea_id": "i1", "project_id": "p1", "survivor_id": "i2", "from_status": "proposed",
                       "merged_by": "ada", "reason": "duplicate"}
    m = idea([ev])
    assert m.status == "merged" and m.survivor_id == "i2"
    with pytest.raises(Conflict):
        b.merge_into(m, ADMIN)
    other = replay(Idea, [Event("IdeaSubmitted", dict(submitted()[0].data, idea_id="i3", project_id="p2"))])
    with pytest.raises(Conflict):
        b.merge_into(other, ADMIN)


# ------------------------------------------------------------------ comments & moderation
def test_comments_and_replies():
    i = idea()
    [c] = i.comment("c1", "Yes!", "en", BOB)
    assert c.data["parent_id"] is None and c.data["idea_id"] == "i1"
    parent = replay(Comment, [c])
    [r] = i.comment("c2", "Agreed", "en", ALICE, parent)
    assert r.data["parent_id"] == "c1"
    foreign = replay(Comment, [Event("CommentPosted", dict(c.data, comment_id="c9", idea_id="other"))])
    with pytest.raises(NotFound):
        i.comment("c3", "x", "en", ALICE, foreign)
    with pytest.raises(Forbidden):
        i.comment("c3", "x", "en", {"sub": "p", "roles": ["partner"]})
    with pytest.raises(ValidationFailed):
        i.comment("c3", "", "en", ALICE)
    with pytest.raises(NotFound):
        Idea().comment("c3", "x", "en", ALICE)
    hidden = idea(i.moderate("hide", "spam", MOD))
    with pytest.raises(Conflict):
        hidden.comment("c3", "x", "en", ALICE)


def test_flag_and_moderate():
    i = idea()
    [f] = i.flag(BOB, "offensive")
    assert f.data == {"target_type": "idea", "target_id": "i1", "idea_id": "i1", "project_id": "p1",
                      "reason": "offensive", "flagged_by": "bob"}
    flagged = idea([f])
    with pytest.raises(Conflict):
        flagged.flag(BOB)
    with pytest.raises(Forbidden):
        i.moderate("hide", "spam", ALICE)
    with pytest.raises(ValidationFailed) as err:
        i.moderate("delete", "", MOD)
    assert set(err.value.fields) == {"action", "reason"}
    with pytest.raises(Conflict):
        i.moderate("restore", "fine", MOD)
    [h] = i.moderate("hide", "spam", MOD)
    hidden = idea([h])
    assert hidden.hidden and h.data["moderator"] == "mo"
    with pytest.raises(Conflict):
        hidden.moderate("hide", "again", MOD)
    [r] = hidden.moderate("restore", "appeal granted", {"sub": "ada", "roles": ["admin"]})
    assert not idea([h], [r]).hidden
    c = replay(Comment, i.comment("c1", "rude", "en", BOB))
    [ch] = c.moderate("hide", "rude", MOD)
    assert ch.data["target_type"] == "comment" and ch.data["target_id"] == "c1" and ch.data["idea_id"] == "i1"
    with pytest.raises(NotFound):
        Comment().must_exist()


def test_actor_parsing():
    assert Actor.of({"sub": "a", "roles": "admin"}).roles == {"admin"}
    with pytest.raises(ValidationFailed):
        Actor.of({"roles": ["admin"]})


def test_domain_is_pure():
    import ideas.domain as d
    src = open(d.__file__).read()
    for banned in ("nameko", "pymongo", "pika", "kombu"):
        assert f"import {banned}" not in src and f"from {banned}" not in src
