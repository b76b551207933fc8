"""Budgets service: participatory-budgeting rounds over HTTP (thin entrypoints over
:class:`budgets.application.Budgets`), and the store-driven subscriptions that keep the ``budgets_*`` read models.

Run: ``nameko run --config services/budgets/config.yaml budgets.service``.

HTTP under ``/api/v1/tenants/<tenant>/budgets``; bearer JWT (agora.auth), roles declared on each route and enforced
by the route layer before any validation: admins manage rounds (open, add projects, close, count, import/export
Pabulib), citizens cast/replace/withdraw their one ballot per round; rounds, outcomes and explanations are public
(a token, when sent, must be valid and for the tenant).
"""
from __future__ import annotations

import re

from werkzeug.wrappers import Response

from agora.errors import BadRequest, NotFound
from agora.nameko import MongoDep, subscribe
from agora.web import ObservableService, content_disposition, json_route, negotiate, openapi
from budgets import projections as views
from budgets import schemas as s
from budgets.dependencies import BudgetsDep

B = "/api/v1/tenants/<tenant>/budgets"
R = B + "/rounds/<round_id>"
ADMIN = ["admin"]
CITIZEN = ["citizen", "admin", "moderator"]
NOT_FOUND = {404: "unknown round"}
PHASE = {409: "not possible in the round's current state (closed, ballots already cast, ...)"}
MAX_PB_BYTES = 64 * 1024 * 1024
ROUND_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def check_id(value: str, what: str = "round") -> str:
    """A path id that cannot name anything is simply not found."""
    if not isinstance(value, str) or not ROUND_ID_RE.match(value):
        raise NotFound(f"{what} {value!r} not found")
    return value


class BudgetsService(ObservableService):
    name = "budgets"
    app = BudgetsDep()
    db = MongoDep()

    # ================================================================== read models
    @subscribe("rounds", views.ROUND_SOURCES, batch=500, collections=views.ROUND_COLLECTIONS,
               layout=views.ROUND_LAYOUT, blue_green=True)
    def on_budget_event(self, event, session):
        views.apply_round_event(self.db, event, session)

    @subscribe("candidates", views.IDEA_SOURCES, collections=views.IDEA_COLLECTIONS, blue_green=True)
    def on_idea_event(self, event, session):
        views.apply_idea_event(self.db, event, session)

    # ================================================================== docs
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        return openapi(BudgetsService, "Agora budgets API", "1.0.0", __doc__.strip().split("\n")[0])

    # ================================================================== rounds (admin)
    @json_route("POST", B + "/rounds", summary="Open a budget round (admin): budget, currency, ballot type and "
                "constraints, counting rule", request_schema=s.RoundIn, response_schema=s.RoundOut, status=201,
                roles=ADMIN, tags=["rounds"], responses={409: "a round with this id exists"})
    def http_open_round(self, request, tenant, caller, body):
        return 201, self.app.open_round(tenant, caller, body)

    @json_route("GET", B + "/rounds", summary="The tenant's rounds (filter by project_id, district)",
                query_schema=s.ListQuery, response_schema=s.RoundListOut, public=True, tags=["rounds"])
    def http_list_rounds(self, request, tenant, query):
        return {"items": self.app.list_rounds(tenant, query.get("project_id"), query.get("district"))}

    @json_route("GET", R, summary="A round: settings, projects, status, ballot count, outcome summary",
                response_schema=s.RoundOut, public=True, tags=["rounds"], responses=NOT_FOUND)
    def http_round(self, request, tenant, round_id):
        return self.app.round_view(tenant, check_id(round_id))

    @json_route("POST", R + "/projects", summary="Put a project on the ballot (admin): a cost (always required) "
                "with a title, or a cost with an accepted idea (idea_id, see GET .../candidates) whose title is used "
                "unless one is given", request_schema=s.ProjectIn, response_schema=s.ProjectOut, status=201,
                roles=ADMIN, tags=["rounds"],
                responses={**NOT_FOUND, **PHASE, 422: "invalid fields, e.g. no cost, or an idea that is not accepted"})
    def http_add_project(self, request, tenant, round_id, caller, body):
        return 201, self.app.add_project(tenant, caller, check_id(round_id), body)

    @json_route("GET", B + "/candidates", summary="Accepted ideas offered as candidate projects (admin)",
                query_schema=s.CandidatesQuery, response_schema=s.CandidatesOut, roles=ADMIN, tags=["rounds"],
                responses=NOT_FOUND)
    def http_candidates(self, request, tenant, query):
        return {"items": self.app.candidates(tenant, query.get("project_id"), query.get("round_id"))}

    @json_route("POST", R + "/close", summary="Close the round (admin): no more ballots", roles=ADMIN,
                response_schema=s.CloseOut, tags=["rounds"], responses={**NOT_FOUND, **PHASE})
    def http_close(self, request, tenant, round_id, caller):
        return self.app.close_round(tenant, caller, check_id(round_id))

    # ================================================================== ballots (citizens)
    @json_route("PUT", R + "/ballot", summary="Cast or replace my ballot (one per round); 422 lists every "
                "violated constraint; `personal`: demographics for this ballot, only with consent",
                request_schema=s.BallotIn, response_schema=s.BallotOut, status=201, roles=CITIZEN,
                tags=["ballots"], responses={200: s.BallotOut, **NOT_FOUND, **PHASE})
    def http_cast(self, request, tenant, round_id, caller, body):
        out = self.app.cast_ballot(tenant, caller, check_id(round_id), body["selection"], body.get("personal"))
        return (201 if out["result"] == "cast" else 200), out

    @json_route("GET", R + "/ballot", summary="My ballot in this round", response_schema=s.BallotOut,
                roles=CITIZEN, tags=["ballots"], responses=NOT_FOUND)
    def http_my_ballot(self, request, tenant, round_id, caller):
        return self.app.my_ballot(tenant, caller, check_id(round_id))

    @json_route("DELETE", R + "/ballot", summary="Withdraw my ballot (while the round is open)",
                response_schema=s.BallotOut, roles=CITIZEN, tags=["ballots"],
                responses={**NOT_FOUND, 409: "round closed, or no ballot to withdraw"})
    def http_withdraw(self, request, tenant, round_id, caller):
        return self.app.withdraw_ballot(tenant, caller, check_id(round_id))

    # ================================================================== outcome
    @json_route("POST", R + "/outcome", summary="Count the closed round (admin) with its rule or a given one, in a "
                "worker process; appends OutcomeComputed", request_schema=s.OutcomeIn,
                response_schema=s.OutcomeOut, status=201, roles=ADMIN, tags=["outcome"],
                responses={**NOT_FOUND, 409: "round not closed, or ballots still being projected"})
    def http_compute_outcome(self, request, tenant, round_id, caller, body):
        return 201, self.app.compute_outcome(tenant, caller, check_id(round_id), body)

    @json_route("GET", R + "/outcome", summary="The round's outcome (the last count)", response_schema=s.OutcomeOut,
                public=True, tags=["outcome"], responses={404: "unknown round or no outcome yet"})
    def http_outcome(self, request, tenant, round_id):
        return self.app.outcome(tenant, check_id(round_id))

    @json_route("GET", R + "/outcome/projects/<project_id>", summary="Why was this project (not) funded?",
                response_schema=s.ProjectExplanationOut, public=True, tags=["outcome"],
                responses={404: "unknown round or project, or no outcome yet"})
    def http_explain(self, request, tenant, round_id, project_id):
        return self.app.explain(tenant, check_id(round_id), project_id)

    # ================================================================== Pabulib
    @json_route("POST", B + "/rounds/import", summary="Import a Pabulib .pb file (request body, text) as a round "
                "(admin), through the same commands and events as live ballots", query_schema=s.ImportQuery,
                response_schema=s.ImportOut, status=201, roles=ADMIN, tags=["pabulib"],
                responses={400: "body is not UTF-8 text", 413: "file too large",
                           422: "malformed .pb (the message names the line); nothing was imported",
                           409: "a round with this id exists"})
    def http_import(self, request, tenant, caller, query):
        raw = request.get_data()
        if len(raw) > MAX_PB_BYTES:
            return 413, {"error": "too_large", "message": f"a .pb file may have at most {MAX_PB_BYTES} bytes"}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the .pb file must be UTF-8 text: {exc}") from None
        if not text.strip():
            raise BadRequest("empty body: send the .pb file's text")
        return 201, self.app.pabulib.import_round(tenant, self.app.person(tenant, caller), text, query)

    @json_route("GET", R + "/export.pb", summary="The round as a Pabulib .pb file (admin): counted ballots, no "
                "personal data, voter_id a fresh pseudonym per export", roles=ADMIN, tags=["pabulib"],
                responses=NOT_FOUND, produces=("text/plain",))
    def http_export(self, request, tenant, round_id):
        media = negotiate(request, ["text/plain"])
        text = self.app.pabulib.export_round(tenant, check_id(round_id))
        return Response(text, status=200, mimetype=media,
                        headers={"Content-Disposition": content_disposition(f"{round_id}.pb")})
