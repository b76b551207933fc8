"""Pure domain tests: aggregates rebuilt from events, business rules refused with coded errors, new events returned
as ``agora.events.NewEvent`` (nothing else). Request shapes are the schemas' job (tested at the bottom); roles are
the routes' (tests/interface)."""
import datetime as dt

import pytest
from marshmallow import ValidationError

from agora.errors import Conflict, Forbidden, NotFound, ValidationFailed
from agora.events import NewEvent, validate
from ideas import schemas
from ideas.domain import DEFAULT_WORKFLOW, Comment, Idea, Project, personal_part, validate_workflow

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
ADA, ALICE, BOB, MO = "p-ada", "p-alice", "p-bob", "p-mo"          # pseudonyms, as events carry them


class E:
    """Stand-in for a StoredEvent (type + data) as the aggregates only need those."""
    def __init__(self, ev: NewEvent):
        assert isinstance(ev, NewEvent)
        self.type, self.data = ev.type, validate(ev.type, ev.data)[1]   # events must match their schema


def replay(cls, *batches):
    return cls.from_events([E(ev) for batch in batches for ev in batch])


PHASES = [{"kind": "ideation", "title": "Ideas", "start": "2026-06-01", "end": "2026-07-01"},
          {"kind": "voting", "start": "2026-07-01T00:00:00Z", "end": "2026-08-01T00:00:00+02:00"}]


def project_events(phases=None):
    phases = phases if phases is not None else PHASES
    return Project().create("p1", "Green Ghent", "More green", "en", ADA, phases=phases,
                            phase_ids=[f"ph{i}" for i in range(len(phases))])


def project(phases=None):
    return replay(Project, project_events(phases))


def submitted(text="Plant trees in the park", author=ALICE, **kw):
    return Idea().submit(project(), "i1", text, "Shade for everyone " + text, "en", author, NOW, **kw)


def idea(*more):
    return replay(Idea, submitted(), *more)


# ------------------------------------------------------------------ project
def test_create_project_emits_created_then_phases():
    events = project_events()
    assert [e.type for e in events] == ["ProjectCreated", "PhaseAdded", "PhaseAdded"]
    assert events[0].data["workflow"] == DEFAULT_WORKFLOW and events[0].data["created_by"] == ADA
    assert events[1].data["start"] == "2026-06-01T00:00:00Z"
    p = project()
    assert p.exists and p.version == 3 and set(p.phases) == {"ph0", "ph1"}
    assert p.phases["ph1"].end == dt.datetime(2026, 7, 31, 22, tzinfo=dt.timezone.utc)
    with pytest.raises(Conflict) as err:
        p.create("p1", "Again", "", "en", ADA)
    assert err.value.details["reason"] == "exists"


def test_custom_workflow_rules():
    wf = validate_workflow({"proposed": ["accepted", "rejected"]})
    assert wf == {"proposed": ["accepted", "rejected"], "accepted": [], "rejected": []}
    for bad in ({"under_review": []}, {"proposed": ["merged"]}):
        with pytest.raises(ValidationFailed) as err:
            validate_workflow(bad)
        assert "workflow" in err.value.fields


def test_add_and_change_phase():
    p = project()
    [ev] = p.add_phase("ph9", "budgeting", "PB", "2026-09-01", "2026-10-01", ADA)
    assert ev.type == "PhaseAdded" and ev.data["kind"] == "budgeting" and ev.data["added_by"] == ADA
    with pytest.raises(Conflict):
        p.add_phase("ph0", "voting", "", "2026-09-01", "2026-10-01", ADA)
    [ch] = p.change_phase("ph0", ADA, end="2026-06-20")
    assert ch.type == "PhaseChanged" and ch.data["end"] == "2026-06-20T00:00:00Z" and ch.data["kind"] == "ideation"
    assert p.change_phase("ph0", ADA, title="Ideas") == []                    # no change, no event
    with pytest.raises(NotFound):
        p.change_phase("nope", ADA, title="x")
    with pytest.raises(ValidationFailed) as err:
        p.change_phase("ph0", ADA, end="2026-05-01")                          # before the stored start
    assert "end" in err.value.fields
    with pytest.raises(NotFound):
        Project().add_phase("x", "voting", "", "2026-01-01", "2026-02-01", ADA)


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
    assert ev.data["phase_id"] == "ph0" and ev.data["status"] == "proposed" and ev.data["author"] == ALICE
    closed = project([{"kind": "ideation", "start": "2026-01-01", "end": "2026-02-01"}])
    with pytest.raises(Conflict) as err:
        Idea().submit(closed, "i1", "T", "B", "en", ALICE, NOW)
    assert "closed at 2026-02-01" in err.value.message and err.value.details["reason"] == "phase_closed"
    with pytest.raises(NotFound):
        Idea().submit(Project(), "i1", "T", "B", "en", ALICE, NOW)
    with pytest.raises(Conflict):
        idea().submit(project(), "i1", "T", "B", "en", ALICE, NOW)             # the stream exists


def test_tags_are_normalised():
    [ev] = Idea().submit(project(), "i1", "x", "y", "en", ALICE, NOW, tags=[" Green  Park", "green park", " "])
    assert ev.data["tags"] == ["green park"]


def test_unicode_round_trips():
    title = "🌳 حديقة خضراء — 公园 Zoë"
    [ev] = Idea().submit(project(), "i1", title, "שלום 👋🏽", "ar", ALICE, NOW)
    i = replay(Idea, [ev])
    assert i.title == title and i.body == "שלום 👋🏽"


def test_personal_part_holds_demographics_and_display_name_only():
    personal = personal_part({"birth_year": 1980, "gender": "female", "district": "Gentbrugge", "consent": True},
                             "Ann")
    [ev] = submitted(personal=personal)
    assert ev.data["personal"] == {"birth_year": 1980, "gender": "female", "district": "Gentbrugge",
                                   "domicile": None, "consent": True, "display_name": "Ann"}
    assert not {"birth_year", "gender", "district", "display_name"} & set(ev.data)   # only under personal
    assert personal_part({"consent": True}, None) is None
    assert personal_part(None, "Ann") == {"display_name": "Ann"}
    [ev] = submitted(personal=personal_part(None, "Ann"))
    assert validate("IdeaSubmitted", ev.data)[1]["personal"]["display_name"] == "Ann"


def test_edit_by_author_before_review_only():
    i = idea()
    [ev] = i.edit(ALICE, title="Plant oaks")
    assert ev.type == "IdeaEdited" and ev.data["title"] == "Plant oaks" and ev.data["body"] == i.body
    assert ev.data["edited_by"] == ALICE
    assert i.edit(ALICE, title=i.title) == []
    with pytest.raises(Forbidden):
        i.edit(BOB, title="mine now")
    reviewed = idea(i.change_status("under_review", "", ADA))
    with pytest.raises(Conflict) as err:
        reviewed.edit(ALICE, title="late")
    assert "under_review" in err.value.message and err.value.details["reason"] == "not_editable"
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
        w.change_status("under_review", "", ADA)


def test_status_workflow_and_decisions():
    i = idea()
    with pytest.raises(Conflict) as err:
        i.change_status("accepted", "Great", ADA)
    assert "allowed: ['under_review']" in err.value.message and err.value.details["reason"] == "workflow"
    with pytest.raises(ValidationFailed):
        i.change_status("bogus", "", ADA)
    [rev] = i.change_status("under_review", "", ADA)
    assert rev.data["decision"] is False and rev.data["from"] == "proposed"
    r = idea([rev])
    with pytest.raises(ValidationFailed) as err:
        r.change_status("accepted", "  ", ADA)
    assert "feedback" in err.value.fields
    [acc] = r.change_status("accepted", "Planned for autumn", ADA, feedback_language="en")
    assert acc.data == {"idea_id": "i1", "project_id": "p1", "title": r.title, "from": "under_review",
                        "to": "accepted", "decision": True, "feedback": "Planned for autumn",
                        "feedback_language": "en", "decided_by": ADA}
    a = idea([rev], [acc])
    assert a.status == "accepted" and a.feedback == "Planned for autumn"
    [imp] = a.change_status("implemented", "", "service:bridge")
    assert imp.data["decision"] is True and imp.data["feedback_language"] is None
    with pytest.raises(Conflict):
        idea([rev], [acc], [imp]).change_status("rejected", "no", ADA)


def test_custom_workflow_applies():
    wf = validate_workflow({"proposed": ["accepted", "rejected"]})
    [ev] = idea().change_status("accepted", "yes", ADA, wf)
    assert ev.data["to"] == "accepted"


def test_merge():
    a = idea()
    b = replay(Idea, Idea().submit(project(), "i2", "Trees in the park", "more trees", "en", BOB, NOW))
    with pytest.raises(ValidationFailed):
        a.merge_into(a, ADA)
    with pytest.raises(NotFound):
        a.merge_into(Idea(), ADA)
    [ev] = a.merge_into(b, ADA, "duplicate")
    assert ev.data == {"idea_id": "i1", "project_id": "p1", "survivor_id": "i2", "from_status": "proposed",
                       "merged_by": ADA, "reason": "duplicate"}
    m = idea([ev])
    assert m.status == "merged" and m.survivor_id == "i2"
    with pytest.raises(Conflict):
        b.merge_into(m, ADA)
    other = replay(Idea, [NewEvent("IdeaSubmitted", dict(submitted()[0].data, idea_id="i3", project_id="p2"))])
    with pytest.raises(Conflict):
        b.merge_into(other, ADA)


# ------------------------------------------------------------------ comments & moderation
def test_comments_and_replies():
    i = idea()
    [c] = i.comment("c1", "Yes!", "en", BOB, display_name="Bob B.")
    assert c.data["parent_id"] is None and c.data["idea_id"] == "i1" and c.data["author"] == BOB
    assert c.data["personal"] == {"display_name": "Bob B."}
    parent = replay(Comment, [c])
    [r] = i.comment("c2", "Agreed", "en", ALICE, parent)
    assert r.data["parent_id"] == "c1" and r.data["personal"] is None
    foreign = replay(Comment, [NewEvent("CommentPosted", dict(c.data, comment_id="c9", idea_id="other"))])
    with pytest.raises(NotFound):
        i.comment("c3", "x", "en", ALICE, foreign)
    with pytest.raises(NotFound):
        Idea().comment("c3", "x", "en", ALICE)
    hidden = idea(i.moderate("hide", "spam", MO))
    with pytest.raises(Conflict):
        hidden.comment("c3", "x", "en", ALICE)


def test_flag_moderate_and_dismiss():
    i = idea()
    [f] = i.flag(BOB, "offensive")
    assert f.data == {"target_type": "idea", "target_id": "i1", "idea_id": "i1", "project_id": "p1",
                      "reason": "offensive", "flagged_by": BOB}
    flagged = idea([f])
    with pytest.raises(Conflict):
        flagged.flag(BOB)
    with pytest.raises(Conflict):
        i.moderate("restore", "fine", MO)
    with pytest.raises(Conflict) as err:
        i.moderate("dismiss", "nothing to see", MO)                           # no flags
    assert err.value.details["reason"] == "no_flags"
    [d] = flagged.moderate("dismiss", "it is fine", MO)
    assert d.type == "FlagsDismissed" and d.data["flags"] == 1 and d.data["moderator"] == MO
    dismissed = idea([f], [d])
    with pytest.raises(Conflict):
        dismissed.moderate("dismiss", "again", MO)
    [f2] = dismissed.flag(ALICE, "still rude")
    assert idea([f], [d], [f2]).moderate("dismiss", "still fine", MO)[0].data["flags"] == 2
    [h] = i.moderate("hide", "spam", MO)
    hidden = idea([h])
    assert hidden.hidden and h.data["moderator"] == MO
    with pytest.raises(Conflict):
        hidden.moderate("hide", "again", MO)
    [r] = hidden.moderate("restore", "appeal granted", ADA)
    assert not idea([h], [r]).hidden
    c = replay(Comment, i.comment("c1", "rude", "en", BOB))
    [ch] = c.moderate("hide", "rude", MO)
    assert ch.data["target_type"] == "comment" and ch.data["target_id"] == "c1" and ch.data["idea_id"] == "i1"
    with pytest.raises(NotFound):
        Comment().must_exist()


def test_v1_events_still_read():
    """Logs written before pseudonyms and display names: v1 data upcast to v2."""
    from agora.events import upcast
    v1 = {"comment_id": "c", "idea_id": "i", "project_id": "p", "parent_id": None, "body": "b", "language": "en",
          "author": "alice"}
    version, data = upcast("CommentPosted", 1, v1)
    assert version == 2 and data["personal"] is None and data["author"] == "alice"
    version, data = upcast("IdeaSubmitted", 1, dict(submitted()[0].data, personal={"birth_year": 1980,
                                                                                   "consent": True}))
    assert version == 2 and data["personal"]["birth_year"] == 1980


# ------------------------------------------------------------------ request shapes (schemas, validated once)
def test_request_schemas_check_shapes():
    with pytest.raises(ValidationError) as err:
        schemas.IdeaSubmitIn().load({"project_id": "p", "title": "x" * 201, "body": "", "tags": ["ok", ""]})
    assert {"title", "body", "tags"} <= set(err.value.messages)
    with pytest.raises(ValidationError) as err:
        schemas.IdeaSubmitIn().load({"project_id": "p", "title": "t", "body": "b",
                                     "demographics": {"birth_year": 1980}})
    assert "consent" in err.value.messages["demographics"]
    with pytest.raises(ValidationError) as err:
        schemas.ModerationIn().load({"action": "delete", "reason": ""})
    assert set(err.value.messages) == {"action", "reason"}
    with pytest.raises(ValidationError) as err:
        schemas.ProjectCreateIn().load({"title": "t", "phases": [{"kind": "party", "start": "x",
                                                                  "end": "2026-01-01"}]})
    assert set(err.value.messages["phases"][0]) == {"kind", "start"}
    with pytest.raises(ValidationError):
        schemas.IdeaSubmitIn().load({"project_id": "p", "title": "t", "body": "b", "display_name": "x" * 51})
    with pytest.raises(ValidationError):
        schemas.ErasureIn().load({"person": "alice"})                          # a reason is required


def test_domain_is_pure():
    import ideas.domain as d
    src = open(d.__file__).read()
    for banned in ("nameko", "pymongo", "pika", "kombu"):
        assert f"import {banned}" not in src and f"from {banned}" not in src
