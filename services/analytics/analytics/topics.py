"""Topic model engine: one gensim ``LdaModel`` per corpus (tenant + project).

API
---
``retrain(docs, params) -> ModelState``
    Full retrain. ``docs`` is a sequence of ``(idea_id, tokens)`` (stems from :mod:`analytics.text`), ``params`` a
    :class:`TopicParams`. Top-level, pure and picklable in both directions: the service runs it in a worker process
    (``ProcessPoolExecutor`` with the spawn context), never on the eventlet hub. Steps: bigrams (gensim ``Phrases``)
    → ``Dictionary`` (``filter_extremes``) → bag-of-words → ``LdaModel`` for each candidate k (or only ``params.k``)
    → quality (NPMI coherence + topic diversity) → the best candidate → topic assignment of every doc.

Choosing k (when ``params.k`` is None)
    Every k in ``params.k_candidates`` (from 2 up; clipped so that each topic has at least ``min_docs_per_topic``
    documents) is trained; each gets a coherence and a topic diversity (fraction of unique words among all topics'
    top ``diversity_topn`` = 25 words, at most V/k of them in a vocabulary of V words). Coherence is the mean NPMI
    of the pairs of each topic's top ``coherence_topn`` words, counted over **every** document (a sparse
    document × word matrix: no sample, so no word is ever missing and no NaN can arise; a pair that never
    co-occurs scores −1), reported as ``coherence`` = (NPMI + 1) / 2 in [0, 1]. The k with the highest *topic
    quality* ``coherence × diversity`` wins (Dieng et al. 2020); ties go to the smaller k. Curated concepts that
    are the main concept of ≥ ``concept_share`` (10 %) of the ideas set a floor: each known concern gets a
    topic; and there is at least one topic per ``ideas_per_topic_floor`` (500) ideas (on 4,013 UK petition titles
    the score alone chose 2 topics; with the floor, 12, one of them "vote, referendum, brexit"). Every candidate's
    scores are in ``quality["candidates"]`` (the report shows them).

Concept seeding and curation
    Concept tokens (``~cycling``: :mod:`analytics.taxonomy`) are seeded: topic *i* gets a prior ``eta`` leaning it
    towards the *i*-th dominant concept (``concept_prior``; the main concept of ≥ 10 % of the ideas), so that a
    concern written in five languages is one topic. Curated seeds (``params.seed_terms``: staff seeded or split a
    topic) come first.

Determinism and identities
    Documents are trained in a canonical order (by a hash of their tokens, then id), so the same ideas in any order
    give the same model. Each topic has a public id (``ModelState.topic_ids``); :func:`match_topics` gives a retrain
    the ids of the old topics it matches (Hungarian assignment on the cosine of their word distributions), so
    names and merges that staff gave to topics survive retrains.

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
    k_candidates: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10, 12)
    min_docs_per_topic: int = 3
    passes: int = 5
    iterations: int = 50
    chunksize: int = 2000
    alpha: str = "symmetric"
    eta: float | None = None
    decay: float = 0.5
    offset: float = 1.0
    seed: int = 42
    no_below: int = 3                         # dictionary: keep words in >= no_below docs ...
    no_above: float = 0.9                     # ... and in <= no_above of the docs (a dominant concern keeps its
                                              # words: 30 of 50 ideas about one pool are a topic, not noise)
    keep_n: int = 20000
    bigrams: bool = True
    bigram_min_count: int = 5
    bigram_threshold: float = 10.0
    coherence_topn: int = 10
    coherence_sample: int = 1000
    diversity_topn: int = 25
    minimum_probability: float = 0.0
    concept_prior: float = 1.0                # eta pseudo-count of a seeded concept, per document holding it
    concept_weight: int = 5                   # a concept token counts as this many words
    concept_share: float = 0.1                # concepts in >= this share of ideas set the floor of k
    ideas_per_topic_floor: int = 500          # at least one topic per this many ideas (2 topics for 4,000 is no
                                              # summary: short texts score best with the fewest topics)
    seed_terms: tuple[tuple[str, ...], ...] = ()   # curated seeds: one tuple of tokens per seeded topic

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


def coherence_npmi(top_ids: Sequence[Sequence[int]], doc_term) -> float:
    """Mean NPMI of the pairs of each topic's top word ids over a binary CSC document × word matrix (all docs);
    never NaN (a pair that never co-occurs counts −1, a topic with fewer than two words is skipped)."""
    n = doc_term.shape[0]
    if n == 0:
        return -1.0
    scores = []
    for ids in top_ids:
        ids = list(ids)
        if len(ids) < 2:
            continue
        sub = doc_term[:, ids]
        df = np.asarray(sub.sum(axis=0)).ravel().astype(float)
        co = (sub.T @ sub).toarray().astype(float)
        vals = []
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                pij = co[a, b] / n
                if pij <= 0 or df[a] == 0 or df[b] == 0:
                    vals.append(-1.0)
                    continue
                if pij >= 1.0:
                    vals.append(1.0)
                    continue
                pmi = np.log(pij / ((df[a] / n) * (df[b] / n)))
                vals.append(float(pmi / -np.log(pij)))
        scores.append(float(np.mean(vals)))
    return float(np.mean(scores)) if scores else -1.0


def weighted_bow(dictionary, tokens: Sequence[str], concept_weight: int = 1) -> list[tuple[int, int]]:
    """``dictionary.doc2bow(tokens)`` with concept tokens counted ``concept_weight`` times (a concept is stronger
    evidence of a concern than any single word)."""
    bow = dictionary.doc2bow(list(tokens))
    if concept_weight == 1 or not bow:
        return bow
    from analytics.taxonomy import is_concept

    return [(i, c * concept_weight if is_concept(dictionary[i]) else c) for i, c in bow]


def doc_term_matrix(bows, n_terms: int):
    """Binary CSC document × word matrix of bag-of-words documents."""
    from scipy.sparse import csc_matrix

    rows, cols = [], []
    for r, bow in enumerate(bows):
        for i, _ in bow:
            rows.append(r)
            cols.append(i)
    data = np.ones(len(rows), dtype=np.float32)
    return csc_matrix((data, (rows, cols)), shape=(len(bows), n_terms))


def canonical_order(docs: Sequence[Doc]) -> list[int]:
    """Indices of ``docs`` in a canonical order (hash of the tokens, then id): same ideas → same order."""
    return sorted(range(len(docs)), key=lambda i: (fingerprint(docs[i][1]), str(docs[i][0])))


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
    topic_ids: list[int] = field(default_factory=list)            # internal topic index -> public topic id

    # -- identities --------------------------------------------------------------------------------------------
    def pid(self, internal: int) -> int:
        return self.topic_ids[internal] if self.topic_ids else internal

    def internal(self, public: int) -> int | None:
        if not self.topic_ids:
            return public if 0 <= public < self.k else None
        try:
            return self.topic_ids.index(public)
        except ValueError:
            return None

    def signature(self, topn: int = 50) -> dict[int, dict[str, float]]:
        """``{public id: {token: p(token|topic)}}`` of each topic's top ``topn`` tokens (for :func:`match_topics`)."""
        if self.lda is None:
            return {}
        return {self.pid(t): {tok: round(w, 6) for tok, w in self.top_terms(t, topn)} for t in range(self.k)}

    # -- using the model --------------------------------------------------------------------------------------
    def phrase(self, tokens: Sequence[str]) -> list[str]:
        return self.bigrams.apply(tokens) if self.bigrams is not None else list(tokens)

    def bow(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        return weighted_bow(self.dictionary, self.phrase(tokens), self.params.concept_weight)

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
        return (self.pid(topic), round(weight, 6))

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
            out.append({"id": self.pid(t), "label": label, "terms": [[w, round(x, 6)] for w, x in terms],
                        "tokens": [tok for tok, _ in self.top_terms(t, 5)]})
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


def _train_lda(bows, dictionary, params: TopicParams, k: int, eta=None):
    from gensim.models import LdaModel

    kwargs = params.lda_kwargs(k)
    if eta is not None:
        kwargs["eta"] = eta
    return LdaModel(corpus=bows, id2word=dictionary, dtype=np.float64, **kwargs)


def _top_words(lda, dictionary, k: int, topn: int) -> list[list[str]]:
    return [[dictionary[i] for i, _ in lda.get_topic_terms(t, topn=topn)] for t in range(k)]


def frequent_concepts(dictionary, n_docs: int, min_share: float = 0.05, min_docs: int = 3) -> list[int]:
    """Ids of the concept tokens held by at least ``max(min_docs, min_share·n_docs)`` documents, most frequent
    first (ties by name)."""
    from analytics.taxonomy import is_concept

    floor = max(min_docs, int(np.ceil(min_share * n_docs)))
    dfs = dictionary.dfs
    return sorted((i for t, i in dictionary.token2id.items() if is_concept(t) and dfs.get(i, 0) >= floor),
                  key=lambda i: (-dfs.get(i, 0), dictionary[i]))


def dominant_concepts(dictionary, bows, min_share: float = 0.1) -> list[int]:
    """Concept ids that are the main concept (most frequent in the document; ties: the corpus' more frequent
    concept) of at least ``min_share`` of the documents (and of 3): the known concerns of the corpus."""
    from analytics.taxonomy import is_concept

    concept_ids = {i for t, i in dictionary.token2id.items() if is_concept(t)}
    if not concept_ids:
        return []
    dfs = dictionary.dfs
    main: dict[int, int] = {}
    for bow in bows:
        held = [(c, i) for i, c in bow if i in concept_ids]
        if held:
            top = max(held, key=lambda ci: (ci[0], dfs.get(ci[1], 0), -ci[1]))[1]
            main[top] = main.get(top, 0) + 1
    floor = max(3, int(np.ceil(min_share * len(bows))))
    return sorted((i for i, n in main.items() if n >= floor), key=lambda i: (-main[i], dictionary[i]))


def seeded_eta(dictionary, bows, k: int, params: TopicParams):
    """Prior ``eta`` (k × V) anchoring topic i to the i-th seed: curated seeds first, then the corpus' dominant
    concepts (:func:`dominant_concepts`); further topics are free. A seed's tokens get ``concept_prior``
    pseudo-counts per document holding them in their topic and a hundredth of the symmetric prior elsewhere, so
    a concept lives in its own topic whatever language it was written in (seeded/anchored LDA). None when
    nothing is seeded (gensim's symmetric prior)."""

    token2id = dictionary.token2id
    seeds: list[list[int]] = []
    for terms in params.seed_terms:
        ids = [token2id[t] for t in terms if t in token2id]
        if ids:
            seeds.append(ids)
    dfs = dictionary.dfs
    taken = {i for s in seeds for i in s}
    for cid in dominant_concepts(dictionary, bows, params.concept_share):
        if cid not in taken:
            seeds.append([cid])
    seeds = seeds[:k]
    if not seeds:
        return None
    base = 1.0 / k
    eta = np.full((k, len(dictionary)), base)
    for topic, ids in enumerate(seeds):
        for i in ids:
            eta[:, i] = base / 100.0
            eta[topic, i] = base + params.concept_prior * max(1, dfs.get(i, 0))
    return eta


def match_topics(previous: dict[int, dict[str, float]] | None, current: dict[int, dict[str, float]],
                 min_similarity: float = 0.3) -> dict[int, int]:
    """``{current id: previous id}`` for the current topics that match a previous one (cosine of their word
    distributions ≥ ``min_similarity``, one-to-one by the Hungarian algorithm)."""
    if not previous or not current:
        return {}
    from scipy.optimize import linear_sum_assignment

    prev_ids, cur_ids = sorted(previous), sorted(current)
    vocab = sorted({w for d in list(previous.values()) + list(current.values()) for w in d})
    index = {w: n for n, w in enumerate(vocab)}

    def matrix(ids, table):
        m = np.zeros((len(ids), len(vocab)))
        for r, i in enumerate(ids):
            for w, x in table[i].items():
                m[r, index[w]] = x
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms > 0, norms, 1.0)

    sim = matrix(cur_ids, current) @ matrix(prev_ids, previous).T
    rows, cols = linear_sum_assignment(-sim)
    return {cur_ids[r]: prev_ids[c] for r, c in zip(rows, cols) if sim[r, c] >= min_similarity}


def retrain(docs: Sequence[Doc], params: TopicParams = TopicParams(), progress: Callable[[str], None] | None = None,
            previous: dict[int, dict[str, float]] | None = None) -> ModelState:
    """Full retrain on ``docs`` = ``[(idea_id, stem tokens), ...]`` (see module docstring). Picklable, pure.
    ``previous``: the old model's :meth:`ModelState.signature`, whose topic ids matching topics keep."""
    from gensim.corpora import Dictionary

    note = progress or (lambda _msg: None)
    order = canonical_order(docs)
    docs = [docs[i] for i in order]
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
    bows = [weighted_bow(dictionary, t, params.concept_weight) for t in texts]
    nonempty = [b for b in bows if b]
    fingerprints = {i: fingerprint(t) for i, t in zip(ids, (list(t) for _, t in docs))}
    if not nonempty or len(dictionary) < 2:
        quality = {"coherence": None, "coherence_npmi": None, "diversity": None, "k": 0, "candidates": []}
        return ModelState(params, dictionary, None, bigrams, 0, quality,
                          {i: (None, 0.0) for i in ids}, fingerprints, n_docs)

    if params.k is not None:
        candidates = [max(1, int(params.k))]
    else:
        max_k = max(2, len(nonempty) // max(1, params.min_docs_per_topic))
        candidates = sorted({min(k, max_k) for k in params.k_candidates if k >= 2}) or [2]
        # known concerns set a floor: each curated concept held by >= 5 % of the ideas deserves its own topic
        floor = min(max_k, len(dominant_concepts(dictionary, nonempty, params.concept_share))
                    + len(params.seed_terms))
        if params.ideas_per_topic_floor:
            floor = max(floor, min(max(candidates), int(np.ceil(len(nonempty) / params.ideas_per_topic_floor))))
        if floor > 2:
            candidates = sorted({c for c in candidates if c >= floor} | {floor})

    doc_term = doc_term_matrix(nonempty, len(dictionary))
    best = None
    scored = []
    for k in candidates:
        note(f"lda k={k}")
        lda = _train_lda(nonempty, dictionary, params, k, seeded_eta(dictionary, nonempty, k, params))
        top_ids = [[i for i, _ in lda.get_topic_terms(t, topn=params.coherence_topn)] for t in range(k)]
        npmi = coherence_npmi(top_ids, doc_term)
        coherence = (npmi + 1.0) / 2.0
        # diversity over at most V/k words per topic: k topics of 25 words cannot be distinct in a vocabulary < 25k
        div_topn = max(3, min(params.diversity_topn, len(dictionary) // k))
        div = topic_diversity(_top_words(lda, dictionary, k, div_topn))
        entry = {"k": k, "coherence": round(coherence, 4), "coherence_npmi": round(npmi, 4),
                 "diversity": round(div, 4), "score": round(coherence * div, 4)}
        scored.append(entry)
        if best is None or entry["score"] > best[0]["score"]:
            best = (entry, lda)
    entry, lda = best
    quality = {"coherence": entry["coherence"], "coherence_npmi": entry["coherence_npmi"],
               "diversity": entry["diversity"], "k": entry["k"], "candidates": scored,
               "chosen_by": "fixed k" if params.k is not None else "coherence x diversity"}
    state = ModelState(params, dictionary, lda, bigrams, entry["k"], quality, {}, fingerprints, n_docs)
    note("assign")
    state._reseed()
    gamma, _ = lda.inference(nonempty)
    theta = gamma / gamma.sum(axis=1, keepdims=True)
    # public ids: matched old ids first, then by prevalence (deterministic for deterministic training)
    prevalence = theta.sum(axis=0)
    by_prevalence = sorted(range(state.k), key=lambda t: (-round(float(prevalence[t]), 6), t))
    state.topic_ids = [0] * state.k
    for rank, t in enumerate(by_prevalence):
        state.topic_ids[t] = rank
    if previous:
        provisional = state.signature()
        matched = match_topics(previous, provisional)
        used = set(matched.values())
        nxt = max(list(previous) + [-1]) + 1
        new_ids = []
        for t in range(state.k):
            prov = state.topic_ids[t]
            if prov in matched:
                new_ids.append(matched[prov])
            else:
                while nxt in used:
                    nxt += 1
                new_ids.append(nxt)
                used.add(nxt)
        state.topic_ids = new_ids
        quality["matched_topics"] = len(matched)
    row = 0
    for idea_id, bow in zip(ids, bows):
        if bow:
            t = int(np.argmax(theta[row]))
            state.assignments[idea_id] = (state.pid(t), round(float(theta[row, t]), 6))
            row += 1
        else:
            state.assignments[idea_id] = (None, 0.0)
    return state
