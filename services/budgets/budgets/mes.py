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

Speed: a voter's budget only depends on which bought projects it supports, so voters are kept in *classes*
of equal exact budget (merged whenever two classes reach the same budget).  Each step computes every
project's ``rho`` with a vectorised float64 pass over (class x project) counts -- using
``q = max_k (c - S_<k) / (N - N_<k)`` over the classes sorted by budget -- and then recomputes, with exact
``Fraction`` arithmetic, only the few projects within a tiny tolerance of the float minimum (and affordability
only where the float sum is borderline).  All decisions are therefore exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from budgets.approvals import ApprovalProfile

_REL_TOL = 1e-7


@dataclass
class MesRun:
    """One MES run: bought projects in order and, per bought project, ``rho``, price and payments."""

    voter_budget: Fraction
    selected: list[int]
    rho: dict[int, Fraction] = field(default_factory=dict)
    price: dict[int, Fraction] = field(default_factory=dict)
    payments: dict[int, list[tuple[Fraction, int]]] = field(default_factory=dict)
    voter_class: np.ndarray | None = None
    class_budgets: list[Fraction] | None = None

    def total_cost(self, costs: Sequence[Fraction]) -> Fraction:
        return sum((costs[j] for j in self.selected), Fraction(0))


def _exact_price(cost: Fraction, supporters: int, groups) -> Fraction | None:
    """Price ``q`` for ``groups`` = (budget, count) ascending by budget; ``None`` if unaffordable."""
    remaining, left = cost, supporters
    for budget, count in groups:
        if remaining <= left * budget:
            return remaining / left
        remaining -= count * budget
        left -= count
    return None


class _Run:
    """State of a single MES run (classes of voters with equal exact budgets)."""

    def __init__(self, prof: ApprovalProfile, voter_budget: Fraction, eligible: np.ndarray, tie_rank: np.ndarray):
        self.prof = prof
        self.tie_rank = tie_rank
        self.cost_f = np.array([float(c) for c in prof.costs])
        self.active = eligible.copy()
        self.voter_class = np.zeros(len(prof.multiplicity), dtype=np.int64)
        self.budgets: list[Fraction] = [Fraction(voter_budget)]
        self.float_budgets = np.array([float(voter_budget)])
        self.result = MesRun(voter_budget=Fraction(voter_budget), selected=[])

    def _groups(self, order: list[int], counts: np.ndarray, j: int):
        col = counts[order, j]
        return [(self.budgets[order[r]], int(round(col[r]))) for r in np.flatnonzero(col > 0.5)]

    def step(self) -> bool:
        """Buy one project; ``False`` when none is affordable."""
        prof = self.prof
        counts = prof.class_counts(self.voter_class, len(self.budgets))
        fb = self.float_budgets
        order = np.argsort(fb, kind="stable").tolist()
        if len(order) > 1 and np.any(np.diff(fb[order]) == 0):  # equal floats: order those exactly
            order = sorted(order, key=lambda k: (fb[k], self.budgets[k]))
        idx = np.flatnonzero(self.active)
        if idx.size == 0:
            return False
        cs = counts[order][:, idx]
        bs = fb[order][:, None]
        paid = cs * bs
        total_s = paid.sum(0)
        cost = self.cost_f[idx]
        # affordability: float screen, exact check where borderline
        tol = _REL_TOL * cost
        affordable = total_s >= cost
        for t in np.flatnonzero(np.abs(total_s - cost) <= tol):
            j = idx[t]
            groups = self._groups(order, counts, j)
            affordable[t] = sum(b * n for b, n in groups) >= prof.costs[j]
        self.active[idx[~affordable]] = False
        if not affordable.any():
            return False
        cs, paid, cost, idx = cs[:, affordable], paid[:, affordable], cost[affordable], idx[affordable]
        n_tot = cs.sum(0)
        den = n_tot - (np.cumsum(cs, 0) - cs)
        num = cost - (np.cumsum(paid, 0) - paid)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(den > 0.5, num / np.where(den > 0.5, den, 1.0), -np.inf).max(0)
        rho = q / cost
        best = rho.min()
        candidates = idx[rho <= best * (1 + _REL_TOL) + 1e-300]
        exact = []
        for j in candidates:
            groups = self._groups(order, counts, j)
            price = _exact_price(prof.costs[j], int(prof.supporters[j]), groups)
            if price is not None:
                exact.append((price / prof.costs[j], self.tie_rank[j], int(j), price, groups))
        if not exact:  # float screen disagreed with exact affordability for all candidates: drop them
            self.active[candidates] = False
            return bool(self.active.any())
        rho_j, _, j, price, groups = min(exact, key=lambda e: (e[0], e[1]))
        self._buy(j, rho_j, price, groups)
        return True

    def _buy(self, j: int, rho_j: Fraction, price: Fraction, groups) -> None:
        res = self.result
        res.selected.append(j)
        res.rho[j], res.price[j] = rho_j, price
        pays: dict[tuple[int, int], list] = {}
        for budget, count in groups:
            pay = min(budget, price)
            entry = pays.setdefault((pay.numerator, pay.denominator), [pay, 0])
            entry[1] += count
        res.payments[j] = sorted(((a, n) for a, n in pays.values()), reverse=True)
        self.active[j] = False
        approves = np.zeros(len(self.voter_class), dtype=np.int64)
        approves[self.prof.supporter_ballots(j)] = 1
        keys, inverse = np.unique(self.voter_class * 2 + approves, return_inverse=True)
        new_ids: dict[tuple[int, int], int] = {}
        new_budgets: list[Fraction] = []
        new_floats: list[float] = []
        remap = np.empty(len(keys), dtype=np.int64)
        old_floats = self.float_budgets
        for t, key in enumerate(keys.tolist()):
            budget, as_float = self.budgets[key >> 1], old_floats[key >> 1]
            if key & 1:
                budget = budget - price if budget > price else Fraction(0)
                as_float = float(budget)
            ident = (budget.numerator, budget.denominator)
            if ident not in new_ids:
                new_ids[ident] = len(new_budgets)
                new_budgets.append(budget)
                new_floats.append(as_float)
            remap[t] = new_ids[ident]
        self.voter_class = remap[inverse.reshape(-1)]
        self.budgets = new_budgets
        self.float_budgets = np.array(new_floats)

    def run(self) -> MesRun:
        while self.step():
            pass
        self.result.voter_class = self.voter_class
        self.result.class_budgets = self.budgets
        return self.result


def mes_once(prof: ApprovalProfile, voter_budget: Fraction, tie_rank: np.ndarray) -> MesRun:
    """One MES run with the given starting budget per voter (projects with cost 0 are bought up front)."""
    eligible = (prof.supporters > 0) & np.array([c > 0 for c in prof.costs], dtype=bool)
    free = [j for j in range(prof.n_projects) if prof.supporters[j] > 0 and prof.costs[j] == 0]
    run = _Run(prof, voter_budget, eligible, tie_rank).run()
    run.selected = free + run.selected
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
    if completion not in (None, "add1", "exhaust"):
        raise ValueError(f"unknown MES completion {completion!r}")
    if prof.n_voters == 0:
        return MesRun(voter_budget=Fraction(0), selected=[])
    costs = prof.costs
    per_voter = Fraction(budget) / prof.n_voters
    run = mes_once(prof, per_voter, tie_rank)
    if completion is None:
        return run
    eligible = [j for j in range(prof.n_projects) if prof.supporters[j] > 0 and costs[j] > 0]
    bound = Fraction(budget) * (prof.n_voters + 1) / prof.n_voters
    previous = MesRun(voter_budget=per_voter, selected=[])
    while True:
        spent = run.total_cost(costs)
        if spent > budget:
            return previous
        chosen = set(run.selected)
        left = [j for j in eligible if j not in chosen]
        if not left:
            return run
        if completion == "add1" and all(spent + costs[j] > budget for j in left):
            return run
        if per_voter + increment > bound:
            return run
        previous = run
        per_voter += increment
        if progress is not None:
            progress(per_voter)
        run = mes_once(prof, per_voter, tie_rank)
