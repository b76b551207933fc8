"""The route layer over a real nameko service: authenticate → authorize → tenant → limits → validate → handler."""
import sys
from pathlib import Path

import pytest
import requests

from agora import auth
from agora.store import EventStore
from agora.testing.services import run_service

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="module")
def svc(secantus):
    import uuid
    db = "routes_" + uuid.uuid4().hex[:8]
    with run_service("routesvc_service", secantus, db, "amqp://guest:guest@127.0.0.1:5672/", cwd=str(HERE),
                     AGORA_TENANTS="city,town", AGORA_RATE_LIMITS="on") as proc:
        proc.db_name = db
        yield proc


def bearer(sub="alice", tenant="city", roles=("citizen",)):
    return {"Authorization": "Bearer " + auth.mint(sub, tenant, roles)}


def test_401_403_before_400_404_422(svc):
    url = svc.url + "/api/v1/tenants/city/things"
    bad_bodies = [b"{not json", b'{"n": "x"}', b"[]"]
    for body in bad_bodies:
        r = requests.post(url, data=body)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        r = requests.post(url, data=body, headers=bearer(roles=("partner",)))
        assert r.status_code == 403, r.text
        r = requests.post(url, data=body, headers=bearer(tenant="town"))
        assert r.status_code == 403 and "tenant" in r.json()["message"]
    r = requests.post(svc.url + "/api/v1/tenants/city/admin/things/42", json={"n": "bad"}, headers=bearer())
    assert r.status_code == 403 and "admin" in r.json()["message"]
    r = requests.post(svc.url + "/api/v1/tenants/city/admin/things/42", json={"n": "bad"},
                      headers=bearer(roles=("admin",)))
    assert r.status_code == 422 and "n" in r.json()["details"]["fields"]
    assert requests.post(url, data=b"{not json", headers=bearer()).status_code == 400


def test_unknown_tenant_is_404_before_anything_is_stored(svc, secantus):
    import pymongo
    r = requests.post(svc.url + "/api/v1/tenants/gent/things", json={"n": 1}, headers=bearer(tenant="gent"))
    assert r.status_code == 404 and r.json()["error"] == "unknown_tenant"
    r = requests.get(svc.url + "/api/v1/tenants/Demo/things")
    assert r.status_code == 404 and r.json()["error"] == "unknown_tenant"
    db = pymongo.MongoClient(secantus)[svc.db_name]
    assert not list(db.events.find({"tenant": {"$in": ["gent", "Demo"]}}))


def test_plain_token_errors_and_json_404_405(svc):
    r = requests.get(svc.url + "/api/v1/tenants/city/things", headers={"Authorization": "Bearer abc.\xb7x"})
    assert r.status_code == 401 and r.json()["message"] == "the bearer token is not a valid JWT"
    r = requests.get(svc.url + "/no/such/route")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"] == "not_found"
    r = requests.delete(svc.url + "/api/v1/tenants/city/things", headers=bearer())
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_public_route_with_query_validation(svc):
    assert requests.get(svc.url + "/api/v1/tenants/city/things?limit=5").json() == {"limit": 5, "anonymous": True}
    r = requests.get(svc.url + "/api/v1/tenants/city/things?limit=99999999999999999999999")
    assert r.status_code == 422
    r = requests.get(svc.url + "/api/v1/tenants/city/things", headers=bearer(tenant="town"))
    assert r.status_code == 403


def test_bad_input_never_500(svc):
    url = svc.url + "/api/v1/tenants/city/things"
    deep = b"[" * 1000 + b"]" * 1000
    assert requests.post(url, data=deep, headers=bearer()).status_code == 400
    assert requests.post(url, data=b'{"n": 1, "text": "\\ud800"}', headers=bearer()).status_code == 400
    assert requests.post(url, data=b"x" * (2 << 20), headers=bearer()).status_code == 413
    r = requests.post(url, json={"n": 1}, headers={**bearer(), "Idempotency-Key": "\x10bad"})
    assert r.status_code in (400, 422) or r.status_code == 201   # requests may refuse control chars itself


def test_idempotency_is_scoped_to_the_caller_and_checked_after_authorization(svc, secantus):
    url = svc.url + "/api/v1/tenants/city/things"
    alice = requests.post(url, json={"n": 1}, headers={**bearer("alice"), "Idempotency-Key": "submit-1"})
    bob = requests.post(url, json={"n": 1}, headers={**bearer("bob"), "Idempotency-Key": "submit-1"})
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["thing_id"] != bob.json()["thing_id"]           # Bob's thing is not dropped
    again = requests.post(url, json={"n": 1}, headers={**bearer("alice"), "Idempotency-Key": "submit-1"})
    assert again.status_code == 201 and again.json() == alice.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = requests.post(url, json={"n": 2}, headers={**bearer("alice"), "Idempotency-Key": "submit-1"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["details"]["fields"]
    # a citizen replaying a key on an admin-only route: 403, not a replay
    admin = requests.post(svc.url + "/api/v1/tenants/city/admin/things/1", json={"n": 1},
                          headers={**bearer("carol", roles=("admin",)), "Idempotency-Key": "k"})
    assert admin.status_code == 200
    cit = requests.post(svc.url + "/api/v1/tenants/city/admin/things/1", json={"n": 1},
                        headers={**bearer("carol", roles=("citizen",)), "Idempotency-Key": "k"})
    assert cit.status_code == 403
    # the outcome of a key can be asked for by its owner only
    out = requests.get(svc.url + "/api/v1/tenants/city/commands/submit-1", headers=bearer("alice"))
    assert out.status_code == 200 and out.json()["outcomes"][0]["body"] == alice.json()
    assert requests.get(svc.url + "/api/v1/tenants/city/commands/submit-1",
                        headers=bearer("mallory")).status_code == 404
    import pymongo
    db = pymongo.MongoClient(secantus)[svc.db_name]
    stored = EventStore(db).read_all("city")
    assert sum(1 for e in stored if e.causationid) == 2                  # Alice's and Bob's, once each


def test_burst_of_one_person_is_cut_with_429(svc):
    import time
    url = svc.url + "/api/v1/tenants/town/things"
    headers = bearer("spammer", tenant="town")
    if time.time() % 60 > 45:               # one-minute windows: keep the burst inside one
        time.sleep(61 - time.time() % 60)
    codes = [requests.post(url, json={"n": i}, headers=headers) for i in range(80)]
    ok = [r for r in codes if r.status_code == 201]
    limited = [r for r in codes if r.status_code == 429]
    assert len(ok) == 60 and len(limited) == 20                           # the default: 60 writes a minute
    assert 1 <= int(limited[0].headers["Retry-After"]) <= 60
    assert requests.post(url, json={"n": 1}, headers=bearer("someone-else", tenant="town")).status_code == 201


def test_load_is_shed_not_queued_and_health_answers_meanwhile(svc):
    """More requests than the worker pool and its short queue: the rest are answered 503 with Retry-After at once,
    and /health and /ready (answered outside the pool) keep answering."""
    from concurrent.futures import ThreadPoolExecutor
    import time
    url = svc.url + "/api/v1/tenants/city/slow?ms=1500"
    with ThreadPoolExecutor(140) as pool:
        futures = [pool.submit(requests.get, url, timeout=60) for _ in range(140)]
        time.sleep(0.5)
        health = requests.get(svc.url + "/health", timeout=5)
        ready = requests.get(svc.url + "/ready", timeout=5)
        results = [f.result() for f in futures]
    assert health.status_code == 200 and ready.status_code == 200
    codes = [r.status_code for r in results]
    shed = [r for r in results if r.status_code == 503]
    assert codes.count(200) >= 64 and shed, codes             # 64 workers + a queue of 32 (nameko.yaml)
    assert all(r.headers["Retry-After"] == "1" and r.json()["error"] == "overloaded" for r in shed)
    assert all(r.elapsed.total_seconds() < 1.5 for r in shed)  # refused at once, not after a worker freed up
