"""Use cases of the budgets service: each a few lines over :class:`agora.application.CommandRunner`.

Streams (see ``agora.events.budgets``): ``round-{round}`` holds the round's lifecycle and projects; every ballot is
its own stream ``ballot-{round}-{voter}`` named by the voter's pseudonym (``store.person_id``), never by the
identity provider's subject. Round commands run on the round stream; ballot commands on the voter's ballot stream,
deciding on the round stream + that ballot stream (concurrent casts by one voter: one wins, the others re-read
and become replacements). Everything that needs *all* ballots (counts, counting, export) reads the
``budgets_ballots`` projection (:mod:`budgets.projections`); counting runs in a worker process
(:mod:`budgets.counting`); Pabulib import/export is :mod:`budgets.pabulib_io`.

Events name staff (``opened_by``, ``added_by``, ``closed_by``, ``computed_by``) and voters by their pseudonyms too.
"""
from __future__ import annotations

import logging
from fractions import Fraction

from agora.application import CommandRunner, new_id
from agora.errors import Conflict, NotFound, ValidationFailed
from agora.events.envelope import now_iso
from budgets import explain, projections
from budgets.counting import count_in_process, round_stream
from budgets.domain import DEMOGRAPHIC_KEYS, BudgetRound
from budgets.instance import format_amount
from budgets.pabulib_io import PabulibIO

log = logging.getLogger("budgets.application")

PROJECTION_WAIT_S = 300.0


def ballot_stream(round_id: str, voter: str) -> str:
    return f"ballot-{round_id}-{voter}"


def _amount(value) -> str:
    return format_amount(Fraction(value))


class Budgets:
    """The budgets application: commands and queries, no HTTP in it (see the module docstring)."""

    def __init__(self, store, db, runner: CommandRunner | None = None):
        self.store = store
        self.db = db
        self.runner = runner or CommandRunner(store)
        self.pabulib = PabulibIO(self)

    # ---------------------------------------------------------------- helpers
    def person(self, tenant: str, caller, create: bool = True) -> str | None:
        """The caller's pseudonym: what events and stream names carry."""
        return self.store.person_id(tenant, caller.sub, create)

    def round_events(self, tenant: str, round_id: str):
        events = self.store.read_stream(tenant, round_stream(round_id))
        if not events:
            raise NotFound(f"budget round {round_id} not found")
        return events

    def load_round(self, tenant: str, round_id: str) -> BudgetRound:
        return BudgetRound.from_events(self.round_events(tenant, round_id))

    def _on_round(self, tenant: str, round_id: str, decide):
        def load(events):
            if not events:
                raise NotFound(f"budget round {round_id} not found")
            return BudgetRound.from_events(events)
        return self.runner.run(tenant, round_stream(round_id), decide, load=load)

    def _on_ballot(self, tenant: str, round_id: str, voter: str, decide):
        return self.runner.run(tenant, ballot_stream(round_id, voter), decide,
                               load=lambda ballot: BudgetRound.from_events(
                                   self.round_events(tenant, round_id) + ballot))

    def _wait(self, position: int, timeout: float = PROJECTION_WAIT_S) -> None:
        projections.wait_for(self.db, position, timeout)

    # ---------------------------------------------------------------- rounds (admin)
    def open_round(self, tenant: str, caller, body: dict) -> dict:
        round_id = body.get("round_id") or "r-" + new_id(tenant, "round").replace("-", "")[:12]
        events = BudgetRound().open(
            round_id=round_id, tenant_id=tenant, project_id=body["project_id"], district=body.get("district"),
            budget=body["budget"], currency=body["currency"], ballot_type=body["ballot_type"],
            constraints=body.get("constraints"), rule=body.get("rule") or "greedy", title=body.get("title") or "",
            opened_by=self.person(tenant, caller), at=now_iso())
        outcome = self.runner.append_new(tenant, round_stream(round_id), events, exists_error=lambda: Conflict(
            f"budget round {round_id} already exists", reason="round_exists"))
        return dict(self.round_view(tenant, round_id), position=outcome.position)

    def add_project(self, tenant: str, caller, round_id: str, body: dict) -> dict:
        """A project on the ballot: a cost with a title, or a cost with an accepted idea (``idea_id``) whose title
        is used unless one is given."""
        title, attributes = body.get("title"), dict(body.get("attributes") or {})
        if body.get("idea_id"):
            idea = projections.candidate(self.db, tenant, body["idea_id"])
            if idea is None or not idea.get("accepted"):
                raise ValidationFailed({"idea_id": [f"{body['idea_id']} is not an accepted idea of this tenant"]})
            title = title or idea["title"]
            attributes["idea_id"] = body["idea_id"]
        pid = body.get("id") or body.get("idea_id") or "p-" + new_id(tenant, "project").replace("-", "")[:10]
        if projections.has_ballots(self.db, tenant, round_id):
            raise Conflict("projects cannot be added once ballots were cast", reason="ballots_already_cast")
        by = self.person(tenant, caller)
        outcome = self._on_round(tenant, round_id, lambda r: r.add_project(
            id=pid, cost=body["cost"], title=title or "", attributes=attributes, added_by=by, at=now_iso()))
        d = outcome.data
        return {"round_id": round_id, "id": d["id"], "cost": d["cost"], "title": d.get("title") or "",
                "attributes": d.get("attributes") or {}, "position": outcome.position}

    def close_round(self, tenant: str, caller, round_id: str) -> dict:
        try:                                          # best effort: an exact ballot count in RoundClosed
            self._wait(self.store.head(), timeout=10.0)
        except Conflict:
            log.warning("closing round %s while the ballot projection lags", round_id)
        by = self.person(tenant, caller)
        outcome = self._on_round(tenant, round_id, lambda r: r.close(
            ballots=projections.round_counts(self.db, tenant, round_id)["ballots"], closed_by=by, at=now_iso()))
        return {"round_id": round_id, "status": "closed", "ballots": outcome.data["ballots"],
                "position": outcome.position}

    def compute_outcome(self, tenant: str, caller, round_id: str, body: dict) -> dict:
        events = self.round_events(tenant, round_id)
        round_ = BudgetRound.from_events(events)
        threshold = body.get("threshold")
        rule = round_.counting_rule(body.get("rule"), threshold)
        closed = next(e for e in events if e.type == "RoundClosed")
        self._wait(closed.position)
        counted, ballots = count_in_process(tenant, round_id, closed.position, rule, body.get("tie_breaking"),
                                            threshold)
        by = self.person(tenant, caller)
        outcome = self._on_round(tenant, round_id, lambda r: r.record_outcome(
            counted, ballots=ballots, computed_by=by, at=now_iso()))
        return dict(outcome.data, position=outcome.position)

    # ---------------------------------------------------------------- ballots (citizens)
    def cast_ballot(self, tenant: str, caller, round_id: str, selection, personal: dict | None) -> dict:
        """Cast or replace the caller's ballot; ``personal``: demographics given with this ballot, with consent
        (never copied from another action)."""
        voter = self.person(tenant, caller)
        given = {k: personal.get(k) for k in DEMOGRAPHIC_KEYS} if personal else None
        outcome = self._on_ballot(tenant, round_id, voter, lambda r: r.cast_ballot(
            voter=voter, selection=selection, personal=given, at=now_iso()))
        d = outcome.data
        return {"result": "cast" if outcome.types[0] == "BallotCast" else "replaced", "round_id": round_id,
                "projects": d["ballot"]["projects"], "points": d["ballot"]["points"], "position": outcome.position}

    def withdraw_ballot(self, tenant: str, caller, round_id: str) -> dict:
        voter = self.person(tenant, caller)
        outcome = self._on_ballot(tenant, round_id, voter,
                                  lambda r: r.withdraw_ballot(voter_id=voter, at=now_iso()))
        return {"result": "withdrawn", "round_id": round_id, "projects": [], "points": None,
                "position": outcome.position}

    def my_ballot(self, tenant: str, caller, round_id: str) -> dict:
        self.round_events(tenant, round_id)
        voter = self.person(tenant, caller, create=False)
        events = self.store.read_stream(tenant, ballot_stream(round_id, voter)) if voter else []
        last = events[-1] if events else None
        if last is None or last.type == "BallotWithdrawn":
            return {"result": "none", "round_id": round_id, "projects": [], "points": None,
                    "position": last.position if last else None}
        return {"result": "cast" if last.type == "BallotCast" else "replaced", "round_id": round_id,
                "projects": last.data["ballot"]["projects"], "points": last.data["ballot"]["points"],
                "position": last.position, "personal": last.data.get("personal")}

    # ---------------------------------------------------------------- queries
    def round_view(self, tenant: str, round_id: str) -> dict:
        events = self.round_events(tenant, round_id)
        round_ = BudgetRound.from_events(events)
        opened = round_.opened
        last = round_.outcome
        return {"round_id": round_id, "project_id": round_.project_id, "district": round_.district,
                "title": opened.get("title") or "", "budget": opened["budget"], "currency": round_.currency or "",
                "ballot_type": round_.ballot_type, "constraints": round_.constraints, "rule": round_.rule,
                "status": round_.status, "source": opened.get("source") or "live",
                "projects": [{"id": p["id"], "cost": _amount(p["cost"]), "title": p["title"],
                              "attributes": p["attributes"]} for p in round_.projects.values()],
                **projections.round_counts(self.db, tenant, round_id), "version": len(events),
                "outcome": None if last is None else {"rule": last["rule"], "selected": last["selected"],
                                                      "total_cost": last["total_cost"]}}

    def list_rounds(self, tenant: str, project_id=None, district=None) -> list[dict]:
        return projections.list_rounds(self.db, tenant, project_id, district)

    def candidates(self, tenant: str, project_id=None, round_id=None) -> list[dict]:
        taken = ()
        if round_id:
            taken = {p["attributes"].get("idea_id") for p in self.load_round(tenant, round_id).projects.values()}
        return projections.candidates(self.db, tenant, project_id, taken)

    def outcome(self, tenant: str, round_id: str) -> dict:
        events = self.round_events(tenant, round_id)
        last = next((e for e in reversed(events) if e.type == "OutcomeComputed"), None)
        if last is None:
            raise NotFound(f"round {round_id} has no outcome yet")
        return dict(last.data, position=last.position)

    def explain(self, tenant: str, round_id: str, pid: str) -> dict:
        out = self.outcome(tenant, round_id)
        entry = next((p for p in out.get("projects") or [] if p["id"] == pid), None)
        if entry is None:
            raise NotFound(f"project {pid} is not in round {round_id}")
        round_ = self.load_round(tenant, round_id)
        project = dict(entry, title=round_.projects.get(pid, {}).get("title", ""))
        return {"round_id": round_id, "project": project,
                **explain.explain_project(out, pid, language=explain.tenant_language(self.store, tenant))}

