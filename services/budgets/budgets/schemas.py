"""HTTP request/response schemas of the budgets service (marshmallow 4).

Input schemas collect EVERY problem before answering (a 422 names each violated field / constraint), including
the cross-field rules of a round (constraints that do not apply to the ballot type, min above max, ...).
"""
from __future__ import annotations

from fractions import Fraction

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from agora.events.votes import GENDERS
from budgets.domain import BALLOT_TYPES, CONSTRAINT_KEYS
from budgets.instance import format_amount, to_fraction
from budgets.ranking import TIE_BREAK_CRITERIA
from budgets.rules import RULES

ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_ident = lambda **kw: fields.String(validate=validate.Regexp(ID_RE, error="1-100 letters, digits, _ . : - (no spaces)"),  # noqa: E731
                                    **kw)
COUNT_KEYS = {"min_projects", "max_projects", "max_points_per_project", "min_points_per_project", "max_total_points",
              "min_total_points"}


class AmountField(fields.Field):
    """Money in: an integer or an exact decimal string (``"12.5"``); floats are refused. Out: the canonical string."""

    def __init__(self, positive: bool = True, **kw):
        super().__init__(**kw)
        self.positive = positive
        self.metadata.setdefault("description", "exact decimal string, e.g. \"4000\" or \"12.5\"")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
            raise ValidationError("must be an integer or an exact decimal string such as \"12.5\" (no floats)")
        try:
            amount = to_fraction(value)
        except ValueError:
            raise ValidationError(f"{value!r} is not a number") from None
        text = format_amount(amount)
        if "/" in text:
            raise ValidationError("must be a finite decimal")
        if amount < 0 or (self.positive and amount == 0):
            raise ValidationError("must be positive" if self.positive else "must not be negative")
        return text

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


AmountField.openapi = {"type": "string", "pattern": r"^\d+(\.\d+)?$"}


class RoundIn(Schema):
    round_id = _ident(load_default=None, metadata={"description": "optional; generated when absent"})
    project_id = _ident(required=True, metadata={"description": "the Agora project (participatory process)"})
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    title = fields.String(load_default="", validate=validate.Length(max=500))
    budget = AmountField(required=True)
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="ISO 4217 code, e.g. EUR"))
    ballot_type = fields.String(required=True, validate=validate.OneOf(BALLOT_TYPES))
    constraints = fields.Dict(keys=fields.String(), load_default=dict)
    rule = fields.String(load_default="greedy", validate=validate.OneOf(RULES))

    @validates_schema(skip_on_field_errors=False)
    def _constraints(self, data, **kwargs):
        ballot_type, c = data.get("ballot_type"), data.get("constraints")
        if ballot_type not in CONSTRAINT_KEYS or not isinstance(c, dict):
            return
        errors: list[str] = []
        unknown = sorted(set(c) - CONSTRAINT_KEYS[ballot_type])
        for key in unknown:
            errors.append(f"{key}: does not apply to {ballot_type} ballots (allowed: "
                          f"{', '.join(sorted(CONSTRAINT_KEYS[ballot_type])) or 'none'})")
        clean = {}
        for key in sorted(set(c) & CONSTRAINT_KEYS[ballot_type]):
            value = c[key]
            if key in COUNT_KEYS:
                if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key.startswith("min") else 1):
                    errors.append(f"{key}: must be an integer >= {0 if key.startswith('min') else 1}")
                    continue
                clean[key] = value
            elif key == "max_total_cost":
                try:
                    clean[key] = AmountField()._deserialize(value, key, c)
                except ValidationError as err:
                    errors.append(f"{key}: {err.messages[0]}")
            elif key == "min_total_share_percent":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                    errors.append(f"{key}: must be an integer between 0 and 100")
                else:
                    clean[key] = value
        for low, high in (("min_projects", "max_projects"), ("min_points_per_project", "max_points_per_project"),
                          ("min_total_points", "max_total_points")):
            if low in clean and high in clean and clean[low] > clean[high]:
                errors.append(f"{low} ({clean[low]}) is above {high} ({clean[high]})")
        budget = data.get("budget")
        if "max_total_cost" in clean and budget is not None and Fraction(clean["max_total_cost"]) > Fraction(budget):
            errors.append(f"max_total_cost ({clean['max_total_cost']}) is above the budget ({budget})")
        if errors:
            raise ValidationError(errors, "constraints")
        data["constraints"] = clean


class ProjectIn(Schema):
    id = _ident(load_default=None, metadata={"description": "optional; the idea id or a generated id when absent"})
    cost = AmountField(required=True, metadata={"description": "always required (ideas carry no cost): exact "
                                                               "decimal string, e.g. \"4000\" or \"12.5\""})
    title = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=2000))
    idea_id = _ident(load_default=None, allow_none=True,
                     metadata={"description": "an accepted idea (see GET .../candidates) to put on the ballot, "
                                              "with its cost; its title is used unless a title is given"})
    attributes = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)),
                             values=fields.String(validate=validate.Length(max=2000)), load_default=dict)

    @validates_schema(skip_on_field_errors=False)
    def _title_or_idea(self, data, **kwargs):
        if not data.get("title") and not data.get("idea_id"):
            raise ValidationError("give a title, or an idea_id whose title is used", "title")


class PersonalIn(Schema):
    """Demographics given with this ballot (never copied from another action); recorded only with consent."""
    birth_year = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1900, 2100))
    age = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 150))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GENDERS))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    consent = fields.Boolean(required=True, validate=validate.Equal(True, error="consent must be true"))


class Selection(fields.Field):
    """A list of project ids (approval-like, ordinal: best first) or ``{project_id: points}`` (points ballots)."""
    openapi = {"oneOf": [{"type": "array", "items": {"type": "string"}},
                         {"type": "object", "additionalProperties": {"type": "integer"}}],
               "description": "project ids (ordinal: best first) or {project_id: points}"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise ValidationError("project ids must be strings")
            return dict(value)
        if isinstance(value, list):
            if all(isinstance(x, str) for x in value):
                return list(value)
            if all(isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) for x in value):
                return [list(x) for x in value]
        raise ValidationError("a list of project ids, or an object {project_id: points}")


class BallotIn(Schema):
    selection = Selection(required=True)
    personal = fields.Nested(PersonalIn, load_default=None, allow_none=True)


class OutcomeIn(Schema):
    rule = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(RULES),
                         metadata={"description": "default: the round's rule"})
    tie_breaking = fields.List(fields.String(validate=validate.OneOf(TIE_BREAK_CRITERIA)), load_default=None,
                               allow_none=True, validate=validate.Length(min=1, max=5))
    threshold = AmountField(positive=False, load_default=None, allow_none=True,
                            metadata={"description": "minimal score for greedy-threshold"})


class ImportQuery(Schema):
    project_id = _ident(required=True)
    round_id = _ident(load_default=None)
    district = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    title = fields.String(load_default=None, validate=validate.Length(max=500))
    rule = fields.String(load_default=None, validate=validate.OneOf(RULES),
                         metadata={"description": "default: the file's META rule when ours, else greedy"})
    close = fields.Boolean(load_default=True, metadata={"description": "close the round after the ballots"})


class ListQuery(Schema):
    project_id = _ident(load_default=None)
    district = fields.String(load_default=None, validate=validate.Length(min=1, max=200))


class CandidatesQuery(Schema):
    project_id = _ident(load_default=None)
    round_id = _ident(load_default=None, metadata={"description": "leave out ideas already on this round"})


# ------------------------------------------------------------------ responses (documentation)
class ProjectOut(Schema):
    round_id = fields.String()
    id = fields.String()
    cost = fields.String()
    title = fields.String()
    attributes = fields.Dict()
    position = fields.Integer(metadata={"description": "global position of the ProjectAdded event"})


class RoundOut(Schema):
    round_id = fields.String()
    project_id = fields.String()
    district = fields.String(allow_none=True)
    title = fields.String()
    budget = fields.String()
    currency = fields.String()
    ballot_type = fields.String()
    constraints = fields.Dict()
    rule = fields.String()
    status = fields.String()
    source = fields.String()
    projects = fields.List(fields.Nested(ProjectOut))
    ballots = fields.Integer(metadata={"description": "current ballots (projection; eventually consistent)"})
    late_ballots = fields.Integer(metadata={"description": "ballots recorded after the round closed (not counted)"})
    version = fields.Integer()
    outcome = fields.Dict(allow_none=True)
    position = fields.Integer(metadata={"description": "after opening: global position of RoundOpened"})


class CloseOut(Schema):
    round_id = fields.String()
    status = fields.String()
    ballots = fields.Integer(metadata={"description": "ballots counted when the round closed"})
    position = fields.Integer()


class RoundListOut(Schema):
    items = fields.List(fields.Dict())


class BallotOut(Schema):
    result = fields.String(metadata={"description": "cast, replaced, withdrawn or none"})
    round_id = fields.String()
    projects = fields.List(fields.String())
    points = fields.List(fields.Integer(), allow_none=True)
    position = fields.Integer(allow_none=True)
    personal = fields.Dict(allow_none=True, metadata={"description": "GET: the demographics given with the ballot "
                                                                     "(null without consent or after erasure)"})


class OutcomeOut(Schema):
    round_id = fields.String()
    rule = fields.String()
    tie_breaking = fields.List(fields.String())
    selected = fields.List(fields.String())
    total_cost = fields.String()
    budget = fields.String()
    currency = fields.String()
    ballots = fields.Integer()
    projects = fields.List(fields.Dict())
    details = fields.Dict()
    computed_by = fields.String(allow_none=True, metadata={"description": "the counting admin's pseudonym"})
    at = fields.String(allow_none=True)
    position = fields.Integer()


class ProjectExplanationOut(Schema):
    round_id = fields.String()
    project = fields.Dict()
    selected = fields.Boolean()
    rank = fields.Integer()
    explanation = fields.String()
    language = fields.String(metadata={"description": "language of the explanation (the tenant's)"})
    details = fields.Dict()


class CandidatesOut(Schema):
    items = fields.List(fields.Dict())


class ImportOut(Schema):
    round_id = fields.String()
    projects = fields.Integer()
    ballots = fields.Integer()
    status = fields.String()
