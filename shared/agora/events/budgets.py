"""Event contracts of the budgets service (exchange ``budgets.events``; routing key = event type).

Streams (short on purpose: the store reads a stream with one index range query):

* ``round-{round_id}`` -- the round's lifecycle and its projects: RoundOpened, ProjectAdded*, RoundClosed,
  OutcomeComputed* (one per count; the last one is the outcome).
* ``ballot-{round_id}-{voter_id}`` -- ONE voter's ballot in one round (``voter_id``: the voter's pseudonym, never
  the identity provider's subject; the file's voter id for an imported ballot): BallotCast, BallotReplaced*,
  BallotWithdrawn (then possibly BallotCast again). One stream per ballot keeps a 100k-ballot round cheap to
  vote in: a casting citizen's command reads the round stream and their own ballot stream only, and the
  store's expected-version check makes "one ballot per voter and round" hold under concurrency.

| type | stream | data |
|---|---|---|
| RoundOpened v1 | round-* | round_id, tenant_id, project_id, district, budget, currency, ballot_type, constraints, rule, title, opened_by, source, pabulib_meta, at |
| ProjectAdded v1 | round-* | round_id, id, cost, title, attributes (strings; ``idea_id`` when the project is an accepted idea), added_by, at |
| BallotCast v1 | ballot-* | round_id, voter, voter_id, ballot {projects: [ids, ballot order], points: [int] or null}, personal, at |
| BallotReplaced v1 | ballot-* | same as BallotCast (the voter's previous ballot is discarded) |
| BallotWithdrawn v1 | ballot-* | round_id, voter, voter_id, at |
| RoundClosed v1 | round-* | round_id, ballots (ballots counted when it closed), closed_by, at |
| OutcomeComputed v1 | round-* | round_id, rule, tie_breaking [criteria], selected [ids, selection order], total_cost, budget, currency, ballots, projects [{id, cost, votes, score, selected, mes}], details, computed_by, at |

Conventions

* Amounts (``budget``, ``cost``, ``total_cost``, ``max_total_cost``) are exact decimal strings (``"4000"``,
  ``"12.5"``), never floats. Computed values (``score``, MES ``rho``/payments, ``details.voter_budget``) are
  exact too: a decimal string, or ``"p/q"`` when the exact value is not a finite decimal (e.g. ``"1000/3"``).
* ``voter`` names the person (the owner of ``personal`` for crypto-shredding, see agora.personal): a citizen's
  tenant-scoped pseudonym (``store.person_id(tenant, sub)``, deleted with the person's key on erasure), or
  ``pabulib:{round_id}:{voter_id}`` for an imported ballot; ``voter_id`` is the ballot's voter id within the round
  (the same pseudonym for a live ballot, the ``.pb`` file's voter id for an imported one). Consumers identify a
  ballot by ``(round_id, voter_id)``. ``opened_by``, ``added_by``, ``closed_by`` and ``computed_by`` are
  pseudonyms too. The shape is unchanged from the first version, so there is no v2: events written before
  pseudonyms named the subject in these fields (``store.erase_subject`` also forgets the key held under the
  subject, and the budgets read models drop a person's identifier on ``PersonalDataForgotten``).
* ``personal`` is the demographics the voter gave *with this ballot*, with consent (``birth_year``, ``age``,
  ``gender``, ``district``; each may be null; never copied from another action) or null -- the only personal
  data in these events, in its own nested object. Read back after ``forget`` it is null (``personal_shredded``: true).
* A ballot event whose global position is after the round's RoundClosed (a cast racing the close) is not
  counted: the count takes the ballots with positions below RoundClosed's.
* ``OutcomeComputed.projects[].mes`` (MES rules only) explains a decision: ``{rho, max_payment, payments:
  [[amount, voters], ...]}`` for a funded project, ``{supporters_budget_left, reason}`` for an unfunded one.
"""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from agora.events import register

BALLOT_TYPES = ("knapsack", "approval", "choose-1", "cumulative", "scoring", "ordinal")
RULES = ("greedy", "greedy-stop", "greedy-threshold", "mes", "mes-add1", "mes-exhaust", "phragmen")
SOURCES = ("live", "pabulib")

DECIMAL_RE = re.compile(r"^\d+(\.\d+)?$")
EXACT_RE = re.compile(r"^-?\d+(\.\d+)?(/\d+)?$")

_id = lambda **kw: fields.String(required=True, validate=validate.Length(min=1, max=200), **kw)  # noqa: E731
_at = lambda: fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))  # noqa: E731
_by = lambda: fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))  # noqa: E731


class Amount(fields.String):
    """An exact non-negative decimal string such as ``"4000"`` or ``"12.5"`` (money: never a float)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str) or not DECIMAL_RE.match(value):
            raise ValidationError("must be an exact decimal string such as \"4000\" or \"12.5\"")
        return value


class Exact(fields.String):
    """An exact number as text: a decimal string, or ``"p/q"`` when it is not a finite decimal."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str) or not EXACT_RE.match(value):
            raise ValidationError("must be an exact number (decimal string or \"p/q\")")
        return value


class TieBreaking(fields.Field):
    """Tie-breaking criteria, best first: a list of strings (a comma-separated string is accepted too)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise ValidationError("must be a list of criteria such as [\"cost\", \"votes\", \"id\"]")
        return list(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else list(value)


class BallotPersonal(Schema):
    """The voter's consented demographics snapshot (personal data: crypto-shreddable)."""
    birth_year = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1900, 2100))
    age = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 150))
    gender = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=50))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class BallotBody(Schema):
    projects = fields.List(fields.String(validate=validate.Length(min=1, max=200)), required=True,
                           validate=validate.Length(min=1, max=10_000))
    points = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)), load_default=None,
                         allow_none=True)

    @validates_schema
    def _parallel(self, data, **kwargs):
        if data.get("points") is not None and len(data["points"]) != len(data["projects"]):
            raise ValidationError("points must be parallel to projects", "points")


@register("RoundOpened", 1, "budgets")
class RoundOpenedV1(Schema):
    round_id = _id()
    tenant_id = _id()
    project_id = _id()
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    budget = Amount(required=True)
    currency = fields.String(load_default="", validate=validate.Length(max=16))
    ballot_type = fields.String(required=True, validate=validate.OneOf(BALLOT_TYPES))
    constraints = fields.Dict(keys=fields.String(), load_default=dict)
    rule = fields.String(load_default="greedy", validate=validate.OneOf(RULES))
    title = fields.String(load_default="", validate=validate.Length(max=500))
    opened_by = _by()
    source = fields.String(load_default="live", validate=validate.OneOf(SOURCES))
    pabulib_meta = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None, allow_none=True)
    at = _at()


@register("ProjectAdded", 1, "budgets")
class ProjectAddedV1(Schema):
    round_id = _id()
    id = _id()
    cost = Amount(required=True)
    title = fields.String(load_default="", validate=validate.Length(max=2000))
    attributes = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    added_by = _by()
    at = _at()


class _BallotFields(Schema):
    round_id = _id()
    voter = _id()
    voter_id = _id()
    at = _at()


@register("BallotCast", 1, "budgets")
class BallotCastV1(_BallotFields):
    ballot = fields.Nested(BallotBody, required=True)
    personal = fields.Nested(BallotPersonal, load_default=None, allow_none=True)


@register("BallotReplaced", 1, "budgets")
class BallotReplacedV1(BallotCastV1):
    pass


@register("BallotWithdrawn", 1, "budgets")
class BallotWithdrawnV1(_BallotFields):
    pass


@register("RoundClosed", 1, "budgets")
class RoundClosedV1(Schema):
    round_id = _id()
    ballots = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    closed_by = _by()
    at = _at()


class ProjectResult(Schema):
    id = _id()
    cost = Amount(required=True)
    votes = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    score = Exact(load_default=None, allow_none=True)
    selected = fields.Boolean(required=True)
    mes = fields.Dict(load_default=None, allow_none=True)


@register("OutcomeComputed", 1, "budgets")
class OutcomeComputedV1(Schema):
    round_id = _id()
    rule = fields.String(required=True, validate=validate.OneOf(RULES))
    tie_breaking = TieBreaking(load_default=list)
    selected = fields.List(fields.String(), required=True)
    total_cost = Amount(required=True)
    budget = Amount(required=True)
    currency = fields.String(load_default="", validate=validate.Length(max=16))
    ballots = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0))
    projects = fields.List(fields.Nested(ProjectResult), load_default=list)
    details = fields.Dict(load_default=dict)
    computed_by = _by()
    at = _at()
