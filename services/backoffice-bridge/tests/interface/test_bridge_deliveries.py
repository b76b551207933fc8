"""Deliveries over the real stack: signed webhooks with retries and back-off against a local receiver that fails
the first N requests, dead letters and replay, drop folder, pull feed, the delivery log over HTTP."""
import json
import os

import requests
from rdflib import Graph

from backoffice_bridge import decisions as dmap
from backoffice_bridge import delivery as dl
from backoffice_bridge import webhooks as wh

from bridge_support import (ADMIN, NASTY, PARTNER, WEBHOOK_SECRET, configure, decision_of, delivery_of, headers,
                            status_changed, wait_for)


def events_of(stack, tenant, delivery_id):
    return [e.type for e in stack.store.read_stream(tenant, f"delivery-{delivery_id}")]


def events_become(stack, tenant, delivery_id, expected):
    """The delivery log document is written first (durably), its events appended right after: wait for them."""
    wait_for(lambda: events_of(stack, tenant, delivery_id)[-len(expected):] == expected,
             what=f"events {expected}")
    return events_of(stack, tenant, delivery_id)


def test_webhook_retries_with_backoff_then_delivers_once(stack):
    t = "hook"
    path = "/hooks/hook"
    stack.receiver.fail_first(path, 2, 503)
    configure(stack, t, "erp", type="webhook", format="oslo-ttl", url=stack.receiver.url + path,
              secret=WEBHOOK_SECRET, max_attempts=5, backoff_base_s=0.3, backoff_cap_s=2)
    feedback = (NASTY * 100)[:10_000]
    eid = status_changed(stack.store, t, "idea-1", "accepted", feedback=feedback, language="he")
    did = dmap.decision_id_for(t, eid)
    delivery_id = dmap.delivery_id_for(did, "erp")
    done = delivery_of(stack, t, delivery_id, "succeeded")
    assert done["attempts"] == 3 and done["adapter_type"] == "webhook" and done["format"] == "oslo-ttl"
    log = done["log"]
    assert [e["outcome"] for e in log] == ["retry", "retry", "delivered"]
    assert [e["http_status"] for e in log] == [503, 503, 200]
    # exponential back-off ("equal" jitter: between d/2 and d, d = 0.3 * 2**n), next_retry recorded per retry
    for n, entry in enumerate(log[:2]):
        delay = entry["next_retry"] - entry["at"]
        assert 0.3 * 2 ** n / 2 - 0.01 <= delay <= 0.3 * 2 ** n + 0.01
        assert log[n + 1]["at"] >= entry["next_retry"]
    # the receiver: 3 requests, same webhook-id and Idempotency-Key, all validly signed (README code); deduped once
    got = stack.receiver.requests_to(path)
    assert len(got) == 3 and {r["signature"] for r in got} == {"valid"}
    key = wh.idempotency_key(did, "erp", "oslo-ttl")
    assert {r["headers"]["Idempotency-Key"] for r in got} == {key}
    assert {r["headers"]["webhook-id"] for r in got} == {wh.message_id(key)}
    assert {r["headers"]["webhook-event-type"] for r in got} == {"DecisionRecorded"}
    accepted = stack.receiver.accepted_to(path)
    assert len(accepted) == 1
    assert accepted[0]["headers"]["Content-Type"].startswith("text/turtle")
    g = Graph().parse(data=accepted[0]["body"].decode("utf-8"), format="turtle")
    assert any(str(o) == feedback for o in g.objects())
    assert events_become(stack, t, delivery_id, ["DeliveryAttempted"] * 3 + ["DeliverySucceeded"]) == \
        ["DeliveryAttempted"] * 3 + ["DeliverySucceeded"]
    # the per-decision log over HTTP: staff see it; a partner sees only its own adapters' deliveries
    per_decision = requests.get(f"{stack.api(t)}/decisions/{did}/deliveries", headers=ADMIN(t)).json()
    assert [(i["adapter_id"], i["status"], i["attempts"]) for i in per_decision["items"]] == [("erp", "succeeded", 3)]
    assert requests.get(f"{stack.api(t)}/decisions/{did}/deliveries", headers=PARTNER(t)).json()["items"] == []
    # failed attempts keep a status and a short reason, never the receiver's response body
    assert [e["error"] for e in log] == ["HTTP 503 Service Unavailable"] * 2 + [None]
    stored = json.dumps([e.data for e in stack.store.read_stream(t, f"delivery-{delivery_id}")])
    assert b"hunter2" not in stored.encode() and "hunter2" not in json.dumps(done)


def test_dead_letter_after_max_attempts_then_replay(stack):
    t = "dead"
    path = "/hooks/dead"
    stack.receiver.fail_first(path, 3, 500)
    configure(stack, t, "erp", type="webhook", format="akn", url=stack.receiver.url + path, secret=WEBHOOK_SECRET,
              max_attempts=3, backoff_base_s=0.1, backoff_cap_s=0.5)
    eid = status_changed(stack.store, t, "idea-1", "rejected", feedback="Te duur <&>")
    did = dmap.decision_id_for(t, eid)
    delivery_id = dmap.delivery_id_for(did, "erp")
    dead = delivery_of(stack, t, delivery_id, "dead_lettered")
    assert dead["attempts"] == 3 and dead["next_retry_at"] is None
    assert dead["last_error"] == "HTTP 500 Internal Server Error"
    assert events_become(stack, t, delivery_id, ["DeliveryAttempted"] * 3 + ["DeliveryDeadLettered"]) == \
        ["DeliveryAttempted"] * 3 + ["DeliveryDeadLettered"]
    listed = requests.get(f"{stack.api(t)}/deliveries", params={"status": "dead_lettered"}, headers=ADMIN(t)).json()
    assert [i["delivery_id"] for i in listed["items"]] == [delivery_id]
    assert stack.receiver.accepted_to(path) == []
    # replay on demand: the receiver is healthy now
    r = requests.post(f"{stack.api(t)}/deliveries/{delivery_id}/replay", headers=ADMIN(t))
    assert r.status_code == 200 and r.json()["status"] in ("pending", "in_flight", "succeeded")
    done = delivery_of(stack, t, delivery_id, "succeeded")
    assert done["attempts"] == 1 and done["generation"] == 1 and len(done["log"]) == 4
    assert len(stack.receiver.accepted_to(path)) == 1
    events_become(stack, t, delivery_id, ["DeliveryReplayRequested", "DeliveryAttempted", "DeliverySucceeded"])
    assert len(events_of(stack, t, delivery_id)) == 7
    # a succeeded delivery is not replayed unless forced; unknown deliveries are 404
    r = requests.post(f"{stack.api(t)}/deliveries/{delivery_id}/replay", headers=ADMIN(t))
    assert r.status_code == 409
    assert requests.post(f"{stack.api(t)}/deliveries/nope.erp/replay", headers=ADMIN(t)).status_code == 404
    # forced: sent again with the same Idempotency-Key, and the receiver's dedupe keeps one
    r = requests.post(f"{stack.api(t)}/deliveries/{delivery_id}/replay?force=true", headers=ADMIN(t))
    assert r.status_code == 200
    wait_for(lambda: len(stack.receiver.requests_to(path)) == 5)
    delivery_of(stack, t, delivery_id, "succeeded")
    assert len(stack.receiver.accepted_to(path)) == 1


def test_permanent_failure_and_bad_signature_dead_letter_immediately(stack):
    t = "perm"
    path = "/hooks/perm"
    stack.receiver.fail_first(path, 1, 400)
    configure(stack, t, "erp", type="webhook", format="popolo", url=stack.receiver.url + path, secret=WEBHOOK_SECRET,
              max_attempts=5, backoff_base_s=0.1)
    configure(stack, t, "wrong-secret", type="webhook", format="csv", url=stack.receiver.url + "/hooks/perm2",
              secret="not-the-receivers-secret", max_attempts=5, backoff_base_s=0.1)
    eid = status_changed(stack.store, t, "idea-1", "accepted", feedback="Ja")
    did = dmap.decision_id_for(t, eid)
    dead = delivery_of(stack, t, dmap.delivery_id_for(did, "erp"), "dead_lettered")
    assert dead["attempts"] == 1 and dead["log"][0]["outcome"] == "failed" and dead["log"][0]["http_status"] == 400
    wrong = delivery_of(stack, t, dmap.delivery_id_for(did, "wrong-secret"), "dead_lettered")
    assert wrong["log"][0]["http_status"] == 401
    assert stack.receiver.requests_to("/hooks/perm2")[0]["signature"] == "signature mismatch"


def test_validation_of_adapter_config(stack):
    t = "cfg"
    url = f"{stack.api(t)}/deliveries/adapters"
    hook = stack.receiver.url + "/hooks/cfg"
    cases = [("a", {"type": "webhook", "format": "csv", "url": "ftp://x", "secret": WEBHOOK_SECRET}, "url"),
             ("a", {"type": "webhook", "format": "csv", "secret": WEBHOOK_SECRET}, "url"),
             ("a", {"type": "webhook", "format": "csv", "url": hook}, "secret"),
             ("a", {"type": "webhook", "format": "csv", "url": hook, "secret": "short"}, "secret"),
             ("a", {"type": "webhook", "format": "csv", "url": "http://169.254.169.254/latest/meta-data/",
                    "secret": WEBHOOK_SECRET}, "url"),
             ("a", {"type": "webhook", "format": "csv", "url": "http://10.0.0.8/hook", "secret": WEBHOOK_SECRET},
              "url"),
             ("a", {"type": "webhook", "format": "csv", "url": "http://[::ffff:192.168.1.1]/", "secret":
                    WEBHOOK_SECRET}, "url"),
             ("a", {"type": "drop_folder", "format": "csv", "folder": "../../etc"}, "folder"),
             ("a", {"type": "carrier-pigeon", "format": "csv"}, "type"),
             ("a", {"type": "pull", "format": "pdf"}, "format"),
             ("Bad_Id", {"type": "pull", "format": "csv"}, "adapter_id")]
    for adapter_id, body, field in cases:
        r = requests.put(f"{url}/{adapter_id}", json=body, headers=ADMIN(t))
        assert r.status_code == 422 and field in r.json()["details"]["fields"], (body, r.text)
    assert requests.put(f"{url}/a", data=b"{nope", headers=ADMIN(t)).status_code == 400
    assert requests.get(url, headers=ADMIN(t)).json()["items"] == []
    configure(stack, t, "hook", type="webhook", format="csv", url="http://127.0.0.1:9/x", secret=WEBHOOK_SECRET)
    got = requests.get(f"{url}/hook", headers=ADMIN(t)).json()
    assert not [k for k in got if "secret" in k]                         # never shown, not even hashed
    published = json.dumps([e.data for e in stack.store.read_stream(t, "adapter-hook")])
    assert WEBHOOK_SECRET not in published and "secret" not in published
    import hashlib
    assert hashlib.sha256(WEBHOOK_SECRET.encode()).hexdigest() not in published
    assert requests.get(f"{url}/hook", headers=PARTNER(t)).status_code == 404   # not the partner's adapter


def test_drop_folder_writes_then_renames(stack):
    t = "drop"
    configure(stack, t, "share", type="drop_folder", format="akn", folder="inbox")
    eids = [status_changed(stack.store, t, f"idea-{i}", "accepted", feedback=f"Motivering {i} {NASTY}")
            for i in range(3)]
    dids = [dmap.decision_id_for(t, e) for e in eids]
    for did in dids:
        delivery_of(stack, t, dmap.delivery_id_for(did, "share"), "succeeded")
    folder = stack.drop_root / t / "inbox"
    names = sorted(os.listdir(folder))
    assert names == sorted(dl.drop_file_name(d, "share", "akn.xml") for d in dids)
    assert list(dl.pending_temp_files(folder)) == []
    from lxml import etree
    for name in names:
        etree.fromstring((folder / name).read_bytes())


def test_pull_feed_with_cursor(stack):
    t = "pull"
    configure(stack, t, "feed", who=PARTNER(t), type="pull", format="popolo")
    eids = [status_changed(stack.store, t, f"idea-{i}", "rejected", feedback=f"Nee {i}") for i in range(3)]
    dids = [dmap.decision_id_for(t, e) for e in eids]
    for did in dids:
        decision_of(stack, t, did)
    url = f"{stack.api(t)}/deliveries/pull"
    page = requests.get(url, params={"adapter": "feed", "after": 0, "limit": 2}, headers=PARTNER(t)).json()
    assert [i["decision_id"] for i in page["items"]] == dids[:2] and page["next"] == 2 and page["has_more"]
    assert json.loads(page["items"][0]["document"])["motion"]["result"] == "fail"
    assert page["items"][0]["idempotency_key"] == wh.idempotency_key(dids[0], "feed", "popolo")
    page2 = requests.get(url, params={"adapter": "feed", "after": page["next"]}, headers=PARTNER(t)).json()
    assert [i["decision_id"] for i in page2["items"]] == dids[2:] and page2["has_more"] is False
    # pulling after 2 acknowledged the first two decisions
    log = requests.get(f"{stack.api(t)}/decisions/{dids[0]}/deliveries", headers=PARTNER(t)).json()["items"]
    assert [(i["adapter_id"], i["status"]) for i in log] == [("feed", "acknowledged")]
    log = requests.get(f"{stack.api(t)}/decisions/{dids[2]}/deliveries", headers=PARTNER(t)).json()["items"]
    assert [(i["adapter_id"], i["status"]) for i in log] == [("feed", "available")]
    assert requests.get(url, params={"adapter": "nope"}, headers=PARTNER(t)).status_code == 404
    assert requests.get(url, params={"after": 0}, headers=PARTNER(t)).status_code == 422
    assert requests.get(url, params={"adapter": "feed"}, headers=PARTNER("elsewhere")).status_code == 403
    # another partner of the same city does not see this partner's feed
    assert requests.get(url, params={"adapter": "feed"}, headers=headers("other-erp", ("partner",), t)) \
        .status_code == 404
