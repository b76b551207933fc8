"""Quality on real data read in place from the shared folder (AGORA_SHARED_DIR)."""
import random
import re
from collections import Counter

import pytest
from agora.testing import shared_path

from analytics.datasets import load_decide_madrid
from analytics.domain import CorpusState, analyze
from analytics.pabulib import pb_to_ideas, primary_category, read_pb, vote_projects
from analytics.segments import significant_fraction
from analytics.text import TextPipeline
from analytics.topics import TopicParams

BEMOWO = "data/pabulib/Poland_Warszawa_2023_Bemowo.pb"
MADRID = "data/ideas/decide_madrid_proposals_latest.csv"


@pytest.fixture(scope="module")
def bemowo():
    return read_pb(shared_path(BEMOWO))


def _raw_shares(inst, lo, hi):
    """Share of approvals going to each primary category, for voters with lo <= age < hi (straight from the file)."""
    counts, total = Counter(), 0
    for vote in inst.votes:
        if not vote["age"] or not lo <= int(vote["age"]) < hi:
            continue
        for pid in vote_projects(vote):
            counts[primary_category(inst.projects[pid])] += 1
            total += 1
    return {c: n / total for c, n in counts.items()}


def test_bemowo_raw_age_effect_is_in_the_file(bemowo):
    young, old = _raw_shares(bemowo, 0, 30), _raw_shares(bemowo, 60, 200)
    assert old["culture"] == pytest.approx(0.31, abs=0.01) and young["culture"] == pytest.approx(0.17, abs=0.01)
    assert old["urban greenery"] == pytest.approx(0.17, abs=0.01)
    assert young["urban greenery"] == pytest.approx(0.27, abs=0.01)


@pytest.fixture(scope="module")
def bemowo_report(bemowo):
    return analyze(pb_to_ideas(bemowo), topics_from="auto", reference_year=2023)


def _cell(report, segment, label, dimension="age_band", measure="support"):
    return next(r for r in report["segments"] if r["measure"] == measure and r["dimension"] == dimension
                and r["segment"] == segment and r["topic_label"] == label)


def test_bemowo_support_breakdown_finds_the_age_effect(bemowo_report):
    assert bemowo_report["meta"]["topics_from"] == "category"  # auto: the file has categories
    old_culture = _cell(bemowo_report, "60-80", "culture")
    assert old_culture["significant"] and old_culture["lift"] > 1.4 and old_culture["share"] > 0.28
    old_green = _cell(bemowo_report, "60-80", "urban greenery")
    assert old_green["significant"] and old_green["lift"] < 0.75
    young_green = _cell(bemowo_report, "20-40", "urban greenery")
    assert young_green["significant"] and young_green["lift"] > 1.05 and young_green["share"] > 0.27
    young_culture = _cell(bemowo_report, "20-40", "culture")
    assert young_culture["significant"] and young_culture["lift"] < 1
    assert old_culture["share"] > young_culture["share"] * 1.8


def test_bemowo_shuffled_demographics_are_rarely_significant(bemowo):
    ideas = pb_to_ideas(bemowo)
    voters = {}
    for idea in ideas:
        for v in idea["votes"]:
            voters[v["voter_id"]] = v["demographics"]
    ids = sorted(voters)
    demos = [voters[i] for i in ids]
    random.Random(2024).shuffle(demos)  # seeded permutation of demographics over voters
    shuffled = dict(zip(ids, demos))
    for idea in ideas:
        idea["votes"] = [{"demographics": shuffled[v["voter_id"]]} for v in idea["votes"]]
    report = analyze(ideas, topics_from="category", reference_year=2023)
    rows = [r for r in report["segments"] if r["measure"] == "support"]
    assert len(rows) >= 50
    assert significant_fraction(rows) <= 0.05


@pytest.fixture(scope="module")
def madrid_report():
    records = load_decide_madrid(shared_path(MADRID))
    assert 2400 < len(records) < 2738  # junk rows dropped
    return analyze(records, params=TopicParams(k=None, k_candidates=(6, 9), seed=42), topics_from="lda",
                   reference_year=2024)


def test_madrid_topics_are_readable(madrid_report):
    q = madrid_report["quality"]
    print("Decide Madrid quality:", {k: q[k] for k in ("coherence_cv", "diversity", "k")})
    assert q["k"] in (6, 9) and len(madrid_report["topics"]) == q["k"]
    assert 0.40 <= q["coherence_cv"] <= 0.9
    assert q["diversity"] >= 0.55
    assert madrid_report["meta"]["languages"].get("es", 0) > 0.95 * madrid_report["meta"]["n_ideas"]
    pipe = TextPipeline()
    spanish_stop = pipe.stopwords("es")
    for topic in madrid_report["topics"]:
        words = [w for w, _ in topic["terms"]]
        assert len(words) == 10
        for word in words + topic["label"].split(", "):
            for part in word.split(" "):
                assert re.fullmatch(r"[^\W\d_]{3,}", part), word   # real words: letters only
                assert part not in spanish_stop
        # labels are written forms, not stems: every label word occurs in the corpus as written
        assert len(set(words)) == len(words)
    labels = " ".join(t["label"] for t in madrid_report["topics"])
    assert any(w in labels for w in ("parque", "aparcamiento", "metro", "calle", "árboles", "niños"))


def test_madrid_repeated_titles_are_flagged_as_near_duplicates(madrid_report):
    assert len(madrid_report["near_duplicates"]) >= 20
    assert any(c["near_duplicates"] for c in madrid_report["clusters"])
    assert max(c["size"] for c in madrid_report["clusters"]) >= 5
    assert all(d["similarity"] >= 0.8 for d in madrid_report["near_duplicates"])


def test_madrid_most_similar_reuses_the_index():
    records = load_decide_madrid(shared_path(MADRID))[:600]
    state = CorpusState(fallback_language="es")
    for r in records:
        state.add_idea(r["id"], r["text"])
    target = records[10]
    hits = state.most_similar(target["text"], k=5)
    assert hits[0][0] == target["id"] and len(hits) == 5
