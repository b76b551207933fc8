"""HTTP request/response schemas (marshmallow 4) of the ideas API; also used to build the OpenAPI document.

Unknown fields are refused (422) so that a typo never silently drops input.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from agora.events.ideas import (BODY_MAX, COMMENT_MAX, DISPLAY_NAME_MAX, FEEDBACK_MAX, GENDERS, PHASE_KINDS,
                                REASON_MAX, TITLE_MAX, Instant, Location)

STATUS = validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$", error="a status name ([a-z][a-z0-9_]*)")
_text = lambda n, **kw: fields.String(validate=validate.Length(min=1, max=n), **kw)  # noqa: E731
_lang = lambda: fields.String(load_default=None, allow_none=True, validate=validate.Length(min=2, max=16))  # noqa
_display_name = lambda: fields.String(  # noqa: E731
    load_default=None, allow_none=True, validate=validate.Length(min=1, max=DISPLAY_NAME_MAX),
    metadata={"description": "the name shown with your post (default: \"citizen\"); personal data, erased with you"})


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PhaseIn(_Strict):
    kind = fields.String(required=True, validate=validate.OneOf(PHASE_KINDS))
    title = fields.String(load_default="", validate=validate.Length(max=TITLE_MAX))
    start = Instant(required=True, metadata={"description": "ISO 8601 date or date-time (UTC if no offset)"})
    end = Instant(required=True)

    @validates_schema
    def _order(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("must be after start", "end")


class PhaseChangeIn(_Strict):
    kind = fields.String(validate=validate.OneOf(PHASE_KINDS))
    title = fields.String(validate=validate.Length(max=TITLE_MAX))
    start = Instant()
    end = Instant()


class ProjectCreateIn(_Strict):
    title = _text(TITLE_MAX, required=True)
    description = fields.String(load_default="", validate=validate.Length(max=BODY_MAX))
    language = _lang()
    phases = fields.List(fields.Nested(PhaseIn), load_default=list, validate=validate.Length(max=20))
    workflow = fields.Dict(keys=fields.String(validate=STATUS), values=fields.List(fields.String(validate=STATUS)),
                           load_default=None, allow_none=True,
                           metadata={"description": "status → allowed next statuses; default proposed → "
                                                    "under_review → accepted | rejected; accepted → implemented"})


class PhaseOut(Schema):
    phase_id = fields.String()
    kind = fields.String()
    title = fields.String()
    start = fields.String()
    end = fields.String()


class ProjectOut(Schema):
    project_id = fields.String()
    title = fields.String()
    description = fields.String()
    language = fields.String()
    workflow = fields.Dict()
    phases = fields.List(fields.Nested(PhaseOut))
    created_at = fields.String()
    updated_at = fields.String()


class ProjectListOut(Schema):
    items = fields.List(fields.Nested(ProjectOut))


class Demographics(_Strict):
    """Self-declared; stored only with ``consent: true`` (in the events' ``personal`` part)."""
    birth_year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1900, 2100))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    domicile = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    consent = fields.Boolean(load_default=False)

    @validates_schema
    def _consent(self, data, **kwargs):
        given = any(data.get(k) not in (None, "") for k in ("birth_year", "gender", "district", "domicile"))
        if given and data.get("consent") is not True:
            raise ValidationError("consent: true is required to record demographics", "consent")


class IdeaSubmitIn(_Strict):
    project_id = _text(100, required=True)
    title = _text(TITLE_MAX, required=True)
    body = _text(BODY_MAX, required=True)
    language = _lang()
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list,
                       validate=validate.Length(max=10))
    location = fields.Nested(Location, load_default=None, allow_none=True)
    demographics = fields.Nested(Demographics, load_default=None, allow_none=True)
    display_name = _display_name()


class IdeaEditIn(_Strict):
    title = _text(TITLE_MAX)
    body = _text(BODY_MAX)
    language = fields.String(validate=validate.Length(min=2, max=16))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=10))
    location = fields.Nested(Location, allow_none=True)

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give at least one of title, body, language, tags, location")


class WithdrawIn(_Strict):
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_MAX))


class StatusChangeIn(_Strict):
    status = fields.String(required=True, validate=STATUS)
    feedback = fields.String(load_default="", validate=validate.Length(max=FEEDBACK_MAX))
    feedback_language = _lang()


class MergeIn(_Strict):
    into = _text(100, required=True, metadata={"description": "id of the surviving idea"})
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_MAX))


class CommentIn(_Strict):
    body = _text(COMMENT_MAX, required=True)
    parent_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
                              metadata={"description": "reply to this comment (of the same idea)"})
    language = _lang()
    display_name = _display_name()


class FlagIn(_Strict):
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_MAX))


class ModerationIn(_Strict):
    action = fields.String(required=True, validate=validate.OneOf(["hide", "restore", "dismiss"]),
                           metadata={"description": "hide, restore, or dismiss the flags (out of the queue)"})
    reason = _text(REASON_MAX, required=True)


class QueueQuery(_Strict):
    project_id = fields.String(validate=validate.Length(min=1, max=100))
    state = fields.String(load_default="open", validate=validate.OneOf(["open", "hidden", "done"]),
                          metadata={"description": "open: flags nobody handled yet; hidden: hidden by a "
                                                   "moderator (restorable); done: dismissed or restored"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(validate=validate.Length(min=1, max=2000), metadata={"description": "opaque"})


class FlagReason(Schema):
    reason = fields.String()
    count = fields.Integer()


class QueueItem(Schema):
    target_type = fields.String()
    target_id = fields.String()
    idea_id = fields.String()
    project_id = fields.String()
    source = fields.String(metadata={"description": "flags (citizens flagged it) or junk (the analytics filter)"})
    state = fields.String()
    hidden = fields.Boolean()
    flag_count = fields.Integer()
    open_flags = fields.Integer(metadata={"description": "flags since it was last handled"})
    reasons = fields.List(fields.Nested(FlagReason))
    first_flagged_at = fields.String(allow_none=True)
    last_flagged_at = fields.String(allow_none=True)
    idea_title = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    author_name = fields.String()


class QueueOut(Schema):
    items = fields.List(fields.Nested(QueueItem))
    next_cursor = fields.String(allow_none=True)


class ErasureIn(_Strict):
    person = fields.String(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "the subject (sub) of the person's tokens at the identity "
                                                    "provider"})
    reason = _text(1000, required=True)


class ErasureOut(Schema):
    person = fields.String(allow_none=True, metadata={
        "description": "the pseudonym under which the erasure was recorded; null when this tenant never saw them"})


class IdeaListQuery(_Strict):
    project_id = fields.String(validate=validate.Length(min=1, max=100))
    phase_id = fields.String(validate=validate.Length(min=1, max=100))
    status = fields.String(validate=STATUS, metadata={"description": "default: every status but withdrawn/merged"})
    tag = fields.String(validate=validate.Length(min=1, max=50))
    text = fields.String(validate=validate.Length(min=1, max=200))
    sort = fields.String(load_default="new", validate=validate.OneOf(["new", "most_voted", "trending"]))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Length(min=1, max=2000), metadata={"description": "opaque"})
    include_hidden = fields.Boolean(load_default=False, metadata={"description": "moderators and admins only"})


class CountsQuery(_Strict):
    project_id = fields.String(validate=validate.Length(min=1, max=100))


class SimilarQuery(_Strict):
    text = _text(BODY_MAX, required=True)
    project_id = fields.String(validate=validate.Length(min=1, max=100),
                               metadata={"description": "default: every project of the tenant"})
    language = fields.String(validate=validate.Length(min=2, max=16))
    limit = fields.Integer(load_default=5, validate=validate.Range(1, 20))


class IdeaOut(Schema):
    idea_id = fields.String()
    project_id = fields.String()
    phase_id = fields.String()
    title = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    language = fields.String()
    author_name = fields.String(metadata={"description": "the name the author chose, or \"citizen\""})
    tags = fields.List(fields.String())
    location = fields.Nested(Location, allow_none=True)
    status = fields.String()
    feedback = fields.String()
    feedback_language = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    hidden = fields.Boolean()
    moderation_reason = fields.String(metadata={"description": "why a moderator last hid or restored it"})
    merged_into = fields.String(allow_none=True)
    merged_from = fields.List(fields.String())
    flag_count = fields.Integer()
    comment_count = fields.Integer()
    votes_up = fields.Integer(metadata={"description": "up reactions + paper votes + those of merged ideas"})
    votes_down = fields.Integer()
    manual_up = fields.Integer(metadata={"description": "paper votes (up) entered for this idea"})
    manual_down = fields.Integer()
    trending_score = fields.Float(metadata={"description": "with sort=trending only"})
    submitted_at = fields.String()
    updated_at = fields.String()
    version = fields.Integer()


class IdeaListOut(Schema):
    items = fields.List(fields.Nested(IdeaOut))
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as ?cursor= for the next page"})
    sort = fields.String()


class CommentOut(Schema):
    comment_id = fields.String()
    parent_id = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    language = fields.String()
    author_name = fields.String()
    hidden = fields.Boolean()
    moderation_reason = fields.String()
    flag_count = fields.Integer()
    votes_up = fields.Integer()
    votes_down = fields.Integer()
    created_at = fields.String()
    replies = fields.List(fields.Dict(), metadata={"description": "nested comments (same shape)"})


class IdeaDetailOut(IdeaOut):
    comments = fields.List(fields.Nested(CommentOut))


class SimilarOut(Schema):
    idea_id = fields.String()
    title = fields.String()
    status = fields.String()
    votes_up = fields.Integer()
    score = fields.Float()


class SimilarListOut(Schema):
    items = fields.List(fields.Nested(SimilarOut))


class CountsOut(Schema):
    project_id = fields.String(allow_none=True)
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class CommandOut(Schema):
    """Result of a command: the ids and the stream version after it."""
    project_id = fields.String()
    idea_id = fields.String()
    comment_id = fields.String()
    parent_id = fields.String(allow_none=True)
    phase_id = fields.String()
    phase_ids = fields.List(fields.String(), metadata={"description": "ids of the phases created with a project"})
    survivor_id = fields.String()
    status = fields.String()
    target_type = fields.String()
    target_id = fields.String()
    action = fields.String()
    version = fields.Integer()
    position = fields.Integer(metadata={"description": "global store position of the last appended event"})
    events = fields.List(fields.String(), metadata={"description": "types of the appended events"})


class SubmitOut(CommandOut):
    similar = fields.List(fields.Nested(SimilarOut))
