"""Votes benchmark: sustained votes/s end to end (HTTP → store → relay → tally projection) and the latency from
an accepted vote to the updated tally, against raw SecantusDB inserts and raw RabbitMQ publish+consume measured in
the same run on the same servers.

Starts its own SecantusDB (agora.testing.plugin.SecantusServer), a fresh RabbitMQ vhost, the relay and the votes
service (`nameko run`) as subprocesses. Prints one JSON object on its last line and writes bench/results/votes.json.

Figures
- raw_store_inserts_per_s: pymongo insert_one, write concern j=true; the best of 16 threads and the vote load's
  concurrency (SecantusDB is one Python process: more threads can be slower, and the ceiling is the best raw rate).
- raw_broker_msgs_per_s: pika publish (persistent, publisher confirms) + consume (acks) through one queue.
- votes_per_s: accepted votes / time until the tally projection had applied all of them (closed loop).
- votes_vs_ceiling: votes_per_s / min(raw rates)  (goal ≥ 0.5).
- p50/p99_ms_at_half_load: open-loop load at half votes_per_s; latency = instant the tally projection's
  committed checkpoint passed the vote's position (polled every 20 ms) − the vote's acceptance time in the store.
- lost: ReactionCast events stored − votes counted by the tallies (must be 0).

Replicas: ``--replicas N`` starts N votes service processes (as a deployment scales them) and spreads the requests
round robin. Every replica also runs the subscriptions: they compete for the same checkpoint (each batch commits
in one transaction with the checkpoint, so an event is applied once whoever wins; the loser's work is wasted) —
the figures stay end-to-end and lossless, the ceiling and the goal keys mean the same. Default 1.

Diagnostics: ``AGORA_VOTES_CMDSTATS=/tmp/x.json`` makes the service count its MongoDB commands by kind
(bench/profiling/cmdstats.py: count, documents returned, mean latency), to see the store round trips per vote;
``AGORA_BENCH_TRACE=/tmp/t.json`` writes (vote time, latency ms) of every half-load vote, to see when the tail
happens. ``stages_at_half_load`` splits the half-load latency into its stages (see ``half_load_stages``) and gives
the store's own round trip for a one-document read meanwhile (the checkpoint poller's ``find_one``). The checkpoint
poller is paused during the sustained phase (it is measurement, not platform, load).

Abuse (``--abuse``, bench/results/votes-abuse.json): issue 16's "one citizen submitted 2,000 ideas in 50 s". A
closed-loop population (``--citizens`` threads, each a new citizen per vote, ``--think`` seconds between votes) votes
at a moderate rate; after a quiet stretch (the reference), one citizen (one token) sends writes back to back on
``--burst-connections`` connections from a process of its own, ignoring Retry-After (flipping its reaction on the
ideas, dealt over ``--projects`` projects so that its parallel writes are different streams and do not conflict:
every write changes something; a new abuser token per round, so each round starts with a fresh
allowance). Two votes services run side by side, each on a fresh database and vhost of the same store: one with
``AGORA_RATE_LIMITS=on`` (the tenant's default 60 writes a minute per person), one ``off`` as the baseline; the
``--rounds`` alternate on, off, on, off … so that both see the same share of the machine's other load, and each
round starts once both services' relay and tally projection have caught up with the log (one round's aftermath does
not land in the next). Figures: the
burst's accepted and 429 counts, the other citizens' p50/p99 HTTP latency (request → answer) during the bursts (goal
p99 < 250 ms) and alone, the same with limits off, and the on/off ratios.

Overload (``--overload``, bench/results/votes-overload.json): issue 19's "shed load, don't queue it". The maximum
closed-loop rate (``--concurrency`` clients, HTTP accepted/s) is measured first, then an open loop sends votes at
twice that rate whatever the answers (``--overload-threads`` pre-connected connections; ``send_lateness_ms`` tells
whether the generator kept its schedule) while a process of its own polls ``GET /ready`` every 100 ms on a new
connection. Figures: accepted/s, rejected/s by status, p99 of accepted and of rejected answers, /ready's worst
latency and non-200 count, the service process's RSS (psutil: idle, peak at the maximum, peak in overload).

The machine may be shared: every ratio is against a baseline measured in the same run.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "votes.json"
ABUSE_RESULTS = ROOT / "bench" / "results" / "votes-abuse.json"
OVERLOAD_RESULTS = ROOT / "bench" / "results" / "votes-overload.json"
CONFIG = ROOT / "services" / "votes" / "config.yaml"
SECRET = "bench-votes-secret-0123456789abcdef"


def log(msg: str) -> None:
    print(f"[bench votes] {msg}", file=sys.stderr, flush=True)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children) from /proc, in seconds; 0.0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def broker_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "beam.smp":
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def store_ops(db) -> dict:
    """SecantusDB's request counters (serverStatus: network.numRequests and opcounters) — all clients."""
    st = db.client.admin.command("serverStatus")
    out = {"requests": st.get("network", {}).get("numRequests", 0)}
    out.update(st.get("opcounters") or {})
    return out


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


# ------------------------------------------------------------------------------------------------ baselines
def spread(values) -> dict:
    return {"p50": round(pct(values, 0.5), 1), "p99": round(pct(values, 0.99), 1), "n": len(values)} if values \
        else {"p50": None, "p99": None, "n": 0}


def half_load_stages(events, sent: dict, projected: dict, cps) -> dict:
    """Where a half-load vote's latency goes (ms, p50/p99; wall clocks of one machine):
    request_to_accept (HTTP in, auth, decide: up to the event's time stamp), accept_to_response (personal-data key,
    append with group commit, HTTP out), accept_to_handler (relay, doorbell, the subscription's read and batch up to
    the handler's flush), handler_to_visible (bulk write, commit, and ≤ 20 ms of the bench's checkpoint polling)."""
    cols: dict[str, list[float]] = {"request_to_accept": [], "accept_to_response": [], "accept_to_handler": [],
                                    "handler_to_visible": []}
    for e in events:
        voter = e.correlationid         # each vote is sent with its voter as X-Correlation-Id (streams name pseudonyms)
        accepted = parse(e.time)
        if voter in sent:
            asked, answered = sent[voter]
            cols["request_to_accept"].append(max(0.0, accepted - asked) * 1000)
            cols["accept_to_response"].append(max(0.0, answered - accepted) * 1000)
        seen = cps.visible_at(e.position)
        if e.position in projected:
            cols["accept_to_handler"].append(max(0.0, projected[e.position] - accepted) * 1000)
            if seen is not None:
                cols["handler_to_visible"].append(max(0.0, seen - projected[e.position]) * 1000)
    return {k: spread(v) for k, v in cols.items()}


def raw_store(uri: str, seconds: float, concurrency: int) -> float:
    import pymongo
    from pymongo import WriteConcern
    client = pymongo.MongoClient(uri)
    coll = client.get_database("bench_raw").get_collection("raw", write_concern=WriteConcern(w=1, j=True))
    coll.insert_one({"warm": True})
    stop = time.perf_counter() + seconds
    counts = [0] * concurrency

    def worker(i):
        n = 0
        while time.perf_counter() < stop:
            coll.insert_one({"w": i, "n": n, "data": {"target_type": "idea", "value": 1, "voter": uuid.uuid4().hex}})
            n += 1
        counts[i] = n
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - started
    client.drop_database("bench_raw")
    client.close()
    return sum(counts) / elapsed


def raw_broker(amqp_uri: str, n: int) -> float:
    import pika
    params = pika.URLParameters(amqp_uri)
    queue = "bench.raw." + uuid.uuid4().hex[:6]
    setup = pika.BlockingConnection(params)
    ch = setup.channel()
    ch.queue_declare(queue, durable=True)
    received = threading.Event()
    got = [0]

    def consume():
        conn = pika.BlockingConnection(params)
        c = conn.channel()
        c.basic_qos(prefetch_count=1000)

        def on(chx, method, props, body):
            got[0] += 1
            chx.basic_ack(method.delivery_tag)
            if got[0] >= n:
                received.set()
                chx.stop_consuming()
        c.basic_consume(queue, on)
        c.start_consuming()
        conn.close()
    body = json.dumps({"specversion": "1.0", "type": "ReactionCast", "data": {"value": 1}}).encode()
    started = time.perf_counter()
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    pub = pika.BlockingConnection(params)
    pc = pub.channel()
    pc.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    for _ in range(n):
        pc.basic_publish("", queue, body, props, mandatory=True)
    received.wait(120)
    elapsed = time.perf_counter() - started
    pub.close()
    ch.queue_delete(queue)
    setup.close()
    return got[0] / elapsed


# ------------------------------------------------------------------------------------------------ load client
class Client:
    """A lean keep-alive HTTP/1.1 client (http.client): the load generator shares the machine's cores with the
    platform, so it should cost as little CPU as a real one (wrk, k6) would — `requests` costs ~1 ms per call.
    One per load thread; requests are spread round robin over the service replicas."""

    def __init__(self, urls: list[str]):
        from urllib.parse import urlsplit
        self.targets = [urlsplit(u) for u in urls]
        self.conns: dict[int, http.client.HTTPConnection] = {}

    def connect_all(self) -> None:
        for replica, t in enumerate(self.targets):
            if replica not in self.conns:
                self.conns[replica] = http.client.HTTPConnection(t.hostname, t.port, timeout=60)
                self.conns[replica].connect()

    def put_json(self, replica: int, path: str, body: dict, token: str, cid: str | None = None) -> int:
        replica %= len(self.targets)
        payload = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if cid:
            headers["X-Correlation-Id"] = cid
        for attempt in (0, 1):
            conn = self.conns.get(replica)
            if conn is None:
                t = self.targets[replica]
                conn = self.conns[replica] = http.client.HTTPConnection(t.hostname, t.port, timeout=60)
            try:
                conn.request("PUT", self.targets[replica].path + path, payload, headers)
                resp = conn.getresponse()
                resp.read()
                return resp.status
            except (http.client.HTTPException, OSError):
                conn.close()
                self.conns.pop(replica, None)       # the server closed a kept-alive connection: reconnect once
                if attempt:
                    raise
        raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------ votes
class Checkpoints(threading.Thread):
    """Polls the tally subscription's committed checkpoint; records when each position became visible."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.coll = db["subscription_checkpoints"]
        self.samples: list[tuple[float, int]] = []
        self.roundtrips: list[tuple[float, float]] = []   # (when, ms) of each poll: the store's latency seen
        self.stop = threading.Event()
        self.paused = threading.Event()     # set during the sustained phase: the poller is measurement overhead

    def read(self) -> int:
        doc = self.coll.find_one({"_id": "votes:tallies"})
        return doc["position"] if doc else 0

    def run(self):
        last = -1
        while not self.stop.is_set():
            if self.paused.is_set():
                time.sleep(0.02)
                continue
            asked = time.perf_counter()
            doc = self.coll.find_one({"_id": "votes:tallies"})
            self.roundtrips.append((time.time(), (time.perf_counter() - asked) * 1000))
            pos = doc["position"] if doc else 0
            if pos != last:
                self.samples.append((time.time(), pos))
                last = pos
            time.sleep(0.02)

    def position(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def visible_at(self, position: int) -> float | None:
        for t, p in self.samples:
            if p >= position:
                return t
        return None


# ------------------------------------------------------------------------------------------------ shared set-up
def seed(store, tenant: str, n_ideas: int, projects: int = 1) -> list[str]:
    """``projects`` projects (``p-bench``, ``p-bench-1`` …), each with an open voting phase, and ``n_ideas``
    published ideas dealt round robin over them (idea ``i-k`` in project ``k % projects``), appended straight to the
    log. A person's reactions in one project are one stream: writes in different projects never conflict."""
    from agora.events.envelope import NewEvent
    now = datetime.now(timezone.utc)
    names = [("p-bench" if j == 0 else f"p-bench-{j}", "ph-bench" if j == 0 else f"ph-bench-{j}")
             for j in range(projects)]
    for pid, phid in names:
        store.append(tenant, f"project-{pid}", [
            NewEvent("ProjectCreated", {"project_id": pid, "title": "Bench", "language": "en", "created_by": "adm",
                                        "workflow": {"published": []}}),
            NewEvent("PhaseAdded", {"project_id": pid, "phase_id": phid, "kind": "voting", "title": "vote",
                                    "start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=1)),
                                    "added_by": "adm"})], 0)
    ideas = [f"i-{k}" for k in range(n_ideas)]
    for k, iid in enumerate(ideas):
        pid, phid = names[k % projects]
        store.append(tenant, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
            "idea_id": iid, "project_id": pid, "phase_id": phid, "title": "t", "body": "b", "language": "en",
            "author": "a", "status": "published"})], 0)
    return ideas


def wait_ideas(base: str, last_idea: str, timeout: float = 60.0) -> None:
    """Until the votes service has projected the bench ideas (its tally of the last one answers 200)."""
    import requests
    deadline = time.time() + timeout
    while requests.get(f"{base}/ideas/{last_idea}/tally").status_code != 200:
        if time.time() > deadline:
            raise RuntimeError("votes service never learned the bench ideas")
        time.sleep(0.1)


@contextlib.contextmanager
def votes_platform(server, n_ideas: int, db_name: str, tenant: str = "bench", projects: int = 1, **service_env):
    """A fresh database and vhost on ``server``, seeded, with the relay and one votes service (extra env
    ``service_env``) running: yields (service process, tenant base URL, ideas, database)."""
    import pymongo
    from agora.store import EventStore
    from agora.testing.plugin import Vhost
    from agora.testing.services import run_service, start_relay
    vhost = Vhost()
    relay = None
    client = pymongo.MongoClient(server.uri, tz_aware=True)
    try:
        db = client.get_database(db_name)
        ideas = seed(EventStore(db).ensure_indexes(), tenant, n_ideas, projects)
        extra = {"AGORA_JWT_SECRET": SECRET, "AGORA_SERVICE_NAME": "votes", "AGORA_LOG_LEVEL": "WARNING"}
        relay = start_relay(server.uri, db_name, vhost.uri, **extra)
        relay.wait_ready(30)
        with run_service("votes.service", server.uri, db_name, vhost.uri, config=str(CONFIG),
                         **extra, **service_env) as svc:
            base = f"{svc.url}/api/v1/tenants/{tenant}"
            wait_ideas(base, ideas[-1])
            yield svc, base, ideas, db
    finally:
        if relay is not None:
            relay.terminate()
        vhost.delete()
        client.close()


# ------------------------------------------------------------------------------------------------ pure figures
def latency_summary(values) -> dict:
    """p50, p99 and max (ms, one decimal) and the count of a list of latencies in ms."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    return {"p50": round(pct(values, 0.5), 1), "p99": round(pct(values, 0.99), 1), "max": round(max(values), 1),
            "n": len(values)}


def by_status(codes) -> dict:
    """Counts by HTTP status (keys are strings, in order; "0" = no answer: connection error or timeout)."""
    out: dict[str, int] = {}
    for c in codes:
        out[str(c)] = out.get(str(c), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def accepted(code: int) -> bool:
    return 200 <= code < 300


def ratio(a, b, digits: int = 2):
    """a / b rounded; None when either is missing or b is 0."""
    return round(a / b, digits) if a is not None and b else None


def in_window(samples, start: float, end: float) -> list:
    """The (sent, ms, status) samples sent in [start, end)."""
    return [s for s in samples if start <= s[0] < end]


def abuse_vote(k: int, n_ideas: int) -> tuple[int, int]:
    """The abuser's k-th write: (idea index, value). It walks the ideas and flips its reaction on each pass, so every
    write changes something (repeating an identical reaction is an idempotent no-op that appends nothing)."""
    return k % n_ideas, (1 if (k // n_ideas) % 2 == 0 else -1)


def rates(codes, seconds: float) -> dict:
    """accepted/s and rejected/s by status over ``seconds``."""
    codes = list(codes)
    rejected = by_status(c for c in codes if not accepted(c))
    return {"accepted_per_s": round(sum(1 for c in codes if accepted(c)) / seconds, 1) if seconds > 0 else None,
            "rejected_per_s": round(sum(rejected.values()) / seconds, 1) if seconds > 0 else None,
            "rejected_per_s_by_status": {k: round(v / seconds, 1) for k, v in rejected.items()} if seconds > 0
            else {}}


# ------------------------------------------------------------------------------------------------ load actors
def _put(client: Client, path: str, body: dict, token: str, cid: str | None = None) -> int:
    try:
        return client.put_json(0, path, body, token, cid)
    except Exception:  # noqa: BLE001 - no answer (reset, timeout): counted as status 0
        return 0


def _burst_worker(base: str, token: str, n_ideas: int, start_at: float, end_at: float, connections: int,
                  out) -> None:
    """The abuser, in a process of its own (its GIL is not the measuring client's): ``connections`` keep-alive
    connections send one citizen's writes back to back from ``start_at`` to ``end_at`` (wall clock), ignoring
    ``Retry-After`` as an attacker would. Puts {"codes", "latency_ms", "started"} on ``out``."""
    import itertools
    counter = itertools.count()
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    started = []

    def loop():
        c = Client([base])
        c.connect_all()
        mine = []
        while time.time() < start_at:
            time.sleep(0.001)
        started.append(time.time())
        while time.time() < end_at:
            idea, value = abuse_vote(next(counter), n_ideas)
            asked = time.perf_counter()
            code = _put(c, f"/ideas/i-{idea}/reaction", {"value": value}, token)
            mine.append((code, (time.perf_counter() - asked) * 1000))
        with lock:
            results.extend(mine)
    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"codes": [c for c, _ in results], "latency_ms": latency_summary([ms for _, ms in results]),
             "started": min(started) if started else None})


def _ready_worker(url: str, start_at: float, end_at: float, every_s: float, out) -> None:
    """Polls ``GET /ready`` every ``every_s`` on a new connection each time (as a kubelet probe does), in a process of
    its own; puts the list of (when, status, ms) on ``out``."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    samples = []
    while time.time() < start_at:
        time.sleep(0.005)
    while time.time() < end_at:
        asked = time.perf_counter()
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            conn.request("GET", "/ready")
            resp = conn.getresponse()
            resp.read()
            code = resp.status
        except Exception:  # noqa: BLE001 - no answer within 10 s
            code = 0
        finally:
            conn.close()
        ms = (time.perf_counter() - asked) * 1000
        samples.append((time.time(), code, ms))
        time.sleep(max(0.0, every_s - ms / 1000))
    out.put(samples)


def _subprocess(target, *args):
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue), daemon=True)
    proc.start()
    return proc, queue


def _collect(proc, queue, timeout: float):
    try:
        return queue.get(timeout=timeout)
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


class Population:
    """The other citizens: a closed loop of ``n`` threads; each casts a vote as a new citizen (own token, consented
    demographics), reads the answer, thinks ``think_s`` (±50 %), and again. Records (sent wall time, ms, status)."""

    def __init__(self, base: str, tenant: str, ideas: list[str], n: int, think_s: float, prefix: str = "c"):
        import itertools
        import random
        self.base, self.tenant, self.ideas, self.n, self.think_s = base, tenant, ideas, n, think_s
        self.prefix = prefix
        self.counter = itertools.count()
        self.samples: list[tuple[float, float, int]] = []
        self.halt = threading.Event()
        self.rng = random.Random(7)
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(n)]

    def _loop(self):
        from agora import auth
        c = Client([self.base])
        c.connect_all()
        while not self.halt.is_set():
            k = next(self.counter)
            token = auth.mint(f"{self.prefix}{k}", self.tenant, ["citizen"], secret=SECRET, ttl_s=3600)
            body = {"value": 1 if k % 5 else -1,
                    "personal": {"consent": True, "birth_year": 1940 + k % 70,
                                 "gender": ("female", "male", "non_binary")[k % 3], "district": f"d{k % 7}"}}
            sent = time.time()
            asked = time.perf_counter()
            code = _put(c, f"/ideas/{self.ideas[k % len(self.ideas)]}/reaction", body, token)
            self.samples.append((sent, (time.perf_counter() - asked) * 1000, code))
            self.halt.wait(self.think_s * (0.5 + self.rng.random()))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(70)

    def figures(self, start: float, end: float) -> dict:
        window = in_window(self.samples, start, end)
        ok = [ms for _, ms, code in window if accepted(code)]
        return {"latency_ms": latency_summary(ok), "votes_per_s": round(len(ok) / (end - start), 1),
                "by_status": by_status(code for _, _, code in window)}


# ------------------------------------------------------------------------------------------------ --abuse
def abuse_round(base: str, ideas: list[str], limits: str, round_no: int, args, quiet_s: float,
                burst_s: float, pids: dict | None = None) -> dict:
    """One round of --abuse on one service: the population votes alone for ``quiet_s`` (the reference), then one
    citizen (a token of its own per round, so each round starts with a fresh allowance) bursts for ``burst_s``.
    Returns the raw samples: the population's, the burst's codes, the windows, and the CPU seconds each of ``pids``
    (role → pid: the service, the store) used in each window."""
    from agora import auth
    token = auth.mint(f"abuser-{limits}-{round_no}", "bench", ["citizen"], secret=SECRET, ttl_s=3600)
    quiet_from = time.time() + 1.0          # the population's first second is warm-up
    start_at = quiet_from + quiet_s
    end_at = start_at + burst_s
    proc, queue = _subprocess(_burst_worker, base, token, len(ideas), start_at, end_at, args.burst_connections)
    pop = Population(base, "bench", ideas, args.citizens, args.think, prefix=f"c{round_no}-").start()
    pids = pids or {}
    cpu = []
    for until in (quiet_from, start_at, end_at):
        time.sleep(max(0.0, until - time.time()))
        cpu.append({role: cpu_seconds(pid) for role, pid in pids.items()})
    pop.stop()
    burst = _collect(proc, queue, 120)
    started = burst["started"] or start_at
    return {"samples": pop.samples, "quiet": (quiet_from, start_at), "burst_window": (started, end_at),
            "codes": burst["codes"], "burst_latency_ms": burst["latency_ms"],
            "started_late_s": round(max(0.0, started - start_at), 2),
            "window_crossed": int(started // 60) != int(end_at // 60),
            "cpu_s": {role: {"quiet": round(cpu[1][role] - cpu[0][role], 2),
                             "burst": round(cpu[2][role] - cpu[1][role], 2)} for role in pids}}


def abuse_figures(rounds: list[dict], limits: str, limit_per_minute: int | None) -> dict:
    """The figures of one configuration's rounds pooled: the burst's counts, the others' latency alone and during
    the bursts (accepted votes only), per round and in all."""
    def others(window_of):
        samples = [s for r in rounds for s in in_window(r["samples"], *r[window_of])]
        seconds = sum(r[window_of][1] - r[window_of][0] for r in rounds)
        ok = [ms for _, ms, code in samples if accepted(code)]
        return {"latency_ms": latency_summary(ok), "votes_per_s": round(len(ok) / seconds, 1) if seconds else None,
                "by_status": by_status(code for _, _, code in samples)}
    codes = [c for r in rounds for c in r["codes"]]
    burst_seconds = sum(r["burst_window"][1] - r["burst_window"][0] for r in rounds)
    quiet, during = others("quiet"), others("burst_window")
    return {
        "limits": limits, "limit_per_person_per_minute": limit_per_minute, "rounds": len(rounds),
        "burst": {"sent": len(codes), "accepted": sum(1 for c in codes if accepted(c)),
                  "rejected_429": sum(1 for c in codes if c == 429), "by_status": by_status(codes),
                  "sent_per_s": round(len(codes) / burst_seconds, 1) if burst_seconds else None,
                  "per_round": [{"accepted": sum(1 for c in r["codes"] if accepted(c)),
                                 "rejected_429": sum(1 for c in r["codes"] if c == 429),
                                 "latency_ms": r["burst_latency_ms"], "started_late_s": r["started_late_s"],
                                 "crossed_a_minute_window": r.get("window_crossed")}
                                for r in rounds]},
        "cpu_cores": cpu_cores(rounds),
        "others_quiet": quiet, "others_during_burst": during,
        "others_p99_during_vs_quiet": ratio(during["latency_ms"]["p99"], quiet["latency_ms"]["p99"]),
        "others_p99_per_round": [{"quiet": latency_summary([ms for _, ms, c in in_window(r["samples"], *r["quiet"])
                                                            if accepted(c)])["p99"],
                                  "burst": latency_summary([ms for _, ms, c in
                                                            in_window(r["samples"], *r["burst_window"])
                                                            if accepted(c)])["p99"]} for r in rounds],
    }


def settle(db, timeout: float = 30.0) -> float:
    """Waits until the relay and the tally projection have caught up with the log (so one round's aftermath does not
    land in the next round); returns the seconds it took."""
    from agora.projections import status
    started = time.time()
    while time.time() - started < timeout:
        st = status(db)
        lags = [r["lag"] for r in st["relays"]] + [s["lag"] for s in st["subscriptions"]
                                                   if s["subscription"] == "votes:tallies"]
        if lags and max(lags) == 0:
            break
        time.sleep(0.1)
    return round(time.time() - started, 2)


def cpu_cores(rounds: list[dict]) -> dict:
    """Cores each role (service, store) used alone and during the bursts, pooled over the rounds."""
    out = {}
    roles = sorted({role for r in rounds for role in r.get("cpu_s", {})})
    for role in roles:
        for window, key in (("quiet", "quiet"), ("burst_window", "burst")):
            seconds = sum(r[window][1] - r[window][0] for r in rounds)
            used = sum(r["cpu_s"][role][key] for r in rounds)
            out.setdefault(role, {})[key] = round(used / seconds, 2) if seconds > 0 else None
    return out


def run_abuse(args, seconds: float) -> dict:
    """Two votes services side by side on fresh databases of one store, abuse limits on and off; rounds alternate
    between them (on, off, on, off …) so that both see the same share of the machine's other load."""
    from agora.tenants import DEFAULTS
    from agora.testing.plugin import SecantusServer
    quiet_s = max(2.0, seconds * 0.4)
    burst_s = seconds
    server = SecantusServer()
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    try:
        log(f"SecantusDB {server.uri}")
        with contextlib.ExitStack() as stack:
            platforms = {limits: stack.enter_context(votes_platform(
                server, args.ideas, f"bench_abuse_{limits}", projects=args.projects, AGORA_RATE_LIMITS=limits))
                         for limits in ("on", "off")}
            for round_no in range(args.rounds):
                for limits in ("on", "off"):
                    svc, base, ideas, _db = platforms[limits]
                    waited = {k: settle(platforms[k][3]) for k in ("on", "off")}
                    log(f"settled in {waited} s")
                    log(f"round {round_no + 1}/{args.rounds}, limits {limits}: {args.citizens} citizens thinking "
                        f"{args.think:.2f}s, {quiet_s:.0f}s alone, then one citizen bursts on "
                        f"{args.burst_connections} connections for {burst_s:.0f}s")
                    runs[limits].append(abuse_round(base, ideas, limits, round_no, args, quiet_s, burst_s,
                                                    {"service": svc.proc.pid, "store": server.proc.pid}))
            # the shared counters the limiter wrote: one document per (person, minute) it synced at least once
            from agora.ratelimit import COLLECTION
            limiter_docs = platforms["on"][3][COLLECTION].count_documents({})
    finally:
        server.stop()
    on = abuse_figures(runs["on"], "on", DEFAULTS["writes_per_minute_person"])
    off = abuse_figures(runs["off"], "off", None)
    log(f"limits on: {json.dumps(on)}")
    log(f"limits off: {json.dumps(off)}")
    p99_on = on["others_during_burst"]["latency_ms"]["p99"]
    p99_off = off["others_during_burst"]["latency_ms"]["p99"]
    return {
        "bench": "votes-abuse", "quick": args.quick, "rounds": args.rounds, "quiet_s": quiet_s, "burst_s": burst_s,
        "citizens": args.citizens, "think_s": args.think, "burst_connections": args.burst_connections,
        "projects": args.projects, "burst_accepted": on["burst"]["accepted"], "burst_429": on["burst"]["rejected_429"],
        "burst_sent": on["burst"]["sent"], "burst_sent_per_s": on["burst"]["sent_per_s"],
        "others_p50_ms": on["others_during_burst"]["latency_ms"]["p50"], "others_p99_ms": p99_on,
        "goal_others_p99_ms": 250,
        "others_p99_ms_quiet": on["others_quiet"]["latency_ms"]["p99"],
        "baseline_limits_off": {"burst_accepted": off["burst"]["accepted"], "burst_429": off["burst"]["rejected_429"],
                                "burst_sent": off["burst"]["sent"], "burst_sent_per_s": off["burst"]["sent_per_s"],
                                "others_p50_ms": off["others_during_burst"]["latency_ms"]["p50"],
                                "others_p99_ms": p99_off,
                                "others_p99_ms_quiet": off["others_quiet"]["latency_ms"]["p99"]},
        "others_p99_on_vs_off": ratio(p99_on, p99_off),
        "others_p50_on_vs_off": ratio(on["others_during_burst"]["latency_ms"]["p50"],
                                      off["others_during_burst"]["latency_ms"]["p50"]),
        "burst_accepted_on_vs_off": ratio(on["burst"]["accepted"], off["burst"]["accepted"], 3),
        "service_cpu_cores": {"on": on["cpu_cores"].get("service"), "off": off["cpu_cores"].get("service")},
        "limiter_counter_documents": limiter_docs,
        "other_citizens_limits_on": sum(len(r["samples"]) for r in runs["on"]),
        "limits": {"on": on, "off": off},
        "note": "limits on and off are two services side by side on fresh databases of one store, rounds alternating "
                "on/off; the machine is shared with other work: compare within one run (ratios)",
    }


# ------------------------------------------------------------------------------------------------ --overload
class RssSampler(threading.Thread):
    """Samples the resident set size of a process (psutil) every ``every_s``."""

    def __init__(self, pid: int, every_s: float = 0.05):
        import psutil
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                self.samples.append((time.time(), self.proc.memory_info().rss))
            except Exception:  # noqa: BLE001 - the process is gone
                return
            self.halt.wait(self.every_s)

    def peak_mb(self, start: float = 0.0, end: float = float("inf")):
        values = [rss for t, rss in self.samples if start <= t < end]
        return round(max(values) / 2 ** 20, 1) if values else None


def closed_loop(base: str, tenant: str, ideas: list[str], clients: int, seconds: float, prefix: str) -> dict:
    """``clients`` threads vote back to back (each vote by a new citizen) for ``seconds``: accepted/s and statuses."""
    from agora import auth
    import itertools
    counter = itertools.count()
    codes: list[int] = []
    stop = time.perf_counter() + seconds

    def loop(_):
        c = Client([base])
        c.connect_all()
        mine = []
        while time.perf_counter() < stop:
            k = next(counter)
            token = auth.mint(f"{prefix}{k}", tenant, ["citizen"], secret=SECRET, ttl_s=3600)
            mine.append(_put(c, f"/ideas/{ideas[k % len(ideas)]}/reaction", {"value": 1}, token))
        codes.extend(mine)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(loop, range(clients)))
    elapsed = time.perf_counter() - t0
    return {"accepted_per_s": round(sum(1 for c in codes if accepted(c)) / elapsed, 1), "by_status": by_status(codes),
            "seconds": round(elapsed, 2)}


def open_loop(base: str, tenant: str, ideas: list[str], rate: float, seconds: float, threads: int) -> dict:
    """Votes sent on a fixed schedule (``rate``/s for ``seconds``) whatever the answers: each by a new citizen, on
    ``threads`` pre-connected keep-alive connections. Records (due, lateness ms, latency ms, status) per vote."""
    from agora import auth
    n = max(1, int(rate * seconds))
    interval = 1.0 / rate
    local = threading.local()
    pool_clients = []
    for _ in range(threads):
        c = Client([base])
        c.connect_all()
        pool_clients.append(c)
    tokens = [auth.mint(f"o{k}", tenant, ["citizen"], secret=SECRET, ttl_s=3600) for k in range(n)]
    records: list[tuple[float, float, float, int]] = []

    def timed(k):
        if not hasattr(local, "c"):
            local.c = pool_clients.pop()
        due = t_start + k * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        asked = time.perf_counter()
        code = _put(local.c, f"/ideas/{ideas[k % len(ideas)]}/reaction", {"value": 1}, tokens[k])
        records.append((due, (asked - due) * 1000, (time.perf_counter() - asked) * 1000, code))
    t_start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(timed, range(n)))
    elapsed = time.perf_counter() - t_start
    return {"n": n, "elapsed": elapsed, "records": records}


def run_overload(args, seconds: float) -> dict:
    from agora.testing.plugin import SecantusServer
    server = SecantusServer()
    env = {"AGORA_MAX_QUEUE": str(args.max_queue)} if args.max_queue is not None else {}
    try:
        log(f"SecantusDB {server.uri}")
        with votes_platform(server, args.ideas, "bench_overload", **env) as (svc, base, ideas, _db):
            rss = RssSampler(svc.proc.pid)
            rss.start()
            time.sleep(0.3)
            idle_mb = rss.peak_mb()
            log(f"maximum: closed loop, {args.concurrency} clients for {seconds:.0f}s")
            t_max0 = time.time()
            maximum = closed_loop(base, "bench", ideas, args.concurrency, seconds, "m")
            t_max1 = time.time()
            rate = 2 * maximum["accepted_per_s"]
            over_s = seconds * 1.5
            log(f"maximum {maximum['accepted_per_s']:.0f} accepted/s ({maximum['by_status']}); "
                f"overload: open loop at {rate:.0f}/s for {over_s:.0f}s on {args.overload_threads} connections")
            t_over0 = time.time()
            ready_proc, ready_q = _subprocess(_ready_worker, svc.url, t_over0 + 1.0, t_over0 + 1.0 + over_s, 0.1)
            time.sleep(1.0)          # the poller's process starts meanwhile
            t_over0 = time.time()
            over = open_loop(base, "bench", ideas, rate, over_s, args.overload_threads)
            t_over1 = time.time()
            ready = _collect(ready_proc, ready_q, 60)
            # after the storm: a few votes alone
            after = []
            from agora import auth
            c = Client([base])
            for k in range(5):
                token = auth.mint(f"after{k}", "bench", ["citizen"], secret=SECRET, ttl_s=3600)
                asked = time.perf_counter()
                code = _put(c, f"/ideas/{ideas[k]}/reaction", {"value": 1}, token)
                after.append(((time.perf_counter() - asked) * 1000, code))
            time.sleep(0.2)
            rss.halt.set()
            rss.join()
            final_mb = rss.samples[-1][1] / 2 ** 20 if rss.samples else None
    finally:
        server.stop()
    records = over["records"]
    codes = [r[3] for r in records]
    acc = [r[2] for r in records if accepted(r[3])]
    rej = [r[2] for r in records if not accepted(r[3])]
    ready_codes = [code for _, code, _ in ready]
    ready_ms = [ms for _, _, ms in ready]
    result = {
        "bench": "votes-overload", "quick": args.quick, "concurrency": args.concurrency,
        "max_accepted_per_s": maximum["accepted_per_s"], "max_phase_by_status": maximum["by_status"],
        "offered_per_s": round(rate, 1), "offered_achieved_per_s": round(over["n"] / over["elapsed"], 1),
        "overload_s": round(over["elapsed"], 2), "overload_connections": args.overload_threads,
        **rates(codes, over["elapsed"]),
        "by_status": by_status(codes),
        "p50_ms_accepted": latency_summary(acc)["p50"], "p99_ms_accepted": latency_summary(acc)["p99"],
        "p50_ms_rejected": latency_summary(rej)["p50"], "p99_ms_rejected": latency_summary(rej)["p99"],
        "send_lateness_ms": latency_summary([r[1] for r in records]),
        "ready_polls": len(ready), "ready_non_200": sum(1 for c in ready_codes if c != 200),
        "ready_by_status": by_status(ready_codes), "ready_worst_ms": round(max(ready_ms), 1) if ready_ms else None,
        "ready_p99_ms": latency_summary(ready_ms)["p99"],
        "rss_mb_idle": round(idle_mb, 1) if idle_mb else None,
        "rss_mb_peak_max_phase": rss.peak_mb(t_max0, t_max1),
        "rss_mb_peak_overload": rss.peak_mb(t_over0, t_over1 + 0.5),
        "rss_mb_after": round(final_mb, 1) if final_mb else None,
        "after_overload_votes": [{"ms": round(ms, 1), "status": code} for ms, code in after],
        "max_queue": args.max_queue,
        "note": "maximum measured first in the same run (closed loop, HTTP accepted/s), then an open loop at twice it; "
                "the machine is shared: compare within one run",
    }
    result["accepted_vs_max"] = ratio(result["accepted_per_s"], maximum["accepted_per_s"])
    result["rss_peak_vs_idle"] = ratio(result["rss_mb_peak_overload"], result["rss_mb_idle"])
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="short run (< 1 minute)")
    ap.add_argument("--seconds", type=float, default=None, help="duration of each load phase")
    ap.add_argument("--concurrency", type=int, default=64,
                    help="parallel HTTP clients of the closed loop (default 64: citizens vote concurrently, and a "
                         "throughput figure needs enough of them to keep every stage busy; 16 left ~25%% of the "
                         "two cores idle)")
    ap.add_argument("--ideas", type=int, default=50, help="ideas to vote on")
    ap.add_argument("--replicas", type=int, default=1,
                    help="votes service processes behind the load (requests spread round robin; see Replicas)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--abuse", action="store_true",
                      help="abuse limits: one citizen bursts writes while the others vote; limits on, then off as the "
                           "baseline (see Abuse); writes bench/results/votes-abuse.json")
    mode.add_argument("--overload", action="store_true",
                      help="load shedding: the maximum closed-loop rate, then an open loop at twice it (see "
                           "Overload); writes bench/results/votes-overload.json")
    ap.add_argument("--citizens", type=int, default=16, help="--abuse: the other citizens (closed loop, default 16)")
    ap.add_argument("--think", type=float, default=0.25,
                    help="--abuse: each other citizen's think time between votes in seconds (±50%%, default 0.25)")
    ap.add_argument("--projects", type=int, default=8,
                    help="--abuse: projects the ideas are dealt over (default 8: the abuser's writes in different "
                         "projects are different streams, so its parallel writes do not conflict and it goes as fast "
                         "as the service lets it)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="--abuse: rounds, each limits on then off (default 2 with --quick, else 3)")
    ap.add_argument("--burst-connections", type=int, default=4,
                    help="--abuse: the abuser's parallel connections (default 4)")
    ap.add_argument("--overload-threads", type=int, default=256,
                    help="--overload: connections of the open-loop generator (default 256)")
    ap.add_argument("--max-queue", type=int, default=None,
                    help="--overload: AGORA_MAX_QUEUE for the service (default: the service's own)")
    args = ap.parse_args(argv)
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    if seconds <= 0 or args.concurrency < 1 or args.ideas < 1 or args.replicas < 1 or args.citizens < 1 \
            or args.think < 0 or args.burst_connections < 1 or args.overload_threads < 1 \
            or (args.rounds is not None and args.rounds < 1) or args.projects < 1 \
            or (args.max_queue is not None and args.max_queue < 0):
        print("error: --seconds, --concurrency, --ideas, --replicas, --citizens, --rounds, --projects, "
              "--burst-connections and --overload-threads must be positive (--think, --max-queue ≥ 0)", file=sys.stderr)
        return 2
    if args.abuse or args.overload:
        sys.setswitchinterval(0.0005)
        args.rounds = args.rounds or (2 if args.quick else 3)
        if args.abuse:
            result, path = run_abuse(args, args.seconds or (5.0 if args.quick else 15.0)), ABUSE_RESULTS
        else:
            result, path = run_overload(args, args.seconds or (5.0 if args.quick else 15.0)), OVERLOAD_RESULTS
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
        return 0
    # the open-loop generator (up to 256 client threads) and the checkpoint poller share this process: with
    # CPython's 5 ms GIL switch interval a thread due to send, or the poller due to look, could wait behind the
    # others' JSON work — late sends arrive as bursts and late looks inflate the latency. 0.5 ms keeps both on time.
    sys.setswitchinterval(0.0005)

    import pymongo
    import requests
    from agora import auth
    from agora.store import EventStore
    from agora.testing.plugin import SecantusServer, Vhost
    from agora.testing.services import run_service, start_relay

    server = SecantusServer()
    vhost = Vhost()
    relay = None
    try:
        log(f"SecantusDB {server.uri}, vhost {vhost.name}")
        store_rates = {c: raw_store(server.uri, min(seconds, 5.0) / 2, c) for c in sorted({16, args.concurrency})}
        store_rate = max(store_rates.values())
        log("raw store inserts (j=true): " + ", ".join(f"{r:.0f}/s with {c} threads" for c, r in store_rates.items()))
        broker_rate = raw_broker(vhost.uri, 5000 if args.quick else 20000)
        log(f"raw broker publish(confirm)+consume: {broker_rate:.0f}/s")

        db_name = "bench_votes"
        db = pymongo.MongoClient(server.uri, tz_aware=True).get_database(db_name)
        store = EventStore(db).ensure_indexes()
        tenant = "bench"
        ideas = seed(store, tenant, args.ideas)
        # the bench runs the service in development mode (agora.testing.services) with its own secret (>= 32 chars);
        # auth.mint adds iss/aud
        extra = {"AGORA_JWT_SECRET": SECRET, "AGORA_SERVICE_NAME": "votes", "AGORA_LOG_LEVEL": "WARNING"}
        relay = start_relay(server.uri, db_name, vhost.uri, **extra)
        relay.wait_ready(30)
        # AGORA_VOTES_CMDSTATS: the same service with bench/profiling/cmdstats.py's command counter installed
        module, cwd = (("cmdstats", str(ROOT / "bench" / "profiling")) if os.environ.get("AGORA_VOTES_CMDSTATS")
                       else ("votes.service", None))
        with contextlib.ExitStack() as stack:
            svcs = [stack.enter_context(run_service(module, server.uri, db_name, vhost.uri, config=str(CONFIG),
                                                    cwd=cwd, **extra)) for _ in range(args.replicas)]
            bases = [f"{svc.url}/api/v1/tenants/{tenant}" for svc in svcs]
            base = bases[0]
            wait_ideas(base, ideas[-1])
            cps = Checkpoints(db)
            cps.start()
            counter = [0]
            lock = threading.Lock()
            n_tokens = 60000 if not args.quick else 20000
            tokens = [auth.mint(f"v{k}", tenant, ["citizen"], secret=SECRET, ttl_s=3600) for k in range(n_tokens)]

            sent: dict[str, tuple[float, float]] = {}    # voter → (request sent, response read), wall clock

            def vote(client, value=1, personal=None):
                with lock:
                    counter[0] += 1
                    k = counter[0]
                token = tokens[k % len(tokens)] if k >= len(tokens) else tokens[k]
                voter = f"v{k % len(tokens)}"
                body = {"value": value if k % 5 else -1,
                        "personal": {"consent": True, "birth_year": 1940 + k % 70,
                                     "gender": ("female", "male", "non_binary")[k % 3], "district": f"d{k % 7}"}}
                asked = time.time()
                code = client.put_json(k, f"/ideas/{ideas[k % len(ideas)]}/reaction", body, token, voter)
                sent[voter] = (asked, time.time())
                return code

            # ---- closed loop: sustained rate
            log(f"sustained load: {args.concurrency} clients for {seconds:.0f}s")
            stop = time.perf_counter() + seconds
            accepted = [0] * args.concurrency
            errors = [0] * args.concurrency

            def client(i):
                s = Client(bases)
                while time.perf_counter() < stop:
                    code = vote(s)
                    if code == 201:
                        accepted[i] += 1
                    else:
                        errors[i] += 1
            roles = {"store": [server.proc.pid], "service": [svc.proc.pid for svc in svcs],
                     "relay": [relay.proc.pid], "broker": broker_pids(), "client": [os.getpid()]}
            cpu0 = {r: sum(cpu_seconds(x) for x in pids) for r, pids in roles.items()}
            ops0 = store_ops(db)
            head0 = store.head()
            cps.paused.set()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(client, range(args.concurrency)))
            t_http = time.perf_counter() - t0
            head1 = store.head()
            while cps.read() < head1:
                time.sleep(0.01)
            t_tally = time.perf_counter() - t0
            cps.paused.clear()
            n = sum(accepted)
            cpu_ms = {r: round((sum(cpu_seconds(x) for x in pids) - cpu0[r]) * 1000 / max(1, n), 2)
                      for r, pids in roles.items()}
            cpu_ms["total"] = round(sum(cpu_ms.values()), 2)
            ops1 = store_ops(db)
            store_ops_per_vote = {k: round((ops1[k] - ops0.get(k, 0)) / max(1, n), 2) for k in ops1}
            log(f"CPU ms per vote: {cpu_ms}; store requests per vote: {store_ops_per_vote}")
            votes_rate = n / t_tally
            log(f"accepted {n} votes ({sum(errors)} errors) in {t_http:.1f}s; tallied after {t_tally:.1f}s → "
                f"{votes_rate:.0f} votes/s (HTTP only: {n / t_http:.0f}/s); head {head0}→{head1}")

            # ---- open loop at half the sustained rate: latency accepted → tally
            half = max(1.0, votes_rate / 2)
            n_half = max(20, int(half * seconds))
            log(f"latency at half load: {half:.0f} votes/s for {n_half} votes")
            start_head = store.head()
            interval = 1.0 / half
            codes = []
            sessions = threading.local()
            # an open-loop generator must never fall behind its schedule (a late thread would fire a burst):
            # enough threads for ~0.6 s of latency each, their connections opened before the clock starts
            n_threads = max(8, min(256, int(half * 0.6) + 16))
            ready = []
            for _ in range(n_threads):
                c = Client(bases)
                c.connect_all()
                ready.append(c)

            def timed(k):
                if not hasattr(sessions, "s"):
                    sessions.s = ready.pop()
                due = t_start + k * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                codes.append(vote(sessions.s))
            sent.clear()
            t_wall = time.time()
            t_start = time.perf_counter()
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(timed, range(n_half)))
            end_head = store.head()
            while cps.position() < end_head:
                time.sleep(0.005)
            time.sleep(0.05)
            cps.stop.set()
            cps.join()
            lat, trace = [], []
            half_events = store.read_all(tenant, after=start_head, limit=10 ** 6, types=["ReactionCast"],
                                         until=end_head)
            for e in half_events:
                seen = cps.visible_at(e.position)
                if seen is not None:
                    lat.append(max(0.0, seen - parse(e.time)) * 1000)
                    trace.append((parse(e.time), lat[-1]))
            achieved = n_half / (time.perf_counter() - t_start)
            if os.environ.get("AGORA_BENCH_TRACE"):     # diagnostics: (vote time, latency ms) of every half-load vote
                Path(os.environ["AGORA_BENCH_TRACE"]).write_text(json.dumps(trace))
            # diagnostic: when the tally handler applied each vote (before its transaction committed)
            times = {e.position: parse(e.time) for e in half_events}
            projected = {r["position"]: r["projected_at"]
                         for r in db["votes_tally"].find({"kind": "reaction", "position": {"$gt": start_head}},
                                                         {"position": 1, "projected_at": 1})
                         if r.get("position") in times}
            handler_lat = [max(0.0, at - times[position]) * 1000 for position, at in projected.items()]
            stages = half_load_stages(half_events, sent, projected, cps)
            stages["store_roundtrip_ms"] = spread([ms for at, ms in cps.roundtrips if at >= t_wall])

            # ---- lost: stored votes vs tallied votes
            stored = sum(1 for _ in store.iter_all(tenant, types=["ReactionCast"], batch=5000))
            tallied = 0
            for iid in ideas:
                t = requests.get(f"{base}/ideas/{iid}/tally").json()
                tallied += t["up"] + t["down"]
    finally:
        if relay is not None:
            relay.terminate()
        vhost.delete()
        server.stop()

    ceiling = min(store_rate, broker_rate)
    result = {
        "bench": "votes", "quick": args.quick, "seconds": seconds, "concurrency": args.concurrency,
        "replicas": args.replicas,
        "raw_store_inserts_per_s": round(store_rate, 1),
        "raw_store_inserts_per_s_by_threads": {str(c): round(r, 1) for c, r in store_rates.items()},
        "raw_broker_msgs_per_s": round(broker_rate, 1),
        "votes_per_s": round(votes_rate, 1), "votes_http_accepted_per_s": round(n / t_http, 1),
        "votes_vs_ceiling": round(votes_rate / ceiling, 3), "goal_votes_vs_ceiling": 0.5,
        "half_load_votes_per_s": round(half, 1), "half_load_achieved_per_s": round(achieved, 1),
        "p50_ms_at_half_load": round(pct(lat, 0.50), 1) if lat else None,
        "p99_ms_at_half_load": round(pct(lat, 0.99), 1) if lat else None, "goal_p99_ms": 250,
        "latency_samples": len(lat),
        "p50_ms_to_handler_at_half_load": round(pct(handler_lat, 0.5), 1) if handler_lat else None,
        "p99_ms_to_handler_at_half_load": round(pct(handler_lat, 0.99), 1) if handler_lat else None,
        "half_load_non_201": sum(1 for c in codes if c != 201),
        "stored_votes": stored, "tallied_votes": tallied, "lost": stored - tallied,
        "errors_sustained": sum(errors),
        "cpu_ms_per_vote": cpu_ms, "store_ops_per_vote": store_ops_per_vote,
        "stages_at_half_load": stages,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - one-line reason, exit 2
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
