"""Child process for the racing-appends test: appends to one stream with expected versions, reports wins."""
import json
import sys

import pymongo

import testsvc_events  # noqa: F401  registers test event types
from agora.errors import ConcurrencyError
from agora.events.envelope import NewEvent
from agora.store import EventStore

uri, db_name, who, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = EventStore(pymongo.MongoClient(uri)[db_name])
wins, losses = [], 0
print("ready", flush=True)
sys.stdin.readline()  # start signal: all racers go together
version = 0
while version < rounds:
    version = store.stream_version("city", "race")
    if version >= rounds:
        break
    try:
        store.append("city", "race", [NewEvent("TestHappened", {"n": version, "text": who, "words": 1})], version)
        wins.append(version + 1)
    except ConcurrencyError:
        losses += 1
print(json.dumps({"who": who, "wins": wins, "losses": losses}))
