"""Pabulib ``.pb`` files in and out of the budgets service.

The file format itself is read and written by :mod:`agora.pabulib` (the platform's one Pabulib reader/writer);
this module gives the values their meaning for budgets and moves rounds in and out:

* :func:`loads` / :func:`load` -> :class:`budgets.instance.Instance` (exact budget and costs, ballot type, points),
  :class:`PabulibError` (``.line``) for any defect; :func:`dumps` writes one
  (``loads(dumps(i)) == i``);
* :func:`instance_to_events` -- a file as the round's events, produced by the same
  :class:`budgets.domain.BudgetRound` commands as live ballots (constraints from META, demographics columns as the
  ballot's ``personal``);
* :class:`PabulibIO` -- the HTTP use cases: ``import_round`` (parse, convert and validate every event in
  ``eventlet.tpool``, then append the round stream, one stream per ballot, and the close) and ``export_round``
  (the counted ballots, no personal data, and **per-export pseudonyms** as ``voter_id``: fresh random ids for
  every export, rows in the order of those ids, so an export names no person and two exports cannot be joined
  on their voter ids).
"""
from __future__ import annotations

import secrets
from fractions import Fraction
from pathlib import Path

from agora import pabulib as pb
from agora.application import new_id
from agora.errors import Conflict, ValidationFailed
from agora.events import NewEvent, registry
from agora.events.envelope import now_iso
from budgets import projections
from budgets.counting import load_round_with_ballots, round_stream
from budgets.domain import BallotRejected, BudgetRound
from budgets.instance import BALLOT_TYPES, POINT_BALLOTS, Instance, Project, Vote, format_amount, to_fraction

PabulibError = pb.PabulibError


# ====================================================================== file <-> Instance
def _number(text: str, line: int, what: str) -> Fraction:
    try:
        return to_fraction(text)
    except ValueError:
        raise PabulibError(line, f"{what} {text!r} is not a number") from None


def instance_of(f: pb.PbFile) -> Instance:
    """The meaning of a parsed file for counting: exact budget and costs, ballot type, points."""
    meta = dict(f.meta)
    if "budget" not in meta:
        raise PabulibError(2, "META has no budget")
    budget_line = f.line_of("META", "budget") or 1
    budget = _number(meta["budget"], budget_line, "budget")
    if budget < 0:
        raise PabulibError(budget_line, "budget is negative")
    vote_type = meta.get("vote_type", "approval")
    if vote_type not in BALLOT_TYPES:
        raise PabulibError(f.line_of("META", "vote_type") or 1, f"unknown vote_type {vote_type!r}")
    projects = []
    for row in f.projects:
        fields = dict(row)
        pid = fields.pop("project_id")
        line = f.line_of("PROJECTS", pid) or 1
        if "cost" not in fields:
            raise PabulibError(line, "PROJECTS header lacks column(s) cost")
        cost = _number(fields.pop("cost"), line, f"cost of project {pid}")
        if cost < 0:
            raise PabulibError(line, f"negative cost {format_amount(cost)} for project {pid}")
        projects.append(Project(pid, cost, fields))
    needs_points = vote_type in POINT_BALLOTS
    votes = []
    for row in f.votes:
        fields = dict(row)
        vid = fields.pop("voter_id")
        line = f.line_of("VOTES", vid) or 1
        chosen = tuple(pb.split_list(fields.pop("vote")))
        raw_points = fields.pop("points", None)
        points = None
        if needs_points:
            if raw_points is None:
                raise PabulibError(line, "VOTES header lacks column(s) points")
            raw = pb.split_list(raw_points)
            if len(raw) != len(chosen):
                raise PabulibError(line, f"{len(raw)} points for {len(chosen)} projects")
            points = tuple(_number(p, line, "points") for p in raw)
            if any(p < 0 for p in points):
                raise PabulibError(line, "negative points")
        elif raw_points is not None:
            fields["points"] = raw_points
        votes.append(Vote(vid, chosen, points, fields))
    return Instance(budget, vote_type, tuple(projects), tuple(votes), meta)


def loads(text: str) -> Instance:
    """Parse the text of a ``.pb`` file (strict); raises :class:`PabulibError` naming the line."""
    return instance_of(pb.parse(text))


def load(path: str | Path) -> Instance:
    return loads(Path(path).read_text(encoding="utf-8"))


def to_file(instance: Instance) -> pb.PbFile:
    meta = dict(instance.meta)
    try:
        same_budget = to_fraction(meta.get("budget", "")) == instance.budget
    except ValueError:
        same_budget = False
    if not same_budget:
        meta["budget"] = format_amount(instance.budget)
    meta["vote_type"] = instance.vote_type
    projects = [{"project_id": p.id, "cost": format_amount(p.cost), **p.fields} for p in instance.projects]
    points = instance.vote_type in POINT_BALLOTS
    votes = []
    for v in instance.votes:
        row = {"voter_id": v.voter_id, "vote": ",".join(v.projects)}
        if points:
            row["points"] = ",".join(format_amount(x) for x in (v.points or ()))
        row.update(v.fields)
        votes.append(row)
    return pb.PbFile(meta, projects, votes)


def dumps(instance: Instance) -> str:
    """The instance as the text of a valid ``.pb`` file."""
    return pb.dumps(to_file(instance))


# ====================================================================== Instance -> events
_GENDERS = {"m": "male", "f": "female", "k": "female", "male": "male", "female": "female"}


def voter_demographics(vote: Vote) -> dict:
    """Demographics from a vote's extra columns (``age``, ``sex``/``gender``, ``birth_year``, ``district``)."""
    f = {k.lower(): v for k, v in vote.fields.items()}

    def integer(*keys):
        for k in keys:
            if f.get(k, "").strip().isdigit():
                return int(f[k])
        return None

    sex = (f.get("sex") or f.get("gender") or "").strip()
    return {"birth_year": integer("birth_year", "year_of_birth"), "age": integer("age"),
            "gender": _GENDERS.get(sex.lower(), sex or None), "district": (f.get("district") or None)}


def _ballot_type(instance: Instance) -> tuple[str, dict]:
    meta = instance.meta
    constraints: dict = {}

    def put(key, meta_key, cast=int):
        if meta.get(meta_key, "").strip():
            constraints[key] = cast(to_fraction(meta[meta_key]))

    if instance.vote_type == "approval" and meta.get("max_sum_cost", "").strip():
        ballot_type = "knapsack"
        put("max_total_cost", "max_sum_cost", format_amount)
    else:
        ballot_type = instance.vote_type
    if ballot_type != "choose-1":
        put("min_projects", "min_length")
        put("max_projects", "max_length")
    if ballot_type == "cumulative":
        put("max_total_points", "max_sum_points")
        put("min_total_points", "min_sum_points")
        put("max_points_per_project", "max_points")
    if ballot_type == "scoring":
        put("max_points_per_project", "max_points")
        put("min_points_per_project", "min_points")
    return ballot_type, constraints


def _selection(vote: Vote):
    if vote.points is None:
        return list(vote.projects)
    return [[p, int(x) if x.denominator == 1 else x] for p, x in zip(vote.projects, vote.points)]


def imported_voter(round_id: str, voter_id: str) -> str:
    """The person an imported ballot names (owner of its ``personal``): not a citizen of the platform."""
    return f"pabulib:{round_id}:{voter_id}"


def instance_to_events(instance: Instance, *, round_id: str, tenant_id: str, project_id: str,
                       district: str | None = None, rule: str | None = None, close: bool = True,
                       title: str | None = None, by: str | None = None, at: str | None = None) -> list[NewEvent]:
    """The round's events for ``instance``, through the :class:`~budgets.domain.BudgetRound` commands.

    Ballot constraints come from META (``min_length``/``max_length``, ``max_sum_cost`` -> knapsack,
    ``max_sum_points`` ...), so an imported ballot is validated exactly like a live one (an invalid one raises
    :class:`budgets.domain.BallotRejected`). ``rule`` defaults to the file's rule when it is one of ours, else
    ``greedy``. With ``close`` a RoundClosed event ends the list."""
    from budgets.rules import UnknownRule, rule_from_pabulib

    if rule is None:
        try:
            rule = rule_from_pabulib(instance.rule)
        except UnknownRule:
            rule = "greedy"
    ballot_type, constraints = _ballot_type(instance)
    meta = {str(k): str(v) for k, v in instance.meta.items()}
    round_ = BudgetRound()
    events: list[NewEvent] = []

    def run(new):
        round_.apply_all(new)
        events.extend(new)

    run(round_.open(round_id=round_id, tenant_id=tenant_id, project_id=project_id,
                    district=district if district is not None else meta.get("district"), budget=instance.budget,
                    currency=meta.get("currency", ""), ballot_type=ballot_type, constraints=constraints, rule=rule,
                    title=title or meta.get("description") or "", opened_by=by, source="pabulib",
                    pabulib_meta=meta, at=at))
    for p in instance.projects:
        run(round_.add_project(id=p.id, cost=p.cost, title=p.fields.get("name", ""),
                               attributes={k: v for k, v in p.fields.items() if k != "name"}, added_by=by, at=at))
    for v in instance.votes:
        run(round_.cast_ballot(voter=imported_voter(round_id, v.voter_id), voter_id=v.voter_id,
                               selection=_selection(v), personal=voter_demographics(v), at=at))
    if close:
        run(round_.close(closed_by=by, at=at))
    return events


def _rejected_vote(instance: Instance, f: pb.PbFile, round_id: str, tenant: str, project_id: str):
    """(voter id, 1-based line) of the first ballot the round's constraints reject."""
    import dataclasses
    empty = dataclasses.replace(instance, votes=())
    round_ = BudgetRound.from_events(instance_to_events(empty, round_id=round_id, tenant_id=tenant,
                                                        project_id=project_id, close=False))
    for v in instance.votes:
        if round_.validate_ballot(_selection(v)):
            return v.voter_id, f.line_of("VOTES", v.voter_id)
    return None, None


def prepare_import(text: str, *, tenant: str, round_id: str, project_id: str, district, rule, title, close: bool,
                   by: str) -> dict:
    """Parse a ``.pb`` text and turn it into events per stream, validating EVERY payload before anything is
    appended (pure CPU: run through ``eventlet.tpool``). Raises ValidationFailed naming the line."""
    try:
        f = pb.parse(text)
        instance = instance_of(f)
    except PabulibError as exc:
        err = ValidationFailed({"pb": [str(exc)]}, f"malformed .pb file: {exc}")
        err.details["line"] = exc.line
        raise err from None
    try:
        events = instance_to_events(instance, round_id=round_id, tenant_id=tenant, project_id=project_id,
                                    district=district, rule=rule, close=close, title=title, by=by, at=now_iso())
    except BallotRejected as exc:
        vid, line = _rejected_vote(instance, f, round_id, tenant, project_id)
        where = f"line {line}: " if line else ""
        err = ValidationFailed({"pb": [f"{where}ballot of voter {vid}: {e.message}" for e in exc.errors]},
                               f"{where}a ballot of the file breaks the round's constraints; nothing was imported")
        err.details["line"] = line
        raise err from None
    except ValidationFailed as exc:
        raise ValidationFailed({"pb": [str(exc)]}, f"the file cannot be imported: {exc}") from None
    round_events, ballots, closing = [], [], None
    for ev in events:
        if ev.type in ("BallotCast", "BallotReplaced"):
            ballots.append((f"ballot-{round_id}-{ev.data['voter_id']}", ev))
        elif ev.type == "RoundClosed":
            closing = ev
        else:
            round_events.append(ev)
    problems: dict = {}
    for ev in round_events + [b for _, b in ballots] + ([closing] if closing else []):
        try:
            registry.validate(ev.type, ev.data)
        except ValidationFailed as exc:
            problems.setdefault(ev.type, []).append(str(exc.fields)[:500])
            if len(problems[ev.type]) > 20:
                break
    if problems:
        raise ValidationFailed(problems, "the file maps to invalid events")
    return {"round": round_events, "ballots": ballots, "close": closing, "projects": len(instance.projects)}


# ====================================================================== round -> file
def _constraint_meta(ballot_type: str, constraints: dict, budget: str) -> dict:
    meta = {}
    names = {"min_projects": "min_length", "max_projects": "max_length", "max_total_points": "max_sum_points",
             "min_total_points": "min_sum_points"}
    if ballot_type == "knapsack":
        meta["max_sum_cost"] = str(constraints.get("max_total_cost") or budget)
    per = {"cumulative": {"max_points_per_project": "max_points"},
           "scoring": {"max_points_per_project": "max_points", "min_points_per_project": "min_points"}}
    names.update(per.get(ballot_type, {}))
    for key, meta_key in names.items():
        if constraints.get(key) is not None:
            meta[meta_key] = str(constraints[key])
    return meta


def export_instance(round_: BudgetRound, pseudonym=lambda: secrets.token_hex(8)) -> Instance:
    """The round (with its counted ballots applied) as an instance whose voters carry fresh pseudonyms (one
    ``pseudonym()`` per ballot, rows ordered by them) and no personal data; META from the import when it came from
    a file, else from the round."""
    opened = round_.opened
    meta = dict(opened.get("pabulib_meta") or {})
    vote_type = {"knapsack": "approval"}.get(round_.ballot_type, round_.ballot_type)
    meta["budget"] = opened["budget"]
    meta["vote_type"] = vote_type
    if opened.get("currency"):
        meta.setdefault("currency", opened["currency"])
    meta.setdefault("rule", round_.rule or "greedy")
    if round_.district and "district" not in meta:
        meta["district"] = round_.district
    if not opened.get("pabulib_meta"):
        meta.update(_constraint_meta(round_.ballot_type, round_.constraints, opened["budget"]))
    projects = []
    for p in round_.projects.values():
        fields = {} if not p["title"] else {"name": p["title"]}
        fields.update(p["attributes"])
        projects.append(Project(p["id"], p["cost"], fields))
    names: set[str] = set()
    votes = []
    for b in round_.ballots.values():
        name = pseudonym()
        while name in names:
            name = pseudonym()
        names.add(name)
        votes.append(Vote(name, tuple(b.projects), None if b.points is None else tuple(Fraction(x) for x in b.points)))
    votes.sort(key=lambda v: v.voter_id)
    meta.update(num_projects=str(len(projects)), num_votes=str(len(votes)))
    return Instance(round_.budget, vote_type, tuple(projects), tuple(votes), meta)


# ====================================================================== the HTTP use cases
class PabulibIO:
    """Import and export of rounds (used by the HTTP routes through :class:`budgets.application.Budgets`)."""

    def __init__(self, app):
        self.app = app

    def import_round(self, tenant: str, by: str, text: str, query: dict) -> dict:
        import eventlet
        from eventlet import tpool
        app = self.app
        round_id = query.get("round_id") or "r-" + new_id(tenant, "round").replace("-", "")[:12]
        if app.store.stream_version(tenant, round_stream(round_id)):
            raise Conflict(f"budget round {round_id} already exists", reason="round_exists")
        plan = tpool.execute(prepare_import, text, tenant=tenant, round_id=round_id,
                             project_id=query["project_id"], district=query.get("district"), rule=query.get("rule"),
                             title=query.get("title"), close=query.get("close", True), by=by)
        app.runner.append_new(tenant, round_stream(round_id), plan["round"], exists_error=lambda: Conflict(
            f"budget round {round_id} already exists", reason="round_exists"))

        def one(item):
            stream, event = item
            app.runner.append_new(tenant, stream, event)

        pool = eventlet.GreenPool(64)
        for _ in pool.imap(one, plan["ballots"]):
            pass
        status = "open"
        if plan["close"] is not None:
            app.runner.run(tenant, round_stream(round_id),
                           lambda events: None if any(e.type == "RoundClosed" for e in events) else plan["close"])
            status = "closed"
        return {"round_id": round_id, "projects": plan["projects"], "ballots": len(plan["ballots"]),
                "status": status}

    def export_round(self, tenant: str, round_id: str) -> str:
        from eventlet import tpool
        app = self.app
        events = app.round_events(tenant, round_id)
        closed = next((e for e in events if e.type == "RoundClosed"), None)
        projections.wait_for(app.db, closed.position if closed else app.store.head(), timeout=60.0)
        round_ = load_round_with_ballots(app.db, app.store, tenant, round_id, closed.position if closed else None)
        return tpool.execute(lambda: dumps(export_instance(round_)))
