"""Budget rounds over HTTP: lifecycle, ballots, validation, auth, tenant isolation, concurrency, outcome."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from agora.events import validate


def test_round_lifecycle_ballots_outcome_and_contract(world):
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
    assert world.cast(rid, "bob", ["p3"]).status_code == 201
    assert world.cast(rid, "carol", ["p3", "p2"]).status_code == 201
    assert world.cast(rid, "dave", ["p1"]).status_code == 201
    w = world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("dave"))
    assert w.status_code == 200 and w.json()["result"] == "withdrawn"
    assert world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("dave")).status_code == 409
    assert world.cast(rid, "erin", ["p1"]).status_code == 201
    # ballots are their own streams; the round stream has only lifecycle and projects
    assert [e.type for e in world.store.read_stream("city", f"ballot-{rid}-alice")] == ["BallotCast",
                                                                                         "BallotReplaced"]
    assert [e.type for e in world.store.read_stream("city", f"round-{rid}")] == ["RoundOpened"] + [
        "ProjectAdded"] * 3
    # personal data is encrypted at rest, named by `voter`
    raw = world.db.events.find_one({"stream": f"ballot-{rid}-alice", "type": "BallotCast"})
    assert raw["data"]["voter"] == "alice" and raw["data"]["voter_id"] == "alice" and "_enc" in raw["data"]["personal"]
    # projects cannot be added once ballots were cast
    world.settled()
    late = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"id": "p9", "cost": "1", "title": "x"},
                           headers=world.admin())
    assert late.status_code == 409
    assert world.round(rid)["ballots"] == 4
    # counting needs a closed round
    assert world.http.post(world.api(f"/rounds/{rid}/outcome"), json={}, headers=world.admin()).status_code == 409
    closed = world.close(rid)
    assert closed["ballots"] == 4
    assert world.cast(rid, "frank", ["p1"]).status_code == 409
    assert world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("bob")).status_code == 409
    out = world.count(rid)
    # scores: p3 = 3 (alice, bob, carol), p2 = 2, p1 = 1 (erin) -> greedy: p3 (500) + p2 (300.5), p1 does not fit
    assert out["selected"] == ["p3", "p2"] and out["total_cost"] == "800.5" and out["ballots"] == 4
    assert out["currency"] == "EUR" and out["computed_by"] == "ada"
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
    for e in world.store.read_stream("city", f"round-{rid}"):
        validate(e.type, {k: v for k, v in e.data.items()})
    listing = world.http.get(world.api("/rounds"), params={"project_id": "proc-1"}).json()["items"]
    assert [i["round_id"] for i in listing] == [rid]


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
    events = world.store.read_stream("city", f"ballot-{rid}-zoe")
    assert len(events) == 20 and events[0].type == "BallotCast" and {e.type for e in events[1:]} == {"BallotReplaced"}
    world.settled()
    assert world.round(rid)["ballots"] == 1
    assert world.db.budgets_ballots.count_documents({"round_id": rid}) == 1
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
    # bad JSON, bad personal (no consent), bad project cost
    raw = world.http.put(world.api(f"/rounds/{rid}/ballot"), data=b"{nope", headers=world.citizen("vic"))
    assert raw.status_code == 400
    r = world.cast(rid, "vic", ["a"], personal={"gender": "robot", "consent": False})
    assert r.status_code == 422 and {"gender", "consent"} <= set(r.json()["details"]["fields"]["personal"])
    r = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"cost": -3}, headers=world.admin())
    assert r.status_code == 422 and {"cost", "title"} <= set(r.json()["details"]["fields"])
    assert world.store.read_stream("city", f"ballot-{rid}-vic") == []


def test_auth_roles_and_tenant_isolation(world):
    rid = world.open_round()
    world.add_project(rid, "a", "10")
    body = {"project_id": "p", "budget": "1", "currency": "EUR", "ballot_type": "approval"}
    assert world.http.post(world.api("/rounds"), json=body).status_code == 401
    assert world.http.post(world.api("/rounds"), json=body, headers={"Authorization": "Bearer junk"}).status_code == 401
    assert world.http.post(world.api("/rounds"), json=body, headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api(f"/rounds/{rid}/close"), headers=world.citizen("eve")).status_code == 403
    assert world.http.post(world.api(f"/rounds/{rid}/outcome"), json={},
                           headers=world.citizen("eve")).status_code == 403
    assert world.http.get(world.api("/candidates"), headers=world.citizen("eve")).status_code == 403
    assert world.http.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": ["a"]}).status_code == 401
    partner = world.headers("erp", ("partner",))
    assert world.http.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": ["a"]},
                          headers=partner).status_code == 403
    # a token for another tenant is refused; the round does not exist in another tenant
    other = world.citizen("eve", tenant="elsewhere")
    assert world.http.put(world.api(f"/rounds/{rid}/ballot"), json={"selection": ["a"]},
                          headers=other).status_code == 403
    assert world.cast(rid, "eve", ["a"], tenant="elsewhere").status_code == 404
    assert world.http.get(world.api(f"/rounds/{rid}", tenant="elsewhere")).status_code == 404
    assert world.http.get(world.api("/rounds", tenant="elsewhere")).json()["items"] == []
    assert world.http.get(world.api(f"/rounds/{rid}"), headers=other).status_code == 403
    assert world.http.get(world.api("/rounds/no-such-round")).status_code == 404
    dup = world.http.post(world.api("/rounds"), json=dict(body, round_id=rid), headers=world.admin())
    assert dup.status_code == 409
