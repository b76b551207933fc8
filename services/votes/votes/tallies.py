"""Tally rules (pure): the live MongoDB projection, a rebuild and the ``as_at`` replay run exactly this code,
written against a small state interface (:class:`MemoryState` here, ``MongoState`` in projections.py).

A tally counts an idea's (or comment's) up and down reactions, its paper votes, and the online reactions per
demographic segment (age band, gender, district) of the demographics each vote carried. What is published:
:func:`public_view` (totals, for everyone) and :func:`staff_view` (plus the segments, every cell below the tenant's
minimum cell size suppressed with complementary suppression, :mod:`agora.privacy`).
"""
from __future__ import annotations

from datetime import datetime

from agora.application import derive_id
from agora.privacy import marker, suppress
from votes.domain import (DOWN, EXPIRED, IDEA, MANUAL_VOTES_SET, REACTION_EVENTS, REACTION_RETRACTED,
                          THRESHOLD_REACHED, UP, parse_time, voter_personal)

PERSONAL_DATA_FORGOTTEN = "PersonalDataForgotten"
AGE_BANDS = ("0-20", "20-40", "40-60", "60-80", "80+")
UNKNOWN = "unknown"
SEGMENT_KINDS = ("age", "gender", "district")


def age_band(birth_year, on: datetime | None) -> str:
    """Age band 0-20/20-40/40-60/60-80/80+ (lower bound inclusive) of someone born in ``birth_year`` at ``on``."""
    if birth_year is None or on is None:
        return UNKNOWN
    age = on.year - int(birth_year)
    if age < 0:
        return UNKNOWN
    return AGE_BANDS[min(age // 20, len(AGE_BANDS) - 1)]


def forgotten_voter(tenant: str, person: str) -> str:
    """What an erased person's reaction records are keyed by: the same for all of them (a merge after the erasure
    still counts the person once), derived so that a rebuild gives the same key, and not the pseudonym."""
    return "forgotten-" + derive_id("votes.forgotten", tenant, person)


def empty_tally(target_type: str, target_id: str) -> dict:
    return {"target_type": target_type, "target_id": target_id, "up": 0, "down": 0, "manual_up": 0,
            "manual_down": 0, "segments": {k: {} for k in SEGMENT_KINDS}, "merged_into": None,
            "proposal": None, "last_position": 0, "last_time": None}


def public_view(t: dict) -> dict:
    """What anyone may see of a tally: totals only."""
    total_up = t["up"] + t["manual_up"]
    total_down = t["down"] + t["manual_down"]
    return {"target_type": t["target_type"], "target_id": t["target_id"], "up": t["up"], "down": t["down"],
            "manual": {"up": t["manual_up"], "down": t["manual_down"]},
            "total": {"up": total_up, "down": total_down, "votes": total_up + total_down,
                      "net": total_up - total_down},
            "merged_into": t.get("merged_into"), "proposal": t.get("proposal"),
            "segments": None, "min_cell_size": None}


def staff_view(t: dict, kinds, k: int) -> dict:
    """A tally with its segments (for staff): the tenant's published segment kinds, cells below ``k`` suppressed."""
    return dict(public_view(t), segments=suppressed_segments(t.get("segments") or {}, kinds, k), min_cell_size=k)


def suppressed_segments(segments: dict, kinds, k: int) -> dict:
    """Per kind and column (up, down): the segment cells with small counts replaced by ``"< k"``; the column total
    is published (the tally's ``up``/``down``), so one small cell takes another with it (complementary), and a
    column with a total below ``k`` shows markers only (:func:`_column`)."""
    out = {}
    for kind in kinds:
        if kind not in SEGMENT_KINDS:
            continue
        cells = {seg: c for seg, c in (segments.get(kind) or {}).items() if c.get("up") or c.get("down")}
        cols = {col: _column({seg: c.get(col, 0) for seg, c in cells.items()}, k) for col in ("up", "down")}
        out[kind] = {seg: {col: cols[col][seg] for col in ("up", "down")} for seg in sorted(cells)}
    return out


def _column(cells: dict, k: int) -> dict:
    """One column of a segment table. A column whose (published) total is below ``k`` shows no cell at all, zeros
    included: with one voter segment in it, the zeros beside it would tell which one."""
    total = sum(cells.values())
    if 0 < total < k:
        return {seg: marker(k) for seg in cells}
    return suppress(cells, k)


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

    def drop_reaction(self, key):
        self.reactions.pop(key, None)

    def reactions_on(self, target_type, effective):
        return [dict(r) for r in self.reactions.values()
                if r["target_type"] == target_type and r["effective"] == effective]

    def reactions_of(self, voter, target_type, effective):
        return [dict(r) for r in self.reactions.values()
                if r["voter"] == voter and r["target_type"] == target_type and r["effective"] == effective]

    def all_reactions_of(self, voter):
        return [dict(r) for r in self.reactions.values() if r["voter"] == voter]

    def get_tally(self, target_type, target_id):
        t = self.tallies.get((target_type, target_id))
        return deep_copy(t) if t else empty_tally(target_type, target_id)

    def put_tally(self, t):
        self.tallies[(t["target_type"], t["target_id"])] = deep_copy(t)

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

    def manual_by(self, person):
        return [dict(m) for m in self.manual.values() if m.get("by") == person]


def deep_copy(t: dict) -> dict:
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
            cells = t["segments"].setdefault(kind, {})
            bucket = cells.setdefault(seg, {"up": 0, "down": 0})
            bucket[col] += sign
            if not bucket["up"] and not bucket["down"]:
                del cells[seg]           # an emptied cell goes: a rebuild that never saw it has none

    def _regroup(self, voter: str, target_type: str, effective: str) -> None:
        recs = self.s.reactions_of(voter, target_type, effective)
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
        elif etype == PERSONAL_DATA_FORGOTTEN:
            self._forget(data["person"], tenant)
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
        rec["personal"] = voter_personal(data.get("personal"))
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

    def _forget(self, person: str, tenant: str) -> None:
        """An erased person (``PersonalDataForgotten``): their records lose the demographics and the pseudonym;
        their votes still count, in the ``unknown`` segments (what a rebuild reading the shredded log gives)."""
        anon = forgotten_voter(tenant, person)
        for rec in self.s.all_reactions_of(person):
            if rec.get("counted"):
                self._contribute(rec, -1)
            self.s.drop_reaction(rec["_id"])
            rec.update(_id=f"{tenant}|{rec['target_type']}|{rec['target_id']}|{anon}", voter=anon, personal=None)
            if rec.get("counted"):
                self._contribute(rec, 1)
            self.s.put_reaction(rec)
        for m in self.s.manual_by(person):
            m["by"] = None
            self.s.put_manual(m)
