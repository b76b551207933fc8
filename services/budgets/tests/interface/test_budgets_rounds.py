"""Budget rounds over HTTP: lifecycle, ballots, validation, permissions before validation, tenants, idempotency,
pseudonyms, erasure, concurrency, outcome, and the counting worker being reaped."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import psutil
import requests

from agora.events import validate


def _event_docs(world, **query):
    return list(world.db.events.find({"tenant": world.tenant, **query}))


def test_round_lifecycle_ballots_outcome_and_contract(world):
    t = world.tenant
    rid = world.open_round(title="Parks 2026", district="north", constraints={"max_projects": 3})
    world.add_project(rid, "p1", "600", "Playground")
    world.add_project(rid, "p2", "300.50", "Benches")
    world.add_project(rid, "p3", "500", "Trees")
    r = world.round(rid)
    assert r["status"] == "open" and r["budget"] == "1000" and [p["cost"] for p in r["projects"]] == [
        "600", "300.5", "500"]
    personal = {"birth_year": 1980, "gender": "female", "district": "north", "consent": True}
    first = world.cast(rid, "alice", ["p1", "p2"], personal)
    assert first.status_code == 201 and first.json()["result"] == "cast", first.text
    again = world.cast(rid, "alice", ["p3", "p2"], personal)
    assert again.status_code == 200 and again.json()["result"] == "replaced"
    mine = world.http.get(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("alice")).json()
    assert mine["projects"] == ["p3", "p2"] and mine["personal"]["gender"] == "female"
    assert "voter_id" not in mine
    assert world.cast(rid, "bob", ["p3"]).status_code == 201
    assert world.cast(rid, "carol", ["p3", "p2"]).status_code == 201
    assert world.cast(rid, "dave", ["p1"]).status_code == 201
    w = world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("dave"))
    assert w.status_code == 200 and w.json()["result"] == "withdrawn"
    assert world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("dave")).status_code == 409
    assert world.cast(rid, "erin", ["p1"]).status_code == 201
    # ballots are their own streams, named by the voter's pseudonym; the round stream has lifecycle and projects
    alice = world.person("alice")
    assert alice and alice != "alice"
    assert [e.type for e in world.store.read_stream(t, f"ballot-{rid}-{alice}")] == ["BallotCast", "BallotReplaced"]
    assert world.store.read_stream(t, f"ballot-{rid}-alice") == []
    assert [e.type for e in world.store.read_stream(t, f"round-{rid}")] == ["RoundOpened"] + ["ProjectAdded"] * 3
    # personal data is encrypted at rest, owned by the pseudonym; no event names a subject
    raw = world.db.events.find_one({"stream": f"ballot-{rid}-{alice}", "type": "BallotCast"})
    assert raw["data"]["voter"] == alice and raw["data"]["voter_id"] == alice and "_enc" in raw["data"]["personal"]
    dumped = json.dumps([{k: v for k, v in d.items() if k != "_id"} for d in _event_docs(world)], default=str)
    for sub in ("alice", "bob", "carol", "dave", "erin", "ada"):
        assert f'"{sub}"' not in dumped and f"-{sub}" not in dumped, sub
    # projects cannot be added once ballots were cast
    world.settled()
    late = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"id": "p9", "cost": "1", "title": "x"},
                           headers=world.admin())
    assert late.status_code == 409 and late.json()["details"]["reason"] == "ballots_already_cast"
    assert world.round(rid)["ballots"] == 4
    # counting needs a closed round
    early = world.http.post(world.api(f"/rounds/{rid}/outcome"), json={}, headers=world.admin())
    assert early.status_code == 409 and early.json()["details"]["reason"] == "round_not_closed"
    closed = world.close(rid)
    assert closed["ballots"] == 4
    assert world.cast(rid, "frank", ["p1"]).status_code == 409
    assert world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("bob")).status_code == 409
    out = world.count(rid)
    # scores: p3 = 3 (alice, bob, carol), p2 = 2, p1 = 1 (erin) -> greedy: p3 (500) + p2 (300.5), p1 does not fit
    assert out["selected"] == ["p3", "p2"] and out["total_cost"] == "800.5" and out["ballots"] == 4
    assert out["currency"] == "EUR" and out["computed_by"] == world.person("ada")
    got = world.http.get(world.api(f"/rounds/{rid}/outcome")).json()
    assert got["selected"] == ["p3", "p2"] and {p["id"]: p["selected"] for p in got["projects"]} == {
        "p1": False, "p2": True, "p3": True}
    why = world.http.get(world.api(f"/rounds/{rid}/outcome/projects/p1")).json()
    assert why["selected"] is False and "199.5" in why["explanation"] and why["rank"] == 3, why
    ok = world.http.get(world.api(f"/rounds/{rid}/outcome/projects/p3")).json()
    assert ok["selected"] is True and ok["project"]["title"] == "Trees"
    assert world.http.get(world.api(f"/rounds/{rid}/outcome/projects/nope")).status_code == 404
    # a different rule on demand: MES explains its decisions
    mes = world.count(rid, rule="mes-add1")
    assert mes["rule"] == "mes-add1" and all("mes" in p for p in mes["projects"] if p["votes"])
    # every stored budgets event satisfies its contract
    for e in world.store.read_stream(t, f"round-{rid}"):
        validate(e.type, dict(e.data))
    listing = world.http.get(world.api("/rounds"), params={"project_id": "proc-1"}).json()["items"]
    assert [i["round_id"] for i in listing] == [rid]


def test_count_leaves_no_defunct_worker(world):
    """The counting worker process is reaped before the answer (no `<defunct>` child of the service)."""
    rid = world.open_round(ballot_type="approval")
    world.add_project(rid, "a", "100")
    assert world.cast(rid, "u1", ["a"]).status_code == 201
    world.settled()
    world.close(rid)
    parent = psutil.Process(world.service.proc.proc.pid)
    for _ in range(2):
        assert world.count(rid, rule="mes")["selected"] == ["a"]
        children = parent.children(recursive=True)
        zombies = [c.pid for c in children if c.status() == psutil.STATUS_ZOMBIE]
        assert zombies == [], f"defunct children left: {zombies}"
        assert not [c for c in children if "budgets-count" in " ".join(c.cmdline() or [])]


def test_concurrent_casts_by_one_voter_end_with_one_ballot(world):
    rid = world.open_round(ballot_type="approval", constraints={"max_projects": 2})
    for pid in ("a", "b", "c"):
        world.add_project(rid, pid, "100")
    selections = [["a"], ["b"], ["c"], ["a", "b"], ["b", "c"]] * 4

    def cast(sel):
        return requests.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": sel},
                            headers=world.citizen("zoe"))
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(cast, selections))
    assert all(r.status_code in (200, 201) for r in results), [r.text for r in results if r.status_code >= 300]
    assert sorted(r.json()["result"] for r in results).count("cast") == 1
    events = world.store.read_stream(world.tenant, f"ballot-{rid}-{world.person('zoe')}")
    assert len(events) == 20 and events[0].type == "BallotCast" and {e.type for e in events[1:]} == {"BallotReplaced"}
    world.settled()
    assert world.round(rid)["ballots"] == 1
    assert world.db.budgets_ballots.count_documents({"tenant": world.tenant, "round_id": rid}) == 1
    last = world.http.get(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("zoe")).json()
    assert last["projects"] == events[-1].data["ballot"]["projects"]


def test_validation_names_every_violation(world):
    bad = world.http.post(world.api("/rounds"), headers=world.admin(), json={
        "budget": 12.5, "currency": "euro", "ballot_type": "knapsack", "rule": "dictator",
        "constraints": {"max_points_per_project": 3, "min_projects": 4, "max_projects": 2, "max_total_cost": "x"}})
    assert bad.status_code == 422
    fields = bad.json()["details"]["fields"]
    assert {"project_id", "budget", "currency", "rule", "constraints"} <= set(fields), fields
    text = " ".join(fields["constraints"])
    assert "max_points_per_project" in text and "min_projects (4) is above max_projects (2)" in text \
        and "max_total_cost" in text
    rid = world.open_round(constraints={"max_projects": 2, "min_total_share_percent": 50})
    for pid, cost in (("a", "600"), ("b", "300"), ("c", "200")):
        world.add_project(rid, pid, cost)
    r = world.cast(rid, "vic", ["a", "b", "c", "zzz", "a"])
    assert r.status_code == 422
    codes = {v["code"] for v in r.json()["details"]["violations"]}
    assert codes == {"unknown_project", "duplicate_project", "too_many_projects", "over_budget"}, r.json()
    assert len(r.json()["details"]["fields"]["selection"]) == 4
    r = world.cast(rid, "vic", ["c"])
    assert r.status_code == 422 and {v["code"] for v in r.json()["details"]["violations"]} == {"below_minimum_share"}
    # points ballots
    cum = world.open_round(ballot_type="cumulative", constraints={"max_total_points": 5, "max_points_per_project": 3})
    world.add_project(cum, "x", "100")
    world.add_project(cum, "y", "100")
    r = world.cast(cum, "vic", {"x": 4, "y": 3})
    assert r.status_code == 422
    assert {v["code"] for v in r.json()["details"]["violations"]} == {"too_many_points_for_project",
                                                                      "too_many_points"}
    assert world.cast(cum, "vic", {"x": 3, "y": 2}).status_code == 201
    one = world.open_round(ballot_type="choose-1")
    world.add_project(one, "a", "60")
    world.add_project(one, "b", "50")
    r = world.cast(one, "vic", ["a", "b"])
    assert r.status_code == 422 and "at most 1" in " ".join(r.json()["details"]["fields"]["selection"])
    # bad JSON, bad personal (no consent), bad project cost
    raw = world.http.put(world.api(f"/rounds/{rid}/ballot"), data=b"{nope", headers=world.citizen("vic"))
    assert raw.status_code == 400
    r = world.cast(rid, "vic", ["a"], personal={"gender": "robot", "consent": False})
    assert r.status_code == 422 and {"gender", "consent"} <= set(r.json()["details"]["fields"]["personal"])
    r = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"cost": -3}, headers=world.admin())
    assert r.status_code == 422 and {"cost", "title"} <= set(r.json()["details"]["fields"])
    assert world.store.read_stream(world.tenant, f"ballot-{rid}-{world.person('vic')}") == []


def test_permissions_come_before_validation_and_tenants_are_real(world):
    rid = world.open_round()
    world.add_project(rid, "a", "10")
    body = {"project_id": "p", "budget": "1", "currency": "EUR", "ballot_type": "approval"}
    assert world.http.post(world.api("/rounds"), json=body).status_code == 401
    # no token with a bad body: 401, not 400/422; a citizen with a bad body on an admin route: 403, not 422
    assert world.http.post(world.api("/rounds"), data=b"{nope").status_code == 401
    assert world.http.post(world.api("/rounds"), json={"budget": "x"}).status_code == 401
    assert world.http.post(world.api("/rounds"), json={"budget": "x"},
                           headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api("/rounds/nope!/projects"), json={},
                           headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api("/rounds"), json=body, headers={"Authorization": "Bearer junk"}).status_code == 401
    assert world.http.post(world.api("/rounds"), json=body, headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api(f"/rounds/{rid}/close"), headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api(f"/rounds/{rid}/outcome"), json={"rule": "nope"},
                           headers=world.citizen("eve")).status_code == 403
    assert world.http.get(world.api("/candidates"), headers=world.citizen("eve")).status_code == 403
    assert world.http.get(world.api(f"/rounds/{rid}/export.pb"), headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api("/rounds/import"), data=b"x", headers=world.citizen("eve")).status_code == 403
    assert world.http.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": 3}).status_code == 401
    partner = world.headers("erp", ("partner",))
    assert world.http.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": ["a"]},
                          headers=partner).status_code == 403
    # a token for another tenant is refused; the round does not exist in another (registered) tenant
    other_tenant = world.new_tenant()
    other = world.citizen("eve", tenant=other_tenant)
    assert world.http.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": ["a"]},
                          headers=other).status_code == 403
    assert world.cast(rid, "eve", ["a"], tenant=other_tenant).status_code == 404
    assert world.http.get(world.api(f"/rounds/{rid}", tenant=other_tenant)).status_code == 404
    assert world.http.get(world.api("/rounds", tenant=other_tenant)).json()["items"] == []
    assert world.http.get(world.api(f"/rounds/{rid}"), headers=other).status_code == 403
    assert world.http.get(world.api("/rounds/no-such-round")).status_code == 404
    dup = world.http.post(world.api("/rounds"), json=dict(body, round_id=rid), headers=world.admin())
    assert dup.status_code == 409 and dup.json()["details"]["reason"] == "round_exists"
    # an unknown tenant: 404 unknown_tenant on every route, before anything is stored
    head = world.store.head()
    ghost = "ghost-" + world.tenant
    for method, path, kw in (("post", "/rounds", {"json": body}), ("get", "/rounds", {}),
                             ("get", f"/rounds/{rid}", {}), ("put", f"/rounds/{rid}/ballot",
                                                             {"json": {"selection": ["a"]}}),
                             ("post", f"/rounds/{rid}/close", {}), ("get", "/candidates", {}),
                             ("post", "/rounds/import?project_id=x", {"data": b"META"})):
        roles = ("admin", "citizen")
        r = getattr(world.http, method)(world.api(path, tenant=ghost), headers=world.headers("ada", roles, ghost),
                                        **kw)
        assert r.status_code == 404 and r.json()["error"] == "unknown_tenant", (method, path, r.text)
    assert world.store.head() == head
    assert world.store.person_id(ghost, "ada", create=False) is None


def test_idempotency_is_per_caller_and_route(world):
    rid = world.open_round(ballot_type="approval")
    for pid in ("a", "b"):
        world.add_project(rid, pid, "10")
    key = {"Idempotency-Key": "ballot-1"}
    alice = world.cast(rid, "alice", ["a"], headers={**world.citizen("alice"), **key})
    bob = world.cast(rid, "bob", ["b"], headers={**world.citizen("bob"), **key})
    assert alice.status_code == bob.status_code == 201, (alice.text, bob.text)
    assert "Idempotent-Replayed" not in bob.headers
    t = world.tenant
    assert [e.data["ballot"]["projects"] for e in world.store.read_stream(t, f"ballot-{rid}-{world.person('alice')}")] \
        == [["a"]]
    assert [e.data["ballot"]["projects"] for e in world.store.read_stream(t, f"ballot-{rid}-{world.person('bob')}")] \
        == [["b"]]
    again = world.cast(rid, "alice", ["a"], headers={**world.citizen("alice"), **key})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == alice.json()
    assert len(world.store.read_stream(t, f"ballot-{rid}-{world.person('alice')}")) == 1
    other_body = world.cast(rid, "alice", ["b"], headers={**world.citizen("alice"), **key})
    assert other_body.status_code == 422
    # a citizen's key on an admin route: 403, never a replay
    stolen = world.http.post(world.api(f"/rounds/{rid}/close"), headers={**world.citizen("alice"), **key})
    assert stolen.status_code == 403
    # two admins opening rounds with the same key: two rounds
    body = {"project_id": "p", "budget": "1", "currency": "EUR", "ballot_type": "approval"}
    one = world.http.post(world.api("/rounds"), json=body, headers={**world.headers("ada"), **key})
    two = world.http.post(world.api("/rounds"), json=body, headers={**world.headers("max"), **key})
    assert one.status_code == two.status_code == 201 and one.json()["round_id"] != two.json()["round_id"]


def test_erasure_drops_the_person_from_read_models_and_keeps_the_counts(world):
    """Issue 16: after erase_subject, no budgets read model, response or export names the person or holds their
    demographics; their ballot still counts. Rebuilding the read models gives the same result."""
    from agora.projections import request as rebuild
    rid = world.open_round(ballot_type="approval")
    for pid in ("a", "b"):
        world.add_project(rid, pid, "10")
    personal = {"birth_year": 1977, "gender": "female", "district": "zuid", "consent": True}
    assert world.cast(rid, "mallory", ["a", "b"], personal).status_code == 201
    assert world.cast(rid, "nina", ["a"]).status_code == 201
    pseudonym = world.person("mallory")
    world.settled()
    assert world.db.budgets_ballots.find_one({"tenant": world.tenant, "voter_id": pseudonym})
    assert world.store.erase_subject(world.tenant, "mallory", reason="request", requested_by="dpo") == pseudonym
    world.settled()
    names = ("budgets_rounds", "budgets_ballots")

    def dump():
        return json.dumps({n: sorted(world.db[n].find({"tenant": world.tenant}), key=lambda d: d["_id"])
                           for n in names}, default=str)
    live = dump()
    assert pseudonym not in live and "mallory" not in live and "1977" not in live
    assert world.round(rid)["ballots"] == 2
    ballot = world.store.read_stream(world.tenant, f"ballot-{rid}-{pseudonym}")[0]
    assert ballot.data["personal"] is None and ballot.data.get("personal_shredded") is True
    world.close(rid)
    out = world.count(rid)
    assert out["ballots"] == 2 and out["selected"] == ["a", "b"]
    exported = world.http.get(world.api(f"/rounds/{rid}/export.pb"), headers=world.admin()).text
    assert pseudonym not in exported and "mallory" not in exported and "nina" not in exported
    # the erased person's ballot is anonymous in the read models; a rebuild equals live
    world.settled()                  # the outcome's event applied too
    live = dump()
    done = rebuild(world.db, "budgets", "rounds", wait_s=120)
    assert set(done["states"].values()) == {"done"}, done
    assert world.db["projection_rebuilds"].find_one({"_id": "budgets:rounds"})["mode"] == "blue-green"
    world.settled()
    rebuilt = dump()
    if rebuilt != live:
        import difflib
        a, b = json.loads(live), json.loads(rebuilt)
        raise AssertionError("\n".join(difflib.unified_diff(json.dumps(a, indent=1).splitlines(),
                                                              json.dumps(b, indent=1).splitlines(), lineterm="")))


def test_published_figures_hold_no_small_segment_counts(world):
    """Budgets publishes no demographic breakdown: public responses carry totals only (no segment cells)."""
    rid = world.open_round(ballot_type="approval")
    world.add_project(rid, "a", "10")
    assert world.cast(rid, "olga", ["a"], {"gender": "female", "consent": True}).status_code == 201
    world.settled()
    world.close(rid)
    world.count(rid)
    for path in ("/rounds", f"/rounds/{rid}", f"/rounds/{rid}/outcome", f"/rounds/{rid}/outcome/projects/a"):
        body = world.http.get(world.api(path)).json()
        text = json.dumps(body)
        assert "female" not in text and "gender" not in text and "segment" not in text, path
