"""Webhooks for partners over the real stack: partners register, ping, rotate and replay their own endpoints and
see nothing of anyone else's; secrets are never shown or published; webhooks only reach public addresses (checked
again at delivery); failed deliveries keep a short reason; idempotency keys per caller; exports negotiate Accept;
erasure reaches the bridge's read models."""
import base64
import csv
import io
import json

import requests

from agora.events.envelope import NewEvent
from backoffice_bridge import decisions as dmap

from bridge_support import (ADMIN, PARTNER, WEBHOOK_SECRET, configure, decision_of, delivery_of, headers,
                            status_changed, wait_for)

ALICE = lambda t: headers("alice-erp", ("partner",), t)  # noqa: E731
BOB = lambda t: headers("bob-data", ("partner",), t)  # noqa: E731
NEW_SECRET = "whsec_" + base64.b64encode(b"a-brand-new-webhook-key-456789").decode()


def _everything_the_bridge_stored(stack, tenant) -> str:
    docs = []
    for name in stack.db.list_collection_names():
        if name.startswith("bridge_") and name != "bridge_secrets":
            docs += list(stack.db[name].find({"tenant": tenant}, {"_id": 0}))
    events = [e.data for e in stack.store.read_all(tenant)]
    return json.dumps([docs, events], default=str)


def test_a_partner_registers_pings_and_receives_signed_deliveries(stack):
    t = "ptn"
    path = "/hooks/ptn"
    configure(stack, t, "alice-hook", who=ALICE(t), type="webhook", format="popolo", url=stack.receiver.url + path,
              secret=WEBHOOK_SECRET, backoff_base_s=0.1)
    # the ping: signed, event type "ping", answered with the outcome
    ping = requests.post(f"{stack.api(t)}/deliveries/adapters/alice-hook/ping", headers=ALICE(t))
    assert ping.status_code == 200, ping.text
    assert ping.json()["outcome"] == "delivered" and ping.json()["http_status"] == 200
    [got] = stack.receiver.requests_to(path)
    assert got["signature"] == "valid" and got["headers"]["webhook-event-type"] == "ping"
    assert json.loads(got["body"])["type"] == "ping"
    # a decision is delivered to it, signed (verified by the README's receiver code), with its event type
    did = dmap.decision_id_for(t, status_changed(stack.store, t, "idea-1", "accepted", feedback="Ja"))
    done = delivery_of(stack, t, dmap.delivery_id_for(did, "alice-hook"), "succeeded")
    assert done["attempts"] == 1
    delivered = stack.receiver.requests_to(path)[-1]
    assert delivered["signature"] == "valid" and delivered["headers"]["webhook-event-type"] == "DecisionRecorded"
    assert delivered["headers"]["Content-Type"].startswith("application/vnd.popolo+json")
    assert json.loads(delivered["body"])["motion"]["identifier"] == did
    # Alice sees her adapter and its deliveries; Bob and his pings, rotations, replays see nothing of hers
    assert [a["adapter_id"] for a in requests.get(f"{stack.api(t)}/deliveries/adapters",
                                                  headers=ALICE(t)).json()["items"]] == ["alice-hook"]
    assert requests.get(f"{stack.api(t)}/deliveries/adapters", headers=BOB(t)).json()["items"] == []
    base = f"{stack.api(t)}/deliveries/adapters/alice-hook"
    assert requests.get(base, headers=BOB(t)).status_code == 404
    assert requests.post(base + "/ping", headers=BOB(t)).status_code == 404
    assert requests.post(base + "/secret", json={"secret": NEW_SECRET}, headers=BOB(t)).status_code == 404
    assert requests.post(base + "/replay", headers=BOB(t)).status_code == 404
    taken = requests.put(base, json={"type": "pull", "format": "csv"}, headers=BOB(t))
    assert taken.status_code == 409 and taken.json()["details"]["reason"] == "adapter_id_taken"
    assert requests.get(f"{stack.api(t)}/deliveries", headers=BOB(t)).json()["items"] == []
    assert requests.get(f"{stack.api(t)}/deliveries/{done['delivery_id']}", headers=BOB(t)).status_code == 404
    assert [d["delivery_id"] for d in requests.get(f"{stack.api(t)}/deliveries",
                                                   headers=ALICE(t)).json()["items"]] == [done["delivery_id"]]
    # the admin sees every adapter of the city
    assert [a["owner"] for a in requests.get(f"{stack.api(t)}/deliveries/adapters",
                                             headers=ADMIN(t)).json()["items"]] == ["partner"]


def test_rotation_keeps_two_secrets_valid_then_one(stack):
    t = "ptn-rotate"
    path = "/hooks/rotate"
    configure(stack, t, "erp", who=ALICE(t), type="webhook", format="csv", url=stack.receiver.url + path,
              secret=WEBHOOK_SECRET, max_attempts=2, backoff_base_s=0.1)
    url = f"{stack.api(t)}/deliveries/adapters/erp"
    r = requests.post(url + "/secret", json={"secret": NEW_SECRET, "previous_valid_s": 3600}, headers=ALICE(t))
    assert r.status_code == 200 and r.json()["secrets_in_force"] == 2
    assert NEW_SECRET not in r.text and WEBHOOK_SECRET not in r.text
    # during the rotation a receiver that knows only the old secret, or only the new one, accepts
    stack.receiver.knows(path, [WEBHOOK_SECRET])
    assert requests.post(url + "/ping", headers=ALICE(t)).json()["outcome"] == "delivered"
    stack.receiver.knows(path, [NEW_SECRET])
    assert requests.post(url + "/ping", headers=ALICE(t)).json()["outcome"] == "delivered"
    sigs = stack.receiver.requests_to(path)[-1]["headers"]["webhook-signature"].split()
    assert len(sigs) == 2
    # the rotation ends: the old secret no longer signs
    r = requests.post(url + "/secret", json={"secret": NEW_SECRET, "previous_valid_s": 0}, headers=ALICE(t))
    assert r.json()["secrets_in_force"] == 1
    stack.receiver.knows(path, [WEBHOOK_SECRET])
    refused = requests.post(url + "/ping", headers=ALICE(t)).json()
    assert refused["outcome"] == "failed" and refused["http_status"] == 401
    assert refused["reason"] == "HTTP 401 Unauthorized"
    stack.receiver.knows(path, [NEW_SECRET])
    assert requests.post(url + "/ping", headers=ALICE(t)).json()["outcome"] == "delivered"
    assert NEW_SECRET not in _everything_the_bridge_stored(stack, t)


def test_replay_delivers_earlier_decisions_to_a_new_endpoint(stack):
    t = "ptn-replay"
    path = "/hooks/replay"
    dids = [dmap.decision_id_for(t, status_changed(stack.store, t, f"idea-{i}", "rejected", feedback=f"Nee {i}"))
            for i in range(3)]
    for did in dids:
        decision_of(stack, t, did)
    configure(stack, t, "late", who=ALICE(t), type="webhook", format="csv", url=stack.receiver.url + path,
              secret=WEBHOOK_SECRET, backoff_base_s=0.1)
    assert stack.receiver.requests_to(path) == []          # adapters configured later get nothing by themselves
    r = requests.post(f"{stack.api(t)}/deliveries/adapters/late/replay", params={"after": 1}, headers=ALICE(t))
    assert r.status_code == 200, r.text
    assert r.json()["queued"] == [dmap.delivery_id_for(d, "late") for d in dids[1:]] and not r.json()["has_more"]
    for did in dids[1:]:
        delivery_of(stack, t, dmap.delivery_id_for(did, "late"), "succeeded")
    # replaying again sends the same messages again (same webhook-id: the receiver keeps one of each)
    requests.post(f"{stack.api(t)}/deliveries/adapters/late/replay", params={"after": 1}, headers=ALICE(t))
    wait_for(lambda: len(stack.receiver.requests_to(path)) == 4, what="replayed twice")
    assert len(stack.receiver.accepted_to(path)) == 2
    pull = requests.put(f"{stack.api(t)}/deliveries/adapters/feed", json={"type": "pull", "format": "csv"},
                        headers=ALICE(t))
    assert pull.status_code == 200
    wait_for(lambda: requests.get(f"{stack.api(t)}/deliveries/adapters/feed", headers=ALICE(t)).status_code == 200)
    assert requests.post(f"{stack.api(t)}/deliveries/adapters/feed/replay", headers=ALICE(t)).status_code == 409


def test_webhooks_reach_public_addresses_only_checked_again_at_delivery(stack):
    t = "ptn-safe"
    hook = {"type": "webhook", "format": "csv", "secret": WEBHOOK_SECRET}
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/", "http://[fd00:ec2::254]/",
                "http://metadata.google.internal.invalid/", "http://user:pw@example.org/"):
        r = requests.put(f"{stack.api(t)}/deliveries/adapters/x", json=dict(hook, url=url), headers=ALICE(t))
        assert r.status_code == 422 and "url" in r.json()["details"]["fields"], (url, r.text)
    # an adapter that got past registration (configured by an event, as an old log would have it) pointing at the
    # metadata address: the delivery refuses to connect
    stack.store.append(t, "adapter-legacy", [NewEvent("DeliveryConfigured", {
        "adapter_id": "legacy", "type": "webhook", "format": "csv", "url": "http://169.254.169.254/latest/",
        "max_attempts": 3, "backoff_base_s": 0.1, "configured_by": "", "owned_by": None})])
    stack.db.bridge_secrets.insert_one({"_id": f"{t}/legacy", "tenant": t,
                                        "secrets": [{"secret": WEBHOOK_SECRET, "valid_until": None}]})
    wait_for(lambda: stack.db.bridge_adapters.find_one({"_id": f"{t}/legacy"}), what="legacy adapter projected")
    did = dmap.decision_id_for(t, status_changed(stack.store, t, "idea-1", "accepted", feedback="Ja"))
    dead = delivery_of(stack, t, dmap.delivery_id_for(did, "legacy"), "dead_lettered")
    assert dead["attempts"] == 1 and dead["log"][0]["http_status"] is None
    assert dead["last_error"].startswith("refused destination") and "link-local" in dead["last_error"]


def test_failed_deliveries_keep_a_short_reason_never_the_body(stack):
    t = "ptn-body"
    path = "/hooks/body"
    stack.receiver.fail_first(path, 1, 400)
    configure(stack, t, "erp", who=ALICE(t), type="webhook", format="csv", url=stack.receiver.url + path,
              secret=WEBHOOK_SECRET)
    did = dmap.decision_id_for(t, status_changed(stack.store, t, "idea-1", "accepted", feedback="Ja"))
    dead = delivery_of(stack, t, dmap.delivery_id_for(did, "erp"), "dead_lettered")
    assert dead["last_error"] == "HTTP 400 Bad Request" and dead["log"][0]["http_status"] == 400
    wait_for(lambda: "DeliveryDeadLettered" in [e.type for e in stack.store.read_all(t)], what="events")
    stored = _everything_the_bridge_stored(stack, t)
    assert "hunter2" not in stored and "INTERNAL-STACKTRACE" not in stored


def test_idempotency_keys_are_per_caller_and_route(stack):
    t = "ptn-idem"
    key = {"Idempotency-Key": "register-1"}
    a = requests.put(f"{stack.api(t)}/deliveries/adapters/a-feed", json={"type": "pull", "format": "csv"},
                     headers={**ALICE(t), **key})
    b = requests.put(f"{stack.api(t)}/deliveries/adapters/b-feed", json={"type": "pull", "format": "csv"},
                     headers={**BOB(t), **key})
    assert a.status_code == b.status_code == 200 and a.json()["adapter_id"] == "a-feed"
    assert b.json()["adapter_id"] == "b-feed" and "Idempotent-Replayed" not in b.headers
    wait_for(lambda: stack.db.bridge_adapters.count_documents({"tenant": t}) == 2, what="two adapters")
    again = requests.put(f"{stack.api(t)}/deliveries/adapters/a-feed", json={"type": "pull", "format": "csv"},
                         headers={**ALICE(t), **key})
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == a.json()
    other = requests.put(f"{stack.api(t)}/deliveries/adapters/a-feed", json={"type": "pull", "format": "akn"},
                         headers={**ALICE(t), **key})
    assert other.status_code == 422
    citizen = requests.put(f"{stack.api(t)}/deliveries/adapters/a-feed", json={"type": "pull", "format": "csv"},
                           headers={**headers("cit", ("citizen",), t), **key})
    assert citizen.status_code == 403
    assert len(stack.store.read_stream(t, "adapter-a-feed")) == 1


def test_exports_negotiate_accept_and_name_their_file(stack):
    t = "neg"
    did = dmap.decision_id_for(t, status_changed(stack.store, t, "idea-1", "accepted", feedback="Ja"))
    decision_of(stack, t, did)
    url = f"{stack.api(t)}/decisions/{did}"
    h = PARTNER(t)
    ttl = requests.get(url, headers={**h, "Accept": "text/turtle"})
    assert ttl.status_code == 200 and ttl.headers["Content-Type"].startswith("text/turtle")
    assert ttl.content == requests.get(url + ".ttl", headers=h).content
    assert "attachment" in ttl.headers["Content-Disposition"] and f"{did}.ttl" in ttl.headers["Content-Disposition"]
    assert requests.get(url, headers={**h, "Accept": "application/akn+xml"}).content.startswith(b"<?xml")
    weighted = requests.get(url, headers={**h, "Accept": "application/pdf, text/csv;q=0.5"})
    assert weighted.headers["Content-Type"].startswith("text/csv")
    assert requests.get(url, headers={**h, "Accept": "application/json"}).json()["decision_id"] == did
    assert requests.get(url, headers={**h, "Accept": "*/*"}).json()["decision_id"] == did
    for path, accept in [("", "application/pdf"), (".csv", "text/turtle"), ("?format=akn", "application/json")]:
        r = requests.get(url + path, headers={**h, "Accept": accept})
        assert r.status_code == 406 and r.json()["error"] == "not_acceptable", (path, accept)


def test_the_excel_csv_variant(stack):
    t = "neg-csv"
    stream = "round-r-x"
    stack.store.append(t, stream, [
        NewEvent("RoundOpened", {"round_id": "r-x", "tenant_id": t, "project_id": "p", "budget": "1000",
                                 "currency": "EUR", "ballot_type": "knapsack", "rule": "greedy"}),
        NewEvent("ProjectAdded", {"round_id": "r-x", "id": "p-1", "cost": "12500.50", "title": "Speeltuin; groot"})])
    ev = NewEvent("OutcomeComputed", {"round_id": "r-x", "rule": "greedy", "selected": ["p-1"],
                                      "total_cost": "12500.50", "budget": "20000"})
    stack.store.append(t, stream, [ev])
    did = dmap.decision_id_for(t, ev.id)
    decision_of(stack, t, did)
    r = requests.get(f"{stack.api(t)}/decisions/{did}.csv", params={"variant": "excel"}, headers=PARTNER(t))
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0]["amount"] == "12500,50" and rows[0]["subject_title"] == "Speeltuin; groot"
    plain = requests.get(f"{stack.api(t)}/decisions/{did}.csv", headers=PARTNER(t))
    assert plain.content.decode().split("\r\n")[0].count(",") > 10 and not plain.content.startswith(b"\xef\xbb\xbf")


def test_erasure_removes_a_partners_pseudonym_from_the_bridge(stack):
    t = "ptn-erase"
    configure(stack, t, "mine", who=ALICE(t), type="pull", format="csv")
    person = stack.store.person_id(t, "alice-erp", create=False)
    assert person and person in _everything_the_bridge_stored(stack, t)
    assert "alice-erp" not in _everything_the_bridge_stored(stack, t)      # the subject is never stored
    assert stack.store.erase_subject(t, "alice-erp", reason="request", requested_by="dpo") == person
    wait_for(lambda: person not in json.dumps(list(stack.db.bridge_adapters.find({"tenant": t}, {"_id": 0})),
                                              default=str), what="pseudonym dropped")
    adapter = stack.db.bridge_adapters.find_one({"_id": f"{t}/mine"})
    assert adapter["owned_by"] is None and adapter["configured_by"] == "" and adapter["format"] == "csv"
    # the adapter itself stays (staff can still see and manage it)
    assert [a["adapter_id"] for a in requests.get(f"{stack.api(t)}/deliveries/adapters",
                                                  headers=ADMIN(t)).json()["items"]] == ["mine"]
