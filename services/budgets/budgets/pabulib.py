"""Pabulib ``.pb`` files (https://pabulib.org/format): strict import, export, and conversion to domain events.

A file has three ``;``-separated sections, each introduced by a line holding only its name:
``META`` (header ``key;value``, then one key/value per line; ``budget`` is required, ``vote_type`` defaults to
``approval``), ``PROJECTS`` (header with at least ``project_id;cost``) and ``VOTES`` (header with at least
``voter_id;vote``; ``vote`` is a comma-separated list of project ids, best first for ordinal ballots; cumulative
and scoring ballots add a parallel ``points`` column).  Any other columns (``name``, ``selected``, ``age``,
``sex`` ...) are kept as strings.  Fields may be CSV-quoted.

* :func:`loads` / :func:`load` -> :class:`budgets.instance.Instance`; any defect raises :class:`PabulibError`
  (``.line`` = 1-based line number, also in the message) and nothing is imported.
* :func:`dumps` / :func:`dump` -- a valid ``.pb``; ``loads(dumps(loads(text))) == loads(text)``.
* :func:`instance_to_events` -- the round as domain events (RoundOpened, ProjectAdded..., BallotCast per voter
  with demographics), produced by the same :class:`budgets.domain.BudgetRound` commands as live ballots.
"""
from __future__ import annotations

import csv
import io
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from budgets.instance import BALLOT_TYPES, POINT_BALLOTS, Instance, Project, Vote, format_amount, to_fraction

SECTIONS = ("META", "PROJECTS", "VOTES")


class PabulibError(ValueError):
    """A malformed ``.pb`` file; ``line`` is the 1-based line number of the offending line."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


def _number(text: str, line: int, what: str) -> Fraction:
    try:
        return to_fraction(text)
    except ValueError:
        raise PabulibError(line, f"{what} {text!r} is not a number") from None


def _sections(text: str) -> dict[str, list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text), delimiter=";")
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current = None
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        name = row[0].strip().upper()
        if len(row) == 1 and name in SECTIONS:
            if name in sections:
                raise PabulibError(line, f"section {name} appears twice")
            current = name
            sections[name] = []
            continue
        if current is None:
            raise PabulibError(line, "data before the META section")
        sections[current].append((line, [cell.strip() for cell in row]))
    last = start - 1
    for name in SECTIONS:
        if name not in sections:
            raise PabulibError(max(last, 1), f"missing section {name}")
        if not sections[name]:
            raise PabulibError(max(last, 1), f"section {name} has no header line")
    return sections


def _table(rows, section: str, required: tuple[str, ...]):
    (line, header), body = rows[0], rows[1:]
    missing = [c for c in required if c not in header]
    if missing:
        raise PabulibError(line, f"{section} header lacks column(s) {', '.join(missing)}")
    for row_line, row in body:
        if len(row) != len(header):
            raise PabulibError(row_line, f"{section} row has {len(row)} fields, header has {len(header)}")
    return header, [(row_line, dict(zip(header, row))) for row_line, row in body]


def loads(text: str) -> Instance:
    """Parse the text of a ``.pb`` file (see the module docstring); raises :class:`PabulibError`."""
    if text.startswith("\ufeff"):
        text = text[1:]
    sections = _sections(text)
    meta: dict[str, str] = {}
    meta_lines: dict[str, int] = {}
    for line, row in sections["META"][1:]:
        meta[row[0]] = ";".join(row[1:])
        meta_lines[row[0]] = line
    if "budget" not in meta:
        raise PabulibError(sections["META"][0][0], "META has no budget")
    budget = _number(meta["budget"], meta_lines["budget"], "budget")
    if budget < 0:
        raise PabulibError(meta_lines["budget"], "budget is negative")
    vote_type = meta.get("vote_type", "approval")
    if vote_type not in BALLOT_TYPES:
        raise PabulibError(meta_lines.get("vote_type", 1), f"unknown vote_type {vote_type!r}")

    _, project_rows = _table(sections["PROJECTS"], "PROJECTS", ("project_id", "cost"))
    projects: dict[str, Project] = {}
    for line, row in project_rows:
        pid = row.pop("project_id")
        if not pid:
            raise PabulibError(line, "empty project_id")
        if pid in projects:
            raise PabulibError(line, f"duplicate project_id {pid!r}")
        cost = _number(row.pop("cost"), line, f"cost of project {pid}")
        if cost < 0:
            raise PabulibError(line, f"negative cost {format_amount(cost)} for project {pid}")
        projects[pid] = Project(pid, cost, row)

    needs_points = vote_type in POINT_BALLOTS
    _, vote_rows = _table(sections["VOTES"], "VOTES", ("voter_id", "vote") + (("points",) if needs_points else ()))
    votes: list[Vote] = []
    seen: set[str] = set()
    for line, row in vote_rows:
        vid = row.pop("voter_id")
        if vid in seen:
            raise PabulibError(line, f"duplicate voter_id {vid!r}")
        seen.add(vid)
        chosen = tuple(p.strip() for p in row.pop("vote").split(",") if p.strip())
        for pid in chosen:
            if pid not in projects:
                raise PabulibError(line, f"vote for unknown project {pid!r}")
        if len(set(chosen)) != len(chosen):
            raise PabulibError(line, "a project appears twice in the vote")
        points = None
        if needs_points:
            raw = [p for p in row.pop("points").split(",") if p.strip()]
            if len(raw) != len(chosen):
                raise PabulibError(line, f"{len(raw)} points for {len(chosen)} projects")
            points = tuple(_number(p, line, "points") for p in raw)
            if any(p < 0 for p in points):
                raise PabulibError(line, "negative points")
        votes.append(Vote(vid, chosen, points, row))

    for key, actual in (("num_projects", len(projects)), ("num_votes", len(votes))):
        if key in meta:
            declared = meta[key]
            if not declared.isdigit() or int(declared) != actual:
                raise PabulibError(meta_lines[key], f"{key} is {declared} but the file has {actual}")
    return Instance(budget, vote_type, tuple(projects.values()), tuple(votes), meta)


def load(path: str | Path) -> Instance:
    """Parse a ``.pb`` file (UTF-8)."""
    return loads(Path(path).read_text(encoding="utf-8"))


def _columns(dicts: Iterable[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for d in dicts:
        cols.update(dict.fromkeys(d))
    return list(cols)


def dumps(instance: Instance) -> str:
    """The instance as the text of a valid ``.pb`` file."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    meta = dict(instance.meta)
    try:
        same_budget = to_fraction(meta.get("budget", "")) == instance.budget
    except ValueError:
        same_budget = False
    if not same_budget:
        meta["budget"] = format_amount(instance.budget)
    meta.update(vote_type=instance.vote_type, num_projects=str(len(instance.projects)),
                num_votes=str(len(instance.votes)))
    w.writerow(["META"])
    w.writerow(["key", "value"])
    for key, value in meta.items():
        w.writerow([key, value])
    w.writerow(["PROJECTS"])
    pcols = _columns(p.fields for p in instance.projects)
    w.writerow(["project_id", "cost"] + pcols)
    for p in instance.projects:
        w.writerow([p.id, format_amount(p.cost)] + [p.fields.get(c, "") for c in pcols])
    w.writerow(["VOTES"])
    vcols = _columns(v.fields for v in instance.votes)
    points = instance.vote_type in POINT_BALLOTS
    w.writerow(["voter_id", "vote"] + (["points"] if points else []) + vcols)
    for v in instance.votes:
        row = [v.voter_id, ",".join(v.projects)]
        if points:
            row.append(",".join(format_amount(x) for x in (v.points or ())))
        w.writerow(row + [v.fields.get(c, "") for c in vcols])
    return out.getvalue()


def dump(instance: Instance, path: str | Path) -> None:
    Path(path).write_text(dumps(instance), encoding="utf-8")


# ------------------------------------------------------------------ to domain events

_GENDERS = {"m": "male", "f": "female", "k": "female", "male": "male", "female": "female"}


def voter_demographics(vote: Vote) -> dict:
    """Demographics snapshot from a vote's extra columns (``age``, ``sex``/``gender``, ``birth_year``, ``district``)."""
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


def instance_to_events(instance: Instance, *, round_id: str, tenant_id: str, project_id: str,
                       district: str | None = None, rule: str | None = None, close: bool = True) -> list[dict]:
    """Domain events importing ``instance`` through the :class:`~budgets.domain.BudgetRound` commands.

    Ballot constraints come from META (``min_length``/``max_length``, ``max_sum_cost`` -> knapsack,
    ``max_sum_points`` ...), so an imported ballot is validated exactly like a live one (an invalid one raises
    :class:`budgets.domain.BallotRejected`).  ``rule`` defaults to the file's rule when it is one of ours, else
    ``greedy``.  With ``close`` a RoundClosed event ends the list.
    """
    from budgets.domain import BudgetRound
    from budgets.rules import UnknownRule, rule_from_pabulib

    if rule is None:
        try:
            rule = rule_from_pabulib(instance.rule)
        except UnknownRule:
            rule = "greedy"
    ballot_type, constraints = _ballot_type(instance)
    round_ = BudgetRound()
    events: list[dict] = []

    def run(new):
        round_.apply_all(new)
        events.extend(new)

    run(round_.open(round_id=round_id, tenant_id=tenant_id, project_id=project_id,
                    district=district if district is not None else instance.meta.get("district"),
                    budget=instance.budget, currency=instance.meta.get("currency", ""),
                    ballot_type=ballot_type, constraints=constraints, rule=rule))
    for p in instance.projects:
        run(round_.add_project(id=p.id, cost=p.cost, title=p.fields.get("name", ""),
                               attributes={k: v for k, v in p.fields.items() if k != "name"}))
    for v in instance.votes:
        if v.points is None:
            selection = list(v.projects)
        else:
            selection = [[p, int(x) if x.denominator == 1 else x] for p, x in zip(v.projects, v.points)]
        run(round_.cast_ballot(voter_id=v.voter_id, selection=selection, demographics=voter_demographics(v)))
    if close:
        run(round_.close())
    return events
