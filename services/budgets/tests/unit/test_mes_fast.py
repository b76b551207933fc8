"""The fast MES implementation (budgets._mes_fast) decides exactly like the reference class-based one
(tests/mes_reference.py).

Randomised: 600 seeded instance runs (200 per completion) (ties in costs and ballots, budgets giving poor/rich
splits, add-one skips),
every completion, comparing the whole run -- order of purchases, exact rho, prices, payments, final
per-voter budget and the explanations of unfunded projects.
"""
from __future__ import annotations

import random
from fractions import Fraction

import pytest

from budgets.approvals import ApprovalProfile
from budgets.instance import Instance, Project, Vote
from budgets.mes import equal_shares
from mes_reference import reference_equal_shares
from budgets.ranking import tally
from budgets.rules import _mes_explanations, _tie_rank


def instance(seed: int) -> Instance:
    rng = random.Random(seed)
    m = rng.randint(2, 12)
    unit = rng.choice([1, 1, 3, 7])
    costs = [rng.choice([1, 2, 3, 5, 8, 10, 13, 20, 40]) * rng.choice([1, 10]) * unit for _ in range(m)]
    projects = tuple(Project(f"{j + 1}", Fraction(c)) for j, c in enumerate(costs))
    popular = [rng.random() ** 2 + 0.05 for _ in range(m)]
    n = rng.randint(1, 70)
    votes = []
    for i in range(n):
        k = rng.randint(1, min(m, 5))
        chosen = set()
        while len(chosen) < k:
            chosen.add(rng.choices(range(m), weights=popular)[0])
        votes.append(Vote(f"v{i}", tuple(projects[j].id for j in sorted(chosen))))
    budget = Fraction(rng.randint(max(costs) // 2 + 1, sum(costs)), rng.choice([1, 1, 2, 3]))
    return Instance(budget, "approval", projects, tuple(votes), {})


def run_both(inst: Instance, completion):
    prof = ApprovalProfile.from_instance(inst)
    rank = _tie_rank(tally(inst), None)
    out = []
    for run in (reference_equal_shares(prof, inst.budget, rank, completion=completion),
                equal_shares(prof, inst.budget, rank, completion=completion)):
        out.append((run.selected, run.voter_budget, run.rho, run.price, run.payments,
                    _mes_explanations(prof, run)))
    return out


@pytest.mark.parametrize("completion", [None, "add1", pytest.param("exhaust", marks=pytest.mark.slow)])
def test_fast_mes_equals_reference(completion):
    for seed in range(200):
        ref, fast = run_both(instance(seed), completion)
        assert fast == ref, f"seed {seed}"


def test_fast_mes_equals_reference_on_lodz_like_instance():
    import importlib.util
    from pathlib import Path

    bench = Path(__file__).resolve().parents[4] / "bench" / "budgets.py"
    spec = importlib.util.spec_from_file_location("bench_budgets", bench)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    inst = module.lodz_like(1500, n_projects=40, budget=4_000_000)
    for completion in (None, "add1"):
        ref, fast = run_both(inst, completion)
        assert fast == ref
