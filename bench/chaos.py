"""Chaos under load: kill -9 each part of the platform in turn while a mixed load runs, then prove from the log that
nothing was lost or duplicated and that every read model equals a rebuild from the log.

Starts its own SecantusDB (on disk, durable), a fresh RabbitMQ vhost, two relays (one stands by), the votes and
the ideas services (``nameko run``). A closed-loop load of clients sends mixed commands (votes on ideas, idea
submissions), each with a client-chosen ``Idempotency-Key`` (also its ``X-Correlation-Id``): a command whose answer
is lost (connection refused, reset, 5xx, 503) is sent again with the same key until it is answered. Meanwhile, in
turn (``--faults``):

- ``votes``, ``ideas``: kill -9 of the service, restarted at once (as the local launcher does);
- ``relay``: kill -9 of the active relay (the standby takes over its lease), restarted as the new standby;
- ``broker``: kill -9 of the broker, restarted after a few seconds (``--private-broker``, the default of the full
  run: a RabbitMQ node of its own, so the machine's shared broker is never touched); with ``--short``/``--quick``
  (or ``--shared-broker``) an outage of the run's vhost on the shared broker instead (connections closed, new ones
  refused). ``/ready`` of the services is sampled meanwhile; commands and projections must go on (polling);
- ``store``: kill -9 of SecantusDB, restarted on the same files;
- ``rebuild``: a projections rebuild of votes and ideas requested under the same load;
- ``poison``: an event lacking a required field is written around the store's validation; every subscription
  that wants it must park it while the stream flows on.

``recovery_s`` of a fault: from the fault until a probe command sent after it is acknowledged and every
subscription has applied the log up to it (for the relay: until the log is published again; for the broker: from
its return). At the end, with the load stopped: every acknowledged key is found in the log exactly once (its
events carry the key as correlation id: ``lost`` = acknowledged keys without events, ``duplicated`` = keys whose
command was stored twice), every subscription is at the head, and every read model equals a quiet rebuild from
the log (``rebuilt_equals_live``; a projection that applied an event twice, or skipped one, differs).

Last stdout line: one JSON object with ``acknowledged``, ``lost``, ``duplicated``, ``recovery_s`` (per fault) and
the checks; also written to bench/results/chaos.json (``--short``: bench/results/chaos-short.json).

    python bench/chaos.py [--quick|--short] [--clients 6] [--faults votes,relay,broker,store,ideas,rebuild,poison]
                          [--private-broker|--shared-broker] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECRET = "chaos-secret-0123456789abcdef0123456789"
TENANT = "bench"
FAULTS = ("votes", "relay", "broker", "store", "ideas", "rebuild", "poison")
SERVICES = {"votes": ("votes.service", ROOT / "services" / "votes" / "config.yaml"),
            "ideas": ("ideas.service", ROOT / "services" / "ideas" / "config.yaml")}


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ====================================================================================================== platform
class PrivateBroker:
    """A RabbitMQ node of its own (own node name, ports, data folder), so that it can be killed with -9 without
    touching the machine's broker that other users share."""

    def __init__(self, work: Path):
        from agora.testing.plugin import free_port
        self.dir = work / "rabbitmq"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"agora-chaos-{os.getpid()}@localhost"
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:                     # the server script drops to the rabbitmq user
            os.chmod(work, 0o755)
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.dir)], check=False)
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.name = "/"
        self.proc = None
        self.start()

    def start(self, timeout: float = 120.0) -> None:
        import socket
        env = dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
                   RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
                   RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"), RABBITMQ_LOG_BASE=str(self.dir / "log"),
                   RABBITMQ_DIST_PORT=str(self.dist_port), RABBITMQ_PID_FILE=str(self.dir / "pid"))
        self.proc = subprocess.Popen(["rabbitmq-server"], env=env, stdout=open(self.dir / "out.log", "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"private RabbitMQ node did not start (see {self.dir / 'out.log'})")

    def kill(self) -> None:
        """kill -9 of the Erlang VM (and the script that started it)."""
        import psutil
        procs = psutil.Process(self.proc.pid).children(recursive=True) + [psutil.Process(self.proc.pid)]
        for proc in procs:
            try:
                proc.kill()
            except psutil.Error:
                pass
        self.proc.wait()

    def delete(self) -> None:
        try:
            subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], check=False, capture_output=True, timeout=60)
        except Exception:  # noqa: BLE001
            pass
        if self.proc and self.proc.poll() is None:
            self.kill()


class Platform:
    def __init__(self, work: Path, private_broker: bool = False):
        from agora.testing.plugin import SecantusServer, Vhost, free_port
        self.work = work
        self.db_port = free_port()
        self.storage = work / "db"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.server = SecantusServer(storage=str(self.storage), port=self.db_port)
        try:
            self.vhost = PrivateBroker(work) if private_broker else Vhost()
        except BaseException:
            self.server.stop()
            raise
        self.private_broker = private_broker
        self.db_name = "chaos"
        self.extra = {"AGORA_JWT_SECRET": SECRET, "AGORA_LOG_LEVEL": "WARNING", "AGORA_ENV": "development",
                      "AGORA_BLUE_GREEN": os.environ.get("AGORA_BLUE_GREEN", "ideas:board")}
        self.procs: dict = {}
        self.relays: list = []
        self._client = None

    @property
    def uri(self) -> str:
        return self.server.uri

    def db(self):
        import pymongo
        if self._client is None:
            self._client = pymongo.MongoClient(self.uri, tz_aware=True, serverSelectionTimeoutMS=30000)
        return self._client.get_database(self.db_name)

    def _process(self, name: str, args, **env):
        """``args``: the command line, or a function of the port giving it."""
        from agora.testing.plugin import free_port
        from agora.testing.services import Process, service_env
        port = free_port()
        full = service_env(self.uri, self.db_name, self.vhost.uri, port, AGORA_SERVICE_NAME=name, **self.extra,
                           **env)
        args = args(port) if callable(args) else args
        return Process(args, full, port, cwd=str(ROOT), log_path=str(self.work / f"{name}-{port}.log"))

    def start_service(self, name: str):
        from agora.testing.services import nameko_args
        module, config = SERVICES[name]
        proc = self._process(name, nameko_args(module, str(config)))
        self.procs[name] = proc
        return proc

    def start_relay(self):
        proc = self._process("relay", lambda port: [sys.executable, "-m", "agora.relay", "--http-port", str(port)])
        self.relays.append(proc)
        return proc

    def restart_store(self) -> None:
        from agora.testing.plugin import SecantusServer
        self.server = SecantusServer(storage=str(self.storage), port=self.db_port)

    def kill_store(self) -> None:
        self.server.proc.kill()
        self.server.proc.wait()

    def broker_block(self, blocked: bool) -> None:
        limit = '{"max-connections": 0}' if blocked else '{"max-connections": -1}'
        subprocess.run(["rabbitmqctl", "-q", "set_vhost_limits", "-p", self.vhost.name, limit], check=True,
                       capture_output=True)
        if blocked:
            subprocess.run(["rabbitmqctl", "-q", "close_all_connections", "-p", self.vhost.name, "chaos: outage"],
                           check=False, capture_output=True)

    def stop(self) -> None:
        for proc in list(self.procs.values()) + self.relays:
            try:
                proc.terminate(10)
            except Exception:  # noqa: BLE001
                proc.kill()
        try:
            self.server.stop()
        except Exception:  # noqa: BLE001
            self.server.kill()
        try:
            self.vhost.delete()
        except Exception:  # noqa: BLE001
            pass


# ====================================================================================================== load
class Load:
    """Closed-loop clients; every command has its own key and is resent with it until answered."""

    def __init__(self, urls: dict, ideas: list[str], project: str, clients: int, pause_s: float):
        self.urls = urls
        self.ideas = ideas
        self.project = project
        self.clients = clients
        self.pause_s = pause_s
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}      # key -> kind
        self.rejected: dict[str, int] = {}   # key -> status (4xx: refused, nothing to store)
        self.rejected_examples: list[str] = []
        self.unanswered: list[str] = []
        self.retries = 0
        self.counter = 0
        self.threads: list[threading.Thread] = []

    def next_k(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def command(self, session, kind: str, k: int) -> tuple[str, int | None]:
        from agora import auth
        key = uuid.uuid4().hex
        who = f"c{k}"
        token = auth.mint(who, TENANT, ["citizen"], secret=SECRET, ttl_s=3600)
        headers = {"Authorization": "Bearer " + token, "Idempotency-Key": key, "X-Correlation-Id": key}
        if kind == "vote":
            idea = self.ideas[k % len(self.ideas)]
            method, url = "PUT", f"{self.urls['votes']}/api/v1/tenants/{TENANT}/ideas/{idea}/reaction"
            body = {"value": 1 if k % 4 else -1,
                    "personal": {"consent": True, "birth_year": 1940 + k % 70, "gender": ("female", "male")[k % 2],
                                 "district": f"d{k % 5}"}}
        else:
            method, url = "POST", f"{self.urls['ideas']}/api/v1/tenants/{TENANT}/ideas"
            body = {"project_id": self.project, "title": f"Idea number {k}", "body": f"Body of idea {k}",
                    "language": "en"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                resp = session.request(method, url, json=body, headers=headers, timeout=15)
                status = resp.status_code
            except Exception:  # noqa: BLE001 - connection refused/reset, timeout: the answer is lost
                status = None
            if status is not None and 200 <= status < 300:
                return key, status
            if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
                if len(self.rejected_examples) < 5:
                    self.rejected_examples.append(f"{kind} {status} {resp.text[:200]}")
                return key, status
            with self.lock:
                self.retries += 1
            time.sleep(0.2)
        return key, None

    def client(self, i: int) -> None:
        import requests
        session = requests.Session()
        while not self.stop.is_set():
            k = self.next_k()
            kind = "idea" if k % 5 == 0 else "vote"
            key, status = self.command(session, kind, k)
            with self.lock:
                if status is None:
                    self.unanswered.append(key)
                elif 200 <= status < 300:
                    self.acked[key] = kind
                else:
                    self.rejected[key] = status
            time.sleep(self.pause_s)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(self.clients)]
        [t.start() for t in self.threads]

    def finish(self) -> None:
        self.stop.set()
        [t.join(180) for t in self.threads]


# ====================================================================================================== checks
def subscription_positions(db) -> dict:
    return {d["_id"]: d["position"] for d in db["subscription_checkpoints"].find()
            if not d["_id"].endswith("~rebuild")}


def wait_applied(db, store, head: int, timeout: float = 120.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            pos = subscription_positions(db)
            if pos and min(pos.values()) >= head:
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - store restarting
            pass
        time.sleep(0.05)
    raise RuntimeError(f"subscriptions did not reach {head} in {timeout}s: {subscription_positions(db)}")


def probe(load: Load, platform: Platform) -> int:
    """One command after a fault, resent until answered; returns the head once it was acknowledged."""
    import requests
    k = load.next_k()
    key, status = load.command(requests.Session(), "vote", k)
    if status is None or not 200 <= status < 300:
        raise RuntimeError(f"probe command not acknowledged (status {status})")
    with load.lock:
        load.acked[key] = "vote"
    for _ in range(600):
        try:
            return platform.db()["events"].find_one({"cid": key}, {"_id": 1})["_id"]
        except Exception:  # noqa: BLE001
            time.sleep(0.1)
    raise RuntimeError("probe event not found")


def relay_position(db) -> int:
    doc = db["relay_checkpoints"].find_one({"_id": "relay"})
    return doc["position"] if doc else 0


VOLATILE = ("projected_at",)     # when a document was written (wall clock), not what the log says


def snapshot(db, prefixes=("votes_", "ideas_")) -> dict:
    out = {}
    for name in sorted(db.list_collection_names()):
        if name.startswith(prefixes) and not name.endswith("__next"):
            docs = [{k: v for k, v in d.items() if k not in VOLATILE} for d in db[name].find()]
            out[name] = sorted(docs, key=lambda d: repr(d["_id"]))
    return out


def diff(a: dict, b: dict) -> list[str]:
    problems = []
    for name in sorted(set(a) | set(b)):
        da, db_ = a.get(name, []), b.get(name, [])
        if da != db_:
            ia = {repr(d["_id"]): d for d in da}
            ib = {repr(d["_id"]): d for d in db_}
            missing = sorted(set(ia) - set(ib))[:3]
            extra = sorted(set(ib) - set(ia))[:3]
            changed = [k for k in ia if k in ib and ia[k] != ib[k]][:2]
            problems.append(f"{name}: {len(da)} live vs {len(db_)} rebuilt docs; only live {missing}; only rebuilt "
                            f"{extra}; differing {[(ia[k], ib[k]) for k in changed]}"[:1500])
    return problems


def wait_rebuilt(db, keys: list[str], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {d["_id"]: d.get("state") for d in db["projection_rebuilds"].find({"_id": {"$in": keys}})}
        if len(states) == len(keys) and all(s == "done" for s in states.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"rebuild not done in {timeout}s: {states}")


def inject_poison(store) -> int:
    """A ReactionCast without its voter, written around the store's validation (an old bug, a hand repair)."""
    from pymongo.errors import DuplicateKeyError

    from agora.events.envelope import NewEvent
    doc = store._docs(TENANT, f"reactions-poison-{uuid.uuid4().hex[:6]}", [NewEvent("ReactionCast", {
        "target_type": "idea", "target_id": "i-0", "idea_id": "i-0", "project_id": "p-chaos", "phase_id": "vote",
        "voter": "nobody", "value": 1, "previous": 0, "personal": {}})])[0]
    doc["data"].pop("voter", None)
    for _ in range(1000):
        pos = store.head() + 1
        try:
            store.events.insert_one(dict(doc, _id=pos, p=pos, version=1))
            return pos
        except DuplicateKeyError:
            time.sleep(0.01)
    raise RuntimeError("could not inject the poison event")


# ====================================================================================================== run
def run(args) -> dict:
    import requests

    from agora.events.envelope import NewEvent
    from agora.store import EventStore
    from agora.subscriptions import request_rebuild

    work = Path(tempfile.mkdtemp(prefix="agora-chaos-"))
    platform = Platform(work, private_broker=args.private_broker)
    result: dict = {"faults": [], "recovery_s": {}}
    load = None
    try:
        db = platform.db()
        store = EventStore(db).ensure_indexes()
        now = datetime.now(timezone.utc)
        pid = "p-chaos"
        store.append(TENANT, f"project-{pid}", [
            NewEvent("ProjectCreated", {"project_id": pid, "title": "Chaos", "language": "en", "created_by": "adm",
                                        "workflow": {"published": []}}),
            NewEvent("PhaseAdded", {"project_id": pid, "phase_id": "idea", "kind": "ideation", "title": "ideas",
                                    "start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=1)),
                                    "added_by": "adm"}),
            NewEvent("PhaseAdded", {"project_id": pid, "phase_id": "vote", "kind": "voting", "title": "vote",
                                    "start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=1)),
                                    "added_by": "adm"})], 0)
        ideas = [f"i-{k}" for k in range(20)]
        for iid in ideas:
            store.append(TENANT, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
                "idea_id": iid, "project_id": pid, "phase_id": "idea", "title": f"seed {iid}", "body": "b",
                "language": "en", "author": "a", "status": "published"})], 0)
        log(f"work dir {work}; store {platform.uri}; vhost {platform.vhost.name}")
        platform.start_relay().wait_ready(60)
        platform.start_relay()                                   # the standby
        for name in SERVICES:
            platform.start_service(name)
        for name in SERVICES:
            platform.procs[name].wait_ready(120)
        urls = {name: proc.url for name, proc in platform.procs.items()}
        deadline = time.time() + 60
        while requests.get(f"{urls['votes']}/api/v1/tenants/{TENANT}/ideas/{ideas[-1]}/tally").status_code != 200:
            if time.time() > deadline:
                raise RuntimeError("the votes service never learned the seeded ideas: " + requests.get(
                    f"{urls['votes']}/api/v1/tenants/{TENANT}/ideas/{ideas[-1]}/tally").text[:300])
            time.sleep(0.2)
        load = Load(urls, ideas, pid, args.clients, args.pause)
        load.start()
        log(f"load: {args.clients} clients")
        time.sleep(args.settle)

        for fault in args.faults:
            acked_before, rejected_before = len(load.acked), len(load.rejected)
            started = time.monotonic()
            entry: dict = {"fault": fault}
            log(f"fault: {fault}")
            if fault in SERVICES:
                proc = platform.procs[fault]
                proc.kill()                                      # kill -9 (its process group)
                proc.start()                                     # restarted at once, as the launcher does
                proc.wait_ready(120)
                entry["process_ready_s"] = round(time.monotonic() - started, 2)   # start-up of the new process
                head = probe(load, platform)
                wait_applied(db, store, head)
            elif fault == "relay":
                active = next((r for r in platform.relays if r.proc.poll() is None and _ready(r)), None)
                if active is None:
                    raise RuntimeError("no active relay")
                active.kill()
                platform.relays.remove(active)
                head = probe(load, platform)
                while relay_position(db) < head:
                    time.sleep(0.05)
                platform.start_relay()                           # the new standby
            elif fault == "broker":
                if platform.private_broker:
                    platform.vhost.kill()                        # kill -9 of the broker
                    entry["kill9"] = True
                else:
                    platform.broker_block(True)                  # the shared broker: an outage of our vhost
                ready = []
                t_end = time.monotonic() + args.outage
                while time.monotonic() < t_end:
                    for proc in platform.procs.values():
                        try:
                            ready.append(requests.get(proc.url + "/ready", timeout=5).status_code == 200)
                        except requests.RequestException:
                            ready.append(False)
                    time.sleep(0.25)
                head = probe(load, platform)                     # commands and projections during the outage
                entry["applied_during_outage_s"] = round(wait_applied(db, store, head), 2)
                if platform.private_broker:
                    restarting = time.monotonic()
                    platform.vhost.start()
                    entry["broker_start_s"] = round(time.monotonic() - restarting, 2)
                else:
                    platform.broker_block(False)
                started = time.monotonic()                       # recovery counted from the broker's return
                head = probe(load, platform)
                while relay_position(db) < head:
                    time.sleep(0.05)
                entry["ready_during_outage"] = round(sum(ready) / max(1, len(ready)), 3)
            elif fault == "store":
                platform.kill_store()
                time.sleep(0.5)
                platform.restart_store()
                head = probe(load, platform)
                wait_applied(db, store, head)
            elif fault == "rebuild":
                keys = request_rebuild(db, "votes") + request_rebuild(db, "ideas")
                wait_rebuilt(db, keys)
                head = probe(load, platform)
                wait_applied(db, store, head)
                entry["rebuilt"] = keys
            elif fault == "poison":
                pos = inject_poison(store)
                head = probe(load, platform)
                wait_applied(db, store, max(head, pos))
                parked = list(db["dead_letters"].find({"position": pos}, {"subscription": 1, "service": 1}))
                entry["parked_by"] = sorted(f"{d['service']}:{d['subscription']}" for d in parked)
            else:
                raise SystemExit(f"unknown fault {fault!r}")
            took = round(time.monotonic() - started, 2)
            entry.update(recovery_s=took, acknowledged_meanwhile=len(load.acked) - acked_before,
                         rejected_meanwhile=len(load.rejected) - rejected_before)
            result["faults"].append(entry)
            result["recovery_s"][fault] = took
            log(f"  recovered in {took}s ({entry})")
            time.sleep(args.between)

        load.finish()
        log(f"load stopped: {len(load.acked)} acknowledged, {load.retries} resends")
        head = store.head()
        wait_applied(db, store, head)
        live = snapshot(db)
        # ---- from the log: every acknowledged command stored exactly once
        by_key: dict[str, list[tuple[str, str]]] = {}
        for d in db["events"].find({"cid": {"$in": list(load.acked)}}, {"cid": 1, "type": 1, "stream": 1}):
            by_key.setdefault(d["cid"], []).append((d["type"], d["stream"]))
        lost = [k for k in load.acked if k not in by_key]
        duplicated = [k for k, evs in by_key.items() if len(evs) != len(set(evs))]
        positions = sorted(d["_id"] for d in db["events"].find({}, {"_id": 1}))
        # ---- rebuilt == live (a quiet rebuild from the log)
        keys = request_rebuild(db, "votes") + request_rebuild(db, "ideas")
        started = time.monotonic()
        wait_rebuilt(db, keys)
        wait_applied(db, store, head)
        quiet_rebuild_s = round(time.monotonic() - started, 2)
        rebuilt = snapshot(db)
        problems = diff(live, rebuilt)
        parked = list(db["dead_letters"].find({}, {"cloudevent": 0}))
        result.update({
            "acknowledged": len(load.acked), "lost": len(lost), "duplicated": len(duplicated),
            "rejected": len(load.rejected), "unanswered": len(load.unanswered), "resends": load.retries,
            "events": head, "positions_contiguous": positions == list(range(1, head + 1)),
            "subscriptions_at_head": min(subscription_positions(db).values()) >= head,
            "rebuilt_equals_live": not problems, "read_model_documents": sum(len(v) for v in live.values()),
            "quiet_rebuild_s": quiet_rebuild_s, "dead_letters": len(parked),
            "parked_types": sorted({d["type"] for d in parked})})
        result["applied_exactly_once"] = result["rebuilt_equals_live"] and result["subscriptions_at_head"]
        if problems:
            result["differences"] = problems[:5]
        if lost:
            result["lost_keys"] = lost[:10]
        if duplicated:
            result["duplicated_keys"] = duplicated[:10]
        if load.rejected:
            result["rejected_statuses"] = sorted(set(load.rejected.values()))
            result["rejected_examples"] = load.rejected_examples
        return result
    finally:
        if load is not None:
            load.stop.set()
        platform.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")


def _ready(proc) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(proc.url + "/ready", timeout=2) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the `make bench` variant (about a minute)")
    parser.add_argument("--short", action="store_true", help="the `make test` variant: fewer clients and pauses")
    parser.add_argument("--clients", type=int, default=None, help="load clients (default 6; 2 with --short)")
    parser.add_argument("--pause", type=float, default=None, help="pause between a client's commands (s)")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in order: " + ",".join(FAULTS))
    parser.add_argument("--outage", type=float, default=None, help="broker outage length (s)")
    parser.add_argument("--settle", type=float, default=None, help="load before the first fault (s)")
    parser.add_argument("--between", type=float, default=None, help="pause between faults (s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (store files, logs)")
    parser.add_argument("--private-broker", dest="private_broker", action="store_true", default=None,
                        help="run a RabbitMQ node of its own and kill -9 it for the broker fault (default without "
                             "--short/--quick when rabbitmq-server is installed); otherwise the broker fault is an "
                             "outage of the run's vhost on the shared broker")
    parser.add_argument("--shared-broker", dest="private_broker", action="store_false",
                        help="use a vhost of the machine's broker (the broker fault is then an outage of the vhost)")
    args = parser.parse_args(argv)
    small = args.short or args.quick
    args.clients = args.clients or (2 if small else 6)
    args.pause = args.pause if args.pause is not None else (0.1 if small else 0.01)
    args.outage = args.outage if args.outage is not None else (3.0 if small else 8.0)
    args.settle = args.settle if args.settle is not None else (1.0 if small else 10.0)
    args.between = args.between if args.between is not None else (0.5 if small else 5.0)
    args.faults = [f for f in args.faults.split(",") if f]
    if args.private_broker is None:
        args.private_broker = not small and shutil.which("rabbitmq-server") is not None
    if args.keep:
        os.environ["AGORA_KEEP_LOGS"] = "1"
    started = time.monotonic()
    result = run(args)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["ok"] = (result["lost"] == 0 and result["duplicated"] == 0 and result["rebuilt_equals_live"]
                    and result["positions_contiguous"] and result["subscriptions_at_head"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "chaos-short.json" if args.short else "chaos.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
