"""Demo mode (``AGORA_ANALYTICS_DEMO_TENANT``), declared on the routes (analytics.service.staff_read): anonymous
callers read the demo tenant's analytics and nothing else; a sent token is still checked; writes need a token."""
from __future__ import annotations

import random

import pytest
import requests

from analytics_stack import PROJECT, TENANT, Seeder, headers, stack, wait_for

OTHER = "shelbyville"


@pytest.fixture(scope="module")
def demo(secantus):
    import uuid

    import pymongo

    from agora.testing.plugin import Vhost
    client = pymongo.MongoClient(secantus, tz_aware=True)
    db = client.get_database("demo_" + uuid.uuid4().hex[:12])
    vhost = Vhost()
    try:
        rng = random.Random(3)
        for tenant in (TENANT, OTHER):
            seeder = Seeder(db, tenant=tenant)
            seeder.project_with_phases()
            for theme in ("parks", "traffic", "sport"):
                seeder.idea(theme, rng)
        with stack(secantus, db.name, vhost.uri, AGORA_ANALYTICS_DEMO_TENANT=TENANT,
                   AGORA_ANALYTICS_MIN_IDEAS="100") as svc:
            for tenant in (TENANT, OTHER):
                wait_for(lambda t=tenant: requests.get(
                    svc.url + f"/api/v1/tenants/{t}/projects/{PROJECT}/analytics/status",
                    headers=headers(tenant=t), timeout=10).json().get("n_ideas") == 3, 30, 0.1, f"{tenant} corpus")
            yield svc
    finally:
        vhost.delete()
        client.drop_database(db.name)
        client.close()


def _url(svc, tenant, path="/status"):
    return svc.url + f"/api/v1/tenants/{tenant}/projects/{PROJECT}/analytics{path}"


def test_anonymous_reads_the_demo_tenant_only(demo):
    assert requests.get(demo.url + "/api/v1/analytics/config", timeout=10).json()["demo_tenant"] == TENANT
    anonymous = requests.get(_url(demo, TENANT), timeout=10)
    assert anonymous.status_code == 200 and anonymous.json()["n_ideas"] == 3
    assert requests.get(demo.url + f"/api/v1/tenants/{TENANT}/analytics/projects", timeout=10).status_code == 200
    # any other tenant: a token is needed
    assert requests.get(_url(demo, OTHER), timeout=10).status_code == 401
    assert requests.get(_url(demo, OTHER, "/topics"), timeout=10).status_code == 401
    assert requests.get(_url(demo, OTHER), headers=headers(tenant=OTHER), timeout=10).status_code == 200


def test_a_sent_token_is_still_checked_and_writes_need_one(demo):
    assert requests.get(_url(demo, TENANT), headers=headers(("citizen",)), timeout=10).status_code == 403
    assert requests.get(_url(demo, TENANT), headers=headers(tenant=OTHER), timeout=10).status_code == 403
    assert requests.get(_url(demo, TENANT), headers={"Authorization": "Bearer nonsense"},
                        timeout=10).status_code == 401
    for path, body in (("/retrain", {}), ("/curation", {"action": "seed", "name": "x", "terms": ["tree"]})):
        assert requests.post(_url(demo, TENANT, path), json=body, timeout=10).status_code == 401, path
    doc = requests.get(demo.url + "/api/v1/openapi.json", timeout=10).json()
    read = doc["paths"]["/api/v1/tenants/{tenant}/projects/{project}/analytics/status"]["get"]
    write = doc["paths"]["/api/v1/tenants/{tenant}/projects/{project}/analytics/retrain"]["post"]
    assert read["security"] == [{}, {"bearer": []}] and write["security"] == [{"bearer": []}]
