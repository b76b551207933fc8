"""Child process for the orphaned-transaction test: owns a subscription, opens its batch transaction, writes the
projection and the checkpoint claim, says so, then hangs inside the transaction until it is killed (kill -9)."""
import sys
import time

import pymongo

import testsvc_events  # noqa: F401  registers test event types
from agora.store import EventStore
from agora.subscriptions import Subscription

uri, db_name = sys.argv[1], sys.argv[2]
db = pymongo.MongoClient(uri)[db_name]


def handler(event, session):
    db.svc_orphan.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True, session=session)
    print("in-transaction", flush=True)
    time.sleep(3600)                      # killed here, the transaction open


Subscription(EventStore(db), db, "svc", "orphaned", ["TestHappened"], handler, batch=1).poll()
