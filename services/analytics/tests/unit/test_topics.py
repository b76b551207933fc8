import multiprocessing
import pickle
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from analytics.text import SurfaceForms, TextPipeline
from analytics.topics import (ModelState, TopicParams, coherence_cv, coherence_npmi, doc_term_matrix, match_topics,
                              retrain, topic_diversity)
from tests.conftest import THEMES, make_corpus

PARAMS = TopicParams(k=3, passes=10, seed=7, no_below=2)


@pytest.fixture(scope="module")
def analysed(corpus):
    pipe = TextPipeline(taxonomy=None)     # the classic LDA path on words (concepts: test_concepts.py)
    sf = SurfaceForms()
    docs, themes = [], {}
    for idea_id, theme, text in corpus:
        a = pipe.analyze(text)
        sf.add(a.tokens, a.surfaces)
        docs.append((idea_id, a.tokens))
        themes[idea_id] = theme
    return pipe, sf, docs, themes


@pytest.fixture(scope="module")
def model(analysed):
    return retrain(analysed[2], PARAMS)


def _purity(model, themes):
    by_topic = {}
    for idea_id, (topic, _) in model.assignments.items():
        by_topic.setdefault(topic, Counter())[themes[idea_id]] += 1
    return sum(c.most_common(1)[0][1] for c in by_topic.values()) / len(themes)


def test_retrain_recovers_planted_themes_with_readable_labels(model, analysed):
    _, sf, _, themes = analysed
    assert model.k == 3
    assert _purity(model, themes) >= 0.9
    topics = model.topics(sf)
    vocab = {w for ws in THEMES.values() for w in ws}
    for t in topics:
        assert {"id", "label", "terms"} <= set(t)
        words = [w for w, _ in t["terms"]]
        assert len(words) >= 5 and all(w in vocab or w in {"barrio", "queremos"} for w in words[:5]), words
        assert all(part in vocab for part in t["label"].split(", "))
        assert all(0 < x <= 1 for _, x in t["terms"])
    assert 0 <= model.quality["coherence"] <= 1 and model.quality["diversity"] > 0.3


def test_retrain_is_deterministic(analysed, model):
    again = retrain(analysed[2], PARAMS)
    assert again.assignments == model.assignments
    assert np.allclose(again.lda.get_topics(), model.lda.get_topics())
    assert again.quality == model.quality


def test_retrain_runs_in_a_spawned_worker_process(analysed, model):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        remote = pool.submit(retrain, analysed[2], PARAMS).result(timeout=240)
    assert isinstance(remote, ModelState)
    assert remote.assignments == model.assignments
    clone = pickle.loads(pickle.dumps(remote))
    assert clone.assign(analysed[2][0][1]) == model.assign(analysed[2][0][1])


def test_auto_k_chooses_by_coherence_times_diversity(analysed):
    state = retrain(analysed[2], TopicParams(k=None, k_candidates=(2, 3, 6), passes=10, seed=7, no_below=2))
    cands = state.quality["candidates"]
    assert [c["k"] for c in cands] == [2, 3, 6]
    best = max(cands, key=lambda c: c["score"])
    assert state.k == best["k"] == state.quality["k"] == 3        # three planted themes
    for c in cands:
        assert c["score"] == pytest.approx(c["coherence"] * c["diversity"], abs=1e-3)
        assert 0 <= c["coherence"] <= 1 and c["coherence"] == c["coherence"]      # never NaN


def test_default_candidates_start_at_two_and_two_concerns_give_two_topics():
    """Issue 17 point 3: the smallest candidate was 6 even for a corpus with two concerns."""
    assert TopicParams().k_candidates[0] == 2
    pipe = TextPipeline(taxonomy=None)
    import random
    rng = random.Random(5)
    a = "piscina natación vestuarios socorristas nadar calles agua climatizada cubierta".split()
    b = "biblioteca libros lectura préstamo estanterías sala estudio novelas horario".split()
    docs = [(f"d{i}", pipe.analyze(" ".join(rng.choice(a if i % 2 else b) for _ in range(9)), language="es").tokens)
            for i in range(80)]
    state = retrain(docs, TopicParams(seed=3))
    assert [c["k"] for c in state.quality["candidates"]][0] == 2
    assert state.k == 2, state.quality["candidates"]


def test_coherence_never_nan_when_a_top_word_is_rare():
    """The old c_v on a 1,000-text sample was NaN (→ 0.0) when a top word was missing from the sample."""
    from gensim.corpora import Dictionary
    texts = [["brexit", "vote"], ["brexit", "referendum"], ["cannabis", "legal"]] * 400 + [["rare", "word"]]
    d = Dictionary(texts)
    m = doc_term_matrix([d.doc2bow(t) for t in texts], len(d))
    value = coherence_npmi([[d.token2id["rare"], d.token2id["brexit"]], [d.token2id["brexit"],
                                                                       d.token2id["vote"]]], m)
    assert value == value and -1 <= value <= 1


def test_retrain_keeps_topic_identities_and_same_ideas_in_another_order_give_the_same_partition(analysed):
    """Issue 17 point 2: ids survive a retrain (matching) and the partition does not depend on the order."""
    docs = analysed[2]
    first = retrain(docs, PARAMS)
    shuffled = list(reversed(docs))
    again = retrain(shuffled, PARAMS, previous=first.signature())
    assert again.assignments == first.assignments          # identical partition and ids (ARI = 1)
    import random
    rng = random.Random(1)
    other = docs[:]
    rng.shuffle(other)
    grown = retrain(other + [("extra", docs[0][1])], PARAMS, previous=first.signature())
    same = sum(1 for i in first.assignments if grown.assignments[i][0] == first.assignments[i][0])
    assert same / len(first.assignments) >= 0.9
    assert match_topics(first.signature(), first.signature()) == {t: t for t in range(first.k)}


def test_online_update_assigns_new_idea_without_distorting_topics(analysed):
    pipe, sf, docs, themes = analysed
    state = retrain(docs, PARAMS)
    before = state.lda.get_topics().copy()
    park_topic = Counter(state.assignments[i] [0] for i in themes if themes[i] == "parks").most_common(1)[0][0]
    new = pipe.analyze("Más árboles, flores y sombra en el parque con bancos nuevos y una fuente")
    got = state.update([("new-1", new.tokens)])
    assert got["new-1"][0] == park_topic and state.assignments["new-1"] == got["new-1"]
    after = state.lda.get_topics()
    assert np.abs(after - before).sum(axis=1).max() < 0.05  # one idea moves no topic by more than 5 % L1
    assert state.n_updates == 1
    state.forget(new.tokens, "new-1")
    assert "new-1" not in state.assignments
    assert np.abs(state.lda.get_topics() - before).max() < 1e-6


def test_update_counts_unknown_words_and_suggests_retrain(model):
    state = pickle.loads(pickle.dumps(model))
    state.update([(f"x{i}", ("zzzunknown", "yyyunknown")) for i in range(300)])
    assert state.oov_tokens == 600 and state.needs_retrain(len(state.assignments))
    assert state.assignments["x0"] == (None, 0.0)


def test_empty_and_tiny_corpora():
    empty = retrain([("a", ()), ("b", ())], TopicParams(k=None))
    assert empty.lda is None and empty.k == 0 and empty.assignments == {"a": (None, 0.0), "b": (None, 0.0)}
    assert empty.topics(str) == [] and empty.assign(("x",)) == (None, 0.0) and empty.update([("c", ("x",))]) == {}
    tiny = retrain([(str(i), ("parqu", "arbol", "banc") if i % 2 else ("coch", "traf", "semafor"))
                    for i in range(6)], TopicParams(k=None, passes=5))
    assert tiny.k >= 2 and set(tiny.assignments) == {str(i) for i in range(6)}


def test_quality_helpers():
    assert topic_diversity([["a", "b"], ["a", "c"]]) == 0.75
    assert topic_diversity([]) == 0.0
    from gensim.corpora import Dictionary

    texts = make_corpus(10)
    toks = [t.split() for _, _, t in texts]
    d = Dictionary(toks)
    good = coherence_cv([THEMES["parks"][:5], THEMES["sport"][:5]], toks, d, topn=5)
    mixed = coherence_cv([THEMES["parks"][:2] + THEMES["sport"][:3], THEMES["sport"][3:5] + THEMES["traffic"][:3]],
                         toks, d, topn=5)
    assert 0 < mixed < good <= 1
