"""Interface tests: the budgets service as a real `nameko run` subprocess, the relay, real RabbitMQ and SecantusDB.

The ideas service is represented by its events: tests append IdeaSubmitted / IdeaStatusChanged to the store exactly
as the ideas service would (schemas from agora.events.ideas), and the budgets service learns them through its own
subscription.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from agora.testing import eventually
from agora import auth
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.testing.services import run_relay, run_service

CONFIG = str(Path(__file__).resolve().parents[2] / "config.yaml")
SECRET = "budgets-test-secret-0123456789abcdef0123"
EXTRA = {"AGORA_JWT_SECRET": SECRET, "AGORA_SERVICE_NAME": "budgets"}


class World:
    """Handle on the running service plus helpers to play admins, citizens and the ideas service."""

    def __init__(self, url, store, db, amqp_uri, tenant="city"):
        self.url, self.store, self.db, self.amqp_uri, self.tenant = url, store, db, amqp_uri, tenant
        self.http = requests.Session()

    def headers(self, sub="ada", roles=("admin",), tenant=None):
        return {"Authorization": "Bearer " + auth.mint(sub, tenant or self.tenant, list(roles), secret=SECRET)}

    def admin(self, tenant=None):
        return self.headers("ada", ("admin",), tenant)

    def citizen(self, sub, tenant=None):
        return self.headers(sub, ("citizen",), tenant)

    def api(self, path="", tenant=None):
        return f"{self.url}/api/v1/tenants/{tenant or self.tenant}/budgets{path}"

    # ---- admin helpers
    def open_round(self, tenant=None, **body):
        body = {"project_id": "proc-1", "budget": "1000", "currency": "EUR", "ballot_type": "knapsack",
                "rule": "greedy", **body}
        r = self.http.post(self.api("/rounds", tenant), json=body, headers=self.admin(tenant))
        assert r.status_code == 201, r.text
        return r.json()["round_id"]

    def add_project(self, rid, pid, cost, title=None, tenant=None, **more):
        r = self.http.post(self.api(f"/rounds/{rid}/projects", tenant),
                           json={"id": pid, "cost": cost, "title": title or f"Project {pid}", **more},
                           headers=self.admin(tenant))
        assert r.status_code == 201, r.text
        return r.json()

    def cast(self, rid, sub, selection, personal=None, tenant=None):
        body = {"selection": selection}
        if personal is not None:
            body["personal"] = personal
        return self.http.put(self.api(f"/rounds/{rid}/ballot", tenant), json=body, headers=self.citizen(sub, tenant))

    def close(self, rid, tenant=None):
        r = self.http.post(self.api(f"/rounds/{rid}/close", tenant), headers=self.admin(tenant))
        assert r.status_code == 200, r.text
        return r.json()

    def count(self, rid, tenant=None, **body):
        r = self.http.post(self.api(f"/rounds/{rid}/outcome", tenant), json=body, headers=self.admin(tenant))
        assert r.status_code == 201, r.text
        return r.json()

    def round(self, rid, tenant=None):
        r = self.http.get(self.api(f"/rounds/{rid}", tenant))
        assert r.status_code == 200, r.text
        return r.json()

    # ---- playing the ideas service
    def accepted_idea(self, title, project_id="proc-1", tenant=None):
        iid = "i-" + uuid.uuid4().hex[:8]
        t = tenant or self.tenant
        self.store.append(t, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
            "idea_id": iid, "project_id": project_id, "phase_id": "ph-1", "title": title, "body": "Please",
            "language": "en", "author": "bob", "status": "published"})], 0)
        self.store.append(t, f"idea-{iid}", [NewEvent("IdeaStatusChanged", {
            "idea_id": iid, "project_id": project_id, "title": title, "from": "published", "to": "accepted",
            "decision": True, "decided_by": "ada"})], 1)
        return iid

    # ---- eventual consistency
    def wait_for(self, fn, what, timeout=60.0):
        return eventually(fn, timeout=timeout, what=what)

    def checkpoint(self, name="rounds"):
        doc = self.db["subscription_checkpoints"].find_one({"_id": f"budgets:{name}"})
        return doc["position"] if doc else 0

    def settled(self, name="rounds", timeout=120.0):
        head = self.store.head()
        self.wait_for(lambda: self.checkpoint(name) >= head, f"projection {name} at {head}", timeout)


@pytest.fixture
def world(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    with run_relay(secantus, mongo_db.name, amqp_uri, **EXTRA):
        with run_service("budgets.service", secantus, mongo_db.name, amqp_uri, config=CONFIG, **EXTRA) as svc:
            w = World(svc.url, store, mongo_db, amqp_uri)
            w.service = svc
            yield w


@pytest.fixture
def quiet_world(secantus, mongo_db, amqp_uri):
    """The service without the relay (subscriptions then poll the store every second): for bulk-load tests."""
    store = EventStore(mongo_db).ensure_indexes()
    with run_service("budgets.service", secantus, mongo_db.name, amqp_uri, config=CONFIG, **EXTRA) as svc:
        w = World(svc.url, store, mongo_db, amqp_uri)
        w.service = svc
        yield w
