"""Counting rules for participatory budgeting -- exact, deterministic, pure.

Entry point: :func:`count` ``(instance, rule, tie_breaking=None, threshold=None, progress=None) -> Outcome``.

Rules (``RULES``):

* ``greedy``           -- projects by decreasing score; fund each one that still fits, skip the others
  (Warsaw, Amsterdam, Toulouse; pabutools ``greedy_utilitarian_welfare`` with ``Cost_Sat``).
* ``greedy-stop``      -- same order, stop at the first project that does not fit (Pabulib ``greedy-no-skip``).
* ``greedy-threshold`` -- ``greedy`` over the projects whose score is ``>= threshold`` (argument, else META
  ``min_project_score_threshold``).
* ``mes`` / ``mes-add1`` / ``mes-exhaust`` -- Method of Equal Shares with cost utilities, without completion,
  with add-one completion, or continued until the next step would overspend; see :mod:`budgets.mes`.
* ``phragmen``         -- sequential Phragmen (pabutools ``sequential_phragmen``): repeatedly buy the project
  minimising the supporters' new maximal load ``(sum of their loads + cost) / supporters``; stop as soon as a
  project with that minimal load does not fit.

Score = votes for approval / choose-1, points for cumulative / scoring, positional points for ordinal
(:mod:`budgets.ranking`).  MES and Phragmen read every ballot as approval of the projects it supports.
Tie-breaking is :data:`budgets.ranking.DEFAULT_TIE_BREAKING` (lower cost, then more votes, then project id)
unless configured; the same order breaks ties in every rule.

Deliberate deviations from pabutools 1.2.3 (documented, tested): projects nobody supports are never funded
(pabutools' greedy and Phragmen append them once every supported project is done), and MES buys supported
zero-cost projects up front.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable

import numpy as np

from budgets.approvals import ApprovalProfile
from budgets.instance import Instance, format_amount
from budgets.mes import MesRun, equal_shares
from budgets.ranking import ProjectTally, normalise_tie_breaking, rank_by_score, tally, tie_key_function

RULES = ("greedy", "greedy-stop", "greedy-threshold", "mes", "mes-add1", "mes-exhaust", "phragmen")

PABULIB_RULE_NAMES = {
    "greedy": "greedy",
    "greedy-no-skip": "greedy-stop",
    "greedy-threshold": "greedy-threshold",
    "equalshares": "mes",
    "equalshares/add1": "mes-add1",
    # Wieliczka 2023's official label; its published result is reproduced only by continuing MES until the
    # next step would overspend (see the data notes), which is what ``mes-exhaust`` does.
    "equalshares/add1-comparison": "mes-exhaust",
    "phragmen": "phragmen",
    "seq-phragmen": "phragmen",
}
"""Pabulib META ``rule`` values -> our rule names (anything else, e.g. ``unknown``, is not ours)."""


class UnknownRule(ValueError):
    """A rule name that is not one of :data:`RULES` (or a Pabulib rule we do not implement)."""


def rule_from_pabulib(name: str | None) -> str:
    """Our rule for a Pabulib META ``rule`` value; raises :class:`UnknownRule` with a reason."""
    if name is None or not name.strip():
        raise UnknownRule("the file has no META 'rule' field; pass --rule")
    key = name.strip()
    if key in RULES:
        return key
    if key not in PABULIB_RULE_NAMES:
        raise UnknownRule(f"Pabulib rule {key!r} is not implemented (known: {sorted(PABULIB_RULE_NAMES)})")
    return PABULIB_RULE_NAMES[key]


@dataclass
class ProjectResult:
    """Per-project result; ``mes`` explains MES decisions (payments of winners, leftover support of losers)."""

    id: str
    cost: Fraction
    votes: int
    score: Fraction
    selected: bool
    mes: dict | None = None

    def to_dict(self) -> dict:
        out = {"id": self.id, "cost": format_amount(self.cost), "votes": self.votes,
               "score": format_amount(self.score), "selected": self.selected}
        if self.mes is not None:
            out["mes"] = self.mes
        return out


@dataclass
class Outcome:
    """Result of counting a round: selected ids (in selection order), total cost and per-project details."""

    rule: str
    budget: Fraction
    selected: list[str]
    total_cost: Fraction
    projects: list[ProjectResult]
    tie_breaking: tuple[str, ...]
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able dict; amounts are exact strings (see :func:`budgets.instance.format_amount`)."""
        return {
            "rule": self.rule,
            "budget": format_amount(self.budget),
            "selected": list(self.selected),
            "total_cost": format_amount(self.total_cost),
            "tie_breaking": list(self.tie_breaking),
            "details": self.details,
            "projects": [p.to_dict() for p in self.projects],
        }


# ---------------------------------------------------------------- greedy family

def _greedy(tallies: list[ProjectTally], budget: Fraction, tie_breaking, skip: bool) -> list[int]:
    chosen, spent = [], Fraction(0)
    for t in rank_by_score(tallies, tie_breaking):
        if t.score <= 0:
            break
        if spent + t.cost <= budget:
            chosen.append(t.index)
            spent += t.cost
        elif not skip:
            break
    return chosen


# ---------------------------------------------------------------- Phragmen

def _phragmen(prof: ApprovalProfile, budget: Fraction, tie_rank: np.ndarray) -> list[int]:
    """Sequential Phragmen; a voter's load is the max-load at which its last funded project was bought."""
    costs = prof.costs
    remaining = {j for j in range(prof.n_projects) if prof.supporters[j] > 0 and costs[j] <= budget}
    last = np.zeros(len(prof.multiplicity), dtype=np.int64)  # 0 = no funded project yet, else 1 + step
    loads: list[Fraction] = [Fraction(0)]
    chosen: list[int] = []
    spent = Fraction(0)
    while remaining:
        counts = prof.class_counts(last, len(loads))
        best: Fraction | None = None
        tied: list[int] = []
        for j in remaining:
            col = counts[:, j]
            load_sum = sum((loads[s] * int(round(col[s])) for s in np.flatnonzero(col > 0.5)), Fraction(0))
            value = (load_sum + costs[j]) / int(prof.supporters[j])
            if best is None or value < best:
                best, tied = value, [j]
            elif value == best:
                tied.append(j)
        if any(spent + costs[j] > budget for j in tied):
            break
        j = min(tied, key=lambda k: tie_rank[k])
        chosen.append(j)
        spent += costs[j]
        remaining.discard(j)
        loads.append(best)
        last[prof.supporter_ballots(j)] = len(loads) - 1
    return chosen


# ---------------------------------------------------------------- dispatcher

def _tie_rank(tallies: list[ProjectTally], tie_breaking) -> np.ndarray:
    key = tie_key_function(tie_breaking)
    rank = np.empty(len(tallies), dtype=np.int64)
    for pos, t in enumerate(sorted(tallies, key=key)):
        rank[t.index] = pos
    return rank


def _mes_explanations(prof: ApprovalProfile, run: MesRun) -> dict[int, dict]:
    """Why each project was (not) funded, from the final MES run."""
    out: dict[int, dict] = {}
    for j in run.selected:
        if j in run.price:
            out[j] = {
                "rho": format_amount(run.rho[j]),
                "max_payment": format_amount(run.price[j]),
                "payments": [[format_amount(a), n] for a, n in run.payments[j]],
            }
    if run.budget_left is None:
        return out
    budget_left = run.budget_left
    chosen = set(run.selected)
    for j in range(prof.n_projects):
        if j in chosen or prof.supporters[j] == 0:
            continue
        left = budget_left[j]
        out[j] = {"supporters_budget_left": format_amount(left),
                  "reason": "supporters' remaining budget is below the cost" if left < prof.costs[j]
                  else "supporters' money was spent on projects with better value for money first"}
    return out


def count(
    instance: Instance,
    rule: str,
    tie_breaking: Iterable[str] | None = None,
    threshold: Fraction | int | str | None = None,
    progress: Callable[[Fraction], None] | None = None,
) -> Outcome:
    """Count ``instance`` with ``rule`` (one of :data:`RULES`); pure and deterministic.

    ``tie_breaking``: criteria of :mod:`budgets.ranking` (default lower cost, more votes, project id).
    ``threshold``: minimal score for ``greedy-threshold``.  ``progress(per_voter_budget)`` is called before
    each rerun of the MES completions.
    """
    if rule not in RULES:
        raise UnknownRule(f"unknown rule {rule!r}; use one of {RULES}")
    tie_breaking = normalise_tie_breaking(tie_breaking)
    tallies = tally(instance)
    budget = instance.budget
    details: dict = {}
    mes_info: dict[int, dict] = {}
    if rule in ("greedy", "greedy-stop"):
        chosen = _greedy(tallies, budget, tie_breaking, skip=(rule == "greedy"))
    elif rule == "greedy-threshold":
        if threshold is None:
            threshold = instance.meta.get("min_project_score_threshold")
        if threshold is None:
            raise ValueError("greedy-threshold needs a threshold (argument or META min_project_score_threshold)")
        limit = Fraction(str(threshold)) if not isinstance(threshold, (int, Fraction)) else Fraction(threshold)
        details["threshold"] = format_amount(limit)
        chosen = _greedy([t for t in tallies if t.score >= limit], budget, tie_breaking, skip=True)
    else:
        prof = ApprovalProfile.from_instance(instance)
        rank = _tie_rank(tallies, tie_breaking)
        if rule == "phragmen":
            chosen = _phragmen(prof, budget, rank)
        else:
            completion = {"mes": None, "mes-add1": "add1", "mes-exhaust": "exhaust"}[rule]
            run = equal_shares(prof, budget, rank, completion=completion, progress=progress)
            chosen = run.selected
            details["voter_budget"] = format_amount(run.voter_budget)
            details["initial_voter_budget"] = format_amount(budget / max(prof.n_voters, 1))
            mes_info = _mes_explanations(prof, run)
    chosen_set = set(chosen)
    projects = [
        ProjectResult(t.id, t.cost, t.votes, t.score, t.index in chosen_set, mes_info.get(t.index))
        for t in tallies
    ]
    return Outcome(
        rule=rule,
        budget=budget,
        selected=[tallies[j].id for j in chosen],
        total_cost=sum((tallies[j].cost for j in chosen), Fraction(0)),
        projects=projects,
        tie_breaking=tie_breaking,
        details=details,
    )
