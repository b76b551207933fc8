"""BudgetRound aggregate: commands return events, state is rebuilt from events, every violation is named."""
from __future__ import annotations

import pytest

from agora.errors import Conflict, ValidationFailed
from budgets.domain import BallotRejected, BudgetRound

DomainError = (Conflict, ValidationFailed)


def make_round(ballot_type="knapsack", constraints=None, budget="100000", costs=(40000, 30000, 50000, 10000)):
    r = BudgetRound()
    events = r.open(round_id="r1", tenant_id="t1", project_id="pb-2025", district="Noord", budget=budget,
                    currency="EUR", ballot_type=ballot_type, constraints=constraints or {}, rule="greedy",
                    at="2025-01-01T00:00:00Z")
    r.apply_all(events)
    for i, cost in enumerate(costs, start=1):
        new = r.add_project(id=f"p{i}", cost=cost, title=f"Project {i}")
        r.apply_all(new)
        events += new
    return r, events


def codes(round_, selection):
    return {e.code for e in round_.validate_ballot(selection)}


def test_knapsack_names_every_violation():
    r, _ = make_round(constraints={"min_total_share_percent": 90, "max_projects": 2})
    assert codes(r, ["p1", "p2"]) == {"below_minimum_share"}
    assert codes(r, ["p1", "p2", "p3", "p9", "p1"]) == {"over_budget", "too_many_projects", "unknown_project",
                                                        "duplicate_project"}
    assert codes(r, ["p1", "p3", "p4"]) == {"too_many_projects"}
    assert codes(r, ["p1", "p3"]) == set()
    assert codes(r, []) == {"empty_ballot", "below_minimum_share"}


def test_k_approval_choose1_ordinal():
    r, _ = make_round("approval", {"min_projects": 2, "max_projects": 3})
    assert codes(r, ["p1"]) == {"too_few_projects"}
    assert codes(r, ["p1", "p2", "p3", "p4"]) == {"too_many_projects"}
    assert codes(r, {"p1": 2, "p2": 1}) == {"points_not_allowed"}
    one, _ = make_round("choose-1")
    assert codes(one, ["p1", "p2"]) == {"too_many_projects"}
    ranked, _ = make_round("ordinal", {"max_projects": 3})
    assert codes(ranked, ["p3", "p1"]) == set()
    assert codes(ranked, ["p3", "p3"]) == {"duplicate_project"}


def test_cumulative_points_constraints():
    r, _ = make_round("cumulative", {"max_points_per_project": 3, "max_total_points": 5, "min_total_points": 2})
    assert codes(r, {"p1": 3, "p2": 2}) == set()
    assert codes(r, {"p1": 4, "p2": 2}) == {"too_many_points_for_project", "too_many_points"}
    assert codes(r, {"p1": 1}) == {"too_few_points"}
    assert codes(r, {"p1": 0}) == {"invalid_points"}
    assert codes(r, ["p1"]) == {"points_required"}
    with pytest.raises(BallotRejected) as err:
        r.cast_ballot(voter="v", selection={"p1": 4, "p9": 9})
    assert {e.code for e in err.value.errors} == {"unknown_project", "too_many_points_for_project",
                                                   "too_many_points"}


def test_cast_replace_withdraw_close_and_outcome():
    r, events = make_round()
    demo = {"birth_year": 1980, "gender": "female", "district": "Noord"}
    for voter, sel in (("v1", ["p1", "p2"]), ("v2", ["p1", "p4"]), ("v3", ["p3"])):
        new = r.cast_ballot(voter=voter, selection=sel, personal=demo, at="t")
        assert new[0].type == "BallotCast"
        r.apply_all(new)
        events += new
    replaced = r.cast_ballot(voter="v3", selection=["p2", "p4"], personal={"age": 30})
    assert replaced[0].type == "BallotReplaced"
    r.apply_all(replaced)
    events += replaced
    assert r.ballot("v3").projects == ("p2", "p4") and r.ballot("v3").replacements == 1
    assert r.ballot("v3").personal == {"birth_year": None, "age": 30, "gender": None, "district": None}
    withdrawn = r.withdraw_ballot(voter_id="v2")
    r.apply_all(withdrawn)
    events += withdrawn
    assert r.ballot("v2") is None
    with pytest.raises(Conflict) as err:
        r.add_project(id="p5", cost=1)
    assert err.value.details["reason"] == "ballots_already_cast"
    closed = r.close(at="t2")
    assert closed[0].data["ballots"] == 2
    r.apply_all(closed)
    events += closed
    with pytest.raises(DomainError):
        r.withdraw_ballot(voter_id="v1")
    with pytest.raises(DomainError):
        r.cast_ballot(voter="v9", selection=["p1"])
    from budgets.rules import count
    outcome = r.record_outcome(count(r.to_instance(), r.counting_rule()))
    assert outcome[0].type == "OutcomeComputed"
    assert outcome[0].data["selected"] == ["p2", "p4", "p1"]  # p4 and p1 tie on 1 vote: cheaper first
    assert outcome[0].data["total_cost"] == "80000" and outcome[0].data["ballots"] == 2
    rebuilt = BudgetRound.from_events(events + outcome)
    assert rebuilt.ballots == r.ballots and rebuilt.status == "closed"
    assert rebuilt.outcome["selected"] == ["p2", "p4", "p1"] and rebuilt.version == len(events) + 1


def test_commands_do_not_mutate_and_reject_bad_input():
    r, _ = make_round()
    before = r.version
    r.cast_ballot(voter="v1", selection=["p1"])
    assert r.version == before and r.ballot("v1") is None
    with pytest.raises(ValidationFailed) as err:
        BudgetRound().open(round_id="x", tenant_id="t", project_id="p", district=None, budget="0",
                           currency="EUR", ballot_type="knapsack")
    assert err.value.details["reason"] == "invalid_budget"
    with pytest.raises(Conflict) as err:
        r.add_project(id="p1", cost=5)
    assert err.value.details["reason"] == "duplicate_project"
    with pytest.raises(ValidationFailed) as err:
        r.add_project(id="px", cost=-5)
    assert err.value.details["reason"] == "invalid_cost" and "cost" in err.value.fields
    r.apply_all(r.add_project(id="pi", cost=5, attributes={"idea_id": "i-1"}))
    with pytest.raises(Conflict) as err:
        r.add_project(id="pj", cost=5, attributes={"idea_id": "i-1"})
    assert err.value.details["reason"] == "duplicate_idea"


def test_commands_return_contract_events():
    """Domains return agora.events.NewEvent whose data satisfies the contract (no mapper in between)."""
    from agora.events import NewEvent, validate
    r, events = make_round()
    new = r.cast_ballot(voter="p-123", selection=["p1"], personal={"age": 30, "consent": True}, at="t")
    assert all(isinstance(e, NewEvent) for e in events + new)
    assert new[0].data["voter"] == new[0].data["voter_id"] == "p-123" and "consent" not in new[0].data["personal"]
    for e in events + new + r.close(ballots=1, closed_by="p-admin"):
        validate(e.type, e.data)
    assert r.cast_ballot(voter="p-9", selection=["p1"], personal=None)[0].data["personal"] is None
