"""Helpers and fixtures for the bridge's interface tests: real SecantusDB (agora's pytest plugin), real RabbitMQ,
the bridge (and the ideas service) as real `nameko run` subprocesses, and a local webhook receiver.

A uniquely named module (not conftest) so that test modules can import helpers when several services' suites run
in one pytest session; conftest.py re-exports the fixtures.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pymongo
import pytest
import requests
from marshmallow import Schema, fields

from agora.testing import eventually
from agora import auth
from agora.events import register
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.testing.plugin import Vhost, free_port
from agora.testing.services import Process, nameko_args, run_relay, run_service, service_env
from backoffice_bridge import delivery as dl

HERE = Path(__file__).resolve().parent
BRIDGE_CONFIG = str(HERE.parents[1] / "config.yaml")
IDEAS_CONFIG = str(HERE.parents[2] / "ideas" / "config.yaml")
SECRET = "bridge-interface-tests-secret-0123456789"
WEBHOOK_SECRET = "whsec-0123456789abcdef"
NASTY = ("<&>\"' ]]> שלום עולם مرحبا \u202eRTL\u202c 🚲🎉 e\u0301 \U0001F468\u200d\U0001F469\u200d\U0001F467 "
         "\\ \"\"\" ''' <![CDATA[x]]> &amp; &#x26; <?xml?> --> \nline2\r\nline3\t tab")

# ------------------------------------------------------------------ budgets contract (not written yet)
try:  # the budgets engineer's schemas, when they exist
    import agora.events.budgets  # noqa: F401
    BUDGETS_SCHEMA = "shared"
except ImportError:  # the shape documented in services/budgets/budgets/domain.py, registered in the test process
    BUDGETS_SCHEMA = "test-local"  # only (so that tests can append budget events; the bridge never validates them)

    @register("RoundOpened", 1, "budgets")
    class RoundOpenedV1(Schema):
        round_id = fields.String(required=True)
        tenant_id = fields.String(load_default=None, allow_none=True)
        project_id = fields.String(load_default=None, allow_none=True)
        district = fields.String(load_default=None, allow_none=True)
        budget = fields.String(required=True)
        currency = fields.String(required=True)
        ballot_type = fields.String(required=True)
        constraints = fields.Dict(load_default=dict)
        rule = fields.String(load_default="greedy")
        at = fields.String(load_default=None, allow_none=True)

    @register("ProjectAdded", 1, "budgets")
    class ProjectAddedV1(Schema):
        round_id = fields.String(required=True)
        id = fields.String(required=True)
        cost = fields.String(required=True)
        title = fields.String(load_default="")
        attributes = fields.Dict(load_default=dict)
        at = fields.String(load_default=None, allow_none=True)

    @register("OutcomeComputed", 1, "budgets")
    class OutcomeComputedV1(Schema):
        round_id = fields.String(required=True)
        rule = fields.String(required=True)
        tie_breaking = fields.String(load_default=None, allow_none=True)
        selected = fields.List(fields.String(), required=True)
        total_cost = fields.String(required=True)
        budget = fields.String(required=True)
        projects = fields.List(fields.Dict(), load_default=list)
        details = fields.Dict(load_default=dict)

    @register("RoundClosed", 1, "budgets")
    class RoundClosedV1(Schema):
        round_id = fields.String(required=True)
        ballots = fields.Integer(load_default=0)
        at = fields.String(load_default=None, allow_none=True)


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    return eventually(predicate, timeout=timeout, interval=interval, what=what)


def headers(sub="erp", roles=("partner",), tenant="gent"):
    return {"Authorization": "Bearer " + auth.mint(sub, tenant, list(roles), secret=SECRET)}


ADMIN = lambda tenant="gent": headers("ada", ("admin",), tenant)  # noqa: E731
PARTNER = lambda tenant="gent": headers("erp", ("partner",), tenant)  # noqa: E731


# ------------------------------------------------------------------ the webhook receiver
class Receiver:
    """http.server on 127.0.0.1 in a thread. Per path: fail the first N deliveries with ``fail_status``; verify
    the HMAC signature (401 when wrong); dedupe by Idempotency-Key (a duplicate is answered 200 and not counted)."""

    def __init__(self, secret: str = WEBHOOK_SECRET):
        self.secret = secret
        self.lock = threading.Lock()
        self.fail: dict[str, tuple[int, int]] = {}      # path -> (remaining failures, status)
        self.raw: list[dict] = []                       # every request received
        self.accepted: dict[str, dict] = {}             # idempotency key -> first accepted request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hdrs = {k: v for k, v in self.headers.items()}
                status = receiver.handle(self.path, hdrs, body)
                payload = b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, path, hdrs, body) -> int:
        with self.lock:
            entry = {"path": path, "headers": hdrs, "body": body, "at": time.time()}
            try:
                dl.verify_signature(body, hdrs, [self.secret])
                entry["signature"] = "valid"
            except dl.SignatureError as exc:
                entry["signature"] = str(exc)
                self.raw.append(entry)
                return 401
            self.raw.append(entry)
            remaining, status = self.fail.get(path, (0, 503))
            if remaining:
                self.fail[path] = (remaining - 1, status)
                return status
            key = hdrs.get("Idempotency-Key")
            if key not in self.accepted:
                self.accepted[key] = entry
            return 200

    def fail_first(self, path: str, n: int, status: int = 503):
        with self.lock:
            self.fail[path] = (n, status)

    def requests_to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.raw if r["path"] == path]

    def accepted_to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.accepted.values() if r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ processes
@dataclass
class Stack:
    url: str
    ideas_url: str | None
    store: EventStore
    db: object
    mongo_uri: str
    amqp_uri: str
    drop_root: Path
    receiver: Receiver
    extra: dict = field(default_factory=dict)

    def api(self, tenant="gent"):
        return f"{self.url}/api/v1/tenants/{tenant}"


def bridge_env(drop_root, **extra):
    env = {"AGORA_JWT_SECRET": SECRET, "AGORA_BRIDGE_TICK_S": "0.1", "AGORA_BRIDGE_DROP_ROOT": str(drop_root),
           "AGORA_SERVICE_NAME": "backoffice-bridge", "AGORA_PUBLIC_URL": "https://agora.example"}
    try:
        from agora.testing import shared_dir
        ctx = shared_dir() / "standards/oslo/besluit-publicatie_nl_erkendestandaard-2025-12-11.context.jsonld"
        if ctx.exists():
            env["AGORA_BRIDGE_OSLO_CONTEXT"] = str(ctx)
    except Exception:  # noqa: BLE001
        pass
    env.update(extra)
    return env


def start_bridge(mongo_uri, db_name, amqp_uri, drop_root, port=None, **extra) -> Process:
    port = port or free_port()
    env = service_env(mongo_uri, db_name, amqp_uri, port, **bridge_env(drop_root, **extra))
    return Process(nameko_args("backoffice_bridge.service", BRIDGE_CONFIG), env, port).wait_ready(60)


@pytest.fixture(scope="module")
def stack(secantus, tmp_path_factory):
    """Relay + ideas service + bridge, one fresh database and vhost per test module; tests use distinct tenants."""
    vhost = Vhost()
    client = pymongo.MongoClient(secantus, tz_aware=True)
    name = "t_" + uuid.uuid4().hex[:16]
    drop_root = tmp_path_factory.mktemp("drop")
    receiver = Receiver()
    db = client.get_database(name)
    store = EventStore(db).ensure_indexes()
    try:
        with run_relay(secantus, name, vhost.uri), \
                run_service("ideas.service", secantus, name, vhost.uri, config=IDEAS_CONFIG,
                            AGORA_JWT_SECRET=SECRET) as ideas, \
                run_service("backoffice_bridge.service", secantus, name, vhost.uri, config=BRIDGE_CONFIG,
                            **bridge_env(drop_root)) as bridge:
            yield Stack(bridge.url, ideas.url, store, db, secantus, vhost.uri, drop_root, receiver,
                        {"bridge": bridge, "ideas": ideas})
    finally:
        receiver.close()
        client.drop_database(name)
        client.close()
        vhost.delete()


# ------------------------------------------------------------------ events
def status_changed(store, tenant, idea_id, to, feedback="", language="nl", title="Een fietsstraat", frm="under_review",
                   **extra):
    data = {"idea_id": idea_id, "project_id": "p-1", "title": title, "from": frm, "to": to,
            "decision": to in ("accepted", "rejected", "implemented"), "feedback": feedback,
            "feedback_language": language, "decided_by": "ada"}
    data.update(extra)
    ev = NewEvent("IdeaStatusChanged", data)
    store.append(tenant, f"idea-{idea_id}", [ev])
    return ev.id


def configure(stack, tenant, adapter_id, **body):
    resp = requests.put(f"{stack.api(tenant)}/deliveries/adapters/{adapter_id}", json=body, headers=ADMIN(tenant))
    assert resp.status_code == 200, resp.text
    wait_for(lambda: requests.get(f"{stack.api(tenant)}/deliveries/adapters/{adapter_id}",
                                  headers=ADMIN(tenant)).json().get("position") == resp.json()["position"],
             what=f"adapter {adapter_id} projected")
    return resp.json()


def decision_of(stack, tenant, decision_id, timeout=30.0):
    def get():
        r = requests.get(f"{stack.api(tenant)}/decisions/{decision_id}", headers=PARTNER(tenant))
        return r.json() if r.status_code == 200 else None
    return wait_for(get, timeout, what=f"decision {decision_id}")


def delivery_of(stack, tenant, delivery_id, status, timeout=30.0):
    def get():
        r = requests.get(f"{stack.api(tenant)}/deliveries/{delivery_id}", headers=ADMIN(tenant))
        return r.json() if r.status_code == 200 and r.json()["status"] == status else None
    return wait_for(get, timeout, what=f"delivery {delivery_id} {status}")
