import json

import pytest

from analytics.domain import CorpusState, analyze
from analytics.topics import TopicParams, retrain
from tests.conftest import make_corpus

PARAMS = TopicParams(k=3, passes=10, seed=7, no_below=2)


def _state(corpus, online=True):
    st = CorpusState(params=PARAMS, online=online)
    for n, (idea_id, theme, text) in enumerate(corpus):
        st.add_idea(idea_id, text, {"birthyear": 1950 if theme == "parks" else 1995,
                                    "gender": "f" if n % 2 else "m", "district": f"d{n % 3}"})
        for _ in range(3):
            st.add_support(idea_id, {"age": 70 if theme == "parks" else 25, "gender": "m"})
    return st


def test_events_projection(corpus):
    st = _state(corpus[:10])
    assert len(st.ideas) == 10 and sum(len(r.supports) for r in st.ideas.values()) == 30
    sid = st.add_support("parks-0", {"age": 30}, support_id="v1")
    assert sid == "v1"
    st.remove_support("parks-0", "v1")
    st.edit_idea("parks-1", text="Semáforo y tráfico", category="movilidad")
    assert st.ideas["parks-1"].category == "movilidad" and "~traffic-safety" in st.ideas["parks-1"].analyzed.tokens
    st.merge_ideas("parks-2", "parks-3")
    assert "parks-2" not in st.ideas and len(st.ideas["parks-3"].supports) == 6
    st.withdraw_idea("parks-4")
    assert "parks-4" not in st.ideas
    with pytest.raises(KeyError):
        st.add_support("parks-4", {})
    # surface forms follow edits/withdrawals
    assert all(counter for counter in st.surfaces.counts.values())


def test_model_lifecycle_online_updates_and_install(corpus):
    st = _state(corpus)
    docs = st.training_docs()
    model = retrain(docs, PARAMS)             # as the worker process would
    st.add_idea("late", "Piscina, gimnasio y pista de atletismo para el polideportivo")  # during training
    st.withdraw_idea("traffic-0")
    st.install_model(model)
    assert "traffic-0" not in model.assignments and "late" in model.assignments
    sport = st.assignment("sport-0")[0]
    assert st.assignment("late")[0] == sport
    st.add_idea("live", "Más pistas de tenis y baloncesto en el polideportivo")  # online update
    assert st.model.n_updates == 1 and st.assignment("live")[0] == sport
    st.edit_idea("live", text="Árboles, flores y césped en el parque")
    assert st.assignment("live")[0] == st.assignment("parks-0")[0]


def test_report_shape_and_segments(corpus):
    st = _state(corpus)
    report = st.report(reference_year=2024)
    json.dumps(report)
    assert set(report) >= {"topics", "assignments", "clusters", "segments", "quality", "meta", "near_duplicates"}
    assert report["quality"]["k"] == 3 and report["meta"]["reference_year"] == 2024
    assert set(report["assignments"]) == set(st.ideas)
    rows = report["segments"]
    assert {r["measure"] for r in rows} == {"ideas", "support"}
    assert {r["dimension"] for r in rows} == {"age_band", "gender", "district"}
    parks = st.assignment("parks-0")[0]
    # age has two values here (25 and 70): listed once, as 20-40 versus 60-80
    cell = next(r for r in rows if r["measure"] == "support" and r["dimension"] == "age_band"
                and r["segment"] == "20-40" and r["topic"] == parks)
    assert cell["versus"] == "60-80" and not any(r["segment"] == "60-80" for r in rows
                                                  if r["dimension"] == "age_band" and r["measure"] == "support")
    assert cell["significant"] and cell["lift"] < 0.8 and cell["topic_label"]
    keys = {"dimension", "segment", "topic", "measure", "count", "share", "lift", "p_value", "p_adjusted",
            "significant"}
    assert all(keys <= set(r) for r in rows)
    assert st.most_similar(corpus[0][2], k=1)[0][0] == corpus[0][0]


def test_categories_as_topics_and_batch_analyze():
    records = [{"id": i, "text": t, "category": ("sport" if "sport" in i else "green"),
                "votes": [{"demographics": {"age": 20}}]} for i, _, t in make_corpus(5)]
    report = analyze(records, reference_year=2024)
    assert report["meta"]["topics_from"] == "category"
    assert {t["label"] for t in report["topics"]} == {"sport", "green"}
    assert report["quality"]["source"] == "category"
    lda = analyze(records, topics_from="lda", params=TopicParams(k=2, passes=5), reference_year=2024)
    assert lda["meta"]["topics_from"] == "lda" and len(lda["topics"]) == 2


def test_empty_corpus_report():
    st = CorpusState()
    st.add_idea("x", "")
    st.add_idea("y", "🙂")
    report = st.report(reference_year=2024)
    assert report["topics"] == [] and report["assignments"]["x"] == {"topic": None, "weight": 0.0}
    assert report["segments"] == [] and report["meta"]["empty_texts"] == 2


def test_curation_rename_merge_seed_split(corpus):
    """Issue 17 point 2: staff curation applied to a corpus (the service records each as an event)."""
    st = _state(corpus)
    st.retrain()
    ids = [t["id"] for t in st.topic_entries()]
    assert len(ids) == 3
    parks = st.assignment("parks-0")[0]
    ids = [parks] + [i for i in ids if i != parks]
    st.curate("TopicRenamed", {"topic": ids[0], "name": "Green spaces", "terms": []})
    assert {t["id"]: t["label"] for t in st.topic_entries()}[ids[0]] == "Green spaces"
    traffic = st.assignment("traffic-0")[0]
    moved = [i for i in st.ideas if st.assignment(i)[0] == traffic]
    st.curate("TopicsMerged", {"topics": [traffic], "into": ids[0]})
    assert traffic not in {t["id"] for t in st.topic_entries()}
    assert moved and all(st.assignment(i)[0] == ids[0] for i in moved)
    assert st.curate("TopicSeeded", {"name": "Swimming", "terms": ["piscina", "natación"]}) is True
    st.retrain(st.params)
    labels = {t["label"] for t in st.topic_entries()}
    assert "Swimming" in labels and st.params.seed_terms
    assert st.curate("TopicSplit", {"topic": ids[0], "parts": [{"name": "Cars", "terms": ["coches", "tráfico"]},
                                                              {"name": "Buses", "terms": ["autobús"]}]})
    assert len(st.params.seed_terms) == 3 and [n for n, _ in st.curation["seeds"]] == ["Swimming", "Cars", "Buses"]
