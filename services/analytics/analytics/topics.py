"""Topic model engine: one gensim ``LdaModel`` per corpus (tenant + project).

API
---
``retrain(docs, params) -> ModelState``
    Full retrain. ``docs`` is a sequence of ``(idea_id, tokens)`` (stems from :mod:`analytics.text`), ``params`` a
    :class:`TopicParams`. Top-level, pure and picklable in both directions: the service runs it in a worker process
    (``ProcessPoolExecutor`` with the spawn context), never on the eventlet hub. Steps: bigrams (gensim ``Phrases``)
    → ``Dictionary`` (``filter_extremes``) → bag-of-words → ``LdaModel`` for each candidate k (or only ``params.k``)
    → quality (c_v coherence + topic diversity) → the best candidate → topic assignment of every doc.

Choosing k (when ``params.k`` is None)
    Every k in ``params.k_candidates`` (clipped so that each topic has at least ``min_docs_per_topic`` documents) is
    trained; each gets c_v coherence (gensim ``CoherenceModel``, ``coherence='c_v'``, top ``coherence_topn`` words,
    ``processes=1``, on a seeded sample of at most ``coherence_sample`` texts to bound the cost) and topic diversity
    (fraction of unique words among all topics' top ``diversity_topn`` = 25 words). The k with the highest
    *topic quality* ``c_v × diversity`` wins (Dieng et al. 2020); ties go to the smaller k.

``ModelState``
    The expensive part of a corpus' analytics: dictionary, bigram model, LDA, quality, assignments of the trained
    docs. ``infer(tokens)`` (full topic distribution), ``assign(tokens)`` → ``(topic, weight)`` or ``(None, 0.0)``
    for a text with no known word, ``update(docs)`` (online update for new ideas), ``forget(tokens)`` (undo an
    idea's contribution, for withdrawals and edits), ``topics(labeler)`` (report entries with readable labels).

Online update
    ``update`` adds the new ideas' expected word–topic counts (the E-step sufficient statistics, exactly what
    ``LdaModel.do_estep`` accumulates) to the posterior λ and refreshes ``expElogbeta``. This is the stochastic
    variational step with the new documents weighted as themselves. We deliberately do not call
    ``LdaModel.update`` on a one-idea chunk: gensim's online VB rescales a mini-batch to the corpus size and blends it
    with weight ρ≈(1+updates/chunksize)^-0.5, i.e. one idea would pull every topic ~20 % towards itself. Words the
    dictionary has never seen are ignored until the next full retrain (``ModelState.oov_tokens`` counts them;
    ``needs_retrain`` suggests when to retrain).

Determinism: the same docs and params give the same model (``random_state=params.seed``, one process, seeded
coherence sample); inference re-seeds before each call, so an idea's assignment does not depend on call history.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from analytics.text import BigramModel

log = logging.getLogger(__name__)

Doc = tuple[str, Sequence[str]]


@dataclass(frozen=True)
class TopicParams:
    """Parameters of a retrain (all plain values: picklable, JSON-able via ``asdict``)."""

    k: int | None = None                      # fixed number of topics; None = choose among k_candidates
    k_candidates: tuple[int, ...] = (6, 9, 12)
    min_docs_per_topic: int = 10
    passes: int = 5
    iterations: int = 50
    chunksize: int = 2000
    alpha: str = "symmetric"
    eta: float | None = None
    decay: float = 0.5
    offset: float = 1.0
    seed: int = 42
    no_below: int = 3                         # dictionary: keep words in >= no_below docs ...
    no_above: float = 0.4                     # ... and in <= no_above of the docs
    keep_n: int = 20000
    bigrams: bool = True
    bigram_min_count: int = 5
    bigram_threshold: float = 10.0
    coherence_topn: int = 10
    coherence_sample: int = 1000
    diversity_topn: int = 25
    minimum_probability: float = 0.0

    def lda_kwargs(self, k: int) -> dict:
        """Keyword arguments of ``gensim.models.LdaModel`` (besides corpus/id2word) for ``k`` topics."""
        return dict(num_topics=k, passes=self.passes, iterations=self.iterations, chunksize=self.chunksize,
                    alpha=self.alpha, eta=self.eta, decay=self.decay, offset=self.offset,
                    random_state=self.seed, eval_every=None, update_every=1)


def topic_diversity(top_words: Sequence[Sequence[str]]) -> float:
    """Fraction of unique words among the topics' top words (1.0 = no word shared between topics)."""
    words = [w for topic in top_words for w in topic]
    return len(set(words)) / len(words) if words else 0.0


def coherence_cv(top_words: Sequence[Sequence[str]], texts: Sequence[Sequence[str]], dictionary,
                 topn: int = 10) -> float:
    """c_v coherence (gensim ``CoherenceModel``, one process) of ``top_words`` on ``texts``; NaN-safe (→ 0.0)."""
    from gensim.models import CoherenceModel

    topics = [list(t[:topn]) for t in top_words if len(t)]
    if not topics or not texts:
        return 0.0
    cm = CoherenceModel(topics=topics, texts=[list(t) for t in texts], dictionary=dictionary, coherence="c_v",
                        topn=topn, processes=1)
    value = float(cm.get_coherence())
    return value if np.isfinite(value) else 0.0


def fingerprint(tokens: Sequence[str]) -> str:
    return hashlib.blake2b("\x1f".join(tokens).encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class ModelState:
    """A trained topic model of one corpus plus what is needed to use and update it (picklable)."""

    params: TopicParams
    dictionary: object                       # gensim.corpora.Dictionary
    lda: object | None                       # gensim LdaModel (None when the corpus had no usable words)
    bigrams: BigramModel | None
    k: int
    quality: dict
    assignments: dict[str, tuple[int | None, float]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)   # id -> fingerprint of the tokens trained on
    n_trained_docs: int = 0
    n_updates: int = 0
    oov_tokens: int = 0
    known_tokens: int = 0

    # -- using the model --------------------------------------------------------------------------------------
    def phrase(self, tokens: Sequence[str]) -> list[str]:
        return self.bigrams.apply(tokens) if self.bigrams is not None else list(tokens)

    def bow(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        return self.dictionary.doc2bow(self.phrase(tokens))

    def _reseed(self) -> None:
        self.lda.random_state = np.random.RandomState(self.params.seed)

    def infer(self, tokens: Sequence[str]) -> list[tuple[int, float]]:
        """Topic distribution ``[(topic, weight), ...]`` of a text (empty list when no word is known)."""
        if self.lda is None:
            return []
        bow = self.bow(tokens)
        if not bow:
            return []
        self._reseed()
        gamma, _ = self.lda.inference([bow])
        theta = gamma[0] / gamma[0].sum()
        return [(int(i), float(w)) for i, w in enumerate(theta)]

    def assign(self, tokens: Sequence[str]) -> tuple[int | None, float]:
        """Dominant topic and its weight; ``(None, 0.0)`` for a text without any known word."""
        dist = self.infer(tokens)
        if not dist:
            return (None, 0.0)
        topic, weight = max(dist, key=lambda tw: (tw[1], -tw[0]))
        return (topic, round(weight, 6))

    def top_terms(self, topic: int, topn: int = 10) -> list[tuple[str, float]]:
        if self.lda is None:
            return []
        return [(self.dictionary[i], float(w)) for i, w in self.lda.get_topic_terms(topic, topn=topn)]

    def relevant_terms(self, topic: int, topn: int = 10, lam: float = 0.6) -> list[tuple[str, float]]:
        """Top ``topn`` terms of ``topic`` by LDAvis relevance ``λ·log p(w|t) + (1-λ)·log(p(w|t)/p(w))`` (Sievert &
        Shirley 2014; p(w) = corpus frequency), returned with their probability p(w|t)."""
        if self.lda is None:
            return []
        if getattr(self, "_relevance_cache", None) is None or self._relevance_cache[0] != self.n_updates:
            phi = self.lda.get_topics()
            cfs = np.array([self.dictionary.cfs.get(i, 0) for i in range(phi.shape[1])], dtype=float) + 1.0
            pw = cfs / cfs.sum()
            with np.errstate(divide="ignore"):
                rel = lam * np.log(phi) + (1 - lam) * np.log(phi / pw)
            self._relevance_cache = (self.n_updates, phi, rel)
        _, phi, rel = self._relevance_cache
        order = np.argsort(-rel[topic], kind="stable")[:topn]
        return [(self.dictionary[int(i)], float(phi[topic, i])) for i in order]

    def topics(self, labeler: Callable[[str], str] = str, topn: int = 10, label_terms: int = 3) -> list[dict]:
        """Report entries ``{"id", "label", "terms": [[surface, p(w|t)], ...]}``. Terms are ordered by relevance
        (:meth:`relevant_terms`) and shown as surface forms (``labeler``, e.g. :class:`analytics.text.SurfaceForms`;
        words sharing a surface form are merged); the label joins the first ``label_terms`` of them."""
        out = []
        for t in range(self.k if self.lda is not None else 0):
            merged: dict[str, float] = {}
            for token, weight in self.relevant_terms(t, topn=topn * 2):
                word = labeler(token)
                merged[word] = merged.get(word, 0.0) + weight
                if len(merged) >= topn:
                    break
            terms = list(merged.items())[:topn]
            label = ", ".join(word for word, _ in terms[:label_terms])
            out.append({"id": t, "label": label, "terms": [[w, round(x, 6)] for w, x in terms]})
        return out

    # -- online changes --------------------------------------------------------------------------------------
    def _sstats(self, bows: list) -> np.ndarray:
        self._reseed()
        _, sstats = self.lda.inference(bows, collect_sstats=True)
        return sstats

    def _apply(self, sstats: np.ndarray, ndocs: int) -> None:
        state = self.lda.state
        state.sstats += sstats
        np.maximum(state.sstats, 0.0, out=state.sstats)
        state.numdocs = max(0, state.numdocs + ndocs)
        self.lda.sync_state()

    def update(self, docs: Iterable[Doc]) -> dict[str, tuple[int | None, float]]:
        """Online update with new ideas ``[(id, tokens), ...]``; returns (and records) their assignments."""
        docs = list(docs)
        if self.lda is None or not docs:
            return {}
        bows = []
        for _idea_id, tokens in docs:
            bow = self.bow(tokens)
            known = sum(c for _, c in bow)
            self.known_tokens += known
            self.oov_tokens += max(0, len(self.phrase(tokens)) - known)
            bows.append(bow)
        nonempty = [b for b in bows if b]
        if nonempty:
            self._apply(self._sstats(nonempty), len(nonempty))
        self.n_updates += len(docs)
        result = {idea_id: self.assign(tokens) for idea_id, tokens in docs}
        self.assignments.update(result)
        return result

    def forget(self, tokens: Sequence[str], idea_id: str | None = None) -> None:
        """Remove (approximately: with the current model's E-step) one text's contribution to the topics."""
        if idea_id is not None:
            self.assignments.pop(idea_id, None)
            self.fingerprints.pop(idea_id, None)
        if self.lda is None:
            return
        bow = self.bow(tokens)
        if bow:
            self._apply(-self._sstats([bow]), -1)

    def needs_retrain(self, n_docs_now: int, growth: float = 0.2, oov_rate: float = 0.15) -> bool:
        """Heuristic for the service: the corpus grew by ``growth`` since training or too many words are unknown."""
        if self.lda is None:
            return n_docs_now > 0
        grown = n_docs_now > self.n_trained_docs * (1 + growth) + 5
        seen = self.known_tokens + self.oov_tokens
        return grown or (seen > 200 and self.oov_tokens / seen > oov_rate)

    def summary(self) -> dict:
        return {"k": self.k, "n_trained_docs": self.n_trained_docs, "n_updates": self.n_updates,
                "vocabulary": len(self.dictionary), "params": asdict(self.params), **self.quality}


def _train_lda(bows, dictionary, params: TopicParams, k: int):
    from gensim.models import LdaModel

    return LdaModel(corpus=bows, id2word=dictionary, dtype=np.float64, **params.lda_kwargs(k))


def _top_words(lda, dictionary, k: int, topn: int) -> list[list[str]]:
    return [[dictionary[i] for i, _ in lda.get_topic_terms(t, topn=topn)] for t in range(k)]


def retrain(docs: Sequence[Doc], params: TopicParams = TopicParams(), progress: Callable[[str], None] | None = None
            ) -> ModelState:
    """Full retrain on ``docs`` = ``[(idea_id, stem tokens), ...]`` (see module docstring). Picklable, pure."""
    from gensim.corpora import Dictionary

    note = progress or (lambda _msg: None)
    ids = [str(i) for i, _ in docs]
    texts = [list(t) for _, t in docs]
    bigrams = None
    if params.bigrams and texts:
        note("bigrams")
        bigrams = BigramModel(texts, min_count=params.bigram_min_count, threshold=params.bigram_threshold)
        texts = [bigrams.apply(t) for t in texts]
    note("dictionary")
    dictionary = Dictionary(texts)
    n_docs = len(texts)
    no_below = min(params.no_below, max(1, n_docs // 20)) if n_docs < 20 * params.no_below else params.no_below
    dictionary.filter_extremes(no_below=no_below, no_above=params.no_above if n_docs >= 10 else 1.0,
                               keep_n=params.keep_n)
    dictionary.compactify()
    bows = [dictionary.doc2bow(t) for t in texts]
    nonempty = [b for b in bows if b]
    fingerprints = {i: fingerprint(t) for i, t in zip(ids, (list(t) for _, t in docs))}
    if not nonempty or len(dictionary) < 2:
        quality = {"coherence_cv": None, "diversity": None, "k": 0, "candidates": []}
        return ModelState(params, dictionary, None, bigrams, 0, quality,
                          {i: (None, 0.0) for i in ids}, fingerprints, n_docs)

    if params.k is not None:
        candidates = [max(1, int(params.k))]
    else:
        max_k = max(2, len(nonempty) // max(1, params.min_docs_per_topic))
        candidates = sorted({min(k, max_k) for k in params.k_candidates if k >= 2}) or [2]

    rng = np.random.RandomState(params.seed)
    sample_idx = np.arange(len(texts))
    if len(texts) > params.coherence_sample:
        sample_idx = np.sort(rng.choice(len(texts), size=params.coherence_sample, replace=False))
    sample = [texts[i] for i in sample_idx if texts[i]]

    best = None
    scored = []
    for k in candidates:
        note(f"lda k={k}")
        lda = _train_lda(nonempty, dictionary, params, k)
        cv = coherence_cv(_top_words(lda, dictionary, k, params.coherence_topn), sample, dictionary,
                          params.coherence_topn)
        div = topic_diversity(_top_words(lda, dictionary, k, params.diversity_topn))
        entry = {"k": k, "coherence_cv": round(cv, 4), "diversity": round(div, 4), "score": round(cv * div, 4)}
        scored.append(entry)
        if best is None or entry["score"] > best[0]["score"]:
            best = (entry, lda)
    entry, lda = best
    quality = {"coherence_cv": entry["coherence_cv"], "diversity": entry["diversity"], "k": entry["k"],
               "candidates": scored}
    state = ModelState(params, dictionary, lda, bigrams, entry["k"], quality, {}, fingerprints, n_docs)
    note("assign")
    state._reseed()
    if nonempty:
        gamma, _ = lda.inference(nonempty)
        theta = gamma / gamma.sum(axis=1, keepdims=True)
    row = 0
    for idea_id, bow in zip(ids, bows):
        if bow:
            t = int(np.argmax(theta[row]))
            state.assignments[idea_id] = (t, round(float(theta[row, t]), 6))
            row += 1
        else:
            state.assignments[idea_id] = (None, 0.0)
    return state
