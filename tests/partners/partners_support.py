"""Helpers for the partner streams tests (a uniquely named module: conftest re-exports nothing)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pika
import pytest

from agora.events.envelope import NewEvent
from agora.store import EventStore

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def unique_partner(prefix: str = "lab") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rabbitmq_users() -> set[str]:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    out = subprocess.run([exe, "-q", "list_users"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def delete_user(name: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([exe, "-q", "delete_user", name], capture_output=True)


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """``python -m agora <args>`` against the test's store and broker."""
    full = dict(os.environ, **env, AGORA_RUN_DIR="/nonexistent-run-dir")
    return subprocess.run([sys.executable, "-m", "agora", *args], capture_output=True, text=True, env=full,
                          timeout=120)


@pytest.fixture
def partners_env(secantus, mongo_db, amqp_uri):
    """Env for the CLI; deletes every RabbitMQ user the test's grants created."""
    created: list[str] = []
    env = {"AGORA_MONGO_URI": secantus, "AGORA_MONGO_DB": mongo_db.name, "AGORA_AMQP_URI": amqp_uri}
    env["_created"] = created          # not exported (filtered below)
    yield env
    for name in created:
        delete_user(name)


def grant(env: dict, name: str, tenant: str, types: str, *extra: str) -> dict:
    env["_created"].append(name)
    proc = cli({k: v for k, v in env.items() if not k.startswith("_")}, "partners", "grant", name, "--tenant",
               tenant, "--types", types, *extra)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def store_of(mongo_db) -> EventStore:
    return EventStore(mongo_db).ensure_indexes()


def append(store: EventStore, tenant: str, stream: str, type_: str, data: dict) -> int:
    return store.append(tenant, stream, [NewEvent(type_, data)])[0]


def consume(amqp_uri: str, queue: str, until, timeout: float = 60.0) -> list[tuple]:
    """Consume ``queue`` with plain pika (as the partner) until ``until(messages)`` holds; returns
    [(properties, body)]."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    got: list[tuple] = []
    try:
        ch = conn.channel()
        deadline = time.time() + timeout
        for method, props, body in ch.consume(queue, inactivity_timeout=0.5):
            if method is not None:
                got.append((props, body))
                ch.basic_ack(method.delivery_tag)
            if until(got):
                break
            assert time.time() < deadline, f"only {len(got)} messages arrived on {queue}"
        ch.cancel()
    finally:
        conn.close()
    return got


def reaction(voter: str, idea: str = "idea-1", birth_year: int = 1991, district: str = "Centrum") -> dict:
    return {"target_type": "idea", "target_id": idea, "idea_id": idea, "project_id": "p1", "phase_id": "vote",
            "voter": voter, "value": 1, "previous": 0,
            "personal": {"birth_year": birth_year, "gender": "female", "district": district}}


def idea(idea_id: str, author: str, birth_year: int = 1958) -> dict:
    return {"idea_id": idea_id, "project_id": "p1", "phase_id": "ideation", "title": f"Idea {idea_id}",
            "body": "A bench in the park", "language": "en", "author": author, "tags": [], "location": None,
            "status": "proposed", "personal": {"birth_year": birth_year, "gender": "male", "district": "Noord",
                                               "domicile": None, "consent": True}}
