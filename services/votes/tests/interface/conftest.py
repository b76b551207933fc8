"""Interface tests: the votes service as a real `nameko run` subprocess, the relay, real RabbitMQ and SecantusDB.

The service, the relay, the database and the vhost are started once per test module (``stack``); each test gets a
tenant of its own (``world``), registered in the tenant registry the way an operator would.

The ideas service is represented by its events: tests append ProjectCreated/PhaseAdded/IdeaSubmitted/... to the
store exactly as the ideas service would (schemas from agora.events.ideas), and the votes service learns them
through its own subscription.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
SECRET = "votes-test-secret-0123456789abcdef0123"


def iso(dt):
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class World:
    """Handle on the running service plus helpers to play the ideas service and citizens."""

    def __init__(self, url, store, db, tenant):
        self.url, self.store, self.db, self.tenant = url, store, db, tenant
        self.http = requests.Session()

    def new_tenant(self, **settings):
        name = "v" + uuid.uuid4().hex[:12]
        TenantRegistry(self.db).add(name, settings or None, by="test")
        return name

    def token(self, sub, roles=("citizen",), tenant=None):
        return auth.mint(sub, tenant or self.tenant, roles, secret=SECRET)

    def headers(self, sub, roles=("citizen",), tenant=None):
        return {"Authorization": f"Bearer {self.token(sub, roles, tenant)}"}

    def api(self, path, tenant=None):
        return f"{self.url}/api/v1/tenants/{tenant or self.tenant}{path}"

    # ---- playing the ideas service
    def project(self, *, start=None, end=None, kind="ideation", tenant=None):
        tenant = tenant or self.tenant
        now = datetime.now(timezone.utc)
        pid, phid = "p-" + uuid.uuid4().hex[:8], "ph-" + uuid.uuid4().hex[:8]
        self.store.append(tenant, f"project-{pid}", [
            NewEvent("ProjectCreated", {"project_id": pid, "title": "Park", "language": "en", "created_by": "adm",
                                        "workflow": {"published": ["accepted"]}}),
            NewEvent("PhaseAdded", {"project_id": pid, "phase_id": phid, "kind": kind, "title": "vote",
                                    "start": iso(start or now - timedelta(days=1)),
                                    "end": iso(end or now + timedelta(days=30)), "added_by": "adm"})], 0)
        return pid, phid

    def idea(self, pid, phid, *, tenant=None, author="author", time=None, personal=None):
        iid = "i-" + uuid.uuid4().hex[:8]
        self.store.append(tenant or self.tenant, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
            "idea_id": iid, "project_id": pid, "phase_id": phid, "title": "Trees", "body": "More trees",
            "language": "en", "author": author, "status": "published", "personal": personal}, time=time)], 0)
        return iid

    def comment(self, pid, iid):
        cid = "c-" + uuid.uuid4().hex[:8]
        self.store.append(self.tenant, f"comment-{cid}", [NewEvent("CommentPosted", {
            "comment_id": cid, "idea_id": iid, "project_id": pid, "body": "yes", "language": "en",
            "author": "x"})], 0)
        return cid

    def merge(self, pid, iid, survivor):
        self.store.append(self.tenant, f"idea-{iid}", [NewEvent("IdeaMerged", {
            "idea_id": iid, "project_id": pid, "survivor_id": survivor, "from_status": "published",
            "merged_by": "adm"})], 1)

    # ---- waiting for the projections (eventual consistency)
    def wait_for(self, fn, what, timeout=30.0):
        return eventually(fn, timeout=timeout, what=what)

    def known(self, pid, phid):
        """Wait until the service's context projection knows the phase."""
        return self.wait_for(lambda: self.http.get(self.api(f"/projects/{pid}/phases/{phid}/voting")).status_code
                             == 200, f"phase {phid}")

    def known_idea(self, iid):
        return self.wait_for(lambda: self.http.get(self.api(f"/ideas/{iid}/tally")).status_code == 200,
                             f"idea {iid}")

    def configure(self, pid, phid, **settings):
        r = self.http.put(self.api(f"/projects/{pid}/phases/{phid}/voting"), json=settings,
                          headers=self.headers("adm", ("admin",)))
        assert r.status_code == 200, r.text
        pos = r.json()["position"]
        expected = {k: v for k, v in settings.items()}
        self.wait_for(lambda: all(self.http.get(self.api(f"/projects/{pid}/phases/{phid}/voting")).json().get(k)
                                  == v for k, v in expected.items()), "settings")
        return pos

    def react(self, sub, iid, value, headers=None, **kw):
        return self.http.put(self.api(f"/ideas/{iid}/reaction"), json={"value": value, **kw},
                             headers={**self.headers(sub), **(headers or {})})

    def tally(self, iid, kind="ideas", staff=False, **params):
        headers = self.headers("adm", ("admin",)) if staff else None
        r = self.http.get(self.api(f"/{kind}/{iid}/tally"), params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    def settled(self):
        """Wait until the tally projection has caught up with the whole log."""
        head = self.store.head()
        self.wait_for(lambda: self._checkpoint("tallies") >= head, "tally projection")

    def settled_tally(self, iid, kind="ideas", staff=False):
        """The tally once the projection has caught up with the whole log."""
        self.settled()
        return self.tally(iid, kind, staff)

    def events(self, types, tenant=None):
        return [e for e in self.store.read_all(tenant or self.tenant, limit=100000) if e.type in types]

    def _checkpoint(self, name):
        doc = self.db["subscription_checkpoints"].find_one({"_id": f"votes:{name}"})
        return doc["position"] if doc else 0


@pytest.fixture(scope="module")
def stack(secantus):
    """The votes service, the relay, a database and a vhost, once per test module."""
    import pymongo
    client = pymongo.MongoClient(secantus, tz_aware=True)
    db = client.get_database("t_" + uuid.uuid4().hex[:16])
    vhost = Vhost()
    store = EventStore(db).ensure_indexes()
    extra = {"AGORA_JWT_SECRET": SECRET, "AGORA_SERVICE_NAME": "votes"}
    try:
        with run_relay(secantus, db.name, vhost.uri, **extra):
            with run_service("votes.service", secantus, db.name, vhost.uri, config=CONFIG, **extra) as svc:
                yield svc, store, db
    finally:
        vhost.delete()
        client.drop_database(db.name)
        client.close()


@pytest.fixture
def world(stack):
    """A tenant of its own for each test."""
    svc, store, db = stack
    w = World(svc.url, store, db, tenant="none")
    w.tenant = w.new_tenant()
    w.service = svc
    return w
