"""A nameko service with a plain ``@event_handler`` on a platform exchange (tests/partners/test_nameko_handler.py):
the relay's structured CloudEvents (application/cloudevents+json) must still reach nameko's own bindings."""
from nameko.events import event_handler

from agora.nameko import MongoDep
from agora.web import ObservableService


class HandlerService(ObservableService):
    name = "handlersvc"
    db = MongoDep()

    @event_handler("votes", "ReactionCast")
    def on_reaction(self, ce):
        self.db.handlersvc_seen.insert_one({"_id": ce["id"], "type": ce["type"], "sequence": ce["sequence"],
                                            "is_dict": isinstance(ce, dict)})
