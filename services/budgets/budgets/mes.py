"""Method of Equal Shares (MES) with cost utilities, exact and fast.

Semantics (identical to pabutools 1.2.3 ``method_of_equal_shares(sat_class=Cost_Sat)``):

* every voter starts with ``budget / n_voters``; a project ``p`` of cost ``c`` supported by voters ``S`` is
  *affordable* while ``sum(b_i for i in S) >= c``; its price ``q`` is the smallest value with
  ``sum(min(b_i, q) for i in S) == c`` and its affordability ``rho = q / c`` (utility of a supporter = cost);
* each step buys the affordable project with the smallest ``rho`` (ties: the configured tie-breaking), each
  supporter pays ``min(b_i, q)``; stop when no project is affordable.
* completions (both increase every voter's starting budget by ``increment`` = 1 currency unit and rerun):
  ``"add1"`` -- stop at the first outcome that is exhaustive (no unselected supported project still fits in
  the budget; pabutools ``voter_budget_increment=1``) and return it, or, if an outcome overspends, return the
  previous one (Swiecie 2023, Assen 2024).
  ``"exhaust"`` -- ignore exhaustiveness and continue until the next run would overspend, returning the last
  feasible outcome (pabutools ``exhaustion_by_budget_increase(..., exhaustive_stop=False,
  budget_step=n_voters)``; reproduces Wieliczka 2023).  Both also stop once every supported project is
  bought (nothing can change any more).
* deliberate deviation: a supported project of cost 0 is bought up front (pabutools' ``Cost_Sat`` gives it
  utility 0 and never buys it).

Implementation: :func:`mes_once` (used by :func:`equal_shares`) is the fast one of :mod:`budgets._mes_fast`
(per-ballot float screen, lazy ``rho`` updates, exact budgets as integer combinations of the prices); all
decisions are exact.  The original class-based implementation is the test oracle
(``tests/mes_reference.py``, plugged in through :func:`complete`'s ``once``).

The completions may skip budgets whose outcome is provably unchanged (``kept``); the run they report
(``voter_budget``, prices, payments) is nevertheless always the one of the plain one-increment-at-a-time loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from budgets._mes_fast import _FOREVER, FastRun, Prepared
from budgets.approvals import ApprovalProfile


@dataclass
class MesRun:
    """One MES run: bought projects in order and, per bought project, ``rho``, price and payments."""

    voter_budget: Fraction
    selected: list[int]
    rho: dict[int, Fraction] = field(default_factory=dict)
    price: dict[int, Fraction] = field(default_factory=dict)
    payments: dict[int, list[tuple[Fraction, int]]] = field(default_factory=dict)
    budget_left: dict[int, Fraction] | None = None
    state: object = None  # fast run state, for the explanations of the returned run

    def total_cost(self, costs: Sequence[Fraction]) -> Fraction:
        return sum((costs[j] for j in self.selected), Fraction(0))


def mes_once(prof: ApprovalProfile, voter_budget: Fraction, tie_rank: np.ndarray,
             parametric: bool = False, prep: Prepared | None = None) -> tuple[MesRun, int]:
    """One MES run with the given starting budget per voter (projects with cost 0 are bought up front).

    Returns the run and ``kept`` (with ``parametric``, the same outcome is guaranteed for every starting
    budget ``voter_budget + t`` with integer ``0 <= t <= kept``; else 0).  Payments and the supporters'
    budgets left are filled in by :func:`explain` (only the returned run of a completion needs them).
    """
    prep = prep or Prepared(prof)
    eligible = (prof.supporters > 0) & np.array([c > 0 for c in prof.costs], dtype=bool)
    free = [j for j in range(prof.n_projects) if prof.supporters[j] > 0 and prof.costs[j] == 0]
    state = FastRun(prep, Fraction(voter_budget), eligible, tie_rank, parametric).run()
    run = MesRun(voter_budget=Fraction(voter_budget), selected=free + list(state.steps),
                 rho=dict(zip(state.steps, state.rhos)), price=dict(zip(state.steps, state.prices)),
                 state=state)
    return run, (min(state.kept, _FOREVER) if parametric else 0)


def explain(prof: ApprovalProfile, run: MesRun) -> MesRun:
    """Fill ``run.payments`` and ``run.budget_left`` (supported, unselected projects) of a fast run."""
    state = run.state
    if state is None or run.budget_left is not None:
        return run
    run.payments = state.payments()
    chosen = set(run.selected)
    run.budget_left = {j: state.budget_left(j) for j in range(prof.n_projects)
                       if j not in chosen and prof.supporters[j] > 0}
    return run


def equal_shares(
    prof: ApprovalProfile,
    budget: Fraction,
    tie_rank: np.ndarray,
    completion: str | None = None,
    increment: Fraction = Fraction(1),
    progress=None,
) -> MesRun:
    """MES on ``prof`` for a round of ``budget``; ``completion`` is ``None``, ``"add1"`` or ``"exhaust"``.

    ``tie_rank[j]`` is project ``j``'s position in the tie-breaking order (smaller wins).  ``progress``, if
    given, is called with the current per-voter budget before every rerun.
    """
    prep = Prepared(prof) if prof.n_voters else None
    once = lambda vb, par: mes_once(prof, vb, tie_rank, par, prep)  # noqa: E731
    return explain(prof, complete(prof, budget, completion, increment, progress, once))


def complete(prof: ApprovalProfile, budget: Fraction, completion, increment, progress, once) -> MesRun:
    """The completion loop over ``once(per_voter_budget, parametric) -> (MesRun, kept)`` (one MES run)."""
    if completion not in (None, "add1", "exhaust"):
        raise ValueError(f"unknown MES completion {completion!r}")
    if prof.n_voters == 0:
        return MesRun(voter_budget=Fraction(0), selected=[])
    costs = prof.costs
    per_voter = Fraction(budget) / prof.n_voters
    parametric = completion is not None and increment == 1
    run, kept = once(per_voter, parametric)
    if completion is None:
        return run
    eligible = [j for j in range(prof.n_projects) if prof.supporters[j] > 0 and costs[j] > 0]
    bound = Fraction(budget) * (prof.n_voters + 1) / prof.n_voters
    previous = MesRun(voter_budget=per_voter, selected=[])

    def last_before(run_: MesRun, next_budget: Fraction) -> MesRun:
        # skipped budgets give the same outcome as ``run_``; report the run at the last budget before
        # ``next_budget`` -- exactly what the plain one-increment-at-a-time loop returns (independent of skips)
        if next_budget - increment == run_.voter_budget:
            return run_
        return once(next_budget - increment, False)[0]

    while True:
        spent = run.total_cost(costs)
        if spent > budget:
            return last_before(previous, per_voter)
        chosen = set(run.selected)
        left = [j for j in eligible if j not in chosen]
        if not left:
            return run
        if completion == "add1" and all(spent + costs[j] > budget for j in left):
            return run
        if per_voter + increment > bound:
            return run
        previous = run
        # the outcome (hence every stop test) is identical for the next ``kept`` increments: skip them
        skip = min(kept, int((bound - per_voter) // increment)) if kept else 0
        per_voter += increment * (skip + 1)
        if per_voter > bound:
            return last_before(run, per_voter)
        if progress is not None:
            progress(per_voter)
        run, kept = once(per_voter, parametric)
