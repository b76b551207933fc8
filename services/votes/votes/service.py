"""Votes service: thin nameko entrypoints (HTTP, store-driven subscriptions, expiry timer).

Run: ``nameko run --config services/votes/config.yaml votes.service``. The route layer (agora.web) authenticates,
enforces the declared roles, checks the tenant and validates the body before a handler runs; use cases are in
votes.application, read models in votes.projections, proposal outcomes in votes.outcomes.
"""
from __future__ import annotations

import logging

from nameko.timer import timer

from agora.nameko import subscribe
from agora.web import ObservableService, json_route, openapi
from votes import domain as d
from votes import schemas as s
from votes.context_cache import context_cache
from votes.dependencies import ProjectionsDep, VotesAppDep
from votes.projections import (CONTEXT_COLLECTIONS, CONTEXT_LAYOUT, CONTEXT_SOURCES, TALLY_COLLECTIONS,
                               TALLY_LAYOUT, TALLY_SOURCES)

log = logging.getLogger("votes.service")
T = "/api/v1/tenants/<tenant>"
PEOPLE = ["admin", "citizen", "moderator"]
ADMIN = ["admin"]
EXPIRY_INTERVAL_S = 2


def _status(out: dict):
    return (201 if out["result"] == "cast" else 200), out


class VotesService(ObservableService):
    name = "votes"
    app = VotesAppDep()
    projections = ProjectionsDep()

    # ------------------------------------------------------------------ reactions on ideas
    @json_route("PUT", T + "/ideas/<idea_id>/reaction", summary="Cast or change my reaction (1 up, -1 down)",
                roles=PEOPLE, request_schema=s.ReactionIn, response_schema=s.ReactionOut, tags=["reactions"],
                responses={201: s.ReactionOut, 409: "phase closed, disabled, limit reached"})
    def react_idea(self, request, tenant, idea_id, caller, body):
        return _status(self.app.react(tenant, caller, d.IDEA, idea_id, body["value"], body["personal"]))

    @json_route("DELETE", T + "/ideas/<idea_id>/reaction", summary="Retract my reaction on an idea", roles=PEOPLE,
                response_schema=s.ReactionOut, tags=["reactions"], responses={409: "phase closed"})
    def retract_idea(self, request, tenant, idea_id, caller):
        return self.app.retract(tenant, caller, d.IDEA, idea_id)

    @json_route("GET", T + "/ideas/<idea_id>/reaction", summary="My reaction on an idea (0 when none)",
                roles=PEOPLE, response_schema=s.ReactionOut, tags=["reactions"])
    def my_idea_reaction(self, request, tenant, idea_id, caller):
        return self.app.my_reaction(tenant, caller, d.IDEA, idea_id)

    # ------------------------------------------------------------------ likes on comments
    @json_route("PUT", T + "/comments/<comment_id>/like", summary="Like a comment", roles=PEOPLE,
                request_schema=s.LikeIn, response_schema=s.ReactionOut, tags=["reactions"],
                responses={201: s.ReactionOut, 409: "phase closed or comment likes disabled"})
    def like_comment(self, request, tenant, comment_id, caller, body):
        return _status(self.app.react(tenant, caller, d.COMMENT, comment_id, d.UP, body["personal"]))

    @json_route("DELETE", T + "/comments/<comment_id>/like", summary="Withdraw my like of a comment",
                roles=PEOPLE, response_schema=s.ReactionOut, tags=["reactions"], responses={409: "phase closed"})
    def unlike_comment(self, request, tenant, comment_id, caller):
        return self.app.retract(tenant, caller, d.COMMENT, comment_id)

    # ------------------------------------------------------------------ tallies
    @json_route("GET", T + "/ideas/<idea_id>/tally",
                summary="Tally of an idea (as_at: as it stood then); segments for staff only", public=True,
                query_schema=s.TallyQuery, response_schema=s.TallyOut, tags=["tallies"])
    def idea_tally(self, request, tenant, idea_id, caller, query):
        return self.app.tally(tenant, caller, d.IDEA, idea_id, query["as_at"])

    @json_route("GET", T + "/comments/<comment_id>/tally",
                summary="Likes of a comment (as_at: as it stood then); segments for staff only", public=True,
                query_schema=s.TallyQuery, response_schema=s.TallyOut, tags=["tallies"])
    def comment_tally(self, request, tenant, comment_id, caller, query):
        return self.app.tally(tenant, caller, d.COMMENT, comment_id, query["as_at"])

    # ------------------------------------------------------------------ admin
    @json_route("PUT", T + "/ideas/<idea_id>/manual-votes",
                summary="Set an idea's paper/offline vote counts (absolute) with an audit reason", roles=ADMIN,
                request_schema=s.ManualVotesIn, response_schema=s.ManualVotesOut, tags=["admin"],
                responses={409: "idea merged"})
    def manual_votes(self, request, tenant, idea_id, caller, body):
        return self.app.set_manual(tenant, caller, idea_id, body["up"], body["down"], body["reason"])

    @json_route("PUT", T + "/projects/<project_id>/phases/<phase_id>/voting",
                summary="Configure a phase's voting (up only / up+down, limits, threshold, expiry)", roles=ADMIN,
                request_schema=s.PhaseVotingIn, response_schema=s.PhaseVotingConfiguredOut, tags=["admin"])
    def configure_phase_voting(self, request, tenant, project_id, phase_id, caller, body):
        return self.app.configure_phase_voting(tenant, caller, project_id, phase_id, body)

    @json_route("GET", T + "/projects/<project_id>/phases/<phase_id>/voting",
                summary="A phase's effective voting settings", public=True, response_schema=s.PhaseVotingOut,
                tags=["admin"])
    def phase_voting(self, request, tenant, project_id, phase_id):
        return self.app.phase_voting(tenant, project_id, phase_id)

    # ------------------------------------------------------------------ docs
    @json_route("GET", "/api/v1/openapi.json", summary="This OpenAPI document", public=True, tags=["ops"])
    def openapi_doc(self, request):
        return openapi(VotesService, "Agora votes", description=__doc__.strip().split("\n")[0])

    # ------------------------------------------------------------------ projections and policies
    @subscribe("context", CONTEXT_SOURCES, collections=list(CONTEXT_COLLECTIONS), layout=CONTEXT_LAYOUT,
               blue_green=True)
    def on_context(self, event, session):
        self.projections.context.handle(event, session)
        context_cache.changed_by(event)

    @subscribe("tallies", TALLY_SOURCES, batched=True, collections=list(TALLY_COLLECTIONS), layout=TALLY_LAYOUT,
               blue_green=True)
    def on_tallies(self, events, session):
        changed = self.projections.tallies.handle_batch(events, session)
        self.projections.outcomes.after_tallies(changed)

    @timer(interval=EXPIRY_INTERVAL_S)
    def expire_proposals(self):
        """Give proposals past their deadline their outcome (idempotent)."""
        n = self.projections.outcomes.expire_due()
        if n:
            log.info("expired %d proposals", n)
