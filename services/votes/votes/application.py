"""Use cases of the votes service, each a few lines over :class:`agora.application.CommandRunner`, and the
queries that need more than one read model. No HTTP in here (the routes are in service.py).

The voter is the caller's pseudonym (``store.person_id``: the vault caches it in-process; a new person costs one
insert), never the token's subject. Hot path of a vote (``PUT …/reaction``), in store round trips: the person's
reactions aggregate comes from the runner's :class:`~agora.application.AggregateCache` (the expected-version check
is the safety net), the idea and the project's phases from :mod:`votes.context_cache`, and the append joins the
store's group commit.
"""
from __future__ import annotations

from datetime import datetime, timezone

from agora.application import AggregateCache, CommandRunner
from agora.errors import NotFound
from agora.tenants import registry_for
from votes import domain as d
from votes import projections as p
from votes import tallies as tl
from votes.context_cache import ContextCache, context_cache


class VotesApp:
    def __init__(self, store, db, clock=None, cache: ContextCache | None = None, tenants=None):
        self.store = store
        self.db = db
        self.tenants = tenants or registry_for(store)
        self.runner = CommandRunner(store)
        self.aggregates = AggregateCache()
        self.context = p.ContextProjection(db)
        self.cache = cache or context_cache
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # ------------------------------------------------------------ commands
    def react(self, tenant: str, caller, target_type: str, target_id: str, value: int,
              personal: dict | None = None) -> dict:
        target = self._target(tenant, target_type, target_id)
        phase = self._open_phase(tenant, target.project_id)
        outcome = self._reactions(tenant, target.project_id, self.store.person_id(tenant, caller.sub),
                                  lambda agg: agg.react(target, phase, value, personal))
        result = ("unchanged" if not outcome.events else
                  "cast" if outcome.events[0].type == d.REACTION_CAST else "changed")
        return self._answer(result, target, value, phase, outcome)

    def retract(self, tenant: str, caller, target_type: str, target_id: str) -> dict:
        target = self._target(tenant, target_type, target_id)
        phase = self._open_phase(tenant, target.project_id)
        outcome = self._reactions(tenant, target.project_id, self.store.person_id(tenant, caller.sub),
                                  lambda agg: agg.retract(target, phase))
        return self._answer("retracted" if outcome.events else "unchanged", target, 0, phase, outcome)

    def set_manual(self, tenant: str, caller, idea_id: str, up: int, down: int, reason: str) -> dict:
        target = self._target(tenant, d.IDEA, idea_id, cached=False)
        phase = d.open_phase(self.context.phases(tenant, target.project_id), self.clock())
        by = self.store.person_id(tenant, caller.sub)
        outcome = self.runner.run(tenant, d.manual_stream(idea_id),
                                  lambda previous: d.manual_votes(target, phase, up, down, reason, by, previous),
                                  load=d.manual_counts)
        return {"result": "set" if outcome.events else "unchanged", "idea_id": idea_id, "up": up, "down": down,
                "position": outcome.positions[0] if outcome.positions else None}

    def configure_phase_voting(self, tenant: str, caller, project_id: str, phase_id: str, settings: dict) -> dict:
        doc = self._phase_doc(tenant, project_id, phase_id)
        if not (doc.get("start") or doc.get("end")):
            raise NotFound(f"phase {phase_id} of project {project_id} not found")
        by = self.store.person_id(tenant, caller.sub)
        outcome = self.runner.run(tenant, d.phase_voting_stream(phase_id),
                                  lambda _: d.configure_voting(project_id, phase_id, settings, by))
        return {"position": outcome.position, **self._phase_view(dict(doc, voting=outcome.data))}

    # ------------------------------------------------------------ queries
    def my_reaction(self, tenant: str, caller, target_type: str, target_id: str) -> dict:
        target = self._target(tenant, target_type, target_id)
        voter = self.store.person_id(tenant, caller.sub, create=False)
        events = self.store.read_stream(tenant, d.reactions_stream(target.project_id, voter)) if voter else []
        r = d.CitizenReactions.replay(target.project_id, voter, events).current(target)
        return {"target_type": target_type, "target_id": target_id, "counted_for": target.counted_for,
                "value": r.value if r else 0, "phase_id": r.phase_id if r else None}

    def phase_voting(self, tenant: str, project_id: str, phase_id: str) -> dict:
        return self._phase_view(self._phase_doc(tenant, project_id, phase_id))

    def tally(self, tenant: str, caller, target_type: str, target_id: str, as_at: datetime | None = None) -> dict:
        """Totals for everyone; segments (suppressed below the tenant's minimum cell size) for staff only."""
        found = (self.context.idea if target_type == d.IDEA else self.context.comment)(tenant, target_id)
        if found is None:
            raise NotFound(f"{target_type} {target_id} not found")
        if as_at is not None:
            t = p.tally_as_at(self.store, tenant, target_type, target_id, as_at)
        else:
            t = p.tally_doc(self.db, tenant, target_type, target_id)
        if caller is not None and caller.is_staff:
            settings = self.tenants.get(tenant)
            out = tl.staff_view(t, settings.setting("published_segments"), settings.min_cell_size)
        else:
            out = tl.public_view(t)
        out["as_at"] = d.iso(as_at)
        return out

    # ------------------------------------------------------------ helpers
    def _reactions(self, tenant: str, project_id: str, voter: str, decide):
        return self.runner.run(
            tenant, d.reactions_stream(project_id, voter), decide,
            load=lambda events: d.CitizenReactions.replay(project_id, voter, events),
            cache=self.aggregates, initial=lambda: d.CitizenReactions(project_id, voter),
            evolve=lambda agg, new: agg.evolved(new))

    @staticmethod
    def _answer(result: str, target: d.Target, value: int, phase: d.Phase | None, outcome) -> dict:
        return {"result": result, "target_type": target.target_type, "target_id": target.target_id,
                "counted_for": target.counted_for, "value": value, "phase_id": phase.id if phase else None,
                "position": outcome.positions[0] if outcome.positions else None}

    def _idea(self, tenant: str, idea_id: str, cached: bool = True) -> dict | None:
        if not cached:
            return self.context.idea(tenant, idea_id)
        return self.cache.get(("idea", tenant, idea_id), lambda: self.context.idea(tenant, idea_id))

    def _target(self, tenant: str, target_type: str, target_id: str, cached: bool = True) -> d.Target:
        """The target as the context knows it, merges followed to the surviving idea (404 when unknown)."""
        if target_type == d.COMMENT:
            comment = self.context.comment(tenant, target_id)
            if comment is None:
                raise NotFound(f"comment {target_id} not found")
            idea = self._idea(tenant, comment["idea_id"], cached)
            if idea is None:
                raise NotFound(f"idea {comment['idea_id']} of comment {target_id} not found")
            return d.Target(d.COMMENT, target_id, target_id, idea["idea_id"], idea["project_id"],
                            idea.get("status", "published"))
        idea = self._idea(tenant, target_id, cached)
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
        return d.Target(d.IDEA, target_id, idea["idea_id"], idea["idea_id"], idea["project_id"],
                        idea.get("status", "published"), idea.get("proposal_status"),
                        tuple(idea.get("aliases") or ()))

    def _open_phase(self, tenant: str, project_id: str) -> d.Phase | None:
        phases = self.cache.get(("phases", tenant, project_id), lambda: self.context.phases(tenant, project_id))
        return d.open_phase(phases, self.clock())

    def _phase_doc(self, tenant: str, project_id: str, phase_id: str) -> dict:
        doc = self.context.phase_doc(tenant, phase_id)
        if doc is None or doc.get("project_id") != project_id:
            raise NotFound(f"phase {phase_id} of project {project_id} not found")
        return doc

    def _phase_view(self, doc: dict) -> dict:
        phase = p.phase_from_doc(doc)
        return {"project_id": phase.project_id, "phase_id": phase.id, "kind": phase.kind,
                "start": d.iso(phase.start), "end": d.iso(phase.end), "open": phase.is_open(self.clock()),
                **phase.settings.to_dict()}
