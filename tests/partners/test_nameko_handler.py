"""nameko's ``@event_handler("votes", "ReactionCast")`` still receives the relay's messages (now structured
CloudEvents, content type application/cloudevents+json) as the CloudEvent dict, with the default config
(shared/agora/nameko.yaml registers and accepts that content type)."""
from pathlib import Path

from agora.testing import eventually
from agora.testing.services import run_relay, run_service
from partners_support import append, reaction, store_of

HERE = Path(__file__).parent


def test_nameko_event_handler_gets_the_cloudevent(secantus, mongo_db, amqp_uri):
    store = store_of(mongo_db)
    with run_service("handler_service", secantus, mongo_db.name, amqp_uri, cwd=str(HERE)), \
            run_relay(secantus, mongo_db.name, amqp_uri):
        position = append(store, "ghent", "reactions-p1-ann", "ReactionCast", reaction("ann"))
        seen = eventually(lambda: list(mongo_db.handlersvc_seen.find()), timeout=60, what="handler called")
    [doc] = seen
    assert doc["type"] == "ReactionCast" and doc["is_dict"] is True and int(doc["sequence"]) == position
