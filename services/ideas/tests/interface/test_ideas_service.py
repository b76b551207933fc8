"""The ideas service as a real `nameko run` process over RabbitMQ and SecantusDB: HTTP and RPC commands, auth,
error mapping (nothing appended on any error), projections via the store-driven subscription, OpenAPI."""
import pytest
import requests
import agora.nameko  # noqa: F401  (callers get AgoraErrors back, with their details)
from agora import errors
from nameko.standalone.rpc import ClusterRpcProxy

from agora.web import http_entrypoints_of
from ideas.service import IdeasService

from ideas_support import ADMIN, eventually, iso, open_phases

T = "ghent"


@pytest.fixture(scope="module")
def h(running):
    return {"admin": running.token("ada", ["admin"]), "alice": running.token("alice", ["citizen"]),
            "bob": running.token("bob", ["citizen"]), "mod": running.token("mo", ["moderator"]),
            "partner": running.token("pat", ["partner"]), "other_tenant": running.token("eve", ["admin"], "bruges")}


@pytest.fixture(scope="module")
def project(running, h):
    r = requests.post(running.api() + "/projects", headers=h["admin"],
                      json={"title": "Green Ghent", "description": "Ideas for a greener city",
                            "phases": open_phases()})
    assert r.status_code == 201, r.text
    return r.json()["project_id"]


@pytest.fixture(scope="module")
def rpc(running):
    with ClusterRpcProxy({"AMQP_URI": running.amqp_uri}, timeout=30) as proxy:
        yield proxy.ideas


def submit(running, h, project, who="alice", **fields):
    body = {"project_id": project, "title": "Plant trees in the park", "body": "Shade in summer"}
    body.update(fields)
    return requests.post(running.api() + "/ideas", headers=h[who], json=body)


def unchanged(running, fn):
    """Run ``fn`` and assert that it appended nothing to the store; returns its result."""
    before = running.store.head()
    out = fn()
    assert running.store.head() == before
    return out


# ------------------------------------------------------------------ OpenAPI & ops
def test_openapi_documents_every_route(running):
    doc = requests.get(running.url + "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == http_entrypoints_of(IdeasService)
    submit_op = doc["paths"]["/api/v1/tenants/{tenant}/ideas"]["post"]
    assert submit_op["requestBody"]["content"]["application/json"]["schema"]["properties"]["title"]["maxLength"] == 200
    assert "409" in submit_op["responses"] and submit_op["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/api/v1/tenants/{tenant}/ideas"]["get"]


def test_health_and_metrics(running):
    assert requests.get(running.url + "/health").json()["status"] == "ok"
    assert requests.get(running.url + "/ready").status_code == 200
    assert "agora_http_requests" in requests.get(running.url + "/metrics").text


# ------------------------------------------------------------------ authentication & authorisation
def test_missing_or_invalid_token_is_401(running, project, h):
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = unchanged(running, lambda headers=headers: requests.post(running.api() + "/ideas", headers=headers,
                                                     json={"project_id": project, "title": "t", "body": "b"}))
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert requests.get(running.api() + "/ideas", headers={"Authorization": "Bearer bad"}).status_code == 401


def test_token_for_another_tenant_is_403(running, project, h):
    r = unchanged(running, lambda: requests.post(running.api() + "/ideas", headers=h["other_tenant"],
                                                 json={"project_id": project, "title": "t", "body": "b"}))
    assert r.status_code == 403
    assert requests.get(running.api() + "/ideas", headers=h["other_tenant"]).status_code == 403
    assert requests.get(running.api("bruges") + "/ideas", headers=h["other_tenant"]).status_code == 200


def test_roles(running, project, h):
    idea = submit(running, h, project).json()["idea_id"]
    cases = [
        ("post", "/projects", "alice", {"title": "mine"}),
        ("post", f"/projects/{project}/phases", "mod", {"kind": "voting", "start": iso(70), "end": iso(80)}),
        ("post", f"/ideas/{idea}/status", "alice", {"status": "under_review"}),
        ("post", f"/ideas/{idea}/status", "mod", {"status": "under_review"}),
        ("post", f"/ideas/{idea}/moderation", "alice", {"action": "hide", "reason": "I can't"}),
        ("post", f"/ideas/{idea}/merge", "mod", {"into": idea}),
        ("post", "/ideas", "partner", {"project_id": project, "title": "t", "body": "b"}),
        ("patch", f"/ideas/{idea}", "bob", {"title": "not my idea"}),
        ("post", f"/ideas/{idea}/withdraw", "bob", {}),
        ("get", "/ideas?include_hidden=true", "alice", None),
    ]
    for method, path, who, body in cases:
        r = unchanged(running, lambda m=method, p=path, w=who, b=body:
                      getattr(requests, m)(running.api() + p, headers=h[w], json=b))
        assert r.status_code == 403, (method, path, who, r.text)
    assert requests.get(running.api() + "/ideas").status_code == 200            # anonymous reads are allowed


# ------------------------------------------------------------------ bad input
def test_bad_input_is_400_or_422_with_fields(running, project, h):
    r = unchanged(running, lambda: requests.post(running.api() + "/ideas", headers=dict(h["alice"],
                  **{"Content-Type": "application/json"}), data=b"{not json"))
    assert r.status_code == 400
    r = unchanged(running, lambda: submit(running, h, project, title="x" * 201, body="y" * 10_001))
    assert r.status_code == 422 and set(r.json()["details"]["fields"]) == {"title", "body"}
    r = unchanged(running, lambda: submit(running, h, project, demographics={"birth_year": 1990}))
    assert r.status_code == 422 and "consent" in r.json()["details"]["fields"]["demographics"]
    r = unchanged(running, lambda: submit(running, h, project, colour="red"))
    assert r.status_code == 422 and "colour" in r.json()["details"]["fields"]
    r = unchanged(running, lambda: submit(running, h, project, location={"lat": 91, "lon": 0}))
    assert r.status_code == 422 and "lat" in r.json()["details"]["fields"]["location"]
    r = unchanged(running, lambda: requests.get(running.api() + "/ideas?sort=random"))
    assert r.status_code == 422 and "sort" in r.json()["details"]["fields"]
    r = unchanged(running, lambda: requests.get(running.api() + "/ideas?cursor=garbage"))
    assert r.status_code == 400


def test_unknown_project_or_idea_is_404(running, project, h):
    r = unchanged(running, lambda: submit(running, h, "no-such-project"))
    assert r.status_code == 404
    for method, path, who, body in [("patch", "/ideas/nope", "alice", {"title": "x"}),
                                    ("post", "/ideas/nope/status", "admin", {"status": "under_review"}),
                                    ("post", "/ideas/nope/comments", "alice", {"body": "hi"}),
                                    ("post", "/ideas/nope/flag", "alice", {}),
                                    ("post", "/comments/nope/moderation", "mod", {"action": "hide", "reason": "x"}),
                                    ("post", "/projects/nope/phases", "admin",
                                     {"kind": "voting", "start": iso(1), "end": iso(2)}),
                                    ("get", "/ideas/nope", "alice", None), ("get", "/projects/nope", "alice", None)]:
        r = unchanged(running, lambda m=method, p=path, w=who, b=body:
                      getattr(requests, m)(running.api() + p, headers=h[w], json=b))
        assert r.status_code == 404, (path, r.text)


def test_wrong_phase_is_409_with_reason(running, h):
    r = requests.post(running.api() + "/projects", headers=h["admin"], json={
        "title": "Later", "phases": [{"kind": "ideation", "start": iso(10), "end": iso(20)}]})
    later = r.json()["project_id"]
    r = unchanged(running, lambda: submit(running, h, later))
    assert r.status_code == 409 and "opens at" in r.json()["message"]
    pid = eventually(lambda: requests.get(running.api() + f"/projects/{later}").json().get("phases"))[0]["phase_id"]
    r = requests.patch(running.api() + f"/projects/{later}/phases/{pid}", headers=h["admin"], json={"start": iso(-1)})
    assert r.status_code == 200 and r.json()["events"] == ["PhaseChanged"]
    assert submit(running, h, later).status_code == 201                    # now it is open


# ------------------------------------------------------------------ the idea life cycle over HTTP
def test_submit_stores_personal_part_and_round_trips_unicode(running, project, h):
    title = "🌳 حديقة خضراء في الحي — Zoë's פארק"
    r = submit(running, h, project, title=title, body="نريد المزيد من الأشجار 🌳🌳", tags=["Green", "park"],
               location={"lat": 51.05, "lon": 3.72, "address": "Citadelpark"},
               demographics={"birth_year": 1984, "gender": "female", "district": "Gentbrugge",
                             "domicile": "Ghent", "consent": True})
    assert r.status_code == 201, r.text
    idea_id = r.json()["idea_id"]
    [ev] = running.store.read_stream(T, f"idea-{idea_id}")
    assert ev.type == "IdeaSubmitted" and ev.data["title"] == title and ev.data["language"] == "ar"
    assert ev.data["personal"] == {"birth_year": 1984, "gender": "female", "district": "Gentbrugge",
                                   "domicile": "Ghent", "consent": True}
    assert ev.data["tags"] == ["green", "park"] and ev.correlationid
    detail = eventually(lambda: requests.get(running.api() + f"/ideas/{idea_id}").json().get("title") and
                        requests.get(running.api() + f"/ideas/{idea_id}").json())
    assert detail["title"] == title and detail["body"] == "نريد المزيد من الأشجار 🌳🌳"
    assert "personal" not in detail and detail["location"]["address"] == "Citadelpark"


def test_life_cycle_edit_comment_moderate_status_merge(running, project, h):
    api = running.api()
    a = submit(running, h, project, title="Bicycle lane on Main Street", body="Safe cycling to school").json()
    idea = a["idea_id"]
    r = requests.patch(api + f"/ideas/{idea}", headers=h["alice"], json={"body": "Safe cycling for kids"})
    assert r.status_code == 200 and r.json()["events"] == ["IdeaEdited"]
    c1 = requests.post(api + f"/ideas/{idea}/comments", headers=h["bob"], json={"body": "Yes!"}).json()["comment_id"]
    r = requests.post(api + f"/ideas/{idea}/comments", headers=h["alice"], json={"body": "Thanks", "parent_id": c1})
    assert r.status_code == 201 and r.json()["parent_id"] == c1
    r = unchanged(running, lambda: requests.post(api + f"/ideas/{idea}/comments", headers=h["alice"],
                                                 json={"body": "x", "parent_id": "nope"}))
    assert r.status_code == 404
    assert requests.post(api + f"/comments/{c1}/flag", headers=h["alice"], json={"reason": "hm"}).status_code == 201
    r = unchanged(running, lambda: requests.post(api + f"/comments/{c1}/flag", headers=h["alice"], json={}))
    assert r.status_code == 409
    r = requests.post(api + f"/comments/{c1}/moderation", headers=h["mod"], json={"action": "hide", "reason": "off"})
    assert r.status_code == 200
    r = requests.post(api + f"/ideas/{idea}/status", headers=h["admin"], json={"status": "under_review"})
    assert r.status_code == 200
    r = unchanged(running, lambda: requests.patch(api + f"/ideas/{idea}", headers=h["alice"], json={"title": "x"}))
    assert r.status_code == 409 and "before review" in r.json()["message"]
    r = unchanged(running, lambda: requests.post(api + f"/ideas/{idea}/status", headers=h["admin"],
                                                 json={"status": "implemented"}))
    assert r.status_code == 409 and "allowed" in r.json()["message"]
    r = unchanged(running, lambda: requests.post(api + f"/ideas/{idea}/status", headers=h["admin"],
                                                 json={"status": "rejected"}))
    assert r.status_code == 422 and "feedback" in r.json()["details"]["fields"]
    r = requests.post(api + f"/ideas/{idea}/status", headers=h["admin"],
                      json={"status": "accepted", "feedback": "Wir bauen den Radweg im Herbst."})
    assert r.status_code == 200
    ev = running.store.read_stream(T, f"idea-{idea}")[-1]
    assert ev.type == "IdeaStatusChanged"
    assert {k: ev.data[k] for k in ("from", "to", "decision", "feedback_language", "decided_by")} == {
        "from": "under_review", "to": "accepted", "decision": True, "feedback_language": "de", "decided_by": "ada"}
    # a duplicate (found once the board has caught up: it is eventually consistent), merged by an admin
    eventually(lambda: requests.get(api + f"/ideas/{idea}").json().get("status") == "accepted")
    dup = submit(running, h, project, who="bob", title="Cycle lane Main Street", body="cycling school").json()
    assert dup["similar"] and dup["similar"][0]["idea_id"] == idea
    r = requests.post(api + f"/ideas/{dup['idea_id']}/merge", headers=h["admin"], json={"into": idea})
    assert r.status_code == 200
    merged = running.store.read_stream(T, f"idea-{dup['idea_id']}")[-1]
    assert merged.type == "IdeaMerged" and merged.data["survivor_id"] == idea
    # withdraw and hide
    w = submit(running, h, project, title="Short-lived", body="gone soon").json()["idea_id"]
    assert requests.post(api + f"/ideas/{w}/withdraw", headers=h["alice"], json={}).status_code == 200
    assert requests.post(api + f"/ideas/{w}/withdraw", headers=h["alice"], json={}).status_code == 409
    # the read side catches up
    detail = eventually(lambda: (lambda d: d if d.get("status") == "accepted" and d["comments"] else None)(
        requests.get(api + f"/ideas/{idea}").json()))
    assert detail["feedback"] == "Wir bauen den Radweg im Herbst." and detail["body"] == "Safe cycling for kids"
    [c] = detail["comments"]
    assert c["hidden"] and c["body"] is None and c["replies"][0]["body"] == "Thanks"
    eventually(lambda: requests.get(api + f"/ideas/{dup['idea_id']}").json().get("merged_into") == idea)
    counts = eventually(lambda: (lambda c: c if c["by_status"].get("withdrawn") else None)(
        requests.get(api + f"/ideas/counts?project_id={project}").json()))
    assert counts["by_status"]["accepted"] >= 1 and counts["by_status"]["merged"] >= 1
    listed = requests.get(api + f"/ideas?project_id={project}&status=accepted").json()["items"]
    assert [i["idea_id"] for i in listed] == [idea]
    sims = requests.get(api + "/ideas/similar", params={"project_id": project, "text": "bicycle lane"}).json()
    assert sims["items"][0]["idea_id"] == idea
    anywhere = requests.get(api + "/ideas/similar", params={"text": "bicycle lane Main Street"}).json()
    assert anywhere["items"][0]["idea_id"] == idea
    assert requests.get(api + "/ideas/similar").status_code == 422           # text is required


def test_list_pages_with_opaque_cursor(running, project, h):
    for n in range(3):
        submit(running, h, project, title=f"Paged idea {n}", body="pagination test")
    api = running.api()
    ids = eventually(lambda: (lambda items: items if len(items) >= 3 else None)(
        requests.get(api + "/ideas", params={"text": "pagination", "limit": 100}).json()["items"]))
    seen, cursor = [], None
    while True:
        page = requests.get(api + "/ideas", params={"text": "pagination", "limit": 2, **({"cursor": cursor} if cursor
                                                                                           else {})}).json()
        seen += [i["idea_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [i["idea_id"] for i in ids]


# ------------------------------------------------------------------ RPC (what the back-office bridge calls)
def test_rpc_change_status_is_idempotent_with_command_id(running, project, h, rpc):
    idea = submit(running, h, project, title="Decide me over RPC", body="bridge").json()["idea_id"]
    actor = {"sub": "backoffice", "roles": ["admin"]}
    rpc.change_status(T, idea, "under_review", "", actor)
    first = rpc.change_status(T, idea, "rejected", "Niet haalbaar binnen het budget.", actor, command_id="cmd-42")
    head = running.store.head()
    again = rpc.change_status(T, idea, "rejected", "Niet haalbaar binnen het budget.", actor, command_id="cmd-42")
    assert again == first and running.store.head() == head
    ev = running.store.get("cmd-42")
    assert ev.stream == f"idea-{idea}" and ev.data["to"] == "rejected" and ev.data["feedback_language"] == "nl"
    with pytest.raises(errors.Conflict):
        rpc.change_status(T, idea, "accepted", "late", actor)
    with pytest.raises(errors.Forbidden):
        rpc.change_status(T, idea, "accepted", "x", {"sub": "c", "roles": ["citizen"]})
    with pytest.raises(errors.Forbidden):
        rpc.change_status(T, idea, "accepted", "x", {"sub": "c", "tenant": "bruges", "roles": ["admin"]})
    with pytest.raises(errors.NotFound):
        rpc.change_status(T, "nope", "accepted", "x", actor)
    assert running.store.head() == head


def test_rpc_commands_and_idempotent_submit(running, project, rpc):
    alice = {"sub": "alice", "roles": ["citizen"]}
    idea = {"project_id": project, "title": "RPC idea", "body": "submitted over RPC"}
    first = rpc.submit_idea(T, idea, alice, command_id="submit-1")
    head = running.store.head()
    assert rpc.submit_idea(T, idea, alice, command_id="submit-1")["idea_id"] == first["idea_id"]
    assert running.store.head() == head
    c = rpc.comment(T, first["idea_id"], "first!", {"sub": "bob", "roles": ["citizen"]})
    rpc.comment(T, first["idea_id"], "reply", alice, parent_id=c["comment_id"])
    p = rpc.create_project(T, "By RPC", ADMIN, phases=[{"kind": "voting", "start": iso(1), "end": iso(2)}],
                           command_id="proj-1")
    assert rpc.create_project(T, "By RPC", ADMIN, command_id="proj-1")["project_id"] == p["project_id"]
    with pytest.raises(errors.Conflict):
        rpc.submit_idea(T, {"project_id": p["project_id"], "title": "t", "body": "b"}, alice)
    with pytest.raises(errors.ValidationFailed):
        rpc.submit_idea(T, {"project_id": project, "title": "", "body": "b"}, alice)
    def with_comments():
        try:
            d = rpc.get_idea(T, first["idea_id"])
        except errors.NotFound:             # until the board has caught up
            return None
        return d if d.get("comments") and d["comments"][0]["replies"] else None
    detail = eventually(with_comments)
    assert detail["comments"][0]["replies"][0]["body"] == "reply"


def test_rpc_validation_errors_carry_the_failing_fields(running, project, rpc):
    with pytest.raises(errors.ValidationFailed) as err:
        rpc.submit_idea(T, {"project_id": project, "title": "", "body": "b"}, {"sub": "alice", "roles": ["citizen"]})
    assert "title" in err.value.fields
