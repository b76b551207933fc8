"""Multilingual text pipeline for ideas (nl, fr, en, da, es, de, pl).

Steps for one text (:meth:`TextPipeline.analyze`):

1. **HTML stripped** (:func:`strip_html`): tags removed with the stdlib ``html.parser`` (``<script>``/``<style>``
   contents dropped, block tags become spaces), entities decoded, and a second pass removes markup that was only
   entity-escaped in the source (Decide Madrid has ``&lt;a onclick=...&gt;``). URLs and e-mail addresses are removed.
2. **Language detected** (:meth:`TextPipeline.detect_language`) with py3langid restricted to
   :data:`SUPPORTED_LANGUAGES`; texts with fewer than ``min_letters`` letters or a normalised probability below
   ``min_confidence`` get the caller's ``fallback`` (``CorpusState`` passes the corpus' majority language, so a
   two-word Spanish title in a Spanish corpus is stemmed as Spanish) or else ``default_language`` — empty,
   emoji-only or non-Latin-script texts never fail.
3. **Tokenised** with ``nltk.tokenize.RegexpTokenizer`` on runs of Unicode letters (no nltk_data needed; digits,
   punctuation and emoji are dropped; hyphens and apostrophes split words), lower-cased, NFKC-normalised.
4. **Stopwords** removed: stopwordsiso for the detected language plus :data:`DOMAIN_STOPWORDS` (platform words such as
   "proposal", "propuesta", "petition") plus caller-supplied extras; tokens shorter than ``min_token_len`` dropped.
5. **Concepts**: a word that names a concept of the multilingual municipal taxonomy (:mod:`analytics.taxonomy`)
   becomes the concept token ``~<concept>`` (``fietsstraat``, ``bike lane``, ``piste cyclable`` → ``~cycling``), so
   ideas about one concern share their words across languages. ``taxonomy=None`` switches this off.
6. **Stemmed** with ``nltk.stem.SnowballStemmer`` for the detected language (Polish, which Snowball lacks: a light
   suffix stripper, :func:`stem_polish`).

Besides the tokens, the stance cues of the text (negations, antonym pairs: :func:`analytics.taxonomy.stance`) are
kept, so that near-duplicates never pair opposite stances.

The result is an :class:`AnalyzedText` with aligned ``tokens`` (stems: what the models see) and ``surfaces`` (the
lower-cased words as written). Readable labels come from :class:`SurfaceForms`, which counts, for each stem, the
surface forms seen and labels the stem with its most frequent one — so labels are always words somebody wrote,
never a bare stem. Bigram tokens (``a_b``, built by :class:`BigramModel`, a gensim ``Phrases`` wrapper) are labelled
part by part (``"carril bici"``).

Everything here is pure and picklable (``TextPipeline`` loads its language model lazily and drops it on pickling).
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Iterable, Sequence

from nltk.stem import SnowballStemmer
from nltk.tokenize import RegexpTokenizer

SUPPORTED_LANGUAGES: tuple[str, ...] = ("nl", "fr", "en", "da", "es", "de", "pl")
DEFAULT_LANGUAGE = "en"
BIGRAM_DELIMITER = "_"

_SNOWBALL_NAMES = {
    "nl": "dutch", "fr": "french", "en": "english", "da": "danish", "es": "spanish", "de": "german", "pl": None,
}

_PL_SUFFIXES = sorted("""ościach ościami owania owanie owaniu ościom ością ości iami ach ami ego emu ymi imi owi
    om ów ie ia iu ią ę ą y i a u e o ym im ej ek ka ki ce""".split(), key=len, reverse=True)


def stem_polish(word: str) -> str:
    """Light Polish stemmer: the longest inflectional suffix is stripped when at least four letters remain."""
    for suffix in _PL_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word

#: Platform words that say nothing about an idea's topic, per language (matched on the lower-cased surface form).
DOMAIN_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""proposal proposals propose proposed proposing idea ideas project projects petition petitions
        petitioning government please ask asking call calling urge request requesting want would like make support
        allow need needs people also etc via""".split()),
    "es": frozenset("""propuesta propuestas propongo proponemos propone proponer idea ideas proyecto proyectos
        solicito solicitamos solicitar solicitud pedimos pido petición ayuntamiento favor gracias etc mediante
        poder hacer debería deberían""".split()),
    "fr": frozenset("""proposition propositions propose proposons proposer idée idées projet projets demande
        demandons pétition mairie merci etc faire""".split()),
    "nl": frozenset("""voorstel voorstellen stel idee ideeën project projecten gemeente verzoek graag etc maken
        willen""".split()),
    "da": frozenset("""forslag foreslår ide idé ideer projekt projekter kommune kommunen anmoder gerne etc lave
        ønsker""".split()),
    "de": frozenset("""vorschlag vorschläge schlage idee ideen projekt projekte antrag gemeinde bitte etc machen
        soll sollte""".split()),
    "pl": frozenset("""projekt projekty projektu pomysł pomysły wniosek propozycja prosimy proszę miasta miasto
        gmina dzielnicy dzielnica etc""".split()),
}
#: Words dropped whatever the language (web debris).
COMMON_STOPWORDS = frozenset("http https www com org html php amp nbsp quot".split())

_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]{0,500}>")
_WS_RE = re.compile(r"\s+")
_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):  # noqa: D401 - HTMLParser API
        if tag in self._SKIP:
            self._skipping += 1
        self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        self.parts.append(" ")

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def strip_html(text: str | None) -> str:
    """Plain text of ``text``: tags (and escaped tags), entities, URLs, e-mails removed; whitespace collapsed."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        parser = _TextExtractor()
        try:
            parser.feed(text)
            parser.close()
            text = "".join(parser.parts)
        except Exception:  # pragma: no cover - HTMLParser is very lenient; fall back to a regex
            text = _TAG_RE.sub(" ", text)
        text = html.unescape(text)
        text = _TAG_RE.sub(" ", text)  # markup that was entity-escaped in the source
    text = _URL_RE.sub(" ", text)
    return _WS_RE.sub(" ", text).strip()


@dataclass(frozen=True)
class AnalyzedText:
    """One analysed text: ``tokens`` (stems) and ``surfaces`` (words as written, lower-cased) are aligned."""

    language: str
    tokens: tuple[str, ...]
    surfaces: tuple[str, ...]
    cues: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tokens


class TextPipeline:
    """Language detection, tokenisation, stopwords and stemming for :data:`SUPPORTED_LANGUAGES`.

    ``TextPipeline().analyze("<p>Más carriles bici en Madrid</p>")`` →
    ``AnalyzedText(language='es', tokens=('carril', 'bici', 'madr'), surfaces=('carriles', 'bici', 'madrid'))``.
    """

    def __init__(self, languages: Sequence[str] = SUPPORTED_LANGUAGES, default_language: str = DEFAULT_LANGUAGE,
                 extra_stopwords: Iterable[str] = (), min_token_len: int = 3, min_letters: int = 12,
                 min_confidence: float = 0.75, taxonomy="default") -> None:
        unknown = [lang for lang in languages if lang not in _SNOWBALL_NAMES]
        if unknown or not languages:
            raise ValueError(f"unsupported languages {unknown}; choose among {SUPPORTED_LANGUAGES}")
        if default_language not in languages:
            raise ValueError(f"default language {default_language!r} not in {list(languages)}")
        self.languages = tuple(languages)
        self.default_language = default_language
        self.extra_stopwords = frozenset(w.lower() for w in extra_stopwords)
        self.min_token_len = min_token_len
        self.min_letters = min_letters
        self.min_confidence = min_confidence
        self._tokenizer = RegexpTokenizer(r"[^\W\d_]+")
        self._identifier = None
        self._stemmers: dict[str, SnowballStemmer] = {}
        self._stopwords: dict[str, frozenset[str]] = {}
        self._stem_cache: dict[tuple[str, str], str] = {}
        if taxonomy == "default":
            from analytics.taxonomy import load

            taxonomy = load()
        self.taxonomy = taxonomy

    # pickling: drop the (large, reloadable) language model and caches
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_identifier"] = None
        state["_stemmers"] = {}
        state["_stem_cache"] = {}
        state["_tokenizer"] = None  # nltk's RegexpTokenizer does not survive pickling (redos timeout sentinel)
        return state

    def _get_identifier(self):
        if self._identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(self.languages))
            self._identifier = identifier
        return self._identifier

    def detect(self, plain_text: str) -> str | None:
        """Language code of ``plain_text`` among ``self.languages``, or None when unsure (too few letters or a
        normalised probability below ``min_confidence``)."""
        if len(_LETTER_RE.findall(plain_text)) < self.min_letters:
            return None
        lang, prob = self._get_identifier().classify(plain_text)
        if lang not in self.languages or prob < self.min_confidence:
            return None
        return lang

    def detect_language(self, plain_text: str, fallback: str | None = None) -> str:
        """:meth:`detect`, falling back to ``fallback`` (e.g. the corpus' majority language) or the default."""
        lang = self.detect(plain_text)
        if lang is not None:
            return lang
        return fallback if fallback in self.languages else self.default_language

    def stopwords(self, language: str) -> frozenset[str]:
        words = self._stopwords.get(language)
        if words is None:
            import stopwordsiso

            iso = stopwordsiso.stopwords(language) if stopwordsiso.has_lang(language) else set()
            words = frozenset(w.lower() for w in iso) | DOMAIN_STOPWORDS.get(language, frozenset()) \
                | COMMON_STOPWORDS | self.extra_stopwords
            self._stopwords[language] = words
        return words

    def _stem(self, language: str, word: str) -> str:
        key = (language, word)
        stem = self._stem_cache.get(key)
        if stem is None:
            if _SNOWBALL_NAMES[language] is None:
                stem = stem_polish(word)
            else:
                stemmer = self._stemmers.get(language)
                if stemmer is None:
                    stemmer = self._stemmers[language] = SnowballStemmer(_SNOWBALL_NAMES[language])
                stem = stemmer.stem(word) or word
            if len(self._stem_cache) < 500_000:
                self._stem_cache[key] = stem
        return stem

    def tokenize(self, plain_text: str) -> list[str]:
        """Lower-cased letter runs of ``plain_text`` (no stopword removal)."""
        text = unicodedata.normalize("NFKC", plain_text).lower()
        if self._tokenizer is None:
            self._tokenizer = RegexpTokenizer(r"[^\W\d_]+")
        return self._tokenizer.tokenize(text)

    def analyze(self, text: str | None, language: str | None = None, fallback: str | None = None) -> AnalyzedText:
        """Analyse raw (possibly HTML) ``text``; ``language`` forces the language instead of detecting it,
        ``fallback`` is used when detection is unsure (the corpus' majority language is a good choice)."""
        plain = strip_html(text or "")
        lang = language if language in self.languages else self.detect_language(plain, fallback)
        stop = self.stopwords(lang)
        tokens: list[str] = []
        surfaces: list[str] = []
        words = self.tokenize(plain)
        tax = self.taxonomy
        for word in words:
            if len(word) < self.min_token_len or word in stop:
                continue
            concept = tax.token(lang, word) if tax is not None else None
            stem = concept or self._stem(lang, word)
            if len(stem) < 2:
                continue
            tokens.append(stem)
            surfaces.append(word)
        from analytics.taxonomy import stance

        return AnalyzedText(lang, tuple(tokens), tuple(surfaces), stance(words, lang))


@dataclass
class SurfaceForms:
    """Counts of surface forms per stem, for readable labels; supports removal (edited/withdrawn ideas)."""

    counts: dict[str, Counter] = field(default_factory=dict)

    def add(self, tokens: Sequence[str], surfaces: Sequence[str]) -> None:
        for stem, word in zip(tokens, surfaces):
            counter = self.counts.get(stem)
            if counter is None:
                counter = self.counts[stem] = Counter()
            counter[word] += 1

    def remove(self, tokens: Sequence[str], surfaces: Sequence[str]) -> None:
        for stem, word in zip(tokens, surfaces):
            counter = self.counts.get(stem)
            if counter is None:
                continue
            counter[word] -= 1
            if counter[word] <= 0:
                del counter[word]
            if not counter:
                del self.counts[stem]

    def label(self, token: str) -> str:
        """Most frequent surface form of ``token`` (ties: alphabetical); bigrams ``a_b`` → ``"label(a) label(b)"``.

        A token never seen with a surface form (should not happen for model vocabulary) is returned as is.
        """
        counter = self.counts.get(token)
        if counter:
            return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if BIGRAM_DELIMITER in token:
            parts = [p for p in token.split(BIGRAM_DELIMITER) if p]
            if len(parts) > 1:
                return " ".join(self.label(p) for p in parts)
        return token

    def __call__(self, token: str) -> str:
        return self.label(token)


class BigramModel:
    """gensim ``Phrases`` trained on stem lists, frozen (``FrozenPhrases``) for fast, picklable application."""

    def __init__(self, texts: Iterable[Sequence[str]], min_count: int = 5, threshold: float = 10.0) -> None:
        from gensim.models.phrases import Phrases

        phrases = Phrases((list(t) for t in texts), min_count=min_count, threshold=threshold,
                          delimiter=BIGRAM_DELIMITER, connector_words=frozenset())
        self._frozen = phrases.freeze()
        self.n_phrases = len(self._frozen.phrasegrams)

    def apply(self, tokens: Sequence[str]) -> list[str]:
        if len(tokens) < 2 or not self.n_phrases:
            return list(tokens)
        return list(self._frozen[list(tokens)])

    def phrases(self) -> list[str]:
        return sorted(self._frozen.phrasegrams)
