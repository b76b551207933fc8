"""HTTP request/response schemas of the votes service (marshmallow 4)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from agora.events.votes import GENDERS
from votes.domain import parse_time


class PersonalIn(Schema):
    """Self-declared demographics given with this vote (counted in staff-only segment tallies); sent only with
    ``consent: true``."""
    birth_year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1900, 2100))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    consent = fields.Boolean(required=True, validate=validate.Equal(True, error="consent must be true"))


class ReactionIn(Schema):
    value = fields.Integer(required=True, strict=True, validate=validate.OneOf([1, -1]))
    personal = fields.Nested(PersonalIn, load_default=None, allow_none=True)


class LikeIn(Schema):
    personal = fields.Nested(PersonalIn, load_default=None, allow_none=True)


class ReactionOut(Schema):
    result = fields.String(metadata={"description": "cast, changed, retracted or unchanged"})
    target_type = fields.String()
    target_id = fields.String()
    counted_for = fields.String(metadata={"description": "the idea/comment the reaction counts for (merges)"})
    value = fields.Integer()
    phase_id = fields.String(allow_none=True)
    position = fields.Integer(allow_none=True)


class ManualVotesIn(Schema):
    up = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10_000_000))
    down = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10_000_000))
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000))


class ManualVotesOut(Schema):
    result = fields.String()
    idea_id = fields.String()
    up = fields.Integer()
    down = fields.Integer()
    position = fields.Integer(allow_none=True)


class PhaseVotingIn(Schema):
    enabled = fields.Boolean(load_default=True)
    downvoting = fields.Boolean(load_default=True)
    max_up = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    max_down = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    threshold = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    expire_days = fields.Float(load_default=None, allow_none=True,
                               validate=validate.Range(min=0, min_inclusive=False, max=3650))
    comment_likes = fields.Boolean(load_default=True)


class PhaseVotingOut(PhaseVotingIn):
    project_id = fields.String()
    phase_id = fields.String()
    kind = fields.String()
    start = fields.String(allow_none=True)
    end = fields.String(allow_none=True)
    open = fields.Boolean()


class PhaseVotingConfiguredOut(PhaseVotingOut):
    position = fields.Integer(allow_none=True)


class SegmentCounts(Schema):
    up = fields.Integer()
    down = fields.Integer()


class TotalOut(Schema):
    up = fields.Integer()
    down = fields.Integer()
    votes = fields.Integer()
    net = fields.Integer()


class TallyOut(Schema):
    target_type = fields.String()
    target_id = fields.String()
    up = fields.Integer(metadata={"description": "online up reactions"})
    down = fields.Integer()
    manual = fields.Nested(SegmentCounts, metadata={"description": "paper/offline counts"})
    total = fields.Nested(TotalOut, metadata={"description": "online + manual"})
    segments = fields.Dict(allow_none=True, metadata={
        "description": "staff only (null for others): age/gender/district → segment → {up, down} of the online "
                       "reactions, by the demographics given with each vote; a count below the tenant's minimum "
                       "cell size reads \"< k\", and so does a second cell of a column that would reveal it"})
    min_cell_size = fields.Integer(allow_none=True, metadata={"description": "k of the suppression (staff only)"})
    merged_into = fields.String(allow_none=True)
    proposal = fields.Dict(allow_none=True)
    as_at = fields.String(allow_none=True)


def _instant(value):
    try:
        dt = parse_time(value)
    except (TypeError, ValueError):
        raise ValidationError("not an ISO 8601 date-time") from None
    if dt is None:
        raise ValidationError("not an ISO 8601 date-time")
    return dt


class Instant(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        return _instant(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


class TallyQuery(Schema):
    as_at = Instant(load_default=None, metadata={"description": "ISO 8601: the tally as it stood then"})
