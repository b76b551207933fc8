import concurrent.futures as cf
from datetime import datetime, timedelta, timezone

import requests

from agora.events.envelope import NewEvent
from agora.privacy import any_small
from agora.store import EventStore
from agora.web import http_entrypoints_of
from votes import projections
from votes.service import VotesService


def _events(world, types):
    return world.events(types)


def test_cast_change_retract_and_tally_with_segments(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    ann = {"consent": True, "birth_year": 1990, "gender": "female", "district": "north"}
    r = world.react("ann", iid, 1, personal=ann)
    assert r.status_code == 201 and r.json()["result"] == "cast"
    assert world.react("ann", iid, 1, personal=ann).json()["result"] == "unchanged"
    assert world.react("bob", iid, 1).status_code == 201
    assert world.react("bob", iid, -1).json()["result"] == "changed"
    r = world.http.delete(world.api(f"/ideas/{iid}/reaction"), headers=world.headers("bob"))
    assert r.json()["result"] == "retracted"
    assert world.http.get(world.api(f"/ideas/{iid}/reaction"), headers=world.headers("ann")).json()["value"] == 1
    t = world.settled_tally(iid)
    assert (t["up"], t["down"], t["total"]["votes"], t["segments"]) == (1, 0, 1, None)   # the public: totals
    # staff see segments, and a single voter's cell is suppressed (min_cell_size 5)
    staff = world.tally(iid, staff=True)
    assert staff["segments"]["gender"] == {"female": {"up": "< 5", "down": 0}} and staff["min_cell_size"] == 5
    types = [e.type for e in _events(world, {"ReactionCast", "ReactionChanged", "ReactionRetracted"})]
    assert types == ["ReactionCast", "ReactionCast", "ReactionChanged", "ReactionRetracted"]
    cast = _events(world, {"ReactionCast"})
    assert cast[0].data["personal"] == {"birth_year": 1990, "gender": "female", "district": "north"}
    assert cast[1].data["personal"] is None
    # the log names people by pseudonyms: no token subject in any event or stream name
    ann = world.store.person_id(world.tenant, "ann", create=False)
    assert cast[0].data["voter"] == ann and cast[0].stream == f"reactions-{pid}-{ann}"
    assert not any(sub in (e.stream + repr(e.data)) for e in _events(world, set(types)) for sub in ("ann", "bob"))
    assert cast[0].data["target_type"] == "idea" and cast[0].data["phase_id"] == phid and cast[0].data["value"] == 1


def test_twenty_parallel_requests_same_citizen_count_once(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    headers = world.headers("carol")
    url = world.api(f"/ideas/{iid}/reaction")

    def hit(i):
        return requests.put(url, json={"value": 1}, headers=headers).status_code
    with cf.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(hit, range(20)))
    assert codes.count(201) == 1 and codes.count(200) == 19, codes

    def retract(i):
        return requests.delete(url, headers=headers).status_code
    with cf.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(retract, range(20)))
    assert set(codes) == {200}
    assert len(_events(world, {"ReactionCast"})) == 1 and len(_events(world, {"ReactionRetracted"})) == 1
    t = world.settled_tally(iid)
    assert (t["up"], t["down"]) == (0, 0)


def test_limit_per_phase_holds_under_20_parallel_requests_and_up_only(world):
    pid, phid = world.project()
    ideas = [world.idea(pid, phid) for _ in range(20)]
    world.known(pid, phid)
    world.configure(pid, phid, max_up=3, downvoting=False)
    for iid in ideas:
        world.known_idea(iid)
    headers = world.headers("dave")

    def hit(iid):
        return requests.put(world.api(f"/ideas/{iid}/reaction"), json={"value": 1}, headers=headers)
    with cf.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(hit, ideas))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 3 and codes.count(409) == 17, codes
    assert {r.json()["details"]["reason"] for r in responses if r.status_code == 409} == {"limit_reached"}
    r = world.react("dave", ideas[0], -1)
    assert r.status_code == 409 and r.json()["details"]["reason"] == "downvoting_disabled"
    world.settled_tally(ideas[0])
    assert sum(world.tally(i)["up"] for i in ideas) == 3


def test_closed_phase_unknown_idea_and_withdrawn(world):
    past = datetime.now(timezone.utc) - timedelta(days=10)
    pid, phid = world.project(start=past, end=past + timedelta(days=1))
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    r = world.react("erin", iid, 1)
    assert r.status_code == 409 and r.json()["details"]["reason"] == "phase_closed"
    assert world.react("erin", "nope", 1).status_code == 404
    assert not _events(world, {"ReactionCast"})
    open_pid, open_phid = world.project()
    withdrawn = world.idea(open_pid, open_phid)
    world.store.append(world.tenant, f"idea-{withdrawn}", [NewEvent("IdeaWithdrawn", {
        "idea_id": withdrawn, "project_id": open_pid, "from_status": "published", "withdrawn_by": "author",
        "reason": "done"})], 1)
    world.wait_for(lambda: world.react("erin", withdrawn, 1).json().get("details", {}).get("reason")
                   == "idea_withdrawn", "context learns the withdrawal")
    assert not _events(world, {"ReactionCast"})


def test_comment_likes(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    cid = world.comment(pid, iid)
    world.known(pid, phid)
    world.wait_for(lambda: world.http.get(world.api(f"/comments/{cid}/tally")).status_code == 200, "comment")
    for who in ("a", "b"):
        r = world.http.put(world.api(f"/comments/{cid}/like"), json={}, headers=world.headers(who))
        assert r.status_code == 201, r.text
    r = world.http.delete(world.api(f"/comments/{cid}/like"), headers=world.headers("b"))
    assert r.json()["result"] == "retracted"
    t = world.settled_tally(cid, "comments")
    assert (t["target_type"], t["up"], t["down"]) == ("comment", 1, 0)


def test_merged_idea_votes_follow_survivor(world):
    pid, phid = world.project()
    a, b = world.idea(pid, phid), world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(a)
    world.known_idea(b)
    assert world.react("u1", a, 1).status_code == 201
    assert world.react("u2", a, -1).status_code == 201
    assert world.react("u1", b, 1).status_code == 201     # u1 supports both: counted once after the merge
    world.merge(pid, a, b)
    world.wait_for(lambda: world.settled_tally(a)["merged_into"] == b, "merge")
    t = world.tally(b)
    assert (t["up"], t["down"]) == (1, 1)
    world.wait_for(lambda: world.http.get(world.api(f"/ideas/{a}/reaction"), headers=world.headers("u2")
                                          ).json()["counted_for"] == b, "context learns the merge")
    # a vote on the merged idea goes to the survivor; u2's earlier reaction on A is changed, not duplicated
    r = world.react("u2", a, 1)
    assert r.status_code == 200 and r.json()["counted_for"] == b and r.json()["result"] == "changed"
    assert world.react("u3", a, 1).json()["counted_for"] == b
    t = world.settled_tally(b)
    assert (t["up"], t["down"]) == (3, 0)
    assert world.tally(a)["up"] == 0


def test_manual_votes_as_at_and_rebuild_equals_live(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    for i in range(4):
        assert world.react(f"v{i}", iid, 1, personal={"consent": True, "birth_year": 1950 + 10 * i}).ok
    world.settled_tally(iid)
    moment = datetime.now(timezone.utc)
    for i in range(4, 6):
        assert world.react(f"v{i}", iid, -1).ok
    admin = world.headers("adm", ("admin",))
    r = world.http.put(world.api(f"/ideas/{iid}/manual-votes"), json={"up": 40, "down": 3, "reason": "library"},
                       headers=admin)
    assert r.status_code == 200 and r.json()["result"] == "set", r.text
    bad = world.http.put(world.api(f"/ideas/{iid}/manual-votes"), json={"up": 4}, headers=admin)
    assert bad.status_code == 422 and "reason" in bad.json()["details"]["fields"]
    assert world.http.put(world.api(f"/ideas/{iid}/manual-votes"), json={"up": 4, "reason": "x" * 5},
                          headers=world.headers("ann")).status_code == 403
    manual = _events(world, {"ManualVotesSet"})
    assert len(manual) == 1 and manual[0].data["reason"] == "library"
    assert manual[0].data["by"] == world.store.person_id(world.tenant, "adm", create=False)
    live = world.settled_tally(iid)
    assert (live["up"], live["down"], live["manual"], live["total"]["up"], live["total"]["down"]) == \
        (4, 2, {"up": 40, "down": 3}, 44, 5)
    then = world.tally(iid, as_at=moment.isoformat())
    assert (then["up"], then["down"], then["manual"]["up"]) == (4, 0, 0)
    assert world.tally(iid, staff=True, as_at=moment.isoformat())["segments"]["age"] == \
        {"40-60": {"up": "< 5", "down": 0}, "60-80": {"up": "< 5", "down": 0}}
    now = world.tally(iid, staff=True, as_at=datetime.now(timezone.utc).isoformat())
    strip = lambda t: {k: v for k, v in t.items() if k != "as_at"}  # noqa
    assert strip(now) == strip(world.tally(iid, staff=True))
    assert world.http.get(world.api(f"/ideas/{iid}/tally"), params={"as_at": "yesterday"}).status_code == 422
    # the tally projection is disposable: drop and rebuild from the log gives the live tallies
    # (rebuilt into a scratch copy of the log, so the running service's live projection is left alone)
    world.settled()
    before = {d["_id"]: d for d in world.db[projections.TALLY].find({}, {"projected_at": 0})}
    scratch = world.db.client.get_database("r_" + world.db.name[2:])
    try:
        scratch_store = EventStore(scratch).ensure_indexes()
        scratch.events.insert_many(list(world.store.events.find({})))
        # the log's personal parts are sealed (agora.personal): the copy needs the key vault to read them
        scratch.personal_keys.insert_many(list(world.db.personal_keys.find({})))
        projections.rebuild(scratch_store, scratch, "context")
        projections.rebuild(scratch_store, scratch, "tallies")
        after = {d["_id"]: d for d in scratch[projections.TALLY].find({}, {"projected_at": 0})}
    finally:
        world.db.client.drop_database(scratch.name)
    assert after == before and len(after) >= 1


def test_threshold_reached_and_expired_once(world):
    pid, phid = world.project()
    world.known(pid, phid)
    world.configure(pid, phid, threshold=2, expire_days=0.5)
    old = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    winner, loser = world.idea(pid, phid), world.idea(pid, phid, time=old)
    world.known_idea(winner)
    world.known_idea(loser)
    for who in ("x", "y", "z"):
        assert world.react(who, winner, 1).status_code == 201
    world.wait_for(lambda: world.settled_tally(winner)["proposal"], "threshold")
    world.wait_for(lambda: world.settled_tally(loser)["proposal"], "expiry")
    assert world.tally(winner)["proposal"]["status"] == "threshold_reached"
    assert world.tally(loser)["proposal"]["status"] == "expired"
    [r] = world.wait_for(lambda: (lambda r: [r] if r.status_code == 409 else None)(world.react("x", loser, 1)),
                         "context learns the expiry")
    assert r.json()["details"]["reason"] == "proposal_expired"
    assert world.http.get(world.api(f"/ideas/{loser}/reaction"), headers=world.headers("x")).json()["value"] == 0
    # idempotent: a later pass of the timer and more votes never emit again
    world.wait_for(lambda: world.react("w", winner, 1).status_code == 201, "vote")
    n_before = world.store.head()
    world.wait_for(lambda: world._checkpoint("tallies") >= n_before, "projection")
    import time as _t
    _t.sleep(2.5)   # at least one more expiry timer pass (not an assertion on timing)
    outcomes = _events(world, {"ThresholdReached", "Expired"})
    assert sorted((e.type, e.data["idea_id"]) for e in outcomes) == sorted(
        [("ThresholdReached", winner), ("Expired", loser)])
    assert outcomes[0].data["threshold"] == 2


def test_bad_input_auth_and_tenant_isolation(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    url = world.api(f"/ideas/{iid}/reaction")
    head = world.store.head()
    r = world.http.put(url, json={"value": 2, "personal": {"birth_year": 1800}}, headers=world.headers("a"))
    assert r.status_code == 422
    assert set(r.json()["details"]["fields"]) == {"value", "personal"}
    assert world.http.put(url, data=b"{nope", headers=world.headers("a")).status_code == 400
    assert world.http.put(url, json={"value": "1"}, headers=world.headers("a")).status_code == 422
    assert world.http.put(url, json={"value": 1, "personal": {"birth_year": 1990, "consent": False}},
                          headers=world.headers("a")).status_code == 422
    # who you are comes first: 401 and 403 before any 400/422
    assert world.http.put(url, data=b"{nope").status_code == 401
    assert world.http.put(url, json={"value": 2}, headers={"Authorization": "Bearer junk"}).status_code == 401
    other = world.new_tenant()
    assert world.http.put(url, json={"value": 2}, headers=world.headers("a", tenant=other)).status_code == 403
    assert world.http.put(url, json={"value": 1}, headers=world.headers("a", roles=("partner",))).status_code \
        == 403
    r = world.http.put(world.api(f"/projects/{pid}/phases/{phid}/voting"), json={"max_up": 0},
                       headers=world.headers("adm", ("admin",)))
    assert r.status_code == 422 and "max_up" in r.json()["details"]["fields"]
    assert world.http.put(world.api(f"/projects/{pid}/phases/{phid}/voting"), json={"max_up": 0},
                          headers=world.headers("a")).status_code == 403
    assert world.http.put(world.api(f"/ideas/{iid}/manual-votes"), json={"up": -1},
                          headers=world.headers("a")).status_code == 403
    assert world.store.head() == head          # nothing appended
    # another tenant's citizens cannot see or vote on this tenant's idea
    assert world.http.put(world.api(f"/ideas/{iid}/reaction", tenant=other), json={"value": 1},
                          headers=world.headers("a", tenant=other)).status_code == 404
    assert world.http.get(world.api(f"/ideas/{iid}/tally", tenant=other)).status_code == 404
    assert world.http.get(world.api(f"/ideas/{iid}/tally"), headers=world.headers("a", tenant=other)
                          ).status_code == 403


def test_unknown_tenant_is_404_before_anything_is_stored(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known_idea(iid)
    head = world.store.head()
    ghost = "ghost" + world.tenant          # never registered
    for method, path, body in [("PUT", f"/ideas/{iid}/reaction", {"value": 1}),
                               ("DELETE", f"/ideas/{iid}/reaction", None),
                               ("PUT", "/comments/c1/like", {}),
                               ("PUT", f"/ideas/{iid}/manual-votes", {"up": 1, "reason": "paper"}),
                               ("PUT", f"/projects/{pid}/phases/{phid}/voting", {}),
                               ("GET", f"/ideas/{iid}/tally", None), ("GET", f"/ideas/{iid}/reaction", None)]:
        r = world.http.request(method, world.api(path, tenant=ghost), json=body,
                               headers=world.headers("adm", ("admin", "citizen"), tenant=ghost))
        assert r.status_code == 404 and r.json()["error"] == "unknown_tenant", (method, path, r.text)
    assert world.store.head() == head
    assert world.store.person_id(ghost, "adm", create=False) is None


def test_idempotency_keys_are_scoped_to_the_caller_and_route(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    key = {"Idempotency-Key": "vote-1"}
    alice = world.react("alice", iid, 1, headers=key)
    bob = world.react("bob", iid, 1, headers=key)
    assert (alice.status_code, bob.status_code) == (201, 201)
    cast = _events(world, {"ReactionCast"})
    assert len(cast) == 2 and {e.data["voter"] for e in cast} == {
        world.store.person_id(world.tenant, s, create=False) for s in ("alice", "bob")}
    again = world.react("alice", iid, 1, headers=key)
    assert again.status_code == 201 and again.json() == alice.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert world.react("alice", iid, -1, headers=key).status_code == 422         # same key, another body
    admin = world.http.put(world.api(f"/ideas/{iid}/manual-votes"), json={"up": 3, "reason": "paper"},
                           headers={**world.headers("adm", ("admin",)), "Idempotency-Key": "paper-1"})
    assert admin.status_code == 200
    replay = world.http.put(world.api(f"/ideas/{iid}/manual-votes"), json={"up": 3, "reason": "paper"},
                            headers={**world.headers("alice"), "Idempotency-Key": "paper-1"})
    assert replay.status_code == 403                                        # not a replay of the admin's answer
    assert len(_events(world, {"ReactionCast"})) == 2 and len(_events(world, {"ManualVotesSet"})) == 1


def test_no_response_holds_a_small_segment_count_and_idea_demographics_are_not_reused(world):
    pid, phid = world.project()
    iid = world.idea(pid, phid, author="p-author",
                     personal={"birth_year": 1960, "gender": "male", "district": "east", "consent": True})
    world.known(pid, phid)
    world.known_idea(iid)
    k = 5
    # the idea's author votes without demographics: nothing of the idea's demographics is counted for them
    assert world.react("author", iid, 1).status_code == 201
    for i in range(7):
        assert world.react(f"y{i}", iid, 1, personal={"consent": True, "birth_year": 2000, "gender": "female",
                                                      "district": "north"}).status_code == 201
    for i in range(2):
        assert world.react(f"o{i}", iid, -1, personal={"consent": True, "birth_year": 1950, "gender": "male",
                                                       "district": "south"}).status_code == 201
    world.settled()
    responses = [world.tally(iid), world.tally(iid, staff=True),
                 world.tally(iid, staff=True, as_at=datetime.now(timezone.utc).isoformat()),
                 world.http.get(world.api(f"/ideas/{iid}/tally"),
                                headers=world.headers("m", ("moderator",))).json()]
    assert responses[0]["segments"] is None and responses[0]["total"]["votes"] == 10
    for body in responses:
        assert not any_small(body["segments"], k), body["segments"]
    # up: 7 female + 1 unknown (the author) → both suppressed (7 would reveal the 1); down: 2 in all → no cell shown
    small = "< 5"
    assert responses[1]["segments"]["gender"] == {"female": {"up": small, "down": small},
                                                  "male": {"up": 0, "down": small},
                                                  "unknown": {"up": small, "down": small}}
    assert set(responses[1]["segments"]["district"]) == {"north", "south", "unknown"}     # no "east"
    # a citizen's token does not open the segments
    assert world.http.get(world.api(f"/ideas/{iid}/tally"), headers=world.headers("c")).json()["segments"] is None


def test_erasure_drops_the_person_from_the_votes_read_models_and_counts_stay(world):
    pid, phid = world.project()
    a, b = world.idea(pid, phid), world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(a)
    world.known_idea(b)
    mine = {"consent": True, "birth_year": 1977, "gender": "non_binary", "district": "Zwijnaarde-Noord"}
    assert world.react("erin", a, 1, personal=mine).status_code == 201
    assert world.react("erin", b, -1, personal=mine).status_code == 201
    assert world.react("fred", a, 1, personal={"consent": True, "district": "centre"}).status_code == 201
    world.settled()
    before = (world.tally(a), world.tally(b))
    pseudonym = world.store.erase_subject(world.tenant, "erin", "asked", "dpo")
    world.settled()
    names = world.db.list_collection_names()
    text = repr([doc for c in names if c.startswith("votes_") for doc in world.db[c].find({"tenant": world.tenant})])
    for needle in (pseudonym, "erin", "Zwijnaarde-Noord", "1977", "non_binary"):
        assert needle not in text, needle
    assert (world.tally(a), world.tally(b)) == before              # the person's votes still count
    staff = world.tally(a, staff=True)
    assert "Zwijnaarde-Noord" not in repr(staff) and staff["up"] == 2
    # the erased person's later tokens are somebody new (once the service's vault cache let go of the pseudonym):
    # their old vote is not theirs any more
    world.wait_for(lambda: world.http.get(world.api(f"/ideas/{a}/reaction"), headers=world.headers("erin")
                                          ).json()["value"] == 0, "the pseudonym is forgotten")


def test_openapi_documents_every_route(world):
    doc = world.http.get(world.url + "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert http_entrypoints_of(VotesService) <= documented
    assert ("PUT", "/api/v1/tenants/{tenant}/ideas/{idea_id}/reaction") in documented
    op = doc["paths"]["/api/v1/tenants/{tenant}/ideas/{idea_id}/tally"]["get"]
    assert any(p["name"] == "as_at" and p["in"] == "query" for p in op["parameters"])


def test_a_requested_rebuild_is_blue_green_and_equals_live(world):
    """A rebuild requested while the service runs replays into copies and switches when caught up: the live
    tallies keep answering meanwhile and the result equals what was live."""
    from agora.projections import request
    pid, phid = world.project()
    iid = world.idea(pid, phid)
    world.known(pid, phid)
    world.known_idea(iid)
    for i in range(3):
        assert world.react(f"bg{i}", iid, 1).ok
    world.settled_tally(iid)
    world.settled()
    before = {d["_id"]: d for d in world.db[projections.TALLY].find({"tenant": world.tenant},
                                                                    {"projected_at": 0})}
    out = request(world.db, "votes", "tallies", wait_s=60)
    assert out["states"] == {"votes:tallies": "done"}, out
    assert world.db["projection_rebuilds"].find_one({"_id": "votes:tallies"})["mode"] == "blue-green"
    assert world.tally(iid)["up"] == 3
    after = {d["_id"]: d for d in world.db[projections.TALLY].find({"tenant": world.tenant}, {"projected_at": 0})}
    assert after == before and after
