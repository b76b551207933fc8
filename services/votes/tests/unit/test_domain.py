from datetime import datetime, timedelta, timezone

import pytest

from agora.errors import Conflict, ValidationFailed
from votes import domain as d

NOW = datetime(2026, 5, 10, tzinfo=timezone.utc)


def phase(**settings):
    return d.Phase("ph1", "p1", "ideation", NOW - timedelta(days=1), NOW + timedelta(days=1),
                   d.VotingSettings(**settings))


class Ev:
    def __init__(self, type, data):
        self.type, self.data = type, data


def apply(agg, new):
    for t, data in new:
        agg.apply(t, data)
    return new


def test_age_bands():
    on = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert d.age_band(2010, on) == "0-20"
    assert d.age_band(2006, on) == "20-40"
    assert d.age_band(1987, on) == "20-40"
    assert d.age_band(1986, on) == "40-60"
    assert d.age_band(1960, on) == "60-80"
    assert d.age_band(1930, on) == "80+"
    assert d.age_band(None, on) == "unknown"


def test_cast_is_idempotent_change_and_retract_are_events():
    agg = d.CitizenReactions("p1", "alice")
    kw = dict(target_type="idea", target_id="i1", idea_id="i1", phase=phase(), personal={"birth_year": 1990})
    [(t, data)] = apply(agg, agg.react(value=1, **kw))
    assert t == "ReactionCast" and data["value"] == 1 and data["previous"] == 0
    assert data["personal"] == {"birth_year": 1990, "gender": None, "district": None}
    assert agg.react(value=1, **kw) == []
    [(t, data)] = apply(agg, agg.react(value=-1, **kw))
    assert (t, data["value"], data["previous"]) == ("ReactionChanged", -1, 1)
    kw.pop("target_type")
    [(t, data)] = apply(agg, agg.retract(target_type="idea", **{k: v for k, v in kw.items()}))
    assert (t, data["value"], data["previous"]) == ("ReactionRetracted", 0, -1)
    assert agg.retract(target_type="idea", **kw) == []


def test_up_only_phase_refuses_down_and_comments_take_likes_only():
    agg = d.CitizenReactions("p1", "alice")
    with pytest.raises(Conflict):
        agg.react(target_type="idea", target_id="i1", idea_id="i1", phase=phase(downvoting=False), value=-1,
                  personal={})
    with pytest.raises(ValidationFailed):
        agg.react(target_type="comment", target_id="c1", idea_id="i1", phase=phase(), value=-1, personal={})
    with pytest.raises(Conflict):
        agg.react(target_type="idea", target_id="i1", idea_id="i1", phase=phase(enabled=False), value=1,
                  personal={})


def test_limit_per_phase_counts_active_up_votes():
    agg = d.CitizenReactions("p1", "alice")
    ph = phase(max_up=2)
    for i in (1, 2):
        apply(agg, agg.react(target_type="idea", target_id=f"i{i}", idea_id=f"i{i}", phase=ph, value=1,
                             personal={}))
    with pytest.raises(Conflict) as err:
        agg.react(target_type="idea", target_id="i3", idea_id="i3", phase=ph, value=1, personal={})
    assert err.value.details["reason"] == "limit_reached"
    # retracting frees a slot; comment likes do not count
    apply(agg, agg.retract(target_type="idea", target_id="i1", idea_id="i1", phase=ph, personal={}))
    apply(agg, agg.react(target_type="comment", target_id="c1", idea_id="i1", phase=ph, value=1, personal={}))
    assert agg.react(target_type="idea", target_id="i3", idea_id="i3", phase=ph, value=1, personal={})


def test_merged_alias_reaction_is_found():
    agg = d.CitizenReactions("p1", "alice")
    apply(agg, agg.react(target_type="idea", target_id="A", idea_id="A", phase=phase(), value=1, personal={}))
    assert agg.react(target_type="idea", target_id="B", idea_id="B", phase=phase(), value=1, personal={},
                     aliases=["A"]) == []
    [(t, data)] = agg.react(target_type="idea", target_id="B", idea_id="B", phase=phase(), value=-1, personal={},
                            aliases=["A"])
    assert t == "ReactionChanged" and data["target_id"] == "A"


def test_manual_votes_need_a_reason_and_are_idempotent():
    with pytest.raises(ValidationFailed) as err:
        d.manual_votes(idea_id="i", project_id="p", phase_id=None, up=-1, down=0, reason=" ", by="adm",
                       previous=None)
    assert set(err.value.fields) == {"up", "reason"}
    [(t, data)] = d.manual_votes(idea_id="i", project_id="p", phase_id=None, up=5, down=1, reason="paper",
                                 by="adm", previous=None)
    assert t == "ManualVotesSet" and data["previous_up"] == 0
    assert d.manual_votes(idea_id="i", project_id="p", phase_id=None, up=5, down=1, reason="paper", by="adm",
                          previous={"up": 5, "down": 1}) == []


def _r(t, target, voter, value, previous=0, personal=None, tt="idea"):
    return (t, {"target_type": tt, "target_id": target, "idea_id": target, "project_id": "p", "phase_id": "ph",
                "voter": voter, "value": value, "previous": previous, "personal": personal or {}})


def test_tallies_segments_manual_and_merge_without_double_count():
    state = d.MemoryState()
    tallies = d.Tallies(state)
    when = "2026-05-10T10:00:00Z"
    events = [
        _r("ReactionCast", "A", "ann", 1, personal={"birth_year": 1990, "gender": "female", "district": "north"}),
        _r("ReactionCast", "A", "bob", -1, personal={"birth_year": 1950, "gender": "male"}),
        _r("ReactionCast", "B", "ann", 1),
        _r("ReactionCast", "A", "cid", 1),
        ("ManualVotesSet", {"idea_id": "A", "project_id": "p", "phase_id": "ph", "up": 10, "down": 2,
                            "reason": "paper", "by": "adm"}),
        _r("ReactionChanged", "A", "cid", -1, previous=1),
        _r("ReactionRetracted", "A", "cid", 0, previous=-1),
    ]
    for pos, (t, data) in enumerate(events, 1):
        tallies.apply(t, data, position=pos, time=when)
    a = d.tally_view(state.get_tally("idea", "A"))
    assert (a["up"], a["down"], a["manual"], a["total"]["votes"]) == (1, 1, {"up": 10, "down": 2}, 14)
    assert a["segments"]["age"]["20-40"] == {"up": 1, "down": 0}
    assert a["segments"]["age"]["60-80"] == {"up": 0, "down": 1}
    assert a["segments"]["district"]["unknown"] == {"up": 0, "down": 1}
    tallies.apply("IdeaMerged", {"idea_id": "A", "survivor_id": "B"}, position=99, time=when)
    b = d.tally_view(state.get_tally("idea", "B"))
    a = d.tally_view(state.get_tally("idea", "A"))
    # ann voted on both: counted once; bob's down and the paper votes follow the survivor
    assert (b["up"], b["down"], b["manual"]["up"]) == (1, 1, 10)
    assert (a["up"], a["down"], a["manual"]["up"], a["merged_into"]) == (0, 0, 0, "B")
    # ann retracts her direct vote on B: her vote on A (followed) counts again
    tallies.apply(*_r("ReactionRetracted", "B", "ann", 0, previous=1), position=100, time=when)
    assert state.get_tally("idea", "B")["up"] == 1
    tallies.apply(*_r("ReactionRetracted", "A", "ann", 0, previous=1), position=101, time=when)
    b = state.get_tally("idea", "B")
    assert (b["up"], b["down"]) == (0, 1)
    assert all(v >= 0 for seg in b["segments"].values() for c in seg.values() for v in c.values())


def test_settings_override():
    s = d.VotingSettings().overridden({"downvoting": False, "max_up": 3, "threshold": None})
    assert (s.downvoting, s.max_up, s.threshold) == (False, 3, None)
    ph = d.Phase("x", "p", start=NOW, end=NOW + timedelta(days=1))
    assert ph.is_open(NOW) and not ph.is_open(NOW + timedelta(days=1)) and not ph.is_open(NOW - timedelta(1))
    assert d.open_phase([ph], NOW).id == "x" and d.open_phase([ph], NOW - timedelta(days=2)) is None
