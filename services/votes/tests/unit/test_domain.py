from datetime import datetime, timedelta, timezone

import pytest

from agora.errors import Conflict
from agora.events import NewEvent
from votes import domain as d

NOW = datetime(2026, 5, 10, tzinfo=timezone.utc)


def phase(**settings):
    return d.Phase("ph1", "p1", "ideation", NOW - timedelta(days=1), NOW + timedelta(days=1),
                   d.VotingSettings(**settings))


def idea(target_id="i1", **kw):
    return d.Target("idea", target_id, kw.pop("counted_for", target_id), kw.pop("idea_id", target_id), "p1", **kw)


def comment(target_id="c1", idea_id="i1"):
    return d.Target("comment", target_id, target_id, idea_id, "p1")


def step(agg, ev):
    """Apply what a command decided (as the runner does after the append)."""
    return agg.evolved([ev] if isinstance(ev, NewEvent) else ev or [])


def test_cast_is_idempotent_change_and_retract_are_events():
    agg = d.CitizenReactions("p1", "p-alice")
    ev = agg.react(idea(), phase(), 1, {"birth_year": 1990, "consent": True})
    assert isinstance(ev, NewEvent) and ev.type == "ReactionCast"
    assert (ev.data["value"], ev.data["previous"], ev.data["voter"]) == (1, 0, "p-alice")
    assert ev.data["personal"] == {"birth_year": 1990, "gender": None, "district": None}
    agg = step(agg, ev)
    assert agg.react(idea(), phase(), 1, None) is None
    ev = agg.react(idea(), phase(), -1, None)
    assert (ev.type, ev.data["value"], ev.data["previous"], ev.data["personal"]) == ("ReactionChanged", -1, 1, None)
    agg = step(agg, ev)
    ev = agg.retract(idea(), phase())
    assert (ev.type, ev.data["value"], ev.data["previous"], ev.data["personal"]) == ("ReactionRetracted", 0, -1,
                                                                                       None)
    assert step(agg, ev).retract(idea(), phase()) is None


def test_an_aggregate_is_never_mutated_by_evolving():
    agg = d.CitizenReactions("p1", "p-alice")
    after = step(agg, agg.react(idea(), phase(), 1, None))
    assert agg.reactions == {} and len(after.reactions) == 1


def test_no_demographics_without_any_given():
    agg = d.CitizenReactions("p1", "p-alice")
    assert agg.react(idea(), phase(), 1, {"birth_year": None, "gender": None, "district": None})\
        .data["personal"] is None


def _reason(fn):
    with pytest.raises(Conflict) as err:
        fn()
    return err.value.details["reason"]


def test_refusals_are_coded():
    agg = d.CitizenReactions("p1", "p-alice")
    assert _reason(lambda: agg.react(idea(), phase(downvoting=False), -1, None)) == "downvoting_disabled"
    assert _reason(lambda: agg.react(idea(), phase(enabled=False), 1, None)) == "reacting_disabled"
    assert _reason(lambda: agg.react(comment(), phase(comment_likes=False), 1, None)) == "comment_likes_disabled"
    assert _reason(lambda: agg.react(idea(), None, 1, None)) == "phase_closed"
    assert _reason(lambda: agg.react(idea(status="withdrawn"), phase(), 1, None)) == "idea_withdrawn"
    assert _reason(lambda: agg.react(idea(proposal_status="expired"), phase(), 1, None)) == "proposal_expired"
    assert _reason(lambda: agg.retract(idea(), None)) == "phase_closed"


def test_limit_per_phase_counts_active_up_votes():
    agg = d.CitizenReactions("p1", "p-alice")
    ph = phase(max_up=2)
    for i in (1, 2):
        agg = step(agg, agg.react(idea(f"i{i}"), ph, 1, None))
    with pytest.raises(Conflict) as err:
        agg.react(idea("i3"), ph, 1, None)
    assert err.value.details["reason"] == "limit_reached" and err.value.details["used"] == 2
    # retracting frees a slot; comment likes do not count
    agg = step(agg, agg.retract(idea("i1"), ph))
    agg = step(agg, agg.react(comment(), ph, 1, None))
    assert agg.react(idea("i3"), ph, 1, None) is not None


def test_merged_alias_reaction_is_found():
    agg = d.CitizenReactions("p1", "p-alice")
    agg = step(agg, agg.react(idea("A"), phase(), 1, None))
    survivor = idea("B", aliases=("A",))
    assert agg.react(survivor, phase(), 1, None) is None
    ev = agg.react(survivor, phase(), -1, None)
    assert ev.type == "ReactionChanged" and ev.data["target_id"] == "A"


def test_manual_votes_are_idempotent_and_refused_on_a_merged_idea():
    ev = d.manual_votes(idea("i"), None, 5, 1, " paper ", "p-adm", None)
    assert ev.type == "ManualVotesSet" and ev.data["previous_up"] == 0 and ev.data["reason"] == "paper"
    assert d.manual_votes(idea("i"), None, 5, 1, "paper", "p-adm", {"up": 5, "down": 1}) is None
    assert _reason(lambda: d.manual_votes(idea("A", counted_for="B", idea_id="B"), None, 1, 0, "x", "p", None)) \
        == "idea_merged"


def test_proposal_outcome():
    ph = phase(threshold=3, expire_days=1)
    doc = {"idea_id": "i", "project_id": "p1", "submitted_at": "2026-05-08T00:00:00Z", "status": "published"}
    assert d.proposal_outcome(doc, ph, 3, None).type == "ThresholdReached"
    assert d.proposal_outcome(doc, ph, 2, None) is None
    expired = d.proposal_outcome(doc, ph, 2, NOW)
    assert expired.type == "Expired" and expired.data["deadline"].startswith("2026-05-09")
    assert d.proposal_outcome(dict(doc, proposal_status="expired"), ph, 5, NOW) is None
    assert d.proposal_outcome(doc, phase(), 50, NOW) is None          # no threshold: not a proposal


def test_settings_override_and_time():
    s = d.VotingSettings().overridden({"downvoting": False, "max_up": 3, "threshold": None, "enabled": None})
    assert (s.downvoting, s.max_up, s.threshold, s.enabled) == (False, 3, None, True)
    ph = d.Phase("x", "p", start=NOW, end=NOW + timedelta(days=1))
    assert ph.is_open(NOW) and not ph.is_open(NOW + timedelta(days=1)) and not ph.is_open(NOW - timedelta(1))
    assert d.open_phase([ph], NOW).id == "x" and d.open_phase([ph], NOW - timedelta(days=2)) is None
    assert d.parse_time("2026-05-10T00:00:00Z") == NOW == d.parse_time("2026-05-10T02:00:00+02:00")
    assert d.parse_time("2026-05-10T00:00:00") == NOW and d.parse_time("") is None
