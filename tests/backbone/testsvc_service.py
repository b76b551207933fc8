"""A minimal nameko service built only from agora's shared mechanisms (used by the backbone interface tests)."""
import testsvc_events  # noqa: F401

from agora.events.envelope import NewEvent
from agora.nameko import EventStoreDep, MongoDep, subscribe
from agora.store import ANY
from agora.web import ObservableService, json_route, read_json


def project(db, event, session):
    """The projection: per tenant count and sum of n; raises on poison events."""
    if event.type == "TestPoison":
        raise ValueError(f"poison event {event.data['n']}")
    db.testsvc_totals.update_one({"_id": event.tenant}, {"$inc": {"count": 1, "sum": event.data["n"]},
                                                         "$set": {"last": event.position}},
                                 upsert=True, session=session)


class TestService(ObservableService):
    name = "testsvc"
    store = EventStoreDep()
    db = MongoDep()

    @json_route("POST", "/api/v1/tenants/<tenant>/things", summary="Append a test event", public=True,
                status=201)
    def add(self, request, tenant):
        body = read_json(request)
        etype = "TestPoison" if body.get("poison") else "TestHappened"
        data = {"n": body.get("n")} if etype == "TestPoison" else {"n": body.get("n"), "text": "x", "words": 1}
        positions = self.store.append(tenant, f"thing-{body.get('id')}", [NewEvent(etype, data)], ANY)
        return 201, {"positions": positions}

    @subscribe("own", {"testsvc": ["TestHappened", "TestPoison"]}, max_attempts=3, backoff_s=0.01)
    def on_event(self, event, session):
        project(self.db, event, session)
