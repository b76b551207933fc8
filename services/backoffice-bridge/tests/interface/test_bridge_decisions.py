"""Decisions recorded from the ideas/budgets event streams and served over HTTP (real `nameko run`, RabbitMQ,
SecantusDB): idempotent recording, the five renderings, auth and tenant isolation, hostile and long texts,
missing optional fields, budget outcomes, OpenAPI."""
import csv
import io

import pika
import requests
from lxml import etree
from rdflib import Graph, Literal, URIRef

from agora.events.envelope import NewEvent
from backoffice_bridge import decisions as dmap
from backoffice_bridge.renderers import CSV_COLUMNS
from backoffice_bridge.service import BackofficeBridgeService
from agora.web import http_entrypoints_of

from bridge_support import (ADMIN, BUDGETS_SCHEMA, NASTY, PARTNER, decision_of, headers, status_changed)

BESLUIT_MOTIVERING = URIRef("http://data.vlaanderen.be/ns/besluit#motivering")


def test_status_change_recorded_once_with_deterministic_id(stack):
    t = "rec"
    eid = status_changed(stack.store, t, "idea-1", "accepted", feedback="Goed voorstel.")
    status_changed(stack.store, t, "idea-2", "under_review", frm="proposed")      # not a decision
    did = dmap.decision_id_for(t, eid)
    body = decision_of(stack, t, did)
    assert body["kind"] == "idea_status" and body["outcome"] == "accepted" and body["source_event_id"] == eid
    assert body["decision"]["motivation"] == "Goed voorstel." and body["decision"]["language"] == "nl"
    assert body["decision"]["subjects"][0]["url"].endswith(f"/tenants/{t}/ideas/idea-1")
    # a later event is processed, so the non-decision was seen and skipped
    eid3 = status_changed(stack.store, t, "idea-3", "rejected", feedback="Te duur.")
    decision_of(stack, t, dmap.decision_id_for(t, eid3))
    listing = requests.get(stack.api(t) + "/decisions", headers=PARTNER(t)).json()
    assert [i["source_event_id"] for i in listing["items"]] == [eid, eid3]
    assert [i["seq"] for i in listing["items"]] == [1, 2] and listing["has_more"] is False
    # duplicate doorbells (copies of the source event on the broker) change nothing
    conn = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    ch = conn.channel()
    src = stack.store.get(eid)
    for _ in range(3):
        ch.basic_publish("ideas.events", src.type, src.to_json(),
                         pika.BasicProperties(headers={"sequence": src.position}))
    conn.close()
    eid4 = status_changed(stack.store, t, "idea-4", "implemented", frm="accepted")
    decision_of(stack, t, dmap.decision_id_for(t, eid4))
    assert len(stack.store.read_stream(t, f"decision-{did}")) == 1
    assert requests.get(stack.api(t) + "/decisions", headers=PARTNER(t)).json()["items"][2]["seq"] == 3
    assert stack.db.bridge_decisions.count_documents({"tenant": t}) == 3
    page = requests.get(stack.api(t) + "/decisions?after=1&limit=1", headers=PARTNER(t)).json()
    assert [i["seq"] for i in page["items"]] == [2] and page["has_more"] is True


def test_renderings_hostile_unicode_and_long_text(stack):
    t = "render"
    long_text = (NASTY * 200)[:10_000]
    eid = status_changed(stack.store, t, "idea-9", "accepted", feedback=long_text, language="he", title=NASTY[:200])
    did = dmap.decision_id_for(t, eid)
    decision_of(stack, t, did)
    base = f"{stack.api(t)}/decisions/{did}"
    h = PARTNER(t)
    ttl = requests.get(base + ".ttl", headers=h)
    assert ttl.status_code == 200 and ttl.headers["Content-Type"].startswith("text/turtle")
    g = Graph().parse(data=ttl.text, format="turtle")
    assert Literal(long_text, lang="he") in set(g.objects(None, BESLUIT_MOTIVERING))
    jl = requests.get(base + ".jsonld", headers=h)
    assert jl.headers["Content-Type"].startswith("application/ld+json") and "@graph" in jl.json()
    akn = requests.get(base + ".akn.xml", headers=h)
    assert akn.headers["Content-Type"].startswith("application/akn+xml")
    root = etree.fromstring(akn.content)
    assert long_text.replace("\r\n", "\n").replace("\r", "\n") in "".join(root.itertext()).replace("\r", "\n") or \
        long_text.split("\n")[0] in "".join(root.itertext())
    popolo = requests.get(base + ".popolo.json", headers=h)
    assert popolo.json()["motion"]["result"] == "pass"
    csv_resp = requests.get(base + ".csv", headers=h)
    assert csv_resp.headers["Content-Type"].startswith("text/csv")
    assert csv_resp.headers["Content-Disposition"] == f"attachment; filename=\"{did}.csv\"; filename*=UTF-8''{did}.csv"
    csv.field_size_limit(10_000_000)
    rows = list(csv.DictReader(io.StringIO(csv_resp.content.decode("utf-8-sig"))))
    assert len(rows) == 1 and list(rows[0]) == list(CSV_COLUMNS) and rows[0]["decision_id"] == did
    # ?format= (name or extension) gives the same bytes; the JSON view is the default
    assert requests.get(base, params={"format": "oslo-ttl"}, headers=h).content == ttl.content
    assert requests.get(base, params={"format": "akn.xml"}, headers=h).content == akn.content
    assert requests.get(base, headers=h).json()["decision"]["title"] == NASTY[:200]
    bad = requests.get(base, params={"format": "pdf"}, headers=h)
    assert bad.status_code == 422 and "format" in bad.json()["details"]["fields"]
    assert requests.get(f"{stack.api(t)}/decisions/nope.ttl", headers=h).status_code == 404


def test_missing_optional_fields_give_fallbacks(stack):
    t = "sparse"
    # implemented without feedback and without feedback language: generated motivation, default language
    eid = status_changed(stack.store, t, "idea-5", "implemented", feedback="", language=None, frm="accepted")
    did = dmap.decision_id_for(t, eid)
    body = decision_of(stack, t, did)
    d = body["decision"]
    assert d["motivation"] is None and d["language"] == "en" and d.get("votes") is None and d.get("session") is None
    ttl = requests.get(f"{stack.api(t)}/decisions/{did}.ttl", headers=PARTNER(t)).text
    assert "No motivation was communicated" in ttl
    assert requests.get(f"{stack.api(t)}/decisions/{did}.akn.xml", headers=PARTNER(t)).status_code == 200
    assert requests.get(f"{stack.api(t)}/decisions/{did}.popolo.json", headers=PARTNER(t)).json()["motion"]


def test_budget_outcome_becomes_a_decision_with_amounts(stack):
    t = "pb"
    stream = "round-r-2026"
    stack.store.append(t, stream, [
        NewEvent("RoundOpened", {"round_id": "r-2026", "tenant_id": t, "project_id": "proc-1", "budget": "100000",
                                 "currency": "EUR", "ballot_type": "knapsack", "rule": "greedy"}),
        NewEvent("ProjectAdded", {"round_id": "r-2026", "id": "p-1", "cost": "12500.50",
                                  "title": "Speeltuin & bankjes <3", "attributes": {"idea_id": "idea-1"}}),
        NewEvent("ProjectAdded", {"round_id": "r-2026", "id": "p-2", "cost": "800", "title": "Bomen 🌳 — ‘groen’"}),
        NewEvent("ProjectAdded", {"round_id": "r-2026", "id": "p-3", "cost": "99000", "title": "Te duur"})])
    stack.store.append(t, stream, [NewEvent("RoundClosed", {"round_id": "r-2026", "ballots": 3})])
    ev = NewEvent("OutcomeComputed", {
        "round_id": "r-2026", "rule": "greedy", "tie_breaking": "cost", "selected": ["p-1", "p-2"],
        "total_cost": "13300.50", "budget": "100000",
        "projects": [{"id": "p-1", "cost": "12500.50", "votes": 3, "selected": True},
                     {"id": "p-2", "cost": "800", "votes": 2, "selected": True},
                     {"id": "p-3", "cost": "99000", "votes": 1, "selected": False}], "details": {}})
    stack.store.append(t, stream, [ev])
    did = dmap.decision_id_for(t, ev.id)
    body = decision_of(stack, t, did)
    d = body["decision"]
    assert body["kind"] == "budget_outcome" and body["outcome"] == "allocated" and body["origin"] == "budgets"
    assert [(s["id"], s["title"], s["amount"], s["currency"]) for s in d["subjects"]] == [
        ("p-1", "Speeltuin & bankjes <3", "12500.50", "EUR"), ("p-2", "Bomen 🌳 — ‘groen’", "800", "EUR")]
    assert d["subjects"][0]["url"].endswith(f"/tenants/{t}/ideas/idea-1")
    assert "13300.50 EUR" in d["description"]
    rows = list(csv.DictReader(io.StringIO(requests.get(f"{stack.api(t)}/decisions/{did}.csv",
                                                        headers=PARTNER(t)).content.decode("utf-8-sig"))))
    assert len(rows) == 2
    root = etree.fromstring(requests.get(f"{stack.api(t)}/decisions/{did}.akn.xml", headers=PARTNER(t)).content)
    assert "Speeltuin & bankjes <3" in "".join(root.itertext())
    # RoundClosed carries no outcome: only the OutcomeComputed became a decision
    eid = status_changed(stack.store, t, "idea-z", "rejected", feedback="x")
    decision_of(stack, t, dmap.decision_id_for(t, eid))
    assert stack.db.bridge_decisions.count_documents({"tenant": t}) == 2
    assert BUDGETS_SCHEMA in ("shared", "test-local")


def test_auth_roles_and_tenant_isolation(stack):
    t = "authz"
    eid = status_changed(stack.store, t, "idea-1", "rejected", feedback="Nee.")
    did = dmap.decision_id_for(t, eid)
    decision_of(stack, t, did)
    url = f"{stack.api(t)}/decisions/{did}"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer garbage"}).status_code == 401
    assert requests.get(url, headers=headers("cit", ("citizen",), t)).status_code == 403
    assert requests.get(url, headers=headers("mod", ("moderator",), t)).status_code == 403
    assert requests.get(url, headers=ADMIN(t)).status_code == 200
    # a partner of another tenant: 403 on this tenant, 404 for this decision under its own tenant
    assert requests.get(url, headers=PARTNER("other")).status_code == 403
    assert requests.get(f"{stack.api('other')}/decisions/{did}", headers=PARTNER("other")).status_code == 404
    assert requests.get(f"{stack.api('other')}/decisions", headers=PARTNER("other")).json()["items"] == []
    # a partner registers pull and webhook adapters for itself; a drop folder (the platform's disks) is staff only
    r = requests.put(f"{stack.api(t)}/deliveries/adapters/x", headers=PARTNER(t),
                     json={"type": "drop_folder", "format": "csv", "folder": "inbox"})
    assert r.status_code == 403
    assert requests.put(f"{stack.api(t)}/deliveries/adapters/x", headers=PARTNER(t),
                        json={"type": "pull", "format": "csv"}).status_code == 200
    # a delivery that is not the partner's is not found (its existence is not revealed either)
    assert requests.post(f"{stack.api(t)}/deliveries/{did}.x/replay", headers=PARTNER(t)).status_code == 404
    cit = headers("cit", ("citizen",), t)
    assert requests.get(f"{stack.api(t)}/deliveries", headers=cit).status_code == 403
    # 401/403 come before validation and not-found (a citizen's bad body on a partner route: 403, not 422)
    assert requests.put(f"{stack.api(t)}/deliveries/adapters/Bad_Id", headers=cit, data=b"{nope").status_code == 403
    assert requests.put(f"{stack.api(t)}/deliveries/adapters/Bad_Id", data=b"{nope").status_code == 401
    assert requests.get(f"{stack.api(t)}/decisions/nope", headers=cit).status_code == 403
    assert requests.get(f"{stack.api(t)}/decisions?limit=abc", headers=cit).status_code == 403


def test_unknown_tenant_is_404_before_anything_is_stored(stack):
    t = "no-such-city"
    before = stack.db.events.count_documents({})
    for method, path, body in [("GET", "/decisions", None), ("GET", "/deliveries/adapters", None),
                               ("PUT", "/deliveries/adapters/erp", {"type": "pull", "format": "csv"}),
                               ("POST", "/decisions/inbound", {"id": "x"})]:
        r = requests.request(method, stack.api(t) + path, json=body, headers=ADMIN(t))
        assert r.status_code == 404 and r.json()["error"] == "unknown_tenant", (method, path, r.text)
    assert stack.db.events.count_documents({}) == before
    assert stack.db.bridge_adapters.count_documents({"tenant": t}) == 0


def test_openapi_documents_every_route(stack):
    doc = requests.get(stack.url + "/api/v1/openapi.json").json()
    routes = http_entrypoints_of(BackofficeBridgeService)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert routes - documented == set()
    assert len(routes) >= 15
    inbound = doc["paths"]["/api/v1/tenants/{tenant}/decisions/inbound"]["post"]
    assert {"application/json", "text/turtle", "application/ld+json"} <= set(inbound["requestBody"]["content"])
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["summary"], path
