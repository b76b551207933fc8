"""The ideas nameko service: thin HTTP entrypoints over :class:`ideas.application.Ideas`, one internal RPC method
for the back-office bridge, and the store-driven subscription ``board`` that maintains the read models
(``ideas.projections``).

HTTP under ``/api/v1/tenants/<tenant>/``; the route layer (agora.web) authenticates, enforces each route's
``roles``, checks the tenant exists and loads the request before a handler runs. Reads of projects, idea lists,
idea details, counts and similar ideas are public (anonymous allowed; a token, when sent, must be valid and for the
tenant). Citizens and admins submit, edit and withdraw (their own ideas); citizens, moderators and admins comment
and flag; moderators and admins see the moderation queue and hide, restore or dismiss; admins create projects and
phases, change status, merge and erase people.
"""
from __future__ import annotations

from agora.errors import Forbidden
from agora.nameko import MongoDep, subscribe
from agora.rpc import InternalRpcMixin, internal_rpc
from agora.tenants import registry_for
from agora.web import ObservableService, json_route, openapi

from ideas import projections, schemas
from ideas.dependencies import IdeasApp, load

T = "/api/v1/tenants/<tenant>"
NOT_FOUND = {404: "unknown tenant, project, idea or comment"}
CONFLICT = {409: "not possible now (wrong phase, status or workflow step), with the reason"}
SUBMITTERS = ["citizen", "admin"]
PARTICIPANTS = ["citizen", "moderator", "admin"]
MODERATORS = ["moderator", "admin"]
ADMINS = ["admin"]


class IdeasService(ObservableService, InternalRpcMixin):
    name = "ideas"

    app = IdeasApp()
    db = MongoDep()

    # ================================================================== projections
    @subscribe("board", projections.SOURCES, batched=True, collections=list(projections.COLLECTIONS),
               layout=projections.LAYOUT, blue_green=True)
    def on_events(self, events, session):
        projections.apply_batch(self.db, events, session)

    # ================================================================== HTTP: docs
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        return openapi(IdeasService, "Agora ideas API", "1.0.0",
                       "Ideas, comments, moderation and the idea board of a participation project.")

    # ================================================================== HTTP: projects
    @json_route("POST", T + "/projects", summary="Create a project (admin), optionally with phases",
                request_schema=schemas.ProjectCreateIn, response_schema=schemas.CommandOut, status=201,
                roles=ADMINS, tags=["projects"])
    def http_create_project(self, request, tenant, caller, body):
        return 201, self.app.create_project(tenant, caller, body)

    @json_route("GET", T + "/projects", summary="List the tenant's projects", response_schema=schemas.ProjectListOut,
                public=True, tags=["projects"])
    def http_list_projects(self, request, tenant):
        return {"items": projections.list_projects(self.app.db, tenant)}

    @json_route("GET", T + "/projects/<project_id>", summary="A project with its phases",
                response_schema=schemas.ProjectOut, public=True, tags=["projects"], responses=NOT_FOUND)
    def http_get_project(self, request, tenant, project_id):
        return projections.get_project(self.app.db, tenant, project_id)

    @json_route("POST", T + "/projects/<project_id>/phases", summary="Add a phase (admin)",
                request_schema=schemas.PhaseIn, response_schema=schemas.CommandOut, status=201, roles=ADMINS,
                tags=["projects"], responses={**NOT_FOUND, **CONFLICT})
    def http_add_phase(self, request, tenant, project_id, caller, body):
        return 201, self.app.add_phase(tenant, caller, project_id, body)

    @json_route("PATCH", T + "/projects/<project_id>/phases/<phase_id>", summary="Change a phase (admin)",
                request_schema=schemas.PhaseChangeIn, response_schema=schemas.CommandOut, roles=ADMINS,
                tags=["projects"], responses=NOT_FOUND)
    def http_change_phase(self, request, tenant, project_id, phase_id, caller, body):
        return self.app.change_phase(tenant, caller, project_id, phase_id, body)

    # ================================================================== HTTP: ideas
    @json_route("POST", T + "/ideas", summary="Submit an idea (while an ideation phase is open); returns similar ideas",
                request_schema=schemas.IdeaSubmitIn, response_schema=schemas.SubmitOut, status=201,
                roles=SUBMITTERS, tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_submit_idea(self, request, tenant, caller, body):
        return 201, self.app.submit_idea(tenant, caller, body)

    @json_route("GET", T + "/ideas", summary="List ideas (filters, sort new | most_voted | trending, cursor pages)",
                query_schema=schemas.IdeaListQuery, response_schema=schemas.IdeaListOut, public=True,
                tags=["ideas"], responses={400: "invalid cursor", 403: "include_hidden is for moderators"})
    def http_list_ideas(self, request, tenant, caller, query):
        if query.get("include_hidden") and not (caller and caller.is_staff):
            raise Forbidden("include_hidden is for moderators and admins")
        return projections.list_ideas(self.app.db, tenant, **query)

    @json_route("GET", T + "/ideas/counts", summary="Number of ideas per status", query_schema=schemas.CountsQuery,
                response_schema=schemas.CountsOut, public=True, tags=["ideas"])
    def http_counts(self, request, tenant, query):
        return projections.count_by_status(self.app.db, tenant, query.get("project_id"))

    @json_route("GET", T + "/ideas/similar", summary="Up to `limit` ideas similar to a text (TF-IDF cosine)",
                query_schema=schemas.SimilarQuery, response_schema=schemas.SimilarListOut, public=True,
                tags=["ideas"])
    def http_similar(self, request, tenant, query):
        return {"items": self.app.similar(tenant, query.get("project_id"), query["text"], query.get("language"),
                                          query["limit"])}

    @json_route("GET", T + "/ideas/<idea_id>", summary="An idea with its comment tree",
                response_schema=schemas.IdeaDetailOut, public=True, tags=["ideas"], responses=NOT_FOUND)
    def http_get_idea(self, request, tenant, idea_id, caller):
        return self.app.idea_detail(tenant, caller, idea_id)

    @json_route("PATCH", T + "/ideas/<idea_id>", summary="Edit an idea (its author, before review)",
                request_schema=schemas.IdeaEditIn, response_schema=schemas.CommandOut, roles=SUBMITTERS,
                tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_edit_idea(self, request, tenant, idea_id, caller, body):
        return self.app.edit_idea(tenant, caller, idea_id, body)

    @json_route("POST", T + "/ideas/<idea_id>/withdraw", summary="Withdraw an idea (its author)",
                request_schema=schemas.WithdrawIn, response_schema=schemas.CommandOut, roles=SUBMITTERS,
                tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_withdraw(self, request, tenant, idea_id, caller, body):
        return self.app.withdraw_idea(tenant, caller, idea_id, body)

    @json_route("POST", T + "/ideas/<idea_id>/status", summary="Change an idea's status with official feedback (admin)",
                request_schema=schemas.StatusChangeIn, response_schema=schemas.CommandOut, roles=ADMINS,
                tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_change_status(self, request, tenant, idea_id, caller, body):
        return self.app.decide_status(tenant, caller, idea_id, body)

    @json_route("POST", T + "/ideas/<idea_id>/merge", summary="Merge a duplicate into a surviving idea (admin)",
                request_schema=schemas.MergeIn, response_schema=schemas.CommandOut, roles=ADMINS,
                tags=["ideas"], responses={**NOT_FOUND, **CONFLICT})
    def http_merge(self, request, tenant, idea_id, caller, body):
        return self.app.merge_ideas(tenant, caller, idea_id, body)

    @json_route("POST", T + "/ideas/<idea_id>/comments", summary="Comment on an idea or reply to a comment",
                request_schema=schemas.CommentIn, response_schema=schemas.CommandOut, status=201,
                roles=PARTICIPANTS, tags=["comments"], responses={**NOT_FOUND, **CONFLICT})
    def http_comment(self, request, tenant, idea_id, caller, body):
        return 201, self.app.comment(tenant, caller, idea_id, body)

    # ================================================================== HTTP: moderation
    @json_route("POST", T + "/ideas/<idea_id>/flag", summary="Flag an idea for moderation",
                request_schema=schemas.FlagIn, response_schema=schemas.CommandOut, status=201,
                roles=PARTICIPANTS, tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_flag_idea(self, request, tenant, idea_id, caller, body):
        return 201, self.app.flag(tenant, caller, "idea", idea_id, body)

    @json_route("POST", T + "/comments/<comment_id>/flag", summary="Flag a comment for moderation",
                request_schema=schemas.FlagIn, response_schema=schemas.CommandOut, status=201,
                roles=PARTICIPANTS, tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_flag_comment(self, request, tenant, comment_id, caller, body):
        return 201, self.app.flag(tenant, caller, "comment", comment_id, body)

    @json_route("GET", T + "/moderation/queue",
                summary="What needs a moderator: flagged ideas and comments with their flag counts and reasons, "
                        "newest flag first (per project with ?project_id=)",
                query_schema=schemas.QueueQuery, response_schema=schemas.QueueOut, roles=MODERATORS,
                tags=["moderation"], responses={400: "invalid cursor"})
    def http_moderation_queue(self, request, tenant, query):
        return projections.moderation_queue(self.app.db, tenant, **query)

    @json_route("POST", T + "/ideas/<idea_id>/moderation", summary="Hide or restore an idea, or dismiss its flags",
                request_schema=schemas.ModerationIn, response_schema=schemas.CommandOut, roles=MODERATORS,
                tags=["moderation"], responses={**NOT_FOUND, **CONFLICT})
    def http_moderate_idea(self, request, tenant, idea_id, caller, body):
        return self.app.moderate(tenant, caller, "idea", idea_id, body)

    @json_route("POST", T + "/comments/<comment_id>/moderation",
                summary="Hide or restore a comment, or dismiss its flags", request_schema=schemas.ModerationIn,
                response_schema=schemas.CommandOut, roles=MODERATORS, tags=["moderation"],
                responses={**NOT_FOUND, **CONFLICT})
    def http_moderate_comment(self, request, tenant, comment_id, caller, body):
        return self.app.moderate(tenant, caller, "comment", comment_id, body)

    # ================================================================== HTTP: personal data
    @json_route("POST", T + "/erasures",
                summary="Erase a person (admin): their key and pseudonym are destroyed, every read model drops "
                        "their identifiers and demographics; counts stay",
                request_schema=schemas.ErasureIn, response_schema=schemas.ErasureOut, status=202, roles=ADMINS,
                tags=["privacy"])
    def http_erase(self, request, tenant, caller, body):
        return 202, self.app.erase(tenant, caller, body)

    # ================================================================== internal RPC (service identities only)
    @internal_rpc("ideas.change_status")
    def change_status_from_decision(self, caller, tenant, idea_id, status, feedback, feedback_language=None):
        """A back-office decision, from the bridge acting as itself (``ServiceRpc("ideas",
        permissions=["ideas.change_status"])``). Idempotent per decision content."""
        registry_for(self.app.store).get(tenant)               # unknown tenant → NotFound
        body = load(schemas.StatusChangeIn, {"status": status, "feedback": feedback or "",
                                             "feedback_language": feedback_language})
        return self.app.change_status_from_decision(caller, tenant, idea_id, body["status"], body["feedback"],
                                                    body.get("feedback_language"))
