"""Budget rounds as a pure event-sourced aggregate (no I/O, no clock, no nameko/pymongo).

    round_ = BudgetRound.from_events(events)              # stored events (or NewEvents): anything with .type/.data
    new = round_.cast_ballot(voter="p-3f…", selection=["p1", "p3"], personal={...}, at=now)   # -> [NewEvent]
    # the application appends ``new`` with the expected version (agora.application.CommandRunner)

Commands never mutate: they return :class:`agora.events.NewEvent` objects whose data is the contract of
``agora.events.budgets`` (the domain speaks the contract's names). Refusals are coded ``agora.errors``:
:class:`~agora.errors.Conflict` with ``details.reason`` (``round_not_open``, ``round_not_closed``,
``round_already_opened``, ``ballots_already_cast``, ``duplicate_project``, ``duplicate_idea``, ``no_ballot``)
for a command that is not possible now, :class:`~agora.errors.ValidationFailed` with ``details.reason``
(``invalid_budget``, ``invalid_cost``, ``threshold_required``) for a value a rule refuses, and
:class:`BallotRejected` (a ValidationFailed whose ``errors`` / ``details.violations`` list every violated
constraint) for an invalid ballot. The request's *shape* (types, ranges, constraint keys of a ballot type, rule
names) is checked by the schemas and the contract, not again here.

Public API
----------
* ``BudgetRound()`` / ``BudgetRound.from_events(events)`` / ``.apply(event)`` / ``.apply_all(events)``
* commands returning ``list[NewEvent]``:
  ``open(round_id, tenant_id, project_id, district, budget, currency, ballot_type, constraints=None,
  rule="greedy", title="", opened_by=None, source="live", pabulib_meta=None, at=None)`` -> [RoundOpened];
  ``add_project(id, cost, title="", attributes=None, added_by=None, at=None)`` -> [ProjectAdded];
  ``cast_ballot(voter, selection, personal=None, voter_id=None, at=None)`` -> [BallotCast] or [BallotReplaced];
  ``withdraw_ballot(voter_id, voter=None, at=None)`` -> [BallotWithdrawn] (only while open);
  ``close(ballots=None, closed_by=None, at=None)`` -> [RoundClosed];
  ``counting_rule(rule=None, threshold=None)`` -> the rule a count uses (closed rounds only);
  ``record_outcome(outcome, ballots=None, computed_by=None, at=None)`` -> [OutcomeComputed] for a
  :class:`budgets.rules.Outcome` (the service counts in a worker process: :mod:`budgets.counting`).
* queries: ``validate_ballot(selection) -> list[BallotError]``, ``ballot(voter_id) -> Ballot | None``,
  ``ballots`` (dict voter_id -> :class:`Ballot`), ``to_instance() -> budgets.instance.Instance``,
  ``status`` (``None`` | ``"open"`` | ``"closed"``), ``projects``, ``outcome`` (last OutcomeComputed data),
  ``version`` (number of events applied).

Ballots live in streams of their own (one per voter and round), so the application rebuilds a round with the
round stream plus the one ballot stream it needs (casting), or plus the projected ballots (counting, export).
A voter is named by ``voter`` (the person's pseudonym, owner of ``personal``) and, within the round, by
``voter_id`` (the same pseudonym for live ballots; the ``.pb`` file's voter id for imported ones).

Ballot types and constraints (``constraints`` dict of RoundOpened; every key optional):

* ``knapsack``   -- approve projects; ``max_total_cost`` (default: the budget) and ``min_total_share_percent``
  (total cost must reach that % of the budget, like Decidim's ``vote_rule_threshold_percent``),
  ``min_projects``, ``max_projects``;
* ``approval``   -- k-approval: ``min_projects``, ``max_projects``;
* ``choose-1``   -- exactly one project;
* ``cumulative`` -- ``{project: points}``; ``max_points_per_project``, ``max_total_points``,
  ``min_total_points``, ``min_projects``, ``max_projects``;
* ``scoring``    -- ``{project: points}``; ``min_points_per_project``, ``max_points_per_project``,
  ``min_projects``, ``max_projects``;
* ``ordinal``    -- a ranking (list, best first), e.g. Krakow; ``min_projects``, ``max_projects``.

``selection`` is a list of project ids (approval-like and ordinal) or a ``{project_id: points}`` mapping (points
ballots; a list of ``[id, points]`` pairs is accepted too).  Always checked: unknown projects, duplicates,
empty ballot, positive integer points.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping

from agora.errors import Conflict, ValidationFailed
from agora.events import NewEvent
from budgets.instance import Instance, Project, Vote, format_amount, to_fraction

BALLOT_TYPES = ("knapsack", "approval", "choose-1", "cumulative", "scoring", "ordinal")
POINT_TYPES = ("cumulative", "scoring")
CONSTRAINT_KEYS = {
    "knapsack": {"max_total_cost", "min_total_share_percent", "min_projects", "max_projects"},
    "approval": {"min_projects", "max_projects"},
    "choose-1": set(),
    "cumulative": {"max_points_per_project", "max_total_points", "min_total_points", "min_projects", "max_projects"},
    "scoring": {"min_points_per_project", "max_points_per_project", "min_projects", "max_projects"},
    "ordinal": {"min_projects", "max_projects"},
}
DEMOGRAPHIC_KEYS = ("birth_year", "age", "gender", "district")
BALLOT_EVENTS = ("BallotCast", "BallotReplaced", "BallotWithdrawn")


def conflict(reason: str, message: str) -> Conflict:
    return Conflict(message, reason=reason)


def invalid(field: str, reason: str, message: str) -> ValidationFailed:
    err = ValidationFailed({field: [message]}, message)
    err.details["reason"] = reason
    return err


@dataclass(frozen=True)
class BallotError:
    """One violated ballot constraint."""

    code: str
    message: str


class BallotRejected(ValidationFailed):
    """An invalid ballot (422): ``errors`` (and ``details.violations``) list every violated constraint."""

    def __init__(self, errors: list[BallotError]):
        super().__init__({"selection": [e.message for e in errors]}, "invalid ballot")
        self.errors = errors
        self.details["violations"] = [{"code": e.code, "message": e.message} for e in errors]
        self.details["reason"] = "ballot_invalid"


@dataclass(frozen=True)
class Ballot:
    """Read view of a voter's current ballot."""

    voter_id: str
    projects: tuple[str, ...]
    points: tuple[int, ...] | None
    personal: Mapping[str, Any] | None
    cast_at: str | None
    replacements: int = 0


def personal_snapshot(personal: Mapping[str, Any] | None) -> dict | None:
    """The contract's ``personal`` from consented demographics (``consent`` itself is not stored); None when
    nothing was declared."""
    if not personal:
        return None
    snapshot = {k: personal.get(k) for k in DEMOGRAPHIC_KEYS}
    return None if all(v is None for v in snapshot.values()) else snapshot


def _split_selection(selection, ballot_type: str) -> tuple[list[str], list | None]:
    if ballot_type in POINT_TYPES:
        if isinstance(selection, Mapping):
            pairs = list(selection.items())
        else:
            items = list(selection)
            if not all(isinstance(x, (list, tuple)) and len(x) == 2 for x in items):
                return [str(p) for p in items], None  # points missing
            pairs = [tuple(x) for x in items]
        return [str(p) for p, _ in pairs], [pts for _, pts in pairs]
    if isinstance(selection, Mapping):
        return [str(p) for p in selection], [None]  # marker: points given to a non-points ballot
    return [str(p) for p in selection], None


class BudgetRound:
    """Event-sourced participatory-budgeting round (see the module docstring)."""

    def __init__(self) -> None:
        self.round_id: str | None = None
        self.tenant_id: str | None = None
        self.project_id: str | None = None
        self.district: str | None = None
        self.budget: Fraction = Fraction(0)
        self.currency: str | None = None
        self.ballot_type: str | None = None
        self.constraints: dict = {}
        self.rule: str | None = None
        self.status: str | None = None
        self.opened: dict = {}
        self.projects: dict[str, dict] = {}
        self._ballots: dict[str, Ballot] = {}
        self.outcome: dict | None = None
        self.version = 0

    # ------------------------------------------------------------ rebuilding
    @classmethod
    def from_events(cls, events: Iterable) -> "BudgetRound":
        round_ = cls()
        round_.apply_all(events)
        return round_

    def apply_all(self, events: Iterable) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event) -> None:
        """Apply one event (``.type`` / ``.data``; no validation: events are facts)."""
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event.data)
        self.version += 1

    def _on_RoundOpened(self, d: Mapping) -> None:
        self.opened = dict(d)
        self.round_id, self.tenant_id, self.project_id = d["round_id"], d["tenant_id"], d["project_id"]
        self.district, self.currency, self.ballot_type = d.get("district"), d.get("currency"), d["ballot_type"]
        self.budget = to_fraction(d["budget"])
        self.constraints = dict(d.get("constraints") or {})
        self.rule = d.get("rule")
        self.status = "open"

    def _on_ProjectAdded(self, d: Mapping) -> None:
        self.projects[d["id"]] = {"id": d["id"], "cost": to_fraction(d["cost"]), "title": d.get("title") or "",
                                  "attributes": dict(d.get("attributes") or {})}

    def _on_BallotCast(self, d: Mapping, replacements: int = 0) -> None:
        ballot = d["ballot"]
        points = ballot.get("points")
        vid = d.get("voter_id") or d["voter"]
        self._ballots[vid] = Ballot(vid, tuple(ballot["projects"]), None if points is None else tuple(points),
                                    d.get("personal"), d.get("at"), replacements)

    def _on_BallotReplaced(self, d: Mapping) -> None:
        previous = self._ballots.get(d.get("voter_id") or d["voter"])
        self._on_BallotCast(d, replacements=(previous.replacements + 1) if previous else 1)

    def _on_BallotWithdrawn(self, d: Mapping) -> None:
        self._ballots.pop(d.get("voter_id") or d["voter"], None)

    def _on_RoundClosed(self, d: Mapping) -> None:
        self.status = "closed"

    def _on_OutcomeComputed(self, d: Mapping) -> None:
        self.outcome = dict(d)

    # ------------------------------------------------------------ queries
    @property
    def ballots(self) -> dict[str, Ballot]:
        return dict(self._ballots)

    def ballot(self, voter_id: str) -> Ballot | None:
        return self._ballots.get(voter_id)

    def _require(self, status: str) -> None:
        if self.status != status:
            now = "not opened" if self.status is None else self.status
            raise conflict(f"round_not_{status}", f"the round is {now}; it must be {status}")

    def validate_ballot(self, selection) -> list[BallotError]:
        """Every violated constraint of ``selection`` (empty list = valid)."""
        self._require("open")
        projects, points = _split_selection(selection, self.ballot_type)
        c, errors = self.constraints, []
        add = lambda code, msg: errors.append(BallotError(code, msg))  # noqa: E731
        if points == [None]:
            add("points_not_allowed", f"{self.ballot_type} ballots do not carry points")
            points = None
        if not projects:
            add("empty_ballot", "the ballot selects no project")
        unknown = [p for p in projects if p not in self.projects]
        if unknown:
            add("unknown_project", f"unknown project(s): {', '.join(unknown)}")
        dupes = sorted({p for p in projects if projects.count(p) > 1})
        if dupes:
            add("duplicate_project", f"project(s) listed more than once: {', '.join(dupes)}")
        n = len(set(projects))
        low = 1 if self.ballot_type == "choose-1" else c.get("min_projects")
        high = 1 if self.ballot_type == "choose-1" else c.get("max_projects")
        if low is not None and n < low and projects:
            add("too_few_projects", f"at least {low} project(s) must be selected, got {n}")
        if high is not None and n > high:
            add("too_many_projects", f"at most {high} project(s) may be selected, got {n}")
        if self.ballot_type == "knapsack":
            total = sum((self.projects[p]["cost"] for p in set(projects) if p in self.projects), Fraction(0))
            limit = to_fraction(c.get("max_total_cost", self.budget))
            if total > limit:
                add("over_budget", f"total cost {format_amount(total)} exceeds {format_amount(limit)}")
            share = c.get("min_total_share_percent")
            if share is not None and total * 100 < to_fraction(share) * self.budget:
                add("below_minimum_share",
                    f"total cost {format_amount(total)} is below {share}% of the budget {format_amount(self.budget)}")
        if self.ballot_type in POINT_TYPES:
            if points is None:
                add("points_required", f"{self.ballot_type} ballots give points to each selected project")
            else:
                errors.extend(self._point_errors(points))
        return errors

    def _point_errors(self, points: list) -> list[BallotError]:
        c, errors = self.constraints, []
        if any(isinstance(p, bool) or not isinstance(p, int) or p <= 0 for p in points):
            errors.append(BallotError("invalid_points", "points must be positive integers"))
            return errors
        low, high = c.get("min_points_per_project"), c.get("max_points_per_project")
        if high is not None and any(p > high for p in points):
            errors.append(BallotError("too_many_points_for_project", f"at most {high} point(s) per project"))
        if low is not None and any(p < low for p in points):
            errors.append(BallotError("too_few_points_for_project", f"at least {low} point(s) per project"))
        total = sum(points)
        if c.get("max_total_points") is not None and total > c["max_total_points"]:
            errors.append(BallotError("too_many_points",
                                      f"at most {c['max_total_points']} points in total, got {total}"))
        if c.get("min_total_points") is not None and total < c["min_total_points"]:
            errors.append(BallotError("too_few_points",
                                      f"at least {c['min_total_points']} points in total, got {total}"))
        return errors

    def to_instance(self) -> Instance:
        """The round as an :class:`~budgets.instance.Instance` for :func:`budgets.rules.count`."""
        vote_type = {"knapsack": "approval", "approval": "approval"}.get(self.ballot_type, self.ballot_type)
        projects = tuple(Project(p["id"], p["cost"], {"name": p["title"]}) for p in self.projects.values())
        votes = tuple(Vote(b.voter_id, b.projects, None if b.points is None else tuple(Fraction(x) for x in b.points))
                      for b in self._ballots.values())
        meta = {"budget": format_amount(self.budget), "vote_type": vote_type, "currency": self.currency or ""}
        if self.rule:
            meta["rule"] = self.rule
        return Instance(self.budget, vote_type, projects, votes, meta)

    # ------------------------------------------------------------ commands
    def open(self, *, round_id: str, tenant_id: str, project_id: str, district: str | None, budget,
             currency: str, ballot_type: str, constraints: Mapping | None = None, rule: str = "greedy",
             title: str = "", opened_by: str | None = None, source: str = "live", pabulib_meta: Mapping | None = None,
             at: str | None = None) -> list[NewEvent]:
        if self.status is not None:
            raise conflict("round_already_opened", f"budget round {self.round_id} already exists")
        amount = to_fraction(budget)
        if amount <= 0:
            raise invalid("budget", "invalid_budget", "budget must be positive")
        return [NewEvent("RoundOpened", _clean({
            "round_id": round_id, "tenant_id": tenant_id, "project_id": project_id, "district": district,
            "budget": format_amount(amount), "currency": currency or "", "ballot_type": ballot_type,
            "constraints": dict(constraints or {}), "rule": rule, "title": title or "", "opened_by": opened_by,
            "source": source, "pabulib_meta": None if pabulib_meta is None else dict(pabulib_meta), "at": at}))]

    def add_project(self, *, id: str, cost, title: str = "", attributes: Mapping | None = None,
                    added_by: str | None = None, at: str | None = None) -> list[NewEvent]:
        self._require("open")
        if self._ballots:
            raise conflict("ballots_already_cast", "projects cannot be added once ballots were cast")
        if id in self.projects:
            raise conflict("duplicate_project", f"project {id} already exists")
        attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        idea = attributes.get("idea_id")
        if idea and any(p["attributes"].get("idea_id") == idea for p in self.projects.values()):
            raise conflict("duplicate_idea", f"idea {idea} is already on this round")
        amount = to_fraction(cost)
        if amount <= 0:
            raise invalid("cost", "invalid_cost", f"cost of {id} must be positive")
        return [NewEvent("ProjectAdded", _clean({
            "round_id": self.round_id, "id": str(id), "cost": format_amount(amount), "title": title or "",
            "attributes": attributes, "added_by": added_by, "at": at}))]

    def cast_ballot(self, *, voter: str, selection, personal: Mapping | None = None, voter_id: str | None = None,
                    at: str | None = None) -> list[NewEvent]:
        """Cast (or replace) the voter's ballot; raises :class:`BallotRejected` listing every violation."""
        errors = self.validate_ballot(selection)
        if errors:
            raise BallotRejected(errors)
        voter_id = voter_id or voter
        projects, points = _split_selection(selection, self.ballot_type)
        kind = "BallotReplaced" if voter_id in self._ballots else "BallotCast"
        return [NewEvent(kind, _clean({
            "round_id": self.round_id, "voter": voter, "voter_id": voter_id,
            "ballot": {"projects": projects, "points": points}, "personal": personal_snapshot(personal), "at": at},
            keep=("personal",)))]

    def withdraw_ballot(self, *, voter_id: str, voter: str | None = None, at: str | None = None) -> list[NewEvent]:
        self._require("open")
        if voter_id not in self._ballots:
            raise conflict("no_ballot", "you have no ballot in this round")
        return [NewEvent("BallotWithdrawn", _clean({"round_id": self.round_id, "voter": voter or voter_id,
                                                    "voter_id": voter_id, "at": at}))]

    def close(self, *, ballots: int | None = None, closed_by: str | None = None,
              at: str | None = None) -> list[NewEvent]:
        """``ballots``: how many ballots the round has when it closes (the application counts them in its
        projection, since ballots live in their own streams); default: the ballots this aggregate holds."""
        self._require("open")
        return [NewEvent("RoundClosed", _clean({
            "round_id": self.round_id, "ballots": len(self._ballots) if ballots is None else int(ballots),
            "closed_by": closed_by, "at": at}))]

    def counting_rule(self, rule: str | None = None, threshold=None) -> str:
        """The rule a count of this (closed) round uses: the given one, else the round's."""
        self._require("closed")
        rule = rule or self.rule or "greedy"
        if rule == "greedy-threshold" and threshold is None:
            raise invalid("threshold", "threshold_required", "greedy-threshold needs a threshold")
        return rule

    def record_outcome(self, outcome, *, ballots: int | None = None, computed_by: str | None = None,
                       at: str | None = None) -> list[NewEvent]:
        """OutcomeComputed for an :class:`budgets.rules.Outcome` of this (closed) round."""
        self._require("closed")
        data = {"round_id": self.round_id, **outcome.to_dict(), "currency": self.currency or "",
                "ballots": len(self._ballots) if ballots is None else int(ballots), "computed_by": computed_by,
                "at": at}
        return [NewEvent("OutcomeComputed", _clean(data))]


def _clean(data: dict, keep: tuple[str, ...] = ()) -> dict:
    """Optional contract fields left out when None (the contract's defaults apply), except those in ``keep``."""
    return {k: v for k, v in data.items() if v is not None or k in keep}
