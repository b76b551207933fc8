"""pytest plugin (entry point ``agora`` of agora-shared): real SecantusDB and RabbitMQ for tests.

Fixtures
- ``secantus`` (session): a SecantusDB server on a free port with ``--storage-path :memory:`` and
  ``--sync-on-commit``; yields its URI. ``AGORA_TEST_MONGO_URI`` points the suite at another server instead.
- ``mongo_db``: a pymongo Database with a unique name per test (dropped afterwards).
- ``amqp_uri``: a fresh RabbitMQ vhost per test (``rabbitmqctl``), deleted afterwards.
- ``agora_env``: both of the above exported as AGORA_* variables for code that reads the environment.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from agora.testing.secantus_main import DEFAULT_SWITCH_INTERVAL_S

# tests mint development tokens and run services in development mode (agora.auth); a test of production-mode
# refusals sets AGORA_ENV itself
os.environ.setdefault("AGORA_ENV", "development")

# every JSON response a service gives during the session is checked against its own OpenAPI document
# (agora.web); violations land in this file and fail the session (pytest_sessionfinish below)
if not os.environ.get("AGORA_CHECK_RESPONSES"):
    import tempfile as _tempfile
    os.environ["AGORA_CHECK_RESPONSES"] = os.path.join(_tempfile.gettempdir(),
                                                       f"agora-response-violations-{os.getpid()}.jsonl")
    if os.path.exists(os.environ["AGORA_CHECK_RESPONSES"]):
        os.remove(os.environ["AGORA_CHECK_RESPONSES"])


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("AGORA_CHECK_RESPONSES")
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    if lines:
        import json as _json
        seen = {}
        for line in lines:
            doc = _json.loads(line)
            seen.setdefault((doc["service"], doc["route"], doc["status"]), doc["errors"])
        report = "\n".join(f"  {svc} {route} -> {status}: {errs}" for (svc, route, status), errs in seen.items())
        print(f"\n{len(lines)} responses did not match their OpenAPI document ({len(seen)} routes/statuses):\n"
              f"{report}\n(see {path})", file=sys.stderr)
        session.exitstatus = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mongo_uri_for(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"


class SecantusServer:
    """A SecantusDB child process (used by tests, benches and `make run`)."""

    def __init__(self, storage: str = ":memory:", port: int | None = None, sync_on_commit: bool = True,
                 standalone: bool = True, switch_interval: float | None = None):
        """``standalone``: advertise a standalone server, not a single-node replica set. SecantusDB then keeps no
        oplog (about 10% of its CPU per vote in bench/votes.py): Agora reads its log by position and never opens a
        change stream. Transactions, unique indexes and write conflicts work the same (tests/backbone).
        ``switch_interval``: the server's GIL switch interval in seconds (default ``AGORA_DB_SWITCH_INTERVAL`` or
        0.0002; 0 keeps CPython's 5 ms), see :mod:`agora.testing.secantus_main`."""
        self.port = port or free_port()
        self.storage = storage
        if switch_interval is None:
            switch_interval = float(os.environ.get("AGORA_DB_SWITCH_INTERVAL", DEFAULT_SWITCH_INTERVAL_S))
        args = [sys.executable, "-m", "agora.testing.secantus_main", "--switch-interval", str(switch_interval),
                "--host", "127.0.0.1", "--port", str(self.port),
                "--storage-path", storage, "--log-level", "WARNING"]
        if sync_on_commit:
            args.append("--sync-on-commit")
        if standalone:
            args.append("--standalone")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.uri = mongo_uri_for(self.port)
        self._wait()

    def _wait(self, timeout: float = 30.0):
        import pymongo
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"SecantusDB exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=300)
                client.admin.command("ping")
                client.close()
                return
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(0.1)
        raise RuntimeError("SecantusDB did not start")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def secantus():
    uri = os.environ.get("AGORA_TEST_MONGO_URI")
    if uri:
        yield uri
        return
    server = SecantusServer()
    yield server.uri
    server.stop()


@pytest.fixture
def mongo_db(secantus):
    import pymongo
    client = pymongo.MongoClient(secantus, tz_aware=True)
    name = "t_" + uuid.uuid4().hex[:16]
    db = client.get_database(name)
    yield db
    client.drop_database(name)
    client.close()


def _rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([exe, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


class Vhost:
    def __init__(self, base: str = "amqp://guest:guest@127.0.0.1:5672/"):
        self.name = "t_" + uuid.uuid4().hex[:16]
        _rabbitmqctl("add_vhost", self.name)
        _rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        self.uri = base.rstrip("/") + "/" + self.name

    def delete(self):
        try:
            _rabbitmqctl("delete_vhost", self.name)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass


@pytest.fixture
def amqp_uri():
    vhost = Vhost(os.environ.get("AGORA_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672/"))
    yield vhost.uri
    vhost.delete()


@pytest.fixture
def agora_env(monkeypatch, mongo_db, amqp_uri, secantus):
    monkeypatch.setenv("AGORA_MONGO_URI", secantus)
    monkeypatch.setenv("AGORA_MONGO_DB", mongo_db.name)
    monkeypatch.setenv("AGORA_AMQP_URI", amqp_uri)
    return {"mongo_uri": secantus, "mongo_db": mongo_db.name, "amqp_uri": amqp_uri}


@pytest.fixture
def relay(secantus, mongo_db, amqp_uri):
    """The real relay (``python -m agora.relay``) running against the test database and vhost."""
    from agora.testing.services import run_relay
    with run_relay(secantus, mongo_db.name, amqp_uri) as proc:
        yield proc
