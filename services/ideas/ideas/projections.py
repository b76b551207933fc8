"""Read models of the ideas service (MongoDB collections prefixed ``ideas_``), and the queries over them.

Written only by the store-driven subscription ``ideas:board`` (``service.IdeasService.on_events``), which hands
:func:`apply_batch` each batch of events inside the transaction that also moves its checkpoint. A batch reads the
documents it touches with one ``_id $in`` query per collection (:class:`Batch`), applies every event in memory and
writes what changed with one bulk write per collection (like the votes tallies). Every field derives from events
only (times are event times, never "now"), so a rebuild yields identical documents.

Strict: handlers read the fields their event's schema requires (``data["voter"]``, never a default): an event
lacking one is parked by the subscription (the engine checks the contract first; a handler that still meets a
missing field raises), never counted.

Collections
- ``ideas_projects``  one per project: title, description, workflow, phases
- ``ideas_ideas``     one per idea: content, status, official feedback, moderation, counters (comments, flags,
                      votes), the ``author_name`` the author chose (``author``: their pseudonym, never published);
                      ``n``/``pn``: the idea's ordinal in its tenant / project (1, 2, 3 … in submission order)
- ``ideas_comments``  one per comment (``parent_id`` makes the tree)
- ``ideas_reactions`` one per (target, voter): the voter's current reaction, so that votes are counted from
                      the reaction's value, not from deltas
- ``ideas_queue``     one per flagged idea or comment: the moderation queue (open flags, reasons, state)
- ``ideas_meta``      one per (tenant, project) and one per tenant (``*``): ``rev`` (last position that changed a
                      candidate for similarity), ``count`` (ordinals handed out), ``max_up`` / ``max_points``
                      (upper bounds of the ranking keys, for the indexed listing below), ``by_status`` (visible
                      ideas per status: the counts endpoint reads this one document)

Erasure: ``PersonalDataForgotten {person}`` drops that person's pseudonym and display name from ideas and comments
and deletes their reaction records (the counts stay). Nothing else here holds personal data: demographics never
leave the events, flaggers and moderators are not kept.

Listing (SecantusDB answers a server-side ``sort()`` and an ``_id`` range with a full scan): :func:`list_ideas`
reads windows of an index range and sorts each window client-side — ``new`` walks the ordinal index
(``tenant, n`` or ``tenant, project_id, pn``) down from the newest; ``most_voted`` walks ``votes_up`` bands
down from ``max_up``; ``trending`` walks the ordinals down and stops once no older idea can beat the page (an
older idea's score is at most ``max_points / (age + 2)^1.5``). A page reads a few windows, never the whole tenant.
"""
from __future__ import annotations

import base64
import datetime as dt
import json

from pymongo import DeleteOne, InsertOne, ReplaceOne

from agora.errors import BadRequest, NotFound
from agora.events.envelope import StoredEvent
from agora.events.ideas import parse_instant

PROJECTS = "ideas_projects"
IDEAS = "ideas_ideas"
COMMENTS = "ideas_comments"
REACTIONS = "ideas_reactions"
QUEUE = "ideas_queue"
META = "ideas_meta"
COLLECTIONS = (PROJECTS, IDEAS, COMMENTS, REACTIONS, QUEUE, META)
LAYOUT = 2          # documents changed shape (ordinals, author names, the queue): a new layout replays the log

IDEA_TYPES = ["ProjectCreated", "PhaseAdded", "PhaseChanged", "IdeaSubmitted", "IdeaEdited", "IdeaWithdrawn",
              "IdeaStatusChanged", "IdeaMerged", "CommentPosted", "ContentFlagged", "ContentHidden",
              "ContentRestored", "FlagsDismissed"]
VOTE_TYPES = ["ReactionCast", "ReactionChanged", "ReactionRetracted", "ManualVotesSet"]
PLATFORM_TYPES = ["PersonalDataForgotten"]
SOURCES = {"ideas": IDEA_TYPES, "votes": VOTE_TYPES, "agora": PLATFORM_TYPES}
# Hook for the analytics junk filter: when analytics records the posts it sets aside as an event (none exists yet:
# its report's ``junk`` section is computed in memory), add {"analytics": ["<Type>"]} here and map the type to
# :func:`_set_aside` in _HANDLERS — the queue then lists those posts with ``source: "junk"`` and their reason.
ALL_TYPES = sorted({t for ts in SOURCES.values() for t in ts})
HIDDEN_BY_DEFAULT = ("withdrawn", "merged")
SORTS = ("new", "most_voted", "trending")
TENANT_SCOPE = "*"
CITIZEN = "citizen"


def ensure_indexes(db) -> None:
    db[IDEAS].create_index([("tenant", 1), ("n", 1)], name="tenant_n")
    db[IDEAS].create_index([("tenant", 1), ("project_id", 1), ("pn", 1)], name="tenant_project_pn")
    db[IDEAS].create_index([("tenant", 1), ("votes_up", 1), ("n", 1)], name="tenant_votes_n")
    db[IDEAS].create_index([("tenant", 1), ("project_id", 1), ("votes_up", 1), ("pn", 1)],
                           name="tenant_project_votes_pn")
    db[IDEAS].create_index([("tenant", 1), ("author", 1)], name="tenant_author")
    db[COMMENTS].create_index([("tenant", 1), ("idea_id", 1)], name="tenant_idea")
    db[COMMENTS].create_index([("tenant", 1), ("author", 1)], name="tenant_author")
    db[REACTIONS].create_index([("tenant", 1), ("voter", 1)], name="tenant_voter")
    db[QUEUE].create_index([("tenant", 1), ("state", 1), ("project_id", 1)], name="tenant_state_project")
    db[PROJECTS].create_index([("tenant", 1)], name="tenant")


def _key(tenant: str, *parts: str) -> str:
    return ":".join([tenant, *parts])


# ====================================================================================================== writes
class Batch:
    """The documents one batch touches, read with one ``_id $in`` query per collection and written back with one
    bulk write per collection (:meth:`flush`), all inside the subscription's transaction ``session``."""

    def __init__(self, db, session=None):
        self.db, self.s = db, session
        self.docs: dict[str, dict[str, dict | None]] = {c: {} for c in COLLECTIONS}
        self.dirty: dict[str, set] = {c: set() for c in COLLECTIONS}
        self.absent: dict[str, set] = {c: set() for c in COLLECTIONS}   # read as missing: written with an insert
        self.loaded: dict[str, dict] = {c: {} for c in COLLECTIONS}     # as read (or last flushed): never mutated

    def preload(self, wanted: dict[str, set]) -> None:
        for coll, ids in wanted.items():
            ids = [i for i in ids if i not in self.docs[coll]]
            if not ids:
                continue
            found = {d["_id"]: d for d in self.db[coll].find({"_id": {"$in": ids}}, session=self.s)}
            for i in ids:
                self.docs[coll][i] = self.loaded[coll][i] = found.get(i)
                if i not in found:
                    self.absent[coll].add(i)

    def get(self, coll: str, _id: str) -> dict | None:
        if _id not in self.docs[coll]:
            self.docs[coll][_id] = self.loaded[coll][_id] = self.db[coll].find_one({"_id": _id}, session=self.s)
            if self.docs[coll][_id] is None:
                self.absent[coll].add(_id)
        return self.docs[coll][_id]

    def put(self, coll: str, doc: dict) -> dict:
        self.docs[coll][doc["_id"]] = doc
        self.dirty[coll].add(doc["_id"])
        return doc

    def delete(self, coll: str, _id: str) -> None:
        self.docs[coll][_id] = None
        self.dirty[coll].add(_id)

    def flush(self) -> None:
        """One bulk write per collection: documents this transaction read as missing are inserted (cheaper than an
        upsert; a concurrent writer would make the transaction fail and be retried), the others replaced."""
        for coll, ids in self.dirty.items():
            ops = []
            for i in sorted(ids):
                doc = self.docs[coll][i]
                if doc is None:
                    if i not in self.absent[coll]:
                        ops.append(DeleteOne({"_id": i}))
                elif i in self.absent[coll]:
                    ops.append(InsertOne(doc))
                else:        # read as present, or not read at all (after forget_cached): replace or create
                    ops.append(ReplaceOne({"_id": i}, doc, upsert=self.loaded[coll].get(i) is None))
            if ops:
                self.db[coll].bulk_write(ops, ordered=True, session=self.s)
            self.absent[coll] -= {i for i in ids if self.docs[coll][i] is not None}
            self.absent[coll] |= {i for i in ids if self.docs[coll][i] is None}
            self.loaded[coll].update((i, self.docs[coll][i]) for i in ids)
            ids.clear()

    def forget_cached(self, *colls: str) -> None:
        for coll in colls:
            self.docs[coll].clear()
            self.absent[coll].clear()
            self.loaded[coll].clear()


def _wanted(events: list[StoredEvent]) -> dict[str, set]:
    """The ``_id``s of every document the batch's events name directly (merge chains are followed lazily)."""
    want: dict[str, set] = {c: set() for c in (PROJECTS, IDEAS, COMMENTS, REACTIONS, QUEUE, META)}
    for e in events:
        d, t = e.data, e.tenant
        if d.get("project_id"):
            want[PROJECTS].add(_key(t, d["project_id"]))
            want[META].add(_key(t, d["project_id"]))
        want[META].add(_key(t, TENANT_SCOPE))
        for f in ("idea_id", "survivor_id"):
            if d.get(f):
                want[IDEAS].add(_key(t, d[f]))
        if d.get("comment_id"):
            want[COMMENTS].add(_key(t, d["comment_id"]))
        if d.get("target_type") in ("idea", "comment") and d.get("target_id"):
            want[IDEAS if d["target_type"] == "idea" else COMMENTS].add(_key(t, d["target_id"]))
            want[QUEUE].add(_key(t, d["target_type"], d["target_id"]))
            if e.type in VOTE_TYPES and d.get("voter"):
                want[REACTIONS].add(_key(t, d["target_type"], d["target_id"], d["voter"]))
    return want


def apply_batch(db, events: list[StoredEvent], session=None) -> None:
    """Apply a batch of events to the read models (inside the subscription's transaction ``session``)."""
    batch = Batch(db, session)
    batch.preload(_wanted(events))
    for event in events:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(batch, event, event.data)
    _flush(batch)


def apply(db, event: StoredEvent, session=None) -> None:
    """Apply one event (a batch of one)."""
    apply_batch(db, [event], session)


def _visible_status(doc: dict | None) -> str | None:
    return doc["status"] if doc and not doc.get("hidden") else None


def _flush(b: Batch) -> None:
    """Count the visible ideas per status (tenant and project scope, in ``ideas_meta.by_status``) from what the
    batch changed, then write everything."""
    for i in b.dirty[IDEAS]:
        old, new = b.loaded[IDEAS].get(i), b.docs[IDEAS][i]
        before, after = _visible_status(old), _visible_status(new)
        if before == after:
            continue
        doc = new or old
        for scope in (TENANT_SCOPE, doc["project_id"]):
            meta = _meta(b, doc["tenant"], scope)
            counts = dict(meta.get("by_status") or {})
            if before:
                counts[before] = counts.get(before, 0) - 1
            if after:
                counts[after] = counts.get(after, 0) + 1
            b.put(META, dict(meta, by_status={k: v for k, v in sorted(counts.items()) if v}))
    b.flush()


def _meta(b: Batch, tenant: str, scope: str) -> dict:
    return b.get(META, _key(tenant, scope)) or {"_id": _key(tenant, scope), "tenant": tenant, "scope": scope,
                                                "rev": 0, "count": 0, "max_up": 0, "max_points": 0}


def _bump(b: Batch, e, project_id: str) -> None:
    """A change that affects similarity candidates of the project."""
    meta = _meta(b, e.tenant, project_id)
    b.put(META, dict(meta, rev=max(meta.get("rev", 0), e.position)))


def _points(doc: dict) -> float:
    return doc.get("votes_up", 0) - doc.get("votes_down", 0) + 0.5 * doc.get("comment_count", 0) + 1.0


def _bounds(b: Batch, tenant: str, doc: dict) -> None:
    """Raise the upper bounds of the ranking keys that the indexed listing relies on (never lowered)."""
    for scope in (TENANT_SCOPE, doc["project_id"]):
        meta = _meta(b, tenant, scope)
        up, pts = doc.get("votes_up", 0), _points(doc)
        if up > meta.get("max_up", 0) or pts > meta.get("max_points", 0):
            b.put(META, dict(meta, max_up=max(up, meta.get("max_up", 0)),
                             max_points=max(pts, meta.get("max_points", 0))))


def _project_created(b, e, d):
    _id = _key(e.tenant, d["project_id"])
    old = b.get(PROJECTS, _id) or {}
    b.put(PROJECTS, {"_id": _id, "tenant": e.tenant, "project_id": d["project_id"], "title": d["title"],
                     "description": d["description"], "language": d["language"], "workflow": d["workflow"],
                     "created_at": e.time, "updated_at": e.time, "phases": old.get("phases", [])})


def _phase(b, e, d):
    _id = _key(e.tenant, d["project_id"])
    doc = dict(b.get(PROJECTS, _id) or {"_id": _id, "tenant": e.tenant, "project_id": d["project_id"]})
    phases = [p for p in doc.get("phases", []) if p["phase_id"] != d["phase_id"]]
    phases.append({k: d[k] for k in ("phase_id", "kind", "title", "start", "end")})
    phases.sort(key=lambda p: (p["start"], p["phase_id"]))
    b.put(PROJECTS, dict(doc, phases=phases, updated_at=e.time))


def _display_name(d: dict) -> str | None:
    personal = d.get("personal")
    return personal.get("display_name") if isinstance(personal, dict) else None


def _idea_submitted(b, e, d):
    t, pid = e.tenant, d["project_id"]
    tenant_meta, project_meta = _meta(b, t, TENANT_SCOPE), _meta(b, t, pid)
    n, pn = tenant_meta.get("count", 0) + 1, project_meta.get("count", 0) + 1
    b.put(META, dict(tenant_meta, count=n))
    b.put(META, dict(project_meta, count=pn))
    doc = b.put(IDEAS, {
        "_id": _key(t, d["idea_id"]), "tenant": t, "idea_id": d["idea_id"], "project_id": pid,
        "phase_id": d["phase_id"], "title": d["title"], "body": d["body"], "language": d["language"],
        "author": d["author"], "author_name": _display_name(d), "tags": d.get("tags") or [],
        "location": d.get("location"), "status": d["status"], "feedback": "", "feedback_language": None,
        "decided_at": None, "hidden": False, "merged_into": None, "merged_from": [], "flag_count": 0,
        "comment_count": 0, "reactions_up": 0, "reactions_down": 0, "manual_up": 0, "manual_down": 0,
        "votes_up": 0, "votes_down": 0, "submitted_at": e.time, "seq": e.position, "n": n, "pn": pn,
        "updated_at": e.time, "version": e.version})
    _bounds(b, t, doc)
    _bump(b, e, pid)


def _idea(b, e, idea_id: str) -> dict:
    doc = b.get(IDEAS, _key(e.tenant, idea_id))
    if doc is None:
        raise LookupError(f"{e.type} {e.id}: idea {idea_id} is not on the board")
    return dict(doc)


def _set_idea(b, e, idea_id, fields, bump_project=None):
    doc = _idea(b, e, idea_id)
    doc.update(fields, updated_at=e.time)
    if e.stream == f"idea-{idea_id}":
        doc["version"] = e.version
    b.put(IDEAS, doc)
    if bump_project:
        _bump(b, e, bump_project)
    return doc


def _idea_edited(b, e, d):
    _set_idea(b, e, d["idea_id"], {k: d[k] for k in ("title", "body", "language", "tags", "location")},
              d["project_id"])


def _idea_withdrawn(b, e, d):
    _set_idea(b, e, d["idea_id"], {"status": "withdrawn"}, d["project_id"])


def _status_changed(b, e, d):
    _set_idea(b, e, d["idea_id"], {"status": d["to"], "feedback": d.get("feedback", ""),
                                   "feedback_language": d.get("feedback_language"), "decided_at": e.time})


def _resolve(b, tenant, idea_id, hops: int = 20) -> dict | None:
    """The idea that counts votes addressed to ``idea_id`` (following merges)."""
    doc = b.get(IDEAS, _key(tenant, idea_id))
    while doc is not None and doc.get("merged_into") and hops > 0:
        nxt = b.get(IDEAS, _key(tenant, doc["merged_into"]))
        if nxt is None:
            break
        doc, hops = nxt, hops - 1
    return doc


def _add_votes(b, tenant, doc, du, dd):
    doc = dict(doc, votes_up=doc.get("votes_up", 0) + du, votes_down=doc.get("votes_down", 0) + dd)
    b.put(IDEAS, doc)
    _bounds(b, tenant, doc)


def _idea_merged(b, e, d):
    merged = _set_idea(b, e, d["idea_id"], {"status": "merged", "merged_into": d["survivor_id"]}, d["project_id"])
    survivor = _resolve(b, e.tenant, d["survivor_id"])
    if survivor is not None and survivor["_id"] != merged["_id"]:
        survivor = dict(survivor, merged_from=[*survivor.get("merged_from", []), d["idea_id"]])
        _add_votes(b, e.tenant, survivor, merged.get("votes_up", 0), merged.get("votes_down", 0))


def _comment_posted(b, e, d):
    b.put(COMMENTS, {"_id": _key(e.tenant, d["comment_id"]), "tenant": e.tenant, "comment_id": d["comment_id"],
                     "idea_id": d["idea_id"], "project_id": d["project_id"], "parent_id": d.get("parent_id"),
                     "body": d["body"], "language": d["language"], "author": d["author"],
                     "author_name": _display_name(d), "hidden": False, "flag_count": 0, "votes_up": 0,
                     "votes_down": 0, "created_at": e.time, "seq": e.position})
    idea = _idea(b, e, d["idea_id"])
    idea["comment_count"] = idea.get("comment_count", 0) + 1
    b.put(IDEAS, idea)
    _bounds(b, e.tenant, idea)


def _target(b, e, d) -> tuple[str, dict]:
    coll = IDEAS if d["target_type"] == "idea" else COMMENTS
    doc = b.get(coll, _key(e.tenant, d["target_id"]))
    if doc is None:
        raise LookupError(f"{e.type} {e.id}: {d['target_type']} {d['target_id']} is not on the board")
    return coll, dict(doc)


def _queue_item(b, e, d, target: dict) -> dict:
    _id = _key(e.tenant, d["target_type"], d["target_id"])
    return dict(b.get(QUEUE, _id) or {
        "_id": _id, "tenant": e.tenant, "target_type": d["target_type"], "target_id": d["target_id"],
        "idea_id": d["idea_id"], "project_id": d["project_id"], "source": "flags", "flag_count": 0,
        "open_flags": 0, "reasons": [], "first_flagged_at": e.time, "hidden": False})


def _queue_state(item: dict) -> str:
    return "hidden" if item["hidden"] else ("open" if item["open_flags"] > 0 else "done")


def _flagged(b, e, d):
    coll, doc = _target(b, e, d)
    doc["flag_count"] = doc.get("flag_count", 0) + 1
    b.put(coll, doc)
    item = _queue_item(b, e, d, doc)
    reasons = [dict(r) for r in item["reasons"]]
    reason = (d.get("reason") or "").strip()
    for r in reasons:
        if r["reason"] == reason:
            r["count"] += 1
            break
    else:
        reasons.append({"reason": reason, "count": 1})
    item.update(flag_count=item["flag_count"] + 1, open_flags=item["open_flags"] + 1, reasons=reasons,
                last_flagged_at=e.time, last_seq=e.position, hidden=doc.get("hidden", False))
    b.put(QUEUE, dict(item, state=_queue_state(item)))


def _moderated(b, e, d):
    coll, doc = _target(b, e, d)
    hidden = e.type == "ContentHidden"
    doc.update(hidden=hidden, moderation_reason=d.get("reason", ""))
    if coll == IDEAS:
        _set_idea(b, e, d["target_id"], {"hidden": hidden, "moderation_reason": d.get("reason", "")},
                  d["project_id"])
    else:
        b.put(coll, doc)
    item = b.get(QUEUE, _key(e.tenant, d["target_type"], d["target_id"]))
    if item is not None or hidden:                  # hiding settles the open flags; a restore keeps none open
        item = _queue_item(b, e, d, doc)
        item.update(hidden=hidden, open_flags=0, handled_at=e.time, last_action=e.type)
        item.setdefault("last_seq", e.position)
        b.put(QUEUE, dict(item, state=_queue_state(item)))


def _dismissed(b, e, d):
    _target(b, e, d)
    item = _queue_item(b, e, d, {})
    item.update(open_flags=0, handled_at=e.time, last_action=e.type)
    item.setdefault("last_seq", e.position)
    b.put(QUEUE, dict(item, state=_queue_state(item)))


def _set_aside(b, e, d):
    """(Hook, see SOURCES.) A post the analytics junk filter set aside: queued with ``source: "junk"``."""
    coll, doc = _target(b, e, d)
    item = _queue_item(b, e, d, doc)
    item.update(source="junk", open_flags=item["open_flags"] + 1, last_flagged_at=e.time, last_seq=e.position,
                reasons=[*item["reasons"], {"reason": f"junk: {d.get('reason', '')}", "count": 1}])
    b.put(QUEUE, dict(item, state=_queue_state(item)))


# ------------------------------------------------------------------ votes (strict: counted by value)
def _reaction(b, e, d):
    target_type, target_id, voter = d["target_type"], d["target_id"], d["voter"]
    value = 0 if e.type == "ReactionRetracted" else int(d["value"])
    rid = _key(e.tenant, target_type, target_id, voter)
    old_doc = b.get(REACTIONS, rid)
    old = int(old_doc["value"]) if old_doc else 0
    if old == value:
        return
    b.put(REACTIONS, {"_id": rid, "tenant": e.tenant, "target_type": target_type, "target_id": target_id,
                      "voter": voter, "value": value, "at": e.time})
    du = (value == 1) - (old == 1)
    dd = (value == -1) - (old == -1)
    if target_type == "comment":
        _, doc = _target(b, e, d)
        b.put(COMMENTS, dict(doc, votes_up=doc.get("votes_up", 0) + du, votes_down=doc.get("votes_down", 0) + dd))
        return
    doc = _idea(b, e, target_id)
    b.put(IDEAS, dict(doc, reactions_up=doc.get("reactions_up", 0) + du,
                      reactions_down=doc.get("reactions_down", 0) + dd))
    _count_for(b, e.tenant, target_id, du, dd)


def _count_for(b, tenant, idea_id, du, dd):
    doc = _resolve(b, tenant, idea_id)
    if doc is not None and (du or dd):
        _add_votes(b, tenant, doc, du, dd)


def _manual_votes(b, e, d):
    doc = _idea(b, e, d["idea_id"])
    up, down = int(d["up"]), int(d.get("down") or 0)
    du, dd = up - doc.get("manual_up", 0), down - doc.get("manual_down", 0)
    b.put(IDEAS, dict(doc, manual_up=up, manual_down=down))
    _count_for(b, e.tenant, d["idea_id"], du, dd)


# ------------------------------------------------------------------ erasure
def _forgotten(b, e, d):
    """Drop the person's pseudonym and display name from every document; their reactions' records go (the
    counts they made stay)."""
    person, t = d["person"], e.tenant
    _flush(b)
    for coll in (IDEAS, COMMENTS):
        b.db[coll].update_many({"tenant": t, "author": person}, {"$set": {"author": None, "author_name": None}},
                               session=b.s)
    b.db[REACTIONS].delete_many({"tenant": t, "voter": person}, session=b.s)
    b.forget_cached(IDEAS, COMMENTS, REACTIONS)


_HANDLERS = {
    "ProjectCreated": _project_created, "PhaseAdded": _phase, "PhaseChanged": _phase,
    "IdeaSubmitted": _idea_submitted, "IdeaEdited": _idea_edited, "IdeaWithdrawn": _idea_withdrawn,
    "IdeaStatusChanged": _status_changed, "IdeaMerged": _idea_merged, "CommentPosted": _comment_posted,
    "ContentFlagged": _flagged, "ContentHidden": _moderated, "ContentRestored": _moderated,
    "FlagsDismissed": _dismissed,
    "ReactionCast": _reaction, "ReactionChanged": _reaction, "ReactionRetracted": _reaction,
    "ManualVotesSet": _manual_votes,
    "PersonalDataForgotten": _forgotten,
}


def drop(db) -> None:
    for name in COLLECTIONS:
        db.drop_collection(name)


def board_subscription(store, db):
    """The ``ideas:board`` subscription engine over this module's handlers (what the service's ``@subscribe``
    runs), for the operator CLI and tests."""
    from agora.subscriptions import Subscription
    return Subscription(store, db, "ideas", "board", ALL_TYPES, lambda events, s: apply_batch(db, events, s),
                        batched=True, collections=list(COLLECTIONS), layout=LAYOUT)


def rebuild(store, db) -> int:
    """Empty the read models, reset the board's checkpoint and replay the whole log here; returns the events
    applied. For a stopped service (``python -m ideas rebuild``); a running one rebuilds blue/green on
    ``python -m agora.projections rebuild ideas``."""
    for name in COLLECTIONS:
        db[name].delete_many({})
    ensure_indexes(db)
    sub = board_subscription(store, db)
    sub.reset()
    return sub.poll()


# ====================================================================================================== reads
PRIVATE = ("_id", "tenant", "seq", "n", "pn", "reactions_up", "reactions_down", "author")


def _public(doc: dict, *, moderator: bool = False) -> dict:
    out = {k: v for k, v in doc.items() if k not in PRIVATE}
    out["author_name"] = doc.get("author_name") or CITIZEN
    if doc.get("hidden") and not moderator:
        out["title"] = None
        out["body"] = None
    return out


def get_project(db, tenant: str, project_id: str) -> dict:
    doc = db[PROJECTS].find_one({"_id": _key(tenant, project_id)})
    if doc is None or "title" not in doc:
        raise NotFound(f"project {project_id} not found")
    doc.pop("_id")
    doc.pop("tenant")
    return doc


def list_projects(db, tenant: str) -> list[dict]:
    docs = [d for d in db[PROJECTS].find({"tenant": tenant}) if "title" in d]
    docs.sort(key=lambda d: (d["created_at"], d["project_id"]), reverse=True)
    return [{k: v for k, v in d.items() if k not in ("_id", "tenant")} for d in docs]


def _hours(a: str, b: dt.datetime) -> float:
    return max(0.0, (b - parse_instant(a)).total_seconds() / 3600.0)


def trending_score(doc: dict, asof: dt.datetime) -> float:
    """Hacker-News style: (net votes + comments/2 + 1) / (age in hours + 2)^1.5."""
    return round(_points(doc) / (_hours(doc["submitted_at"], asof) + 2.0) ** 1.5, 12)


def _sort_key(doc: dict, sort: str, asof: dt.datetime, scoped: bool) -> list:
    n = doc["pn"] if scoped else doc["n"]
    if sort == "most_voted":
        return [-doc.get("votes_up", 0), -n]
    if sort == "trending":
        return [-trending_score(doc, asof), -n]
    return [-n]


def encode_cursor(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        key = payload["k"]
        if not isinstance(payload, dict) or not isinstance(key, list) or not 1 <= len(key) <= 2 or \
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) < 2 ** 53 for x in key):
            raise ValueError("shape")
        if payload.get("t") is not None:
            parse_instant(payload["t"])
    except Exception:  # noqa: BLE001 - any garbage is a client error
        raise BadRequest("invalid cursor") from None
    if payload.get("s") != sort or len(payload["k"]) != (1 if sort == "new" else 2):
        raise BadRequest("the cursor belongs to another sort order")
    return payload


def _matches_text(doc: dict, words: list[str]) -> bool:
    hay = " ".join([doc.get("title") or "", doc.get("body") or "", " ".join(doc.get("tags") or [])]).casefold()
    return all(w in hay for w in words)


WINDOW = 64


def _windows(db, base: dict, field: str, top: int, step: int):
    """Documents with ``lo <= field <= top`` for successive windows going down to 1, each one index range read.

    Bounds are ``$gte``/``$lt`` on integers: SecantusDB treats ``$lte`` on a field that is not the last of a
    compound index as ``$lt`` (it drops the documents equal to the bound)."""
    hi = int(top) + 1
    while hi > 1:
        lo = max(1, hi - int(step))
        yield list(db[IDEAS].find(dict(base, **{field: {"$gte": lo, "$lt": hi}})))
        hi = lo
        step *= 2


def list_ideas(db, tenant: str, *, project_id=None, phase_id=None, status=None, tag=None, text=None,
               sort: str = "new", limit: int = 20, cursor: str | None = None, include_hidden: bool = False,
               now: dt.datetime | None = None) -> dict:
    """One page of ideas: ``{"items": [...], "next_cursor": str | None, "sort": ...}`` (see the module doc)."""
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {list(SORTS)}")
    asof = now or dt.datetime.now(dt.timezone.utc)
    after = None
    if cursor:
        payload = decode_cursor(cursor, sort)
        after = payload["k"]
        if sort == "trending" and payload.get("t"):
            asof = parse_instant(payload["t"])
    scoped = bool(project_id)
    base: dict = {"tenant": tenant}
    if project_id:
        base["project_id"] = project_id
    meta = db[META].find_one({"_id": _key(tenant, project_id or TENANT_SCOPE)}) or {}
    words = [w for w in (text or "").casefold().split() if w]
    tag = tag.casefold() if tag else None

    def wanted(doc) -> bool:
        if status and doc["status"] != status or not status and doc["status"] in HIDDEN_BY_DEFAULT:
            return False
        if phase_id and doc.get("phase_id") != phase_id or tag and tag not in (doc.get("tags") or []):
            return False
        if doc.get("hidden") and not include_hidden:
            return False
        return not words or _matches_text(doc, words)

    ordinal = "pn" if scoped else "n"
    rows: list = []
    if sort == "most_voted":
        top = int(meta.get("max_up", 0))
        if after is not None:
            top = min(top, int(-after[0]))
        if top > 0:                                  # bands of votes_up > 0, highest first
            for docs in _windows(db, base, "votes_up", top, max(1, int(top) // 8)):
                rows += [(k, d) for d in docs for k in [_sort_key(d, sort, asof, scoped)]
                         if wanted(d) and (after is None or k > after)]
                if len(rows) > limit:
                    break
        if len(rows) <= limit:                       # then the ideas nobody voted up: newest first
            zero_top = meta.get("count", 0)
            if after is not None and after[0] == 0:
                zero_top = min(zero_top, int(-after[1]) - 1)
            for docs in _windows(db, dict(base, votes_up=0), ordinal, zero_top, WINDOW):
                rows += [(k, d) for d in docs for k in [_sort_key(d, sort, asof, scoped)]
                         if wanted(d) and (after is None or k > after)]
                if len(rows) > limit:
                    break
    else:
        top = meta.get("count", 0)
        if sort == "new" and after is not None:
            top = min(top, int(-after[0]) - 1)
        max_points = max(0.0, float(meta.get("max_points", 0)))
        for docs in _windows(db, base, ordinal, top, WINDOW):
            rows += [(k, d) for d in docs for k in [_sort_key(d, sort, asof, scoped)]
                     if wanted(d) and (after is None or k > after)]
            if sort == "new":
                if len(rows) > limit:
                    break
                continue
            # trending: stop once no older idea can rank inside this page
            if docs and len(rows) > limit:
                oldest = min(docs, key=lambda d: d[ordinal])
                bound = max_points / (_hours(oldest["submitted_at"], asof) + 2.0) ** 1.5
                rows.sort(key=lambda r: r[0])
                if -rows[limit][0][0] > bound:
                    break
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
    """Visible ideas per status (hidden ones are not counted): one document, kept by the board."""
    meta = db[META].find_one({"_id": _key(tenant, project_id or TENANT_SCOPE)}) or {}
    counts = meta.get("by_status") or {}
    return {"project_id": project_id, "total": sum(counts.values()), "by_status": dict(sorted(counts.items()))}


def _public_comment(d: dict, moderator: bool) -> dict:
    node = {k: v for k, v in d.items() if k not in ("_id", "tenant", "seq", "project_id", "idea_id", "author")}
    node["author_name"] = d.get("author_name") or CITIZEN
    if d.get("hidden") and not moderator:
        node["body"] = None
    return node


def comment_tree(db, tenant: str, idea_id: str, *, moderator: bool = False) -> list[dict]:
    docs = list(db[COMMENTS].find({"tenant": tenant, "idea_id": idea_id}))
    docs.sort(key=lambda d: d["seq"])
    nodes = {}
    roots = []
    for d in docs:
        node = _public_comment(d, moderator)
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


# ------------------------------------------------------------------ moderation queue
QUEUE_STATES = ("open", "hidden", "done")


def moderation_queue(db, tenant: str, *, project_id: str | None = None, state: str = "open", limit: int = 50,
                     cursor: str | None = None) -> dict:
    """Flagged ideas and comments (and, through the hook above, posts the junk filter set aside), newest flag
    first: ``state`` open (flags nobody handled yet), hidden (hidden by a moderator: restorable) or done."""
    query: dict = {"tenant": tenant, "state": state}
    if project_id:
        query["project_id"] = project_id
    after = None
    if cursor:
        try:
            payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            after = payload["q"]
            if not (isinstance(after, list) and len(after) == 2 and isinstance(after[0], int)
                    and isinstance(after[1], str)):
                raise ValueError("shape")
        except Exception:  # noqa: BLE001 - any garbage is a client error
            raise BadRequest("invalid cursor") from None
    docs = [d for d in db[QUEUE].find(query) if after is None or [-d["last_seq"], d["_id"]] > after]
    docs.sort(key=lambda d: (-d["last_seq"], d["_id"]))
    page = docs[:limit]
    ideas = ideas_by_id(db, tenant, {d["idea_id"] for d in page})
    comment_ids = [_key(tenant, d["target_id"]) for d in page if d["target_type"] == "comment"]
    comments = {c["comment_id"]: c for c in db[COMMENTS].find({"_id": {"$in": comment_ids}})} if comment_ids else {}
    items = []
    for d in page:
        idea = ideas.get(d["idea_id"]) or {}
        target = idea if d["target_type"] == "idea" else comments.get(d["target_id"], {})
        items.append({
            "target_type": d["target_type"], "target_id": d["target_id"], "idea_id": d["idea_id"],
            "project_id": d["project_id"], "source": d.get("source", "flags"), "state": d["state"],
            "hidden": d["hidden"], "flag_count": d["flag_count"], "open_flags": d["open_flags"],
            "reasons": sorted(d["reasons"], key=lambda r: (-r["count"], r["reason"])),
            "first_flagged_at": d.get("first_flagged_at"), "last_flagged_at": d.get("last_flagged_at"),
            "idea_title": idea.get("title"), "body": target.get("body"),
            "author_name": target.get("author_name") or CITIZEN})
    next_cursor = None
    if len(docs) > limit and page:
        next_cursor = encode_cursor({"q": [-page[-1]["last_seq"], page[-1]["_id"]]})
    return {"items": items, "next_cursor": next_cursor}


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
