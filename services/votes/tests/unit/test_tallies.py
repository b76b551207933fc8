from datetime import datetime, timezone

from agora.privacy import any_small
from votes import tallies as tl

WHEN = "2026-05-10T10:00:00Z"


def _r(t, target, voter, value, previous=0, personal=None, tt="idea"):
    return (t, {"target_type": tt, "target_id": target, "idea_id": target, "project_id": "p", "phase_id": "ph",
                "voter": voter, "value": value, "previous": previous, "personal": personal})


def _play(events, state=None, tenant="city"):
    state = state or tl.MemoryState()
    tallies = tl.Tallies(state)
    for pos, (t, data) in enumerate(events, 1):
        tallies.apply(t, data, position=pos, time=WHEN, tenant=tenant)
    return state


def test_age_bands():
    on = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert [tl.age_band(y, on) for y in (2010, 2006, 1987, 1986, 1960, 1930, None)] == \
        ["0-20", "20-40", "20-40", "40-60", "60-80", "80+", "unknown"]


def test_tallies_segments_manual_and_merge_without_double_count():
    state = _play([
        _r("ReactionCast", "A", "ann", 1, personal={"birth_year": 1990, "gender": "female", "district": "north"}),
        _r("ReactionCast", "A", "bob", -1, personal={"birth_year": 1950, "gender": "male"}),
        _r("ReactionCast", "B", "ann", 1),
        _r("ReactionCast", "A", "cid", 1),
        ("ManualVotesSet", {"idea_id": "A", "project_id": "p", "phase_id": "ph", "up": 10, "down": 2,
                            "reason": "paper", "by": "adm"}),
        _r("ReactionChanged", "A", "cid", -1, previous=1),
        _r("ReactionRetracted", "A", "cid", 0, previous=-1),
    ])
    t = state.get_tally("idea", "A")
    a = tl.public_view(t)
    assert (a["up"], a["down"], a["manual"], a["total"]["votes"], a["segments"]) == \
        (1, 1, {"up": 10, "down": 2}, 14, None)
    assert t["segments"]["age"] == {"20-40": {"up": 1, "down": 0}, "60-80": {"up": 0, "down": 1}}
    assert t["segments"]["district"]["unknown"] == {"up": 0, "down": 1}
    tallies = tl.Tallies(state)
    tallies.apply("IdeaMerged", {"idea_id": "A", "survivor_id": "B"}, position=99, time=WHEN, tenant="city")
    b, a = state.get_tally("idea", "B"), state.get_tally("idea", "A")
    # ann voted on both: counted once; bob's down and the paper votes follow the survivor
    assert (b["up"], b["down"], b["manual_up"]) == (1, 1, 10)
    assert (a["up"], a["down"], a["manual_up"], a["merged_into"]) == (0, 0, 0, "B")
    # ann retracts her direct vote on B: her vote on A (followed) counts again
    tallies.apply(*_r("ReactionRetracted", "B", "ann", 0, previous=1), position=100, time=WHEN, tenant="city")
    assert state.get_tally("idea", "B")["up"] == 1
    tallies.apply(*_r("ReactionRetracted", "A", "ann", 0, previous=1), position=101, time=WHEN, tenant="city")
    b = state.get_tally("idea", "B")
    assert (b["up"], b["down"]) == (0, 1)
    assert all(v > 0 for seg in b["segments"].values() for c in seg.values() for v in c.values() if v)


def test_staff_view_suppresses_small_cells_with_complementary_suppression():
    people = [("a%d" % i, {"birth_year": 1990, "gender": "female", "district": "north"}) for i in range(12)]
    people += [("b%d" % i, {"birth_year": 1950, "gender": "male", "district": "south"}) for i in range(3)]
    state = _play([_r("ReactionCast", "A", v, 1, personal=p) for v, p in people])
    t = state.get_tally("idea", "A")
    view = tl.staff_view(t, ["age", "gender", "district"], 5)
    # 12 and 3 with the total 15 published: 3 is small, and 12 would give it away
    assert view["segments"]["gender"] == {"female": {"up": "< 5", "down": 0}, "male": {"up": "< 5", "down": 0}}
    assert view["up"] == 15 and view["min_cell_size"] == 5
    assert not any_small(view["segments"], 5)
    # published segment kinds are a tenant setting; a big enough k suppresses everything small
    assert set(tl.staff_view(t, ["district"], 5)["segments"]) == {"district"}
    assert tl.staff_view(t, ["age"], 2)["segments"]["age"] == {"20-40": {"up": 12, "down": 0},
                                                               "60-80": {"up": 3, "down": 0}}


def test_forgotten_person_keeps_counting_without_demographics_or_pseudonym():
    ann = {"birth_year": 1990, "gender": "female", "district": "north"}
    live = _play([
        _r("ReactionCast", "A", "p-ann", 1, personal=ann),
        _r("ReactionCast", "B", "p-ann", -1, personal=ann),
        _r("ReactionCast", "A", "p-bob", 1, personal={"gender": "male"}),
        ("ManualVotesSet", {"idea_id": "A", "project_id": "p", "phase_id": "ph", "up": 1, "down": 0,
                            "reason": "paper", "by": "p-ann"}),
        ("PersonalDataForgotten", {"person": "p-ann"}),
    ])
    a, b = live.get_tally("idea", "A"), live.get_tally("idea", "B")
    assert (a["up"], b["down"], a["manual_up"]) == (2, 1, 1)
    assert a["segments"]["gender"] == {"male": {"up": 1, "down": 0}, "unknown": {"up": 1, "down": 0}}
    assert b["segments"]["age"] == {"unknown": {"up": 0, "down": 1}}
    text = repr((live.reactions, live.tallies, live.manual))
    assert "p-ann" not in text and "north" not in text and "1990" not in text
    # a merge after the erasure still counts the person once (one anonymous key for all their records)
    tl.Tallies(live).apply("IdeaMerged", {"idea_id": "B", "survivor_id": "A"}, position=50, time=WHEN,
                           tenant="city")
    assert (live.get_tally("idea", "A")["up"], live.get_tally("idea", "A")["down"]) == (2, 0)
    # a rebuild reads the shredded log (personal null): the same tallies and records
    rebuilt = _play([
        _r("ReactionCast", "A", "p-ann", 1),
        _r("ReactionCast", "B", "p-ann", -1),
        _r("ReactionCast", "A", "p-bob", 1, personal={"gender": "male"}),
        ("ManualVotesSet", {"idea_id": "A", "project_id": "p", "phase_id": "ph", "up": 1, "down": 0,
                            "reason": "paper", "by": "p-ann"}),
        ("PersonalDataForgotten", {"person": "p-ann"}),
    ])
    tl.Tallies(rebuilt).apply("IdeaMerged", {"idea_id": "B", "survivor_id": "A"}, position=50, time=WHEN,
                              tenant="city")
    assert rebuilt.tallies == live.tallies and rebuilt.reactions == live.reactions and rebuilt.manual == live.manual
