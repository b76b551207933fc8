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
    args = ap.parse_args(argv)
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    if seconds <= 0 or args.concurrency < 1 or args.ideas < 1 or args.replicas < 1:
        print("error: --seconds, --concurrency, --ideas and --replicas must be positive", file=sys.stderr)
        return 2
    # the open-loop generator (up to 256 client threads) and the checkpoint poller share this process: with
    # CPython's 5 ms GIL switch interval a thread due to send, or the poller due to look, could wait behind the
    # others' JSON work — late sends arrive as bursts and late looks inflate the latency. 0.5 ms keeps both on time.
    sys.setswitchinterval(0.0005)

    import pymongo
    import requests
    from agora import auth
    from agora.events.envelope import NewEvent
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
        now = datetime.now(timezone.utc)
        pid, phid = "p-bench", "ph-bench"
        store.append(tenant, f"project-{pid}", [
            NewEvent("ProjectCreated", {"project_id": pid, "title": "Bench", "language": "en", "created_by": "adm",
                                        "workflow": {"published": []}}),
            NewEvent("PhaseAdded", {"project_id": pid, "phase_id": phid, "kind": "voting", "title": "vote",
                                    "start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=1)),
                                    "added_by": "adm"})], 0)
        ideas = [f"i-{k}" for k in range(args.ideas)]
        for iid in ideas:
            store.append(tenant, f"idea-{iid}", [NewEvent("IdeaSubmitted", {
                "idea_id": iid, "project_id": pid, "phase_id": phid, "title": "t", "body": "b", "language": "en",
                "author": "a", "status": "published"})], 0)
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
            deadline = time.time() + 60
            while requests.get(f"{base}/ideas/{ideas[-1]}/tally").status_code != 200:
                if time.time() > deadline:
                    raise RuntimeError("votes service never learned the bench ideas")
                time.sleep(0.1)
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
