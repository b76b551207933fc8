"""Use cases of the ideas service: each loads its aggregate, lets the domain decide and appends, through the one
command runner (:class:`agora.application.CommandRunner`: expected version, retries on conflicts, idempotency
within the route layer's ``Idempotency-Key`` scope, correlation and causation ids).

Who may call what is declared on the routes (``ideas.service``) and the request shapes are loaded there
(``ideas.schemas``); a use case gets the authenticated ``caller`` and the loaded ``body``. Events name people by
their pseudonym (:meth:`Ideas.person`), never by ``caller.sub``.
"""
from __future__ import annotations

import datetime as dt

from agora.application import CommandRunner, command, derive_id, new_id
from agora.config import settings

from ideas import domain, projections
from ideas.domain import Comment, Idea, Project, comment_stream, idea_stream, project_stream
from ideas.similarity import IndexCache, detect_language


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Ideas:
    """The ideas application (one per process): use cases over the event store, queries over the read models."""

    def __init__(self, store, db, cache: IndexCache, default_workflow: dict | None = None, clock=_now):
        self.store = store
        self.db = db
        self.cache = cache
        self.runner = CommandRunner(store)
        self.default_workflow = default_workflow
        self.clock = clock

    # ------------------------------------------------------------------ helpers
    def person(self, tenant: str, caller) -> str:
        """The caller's pseudonym in ``tenant`` (what events carry)."""
        return self.store.person_id(tenant, caller.sub)

    def _language(self, text: str, given: str | None = None) -> str:
        if given:
            return given
        lang = detect_language(text, "und")
        return settings().default_language if lang == "und" else lang

    def _load(self, tenant: str, stream: str, cls):
        return cls.from_events(self.store.read_stream(tenant, stream))

    def _workflow(self, tenant: str, project_id: str) -> dict:
        return self._load(tenant, project_stream(project_id), Project).workflow or self.default_workflow \
            or domain.DEFAULT_WORKFLOW

    # ------------------------------------------------------------------ projects
    def create_project(self, tenant: str, caller, body: dict) -> dict:
        project_id = new_id(tenant, "project")
        phases = body.get("phases") or []
        phase_ids = [new_id(tenant, f"phase{i}") for i in range(len(phases))]
        language = self._language(f"{body['title']}\n{body.get('description', '')}", body.get("language"))
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, project_stream(project_id), lambda p: p.create(
            project_id, body["title"], body.get("description", ""), language, by, phases,
            body.get("workflow") or self.default_workflow, phase_ids), load=Project.from_events)
        return out.body(project_id=project_id, phase_ids=phase_ids)

    def add_phase(self, tenant: str, caller, project_id: str, body: dict) -> dict:
        phase_id = new_id(tenant, "phase")
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, project_stream(project_id), lambda p: p.add_phase(
            phase_id, body["kind"], body.get("title", ""), body["start"], body["end"], by), load=Project.from_events)
        return out.body(project_id=project_id, phase_id=phase_id)

    def change_phase(self, tenant: str, caller, project_id: str, phase_id: str, body: dict) -> dict:
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, project_stream(project_id), lambda p: p.change_phase(phase_id, by, **body),
                              load=Project.from_events)
        return out.body(project_id=project_id, phase_id=phase_id)

    # ------------------------------------------------------------------ ideas
    def submit_idea(self, tenant: str, caller, body: dict) -> dict:
        idea_id = new_id(tenant, "idea")
        text = f"{body['title']}\n{body['body']}"
        language = self._language(text, body.get("language"))
        project_id = body["project_id"]
        project = self._load(tenant, project_stream(project_id), Project)
        personal = domain.personal_part(body.get("demographics"), body.get("display_name"))
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, idea_stream(idea_id), lambda idea: idea.submit(
            project, idea_id, body["title"], body["body"], language, by, self.clock(), personal=personal,
            location=body.get("location"), tags=body.get("tags")), load=Idea.from_events)
        result = out.body(idea_id=idea_id, project_id=project_id)
        result["similar"] = self.similar(tenant, project_id, text, language, exclude=[idea_id])
        return result

    def edit_idea(self, tenant: str, caller, idea_id: str, body: dict) -> dict:
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, idea_stream(idea_id), lambda idea: idea.edit(
            by, title=body.get("title"), body=body.get("body"), language=body.get("language"), tags=body.get("tags"),
            location=body.get("location"), location_given="location" in body), load=Idea.from_events)
        return out.body(idea_id=idea_id)

    def withdraw_idea(self, tenant: str, caller, idea_id: str, body: dict) -> dict:
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, idea_stream(idea_id), lambda idea: idea.withdraw(by, body.get("reason", "")),
                              load=Idea.from_events)
        return out.body(idea_id=idea_id)

    def change_status(self, tenant: str, by: str, idea_id: str, status: str, feedback: str,
                      feedback_language: str | None = None) -> dict:
        """``by``: the deciding admin's pseudonym, or ``service:<name>`` for a service acting as itself."""
        current = self._load(tenant, idea_stream(idea_id), Idea).must_exist()
        workflow = self._workflow(tenant, current.project_id)
        lang = feedback_language or (self._language(feedback) if feedback.strip() else None)
        out = self.runner.run(tenant, idea_stream(idea_id), lambda idea: idea.change_status(
            status, feedback, by, workflow, lang), load=Idea.from_events)
        return out.body(idea_id=idea_id, status=status)

    def decide_status(self, tenant: str, caller, idea_id: str, body: dict) -> dict:
        return self.change_status(tenant, self.person(tenant, caller), idea_id, body["status"], body["feedback"],
                                  body.get("feedback_language"))

    def change_status_from_decision(self, service, tenant: str, idea_id: str, status: str, feedback: str,
                                    feedback_language: str | None = None) -> dict:
        """A back-office decision (the bridge, acting as itself). Idempotent: the command id derives from the
        decision's content, so a decision delivered twice changes the status once and answers the same."""
        cmd = derive_id("decision", service.sub, tenant, idea_id, status, feedback or "", feedback_language or "")
        with command(cmd):
            return self.change_status(tenant, service.sub, idea_id, status, feedback or "", feedback_language)

    def merge_ideas(self, tenant: str, caller, idea_id: str, body: dict) -> dict:
        by = self.person(tenant, caller)
        survivor = self._load(tenant, idea_stream(body["into"]), Idea)
        out = self.runner.run(tenant, idea_stream(idea_id), lambda merged: merged.merge_into(
            survivor, by, body.get("reason", "")), load=Idea.from_events)
        return out.body(idea_id=idea_id, survivor_id=body["into"])

    # ------------------------------------------------------------------ comments & moderation
    def comment(self, tenant: str, caller, idea_id: str, body: dict) -> dict:
        comment_id = new_id(tenant, "comment")
        language = self._language(body["body"], body.get("language"))
        idea = self._load(tenant, idea_stream(idea_id), Idea)
        parent = self._load(tenant, comment_stream(body["parent_id"]), Comment) if body.get("parent_id") else None
        by = self.person(tenant, caller)

        def decide(events):
            if events:
                return None                          # stored already (a retry of this command)
            return idea.comment(comment_id, body["body"], language, by, parent, body.get("display_name"))
        out = self.runner.run(tenant, comment_stream(comment_id), decide)
        return out.body(idea_id=idea_id, comment_id=comment_id, parent_id=body.get("parent_id"))

    def _target(self, target_type: str, target_id: str):
        if target_type == "idea":
            return idea_stream(target_id), lambda events: Idea.from_events(events).must_exist()
        return comment_stream(target_id), lambda events: Comment.from_events(events).must_exist()

    def flag(self, tenant: str, caller, target_type: str, target_id: str, body: dict) -> dict:
        stream, load = self._target(target_type, target_id)
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, stream, lambda t: t.flag(by, body.get("reason", "")), load=load)
        return out.body(target_type=target_type, target_id=target_id)

    def moderate(self, tenant: str, caller, target_type: str, target_id: str, body: dict) -> dict:
        stream, load = self._target(target_type, target_id)
        by = self.person(tenant, caller)
        out = self.runner.run(tenant, stream, lambda t: t.moderate(body["action"], body["reason"], by), load=load)
        return out.body(target_type=target_type, target_id=target_id, action=body["action"])

    # ------------------------------------------------------------------ erasure
    def erase(self, tenant: str, caller, body: dict) -> dict:
        """Erase the person known to the identity provider as ``body["person"]``: their key and pseudonym go, and
        ``PersonalDataForgotten`` (under the pseudonym) makes every projection drop its copies."""
        person = self.store.erase_subject(tenant, body["person"], body["reason"],
                                          requested_by=self.person(tenant, caller))
        return {"person": person}

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
        return [{"idea_id": m.idea_id, "title": docs[m.idea_id]["title"], "status": docs[m.idea_id]["status"],
                 "votes_up": docs[m.idea_id].get("votes_up", 0), "score": m.score}
                for m in matches if m.idea_id in docs]

    def idea_detail(self, tenant: str, caller, idea_id: str) -> dict:
        return projections.idea_detail(self.db, tenant, idea_id, moderator=bool(caller and caller.is_staff))
