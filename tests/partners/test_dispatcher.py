"""The dispatcher's delivery guarantees, in process: a grant noticed after the dispatcher passed its start is caught
up (no event after the grant is missed), marked caught up once confirmed, and not sent again after a restart;
a restart resumes from the checkpoint."""
import json

from agora.partners import broker
from agora.partners.dispatcher import Dispatcher
from agora.partners.grants import GrantRegistry
from agora.testing import eventually
from partners_support import append, consume, reaction, store_of


class _NoUsers(broker.BrokerAdmin):
    """Queue and bindings only: this test is about delivery, not permissions (see test_grants)."""

    def set_user(self, *args, **kwargs):
        pass

    def delete_user(self, *args, **kwargs):
        pass


def test_late_noticed_grant_is_caught_up_once(mongo_db, amqp_uri):
    store = store_of(mongo_db)
    for i in range(5):
        append(store, "alpha", f"reactions-p1-v{i}", "ReactionCast", reaction(f"v{i}"))
    registry = GrantRegistry(mongo_db, amqp_uri, admin=_NoUsers(amqp_uri), store=store)
    g, _ = registry.grant("lab-late", ["alpha"], ["ReactionCast"])
    assert g.start == 5 and not g.caught_up
    for i in range(5, 12):                     # after the grant, before the dispatcher notices it
        append(store, "alpha" if i % 2 else "beta", f"reactions-p1-v{i}", "ReactionCast", reaction(f"v{i}"))
    # the dispatcher had already passed them (e.g. it was serving other grants): checkpoint at the head
    mongo_db.partner_checkpoints.update_one({"_id": "partners"}, {"$set": {"position": 12}}, upsert=True)
    dispatcher = Dispatcher(store, amqp_uri)
    dispatcher.start_thread()
    try:
        got = consume(amqp_uri, g.queue, lambda m: len(m) >= 4)
        assert [int(json.loads(b)["sequence"]) for _, b in got] == [6, 8, 10, 12]     # alpha after the grant
        eventually(lambda: registry.get("lab-late").caught_up, timeout=30, what="grant marked caught up")
        append(store, "alpha", "reactions-p1-v12", "ReactionCast", reaction("v12"))   # live, position 13
        got = consume(amqp_uri, g.queue, lambda m: len(m) >= 1)
        assert [int(json.loads(b)["sequence"]) for _, b in got] == [13]
    finally:
        dispatcher.stop()
    eventually(lambda: dispatcher.checkpoint() == 13, timeout=30, what="checkpoint saved")
    # a restart resumes from the checkpoint and does not catch the grant up again
    append(store, "alpha", "reactions-p1-v13", "ReactionCast", reaction("v13"))       # position 14
    again = Dispatcher(store, amqp_uri)
    again.start_thread()
    try:
        got = consume(amqp_uri, g.queue, lambda m: len(m) >= 1)
        assert [int(json.loads(b)["sequence"]) for _, b in got] == [14]
        eventually(lambda: again.checkpoint() == 14, timeout=30, what="checkpoint saved")
        assert consume(amqp_uri, g.queue, lambda m: True, timeout=5) == []       # nothing sent twice
    finally:
        again.stop()


def test_partner_queue_is_bounded_oldest_dropped(mongo_db, amqp_uri, monkeypatch):
    """An absent partner cannot fill the broker: its queue keeps the newest AGORA_PARTNER_QUEUE_MAX messages."""
    monkeypatch.setenv("AGORA_PARTNER_QUEUE_MAX", "3")
    store = store_of(mongo_db)
    registry = GrantRegistry(mongo_db, amqp_uri, admin=_NoUsers(amqp_uri), store=store)
    g, _ = registry.grant("lab-away", ["alpha"], ["ReactionCast"])
    dispatcher = Dispatcher(store, amqp_uri)
    dispatcher.start_thread()
    try:
        for i in range(6):
            append(store, "alpha", f"reactions-p1-w{i}", "ReactionCast", reaction(f"w{i}"))
        eventually(lambda: dispatcher.checkpoint() == 6, timeout=30, what="all dispatched")
    finally:
        dispatcher.stop()
    got = consume(amqp_uri, g.queue, lambda m: len(m) >= 3)
    assert [int(json.loads(b)["sequence"]) for _, b in got] == [4, 5, 6]
