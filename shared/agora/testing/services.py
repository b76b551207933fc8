"""Run Agora processes for interface tests, benches and `make run`: real `nameko run` services and the relay.

    with run_service("ideas.service", env) as svc:      # waits for GET /ready
        requests.get(svc.url + "/api/v1/...")
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agora.testing.plugin import free_port


class Process:
    def __init__(self, args: list[str], env: dict, port: int | None, cwd: str | None = None,
                 log_path: str | None = None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}" if port else None
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_path or f"/tmp/agora-{Path(args[-1]).name}-{os.getpid()}-{port}.log"
        self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0, path: str = "/ready"):
        import urllib.request
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
            time.sleep(0.1)
        raise RuntimeError(f"{self.args} not ready after {timeout}s ({last}):\n{self.tail()}")

    def tail(self, n: int = 4000) -> str:
        try:
            return Path(self.log_path).read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def terminate(self, timeout: float = 20.0) -> float:
        """SIGTERM and wait; returns the seconds it took to exit."""
        started = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        if self.proc.returncode in (0, -signal.SIGTERM) and not os.environ.get("AGORA_KEEP_LOGS") \
                and self.log_path.startswith("/tmp/agora-"):
            Path(self.log_path).unlink(missing_ok=True)   # clean exit: the log is not needed
        return time.time() - started

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# the tenants the suite's services declare (agora.tenants); a test of unknown tenants uses another name
TEST_TENANTS = ("demo,gent,ghent,city,leuven,other,shelbyville,springfield,krakow,bruges,elsewhere,bench,t,t1,t2,"
                "acme,a,b,tenant-a,tenant-b")


def service_env(mongo_uri: str, mongo_db: str, amqp_uri: str, port: int, **extra) -> dict:
    env = dict(os.environ)
    env.update({"AGORA_MONGO_URI": mongo_uri, "AGORA_MONGO_DB": mongo_db, "AGORA_AMQP_URI": amqp_uri,
                "AGORA_HTTP_PORT": str(port), "PYTHONUNBUFFERED": "1"})
    env.setdefault("AGORA_ENV", "development")
    env.setdefault("AGORA_RATE_LIMITS", "off")     # abuse-limit tests turn them on
    if "AGORA_TENANTS" not in extra:
        env["AGORA_TENANTS"] = TEST_TENANTS
    env.update({k: str(v) for k, v in extra.items()})
    return env


DEFAULT_CONFIG = str(Path(__file__).resolve().parent.parent / "nameko.yaml")


def nameko_args(module: str, config: str | None = None) -> list[str]:
    nameko = str(Path(sys.executable).with_name("nameko"))
    return [nameko, "run", "--config", config or DEFAULT_CONFIG, module]


@contextlib.contextmanager
def run_service(module: str, mongo_uri: str, mongo_db: str, amqp_uri: str, *, config: str | None = None,
                cwd: str | None = None, ready_timeout: float = 60.0, **extra_env):
    """Start ``nameko run <module>`` on a free port and wait for /ready; SIGTERM on exit."""
    port = free_port()
    env = service_env(mongo_uri, mongo_db, amqp_uri, port, **extra_env)
    proc = Process(nameko_args(module, config), env, port, cwd=cwd)
    try:
        proc.wait_ready(ready_timeout)
        yield proc
    finally:
        proc.terminate()


def start_relay(mongo_uri: str, mongo_db: str, amqp_uri: str, **extra_env) -> Process:
    port = free_port()
    env = service_env(mongo_uri, mongo_db, amqp_uri, port, **extra_env)
    return Process([sys.executable, "-m", "agora.relay", "--http-port", str(port)], env, port)


@contextlib.contextmanager
def run_relay(mongo_uri: str, mongo_db: str, amqp_uri: str, **extra_env):
    proc = start_relay(mongo_uri, mongo_db, amqp_uri, **extra_env)
    try:
        proc.wait_ready(30)
        yield proc
    finally:
        proc.terminate()
