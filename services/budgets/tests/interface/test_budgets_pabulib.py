"""Pabulib import/export through the service, candidates from accepted ideas, OpenAPI, projection rebuild."""
from __future__ import annotations

import pytest

from agora.projections import request as rebuild
from agora.testing import shared_path
from agora.web import http_entrypoints_of, openapi_path
from budgets import pabulib_io as pabulib
from budgets.rules import count

ASSEN = "data/pabulib/Netherlands_Assen_2024.pb"
KNAPSACK = "data/pabulib/US_Stanford_Dataset_2022_Jersey_City_Ward_B_vote_knapsacks.pb"


def _import(world, text, **params):
    return world.http.post(world.api("/rounds/import"), params={"project_id": "proc-pb", **params},
                           data=text.encode("utf-8"), headers=dict(world.admin(), **{"Content-Type": "text/plain"}))


def _export(world, rid):
    r = world.http.get(world.api(f"/rounds/{rid}/export.pb"), headers=world.admin())
    assert r.status_code == 200, r.text
    assert r.headers["Content-Disposition"].startswith("attachment;")
    return r.text


def _summary(instance):
    """Everything but the voter ids (an export names its voters with pseudonyms of its own)."""
    return (instance.budget, instance.vote_type,
            [(p.id, p.cost, dict(p.fields)) for p in instance.projects],
            sorted((v.projects, v.points) for v in instance.votes))


@pytest.mark.parametrize("name", [ASSEN, KNAPSACK])
def test_pabulib_import_export_import_is_equal_and_counts_like_the_file(world, name):
    path = shared_path(name)
    text = path.read_text(encoding="utf-8")
    original = pabulib.loads(text)
    r = _import(world, text)
    assert r.status_code == 201, r.text
    rid = r.json()["round_id"]
    assert r.json()["ballots"] == len(original.votes) and r.json()["status"] == "closed"
    # the same events as live ballots: one stream per ballot, the round stream holds lifecycle + projects
    round_events = world.store.read_stream(world.tenant, f"round-{rid}")
    assert [e.type for e in round_events] == ["RoundOpened"] + ["ProjectAdded"] * len(original.projects) + [
        "RoundClosed"]
    some = original.votes[0]
    ballot = world.store.read_stream(world.tenant, f"ballot-{rid}-{some.voter_id}")
    assert [e.type for e in ballot] == ["BallotCast"] and ballot[0].data["ballot"]["projects"] == list(some.projects)
    exported = _export(world, rid)
    # the export negotiates Accept: text/plain (the .pb format) or nothing
    assert world.http.get(world.api(f"/rounds/{rid}/export.pb"),
                          headers=dict(world.admin(), Accept="text/*")).status_code == 200
    refused = world.http.get(world.api(f"/rounds/{rid}/export.pb"),
                             headers=dict(world.admin(), Accept="application/json"))
    assert refused.status_code == 406 and refused.json()["details"]["available"] == ["text/plain"]
    again = pabulib.loads(exported)
    assert _summary(again) == _summary(original)
    # per-export pseudonyms: neither the file's voter ids nor those of another export
    assert not {v.voter_id for v in again.votes} & {v.voter_id for v in original.votes}
    second = pabulib.loads(_export(world, rid))
    assert _summary(second) == _summary(again) and not {v.voter_id for v in second.votes} & {
        v.voter_id for v in again.votes}
    r2 = _import(world, exported)
    assert r2.status_code == 201, r2.text
    assert _summary(pabulib.loads(_export(world, r2.json()["round_id"]))) == _summary(again)
    # counted in the service exactly as the file counts
    rule = world.round(rid)["rule"]          # the file's rule when it is ours (Assen: equalshares/add1), else greedy
    assert rule == ("mes-add1" if name == ASSEN else "greedy")
    out = world.count(rid)
    assert out["selected"] == count(original, rule).selected
    assert world.round(rid)["ballots"] == len(original.votes)


def test_malformed_pb_names_the_line_and_imports_nothing(world):
    text = shared_path(ASSEN).read_text(encoding="utf-8")
    head = world.store.head()
    lines = text.splitlines()
    votes_at = next(i for i, line in enumerate(lines) if line.strip() == "VOTES")
    broken = list(lines)
    vid, rest = broken[votes_at + 5].split(";", 1)
    broken[votes_at + 5] = f"{vid};999999" + rest[rest.index(";"):] if ";" in rest else f"{vid};999999"
    r = _import(world, "\n".join(broken) + "\n")
    assert r.status_code == 422, r.text
    assert f"line {votes_at + 6}" in r.json()["message"] and r.json()["details"]["line"] == votes_at + 6
    # a ballot that breaks the round's constraints (Assen: min_length 2) is refused with its line, too
    short = list(lines)
    parts = short[votes_at + 3].split(";")
    parts[1] = parts[1].split(",")[0]
    short[votes_at + 3] = ";".join(parts)
    r = _import(world, "\n".join(short) + "\n")
    assert r.status_code == 422 and f"line {votes_at + 4}" in r.json()["message"], r.text
    assert "at least 2" in " ".join(r.json()["details"]["fields"]["pb"])
    r = world.http.post(world.api("/rounds/import"), params={"project_id": "p"}, data=b"\xff\xfe META",
                        headers=world.admin())
    assert r.status_code == 400
    assert _import(world, "META\nkey;value\n").status_code == 422
    assert world.http.post(world.api("/rounds/import"), params={"project_id": "p"}, data=text.encode(),
                           headers=world.citizen("eve")).status_code == 403
    assert world.store.head() == head


def test_candidates_from_accepted_ideas(world):
    iid = world.accepted_idea("Skate park")
    other = world.accepted_idea("Library", project_id="proc-2")
    world.accepted_idea("Not yet", accepted=False)
    cands = world.wait_for(lambda: (r := world.http.get(world.api("/candidates"), params={"project_id": "proc-1"},
                                                        headers=world.admin()).json()["items"]) and r, "candidates")
    assert [(c["idea_id"], c["title"]) for c in cands] == [(iid, "Skate park")]
    rid = world.open_round()
    # the documented sources of a project: a cost with a title, or a cost with an accepted idea; an idea alone
    # (without a cost) is refused naming the cost, as the OpenAPI document says
    alone = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": iid}, headers=world.admin())
    assert alone.status_code == 422 and set(alone.json()["details"]["fields"]) == {"cost"}
    doc = world.http.get(f"{world.url}/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/tenants/{tenant}/budgets/rounds/{round_id}/projects"]["post"]
    assert "cost (always required)" in op["summary"] and "idea_id" in op["summary"]
    r = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": iid, "cost": "250"},
                        headers=world.admin())
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["id"] == iid and p["title"] == "Skate park" and p["attributes"] == {"idea_id": iid}
    again = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": iid, "cost": "250", "id": "x2"},
                            headers=world.admin())
    assert again.status_code == 409 and again.json()["details"]["reason"] == "duplicate_idea"
    left = world.http.get(world.api("/candidates"), params={"round_id": rid}, headers=world.admin()).json()["items"]
    assert [c["idea_id"] for c in left] == [other]
    pending = next(d["idea_id"] for d in world.db.budgets_candidates.find({"tenant": world.tenant, "accepted": False}))
    r = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": pending, "cost": "1"},
                        headers=world.admin())
    assert r.status_code == 422 and "idea_id" in r.json()["details"]["fields"]


def test_openapi_documents_every_route_with_its_roles(world):
    from budgets.service import BudgetsService
    doc = world.http.get(f"{world.url}/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert http_entrypoints_of(BudgetsService) <= documented
    assert ("POST", openapi_path("/api/v1/tenants/<tenant>/budgets/rounds/<round_id>/outcome")) in documented
    op = doc["paths"]["/api/v1/tenants/{tenant}/budgets/rounds"]["post"]
    assert op["security"] and "Roles: admin" in op["description"]
    cast = doc["paths"]["/api/v1/tenants/{tenant}/budgets/rounds/{round_id}/ballot"]["put"]
    assert {"200", "201", "401", "403"} <= set(cast["responses"])


def test_projections_drop_and_rebuild_equal(world):
    t = world.tenant
    rid = world.open_round(ballot_type="approval")
    for pid in ("a", "b", "c"):
        world.add_project(rid, pid, "100")
    for i in range(12):
        assert world.cast(rid, f"c{i}", [["a"], ["b", "c"], ["a", "c"]][i % 3]).status_code == 201
    world.cast(rid, "c1", ["a"])
    world.http.delete(world.api(f"/rounds/{rid}/ballot"), headers=world.citizen("c2"))
    world.accepted_idea("Fountain")
    world.settled()
    world.close(rid)
    world.count(rid)
    rid2 = world.open_round(project_id="proc-2", district="south")
    world.settled()
    world.settled("candidates")
    names = ("budgets_rounds", "budgets_ballots", "budgets_candidates")

    def snapshot():
        return {n: sorted(world.db[n].find({"tenant": t}), key=lambda d: d["_id"]) for n in names}
    before = snapshot()
    assert len(before["budgets_ballots"]) == 12 and len(before["budgets_rounds"]) == 2
    assert next(d for d in before["budgets_rounds"] if d["round_id"] == rid)["ballots"] == 11
    done = rebuild(world.db, "budgets", wait_s=120)
    assert done["states"] and set(done["states"].values()) == {"done"}, done
    world.settled()
    world.settled("candidates")
    assert snapshot() == before
    assert world.round(rid2)["district"] == "south"
