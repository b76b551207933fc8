"""Benchmark: budgets counting rules vs pabutools 1.2.3 on the same instance, in the same run.

Rules: greedy, MES, MES + add-one completion, on a seeded, generated approval instance shaped like Lodz 2022
(~100 projects in 10 districts + citywide, budget in the tens of millions, ballots approving a few projects
with skewed popularity) -- no instance of that size is shipped.  Outcomes must be identical (asserted).
pabutools gets its fastest input (an ApprovalMultiProfile, identical ballots merged).

``--quick`` uses a smaller instance so the whole run (pabutools MES-add1 included) stays under a minute.
Prints one JSON object on its last line and writes it to bench/results/budgets.json;
``speedup_vs_pabutools`` is the smallest pabutools/ours time ratio over the rules.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services" / "budgets"))
sys.path.insert(0, str(ROOT / "services" / "budgets" / "tests"))   # pabutools_bridge (a test helper)

from budgets.instance import Instance, Project, Vote  # noqa: E402
from budgets.rules import count  # noqa: E402
from pabutools_bridge import pabutools_outcome  # noqa: E402


def lodz_like(n_voters: int, n_projects: int = 100, budget: int = 40_000_000, seed: int = 2022,
              unit: int = 1000) -> Instance:
    """Seeded approval instance shaped like Lodz 2022 (districts, skewed popularity, 1-10 approvals).

    Amounts are expressed in ``unit`` PLN (default kPLN), so MES-add1's +1-per-voter steps are 1 kPLN.
    """
    rng = np.random.default_rng(seed)
    districts = 10
    district_of = rng.integers(0, districts + 1, n_projects)  # value `districts` = citywide project
    costs = np.round(rng.lognormal(np.log(600_000), 0.8, n_projects), -3).clip(20_000, 6_000_000).astype(int)
    popularity = rng.pareto(1.2, n_projects) + 0.05
    projects = tuple(Project(str(1000 + j), Fraction(int(costs[j]) // unit), {"name": f"Project {j}",
                     "district": str(district_of[j])}) for j in range(n_projects))
    votes = []
    for i in range(n_voters):
        home = rng.integers(0, districts)
        allowed = np.flatnonzero((district_of == home) | (district_of == districts))
        weights = popularity[allowed] / popularity[allowed].sum()
        size = int(min(len(allowed), 1 + rng.geometric(0.35)))
        chosen = rng.choice(allowed, size=min(size, 10), replace=False, p=weights)
        votes.append(Vote(str(i), tuple(projects[j].id for j in sorted(chosen)), None,
                          {"age": str(int(rng.integers(16, 90)))}))
    return Instance(Fraction(budget // unit), "approval", projects, tuple(votes),
                    {"description": "generated, shaped like Lodz 2022", "budget": str(budget // unit),
                     "vote_type": "approval", "currency": f"{unit} PLN"})


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instance, finishes within a minute")
    parser.add_argument("--voters", type=int, help="override the number of voters")
    args = parser.parse_args()
    if args.quick:
        n_voters, budget = 4_000, 12_000_000
    else:
        n_voters, budget = 50_000, 40_000_000
    n_voters = args.voters or n_voters
    instance, gen_time = timed(lambda: lodz_like(n_voters, budget=budget))
    sizes = {"voters": n_voters, "projects": len(instance.projects), "budget_pln": budget, "amount_unit_pln": 1000,
             "approvals": sum(len(v.projects) for v in instance.votes),
             "distinct_ballots": len({v.projects for v in instance.votes})}
    report: dict = {"bench": "budgets", "quick": args.quick, "instance": sizes, "rules": {}}
    ratios = []
    for rule in ("greedy", "mes", "mes-add1"):
        ours, t_ours = timed(lambda rule=rule: count(instance, rule))
        theirs, t_theirs = timed(lambda rule=rule: pabutools_outcome(instance, rule, multiprofile=True))
        assert set(ours.selected) == theirs, f"{rule}: outcomes differ: {sorted(set(ours.selected) ^ theirs)}"
        ratio = t_theirs / t_ours
        ratios.append(ratio)
        report["rules"][rule] = {"ours_s": round(t_ours, 4), "pabutools_s": round(t_theirs, 3),
                                 "speedup": round(ratio, 1), "selected": len(ours.selected),
                                 "total_cost": int(ours.total_cost), "identical": True,
                                 **({"voter_budget": ours.details.get("voter_budget")} if "mes" in rule else {})}
        print(f"{rule}: ours {t_ours:.3f}s, pabutools {t_theirs:.2f}s, x{ratio:.1f}", file=sys.stderr)
    report["speedup_vs_pabutools"] = round(min(ratios), 1)
    report["goal"] = 10
    out = ROOT / "bench" / "results" / "budgets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
