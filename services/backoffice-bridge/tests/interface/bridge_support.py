"""Helpers and fixtures for the bridge's interface tests: real SecantusDB (agora's pytest plugin), real RabbitMQ,
the bridge (and the ideas service) as real `nameko run` subprocesses, and a local webhook receiver.

A uniquely named module (not conftest) so that test modules can import helpers when several services' suites run
in one pytest session; conftest.py re-exports the fixtures.
"""
from __future__ import annotations

import base64
import re
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
from agora.testing.services import TEST_TENANTS, Process, nameko_args, run_relay, run_service, service_env

HERE = Path(__file__).resolve().parent
BRIDGE_CONFIG = str(HERE.parents[1] / "config.yaml")
IDEAS_CONFIG = str(HERE.parents[2] / "ideas" / "config.yaml")
SECRET = "bridge-interface-tests-secret-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"bridge-interface-webhook-key-0123").decode()
README = HERE.parents[1] / "README.md"
#: the tenants this suite's services declare (agora.tenants): the platform's test tenants and one per test
BRIDGE_TENANTS = ",".join([TEST_TENANTS, "rec,render,sparse,pb,authz,hook,dead,perm,cfg,drop,pull,crash,lease,inb",
                           "inbrdf,inberr,inbmix,ptn,ptn-rotate,ptn-replay,ptn-safe,ptn-body,ptn-idem,ptn-erase",
                           "neg,neg-csv"])
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


wait_for = eventually   # the suite's one wait helper (agora.testing)


def headers(sub="erp", roles=("partner",), tenant="gent"):
    return {"Authorization": "Bearer " + auth.mint(sub, tenant, list(roles), secret=SECRET)}


ADMIN = lambda tenant="gent": headers("ada", ("admin",), tenant)  # noqa: E731
PARTNER = lambda tenant="gent": headers("erp", ("partner",), tenant)  # noqa: E731


# ------------------------------------------------------------------ the webhook receiver
def readme_receiver():
    """The receiver code of the service README (the block after ``<!-- receiver -->``), executed: what a partner
    would paste is what the tests verify real deliveries with."""
    text = README.read_text(encoding="utf-8")
    code = re.search(r"<!-- receiver -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    return namespace["verify_webhook"]


class Receiver:
    """http.server on 127.0.0.1 in a thread. Per path: fail the first N deliveries with ``fail_status`` (and a body
    that must never be kept by the bridge); verify the Standard Webhooks signature with the README's receiver code
    (401 when wrong); dedupe by ``webhook-id`` (a duplicate is answered 200 and not counted)."""

    FAILURE_BODY = b"INTERNAL-STACKTRACE db=10.0.0.7 password=hunter2"

    def __init__(self, secret: str = WEBHOOK_SECRET):
        self.secrets = {"": [secret]}                   # path prefix -> secrets the receiver knows
        self.verify = readme_receiver()
        self.lock = threading.Lock()
        self.fail: dict[str, tuple[int, int]] = {}      # path -> (remaining failures, status)
        self.raw: list[dict] = []                       # every request received
        self.accepted: dict[str, dict] = {}             # webhook-id -> first accepted request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hdrs = {k: v for k, v in self.headers.items()}
                status = receiver.handle(self.path, hdrs, body)
                payload = b'{"ok": true}' if status < 400 else receiver.FAILURE_BODY
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def knows(self, path: str, secrets: list[str]):
        with self.lock:
            self.secrets[path] = list(secrets)

    def _secrets_for(self, path: str) -> list[str]:
        best = max((p for p in self.secrets if path.startswith(p)), key=len)
        return self.secrets[best]

    def handle(self, path, hdrs, body) -> int:
        with self.lock:
            entry = {"path": path, "headers": hdrs, "body": body, "at": time.time()}
            if any(self.verify(secret, hdrs, body) for secret in self._secrets_for(path)):
                entry["signature"] = "valid"
            else:
                entry["signature"] = "signature mismatch"
                self.raw.append(entry)
                return 401
            self.raw.append(entry)
            remaining, status = self.fail.get(path, (0, 503))
            if remaining:
                self.fail[path] = (remaining - 1, status)
                return status
            key = hdrs.get("webhook-id")
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
    # the local test receiver listens on 127.0.0.1: allowed by the explicit development setting only
    env = {"AGORA_JWT_SECRET": SECRET, "AGORA_BRIDGE_TICK_S": "0.1", "AGORA_BRIDGE_DROP_ROOT": str(drop_root),
           "AGORA_SERVICE_NAME": "backoffice-bridge", "AGORA_PUBLIC_URL": "https://agora.example",
           "AGORA_ENV": "development", "AGORA_WEBHOOK_ALLOW_LOOPBACK": "1", "AGORA_TENANTS": BRIDGE_TENANTS}
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
                            AGORA_JWT_SECRET=SECRET, AGORA_TENANTS=BRIDGE_TENANTS) as ideas, \
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


def configure(stack, tenant, adapter_id, who=None, **body):
    who = who or ADMIN(tenant)
    resp = requests.put(f"{stack.api(tenant)}/deliveries/adapters/{adapter_id}", json=body, headers=who)
    assert resp.status_code == 200, resp.text
    wait_for(lambda: requests.get(f"{stack.api(tenant)}/deliveries/adapters/{adapter_id}",
                                  headers=who).json().get("position") == resp.json()["position"],
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
