"""Read models of the votes service (MongoDB collections prefixed ``votes_``), all disposable.

* **context** — what votes needs to know about the world, learned from events, never by a synchronous call:
  projects' phases, ideas (project, submission phase, status, merges, proposal outcome), comments (their idea),
  phase voting settings (``PhaseVotingConfigured``). It holds no person's data.
* **tallies** — per idea/comment tallies (up, down, manual, per demographic segment), driven by the votes
  service's own events, ``IdeaMerged`` and ``PersonalDataForgotten`` (an erased person's records lose their
  demographics and pseudonym; their votes still count), with the rules in :mod:`votes.tallies`.

Handlers take ``(event, session)`` and write with the session: the subscription commits the checkpoint in the same
transaction. ``rebuild`` drops a projection, resets its checkpoint and replays the log.
"""
from __future__ import annotations

import time as _time
from datetime import datetime

from pymongo import DeleteOne, InsertOne, ReplaceOne

from agora.store import EventStore
from agora.subscriptions import Subscription
from votes import domain as d
from votes import tallies as tl

PHASES = "votes_phases"
IDEAS = "votes_ideas"
COMMENTS = "votes_comments"
LEGACY_VOTERS = "votes_voters"     # layout 1 of the context: voters' demographics copied from ideas (emptied)
TALLY = "votes_tally"              # tallies, reaction records and each tenant's merges (see MongoState)
TALLY_MANUAL = "votes_tally_manual"
LEGACY_TALLY_COLLECTIONS = ("votes_tally_reactions", "votes_tally_merges")   # tallies layout 1: emptied on upgrade
RECORD = "reaction"  # `kind` of a reaction record in TALLY (the partial index's filter: queries must name it)
# bump a layout when its documents change shape: the subscription then empties its collections and replays the log
CONTEXT_LAYOUT = 2   # 2: no voters' profiles, no idea authors
TALLY_LAYOUT = 3     # 3: PersonalDataForgotten applied, emptied segment cells removed, personal null when not given

CONTEXT_COLLECTIONS = (PHASES, IDEAS, COMMENTS, LEGACY_VOTERS)
TALLY_COLLECTIONS = (TALLY, TALLY_MANUAL, *LEGACY_TALLY_COLLECTIONS)

CONTEXT_SOURCES = {
    "ideas": ["PhaseAdded", "PhaseChanged", "IdeaSubmitted", "IdeaWithdrawn", "IdeaMerged", "IdeaStatusChanged",
              "CommentPosted"],
    "votes": [d.PHASE_VOTING_CONFIGURED, d.THRESHOLD_REACHED, d.EXPIRED],
}
TALLY_SOURCES = {
    "votes": [*d.REACTION_EVENTS, d.MANUAL_VOTES_SET, d.THRESHOLD_REACHED, d.EXPIRED],
    "ideas": ["IdeaMerged"],
    "agora": [tl.PERSONAL_DATA_FORGOTTEN],
}


def _k(tenant: str, *parts: str) -> str:
    return "|".join((tenant, *parts))


def ensure_indexes(db) -> None:
    db[PHASES].create_index([("tenant", 1), ("project_id", 1)])
    db[IDEAS].create_index([("tenant", 1), ("phase_id", 1)])
    # reaction records by the idea they count for (merges); tallies and the merges document have no `effective`
    # partial: only reaction records (kind "reaction") are indexed, so writing a tally costs no index entry
    db[TALLY].create_index([("tenant", 1), ("target_type", 1), ("effective", 1), ("voter", 1)], name="records",
                           partialFilterExpression={"kind": RECORD})
    db[TALLY_MANUAL].create_index([("tenant", 1), ("effective", 1)])


def phase_from_doc(doc: dict) -> d.Phase:
    return d.Phase(id=doc["phase_id"], project_id=doc["project_id"], kind=doc.get("kind", "ideation"),
                   start=d.parse_time(doc.get("start")), end=d.parse_time(doc.get("end")),
                   settings=d.default_settings(doc.get("kind", "ideation")).overridden(doc.get("voting")))


# ------------------------------------------------------------------------------------------------- context
class ContextProjection:
    def __init__(self, db):
        self.db = db

    def handle(self, event, session=None) -> None:
        t, data, db = event.tenant, event.data, self.db
        s = session
        if event.type in ("PhaseAdded", "PhaseChanged"):
            db[PHASES].update_one({"_id": _k(t, data["phase_id"])}, {"$set": {
                "tenant": t, "project_id": data["project_id"], "phase_id": data["phase_id"], "kind": data["kind"],
                "start": data["start"], "end": data["end"], "title": data.get("title", "")}}, upsert=True, session=s)
        elif event.type == d.PHASE_VOTING_CONFIGURED:
            voting = {k: data.get(k) for k in d.VotingSettings.KEYS}
            db[PHASES].update_one({"_id": _k(t, data["phase_id"])}, {
                "$set": {"voting": voting, "voting_position": event.position},
                "$setOnInsert": {"tenant": t, "project_id": data["project_id"], "phase_id": data["phase_id"],
                                 "kind": "ideation"}}, upsert=True, session=s)
        elif event.type == "IdeaSubmitted":
            db[IDEAS].update_one({"_id": _k(t, data["idea_id"])}, {
                "$set": {"tenant": t, "idea_id": data["idea_id"], "project_id": data["project_id"],
                         "phase_id": data["phase_id"], "status": data.get("status", "published"),
                         "submitted_at": event.time},
                "$setOnInsert": {"aliases": []}}, upsert=True, session=s)
        elif event.type == "IdeaWithdrawn":
            db[IDEAS].update_one({"_id": _k(t, data["idea_id"])}, {"$set": {"status": "withdrawn"}}, session=s)
        elif event.type == "IdeaStatusChanged":
            db[IDEAS].update_one({"_id": _k(t, data["idea_id"])}, {"$set": {"status": data["to"]}}, session=s)
        elif event.type == "IdeaMerged":
            merged, survivor = data["idea_id"], data["survivor_id"]
            doc = db[IDEAS].find_one({"_id": _k(t, merged)}, session=s) or {}
            db[IDEAS].update_one({"_id": _k(t, merged)}, {"$set": {"status": "merged", "survivor_id": survivor}},
                                 session=s)
            family = [merged, *doc.get("aliases", [])]
            # the survivor (and whatever it was merged into later) now also stands for the merged idea's family
            target, seen = survivor, set()
            while target and target not in seen:
                seen.add(target)
                db[IDEAS].update_one({"_id": _k(t, target)}, {"$addToSet": {"aliases": {"$each": family}}},
                                     session=s)
                nxt = db[IDEAS].find_one({"_id": _k(t, target)}, {"survivor_id": 1}, session=s) or {}
                target = nxt.get("survivor_id")
        elif event.type == "CommentPosted":
            db[COMMENTS].update_one({"_id": _k(t, data["comment_id"])}, {"$set": {
                "tenant": t, "comment_id": data["comment_id"], "idea_id": data["idea_id"],
                "project_id": data["project_id"]}}, upsert=True, session=s)
        elif event.type in (d.THRESHOLD_REACHED, d.EXPIRED):
            db[IDEAS].update_one({"_id": _k(t, data["idea_id"])}, {"$set": {
                "proposal_status": "threshold_reached" if event.type == d.THRESHOLD_REACHED else "expired"}},
                session=s)

    # ------------------------------------------------------------ queries (hot path)
    def idea(self, tenant: str, idea_id: str) -> dict | None:
        return self.db[IDEAS].find_one({"_id": _k(tenant, idea_id)})

    def comment(self, tenant: str, comment_id: str) -> dict | None:
        return self.db[COMMENTS].find_one({"_id": _k(tenant, comment_id)})

    def phases(self, tenant: str, project_id: str) -> list[d.Phase]:
        return [phase_from_doc(p) for p in self.db[PHASES].find({"tenant": tenant, "project_id": project_id})
                if p.get("start") or p.get("end")]

    def phase(self, tenant: str, phase_id: str) -> d.Phase | None:
        doc = self.db[PHASES].find_one({"_id": _k(tenant, phase_id)})
        return phase_from_doc(doc) if doc else None

    def phase_doc(self, tenant: str, phase_id: str) -> dict | None:
        return self.db[PHASES].find_one({"_id": _k(tenant, phase_id)})

    def phases_with_expiry(self) -> list[dict]:
        return list(self.db[PHASES].find({"voting.expire_days": {"$ne": None}, "voting.threshold": {"$ne": None}}))

    def ideas_in_phase(self, tenant: str, phase_id: str) -> list[dict]:
        return list(self.db[IDEAS].find({"tenant": tenant, "phase_id": phase_id}))


# ------------------------------------------------------------------------------------------------- tallies
class MongoState:
    """:class:`votes.domain.MemoryState`'s interface over MongoDB, scoped to one tenant, inside one session
    (one subscription batch = one transaction).

    Layout (``TALLY_LAYOUT``): the tallies (``_id`` ``tenant|type|target``), the reaction records (``_id``
    ``tenant|type|target|voter``) and the tenant's merges (one document ``tenant|merges`` holding ``{idea: into}``;
    merges are few) live in **one collection**, so a batch reads everything it touches with one ``_id $in`` query
    (:meth:`preload`) and writes everything it changed with one bulk write (:meth:`flush`): with the checkpoint
    claim and the commit, four round trips per batch however many events it holds."""

    def __init__(self, db, tenant: str, session=None, now=None):
        self.db, self.t, self.s = db, tenant, session
        self.coll = db[TALLY]
        self.now = now or _time.time
        self._reactions: dict[str, dict | None] = {}
        self._tallies: dict[str, dict] = {}
        self._merges: dict[str, str] | None = None
        self._merges_dirty = False
        self._manual: dict[str, dict | None] = {}
        self._dirty_reactions: set[str] = set()
        self._dirty_tallies: set[str] = set()
        self._deleted: set[str] = set()
        self._absent: set[str] = set()        # read as missing in this transaction: written with an insert

    @property
    def _merges_key(self) -> str:
        return _k(self.t, "merges")

    def get_reaction(self, key):
        if key not in self._reactions:
            self._reactions[key] = self.coll.find_one({"_id": key}, session=self.s)
            if self._reactions[key] is None:
                self._absent.add(key)
        r = self._reactions[key]
        return dict(r) if r else None

    def put_reaction(self, rec):
        rec = dict(rec, tenant=self.t, kind=RECORD)
        self._reactions[rec["_id"]] = rec
        self._dirty_reactions.add(rec["_id"])
        self._deleted.discard(rec["_id"])

    def drop_reaction(self, key):
        self._reactions[key] = None
        self._dirty_reactions.discard(key)
        self._deleted.add(key)

    def preload(self, reaction_keys, tally_keys) -> None:
        """Fetch the records, tallies and merges a batch will touch with one query."""
        want_r = [k for k in reaction_keys if k not in self._reactions]
        want_t = [(k, _k(self.t, *k)) for k in tally_keys if _k(self.t, *k) not in self._tallies]
        ids = want_r + [key for _, key in want_t]
        if self._merges is None:
            ids.append(self._merges_key)
        if not ids:
            return
        found = {doc["_id"]: doc for doc in self.coll.find({"_id": {"$in": ids}}, session=self.s)}
        for k in want_r:
            self._reactions[k] = found.get(k)
            if k not in found:
                self._absent.add(k)
        for (tt, tid), key in want_t:
            doc = found.get(key)
            if doc:
                for f in ("_id", "tenant", "projected_at"):
                    doc.pop(f, None)
            else:
                self._absent.add(key)
            self._tallies[key] = doc or tl.empty_tally(tt, tid)
        if self._merges is None:
            self._load_merges(found.get(self._merges_key))

    def _load_merges(self, doc) -> None:
        self._merges = dict((doc or {}).get("map") or {})
        if doc is None:
            self._absent.add(self._merges_key)

    def flush(self) -> None:
        """Write what the batch changed with one bulk write: documents this transaction read as missing are
        inserted (cheaper than an upsert, and a concurrent writer would make the transaction fail and retry), the
        others replaced."""
        now = self.now()
        docs = {k: dict(self._reactions[k], projected_at=now) for k in self._dirty_reactions}
        docs.update((k, dict(self._tallies[k], _id=k, tenant=self.t, projected_at=now)) for k in self._dirty_tallies)
        if self._merges_dirty:
            docs[self._merges_key] = {"_id": self._merges_key, "tenant": self.t, "kind": "merges",
                                      "map": dict(self._merges or {})}
        # inserts first, then replacements: a bulk write sends one command per run of operations of one kind
        inserts = [InsertOne(docs[key]) for key in sorted(docs) if key in self._absent]
        replaces = [ReplaceOne({"_id": key}, docs[key], upsert=True) for key in sorted(docs) if key not in self._absent]
        deletes = [DeleteOne({"_id": key}) for key in sorted(self._deleted)]
        self._absent.difference_update(docs)
        if inserts or replaces or deletes:
            self.coll.bulk_write(inserts + replaces + deletes, ordered=True, session=self.s)
        self._deleted.clear()
        self._dirty_reactions.clear()
        self._dirty_tallies.clear()
        self._merges_dirty = False

    def _query(self, q):
        self.flush()    # the session sees its own writes: write what the batch changed, then query
        docs = list(self.coll.find(q, session=self.s))
        for doc in docs:
            doc.pop("projected_at", None)
            self._reactions[doc["_id"]] = doc
        return [dict(doc) for doc in docs]

    def reactions_on(self, target_type, effective):
        return self._query({"kind": RECORD, "tenant": self.t, "target_type": target_type, "effective": effective})

    def reactions_of(self, voter, target_type, effective):
        return self._query({"kind": RECORD, "tenant": self.t, "target_type": target_type, "effective": effective,
                            "voter": voter})

    def all_reactions_of(self, voter):
        return self._query({"kind": RECORD, "tenant": self.t, "voter": voter})   # erasures only: rare

    def get_tally(self, target_type, target_id):
        key = _k(self.t, target_type, target_id)
        if key not in self._tallies:
            doc = self.coll.find_one({"_id": key}, session=self.s)
            if doc:
                doc.pop("_id", None)
                doc.pop("tenant", None)
                doc.pop("projected_at", None)
            else:
                self._absent.add(key)
            self._tallies[key] = doc or tl.empty_tally(target_type, target_id)
        return tl.deep_copy(self._tallies[key])

    def put_tally(self, t):
        key = _k(self.t, t["target_type"], t["target_id"])
        self._tallies[key] = tl.deep_copy(t)
        self._dirty_tallies.add(key)

    def _all_merges(self) -> dict[str, str]:
        if self._merges is None:
            self._load_merges(self.coll.find_one({"_id": self._merges_key}, session=self.s))
        return self._merges

    def get_merge(self, idea_id):
        return self._all_merges().get(idea_id)

    def has_merged_into(self, into):
        return into in self._all_merges().values()

    def put_merge(self, idea_id, into):
        self._all_merges()[idea_id] = into
        self._merges_dirty = True

    def get_manual(self, idea_id):
        return self.db[TALLY_MANUAL].find_one({"_id": _k(self.t, idea_id)}, session=self.s)

    def put_manual(self, m):
        doc = dict(m, _id=_k(self.t, m["idea_id"]), tenant=self.t)
        self.db[TALLY_MANUAL].replace_one({"_id": doc["_id"]}, doc, upsert=True, session=self.s)

    def manual_on(self, effective):
        return list(self.db[TALLY_MANUAL].find({"tenant": self.t, "effective": effective}, session=self.s))

    def manual_by(self, person):
        return list(self.db[TALLY_MANUAL].find({"tenant": self.t, "by": person}, session=self.s))


class TallyProjection:
    """Live tallies. :meth:`handle_batch` returns what changed, (tally, the last event that changed it), for the
    proposal outcome policy (votes.outcomes)."""

    def __init__(self, db):
        self.db = db

    def handle(self, event, session=None) -> list[tuple[dict, object]]:
        """Apply one event (see :meth:`handle_batch`)."""
        return self.handle_batch([event], session)

    def handle_batch(self, events, session=None) -> list[tuple[dict, object]]:
        """Apply a subscription batch (events in position order) in one go: the reaction records and tallies the
        batch touches are read with one query and written with one bulk write. Applying is idempotent per record
        (positions), so a batch replayed after a crash changes nothing twice."""
        by_tenant: dict[str, list] = {}
        for e in events:
            by_tenant.setdefault(e.tenant, []).append(e)
        changed_all = []
        for tenant, evs in by_tenant.items():
            state = MongoState(self.db, tenant, session)
            rkeys, tkeys = set(), set()
            for e in evs:
                if e.type in d.REACTION_EVENTS:
                    rkeys.add(f"{tenant}|{e.data['target_type']}|{e.data['target_id']}|{e.data['voter']}")
                    tkeys.add((e.data["target_type"], e.data["target_id"]))
            state.preload(rkeys, tkeys)
            tallies = tl.Tallies(state)
            changed: dict[tuple, tuple] = {}
            for e in evs:
                for t in tallies.apply(e.type, e.data, position=e.position, time=e.time, tenant=tenant):
                    changed[(t["target_type"], t["target_id"])] = (t, e)
            state.flush()
            changed_all.extend(changed.values())
        return changed_all


def tally_doc(db, tenant: str, target_type: str, target_id: str) -> dict:
    return db[TALLY].find_one({"_id": _k(tenant, target_type, target_id)}) or tl.empty_tally(target_type, target_id)


# ------------------------------------------------------------------------------------------------- as_at
def tally_as_at(store: EventStore, tenant: str, target_type: str, target_id: str, as_at: datetime) -> dict:
    """The tally as it stood at ``as_at``: replays the tenant's log (events stored at or before that instant)
    through the same rules as the live projection, restricted to the target's family (ideas merged into it)."""
    types = [t for ts in TALLY_SOURCES.values() for t in ts]
    events = [e for e in store.iter_all(tenant, types=types, batch=5000) if d.parse_time(e.time) <= as_at]
    family = {target_id}
    if target_type == d.IDEA:
        merges = {e.data["idea_id"]: e.data["survivor_id"] for e in events if e.type == "IdeaMerged"}
        changed = True
        while changed:
            changed = False
            for src, dst in merges.items():
                if dst in family and src not in family:
                    family.add(src)
                    changed = True
    state = tl.MemoryState()
    tallies = tl.Tallies(state)
    for e in events:
        if e.type == "IdeaMerged":
            if target_type != d.IDEA or e.data["survivor_id"] not in family:
                continue
        elif e.type in d.REACTION_EVENTS:
            if e.data["target_type"] != target_type or e.data["target_id"] not in family:
                continue
        elif e.type == tl.PERSONAL_DATA_FORGOTTEN:
            pass
        elif target_type != d.IDEA or e.data.get("idea_id") not in family:
            continue
        tallies.apply(e.type, e.data, position=e.position, time=e.time, tenant=tenant)
    return state.get_tally(target_type, target_id)


# ------------------------------------------------------------------------------------------------- rebuild
def subscription(store: EventStore, db, name: str, handler, batched: bool = False) -> Subscription:
    sources = CONTEXT_SOURCES if name == "context" else TALLY_SOURCES
    types = sorted({t for ts in sources.values() for t in ts})
    extra = ({"collections": list(CONTEXT_COLLECTIONS), "layout": CONTEXT_LAYOUT} if name == "context" else
             {"collections": list(TALLY_COLLECTIONS), "layout": TALLY_LAYOUT})
    return Subscription(store, db, "votes", name, types, handler, batched=batched, **extra)


def rebuild(store: EventStore, db, which: str = "tallies") -> int:
    """Drop a projection ("tallies" or "context"), reset its checkpoint and replay the whole log into it."""
    if which == "tallies":
        for c in TALLY_COLLECTIONS:
            db.drop_collection(c)
        handler, batched = TallyProjection(db).handle_batch, True
    elif which == "context":
        for c in CONTEXT_COLLECTIONS:
            db.drop_collection(c)
        handler, batched = ContextProjection(db).handle, False
    else:
        raise ValueError(f"unknown projection {which!r} (tallies or context)")
    ensure_indexes(db)
    sub = subscription(store, db, which, handler, batched)
    sub.reset()
    return sub.poll()
