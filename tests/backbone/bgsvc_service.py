"""A test service whose read model is rebuilt blue/green (``@subscribe(..., blue_green=True)``): the handler reaches
its collection only through ``self.db`` (MongoDep). ``BGSVC_SLOW_MS`` slows the handler down so that a rebuild
takes long enough to be read from, written to and killed in the middle."""
import os
import time

import testsvc_events  # noqa: F401

from agora.events.envelope import NewEvent
from agora.nameko import EventStoreDep, MongoDep, subscribe
from agora.store import ANY
from agora.web import ObservableService, json_route, read_json

SLOW_S = float(os.environ.get("BGSVC_SLOW_MS", "0")) / 1000


class BlueGreenService(ObservableService):
    name = "bgsvc"
    store = EventStoreDep()
    db = MongoDep()

    @json_route("POST", "/api/v1/tenants/<tenant>/things", summary="Append a test event", public=True,
                status=201)
    def add(self, request, tenant):
        body = read_json(request)
        data = {"n": body["n"], "text": "x", "words": 1}
        positions = self.store.append(tenant, f"thing-{body['id']}", [NewEvent("TestHappened", data)], ANY)
        return 201, {"positions": positions}

    @json_route("GET", "/api/v1/tenants/<tenant>/totals", summary="The read model", public=True)
    def totals(self, request, tenant):
        doc = self.db.bgsvc_totals.find_one({"_id": tenant}) or {"count": 0, "sum": 0}
        return {"count": doc["count"], "sum": doc["sum"]}

    @subscribe("totals", {"testsvc": ["TestHappened"]}, batch=20, collections=["bgsvc_totals"], blue_green=True)
    def on_event(self, event, session):
        if SLOW_S:
            time.sleep(SLOW_S)
        self.db.bgsvc_totals.update_one({"_id": event.tenant}, {"$inc": {"count": 1, "sum": event.data["n"]}},
                                        upsert=True, session=session)
