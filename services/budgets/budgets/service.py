"""Budgets service: participatory-budgeting rounds over HTTP and nameko RPC (thin entrypoints over
:class:`budgets.dependencies.Budgets`), and the store-driven subscriptions that keep the ``budgets_*`` projections.

Run: ``nameko run --config services/budgets/config.yaml budgets.service``.

HTTP under ``/api/v1/tenants/<tenant>/budgets``; bearer JWT (agora.auth): admins manage rounds (open, add
projects, close, count, import/export Pabulib), citizens cast/replace/withdraw their one ballot per round; rounds,
outcomes and explanations are public (a token, when sent, must be valid and for the tenant).
"""
from __future__ import annotations

from marshmallow import ValidationError
from nameko.rpc import rpc
from werkzeug.wrappers import Response

from agora.errors import BadRequest, ValidationFailed
from agora.nameko import MongoDep, subscribe
from agora.web import ObservableService, json_route, load_query, openapi, optional_principal, principal, read_json
from budgets import schemas as s
from budgets.dependencies import (ADMIN, CITIZEN, IDEA_SOURCES, ROUND_SOURCES, BudgetsDep, apply_idea_event,
                                  apply_round_event, check_actor, check_id)

B = "/api/v1/tenants/<tenant>/budgets"
R = B + "/rounds/<round_id>"
NOT_FOUND = {404: "unknown round"}
PHASE = {409: "not possible in the round's current state (closed, ballots already cast, ...)"}
MAX_PB_BYTES = 64 * 1024 * 1024


def _load(schema, data):
    """RPC input → loaded dict; ValidationFailed (which crosses RPC intact) naming every bad field."""
    try:
        return schema().load(data)
    except ValidationError as err:
        raise ValidationFailed(err.messages) from None


class BudgetsService(ObservableService):
    name = "budgets"
    app = BudgetsDep()
    db = MongoDep()

    # ================================================================== projections
    @subscribe("rounds", ROUND_SOURCES, batch=500)
    def on_budget_event(self, event, session):
        apply_round_event(self.db, event, session)

    @subscribe("candidates", IDEA_SOURCES)
    def on_idea_event(self, event, session):
        apply_idea_event(self.db, event, session)

    # ================================================================== docs
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        return openapi(BudgetsService, "Agora budgets API", "1.0.0", __doc__.strip().split("\n")[0])

    # ================================================================== rounds (admin)
    @json_route("POST", B + "/rounds", summary="Open a budget round (admin): budget, currency, ballot type and "
                "constraints, counting rule", request_schema=s.RoundIn, response_schema=s.RoundOut, status=201,
                auth_roles=sorted(ADMIN), tags=["rounds"], responses={409: "a round with this id exists"})
    def http_open_round(self, request, tenant):
        who = principal(request, tenant, ADMIN)
        return 201, self.app.open_round(tenant, who.sub, read_json(request, s.RoundIn))

    @json_route("GET", B + "/rounds", summary="The tenant's rounds (filter by project_id, district)",
                query_schema=s.ListQuery, response_schema=s.RoundListOut, public=True, tags=["rounds"])
    def http_list_rounds(self, request, tenant):
        optional_principal(request, tenant)
        q = load_query(request, s.ListQuery)
        return {"items": self.app.list_rounds(tenant, q.get("project_id"), q.get("district"))}

    @json_route("GET", R, summary="A round: settings, projects, status, ballot count, outcome summary",
                response_schema=s.RoundOut, public=True, tags=["rounds"], responses=NOT_FOUND)
    def http_round(self, request, tenant, round_id):
        optional_principal(request, tenant)
        return self.app.round_view(tenant, check_id(round_id))

    @json_route("POST", R + "/projects", summary="Put a project on the ballot (admin): cost entered directly, or an "
                "accepted idea (idea_id)", request_schema=s.ProjectIn, response_schema=s.ProjectOut, status=201,
                auth_roles=sorted(ADMIN), tags=["rounds"], responses={**NOT_FOUND, **PHASE})
    def http_add_project(self, request, tenant, round_id):
        who = principal(request, tenant, ADMIN)
        return 201, self.app.add_project(tenant, who.sub, check_id(round_id), read_json(request, s.ProjectIn))

    @json_route("GET", B + "/candidates", summary="Accepted ideas offered as candidate projects (admin)",
                query_schema=s.CandidatesQuery, response_schema=s.CandidatesOut, auth_roles=sorted(ADMIN),
                tags=["rounds"], responses=NOT_FOUND)
    def http_candidates(self, request, tenant):
        principal(request, tenant, ADMIN)
        q = load_query(request, s.CandidatesQuery)
        return {"items": self.app.candidates(tenant, q.get("project_id"), q.get("round_id"))}

    @json_route("POST", R + "/close", summary="Close the round (admin): no more ballots", auth_roles=sorted(ADMIN),
                tags=["rounds"], responses={**NOT_FOUND, **PHASE})
    def http_close(self, request, tenant, round_id):
        who = principal(request, tenant, ADMIN)
        return self.app.close_round(tenant, who.sub, check_id(round_id))

    # ================================================================== ballots (citizens)
    @json_route("PUT", R + "/ballot", summary="Cast or replace my ballot (one per round); 422 lists every "
                "violated constraint", request_schema=s.BallotIn, response_schema=s.BallotOut,
                auth_roles=sorted(CITIZEN), tags=["ballots"], responses={**NOT_FOUND, **PHASE})
    def http_cast(self, request, tenant, round_id):
        who = principal(request, tenant, CITIZEN)
        body = read_json(request, s.BallotIn)
        out = self.app.cast_ballot(tenant, who.sub, check_id(round_id), body["selection"], body.get("personal"))
        return (201 if out["result"] == "cast" else 200), out

    @json_route("GET", R + "/ballot", summary="My ballot in this round", response_schema=s.BallotOut,
                auth_roles=sorted(CITIZEN), tags=["ballots"], responses=NOT_FOUND)
    def http_my_ballot(self, request, tenant, round_id):
        who = principal(request, tenant, CITIZEN)
        return self.app.my_ballot(tenant, who.sub, check_id(round_id))

    @json_route("DELETE", R + "/ballot", summary="Withdraw my ballot (while the round is open)",
                response_schema=s.BallotOut, auth_roles=sorted(CITIZEN), tags=["ballots"],
                responses={**NOT_FOUND, 409: "round closed, or no ballot to withdraw"})
    def http_withdraw(self, request, tenant, round_id):
        who = principal(request, tenant, CITIZEN)
        return self.app.withdraw_ballot(tenant, who.sub, check_id(round_id))

    # ================================================================== outcome
    @json_route("POST", R + "/outcome", summary="Count the closed round (admin) with its rule or a given one, in a "
                "worker process; appends OutcomeComputed", request_schema=s.OutcomeIn,
                response_schema=s.OutcomeOut, status=201, auth_roles=sorted(ADMIN), tags=["outcome"],
                responses={**NOT_FOUND, 409: "round not closed, or ballots still being projected"})
    def http_compute_outcome(self, request, tenant, round_id):
        who = principal(request, tenant, ADMIN)
        return 201, self.app.compute_outcome(tenant, who.sub, check_id(round_id), read_json(request, s.OutcomeIn))

    @json_route("GET", R + "/outcome", summary="The round's outcome (the last count)", response_schema=s.OutcomeOut,
                public=True, tags=["outcome"], responses={404: "unknown round or no outcome yet"})
    def http_outcome(self, request, tenant, round_id):
        optional_principal(request, tenant)
        return self.app.outcome(tenant, check_id(round_id))

    @json_route("GET", R + "/outcome/projects/<project_id>", summary="Why was this project (not) funded?",
                response_schema=s.ProjectExplanationOut, public=True, tags=["outcome"],
                responses={404: "unknown round or project, or no outcome yet"})
    def http_explain(self, request, tenant, round_id, project_id):
        optional_principal(request, tenant)
        return self.app.explain(tenant, check_id(round_id), project_id)

    # ================================================================== Pabulib
    @json_route("POST", B + "/rounds/import", summary="Import a Pabulib .pb file (request body, text) as a round "
                "(admin), through the same commands and events as live ballots", query_schema=s.ImportQuery,
                response_schema=s.ImportOut, status=201, auth_roles=sorted(ADMIN), tags=["pabulib"],
                responses={400: "body is not UTF-8 text", 413: "file too large",
                           422: "malformed .pb (the message names the line); nothing was imported",
                           409: "a round with this id exists"})
    def http_import(self, request, tenant):
        who = principal(request, tenant, ADMIN)
        q = load_query(request, s.ImportQuery)
        raw = request.get_data()
        if len(raw) > MAX_PB_BYTES:
            return 413, {"error": "too_large", "message": f"a .pb file may have at most {MAX_PB_BYTES} bytes"}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the .pb file must be UTF-8 text: {exc}") from None
        if not text.strip():
            raise BadRequest("empty body: send the .pb file's text")
        return 201, self.app.import_pb(tenant, who.sub, text, q)

    @json_route("GET", R + "/export.pb", summary="The round as a Pabulib .pb file (admin; counted ballots, no "
                "personal data)", auth_roles=sorted(ADMIN), tags=["pabulib"], responses=NOT_FOUND)
    def http_export(self, request, tenant, round_id):
        principal(request, tenant, ADMIN)
        text = self.app.export_pb(tenant, check_id(round_id))
        return Response(text, status=200, mimetype="text/plain",
                        headers={"Content-Disposition": f'attachment; filename="{round_id}.pb"'})

    # ================================================================== RPC (same rules; actor = {sub, roles})
    @rpc
    def open_round(self, tenant, round_, actor):
        """``round_``: the body of POST .../rounds."""
        return self.app.open_round(tenant, check_actor(actor, ADMIN), _load(s.RoundIn, round_))

    @rpc
    def add_project(self, tenant, round_id, project, actor):
        return self.app.add_project(tenant, check_actor(actor, ADMIN), round_id, _load(s.ProjectIn, project))

    @rpc
    def close_round(self, tenant, round_id, actor):
        return self.app.close_round(tenant, check_actor(actor, ADMIN), round_id)

    @rpc
    def cast_ballot(self, tenant, round_id, selection, actor, personal=None):
        body = _load(s.BallotIn, {"selection": selection, "personal": personal})
        return self.app.cast_ballot(tenant, check_actor(actor, CITIZEN), round_id, body["selection"],
                                    body.get("personal"))

    @rpc
    def withdraw_ballot(self, tenant, round_id, actor):
        return self.app.withdraw_ballot(tenant, check_actor(actor, CITIZEN), round_id)

    @rpc
    def compute_outcome(self, tenant, round_id, actor, rule=None, tie_breaking=None, threshold=None):
        body = _load(s.OutcomeIn, {"rule": rule, "tie_breaking": tie_breaking, "threshold": threshold})
        return self.app.compute_outcome(tenant, check_actor(actor, ADMIN), round_id, body)

    @rpc
    def get_round(self, tenant, round_id):
        return self.app.round_view(tenant, round_id)

    @rpc
    def get_outcome(self, tenant, round_id):
        return self.app.outcome(tenant, round_id)
