"""Fast exact MES run (cost utilities): per-ballot float screen, lazy rho updates, exact linear combinations.

Same decisions as the reference :class:`budgets.mes._Run` (and pabutools 1.2.3); only the bookkeeping differs:

* **exact budgets as linear combinations.**  A ballot (unique approval set ``u``, multiplicity ``m_u``) that
  never paid its whole budget has paid the exact price ``q_s`` of every bought project it supports, so its
  exact budget is ``b_u = B0 - sum_s q_s [u supports j_s]`` (and ``0`` once it paid its whole budget).  Any
  exact sum over a set ``X`` of ballots is therefore ``B0 * W - sum_s q_s * W_s`` with integer weights
  ``W_s`` (one matrix product) -- no per-voter ``Fraction`` arithmetic, however many budget classes exist.
* **float screen, exact decision.**  Budgets are also kept as float64 per ballot.  A project's float ``rho``
  uses its supporters sorted by budget (``q = max_k (c - S_<k) / (N - N_<k)``).  Only projects within a
  relative ``1e-7`` of the float minimum are priced exactly: supporters clearly below / above the float price
  are summed with the linear combination, the few borderline ones get their exact budgets and are scanned
  exactly (with a full exact fallback if the float screen is inconsistent with the exact result).
* **lazy rho.**  Budgets only decrease within a run, so a project's ``rho`` never decreases: an old value is
  a lower bound.  Only projects whose supporters paid since their last evaluation and whose old value could
  be the minimum are re-evaluated (the classic lazy priority queue).
* **parametric "kept"** (add-one completions): budgets are affine ``a + e*t`` in an increase ``t`` of every
  starting budget; ``kept`` is a conservative largest integer ``t`` for which the same run is guaranteed:
  every detected unaffordable project stays unaffordable, the winner keeps its payers, and every other
  project's affine lower bound on ``rho`` (valid for all later steps because budgets only decrease) stays
  above the winner's ``rho``.  Stale lower bounds that would limit ``kept`` are refreshed first.
"""
from __future__ import annotations

from fractions import Fraction
from math import gcd

import numpy as np

from budgets.approvals import ApprovalProfile

_TAU = 1e-7  # relative width of the float screens (float errors are many orders of magnitude smaller)
_FOREVER = 1 << 60


class Prepared:
    """Per-profile data shared by every run of a completion."""

    def __init__(self, prof: ApprovalProfile):
        self.prof = prof
        m = prof.n_projects
        n_ballots = len(prof.multiplicity)
        self.mult = prof.multiplicity.astype(np.int64)
        self.mult_f = self.mult.astype(np.float64)
        order = np.argsort(prof.pair_project, kind="stable")
        pb, pp = prof.pair_ballot[order], prof.pair_project[order]
        bounds = np.searchsorted(pp, np.arange(m + 1))
        self.supp = [pb[bounds[j]:bounds[j + 1]] for j in range(m)]
        self.supp_m = [self.mult[s] for s in self.supp]
        self.supp_mf = [self.mult_f[s] for s in self.supp]
        self.approves = np.zeros((n_ballots, m), dtype=bool)
        self.approves[prof.pair_ballot, prof.pair_project] = True
        self.costs = prof.costs
        self.cost_f = np.array([float(c) for c in prof.costs])
        self.n_supp = [int(x) for x in prof.supporters]


def _lin(base: Fraction, weight: int, coefs: list[Fraction], weights) -> Fraction:
    """``base * weight - sum(coefs[s] * weights[s])`` exactly."""
    total = base * weight
    for q, w in zip(coefs, weights):
        if w:
            total -= q * int(w)
    return total


def _steps_kept(a, b, tol_a, tol_b) -> int:
    """Largest integer ``t`` with ``a + b*s >= 0`` surely for every ``s`` in ``[0, t]`` (conservative)."""
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    if a.size == 0:
        return _FOREVER
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    a_low = a - tol_a
    if np.any(a_low <= 0):
        return 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        limit = np.floor(a_low / (np.maximum(-b, 0.0) + tol_b)).min()
    if not np.isfinite(limit):
        return _FOREVER if limit > 0 else 0
    return int(min(limit, _FOREVER))


class FastRun:
    """One MES run; ``parametric`` also computes ``kept`` (see the module docstring)."""

    def __init__(self, prep: Prepared, voter_budget: Fraction, eligible: np.ndarray, tie_rank: np.ndarray,
                 parametric: bool = False):
        self.prep = prep
        self.tie_rank = tie_rank
        self.b0 = Fraction(voter_budget)
        n_ballots = len(prep.mult)
        self.fb = np.full(n_ballots, float(self.b0))
        self.alive = np.ones(n_ballots, dtype=bool)
        self.parametric = parametric
        self.fe = np.ones(n_ballots) if parametric else None
        self.active = eligible.copy()
        m = len(prep.costs)
        self.rho_est = np.zeros(m)
        self.stale = np.ones(m, dtype=bool)
        self.low = np.zeros((m, 2))  # affine lower bound (rho at t=0, slope) of each active project
        self.kept = _FOREVER
        # history
        self.steps: list[int] = []
        self.prices: list[Fraction] = []
        self.price_slopes: list[Fraction] = []
        self.rhos: list[Fraction] = []
        self.poor: list[np.ndarray] = []  # per step: supporters paying their whole budget (alive or not)
        self.emptied: list[np.ndarray] = []  # per step: rich supporters whose budget was exactly the price

    # ---------------------------------------------------------------- exact helpers
    def _weights(self, ballots: np.ndarray) -> tuple[int, np.ndarray]:
        """(total multiplicity, per-step supporting multiplicity) of alive ``ballots``."""
        ballots = ballots[self.alive[ballots]]
        mult = self.prep.mult[ballots]
        if not self.steps:
            return int(mult.sum()), np.zeros(0, dtype=np.int64)
        per_step = mult @ self.prep.approves[np.ix_(ballots, self.steps)].astype(np.int64)
        return int(mult.sum()), per_step

    def exact_sum(self, ballots: np.ndarray) -> Fraction:
        w, ws = self._weights(ballots)
        return _lin(self.b0, w, self.prices, ws)

    def _exact_slope_sum(self, ballots: np.ndarray) -> Fraction:
        w, ws = self._weights(ballots)
        return _lin(Fraction(1), w, self.price_slopes, ws)

    def exact_budgets(self, ballots: np.ndarray) -> list[Fraction]:
        """Exact budget of each ballot (0 for ballots that paid their whole budget)."""
        if len(ballots) == 0:
            return []
        sub = self.prep.approves[np.ix_(ballots, self.steps)] if self.steps else np.zeros((len(ballots), 0), bool)
        cache: dict[bytes, Fraction] = {}
        out = []
        zero = Fraction(0)
        for r, u in enumerate(ballots.tolist()):
            if not self.alive[u]:
                out.append(zero)
                continue
            key = sub[r].tobytes()
            val = cache.get(key)
            if val is None:
                val = self.b0
                for s in np.flatnonzero(sub[r]).tolist():
                    val -= self.prices[s]
                cache[key] = val
            out.append(val)
        return out

    # ---------------------------------------------------------------- float rho
    def _deactivate(self, j: int, total_f: float | None = None) -> None:
        self.active[j] = False
        if self.parametric:  # it must stay unaffordable: total(t) < cost
            prep = self.prep
            idx = prep.supp[j]
            if total_f is None:
                total_f = float((self.fb[idx] * prep.supp_mf[j]).sum())
            slope = float((self.fe[idx] * prep.supp_mf[j]).sum())
            cost = prep.cost_f[j]
            self._keep(_steps_kept(cost - total_f, -slope, 1e-9 * (cost + total_f), 1e-9 * abs(slope) + 1e-300))

    def _keep(self, t: int) -> None:
        if t < self.kept:
            self.kept = t

    def evaluate(self, j: int) -> None:
        """Fresh float rho of project ``j`` (deactivates it if it is no longer affordable)."""
        prep = self.prep
        idx = prep.supp[j]
        b = self.fb[idx]
        mf = prep.supp_mf[j]
        cost = prep.cost_f[j]
        self.stale[j] = False
        total = float(b @ mf)
        if total < cost * (1 - _TAU) or (total <= cost * (1 + _TAU) and self.exact_sum(idx) < prep.costs[j]):
            self._deactivate(j, total)
            return
        order = np.argsort(b, kind="stable")
        bs, ms = b[order], mf[order]
        paid = bs * ms
        before = np.cumsum(paid) - paid
        left = prep.n_supp[j] - (np.cumsum(ms) - ms)
        qs = (cost - before) / left
        k = int(np.argmax(qs))
        q = float(qs[k])
        self.rho_est[j] = q / cost
        if self.parametric:  # any prefix gives a lower bound on q, also after later payments
            e_poor = float(self.fe[idx[order[:k]]] @ ms[:k]) if k else 0.0
            self.low[j] = (q / cost, -e_poor / left[k] / cost)

    # ---------------------------------------------------------------- exact price
    def exact_price(self, j: int):
        """``(q, poor_mask over supp[j])`` exactly, or ``None`` if ``j`` is not affordable."""
        prep = self.prep
        idx = prep.supp[j]
        cost = prep.costs[j]
        q_f = self.rho_est[j] * prep.cost_f[j]
        b = self.fb[idx]
        sure_poor = b < q_f * (1 - _TAU)
        amb = ~sure_poor & (b <= q_f * (1 + _TAU))
        amb_pos = np.flatnonzero(amb)
        result = None
        if len(amb_pos) <= 2000:
            remaining = cost - self.exact_sum(idx[sure_poor])
            left = int(prep.supp_m[j][~sure_poor].sum())
            values = self.exact_budgets(idx[amb_pos])
            ranked = sorted(zip(values, amb_pos.tolist()))
            q = None
            for value, pos in ranked:
                if remaining <= left * value:
                    q = remaining / left
                    break
                n = int(prep.supp_m[j][pos])
                remaining -= n * value
                left -= n
            if q is None and left == 0:
                if remaining > 0:  # every supporter counted exactly: the total is below the cost
                    return None
            elif q is None:
                q = remaining / left
            if q is not None and q > 0 and abs(float(q) - q_f) <= 1e-6 * q_f:
                poor = sure_poor.copy()
                poor[[pos for value, pos in ranked if value < q]] = True
                result = (q, poor)
        if result is None:  # float screen inconsistent (never observed): price from every exact budget
            values = self.exact_budgets(idx)
            ranked = sorted(range(len(idx)), key=lambda r: values[r])
            remaining, left = cost, prep.n_supp[j]
            for r in ranked:
                if remaining <= left * values[r]:
                    q = remaining / left
                    poor = np.array([v < q for v in values], dtype=bool)
                    return q, poor
                n = int(prep.supp_m[j][r])
                remaining -= n * values[r]
                left -= n
            return None
        return result

    # ---------------------------------------------------------------- one step
    def step(self) -> bool:
        prep = self.prep
        while True:
            act = np.flatnonzero(self.active)
            if act.size == 0:
                return False
            est = self.rho_est[act]
            i = int(act[np.argmin(est)])
            if self.stale[i]:
                self.evaluate(i)
                continue
            best = self.rho_est[i]
            cand = act[est <= best * (1 + _TAU) + 1e-300]
            stale = cand[self.stale[cand]]
            if stale.size:
                for j in stale.tolist():
                    self.evaluate(j)
                continue
            exact = []
            for j in cand.tolist():
                priced = self.exact_price(j)
                if priced is None:
                    self._deactivate(j)
                    continue
                exact.append((priced[0] / prep.costs[j], int(self.tie_rank[j]), j, priced))
            if exact:
                break
        rho, _, j, (q, poor) = min(exact, key=lambda e: (e[0], e[1]))
        self._buy(j, rho, q, poor)
        return True

    def _buy(self, j: int, rho: Fraction, q: Fraction, poor: np.ndarray) -> None:
        prep = self.prep
        idx = prep.supp[j]
        poor_b, rich_b = idx[poor], idx[~poor]
        n_rich = int(prep.supp_m[j][~poor].sum())
        qe = Fraction(0)
        if self.parametric:
            qe = -self._exact_slope_sum(poor_b) / n_rich
            self._keep_winner(j, q, qe, idx, poor)
        # rich ballots whose budget equals q exactly end at 0 as well
        q_f = float(q)
        near = rich_b[self.fb[rich_b] <= q_f * (1 + _TAU)]
        emptied = [u for u, v in zip(near.tolist(), self.exact_budgets(near)) if v == q]
        self.steps.append(j)
        self.prices.append(q)
        self.price_slopes.append(qe)
        self.rhos.append(rho)
        self.poor.append(poor_b)
        self.emptied.append(np.array(emptied, dtype=np.int64))
        payers = idx[self.alive[idx]]
        self.fb[rich_b] -= q_f
        if self.parametric:
            self.fe[rich_b] -= float(qe)
        gone = np.concatenate([poor_b, self.emptied[-1]])
        self.alive[gone] = False
        self.fb[gone] = 0.0
        if self.parametric:
            self.fe[gone] = 0.0
        self.active[j] = False
        if payers.size:
            self.stale |= prep.approves[payers].any(0)

    def _keep_winner(self, j: int, q: Fraction, qe: Fraction, idx: np.ndarray, poor: np.ndarray) -> None:
        prep = self.prep
        q_f, qe_f = float(q), float(qe)
        b, e = self.fb[idx], self.fe[idx]
        sign = np.where(poor, 1.0, -1.0)  # poor stay poor (q >= b), rich stay rich (b >= q)
        a, s = sign * (q_f - b), sign * (qe_f - e)
        self._keep(_steps_kept(a, s, 1e-9 * (abs(q_f) + np.abs(b)), 1e-9 * (abs(qe_f) + np.abs(e)) + 1e-300))
        rho0, rhoe = q_f / prep.cost_f[j], qe_f / prep.cost_f[j]
        for _ in range(2):
            others = np.flatnonzero(self.active)
            others = others[others != j]
            if others.size == 0:
                return
            low0, lowe = self.low[others, 0], self.low[others, 1]
            a, s = low0 - rho0, lowe - rhoe
            tol_a, tol_b = 1e-9 * (np.abs(low0) + abs(rho0)), 1e-9 * (np.abs(lowe) + abs(rhoe)) + 1e-300
            with np.errstate(divide="ignore", invalid="ignore"):
                lim = np.where(a - tol_a <= 0, 0.0, np.floor((a - tol_a) / (np.maximum(-s, 0.0) + tol_b)))
            limiting = others[(lim < self.kept) & self.stale[others]]
            if limiting.size == 0:
                break
            for k in limiting.tolist():  # refresh stale bounds before giving up skips
                self.evaluate(k)
        others = np.flatnonzero(self.active)
        others = others[others != j]
        if others.size:
            low0, lowe = self.low[others, 0], self.low[others, 1]
            self._keep(_steps_kept(low0 - rho0, lowe - rhoe, 1e-9 * (np.abs(low0) + abs(rho0)),
                                   1e-9 * (np.abs(lowe) + abs(rhoe)) + 1e-300))

    def run(self) -> "FastRun":
        while self.step():
            pass
        return self

    # ---------------------------------------------------------------- explanations (final run only)
    def payments(self) -> dict[int, list[tuple[Fraction, int]]]:
        """Per bought project: ``[(amount, voters)]`` descending, as the reference implementation.

        Amounts are handled as integer numerators over the common denominator of the starting budget and
        every price (cheap exact sums, hashing and sorting), turned into fractions at the end.
        """
        prep = self.prep
        den = self.b0.denominator
        for q in self.prices:
            den = den * q.denominator // gcd(den, q.denominator)
        start = self.b0.numerator * (den // self.b0.denominator)
        scaled = [q.numerator * (den // q.denominator) for q in self.prices]
        out = {}
        alive = np.ones(len(prep.mult), dtype=bool)
        for s, j in enumerate(self.steps):
            idx = prep.supp[j]
            poor_b = self.poor[s]
            pays: dict[int, int] = {}
            n_rich = int(prep.mult[idx].sum() - prep.mult[poor_b].sum())
            if n_rich:
                pays[scaled[s]] = n_rich
            if poor_b.size:
                dead = ~alive[poor_b]
                n_dead = int(prep.mult[poor_b[dead]].sum())
                if n_dead:
                    pays[0] = pays.get(0, 0) + n_dead
                live = poor_b[~dead]
                if live.size:  # equal payment histories -> equal budgets: one exact value per history
                    sub = prep.approves[np.ix_(live, self.steps[:s])] if s else np.zeros((live.size, 0), bool)
                    rows, inverse = np.unique(np.packbits(sub, axis=1), axis=0, return_inverse=True)
                    inverse = inverse.reshape(-1)
                    weight = np.bincount(inverse, weights=prep.mult_f[live], minlength=len(rows))
                    first = np.zeros(len(rows), dtype=np.int64)
                    first[inverse[::-1]] = np.arange(live.size)[::-1]
                    for g in range(len(rows)):
                        val = start - sum([scaled[t] for t in np.flatnonzero(sub[first[g]]).tolist()])
                        pays[val] = pays.get(val, 0) + int(round(weight[g]))
            alive[poor_b] = False
            alive[self.emptied[s]] = False
            out[j] = [(Fraction(num, den), n) for num, n in sorted(pays.items(), reverse=True)]
        return out

    def budget_left(self, j: int) -> Fraction:
        """Exact remaining budget of project ``j``'s supporters at the end of the run."""
        return self.exact_sum(self.prep.supp[j])
