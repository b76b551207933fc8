"""The original class-based Method of Equal Shares run: the test oracle of ``budgets._mes_fast``.

Moved out of the service package (test code is not shipped). It keeps voters in *classes* of equal exact budget,
computes every project's ``rho`` with a vectorised float64 pass over (class x project) counts --
``q = max_k (c - S_<k) / (N - N_<k)`` over the classes sorted by budget -- and then recomputes, with exact
``Fraction`` arithmetic, only the few projects within a tiny tolerance of the float minimum (and affordability only
where the float sum is borderline). Use :func:`reference_equal_shares` like :func:`budgets.mes.equal_shares`.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from budgets.approvals import ApprovalProfile
from budgets.mes import MesRun, complete

_REL_TOL = 1e-7


def _exact_price(cost: Fraction, supporters: int, groups) -> tuple[Fraction, int] | None:
    """``(q, n_poor)`` for ``groups`` = (class, budget, count) ascending by budget; ``None`` if unaffordable.

    The first ``n_poor`` groups pay their whole budget, the others pay ``q``.
    """
    remaining, left = cost, supporters
    for pos, (_, budget, count) in enumerate(groups):
        if remaining <= left * budget:
            return remaining / left, pos
        remaining -= count * budget
        left -= count
    return None


def _steps_kept(a: np.ndarray, b: np.ndarray, tol_a: np.ndarray, tol_b: np.ndarray) -> int:
    """Largest integer ``t`` such that ``a + b*s >= 0`` surely holds for every ``s`` in ``[0, t]`` (float data).

    Conservative by construction: the margin ``tol_a`` is taken off ``a`` and ``tol_b`` added to the slope.
    """
    if a.size == 0:
        return _FOREVER
    a_low = a - tol_a
    if np.any(a_low <= 0):
        return 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        limit = np.floor(a_low / (np.maximum(-b, 0.0) + tol_b)).min()
    if np.isnan(limit):
        return 0
    return int(min(limit, _FOREVER))


_FOREVER = 1 << 60


class _Run:
    """State of a single MES run (classes of voters with equal exact budgets).

    With ``parametric`` the run also tracks each class budget as an affine function ``a + e*t`` of an increase
    ``t`` of every voter's starting budget, and ``kept`` ends as the largest integer ``t`` for which the very
    same run (same purchases, same payers) is guaranteed -- so the add-one completions can skip reruns.
    """

    def __init__(self, prof: ApprovalProfile, voter_budget: Fraction, eligible: np.ndarray, tie_rank: np.ndarray,
                 parametric: bool = False):
        self.prof = prof
        self.tie_rank = tie_rank
        self.cost_f = np.array([float(c) for c in prof.costs])
        self.active = eligible.copy()
        self.voter_class = np.zeros(len(prof.multiplicity), dtype=np.int64)
        self.budgets: list[Fraction] = [Fraction(voter_budget)]
        self.slopes: list[Fraction] = [Fraction(1 if parametric else 0)]
        self.idents = [(self.budgets[0].numerator, self.budgets[0].denominator, int(parametric), 1)]
        self.float_budgets = np.array([float(voter_budget)])
        self.float_slopes = np.array([1.0 if parametric else 0.0])
        self.parametric = parametric
        self.kept = _FOREVER
        self.result = MesRun(voter_budget=Fraction(voter_budget), selected=[])

    def _groups(self, order: list[int], counts: np.ndarray, j: int):
        col = counts[order, j]
        return [(order[r], self.budgets[order[r]], int(round(col[r]))) for r in np.flatnonzero(col > 0.5)]

    def _keep(self, t: int) -> None:
        self.kept = min(self.kept, t)

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
            affordable[t] = sum(b * n for _, b, n in self._groups(order, counts, j)) >= prof.costs[j]
        es = self.float_slopes[order][:, None]
        if self.parametric:  # every affordability verdict must stay the same
            slope_s = (cs * es).sum(0)
            sign = np.where(affordable, 1.0, -1.0)
            self._keep(_steps_kept(sign * (total_s - cost), sign * slope_s, 1e-9 * (total_s + cost),
                                   1e-9 * np.abs(slope_s) + 1e-300))
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
            priced = _exact_price(prof.costs[j], int(prof.supporters[j]), groups)
            if priced is not None:
                exact.append((priced[0] / prof.costs[j], self.tie_rank[j], int(j), priced, groups))
        if not exact:  # float screen disagreed with exact affordability for all candidates: drop them
            self.active[candidates] = False
            return bool(self.active.any())
        rho_j, _, j, (price, n_poor), groups = min(exact, key=lambda e: (e[0], e[1]))
        price_slope = self._price_slope(j, groups, n_poor)
        if self.parametric:
            self._keep_winner(j, rho_j, price, price_slope, groups, n_poor, cs, bs, es, cost, idx, q)
        self._buy(j, rho_j, price, price_slope, groups, n_poor)
        return True

    def _price_slope(self, j: int, groups, n_poor: int) -> Fraction:
        poor = groups[:n_poor]
        rich = sum(n for _, _, n in groups[n_poor:])
        return -sum((self.slopes[k] * n for k, _, n in poor), Fraction(0)) / rich

    def _keep_winner(self, j, rho_j, price, price_slope, groups, n_poor, cs, bs, es, cost, idx, q) -> None:
        """Constraints keeping ``j`` the winner and its payers unchanged as ``t`` grows."""
        for pos, (k, budget, _) in enumerate(groups):  # exact: poor stay poor, rich stay rich
            a, e = (price - budget, price_slope - self.slopes[k])
            if pos >= n_poor:
                a, e = -a, -e
            if e < 0:
                self._keep(int(a // -e))
        others = idx != j
        if not others.any():
            return
        cs, cost, q = cs[:, others], cost[others], q[others]
        poor = (bs < q[None, :]) & (cs > 0.5)
        n_poor = (cs * poor).sum(0)
        rich = cs.sum(0) - n_poor
        with np.errstate(divide="ignore", invalid="ignore"):
            low0 = (cost - (cs * bs * poor).sum(0)) / rich / cost
            low_e = -(cs * es * poor).sum(0) / rich / cost
        rho0, rho_e = float(rho_j), float(price_slope / self.prof.costs[j])
        has_rich = rich > 0.5  # without rich supporters there is no bound (was NaN: crashed _steps_kept)
        if not has_rich.all():
            self._keep(0)
        low0, low_e = low0[has_rich], low_e[has_rich]
        gap, gap_e = low0 - rho0, low_e - rho_e
        self._keep(_steps_kept(gap, np.nan_to_num(gap_e), 1e-9 * (np.abs(low0) + abs(rho0)),
                               1e-9 * (np.abs(low_e) + abs(rho_e)) + 1e-300))

    def _buy(self, j: int, rho_j: Fraction, price: Fraction, price_slope: Fraction, groups, n_poor: int) -> None:
        res = self.result
        res.selected.append(j)
        res.rho[j], res.price[j] = rho_j, price
        pays: dict[tuple[int, int], list] = {}
        for _, budget, count in groups:
            pay = min(budget, price)
            entry = pays.setdefault((pay.numerator, pay.denominator), [pay, 0])
            entry[1] += count
        res.payments[j] = sorted(((a, n) for a, n in pays.values()), reverse=True)
        self.active[j] = False
        poor = {k for k, _, _ in groups[:n_poor]}
        approves = np.zeros(len(self.voter_class), dtype=np.int64)
        approves[self.prof.supporter_ballots(j)] = 1
        keys, inverse = np.unique(self.voter_class * 2 + approves, return_inverse=True)
        keys_l = keys.tolist()
        kept_old = [key >> 1 for key in keys_l if not key & 1]  # non-supporters of j: budgets unchanged
        old_b, old_s, old_id = self.budgets, self.slopes, self.idents
        budgets = [old_b[k] for k in kept_old]
        slopes = [old_s[k] for k in kept_old]
        idents = [old_id[k] for k in kept_old]
        floats = self.float_budgets[kept_old].tolist()
        float_slopes = self.float_slopes[kept_old].tolist()
        new_ids = dict(zip(idents, range(len(idents))))
        remap = np.empty(len(keys), dtype=np.int64)
        is_kept = (keys & 1) == 0
        remap[is_kept] = np.arange(len(kept_old))
        zero = Fraction(0)
        for t in np.flatnonzero(~is_kept).tolist():
            k = keys_l[t] >> 1
            if k in poor:
                budget, slope, ident = zero, zero, (0, 1, 0, 1)
            else:
                budget = old_b[k] - price
                slope = old_s[k] - price_slope if price_slope else old_s[k]
                ident = (budget.numerator, budget.denominator, slope.numerator, slope.denominator)
            nid = new_ids.get(ident)
            if nid is None:
                nid = new_ids[ident] = len(budgets)
                budgets.append(budget)
                slopes.append(slope)
                idents.append(ident)
                floats.append(float(budget))
                float_slopes.append(float(slope))
            remap[t] = nid
        self.voter_class = remap[inverse.reshape(-1)]
        self.budgets, self.slopes, self.idents = budgets, slopes, idents
        self.float_budgets, self.float_slopes = np.array(floats), np.array(float_slopes)

    def run(self) -> MesRun:
        while self.step():
            pass
        self.result.voter_class = self.voter_class
        self.result.class_budgets = self.budgets
        return self.result


def mes_once_reference(prof: ApprovalProfile, voter_budget: Fraction, tie_rank: np.ndarray,
                       parametric: bool = False) -> tuple[MesRun, int]:
    """One MES run with the given starting budget per voter (projects with cost 0 are bought up front).

    Returns the run and ``kept``: with ``parametric``, the same outcome is guaranteed for every starting budget
    ``voter_budget + t`` with integer ``0 <= t <= kept`` (else ``kept`` is 0).
    """
    eligible = (prof.supporters > 0) & np.array([c > 0 for c in prof.costs], dtype=bool)
    free = [j for j in range(prof.n_projects) if prof.supporters[j] > 0 and prof.costs[j] == 0]
    state = _Run(prof, voter_budget, eligible, tie_rank, parametric)
    run = state.run()
    run.selected = free + run.selected
    return run, (state.kept if parametric else 0)


def reference_equal_shares(prof: ApprovalProfile, budget: Fraction, tie_rank: np.ndarray,
                           completion: str | None = None, increment: Fraction = Fraction(1)) -> MesRun:
    """:func:`budgets.mes.equal_shares` computed with the reference run (same result, slower)."""
    run = complete(prof, budget, completion, increment, None,
                   lambda vb, par: mes_once_reference(prof, vb, tie_rank, par))
    if run.budget_left is None and getattr(run, "voter_class", None) is not None:
        counts = prof.class_counts(run.voter_class, len(run.class_budgets))
        run.budget_left = {}
        for j in range(prof.n_projects):
            if j in run.selected or prof.supporters[j] == 0:
                continue
            col = counts[:, j]
            run.budget_left[j] = sum((run.class_budgets[k] * int(round(col[k])) for k in np.flatnonzero(col > 0.5)),
                                     Fraction(0))
    return run
