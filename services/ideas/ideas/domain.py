"""Ideas domain: event-sourced aggregates Project, Idea and Comment (PURE: no nameko, pymongo or pika).

Each aggregate is rebuilt by applying its stream's events (``from_events``); command methods check the rules and
return the new events (:class:`Event` tuples of type + data) without changing the aggregate. The service appends
them with the stream's version as ``expected_version``. Times are passed in (``now``) so that rules are testable.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from agora.errors import Conflict, Forbidden, NotFound, ValidationFailed
from agora.events.ideas import (BODY_MAX, COMMENT_MAX, DECISION_STATUSES, FEEDBACK_MAX, PHASE_KINDS, REASON_MAX,
                                TITLE_MAX, format_instant, parse_instant)

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
STATUS_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

SUBMITTERS = ("citizen", "admin")
PARTICIPANTS = ("citizen", "moderator", "admin")      # may comment and flag
MODERATORS = ("moderator", "admin")
ADMINS = ("admin",)
MAX_TAGS = 10


class Event(NamedTuple):
    type: str
    data: dict


@dataclass(frozen=True)
class Actor:
    sub: str
    roles: frozenset = frozenset()

    @classmethod
    def of(cls, actor) -> "Actor":
        """From an :class:`Actor`, a dict ``{"sub", "roles"}`` or anything with ``.sub``/``.roles``."""
        if isinstance(actor, Actor):
            return actor
        if isinstance(actor, dict):
            sub, roles = actor.get("sub"), actor.get("roles") or ()
        else:
            sub, roles = getattr(actor, "sub", None), getattr(actor, "roles", ()) or ()
        if not sub or not isinstance(sub, str):
            raise ValidationFailed({"actor": ["actor.sub is required"]})
        if isinstance(roles, str):
            roles = [roles]
        return cls(sub, frozenset(roles))

    def require(self, roles: Iterable[str], what: str) -> None:
        roles = tuple(roles)
        if not self.roles & set(roles):
            raise Forbidden(f"{what} requires one of the roles {sorted(roles)}")


def _text(value, name: str, max_len: int, required: bool = True, errors: dict | None = None) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        errors[name] = ["must be a non-empty string"]
        return None
    if len(value) > max_len:
        errors[name] = [f"at most {max_len} characters"]
        return None
    return value


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationFailed(errors)


def normalise_tags(tags) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed({"tags": ["must be a list of strings"]})
    out: list[str] = []
    for t in tags:
        t = " ".join(t.split()).casefold()
        if not t or len(t) > 50:
            raise ValidationFailed({"tags": ["each tag has 1 to 50 characters"]})
        if t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise ValidationFailed({"tags": [f"at most {MAX_TAGS} tags"]})
    return out


def validate_workflow(workflow) -> dict[str, list[str]]:
    if workflow is None:
        return {k: list(v) for k, v in DEFAULT_WORKFLOW.items()}
    problems = []
    if not isinstance(workflow, dict) or INITIAL_STATUS not in workflow:
        raise ValidationFailed({"workflow": [f"a mapping status → [next statuses] containing {INITIAL_STATUS!r}"]})
    out: dict[str, list[str]] = {}
    for status, nxt in workflow.items():
        if not isinstance(nxt, (list, tuple)):
            problems.append(f"{status}: next statuses must be a list")
            continue
        for s in [status, *nxt]:
            if not isinstance(s, str) or not STATUS_RE.match(s):
                problems.append(f"{s!r} is not a status name ([a-z][a-z0-9_]*)")
            elif s in RESERVED_STATUSES:
                problems.append(f"{s!r} is reserved")
        out[status] = list(dict.fromkeys(nxt))
    for nxt in list(out.values()):
        for s in nxt:
            out.setdefault(s, [])
    if problems:
        raise ValidationFailed({"workflow": problems})
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


def _phase_fields(kind, title, start, end, errors: dict) -> tuple:
    if kind not in PHASE_KINDS:
        errors["kind"] = [f"one of {list(PHASE_KINDS)}"]
    if title is None:
        title = ""
    if not isinstance(title, str) or len(title) > TITLE_MAX:
        errors["title"] = [f"a string of at most {TITLE_MAX} characters"]
    parsed = []
    for name, value in (("start", start), ("end", end)):
        try:
            parsed.append(parse_instant(value))
        except Exception:  # noqa: BLE001 - marshmallow ValidationError or anything odd
            errors[name] = ["an ISO 8601 date or date-time"]
            parsed.append(None)
    if parsed[0] and parsed[1] and parsed[1] <= parsed[0]:
        errors["end"] = ["must be after start"]
    return title, parsed[0], parsed[1]


@dataclass
class Project:
    project_id: str | None = None
    title: str = ""
    description: str = ""
    language: str = "en"
    created_by: str | None = None
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
            self.created_by = data["created_by"]
            self.workflow = {k: list(v) for k, v in data["workflow"].items()}
        elif type_ in ("PhaseAdded", "PhaseChanged"):
            self.phases[data["phase_id"]] = Phase(data["phase_id"], data["kind"], data.get("title", ""),
                                                  parse_instant(data["start"]), parse_instant(data["end"]))
        self.version += 1

    # ------------------------------------------------------------ commands
    @staticmethod
    def create(project_id: str, title, description, language: str, actor, phases=(), workflow=None,
               phase_ids=()) -> list[Event]:
        actor = Actor.of(actor)
        actor.require(ADMINS, "creating a project")
        errors: dict = {}
        title = _text(title, "title", TITLE_MAX, errors=errors)
        description = description or ""
        if not isinstance(description, str) or len(description) > BODY_MAX:
            errors["description"] = [f"a string of at most {BODY_MAX} characters"]
        try:
            wf = validate_workflow(workflow)
        except ValidationFailed as exc:
            errors.update(exc.fields)
            wf = None
        events = []
        phase_events = []
        for i, ph in enumerate(phases or ()):
            ph_errors: dict = {}
            ptitle, start, end = _phase_fields(ph.get("kind"), ph.get("title"), ph.get("start"), ph.get("end"),
                                               ph_errors)
            if ph_errors:
                errors.setdefault("phases", {})[i] = ph_errors
                continue
            phase_events.append(Event("PhaseAdded", {
                "project_id": project_id, "phase_id": phase_ids[i], "kind": ph["kind"], "title": ptitle,
                "start": format_instant(start), "end": format_instant(end), "added_by": actor.sub}))
        _raise(errors)
        events.append(Event("ProjectCreated", {"project_id": project_id, "title": title,
                                               "description": description, "language": language,
                                               "created_by": actor.sub, "workflow": wf}))
        return events + phase_events

    def _must_exist(self):
        if not self.exists:
            raise NotFound("project not found")

    def add_phase(self, phase_id: str, kind, title, start, end, actor) -> list[Event]:
        self._must_exist()
        actor = Actor.of(actor)
        actor.require(ADMINS, "adding a phase")
        errors: dict = {}
        title, start, end = _phase_fields(kind, title, start, end, errors)
        _raise(errors)
        if phase_id in self.phases:
            raise Conflict(f"phase {phase_id} exists already")
        return [Event("PhaseAdded", {"project_id": self.project_id, "phase_id": phase_id, "kind": kind,
                                     "title": title, "start": format_instant(start), "end": format_instant(end),
                                     "added_by": actor.sub})]

    def change_phase(self, phase_id: str, actor, *, kind=None, title=None, start=None, end=None) -> list[Event]:
        self._must_exist()
        actor = Actor.of(actor)
        actor.require(ADMINS, "changing a phase")
        phase = self.phases.get(phase_id)
        if phase is None:
            raise NotFound(f"phase {phase_id} not found in project {self.project_id}")
        errors: dict = {}
        new_kind = kind if kind is not None else phase.kind
        title, new_start, new_end = _phase_fields(new_kind, title if title is not None else phase.title,
                                                  start if start is not None else phase.start,
                                                  end if end is not None else phase.end, errors)
        _raise(errors)
        data = {"project_id": self.project_id, "phase_id": phase_id, "kind": new_kind, "title": title,
                "start": format_instant(new_start), "end": format_instant(new_end)}
        if data == dict(phase.to_dict(), project_id=self.project_id):
            return []                                           # nothing changes: no event
        return [Event("PhaseChanged", dict(data, changed_by=actor.sub))]

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

    def to_dict(self) -> dict:
        return {"project_id": self.project_id, "title": self.title, "description": self.description,
                "language": self.language, "workflow": self.workflow,
                "phases": [p.to_dict() for p in sorted(self.phases.values(), key=lambda p: (p.start, p.phase_id))]}


# ---------------------------------------------------------------------------------------------------- moderation
@dataclass
class _Moderatable:
    hidden: bool = False
    flagged_by: set = field(default_factory=set)

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

    def flag(self, actor, reason: str = "") -> list[Event]:
        actor = Actor.of(actor)
        actor.require(PARTICIPANTS, "flagging content")
        reason = reason or ""
        if not isinstance(reason, str) or len(reason) > REASON_MAX:
            raise ValidationFailed({"reason": [f"a string of at most {REASON_MAX} characters"]})
        if actor.sub in self.flagged_by:
            raise Conflict(f"you flagged this {self.TARGET} already")
        return [Event("ContentFlagged", dict(self._target(), reason=reason, flagged_by=actor.sub))]

    def moderate(self, action: str, reason: str, actor) -> list[Event]:
        actor = Actor.of(actor)
        actor.require(MODERATORS, "moderating content")
        errors: dict = {}
        if action not in ("hide", "restore"):
            errors["action"] = ["one of ['hide', 'restore']"]
        _text(reason, "reason", REASON_MAX, errors=errors)
        _raise(errors)
        if action == "hide":
            if self.hidden:
                raise Conflict(f"this {self.TARGET} is hidden already")
            return [Event("ContentHidden", dict(self._target(), reason=reason, moderator=actor.sub))]
        if not self.hidden:
            raise Conflict(f"this {self.TARGET} is not hidden")
        return [Event("ContentRestored", dict(self._target(), reason=reason, moderator=actor.sub))]


# ---------------------------------------------------------------------------------------------------- Idea
def _personal(demographics) -> dict | None:
    """Self-declared demographics → the ``personal`` part (None when nothing was declared)."""
    if demographics is None:
        return None
    if not isinstance(demographics, dict):
        raise ValidationFailed({"demographics": ["must be an object"]})
    keys = ("birth_year", "gender", "district", "domicile")
    unknown = sorted(set(demographics) - set(keys) - {"consent"})
    if unknown:
        raise ValidationFailed({"demographics": {k: ["unknown field"] for k in unknown}})
    given = {k: demographics.get(k) for k in keys if demographics.get(k) not in (None, "")}
    if not given:
        return None
    if demographics.get("consent") is not True:
        raise ValidationFailed({"demographics": {"consent": ["consent: true is required to record demographics"]}})
    return dict({k: given.get(k) for k in keys}, consent=True)


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

    # ------------------------------------------------------------ commands
    @staticmethod
    def submit(project: Project, idea_id: str, title, body, language: str, actor, now: dt.datetime,
               demographics=None, location=None, tags=None) -> list[Event]:
        if not project.exists:
            raise NotFound("project not found")
        actor = Actor.of(actor)
        actor.require(SUBMITTERS, "submitting an idea")
        errors: dict = {}
        title = _text(title, "title", TITLE_MAX, errors=errors)
        body = _text(body, "body", BODY_MAX, errors=errors)
        try:
            tags = normalise_tags(tags)
        except ValidationFailed as exc:
            errors.update(exc.fields)
        try:
            personal = _personal(demographics)
        except ValidationFailed as exc:
            errors.update(exc.fields)
        _raise(errors)
        phase = project.open_phase("ideation", now)
        if phase is None:
            raise Conflict(project.why_closed("ideation", now))
        return [Event("IdeaSubmitted", {
            "idea_id": idea_id, "project_id": project.project_id, "phase_id": phase.phase_id, "title": title,
            "body": body, "language": language, "author": actor.sub, "tags": tags, "location": location,
            "status": INITIAL_STATUS, "personal": personal})]

    def _must_exist(self):
        if not self.exists:
            raise NotFound("idea not found")

    def edit(self, actor, *, title=None, body=None, language=None, tags=None, location=None,
             location_given: bool = False) -> list[Event]:
        self._must_exist()
        actor = Actor.of(actor)
        if actor.sub != self.author:
            raise Forbidden("only the author may edit an idea")
        if self.status != INITIAL_STATUS:
            raise Conflict(f"the idea can no longer be edited: its status is {self.status!r} "
                           f"(editing is possible only while it is {INITIAL_STATUS!r}, before review)")
        errors: dict = {}
        new_title = _text(title, "title", TITLE_MAX, required=False, errors=errors)
        new_body = _text(body, "body", BODY_MAX, required=False, errors=errors)
        new_tags = self.tags
        if tags is not None:
            try:
                new_tags = normalise_tags(tags)
            except ValidationFailed as exc:
                errors.update(exc.fields)
        _raise(errors)
        data = {"idea_id": self.idea_id, "project_id": self.project_id,
                "title": new_title if new_title is not None else self.title,
                "body": new_body if new_body is not None else self.body,
                "language": language or self.language, "tags": new_tags,
                "location": location if location_given else self.location}
        current = {"idea_id": self.idea_id, "project_id": self.project_id, "title": self.title, "body": self.body,
                   "language": self.language, "tags": self.tags, "location": self.location}
        if data == current:
            return []
        return [Event("IdeaEdited", dict(data, edited_by=actor.sub))]

    def withdraw(self, actor, reason: str = "") -> list[Event]:
        self._must_exist()
        actor = Actor.of(actor)
        if actor.sub != self.author:
            raise Forbidden("only the author may withdraw an idea")
        if self.status not in (INITIAL_STATUS, "under_review"):
            raise Conflict(f"an idea with status {self.status!r} cannot be withdrawn")
        reason = reason or ""
        if not isinstance(reason, str) or len(reason) > REASON_MAX:
            raise ValidationFailed({"reason": [f"a string of at most {REASON_MAX} characters"]})
        return [Event("IdeaWithdrawn", {"idea_id": self.idea_id, "project_id": self.project_id,
                                        "from_status": self.status, "withdrawn_by": actor.sub, "reason": reason})]

    def change_status(self, to: str, feedback, actor, workflow: dict | None = None,
                      feedback_language: str | None = None) -> list[Event]:
        self._must_exist()
        actor = Actor.of(actor)
        actor.require(ADMINS, "changing an idea's status")
        workflow = workflow or DEFAULT_WORKFLOW
        errors: dict = {}
        if not isinstance(to, str) or not STATUS_RE.match(to) or to not in workflow:
            errors["status"] = [f"unknown status; the workflow knows {sorted(workflow)}"]
        feedback = feedback or ""
        if not isinstance(feedback, str) or len(feedback) > FEEDBACK_MAX:
            errors["feedback"] = [f"a string of at most {FEEDBACK_MAX} characters"]
        elif to in REQUIRES_FEEDBACK and not feedback.strip():
            errors["feedback"] = [f"official feedback is required when an idea is {to}"]
        _raise(errors)
        if not self.active:
            raise Conflict(f"the idea is {self.status}: its status can no longer change")
        allowed = workflow.get(self.status, [])
        if to not in allowed:
            raise Conflict(f"cannot change status from {self.status!r} to {to!r}; allowed: {allowed}")
        return [Event("IdeaStatusChanged", {
            "idea_id": self.idea_id, "project_id": self.project_id, "title": self.title, "from": self.status,
            "to": to, "decision": to in DECISION_STATUSES, "feedback": feedback,
            "feedback_language": (feedback_language or self.language) if feedback.strip() else None,
            "decided_by": actor.sub})]

    def merge_into(self, survivor: "Idea", actor, reason: str = "") -> list[Event]:
        self._must_exist()
        actor = Actor.of(actor)
        actor.require(ADMINS, "merging ideas")
        if not survivor.exists:
            raise NotFound("surviving idea not found")
        if survivor.idea_id == self.idea_id:
            raise ValidationFailed({"into": ["an idea cannot be merged into itself"]})
        if survivor.project_id != self.project_id:
            raise Conflict("ideas of different projects cannot be merged")
        if not self.active:
            raise Conflict(f"the idea is {self.status} already")
        if not survivor.active:
            raise Conflict(f"the surviving idea is {survivor.status}")
        reason = reason or ""
        if not isinstance(reason, str) or len(reason) > REASON_MAX:
            raise ValidationFailed({"reason": [f"a string of at most {REASON_MAX} characters"]})
        return [Event("IdeaMerged", {"idea_id": self.idea_id, "project_id": self.project_id,
                                     "survivor_id": survivor.idea_id, "from_status": self.status,
                                     "merged_by": actor.sub, "reason": reason})]

    def comment(self, comment_id: str, body, language: str, actor, parent: "Comment | None" = None) -> list[Event]:
        """A comment on this idea (or a reply to ``parent``, a comment on this idea)."""
        self._must_exist()
        actor = Actor.of(actor)
        actor.require(PARTICIPANTS, "commenting")
        errors: dict = {}
        body = _text(body, "body", COMMENT_MAX, errors=errors)
        _raise(errors)
        if parent is not None:
            if not parent.exists or parent.idea_id != self.idea_id:
                raise NotFound("parent comment not found on this idea")
        if self.hidden or not self.active:
            raise Conflict(f"the idea is {'hidden' if self.hidden else self.status}: comments are closed")
        return [Event("CommentPosted", {"comment_id": comment_id, "idea_id": self.idea_id,
                                        "project_id": self.project_id,
                                        "parent_id": parent.comment_id if parent is not None else None,
                                        "body": body, "language": language, "author": actor.sub})]


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
