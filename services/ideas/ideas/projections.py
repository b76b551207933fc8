"""Read models of the ideas service (MongoDB collections prefixed ``ideas_``), and the queries over them.

Written only by the store-driven subscription ``ideas:board`` (see ``service.IdeasService.on_event``), which calls
:func:`apply` for each event inside the transaction that also moves its checkpoint. They are disposable:
:func:`rebuild` drops them, resets the checkpoint and replays the log; every field derives from events only
(times are event times, never "now"), so a rebuild yields identical documents.

Collections
- ``ideas_projects``  one per project: title, description, workflow, phases
- ``ideas_ideas``     one per idea: content, status, official feedback, moderation, counters (comments, flags,
                      votes); never the author's demographics (those stay in the events, for analytics)
- ``ideas_comments``  one per comment (``parent_id`` makes the tree)
- ``ideas_reactions`` one per (target, voter): the voter's current reaction, so that votes are counted from
                      whatever ReactionCast / ReactionChanged / ReactionRetracted carry (the value), not from deltas
- ``ideas_meta``      one per (tenant, project): ``rev`` (last position that changed a candidate for similarity)

Vote counts: ``votes_up``/``votes_down`` of an idea = its up/down reactions + paper votes (ManualVotesSet) + those of
the ideas merged into it. A merge adds the merged idea's counts to the survivor; later reactions addressed to the
merged idea count for the survivor (the votes service keeps the reaction's original ``target_id``).

Listing (SecantusDB answers any server-side ``sort()`` with a full scan): :func:`list_ideas` selects by indexed
equality filters (tenant + project, or tenant + status), then filters text, sorts and paginates client-side with a
keyset cursor (sort key of the last item + idea id), so pages are stable under inserts. Fine for the few thousand
ideas a tenant's project has; see docs in ``services/ideas/README.md``.
"""
from __future__ import annotations

import base64
import datetime as dt
import json

from agora.errors import BadRequest, NotFound
from agora.events.envelope import StoredEvent
from agora.events.ideas import parse_instant

PROJECTS = "ideas_projects"
IDEAS = "ideas_ideas"
COMMENTS = "ideas_comments"
REACTIONS = "ideas_reactions"
META = "ideas_meta"
COLLECTIONS = (PROJECTS, IDEAS, COMMENTS, REACTIONS, META)

IDEA_TYPES = ["ProjectCreated", "PhaseAdded", "PhaseChanged", "IdeaSubmitted", "IdeaEdited", "IdeaWithdrawn",
              "IdeaStatusChanged", "IdeaMerged", "CommentPosted", "ContentFlagged", "ContentHidden",
              "ContentRestored"]
VOTE_TYPES = ["ReactionCast", "ReactionChanged", "ReactionRetracted", "ManualVotesSet"]
SOURCES = {"ideas": IDEA_TYPES, "votes": VOTE_TYPES}
HIDDEN_BY_DEFAULT = ("withdrawn", "merged")
SORTS = ("new", "most_voted", "trending")


def ensure_indexes(db) -> None:
    db[IDEAS].create_index([("tenant", 1), ("project_id", 1)], name="tenant_project")
    db[IDEAS].create_index([("tenant", 1), ("status", 1)], name="tenant_status")
    db[COMMENTS].create_index([("tenant", 1), ("idea_id", 1)], name="tenant_idea")
    db[PROJECTS].create_index([("tenant", 1)], name="tenant")


def _key(tenant: str, *parts: str) -> str:
    return ":".join([tenant, *parts])


# ====================================================================================================== writes
def apply(db, event: StoredEvent, session=None) -> None:
    """Apply one event to the read models (inside the subscription's transaction ``session``)."""
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(db, event, event.data, session)


def _project_created(db, e, d, s):
    db[PROJECTS].update_one({"_id": _key(e.tenant, d["project_id"])}, {"$set": {
        "tenant": e.tenant, "project_id": d["project_id"], "title": d["title"], "description": d["description"],
        "language": d["language"], "workflow": d["workflow"], "created_by": d["created_by"],
        "created_at": e.time, "updated_at": e.time}, "$setOnInsert": {"phases": []}}, upsert=True, session=s)


def _phase(db, e, d, s):
    _id = _key(e.tenant, d["project_id"])
    doc = db[PROJECTS].find_one({"_id": _id}, {"phases": 1}, session=s) or {}
    phases = [p for p in doc.get("phases", []) if p["phase_id"] != d["phase_id"]]
    phases.append({k: d[k] for k in ("phase_id", "kind", "title", "start", "end")})
    phases.sort(key=lambda p: (p["start"], p["phase_id"]))
    db[PROJECTS].update_one({"_id": _id}, {"$set": {"phases": phases, "updated_at": e.time}}, upsert=True,
                            session=s)


def _bump(db, e, project_id, s):
    db[META].update_one({"_id": _key(e.tenant, project_id)},
                        {"$max": {"rev": e.position}, "$set": {"tenant": e.tenant, "project_id": project_id}},
                        upsert=True, session=s)


def _idea_submitted(db, e, d, s):
    db[IDEAS].update_one({"_id": _key(e.tenant, d["idea_id"])}, {"$set": {
        "tenant": e.tenant, "idea_id": d["idea_id"], "project_id": d["project_id"], "phase_id": d["phase_id"],
        "title": d["title"], "body": d["body"], "language": d["language"], "author": d["author"],
        "tags": d.get("tags") or [], "location": d.get("location"), "status": d["status"], "feedback": "",
        "feedback_language": None, "decided_by": None, "decided_at": None, "hidden": False, "merged_into": None,
        "merged_from": [], "flag_count": 0, "comment_count": 0, "reactions_up": 0, "reactions_down": 0,
        "manual_up": 0, "manual_down": 0, "votes_up": 0, "votes_down": 0, "submitted_at": e.time,
        "seq": e.position, "updated_at": e.time, "version": e.version}}, upsert=True, session=s)
    _bump(db, e, d["project_id"], s)


def _set_idea(db, e, idea_id, fields, s, bump_project=None):
    fields = dict(fields, updated_at=e.time)
    if e.stream == f"idea-{idea_id}":
        fields["version"] = e.version
    db[IDEAS].update_one({"_id": _key(e.tenant, idea_id)}, {"$set": fields}, session=s)
    if bump_project:
        _bump(db, e, bump_project, s)


def _idea_edited(db, e, d, s):
    _set_idea(db, e, d["idea_id"], {k: d[k] for k in ("title", "body", "language", "tags", "location")}, s,
              d["project_id"])


def _idea_withdrawn(db, e, d, s):
    _set_idea(db, e, d["idea_id"], {"status": "withdrawn"}, s, d["project_id"])


def _status_changed(db, e, d, s):
    _set_idea(db, e, d["idea_id"], {"status": d["to"], "feedback": d.get("feedback", ""),
                                    "feedback_language": d.get("feedback_language"),
                                    "decided_by": d["decided_by"], "decided_at": e.time}, s)


def _resolve(db, tenant, idea_id, s, hops: int = 20) -> dict | None:
    """The idea that counts votes addressed to ``idea_id`` (following merges)."""
    doc = db[IDEAS].find_one({"_id": _key(tenant, idea_id)}, session=s)
    while doc is not None and doc.get("merged_into") and hops > 0:
        nxt = db[IDEAS].find_one({"_id": _key(tenant, doc["merged_into"])}, session=s)
        if nxt is None:
            break
        doc, hops = nxt, hops - 1
    return doc


def _idea_merged(db, e, d, s):
    merged = db[IDEAS].find_one({"_id": _key(e.tenant, d["idea_id"])}, session=s) or {}
    _set_idea(db, e, d["idea_id"], {"status": "merged", "merged_into": d["survivor_id"]}, s, d["project_id"])
    survivor = _resolve(db, e.tenant, d["survivor_id"], s)
    if survivor is not None:
        db[IDEAS].update_one({"_id": survivor["_id"]}, {
            "$inc": {"votes_up": merged.get("votes_up", 0), "votes_down": merged.get("votes_down", 0)},
            "$push": {"merged_from": d["idea_id"]}}, session=s)


def _comment_posted(db, e, d, s):
    db[COMMENTS].update_one({"_id": _key(e.tenant, d["comment_id"])}, {"$set": {
        "tenant": e.tenant, "comment_id": d["comment_id"], "idea_id": d["idea_id"], "project_id": d["project_id"],
        "parent_id": d.get("parent_id"), "body": d["body"], "language": d["language"], "author": d["author"],
        "hidden": False, "flag_count": 0, "votes_up": 0, "votes_down": 0, "created_at": e.time,
        "seq": e.position}}, upsert=True, session=s)
    db[IDEAS].update_one({"_id": _key(e.tenant, d["idea_id"])}, {"$inc": {"comment_count": 1}}, session=s)


def _target_coll(d):
    return (IDEAS, d["target_id"]) if d["target_type"] == "idea" else (COMMENTS, d["target_id"])


def _flagged(db, e, d, s):
    coll, tid = _target_coll(d)
    db[coll].update_one({"_id": _key(e.tenant, tid)}, {"$inc": {"flag_count": 1}}, session=s)


def _moderated(db, e, d, s):
    coll, tid = _target_coll(d)
    hidden = e.type == "ContentHidden"
    fields = {"hidden": hidden, "moderation_reason": d.get("reason", "")}
    if coll == IDEAS:
        _set_idea(db, e, tid, fields, s, d["project_id"])
    else:
        db[COMMENTS].update_one({"_id": _key(e.tenant, tid)}, {"$set": fields}, session=s)


# ------------------------------------------------------------------ votes (tolerant: counts by value)
def _reaction(db, e, d, s):
    target_type = d.get("target_type", "idea")
    target_id = d.get("target_id") or d.get("idea_id")
    if not target_id or target_type not in ("idea", "comment"):
        return
    voter = d.get("voter") or d.get("user") or d.get("sub") or e.stream
    value = 0 if e.type == "ReactionRetracted" else int(d.get("value") or 0)
    value = max(-1, min(1, value))
    rid = _key(e.tenant, target_type, target_id, voter)
    old_doc = db[REACTIONS].find_one({"_id": rid}, session=s)
    old = int(old_doc["value"]) if old_doc else 0
    if old == value:
        return
    db[REACTIONS].update_one({"_id": rid}, {"$set": {"tenant": e.tenant, "target_type": target_type,
                                                    "target_id": target_id, "voter": voter, "value": value,
                                                    "at": e.time}}, upsert=True, session=s)
    du = (value == 1) - (old == 1)
    dd = (value == -1) - (old == -1)
    if target_type == "comment":
        db[COMMENTS].update_one({"_id": _key(e.tenant, target_id)}, {"$inc": {"votes_up": du, "votes_down": dd}},
                                session=s)
        return
    db[IDEAS].update_one({"_id": _key(e.tenant, target_id)}, {"$inc": {"reactions_up": du, "reactions_down": dd}},
                         session=s)
    _count_for(db, e.tenant, target_id, du, dd, s)


def _count_for(db, tenant, idea_id, du, dd, s):
    doc = _resolve(db, tenant, idea_id, s)
    if doc is not None and (du or dd):
        db[IDEAS].update_one({"_id": doc["_id"]}, {"$inc": {"votes_up": du, "votes_down": dd}}, session=s)


def _manual_votes(db, e, d, s):
    doc = db[IDEAS].find_one({"_id": _key(e.tenant, d["idea_id"])}, session=s)
    if doc is None:
        return
    up, down = int(d.get("up") or 0), int(d.get("down") or 0)
    du, dd = up - doc.get("manual_up", 0), down - doc.get("manual_down", 0)
    db[IDEAS].update_one({"_id": doc["_id"]}, {"$set": {"manual_up": up, "manual_down": down}}, session=s)
    _count_for(db, e.tenant, d["idea_id"], du, dd, s)


_HANDLERS = {
    "ProjectCreated": _project_created, "PhaseAdded": _phase, "PhaseChanged": _phase,
    "IdeaSubmitted": _idea_submitted, "IdeaEdited": _idea_edited, "IdeaWithdrawn": _idea_withdrawn,
    "IdeaStatusChanged": _status_changed, "IdeaMerged": _idea_merged, "CommentPosted": _comment_posted,
    "ContentFlagged": _flagged, "ContentHidden": _moderated, "ContentRestored": _moderated,
    "ReactionCast": _reaction, "ReactionChanged": _reaction, "ReactionRetracted": _reaction,
    "ManualVotesSet": _manual_votes,
}


def drop(db) -> None:
    for name in COLLECTIONS:
        db.drop_collection(name)


def rebuild(store, db, service: str = "ideas", name: str = "board") -> int:
    """Drop the read models, reset the subscription's checkpoint and replay the whole log; returns events applied.

    Stop the service (or accept a short window of stale reads) while rebuilding.
    """
    from agora.subscriptions import Subscription
    drop(db)
    ensure_indexes(db)
    sub = Subscription(store, db, service, name, IDEA_TYPES + VOTE_TYPES, lambda ev, s: apply(db, ev, s))
    sub.reset()
    return sub.poll()


# ====================================================================================================== reads
def _public(doc: dict, *, moderator: bool = False) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("_id", "tenant", "seq", "reactions_up", "reactions_down")}
    if doc.get("hidden") and not moderator:
        out["title"] = None
        out["body"] = None
    return out


def get_project(db, tenant: str, project_id: str) -> dict:
    doc = db[PROJECTS].find_one({"_id": _key(tenant, project_id)})
    if doc is None:
        raise NotFound(f"project {project_id} not found")
    doc.pop("_id")
    doc.pop("tenant")
    return doc


def list_projects(db, tenant: str) -> list[dict]:
    docs = list(db[PROJECTS].find({"tenant": tenant}))
    docs.sort(key=lambda d: (d["created_at"], d["project_id"]), reverse=True)
    return [{k: v for k, v in d.items() if k not in ("_id", "tenant")} for d in docs]


def _hours(a: str, b: dt.datetime) -> float:
    return max(0.0, (b - parse_instant(a)).total_seconds() / 3600.0)


def trending_score(doc: dict, asof: dt.datetime) -> float:
    """Hacker-News style: (net votes + comments/2 + 1) / (age in hours + 2)^1.5."""
    points = doc.get("votes_up", 0) - doc.get("votes_down", 0) + 0.5 * doc.get("comment_count", 0) + 1.0
    return round(points / (_hours(doc["submitted_at"], asof) + 2.0) ** 1.5, 12)


def _sort_key(doc: dict, sort: str, asof: dt.datetime) -> list:
    if sort == "most_voted":
        return [-doc.get("votes_up", 0), -doc["seq"]]
    if sort == "trending":
        return [-trending_score(doc, asof), -doc["seq"]]
    return [-doc["seq"]]


def encode_cursor(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict) or not isinstance(payload.get("k"), list):
            raise ValueError("shape")
        return payload
    except Exception:  # noqa: BLE001 - any garbage is a client error
        raise BadRequest("invalid cursor") from None


def _matches_text(doc: dict, words: list[str]) -> bool:
    hay = " ".join([doc.get("title") or "", doc.get("body") or "", " ".join(doc.get("tags") or [])]).casefold()
    return all(w in hay for w in words)


def list_ideas(db, tenant: str, *, project_id=None, phase_id=None, status=None, tag=None, text=None,
               sort: str = "new", limit: int = 20, cursor: str | None = None, include_hidden: bool = False,
               now: dt.datetime | None = None) -> dict:
    """One page of ideas: ``{"items": [...], "next_cursor": str | None, "sort": ...}``."""
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {list(SORTS)}")
    asof = now or dt.datetime.now(dt.timezone.utc)
    after = None
    if cursor:
        payload = decode_cursor(cursor)
        if payload.get("s") != sort:
            raise BadRequest("the cursor belongs to another sort order")
        after = payload["k"]
        if sort == "trending" and payload.get("t"):
            asof = parse_instant(payload["t"])
    query: dict = {"tenant": tenant}
    if project_id:
        query["project_id"] = project_id
    if status:
        query["status"] = status
    if phase_id:
        query["phase_id"] = phase_id
    if tag:
        query["tags"] = tag.casefold()
    docs = db[IDEAS].find(query)
    words = [w for w in (text or "").casefold().split() if w]
    rows = []
    for doc in docs:
        if not status and doc["status"] in HIDDEN_BY_DEFAULT:
            continue
        if doc.get("hidden") and not include_hidden:
            continue
        if words and not _matches_text(doc, words):
            continue
        key = _sort_key(doc, sort, asof)
        if after is not None and key <= after:
            continue
        rows.append((key, doc))
    rows.sort(key=lambda r: r[0])
    page = rows[:limit]
    items = []
    for key, doc in page:
        item = _public(doc, moderator=include_hidden)
        if sort == "trending":
            item["trending_score"] = -key[0]
        items.append(item)
    next_cursor = None
    if len(rows) > limit and page:
        payload = {"s": sort, "k": page[-1][0]}
        if sort == "trending":
            payload["t"] = asof.isoformat()
        next_cursor = encode_cursor(payload)
    return {"items": items, "next_cursor": next_cursor, "sort": sort}


def count_by_status(db, tenant: str, project_id: str | None = None) -> dict:
    query: dict = {"tenant": tenant}
    if project_id:
        query["project_id"] = project_id
    counts: dict[str, int] = {}
    total = 0
    for doc in db[IDEAS].find(query, {"status": 1, "hidden": 1}):
        if doc.get("hidden"):
            continue
        counts[doc["status"]] = counts.get(doc["status"], 0) + 1
        total += 1
    return {"project_id": project_id, "total": total, "by_status": dict(sorted(counts.items()))}


def comment_tree(db, tenant: str, idea_id: str, *, moderator: bool = False) -> list[dict]:
    docs = list(db[COMMENTS].find({"tenant": tenant, "idea_id": idea_id}))
    docs.sort(key=lambda d: d["seq"])
    nodes = {}
    roots = []
    for d in docs:
        node = {k: v for k, v in d.items() if k not in ("_id", "tenant", "seq", "project_id", "idea_id")}
        if d.get("hidden") and not moderator:
            node["body"] = None
        node["replies"] = []
        nodes[d["comment_id"]] = node
    for d in docs:
        node = nodes[d["comment_id"]]
        parent = nodes.get(d.get("parent_id")) if d.get("parent_id") else None
        (parent["replies"] if parent is not None else roots).append(node)
    return roots


def idea_detail(db, tenant: str, idea_id: str, *, moderator: bool = False) -> dict:
    doc = db[IDEAS].find_one({"_id": _key(tenant, idea_id)})
    if doc is None:
        raise NotFound(f"idea {idea_id} not found")
    out = _public(doc, moderator=moderator)
    out["comments"] = comment_tree(db, tenant, idea_id, moderator=moderator)
    return out


def ideas_by_id(db, tenant: str, ids) -> dict[str, dict]:
    ids = list(ids)
    if not ids:
        return {}
    docs = db[IDEAS].find({"_id": {"$in": [_key(tenant, i) for i in ids]}})
    return {d["idea_id"]: d for d in docs}


# ------------------------------------------------------------------ similarity support
def similarity_revision(db, tenant: str, project_id: str):
    doc = db[META].find_one({"_id": _key(tenant, project_id)})
    return doc["rev"] if doc else 0


def similarity_candidates(db, tenant: str, project_id: str) -> list[tuple[str, str, str]]:
    """(idea_id, title + body, language) of the ideas a duplicate could be merged into (visible, active)."""
    out = []
    for d in db[IDEAS].find({"tenant": tenant, "project_id": project_id},
                            {"idea_id": 1, "title": 1, "body": 1, "language": 1, "status": 1, "hidden": 1,
                             "seq": 1}):
        if d.get("hidden") or d["status"] in HIDDEN_BY_DEFAULT:
            continue
        out.append((d["seq"], d["idea_id"], f"{d['title']}\n{d['body']}", d.get("language")))
    out.sort()
    return [(i, t, lang) for _, i, t, lang in out]
