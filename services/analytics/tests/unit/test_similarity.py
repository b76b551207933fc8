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
    assert "_" not in bici["label"] and "bicimad" in bici["label"]


def test_empty_index():
    idx = SimilarityIndex([("x", ()), ("y", ())])
    assert len(idx) == 0 and idx.clusters() == [] and idx.near_duplicates() == []
    assert idx.most_similar_tokens(("a",)) == []
    with pytest.raises(ValueError):
        idx.most_similar("text")
