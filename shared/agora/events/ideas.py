"""Event contracts of the ideas service (exchange ``ideas.events``; routing key = event type).

Streams (one per aggregate, kept short): ``project-{project_id}``, ``idea-{idea_id}``, ``comment-{comment_id}``.
Instants are ISO 8601 strings in UTC with a ``Z`` suffix (e.g. ``2026-05-01T00:00:00Z``).

| type | stream | data |
|---|---|---|
| ProjectCreated v1 | project-* | project_id, title, description, language, created_by, workflow ({status: [next]}) |
| PhaseAdded v1 | project-* | project_id, phase_id, kind (ideation/voting/budgeting), title, start, end, added_by |
| PhaseChanged v1 | project-* | project_id, phase_id, kind, title, start, end (the phase's full new state), changed_by |
| IdeaSubmitted v2 | idea-* | idea_id, project_id, phase_id, title, body, language, author, tags, location, status, personal |
| IdeaEdited v1 | idea-* | idea_id, project_id, title, body, language, tags, location (full new state), edited_by |
| IdeaWithdrawn v1 | idea-* | idea_id, project_id, from_status, withdrawn_by, reason |
| IdeaStatusChanged v1 | idea-* | idea_id, project_id, title, from, to, decision, feedback, feedback_language, decided_by |
| IdeaMerged v1 | idea-* (the merged one) | idea_id, project_id, survivor_id, from_status, merged_by, reason |
| CommentPosted v2 | comment-* | comment_id, idea_id, project_id, parent_id (null = top level), body, language, author, personal |
| ContentFlagged v1 | idea-* / comment-* | target_type (idea/comment), target_id, idea_id, project_id, reason, flagged_by |
| ContentHidden v1 | idea-* / comment-* | target_type, target_id, idea_id, project_id, reason, moderator |
| ContentRestored v1 | idea-* / comment-* | target_type, target_id, idea_id, project_id, reason, moderator |
| FlagsDismissed v1 | idea-* / comment-* | target_type, target_id, idea_id, project_id, reason, moderator, flags (count dismissed) |

**People are named by pseudonyms.** ``author``, ``flagged_by``, ``moderator`` and every ``*_by`` field hold the
person's tenant-scoped pseudonym (``store.person_id(tenant, sub)``, e.g. ``p-1f0c…``), never the identity provider's
subject; a service acting as itself is named ``service:<name>`` (the back-office bridge's decisions). Events
written before pseudonyms (v1 of every type) named the subject; they still read (same field names).

``personal`` is the only personal data in these events, in its own nested object so that the store seals it per
author and erasure crypto-shreds it (agora.personal): ``IdeaSubmitted.personal`` holds the author's self-declared
demographics (``birth_year``, ``gender``, ``district``, ``domicile``; ``consent: true`` required with any of them)
and the ``display_name`` the author chose to be shown under (optional); ``CommentPosted.personal`` holds the
``display_name`` only. Null when nothing was given. v1 → v2: ``IdeaSubmitted`` v1's ``personal`` is a valid v2
``personal`` (no display name); ``CommentPosted`` v1 gains ``personal: null``.

``IdeaStatusChanged.decision`` is true when ``to`` is a decision status (accepted, rejected, implemented): those
are what the back-office bridge exports. ``IdeaMerged``: the merged idea ``idea_id`` gets status ``merged`` and
points to ``survivor_id``; its votes follow the survivor (the votes service subscribes to IdeaMerged).
"""
from __future__ import annotations

import datetime as _dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from agora.events import register, upcaster

PHASE_KINDS = ("ideation", "voting", "budgeting")
GENDERS = ("female", "male", "non_binary", "other", "prefer_not_to_say")
TARGET_TYPES = ("idea", "comment")
DECISION_STATUSES = ("accepted", "rejected", "implemented")
TITLE_MAX = 200
BODY_MAX = 10_000
COMMENT_MAX = 5_000
REASON_MAX = 1_000
FEEDBACK_MAX = 10_000
STATUS_RE = r"^[a-z][a-z0-9_]{0,31}$"


def parse_instant(value) -> _dt.datetime:
    """ISO 8601 date or date-time → aware UTC datetime (naive values are taken as UTC; a date is its midnight)."""
    if isinstance(value, _dt.datetime):
        dt = value
    elif isinstance(value, _dt.date):
        dt = _dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("not an ISO 8601 date or date-time") from None
    else:
        raise ValidationError("not an ISO 8601 date or date-time")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return dt.astimezone(_dt.timezone.utc)


def format_instant(dt: _dt.datetime) -> str:
    return dt.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


class Instant(fields.String):
    """An instant: accepts an ISO 8601 date or date-time, stores ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (UTC)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_instant(value)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return format_instant(parse_instant(value))


class Location(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))


class Personal(Schema):
    """Self-declared demographics (personal data: crypto-shreddable). ``IdeaSubmitted`` v1."""
    birth_year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1900, 2100))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    domicile = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    consent = fields.Boolean(required=True, validate=validate.Equal(True, error="consent must be true"))


DEMOGRAPHICS = ("birth_year", "gender", "district", "domicile")
DISPLAY_NAME_MAX = 50


class PersonalV2(Schema):
    """The author's personal part (crypto-shreddable): self-declared demographics (with ``consent: true``) and the
    display name they chose. ``IdeaSubmitted`` v2."""
    birth_year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1900, 2100))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    domicile = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    consent = fields.Boolean(load_default=None, allow_none=True)
    display_name = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=DISPLAY_NAME_MAX))

    @validates_schema
    def _consent(self, data, **kwargs):
        if any(data.get(k) is not None for k in DEMOGRAPHICS) and data.get("consent") is not True:
            raise ValidationError("consent must be true when demographics are recorded", "consent")


class CommentPersonal(Schema):
    """A comment author's personal part: the display name they chose. ``CommentPosted`` v2."""
    display_name = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=DISPLAY_NAME_MAX))


_id = lambda **kw: fields.String(required=True, validate=validate.Length(min=1, max=100), **kw)  # noqa: E731
_sub = lambda: fields.String(required=True, validate=validate.Length(min=1, max=200))  # noqa: E731
_lang = lambda: fields.String(required=True, validate=validate.Length(min=2, max=16))  # noqa: E731
_status = lambda **kw: fields.String(validate=validate.Regexp(STATUS_RE), **kw)  # noqa: E731


@register("ProjectCreated", 1, "ideas")
class ProjectCreatedV1(Schema):
    project_id = _id()
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    description = fields.String(load_default="", validate=validate.Length(max=BODY_MAX))
    language = _lang()
    created_by = _sub()
    workflow = fields.Dict(keys=fields.String(validate=validate.Regexp(STATUS_RE)),
                           values=fields.List(fields.String(validate=validate.Regexp(STATUS_RE))), required=True)


class _PhaseFields(Schema):
    project_id = _id()
    phase_id = _id()
    kind = fields.String(required=True, validate=validate.OneOf(PHASE_KINDS))
    title = fields.String(load_default="", validate=validate.Length(max=TITLE_MAX))
    start = Instant(required=True)
    end = Instant(required=True)


@register("PhaseAdded", 1, "ideas")
class PhaseAddedV1(_PhaseFields):
    added_by = _sub()


@register("PhaseChanged", 1, "ideas")
class PhaseChangedV1(_PhaseFields):
    changed_by = _sub()


@register("IdeaSubmitted", 1, "ideas")
class IdeaSubmittedV1(Schema):
    idea_id = _id()
    project_id = _id()
    phase_id = _id()
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    body = fields.String(required=True, validate=validate.Length(min=1, max=BODY_MAX))
    language = _lang()
    author = _sub()
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list,
                       validate=validate.Length(max=10))
    location = fields.Nested(Location, load_default=None, allow_none=True)
    status = _status(required=True)
    personal = fields.Nested(Personal, load_default=None, allow_none=True)


@register("IdeaSubmitted", 2, "ideas")
class IdeaSubmittedV2(IdeaSubmittedV1):
    """v2: ``author`` is a pseudonym; ``personal`` may hold the author's ``display_name``."""
    personal = fields.Nested(PersonalV2, load_default=None, allow_none=True)


@upcaster("IdeaSubmitted", 1)
def _idea_submitted_v1_to_v2(data: dict) -> dict:
    return data          # a v1 personal part (demographics + consent) is a valid v2 one


@register("IdeaEdited", 1, "ideas")
class IdeaEditedV1(Schema):
    idea_id = _id()
    project_id = _id()
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    body = fields.String(required=True, validate=validate.Length(min=1, max=BODY_MAX))
    language = _lang()
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list,
                       validate=validate.Length(max=10))
    location = fields.Nested(Location, load_default=None, allow_none=True)
    edited_by = _sub()


@register("IdeaWithdrawn", 1, "ideas")
class IdeaWithdrawnV1(Schema):
    idea_id = _id()
    project_id = _id()
    from_status = _status(required=True)
    withdrawn_by = _sub()
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_MAX))


@register("IdeaStatusChanged", 1, "ideas")
class IdeaStatusChangedV1(Schema):
    idea_id = _id()
    project_id = _id()
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    from_ = _status(required=True, data_key="from")
    to = _status(required=True)
    decision = fields.Boolean(required=True)
    feedback = fields.String(load_default="", validate=validate.Length(max=FEEDBACK_MAX))
    feedback_language = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=2, max=16))
    decided_by = _sub()


@register("IdeaMerged", 1, "ideas")
class IdeaMergedV1(Schema):
    idea_id = _id()
    project_id = _id()
    survivor_id = _id()
    from_status = _status(required=True)
    merged_by = _sub()
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_MAX))


@register("CommentPosted", 1, "ideas")
class CommentPostedV1(Schema):
    comment_id = _id()
    idea_id = _id()
    project_id = _id()
    parent_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    body = fields.String(required=True, validate=validate.Length(min=1, max=COMMENT_MAX))
    language = _lang()
    author = _sub()


@register("CommentPosted", 2, "ideas")
class CommentPostedV2(CommentPostedV1):
    """v2: ``author`` is a pseudonym; ``personal`` (sealed per author) holds the ``display_name`` they chose."""
    personal = fields.Nested(CommentPersonal, load_default=None, allow_none=True)


@upcaster("CommentPosted", 1)
def _comment_posted_v1_to_v2(data: dict) -> dict:
    data.setdefault("personal", None)
    return data


class _TargetFields(Schema):
    target_type = fields.String(required=True, validate=validate.OneOf(TARGET_TYPES))
    target_id = _id()
    idea_id = _id()
    project_id = _id()
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_MAX))


@register("ContentFlagged", 1, "ideas")
class ContentFlaggedV1(_TargetFields):
    flagged_by = _sub()


@register("ContentHidden", 1, "ideas")
class ContentHiddenV1(_TargetFields):
    moderator = _sub()


@register("ContentRestored", 1, "ideas")
class ContentRestoredV1(_TargetFields):
    moderator = _sub()


@register("FlagsDismissed", 1, "ideas")
class FlagsDismissedV1(_TargetFields):
    """A moderator looked at the flags of an idea or comment and left it as it is: out of the moderation queue
    (until it is flagged again). ``flags`` = how many flags it had then."""
    moderator = _sub()
    flags = fields.Integer(required=True, validate=validate.Range(min=1))
