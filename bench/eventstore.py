"""Event-store and relay benchmark against raw baselines measured in the same run.

* appends/s with one writer and with 16 concurrent writers vs raw ``insert_one`` with the same write concern
  (w=1, j=true) into the same SecantusDB server (``store_vs_raw_insert``, goal ≥ 0.8; group commit should let
  16 writers beat raw: ``store16_vs_raw_insert16``);
* relay events/s from store to confirmed publish vs raw pika publishing with a confirm per message
  (``relay_vs_raw_publish``, goal ≥ 1.0).

Prints one JSON object on its last line and writes ``bench/results/eventstore.json``.
Usage: ``python bench/eventstore.py [--quick]``.
"""
from __future__ import annotations

import argparse
import statistics
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pika
import pymongo
from marshmallow import Schema, fields
from pymongo import WriteConcern

from agora.events import register
from agora.events.envelope import NewEvent
from agora.relay import Relay
from agora.store import EventStore
from agora.testing.plugin import SecantusServer, Vhost

RESULTS = Path(__file__).resolve().parent / "results"


@register("BenchHappened", 1, "bench")
class BenchHappened(Schema):
    n = fields.Integer(required=True)
    text = fields.String(required=True)


def payload(i: int) -> dict:
    return {"n": i, "text": "a citizen proposes more trees along the canal"}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def threaded(n_threads: int, per_thread: int, fn) -> float:
    barrier = threading.Barrier(n_threads + 1)
    errors = []

    def run(k):
        barrier.wait()
        try:
            for i in range(per_thread):
                fn(k, i)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    [t.start() for t in threads]
    barrier.wait()
    started = time.perf_counter()
    [t.join() for t in threads]
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def bench_store(uri: str, n: int, n16: int) -> dict:
    client = pymongo.MongoClient(uri)
    db = client.get_database("bench_" + uuid.uuid4().hex[:8], write_concern=WriteConcern(w=1, j=True))
    # the baseline stores the same documents with the same unique indexes (stream version, event id), so the ratio
    # measures the store's own overhead; raw inserts without secondary indexes are reported beside it
    raw = db.get_collection("raw")
    raw.create_index([("tenant", 1), ("stream", 1), ("version", 1)], unique=True)
    raw.create_index([("eid", 1)], unique=True)
    bare = db.get_collection("bare")
    bare.insert_one({"warm": True})
    store = EventStore(db).ensure_indexes()
    store.append("bench", "warm", [NewEvent("BenchHappened", payload(0))], 0)

    # raw and store rounds alternate so that both see the same machine load; medians of the rounds compare
    rounds = 8
    per_round = max(1, n // rounds)
    raw1s, store1s, raw16s, store16s, bare1s = [], [], [], [], []
    per16 = max(1, n16 // 16 // rounds)
    for r in range(rounds):
        started = time.perf_counter()
        for i in range(per_round):
            raw.insert_one({"tenant": "bench", "stream": f"r{r}-{i}", "version": 1, "eid": str(uuid.uuid4()),
                            "data": payload(i)})
        raw1s.append(rate(per_round, time.perf_counter() - started))
        started = time.perf_counter()
        for i in range(per_round):
            bare.insert_one({"tenant": "bench", "stream": f"r{r}-{i}", "version": 1, "data": payload(i)})
        bare1s.append(rate(per_round, time.perf_counter() - started))
        started = time.perf_counter()
        for i in range(per_round):
            store.append("bench", f"s{r}-{i}", [NewEvent("BenchHappened", payload(i))], 0)
        store1s.append(rate(per_round, time.perf_counter() - started))
        raw16s.append(rate(per16 * 16, threaded(16, per16, lambda k, i, r=r: raw.insert_one(
            {"tenant": "bench", "stream": f"r16-{r}-{k}-{i}", "version": 1, "eid": str(uuid.uuid4()),
             "data": payload(i)}))))
        store16s.append(rate(per16 * 16, threaded(16, per16, lambda k, i, r=r: store.append(
            "bench", f"w{r}-{k}", [NewEvent("BenchHappened", payload(i))], i))))
    raw1, store1, raw16, store16, bare1 = (statistics.median(x) for x in (raw1s, store1s, raw16s, store16s, bare1s))
    client.drop_database(db.name)
    return {"raw_insert_per_s": round(raw1, 1), "append_per_s": round(store1, 1),
            "raw_insert16_per_s": round(raw16, 1), "append16_per_s": round(store16, 1),
            "store_vs_raw_insert": round(store1 / raw1, 3), "store16_vs_raw_insert16": round(store16 / raw16, 3),
            "store16_vs_raw_insert": round(store16 / raw1, 3), "raw_insert_noindex_per_s": round(bare1, 1),
            "store_vs_raw_insert_noindex": round(store1 / bare1, 3)}


def bench_relay(uri: str, amqp: str, n: int) -> dict:
    client = pymongo.MongoClient(uri)
    db = client.get_database("relay_" + uuid.uuid4().hex[:8])
    store = EventStore(db).ensure_indexes()
    done = 0
    while done < n:
        chunk = min(500, n - done)
        threaded(8, chunk // 8 or 1, lambda k, i, base=done: store.append(
            "bench", f"e{base}-{k}-{i}", [NewEvent("BenchHappened", payload(i))], 0))
        done = store.head()
    n = store.head()
    params = pika.URLParameters(amqp)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.exchange_declare("bench.events", exchange_type="topic", durable=True)
    ch.queue_declare("bench-sink", durable=True)
    ch.queue_bind("bench-sink", "bench.events", "#")
    ch.confirm_delivery()
    body = store.read_all("bench", limit=1)[0].to_json()
    started = time.perf_counter()
    for _ in range(n):
        ch.basic_publish("bench.events", "BenchHappened", body,
                         pika.BasicProperties(delivery_mode=2, content_type="application/json"), mandatory=True)
    raw_publish = rate(n, time.perf_counter() - started)
    ch.queue_purge("bench-sink")

    relay = Relay(store, amqp, window=2000, batch=1000, checkpoint_every_s=0.05)
    started = time.perf_counter()
    thread = threading.Thread(target=relay.run_forever, daemon=True)
    thread.start()
    while relay.checkpoint() < n:
        time.sleep(0.01)
    relay_rate = rate(n, time.perf_counter() - started)
    relay.stop()
    thread.join(10)
    depth = ch.queue_declare("bench-sink", durable=True, passive=True).method.message_count
    conn.close()
    client.drop_database(db.name)
    return {"relay_events": n, "raw_publish_confirm_per_s": round(raw_publish, 1),
            "relay_per_s": round(relay_rate, 1), "relay_vs_raw_publish": round(relay_rate / raw_publish, 3),
            "relay_delivered": depth}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (well under a minute)")
    args = parser.parse_args(argv)
    n, n16, nrelay = (600, 3200, 3000) if args.quick else (3000, 16000, 20000)
    with tempfile.TemporaryDirectory() as tmp:
        server = SecantusServer(storage=str(Path(tmp) / "db"), sync_on_commit=True)
        vhost = Vhost()
        try:
            print(f"store: {n} single-writer appends, {n16} with 16 writers …", file=sys.stderr)
            result = {"bench": "eventstore", "quick": args.quick, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())}
            result.update(bench_store(server.uri, n, n16))
            print(f"relay: {nrelay} events …", file=sys.stderr)
            result.update(bench_relay(server.uri, vhost.uri, nrelay))
        finally:
            vhost.delete()
            server.stop()
    result["goals"] = {"store_vs_raw_insert": ">= 0.8", "store16_vs_raw_insert16": "> 1.0",
                       "relay_vs_raw_publish": ">= 1.0"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eventstore.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
