import pytest

from ideas.similarity import IndexCache, SimilarityIndex, detect_language, tokenize

DOCS = [
    ("a", "More trees in the city park, plant trees along the avenue", "en"),
    ("b", "Build a new bicycle lane on Main street", "en"),
    ("c", "Des pistes cyclables sur la rue principale", "fr"),
    ("d", "Mehr Bäume im Stadtpark pflanzen", "de"),
    ("e", "زراعة الأشجار في الحديقة العامة", "ar"),
    ("f", "Meer bomen in het stadspark planten", "nl"),
]


def test_tokenize_is_multilingual_without_nltk_data():
    assert tokenize("Planting more trees in the parks!", "en") == ["plant", "tree", "park"]
    assert tokenize("Les pistes cyclables", "fr") == ["pist", "cyclabl"]
    assert tokenize("Bäume pflanzen 🌳", "de") == ["baum", "pflanz"]
    assert "公园" in "".join(tokenize("公园 树木"))                     # no stemmer: tokens kept


def test_detect_language():
    assert detect_language("Nous voulons plus de pistes cyclables dans la ville") == "fr"
    assert detect_language("We want more bicycle lanes in the city") == "en"
    assert detect_language("🌳 123", "und") == "und"


@pytest.mark.parametrize("query,expected", [
    ("Plant more trees in the park", "a"), ("piste cyclable rue", "c"), ("Bäume pflanzen", "d"),
    ("الأشجار الحديقة", "e"), ("bomen planten in het park", "f"), ("bicycle lane", "b")])
def test_finds_the_duplicate_in_each_language(query, expected):
    matches = SimilarityIndex(DOCS).query(query)
    assert matches and matches[0].idea_id == expected
    assert 0 < matches[0].score <= 1


def test_small_corpus_limit_exclude_and_nothing_similar():
    assert SimilarityIndex(DOCS[:1]).query("plant trees in the park")[0].idea_id == "a"
    ix = SimilarityIndex(DOCS)
    assert ix.query("zebra crossing quantum") == []
    assert ix.query("trees park", exclude=["a"]) == []
    assert len(ix.query("trees bicycle street lane park avenue", limit=1)) == 1
    assert SimilarityIndex([]).query("anything") == []


def test_cache_rebuilds_only_when_the_revision_changes():
    state = {"rev": 1, "docs": DOCS[:2]}
    cache = IndexCache(lambda t, p: state["rev"], lambda t, p: list(state["docs"]))
    assert cache.similar("t", "p", "trees park")[0].idea_id == "a"
    cache.similar("t", "p", "bicycle")
    assert cache.builds == 1
    state.update(rev=2, docs=DOCS)
    assert cache.similar("t", "p", "Bäume pflanzen")[0].idea_id == "d"
    assert cache.builds == 2
    cache.similar("t", "other", "x")
    assert cache.builds == 3


def test_cache_offloads_big_corpora_to_tpool():
    docs = [(f"i{n}", f"idea number {n} about topic{n % 7} and word{n % 13}", "en") for n in range(60)]
    cache = IndexCache(lambda t, p: 1, lambda t, p: docs, tpool_min_docs=50)
    assert cache.similar("t", "p", "topic3 word5")[0].score > 0
