"""Analytics domain: the per-corpus projection the analytics service keeps for each (tenant, project).

Pure (no nameko/pymongo/pika). The state is split in two:

* :class:`CorpusState` — the **cheap incremental state**, rebuilt by replaying events: ideas (raw text, analysed
  tokens, author demographics, category), their supports (supporter demographics), surface forms for labels, the
  corpus' language counts. Every event method is O(one idea).
* :class:`analytics.topics.ModelState` — the **expensive model** (LDA + dictionary + bigrams), produced by
  :func:`analytics.topics.retrain` in a worker process and installed with :meth:`CorpusState.install_model`.
  While installed, new/edited/withdrawn ideas update it online (``online=True``).

Event methods (idempotent where it makes sense; unknown ids raise ``KeyError``):

=====================================================  ==========================================================
``add_idea(idea_id, text, demographics=None,           idea created (re-adding an id replaces it)
category=None, language=None)``
``edit_idea(idea_id, text=None, category=..., ...)``   idea edited
``withdraw_idea(idea_id)``                             idea withdrawn/deleted (its supports leave the analysis)
``merge_ideas(source_id, target_id)``                  source merged into target: supports move, source leaves
``add_support(idea_id, demographics=None,              vote / ballot approval; returns the support id
support_id=None)``
``remove_support(idea_id, support_id)``                vote withdrawn
=====================================================  ==========================================================

Model lifecycle for the service::

    docs = state.training_docs()                      # [(id, tokens)] — small, picklable
    model = executor.submit(retrain, docs, params)    # worker process (spawn), see analytics.topics
    state.install_model(model.result())               # ideas changed meanwhile are (re)assigned

Queries: :meth:`CorpusState.assignment`, :meth:`CorpusState.most_similar` (lazy TF-IDF index, rebuilt after
changes), :meth:`CorpusState.report` (the JSON report of the batch CLI: topics, assignments, clusters,
near_duplicates, segments, quality, meta). :func:`analyze` is the batch entry point over idea records.
"""
from __future__ import annotations

import datetime as _dt
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from analytics import segments as seg
from analytics.similarity import SimilarityIndex
from analytics.text import AnalyzedText, SurfaceForms, TextPipeline, strip_html
from analytics.topics import ModelState, TopicParams, fingerprint, retrain

UNCATEGORISED = "uncategorised"
_KEEP = object()


@dataclass
class IdeaRecord:
    id: str
    text: str
    analyzed: AnalyzedText
    demographics: dict = field(default_factory=dict)
    category: str | None = None
    supports: dict[str, dict] = field(default_factory=dict)


class CorpusState:
    """Incremental state of one corpus (see module docstring)."""

    def __init__(self, pipeline: TextPipeline | None = None, params: TopicParams | None = None,
                 online: bool = True, fallback_language: str | None = None) -> None:
        self.pipeline = pipeline or TextPipeline()
        self.params = params or TopicParams()
        self.online = online
        self.fallback_language = fallback_language
        self.ideas: dict[str, IdeaRecord] = {}
        self.surfaces = SurfaceForms()
        self.languages: Counter = Counter()        # confidently detected languages
        self.model: ModelState | None = None
        self._index: SimilarityIndex | None = None
        self._support_seq = itertools.count(1)

    # -- events ----------------------------------------------------------------------------------------------
    def _analyze(self, text: str, language: str | None) -> AnalyzedText:
        plain = strip_html(text)
        if language not in self.pipeline.languages:
            language = self.pipeline.detect(plain)
            if language is not None:
                self.languages[language] += 1
            else:
                language = self.fallback_language or (self.languages.most_common(1)[0][0] if self.languages
                                                      else self.pipeline.default_language)
        return self.pipeline.analyze(plain, language=language)

    def _learn(self, rec: IdeaRecord) -> None:
        self.surfaces.add(rec.analyzed.tokens, rec.analyzed.surfaces)
        if self.model is not None and self.online:
            self.model.update([(rec.id, rec.analyzed.tokens)])
            self.model.fingerprints[rec.id] = fingerprint(rec.analyzed.tokens)
        self._index = None

    def _unlearn(self, rec: IdeaRecord) -> None:
        self.surfaces.remove(rec.analyzed.tokens, rec.analyzed.surfaces)
        if self.model is not None:
            if self.online:
                self.model.forget(rec.analyzed.tokens, rec.id)
            else:
                self.model.assignments.pop(rec.id, None)
                self.model.fingerprints.pop(rec.id, None)
        self._index = None

    def add_idea(self, idea_id, text: str | None, demographics: Mapping | None = None,
                 category: str | None = None, language: str | None = None) -> IdeaRecord:
        idea_id = str(idea_id)
        old = self.ideas.pop(idea_id, None)
        if old is not None:
            self._unlearn(old)
        rec = IdeaRecord(idea_id, text or "", self._analyze(text or "", language), dict(demographics or {}),
                         category or None, old.supports if old else {})
        self.ideas[idea_id] = rec
        self._learn(rec)
        return rec

    def edit_idea(self, idea_id, text: str | None = None, category=_KEEP, demographics=_KEEP,
                  language: str | None = None) -> IdeaRecord:
        rec = self.ideas[str(idea_id)]
        if category is not _KEEP:
            rec.category = category or None
        if demographics is not _KEEP:
            rec.demographics = dict(demographics or {})
        if text is not None and text != rec.text:
            self._unlearn(rec)
            rec.text = text
            rec.analyzed = self._analyze(text, language)
            self._learn(rec)
        return rec

    def withdraw_idea(self, idea_id) -> None:
        rec = self.ideas.pop(str(idea_id))
        self._unlearn(rec)

    def merge_ideas(self, source_id, target_id) -> None:
        source, target = str(source_id), str(target_id)
        if source == target:
            return
        src = self.ideas[source]
        tgt = self.ideas[target]
        for sid, demo in src.supports.items():
            key = sid if sid not in tgt.supports else f"{source}:{sid}"
            tgt.supports[key] = demo
        self.withdraw_idea(source)

    def add_support(self, idea_id, demographics: Mapping | None = None, support_id=None) -> str:
        rec = self.ideas[str(idea_id)]
        sid = str(support_id) if support_id is not None else f"s{next(self._support_seq)}"
        rec.supports[sid] = dict(demographics or {})
        return sid

    def remove_support(self, idea_id, support_id) -> None:
        self.ideas[str(idea_id)].supports.pop(str(support_id), None)

    # -- model ---------------------------------------------------------------------------------------------------
    def training_docs(self) -> list[tuple[str, tuple[str, ...]]]:
        """Input of :func:`analytics.topics.retrain` (ideas in insertion order)."""
        return [(rec.id, rec.analyzed.tokens) for rec in self.ideas.values()]

    def install_model(self, model: ModelState) -> None:
        """Install a retrained model; ideas added/edited since its docs were taken are assigned now, withdrawn
        ones are dropped (their later online contributions are lost: the model reflects its training docs)."""
        for stale in set(model.assignments) - set(self.ideas):
            model.assignments.pop(stale, None)
            model.fingerprints.pop(stale, None)
        for rec in self.ideas.values():
            fp = fingerprint(rec.analyzed.tokens)
            if model.fingerprints.get(rec.id) != fp or rec.id not in model.assignments:
                model.assignments[rec.id] = model.assign(rec.analyzed.tokens)
                model.fingerprints[rec.id] = fp
        self.model = model

    def retrain(self, params: TopicParams | None = None, progress: Callable[[str], None] | None = None
                ) -> ModelState:
        """In-process retrain + install (batch mode and tests; the service uses a worker process instead)."""
        model = retrain(self.training_docs(), params or self.params, progress=progress)
        self.install_model(model)
        return model

    def assignment(self, idea_id) -> tuple[int | None, float]:
        rec = self.ideas[str(idea_id)]
        if self.model is None:
            return (None, 0.0)
        got = self.model.assignments.get(rec.id)
        if got is None or self.model.fingerprints.get(rec.id) != fingerprint(rec.analyzed.tokens):
            got = self.model.assign(rec.analyzed.tokens)
            self.model.assignments[rec.id] = got
            self.model.fingerprints[rec.id] = fingerprint(rec.analyzed.tokens)
        return got

    # -- similarity ------------------------------------------------------------------------------------------
    def similarity_index(self) -> SimilarityIndex:
        if self._index is None:
            self._index = SimilarityIndex(self.training_docs(), pipeline=self.pipeline, labeler=self.surfaces)
        return self._index

    def most_similar(self, text: str, k: int = 5, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        return self.similarity_index().most_similar(text, k=k, exclude=exclude)

    # -- report ------------------------------------------------------------------------------------------------
    def uses_categories(self, topics_from: str = "auto", min_coverage: float = 0.9) -> bool:
        if topics_from == "category":
            return True
        if topics_from == "lda":
            return False
        if not self.ideas:
            return False
        covered = sum(1 for r in self.ideas.values() if r.category)
        return covered / len(self.ideas) >= min_coverage

    def _category_topics(self) -> tuple[list[dict], dict[str, tuple[int, float]], dict]:
        cats = sorted({r.category or UNCATEGORISED for r in self.ideas.values()})
        ids = {c: n for n, c in enumerate(cats)}
        topics = []
        for c in cats:
            counts: Counter = Counter()
            for r in self.ideas.values():
                if (r.category or UNCATEGORISED) == c:
                    counts.update(r.analyzed.tokens)
            total = sum(counts.values()) or 1
            terms = [[self.surfaces.label(t), round(n / total, 6)] for t, n in
                     sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]
            topics.append({"id": ids[c], "label": c, "terms": terms})
        assignments = {r.id: (ids[r.category or UNCATEGORISED], 1.0) for r in self.ideas.values()}
        diversity = None
        quality = {"coherence_cv": None, "diversity": diversity, "k": len(cats), "source": "category"}
        return topics, assignments, quality

    def report(self, topics_from: str = "auto", reference_year: int | None = None, cluster_threshold: float = 0.5,
               near_duplicate: float = 0.8, train_if_missing: bool = True, alpha: float = 0.05,
               min_expected: float = 5.0, progress: Callable[[str], None] | None = None) -> dict:
        """The analytics report (JSON-ready dict). ``topics_from``: ``lda``, ``category`` or ``auto`` (categories
        when at least 90 % of ideas have one — Pabulib files with categories —, else LDA)."""
        note = progress or (lambda _m: None)
        year = reference_year or _dt.date.today().year
        if self.uses_categories(topics_from):
            topics, assign, quality = self._category_topics()
            source = "category"
        else:
            source = "lda"
            if self.model is None and train_if_missing and self.ideas:
                self.retrain(progress=progress)
            if self.model is not None:
                topics = self.model.topics(self.surfaces)
                assign = {rid: self.assignment(rid) for rid in self.ideas}
                quality = {k: self.model.quality.get(k) for k in ("coherence_cv", "diversity", "k", "candidates")}
                quality["source"] = "lda"
            else:
                topics, assign = [], {rid: (None, 0.0) for rid in self.ideas}
                quality = {"coherence_cv": None, "diversity": None, "k": 0, "source": "none"}
        labels = {t["id"]: t["label"] for t in topics}
        note("similarity")
        index = self.similarity_index()
        clusters = index.clusters(threshold=cluster_threshold, near_duplicate=near_duplicate)
        dups = [{"a": a, "b": b, "similarity": s} for a, b, s in index.near_duplicates(near_duplicate)]
        note("segments")
        rows = self.segment_rows(assign, year, alpha=alpha, min_expected=min_expected)
        for r in rows:
            r["topic_label"] = labels.get(r["topic"])
        n_supports = sum(len(r.supports) for r in self.ideas.values())
        return {
            "meta": {"n_ideas": len(self.ideas), "n_supports": n_supports, "topics_from": source,
                     "reference_year": year, "languages": dict(Counter(r.analyzed.language
                                                                       for r in self.ideas.values())),
                     "empty_texts": sum(1 for r in self.ideas.values() if r.analyzed.empty),
                     "seed": self.params.seed, "alpha": alpha, "min_expected": min_expected,
                     "cluster_threshold": cluster_threshold, "near_duplicate_threshold": near_duplicate},
            "topics": topics,
            "assignments": {rid: {"topic": t, "weight": w} for rid, (t, w) in assign.items()},
            "clusters": clusters,
            "near_duplicates": dups,
            "segments": rows,
            "quality": quality,
        }

    def segment_rows(self, assign: Mapping[str, tuple[int | None, float]], reference_year: int,
                     alpha: float = 0.05, min_expected: float = 5.0) -> list[dict]:
        ideas_obs, support_obs = [], []
        for rec in self.ideas.values():
            topic = assign.get(rec.id, (None, 0.0))[0]
            if topic is None:
                continue
            if rec.demographics:
                ideas_obs.append((topic, seg.segment_of(rec.demographics, reference_year)))
            for demo in rec.supports.values():
                support_obs.append((topic, seg.segment_of(demo, reference_year)))
        return (seg.breakdown(ideas_obs, "ideas", alpha=alpha, min_expected=min_expected)
                + seg.breakdown(support_obs, "support", alpha=alpha, min_expected=min_expected))


def majority_language(texts: Iterable[str], pipeline: TextPipeline) -> str | None:
    """Most frequent confidently-detected language of ``texts`` (None if none is confident)."""
    counts = Counter(lang for lang in (pipeline.detect(strip_html(t or "")) for t in texts) if lang)
    return counts.most_common(1)[0][0] if counts else None


def analyze(records: Iterable[Mapping], params: TopicParams | None = None, topics_from: str = "auto",
            reference_year: int | None = None, pipeline: TextPipeline | None = None,
            progress: Callable[[Iterable], Iterable] | None = None, note: Callable[[str], None] | None = None,
            **report_kwargs) -> dict:
    """Batch analysis of idea records ``{"id", "text", "demographics"?, "category"?, "votes"?: [{"demographics"}]}``.

    ``progress`` wraps the per-idea iteration (e.g. ``tqdm``); ``note`` receives stage names.
    """
    records = list(records)
    pipeline = pipeline or TextPipeline()
    state = CorpusState(pipeline=pipeline, params=params, online=False,
                        fallback_language=majority_language((r.get("text") for r in records), pipeline))
    iterator = progress(records) if progress else records
    for r in iterator:
        state.add_idea(r["id"], r.get("text"), r.get("demographics"), r.get("category"), r.get("language"))
        for v in r.get("votes") or ():
            state.add_support(r["id"], (v or {}).get("demographics"), (v or {}).get("id"))
    return state.report(topics_from=topics_from, reference_year=reference_year, progress=note, **report_kwargs)
