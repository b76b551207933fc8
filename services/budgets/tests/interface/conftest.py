"""Interface tests: the budgets service as a real `nameko run` subprocess, the relay, real RabbitMQ and SecantusDB.

The service (and the relay) start once per test module (:func:`service`, module scope, its own database and vhost);
each test gets a fresh tenant registered in the tenant registry (:func:`world`), so tests do not see each other's
rounds. The ideas service is represented by its events: tests append IdeaSubmitted / IdeaStatusChanged to the store
exactly as the ideas service would, and the budgets service learns them through its own subscription.
"""
from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pymongo
import pytest
import requests

from agora import auth
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.tenants import TenantRegistry
from agora.testing import eventually
from agora.testing.plugin import Vhost
from agora.testing.services import run_relay, run_service

CONFIG = str(Path(__file__).resolve().parents[2] / "config.yaml")
SECRET = "budgets-test-secret-0123456789abcdef0123"
EXTRA = {"AGORA_JWT_SECRET": SECRET, "AGORA_SERVICE_NAME": "budgets"}


class Service:
    def __init__(self, url, store, db, amqp_uri, proc):
        self.url, self.store, self.db, self.amqp_uri, self.proc = url, store, db, amqp_uri, proc


class World:
    """Handle on the running service for one tenant, plus helpers to play admins, citizens and the ideas service."""

    def __init__(self, service: Service, tenant: str):
        self.service = service
        self.url, self.store, self.db, self.amqp_uri = service.url, service.store, service.db, service.amqp_uri
        self.tenant = tenant
        self.http = requests.Session()

    def headers(self, sub="ada", roles=("admin",), tenant=None):
        return {"Authorization": "Bearer " + auth.mint(sub, tenant or self.tenant, list(roles), secret=SECRET)}

    def admin(self, tenant=None):
        return self.headers("ada", ("admin",), tenant)

    def citizen(self, sub, tenant=None):
        return self.headers(sub, ("citizen",), tenant)

    def api(self, path="", tenant=None):
        return f"{self.url}/api/v1/tenants/{tenant or self.tenant}/budgets{path}"

    def person(self, sub):
        """The pseudonym events carry for ``sub`` (None when the tenant never saw them)."""
        return self.store.person_id(self.tenant, sub, create=False)

    def new_tenant(self) -> str:
        return new_tenant(self.store)

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

    def cast(self, rid, sub, selection, personal=None, tenant=None, headers=None):
        body = {"selection": selection}
        if personal is not None:
            body["personal"] = personal
        return self.http.put(self.api(f"/rounds/{rid}/ballot", tenant), json=body,
                             headers=headers or self.citizen(sub, tenant))

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
    def accepted_idea(self, title, project_id="proc-1", accepted=True):
        iid = "i-" + uuid.uuid4().hex[:8]
        self.store.append(self.tenant, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
            "idea_id": iid, "project_id": project_id, "phase_id": "ph-1", "title": title, "body": "Please",
            "language": "en", "author": "p-bob", "status": "published"})], 0)
        if accepted:
            self.store.append(self.tenant, f"idea-{iid}", [NewEvent("IdeaStatusChanged", {
                "idea_id": iid, "project_id": project_id, "title": title, "from": "published", "to": "accepted",
                "decision": True, "decided_by": "p-ada"})], 1)
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


def new_tenant(store) -> str:
    name = "bud-" + uuid.uuid4().hex[:10]
    TenantRegistry(store).add(name, by="budgets tests")
    return name


@contextlib.contextmanager
def _service(secantus, relay: bool):
    vhost = Vhost()
    client = pymongo.MongoClient(secantus, tz_aware=True)
    name = "t_" + uuid.uuid4().hex[:16]
    db = client.get_database(name)
    store = EventStore(db).ensure_indexes()
    try:
        with contextlib.ExitStack() as stack:
            if relay:
                stack.enter_context(run_relay(secantus, name, vhost.uri, **EXTRA))
            proc = stack.enter_context(run_service("budgets.service", secantus, name, vhost.uri, config=CONFIG,
                                                   **EXTRA))
            yield Service(proc.url, store, db, vhost.uri, proc)
    finally:
        client.drop_database(name)
        client.close()
        vhost.delete()


@pytest.fixture(scope="module")
def service(secantus):
    """The budgets service and the relay, once per test module."""
    with _service(secantus, relay=True) as svc:
        yield svc


@pytest.fixture
def world(service):
    """The module's service with a fresh tenant for this test."""
    return World(service, new_tenant(service.store))


@pytest.fixture(scope="module")
def quiet_service(secantus):
    """The service without the relay (subscriptions then poll the store every second): for bulk-load tests."""
    with _service(secantus, relay=False) as svc:
        yield svc


@pytest.fixture
def quiet_world(quiet_service):
    return World(quiet_service, new_tenant(quiet_service.store))
