"""Ideas domain: event-sourced aggregates Project, Idea and Comment (PURE: no nameko, pymongo or pika).

Each aggregate is rebuilt by applying its stream's events (``from_events``); command methods check the business
rules and return the new events (:class:`agora.events.NewEvent`) without changing the aggregate. The application
layer (``ideas.application``) runs them through :class:`agora.application.CommandRunner`.

What is *not* here: request shapes (lengths, formats, required fields, consent with demographics) are validated by
``ideas.schemas`` before a use case runs, and who may call a command (roles) is declared on the route
(``ideas.service``). People are named by their pseudonym (``by``/``author``: ``store.person_id(tenant, sub)``),
never by the identity provider's subject. Times are passed in (``now``) so that rules are testable. Refusals are
coded: ``Conflict(message, reason=...)``, ``NotFound``, ``Forbidden``, ``ValidationFailed`` (field-level).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from agora.errors import Conflict, Forbidden, NotFound, ValidationFailed
from agora.events import NewEvent
from agora.events.ideas import DECISION_STATUSES, format_instant, parse_instant

# proposed → under_review → accepted | rejected; accepted → implemented
DEFAULT_WORKFLOW: dict[str, list[str]] = {
    "proposed": ["under_review"],
    "under_review": ["accepted", "rejected"],
    "accepted": ["implemented"],
    "rejected": [],
    "implemented": [],
}
INITIAL_STATUS = "proposed"
WITHDRAWN = "withdrawn"
MERGED = "merged"
RESERVED_STATUSES = (WITHDRAWN, MERGED)
REQUIRES_FEEDBACK = ("accepted", "rejected")
PERSONAL_KEYS = ("birth_year", "gender", "district", "domicile")


def normalise_tags(tags) -> list[str]:
    """Tags as stored: whitespace collapsed, case folded, duplicates and empties dropped, order kept."""
    out: list[str] = []
    for t in tags or ():
        t = " ".join(t.split()).casefold()
        if t and t not in out:
            out.append(t)
    return out


def validate_workflow(workflow) -> dict[str, list[str]]:
    """A project's status workflow ``{status: [next statuses]}`` (status names are checked by the request schema):
    it must start at ``proposed`` and may not use the reserved statuses; statuses only named as targets become
    final ones."""
    if workflow is None:
        return {k: list(v) for k, v in DEFAULT_WORKFLOW.items()}
    problems = []
    if INITIAL_STATUS not in workflow:
        problems.append(f"a workflow must contain {INITIAL_STATUS!r}")
    out: dict[str, list[str]] = {}
    for status, nxt in workflow.items():
        for s in [status, *nxt]:
            if s in RESERVED_STATUSES:
                problems.append(f"{s!r} is reserved")
        out[status] = list(dict.fromkeys(nxt))
    if problems:
        raise ValidationFailed({"workflow": sorted(set(problems))})
    for nxt in list(out.values()):
        for s in nxt:
            out.setdefault(s, [])
    return out


# ---------------------------------------------------------------------------------------------------- Project
@dataclass
class Phase:
    phase_id: str
    kind: str
    title: str
    start: dt.datetime
    end: dt.datetime

    def is_open(self, now: dt.datetime) -> bool:
        return self.start <= now < self.end

    def to_dict(self) -> dict:
        return {"phase_id": self.phase_id, "kind": self.kind, "title": self.title,
                "start": format_instant(self.start), "end": format_instant(self.end)}


def _phase_data(project_id: str, phase_id: str, kind: str, title: str, start, end) -> dict:
    return {"project_id": project_id, "phase_id": phase_id, "kind": kind, "title": title or "",
            "start": format_instant(parse_instant(start)), "end": format_instant(parse_instant(end))}


@dataclass
class Project:
    project_id: str | None = None
    title: str = ""
    description: str = ""
    language: str = "en"
    workflow: dict = field(default_factory=dict)
    phases: dict[str, Phase] = field(default_factory=dict)
    version: int = 0

    @property
    def exists(self) -> bool:
        return self.project_id is not None

    @classmethod
    def from_events(cls, events) -> "Project":
        p = cls()
        for e in events:
            p.apply(e.type, e.data)
        return p

    def apply(self, type_: str, data: dict) -> None:
        if type_ == "ProjectCreated":
            self.project_id = data["project_id"]
            self.title = data["title"]
            self.description = data.get("description", "")
            self.language = data.get("language", "en")
            self.workflow = {k: list(v) for k, v in data["workflow"].items()}
        elif type_ in ("PhaseAdded", "PhaseChanged"):
            self.phases[data["phase_id"]] = Phase(data["phase_id"], data["kind"], data.get("title", ""),
                                                  parse_instant(data["start"]), parse_instant(data["end"]))
        self.version += 1

    # ------------------------------------------------------------ commands
    def create(self, project_id: str, title: str, description: str, language: str, by: str, phases=(),
               workflow=None, phase_ids=()) -> list[NewEvent]:
        """``phases``: loaded request phases ({kind, title, start, end}); ``phase_ids``: one id for each."""
        if self.exists:
            raise Conflict(f"project {project_id} exists already", reason="exists")
        events = [NewEvent("ProjectCreated", {"project_id": project_id, "title": title,
                                              "description": description or "", "language": language,
                                              "created_by": by, "workflow": validate_workflow(workflow)})]
        for pid, ph in zip(phase_ids, phases or ()):
            events.append(NewEvent("PhaseAdded", dict(_phase_data(project_id, pid, ph["kind"], ph.get("title"),
                                                                  ph["start"], ph["end"]), added_by=by)))
        return events

    def must_exist(self) -> "Project":
        if not self.exists:
            raise NotFound("project not found")
        return self

    def add_phase(self, phase_id: str, kind: str, title: str, start, end, by: str) -> list[NewEvent]:
        self.must_exist()
        if phase_id in self.phases:
            raise Conflict(f"phase {phase_id} exists already", reason="exists")
        return [NewEvent("PhaseAdded", dict(_phase_data(self.project_id, phase_id, kind, title, start, end),
                                            added_by=by))]

    def change_phase(self, phase_id: str, by: str, *, kind=None, title=None, start=None, end=None) -> list[NewEvent]:
        self.must_exist()
        phase = self.phases.get(phase_id)
        if phase is None:
            raise NotFound(f"phase {phase_id} not found in project {self.project_id}")
        new_start = parse_instant(start) if start is not None else phase.start
        new_end = parse_instant(end) if end is not None else phase.end
        if new_end <= new_start:                        # the merged state: only the domain knows both ends
            raise ValidationFailed({"end": ["must be after start"]})
        data = _phase_data(self.project_id, phase_id, kind if kind is not None else phase.kind,
                           title if title is not None else phase.title, new_start, new_end)
        if data == dict(phase.to_dict(), project_id=self.project_id):
            return []                                   # nothing changes: no event
        return [NewEvent("PhaseChanged", dict(data, changed_by=by))]

    def open_phase(self, kind: str, now: dt.datetime) -> Phase | None:
        """The open phase of ``kind`` at ``now`` (the one that ends first when several overlap)."""
        open_ = [p for p in self.phases.values() if p.kind == kind and p.is_open(now)]
        return min(open_, key=lambda p: (p.end, p.phase_id)) if open_ else None

    def why_closed(self, kind: str, now: dt.datetime) -> str:
        phases = sorted((p for p in self.phases.values() if p.kind == kind), key=lambda p: p.start)
        if not phases:
            return f"project {self.project_id} has no {kind} phase"
        upcoming = [p for p in phases if p.start > now]
        if upcoming:
            return f"no {kind} phase is open: the next one opens at {format_instant(upcoming[0].start)}"
        return f"no {kind} phase is open: the last one closed at {format_instant(max(p.end for p in phases))}"


# ---------------------------------------------------------------------------------------------------- moderation
@dataclass
class _Moderatable:
    hidden: bool = False
    flagged_by: set = field(default_factory=set)
    dismissed_flags: int = 0          # flags counted when a moderator last dismissed them

    TARGET = "idea"

    def _target(self) -> dict:
        raise NotImplementedError

    def _apply_moderation(self, type_: str, data: dict) -> None:
        if type_ == "ContentFlagged":
            self.flagged_by.add(data["flagged_by"])
        elif type_ == "ContentHidden":
            self.hidden = True
        elif type_ == "ContentRestored":
            self.hidden = False
        elif type_ == "FlagsDismissed":
            self.dismissed_flags = len(self.flagged_by)

    def flag(self, by: str, reason: str = "") -> list[NewEvent]:
        if by in self.flagged_by:
            raise Conflict(f"you flagged this {self.TARGET} already", reason="flagged_already")
        return [NewEvent("ContentFlagged", dict(self._target(), reason=reason or "", flagged_by=by))]

    def moderate(self, action: str, reason: str, by: str) -> list[NewEvent]:
        """``action``: hide, restore or dismiss (the flags were looked at and need nothing: out of the queue)."""
        if action == "hide":
            if self.hidden:
                raise Conflict(f"this {self.TARGET} is hidden already", reason="hidden_already")
            return [NewEvent("ContentHidden", dict(self._target(), reason=reason, moderator=by))]
        if action == "restore":
            if not self.hidden:
                raise Conflict(f"this {self.TARGET} is not hidden", reason="not_hidden")
            return [NewEvent("ContentRestored", dict(self._target(), reason=reason, moderator=by))]
        if len(self.flagged_by) <= self.dismissed_flags:
            raise Conflict(f"this {self.TARGET} has no flags to dismiss", reason="no_flags")
        return [NewEvent("FlagsDismissed", dict(self._target(), reason=reason, moderator=by,
                                                flags=len(self.flagged_by)))]


# ---------------------------------------------------------------------------------------------------- Idea
def personal_part(demographics: dict | None, display_name: str | None) -> dict | None:
    """The author's ``personal`` part of an event: consented demographics (the request schema requires
    ``consent: true`` with any of them) and the chosen display name; None when there is nothing personal."""
    given = {k: (demographics or {}).get(k) for k in PERSONAL_KEYS}
    has_demographics = any(v not in (None, "") for v in given.values())
    if not has_demographics and not display_name:
        return None
    out: dict = dict(given, consent=True) if has_demographics else {}
    if display_name:
        out["display_name"] = display_name
    return out


@dataclass
class Idea(_Moderatable):
    idea_id: str | None = None
    project_id: str | None = None
    phase_id: str | None = None
    title: str = ""
    body: str = ""
    language: str = "und"
    author: str | None = None
    tags: list = field(default_factory=list)
    location: dict | None = None
    status: str = INITIAL_STATUS
    feedback: str = ""
    feedback_language: str | None = None
    survivor_id: str | None = None
    version: int = 0

    TARGET = "idea"

    @property
    def exists(self) -> bool:
        return self.idea_id is not None

    @classmethod
    def from_events(cls, events) -> "Idea":
        idea = cls()
        for e in events:
            idea.apply(e.type, e.data)
        return idea

    def apply(self, type_: str, data: dict) -> None:
        if type_ == "IdeaSubmitted":
            self.idea_id = data["idea_id"]
            self.project_id = data["project_id"]
            self.phase_id = data["phase_id"]
            self.author = data["author"]
            self.status = data["status"]
            self._content(data)
        elif type_ == "IdeaEdited":
            self._content(data)
        elif type_ == "IdeaWithdrawn":
            self.status = WITHDRAWN
        elif type_ == "IdeaStatusChanged":
            self.status = data["to"]
            self.feedback = data.get("feedback", "")
            self.feedback_language = data.get("feedback_language")
        elif type_ == "IdeaMerged":
            self.status = MERGED
            self.survivor_id = data["survivor_id"]
        else:
            self._apply_moderation(type_, data)
        self.version += 1

    def _content(self, data: dict) -> None:
        self.title = data["title"]
        self.body = data["body"]
        self.language = data["language"]
        self.tags = list(data.get("tags") or [])
        self.location = data.get("location")

    def _target(self) -> dict:
        return {"target_type": "idea", "target_id": self.idea_id, "idea_id": self.idea_id,
                "project_id": self.project_id}

    @property
    def active(self) -> bool:
        return self.status not in RESERVED_STATUSES

    def must_exist(self) -> "Idea":
        if not self.exists:
            raise NotFound("idea not found")
        return self

    # ------------------------------------------------------------ commands
    def submit(self, project: Project, idea_id: str, title: str, body: str, language: str, by: str,
               now: dt.datetime, personal: dict | None = None, location=None, tags=None) -> list[NewEvent]:
        if self.exists:
            raise Conflict(f"idea {idea_id} exists already", reason="exists")
        project.must_exist()
        phase = project.open_phase("ideation", now)
        if phase is None:
            raise Conflict(project.why_closed("ideation", now), reason="phase_closed")
        return [NewEvent("IdeaSubmitted", {
            "idea_id": idea_id, "project_id": project.project_id, "phase_id": phase.phase_id, "title": title,
            "body": body, "language": language, "author": by, "tags": normalise_tags(tags), "location": location,
            "status": INITIAL_STATUS, "personal": personal})]

    def edit(self, by: str, *, title=None, body=None, language=None, tags=None, location=None,
             location_given: bool = False) -> list[NewEvent]:
        self.must_exist()
        if by != self.author:
            raise Forbidden("only the author may edit an idea")
        if self.status != INITIAL_STATUS:
            raise Conflict(f"the idea can no longer be edited: its status is {self.status!r} "
                           f"(editing is possible only while it is {INITIAL_STATUS!r}, before review)",
                           reason="not_editable")
        current = {"idea_id": self.idea_id, "project_id": self.project_id, "title": self.title, "body": self.body,
                   "language": self.language, "tags": self.tags, "location": self.location}
        data = dict(current, title=title if title is not None else self.title,
                    body=body if body is not None else self.body, language=language or self.language,
                    tags=normalise_tags(tags) if tags is not None else self.tags,
                    location=location if location_given else self.location)
        if data == current:
            return []
        return [NewEvent("IdeaEdited", dict(data, edited_by=by))]

    def withdraw(self, by: str, reason: str = "") -> list[NewEvent]:
        self.must_exist()
        if by != self.author:
            raise Forbidden("only the author may withdraw an idea")
        if self.status not in (INITIAL_STATUS, "under_review"):
            raise Conflict(f"an idea with status {self.status!r} cannot be withdrawn", reason="not_withdrawable")
        return [NewEvent("IdeaWithdrawn", {"idea_id": self.idea_id, "project_id": self.project_id,
                                           "from_status": self.status, "withdrawn_by": by, "reason": reason or ""})]

    def change_status(self, to: str, feedback: str, by: str, workflow: dict | None = None,
                      feedback_language: str | None = None) -> list[NewEvent]:
        self.must_exist()
        workflow = workflow or DEFAULT_WORKFLOW
        feedback = feedback or ""
        if to not in workflow:
            raise ValidationFailed({"status": [f"unknown status; the workflow knows {sorted(workflow)}"]})
        if to in REQUIRES_FEEDBACK and not feedback.strip():
            raise ValidationFailed({"feedback": [f"official feedback is required when an idea is {to}"]})
        if not self.active:
            raise Conflict(f"the idea is {self.status}: its status can no longer change", reason="final")
        allowed = workflow.get(self.status, [])
        if to not in allowed:
            raise Conflict(f"cannot change status from {self.status!r} to {to!r}; allowed: {allowed}",
                           reason="workflow")
        return [NewEvent("IdeaStatusChanged", {
            "idea_id": self.idea_id, "project_id": self.project_id, "title": self.title, "from": self.status,
            "to": to, "decision": to in DECISION_STATUSES, "feedback": feedback,
            "feedback_language": (feedback_language or self.language) if feedback.strip() else None,
            "decided_by": by})]

    def merge_into(self, survivor: "Idea", by: str, reason: str = "") -> list[NewEvent]:
        self.must_exist()
        if not survivor.exists:
            raise NotFound("surviving idea not found")
        if survivor.idea_id == self.idea_id:
            raise ValidationFailed({"into": ["an idea cannot be merged into itself"]})
        if survivor.project_id != self.project_id:
            raise Conflict("ideas of different projects cannot be merged", reason="other_project")
        if not self.active:
            raise Conflict(f"the idea is {self.status} already", reason="final")
        if not survivor.active:
            raise Conflict(f"the surviving idea is {survivor.status}", reason="survivor_final")
        return [NewEvent("IdeaMerged", {"idea_id": self.idea_id, "project_id": self.project_id,
                                        "survivor_id": survivor.idea_id, "from_status": self.status,
                                        "merged_by": by, "reason": reason or ""})]

    def comment(self, comment_id: str, body: str, language: str, by: str, parent: "Comment | None" = None,
                display_name: str | None = None) -> list[NewEvent]:
        """A comment on this idea (or a reply to ``parent``, a comment on this idea)."""
        self.must_exist()
        if parent is not None and (not parent.exists or parent.idea_id != self.idea_id):
            raise NotFound("parent comment not found on this idea")
        if self.hidden or not self.active:
            raise Conflict(f"the idea is {'hidden' if self.hidden else self.status}: comments are closed",
                           reason="comments_closed")
        return [NewEvent("CommentPosted", {
            "comment_id": comment_id, "idea_id": self.idea_id, "project_id": self.project_id,
            "parent_id": parent.comment_id if parent is not None else None, "body": body, "language": language,
            "author": by, "personal": {"display_name": display_name} if display_name else None})]


# ---------------------------------------------------------------------------------------------------- Comment
@dataclass
class Comment(_Moderatable):
    comment_id: str | None = None
    idea_id: str | None = None
    project_id: str | None = None
    parent_id: str | None = None
    body: str = ""
    author: str | None = None
    version: int = 0

    TARGET = "comment"

    @property
    def exists(self) -> bool:
        return self.comment_id is not None

    @classmethod
    def from_events(cls, events) -> "Comment":
        c = cls()
        for e in events:
            c.apply(e.type, e.data)
        return c

    def apply(self, type_: str, data: dict) -> None:
        if type_ == "CommentPosted":
            self.comment_id = data["comment_id"]
            self.idea_id = data["idea_id"]
            self.project_id = data["project_id"]
            self.parent_id = data.get("parent_id")
            self.body = data["body"]
            self.author = data["author"]
        else:
            self._apply_moderation(type_, data)
        self.version += 1

    def _target(self) -> dict:
        return {"target_type": "comment", "target_id": self.comment_id, "idea_id": self.idea_id,
                "project_id": self.project_id}

    def must_exist(self) -> "Comment":
        if not self.exists:
            raise NotFound("comment not found")
        return self


def project_stream(project_id: str) -> str:
    return f"project-{project_id}"


def idea_stream(idea_id: str) -> str:
    return f"idea-{idea_id}"


def comment_stream(comment_id: str) -> str:
    return f"comment-{comment_id}"
