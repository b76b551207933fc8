"""Votes domain: pure rules, no I/O (no nameko, pymongo or pika).

* :class:`VotingSettings` / :class:`Phase` — what a phase allows (CitizenLab ``reacting_enabled``,
  ``reacting_dislike_enabled``, ``reacting_like_limited_max``, ``reacting_threshold``, ``expire_days_limit``;
  Decidim ``threshold_per_proposal``).
* :class:`CitizenReactions` — the aggregate of one citizen's reactions within one project (stream
  ``reactions-{project}-{citizen}``). One stream per citizen+project makes both invariants hold under concurrency
  with the store's expected-version check: one reaction per citizen per target, and at most N per phase.
* :class:`Tallies` — the tally projection's rules, written against a small state interface so that the live
  MongoDB projection, a rebuild and the ``as_at`` replay run exactly the same code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable

from agora.errors import Conflict, ValidationFailed

UP, DOWN = 1, -1
IDEA, COMMENT = "idea", "comment"
TARGET_TYPES = (IDEA, COMMENT)

REACTION_CAST = "ReactionCast"
REACTION_CHANGED = "ReactionChanged"
REACTION_RETRACTED = "ReactionRetracted"
REACTION_EVENTS = (REACTION_CAST, REACTION_CHANGED, REACTION_RETRACTED)
MANUAL_VOTES_SET = "ManualVotesSet"
PHASE_VOTING_CONFIGURED = "PhaseVotingConfigured"
THRESHOLD_REACHED = "ThresholdReached"
EXPIRED = "Expired"
VOTER_PROFILE_RECORDED = "VoterProfileRecorded"

AGE_BANDS = ("0-20", "20-40", "40-60", "60-80", "80+")
UNKNOWN = "unknown"
SEGMENT_KINDS = ("age", "gender", "district")


# ----------------------------------------------------------------------------------------------- time helpers
def parse_time(value) -> datetime | None:
    """ISO 8601 string (``Z`` or offset; naive = UTC) or datetime → aware UTC datetime; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def age_band(birth_year, on: datetime | None) -> str:
    """Age band 0-20/20-40/40-60/60-80/80+ (lower bound inclusive) of someone born in ``birth_year`` at ``on``."""
    if birth_year is None or on is None:
        return UNKNOWN
    age = on.year - int(birth_year)
    if age < 0:
        return UNKNOWN
    return AGE_BANDS[min(age // 20, len(AGE_BANDS) - 1)]


# ----------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class VotingSettings:
    """Per-phase voting settings. ``None`` limits mean unlimited; ``threshold``/``expire_days`` turn ideas
    submitted in the phase into proposals that reach a support threshold or expire."""
    enabled: bool = True            # reacting_enabled
    downvoting: bool = True         # False: up only (CitizenLab reacting_dislike_enabled)
    max_up: int | None = None       # reacting_like_limited_max (per citizen per phase)
    max_down: int | None = None     # reacting_dislike_limited_max
    threshold: int | None = None    # reacting_threshold / Decidim threshold_per_proposal
    expire_days: float | None = None  # expire_days_limit
    comment_likes: bool = True

    KEYS = ("enabled", "downvoting", "max_up", "max_down", "threshold", "expire_days", "comment_likes")

    @classmethod
    def from_dict(cls, data: dict | None) -> "VotingSettings":
        data = data or {}
        return cls(**{k: data[k] for k in cls.KEYS if k in data and (data[k] is not None or k in
                                                                     ("max_up", "max_down", "threshold",
                                                                      "expire_days"))})

    def overridden(self, overrides: dict | None) -> "VotingSettings":
        """These settings with the keys present in ``overrides`` replaced (an explicit None clears a limit)."""
        if not overrides:
            return self
        current = self.to_dict()
        for k in self.KEYS:
            if k in overrides:
                v = overrides[k]
                if v is None and k in ("enabled", "downvoting", "comment_likes"):
                    continue
                current[k] = v
        return VotingSettings(**current)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.KEYS}

    @property
    def is_proposal(self) -> bool:
        return self.threshold is not None


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


def open_phase(phases: Iterable[Phase], now: datetime, among: Iterable[str] | None = None) -> Phase | None:
    """The phase open at ``now`` (restricted to the ids in ``among`` when given); the latest-starting wins."""
    allowed = set(among) if among else None
    candidates = [p for p in phases if p.is_open(now) and (allowed is None or p.id in allowed)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.start or datetime.min.replace(tzinfo=timezone.utc), p.id))


def proposal_deadline(submitted_at: datetime | None, settings: VotingSettings) -> datetime | None:
    if submitted_at is None or settings.expire_days is None:
        return None
    return submitted_at + timedelta(days=float(settings.expire_days))


# ----------------------------------------------------------------------------------------------- aggregate
@dataclass
class Reaction:
    target_type: str
    target_id: str
    value: int
    phase_id: str


def reactions_stream(project_id: str, citizen: str) -> str:
    return f"reactions-{project_id}-{citizen}"


def proposal_stream(idea_id: str) -> str:
    return f"proposal-{idea_id}"


def manual_stream(idea_id: str) -> str:
    return f"manual-{idea_id}"


def phase_voting_stream(phase_id: str) -> str:
    return f"phase-voting-{phase_id}"


def clean_personal(personal: dict | None) -> dict:
    personal = personal or {}
    return {"birth_year": personal.get("birth_year"), "gender": personal.get("gender"),
            "district": personal.get("district")}


class CitizenReactions:
    """One citizen's reactions in one project, rebuilt from stream ``reactions-{project}-{citizen}``."""

    def __init__(self, project_id: str, citizen: str):
        self.project_id = project_id
        self.citizen = citizen
        self.reactions: dict[tuple[str, str], Reaction] = {}
        self.version = 0

    @classmethod
    def replay(cls, project_id: str, citizen: str, events: Iterable) -> "CitizenReactions":
        agg = cls(project_id, citizen)
        for ev in events:
            agg.apply(ev.type, ev.data)
        return agg

    def apply(self, etype: str, data: dict) -> None:
        key = (data["target_type"], data["target_id"])
        if etype in (REACTION_CAST, REACTION_CHANGED):
            self.reactions[key] = Reaction(data["target_type"], data["target_id"], int(data["value"]),
                                           data["phase_id"])
        elif etype == REACTION_RETRACTED:
            self.reactions.pop(key, None)
        self.version += 1

    def current(self, target_type: str, target_id: str, aliases: Iterable[str] = ()) -> Reaction | None:
        """The citizen's reaction on the target, or on an idea merged into it (votes follow the survivor)."""
        for tid in (target_id, *aliases):
            r = self.reactions.get((target_type, tid))
            if r is not None:
                return r
        return None

    def used(self, phase_id: str, value: int) -> int:
        return sum(1 for r in self.reactions.values()
                   if r.target_type == IDEA and r.phase_id == phase_id and r.value == value)

    # ------------------------------------------------------------ commands
    def react(self, *, target_type: str, target_id: str, idea_id: str, phase: Phase, value: int, personal: dict,
              aliases: Iterable[str] = ()) -> list[tuple[str, dict]]:
        """Cast or change a reaction; [] when the same reaction is already there (idempotent)."""
        if target_type not in TARGET_TYPES:
            raise ValidationFailed({"target_type": [f"must be one of {', '.join(TARGET_TYPES)}"]})
        if value not in (UP, DOWN):
            raise ValidationFailed({"value": ["must be 1 (up) or -1 (down)"]})
        s = phase.settings
        if target_type == COMMENT:
            if value != UP:
                raise ValidationFailed({"value": ["comments only take likes (1)"]})
            if not s.comment_likes:
                raise Conflict(f"liking comments is disabled in phase {phase.id}", reason="comment_likes_disabled")
        else:
            if not s.enabled:
                raise Conflict(f"reacting is disabled in phase {phase.id}", reason="reacting_disabled")
            if value == DOWN and not s.downvoting:
                raise Conflict(f"phase {phase.id} accepts up votes only", reason="downvoting_disabled")
        existing = self.current(target_type, target_id, aliases)
        if existing is not None and existing.value == value:
            return []
        if target_type == IDEA:
            limit = s.max_up if value == UP else s.max_down
            if limit is not None:
                used = self.used(phase.id, value)
                if used >= limit:
                    raise Conflict(f"limit of {limit} {'up' if value == UP else 'down'} votes per citizen "
                                   f"reached in phase {phase.id}", reason="limit_reached", limit=limit,
                                   used=used)
        base = {"target_type": target_type, "idea_id": idea_id, "project_id": self.project_id,
                "phase_id": phase.id, "voter": self.citizen, "value": value,
                "personal": clean_personal(personal)}
        if existing is None:
            return [(REACTION_CAST, dict(base, target_id=target_id, previous=0))]
        return [(REACTION_CHANGED, dict(base, target_id=existing.target_id, previous=existing.value))]

    def retract(self, *, target_type: str, target_id: str, idea_id: str, phase: Phase, personal: dict,
                aliases: Iterable[str] = ()) -> list[tuple[str, dict]]:
        """Withdraw the reaction; [] when there is none (idempotent)."""
        existing = self.current(target_type, target_id, aliases)
        if existing is None:
            return []
        if target_type == IDEA and not phase.settings.enabled:
            raise Conflict(f"reacting is disabled in phase {phase.id}", reason="reacting_disabled")
        return [(REACTION_RETRACTED, {"target_type": target_type, "target_id": existing.target_id,
                                      "idea_id": idea_id, "project_id": self.project_id, "phase_id": phase.id,
                                      "voter": self.citizen, "value": 0, "previous": existing.value,
                                      "personal": clean_personal(personal)})]


def manual_votes(*, idea_id: str, project_id: str, phase_id: str | None, up: int, down: int, reason: str,
                 by: str, previous: dict | None) -> list[tuple[str, dict]]:
    """Set the paper/offline counts of an idea (absolute values; the previous ones are kept for the audit)."""
    errors = {}
    if not isinstance(up, int) or up < 0:
        errors["up"] = ["must be an integer ≥ 0"]
    if not isinstance(down, int) or down < 0:
        errors["down"] = ["must be an integer ≥ 0"]
    if not reason or not str(reason).strip():
        errors["reason"] = ["an audit reason is required"]
    if errors:
        raise ValidationFailed(errors)
    previous = previous or {"up": 0, "down": 0}
    if previous.get("up", 0) == up and previous.get("down", 0) == down:
        return []
    return [(MANUAL_VOTES_SET, {"idea_id": idea_id, "project_id": project_id, "phase_id": phase_id, "up": up,
                                "down": down, "previous_up": previous.get("up", 0),
                                "previous_down": previous.get("down", 0), "reason": str(reason).strip(),
                                "by": by})]


# ----------------------------------------------------------------------------------------------- tallies
def empty_tally(target_type: str, target_id: str) -> dict:
    return {"target_type": target_type, "target_id": target_id, "up": 0, "down": 0, "manual_up": 0,
            "manual_down": 0, "segments": {k: {} for k in SEGMENT_KINDS}, "merged_into": None,
            "proposal": None, "last_position": 0, "last_time": None}


def tally_view(t: dict) -> dict:
    """Public shape of a tally document."""
    total_up = t["up"] + t["manual_up"]
    total_down = t["down"] + t["manual_down"]
    return {"target_type": t["target_type"], "target_id": t["target_id"], "up": t["up"], "down": t["down"],
            "manual": {"up": t["manual_up"], "down": t["manual_down"]},
            "total": {"up": total_up, "down": total_down, "votes": total_up + total_down,
                      "net": total_up - total_down},
            "segments": {k: {seg: dict(v) for seg, v in sorted(t["segments"].get(k, {}).items())}
                         for k in SEGMENT_KINDS},
            "merged_into": t.get("merged_into"), "proposal": t.get("proposal"),
            "last_position": t.get("last_position", 0), "last_time": t.get("last_time")}


def _segments_of(rec: dict) -> dict:
    p = rec.get("personal") or {}
    return {"age": age_band(p.get("birth_year"), parse_time(rec.get("time"))),
            "gender": p.get("gender") or UNKNOWN, "district": p.get("district") or UNKNOWN}


class MemoryState:
    """In-memory tally state (as_at replay, tests). The MongoDB state in projections.py has the same methods."""

    def __init__(self):
        self.reactions: dict[str, dict] = {}
        self.tallies: dict[tuple[str, str], dict] = {}
        self.merges: dict[str, str] = {}
        self.manual: dict[str, dict] = {}

    def get_reaction(self, key):
        r = self.reactions.get(key)
        return dict(r) if r else None

    def put_reaction(self, rec):
        self.reactions[rec["_id"]] = dict(rec)

    def reactions_on(self, target_type, effective):
        return [dict(r) for r in self.reactions.values()
                if r["target_type"] == target_type and r["effective"] == effective]

    def reactions_of(self, voter, target_type, effective):
        return [dict(r) for r in self.reactions.values()
                if r["voter"] == voter and r["target_type"] == target_type and r["effective"] == effective]

    def get_tally(self, target_type, target_id):
        t = self.tallies.get((target_type, target_id))
        return _deep(t) if t else empty_tally(target_type, target_id)

    def put_tally(self, t):
        self.tallies[(t["target_type"], t["target_id"])] = _deep(t)

    def get_merge(self, idea_id):
        return self.merges.get(idea_id)

    def put_merge(self, idea_id, into):
        self.merges[idea_id] = into

    def has_merged_into(self, into):
        return any(v == into for v in self.merges.values())

    def get_manual(self, idea_id):
        m = self.manual.get(idea_id)
        return dict(m) if m else None

    def put_manual(self, m):
        self.manual[m["idea_id"]] = dict(m)

    def manual_on(self, effective):
        return [dict(m) for m in self.manual.values() if m["effective"] == effective]


def _deep(t: dict) -> dict:
    out = dict(t)
    out["segments"] = {k: {s: dict(v) for s, v in segs.items()} for k, segs in t.get("segments", {}).items()}
    if t.get("proposal"):
        out["proposal"] = dict(t["proposal"])
    return out


class Tallies:
    """Tally rules. Each reaction is a record keyed by (target, voter) with the idea it counts for now
    (``effective``: follows merges). Of a voter's records that count for the same idea, one counts: the one cast
    on that idea itself, else the earliest on an idea merged into it — so a merge never double counts a voter."""

    def __init__(self, state):
        self.s = state
        self._dirty: dict[tuple[str, str], dict] = {}

    # ------------------------------------------------------------ helpers
    def resolve(self, idea_id: str) -> str:
        seen = set()
        while True:
            nxt = self.s.get_merge(idea_id)
            if nxt is None or nxt in seen:
                return idea_id
            seen.add(idea_id)
            idea_id = nxt

    def _tally(self, target_type, target_id) -> dict:
        key = (target_type, target_id)
        if key not in self._dirty:
            self._dirty[key] = self.s.get_tally(target_type, target_id)
        return self._dirty[key]

    def _contribute(self, rec: dict, sign: int) -> None:
        t = self._tally(rec["target_type"], rec["effective"])
        if rec["value"] == UP:
            t["up"] += sign
            col = "up"
        elif rec["value"] == DOWN:
            t["down"] += sign
            col = "down"
        else:
            return
        for kind, seg in _segments_of(rec).items():
            bucket = t["segments"].setdefault(kind, {}).setdefault(seg, {"up": 0, "down": 0})
            bucket[col] += sign

    def _regroup(self, voter: str, target_type: str, effective: str) -> None:
        recs = [r for r in self.s.reactions_of(voter, target_type, effective)]
        live = [r for r in recs if r["value"] != 0]
        chosen = None
        direct = [r for r in live if r["target_id"] == effective]
        if direct:
            chosen = direct[0]
        elif live:
            chosen = min(live, key=lambda r: (r["first_position"], r["_id"]))
        for r in recs:
            should = chosen is not None and r["_id"] == chosen["_id"]
            if bool(r.get("counted")) != should:
                self._contribute(r, 1 if should else -1)
                r["counted"] = should
                self.s.put_reaction(r)

    def _touch(self, target_type, target_id, position, time) -> None:
        t = self._tally(target_type, target_id)
        t["last_position"] = max(t.get("last_position", 0), position)
        t["last_time"] = time

    def flush(self) -> list[dict]:
        out = list(self._dirty.values())
        for t in out:
            self.s.put_tally(t)
        self._dirty = {}
        return out

    # ------------------------------------------------------------ events
    def apply(self, etype: str, data: dict, *, position: int, time: str, tenant: str = "") -> list[dict]:
        """Apply one event; returns the tally documents that changed."""
        if etype in REACTION_EVENTS:
            self._reaction(etype, data, position, time, tenant)
        elif etype == MANUAL_VOTES_SET:
            self._manual(data, position, time)
        elif etype == "IdeaMerged":
            self._merged(data, position, time)
        elif etype in (THRESHOLD_REACHED, EXPIRED):
            t = self._tally(IDEA, data["idea_id"])
            t["proposal"] = {"status": "threshold_reached" if etype == THRESHOLD_REACHED else "expired",
                             "threshold": data.get("threshold"), "at": time, "up": data.get("up")}
            self._touch(IDEA, data["idea_id"], position, time)
        return self.flush()

    def _reaction(self, etype, data, position, time, tenant):
        tt, target, voter = data["target_type"], data["target_id"], data["voter"]
        key = f"{tenant}|{tt}|{target}|{voter}"
        rec = self.s.get_reaction(key)
        if rec is not None and rec.get("position", 0) >= position:
            return                        # already applied (replays and read-ahead batches are idempotent)
        if rec is None:
            rec = {"_id": key, "target_type": tt, "target_id": target, "voter": voter, "value": 0,
                   "counted": False, "first_position": position,
                   "effective": self.resolve(target) if tt == IDEA else target}
        if rec.get("counted"):
            self._contribute(rec, -1)
            rec["counted"] = False
        rec["value"] = 0 if etype == REACTION_RETRACTED else int(data["value"])
        rec["personal"] = clean_personal(data.get("personal"))
        rec["time"] = time
        rec["position"] = position
        if tt == IDEA and self.s.has_merged_into(rec["effective"]):
            self.s.put_reaction(rec)
            self._regroup(voter, tt, rec["effective"])
        else:   # fast path: nothing merged into the target, the record is alone in its group
            if rec["value"] != 0:
                self._contribute(rec, 1)
                rec["counted"] = True
            self.s.put_reaction(rec)
        self._touch(tt, rec["effective"], position, time)

    def _manual(self, data, position, time):
        idea = data["idea_id"]
        m = self.s.get_manual(idea) or {"idea_id": idea, "up": 0, "down": 0, "effective": self.resolve(idea)}
        if m.get("position", 0) >= position:
            return
        t = self._tally(IDEA, m["effective"])
        t["manual_up"] += int(data["up"]) - m["up"]
        t["manual_down"] += int(data["down"]) - m["down"]
        m.update(up=int(data["up"]), down=int(data["down"]), reason=data.get("reason"), by=data.get("by"),
                 time=time, position=position)
        self.s.put_manual(m)
        self._touch(IDEA, m["effective"], position, time)

    def _merged(self, data, position, time):
        source, into = data["idea_id"], data["survivor_id"]
        if source == into or self.s.get_merge(source) is not None:
            return
        survivor = self.resolve(into)
        self.s.put_merge(source, into)
        moved_voters = set()
        for rec in self.s.reactions_on(IDEA, source):
            if rec.get("counted"):
                self._contribute(rec, -1)
                rec["counted"] = False
            rec["effective"] = survivor
            self.s.put_reaction(rec)
            moved_voters.add(rec["voter"])
        for voter in sorted(moved_voters):
            self._regroup(voter, IDEA, survivor)
        for m in self.s.manual_on(source):
            src, dst = self._tally(IDEA, source), self._tally(IDEA, survivor)
            src["manual_up"] -= m["up"]
            src["manual_down"] -= m["down"]
            dst["manual_up"] += m["up"]
            dst["manual_down"] += m["down"]
            m["effective"] = survivor
            self.s.put_manual(m)
        self._tally(IDEA, source)["merged_into"] = survivor
        self._touch(IDEA, source, position, time)
        self._touch(IDEA, survivor, position, time)
