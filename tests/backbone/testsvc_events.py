"""Test-only event types (registered in the shared registry) used by the backbone tests."""
from marshmallow import Schema, fields, validate

from agora.events import register, upcaster


@register("TestHappened", 1, "testsvc")
class TestHappenedV1(Schema):
    n = fields.Integer(required=True)
    text = fields.String(load_default="")


@register("TestHappened", 2, "testsvc")
class TestHappenedV2(Schema):
    n = fields.Integer(required=True)
    text = fields.String(load_default="")
    words = fields.Integer(required=True, validate=validate.Range(min=0))


@upcaster("TestHappened", 1)
def _happened_v1_to_v2(data):
    data["words"] = len(data.get("text", "").split())
    return data


@register("TestPoison", 1, "testsvc")
class TestPoisonV1(Schema):
    n = fields.Integer(required=True)


@register("TestProfiled", 1, "testsvc")
class TestProfiledV1(Schema):
    author = fields.String(required=True)
    personal = fields.Dict(allow_none=True, load_default=None)
