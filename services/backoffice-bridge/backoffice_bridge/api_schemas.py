"""marshmallow schemas of the bridge's HTTP API (input validation and OpenAPI documentation)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from agora.events.bridge import ADAPTER_ID_RE, ADAPTER_TYPES, FORMATS

from backoffice_bridge.delivery import STATUSES
from backoffice_bridge.webhooks import DEFAULT_RETRY

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
                                                    "extension (ttl, jsonld, akn.xml, popolo.json, csv); without "
                                                    "it the Accept header chooses (406 when nothing fits)"})
    variant = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["excel"]),
                            metadata={"description": "csv: `excel` gives a UTF-8 BOM, `;` separators and a decimal "
                                                     "comma (spreadsheets with a European locale)"})


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


SECRET_DOC = ("webhook: the signing secret (Standard Webhooks: `whsec_` + base64 of 24-64 random bytes, or any "
              "string of 16-500 characters). Chosen by you, never shown or published by the bridge.")
FOLDER_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class AdapterIn(_In):
    type = fields.String(required=True, validate=validate.OneOf(ADAPTER_TYPES),
                         metadata={"description": "webhook or pull (partners and staff); drop_folder (staff)"})
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    enabled = fields.Boolean(load_default=True)
    url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                        metadata={"description": "webhook: the receiver's https URL (http only in development "
                                                 "mode); public addresses only"})
    secret = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=16, max=500),
                           load_only=True, metadata={"description": SECRET_DOC})
    folder = fields.String(load_default=None, allow_none=True,
                           validate=validate.Regexp(FOLDER_RE, error="a folder name ([A-Za-z0-9._-], no path): "
                                                                     "created under the tenant's drop root"),
                           metadata={"description": "drop_folder: folder name under the tenant's drop root"})
    max_attempts = fields.Integer(load_default=DEFAULT_RETRY.max_attempts, validate=validate.Range(1, 100))
    backoff_base_s = fields.Float(load_default=DEFAULT_RETRY.base_s, validate=validate.Range(0.01, 3600))
    backoff_cap_s = fields.Float(load_default=DEFAULT_RETRY.cap_s, validate=validate.Range(0.01, 86400))
    timeout_s = fields.Float(load_default=10.0, validate=validate.Range(0.1, 120))

    @validates_schema
    def _per_type(self, data: dict, **_) -> None:
        if data.get("type") == "webhook" and not data.get("url"):
            raise ValidationError("a webhook needs a url", "url")
        if data.get("type") == "drop_folder" and not data.get("folder"):
            raise ValidationError("a drop folder needs a folder", "folder")


class AdapterPath(_In):
    adapter_id = fields.String(required=True, validate=validate.Regexp(ADAPTER_ID_RE, error="must match {regex}"))


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
    owner = fields.String(metadata={"description": "partner (registered by a partner) or staff"})
    owned_by_you = fields.Boolean()
    position = fields.Integer()
    configured_at = fields.String()


class SecretIn(_In):
    secret = fields.String(required=True, validate=validate.Length(min=16, max=500), load_only=True,
                           metadata={"description": SECRET_DOC})
    previous_valid_s = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 7 * 86400),
                                    metadata={"description": "how long the previous secret keeps signing "
                                                             "(default AGORA_BRIDGE_ROTATION_OVERLAP_S, 24 h)"})


class SecretOut(Schema):
    adapter_id = fields.String()
    secrets_in_force = fields.Integer()
    previous_valid_until = fields.Float(allow_none=True)


class PingOut(Schema):
    adapter_id = fields.String()
    outcome = fields.String(metadata={"description": "delivered | retry | failed"})
    http_status = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "a status and a short reason, never the body"})
    webhook_id = fields.String(allow_none=True)


class AdapterReplayQuery(_In):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "decision cursor (`seq`): replay the decisions after it"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class AdapterReplayOut(Schema):
    adapter_id = fields.String()
    queued = fields.List(fields.String())
    skipped = fields.List(fields.String(), metadata={"description": "pending or in flight already"})
    next = fields.Integer()
    has_more = fields.Boolean()


class AdapterList(Schema):
    items = fields.List(fields.Nested(Adapter))


class CommandOut(Schema):
    adapter_id = fields.String()
    version = fields.Integer()
    position = fields.Integer(allow_none=True)
    events = fields.List(fields.String())


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
    created_at = fields.Float()
    last_attempt_at = fields.Float()
    succeeded_at = fields.Float()
    dead_at = fields.Float()
    cursor = fields.Integer(metadata={"description": "pull adapters: the decision's cursor"})


class DeliveryList(Schema):
    items = fields.List(fields.Nested(Delivery))


class DecisionDeliveries(DeliveryList):
    decision_id = fields.String()


class DeliveryQuery(_In):
    status = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(STATUSES))
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
    feedback = fields.String(allow_none=True)
    feedback_language = fields.String(allow_none=True)
    command_id = fields.String()
    result = fields.String()
    error = fields.String(allow_none=True)
    http_status = fields.Integer()
    reply = fields.Dict(allow_none=True)


class InboundOut(Schema):
    decision_id = fields.String()
    source = fields.String()
    results = fields.List(fields.Nested(InboundResult))
    replayed = fields.Boolean(metadata={"description": "this decision was applied before: the recorded receipt"})
