import random

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from analytics.segments import (AGE_BANDS, band_of_age, benjamini_hochberg, benjamini_yekutieli, breakdown, finalize,
                                min_cell_size_from_env, normalise_age_band, normalise_gender, segment_of)


@pytest.mark.parametrize("age,band", [(0, "0-20"), (19.9, "0-20"), (20, "20-40"), (39, "20-40"), (40, "40-60"),
                                      (60, "60-80"), (79, "60-80"), (80, "80+"), (104, "80+"), (-1, None),
                                      (130, None), ("x", None), (None, None)])
def test_age_bands(age, band):
    assert band_of_age(age) == band


def test_segment_of_prefers_band_then_age_then_birthyear():
    assert segment_of({"age_band": "20 – 40", "age": 70, "birthyear": 1930}, 2024)["age_band"] == "20-40"
    assert segment_of({"age": 70, "birthyear": 2000}, 2024)["age_band"] == "60-80"
    assert segment_of({"birthyear": 1964}, 2024)["age_band"] == "60-80"
    assert segment_of({"birthyear": 1964}, 2023)["age_band"] == "40-60"  # reference year matters
    s = segment_of({"sex": "F", "district": " Noord "}, 2024)
    assert s == {"age_band": None, "gender": "female", "district": "Noord"}
    assert segment_of(None, 2024) == {"age_band": None, "gender": None, "district": None}
    assert [normalise_gender(g) for g in ("M", "vrouw", "Mujer", "X", "", None, "kobieta")] == \
        ["male", "female", "female", "other", None, None, "female"]
    assert normalise_age_band("60+") == "60+"


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.001, size=10)])
    assert np.allclose(benjamini_hochberg(p), false_discovery_control(p, method="bh"))
    assert benjamini_hochberg([]) == []


def _voters(n_voters, effect, seed=0, approvals=8):
    """Voters with several approvals each; 60-80 voters lean to culture by ``effect``."""
    rng = random.Random(seed)
    out = []
    for v in range(n_voters):
        band = rng.choice(["20-40", "40-60", "60-80"])
        demo = {"age_band": band, "gender": rng.choice(["female", "male"]), "district": None}
        p = 0.5 + (effect if band == "60-80" else -effect / 2)
        for _ in range(approvals):
            out.append(("culture" if rng.random() < p else "greenery", demo, f"v{v}"))
    return out


def test_breakdown_finds_a_planted_effect_per_voter():
    rows = breakdown(_voters(600, 0.2), "support")
    cell = next(r for r in rows if r["dimension"] == "age_band" and r["segment"] == "60-80"
                and r["topic"] == "culture")
    assert cell["significant"] and cell["lift"] > 1.25 and cell["ratio_vs_rest"] > 1.25
    assert cell["share"] == pytest.approx(cell["count"] / cell["segment_total"], abs=1e-6)   # same approvals each
    assert cell["people"] <= cell["segment_people"] <= 600
    assert not any(r["significant"] for r in rows if r["dimension"] == "gender")   # no planted gender effect
    assert not any(r["dimension"] == "district" for r in rows)


def test_two_valued_dimension_is_listed_once():
    rows = breakdown(_voters(300, 0.2), "support", dimensions=("gender",))
    assert {r["segment"] for r in rows} == {"female"} and {r["versus"] for r in rows} == {"male"}
    assert len(rows) == 2                                      # one row per topic, not two


def test_one_voters_many_approvals_are_not_independent_evidence():
    """A single enthusiastic voter (80 approvals of one topic) must not make their segment significant: the test
    counts people, not approvals (the old per-approval chi-square flagged this)."""
    rng = random.Random(4)
    obs = [(rng.choice("AB"), {"age_band": rng.choice(["20-40", "40-60"])}, f"v{i}") for i in range(400)]
    obs += [("A", {"age_band": "60-80"}, "fan")] * 80 + [(rng.choice("AB"), {"age_band": "60-80"}, f"w{i}")
                                                         for i in range(30)]
    rows = breakdown(obs, "support", dimensions=("age_band",))
    old = next(r for r in rows if r["segment"] == "60-80" and r["topic"] == "A")
    approvals_a = sum(1 for t, *_ in obs if t == "A") / len(obs)
    assert old["count"] / old["segment_total"] > 1.25 * approvals_a     # per approval it looks like an effect
    assert not old["significant"] and old["p_value"] > 0.05                # per person it is not


def test_min_effect_size_is_required():
    rows = breakdown(_voters(3000, 0.03, approvals=10), "support", dimensions=("age_band",))
    cell = next(r for r in rows if r["segment"] == "60-80" and r["topic"] == "culture")
    assert cell["p_adjusted"] < 0.05 and 1 < cell["lift"] < 1.25 and not cell["significant"]


def test_small_cells_are_suppressed_and_cannot_be_recovered():
    obs = [("rare", {"age_band": "80+"}, f"old{i}") for i in range(2)]
    obs += [("common", {"age_band": "80+"}, f"old{i}") for i in range(2, 9)]
    obs += [(random.Random(i).choice(["rare", "common"]), {"age_band": "20-40"}, f"y{i}") for i in range(200)]
    obs += [(random.Random(i + 7).choice(["rare", "common"]), {"age_band": "40-60"}, f"m{i}") for i in range(200)]
    rows = breakdown(obs, "ideas", dimensions=("age_band",), min_cell_size=5)
    rare_old = next(r for r in rows if r["segment"] == "80+" and r["topic"] == "rare")
    assert rare_old["suppressed"] and rare_old["count"] is None and rare_old["share"] is None
    common_old = next(r for r in rows if r["segment"] == "80+" and r["topic"] == "common")
    assert common_old["suppressed"] and common_old["count"] is None   # secondary: total − common = rare
    for r in rows:                                                    # no published count of 1 … 4 people
        assert r["count"] is None or r["count"] == 0 or r["people"] >= 5
        assert not (r["suppressed"] and r["significant"])


def test_min_cell_size_from_env(monkeypatch):
    monkeypatch.setenv("AGORA_MIN_CELL_SIZE", "10")
    assert min_cell_size_from_env() == 10
    monkeypatch.delenv("AGORA_MIN_CELL_SIZE")
    assert min_cell_size_from_env() == 5


def test_fdr_is_over_the_whole_report():
    a = breakdown(_voters(200, 0.0, seed=1), "support", adjust=False)
    b = breakdown(_voters(200, 0.0, seed=2), "ideas", adjust=False)
    rows = finalize(a + b)
    tested = [r for r in rows if r["p_value"] is not None]
    assert [r["p_adjusted"] for r in tested] == pytest.approx(benjamini_yekutieli([r["p_value"] for r in tested]))
    assert benjamini_yekutieli([0.01, 0.04]) == pytest.approx([0.03, 0.06])          # BH × (1 + 1/2)


def test_shuffled_voter_demographics_rarely_give_any_significant_cell():
    """Issue 17 point 6: with demographics shuffled between whole voters, <= 5 % of reports show any
    significant cell (50 reports of 300 voters with 6 approvals each, five topics, three dimensions)."""
    flagged = 0
    for seed in range(50):
        rng = random.Random(seed)
        demos = [{"age_band": rng.choice(AGE_BANDS[:4]), "gender": rng.choice(["female", "male"]),
                  "district": rng.choice("nsew")} for _ in range(300)]
        prefs = [rng.random() for _ in range(300)]           # voters differ (heterogeneous), demographics do not
        obs = []
        for v in range(300):
            for _ in range(6):
                topic = "A" if rng.random() < prefs[v] * 0.6 else rng.choice("BCDE")
                obs.append((topic, demos[v], f"v{v}"))
        rows = breakdown(obs, "support")
        flagged += any(r["significant"] for r in rows)
    assert flagged <= 2


def test_degenerate_tables():
    rows = breakdown([("t", {"age_band": "20-40"}, f"p{i}") for i in range(10)], "ideas", dimensions=("age_band",))
    assert rows[0]["p_value"] == 1.0 and not rows[0]["significant"]
    assert breakdown([], "ideas") == [] and breakdown([(None, {"gender": "male"})], "ideas") == []
