"""The ideas nameko service: thin HTTP/RPC entrypoints over :class:`ideas.dependencies.Ideas`, and the store-driven
subscription ``board`` that maintains the read models (``ideas.projections``).

HTTP under ``/api/v1/tenants/<tenant>/``; bearer JWT (agora.auth). Reads of projects, idea lists, idea details,
counts and similar ideas are public (anonymous allowed; a token, when sent, must be valid and for the tenant).
Every command needs a token for the tenant; roles are checked by the domain (citizens submit and comment,
moderators hide/restore, admins create projects/phases, change status and merge).
"""
from __future__ import annotations

from nameko.rpc import rpc

from agora.errors import Forbidden
from agora.nameko import MongoDep, subscribe
from agora.web import (ObservableService, json_route, load_query, optional_principal, principal, read_json,
                       openapi)

from ideas import projections, schemas
from ideas.dependencies import IdeasApp

T = "/api/v1/tenants/<tenant>"
NOT_FOUND = {404: "unknown project, idea or comment"}
CONFLICT = {409: "not possible now (wrong phase, status or workflow step), with the reason"}


def _actor(request, tenant):
    return principal(request, tenant).as_actor()


class IdeasService(ObservableService):
    name = "ideas"

    app = IdeasApp()
    db = MongoDep()

    # ================================================================== projections
    @subscribe("board", projections.SOURCES)
    def on_event(self, event, session):
        projections.apply(self.db, event, session)

    # ================================================================== HTTP: docs
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        return openapi(IdeasService, "Agora ideas API", "1.0.0",
                       "Ideas, comments, moderation and the idea board of a participation project.")

    # ================================================================== HTTP: projects
    @json_route("POST", T + "/projects", summary="Create a project (admin), optionally with phases",
                request_schema=schemas.ProjectCreateIn, response_schema=schemas.CommandOut, status=201,
                auth_roles=["admin"], tags=["projects"])
    def http_create_project(self, request, tenant):
        return 201, self.app.create_project(tenant, read_json(request), _actor(request, tenant),
                                            request.headers.get("Idempotency-Key"))

    @json_route("GET", T + "/projects", summary="List the tenant's projects", response_schema=schemas.ProjectListOut,
                public=True, tags=["projects"])
    def http_list_projects(self, request, tenant):
        optional_principal(request, tenant)
        return {"items": projections.list_projects(self.db, tenant)}

    @json_route("GET", T + "/projects/<project_id>", summary="A project with its phases",
                response_schema=schemas.ProjectOut, public=True, tags=["projects"], responses=NOT_FOUND)
    def http_get_project(self, request, tenant, project_id):
        optional_principal(request, tenant)
        return projections.get_project(self.db, tenant, project_id)

    @json_route("POST", T + "/projects/<project_id>/phases", summary="Add a phase (admin)",
                request_schema=schemas.PhaseIn, response_schema=schemas.CommandOut, status=201,
                auth_roles=["admin"], tags=["projects"], responses={**NOT_FOUND, **CONFLICT})
    def http_add_phase(self, request, tenant, project_id):
        return 201, self.app.add_phase(tenant, project_id, read_json(request), _actor(request, tenant),
                                       request.headers.get("Idempotency-Key"))

    @json_route("PATCH", T + "/projects/<project_id>/phases/<phase_id>", summary="Change a phase (admin)",
                request_schema=schemas.PhaseChangeIn, response_schema=schemas.CommandOut, auth_roles=["admin"],
                tags=["projects"], responses=NOT_FOUND)
    def http_change_phase(self, request, tenant, project_id, phase_id):
        return self.app.change_phase(tenant, project_id, phase_id, read_json(request), _actor(request, tenant),
                                     request.headers.get("Idempotency-Key"))

    # ================================================================== HTTP: ideas
    @json_route("POST", T + "/ideas", summary="Submit an idea (while an ideation phase is open); returns similar ideas",
                request_schema=schemas.IdeaSubmitIn, response_schema=schemas.SubmitOut, status=201,
                auth_roles=["citizen", "admin"], tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_submit_idea(self, request, tenant):
        return 201, self.app.submit_idea(tenant, read_json(request), _actor(request, tenant),
                                         request.headers.get("Idempotency-Key"))

    @json_route("GET", T + "/ideas", summary="List ideas (filters, sort new | most_voted | trending, cursor pages)",
                query_schema=schemas.IdeaListQuery, response_schema=schemas.IdeaListOut, public=True,
                tags=["ideas"])
    def http_list_ideas(self, request, tenant):
        who = optional_principal(request, tenant)
        q = load_query(request, schemas.IdeaListQuery)
        if q.get("include_hidden") and not (who and who.has_any(["moderator", "admin"])):
            raise Forbidden("include_hidden is for moderators and admins")
        return projections.list_ideas(self.db, tenant, **q)

    @json_route("GET", T + "/ideas/counts", summary="Number of ideas per status", query_schema=schemas.CountsQuery,
                response_schema=schemas.CountsOut, public=True, tags=["ideas"])
    def http_counts(self, request, tenant):
        optional_principal(request, tenant)
        q = load_query(request, schemas.CountsQuery)
        return projections.count_by_status(self.db, tenant, q.get("project_id"))

    @json_route("GET", T + "/ideas/similar", summary="Up to `limit` ideas similar to a text (TF-IDF cosine)",
                query_schema=schemas.SimilarQuery, response_schema=schemas.SimilarListOut, public=True,
                tags=["ideas"])
    def http_similar(self, request, tenant):
        optional_principal(request, tenant)
        q = load_query(request, schemas.SimilarQuery)
        return {"items": self.app.similar(tenant, q.get("project_id"), q["text"], q.get("language"), q["limit"])}

    @json_route("GET", T + "/ideas/<idea_id>", summary="An idea with its comment tree",
                response_schema=schemas.IdeaDetailOut, public=True, tags=["ideas"], responses=NOT_FOUND)
    def http_get_idea(self, request, tenant, idea_id):
        who = optional_principal(request, tenant)
        return projections.idea_detail(self.db, tenant, idea_id,
                                       moderator=bool(who and who.has_any(["moderator", "admin"])))

    @json_route("PATCH", T + "/ideas/<idea_id>", summary="Edit an idea (its author, before review)",
                request_schema=schemas.IdeaEditIn, response_schema=schemas.CommandOut, tags=["ideas"],
                responses={**NOT_FOUND, **CONFLICT})
    def http_edit_idea(self, request, tenant, idea_id):
        return self.app.edit_idea(tenant, idea_id, read_json(request), _actor(request, tenant),
                                  request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/ideas/<idea_id>/withdraw", summary="Withdraw an idea (its author)",
                request_schema=schemas.WithdrawIn, response_schema=schemas.CommandOut, tags=["ideas"],
                responses={**NOT_FOUND, **CONFLICT})
    def http_withdraw(self, request, tenant, idea_id):
        return self.app.withdraw_idea(tenant, idea_id, read_json(request), _actor(request, tenant),
                                      request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/ideas/<idea_id>/status", summary="Change an idea's status with official feedback (admin)",
                request_schema=schemas.StatusChangeIn, response_schema=schemas.CommandOut, auth_roles=["admin"],
                tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_change_status(self, request, tenant, idea_id):
        who = _actor(request, tenant)
        body = read_json(request, schemas.StatusChangeIn)
        return self.app.change_status(tenant, idea_id, body["status"], body["feedback"], who,
                                      body.get("feedback_language"), request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/ideas/<idea_id>/merge", summary="Merge a duplicate into a surviving idea (admin)",
                request_schema=schemas.MergeIn, response_schema=schemas.CommandOut, auth_roles=["admin"],
                tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_merge(self, request, tenant, idea_id):
        return self.app.merge_ideas(tenant, idea_id, read_json(request), _actor(request, tenant),
                                    request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/ideas/<idea_id>/comments", summary="Comment on an idea or reply to a comment",
                request_schema=schemas.CommentIn, response_schema=schemas.CommandOut, status=201,
                auth_roles=["citizen", "moderator", "admin"], tags=["comments"], responses={**NOT_FOUND, **CONFLICT})
    def http_comment(self, request, tenant, idea_id):
        return 201, self.app.comment(tenant, idea_id, read_json(request), _actor(request, tenant),
                                     request.headers.get("Idempotency-Key"))

    # ================================================================== HTTP: moderation
    @json_route("POST", T + "/ideas/<idea_id>/flag", summary="Flag an idea for moderation",
                request_schema=schemas.FlagIn, response_schema=schemas.CommandOut, status=201,
                auth_roles=["citizen", "moderator", "admin"], tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_flag_idea(self, request, tenant, idea_id):
        return 201, self.app.flag(tenant, "idea", idea_id, read_json(request), _actor(request, tenant),
                                  request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/comments/<comment_id>/flag", summary="Flag a comment for moderation",
                request_schema=schemas.FlagIn, response_schema=schemas.CommandOut, status=201,
                auth_roles=["citizen", "moderator", "admin"], tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_flag_comment(self, request, tenant, comment_id):
        return 201, self.app.flag(tenant, "comment", comment_id, read_json(request), _actor(request, tenant),
                                  request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/ideas/<idea_id>/moderation", summary="Hide or restore an idea, with a reason",
                request_schema=schemas.ModerationIn, response_schema=schemas.CommandOut,
                auth_roles=["moderator", "admin"], tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_moderate_idea(self, request, tenant, idea_id):
        return self.app.moderate(tenant, "idea", idea_id, read_json(request), _actor(request, tenant),
                                 request.headers.get("Idempotency-Key"))

    @json_route("POST", T + "/comments/<comment_id>/moderation", summary="Hide or restore a comment, with a reason",
                request_schema=schemas.ModerationIn, response_schema=schemas.CommandOut,
                auth_roles=["moderator", "admin"], tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_moderate_comment(self, request, tenant, comment_id):
        return self.app.moderate(tenant, "comment", comment_id, read_json(request), _actor(request, tenant),
                                 request.headers.get("Idempotency-Key"))

    # ================================================================== RPC (same rules; actor = {sub, roles})
    @rpc
    def create_project(self, tenant, title, actor, description="", language=None, phases=None, workflow=None,
                       command_id=None):
        body = {"title": title, "description": description, "language": language, "phases": phases or [],
                "workflow": workflow}
        return self.app.create_project(tenant, body, actor, command_id)

    @rpc
    def add_phase(self, tenant, project_id, kind, start, end, actor, title="", command_id=None):
        return self.app.add_phase(tenant, project_id, {"kind": kind, "start": start, "end": end, "title": title},
                                  actor, command_id)

    @rpc
    def change_phase(self, tenant, project_id, phase_id, changes, actor, command_id=None):
        return self.app.change_phase(tenant, project_id, phase_id, changes, actor, command_id)

    @rpc
    def submit_idea(self, tenant, idea, actor, command_id=None):
        """``idea``: {project_id, title, body, language?, tags?, location?, demographics?}."""
        return self.app.submit_idea(tenant, idea, actor, command_id)

    @rpc
    def edit_idea(self, tenant, idea_id, changes, actor, command_id=None):
        return self.app.edit_idea(tenant, idea_id, changes, actor, command_id)

    @rpc
    def withdraw_idea(self, tenant, idea_id, actor, reason="", command_id=None):
        return self.app.withdraw_idea(tenant, idea_id, {"reason": reason}, actor, command_id)

    @rpc
    def change_status(self, tenant, idea_id, status, feedback, actor, feedback_language=None, command_id=None):
        """What the back-office bridge calls for inbound decisions (actor = {"sub": ..., "roles": ["admin"]})."""
        return self.app.change_status(tenant, idea_id, status, feedback, actor, feedback_language, command_id)

    @rpc
    def merge_ideas(self, tenant, idea_id, into, actor, reason="", command_id=None):
        return self.app.merge_ideas(tenant, idea_id, {"into": into, "reason": reason}, actor, command_id)

    @rpc
    def comment(self, tenant, idea_id, body, actor, parent_id=None, language=None, command_id=None):
        return self.app.comment(tenant, idea_id, {"body": body, "parent_id": parent_id, "language": language},
                                actor, command_id)

    @rpc
    def flag(self, tenant, target_type, target_id, actor, reason="", command_id=None):
        return self.app.flag(tenant, target_type, target_id, {"reason": reason}, actor, command_id)

    @rpc
    def moderate(self, tenant, target_type, target_id, action, reason, actor, command_id=None):
        return self.app.moderate(tenant, target_type, target_id, {"action": action, "reason": reason}, actor,
                                 command_id)

    @rpc
    def get_idea(self, tenant, idea_id):
        return projections.idea_detail(self.db, tenant, idea_id)

    @rpc
    def list_ideas(self, tenant, **filters):
        from ideas.dependencies import load
        return projections.list_ideas(self.db, tenant, **load(schemas.IdeaListQuery, filters))

    @rpc
    def similar_ideas(self, tenant, text, project_id=None, language=None, limit=5):
        return self.app.similar(tenant, project_id, text, language, limit)
