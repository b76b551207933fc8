"""Run pabutools 1.2.3 (GPL-3: tests and benches only) on a :class:`budgets.instance.Instance`.

Same rule semantics and the same tie-breaking order as :func:`budgets.rules.count`, so outcomes can be
compared set-for-set.  ``multiprofile=True`` merges identical ballots (pabutools' fastest input).
"""
from __future__ import annotations

from fractions import Fraction

from pabutools.election import ApprovalBallot, ApprovalProfile, Cost_Sat, Instance as PInstance, Project as PProject
from pabutools.rules import (
    exhaustion_by_budget_increase,
    greedy_utilitarian_welfare,
    method_of_equal_shares,
    sequential_phragmen,
)
from pabutools.tiebreaking import TieBreakingRule

from budgets.ranking import tally, tie_key_function


def _mpq(x: Fraction):
    from gmpy2 import mpq

    return mpq(x.numerator, x.denominator)


def to_pabutools(instance, multiprofile: bool = False):
    projects = {p.id: PProject(p.id, _mpq(p.cost)) for p in instance.projects}
    pinst = PInstance(projects.values(), budget_limit=_mpq(instance.budget))
    ballots = []
    for v in instance.votes:
        chosen = v.projects if v.points is None else [p for p, x in zip(v.projects, v.points) if x > 0]
        ballots.append(ApprovalBallot([projects[p] for p in chosen], name=v.voter_id))
    profile = ApprovalProfile(ballots, instance=pinst)
    if multiprofile:
        profile = profile.as_multiprofile()
    return pinst, profile


def tie_breaking_rule(instance, criteria=None) -> TieBreakingRule:
    key = tie_key_function(criteria)
    keys = {t.id: key(t) for t in tally(instance)}
    return TieBreakingRule(lambda inst, prof, proj: keys[proj.name])


def pabutools_outcome(instance, rule: str, criteria=None, multiprofile: bool = False) -> set[str]:
    """Selected ids by pabutools for one of our rules (greedy, mes, mes-add1, mes-exhaust, phragmen)."""
    pinst, prof = to_pabutools(instance, multiprofile)
    tie = tie_breaking_rule(instance, criteria)
    if rule == "greedy":
        out = greedy_utilitarian_welfare(pinst, prof, sat_class=Cost_Sat, tie_breaking=tie)
    elif rule == "mes":
        out = method_of_equal_shares(pinst, prof, sat_class=Cost_Sat, tie_breaking=tie)
    elif rule == "mes-add1":
        out = method_of_equal_shares(pinst, prof, sat_class=Cost_Sat, tie_breaking=tie, voter_budget_increment=1)
    elif rule == "mes-exhaust":
        out = exhaustion_by_budget_increase(pinst, prof, method_of_equal_shares,
                                           {"sat_class": Cost_Sat, "tie_breaking": tie},
                                           exhaustive_stop=False, budget_step=prof.num_ballots())
    elif rule == "phragmen":
        out = sequential_phragmen(pinst, prof, tie_breaking=tie)
    else:
        raise ValueError(rule)
    return {p.name for p in out}
