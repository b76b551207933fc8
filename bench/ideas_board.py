"""Ideas board catch-up benchmark: the board subscription applying in batches against one transaction per event.

* The store (embedded SecantusDB) is preloaded with a mixed log over 2 tenants: projects, ideas, comments, flags,
  status changes and reactions (about 70% reactions, like a live platform).
* ``batched_per_s``: events per second of the board catching up from position 0 as the service runs it
  (``@subscribe(..., batched=True)``, 200 events a transaction: one ``_id $in`` read and one bulk write per
  collection).
* ``per_event_per_s`` (baseline, same run): the same handlers applied event by event inside each 200-event
  transaction (reads and writes per event, as the board did before it was batched).
  ``batched_vs_per_event`` = the ratio. ``one_txn_per_event_per_s``: one event per transaction (``--quick`` skips
  it: it is slow).
* Both runs must build identical read models (checked).

Prints one JSON object on its last line and writes ``bench/results/ideas_board.json``.
Usage: ``python bench/ideas_board.py [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import pymongo

from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.subscriptions import Subscription
from agora.testing.plugin import SecantusServer
from ideas import projections

RESULTS = Path(__file__).resolve().parent / "results"
TENANTS = ("bench", "t1")
NOW = "2026-05-01T00:00:00Z"


def preload(store: EventStore, n_ideas: int, rng: random.Random) -> int:
    appended = 0
    for t in TENANTS:
        store.append(t, "project-p", [
            NewEvent("ProjectCreated", {"project_id": "p", "title": "Bench", "description": "", "language": "en",
                                        "created_by": "p-admin", "workflow": {"proposed": ["accepted"],
                                                                              "accepted": []}}),
            NewEvent("PhaseAdded", {"project_id": "p", "phase_id": "ph", "kind": "ideation", "title": "",
                                    "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z",
                                    "added_by": "p-admin"})])
        appended += 2
    for i in range(n_ideas):
        t = TENANTS[i % len(TENANTS)]
        idea = f"i{i}"
        events = [NewEvent("IdeaSubmitted", {
            "idea_id": idea, "project_id": "p", "phase_id": "ph", "title": f"Idea {i}", "body": "text " * 20,
            "language": "en", "author": f"p-{i % 97}", "status": "proposed",
            "personal": {"display_name": f"Person {i % 97}"}})]
        if i % 5 == 0:
            events.append(NewEvent("IdeaStatusChanged", {
                "idea_id": idea, "project_id": "p", "title": f"Idea {i}", "from": "proposed", "to": "accepted",
                "decision": True, "feedback": "yes", "feedback_language": "en", "decided_by": "p-admin"}))
        if i % 7 == 0:
            events.append(NewEvent("ContentFlagged", {
                "target_type": "idea", "target_id": idea, "idea_id": idea, "project_id": "p", "reason": "spam",
                "flagged_by": f"p-{(i + 1) % 97}"}))
        store.append(t, f"idea-{idea}", events)
        appended += len(events)
        if i % 3 == 0:
            store.append(t, f"comment-c{i}", [NewEvent("CommentPosted", {
                "comment_id": f"c{i}", "idea_id": idea, "project_id": "p", "parent_id": None, "body": "agreed",
                "language": "en", "author": f"p-{(i + 3) % 97}", "personal": None})])
            appended += 1
        for k in range(7):
            voter = f"p-v{rng.randrange(400)}"
            store.append(t, f"reactions-p-{voter}-{i}-{k}", [NewEvent("ReactionCast", {
                "target_type": "idea", "target_id": f"i{rng.randrange(i // 2 + 1) * 2 + i % 2}", "idea_id": idea,
                "project_id": "p", "phase_id": "ph", "voter": voter, "value": rng.choice([1, 1, -1]),
                "previous": 0, "personal": {}})])
            appended += 1
    return appended


def catch_up(store, db, batch: int, batched: bool = True) -> tuple[float, int]:
    for name in projections.COLLECTIONS:
        db[name].delete_many({})
    projections.ensure_indexes(db)
    if batched:
        handler = lambda events, s: projections.apply_batch(db, events, s)  # noqa: E731
    else:
        handler = lambda event, s: projections.apply(db, event, s)  # noqa: E731
    sub = Subscription(store, db, "ideas", f"board-bench-{batch}-{batched}", projections.ALL_TYPES, handler,
                       batched=batched, batch=batch, lease_s=None)
    sub.reset()
    t0 = time.perf_counter()
    applied = sub.poll()
    return time.perf_counter() - t0, applied


def snapshot(db) -> dict:
    return {name: sorted(db[name].find(), key=lambda d: str(d["_id"])) for name in projections.COLLECTIONS}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small log (under a minute)")
    args = parser.parse_args(argv)
    n_ideas = 120 if args.quick else 1000
    server = SecantusServer()
    client = pymongo.MongoClient(server.uri, tz_aware=True)
    try:
        db = client.get_database("bench_ideas_board")
        store = EventStore(db).ensure_indexes()
        t0 = time.perf_counter()
        events = preload(store, n_ideas, random.Random(7))
        print(f"preloaded {events} events in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        batched_s, applied = catch_up(store, db, 200)
        print(f"batched catch-up: {batched_s:.1f} s", file=sys.stderr, flush=True)
        batched = snapshot(db)
        single_s, applied_single = catch_up(store, db, 200, batched=False)
        print(f"per-event catch-up: {single_s:.1f} s", file=sys.stderr, flush=True)
        assert applied == applied_single == events, (applied, applied_single, events)
        identical = snapshot(db) == batched
        assert identical, "batched and per-event application built different read models"
        one_txn_s = None
        if not args.quick:
            one_txn_s, _ = catch_up(store, db, 1)
            print(f"one transaction per event: {one_txn_s:.1f} s", file=sys.stderr, flush=True)
    finally:
        client.close()
        server.stop()
    result = {"bench": "ideas_board", "quick": args.quick, "events": events,
              "batched_per_s": round(events / batched_s, 1), "per_event_per_s": round(events / single_s, 1),
              "batched_vs_per_event": round(single_s / batched_s, 2), "identical_read_models": identical,
              "one_txn_per_event_per_s": round(events / one_txn_s, 1) if one_txn_s else None}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ideas_board.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
