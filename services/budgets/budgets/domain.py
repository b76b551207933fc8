"""Budget rounds as a pure event-sourced aggregate (no I/O, no clock, no nameko/pymongo).

Usage pattern for the service::

    round_ = BudgetRound.from_events(stored_events)       # rebuild
    new_events = round_.cast_ballot(voter_id="v1", selection=["p1", "p3"], demographics={...}, at=now_iso)
    store.append(new_events); round_.apply_all(new_events)  # commands never mutate, they RETURN events

Commands raise :class:`DomainError` (``.code``, ``str()``) when not allowed, and :class:`BallotRejected`
(``.errors``: every violated constraint as :class:`BallotError` ``(code, message)``) for invalid ballots.

Public API
----------
* ``BudgetRound()`` / ``BudgetRound.from_events(events)`` / ``.apply(event)`` / ``.apply_all(events)``
* commands returning ``list[dict]`` events:
  ``open(round_id, tenant_id, project_id, district, budget, currency, ballot_type, constraints=None,
  rule="greedy", at=None)`` -> [RoundOpened];
  ``add_project(id, cost, title="", attributes=None, at=None)`` -> [ProjectAdded] (only before the first ballot);
  ``cast_ballot(voter_id, selection, demographics=None, at=None)`` -> [BallotCast] or [BallotReplaced];
  ``withdraw_ballot(voter_id, at=None)`` -> [BallotWithdrawn] (only while open);
  ``close(at=None)`` -> [RoundClosed];
  ``compute_outcome(rule=None, tie_breaking=None)`` -> [OutcomeComputed] (closed rounds; counts in-process);
  ``record_outcome(outcome)`` -> [OutcomeComputed] for an :class:`budgets.rules.Outcome` computed elsewhere
  (the service counts in a spawned process that reads the ballots from the store itself:
  ``budgets.dependencies.count_in_process``, so the web server's hub is never blocked).
* queries: ``validate_ballot(selection) -> list[BallotError]``, ``ballot(voter_id) -> Ballot | None``,
  ``ballots`` (dict voter_id -> :class:`Ballot`), ``to_instance() -> budgets.instance.Instance``,
  ``status`` (``None`` | ``"open"`` | ``"closed"``), ``projects``, ``outcome`` (last OutcomeComputed data),
  ``version`` (number of events applied).

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

Event shapes (``{"type": ..., "data": {...}}``; amounts are exact decimal strings like ``"4000"``/``"12.5"``)
-------------------------------------------------------------------------------------------------------
* ``RoundOpened``     ``{round_id, tenant_id, project_id, district, budget, currency, ballot_type,
  constraints, rule, at}`` -- ``project_id`` is the Agora project (participatory process) owning the round.
* ``ProjectAdded``    ``{round_id, id, cost, title, attributes, at}`` -- a PB project on the ballot.
* ``BallotCast``      ``{round_id, voter_id, ballot, demographics, at}`` with
  ``ballot = {"projects": [ids in ballot order], "points": [int, ...] | null}`` and
  ``demographics = {"birth_year": int|null, "age": int|null, "gender": str|null, "district": str|null}``.
* ``BallotReplaced``  same payload as BallotCast (the voter's previous ballot is discarded).
* ``BallotWithdrawn`` ``{round_id, voter_id, at}``.
* ``RoundClosed``     ``{round_id, ballots, at}`` (number of ballots counted).
* ``OutcomeComputed`` ``{round_id, rule, tie_breaking, selected: [ids], total_cost, budget,
  projects: [{id, cost, votes, score, selected, mes?}], details}`` -- :meth:`budgets.rules.Outcome.to_dict`.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping

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


class DomainError(Exception):
    """A command that is not allowed in the current state (``code`` is machine-readable)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BallotError:
    """One violated ballot constraint."""

    code: str
    message: str


class BallotRejected(DomainError):
    """An invalid ballot; ``errors`` lists every violated constraint."""

    def __init__(self, errors: list[BallotError]):
        super().__init__("ballot_invalid", "; ".join(e.message for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Ballot:
    """Read view of a voter's current ballot."""

    voter_id: str
    projects: tuple[str, ...]
    points: tuple[int, ...] | None
    demographics: Mapping[str, Any]
    cast_at: str | None
    replacements: int = 0

    def to_dict(self) -> dict:
        return {"voter_id": self.voter_id, "projects": list(self.projects),
                "points": None if self.points is None else list(self.points),
                "demographics": dict(self.demographics), "cast_at": self.cast_at,
                "replacements": self.replacements}


def _event(kind: str, **data) -> dict:
    return {"type": kind, "data": data}


def normalise_demographics(demographics: Mapping[str, Any] | None) -> dict:
    """Snapshot ``{birth_year, age, gender, district}`` (missing -> None; ints for years/ages)."""
    demographics = dict(demographics or {})
    unknown = set(demographics) - set(DEMOGRAPHIC_KEYS)
    if unknown:
        raise DomainError("invalid_demographics", f"unknown demographic fields {sorted(unknown)}")
    out = {}
    for key in DEMOGRAPHIC_KEYS:
        value = demographics.get(key)
        if value is not None and key in ("birth_year", "age"):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise DomainError("invalid_demographics", f"{key} must be an integer, got {value!r}") from None
        elif value is not None:
            value = str(value)
        out[key] = value
    return out


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
        self.projects: dict[str, dict] = {}
        self._ballots: dict[str, Ballot] = {}
        self.outcome: dict | None = None
        self.version = 0

    # ------------------------------------------------------------ rebuilding
    @classmethod
    def from_events(cls, events: Iterable[Mapping]) -> "BudgetRound":
        round_ = cls()
        round_.apply_all(events)
        return round_

    def apply_all(self, events: Iterable[Mapping]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: Mapping) -> None:
        """Apply one event (no validation: events are facts)."""
        kind, data = event["type"], event["data"]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            raise DomainError("unknown_event", f"unknown event type {kind!r}")
        handler(data)
        self.version += 1

    def _on_RoundOpened(self, d: Mapping) -> None:
        self.round_id, self.tenant_id, self.project_id = d["round_id"], d["tenant_id"], d["project_id"]
        self.district, self.currency, self.ballot_type = d.get("district"), d["currency"], d["ballot_type"]
        self.budget = to_fraction(d["budget"])
        self.constraints = dict(d.get("constraints") or {})
        self.rule = d.get("rule")
        self.status = "open"

    def _on_ProjectAdded(self, d: Mapping) -> None:
        self.projects[d["id"]] = {"id": d["id"], "cost": to_fraction(d["cost"]), "title": d.get("title", ""),
                                  "attributes": dict(d.get("attributes") or {})}

    def _on_BallotCast(self, d: Mapping, replacements: int = 0) -> None:
        ballot = d["ballot"]
        points = ballot.get("points")
        self._ballots[d["voter_id"]] = Ballot(d["voter_id"], tuple(ballot["projects"]),
                                              None if points is None else tuple(points),
                                              dict(d.get("demographics") or {}), d.get("at"), replacements)

    def _on_BallotReplaced(self, d: Mapping) -> None:
        previous = self._ballots.get(d["voter_id"])
        self._on_BallotCast(d, replacements=(previous.replacements + 1) if previous else 1)

    def _on_BallotWithdrawn(self, d: Mapping) -> None:
        self._ballots.pop(d["voter_id"], None)

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
            raise DomainError(f"round_not_{status}", f"round is {now}, it must be {status}")

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
             at: str | None = None) -> list[dict]:
        if self.status is not None:
            raise DomainError("round_already_opened", f"round {self.round_id} was already opened")
        if ballot_type not in BALLOT_TYPES:
            raise DomainError("invalid_ballot_type", f"ballot type must be one of {BALLOT_TYPES}")
        try:
            amount = to_fraction(budget)
        except ValueError as exc:
            raise DomainError("invalid_budget", f"budget: {exc}") from None
        if amount <= 0:
            raise DomainError("invalid_budget", "budget must be positive")
        constraints = dict(constraints or {})
        unknown = set(constraints) - CONSTRAINT_KEYS[ballot_type]
        if unknown:
            raise DomainError("invalid_constraints", f"{sorted(unknown)} do not apply to {ballot_type} ballots")
        from budgets.rules import RULES  # local: keeps this module importable without numpy at import time
        if rule not in RULES:
            raise DomainError("invalid_rule", f"rule must be one of {RULES}")
        return [_event("RoundOpened", round_id=round_id, tenant_id=tenant_id, project_id=project_id,
                       district=district, budget=format_amount(amount), currency=currency,
                       ballot_type=ballot_type, constraints=constraints, rule=rule, at=at)]

    def add_project(self, *, id: str, cost, title: str = "", attributes: Mapping | None = None,
                    at: str | None = None) -> list[dict]:
        self._require("open")
        if self._ballots:
            raise DomainError("ballots_already_cast", "projects cannot be added once ballots were cast")
        if id in self.projects:
            raise DomainError("duplicate_project", f"project {id} already exists")
        try:
            amount = to_fraction(cost)
        except ValueError as exc:
            raise DomainError("invalid_cost", f"cost of {id}: {exc}") from None
        if amount <= 0:
            raise DomainError("invalid_cost", f"cost of {id} must be positive")
        return [_event("ProjectAdded", round_id=self.round_id, id=str(id), cost=format_amount(amount),
                       title=title, attributes=dict(attributes or {}), at=at)]

    def cast_ballot(self, *, voter_id: str, selection, demographics: Mapping | None = None,
                    at: str | None = None) -> list[dict]:
        """Cast (or replace) the voter's ballot; raises :class:`BallotRejected` listing every violation."""
        errors = self.validate_ballot(selection)
        if errors:
            raise BallotRejected(errors)
        projects, points = _split_selection(selection, self.ballot_type)
        kind = "BallotReplaced" if voter_id in self._ballots else "BallotCast"
        return [_event(kind, round_id=self.round_id, voter_id=voter_id,
                       ballot={"projects": projects, "points": points},
                       demographics=normalise_demographics(demographics), at=at)]

    def withdraw_ballot(self, *, voter_id: str, at: str | None = None) -> list[dict]:
        self._require("open")
        if voter_id not in self._ballots:
            raise DomainError("no_ballot", f"voter {voter_id} has no ballot in this round")
        return [_event("BallotWithdrawn", round_id=self.round_id, voter_id=voter_id, at=at)]

    def close(self, *, at: str | None = None) -> list[dict]:
        self._require("open")
        return [_event("RoundClosed", round_id=self.round_id, ballots=len(self._ballots), at=at)]

    def record_outcome(self, outcome) -> list[dict]:
        """OutcomeComputed for an :class:`budgets.rules.Outcome` of this (closed) round."""
        self._require("closed")
        return [_event("OutcomeComputed", round_id=self.round_id, **outcome.to_dict())]

    def compute_outcome(self, rule: str | None = None, tie_breaking: Iterable[str] | None = None) -> list[dict]:
        """Count in-process (fine for small rounds; use the worker for big ones) and return OutcomeComputed."""
        from budgets.rules import count

        self._require("closed")
        return self.record_outcome(count(self.to_instance(), rule or self.rule, tie_breaking=tie_breaking))
