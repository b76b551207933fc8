import pytest

from analytics.similarity import SimilarityIndex
from analytics.text import SurfaceForms, TextPipeline

TEXTS = {
    "a": "Instalar una estación de BiciMAD en la plaza de Castilla junto al intercambiador",
    "a2": "Instalar una estación de BiciMAD en la plaza de Castilla junto al intercambiador.",
    "a3": "Nueva estación BiciMAD en la plaza de Castilla",
    "b": "Más árboles y sombra en el parque infantil de Tetuán, los niños pasan calor",
    "b2": "Plantar árboles que den sombra en el parque infantil de Tetuán",
    "c": "Reducir el ruido nocturno de las terrazas en Malasaña",
    "e": "😀",
    "en": "Build a public swimming pool in the north of the city",
}


@pytest.fixture(scope="module")
def index():
    pipe = TextPipeline()
    sf = SurfaceForms()
    docs = []
    for i, t in TEXTS.items():
        a = pipe.analyze(t, fallback="es")
        sf.add(a.tokens, a.surfaces)
        docs.append((i, a.tokens))
    return SimilarityIndex(docs, pipeline=pipe, labeler=sf)


def test_empty_texts_are_not_indexed(index):
    assert "e" not in index.ids and len(index) == len(TEXTS) - 1


def test_most_similar_by_text_and_by_id(index):
    hits = index.most_similar("¿Podemos tener una estación de BiciMAD en plaza de Castilla?", k=3)
    assert [h[0] for h in hits][:3] and {h[0] for h in hits[:3]} == {"a", "a2", "a3"}
    assert all(0 < s <= 1 for _, s in hits) and hits == sorted(hits, key=lambda h: -h[1])
    assert index.similar_to("b", k=1)[0][0] == "b2"
    assert index.most_similar("", k=5) == [] and index.most_similar("xyzzy qwerty", k=5) == []
    assert "a" not in [h[0] for h in index.most_similar(TEXTS["a"], k=5, exclude=["a"])]
    with pytest.raises(KeyError):
        index.similar_to("nope")


def test_near_duplicates_and_clusters(index):
    dups = index.near_duplicates(0.8)
    assert ("a", "a2") in {(x, y) for x, y, _ in dups}
    assert all(s >= 0.8 for *_, s in dups)
    clusters = index.clusters(threshold=0.3)
    groups = [set(c["ideas"]) for c in clusters]
    assert {"a", "a2", "a3"} in groups and {"b", "b2"} in groups
    assert not any("c" in g or "en" in g for g in groups)
    bici = next(c for c in clusters if "a" in c["ideas"])
    assert bici["size"] == 3 and bici["representative"] in {"a", "a2", "a3"}
    assert ["a", "a2"] == bici["near_duplicates"][0][:2]
    assert "_" not in bici["label"] and "castilla" in bici["label"]


def test_empty_index():
    idx = SimilarityIndex([("x", ()), ("y", ())])
    assert len(idx) == 0 and idx.clusters() == [] and idx.near_duplicates() == []
    assert idx.most_similar_tokens(("a",)) == []
    with pytest.raises(ValueError):
        idx.most_similar("text")


def test_opposite_stances_are_never_near_duplicates():
    """Issue 17 point 5: "Ban Steve Bannon" and "allow Steve Bannon" were flagged as near-duplicates (0.979)."""
    pipe = TextPipeline()
    texts = {"ban": "Ban Steve Bannon from entering the UK", "allow": "Allow Steve Bannon to enter the UK",
             "ban2": "Ban Steve Bannon from entering the UK!",
             "keep": "Do not close the library in Noord", "close": "Close the library in Noord",
             "nl_keep": "De bibliotheek in Noord niet sluiten", "nl_close": "De bibliotheek in Noord sluiten"}
    analysed = {i: pipe.analyze(t) for i, t in texts.items()}
    idx = SimilarityIndex([(i, a.tokens) for i, a in analysed.items()], pipeline=pipe,
                          cues={i: a.cues for i, a in analysed.items()})
    pairs = {frozenset((a, b)) for a, b, _ in idx.near_duplicates(0.7)}
    assert frozenset(("ban", "ban2")) in pairs
    for a, b in (("ban", "allow"), ("ban2", "allow"), ("keep", "close"), ("nl_keep", "nl_close")):
        assert frozenset((a, b)) not in pairs
    opposing = {frozenset((a, b)) for a, b, _ in idx.opposing(0.7)}
    assert frozenset(("ban", "allow")) in opposing and frozenset(("keep", "close")) in opposing


def test_clusters_do_not_chain():
    """Issue 17 point 5: single linkage chained A~B~C~… into a 75-idea cluster; average linkage bounds it."""
    docs = [(f"d{i}", tuple(f"w{j}" for j in range(i, i + 3))) for i in range(30)]
    idx = SimilarityIndex(docs)
    clusters = idx.clusters(threshold=0.5)
    assert clusters and max(c["size"] for c in clusters) <= 3
    assert all(c["mean_similarity"] >= 0.5 for c in clusters)
    # a real group of near-identical ideas still forms one cluster
    same = SimilarityIndex([(f"s{i}", ("pool", "demolition", "swimming") + (("please",) if i % 2 else ()))
                            for i in range(12)]
                           + [(f"o{i}", (f"y{i}", f"z{i}", "bench")) for i in range(30)])
    assert same.clusters(threshold=0.5)[0]["size"] == 12
