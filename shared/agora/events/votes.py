"""Event contracts of the votes service (exchange ``votes.events``; routing key = event type).

Streams: ``reactions-{project_id}-{voter}`` (all reactions of one citizen in one project: one reaction per target
and the per-phase limits hold under concurrency through the store's expected-version check),
``manual-{idea_id}``, ``phase-voting-{phase_id}``, ``proposal-{idea_id}`` (at most one event: ThresholdReached
*or* Expired, appended with expected version 0), ``voter-{voter}``.

| type | stream | data |
|---|---|---|
| ReactionCast v1 | reactions-* | target_type (idea/comment), target_id, idea_id, project_id, phase_id, voter, value (1/-1), previous (0), personal |
| ReactionChanged v1 | reactions-* | same; value (1/-1) is the new value, previous the old one |
| ReactionRetracted v1 | reactions-* | same; value 0, previous (1/-1) |
| ManualVotesSet v1 | manual-* | idea_id, project_id, phase_id, up, down (absolute paper counts), previous_up, previous_down, reason, by |
| PhaseVotingConfigured v1 | phase-voting-* | project_id, phase_id, enabled, downvoting, max_up, max_down, threshold, expire_days, comment_likes, by |
| ThresholdReached v1 | proposal-* | idea_id, project_id, phase_id, threshold, up |
| Expired v1 | proposal-* | idea_id, project_id, phase_id, threshold, up, deadline |
| VoterProfileRecorded v1 | voter-* | voter, personal |

``target_id`` of a change/retraction is the target of the original reaction: when an idea was merged, the
reaction keeps its identity and counts for the survivor (consumers follow ``IdeaMerged``). ``idea_id`` is the
idea the target belongs to (the idea itself, or the commented idea). ``personal`` is the voter's self-declared
demographics snapshot at the time of the event (``birth_year``, ``gender``, ``district``; each may be null) — the
only personal data in these events, in its own nested object for crypto-shredding.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from agora.events import register

TARGET_TYPES = ("idea", "comment")
GENDERS = ("female", "male", "non_binary", "other", "prefer_not_to_say")

_id = lambda **kw: fields.String(required=True, validate=validate.Length(min=1, max=100), **kw)  # noqa: E731
_sub = lambda: fields.String(required=True, validate=validate.Length(min=1, max=200))  # noqa: E731
_count = lambda **kw: fields.Integer(validate=validate.Range(min=0), **kw)  # noqa: E731


class VoterPersonal(Schema):
    """Voter's self-declared demographics snapshot (personal data: crypto-shreddable)."""
    birth_year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1900, 2100))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))


class _ReactionFields(Schema):
    target_type = fields.String(required=True, validate=validate.OneOf(TARGET_TYPES))
    target_id = _id()
    idea_id = _id()
    project_id = _id()
    phase_id = _id()
    voter = _sub()
    personal = fields.Nested(VoterPersonal, required=True)


@register("ReactionCast", 1, "votes")
class ReactionCastV1(_ReactionFields):
    value = fields.Integer(required=True, validate=validate.OneOf([1, -1]))
    previous = fields.Integer(load_default=0, validate=validate.OneOf([0]))


@register("ReactionChanged", 1, "votes")
class ReactionChangedV1(_ReactionFields):
    value = fields.Integer(required=True, validate=validate.OneOf([1, -1]))
    previous = fields.Integer(required=True, validate=validate.OneOf([1, -1]))


@register("ReactionRetracted", 1, "votes")
class ReactionRetractedV1(_ReactionFields):
    value = fields.Integer(load_default=0, validate=validate.OneOf([0]))
    previous = fields.Integer(required=True, validate=validate.OneOf([1, -1]))


@register("ManualVotesSet", 1, "votes")
class ManualVotesSetV1(Schema):
    idea_id = _id()
    project_id = _id()
    phase_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    up = _count(required=True)
    down = _count(load_default=0)
    previous_up = _count(load_default=0)
    previous_down = _count(load_default=0)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    by = _sub()


@register("PhaseVotingConfigured", 1, "votes")
class PhaseVotingConfiguredV1(Schema):
    project_id = _id()
    phase_id = _id()
    enabled = fields.Boolean(load_default=True)
    downvoting = fields.Boolean(load_default=True)
    max_up = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    max_down = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    threshold = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    expire_days = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False))
    comment_likes = fields.Boolean(load_default=True)
    by = _sub()


@register("ThresholdReached", 1, "votes")
class ThresholdReachedV1(Schema):
    idea_id = _id()
    project_id = _id()
    phase_id = _id()
    threshold = fields.Integer(required=True, validate=validate.Range(min=1))
    up = _count(required=True)


@register("Expired", 1, "votes")
class ExpiredV1(Schema):
    idea_id = _id()
    project_id = _id()
    phase_id = _id()
    threshold = fields.Integer(required=True, validate=validate.Range(min=1))
    up = _count(required=True)
    deadline = fields.String(required=True, validate=validate.Length(min=1, max=40))


@register("VoterProfileRecorded", 1, "votes")
class VoterProfileRecordedV1(Schema):
    voter = _sub()
    personal = fields.Nested(VoterPersonal, required=True)
