"""Votes domain: pure rules, no I/O (no nameko, pymongo or pika). Commands return :class:`agora.events.NewEvent`.

* :class:`VotingSettings` / :class:`Phase` — what a phase allows (CitizenLab ``reacting_enabled``,
  ``reacting_dislike_enabled``, ``reacting_like_limited_max``, ``reacting_threshold``, ``expire_days_limit``;
  Decidim ``threshold_per_proposal``).
* :class:`Target` — what a reaction is on, as the context projection knows it (merges followed to the survivor).
* :class:`CitizenReactions` — the aggregate of one person's reactions within one project (stream
  ``reactions-{project}-{voter}``, voter = the person's pseudonym). One stream per person and project makes both
  invariants hold under concurrency with the store's expected-version check: one reaction per person per target,
  and at most N per phase.
* :func:`manual_votes`, :func:`configure_voting`, :func:`proposal_outcome` — paper votes, a phase's settings, a
  proposal's outcome (threshold reached or expired).

The tally rules (a projection's rules, pure too) are in :mod:`votes.tallies`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable

from agora.errors import Conflict
from agora.events import NewEvent
from agora.events.votes import PERSONAL_FIELDS

UP, DOWN = 1, -1
IDEA, COMMENT = "idea", "comment"

REACTION_CAST = "ReactionCast"
REACTION_CHANGED = "ReactionChanged"
REACTION_RETRACTED = "ReactionRetracted"
REACTION_EVENTS = (REACTION_CAST, REACTION_CHANGED, REACTION_RETRACTED)
MANUAL_VOTES_SET = "ManualVotesSet"
PHASE_VOTING_CONFIGURED = "PhaseVotingConfigured"
THRESHOLD_REACHED = "ThresholdReached"
EXPIRED = "Expired"


# ----------------------------------------------------------------------------------------------- time
def parse_time(value) -> datetime | None:
    """ISO 8601 (``datetime.fromisoformat``; naive = UTC) or datetime → aware UTC datetime; None/"" → None."""
    if value is None or value == "":
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class VotingSettings:
    """Per-phase voting settings. ``None`` limits mean unlimited; ``threshold``/``expire_days`` turn ideas
    submitted in the phase into proposals that reach a support threshold or expire."""
    enabled: bool = True            # reacting_enabled
    downvoting: bool = True         # False: up only (CitizenLab reacting_dislike_enabled)
    max_up: int | None = None       # reacting_like_limited_max (per person per phase)
    max_down: int | None = None     # reacting_dislike_limited_max
    threshold: int | None = None    # reacting_threshold / Decidim threshold_per_proposal
    expire_days: float | None = None  # expire_days_limit
    comment_likes: bool = True

    KEYS = ("enabled", "downvoting", "max_up", "max_down", "threshold", "expire_days", "comment_likes")
    FLAGS = ("enabled", "downvoting", "comment_likes")

    def overridden(self, overrides: dict | None) -> "VotingSettings":
        """These settings with the keys present in ``overrides`` replaced (an explicit None clears a limit)."""
        if not overrides:
            return self
        current = self.to_dict()
        for k in self.KEYS:
            if k in overrides and not (overrides[k] is None and k in self.FLAGS):
                current[k] = overrides[k]
        return VotingSettings(**current)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.KEYS}


def default_settings(kind: str) -> VotingSettings:
    """Defaults per phase kind before any PhaseVotingConfigured: ideation and voting phases take up and down
    reactions without limit; budgeting phases take none (the budgets service runs those ballots)."""
    if kind == "budgeting":
        return VotingSettings(enabled=False, comment_likes=True)
    return VotingSettings()


@dataclass(frozen=True)
class Phase:
    id: str
    project_id: str
    kind: str = "ideation"
    start: datetime | None = None
    end: datetime | None = None
    settings: VotingSettings = field(default_factory=VotingSettings)

    def is_open(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


def open_phase(phases: Iterable[Phase], now: datetime) -> Phase | None:
    """The phase open at ``now``; the latest-starting wins."""
    candidates = [p for p in phases if p.is_open(now)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.start or datetime.min.replace(tzinfo=timezone.utc), p.id))


def proposal_deadline(submitted_at: datetime | None, settings: VotingSettings) -> datetime | None:
    if submitted_at is None or settings.expire_days is None:
        return None
    return submitted_at + timedelta(days=float(settings.expire_days))


# ----------------------------------------------------------------------------------------------- streams
def reactions_stream(project_id: str, voter: str) -> str:
    return f"reactions-{project_id}-{voter}"


def proposal_stream(idea_id: str) -> str:
    return f"proposal-{idea_id}"


def manual_stream(idea_id: str) -> str:
    return f"manual-{idea_id}"


def phase_voting_stream(phase_id: str) -> str:
    return f"phase-voting-{phase_id}"


def voter_personal(personal: dict | None) -> dict | None:
    """The demographics a vote carries: the self-declared fields given with it (consent was checked by the request
    schema), or None when none was given."""
    if not personal:
        return None
    out = {k: personal.get(k) for k in PERSONAL_FIELDS}
    return out if any(v is not None for v in out.values()) else None


# ----------------------------------------------------------------------------------------------- aggregate
@dataclass(frozen=True)
class Target:
    """What a reaction is on. ``counted_for`` is the target id the reaction counts for (an idea merged into another
    counts for the survivor); ``aliases`` are the ideas merged into it; status and proposal status are the idea's."""
    target_type: str
    target_id: str
    counted_for: str
    idea_id: str
    project_id: str
    status: str = "published"
    proposal_status: str | None = None
    aliases: tuple = ()


@dataclass(frozen=True)
class Reaction:
    target_type: str
    target_id: str
    value: int
    phase_id: str


class CitizenReactions:
    """One person's reactions in one project, rebuilt from stream ``reactions-{project}-{voter}``. Never mutated
    after it is built: :meth:`evolved` returns a new aggregate (the command runner caches aggregates)."""

    def __init__(self, project_id: str, voter: str, reactions: dict | None = None):
        self.project_id = project_id
        self.voter = voter
        self.reactions: dict[tuple[str, str], Reaction] = reactions or {}

    @classmethod
    def replay(cls, project_id: str, voter: str, events: Iterable) -> "CitizenReactions":
        agg = cls(project_id, voter)
        for ev in events:
            agg._apply(ev.type, ev.data)
        return agg

    def evolved(self, new: Iterable[NewEvent]) -> "CitizenReactions":
        out = CitizenReactions(self.project_id, self.voter, dict(self.reactions))
        for ev in new:
            out._apply(ev.type, ev.data)
        return out

    def _apply(self, etype: str, data: dict) -> None:
        key = (data["target_type"], data["target_id"])
        if etype in (REACTION_CAST, REACTION_CHANGED):
            self.reactions[key] = Reaction(data["target_type"], data["target_id"], int(data["value"]),
                                           data["phase_id"])
        elif etype == REACTION_RETRACTED:
            self.reactions.pop(key, None)

    def current(self, target: Target) -> Reaction | None:
        """The reaction on the target, or on an idea merged into it (votes follow the survivor)."""
        for tid in (target.counted_for, *target.aliases):
            r = self.reactions.get((target.target_type, tid))
            if r is not None:
                return r
        return None

    def used(self, phase_id: str, value: int) -> int:
        return sum(1 for r in self.reactions.values()
                   if r.target_type == IDEA and r.phase_id == phase_id and r.value == value)

    # ------------------------------------------------------------ commands
    def react(self, target: Target, phase: Phase | None, value: int, personal: dict | None) -> NewEvent | None:
        """Cast or change a reaction; None when the same reaction is there already (idempotent)."""
        _check_open(target, phase)
        s = phase.settings
        if target.target_type == COMMENT:
            if not s.comment_likes:
                raise Conflict(f"liking comments is disabled in phase {phase.id}", reason="comment_likes_disabled")
        else:
            if target.proposal_status == "expired":
                raise Conflict(f"proposal {target.idea_id} has expired", reason="proposal_expired")
            if not s.enabled:
                raise Conflict(f"reacting is disabled in phase {phase.id}", reason="reacting_disabled")
            if value == DOWN and not s.downvoting:
                raise Conflict(f"phase {phase.id} accepts up votes only", reason="downvoting_disabled")
        existing = self.current(target)
        if existing is not None and existing.value == value:
            return None
        if target.target_type == IDEA:
            limit = s.max_up if value == UP else s.max_down
            if limit is not None:
                used = self.used(phase.id, value)
                if used >= limit:
                    raise Conflict(f"limit of {limit} {'up' if value == UP else 'down'} votes per person "
                                   f"reached in phase {phase.id}", reason="limit_reached", limit=limit, used=used)
        data = self._data(target, phase, value, personal)
        if existing is None:
            return NewEvent(REACTION_CAST, dict(data, target_id=target.counted_for, previous=0))
        return NewEvent(REACTION_CHANGED, dict(data, target_id=existing.target_id, previous=existing.value))

    def retract(self, target: Target, phase: Phase | None) -> NewEvent | None:
        """Withdraw the reaction; None when there is none (idempotent)."""
        _check_open(target, phase, withdrawn_ok=True)
        existing = self.current(target)
        if existing is None:
            return None
        if target.target_type == IDEA and not phase.settings.enabled:
            raise Conflict(f"reacting is disabled in phase {phase.id}", reason="reacting_disabled")
        return NewEvent(REACTION_RETRACTED, dict(self._data(target, phase, 0, None), target_id=existing.target_id,
                                                 previous=existing.value))

    def _data(self, target: Target, phase: Phase, value: int, personal: dict | None) -> dict:
        return {"target_type": target.target_type, "idea_id": target.idea_id, "project_id": self.project_id,
                "phase_id": phase.id, "voter": self.voter, "value": value, "personal": voter_personal(personal)}


def _check_open(target: Target, phase: Phase | None, withdrawn_ok: bool = False) -> None:
    if target.status == "withdrawn" and not withdrawn_ok:
        raise Conflict(f"idea {target.idea_id} was withdrawn", reason="idea_withdrawn")
    if phase is None:
        raise Conflict(f"no phase of project {target.project_id} is open for votes now", reason="phase_closed")


# ----------------------------------------------------------------------------------------------- paper votes
def manual_votes(target: Target, phase: Phase | None, up: int, down: int, reason: str, by: str,
                 previous: dict | None) -> NewEvent | None:
    """Set the paper/offline counts of an idea (absolute values; the previous ones are kept for the audit)."""
    if target.counted_for != target.target_id:
        raise Conflict(f"idea {target.target_id} was merged into {target.counted_for}: record paper votes there",
                       reason="idea_merged", survivor_id=target.counted_for)
    previous = previous or {"up": 0, "down": 0}
    if previous["up"] == up and previous["down"] == down:
        return None
    return NewEvent(MANUAL_VOTES_SET, {"idea_id": target.idea_id, "project_id": target.project_id,
                                       "phase_id": phase.id if phase else None, "up": up, "down": down,
                                       "previous_up": previous["up"], "previous_down": previous["down"],
                                       "reason": reason.strip(), "by": by})


def manual_counts(events) -> dict | None:
    """The paper counts an idea's ``manual-*`` stream stands at (None: never set)."""
    return {"up": events[-1].data["up"], "down": events[-1].data["down"]} if events else None


# ----------------------------------------------------------------------------------------------- phase settings
def configure_voting(project_id: str, phase_id: str, settings: dict, by: str) -> NewEvent:
    data = {k: settings.get(k) for k in VotingSettings.KEYS}
    data.update(project_id=project_id, phase_id=phase_id, by=by)
    return NewEvent(PHASE_VOTING_CONFIGURED, data)


# ----------------------------------------------------------------------------------------------- proposals
def proposal_outcome(idea: dict, phase: Phase, up: int, now: datetime | None) -> NewEvent | None:
    """A proposal's outcome, once: ``ThresholdReached`` when its support (online + paper up votes) reached the
    phase's threshold; with ``now`` (the expiry pass), ``Expired`` when its deadline passed without it. ``idea``
    is the context projection's view (idea_id, project_id, submitted_at, status, proposal_status)."""
    s = phase.settings
    if s.threshold is None or idea.get("proposal_status") or idea.get("status") in ("withdrawn", "merged"):
        return None
    data = {"idea_id": idea["idea_id"], "project_id": idea["project_id"], "phase_id": phase.id,
            "threshold": s.threshold, "up": up}
    if up >= s.threshold and up > 0:
        return NewEvent(THRESHOLD_REACHED, data)
    if now is None:
        return None
    deadline = proposal_deadline(parse_time(idea.get("submitted_at")), s)
    if deadline is None or deadline > now:
        return None
    return NewEvent(EXPIRED, dict(data, deadline=iso(deadline)))
