"""Pabulib import/export through the service, candidates from accepted ideas, RPC, OpenAPI, projection rebuild."""
from __future__ import annotations

from agora import nameko as agora_nameko  # noqa: F401  (registers agora errors for RPC callers)
from agora.errors import ConcurrencyError, Conflict, ValidationFailed  # noqa: F401
from agora.projections import rebuild
from agora.testing import shared_path
from agora.web import http_entrypoints_of, openapi_path
from budgets import pabulib
from budgets.rules import count

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

ASSEN = "data/pabulib/Netherlands_Assen_2024.pb"
KNAPSACK = "data/pabulib/US_Stanford_Dataset_2022_Jersey_City_Ward_B_vote_knapsacks.pb"


def _import(world, text, **params):
    return world.http.post(world.api("/rounds/import"), params={"project_id": "proc-pb", **params},
                           data=text.encode("utf-8"), headers=dict(world.admin(), **{"Content-Type": "text/plain"}))


def _export(world, rid):
    r = world.http.get(world.api(f"/rounds/{rid}/export.pb"), headers=world.admin())
    assert r.status_code == 200, r.text
    return r.text


def _summary(instance):
    return (instance.budget, instance.vote_type,
            [(p.id, p.cost, dict(p.fields)) for p in instance.projects],
            {v.voter_id: (v.projects, v.points) for v in instance.votes})


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
    round_events = world.store.read_stream("city", f"round-{rid}")
    assert [e.type for e in round_events] == ["RoundOpened"] + ["ProjectAdded"] * len(original.projects) + [
        "RoundClosed"]
    some = original.votes[0]
    ballot = world.store.read_stream("city", f"ballot-{rid}-{some.voter_id}")
    assert [e.type for e in ballot] == ["BallotCast"] and ballot[0].data["ballot"]["projects"] == list(some.projects)
    exported = _export(world, rid)
    again = pabulib.loads(exported)
    assert _summary(again) == _summary(original)
    r2 = _import(world, exported)
    assert r2.status_code == 201, r2.text
    assert _export(world, r2.json()["round_id"]) == exported
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
    world.store.append("city", "idea-i-pending", [__import__("agora.events.envelope", fromlist=["NewEvent"]).NewEvent(
        "IdeaSubmitted", {"idea_id": "i-pending", "project_id": "proc-1", "phase_id": "ph", "title": "Not yet",
                          "body": "b", "language": "en", "author": "x", "status": "published"})], 0)
    cands = world.wait_for(lambda: (r := world.http.get(world.api("/candidates"), params={"project_id": "proc-1"},
                                                        headers=world.admin()).json()["items"]) and r, "candidates")
    assert [(c["idea_id"], c["title"]) for c in cands] == [(iid, "Skate park")]
    rid = world.open_round()
    r = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": iid, "cost": "250"},
                        headers=world.admin())
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["id"] == iid and p["title"] == "Skate park" and p["attributes"] == {"idea_id": iid}
    again = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": iid, "cost": "250", "id": "x2"},
                            headers=world.admin())
    assert again.status_code == 409
    left = world.http.get(world.api("/candidates"), params={"round_id": rid}, headers=world.admin()).json()["items"]
    assert [c["idea_id"] for c in left] == [other]
    r = world.http.post(world.api(f"/rounds/{rid}/projects"), json={"idea_id": "i-pending", "cost": "1"},
                        headers=world.admin())
    assert r.status_code == 422 and "idea_id" in r.json()["details"]["fields"]


def test_rpc_over_rabbitmq(world):
    admin = {"sub": "ada", "roles": ["admin"]}
    with ClusterRpcProxy({"AMQP_URI": world.amqp_uri, "serializer": "json"}) as rpc:
        opened = rpc.budgets.open_round("city", {"project_id": "proc-1", "budget": "100", "currency": "EUR",
                                                 "ballot_type": "choose-1"}, admin)
        rid = opened["round_id"]
        rpc.budgets.add_project("city", rid, {"id": "a", "cost": "60", "title": "A"}, admin)
        rpc.budgets.add_project("city", rid, {"id": "b", "cost": "50", "title": "B"}, admin)
        with pytest.raises(ValidationFailed) as err:
            rpc.budgets.cast_ballot("city", rid, ["a", "b"], {"sub": "u1", "roles": ["citizen"]})
        assert "at most 1" in " ".join(err.value.fields["selection"])
        with pytest.raises(ValidationFailed):
            rpc.budgets.open_round("city", {"budget": "x"}, admin)
        for i, pid in enumerate(["a", "a", "b"]):
            assert rpc.budgets.cast_ballot("city", rid, [pid], {"sub": f"u{i}", "roles": ["citizen"]})["result"] \
                == "cast"
        with pytest.raises(Exception) as forbidden:
            rpc.budgets.close_round("city", rid, {"sub": "u1", "roles": ["citizen"]})
        assert "roles" in str(forbidden.value)
        world.settled()
        assert rpc.budgets.close_round("city", rid, admin)["ballots"] == 3
        out = rpc.budgets.compute_outcome("city", rid, admin)
        assert out["selected"] == ["a"] and rpc.budgets.get_outcome("city", rid)["selected"] == ["a"]
        assert rpc.budgets.get_round("city", rid)["status"] == "closed"


def test_openapi_documents_every_route(world):
    from budgets.service import BudgetsService
    doc = world.http.get(f"{world.url}/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert http_entrypoints_of(BudgetsService) <= documented
    assert ("POST", openapi_path("/api/v1/tenants/<tenant>/budgets/rounds/<round_id>/outcome")) in documented
    op = doc["paths"]["/api/v1/tenants/{tenant}/budgets/rounds"]["post"]
    assert op["security"] and "budget" in op["requestBody"]["content"]["application/json"]["schema"]["properties"]


def test_projections_drop_and_rebuild_equal(world):
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
    before = {n: sorted(world.db[n].find(), key=lambda d: d["_id"]) for n in names}
    assert len(before["budgets_ballots"]) == 12 and len(before["budgets_rounds"]) == 2
    assert next(d for d in before["budgets_rounds"] if d["round_id"] == rid)["ballots"] == 11
    for n in names:
        world.db.drop_collection(n)
    rebuild(world.db, "budgets")
    world.settled()
    world.settled("candidates")
    after = {n: sorted(world.db[n].find(), key=lambda d: d["_id"]) for n in names}
    assert after == before
    assert world.round(rid2)["district"] == "south"
