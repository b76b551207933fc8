"""marshmallow schemas of the bridge's HTTP API (input validation and OpenAPI documentation)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from agora.events.bridge import ADAPTER_TYPES, FORMATS

from backoffice_bridge.schemas import DecisionSchema


class _In(Schema):
    class Meta:
        unknown = EXCLUDE


class ListQuery(_In):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "cursor: the `seq` of the last item already seen"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class RenderQuery(_In):
    format = fields.String(load_default=None, allow_none=True,
                           metadata={"description": "oslo-ttl | oslo-jsonld | akn | popolo | csv | json, or an "
                                                    "extension (ttl, jsonld, akn.xml, popolo.json, csv)"})


class DecisionSummary(Schema):
    decision_id = fields.String()
    seq = fields.Integer()
    kind = fields.String()
    outcome = fields.String()
    title = fields.String()
    origin = fields.String()
    source_event_id = fields.String()
    source_type = fields.String()
    recorded_at = fields.String()
    inbound_command_id = fields.String(allow_none=True)


class DecisionList(Schema):
    items = fields.List(fields.Nested(DecisionSummary))
    next = fields.Integer()
    has_more = fields.Boolean()


class DecisionDetail(DecisionSummary):
    decision = fields.Nested(DecisionSchema)
    formats = fields.Dict()


class AdapterIn(_In):
    type = fields.String(required=True, validate=validate.OneOf(ADAPTER_TYPES))
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    enabled = fields.Boolean(load_default=True)
    url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                        metadata={"description": "webhook: the receiver's http(s) URL"})
    secret = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=16, max=500),
                           metadata={"description": "webhook: shared HMAC-SHA256 secret (never echoed)"})
    folder = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100),
                           metadata={"description": "drop_folder: folder name under the tenant's drop root"})
    max_attempts = fields.Integer(load_default=8, validate=validate.Range(1, 100))
    backoff_base_s = fields.Float(load_default=2.0, validate=validate.Range(0.01, 3600))
    backoff_cap_s = fields.Float(load_default=3600.0, validate=validate.Range(0.01, 86400))
    timeout_s = fields.Float(load_default=10.0, validate=validate.Range(0.1, 120))


class Adapter(Schema):
    adapter_id = fields.String()
    type = fields.String()
    format = fields.String()
    enabled = fields.Boolean()
    url = fields.String(allow_none=True)
    folder = fields.String(allow_none=True)
    max_attempts = fields.Integer()
    backoff_base_s = fields.Float()
    backoff_cap_s = fields.Float()
    timeout_s = fields.Float()
    secret_sha256 = fields.String(allow_none=True)
    configured_by = fields.String()
    position = fields.Integer()


class AdapterList(Schema):
    items = fields.List(fields.Nested(Adapter))


class CommandOut(Schema):
    adapter_id = fields.String()
    position = fields.Integer()


class Attempt(Schema):
    attempt = fields.Integer()
    generation = fields.Integer()
    at = fields.Float()
    at_iso = fields.String()
    outcome = fields.String()
    http_status = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Float()
    next_retry = fields.Float()


class Delivery(Schema):
    delivery_id = fields.String()
    decision_id = fields.String()
    adapter_id = fields.String()
    adapter_type = fields.String()
    format = fields.String()
    status = fields.String(metadata={"description": "pending | in_flight | succeeded | dead_lettered | cancelled "
                                                   "(pull adapters: available | acknowledged)"})
    attempts = fields.Integer()
    generation = fields.Integer()
    next_retry = fields.Float()
    next_retry_at = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    log = fields.List(fields.Nested(Attempt))


class DeliveryList(Schema):
    items = fields.List(fields.Nested(Delivery))


class DecisionDeliveries(DeliveryList):
    decision_id = fields.String()


class DeliveryQuery(_In):
    status = fields.String(load_default=None, allow_none=True)
    adapter = fields.String(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ReplayQuery(_In):
    force = fields.Boolean(load_default=False, metadata={"description": "also replay a succeeded delivery"})


class PullQuery(_In):
    adapter = fields.String(required=True, metadata={"description": "id of the tenant's pull adapter"})
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class PullItem(Schema):
    cursor = fields.Integer()
    decision_id = fields.String()
    format = fields.String()
    content_type = fields.String()
    idempotency_key = fields.String()
    document = fields.String()


class PullOut(Schema):
    adapter_id = fields.String()
    items = fields.List(fields.Nested(PullItem))
    next = fields.Integer()
    has_more = fields.Boolean()


class InboundResult(Schema):
    idea_id = fields.String()
    status = fields.String()
    command_id = fields.String()
    result = fields.String()
    error = fields.String(allow_none=True)
    reply = fields.Dict()


class InboundOut(Schema):
    decision_id = fields.String()
    source = fields.String()
    results = fields.List(fields.Nested(InboundResult))
