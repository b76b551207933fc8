"""The application over the real store and the board's read models: list filters, sorts, cursor pages, counts,
comment tree, vote counting (votes-service events), merge, the moderation queue, erasure, strictness (what cannot
be applied is parked, never counted), batches, indexed listing, and rebuilds (identical documents)."""
import datetime as dt

import pytest

from agora.errors import BadRequest, Conflict, ValidationFailed
from agora.events.envelope import StoredEvent
from ideas import projections, schemas
from ideas.projections import COLLECTIONS

from ideas_support import ADMIN, ALICE, BOB, MOD, T, open_phases, react, who


def snapshot(db):
    return {name: sorted(db[name].find(), key=lambda d: str(d["_id"])) for name in COLLECTIONS}


def L(schema, body):
    """What the route layer hands a use case: the body loaded with the route's request schema."""
    return schema().load(body)


def new_project(app, title="Green Ghent", **more):
    return app.create_project(T, ADMIN, L(schemas.ProjectCreateIn, dict(title=title, phases=open_phases(),
                                                                         **more)))["project_id"]


def submit(app, pid, title, caller=ALICE, **more):
    return app.submit_idea(T, caller, L(schemas.IdeaSubmitIn, dict(project_id=pid, title=title,
                                                                   body=title + " 🌳 حديقة", **more)))["idea_id"]


def comment(app, idea, body, caller, **more):
    return app.comment(T, caller, idea, L(schemas.CommentIn, dict(body=body, **more)))["comment_id"]


def moderate(app, target_type, target_id, action, reason, caller=MOD):
    return app.moderate(T, caller, target_type, target_id, L(schemas.ModerationIn, {"action": action,
                                                                                   "reason": reason}))


def status(app, idea, to, feedback=""):
    return app.decide_status(T, ADMIN, idea, L(schemas.StatusChangeIn, {"status": to, "feedback": feedback}))


@pytest.fixture
def world(app, store, board):
    pid = new_project(app)
    ids = {}
    texts = [("trees", "Plant more trees in the park", ["green", "park"]),
             ("lane", "A bicycle lane on the main street", ["mobility"]),
             ("bench", "More benches in the park", ["park"]),
             ("lights", "Better street lights at night", ["safety"]),
             ("dup", "Plant trees in our park please", ["green"]),
             ("spam", "Buy cheap stuff", []),
             ("gone", "An idea I withdraw", [])]
    for key, title, tags in texts:
        ids[key] = submit(app, pid, title, ALICE if key != "lane" else BOB, tags=tags)
    c1 = comment(app, ids["trees"], "Yes please", BOB)
    c2 = comment(app, ids["trees"], "Agreed", ALICE, parent_id=c1)
    comment(app, ids["trees"], "Deep reply", BOB, parent_id=c2)
    rude = comment(app, ids["trees"], "rude words", BOB)
    app.flag(T, ALICE, "comment", rude, {"reason": "rude"})
    moderate(app, "comment", rude, "hide", "insult")
    app.flag(T, BOB, "idea", ids["spam"], {"reason": "spam"})
    moderate(app, "idea", ids["spam"], "hide", "spam")
    app.withdraw_idea(T, ALICE, ids["gone"], {})
    status(app, ids["lights"], "under_review")
    status(app, ids["lights"], "accepted", "We will do it")
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
    app.merge_ideas(T, ADMIN, ids["dup"], L(schemas.MergeIn, {"into": ids["trees"], "reason": "duplicate"}))
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
    assert listed(mongo_db, sort="most_voted") == [ids["lane"], ids["trees"], ids["bench"], ids["lights"]]
    tree = projections.idea_detail(mongo_db, T, ids["trees"])["comments"]
    assert tree[0]["votes_up"] == 1


def test_cursor_pages_cover_everything_once(world, mongo_db):
    pid, ids, _ = world
    for sort in ("new", "most_voted", "trending"):
        for scope in ({}, {"project_id": pid}):
            full = listed(mongo_db, sort=sort, **scope)
            seen, cursor = [], None
            while True:
                page = projections.list_ideas(mongo_db, T, sort=sort, limit=1, cursor=cursor, **scope)
                seen += [i["idea_id"] for i in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == full and len(full) == 4, (sort, scope)
    page = projections.list_ideas(mongo_db, T, sort="new", limit=2)
    with pytest.raises(BadRequest):
        projections.list_ideas(mongo_db, T, sort="most_voted", cursor=page["next_cursor"])
    for garbage in ("not-a-cursor!", "eyJrIjpbMV19", "eyJzIjoibmV3IiwiayI6WyJ4Il19",
                    "eyJzIjoibmV3IiwiayI6WzFlMzA4XX0"):
        with pytest.raises(BadRequest):
            projections.list_ideas(mongo_db, T, cursor=garbage)


def test_trending_favours_recent_votes_and_comments(world, mongo_db):
    _, ids, _ = world
    items = projections.list_ideas(mongo_db, T, sort="trending")["items"]
    # trees: 3 up + 4 comments; lane: 3 up, no comment — same age
    assert [i["idea_id"] for i in items][:2] == [ids["trees"], ids["lane"]]
    scores = [i["trending_score"] for i in items]
    assert scores == sorted(scores, reverse=True)


def test_counts_and_detail_show_names_never_ids(world, mongo_db):
    pid, ids, c = world
    counts = projections.count_by_status(mongo_db, T, pid)
    assert counts["by_status"] == {"accepted": 1, "merged": 1, "proposed": 3, "withdrawn": 1}
    assert counts["total"] == 6                                    # the hidden one is not counted
    assert projections.count_by_status(mongo_db, T) == dict(counts, project_id=None)
    assert projections.count_by_status(mongo_db, "elsewhere") == {"project_id": None, "total": 0, "by_status": {}}
    detail = projections.idea_detail(mongo_db, T, ids["trees"])
    assert detail["comment_count"] == 4 and detail["title"] == "Plant more trees in the park"
    assert detail["body"].endswith("🌳 حديقة") and detail["author_name"] == "citizen"
    assert not {"author", "decided_by", "personal", "seq", "n", "pn"} & set(detail)
    [c1, rude] = detail["comments"]
    assert c1["comment_id"] == c["c1"] and c1["replies"][0]["comment_id"] == c["c2"]
    assert c1["replies"][0]["replies"][0]["body"] == "Deep reply" and "author" not in c1
    assert rude["hidden"] is True and rude["body"] is None and rude["flag_count"] == 1
    assert projections.idea_detail(mongo_db, T, ids["trees"], moderator=True)["comments"][1]["body"] == "rude words"
    spam = projections.idea_detail(mongo_db, T, ids["spam"])
    assert spam["hidden"] and spam["title"] is None and spam["flag_count"] == 1
    lights = projections.idea_detail(mongo_db, T, ids["lights"])
    assert (lights["status"], lights["feedback"]) == ("accepted", "We will do it")


def test_events_carry_pseudonyms_and_public_views_display_names(app, store, board, mongo_db):
    pid = new_project(app)
    idea = submit(app, pid, "Water fountain", ALICE, display_name="Alice from Ledeberg",
                  demographics={"birth_year": 1984, "consent": True})
    c = comment(app, idea, "Nice", BOB, display_name="Bob")
    alice, bob = store.person_id(T, "alice"), store.person_id(T, "bob")
    assert alice.startswith("p-") and alice != bob
    [ev] = store.read_stream(T, f"idea-{idea}")
    assert ev.data["author"] == alice and ev.data["personal"]["display_name"] == "Alice from Ledeberg"
    assert store.read_stream(T, f"comment-{c}")[0].data["author"] == bob
    for stream_events in (store.read_stream(T, f"project-{pid}"), store.read_stream(T, f"idea-{idea}")):
        assert "alice" not in str([e.data for e in stream_events]).replace("Alice from", "")
        assert "'ada'" not in str([e.data for e in stream_events])
    board.poll()
    detail = projections.idea_detail(mongo_db, T, idea)
    assert detail["author_name"] == "Alice from Ledeberg" and detail["comments"][0]["author_name"] == "Bob"
    assert alice not in str(detail) and alice not in str(projections.list_ideas(mongo_db, T))


def test_moderation_queue(app, store, board, mongo_db):
    pid = new_project(app)
    other = new_project(app, "Other project")
    a = submit(app, pid, "Nice idea")
    b = submit(app, pid, "Spammy idea")
    x = submit(app, other, "Elsewhere")
    ca = comment(app, a, "rude words here", BOB)
    app.flag(T, BOB, "idea", b, {"reason": "spam"})
    app.flag(T, who("carol", "citizen"), "idea", b, {"reason": "spam"})
    app.flag(T, who("dan", "citizen"), "idea", b, {"reason": "off topic"})
    app.flag(T, ALICE, "comment", ca, {"reason": "insult"})
    app.flag(T, ALICE, "idea", x, {"reason": "spam"})
    board.poll()
    queue = projections.moderation_queue(mongo_db, T, project_id=pid)
    assert [(i["target_type"], i["target_id"]) for i in queue["items"]] == [("comment", ca), ("idea", b)]
    item = queue["items"][1]
    assert item["flag_count"] == 3 and item["open_flags"] == 3 and item["source"] == "flags"
    assert item["reasons"] == [{"reason": "spam", "count": 2}, {"reason": "off topic", "count": 1}]
    assert item["idea_title"] == "Spammy idea" and item["author_name"] == "citizen"
    assert queue["items"][0]["body"] == "rude words here"
    assert len(projections.moderation_queue(mongo_db, T)["items"]) == 3          # every project
    # paging
    first = projections.moderation_queue(mongo_db, T, limit=2)
    rest = projections.moderation_queue(mongo_db, T, limit=2, cursor=first["next_cursor"])
    assert [i["target_id"] for i in first["items"] + rest["items"]] == [x, ca, b] and rest["next_cursor"] is None
    # hide, dismiss, restore from the queue
    moderate(app, "idea", b, "hide", "spam")
    moderate(app, "comment", ca, "dismiss", "robust, not rude")
    with pytest.raises(Conflict):
        moderate(app, "comment", ca, "dismiss", "again")
    board.poll()
    assert [i["target_id"] for i in projections.moderation_queue(mongo_db, T, project_id=pid)["items"]] == []
    assert [i["target_id"] for i in projections.moderation_queue(mongo_db, T, project_id=pid,
                                                                 state="hidden")["items"]] == [b]
    moderate(app, "idea", b, "restore", "appeal granted")
    app.flag(T, who("erin", "citizen"), "comment", ca, {"reason": "insult"})       # flagged again: back in
    board.poll()
    [back] = projections.moderation_queue(mongo_db, T, project_id=pid)["items"]
    assert back["target_id"] == ca and back["open_flags"] == 1 and back["flag_count"] == 2
    assert {i["target_id"] for i in projections.moderation_queue(mongo_db, T, state="done")["items"]} == {b}


def test_erasure_drops_identifiers_and_display_names_counts_stay(app, store, board, mongo_db):
    pid = new_project(app)
    idea = submit(app, pid, "Quiet streets", ALICE, display_name="Alice Q.",
                  demographics={"birth_year": 1970, "gender": "male", "district": "Wondelgem", "consent": True})
    other = submit(app, pid, "Bob's idea", BOB)
    comment(app, other, "I agree", ALICE, display_name="Alice Q.")
    alice = store.person_id(T, "alice")
    react(store, T, pid, other, alice, 1)
    board.poll()
    before = projections.ideas_by_id(mongo_db, T, [idea, other])
    assert before[other]["votes_up"] == 1 and before[idea]["author"] == alice

    def holds_alice():
        text = str(snapshot(mongo_db))
        return [s for s in (alice, "Alice Q.", "Wondelgem", "1970", "'alice'") if s in text]
    assert holds_alice()
    res = app.erase(T, ADMIN, L(schemas.ErasureIn, {"person": "alice", "reason": "GDPR art. 17 request"}))
    assert res == {"person": alice}
    forgotten = store.read_stream(T, f"person-{alice}")[-1]
    assert forgotten.type == "PersonalDataForgotten" and "alice" not in str(forgotten.data).replace(alice, "")
    assert forgotten.data["requested_by"] == store.person_id(T, "ada")
    late = submit(app, pid, "After the erasure", BOB)                 # in the same batch as the erasure
    comment(app, late, "late comment", BOB)
    board.poll()
    assert holds_alice() == []
    assert projections.idea_detail(mongo_db, T, late)["comments"][0]["body"] == "late comment"
    after = projections.ideas_by_id(mongo_db, T, [idea, other])
    assert after[other]["votes_up"] == 1 and after[idea]["title"] == "Quiet streets"      # counts and content stay
    assert projections.idea_detail(mongo_db, T, idea)["author_name"] == "citizen"
    assert projections.idea_detail(mongo_db, T, other)["comments"][0]["author_name"] == "citizen"
    assert store.person_id(T, "alice") != alice                        # a returning person is someone new
    assert app.erase(T, ADMIN, {"person": "never-seen", "reason": "x"}) == {"person": None}
    # a rebuild reproduces the erased state (the log's personal parts are shredded, the forget event replays)
    erased = snapshot(mongo_db)
    projections.rebuild(store, mongo_db)
    assert snapshot(mongo_db) == erased


def test_what_cannot_be_applied_is_parked_not_counted(app, store, board, mongo_db):
    pid = new_project(app)
    idea = submit(app, pid, "Counted idea")
    react(store, T, pid, idea, "v1", 1)
    react(store, T, pid, "no-such-idea", "v2", 1)                  # a reaction the board cannot place
    react(store, T, pid, idea, "v3", 1)
    board.poll()
    assert projections.ideas_by_id(mongo_db, T, [idea])[idea]["votes_up"] == 2
    [parked] = board.parked()
    assert parked["type"] == "ReactionCast" and "no-such-idea" in parked["error"]
    # an event without a voter (written around the store's validation) is refused by the handler, never counted
    bad = StoredEvent(id="e-bad", type="ReactionCast", source="/agora/votes", tenant=T, stream="reactions-x",
                      version=1, position=10 ** 9, time="2026-01-01T00:00:00Z", schema_version=1,
                      data={"target_type": "idea", "target_id": idea, "idea_id": idea, "project_id": pid,
                            "phase_id": "vote", "value": 1, "previous": 0, "personal": {}})
    with pytest.raises(KeyError):
        projections.apply(mongo_db, bad)
    assert projections.ideas_by_id(mongo_db, T, [idea])[idea]["votes_up"] == 2


def test_batches_and_single_events_build_the_same_documents(world, store, mongo_db):
    batched = snapshot(mongo_db)
    projections.rebuild(store, mongo_db)                               # batches of 200
    assert snapshot(mongo_db) == batched
    for name in COLLECTIONS:
        mongo_db[name].delete_many({})
    for event in store.iter_all(T):                                    # one event per transaction
        if event.type in projections.ALL_TYPES:
            projections.apply(mongo_db, event)
    assert snapshot(mongo_db) == batched


class Counting:
    """A database view counting the documents each query returns (to show a page reads a few windows)."""

    def __init__(self, db):
        self.db, self.read = db, 0

    def __getitem__(self, name):
        outer, coll = self, self.db[name]

        class View:
            def find(self, *a, **kw):
                docs = list(coll.find(*a, **kw))
                outer.read += len(docs)
                return docs

            def find_one(self, *a, **kw):
                outer.read += 1
                return coll.find_one(*a, **kw)
        return View()


def test_listing_reads_index_windows_not_the_tenant(app, store, board, mongo_db):
    from agora.events import NewEvent
    pid = new_project(app)
    phase = store.read_stream(T, f"project-{pid}")[1].data["phase_id"]
    n = 400
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=n)
    for i in range(n):                                                 # one idea an hour
        at = (start + dt.timedelta(hours=i)).isoformat().replace("+00:00", "Z")
        store.append(T, f"idea-x{i}", [NewEvent("IdeaSubmitted", {
            "idea_id": f"x{i}", "project_id": pid, "phase_id": phase, "title": f"Idea {i}", "body": "b",
            "language": "en", "author": f"p-{i}", "status": "proposed"}, time=at)])
    for i in range(0, n, 40):
        react(store, T, pid, f"x{i}", "v1", 1)
    board.poll()
    for sort in ("new", "most_voted", "trending"):
        for scope in ({}, {"project_id": pid}):
            view = Counting(mongo_db)
            page = projections.list_ideas(view, T, sort=sort, limit=20, **scope)
            assert len(page["items"]) == 20 and page["next_cursor"]
            assert view.read < n / 2, (sort, scope, view.read)
    top = projections.list_ideas(mongo_db, T, sort="most_voted", limit=12)["items"]
    assert [i["idea_id"] for i in top[:10]] == [f"x{i}" for i in range(360, -1, -40)]
    assert top[10]["idea_id"] == f"x{n - 1}"                           # then the newest unvoted


def test_custom_workflow_per_project(app):
    pid = new_project(app, "Fast track", workflow={"proposed": ["accepted", "rejected"]})
    idea = submit(app, pid, "Quick")
    assert status(app, idea, "accepted", "Yes")["status"] == "accepted"
    with pytest.raises(ValidationFailed):
        status(app, idea, "implemented")                               # not in this project's workflow


def test_concurrent_commands_on_one_stream_are_retried(app, store):
    import threading
    pid = new_project(app, "Busy")
    idea = submit(app, pid, "Popular")
    errors = []

    def flag(n):
        try:
            app.flag(T, who(f"user{n}", "citizen"), "idea", idea, {"reason": f"flag {n}"})
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
    assert sorted(e.data["flagged_by"] for e in events[1:]) == sorted(store.person_id(T, f"user{n}")
                                                                     for n in range(6))


def test_similar_ideas_use_the_projection(world, app, board):
    pid, ids, _ = world
    sims = app.similar(T, pid, "We should plant trees in the park")
    assert sims[0]["idea_id"] == ids["trees"] and sims[0]["score"] > 0.3
    assert ids["dup"] not in {s["idea_id"] for s in sims}           # merged ideas are no candidates
    assert ids["spam"] not in {s["idea_id"] for s in sims}
    res = app.submit_idea(T, BOB, L(schemas.IdeaSubmitIn, {"project_id": pid, "title": "Trees for the park",
                                                           "body": "plant trees"}))
    assert res["similar"][0]["idea_id"] == ids["trees"] and len(res["similar"]) <= 5
    board.poll()
    assert res["idea_id"] in {s["idea_id"] for s in app.similar(T, pid, "trees park plant")}
