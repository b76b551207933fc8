"""Inbound decisions with the real ideas service running (`nameko run ideas.service`): the bridge validates the
posted decision (JSON, Turtle, JSON-LD), calls the ideas service's RPC ``change_status`` and records events."""
import datetime as dt
import json

import requests

from backoffice_bridge import decisions as dmap
from backoffice_bridge.renderers import render
from backoffice_bridge.schemas import load_decision

from bridge_support import ADMIN, NASTY, PARTNER, decision_of, headers, wait_for


def iso(days):
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")


def new_idea(stack, t, title="Maak van de Veldstraat een fietsstraat", review=True):
    """A project with an open ideation phase, an idea in it, moved to under_review: through the ideas HTTP API."""
    api = f"{stack.ideas_url}/api/v1/tenants/{t}"
    project = requests.post(api + "/projects", headers=ADMIN(t), json={
        "title": "Mobiliteit", "language": "nl",
        "phases": [{"kind": "ideation", "title": "Ideeën", "start": iso(-1), "end": iso(30)}]})
    assert project.status_code == 201, project.text
    idea = requests.post(api + "/ideas", headers=headers("cit", ("citizen",), t), json={
        "project_id": project.json()["project_id"], "title": title, "body": "Veiliger voor kinderen.",
        "language": "nl"})
    assert idea.status_code == 201, idea.text
    idea_id = idea.json()["idea_id"]
    if review:
        r = requests.post(f"{api}/ideas/{idea_id}/status", headers=ADMIN(t), json={"status": "under_review"})
        assert r.status_code == 200, r.text
    return idea_id


def idea_url(t, idea_id):
    return f"https://agora.example/api/v1/tenants/{t}/ideas/{idea_id}"


def decision_json(t, idea_id, outcome="accepted", motivation="Het college keurt goed: veiliger fietsen.", **kw):
    d = {"id": kw.pop("id", "dec-2026-001"), "tenant": t, "kind": "idea_status", "title": "Fietsstraat Veldstraat",
         "language": "nl", "decided_by": {"id": "college", "name": "College van burgemeester en schepenen"},
         "decided_on": "2026-03-04", "outcome": outcome,
         "subjects": [{"type": "idea", "id": "s1", "title": "Fietsstraat", "url": idea_url(t, idea_id)}]}
    if motivation is not None:
        d["motivation"] = motivation
    d.update(kw)
    return d


def status_events(stack, t, idea_id):
    return [e for e in stack.store.read_stream(t, f"idea-{idea_id}") if e.type == "IdeaStatusChanged"]


def post(stack, t, body, ctype="application/json", hdrs=None):
    data = json.dumps(body, ensure_ascii=False).encode("utf-8") if not isinstance(body, (bytes, str)) else body
    if isinstance(data, str):
        data = data.encode("utf-8")
    return requests.post(f"{stack.api(t)}/decisions/inbound", data=data,
                         headers={**(PARTNER(t) if hdrs is None else hdrs), "Content-Type": ctype})


def test_inbound_json_changes_status_through_ideas_rpc_and_is_idempotent(stack):
    t = "inb"
    idea_id = new_idea(stack, t)
    motivation = "Goedgekeurd. " + NASTY
    # an empty description means "no description" (back offices send it so), not an invalid decision
    r = post(stack, t, decision_json(t, idea_id, motivation=motivation, description=""))
    assert r.status_code == 200, r.text
    body = r.json()
    [res] = body["results"]
    assert res["result"] == "applied" and res["idea_id"] == idea_id and res["status"] == "accepted"
    assert res["command_id"].startswith(dmap.INBOUND_PREFIX)
    [ev] = status_events(stack, t, idea_id)[-1:]
    assert ev.data["to"] == "accepted" and ev.data["feedback"] == motivation and ev.data["feedback_language"] == "nl"
    # the ideas service records the bridge acting as itself (its service identity), not a forged admin
    assert ev.data["decided_by"] == "service:backoffice_bridge"
    # recorded as events: the inbound receipt, and (via the subscription) the resulting outbound Decision
    inbound = [e for e in stack.store.read_all(t, types=["InboundDecisionReceived"])]
    assert len(inbound) == 1 and inbound[0].data["commands"][0]["result"] == "applied"
    assert inbound[0].data["received_by"] == stack.store.person_id(t, "erp", create=False)   # a pseudonym
    did = dmap.decision_id_for(t, ev.id)
    recorded = decision_of(stack, t, did)
    assert recorded["inbound_command_id"].startswith(dmap.INBOUND_PREFIX)
    assert recorded["decision"]["motivation"] == motivation
    # the ideas service's read model shows it
    wait_for(lambda: requests.get(f"{stack.ideas_url}/api/v1/tenants/{t}/ideas/{idea_id}").json()
             .get("status") == "accepted")
    # posting the same decision again is a replay: 200, no second status change, no second receipt
    again = post(stack, t, decision_json(t, idea_id, motivation=motivation, description=""))
    assert again.status_code == 200 and again.json()["results"][0]["result"] == "applied"
    assert again.json()["replayed"] is True
    assert len(status_events(stack, t, idea_id)) == 2          # under_review + accepted
    assert len(stack.store.read_all(t, types=["InboundDecisionReceived"])) == 1


def test_inbound_turtle_and_jsonld(stack):
    t = "inbrdf"
    a, b = new_idea(stack, t, "Idee A"), new_idea(stack, t, "Idee B")
    ttl = render(load_decision(decision_json(t, a, "rejected", motivation="Te duur & <onhaalbaar>", id="dec-ttl")),
                 "oslo-ttl")
    r = post(stack, t, ttl, "text/turtle")
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "oslo-ttl"
    assert status_events(stack, t, a)[-1].data["to"] == "rejected"
    assert status_events(stack, t, a)[-1].data["feedback"] == "Te duur & <onhaalbaar>"
    # JSON-LD works out of the box: no AGORA_BRIDGE_OSLO_CONTEXT is set (the packaged context terms are used)
    assert "AGORA_BRIDGE_OSLO_CONTEXT" not in stack.extra["bridge"].env
    jsonld = render(load_decision(decision_json(t, b, "accepted", id="dec-jsonld")), "oslo-jsonld")
    r = post(stack, t, jsonld, "application/ld+json")
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "oslo-jsonld" and status_events(stack, t, b)[-1].data["to"] == "accepted"


def test_inbound_errors_have_reasons_and_change_nothing(stack):
    t = "inberr"
    idea_id = new_idea(stack, t)
    proposed = new_idea(stack, t, "Nog niet beoordeeld", review=False)
    before = len(status_events(stack, t, idea_id))

    r = post(stack, t, b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    r = post(stack, t, b"@prefix : <x> . this is not turtle", "text/turtle")
    assert r.status_code == 400 and "Turtle" in r.json()["message"]
    r = post(stack, t, b"<besluit/>", "application/xml")
    assert r.status_code == 415
    bad = decision_json(t, idea_id)
    del bad["title"]
    bad["subjects"][0]["url"] = "not a url"
    r = post(stack, t, bad)
    assert r.status_code == 422 and {"title", "subjects.0.url"} <= set(r.json()["details"]["fields"])
    r = post(stack, t, decision_json(t, idea_id, motivation="x\x00y"))
    assert r.status_code == 422 and "motivation" in r.json()["details"]["fields"]
    r = post(stack, t, decision_json("elsewhere", idea_id))
    assert r.status_code == 422
    other = decision_json(t, idea_id)
    other["subjects"][0]["url"] = idea_url("elsewhere", idea_id)
    assert post(stack, t, other).status_code == 422
    no_idea = decision_json(t, idea_id)
    no_idea["subjects"][0]["url"] = "https://example.org/somewhere"
    r = post(stack, t, no_idea)
    assert r.status_code == 422 and "idea URL" in r.json()["message"]
    # refused by the ideas service (over RPC): reasons passed on
    r = post(stack, t, decision_json(t, "no-such-idea", id="dec-404"))
    assert r.status_code == 404 and r.json()["results"][0]["error"].startswith("NotFound")
    # (the ideas service requires feedback for accepted/rejected; its field reasons do not survive nameko RPC,
    # which serialises only the exception message "invalid input")
    r = post(stack, t, decision_json(t, idea_id, motivation=None, id="dec-nofeedback"))
    assert r.status_code == 422 and r.json()["results"][0]["error"].startswith("ValidationFailed")
    # checked by the bridge against the IdeaStatusChanged contract, with the field
    r = post(stack, t, decision_json(t, idea_id, motivation="é" * 10_001, id="dec-long"))
    assert r.status_code == 422 and "motivation" in r.json()["details"]["fields"]
    r = post(stack, t, decision_json(t, proposed, id="dec-early"))
    assert r.status_code == 409 and "under_review" in r.json()["message"]
    # auth
    assert post(stack, t, decision_json(t, idea_id), hdrs={}).status_code == 401
    assert post(stack, t, decision_json(t, idea_id), hdrs=headers("c", ("citizen",), t)).status_code == 403
    assert post(stack, t, decision_json(t, idea_id), hdrs=PARTNER("elsewhere")).status_code == 403
    assert len(status_events(stack, t, idea_id)) == before


def test_inbound_partial_success_is_207(stack):
    t = "inbmix"
    ok = new_idea(stack, t)
    d = decision_json(t, ok, id="dec-mixed")
    d["subjects"].append({"type": "idea", "id": "s2", "title": "Weg", "url": idea_url(t, "gone")})
    r = post(stack, t, d, hdrs=ADMIN(t))
    assert r.status_code == 207, r.text
    results = {x["idea_id"]: x for x in r.json()["results"]}
    assert results[ok]["result"] == "applied" and results["gone"]["result"] == "failed"
    assert results["gone"]["http_status"] == 404
    assert status_events(stack, t, ok)[-1].data["to"] == "accepted"
