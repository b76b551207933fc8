"""The ideas service as a real `nameko run` process over RabbitMQ and SecantusDB (started once for the module, a
freshly registered tenant per test): the route layer's order (401 → 403 → unknown tenant → 400/422 → handler),
roles, error mapping (nothing appended on any error), idempotency keys, pseudonyms and display names, the
moderation queue, erasure, the bridge's internal RPC, projections via the store-driven subscription, OpenAPI."""
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

import agora.nameko  # noqa: F401  (callers get AgoraErrors back, with their details)
from agora import auth, errors
from agora.rpc import CONTEXT_KEY
from agora.testing import eventually
from agora.web import http_entrypoints_of
from ideas.service import IdeasService

from ideas_support import SECRET, iso, open_phases


class Client:
    """HTTP against one tenant, with a token per person."""

    def __init__(self, running, tenant):
        self.running, self.tenant = running, tenant
        self.api = running.api(tenant)
        self.h = {name: running.token(sub, roles, tenant) for name, sub, roles in [
            ("admin", "ada", ["admin"]), ("alice", "alice", ["citizen"]), ("bob", "bob", ["citizen"]),
            ("mod", "mo", ["moderator"]), ("partner", "pat", ["partner"])]}
        self.h["other_tenant"] = running.token("eve", ["admin"], "bruges")
        self.h["nobody"] = {}

    def call(self, method, path, who="alice", json=None, **kw):
        return requests.request(method, self.api + path, headers={**self.h[who], **kw.pop("headers", {})},
                                json=json, **kw)

    def project(self, **more):
        r = self.call("POST", "/projects", "admin", {"title": "Green city", "phases": open_phases(), **more})
        assert r.status_code == 201, r.text
        return r.json()["project_id"]

    def submit(self, project, who="alice", headers=None, **fields):
        return self.call("POST", "/ideas", who, {"project_id": project, "title": "Plant trees in the park",
                                                 "body": "Shade in summer", **fields}, headers=headers or {})


@pytest.fixture
def c(running, tenant):
    return Client(running, tenant)


def unchanged(running, fn):
    """Run ``fn`` and assert that it appended nothing to the store; returns its result."""
    before = running.store.head()
    out = fn()
    assert running.store.head() == before
    return out


# ------------------------------------------------------------------ OpenAPI & ops
def test_openapi_documents_every_route_with_its_roles(running):
    doc = requests.get(running.url + "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert http_entrypoints_of(IdeasService) <= documented
    submit_op = doc["paths"]["/api/v1/tenants/{tenant}/ideas"]["post"]
    schema = submit_op["requestBody"]["content"]["application/json"]["schema"]
    while "$ref" in schema:                                                   # components/schemas/...
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["title"]["maxLength"] == 200 and "display_name" in schema["properties"]
    assert "409" in str(submit_op["responses"]) and submit_op["security"]
    assert "/api/v1/tenants/{tenant}/moderation/queue" in doc["paths"]
    assert "/api/v1/tenants/{tenant}/erasures" in doc["paths"]


def test_health_and_metrics(running):
    assert requests.get(running.url + "/health").json()["status"] == "ok"
    assert requests.get(running.url + "/ready").status_code == 200
    assert "agora_http_requests" in requests.get(running.url + "/metrics").text


# ------------------------------------------------------------------ the route layer's order
def test_401_and_403_come_before_validation_and_lookups(running, c):
    # no token / a bad token: 401, even with a bad body or an unknown idea
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        for path, body in [("/ideas", {"title": 1}), ("/ideas/nope/status", {"x": 1}), ("/erasures", [])]:
            r = unchanged(running, lambda p=path, b=body, h=headers: requests.post(c.api + p, headers=h, json=b))
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
    assert requests.get(c.api + "/ideas", headers={"Authorization": "Bearer bad"}).status_code == 401
    # the wrong role: 403 before 422 (bad body) and 404 (unknown idea)
    cases = [("POST", "/projects", "alice", {"title": ""}), ("POST", "/ideas/nope/status", "mod", {"status": "?"}),
             ("POST", "/ideas/nope/merge", "alice", {}), ("POST", "/ideas", "partner", {"title": 5}),
             ("POST", "/ideas/nope/moderation", "alice", {"action": "explode"}),
             ("POST", "/erasures", "mod", {"person": ""}), ("GET", "/moderation/queue?state=weird", "alice", None),
             ("POST", "/ideas", "other_tenant", {})]
    for method, path, who, body in cases:
        r = unchanged(running, lambda m=method, p=path, w=who, b=body: c.call(m, p, w, b))
        assert r.status_code == 403, (method, path, who, r.text)


def test_unknown_tenant_is_404_before_anything_is_stored(running):
    api = running.api("atlantis")
    admin = running.token("ada", ["admin"], "atlantis")
    for method, path, body in [("POST", "/projects", {"title": "Sunk"}), ("GET", "/ideas", None),
                               ("POST", "/erasures", {"person": "x", "reason": "y"}), ("GET", "/projects", None)]:
        r = unchanged(running, lambda m=method, p=path, b=body: requests.request(m, api + p, headers=admin, json=b))
        assert r.status_code == 404 and r.json()["error"] == "unknown_tenant", (path, r.text)
    assert requests.get(running.api("Demo") + "/ideas").status_code == 404
    assert requests.post(running.api("Ghent") + "/projects", headers=admin, json={"title": "x"}).status_code in (
        403, 404)                                   # a token for another tenant, or an unknown one: never stored


def test_roles_on_commands(running, c):
    project = c.project()
    idea = c.submit(project).json()["idea_id"]
    cases = [
        ("POST", "/projects", "alice", {"title": "mine"}),
        ("POST", f"/projects/{project}/phases", "mod", {"kind": "voting", "start": iso(70), "end": iso(80)}),
        ("POST", f"/ideas/{idea}/status", "alice", {"status": "under_review"}),
        ("POST", f"/ideas/{idea}/status", "mod", {"status": "under_review"}),
        ("POST", f"/ideas/{idea}/moderation", "alice", {"action": "hide", "reason": "I can't"}),
        ("POST", f"/ideas/{idea}/merge", "mod", {"into": idea}),
        ("POST", "/ideas", "partner", {"project_id": project, "title": "t", "body": "b"}),
        ("PATCH", f"/ideas/{idea}", "bob", {"title": "not my idea"}),               # the author only (domain)
        ("POST", f"/ideas/{idea}/withdraw", "bob", {}),
        ("GET", "/ideas?include_hidden=true", "alice", None),
        ("GET", "/moderation/queue", "alice", None),
        ("POST", "/erasures", "mod", {"person": "alice", "reason": "no"}),
    ]
    for method, path, who, body in cases:
        r = unchanged(running, lambda m=method, p=path, w=who, b=body: c.call(m, p, w, b))
        assert r.status_code == 403, (method, path, who, r.text)
    assert c.call("GET", "/ideas", "nobody").status_code == 200                 # anonymous reads are allowed


# ------------------------------------------------------------------ bad input
def test_bad_input_is_400_or_422_with_fields(running, c):
    project = c.project()
    r = unchanged(running, lambda: requests.post(c.api + "/ideas", headers=dict(c.h["alice"], **{
        "Content-Type": "application/json"}), data=b"{not json"))
    assert r.status_code == 400
    r = unchanged(running, lambda: c.submit(project, title="x" * 201, body="y" * 10_001))
    assert r.status_code == 422 and set(r.json()["details"]["fields"]) == {"title", "body"}
    r = unchanged(running, lambda: c.submit(project, demographics={"birth_year": 1990}))
    assert r.status_code == 422 and "consent" in r.json()["details"]["fields"]["demographics"]
    r = unchanged(running, lambda: c.submit(project, colour="red"))
    assert r.status_code == 422 and "colour" in r.json()["details"]["fields"]
    r = unchanged(running, lambda: c.submit(project, location={"lat": 91, "lon": 0}))
    assert r.status_code == 422 and "lat" in r.json()["details"]["fields"]["location"]
    r = unchanged(running, lambda: c.call("POST", "/projects", "admin", {"title": "W", "workflow": {
        "under_review": ["accepted"]}}))
    assert r.status_code == 422 and "workflow" in r.json()["details"]["fields"]
    r = unchanged(running, lambda: requests.get(c.api + "/ideas?sort=random"))
    assert r.status_code == 422 and "sort" in r.json()["details"]["fields"]
    for cursor in ("garbage", "eyJzIjoibmV3IiwiayI6WzFlMzA4XX0", "eyJzIjoibmV3IiwiayI6W119"):
        assert requests.get(c.api + "/ideas", params={"cursor": cursor}).status_code == 400


def test_unknown_project_or_idea_is_404(running, c):
    project = c.project()
    r = unchanged(running, lambda: c.submit("no-such-project"))
    assert r.status_code == 404
    for method, path, who, body in [("PATCH", "/ideas/nope", "alice", {"title": "x"}),
                                    ("POST", "/ideas/nope/status", "admin", {"status": "under_review"}),
                                    ("POST", "/ideas/nope/comments", "alice", {"body": "hi"}),
                                    ("POST", "/ideas/nope/flag", "alice", {}),
                                    ("POST", "/comments/nope/moderation", "mod", {"action": "hide", "reason": "x"}),
                                    ("POST", "/projects/nope/phases", "admin",
                                     {"kind": "voting", "start": iso(1), "end": iso(2)}),
                                    ("POST", f"/ideas/{c.submit(project).json()['idea_id']}/merge", "admin",
                                     {"into": "nope"}),
                                    ("GET", "/ideas/nope", "alice", None), ("GET", "/projects/nope", "alice", None)]:
        r = unchanged(running, lambda m=method, p=path, w=who, b=body: c.call(m, p, w, b))
        assert r.status_code == 404, (path, r.text)


def test_wrong_phase_is_409_with_reason(running, c):
    r = c.call("POST", "/projects", "admin", {"title": "Later", "phases": [
        {"kind": "ideation", "start": iso(10), "end": iso(20)}]})
    later = r.json()["project_id"]
    r = unchanged(running, lambda: c.submit(later))
    assert r.status_code == 409 and "opens at" in r.json()["message"]
    assert r.json()["details"]["reason"] == "phase_closed"
    pid = eventually(lambda: requests.get(c.api + f"/projects/{later}").json().get("phases"))[0]["phase_id"]
    r = c.call("PATCH", f"/projects/{later}/phases/{pid}", "admin", {"start": iso(-1)})
    assert r.status_code == 200 and r.json()["events"] == ["PhaseChanged"]
    assert c.submit(later).status_code == 201                                    # now it is open


# ------------------------------------------------------------------ idempotency keys (scoped, checked after authz)
def test_idempotency_keys_are_scoped_to_the_caller(running, c):
    project = c.project()
    key = {"Idempotency-Key": "submit-1"}
    a = c.submit(project, "alice", headers=key)
    b = c.submit(project, "bob", headers=key)
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["idea_id"] != b.json()["idea_id"]                             # Bob's idea is not dropped
    again = c.submit(project, "alice", headers=key)
    assert again.status_code == 201 and again.json() == a.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(running.store.read_stream(c.tenant, f"idea-{a.json()['idea_id']}")) == 1
    # the same key with another body → 422; on a route the caller may not use → 403, never a replay
    r = unchanged(running, lambda: c.submit(project, "alice", title="Another idea", headers=key))
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["details"]["fields"]
    r = unchanged(running, lambda: c.call("POST", "/projects", "alice", {"title": "x"}, headers=key))
    assert r.status_code == 403
    mine = requests.get(c.api + "/commands/submit-1", headers=c.h["alice"]).json()["outcomes"]
    assert [o["body"]["idea_id"] for o in mine] == [a.json()["idea_id"]]


# ------------------------------------------------------------------ the idea life cycle over HTTP
def test_submit_stores_pseudonym_and_personal_part_and_round_trips_unicode(running, c):
    project = c.project()
    title = "🌳 حديقة خضراء في الحي — Zoë's פארק"
    r = c.submit(project, title=title, body="نريد المزيد من الأشجار 🌳🌳", tags=["Green", "park"],
                 location={"lat": 51.05, "lon": 3.72, "address": "Citadelpark"}, display_name="Zoë",
                 demographics={"birth_year": 1984, "gender": "female", "district": "Gentbrugge",
                               "domicile": "Ghent", "consent": True})
    assert r.status_code == 201, r.text
    idea_id = r.json()["idea_id"]
    [ev] = running.store.read_stream(c.tenant, f"idea-{idea_id}")
    assert ev.type == "IdeaSubmitted" and ev.data["title"] == title and ev.data["language"] == "ar"
    assert ev.data["author"] == running.store.person_id(c.tenant, "alice") != "alice"
    assert ev.data["personal"] == {"birth_year": 1984, "gender": "female", "district": "Gentbrugge",
                                   "domicile": "Ghent", "consent": True, "display_name": "Zoë"}
    assert ev.data["tags"] == ["green", "park"] and ev.correlationid and ev.schema_version == 2
    detail = eventually(lambda: requests.get(c.api + f"/ideas/{idea_id}").json().get("title") and
                        requests.get(c.api + f"/ideas/{idea_id}").json())
    assert detail["title"] == title and detail["body"] == "نريد المزيد من الأشجار 🌳🌳"
    assert detail["author_name"] == "Zoë" and "author" not in detail and "personal" not in detail
    assert detail["location"]["address"] == "Citadelpark"
    listed = requests.get(c.api + "/ideas").json()["items"]
    assert listed[0]["author_name"] == "Zoë" and ev.data["author"] not in str(listed)


def test_life_cycle_edit_comment_moderate_status_merge(running, c):
    api, T = c.api, c.tenant
    project = c.project()
    a = c.submit(project, title="Bicycle lane on Main Street", body="Safe cycling to school").json()
    idea = a["idea_id"]
    r = c.call("PATCH", f"/ideas/{idea}", "alice", {"body": "Safe cycling for kids"})
    assert r.status_code == 200 and r.json()["events"] == ["IdeaEdited"]
    c1 = c.call("POST", f"/ideas/{idea}/comments", "bob", {"body": "Yes!"}).json()["comment_id"]
    r = c.call("POST", f"/ideas/{idea}/comments", "alice", {"body": "Thanks", "parent_id": c1})
    assert r.status_code == 201 and r.json()["parent_id"] == c1
    r = unchanged(running, lambda: c.call("POST", f"/ideas/{idea}/comments", "alice",
                                          {"body": "x", "parent_id": "nope"}))
    assert r.status_code == 404
    assert c.call("POST", f"/comments/{c1}/flag", "alice", {"reason": "hm"}).status_code == 201
    r = unchanged(running, lambda: c.call("POST", f"/comments/{c1}/flag", "alice", {}))
    assert r.status_code == 409
    r = c.call("POST", f"/comments/{c1}/moderation", "mod", {"action": "hide", "reason": "off"})
    assert r.status_code == 200
    r = c.call("POST", f"/ideas/{idea}/status", "admin", {"status": "under_review"})
    assert r.status_code == 200
    r = unchanged(running, lambda: c.call("PATCH", f"/ideas/{idea}", "alice", {"title": "x"}))
    assert r.status_code == 409 and "before review" in r.json()["message"]
    r = unchanged(running, lambda: c.call("POST", f"/ideas/{idea}/status", "admin", {"status": "implemented"}))
    assert r.status_code == 409 and "allowed" in r.json()["message"]
    r = unchanged(running, lambda: c.call("POST", f"/ideas/{idea}/status", "admin", {"status": "rejected"}))
    assert r.status_code == 422 and "feedback" in r.json()["details"]["fields"]
    r = c.call("POST", f"/ideas/{idea}/status", "admin",
               {"status": "accepted", "feedback": "Wir bauen den Radweg im Herbst."})
    assert r.status_code == 200
    ev = running.store.read_stream(T, f"idea-{idea}")[-1]
    assert ev.type == "IdeaStatusChanged"
    assert {k: ev.data[k] for k in ("from", "to", "decision", "feedback_language", "decided_by")} == {
        "from": "under_review", "to": "accepted", "decision": True, "feedback_language": "de",
        "decided_by": running.store.person_id(T, "ada")}
    # a duplicate (found once the board has caught up: it is eventually consistent), merged by an admin
    eventually(lambda: requests.get(api + f"/ideas/{idea}").json().get("status") == "accepted")
    dup = c.submit(project, "bob", title="Cycle lane Main Street", body="cycling school").json()
    assert dup["similar"] and dup["similar"][0]["idea_id"] == idea
    r = c.call("POST", f"/ideas/{dup['idea_id']}/merge", "admin", {"into": idea})
    assert r.status_code == 200
    merged = running.store.read_stream(T, f"idea-{dup['idea_id']}")[-1]
    assert merged.type == "IdeaMerged" and merged.data["survivor_id"] == idea
    # withdraw
    w = c.submit(project, title="Short-lived", body="gone soon").json()["idea_id"]
    assert c.call("POST", f"/ideas/{w}/withdraw", "alice", {}).status_code == 200
    assert c.call("POST", f"/ideas/{w}/withdraw", "alice", {}).status_code == 409
    # the read side catches up
    detail = eventually(lambda: (lambda d: d if d.get("status") == "accepted" and d["comments"] else None)(
        requests.get(api + f"/ideas/{idea}").json()))
    assert detail["feedback"] == "Wir bauen den Radweg im Herbst." and detail["body"] == "Safe cycling for kids"
    [cm] = detail["comments"]
    assert cm["hidden"] and cm["body"] is None and cm["replies"][0]["body"] == "Thanks"
    assert requests.get(api + f"/ideas/{idea}", headers=c.h["mod"]).json()["comments"][0]["body"] == "Yes!"
    eventually(lambda: requests.get(api + f"/ideas/{dup['idea_id']}").json().get("merged_into") == idea)
    counts = eventually(lambda: (lambda x: x if x["by_status"].get("withdrawn") else None)(
        requests.get(api + f"/ideas/counts?project_id={project}").json()))
    assert counts["by_status"]["accepted"] == 1 and counts["by_status"]["merged"] == 1
    listed = requests.get(api + f"/ideas?project_id={project}&status=accepted").json()["items"]
    assert [i["idea_id"] for i in listed] == [idea]
    sims = requests.get(api + "/ideas/similar", params={"project_id": project, "text": "bicycle lane"}).json()
    assert sims["items"][0]["idea_id"] == idea
    anywhere = requests.get(api + "/ideas/similar", params={"text": "bicycle lane Main Street"}).json()
    assert anywhere["items"][0]["idea_id"] == idea
    assert requests.get(api + "/ideas/similar").status_code == 422           # text is required


def test_list_pages_with_opaque_cursor(running, c):
    project = c.project()
    for n in range(3):
        c.submit(project, title=f"Paged idea {n}", body="pagination test")
    ids = eventually(lambda: (lambda items: items if len(items) >= 3 else None)(
        requests.get(c.api + "/ideas", params={"text": "pagination", "limit": 100}).json()["items"]))
    seen, cursor = [], None
    while True:
        page = requests.get(c.api + "/ideas", params={"text": "pagination", "limit": 2,
                                                      **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["idea_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [i["idea_id"] for i in ids]


# ------------------------------------------------------------------ moderation queue
def test_moderators_work_through_the_queue(running, c):
    project = c.project()
    idea = c.submit(project, title="Cheap watches here", body="buy now").json()["idea_id"]
    good = c.submit(project, "bob", title="Benches", body="more benches").json()["idea_id"]
    comment = c.call("POST", f"/ideas/{good}/comments", "alice", {"body": "you fool"}).json()["comment_id"]
    assert c.call("POST", f"/ideas/{idea}/flag", "bob", {"reason": "spam"}).status_code == 201
    assert c.call("POST", f"/comments/{comment}/flag", "bob", {"reason": "insult"}).status_code == 201
    queue = eventually(lambda: (lambda q: q if len(q["items"]) == 2 else None)(
        c.call("GET", "/moderation/queue", "mod", params={"project_id": project}).json()))
    assert [i["target_id"] for i in queue["items"]] == [comment, idea]             # newest flag first
    assert queue["items"][1]["reasons"] == [{"reason": "spam", "count": 1}]
    assert queue["items"][1]["idea_title"] == "Cheap watches here"
    assert c.call("POST", f"/ideas/{idea}/moderation", "mod", {"action": "hide", "reason": "spam"}).status_code == 200
    assert c.call("POST", f"/comments/{comment}/moderation", "mod",
                  {"action": "dismiss", "reason": "banter"}).status_code == 200
    eventually(lambda: c.call("GET", "/moderation/queue", "mod", params={"project_id": project}).json()["items"]
               == [])
    hidden = c.call("GET", "/moderation/queue", "admin", params={"state": "hidden"}).json()["items"]
    assert [i["target_id"] for i in hidden] == [idea]
    assert c.call("POST", f"/ideas/{idea}/moderation", "mod",
                  {"action": "restore", "reason": "appeal"}).status_code == 200


# ------------------------------------------------------------------ erasure
def test_admin_erases_a_person_and_every_read_model_drops_them(running, c):
    project = c.project()
    T = c.tenant
    idea = c.submit(project, title="Quiet streets", body="fewer cars", display_name="Alice Q.",
                    demographics={"birth_year": 1970, "district": "Wondelgem", "consent": True}).json()["idea_id"]
    c.call("POST", f"/ideas/{idea}/comments", "alice", {"body": "me again", "display_name": "Alice Q."})
    alice = running.store.person_id(T, "alice")
    eventually(lambda: requests.get(c.api + f"/ideas/{idea}").json().get("comments"))
    r = unchanged(running, lambda: c.call("POST", "/erasures", "admin", {"person": "alice"}))
    assert r.status_code == 422                                                     # a reason is required
    r = c.call("POST", "/erasures", "admin", {"person": "alice", "reason": "request of 2026-05-01"})
    assert r.status_code == 202 and r.json() == {"person": alice}
    forgotten = running.store.read_stream(T, f"person-{alice}")[-1]
    assert forgotten.data["person"] == alice and "alice" not in forgotten.data["requested_by"]

    def gone():
        docs = [d for name in running.db.list_collection_names() if name.startswith("ideas_")
                for d in running.db[name].find({"tenant": T})]
        text = str(docs) + requests.get(c.api + f"/ideas/{idea}").text + requests.get(c.api + "/ideas").text
        return not any(s in text for s in (alice, "Alice Q.", "Wondelgem", "1970"))
    eventually(gone)
    detail = requests.get(c.api + f"/ideas/{idea}").json()
    assert detail["title"] == "Quiet streets" and detail["author_name"] == "citizen"
    assert detail["comments"][0]["author_name"] == "citizen"
    [ev] = running.store.read_stream(T, f"idea-{idea}")
    assert ev.data["personal"] is None                                           # crypto-shredded in the log
    assert c.call("POST", "/erasures", "admin", {"person": "nobody-known", "reason": "x"}).json() == {"person": None}


# ------------------------------------------------------------------ internal RPC (what the back-office bridge calls)
def rpc_as(running, token):
    return ClusterRpcProxy({"AMQP_URI": running.amqp_uri}, timeout=30,
                           context_data={CONTEXT_KEY: token} if token else None)


def test_bridge_changes_status_as_itself_idempotently(running, c):
    project = c.project()
    T = c.tenant
    idea = c.submit(project, title="Decide me over RPC", body="bridge").json()["idea_id"]
    assert c.call("POST", f"/ideas/{idea}/status", "admin", {"status": "under_review"}).status_code == 200
    bridge = auth.service_token("bridge", ["ideas.change_status"], secret=SECRET)
    with rpc_as(running, bridge) as proxy:
        first = proxy.ideas.change_status_from_decision(T, idea, "rejected", "Niet haalbaar binnen het budget.")
        head = running.store.head()
        again = proxy.ideas.change_status_from_decision(T, idea, "rejected", "Niet haalbaar binnen het budget.")
        assert again == first and running.store.head() == head                   # a decision delivered twice
        ev = running.store.read_stream(T, f"idea-{idea}")[-1]
        assert ev.data["to"] == "rejected" and ev.data["feedback_language"] == "nl"
        assert ev.data["decided_by"] == "service:bridge"
        with pytest.raises(errors.Conflict):
            proxy.ideas.change_status_from_decision(T, idea, "accepted", "late")
        with pytest.raises(errors.NotFound):
            proxy.ideas.change_status_from_decision(T, "nope", "accepted", "x")
        with pytest.raises(errors.NotFound):
            proxy.ideas.change_status_from_decision("atlantis", idea, "accepted", "x")
        with pytest.raises(errors.ValidationFailed):
            proxy.ideas.change_status_from_decision(T, idea, "Not A Status", "x")
    others = auth.service_token("analytics", ["analytics.read"], secret=SECRET)
    person = auth.mint("ada", T, ["admin"], secret=SECRET)
    for token in (others, person, None):
        with rpc_as(running, token) as proxy:
            with pytest.raises((errors.Forbidden, errors.Unauthorized)):
                proxy.ideas.change_status_from_decision(T, idea, "accepted", "x")
    assert running.store.head() == head


# ------------------------------------------------------------------ rebuilds
def test_a_requested_rebuild_is_blue_green_and_equals_live(running, c):
    from agora.projections import request
    from ideas.projections import COLLECTIONS
    project = c.project()
    idea = c.submit(project, title="Rebuilt idea", display_name="Reb").json()["idea_id"]
    c.call("POST", f"/ideas/{idea}/comments", "bob", {"body": "still here"})
    c.call("POST", f"/ideas/{idea}/flag", "bob", {"reason": "test"})
    head = running.store.head()
    eventually(lambda: running.db["subscription_checkpoints"].find_one({"_id": "ideas:board"})["position"] >= head)

    def snapshot():
        return {n: sorted(running.db[n].find(), key=lambda d: str(d["_id"])) for n in COLLECTIONS}
    live = snapshot()
    out = request(running.db, "ideas", "board", wait_s=60)
    assert out["states"] == {"ideas:board": "done"}, out
    assert running.db["projection_rebuilds"].find_one({"_id": "ideas:board"})["mode"] == "blue-green"
    after = snapshot()
    assert after == live
    assert requests.get(c.api + f"/ideas/{idea}").json()["author_name"] == "Reb"
