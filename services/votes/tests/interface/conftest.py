"""Interface tests: the votes service as a real `nameko run` subprocess, the relay, real RabbitMQ and SecantusDB.

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

from agora.testing import eventually
from agora import auth
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.testing.services import run_relay, run_service

CONFIG = str(Path(__file__).resolve().parents[2] / "config.yaml")
SECRET = "votes-test-secret-0123456789abcdef0123"


def iso(dt):
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class World:
    """Handle on the running service plus helpers to play the ideas service and citizens."""

    def __init__(self, url, store, db, tenant="city"):
        self.url, self.store, self.db, self.tenant = url, store, db, tenant
        self.http = requests.Session()

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

    def react(self, sub, iid, value, **kw):
        return self.http.put(self.api(f"/ideas/{iid}/reaction"), json={"value": value, **kw},
                             headers=self.headers(sub))

    def tally(self, iid, kind="ideas", **params):
        r = self.http.get(self.api(f"/{kind}/{iid}/tally"), params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def settled_tally(self, iid, kind="ideas"):
        """The tally once the projection has caught up with the whole log."""
        head = self.store.head()
        self.wait_for(lambda: self._checkpoint("tallies") >= head, "tally projection")
        return self.tally(iid, kind)

    def _checkpoint(self, name):
        doc = self.db["subscription_checkpoints"].find_one({"_id": f"votes:{name}"})
        return doc["position"] if doc else 0


@pytest.fixture
def world(secantus, mongo_db, amqp_uri):
    store = EventStore(mongo_db).ensure_indexes()
    extra = {"AGORA_JWT_SECRET": SECRET, "AGORA_SERVICE_NAME": "votes"}
    with run_relay(secantus, mongo_db.name, amqp_uri, **extra):
        with run_service("votes.service", secantus, mongo_db.name, amqp_uri, config=CONFIG, **extra) as svc:
            w = World(svc.url, store, mongo_db)
            w.service = svc
            yield w
