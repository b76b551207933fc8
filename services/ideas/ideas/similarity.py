"""Similar ideas: TF-IDF cosine similarity (gensim) over multilingual tokens.

Tokenisation per text: language detected with py3langid (or given), ``nltk.tokenize.RegexpTokenizer`` on word
characters (any script), case folding, stop words from stopwordsiso for that language, and the Snowball stemmer of
that language when nltk has one (no nltk_data is needed for any of these). The IDF is smoothed
(``log2((1+N)/(1+df)) + 1``) so that a corpus of one or two ideas still finds its duplicate.

:class:`SimilarityIndex` is built from (idea_id, text, language) triples; :class:`IndexCache` keeps one index in
memory per (tenant, project) and rebuilds it when the projection's revision for that project changes. Building
and querying big corpora runs in a native thread (``eventlet.tpool.execute``) so the nameko hub stays responsive.
"""
from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import RegexpTokenizer

SNOWBALL = {"ar": "arabic", "da": "danish", "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french",
            "de": "german", "hu": "hungarian", "it": "italian", "no": "norwegian", "nb": "norwegian",
            "nn": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian", "es": "spanish",
            "sv": "swedish"}
DEFAULT_THRESHOLD = 0.15
TPOOL_MIN_DOCS = 500          # corpora at least this big are built/queried off the eventlet hub

_tokenizer = RegexpTokenizer(r"\w+")


# Candidate languages for detection: restricting py3langid to the languages a civic platform in Europe and beyond
# realistically receives avoids exotic guesses on short texts ("Plant trees" → Afrikaans). Override with the
# environment variable IDEAS_LANGUAGES (comma-separated ISO 639-1 codes).
LANGUAGES = ("en", "fr", "de", "nl", "es", "it", "pt", "ar", "da", "sv", "fi", "no", "ro", "ru", "hu", "pl", "cs",
             "el", "tr", "uk", "he", "zh", "ja", "ko", "ca", "eu", "gl", "et", "lv", "lt", "sk", "sl", "hr", "bg",
             "fa", "ur", "hi")
MIN_CONFIDENCE = 0.2


@functools.lru_cache(maxsize=1)
def _identifier():
    import os
    from py3langid import langid
    ident = langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
    langs = [code.strip() for code in os.environ.get("IDEAS_LANGUAGES", "").split(",") if code.strip()]
    ident.set_languages(langs or list(LANGUAGES))
    return ident


def detect_language(text: str, default: str = "und") -> str:
    """ISO 639-1 code of ``text`` (py3langid over :data:`LANGUAGES`), ``default`` when unsure or without letters."""
    if not text or not any(ch.isalpha() for ch in text):
        return default
    lang, prob = _identifier().classify(text)
    return lang if lang and prob >= MIN_CONFIDENCE else default


@functools.lru_cache(maxsize=None)
def _stopwords(lang: str) -> frozenset:
    try:
        import stopwordsiso
        return frozenset(w.casefold() for w in stopwordsiso.stopwords(lang))
    except Exception:  # noqa: BLE001 - unknown language: no stop words
        return frozenset()


@functools.lru_cache(maxsize=None)
def _stemmer(lang: str):
    name = SNOWBALL.get(lang)
    return SnowballStemmer(name) if name else None


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Case-folded, stop-word-free, stemmed tokens of ``text`` in ``language`` (detected when None)."""
    lang = (language or detect_language(text, "und")).split("-")[0].lower()
    stops = _stopwords(lang)
    stem = _stemmer(lang)
    out = []
    for tok in _tokenizer.tokenize(text.casefold()):
        if tok in stops or tok.isdigit() or (len(tok) < 2 and tok.isascii()):
            continue
        out.append(stem.stem(tok) if stem else tok)
    return out


def _smooth_idf(docfreq: int, totaldocs: int) -> float:
    return math.log2((1.0 + totaldocs) / (1.0 + docfreq)) + 1.0


@dataclass(frozen=True)
class Match:
    idea_id: str
    score: float


class SimilarityIndex:
    """TF-IDF model + sparse cosine index over a fixed corpus."""

    def __init__(self, docs: Sequence[tuple[str, str, str | None]]):
        from gensim import corpora, models, similarities
        self.ids = [d[0] for d in docs]
        texts = [tokenize(text, lang) for _, text, lang in docs]
        self.dictionary = corpora.Dictionary(texts)
        bows = [self.dictionary.doc2bow(t) for t in texts]
        self.tfidf = models.TfidfModel(dictionary=self.dictionary, wglobal=_smooth_idf, normalize=True)
        self.index = (similarities.SparseMatrixSimilarity(self.tfidf[bows], num_features=len(self.dictionary))
                      if self.ids and len(self.dictionary) else None)

    def __len__(self) -> int:
        return len(self.ids)

    def query(self, text: str, language: str | None = None, limit: int = 5, threshold: float = DEFAULT_THRESHOLD,
              exclude: Iterable[str] = ()) -> list[Match]:
        if self.index is None:
            return []
        bow = self.dictionary.doc2bow(tokenize(text, language))
        if not bow:
            return []
        scores = self.index[self.tfidf[bow]]
        exclude = set(exclude)
        ranked = sorted(((float(s), i) for i, s in enumerate(scores) if s >= threshold
                         and self.ids[i] not in exclude), key=lambda x: (-x[0], self.ids[x[1]]))
        return [Match(self.ids[i], round(s, 4)) for s, i in ranked[:limit]]


def _offload(fn: Callable, *args, big: bool = False, **kwargs):
    """Run ``fn`` in eventlet's native thread pool when asked to (big corpora) and eventlet is in use."""
    if big:
        try:
            from eventlet import tpool
            return tpool.execute(fn, *args, **kwargs)
        except ImportError:  # pragma: no cover - eventlet always installed with nameko
            pass
    return fn(*args, **kwargs)


class IndexCache:
    """One :class:`SimilarityIndex` per (tenant, project), rebuilt when ``revision(tenant, project)`` changes.

    ``revision`` is cheap (one document read); ``load(tenant, project)`` returns the (idea_id, text, language)
    triples of the candidate ideas (from the projection).
    """

    def __init__(self, revision: Callable[[str, str], object], load: Callable[[str, str], list],
                 tpool_min_docs: int = TPOOL_MIN_DOCS):
        self.revision = revision
        self.load = load
        self.tpool_min_docs = tpool_min_docs
        self._cache: dict[tuple[str, str], tuple[object, SimilarityIndex]] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def get(self, tenant: str, project_id: str) -> SimilarityIndex:
        key = (tenant, project_id)
        rev = self.revision(tenant, project_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == rev:
            return cached[1]
        docs = self.load(tenant, project_id)
        index = _offload(SimilarityIndex, docs, big=len(docs) >= self.tpool_min_docs)
        with self._lock:
            self._cache[key] = (rev, index)
            self.builds += 1
        return index

    def similar(self, tenant: str, project_id: str, text: str, language: str | None = None, limit: int = 5,
                threshold: float = DEFAULT_THRESHOLD, exclude: Iterable[str] = ()) -> list[Match]:
        index = self.get(tenant, project_id)
        return _offload(index.query, text, language, limit, threshold, tuple(exclude),
                        big=len(index) >= self.tpool_min_docs)
