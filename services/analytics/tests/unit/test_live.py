"""analytics.live (pure): events → corpus, projection documents → the same corpus, views and tables; exports."""
from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

from openpyxl import load_workbook

from analytics import export, live
from analytics.topics import TopicParams

THEMES = {"parks": ["park", "trees", "garden", "benches", "shade", "lawn", "flowers", "fountain"],
          "traffic": ["traffic", "cars", "crossing", "parking", "speed", "bus", "lane", "pedestrians"]}


@dataclass
class Ev:
    type: str
    data: dict
    position: int
    tenant: str = "t"
    time: str = "2026-09-07T10:00:00Z"
    stream: str = field(default="s")


def history(n=24, seed=1):
    rng = random.Random(seed)
    events, pos = [], 0

    def add(t, d, time="2026-09-07T10:00:00Z"):
        nonlocal pos
        pos += 1
        events.append(Ev(t, d, pos, time=time))
    add("ProjectCreated", {"project_id": "p", "title": "Project P"})
    add("PhaseAdded", {"project_id": "p", "phase_id": "ph1", "kind": "ideation", "title": "Ideas",
                       "start": "2026-09-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"})
    for i in range(n):
        theme = "parks" if i % 2 else "traffic"
        words = [rng.choice(THEMES[theme]) for _ in range(10)]
        add("IdeaSubmitted", {"idea_id": f"i{i}", "project_id": "p", "phase_id": "ph1" if i < n - 4 else "ph2",
                              "title": f"Idea {i}", "body": " ".join(words), "language": "en", "status": "proposed",
                              "personal": {"birth_year": 1960 if theme == "parks" else 2000,
                                           "gender": "female" if theme == "parks" else "male",
                                           "district": "North", "consent": True}},
            time=f"2026-09-{7 + i % 20:02d}T10:00:00Z")
        add("ReactionCast", {"target_type": "idea", "target_id": f"i{i}", "idea_id": f"i{i}", "project_id": "p",
                             "voter": f"v{i}", "value": 1, "personal": {"birth_year": 1980, "gender": "female"}})
    add("ReactionCast", {"target_type": "comment", "target_id": "c1", "idea_id": "i0", "project_id": "p",
                         "voter": "v0", "value": 1, "personal": {}})
    add("IdeaEdited", {"idea_id": "i0", "project_id": "p", "title": "Edited", "body": "trees park garden shade",
                       "language": "en"})
    add("IdeaWithdrawn", {"idea_id": "i1", "project_id": "p", "from_status": "proposed"})
    add("IdeaMerged", {"idea_id": "i2", "project_id": "p", "survivor_id": "i4", "from_status": "proposed"})
    add("ReactionRetracted", {"target_type": "idea", "target_id": "i2", "idea_id": "i2", "project_id": "p",
                              "voter": "v2", "value": 0, "previous": 1, "personal": {}})
    add("ReactionCast", {"target_type": "idea", "target_id": "i2", "idea_id": "i2", "project_id": "p",
                         "voter": "v99", "value": 1, "personal": {"gender": "prefer_not_to_say"}})
    add("IdeaStatusChanged", {"idea_id": "i3", "project_id": "p", "title": "Idea 3", "from": "proposed",
                              "to": "accepted", "decision": True})
    return events


def projection(events):
    """What the service's Mongo projection holds after ``events`` (same functions as the service)."""
    ideas, supports, project = {}, {}, {"title": "p", "phases": {}, "position": 0}
    for e in events:
        if e.type in live.IDEA_TYPES:
            doc = live.idea_record(e, ideas.get(e.data["idea_id"]))
            if doc:
                ideas[e.data["idea_id"]] = doc
        elif e.type in live.VOTE_TYPES:
            doc = live.support_record(e)
            if doc:
                supports[doc["sid"]] = doc
        elif e.type == "ProjectCreated":
            project["title"] = e.data["title"]
        elif e.type == "PhaseAdded":
            project["phases"][e.data["phase_id"]] = {"phase_id": e.data["phase_id"], "kind": e.data["kind"],
                                                     "title": e.data["title"], "start": e.data["start"],
                                                     "end": e.data["end"]}
        project["position"] = max(project["position"], e.position) if e.type in live.PROJECT_TYPES else \
            project["position"]
    return project, list(ideas.values()), list(supports.values())


def build(events):
    c = live.Corpus("t", "p", params=TopicParams(k=2, passes=3))
    for e in events:
        c.apply(e)
    return c


def test_events_build_the_corpus_and_are_applied_once():
    events = history()
    c = build(events)
    assert set(c.state.ideas) == {f"i{i}" for i in range(24)} - {"i1", "i2"}
    assert c.meta["i1"]["status"] == "withdrawn" and c.meta["i2"]["status"] == "merged"
    assert c.meta["i3"]["status"] == "accepted" and c.meta["i0"]["title"] == "Edited"
    # i2's support moved to i4, was retracted through the merge; v99's new one lands on i4 too
    assert set(c.state.ideas["i4"].supports) == {"i4:v4", "i2:v99"}
    assert c.state.ideas["i4"].supports["i2:v99"] == {"__voter__": "v99"}     # the voter: unit of the tests
    version = c.version
    assert not c.apply(events[5]) and c.version == version           # a replayed position is ignored
    assert c.status()["n_supports"] == 24 - 1 - 1 + 1     # withdrawn i1, retracted v2, new v99


def test_projection_documents_rebuild_the_same_corpus():
    events = history()
    live_c = build(events)
    project, ideas, supports = projection(events)
    rebuilt = live.Corpus("t", "p", params=TopicParams(k=2, passes=3))
    rebuilt.load(project, ideas, supports)
    assert list(rebuilt.state.ideas) == list(live_c.state.ideas)            # same order → same model
    for iid, rec in live_c.state.ideas.items():
        other = rebuilt.state.ideas[iid]
        assert (other.text, other.analyzed.tokens, other.demographics, other.supports) == \
            (rec.text, rec.analyzed.tokens, rec.demographics, rec.supports)
    assert rebuilt.meta == live_c.meta and rebuilt.phases == live_c.phases and rebuilt.title == "Project P"
    assert rebuilt.last_position == live_c.last_position
    live_c.state.retrain()
    rebuilt.state.retrain()
    assert live.base_report(live_c) == live.base_report(rebuilt)


def test_views_and_tables():
    c = build(history())
    c.state.retrain()
    report = live.base_report(c)
    v = live.view(c, report, phase="ph2")
    assert set(v["assignments"]) == {"i20", "i21", "i22", "i23"} and v["meta"]["n_ideas"] == 4
    only = live.view(c, report, measure="ideas", dimension="gender")
    assert {(r["measure"], r["dimension"]) for r in only["segments"]} == {("ideas", "gender")}
    t = live.tables(c, live.view(c, report))
    assert set(t) == set(live.TABLES)
    assert sum(r["n_ideas"] for r in t["topics"]) == len(c.state.ideas)
    assert [r["idea_id"] for r in t["assignments"]][:2] == ["i0", "i3"]            # submission order
    assert {r["week"] for r in t["trends"]} <= {"2026-09-07", "2026-09-14", "2026-09-21"}
    assert sum(r["n_ideas"] for r in t["trends"]) == len(c.state.ideas)
    assert live.week_of("2026-09-13T23:59:00Z") == "2026-09-07" and live.week_of("nonsense") is None


def test_ballots_are_supports_and_replacements_drop_the_previous_ballot():
    c = build(history())
    c.apply_ballot("r1:v1", ["i0", "i3"], live.demographics({"birth_year": 1990, "gender": "male"}))
    assert "i0:ballot:r1:v1" in c.state.ideas["i0"].supports
    c.apply_ballot("r1:v1", ["i4"], {})
    assert "i0:ballot:r1:v1" not in c.state.ideas["i0"].supports and "i4:ballot:r1:v1" in c.state.ideas["i4"].supports
    c.apply_ballot("r1:v1", None, None)
    assert not any(":ballot:" in s for r in c.state.ideas.values() for s in r.supports)
    assert live.ballot_items({"ballot": {"projects": ["a", "b"], "points": None}}) == ["a", "b"]


def test_csv_and_xlsx_exports():
    rows = [{"a": 1, "b": "=HYPERLINK(\"x\")", "c": None, "d": True}, {"a": 2, "e": "é"}]
    text = export.to_csv(rows).decode("utf-8-sig")
    assert text.splitlines()[0] == "a,b,c,d,e"
    assert "'=HYPERLINK" in text and "é" in text                       # formula injection neutralised
    wb = load_workbook(io.BytesIO(export.to_xlsx({"t": rows, "u": []})))
    assert wb.sheetnames == ["t", "u"] and wb["t"].max_row == 3 and wb["t"]["B2"].value.startswith("'=")


def test_votes_handled_before_their_idea_wait_for_it():
    events = history()
    ideas_first = build(events)
    votes = [e for e in events if e.type in live.VOTE_TYPES]
    others = [e for e in events if e.type not in live.VOTE_TYPES]
    votes_first = build(votes[:10] + others + votes[10:])       # the votes subscription ran ahead
    assert {i: r.supports for i, r in votes_first.state.ideas.items()} == \
        {i: r.supports for i, r in ideas_first.state.ideas.items()}
    assert not votes_first.pending
    assert votes_first.positions == ideas_first.positions
