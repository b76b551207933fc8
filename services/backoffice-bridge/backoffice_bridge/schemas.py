"""marshmallow schema of a Decision (the JSON shape back-offices and the event backbone exchange).

Required fields: ``id, tenant, kind, title, language, decided_by{id, name}, decided_on, outcome, subjects[≥1]
{type, id, title, url}``. Everything else is optional; see the package README for the full table.
Unknown keys are ignored (EXCLUDE) so that producers can add fields without breaking the bridge.

Use :func:`load_decision` (raises :class:`DecisionInvalid` listing every failing field as a dotted path) or
``DecisionSchema().load(data)`` directly (raises marshmallow's ``ValidationError``). ``DecisionSchema().dump
(decision)`` gives the JSON-ready dict back (dates as ISO strings, amounts as strings).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from backoffice_bridge import domain

ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$"
TENANT_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
# BCP 47 (simplified: language[-script][-region][-variant…])
LANGUAGE_RE = r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$"
# XML 1.0 cannot carry these (and lone surrogates cannot be encoded as UTF-8): reject them at the door
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

MAX_TITLE = 2_000
MAX_TEXT = 1_000_000


def _clean_text(value: str) -> None:
    m = _FORBIDDEN.search(value)
    if m:
        raise ValidationError(f"contains a control character or lone surrogate (U+{ord(m.group()):04X}) "
                              "that XML 1.0 cannot carry")


def _nonblank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _non_negative(value) -> None:
    if value < 0:
        raise ValidationError("must be greater than or equal to 0")


def Text(required: bool = False, max_len: int = MAX_TEXT, allow_none: bool = False, **kw: Any) -> fields.String:
    validators = [validate.Length(min=1, max=max_len), _clean_text]
    if required:
        validators.append(_nonblank)
    return fields.String(required=required, allow_none=allow_none, validate=validators, **kw)


def Ident(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=validate.Regexp(ID_RE, error="must match {regex}"))


class _Base(Schema):
    """An empty (or blank) string in an optional field means "none": null where the field allows it, otherwise the
    field's default (back offices send ``"description": ""`` for "no description")."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _empty_means_none(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for name, field_ in self.load_fields.items():
            key = field_.data_key or name
            value = out.get(key)
            if not field_.required and isinstance(value, str) and not value.strip():
                if field_.allow_none:
                    out[key] = None
                else:
                    del out[key]
        return out


class PersonSchema(_Base):
    id = Ident()
    name = Text(max_len=MAX_TITLE, allow_none=True)

    @post_load
    def make(self, data: dict, **_: Any) -> domain.Person:
        return domain.Person(**data)


class AdministrativeUnitSchema(_Base):
    id = Ident()
    name = Text(required=True, max_len=MAX_TITLE)
    classification = Text(max_len=MAX_TITLE, load_default="municipality")

    @post_load
    def make(self, data: dict, **_: Any) -> domain.AdministrativeUnit:
        return domain.AdministrativeUnit(**data)


class BodySchema(_Base):
    id = Ident()
    name = Text(required=True, max_len=MAX_TITLE)
    #: a code of our own list (``council``, ``college``…) or an absolute concept IRI
    classification = Text(max_len=MAX_TITLE, load_default="council")
    administrative_unit = fields.Nested(AdministrativeUnitSchema, load_default=None, allow_none=True)

    @post_load
    def make(self, data: dict, **_: Any) -> domain.Body:
        return domain.Body(**data)


class SessionSchema(_Base):
    id = Ident()
    planned_start = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(required=True)
    ended_at = fields.AwareDateTime(required=True)
    chair = fields.Nested(PersonSchema, load_default=None, allow_none=True)
    secretary = fields.Nested(PersonSchema, load_default=None, allow_none=True)
    location = Text(max_len=MAX_TITLE, load_default=None, allow_none=True)

    @validates_schema
    def _order(self, data: dict, **_: Any) -> None:
        if data["ended_at"] < data["started_at"]:
            raise ValidationError("must not be before started_at", "ended_at")

    @post_load
    def make(self, data: dict, **_: Any) -> domain.Session:
        return domain.Session(**data)


class SubjectSchema(_Base):
    type = fields.String(required=True, validate=validate.OneOf(domain.SUBJECT_TYPES))
    id = Ident()
    title = Text(required=True, max_len=MAX_TITLE)
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    amount = fields.Decimal(load_default=None, allow_none=True, as_string=True, validate=_non_negative)
    #: documented as what it is on the wire: a decimal string (agora.web reads a field's ``openapi`` dict)
    amount.openapi = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "nullable": True}
    currency = fields.String(load_default=None, allow_none=True,
                             validate=validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code"))

    @validates_schema
    def _currency(self, data: dict, **_: Any) -> None:
        if data.get("amount") is not None and not data.get("currency"):
            raise ValidationError("required when amount is given", "currency")

    @post_load
    def make(self, data: dict, **_: Any) -> domain.Subject:
        return domain.Subject(**data)


class VotesSchema(_Base):
    for_ = fields.Integer(required=True, data_key="for", strict=True, validate=validate.Range(min=0))
    against = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    abstain = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    secret = fields.Boolean(load_default=False)

    @post_load
    def make(self, data: dict, **_: Any) -> domain.Votes:
        return domain.Votes(**data)


class DecisionSchema(_Base):
    id = Ident()
    tenant = fields.String(required=True, validate=validate.Regexp(TENANT_RE, error="must be a DNS label"))
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    title = Text(required=True, max_len=MAX_TITLE)
    description = Text(load_default=None, allow_none=True)
    motivation = Text(load_default=None, allow_none=True)
    language = fields.String(required=True, validate=validate.Regexp(LANGUAGE_RE, error="must be a BCP 47 tag"))
    decided_by = fields.Nested(BodySchema, required=True)
    session = fields.Nested(SessionSchema, load_default=None, allow_none=True)
    decided_on = fields.Date(required=True)
    published_on = fields.Date(load_default=None, allow_none=True)
    outcome = fields.String(required=True, validate=validate.OneOf(domain.OUTCOMES))
    subjects = fields.List(fields.Nested(SubjectSchema), required=True, validate=validate.Length(min=1, max=1000))
    votes = fields.Nested(VotesSchema, load_default=None, allow_none=True)
    #: mandataries present when the agenda item was treated (OSLO besluit:heeftAanwezige)
    attendees = fields.List(fields.Nested(PersonSchema), load_default=list, validate=validate.Length(max=1000))
    #: whether the agenda item was treated in public (OSLO besluit:openbaar / besluit:geplandOpenbaar)
    public = fields.Boolean(load_default=True)

    @validates_schema
    def _consistency(self, data: dict, **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("outcome") == "allocated" and data.get("kind") != "budget_outcome":
            errors.setdefault("outcome", []).append("'allocated' is only valid for kind 'budget_outcome'")
        pub, dec = data.get("published_on"), data.get("decided_on")
        if pub and dec and pub < dec:
            errors.setdefault("published_on", []).append("must not be before decided_on")
        subjects = data.get("subjects") or []
        keys = [(s.type, s.id) for s in subjects]
        if len(set(keys)) != len(keys):
            errors.setdefault("subjects", []).append("duplicate subject (type, id)")
        if errors:
            raise ValidationError(errors)

    @post_load
    def make(self, data: dict, **_: Any) -> domain.Decision:
        data["subjects"] = tuple(data["subjects"])
        data["attendees"] = tuple(data.get("attendees") or ())
        return domain.Decision(**data)


# ------------------------------------------------------------------------------------------ convenience API
class DecisionInvalid(ValueError):
    """A decision document failed validation; ``fields`` maps dotted paths to messages."""

    def __init__(self, fields_: Mapping[str, list[str]]):
        self.fields = dict(fields_)
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(self.fields.items()))
        super().__init__(f"invalid decision: {detail}")


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested ``messages`` -> ``{"session.started_at": [...], "subjects.0.url": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k or "_schema", []).extend(v)
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            if isinstance(item, (Mapping, list, tuple)):
                for k, v in flatten_errors(item, prefix).items():
                    out.setdefault(k, []).extend(v)
            else:
                out.setdefault(prefix or "_schema", []).append(str(item))
    else:
        out.setdefault(prefix or "_schema", []).append(str(messages))
    return out


def load_decision(data: Any) -> domain.Decision:
    """Validate a JSON-decoded decision and build the :class:`~backoffice_bridge.domain.Decision`."""
    if not isinstance(data, Mapping):
        raise DecisionInvalid({"_schema": [f"a decision must be a JSON object, not {type(data).__name__}"]})
    try:
        return DecisionSchema().load(data)
    except ValidationError as exc:
        raise DecisionInvalid(flatten_errors(exc.messages)) from None


def dump_decision(decision: domain.Decision) -> dict:
    """The JSON-ready dict of a decision (inverse of :func:`load_decision`)."""
    return DecisionSchema().dump(decision)
