"""Event contracts of the back-office bridge (exchange ``bridge.events``; routing key = event type).

Streams: ``decision-{decision_id}``, ``delivery-{decision_id}.{adapter_id}``, ``adapter-{adapter_id}``,
``inbound-{key}``. Instants are Unix seconds (floats) or ISO 8601 strings as noted. Every ``*_by`` field is a
person's tenant-scoped pseudonym (``store.person_id``), never the identity provider's subject.

| type | stream | data |
|---|---|---|
| DecisionRecorded v1 | decision-* | decision_id, kind, outcome, origin (ideas/budgets), source_event_id, source_type, decision (Decision JSON, see backoffice_bridge.schemas), inbound_command_id |
| DeliveryConfigured v2 | adapter-* | adapter_id, type (webhook/drop_folder/pull), format, enabled, url, folder, max_attempts, backoff_base_s, backoff_cap_s, timeout_s, configured_by, owned_by (the partner who registered it, or null: staff) |
| DeliveryAttempted v1 | delivery-* | delivery_id, decision_id, adapter_id, attempt, outcome (delivered/retry/failed), http_status, error (a short reason, never a response body), next_retry (Unix s or null) |
| DeliverySucceeded v1 | delivery-* | delivery_id, decision_id, adapter_id, attempts, detail |
| DeliveryDeadLettered v1 | delivery-* | delivery_id, decision_id, adapter_id, attempts, error |
| DeliveryReplayRequested v1 | delivery-* | delivery_id, decision_id, adapter_id, requested_by |
| InboundDecisionReceived v1 | inbound-* | decision_id, source (json/oslo-ttl/oslo-jsonld), body_sha256, received_by, commands [{idea_id, status, feedback, feedback_language, command_id, result, error}] |

Webhook secrets never enter the event log (it is relayed to the broker), not even hashed: they live in the bridge's
own ``bridge_secrets`` collection. ``DeliveryConfigured`` v1 carried the secret's SHA-256 and the configuring
person's subject; its upcaster drops both (v2).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from agora.events import register, upcaster

ADAPTER_TYPES = ("webhook", "drop_folder", "pull")
ADAPTER_ID_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"
DECISION_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$"
FORMATS = ("oslo-ttl", "oslo-jsonld", "akn", "popolo", "csv")
ATTEMPT_OUTCOMES = ("delivered", "retry", "failed")

_decision_id = lambda: fields.String(required=True, validate=validate.Regexp(DECISION_ID_RE))  # noqa: E731
_adapter_id = lambda: fields.String(required=True, validate=validate.Regexp(ADAPTER_ID_RE))  # noqa: E731
_delivery_id = lambda: fields.String(required=True, validate=validate.Length(min=3, max=300))  # noqa: E731
_text = lambda n, **kw: fields.String(validate=validate.Length(max=n), **kw)  # noqa: E731


@register("DecisionRecorded", 1, "bridge")
class DecisionRecordedV1(Schema):
    decision_id = _decision_id()
    kind = fields.String(required=True, validate=validate.OneOf(("idea_status", "budget_outcome")))
    outcome = fields.String(required=True, validate=validate.OneOf(("accepted", "rejected", "implemented",
                                                                    "allocated")))
    origin = fields.String(required=True, validate=validate.OneOf(("ideas", "budgets")))
    source_event_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    source_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    decision = fields.Dict(required=True)
    inbound_command_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


@register("DeliveryConfigured", 1, "bridge")
class DeliveryConfiguredV1(Schema):
    adapter_id = _adapter_id()
    type = fields.String(required=True, validate=validate.OneOf(ADAPTER_TYPES))
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    enabled = fields.Boolean(load_default=True)
    url = _text(2000, load_default=None, allow_none=True)
    folder = _text(200, load_default=None, allow_none=True)
    max_attempts = fields.Integer(load_default=8, validate=validate.Range(1, 100))
    backoff_base_s = fields.Float(load_default=2.0, validate=validate.Range(0.01, 3600))
    backoff_cap_s = fields.Float(load_default=3600.0, validate=validate.Range(0.01, 86400))
    timeout_s = fields.Float(load_default=10.0, validate=validate.Range(0.1, 120))
    secret_sha256 = _text(64, load_default=None, allow_none=True)
    configured_by = _text(200, load_default="")


@register("DeliveryConfigured", 2, "bridge")
class DeliveryConfiguredV2(Schema):
    adapter_id = _adapter_id()
    type = fields.String(required=True, validate=validate.OneOf(ADAPTER_TYPES))
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    enabled = fields.Boolean(load_default=True)
    url = _text(2000, load_default=None, allow_none=True)
    folder = _text(200, load_default=None, allow_none=True)
    max_attempts = fields.Integer(load_default=14, validate=validate.Range(1, 100))
    backoff_base_s = fields.Float(load_default=60.0, validate=validate.Range(0.01, 3600))
    backoff_cap_s = fields.Float(load_default=21600.0, validate=validate.Range(0.01, 86400))
    timeout_s = fields.Float(load_default=10.0, validate=validate.Range(0.1, 120))
    configured_by = _text(200, load_default="")
    owned_by = _text(200, load_default=None, allow_none=True)


@upcaster("DeliveryConfigured", 1)
def _delivery_configured_v1_to_v2(data: dict) -> dict:
    """v1 published the secret's fingerprint and the subject of whoever configured the adapter: both dropped."""
    out = {k: v for k, v in data.items() if k != "secret_sha256"}
    out["configured_by"] = ""
    out.setdefault("owned_by", None)
    return out


class _DeliveryFields(Schema):
    delivery_id = _delivery_id()
    decision_id = _decision_id()
    adapter_id = _adapter_id()


@register("DeliveryAttempted", 1, "bridge")
class DeliveryAttemptedV1(_DeliveryFields):
    attempt = fields.Integer(required=True, validate=validate.Range(min=1))
    outcome = fields.String(required=True, validate=validate.OneOf(ATTEMPT_OUTCOMES))
    http_status = fields.Integer(load_default=None, allow_none=True)
    error = _text(2000, load_default=None, allow_none=True)
    next_retry = fields.Float(load_default=None, allow_none=True)


@register("DeliverySucceeded", 1, "bridge")
class DeliverySucceededV1(_DeliveryFields):
    attempts = fields.Integer(required=True, validate=validate.Range(min=1))
    detail = _text(2000, load_default=None, allow_none=True)


@register("DeliveryDeadLettered", 1, "bridge")
class DeliveryDeadLetteredV1(_DeliveryFields):
    attempts = fields.Integer(required=True, validate=validate.Range(min=0))
    error = _text(2000, load_default=None, allow_none=True)


@register("DeliveryReplayRequested", 1, "bridge")
class DeliveryReplayRequestedV1(_DeliveryFields):
    requested_by = _text(200, required=True)


class InboundCommand(Schema):
    idea_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    status = fields.String(required=True, validate=validate.Length(min=1, max=32))
    feedback = fields.String(load_default=None, allow_none=True)
    feedback_language = fields.String(load_default=None, allow_none=True)
    command_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    result = fields.String(required=True, validate=validate.OneOf(("applied", "failed")))
    error = _text(2000, load_default=None, allow_none=True)


@register("InboundDecisionReceived", 1, "bridge")
class InboundDecisionReceivedV1(Schema):
    decision_id = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    source = fields.String(required=True, validate=validate.OneOf(("json", "oslo-ttl", "oslo-jsonld")))
    body_sha256 = fields.String(required=True, validate=validate.Length(equal=64))
    received_by = _text(200, required=True)
    commands = fields.List(fields.Nested(InboundCommand), required=True)
