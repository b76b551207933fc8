"""Read models of the budgets service (``budgets_*`` collections) and their queries.

* ``budgets_rounds``: one document per round (settings, projects, status, current ballot count, last outcome);
* ``budgets_ballots``: each voter's current ballot in a round (no personal data), with its global position;
* ``budgets_candidates``: the tenant's ideas with title and status (accepted ones can be put on a ballot).

One store-driven subscription (``rounds``) projects the budgets events *and* ``PersonalDataForgotten`` in global
order, so an erasure always finds the ballots it concerns and a rebuild equals the live read models. The ballots
that count are those whose position is below the round's RoundClosed: the projection counts later ones as
``late_ballots`` only, and counting waits until the checkpoint has passed RoundClosed (:func:`wait_for`), so an
outcome is a deterministic function of the log.

Erasure (``PersonalDataForgotten {person}``, person = the pseudonym): the person's ballots stay counted, but their
documents no longer name them: ``voter_id`` (and the document id) become ``erased-<digest of the erasure event and
the round>``. The read models hold no demographics (ballot demographics stay in the crypto-shredded events).
"""
from __future__ import annotations

import hashlib
import time

from agora.errors import Conflict

ROUNDS = "budgets_rounds"
BALLOTS = "budgets_ballots"
CANDIDATES = "budgets_candidates"
SUBSCRIPTION = "rounds"
CHECKPOINT_ID = f"budgets:{SUBSCRIPTION}"
BALLOT_TYPES = ("BallotCast", "BallotReplaced", "BallotWithdrawn")
ROUND_TYPES = ("RoundOpened", "ProjectAdded", "RoundClosed", "OutcomeComputed")
ROUND_SOURCES = {"budgets": list(ROUND_TYPES + BALLOT_TYPES), "agora": ["PersonalDataForgotten"]}
ROUND_COLLECTIONS = [ROUNDS, BALLOTS]
ROUND_LAYOUT = 2          # 2: PersonalDataForgotten handled (a checkpoint of layout 1 is replayed)
IDEA_SOURCES = {"ideas": ["IdeaSubmitted", "IdeaEdited", "IdeaStatusChanged", "IdeaWithdrawn"]}
IDEA_COLLECTIONS = [CANDIDATES]


def key(*parts) -> str:
    return "|".join(str(p) for p in parts)


def ensure_indexes(db) -> None:
    db[ROUNDS].create_index([("tenant", 1), ("project_id", 1)])
    db[BALLOTS].create_index([("tenant", 1), ("round_id", 1)])
    db[BALLOTS].create_index([("tenant", 1), ("voter_id", 1)])
    db[CANDIDATES].create_index([("tenant", 1), ("accepted", 1)])


# ====================================================================== handlers
def apply_round_event(db, event, session=None) -> None:
    """``budgets_rounds`` and ``budgets_ballots`` from one budgets event (or an erasure)."""
    if event.type == "PersonalDataForgotten":
        forget_person(db, event, session)
        return
    d, t = event.data, event.tenant
    rid = d["round_id"]
    rkey = key(t, rid)
    rounds, ballots = db[ROUNDS], db[BALLOTS]
    if event.type == "RoundOpened":
        doc = {"_id": rkey, "tenant": t, "round_id": rid, "project_id": d.get("project_id"),
               "district": d.get("district"), "title": d.get("title") or "", "budget": d["budget"],
               "currency": d.get("currency") or "", "ballot_type": d["ballot_type"],
               "constraints": d.get("constraints") or {}, "rule": d.get("rule"), "source": d.get("source") or "live",
               "status": "open", "opened_at": event.time, "projects": [], "ballots": 0, "late_ballots": 0,
               "closed_position": None, "closed_at": None, "outcome": None, "position": event.position}
        rounds.replace_one({"_id": rkey}, doc, upsert=True, session=session)
    elif event.type == "ProjectAdded":
        rounds.update_one({"_id": rkey}, {"$push": {"projects": {"id": d["id"], "cost": d["cost"],
                                                                 "title": d.get("title") or "",
                                                                 "attributes": d.get("attributes") or {}}},
                                          "$set": {"position": event.position}}, session=session)
    elif event.type == "RoundClosed":
        rounds.update_one({"_id": rkey}, {"$set": {"status": "closed", "closed_position": event.position,
                                                   "closed_at": event.time, "position": event.position}},
                          session=session)
    elif event.type == "OutcomeComputed":
        rounds.update_one({"_id": rkey}, {"$set": {"outcome": {
            "rule": d["rule"], "selected": d["selected"], "total_cost": d["total_cost"],
            "ballots": d.get("ballots"), "position": event.position}, "position": event.position}},
            session=session)
    elif event.type in BALLOT_TYPES:
        rnd = rounds.find_one({"_id": rkey}, {"status": 1}, session=session)
        if rnd is not None and rnd.get("status") == "closed":
            rounds.update_one({"_id": rkey}, {"$inc": {"late_ballots": 1}}, session=session)
            return
        vid = d.get("voter_id") or d["voter"]
        doc = {"_id": key(t, rid, vid), "tenant": t, "round_id": rid, "voter_id": vid,
               "active": event.type != "BallotWithdrawn", "position": event.position}
        if event.type != "BallotWithdrawn":
            doc["projects"] = list(d["ballot"]["projects"])
            doc["points"] = d["ballot"].get("points")
        ballots.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)
        inc = {"BallotCast": 1, "BallotReplaced": 0, "BallotWithdrawn": -1}[event.type]
        if inc:
            rounds.update_one({"_id": rkey}, {"$inc": {"ballots": inc}}, session=session)


def forget_person(db, event, session=None) -> None:
    """The erased person's ballot documents stop naming them (they keep counting)."""
    person, t = event.data["person"], event.tenant
    col = db[BALLOTS]
    for doc in list(col.find({"tenant": t, "voter_id": person}, session=session)):
        anonymous = "erased-" + hashlib.sha256(f"{event.id}|{doc['round_id']}".encode()).hexdigest()[:20]
        col.delete_one({"_id": doc["_id"]}, session=session)
        col.replace_one({"_id": key(t, doc["round_id"], anonymous)},
                        dict(doc, _id=key(t, doc["round_id"], anonymous), voter_id=anonymous),
                        upsert=True, session=session)


def apply_idea_event(db, event, session=None) -> None:
    """``budgets_candidates``: the tenant's ideas with their title and status; accepted ones are candidate
    projects for a budget round."""
    d, t = event.data, event.tenant
    ikey = key(t, d["idea_id"])
    col = db[CANDIDATES]
    if event.type == "IdeaSubmitted":
        col.update_one({"_id": ikey}, {"$set": {"tenant": t, "idea_id": d["idea_id"], "project_id": d["project_id"],
                                                "title": d["title"], "submitted_at": event.time},
                                       "$setOnInsert": {"status": d.get("status"), "accepted": False}},
                       upsert=True, session=session)
    elif event.type == "IdeaEdited":
        col.update_one({"_id": ikey}, {"$set": {"title": d["title"]}}, session=session)
    elif event.type == "IdeaStatusChanged":
        col.update_one({"_id": ikey}, {"$set": {"tenant": t, "idea_id": d["idea_id"], "project_id": d["project_id"],
                                                "title": d["title"], "status": d["to"],
                                                "accepted": d["to"] == "accepted", "decided_at": event.time}},
                       upsert=True, session=session)
    elif event.type == "IdeaWithdrawn":
        col.update_one({"_id": ikey}, {"$set": {"status": "withdrawn", "accepted": False}}, session=session)


# ====================================================================== queries
def position(db) -> int:
    """How far the ``rounds`` subscription has projected the log."""
    doc = db["subscription_checkpoints"].find_one({"_id": CHECKPOINT_ID})
    return int(doc["position"]) if doc else 0


def wait_for(db, at: int, timeout: float, sleep=time.sleep) -> None:
    """Wait until the ballots are projected up to position ``at`` (409 ``projection_behind`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while position(db) < at:
        if time.monotonic() > deadline:
            raise Conflict("the ballot projection is still catching up; try again shortly",
                           reason="projection_behind")
        sleep(0.05)


def round_counts(db, tenant: str, round_id: str) -> dict:
    doc = db[ROUNDS].find_one({"_id": key(tenant, round_id)}, {"ballots": 1, "late_ballots": 1}) or {}
    return {"ballots": int(doc.get("ballots") or 0), "late_ballots": int(doc.get("late_ballots") or 0)}


def has_ballots(db, tenant: str, round_id: str) -> bool:
    return db[BALLOTS].find_one({"tenant": tenant, "round_id": round_id}, {"_id": 1}) is not None


def counted_ballots(db, tenant: str, round_id: str, until: int | None) -> list[dict]:
    """The active ballots projected below position ``until`` (all when None), in natural voter-id order
    (deterministic instances)."""
    docs = [b for b in db[BALLOTS].find({"tenant": tenant, "round_id": round_id},
                                        {"voter_id": 1, "projects": 1, "points": 1, "active": 1, "position": 1})
            if b.get("active") and (until is None or b["position"] < until)]
    docs.sort(key=lambda b: _natural(b["voter_id"]))
    return docs


def _natural(voter_id: str):
    return (0, int(voter_id), "") if voter_id.isdigit() else (1, 0, voter_id)


def list_rounds(db, tenant: str, project_id=None, district=None) -> list[dict]:
    query = {"tenant": tenant}
    if project_id:
        query["project_id"] = project_id
    docs = [d for d in db[ROUNDS].find(query, {"_id": 0, "projects": 0})
            if not district or d.get("district") == district]
    docs.sort(key=lambda d: d.get("opened_at") or "")
    return docs


def candidate(db, tenant: str, idea_id: str) -> dict | None:
    return db[CANDIDATES].find_one({"_id": key(tenant, idea_id)})


def candidates(db, tenant: str, project_id=None, exclude=()) -> list[dict]:
    docs = [d for d in db[CANDIDATES].find({"tenant": tenant, "accepted": True}, {"_id": 0})
            if (not project_id or d.get("project_id") == project_id) and d["idea_id"] not in exclude]
    docs.sort(key=lambda d: (d.get("decided_at") or "", d["idea_id"]))
    return [{"idea_id": d["idea_id"], "project_id": d.get("project_id"), "title": d.get("title"),
             "status": d.get("status")} for d in docs]
