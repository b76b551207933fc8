"""Votes service: thin nameko entrypoints (HTTP, store-driven subscriptions, expiry timer).

Run: ``nameko run --config services/votes/config.yaml votes.service``.
"""
from __future__ import annotations

import logging

from nameko.timer import timer

from agora.web import ObservableService, json_route, load_query, openapi, optional_principal, principal, read_json
from votes import domain as d
from votes import schemas as s
from votes.dependencies import ProjectionsDep, VotesDep, context_cache, subscribe
from votes.projections import CONTEXT_SOURCES, TALLY_COLLECTIONS, TALLY_LAYOUT, TALLY_SOURCES

log = logging.getLogger("votes.service")
T = "/api/v1/tenants/<tenant>"
CITIZEN = {"citizen", "admin", "moderator"}
ADMIN = {"admin"}
EXPIRY_INTERVAL_S = 2


class VotesService(ObservableService):
    name = "votes"
    votes = VotesDep()
    projections = ProjectionsDep()

    # ------------------------------------------------------------------ reactions on ideas
    @json_route("PUT", T + "/ideas/<idea_id>/reaction", summary="Cast or change my reaction (1 up, -1 down)",
                request_schema=s.ReactionIn, response_schema=s.ReactionOut, auth_roles=sorted(CITIZEN),
                tags=["reactions"], responses={404: "unknown idea", 409: "phase closed, disabled, limit reached"})
    def react_idea(self, request, tenant, idea_id):
        who = principal(request, tenant, CITIZEN)
        body = read_json(request, s.ReactionIn)
        out = self.votes.react(tenant, who.sub, d.IDEA, idea_id, body["value"], body.get("personal"))
        return (201 if out["result"] == "cast" else 200), out

    @json_route("DELETE", T + "/ideas/<idea_id>/reaction", summary="Retract my reaction on an idea",
                response_schema=s.ReactionOut, auth_roles=sorted(CITIZEN), tags=["reactions"],
                responses={404: "unknown idea", 409: "phase closed"})
    def retract_idea(self, request, tenant, idea_id):
        who = principal(request, tenant, CITIZEN)
        return self.votes.retract(tenant, who.sub, d.IDEA, idea_id)

    @json_route("GET", T + "/ideas/<idea_id>/reaction", summary="My reaction on an idea (0 when none)",
                response_schema=s.ReactionOut, auth_roles=sorted(CITIZEN), tags=["reactions"],
                responses={404: "unknown idea"})
    def my_idea_reaction(self, request, tenant, idea_id):
        who = principal(request, tenant, CITIZEN)
        return self.votes.my_reaction(tenant, who.sub, d.IDEA, idea_id)

    # ------------------------------------------------------------------ likes on comments
    @json_route("PUT", T + "/comments/<comment_id>/like", summary="Like a comment", request_schema=s.LikeIn,
                response_schema=s.ReactionOut, auth_roles=sorted(CITIZEN), tags=["reactions"],
                responses={404: "unknown comment", 409: "phase closed or comment likes disabled"})
    def like_comment(self, request, tenant, comment_id):
        who = principal(request, tenant, CITIZEN)
        body = read_json(request, s.LikeIn)
        out = self.votes.react(tenant, who.sub, d.COMMENT, comment_id, d.UP, body.get("personal"))
        return (201 if out["result"] == "cast" else 200), out

    @json_route("DELETE", T + "/comments/<comment_id>/like", summary="Withdraw my like of a comment",
                response_schema=s.ReactionOut, auth_roles=sorted(CITIZEN), tags=["reactions"],
                responses={404: "unknown comment", 409: "phase closed"})
    def unlike_comment(self, request, tenant, comment_id):
        who = principal(request, tenant, CITIZEN)
        return self.votes.retract(tenant, who.sub, d.COMMENT, comment_id)

    # ------------------------------------------------------------------ tallies
    @json_route("GET", T + "/ideas/<idea_id>/tally", summary="Tally of an idea (as_at: as it stood then)",
                query_schema=s.TallyQuery, response_schema=s.TallyOut, public=True, tags=["tallies"],
                responses={404: "unknown idea", 422: "bad as_at"})
    def idea_tally(self, request, tenant, idea_id):
        optional_principal(request, tenant)
        q = load_query(request, s.TallyQuery)
        return self.votes.tally(tenant, d.IDEA, idea_id, q.get("as_at"))

    @json_route("GET", T + "/comments/<comment_id>/tally", summary="Likes of a comment (as_at: as it stood then)",
                query_schema=s.TallyQuery, response_schema=s.TallyOut, public=True, tags=["tallies"],
                responses={404: "unknown comment", 422: "bad as_at"})
    def comment_tally(self, request, tenant, comment_id):
        optional_principal(request, tenant)
        q = load_query(request, s.TallyQuery)
        return self.votes.tally(tenant, d.COMMENT, comment_id, q.get("as_at"))

    # ------------------------------------------------------------------ admin
    @json_route("PUT", T + "/ideas/<idea_id>/manual-votes",
                summary="Set an idea's paper/offline vote counts (absolute) with an audit reason",
                request_schema=s.ManualVotesIn, response_schema=s.ManualVotesOut, auth_roles=sorted(ADMIN),
                tags=["admin"], responses={404: "unknown idea", 409: "idea merged"})
    def manual_votes(self, request, tenant, idea_id):
        who = principal(request, tenant, ADMIN)
        body = read_json(request, s.ManualVotesIn)
        return self.votes.set_manual(tenant, who.sub, idea_id, body["up"], body["down"], body["reason"])

    @json_route("PUT", T + "/projects/<project_id>/phases/<phase_id>/voting",
                summary="Configure a phase's voting (up only / up+down, limits, threshold, expiry)",
                request_schema=s.PhaseVotingIn, response_schema=s.PhaseVotingOut, auth_roles=sorted(ADMIN),
                tags=["admin"], responses={404: "unknown phase"})
    def configure_phase_voting(self, request, tenant, project_id, phase_id):
        who = principal(request, tenant, ADMIN)
        body = read_json(request, s.PhaseVotingIn)
        return self.votes.configure_phase_voting(tenant, who.sub, project_id, phase_id, body)

    @json_route("GET", T + "/projects/<project_id>/phases/<phase_id>/voting",
                summary="A phase's effective voting settings", response_schema=s.PhaseVotingOut, public=True,
                tags=["admin"], responses={404: "unknown phase"})
    def phase_voting(self, request, tenant, project_id, phase_id):
        optional_principal(request, tenant)
        return self.votes.phase_voting(tenant, project_id, phase_id)

    @json_route("PUT", T + "/voters/me/profile",
                summary="Record my self-declared demographics (used for segment tallies; needs consent)",
                request_schema=s.ProfileIn, auth_roles=sorted(CITIZEN), tags=["reactions"])
    def voter_profile(self, request, tenant):
        who = principal(request, tenant, CITIZEN)
        body = read_json(request, s.ProfileIn)
        return self.votes.record_profile(tenant, who.sub, body["personal"])

    # ------------------------------------------------------------------ docs
    @json_route("GET", "/api/v1/openapi.json", summary="This OpenAPI document", public=True, tags=["ops"])
    def openapi_doc(self, request):
        return openapi(VotesService, "Agora votes", description=__doc__.strip().split("\n")[0])

    # ------------------------------------------------------------------ projections
    @subscribe("context", CONTEXT_SOURCES)
    def on_context(self, event, session):
        self.projections.context.handle(event, session)
        context_cache.changed_by(event)

    @subscribe("tallies", TALLY_SOURCES, batched=True, collections=list(TALLY_COLLECTIONS), layout=TALLY_LAYOUT)
    def on_tallies(self, events, session):
        self.projections.tallies.handle_batch(events, session)

    @timer(interval=EXPIRY_INTERVAL_S)
    def expire_proposals(self):
        """Emit ``Expired`` for proposals past their deadline without enough support (idempotent)."""
        n = self.projections.expire_due()
        if n:
            log.info("expired %d proposals", n)
