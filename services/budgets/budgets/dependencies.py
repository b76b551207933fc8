"""nameko dependencies of the budgets service: the application service (commands and queries over the event store
and the ``budgets_*`` projections), the projection handlers, and the counting worker process.

Streams (see ``agora.events.budgets``): ``round-{round}`` holds the round's lifecycle and projects, and every
ballot is its own stream ``ballot-{round}-{voter_id}``. A command therefore reads short streams only:

* open / add project / close / count: the round stream;
* cast / replace / withdraw: the round stream + the voter's own ballot stream, appended with the ballot stream's
  expected version (concurrent casts by one voter: one wins, the others re-read and become replacements).

Everything that needs *all* ballots of a round (ballot counts, counting, export) reads the ``budgets_ballots``
projection, which a store-driven subscription (``rounds``) keeps in global order. The ballots that count are those
whose global position is below the round's RoundClosed event: the projection ignores later ones (a cast racing
the close), and counting waits until the projection's checkpoint has passed RoundClosed, so an outcome is a
deterministic function of the log.

Domain mapping: :mod:`budgets.domain` names the voter ``voter_id`` and the snapshot ``demographics``; the event
contract names the person ``voter`` (owner of ``personal``, which the store encrypts) and keeps ``voter_id`` as
the ballot's id within the round. :func:`to_contract` / :func:`to_domain` translate in both directions.

CPU-heavy work never runs on the eventlet hub: counting runs in a spawned worker process (:func:`count_job`: it
reads the round and the projected ballots itself, so only ids cross the process boundary, and the hub polls a
pipe), and a ``.pb`` import is parsed, converted through the domain commands and validated in ``eventlet.tpool``.
"""
from __future__ import annotations

import logging
import multiprocessing
import random
import re
import time as _time
import uuid
from fractions import Fraction

from nameko.extensions import DependencyProvider

from agora.config import settings
from agora.errors import BadRequest, ConcurrencyError, Conflict, Forbidden, NotFound, ValidationFailed
from agora.events import registry
from agora.events.envelope import NewEvent, now_iso
from agora.logs import current_correlation
from agora.nameko import mongo_db, process_store
from agora.store import ANY, EventStore
from budgets import domain as dm

log = logging.getLogger("budgets.dependencies")

ROUNDS = "budgets_rounds"
BALLOTS = "budgets_ballots"
CANDIDATES = "budgets_candidates"
SUBSCRIPTION = "rounds"
CHECKPOINT_ID = f"budgets:{SUBSCRIPTION}"
BALLOT_TYPES = ("BallotCast", "BallotReplaced", "BallotWithdrawn")
ROUND_TYPES = ("RoundOpened", "ProjectAdded", "RoundClosed", "OutcomeComputed")
ROUND_SOURCES = {"budgets": list(ROUND_TYPES + BALLOT_TYPES)}
IDEA_SOURCES = {"ideas": ["IdeaSubmitted", "IdeaEdited", "IdeaStatusChanged", "IdeaWithdrawn"]}
ADMIN = {"admin"}
CITIZEN = {"citizen", "admin", "moderator"}
MAX_ATTEMPTS = 60
PROJECTION_WAIT_S = 300.0
COUNT_TIMEOUT_S = 1800.0


def round_stream(round_id: str) -> str:
    return f"round-{round_id}"


def ballot_stream(round_id: str, voter_id: str) -> str:
    return f"ballot-{round_id}-{voter_id}"


def _sleep(seconds: float) -> None:
    try:
        import eventlet
        eventlet.sleep(seconds)
    except ImportError:  # pragma: no cover
        _time.sleep(seconds)


# ====================================================================== contract <-> domain
def personal_of(demographics: dict | None) -> dict | None:
    """The contract's ``personal`` from a domain demographics snapshot (None when nothing was declared)."""
    if not demographics or all(v is None for v in demographics.values()):
        return None
    return {k: demographics.get(k) for k in dm.DEMOGRAPHIC_KEYS}


def to_contract(event: dict, *, voter: str | None = None, **extra) -> tuple[str, dict]:
    """A domain event ``{type, data}`` → (type, contract data)."""
    kind, data = event["type"], dict(event["data"])
    if kind in BALLOT_TYPES:
        voter_id = data.pop("voter_id")
        demographics = data.pop("demographics", None)
        data["voter_id"] = voter_id
        data["voter"] = voter or voter_id
        if kind != "BallotWithdrawn":
            data["personal"] = personal_of(demographics)
    elif kind == "ProjectAdded":
        data["attributes"] = {str(k): str(v) for k, v in (data.get("attributes") or {}).items()}
    data.update({k: v for k, v in extra.items() if v is not None})
    return kind, data


def to_domain(event) -> dict:
    """A stored contract event (``.type``/``.data``) → the domain's ``{type, data}``."""
    data = dict(event.data)
    if event.type in BALLOT_TYPES:
        data["demographics"] = dict(data.get("personal") or {})
    return {"type": event.type, "data": data}


def new_event(kind: str, data: dict) -> NewEvent:
    return NewEvent(kind, data, correlationid=current_correlation())


def domain_error(exc: dm.DomainError):
    """DomainError → the agora error a client gets (422 for bad input, 409 for a wrong phase)."""
    if isinstance(exc, dm.BallotRejected):
        err = ValidationFailed({"selection": [e.message for e in exc.errors]}, "invalid ballot")
        err.details["violations"] = [{"code": e.code, "message": e.message} for e in exc.errors]
        return err
    if exc.code.startswith("round_not_") or exc.code in ("ballots_already_cast", "round_already_opened", "no_ballot"):
        return Conflict(str(exc), code=exc.code)
    field = {"invalid_cost": "cost", "invalid_budget": "budget", "invalid_rule": "rule",
             "invalid_constraints": "constraints", "invalid_ballot_type": "ballot_type",
             "duplicate_project": "id", "invalid_demographics": "personal"}.get(exc.code, "_schema")
    return ValidationFailed({field: [str(exc)]})


# ====================================================================== projections
def ensure_indexes(db) -> None:
    db[ROUNDS].create_index([("tenant", 1), ("project_id", 1)])
    db[BALLOTS].create_index([("tenant", 1), ("round_id", 1)])
    db[CANDIDATES].create_index([("tenant", 1), ("accepted", 1)])


def _key(*parts) -> str:
    return "|".join(str(p) for p in parts)


def apply_round_event(db, event, session=None) -> None:
    """Projection of the budgets events: ``budgets_rounds`` (one doc per round, with the current ballot count)
    and ``budgets_ballots`` (each voter's current ballot, without personal data). Ballot events after the round's
    RoundClosed position are not counted (``late_ballots``)."""
    d, t = event.data, event.tenant
    rid = d["round_id"]
    key = _key(t, rid)
    rounds, ballots = db[ROUNDS], db[BALLOTS]
    if event.type == "RoundOpened":
        doc = {"_id": key, "tenant": t, "round_id": rid, "project_id": d.get("project_id"),
               "district": d.get("district"), "title": d.get("title") or "", "budget": d["budget"],
               "currency": d.get("currency") or "", "ballot_type": d["ballot_type"],
               "constraints": d.get("constraints") or {}, "rule": d.get("rule"), "source": d.get("source") or "live",
               "status": "open", "opened_at": event.time, "projects": [], "ballots": 0, "late_ballots": 0,
               "closed_position": None, "closed_at": None, "outcome": None, "position": event.position}
        rounds.replace_one({"_id": key}, doc, upsert=True, session=session)
    elif event.type == "ProjectAdded":
        rounds.update_one({"_id": key}, {"$push": {"projects": {"id": d["id"], "cost": d["cost"],
                                                                "title": d.get("title") or "",
                                                                "attributes": d.get("attributes") or {}}},
                                         "$set": {"position": event.position}}, session=session)
    elif event.type == "RoundClosed":
        rounds.update_one({"_id": key}, {"$set": {"status": "closed", "closed_position": event.position,
                                                  "closed_at": event.time, "position": event.position}},
                          session=session)
    elif event.type == "OutcomeComputed":
        rounds.update_one({"_id": key}, {"$set": {"outcome": {
            "rule": d["rule"], "selected": d["selected"], "total_cost": d["total_cost"],
            "ballots": d.get("ballots"), "position": event.position}, "position": event.position}},
            session=session)
    elif event.type in BALLOT_TYPES:
        rnd = rounds.find_one({"_id": key}, {"status": 1}, session=session)
        if rnd is not None and rnd.get("status") == "closed":
            rounds.update_one({"_id": key}, {"$inc": {"late_ballots": 1}}, session=session)
            return
        vid = d["voter_id"]
        doc = {"_id": _key(t, rid, vid), "tenant": t, "round_id": rid, "voter_id": vid,
               "active": event.type != "BallotWithdrawn", "position": event.position}
        if event.type != "BallotWithdrawn":
            doc["projects"] = list(d["ballot"]["projects"])
            doc["points"] = d["ballot"].get("points")
        ballots.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)
        inc = {"BallotCast": 1, "BallotReplaced": 0, "BallotWithdrawn": -1}[event.type]
        if inc:
            rounds.update_one({"_id": key}, {"$inc": {"ballots": inc}}, session=session)


def apply_idea_event(db, event, session=None) -> None:
    """``budgets_candidates``: the tenant's ideas with their title and status; accepted ones are candidate
    projects for a budget round."""
    d, t = event.data, event.tenant
    key = _key(t, d["idea_id"])
    col = db[CANDIDATES]
    if event.type == "IdeaSubmitted":
        col.update_one({"_id": key}, {"$set": {"tenant": t, "idea_id": d["idea_id"], "project_id": d["project_id"],
                                               "title": d["title"], "submitted_at": event.time},
                                      "$setOnInsert": {"status": d.get("status"), "accepted": False}},
                       upsert=True, session=session)
    elif event.type == "IdeaEdited":
        col.update_one({"_id": key}, {"$set": {"title": d["title"]}}, session=session)
    elif event.type == "IdeaStatusChanged":
        col.update_one({"_id": key}, {"$set": {"tenant": t, "idea_id": d["idea_id"], "project_id": d["project_id"],
                                               "title": d["title"], "status": d["to"],
                                               "accepted": d["to"] == "accepted", "decided_at": event.time}},
                       upsert=True, session=session)
    elif event.type == "IdeaWithdrawn":
        col.update_one({"_id": key}, {"$set": {"status": "withdrawn", "accepted": False}}, session=session)


def projection_position(db) -> int:
    doc = db["subscription_checkpoints"].find_one({"_id": CHECKPOINT_ID})
    return int(doc["position"]) if doc else 0


# ====================================================================== counting worker (spawned process)
def _natural(voter_id: str):
    return (0, int(voter_id), "") if voter_id.isdigit() else (1, 0, voter_id)


def load_round_with_ballots(db, store, tenant: str, round_id: str, until: int | None):
    """The round aggregate with every projected ballot below position ``until`` (all when None), ballots in
    natural voter-id order (deterministic instances and exports)."""
    events = store.read_stream(tenant, round_stream(round_id))
    round_ = dm.BudgetRound.from_events(to_domain(e) for e in events)
    docs = [b for b in db[BALLOTS].find({"tenant": tenant, "round_id": round_id},
                                        {"voter_id": 1, "projects": 1, "points": 1, "active": 1, "position": 1})
            if b.get("active") and (until is None or b["position"] < until)]
    docs.sort(key=lambda b: _natural(b["voter_id"]))
    round_.apply_all({"type": "BallotCast", "data": {"voter_id": b["voter_id"], "ballot": {
        "projects": b["projects"], "points": b.get("points")}, "demographics": {}}} for b in docs)
    return round_


def count_job(conn, mongo_uri: str, db_name: str, tenant: str, round_id: str, until: int, rule: str,
              tie_breaking, threshold, events_db_name: str | None = None) -> None:
    """Runs in a spawned worker process: load the round and its ballots, count, send ``("ok", Outcome,
    ballots)`` or ``("error", kind, message)`` through ``conn``."""
    try:
        from agora.store import connect
        from budgets.rules import count
        db = connect(mongo_uri, db_name)
        store = EventStore(db, events_db=db.client.get_database(events_db_name or db_name))
        round_ = load_round_with_ballots(db, store, tenant, round_id, until)
        outcome = count(round_.to_instance(), rule, tie_breaking=tie_breaking, threshold=threshold)
        conn.send(("ok", outcome, len(round_.ballots)))
    except (ValueError, dm.DomainError) as exc:
        conn.send(("error", "invalid", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the caller, never a hang
        conn.send(("error", "crash", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def count_in_process(tenant: str, round_id: str, until: int, rule: str, tie_breaking=None, threshold=None,
                     timeout: float = COUNT_TIMEOUT_S):
    """Start :func:`count_job` in a fresh spawned process and wait for it cooperatively (the eventlet hub keeps
    serving: only a pipe is polled). Returns ``(Outcome, ballots)``."""
    cfg = settings()
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=count_job, args=(sender, cfg.mongo_uri, cfg.mongo_db, tenant, round_id, until, rule,
                                               None if tie_breaking is None else list(tie_breaking), threshold,
                                               cfg.events_db),
                       daemon=True, name=f"budgets-count-{round_id}")
    proc.start()
    sender.close()
    deadline = _time.monotonic() + timeout
    try:
        while not receiver.poll(0):
            if proc.exitcode is not None and not receiver.poll(0):
                raise RuntimeError(f"counting process exited with code {proc.exitcode}")
            if _time.monotonic() > deadline:
                raise RuntimeError("counting timed out")
            _sleep(0.05)
        result = receiver.recv()
    finally:
        receiver.close()
        if proc.is_alive():
            proc.join(0.1)
        if proc.is_alive():
            proc.terminate()
    if result[0] == "ok":
        return result[1], result[2]
    if result[1] == "invalid":
        raise ValidationFailed({"rule": [result[2]]})
    raise RuntimeError(result[2])


# ====================================================================== pabulib (runs in tpool)
def _pb_constraint_meta(ballot_type: str, constraints: dict, budget: str) -> dict:
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


def prepare_import(text: str, *, tenant: str, round_id: str, project_id: str, district, rule, title, close: bool,
                   by: str) -> dict:
    """Parse a ``.pb`` text and turn it into contract events per stream, validating EVERY payload before anything
    is appended (pure CPU: called through ``eventlet.tpool.execute``). Raises ValidationFailed naming the line."""
    from budgets import pabulib
    try:
        instance = pabulib.loads(text)
    except pabulib.PabulibError as exc:
        err = ValidationFailed({"pb": [str(exc)]}, f"malformed .pb file: {exc}")
        err.details["line"] = exc.line
        raise err from None
    try:
        events = pabulib.instance_to_events(instance, round_id=round_id, tenant_id=tenant, project_id=project_id,
                                            district=district, rule=rule, close=close)
    except dm.BallotRejected as exc:
        vid, line = _rejected_vote(instance, text, round_id=round_id, tenant=tenant, project_id=project_id)
        where = f"line {line}: " if line else ""
        err = ValidationFailed({"pb": [f"{where}ballot of voter {vid}: {e.message}" for e in exc.errors]},
                               f"{where}a ballot of the file breaks the round's constraints; nothing was imported")
        err.details["line"] = line
        raise err from None
    except dm.DomainError as exc:
        raise ValidationFailed({"pb": [str(exc)]}, "the file cannot be imported") from None
    at = now_iso()
    round_events, ballots, closing = [], [], None
    for ev in events:
        kind = ev["type"]
        if kind in BALLOT_TYPES:
            vid = ev["data"]["voter_id"]
            ballots.append((ballot_stream(round_id, vid),
                            to_contract(ev, voter=f"pabulib:{round_id}:{vid}", at=at)))
        elif kind == "RoundOpened":
            meta = {str(k): str(v) for k, v in instance.meta.items()}
            round_events.append(to_contract(ev, title=title or meta.get("description") or "", opened_by=by,
                                            source="pabulib", pabulib_meta=meta, at=at))
        elif kind == "RoundClosed":
            closing = to_contract(ev, closed_by=by, at=at)
        else:
            round_events.append(to_contract(ev, added_by=by, at=at))
    problems = {}
    for kind, data in round_events + [b for _, b in ballots] + ([closing] if closing else []):
        try:
            registry.validate(kind, data)
        except ValidationFailed as exc:
            problems.setdefault(kind, []).append(str(exc.fields)[:500])
            if len(problems[kind]) > 20:
                break
    if problems:
        raise ValidationFailed(problems, "the file maps to invalid events")
    return {"round": round_events, "ballots": ballots, "close": closing, "projects": len(instance.projects)}


def _rejected_vote(instance, text: str, **ids):
    """(voter id, 1-based line) of the first ballot of ``instance`` that the round's constraints reject."""
    import dataclasses

    from budgets import pabulib
    empty = dataclasses.replace(instance, votes=())
    round_ = dm.BudgetRound.from_events(pabulib.instance_to_events(empty, close=False, **{
        "round_id": ids["round_id"], "tenant_id": ids["tenant"], "project_id": ids["project_id"]}))
    for v in instance.votes:
        selection = list(v.projects) if v.points is None else [[p, int(x)] if x.denominator == 1 else [p, x]
                                                                 for p, x in zip(v.projects, v.points)]
        if round_.validate_ballot(selection):
            in_votes = False
            for number, row in enumerate(text.splitlines(), start=1):
                cell = row.split(";", 1)[0].strip().strip('"')
                if cell.upper() == "VOTES":
                    in_votes = True
                elif in_votes and cell == v.voter_id:
                    return v.voter_id, number
            return v.voter_id, None
    return None, None


def export_instance(round_: dm.BudgetRound, opened: dict):
    """The round (with its counted ballots applied) as a Pabulib instance; META from the import when it came
    from a file, else from the round."""
    from budgets.instance import Instance, Project, Vote
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
        meta.update(_pb_constraint_meta(round_.ballot_type, round_.constraints, opened["budget"]))
    projects = []
    for p in round_.projects.values():
        fields = {} if not p["title"] else {"name": p["title"]}
        fields.update(p["attributes"])
        projects.append(Project(p["id"], p["cost"], fields))
    votes = [Vote(b.voter_id, tuple(b.projects), None if b.points is None else tuple(Fraction(x) for x in b.points))
             for b in round_.ballots.values()]
    return Instance(round_.budget, vote_type, tuple(projects), tuple(votes), meta)


# ====================================================================== explanations
def explain_project(outcome: dict, pid: str) -> dict:
    """Why a project was (not) funded, from an OutcomeComputed payload."""
    projects = outcome.get("projects") or []
    entry = next((p for p in projects if p["id"] == pid), None)
    if entry is None:
        raise NotFound(f"project {pid} is not in this round's outcome")

    def score(p):
        return Fraction(p["score"]) if p.get("score") is not None else Fraction(p["votes"])

    mine = score(entry)
    rank = 1 + sum(1 for p in projects if score(p) > mine)
    budget, cost = Fraction(outcome["budget"]), Fraction(entry["cost"])
    rule = outcome["rule"]
    order = {p: i for i, p in enumerate(outcome.get("selected") or [])}
    details: dict = {"score": entry.get("score"), "votes": entry["votes"], "cost": entry["cost"]}
    if entry.get("mes"):
        details["mes"] = entry["mes"]
    if entry["selected"]:
        text = (f"funded: selected as number {order.get(pid, 0) + 1} by rule {rule} "
                f"(rank {rank} by score, cost {entry['cost']} of the budget {outcome['budget']})")
        if entry.get("mes"):
            text += f"; its supporters paid at most {entry['mes'].get('max_payment')} each"
        return {"selected": True, "rank": rank, "explanation": text, "details": details}
    if entry["votes"] == 0:
        text = "not funded: no ballot supports it"
    elif cost > budget:
        text = f"not funded: its cost {entry['cost']} exceeds the whole budget {outcome['budget']}"
    elif rule == "greedy-threshold" and outcome.get("details", {}).get("threshold") is not None \
            and mine < Fraction(outcome["details"]["threshold"]):
        text = f"not funded: its score {entry['score']} is below the threshold {outcome['details']['threshold']}"
    elif rule.startswith("mes") and entry.get("mes"):
        left = entry["mes"].get("supporters_budget_left")
        text = f"not funded (method of equal shares): {entry['mes'].get('reason')}"
        if left is not None:
            text += f"; its supporters had {left} left for a cost of {entry['cost']}"
    else:
        ahead = [p for p in projects if p["selected"] and score(p) >= mine and p["id"] != pid]
        spent = sum((Fraction(p["cost"]) for p in ahead), Fraction(0))
        remaining = budget - spent
        details["funded_before"] = [p["id"] for p in ahead]
        details["remaining_budget"] = _amount(remaining)
        if cost > remaining:
            text = (f"not funded: when its turn came (rank {rank} by score), {len(ahead)} project(s) ranked at least "
                    f"as high had used {_amount(spent)}, leaving {_amount(remaining)} for a cost of {entry['cost']}")
        else:
            text = (f"not funded by rule {rule}: counting stopped before its turn (rank {rank} by score), "
                    f"at a project that did not fit the budget")
    return {"selected": False, "rank": rank, "explanation": text, "details": details}


def _amount(value: Fraction) -> str:
    from budgets.instance import format_amount
    return format_amount(value)


# ====================================================================== the application service
class Budgets:
    """Application service: what a request needs, with no HTTP in it (used by the HTTP and RPC entrypoints)."""

    def __init__(self, store: EventStore, db):
        self.store = store
        self.db = db

    # ---------------------------------------------------------------- loading
    def _round_events(self, tenant: str, round_id: str):
        events = self.store.read_stream(tenant, round_stream(round_id))
        if not events:
            raise NotFound(f"budget round {round_id} not found")
        return events

    def load_round(self, tenant: str, round_id: str):
        events = self._round_events(tenant, round_id)
        return dm.BudgetRound.from_events(to_domain(e) for e in events), events

    def _append_round(self, tenant: str, round_id: str, decide, attempts: int = MAX_ATTEMPTS):
        """Load the round, ``decide(round_, events) -> [(type, data)]``, append with the expected version."""
        for attempt in range(attempts):
            round_, events = self.load_round(tenant, round_id)
            new = decide(round_, events)
            try:
                positions = self.store.append(tenant, round_stream(round_id),
                                              [new_event(k, d) for k, d in new], len(events))
                return new, positions
            except ConcurrencyError:
                if attempt + 1 == attempts:
                    raise
                _sleep(random.uniform(0, 0.01 * (attempt + 1)))

    def wait_projection(self, position: int, timeout: float = PROJECTION_WAIT_S) -> None:
        deadline = _time.monotonic() + timeout
        while projection_position(self.db) < position:
            if _time.monotonic() > deadline:
                raise Conflict("the ballot projection is still catching up; try again shortly",
                               code="projection_behind")
            _sleep(0.05)

    # ---------------------------------------------------------------- round management (admin)
    def open_round(self, tenant: str, actor: str, body: dict) -> dict:
        round_id = body.get("round_id") or "r-" + uuid.uuid4().hex[:12]
        try:
            events = dm.BudgetRound().open(round_id=round_id, tenant_id=tenant, project_id=body["project_id"],
                                           district=body.get("district"), budget=body["budget"],
                                           currency=body["currency"], ballot_type=body["ballot_type"],
                                           constraints=body.get("constraints") or {}, rule=body.get("rule") or "greedy",
                                           at=now_iso())
        except dm.DomainError as exc:
            raise domain_error(exc) from None
        kind, data = to_contract(events[0], title=body.get("title") or "", opened_by=actor, source="live")
        try:
            positions = self.store.append(tenant, round_stream(round_id), [new_event(kind, data)], 0)
        except ConcurrencyError:
            raise Conflict(f"budget round {round_id} already exists", code="round_exists") from None
        return dict(self.round_view(tenant, round_id), position=positions[0])

    def add_project(self, tenant: str, actor: str, round_id: str, body: dict) -> dict:
        title, attributes = body.get("title"), dict(body.get("attributes") or {})
        if body.get("idea_id"):
            idea = self.db[CANDIDATES].find_one({"_id": _key(tenant, body["idea_id"])})
            if idea is None or not idea.get("accepted"):
                raise ValidationFailed({"idea_id": [f"{body['idea_id']} is not an accepted idea of this tenant"]})
            title = title or idea["title"]
            attributes["idea_id"] = body["idea_id"]
        pid = body.get("id") or body.get("idea_id") or "p-" + uuid.uuid4().hex[:10]
        if self.db[BALLOTS].find_one({"tenant": tenant, "round_id": round_id}, {"_id": 1}) is not None:
            raise Conflict("projects cannot be added once ballots were cast", code="ballots_already_cast")

        def decide(round_, events):
            if round_.status == "open" and any(
                    p["attributes"].get("idea_id") == attributes.get("idea_id") for p in round_.projects.values()
                    if attributes.get("idea_id")):
                raise Conflict(f"idea {attributes['idea_id']} is already on this round", code="duplicate_idea")
            try:
                new = round_.add_project(id=pid, cost=body["cost"], title=title or "", attributes=attributes,
                                         at=now_iso())
            except dm.DomainError as exc:
                raise domain_error(exc) from None
            return [to_contract(e, added_by=actor) for e in new]
        _, positions = self._append_round(tenant, round_id, decide)
        round_, _ = self.load_round(tenant, round_id)
        p = round_.projects[pid]
        return {"round_id": round_id, "id": pid, "cost": _amount(p["cost"]), "title": p["title"],
                "attributes": p["attributes"], "position": positions[0]}

    def close_round(self, tenant: str, actor: str, round_id: str) -> dict:
        try:                                          # best effort: an exact ballot count in RoundClosed
            self.wait_projection(self.store.head(), timeout=10.0)
        except Conflict:
            log.warning("closing round %s while the ballot projection lags", round_id)

        def decide(round_, events):
            try:
                new = round_.close(at=now_iso())
            except dm.DomainError as exc:
                raise domain_error(exc) from None
            doc = self.db[ROUNDS].find_one({"_id": _key(tenant, round_id)}, {"ballots": 1}) or {}
            return [to_contract(e, closed_by=actor, ballots=int(doc.get("ballots") or 0)) for e in new]
        new, positions = self._append_round(tenant, round_id, decide)
        return {"round_id": round_id, "status": "closed", "ballots": new[0][1]["ballots"], "position": positions[0]}

    # ---------------------------------------------------------------- counting (admin)
    def compute_outcome(self, tenant: str, actor: str, round_id: str, body: dict) -> dict:
        round_, events = self.load_round(tenant, round_id)
        if round_.status != "closed":
            raise Conflict("the round must be closed before its outcome is computed", code="round_not_closed")
        closed = next(e for e in events if e.type == "RoundClosed")
        rule = body.get("rule") or round_.rule or "greedy"
        threshold = body.get("threshold")
        if rule == "greedy-threshold" and threshold is None:
            raise ValidationFailed({"threshold": ["greedy-threshold needs a threshold"]})
        self.wait_projection(closed.position)
        outcome, ballots = count_in_process(tenant, round_id, closed.position, rule, body.get("tie_breaking"),
                                            threshold)

        def decide(round_, events):
            new = round_.record_outcome(outcome)
            return [to_contract(e, currency=round_.currency or "", ballots=ballots, computed_by=actor,
                                at=now_iso()) for e in new]
        new, positions = self._append_round(tenant, round_id, decide)
        return dict(new[0][1], position=positions[0])

    def outcome(self, tenant: str, round_id: str) -> dict:
        events = self._round_events(tenant, round_id)
        last = next((e for e in reversed(events) if e.type == "OutcomeComputed"), None)
        if last is None:
            raise NotFound(f"round {round_id} has no outcome yet")
        return dict(last.data, position=last.position)

    def explain(self, tenant: str, round_id: str, pid: str) -> dict:
        out = self.outcome(tenant, round_id)
        entry = next((p for p in out.get("projects") or [] if p["id"] == pid), None)
        if entry is None:
            raise NotFound(f"project {pid} is not in round {round_id}")
        round_, _ = self.load_round(tenant, round_id)
        project = dict(entry, title=round_.projects.get(pid, {}).get("title", ""))
        return {"round_id": round_id, "project": project, **explain_project(out, pid)}

    # ---------------------------------------------------------------- ballots (citizens)
    def _ballot_command(self, tenant: str, voter: str, round_id: str, command):
        stream = ballot_stream(round_id, voter)
        for attempt in range(MAX_ATTEMPTS):
            round_events = self._round_events(tenant, round_id)
            ballot_events = self.store.read_stream(tenant, stream)
            round_ = dm.BudgetRound.from_events(to_domain(e) for e in round_events + ballot_events)
            try:
                new = command(round_)
            except dm.DomainError as exc:
                raise domain_error(exc) from None
            contract = [to_contract(e, voter=voter) for e in new]
            try:
                positions = self.store.append(tenant, stream, [new_event(k, d) for k, d in contract],
                                              len(ballot_events))
                return contract[0], positions[0]
            except ConcurrencyError:
                if attempt + 1 == MAX_ATTEMPTS:
                    raise
                _sleep(random.uniform(0, 0.005 * (attempt + 1)))

    def cast_ballot(self, tenant: str, voter: str, round_id: str, selection, personal: dict | None) -> dict:
        demographics = None
        if personal:
            demographics = {k: personal.get(k) for k in dm.DEMOGRAPHIC_KEYS}
        (kind, data), position = self._ballot_command(
            tenant, voter, round_id,
            lambda r: r.cast_ballot(voter_id=voter, selection=selection, demographics=demographics, at=now_iso()))
        return {"result": "cast" if kind == "BallotCast" else "replaced", "round_id": round_id, "voter_id": voter,
                "projects": data["ballot"]["projects"], "points": data["ballot"]["points"], "position": position}

    def withdraw_ballot(self, tenant: str, voter: str, round_id: str) -> dict:
        _, position = self._ballot_command(tenant, voter, round_id,
                                           lambda r: r.withdraw_ballot(voter_id=voter, at=now_iso()))
        return {"result": "withdrawn", "round_id": round_id, "voter_id": voter, "projects": [], "points": None,
                "position": position}

    def my_ballot(self, tenant: str, voter: str, round_id: str) -> dict:
        self._round_events(tenant, round_id)
        events = self.store.read_stream(tenant, ballot_stream(round_id, voter))
        last = events[-1] if events else None
        if last is None or last.type == "BallotWithdrawn":
            return {"result": "none", "round_id": round_id, "voter_id": voter, "projects": [], "points": None,
                    "position": last.position if last else None}
        return {"result": "cast" if last.type == "BallotCast" else "replaced", "round_id": round_id,
                "voter_id": voter, "projects": last.data["ballot"]["projects"],
                "points": last.data["ballot"]["points"], "position": last.position,
                "personal": last.data.get("personal")}

    # ---------------------------------------------------------------- queries
    def round_view(self, tenant: str, round_id: str) -> dict:
        round_, events = self.load_round(tenant, round_id)
        opened = events[0].data
        doc = self.db[ROUNDS].find_one({"_id": _key(tenant, round_id)}, {"ballots": 1, "late_ballots": 1}) or {}
        last = next((e for e in reversed(events) if e.type == "OutcomeComputed"), None)
        return {"round_id": round_id, "project_id": round_.project_id, "district": round_.district,
                "title": opened.get("title") or "", "budget": opened["budget"], "currency": round_.currency or "",
                "ballot_type": round_.ballot_type, "constraints": round_.constraints, "rule": round_.rule,
                "status": round_.status, "source": opened.get("source") or "live",
                "projects": [{"id": p["id"], "cost": _amount(p["cost"]), "title": p["title"],
                              "attributes": p["attributes"]} for p in round_.projects.values()],
                "ballots": int(doc.get("ballots") or 0), "late_ballots": int(doc.get("late_ballots") or 0),
                "version": len(events),
                "outcome": None if last is None else {"rule": last.data["rule"], "selected": last.data["selected"],
                                                      "total_cost": last.data["total_cost"]}}

    def list_rounds(self, tenant: str, project_id=None, district=None) -> list[dict]:
        query = {"tenant": tenant}
        if project_id:
            query["project_id"] = project_id
        docs = [d for d in self.db[ROUNDS].find(query, {"_id": 0, "projects": 0})
                if not district or d.get("district") == district]
        docs.sort(key=lambda d: d.get("opened_at") or "")
        return docs

    def candidates(self, tenant: str, project_id=None, round_id=None) -> list[dict]:
        docs = [d for d in self.db[CANDIDATES].find({"tenant": tenant, "accepted": True}, {"_id": 0})
                if not project_id or d.get("project_id") == project_id]
        if round_id:
            round_, _ = self.load_round(tenant, round_id)
            taken = {p["attributes"].get("idea_id") for p in round_.projects.values()}
            docs = [d for d in docs if d["idea_id"] not in taken]
        docs.sort(key=lambda d: (d.get("decided_at") or "", d["idea_id"]))
        return [{"idea_id": d["idea_id"], "project_id": d.get("project_id"), "title": d.get("title"),
                 "status": d.get("status")} for d in docs]

    # ---------------------------------------------------------------- pabulib
    def import_pb(self, tenant: str, actor: str, text: str, query: dict) -> dict:
        import eventlet
        from eventlet import tpool
        round_id = query.get("round_id") or "r-" + uuid.uuid4().hex[:12]
        if self.store.stream_version(tenant, round_stream(round_id)):
            raise Conflict(f"budget round {round_id} already exists", code="round_exists")
        plan = tpool.execute(prepare_import, text, tenant=tenant, round_id=round_id,
                             project_id=query["project_id"], district=query.get("district"), rule=query.get("rule"),
                             title=query.get("title"), close=query.get("close", True), by=actor)
        try:
            self.store.append(tenant, round_stream(round_id), [new_event(k, d) for k, d in plan["round"]], 0)
        except ConcurrencyError:
            raise Conflict(f"budget round {round_id} already exists", code="round_exists") from None

        def one(item):
            stream, (kind, data) = item
            self.store.append(tenant, stream, [new_event(kind, data)], 0)

        pool = eventlet.GreenPool(64)
        for _ in pool.imap(one, plan["ballots"]):
            pass
        status = "open"
        if plan["close"] is not None:
            self.store.append(tenant, round_stream(round_id), [new_event(*plan["close"])], len(plan["round"]))
            status = "closed"
        return {"round_id": round_id, "projects": plan["projects"], "ballots": len(plan["ballots"]),
                "status": status}

    def export_pb(self, tenant: str, round_id: str) -> str:
        from eventlet import tpool

        from budgets import pabulib
        events = self._round_events(tenant, round_id)
        closed = next((e for e in events if e.type == "RoundClosed"), None)
        self.wait_projection(closed.position if closed else self.store.head(), timeout=60.0)
        round_ = load_round_with_ballots(self.db, self.store, tenant, round_id, closed.position if closed else None)
        return tpool.execute(lambda: pabulib.dumps(export_instance(round_, events[0].data)))


def check_actor(actor: dict | None, roles) -> str:
    """RPC callers pass ``actor = {"sub": ..., "roles": [...]}``; the same role rules as HTTP."""
    if not isinstance(actor, dict) or not actor.get("sub"):
        raise BadRequest("actor {sub, roles} is required")
    if not set(actor.get("roles") or ()) & set(roles):
        raise Forbidden(f"requires one of the roles {sorted(roles)}")
    return str(actor["sub"])


ROUND_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def check_id(value: str, what: str = "round_id") -> str:
    if not isinstance(value, str) or not ROUND_ID_RE.match(value):
        raise NotFound(f"{what} {value!r} not found")
    return value


class BudgetsDep(DependencyProvider):
    """Injects :class:`Budgets` (one store per container; indexes ensured at start)."""

    def setup(self):
        db = mongo_db()
        registry.all_types()                         # load the catalog before any tpool thread validates
        self.app = Budgets(process_store(db), db)   # the process's store (event log in AGORA_EVENTS_DB)
        ensure_indexes(db)

    def get_dependency(self, worker_ctx):
        return self.app


__all__ = ["Budgets", "BudgetsDep", "apply_round_event", "apply_idea_event", "ROUND_SOURCES", "IDEA_SOURCES",
           "count_job", "explain_project", "ANY"]
