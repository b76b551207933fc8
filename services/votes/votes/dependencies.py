"""nameko dependencies of the votes service: the command handlers (load aggregate → decide → append with the
expected version → retry on conflict) over the event store and the context projection.

Hot path of a vote (``PUT …/reaction``), in store round trips: the citizen's aggregate comes from an in-process
cache (the store's expected-version check is the safety net, see :class:`AggregateCache`), the idea and the
project's phases from a short-lived cache, and the append joins the store's group commit. One
:class:`~agora.store.EventStore` per process (:func:`agora.nameko.process_store`) is shared by the HTTP handlers, the
projections and the subscriptions, so its personal-key cache and its cached head serve all of them."""
from __future__ import annotations

import random
import threading
import time as _time
from collections import OrderedDict
from datetime import datetime, timezone

from nameko.extensions import DependencyProvider

from agora.errors import ConcurrencyError, Conflict, NotFound
from agora.events.envelope import NewEvent
from agora.logs import current_correlation
from agora.nameko import mongo_db, process_store, subscribe  # noqa: F401  (subscribe: used by service.py)
from agora.store import EventStore
from votes import domain as d
from votes import projections as p
from votes.cmdstats import install_from_env

install_from_env()

MAX_ATTEMPTS = 60




class AggregateCache:
    """LRU of citizens' reaction aggregates (stream → :class:`votes.domain.CitizenReactions` at some version).

    Correct under concurrency because an aggregate is only ever a replay of a stream *prefix* (events are
    immutable), and it is only trusted for decisions that append: the append carries ``expected_version =
    agg.version`` and the store refuses it unless the stream is still at exactly that version — i.e. unless the
    cached aggregate *is* the current state. A stale entry (another process or replica appended) therefore costs a
    ConcurrencyError and a re-read, never a wrong event. Decisions that do not append (``unchanged``, a refusal
    such as ``limit_reached``) are re-checked against the stream before they are answered. A stream this process
    has never seen is assumed new (version 0): most first reactions of a citizen in a project are, and when it
    is not the append fails on the version index just the same."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        agg = self._items.get(key)
        if agg is not None:
            self._items.move_to_end(key)
        return agg

    def put(self, key, agg) -> None:
        current = self._items.get(key)
        if current is not None and current.version >= agg.version:
            return                                  # never replace a newer prefix by an older one
        self._items[key] = agg
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, key) -> None:
        self._items.pop(key, None)


class ContextCache:
    """Short-lived cache of the context projection's ideas and phases for the hot path (one per process).

    The context projection is eventually consistent anyway: a withdrawal, merge or phase change takes effect on
    votes once the projection applied it plus at most ``TTL`` (another replica's projection) — or, when this
    process's own subscription applied it, at once: :meth:`changed` drops the entry and keeps it uncached for
    ``FRESH_S`` (covers the transaction's commit). With 50 busy ideas a 0.5 s TTL still cost ~one read per vote,
    and without single flight every expiry cost one read per concurrent request."""

    TTL = 2.0
    FRESH_S = 1.0

    def __init__(self):
        self._items: dict = {}
        self._fresh_until: dict = {}
        self._loading: dict = {}

    def get(self, key, load):
        now = _time.monotonic()
        if self._fresh_until and self._fresh_until.get(key, 0.0) > now:
            return load()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        flight = self._loading.get(key)
        if flight is not None:                      # single flight: a burst of misses on one key loads it once
            flight.wait()
            hit = self._items.get(key)
            if hit is not None and hit[0] > _time.monotonic():
                return hit[1]
            return load()
        flight = self._loading[key] = threading.Event()
        try:
            value = load()
            if self._fresh_until.get(key, 0.0) > _time.monotonic():
                return value                        # changed while loading: do not keep what may be the old value
            if len(self._items) > 50_000:
                self._items.clear()
            self._items[key] = (now + self.TTL, value)
            return value
        finally:
            del self._loading[key]
            flight.set()

    def changed(self, *keys) -> None:
        until = _time.monotonic() + self.FRESH_S
        for key in keys:
            self._items.pop(key, None)
            self._fresh_until[key] = until
        if len(self._fresh_until) > 10_000:
            now = _time.monotonic()
            self._fresh_until = {k: t for k, t in self._fresh_until.items() if t > now}

    def changed_by(self, event) -> None:
        """Forget what a context event changes (called by this process's context subscription)."""
        t, data = event.tenant, event.data
        if event.type in ("PhaseAdded", "PhaseChanged", d.PHASE_VOTING_CONFIGURED):
            self.changed(("phases", t, data.get("project_id")))
        elif event.type == "IdeaMerged":
            self.changed(("idea", t, data.get("idea_id")), ("idea", t, data.get("survivor_id")))
        elif "idea_id" in data and event.type != "CommentPosted":
            self.changed(("idea", t, data["idea_id"]))


context_cache = ContextCache()


def _copy_agg(agg: d.CitizenReactions) -> d.CitizenReactions:
    out = d.CitizenReactions(agg.project_id, agg.citizen)
    out.reactions = dict(agg.reactions)             # Reaction records are replaced, never mutated
    out.version = agg.version
    return out


def _sleep(seconds: float) -> None:
    try:
        import eventlet
        eventlet.sleep(seconds)
    except ImportError:  # pragma: no cover - plain threads
        _time.sleep(seconds)


class Votes:
    """Application service: everything a request needs, with no HTTP in it (usable from tests and CLIs)."""

    def __init__(self, store: EventStore, db, clock=None, cache: ContextCache | None = None):
        self.store = store
        self.db = db
        self.context = p.ContextProjection(db)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.cache = cache or context_cache
        self.aggregates = AggregateCache()

    def _cached(self, key, load):
        return self.cache.get(key, load)

    def _idea(self, tenant, idea_id):
        return self._cached(("idea", tenant, idea_id), lambda: self.context.idea(tenant, idea_id))

    def _target(self, tenant: str, target_type: str, target_id: str) -> tuple[str, dict, list[str]]:
        """(counted-for target id, idea doc, aliases) — follows merges to the surviving idea."""
        if target_type == d.COMMENT:
            comment = self.context.comment(tenant, target_id)
            if comment is None:
                raise NotFound(f"comment {target_id} not found")
            idea = self._idea(tenant, comment["idea_id"])
            if idea is None:
                raise NotFound(f"idea {comment['idea_id']} of comment {target_id} not found")
            return target_id, idea, []
        idea = self._idea(tenant, target_id)
        if idea is None:
            raise NotFound(f"idea {target_id} not found")
        seen = set()
        while idea.get("status") == "merged" and idea.get("survivor_id") and idea["idea_id"] not in seen:
            seen.add(idea["idea_id"])
            # read fresh: the projection updated the survivor's aliases in the transaction that marked this idea
            # merged, so a cached survivor could lack them (merges are rare: no cost worth caching)
            survivor = self.context.idea(tenant, idea["survivor_id"])
            if survivor is None:
                break
            idea = survivor
        return idea["idea_id"], idea, list(idea.get("aliases") or [])

    def _open_phase(self, tenant: str, idea: dict) -> d.Phase:
        now = self.clock()
        phases = self._cached(("phases", tenant, idea["project_id"]),
                              lambda: self.context.phases(tenant, idea["project_id"]))
        phase = d.open_phase(phases, now)
        if phase is None:
            raise Conflict(f"no phase of project {idea['project_id']} is open for votes now", reason="phase_closed")
        return phase

    def _personal(self, tenant: str, voter: str, personal: dict | None) -> dict:
        if personal:
            return d.clean_personal(personal)
        return d.clean_personal(self.context.profile(tenant, voter))

    # ------------------------------------------------------------ commands
    def _load(self, tenant: str, project_id: str, voter: str, stream: str) -> d.CitizenReactions:
        agg = d.CitizenReactions.replay(project_id, voter, self.store.read_stream(tenant, stream))
        self.aggregates.put((tenant, stream), agg)
        return agg

    def _decide_and_append(self, tenant: str, project_id: str, voter: str, decide) -> tuple[list, list]:
        """Decide on the cached aggregate (see :class:`AggregateCache`), append with its version; on a conflict,
        or before answering a decision that appends nothing, re-read the stream (authoritative) and decide again."""
        stream = d.reactions_stream(project_id, voter)
        key = (tenant, stream)
        cid = current_correlation()
        for attempt in range(MAX_ATTEMPTS):
            if attempt == 0:
                agg = self.aggregates.get(key) or d.CitizenReactions(project_id, voter)   # unknown: assume new
                try:
                    new = decide(agg)
                except (Conflict, NotFound):
                    new = None                      # a refusal is only answered from the stream itself
                if not new:
                    agg = self._load(tenant, project_id, voter, stream)
                    new = decide(agg)
            else:
                agg = self._load(tenant, project_id, voter, stream)
                new = decide(agg)
            if not new:
                return [], []
            try:
                positions = self.store.append(tenant, stream, [NewEvent(t, data, correlationid=cid)
                                                               for t, data in new], expected_version=agg.version)
            except ConcurrencyError:
                self.aggregates.drop(key)
                if attempt:
                    _sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                continue
            after = _copy_agg(agg)
            for t, data in new:
                after.apply(t, data)
            self.aggregates.put(key, after)
            return new, positions
        raise ConcurrencyError(tenant, stream, "retried", f"still conflicting after {MAX_ATTEMPTS} attempts")

    def react(self, tenant: str, voter: str, target_type: str, target_id: str, value: int,
              personal: dict | None = None) -> dict:
        counted_for, idea, aliases = self._target(tenant, target_type, target_id)
        if idea.get("status") in ("withdrawn",):
            raise Conflict(f"idea {idea['idea_id']} was withdrawn", reason="idea_withdrawn")
        if target_type == d.IDEA and idea.get("proposal_status") == "expired":
            raise Conflict(f"proposal {idea['idea_id']} has expired", reason="proposal_expired")
        phase = self._open_phase(tenant, idea)
        snapshot = self._personal(tenant, voter, personal)
        new, positions = self._decide_and_append(
            tenant, idea["project_id"], voter,
            lambda agg: agg.react(target_type=target_type, target_id=counted_for, idea_id=idea["idea_id"],
                                  phase=phase, value=value, personal=snapshot, aliases=aliases))
        result = "unchanged" if not new else ("cast" if new[0][0] == d.REACTION_CAST else "changed")
        return {"result": result, "target_type": target_type, "target_id": target_id, "counted_for": counted_for,
                "value": value, "phase_id": phase.id, "position": positions[0] if positions else None}

    def retract(self, tenant: str, voter: str, target_type: str, target_id: str) -> dict:
        counted_for, idea, aliases = self._target(tenant, target_type, target_id)
        phase = self._open_phase(tenant, idea)
        snapshot = self._personal(tenant, voter, None)
        new, positions = self._decide_and_append(
            tenant, idea["project_id"], voter,
            lambda agg: agg.retract(target_type=target_type, target_id=counted_for, idea_id=idea["idea_id"],
                                    phase=phase, personal=snapshot, aliases=aliases))
        return {"result": "retracted" if new else "unchanged", "target_type": target_type, "target_id": target_id,
                "counted_for": counted_for, "value": 0, "phase_id": phase.id,
                "position": positions[0] if positions else None}

    def my_reaction(self, tenant: str, voter: str, target_type: str, target_id: str) -> dict:
        counted_for, idea, aliases = self._target(tenant, target_type, target_id)
        agg = d.CitizenReactions.replay(idea["project_id"], voter,
                                        self.store.read_stream(tenant, d.reactions_stream(idea["project_id"], voter)))
        r = agg.current(target_type, counted_for, aliases)
        return {"target_type": target_type, "target_id": target_id, "counted_for": counted_for,
                "value": r.value if r else 0, "phase_id": r.phase_id if r else None}

    def set_manual(self, tenant: str, admin: str, idea_id: str, up: int, down: int, reason: str) -> dict:
        counted_for, idea, _ = self._target(tenant, d.IDEA, idea_id)
        if counted_for != idea_id:
            raise Conflict(f"idea {idea_id} was merged into {counted_for}: record paper votes there",
                           reason="idea_merged", survivor_id=counted_for)
        stream = d.manual_stream(idea_id)
        now = self.clock()
        open_phase = d.open_phase(self.context.phases(tenant, idea["project_id"]), now)
        for _attempt in range(MAX_ATTEMPTS):
            events = self.store.read_stream(tenant, stream)
            previous = {"up": events[-1].data["up"], "down": events[-1].data["down"]} if events else None
            new = d.manual_votes(idea_id=idea_id, project_id=idea["project_id"],
                                 phase_id=open_phase.id if open_phase else None, up=up, down=down, reason=reason,
                                 by=admin, previous=previous)
            if not new:
                return {"result": "unchanged", "idea_id": idea_id, "up": up, "down": down, "position": None}
            try:
                positions = self.store.append(tenant, stream, [NewEvent(t, data, correlationid=current_correlation())
                                                               for t, data in new], expected_version=len(events))
                return {"result": "set", "idea_id": idea_id, "up": up, "down": down, "position": positions[0]}
            except ConcurrencyError:
                _sleep(random.uniform(0, 0.005))
        raise ConcurrencyError(tenant, stream, "retried")

    def configure_phase_voting(self, tenant: str, admin: str, project_id: str, phase_id: str,
                               settings: dict) -> dict:
        doc = self.context.phase_doc(tenant, phase_id)
        if doc is None or doc.get("project_id") != project_id or not (doc.get("start") or doc.get("end")):
            raise NotFound(f"phase {phase_id} of project {project_id} not found")
        data = {k: settings.get(k) for k in d.VotingSettings.KEYS}
        data.update(project_id=project_id, phase_id=phase_id, by=admin)
        positions = self.store.append(tenant, d.phase_voting_stream(phase_id),
                                      [NewEvent(d.PHASE_VOTING_CONFIGURED, data,
                                                correlationid=current_correlation())])
        return {"position": positions[0], **self.phase_voting(tenant, project_id, phase_id, override=data)}

    def phase_voting(self, tenant: str, project_id: str, phase_id: str, override: dict | None = None) -> dict:
        doc = self.context.phase_doc(tenant, phase_id)
        if doc is None or doc.get("project_id") != project_id:
            raise NotFound(f"phase {phase_id} of project {project_id} not found")
        phase = p.phase_from_doc(dict(doc, voting=override or doc.get("voting")))
        return {"project_id": project_id, "phase_id": phase_id, "kind": phase.kind, "start": d.iso(phase.start),
                "end": d.iso(phase.end), "open": phase.is_open(self.clock()), **phase.settings.to_dict()}

    def record_profile(self, tenant: str, voter: str, personal: dict) -> dict:
        data = {"voter": voter, "personal": d.clean_personal(personal)}
        positions = self.store.append(tenant, f"voter-{voter}", [NewEvent(d.VOTER_PROFILE_RECORDED, data,
                                                                          correlationid=current_correlation())])
        return {"voter": voter, "personal": data["personal"], "position": positions[0]}

    # ------------------------------------------------------------ queries
    def tally(self, tenant: str, target_type: str, target_id: str, as_at: datetime | None = None) -> dict:
        if target_type == d.IDEA and self.context.idea(tenant, target_id) is None:
            raise NotFound(f"idea {target_id} not found")
        if target_type == d.COMMENT and self.context.comment(tenant, target_id) is None:
            raise NotFound(f"comment {target_id} not found")
        if as_at is not None:
            return p.tally_as_at(self.store, tenant, target_type, target_id, as_at)
        out = d.tally_view(p.tally_doc(self.db, tenant, target_type, target_id))
        out["as_at"] = None
        return out


class VotesDep(DependencyProvider):
    """Injects :class:`Votes` (one store and projection handle per container)."""

    def setup(self):
        db = mongo_db()
        self.votes = Votes(process_store(db), db)
        p.ensure_indexes(db)

    def get_dependency(self, worker_ctx):
        return self.votes


class ProjectionsDep(DependencyProvider):
    """Injects the projection handlers (context, tallies) used by the @subscribe entrypoints and the timer."""

    def setup(self):
        db = mongo_db()
        p.ensure_indexes(db)
        self.handlers = _Handlers(process_store(db), db)

    def get_dependency(self, worker_ctx):
        return self.handlers


class _Handlers:
    def __init__(self, store, db):
        self.store = store
        self.db = db
        self.context = p.ContextProjection(db)
        self.tallies = p.TallyProjection(db, store, self.context)

    def expire_due(self) -> int:
        return p.expire_due(self.store, self.context, self.db)
