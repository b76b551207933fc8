import random

import numpy as np
import pytest
from scipy.stats import chi2_contingency, false_discovery_control

from analytics.segments import (AGE_BANDS, band_of_age, benjamini_hochberg, breakdown, normalise_age_band,
                                normalise_gender, segment_of, significant_fraction)


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
    assert segment_of({"age_band": "80+"}, 2024)["age_band"] == "80+"
    s = segment_of({"sex": "F", "district": " Noord "}, 2024)
    assert s == {"age_band": None, "gender": "female", "district": "Noord"}
    assert segment_of(None, 2024) == {"age_band": None, "gender": None, "district": None}
    assert [normalise_gender(g) for g in ("M", "vrouw", "Mujer", "X", "", None)] == \
        ["male", "female", "female", "other", None, None]
    assert normalise_age_band("60+") == "60+"


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.001, size=10)])
    assert np.allclose(benjamini_hochberg(p), false_discovery_control(p, method="bh"))
    assert benjamini_hochberg([]) == []


def _obs(n, effect, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        band = rng.choice(["20-40", "60-80"])
        p_culture = 0.5 + (effect if band == "60-80" else -effect)
        topic = "culture" if rng.random() < p_culture else "greenery"
        out.append((topic, {"age_band": band, "gender": rng.choice(["female", "male"]), "district": None}))
    return out


def test_breakdown_finds_planted_effect_with_exact_statistics():
    rows = breakdown(_obs(2000, 0.15), "support")
    cell = next(r for r in rows if r["dimension"] == "age_band" and r["segment"] == "60-80"
                and r["topic"] == "culture")
    n_s = cell["segment_total"]
    n_t = sum(r["count"] for r in rows if r["dimension"] == "age_band" and r["topic"] == "culture")
    n = sum(r["count"] for r in rows if r["dimension"] == "age_band")
    table = [[cell["count"], n_s - cell["count"]], [n_t - cell["count"], n - n_s - n_t + cell["count"]]]
    assert cell["p_value"] == pytest.approx(chi2_contingency(table, correction=False).pvalue)
    assert cell["share"] == pytest.approx(cell["count"] / n_s, abs=1e-6)
    assert cell["lift"] == pytest.approx(cell["share"] / (n_t / n), abs=1e-5)
    assert cell["expected"] == pytest.approx(n_s * n_t / n, abs=1e-3)
    assert cell["significant"] and cell["lift"] > 1 and cell["measure"] == "support"
    gender = [r for r in rows if r["dimension"] == "gender"]
    assert gender and all(r["p_value"] > 1e-3 for r in gender)  # no planted gender effect
    assert not any(r["dimension"] == "district" for r in rows)  # no district data → no table
    assert [r["segment"] for r in rows if r["dimension"] == "age_band"][::2] == ["20-40", "60-80"]


def test_small_expected_counts_are_never_significant():
    obs = [("rare", {"age_band": "80+"})] * 4 + [("common", {"age_band": "20-40"})] * 400
    rows = breakdown(obs, "ideas", dimensions=("age_band",))
    cell = next(r for r in rows if r["segment"] == "80+" and r["topic"] == "rare")
    assert cell["p_adjusted"] < 0.05 and cell["expected"] < 5 and not cell["significant"]


def test_null_data_rarely_significant():
    rng = random.Random(11)
    obs = [(rng.choice("ABCDE"), {"age_band": rng.choice(AGE_BANDS), "gender": rng.choice(["female", "male"]),
                                  "district": rng.choice(["n", "s", "e", "w"])}) for _ in range(5000)]
    rows = breakdown(obs, "ideas")
    assert len(rows) == 5 * 5 + 2 * 5 + 4 * 5
    assert significant_fraction(rows) <= 0.05
    assert set(r["segment"] for r in rows if r["dimension"] == "age_band") <= set(AGE_BANDS)


def test_degenerate_tables():
    rows = breakdown([("t", {"age_band": "20-40"})] * 10, "ideas", dimensions=("age_band",))
    assert rows[0]["p_value"] == 1.0 and not rows[0]["significant"]
    assert breakdown([], "ideas") == [] and breakdown([(None, {"gender": "male"})], "ideas") == []
