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

from analytics import junk as junkmod
from analytics import segments as seg
from analytics.similarity import SimilarityIndex
from analytics.taxonomy import is_concept
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
    junk: str | None = None                      # junk reason of the text itself (analytics.junk)
    burst: str = ""                              # burst key (normalised text hash)
    time: float | None = None                    # submission instant (epoch seconds), when known
    author: str | None = None                    # the author (unit of the statistics), when known
    comments: dict[str, AnalyzedText] = field(default_factory=dict)
    comment_texts: dict[str, str] = field(default_factory=dict)

    def model_tokens(self) -> tuple[str, ...]:
        """What the topic model sees: the idea's words and its discussion's (comments are analysed with it)."""
        if not self.comments:
            return self.analyzed.tokens
        out = list(self.analyzed.tokens)
        for c in self.comments.values():
            out.extend(c.tokens)
        return tuple(out)


VOTER_KEY = "__voter__"


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
        self._junk_cache: tuple[int, dict[str, str]] | None = None
        self._changes = 0
        #: staff curation (events): names and merges by topic id, seeds [(name, tokens)] for the next retrains
        self.curation: dict = {"names": {}, "merges": {}, "seeds": []}
        self.language: str | None = None             # the tenant's language (labels, sentences)

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
        self._changes += 1
        self.surfaces.add(rec.analyzed.tokens, rec.analyzed.surfaces)
        for c in rec.comments.values():
            self.surfaces.add(c.tokens, c.surfaces)
        if self.model is not None and self.online and not rec.junk:
            tokens = rec.model_tokens()
            self.model.update([(rec.id, tokens)])
            self.model.fingerprints[rec.id] = fingerprint(tokens)
        self._index = None

    def _unlearn(self, rec: IdeaRecord) -> None:
        self._changes += 1
        self.surfaces.remove(rec.analyzed.tokens, rec.analyzed.surfaces)
        for c in rec.comments.values():
            self.surfaces.remove(c.tokens, c.surfaces)
        if self.model is not None:
            if self.online and not rec.junk and rec.id in self.model.fingerprints:
                self.model.forget(rec.model_tokens(), rec.id)
            else:
                self.model.assignments.pop(rec.id, None)
                self.model.fingerprints.pop(rec.id, None)
        self._index = None

    def _classify(self, rec: IdeaRecord, title: str | None = None) -> None:
        rec.junk = junkmod.text_reason(rec.text, title)
        rec.burst = junkmod.burst_key(rec.text)

    def add_idea(self, idea_id, text: str | None, demographics: Mapping | None = None,
                 category: str | None = None, language: str | None = None, time=None, author=None,
                 title: str | None = None) -> IdeaRecord:
        idea_id = str(idea_id)
        old = self.ideas.pop(idea_id, None)
        if old is not None:
            self._unlearn(old)
        rec = IdeaRecord(idea_id, text or "", self._analyze(text or "", language), dict(demographics or {}),
                         category or None, old.supports if old else {}, time=junkmod.parse_time(time),
                         author=str(author) if author not in (None, "") else None)
        if old is not None:
            rec.comments, rec.comment_texts = old.comments, old.comment_texts
        self._classify(rec, title)
        self.ideas[idea_id] = rec
        self._learn(rec)
        return rec

    def add_comment(self, idea_id, comment_id, text: str | None, language: str | None = None) -> None:
        """A comment joins its idea's document (topics, summaries): the discussion is part of the idea's voice."""
        rec = self.ideas[str(idea_id)]
        self._unlearn(rec)
        analyzed = self._analyze(text or "", language or rec.analyzed.language)
        if not junkmod.text_reason(text):
            rec.comments[str(comment_id)] = analyzed
            rec.comment_texts[str(comment_id)] = strip_html(text or "")
        self._learn(rec)

    def remove_comment(self, idea_id, comment_id) -> None:
        rec = self.ideas.get(str(idea_id))
        if rec is None or str(comment_id) not in rec.comments:
            return
        self._unlearn(rec)
        rec.comments.pop(str(comment_id), None)
        rec.comment_texts.pop(str(comment_id), None)
        self._learn(rec)

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
            self._classify(rec)
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

    def add_support(self, idea_id, demographics: Mapping | None = None, support_id=None, voter=None) -> str:
        """A support (vote, approval) by ``voter`` (the unit of the statistics; default: the part of the support
        id after the first ``:`` — ``"{idea}:{voter}"`` — or the support itself)."""
        rec = self.ideas[str(idea_id)]
        sid = str(support_id) if support_id is not None else f"s{next(self._support_seq)}"
        demo = dict(demographics or {})
        if voter in (None, "") and ":" in sid:
            voter = sid.split(":", 1)[1]
        if voter not in (None, ""):
            demo[VOTER_KEY] = str(voter)
        rec.supports[sid] = demo
        return sid

    def remove_support(self, idea_id, support_id) -> None:
        self.ideas[str(idea_id)].supports.pop(str(support_id), None)

    # -- model ---------------------------------------------------------------------------------------------------
    def junk(self) -> dict[str, str]:
        """``{idea id: reason}`` of the ideas set aside as junk (text reasons, then bursts of copies)."""
        if self._junk_cache is not None and self._junk_cache[0] == self._changes:
            return self._junk_cache[1]
        out = {rec.id: rec.junk for rec in self.ideas.values() if rec.junk}
        copies = junkmod.bursts((rec.id, rec.burst, rec.time) for rec in self.ideas.values() if not rec.junk)
        for iid in copies:
            out[iid] = "burst"
        self._junk_cache = (self._changes, out)
        return out

    def training_docs(self) -> list[tuple[str, tuple[str, ...]]]:
        """Input of :func:`analytics.topics.retrain` (ideas in insertion order, junk left out, comments in)."""
        junk = self.junk()
        return [(rec.id, rec.model_tokens()) for rec in self.ideas.values() if rec.id not in junk]

    def install_model(self, model: ModelState) -> None:
        """Install a retrained model; ideas added/edited since its docs were taken are assigned now, withdrawn
        ones are dropped (their later online contributions are lost: the model reflects its training docs)."""
        junk = self.junk()
        for stale in set(model.assignments) - (set(self.ideas) - set(junk)):
            model.assignments.pop(stale, None)
            model.fingerprints.pop(stale, None)
        for rec in self.ideas.values():
            if rec.id in junk:
                continue
            tokens = rec.model_tokens()
            fp = fingerprint(tokens)
            if model.fingerprints.get(rec.id) != fp or rec.id not in model.assignments:
                model.assignments[rec.id] = model.assign(tokens)
                model.fingerprints[rec.id] = fp
        self.model = model

    def retrain(self, params: TopicParams | None = None, progress: Callable[[str], None] | None = None
                ) -> ModelState:
        """In-process retrain + install (batch mode and tests; the service uses a worker process instead)."""
        previous = self.model.signature() if self.model is not None else None
        model = retrain(self.training_docs(), params or self.params, progress=progress, previous=previous)
        self.install_model(model)
        return model

    def assignment(self, idea_id) -> tuple[int | None, float]:
        """(public topic id, weight) of an idea; (None, 0.0) for junk or without a model. Curated merges apply."""
        rec = self.ideas[str(idea_id)]
        if self.model is None or rec.id in self.junk():
            return (None, 0.0)
        tokens = rec.model_tokens()
        got = self.model.assignments.get(rec.id)
        if got is None or self.model.fingerprints.get(rec.id) != fingerprint(tokens):
            got = self.model.assign(tokens)
            self.model.assignments[rec.id] = got
            self.model.fingerprints[rec.id] = fingerprint(tokens)
        return (self.merged_topic(got[0]), got[1])

    def merged_topic(self, topic):
        merges = self.curation.get("merges") or {}
        if topic in merges and self.model is not None:
            internal = self.model.internal(topic)
            if internal is not None and internal < len(self.model.params.seed_terms):
                return topic                                # seeded after the merge: it stands on its own
        seen = set()
        while topic in merges and topic not in seen:
            seen.add(topic)
            topic = merges[topic]
        return topic

    # -- curation ---------------------------------------------------------------------------------------------
    def curate(self, kind: str, data: Mapping) -> bool:
        """Apply one curation event (analytics.events: TopicRenamed, TopicsMerged, TopicSeeded, TopicSplit).
        Returns True when the model must be retrained (new seeds)."""
        cur = self.curation
        if kind == "TopicRenamed":
            cur["names"][int(data["topic"])] = data["name"]
        elif kind == "TopicsMerged":
            into = int(data["into"])
            for t in data["topics"]:
                if int(t) != into:
                    cur["merges"][int(t)] = into
        elif kind in ("TopicSeeded", "TopicSplit"):
            parts = [data] if kind == "TopicSeeded" else list(data["parts"])
            for part in parts:
                tokens = []
                for term in part["terms"]:
                    for tok in self.pipeline.analyze(term, fallback=self.language).tokens:
                        if tok not in tokens:
                            tokens.append(tok)
                if tokens:
                    cur["seeds"].append((part["name"], tuple(tokens)))
            if kind == "TopicSplit":
                cur["merges"].pop(int(data["topic"]), None)
            self.params = _replace_seeds(self.params, cur["seeds"])
            return True
        return False

    # -- labels -----------------------------------------------------------------------------------------------
    def label_token(self, token: str) -> str:
        """Readable form of a model token: a concept's label in the tenant's language, else the written word."""
        if is_concept(token) and self.pipeline.taxonomy is not None:
            return self.pipeline.taxonomy.label(token, self.language)
        if "_" in token and token not in self.surfaces.counts:        # bigram: each part readable
            return " ".join(self.label_token(p) for p in token.split("_") if p)
        return self.surfaces.label(token)

    def topic_entries(self) -> list[dict]:
        """The model's topics with readable, curated labels (merged topics folded into their target)."""
        if self.model is None:
            return []
        names = self.curation.get("names") or {}
        merges = self.curation.get("merges") or {}
        seed_names = {tuple(tokens): name for name, tokens in self.curation.get("seeds") or []}
        seeded = list(self.model.params.seed_terms)
        out = []
        for t in self.model.topics(self.label_token):
            internal = self.model.internal(t["id"])
            is_seeded = internal is not None and internal < len(seeded) and tuple(seeded[internal]) in seed_names
            if t["id"] in merges and not is_seeded:          # a seeded topic is never hidden by an older merge
                continue
            if is_seeded:
                t["label"] = seed_names[tuple(seeded[internal])]
                t["curated"] = True
                t.pop("tokens", None)
                t["concepts"] = []
                if t["id"] in names:
                    t["label"] = names[t["id"]]
                out.append(t)
                continue
            concepts = [self.label_token(tok) for tok in t.pop("tokens", [])[:3] if is_concept(tok)]
            t["concepts"] = concepts
            if concepts:
                t["label"] = concepts[0]
            if t["id"] in names:
                t["label"] = names[t["id"]]
                t["curated"] = True
            out.append(t)
        return out

    # -- similarity ------------------------------------------------------------------------------------------
    def similarity_index(self) -> SimilarityIndex:
        if self._index is None:
            junk = self.junk()
            docs = [(rec.id, rec.analyzed.tokens) for rec in self.ideas.values() if rec.id not in junk]
            cues = {rec.id: rec.analyzed.cues for rec in self.ideas.values() if rec.id not in junk}
            self._index = SimilarityIndex(docs, pipeline=self.pipeline, labeler=self.label_token, cues=cues)
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
        junk = self.junk()
        live = [r for r in self.ideas.values() if r.id not in junk]
        cats = sorted({r.category or UNCATEGORISED for r in live})
        ids = {c: n for n, c in enumerate(cats)}
        topics = []
        for c in cats:
            counts: Counter = Counter()
            for r in live:
                if (r.category or UNCATEGORISED) == c:
                    counts.update(r.analyzed.tokens)
            total = sum(counts.values()) or 1
            terms = [[self.label_token(t), round(n / total, 6)] for t, n in
                     sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]
            topics.append({"id": ids[c], "label": c, "terms": terms})
        assignments = {r.id: (ids[r.category or UNCATEGORISED], 1.0) if r.id not in junk else (None, 0.0)
                       for r in self.ideas.values()}
        quality = {"coherence": None, "diversity": None, "k": len(cats), "source": "category", "candidates": []}
        return topics, assignments, quality

    def report(self, topics_from: str = "auto", reference_year: int | None = None, cluster_threshold: float = 0.5,
               near_duplicate: float = 0.8, train_if_missing: bool = True, alpha: float = 0.05,
               min_expected: float = 5.0, progress: Callable[[str], None] | None = None,
               min_lift: float = seg.MIN_LIFT, min_cell_size: int | None = None, language: str | None = None,
               titles: Mapping[str, str] | None = None, times: Mapping[str, str] | None = None) -> dict:
        """The analytics report (JSON-ready dict). ``topics_from``: ``lda``, ``category`` or ``auto`` (categories
        when at least 90 % of ideas have one — Pabulib files with categories —, else LDA). ``language``: the
        tenant's language (labels and sentences; default the corpus' majority language)."""
        from analytics import summary as summ

        note = progress or (lambda _m: None)
        year = reference_year or _dt.date.today().year
        min_cell = min_cell_size if min_cell_size is not None else seg.min_cell_size_from_env()
        langs = Counter(r.analyzed.language for r in self.ideas.values())
        language = language or self.language or (langs.most_common(1)[0][0] if langs else "en")
        self.language = language
        junk = self.junk()
        if self.uses_categories(topics_from):
            topics, assign, quality = self._category_topics()
            source = "category"
        else:
            source = "lda"
            if self.model is None and train_if_missing and self.ideas:
                self.retrain(progress=progress)
            if self.model is not None:
                topics = self.topic_entries()
                assign = {rid: self.assignment(rid) for rid in self.ideas}
                quality = {k: self.model.quality.get(k) for k in ("coherence", "coherence_npmi", "diversity", "k",
                                                                   "candidates", "chosen_by")}
                quality["source"] = "lda"
            else:
                topics, assign = [], {rid: (None, 0.0) for rid in self.ideas}
                quality = {"coherence": None, "diversity": None, "k": 0, "source": "none", "candidates": []}
        labels = {t["id"]: t["label"] for t in topics}
        note("similarity")
        index = self.similarity_index()
        clusters = index.clusters(threshold=cluster_threshold, near_duplicate=near_duplicate)
        dups = [{"a": a, "b": b, "similarity": s} for a, b, s in index.near_duplicates(near_duplicate)]
        note("segments")
        rows = self.segment_rows(assign, year, alpha=alpha, min_expected=min_expected, min_lift=min_lift,
                                 min_cell_size=min_cell)
        for r in rows:
            r["topic_label"] = labels.get(r["topic"])
        n_supports = sum(len(r.supports) for r in self.ideas.values())
        note("summaries")
        report = {
            "meta": {"n_ideas": len(self.ideas), "n_analysed": len(self.ideas) - len(junk),
                     "n_supports": n_supports, "n_comments": sum(len(r.comments) for r in self.ideas.values()),
                     "topics_from": source, "reference_year": year, "language": language,
                     "languages": dict(langs),
                     "empty_texts": sum(1 for r in self.ideas.values() if r.analyzed.empty),
                     "seed": self.params.seed, "alpha": alpha, "min_expected": min_expected, "min_lift": min_lift,
                     "min_cell_size": min_cell, "fdr": "Benjamini-Yekutieli over the whole report",
                     "test": "share of a topic in a segment vs the rest, clustered by person (voter or author)",
                     "cluster_threshold": cluster_threshold, "near_duplicate_threshold": near_duplicate},
            "topics": topics,
            "assignments": {rid: {"topic": t, "weight": w} for rid, (t, w) in assign.items()},
            "clusters": clusters,
            "near_duplicates": dups,
            "segments": rows,
            "quality": quality,
            "k_selection": {"chosen": quality.get("k"), "by": quality.get("chosen_by"),
                            "candidates": quality.get("candidates") or []},
            "junk": junkmod.junk_section(junk, titles or {rid: r.text.split("\n", 1)[0]
                                                           for rid, r in self.ideas.items()}),
        }
        report["summaries"] = summ.summaries(self, report, language=language, times=times)
        return report

    def segment_rows(self, assign: Mapping[str, tuple[int | None, float]], reference_year: int,
                     alpha: float = 0.05, min_expected: float = 5.0, min_lift: float = seg.MIN_LIFT,
                     min_cell_size: int | None = None) -> list[dict]:
        """Both measures' tables, tested per person, FDR over all of them (see :mod:`analytics.segments`)."""
        min_cell = min_cell_size if min_cell_size is not None else seg.min_cell_size_from_env()
        junk = self.junk()
        ideas_obs, support_obs = [], []
        for rec in self.ideas.values():
            if rec.id in junk:
                continue
            topic = assign.get(rec.id, (None, 0.0))[0]
            if topic is None:
                continue
            if rec.demographics:
                ideas_obs.append((topic, seg.segment_of(rec.demographics, reference_year),
                                  ("author", rec.author) if rec.author else None))
            for demo in rec.supports.values():
                voter = demo.get(VOTER_KEY)
                support_obs.append((topic, seg.segment_of(demo, reference_year),
                                    ("voter", voter) if voter else None))
        kw = dict(alpha=alpha, min_expected=min_expected, min_lift=min_lift, min_cell_size=min_cell, adjust=False)
        rows = seg.breakdown(ideas_obs, "ideas", **kw) + seg.breakdown(support_obs, "support", **kw)
        return seg.finalize(rows, alpha=alpha, min_lift=min_lift, min_expected=min_expected)


def _replace_seeds(params: TopicParams, seeds) -> TopicParams:
    import dataclasses

    return dataclasses.replace(params, seed_terms=tuple(tuple(tokens) for _, tokens in seeds))


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
    titles, times = {}, {}
    for r in iterator:
        state.add_idea(r["id"], r.get("text"), r.get("demographics"), r.get("category"), r.get("language"),
                       time=r.get("created_at") or r.get("time"), author=r.get("author"), title=r.get("title"))
        titles[str(r["id"])] = r.get("title") or (r.get("text") or "").split("\n", 1)[0][:120]
        if r.get("created_at") or r.get("time"):
            times[str(r["id"])] = r.get("created_at") or r.get("time")
        for v in r.get("votes") or ():
            v = v or {}
            state.add_support(r["id"], v.get("demographics"), v.get("id"), voter=v.get("voter_id") or v.get("voter"))
        for n, c in enumerate(r.get("comments") or ()):
            c = c if isinstance(c, Mapping) else {"text": str(c)}
            state.add_comment(r["id"], c.get("id") or f"{r['id']}#c{n}", c.get("text"), c.get("language"))
    return state.report(topics_from=topics_from, reference_year=reference_year, progress=note, titles=titles,
                        times=times, **report_kwargs)
