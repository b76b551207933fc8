"""Projections of the votes service (MongoDB collections prefixed ``votes_``), all disposable.

* **context** — what votes needs to know about the world, learned from events, never by a synchronous call:
  projects' phases, ideas (project, submission phase, status, merges), comments (their idea), voters' profiles,
  phase voting settings (``PhaseVotingConfigured``) and proposals' outcome.
* **tallies** — per idea/comment tallies (up, down, manual, per demographic segment), driven by the votes
  service's own events (+ ``IdeaMerged``), with the rules in :class:`votes.domain.Tallies`.

Handlers take ``(event, session)`` and write with the session: the subscription commits the checkpoint in the same
transaction. ``rebuild`` drops a projection, resets its checkpoint and replays the log.
"""
from __future__ import annotations

import logging
import time as _time
import uuid
from datetime import datetime, timezone

from pymongo import InsertOne, ReplaceOne

from agora.errors import ConcurrencyError
from agora.events.envelope import NewEvent
from agora.store import EventStore
from agora.subscriptions import Subscription
from votes import domain as d

log = logging.getLogger("votes.projections")

PHASES = "votes_phases"
IDEAS = "votes_ideas"
COMMENTS = "votes_comments"
VOTERS = "votes_voters"
TALLY = "votes_tally"              # tallies, reaction records and each tenant's merges (see MongoState)
TALLY_MANUAL = "votes_tally_manual"
LEGACY_TALLY_COLLECTIONS = ("votes_tally_reactions", "votes_tally_merges")   # layout 1: emptied on upgrade
RECORD = "reaction"  # `kind` of a reaction record in TALLY (the partial index's filter: queries must name it)
TALLY_LAYOUT = 2    # bump when the tally documents change shape: the subscription then replays the log into them

CONTEXT_COLLECTIONS = (PHASES, IDEAS, COMMENTS, VOTERS)
TALLY_COLLECTIONS = (TALLY, TALLY_MANUAL, *LEGACY_TALLY_COLLECTIONS)

CONTEXT_SOURCES = {
    "ideas": ["PhaseAdded", "PhaseChanged", "IdeaSubmitted", "IdeaWithdrawn", "IdeaMerged", "IdeaStatusChanged",
              "CommentPosted"],
    "votes": [d.PHASE_VOTING_CONFIGURED, d.VOTER_PROFILE_RECORDED, d.THRESHOLD_REACHED, d.EXPIRED],
}
TALLY_SOURCES = {
    "votes": [d.REACTION_CAST, d.REACTION_CHANGED, d.REACTION_RETRACTED, d.MANUAL_VOTES_SET,
              d.THRESHOLD_REACHED, d.EXPIRED],
    "ideas": ["IdeaMerged"],
}
TALLY_TYPES = sorted({t for ts in TALLY_SOURCES.values() for t in ts})
NAMESPACE = uuid.UUID("3b5a3c52-8f0e-4d7c-9a3e-6d1f0c2b7e11")


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


def default_settings(kind: str) -> d.VotingSettings:
    """Defaults per phase kind before any PhaseVotingConfigured: ideation and voting phases take up and down
    reactions without limit; budgeting phases take none (the budgets service runs those ballots)."""
    if kind == "budgeting":
        return d.VotingSettings(enabled=False, comment_likes=True)
    return d.VotingSettings()


def phase_from_doc(doc: dict) -> d.Phase:
    return d.Phase(id=doc["phase_id"], project_id=doc["project_id"], kind=doc.get("kind", "ideation"),
                   start=d.parse_time(doc.get("start")), end=d.parse_time(doc.get("end")),
                   settings=default_settings(doc.get("kind", "ideation")).overridden(doc.get("voting")))


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
                         "submitted_at": event.time, "author": data["author"]},
                "$setOnInsert": {"aliases": []}}, upsert=True, session=s)
            personal = data.get("personal")
            if personal:   # the author's self-declared demographics: reused as their voter profile
                db[VOTERS].update_one({"_id": _k(t, data["author"])}, {"$set": {
                    "tenant": t, "voter": data["author"], "personal": d.clean_personal(personal),
                    "position": event.position}}, upsert=True, session=s)
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
        elif event.type == d.VOTER_PROFILE_RECORDED:
            db[VOTERS].update_one({"_id": _k(t, data["voter"])}, {"$set": {
                "tenant": t, "voter": data["voter"], "personal": d.clean_personal(data["personal"]),
                "position": event.position}}, upsert=True, session=s)
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

    def profile(self, tenant: str, voter: str) -> dict | None:
        doc = self.db[VOTERS].find_one({"_id": _k(tenant, voter)})
        return doc["personal"] if doc else None

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
            self._tallies[key] = doc or d.empty_tally(tt, tid)
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
        self._absent.difference_update(docs)
        if inserts or replaces:
            self.coll.bulk_write(inserts + replaces, ordered=True, session=self.s)
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
            self._tallies[key] = doc or d.empty_tally(target_type, target_id)
        return d._deep(self._tallies[key])

    def put_tally(self, t):
        key = _k(self.t, t["target_type"], t["target_id"])
        self._tallies[key] = d._deep(t)
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


class TallyProjection:
    """Live tallies. After each change it checks proposals' support thresholds and appends ``ThresholdReached``
    (stream ``proposal-{idea}``, expected version 0, deterministic event id → emitted once, idempotent)."""

    def __init__(self, db, store: EventStore | None = None, context: ContextProjection | None = None):
        self.db = db
        self.store = store
        self.context = context or ContextProjection(db)
        self._settings_cache: dict[tuple[str, str], tuple[float, d.Phase | None]] = {}
        self._ideas: dict[tuple[str, str], dict] = {}     # an idea's project and phase never change

    def handle(self, event, session=None) -> list[dict]:
        """Apply one event (see :meth:`handle_batch`)."""
        return self._apply([event], session)

    def handle_batch(self, events, session=None) -> list[dict]:
        """Apply a subscription batch (events in position order) in one go: the reaction records and tallies the
        batch touches are read with one query each and written with one bulk write per collection. Applying is
        idempotent per record (positions), so a batch replayed after a crash changes nothing twice."""
        return self._apply(list(events), session)

    def _apply(self, events, session) -> list[dict]:
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
            tallies = d.Tallies(state)
            changed: dict[tuple, tuple] = {}
            for e in evs:
                for t in tallies.apply(e.type, e.data, position=e.position, time=e.time, tenant=tenant):
                    changed[(t["target_type"], t["target_id"])] = (t, e)
            state.flush()
            if self.store is not None:
                for t, e in changed.values():
                    if t["target_type"] == d.IDEA and not t.get("proposal") and not t.get("merged_into"):
                        self._check_threshold(e, t)
            changed_all.extend(t for t, _ in changed.values())
        return changed_all

    def _phase(self, tenant: str, phase_id: str) -> d.Phase | None:
        key = (tenant, phase_id)
        hit = self._settings_cache.get(key)
        if hit and hit[0] > _time.monotonic():
            return hit[1]
        phase = self.context.phase(tenant, phase_id)
        self._settings_cache[key] = (_time.monotonic() + 1.0, phase)
        return phase

    def _check_threshold(self, event, t: dict) -> None:
        up = t["up"] + t["manual_up"]
        if up <= 0:
            return
        key = (event.tenant, t["target_id"])
        idea = self._ideas.get(key)
        if idea is None:
            idea = self.context.idea(event.tenant, t["target_id"])
            if not idea:
                return
            idea = self._ideas[key] = {k: idea[k] for k in ("project_id", "phase_id")}
        phase = self._phase(event.tenant, idea["phase_id"])
        if phase is None or phase.settings.threshold is None or up < phase.settings.threshold:
            return
        emit_outcome(self.store, event.tenant, d.THRESHOLD_REACHED, {
            "idea_id": t["target_id"], "project_id": idea["project_id"], "phase_id": idea["phase_id"],
            "threshold": phase.settings.threshold, "up": up}, causationid=event.id,
            correlationid=event.correlationid)


def emit_outcome(store: EventStore, tenant: str, etype: str, data: dict, **meta) -> bool:
    """Append a proposal's outcome (ThresholdReached or Expired) once: True if this call stored it."""
    eid = str(uuid.uuid5(NAMESPACE, f"{tenant}|{data['idea_id']}|outcome"))
    try:
        store.append(tenant, d.proposal_stream(data["idea_id"]), [NewEvent(etype, data, id=eid, **meta)],
                     expected_version=0)
        return True
    except ConcurrencyError:
        return False   # the proposal already has its outcome (the other one, or this one by a racing replica)


def tally_doc(db, tenant: str, target_type: str, target_id: str) -> dict:
    doc = db[TALLY].find_one({"_id": _k(tenant, target_type, target_id)})
    if not doc:
        return d.empty_tally(target_type, target_id)
    return doc


# ------------------------------------------------------------------------------------------------- as_at
def tally_as_at(store: EventStore, tenant: str, target_type: str, target_id: str, as_at: datetime) -> dict:
    """The tally as it stood at ``as_at``: replays the tenant's log (events stored at or before that instant)
    through the same rules as the live projection, restricted to the target's family (ideas merged into it)."""
    types = [t for ts in TALLY_SOURCES.values() for t in ts]
    limit = d.iso(as_at)
    events = [e for e in store.iter_all(tenant, types=types, batch=5000) if _before(e.time, as_at)]
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
    state = d.MemoryState()
    tallies = d.Tallies(state)
    for e in events:
        if e.type == "IdeaMerged":
            if target_type != d.IDEA or e.data["survivor_id"] not in family:
                continue
        elif e.type in d.REACTION_EVENTS:
            if e.data["target_type"] != target_type or e.data["target_id"] not in family:
                continue
        elif target_type != d.IDEA or e.data.get("idea_id") not in family:
            continue
        tallies.apply(e.type, e.data, position=e.position, time=e.time, tenant=tenant)
    t = state.get_tally(target_type, target_id)
    out = d.tally_view(t)
    out["as_at"] = limit
    return out


def _before(event_time: str, as_at: datetime) -> bool:
    return d.parse_time(event_time) <= as_at


# ------------------------------------------------------------------------------------------------- rebuild
def subscription(store: EventStore, db, name: str, handler, batched: bool = False) -> Subscription:
    sources = CONTEXT_SOURCES if name == "context" else TALLY_SOURCES
    types = sorted({t for ts in sources.values() for t in ts})
    extra = {} if name == "context" else {"collections": list(TALLY_COLLECTIONS), "layout": TALLY_LAYOUT}
    return Subscription(store, db, "votes", name, types, handler, batched=batched, **extra)


def rebuild(store: EventStore, db, which: str = "tallies") -> int:
    """Drop a projection ("tallies" or "context"), reset its checkpoint and replay the whole log into it."""
    if which == "tallies":
        for c in TALLY_COLLECTIONS:
            db.drop_collection(c)
        handler, batched = TallyProjection(db, store).handle_batch, True
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


def expire_due(store: EventStore, context: ContextProjection, tallies_db, now: datetime | None = None) -> int:
    """Append ``Expired`` for every proposal past its deadline without the support it needed (idempotent)."""
    now = now or datetime.now(timezone.utc)
    emitted = 0
    for pdoc in context.phases_with_expiry():
        phase = phase_from_doc(pdoc)
        s = phase.settings
        for idea in context.ideas_in_phase(pdoc["tenant"], phase.id):
            if idea.get("proposal_status") or idea.get("status") in ("withdrawn", "merged"):
                continue
            deadline = d.proposal_deadline(d.parse_time(idea.get("submitted_at")), s)
            if deadline is None or deadline > now:
                continue
            t = tally_doc(tallies_db, pdoc["tenant"], d.IDEA, idea["idea_id"])
            up = t["up"] + t["manual_up"]
            if t.get("proposal"):
                continue
            if up >= s.threshold:
                etype, data = d.THRESHOLD_REACHED, {}
            else:
                etype, data = d.EXPIRED, {"deadline": d.iso(deadline)}
            data.update(idea_id=idea["idea_id"], project_id=idea["project_id"], phase_id=phase.id,
                        threshold=s.threshold, up=up)
            if emit_outcome(store, pdoc["tenant"], etype, data):
                emitted += 1
    return emitted

