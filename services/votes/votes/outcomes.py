"""Proposal outcome policies: an idea submitted in a phase with a support threshold becomes a proposal that either
reaches the threshold (``ThresholdReached``) or, ``expire_days`` after its submission, expires (``Expired``).

* :meth:`Outcomes.after_tallies` — run after each tally batch (the tally subscription): a proposal whose support
  reached its threshold gets ``ThresholdReached``.
* :meth:`Outcomes.expire_due` — run by the service's timer: proposals past their deadline get their outcome.

Each proposal has one outcome, ever: stream ``proposal-{idea}`` holds at most one event (the decision
:func:`votes.domain.proposal_outcome` is taken on that stream by the command runner, which appends with expected
version 0), so replicas and replays racing to emit it store it once.
"""
from __future__ import annotations

import time as _time
from datetime import datetime, timezone

from agora.application import CommandRunner, derive_id
from agora.events import NewEvent
from votes import domain as d
from votes import projections as p


class Outcomes:
    def __init__(self, store, db, runner: CommandRunner | None = None, context: p.ContextProjection | None = None):
        self.store = store
        self.db = db
        self.runner = runner or CommandRunner(store)
        self.context = context or p.ContextProjection(db)
        self._phases: dict[tuple[str, str], tuple[float, d.Phase | None]] = {}
        self._ideas: dict[tuple[str, str], dict] = {}

    def emit(self, tenant: str, idea: dict, phase: d.Phase, up: int, now: datetime | None = None,
             cause=None) -> bool:
        """Decide the proposal's outcome on its stream and append it once: True if this call stored it."""
        def decide(stored):
            if stored:
                return None          # the proposal has its outcome already (this one or the other one)
            ev = d.proposal_outcome(idea, phase, up, now)
            if ev is None:
                return None
            return NewEvent(ev.type, ev.data, id=derive_id(tenant, idea["idea_id"], "outcome"),
                            correlationid=getattr(cause, "correlationid", None),
                            causationid=getattr(cause, "id", None))
        return self.runner.run(tenant, d.proposal_stream(idea["idea_id"]), decide).appended

    # ------------------------------------------------------------ after each tally batch
    def after_tallies(self, changed) -> int:
        """``changed``: (tally, event) pairs from :meth:`votes.projections.TallyProjection.handle_batch`."""
        emitted = 0
        for t, event in changed:
            if t["target_type"] != d.IDEA or t.get("proposal") or t.get("merged_into"):
                continue
            up = t["up"] + t["manual_up"]
            if up <= 0:
                continue
            where = self._where(event.tenant, t["target_id"])
            phase = self._phase(event.tenant, where["phase_id"]) if where else None
            if phase is None or phase.settings.threshold is None or up < phase.settings.threshold:
                continue
            idea = self.context.idea(event.tenant, t["target_id"])      # fresh: its status and proposal status
            emitted += self.emit(event.tenant, idea, phase, up, cause=event)
        return emitted

    def _where(self, tenant: str, idea_id: str) -> dict | None:
        """An idea's project and submission phase (they never change: cached; one read per idea per process)."""
        key = (tenant, idea_id)
        where = self._ideas.get(key)
        if where is None:
            idea = self.context.idea(tenant, idea_id)
            if not idea:
                return None
            if len(self._ideas) > 100_000:
                self._ideas.clear()
            where = self._ideas[key] = {"project_id": idea["project_id"], "phase_id": idea["phase_id"]}
        return where

    def _phase(self, tenant: str, phase_id: str) -> d.Phase | None:
        key = (tenant, phase_id)
        hit = self._phases.get(key)
        if hit and hit[0] > _time.monotonic():
            return hit[1]
        phase = self.context.phase(tenant, phase_id)
        self._phases[key] = (_time.monotonic() + 1.0, phase)
        return phase

    # ------------------------------------------------------------ the timer
    def expire_due(self, now: datetime | None = None) -> int:
        """Give every proposal past its deadline its outcome (idempotent)."""
        now = now or datetime.now(timezone.utc)
        emitted = 0
        for pdoc in self.context.phases_with_expiry():
            phase = p.phase_from_doc(pdoc)
            for idea in self.context.ideas_in_phase(pdoc["tenant"], phase.id):
                if idea.get("proposal_status") or idea.get("status") in ("withdrawn", "merged"):
                    continue
                deadline = d.proposal_deadline(d.parse_time(idea.get("submitted_at")), phase.settings)
                if deadline is None or deadline > now:
                    continue
                t = p.tally_doc(self.db, pdoc["tenant"], d.IDEA, idea["idea_id"])
                if t.get("proposal"):
                    continue
                emitted += self.emit(pdoc["tenant"], idea, phase, t["up"] + t["manual_up"], now)
        return emitted
