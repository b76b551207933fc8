"""Event contracts of the votes service (exchange ``votes.events``; routing key = event type).

Streams: ``reactions-{project_id}-{voter}`` (all reactions of one person in one project: one reaction per target
and the per-phase limits hold under concurrency through the store's expected-version check),
``manual-{idea_id}``, ``phase-voting-{phase_id}``, ``proposal-{idea_id}`` (at most one event: ThresholdReached
*or* Expired, appended with expected version 0).

| type | stream | data |
|---|---|---|
| ReactionCast v2 | reactions-* | target_type (idea/comment), target_id, idea_id, project_id, phase_id, voter, value (1/-1), previous (0), personal (or null) |
| ReactionChanged v2 | reactions-* | same; value (1/-1) is the new value, previous the old one |
| ReactionRetracted v2 | reactions-* | same; value 0, previous (1/-1) |
| ManualVotesSet v1 | manual-* | idea_id, project_id, phase_id, up, down (absolute paper counts), previous_up, previous_down, reason, by |
| PhaseVotingConfigured v1 | phase-voting-* | project_id, phase_id, enabled, downvoting, max_up, max_down, threshold, expire_days, comment_likes, by |
| ThresholdReached v1 | proposal-* | idea_id, project_id, phase_id, threshold, up |
| Expired v1 | proposal-* | idea_id, project_id, phase_id, threshold, up, deadline |
| VoterProfileRecorded v1 | voter-* | voter, personal — legacy: no longer written, nothing reads it |

**People are named by pseudonyms.** ``voter`` (and the stream name), ``by`` hold the person's tenant-scoped
pseudonym (``store.person_id(tenant, sub)``, e.g. ``p-1f0c…``), never the identity provider's subject. Events
written before pseudonyms named the subject in the same fields (they still read).

``personal`` is the voter's self-declared demographics (``birth_year``, ``gender``, ``district``; each may be null)
given **with this vote**, with consent: null when the voter gave none. It is the only personal data in these events,
in its own nested object, sealed per voter by the store and crypto-shredded on erasure (agora.personal). It is never
copied from another action (an idea's demographics, a profile).

v1 → v2 (reactions): v1 always carried a ``personal`` object (all three fields null when nothing was given, and
possibly copied from the voter's idea or profile); the upcaster turns an all-null one into null. ``VoterProfileRecorded``
stays registered so that existing logs read; nothing writes or consumes it any more.

``target_id`` of a change/retraction is the target of the original reaction: when an idea was merged, the
reaction keeps its identity and counts for the survivor (consumers follow ``IdeaMerged``). ``idea_id`` is the
idea the target belongs to (the idea itself, or the commented idea).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from agora.events import register, upcaster

TARGET_TYPES = ("idea", "comment")
GENDERS = ("female", "male", "non_binary", "other", "prefer_not_to_say")
PERSONAL_FIELDS = ("birth_year", "gender", "district")
REACTION_TYPES = ("ReactionCast", "ReactionChanged", "ReactionRetracted")

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


class _ReactionFieldsV2(_ReactionFields):
    personal = fields.Nested(VoterPersonal, load_default=None, allow_none=True)


# ---------------------------------------------------------------- v1 (existing logs)
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


# ---------------------------------------------------------------- v2: pseudonymous voter, demographics per vote
@register("ReactionCast", 2, "votes")
class ReactionCastV2(_ReactionFieldsV2):
    value = fields.Integer(required=True, validate=validate.OneOf([1, -1]))
    previous = fields.Integer(load_default=0, validate=validate.OneOf([0]))


@register("ReactionChanged", 2, "votes")
class ReactionChangedV2(_ReactionFieldsV2):
    value = fields.Integer(required=True, validate=validate.OneOf([1, -1]))
    previous = fields.Integer(required=True, validate=validate.OneOf([1, -1]))


@register("ReactionRetracted", 2, "votes")
class ReactionRetractedV2(_ReactionFieldsV2):
    value = fields.Integer(load_default=0, validate=validate.OneOf([0]))
    previous = fields.Integer(required=True, validate=validate.OneOf([1, -1]))


def _reaction_v1_to_v2(data: dict) -> dict:
    """A v1 ``personal`` with nothing in it (or shredded) becomes null."""
    personal = data.get("personal")
    if not isinstance(personal, dict) or "_enc" in personal:
        return data
    if all(personal.get(k) is None for k in PERSONAL_FIELDS):
        return dict(data, personal=None)
    return data


for _name in REACTION_TYPES:
    upcaster(_name, 1)(_reaction_v1_to_v2)


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
    """Legacy (see the module docstring): kept so that existing logs read."""
    voter = _sub()
    personal = fields.Nested(VoterPersonal, required=True)
