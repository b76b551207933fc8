"""A service exercising the route layer (agora.web): declared roles, validation order, idempotency, limits."""
import testsvc_events  # noqa: F401
from marshmallow import Schema, fields, validate

from agora.application import CommandRunner, new_id
from agora.events import NewEvent
from agora.nameko import EventStoreDep
from agora.web import ObservableService, json_route


class ThingIn(Schema):
    n = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))
    text = fields.String(load_default="")


class ListQuery(Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


T = "/api/v1/tenants/<tenant>"


class RouteService(ObservableService):
    name = "routesvc"
    store = EventStoreDep()

    @json_route("POST", T + "/things", roles=["citizen", "admin"], request_schema=ThingIn, status=201)
    def add(self, request, tenant, caller, body):
        thing = new_id(tenant, "thing")
        out = CommandRunner(self.store).run(tenant, f"thing-{thing}", lambda events: NewEvent(
            "TestHappened", {"n": body["n"], "text": body["text"], "words": len(body["text"].split())}))
        return 201, out.body(thing_id=thing, by=caller.sub)

    @json_route("POST", T + "/admin/things/<thing_id>", roles=["admin"], request_schema=ThingIn)
    def admin_only(self, request, tenant, thing_id, caller, body):
        return {"thing_id": thing_id, "n": body["n"]}

    @json_route("GET", T + "/things", public=True, query_schema=ListQuery)
    def list_things(self, request, tenant, caller, query):
        return {"limit": query["limit"], "anonymous": caller is None}


class SlowQuery(Schema):
    ms = fields.Integer(load_default=500, validate=validate.Range(min=0, max=5000))


def _slow(self, request, tenant, query):
    import time
    time.sleep(query["ms"] / 1000)
    return {"slept_ms": query["ms"]}


RouteService.slow = json_route("GET", T + "/slow", public=True, query_schema=SlowQuery)(_slow)
