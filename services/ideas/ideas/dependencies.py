"""nameko dependencies of the ideas service and its application layer (command handling over the event store).

:class:`IdeasApp` is injected into every worker as ``self.app`` (an :class:`Ideas`): HTTP and RPC entrypoints
both call it, so both speak the same rules. A command reads its stream(s), rebuilds the aggregate(s) from the
events (``domain``), lets the aggregate decide the new events and appends them with the stream version as the
expected version; on a concurrency conflict the command is re-run (up to 10 times, with jitter).
``command_id`` makes a command idempotent: it is the id of the first appended event (``command_id/1``, ``/2`` …
for further events), and a command whose id is stored already returns the original result without deciding again.
"""
from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from dataclasses import dataclass, field

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider

from agora.config import settings
from agora.errors import ConcurrencyError, Conflict, Forbidden, ValidationFailed
from agora.events.envelope import NewEvent
from agora.logs import current_correlation
from agora.nameko import mongo_db, process_store
from agora.store import EventStore

from ideas import domain, projections, schemas
from ideas.domain import Actor, Comment, Idea, Project, comment_stream, idea_stream, project_stream
from ideas.similarity import IndexCache, SimilarityIndex, detect_language

ID_NAMESPACE = uuid.UUID("5b0f4a52-9d59-4c1e-9f3c-6f1c2a0e1d7a")
MAX_ATTEMPTS = 10         # concurrent writers on one stream: each round one of them wins


def load(schema_cls, data, partial=False) -> dict:
    """Validate RPC/HTTP input with a marshmallow schema → ValidationFailed (422) with the failing fields."""
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": ["expected an object"]})
    try:
        return schema_cls().load(data, partial=partial)
    except ValidationError as err:
        raise ValidationFailed(err.messages) from None


@dataclass
class Result:
    stream: str
    version: int
    position: int | None
    events: list = field(default_factory=list)       # types appended (or stored already, on a replay)
    data: dict = field(default_factory=dict)         # data of the first event
    replayed: bool = False

    def body(self, **ids) -> dict:
        out = {"version": self.version, "position": self.position, "events": self.events}
        out.update({k: v for k, v in ids.items() if v is not None})
        return out


class Ideas:
    """Application layer: commands and queries of the ideas service for one worker."""

    def __init__(self, store: EventStore, db, cache: IndexCache, workflow: dict | None = None,
                 correlation_id: str | None = None, clock=None):
        self.store = store
        self.db = db
        self.cache = cache
        self.default_workflow = workflow
        self.correlation_id = correlation_id
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def actor(tenant: str, actor) -> Actor:
        """RPC actors may name their tenant; a mismatch is refused like a foreign token (403)."""
        if isinstance(actor, dict) and actor.get("tenant") not in (None, tenant):
            raise Forbidden(f"actor is for tenant {actor.get('tenant')!r}, not {tenant!r}")
        if actor is None:
            raise ValidationFailed({"actor": ["an actor {sub, roles} is required"]})
        return Actor.of(actor)

    def new_id(self, tenant: str, command_id: str | None, suffix: str = "") -> str:
        if command_id:
            return str(uuid.uuid5(ID_NAMESPACE, f"{tenant}:{command_id}:{suffix}"))
        return str(uuid.uuid4())

    def _replay(self, tenant: str, command_id: str | None) -> Result | None:
        if not command_id:
            return None
        prior = self.store.get(command_id)
        if prior is None:
            return None
        if prior.tenant != tenant:
            raise Conflict("command_id was used already for another command")
        return Result(prior.stream, self.store.stream_version(tenant, prior.stream), prior.position, [prior.type],
                      prior.data, replayed=True)

    def execute(self, tenant: str, stream: str, decide, command_id: str | None = None) -> Result:
        """Run ``decide(events) -> [domain.Event]`` against ``stream`` and append what it returns."""
        replay = self._replay(tenant, command_id)
        if replay is not None:
            return replay
        cid = current_correlation() or self.correlation_id
        for attempt in range(MAX_ATTEMPTS):
            events = self.store.read_stream(tenant, stream)
            version = events[-1].version if events else 0
            new = decide(events)
            if not new:
                return Result(stream, version, events[-1].position if events else None)
            to_append = []
            for i, ev in enumerate(new):
                kwargs = {}
                if command_id:
                    kwargs["id"] = command_id if i == 0 else f"{command_id}/{i}"
                to_append.append(NewEvent(ev.type, ev.data, correlationid=cid, causationid=command_id, **kwargs))
            try:
                positions = self.store.append(tenant, stream, to_append, expected_version=version)
            except ConcurrencyError:
                if attempt + 1 == MAX_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))   # jitter (green under eventlet)
                continue
            return Result(stream, version + len(new), positions[-1], [e.type for e in new], new[0].data)
        raise AssertionError("unreachable")

    def _project(self, tenant: str, project_id: str) -> Project:
        return Project.from_events(self.store.read_stream(tenant, project_stream(project_id)))

    def _idea(self, tenant: str, idea_id: str) -> Idea:
        return Idea.from_events(self.store.read_stream(tenant, idea_stream(idea_id)))

    def _comment(self, tenant: str, comment_id: str) -> Comment:
        return Comment.from_events(self.store.read_stream(tenant, comment_stream(comment_id)))

    def _workflow(self, project: Project) -> dict:
        return project.workflow or self.default_workflow or domain.DEFAULT_WORKFLOW

    def _language(self, text: str, given: str | None = None) -> str:
        if given:
            return given
        lang = detect_language(text, "und")
        return settings().default_language if lang == "und" else lang

    # ------------------------------------------------------------------ projects
    def create_project(self, tenant: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.ProjectCreateIn, body)
        project_id = self.new_id(tenant, command_id, "project")
        phases = body.get("phases") or []
        phase_ids = [self.new_id(tenant, command_id, f"phase{i}") for i in range(len(phases))]
        language = self._language(f"{body['title']}\n{body.get('description', '')}", body.get("language"))
        workflow = body.get("workflow") or self.default_workflow

        def decide(events):
            if events:
                raise Conflict(f"project {project_id} exists already")
            return Project.create(project_id, body["title"], body.get("description", ""), language, who,
                                  phases=phases, workflow=workflow, phase_ids=phase_ids)
        res = self.execute(tenant, project_stream(project_id), decide, command_id)
        return res.body(project_id=res.data.get("project_id", project_id),
                        phase_ids=phase_ids if not res.replayed else None)

    def add_phase(self, tenant: str, project_id: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.PhaseIn, body)
        phase_id = self.new_id(tenant, command_id, "phase")

        def decide(events):
            return Project.from_events(events).add_phase(phase_id, body["kind"], body.get("title", ""),
                                                          body["start"], body["end"], who)
        res = self.execute(tenant, project_stream(project_id), decide, command_id)
        return res.body(project_id=project_id, phase_id=res.data.get("phase_id", phase_id))

    def change_phase(self, tenant: str, project_id: str, phase_id: str, body: dict, actor,
                     command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.PhaseChangeIn, body)

        def decide(events):
            return Project.from_events(events).change_phase(phase_id, who, **body)
        res = self.execute(tenant, project_stream(project_id), decide, command_id)
        return res.body(project_id=project_id, phase_id=phase_id)

    # ------------------------------------------------------------------ ideas
    def submit_idea(self, tenant: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.IdeaSubmitIn, body)
        idea_id = self.new_id(tenant, command_id, "idea")
        text = f"{body['title']}\n{body['body']}"
        language = self._language(text, body.get("language"))
        project_id = body["project_id"]

        def decide(events):
            if events:
                raise Conflict(f"idea {idea_id} exists already")
            project = self._project(tenant, project_id)
            return Idea.submit(project, idea_id, body["title"], body["body"], language, who, self.clock(),
                               demographics=body.get("demographics"), location=body.get("location"),
                               tags=body.get("tags"))
        res = self.execute(tenant, idea_stream(idea_id), decide, command_id)
        idea_id = res.data.get("idea_id", idea_id)
        out = res.body(idea_id=idea_id, project_id=project_id)
        out["similar"] = self.similar(tenant, project_id, text, language, exclude=[idea_id])
        return out

    def edit_idea(self, tenant: str, idea_id: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.IdeaEditIn, body)

        def decide(events):
            idea = Idea.from_events(events)
            return idea.edit(who, title=body.get("title"), body=body.get("body"), language=body.get("language"),
                             tags=body.get("tags"), location=body.get("location"),
                             location_given="location" in body)
        res = self.execute(tenant, idea_stream(idea_id), decide, command_id)
        return res.body(idea_id=idea_id)

    def withdraw_idea(self, tenant: str, idea_id: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.WithdrawIn, body or {})
        res = self.execute(tenant, idea_stream(idea_id),
                           lambda events: Idea.from_events(events).withdraw(who, body.get("reason", "")), command_id)
        return res.body(idea_id=idea_id)

    def change_status(self, tenant: str, idea_id: str, status: str, feedback: str, actor,
                      feedback_language: str | None = None, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.StatusChangeIn, {"status": status, "feedback": feedback or "",
                                             "feedback_language": feedback_language})

        def decide(events):
            idea = Idea.from_events(events)
            if not idea.exists:
                return idea.change_status(body["status"], body["feedback"], who)     # raises NotFound
            workflow = self._workflow(self._project(tenant, idea.project_id))
            lang = body.get("feedback_language")
            if not lang and body["feedback"].strip():
                lang = self._language(body["feedback"])
            return idea.change_status(body["status"], body["feedback"], who, workflow, lang)
        res = self.execute(tenant, idea_stream(idea_id), decide, command_id)
        return res.body(idea_id=idea_id, status=res.data.get("to"))

    def merge_ideas(self, tenant: str, idea_id: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.MergeIn, body)

        def decide(events):
            merged = Idea.from_events(events)
            if not merged.exists:
                return merged.merge_into(merged, who)                                # raises NotFound
            survivor = self._idea(tenant, body["into"])
            return merged.merge_into(survivor, who, body.get("reason", ""))
        res = self.execute(tenant, idea_stream(idea_id), decide, command_id)
        return res.body(idea_id=idea_id, survivor_id=body["into"])

    # ------------------------------------------------------------------ comments & moderation
    def comment(self, tenant: str, idea_id: str, body: dict, actor, command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.CommentIn, body)
        comment_id = self.new_id(tenant, command_id, "comment")
        language = self._language(body["body"], body.get("language"))

        def decide(events):
            if events:
                raise Conflict(f"comment {comment_id} exists already")
            idea = self._idea(tenant, idea_id)
            parent = self._comment(tenant, body["parent_id"]) if body.get("parent_id") else None
            return idea.comment(comment_id, body["body"], language, who, parent)
        res = self.execute(tenant, comment_stream(comment_id), decide, command_id)
        return res.body(idea_id=idea_id, comment_id=res.data.get("comment_id", comment_id),
                        parent_id=res.data.get("parent_id"))

    def _target_stream(self, target_type: str, target_id: str) -> str:
        if target_type == "idea":
            return idea_stream(target_id)
        if target_type == "comment":
            return comment_stream(target_id)
        raise ValidationFailed({"target_type": ["one of ['idea', 'comment']"]})

    def _target(self, target_type: str, events):
        if target_type == "idea":
            target = Idea.from_events(events)
            if not target.exists:
                target._must_exist()
        else:
            target = Comment.from_events(events).must_exist()
        return target

    def flag(self, tenant: str, target_type: str, target_id: str, body: dict, actor,
             command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.FlagIn, body or {})
        res = self.execute(tenant, self._target_stream(target_type, target_id),
                           lambda events: self._target(target_type, events).flag(who, body.get("reason", "")),
                           command_id)
        return res.body(target_type=target_type, target_id=target_id)

    def moderate(self, tenant: str, target_type: str, target_id: str, body: dict, actor,
                 command_id: str | None = None) -> dict:
        who = self.actor(tenant, actor)
        body = load(schemas.ModerationIn, body)
        res = self.execute(tenant, self._target_stream(target_type, target_id),
                           lambda events: self._target(target_type, events).moderate(body["action"], body["reason"],
                                                                                      who), command_id)
        return res.body(target_type=target_type, target_id=target_id, action=body["action"])

    # ------------------------------------------------------------------ queries
    def similar(self, tenant: str, project_id: str | None, text: str, language: str | None = None, limit: int = 5,
                exclude=()) -> list[dict]:
        """Up to ``limit`` ideas similar to ``text`` in one project (or, without a project, in every project of the
        tenant: one index per project, best scores first)."""
        if project_id:
            matches = self.cache.similar(tenant, project_id, text, language, limit=limit, exclude=exclude)
        else:
            matches = [m for p in projections.list_projects(self.db, tenant)
                       for m in self.cache.similar(tenant, p["project_id"], text, language, limit=limit,
                                                   exclude=exclude)]
            matches = sorted(matches, key=lambda m: (-m.score, m.idea_id))[:limit]
        docs = projections.ideas_by_id(self.db, tenant, [m.idea_id for m in matches])
        out = []
        for m in matches:
            d = docs.get(m.idea_id)
            if d is None:
                continue
            out.append({"idea_id": m.idea_id, "title": d["title"], "status": d["status"],
                        "votes_up": d.get("votes_up", 0), "score": m.score})
        return out


class IdeasApp(DependencyProvider):
    """Injects an :class:`Ideas` (shared store, projections database and per-container similarity cache).

    Config: ``IDEAS_WORKFLOW`` (optional) replaces the default status workflow for projects created without one.
    """

    def setup(self):
        self.store = process_store()
        self.db = mongo_db()
        projections.ensure_indexes(self.db)
        wf = self.container.config.get("IDEAS_WORKFLOW")
        self.workflow = domain.validate_workflow(wf) if wf else None
        self.cache = IndexCache(lambda t, p: projections.similarity_revision(self.db, t, p),
                                lambda t, p: projections.similarity_candidates(self.db, t, p))
        # load the language model and gensim now (≈2 s) rather than in the first request
        SimilarityIndex([("warm-up", "warm up the index", detect_language("warm up the language model"))])

    def get_dependency(self, worker_ctx):
        cid = (worker_ctx.context_data or {}).get("correlation_id")
        return Ideas(self.store, self.db, self.cache, self.workflow, correlation_id=cid)
