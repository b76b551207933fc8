"""Read models over the real store: list filters, sorts, cursor pages, counts, comment tree, vote counting
(votes-service events), merge, and the rebuild-from-scratch guarantee (identical documents)."""
import pytest

from agora.errors import BadRequest
from ideas import projections
from ideas.projections import COLLECTIONS

from ideas_support import ADMIN, ALICE, BOB, MOD, open_phases, react

T = "ghent"


def snapshot(db):
    return {name: sorted(db[name].find(), key=lambda d: str(d["_id"])) for name in COLLECTIONS}


@pytest.fixture
def world(app, store, board):
    pid = app.create_project(T, {"title": "Green Ghent", "phases": open_phases()}, ADMIN)["project_id"]
    ids = {}
    texts = [("trees", "Plant more trees in the park", ["green", "park"]),
             ("lane", "A bicycle lane on the main street", ["mobility"]),
             ("bench", "More benches in the park", ["park"]),
             ("lights", "Better street lights at night", ["safety"]),
             ("dup", "Plant trees in our park please", ["green"]),
             ("spam", "Buy cheap stuff", []),
             ("gone", "An idea I withdraw", [])]
    for key, title, tags in texts:
        ids[key] = app.submit_idea(T, {"project_id": pid, "title": title, "body": title + " 🌳 حديقة",
                                       "tags": tags}, ALICE if key != "lane" else BOB)["idea_id"]
    c1 = app.comment(T, ids["trees"], {"body": "Yes please"}, BOB)["comment_id"]
    c2 = app.comment(T, ids["trees"], {"body": "Agreed", "parent_id": c1}, ALICE)["comment_id"]
    app.comment(T, ids["trees"], {"body": "Deep reply", "parent_id": c2}, BOB)
    rude = app.comment(T, ids["trees"], {"body": "rude words"}, BOB)["comment_id"]
    app.flag(T, "comment", rude, {"reason": "rude"}, ALICE)
    app.moderate(T, "comment", rude, {"action": "hide", "reason": "insult"}, MOD)
    app.flag(T, "idea", ids["spam"], {"reason": "spam"}, BOB)
    app.moderate(T, "idea", ids["spam"], {"action": "hide", "reason": "spam"}, MOD)
    app.withdraw_idea(T, ids["gone"], {}, ALICE)
    app.change_status(T, ids["lights"], "under_review", "", ADMIN)
    app.change_status(T, ids["lights"], "accepted", "We will do it", ADMIN)
    # votes: lane 3 up, bench 2 up + 1 down, trees 1 up, dup 2 up (merged into trees later)
    for v in ("v1", "v2", "v3"):
        react(store, T, pid, ids["lane"], v, 1)
    react(store, T, pid, ids["bench"], "v1", 1)
    react(store, T, pid, ids["bench"], "v2", -1)
    react(store, T, pid, ids["bench"], "v2", 1, previous=-1, kind="ReactionChanged")
    react(store, T, pid, ids["bench"], "v3", -1)
    react(store, T, pid, ids["trees"], "v1", 1)
    react(store, T, pid, ids["dup"], "v4", 1)
    react(store, T, pid, ids["dup"], "v5", 1)
    react(store, T, pid, ids["lights"], "v1", 1)
    react(store, T, pid, ids["lights"], "v1", 0, previous=1, kind="ReactionRetracted")
    react(store, T, pid, ids["trees"], "v1", 1, target_type="comment", target_id=c1)
    board.poll()
    app.merge_ideas(T, ids["dup"], {"into": ids["trees"], "reason": "duplicate"}, ADMIN)
    react(store, T, pid, ids["dup"], "v6", 1)                  # a late vote on the merged idea counts for trees
    react(store, T, pid, ids["dup"], "v4", 0, previous=1, kind="ReactionRetracted")
    board.poll()
    return pid, ids, {"c1": c1, "c2": c2, "rude": rude}


def listed(db, **kw):
    return [i["idea_id"] for i in projections.list_ideas(db, T, limit=100, **kw)["items"]]


def test_list_filters_and_default_visibility(world, mongo_db):
    pid, ids, _ = world
    visible = {ids[k] for k in ("trees", "lane", "bench", "lights")}
    assert set(listed(mongo_db, project_id=pid)) == visible          # not withdrawn, merged or hidden
    assert listed(mongo_db, project_id=pid, sort="new")[0] == ids["lights"]
    assert set(listed(mongo_db, tag="park")) == {ids["trees"], ids["bench"]}
    assert set(listed(mongo_db, tag="PARK")) == {ids["trees"], ids["bench"]}
    assert listed(mongo_db, status="accepted") == [ids["lights"]]
    assert listed(mongo_db, status="withdrawn") == [ids["gone"]]
    assert listed(mongo_db, status="merged") == [ids["dup"]]
    assert set(listed(mongo_db, text="PARK")) == {ids["trees"], ids["bench"]}
    assert listed(mongo_db, text="street lane") == [ids["lane"]]
    assert listed(mongo_db, text="حديقة main") == [ids["lane"]]
    phase = projections.get_project(mongo_db, T, pid)["phases"][0]["phase_id"]
    assert set(listed(mongo_db, phase_id=phase)) == visible
    assert listed(mongo_db, phase_id="nope") == []
    assert ids["spam"] in listed(mongo_db, include_hidden=True)
    assert listed(mongo_db, project_id="other") == []
    assert projections.list_ideas(mongo_db, "elsewhere")["items"] == []


def test_vote_counts_follow_reactions_and_merges(world, mongo_db):
    pid, ids, comments = world
    docs = projections.ideas_by_id(mongo_db, T, ids.values())
    assert (docs[ids["lane"]]["votes_up"], docs[ids["lane"]]["votes_down"]) == (3, 0)
    assert (docs[ids["bench"]]["votes_up"], docs[ids["bench"]]["votes_down"]) == (2, 1)
    assert docs[ids["lights"]]["votes_up"] == 0
    # trees: v1 + dup's v5 (moved at merge) + v6 (late vote on the merged idea); v4 retracted after the merge
    assert docs[ids["trees"]]["votes_up"] == 3
    assert docs[ids["trees"]]["merged_from"] == [ids["dup"]]
    assert docs[ids["dup"]]["merged_into"] == ids["trees"] and docs[ids["dup"]]["status"] == "merged"
    assert listed(mongo_db, project_id=pid, sort="most_voted") == [ids["lane"], ids["trees"], ids["bench"],
                                                                    ids["lights"]]
    tree = projections.idea_detail(mongo_db, T, ids["trees"])["comments"]
    assert tree[0]["votes_up"] == 1


def test_cursor_pages_cover_everything_once(world, mongo_db):
    pid, ids, _ = world
    for sort in ("new", "most_voted", "trending"):
        full = listed(mongo_db, sort=sort, status=None)
        seen, cursor = [], None
        while True:
            page = projections.list_ideas(mongo_db, T, sort=sort, limit=1, cursor=cursor)
            seen += [i["idea_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == full and len(full) == 4
    page = projections.list_ideas(mongo_db, T, sort="new", limit=2)
    with pytest.raises(BadRequest):
        projections.list_ideas(mongo_db, T, sort="most_voted", cursor=page["next_cursor"])
    with pytest.raises(BadRequest):
        projections.list_ideas(mongo_db, T, cursor="not-a-cursor!")


def test_trending_favours_recent_votes_and_comments(world, mongo_db):
    _, ids, _ = world
    items = projections.list_ideas(mongo_db, T, sort="trending")["items"]
    # trees: 3 up + 4 comments; lane: 3 up, no comment — same age
    assert [i["idea_id"] for i in items][:2] == [ids["trees"], ids["lane"]]
    scores = [i["trending_score"] for i in items]
    assert scores == sorted(scores, reverse=True)


def test_counts_and_detail(world, mongo_db):
    pid, ids, c = world
    counts = projections.count_by_status(mongo_db, T, pid)
    assert counts["by_status"] == {"accepted": 1, "merged": 1, "proposed": 3, "withdrawn": 1}
    assert counts["total"] == 6                                    # the hidden one is not counted
    detail = projections.idea_detail(mongo_db, T, ids["trees"])
    assert detail["comment_count"] == 4 and detail["title"] == "Plant more trees in the park"
    assert detail["body"].endswith("🌳 حديقة")
    [c1, rude] = detail["comments"]
    assert c1["comment_id"] == c["c1"] and c1["replies"][0]["comment_id"] == c["c2"]
    assert c1["replies"][0]["replies"][0]["body"] == "Deep reply"
    assert rude["hidden"] is True and rude["body"] is None and rude["flag_count"] == 1
    assert projections.idea_detail(mongo_db, T, ids["trees"], moderator=True)["comments"][1]["body"] == "rude words"
    spam = projections.idea_detail(mongo_db, T, ids["spam"])
    assert spam["hidden"] and spam["title"] is None and spam["flag_count"] == 1
    lights = projections.idea_detail(mongo_db, T, ids["lights"])
    assert (lights["status"], lights["feedback"], lights["decided_by"]) == ("accepted", "We will do it", "ada")
    assert "personal" not in detail and "seq" not in detail


def test_similar_ideas_use_the_projection(world, app, board):
    pid, ids, _ = world
    sims = app.similar(T, pid, "We should plant trees in the park")
    assert sims[0]["idea_id"] == ids["trees"] and sims[0]["score"] > 0.3
    assert ids["dup"] not in {s["idea_id"] for s in sims}           # merged ideas are no candidates
    assert ids["spam"] not in {s["idea_id"] for s in sims}
    res = app.submit_idea(T, {"project_id": pid, "title": "Trees for the park", "body": "plant trees"}, BOB)
    assert res["similar"][0]["idea_id"] == ids["trees"] and len(res["similar"]) <= 5
    board.poll()
    assert res["idea_id"] in {s["idea_id"] for s in app.similar(T, pid, "trees park plant")}


def test_rebuild_yields_identical_documents(world, store, mongo_db, board):
    before = snapshot(mongo_db)
    assert sum(len(v) for v in before.values()) > 10
    applied = projections.rebuild(store, mongo_db)
    assert applied == store.head()
    assert snapshot(mongo_db) == before
    assert board.position() == store.head()
    projections.drop(mongo_db)
    assert snapshot(mongo_db) != before
    board.reset()
    board.poll()
    assert snapshot(mongo_db) == before


def test_custom_workflow_per_project(app, store):
    pid = app.create_project(T, {"title": "Fast track", "phases": open_phases(),
                                 "workflow": {"proposed": ["accepted", "rejected"]}}, ADMIN)["project_id"]
    idea = app.submit_idea(T, {"project_id": pid, "title": "Quick", "body": "decide directly"}, ALICE)["idea_id"]
    res = app.change_status(T, idea, "accepted", "Yes", ADMIN)
    assert res["status"] == "accepted"
    with pytest.raises(Exception) as err:
        app.change_status(T, idea, "implemented", "", ADMIN)        # not in this project's workflow
    assert type(err.value).__name__ == "ValidationFailed"


def test_concurrent_commands_on_one_stream_are_retried(app, store):
    import threading
    pid = app.create_project(T, {"title": "Busy", "phases": open_phases()}, ADMIN)["project_id"]
    idea = app.submit_idea(T, {"project_id": pid, "title": "Popular", "body": "many flags"}, ALICE)["idea_id"]
    errors = []

    def flag(n):
        try:
            app.flag(T, "idea", idea, {"reason": f"flag {n}"}, {"sub": f"user{n}", "roles": ["citizen"]})
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
    threads = [threading.Thread(target=flag, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = store.read_stream(T, f"idea-{idea}")
    assert [e.version for e in events] == list(range(1, 8))
    assert sorted(e.data["flagged_by"] for e in events[1:]) == [f"user{n}" for n in range(6)]


def test_shredded_demographics_leave_ideas_and_read_models_intact(app, store, mongo_db, board):
    from ideas.domain import Idea
    pid = app.create_project(T, {"title": "Private", "phases": open_phases()}, ADMIN)["project_id"]
    idea = app.submit_idea(T, {"project_id": pid, "title": "Quiet streets", "body": "fewer cars",
                               "demographics": {"birth_year": 1970, "gender": "male", "consent": True}},
                           ALICE)["idea_id"]
    [ev] = store.read_stream(T, f"idea-{idea}")
    assert ev.data["personal"]["birth_year"] == 1970
    raw = mongo_db["events"].find_one({"eid": ev.id})["data"]
    assert raw["title"] == "Quiet streets" and "1970" not in str(raw["personal"])
    board.poll()
    before = snapshot(mongo_db)
    assert store.forget_person(T, "alice")
    [ev] = store.read_stream(T, f"idea-{idea}")
    assert ev.data["personal"] is None and ev.data["title"] == "Quiet streets"
    assert Idea.from_events(store.read_stream(T, f"idea-{idea}")).author == "alice"
    projections.rebuild(store, mongo_db)
    assert snapshot(mongo_db) == before                     # read models never held the demographics
