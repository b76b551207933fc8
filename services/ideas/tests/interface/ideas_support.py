"""Helpers and fixtures for the ideas interface tests (real SecantusDB via agora's pytest plugin, real RabbitMQ).

A uniquely named module (not conftest) so that test modules can import helpers even when several services'
suites run in one pytest session; conftest.py re-exports the fixtures.

* application level: ``store`` / ``app`` / ``board`` — the use cases and the board subscription over a fresh
  database, callers as :class:`agora.auth.Principal` (what the route layer hands the handlers);
* service level: ``running`` — one real ``nameko run`` of the service per module, and ``tenant`` — a freshly
  registered tenant per test (tenants are operator-registered: agora.tenants).
"""
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest

from agora import auth
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.tenants import TenantRegistry
from agora.testing.plugin import Vhost
from agora.testing.services import run_service
from ideas import projections
from ideas.application import Ideas
from ideas.similarity import IndexCache

T = "ghent"


def who(sub: str, *roles: str, tenant: str = T) -> auth.Principal:
    return auth.Principal(sub, tenant, frozenset(roles))


ADMIN = who("ada", "admin")
ALICE = who("alice", "citizen")
BOB = who("bob", "citizen")
MOD = who("mo", "moderator")


def iso(delta_days: float) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=delta_days)
    return t.isoformat().replace("+00:00", "Z")


def open_phases():
    return [{"kind": "ideation", "title": "Ideas", "start": iso(-1), "end": iso(30)},
            {"kind": "voting", "title": "Vote", "start": iso(30), "end": iso(60)}]


@pytest.fixture
def store(mongo_db):
    return EventStore(mongo_db).ensure_indexes()


@pytest.fixture
def app(store, mongo_db):
    projections.ensure_indexes(mongo_db)
    cache = IndexCache(lambda t, p: projections.similarity_revision(mongo_db, t, p),
                       lambda t, p: projections.similarity_candidates(mongo_db, t, p))
    return Ideas(store, mongo_db, cache)


@pytest.fixture
def board(store, mongo_db):
    """The board subscription, polled by hand (the same engine and handler the nameko @subscribe runs)."""
    return projections.board_subscription(store, mongo_db)


def react(store, tenant, project_id, idea_id, voter, value, previous=0, kind="ReactionCast", target_type="idea",
          target_id=None):
    data = {"target_type": target_type, "target_id": target_id or idea_id, "idea_id": idea_id,
            "project_id": project_id, "phase_id": "vote", "voter": voter, "value": value, "previous": previous,
            "personal": {}}
    return store.append(tenant, f"reactions-{project_id}-{voter}", [NewEvent(kind, data)])


# ---------------------------------------------------------------------------- a real `nameko run` per module
CONFIG = str(Path(__file__).resolve().parents[2] / "config.yaml")
SECRET = "ideas-interface-tests-secret-0123456789"


@dataclass
class Running:
    url: str
    store: EventStore
    db: object
    amqp_uri: str
    mongo_uri: str
    proc: object

    def token(self, sub, roles, tenant=T):
        return {"Authorization": "Bearer " + auth.mint(sub, tenant, roles, secret=SECRET)}

    def api(self, tenant=T):
        return f"{self.url}/api/v1/tenants/{tenant}"


@pytest.fixture(scope="module")
def running(secantus):
    """The ideas service as a real `nameko run` subprocess with a fresh database and vhost (one per module)."""
    vhost = Vhost()
    client = pymongo.MongoClient(secantus, tz_aware=True)
    name = "t_" + uuid.uuid4().hex[:16]
    try:
        with run_service("ideas.service", secantus, name, vhost.uri, config=CONFIG,
                         AGORA_JWT_SECRET=SECRET) as proc:
            db = client.get_database(name)
            yield Running(proc.url, EventStore(db).ensure_indexes(), db, vhost.uri, secantus, proc)
    finally:
        client.drop_database(name)
        client.close()
        vhost.delete()


@pytest.fixture
def tenant(running):
    """A tenant registered for this test only (the running service sees it at its next lookup)."""
    name = "t-" + uuid.uuid4().hex[:12]
    TenantRegistry(running.store).add(name, by="test")
    return name
