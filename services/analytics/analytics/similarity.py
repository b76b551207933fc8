"""Similar ideas: TF-IDF vectors + gensim ``SparseMatrixSimilarity`` (cosine).

API
---
``SimilarityIndex(docs, pipeline=None, labeler=None)`` with ``docs = [(idea_id, stem tokens), ...]``
    Builds a gensim ``Dictionary`` (every word kept), a ``TfidfModel`` and a ``SparseMatrixSimilarity`` index.
    Texts without any word are kept out of the index (they are similar to nothing).
``most_similar(text, k=5, exclude=())``
    The ``k`` ideas most similar to a raw text (analysed with ``pipeline``, a :class:`analytics.text.TextPipeline`)
    as ``[(idea_id, cosine), ...]``, best first, cosine > 0 only. ``most_similar_tokens`` takes stems instead,
    ``similar_to(idea_id, k)`` an indexed idea. This is what the ideas service needs for "similar ideas" hints.
``clusters(threshold=0.5, neighbours=10, near_duplicate=0.8)``
    Clusters of similar ideas without chaining: **average-linkage** agglomeration over the graph linking each idea
    to its ``neighbours`` nearest ideas (cosine ≥ ``threshold``). Two clusters merge only while the mean cosine over
    *all* pairs of their members is ≥ ``threshold`` (a pair that is not a neighbour edge counts 0), so A~B~C~D never
    glues A to D through a chain; clusters also stop at ``max_size`` (default 200). Singletons are not reported.
    Each cluster:
    ``{"id", "label", "size", "ideas", "representative", "max_similarity", "near_duplicates"}`` where
    ``near_duplicates`` lists the pairs ``[a, b, cosine]`` with cosine ≥ ``near_duplicate`` (re-submissions, copies).
    ``near_duplicates(threshold)`` returns all such pairs. A pair whose stance cues disagree
    (:func:`analytics.taxonomy.opposite`: "ban X" / "allow X", "close the pool" / "do not close the pool") is never a
    near-duplicate: ``opposing(threshold)`` lists those pairs instead.

The index is immutable; the service rebuilds it (cheap: ~1 s at 10k ideas) when ideas changed — see
:class:`analytics.domain.CorpusState`, which rebuilds lazily on the next query.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Sequence

import numpy as np

Doc = tuple[str, Sequence[str]]


class SimilarityIndex:
    def __init__(self, docs: Iterable[Doc], pipeline=None, labeler: Callable[[str], str] | None = None,
                 chunksize: int = 256, cues: dict | None = None) -> None:
        from gensim.corpora import Dictionary
        from gensim.models import TfidfModel
        from gensim.similarities import SparseMatrixSimilarity

        docs = [(str(i), list(t)) for i, t in docs]
        self.pipeline = pipeline
        self.labeler = labeler or (lambda token: token)
        self.chunksize = chunksize
        self.dictionary = Dictionary(t for _, t in docs)
        self.tfidf = TfidfModel(dictionary=self.dictionary) if len(self.dictionary) else None
        self.ids: list[str] = []
        vectors = []
        for idea_id, tokens in docs:
            vec = self._vector(tokens)
            if vec:
                self.ids.append(idea_id)
                vectors.append(vec)
        self._vectors = vectors
        self._pos = {idea_id: n for n, idea_id in enumerate(self.ids)}
        self.index = (SparseMatrixSimilarity(vectors, num_features=len(self.dictionary), num_docs=len(vectors))
                      if vectors else None)
        if self.index is not None:
            self.index.num_best = None
        self._tokens = {idea_id: tokens for idea_id, tokens in docs}
        self.cues = cues or {}
        self._edges_cache: dict = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _vector(self, tokens: Sequence[str]):
        if self.tfidf is None:
            return []
        return self.tfidf[self.dictionary.doc2bow(list(tokens))]

    # -- queries -----------------------------------------------------------------------------------------------
    def most_similar_tokens(self, tokens: Sequence[str], k: int = 5, exclude: Iterable[str] = ()
                            ) -> list[tuple[str, float]]:
        vec = self._vector(tokens)
        if self.index is None or not vec or k <= 0:
            return []
        sims = np.asarray(self.index[vec]).ravel()
        excluded = {self._pos[e] for e in exclude if e in self._pos}
        order = np.argsort(-sims, kind="stable")
        out = []
        for n in order:
            if sims[n] <= 1e-9:
                break
            if int(n) in excluded:
                continue
            out.append((self.ids[int(n)], round(float(min(1.0, sims[n])), 6)))
            if len(out) >= k:
                break
        return out

    def most_similar(self, text: str, k: int = 5, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        if self.pipeline is None:
            raise ValueError("SimilarityIndex built without a pipeline: use most_similar_tokens")
        return self.most_similar_tokens(self.pipeline.analyze(text).tokens, k=k, exclude=exclude)

    def similar_to(self, idea_id: str, k: int = 5) -> list[tuple[str, float]]:
        tokens = self._tokens.get(str(idea_id))
        if tokens is None:
            raise KeyError(idea_id)
        return self.most_similar_tokens(tokens, k=k, exclude=[str(idea_id)])

    def _neighbour_edges(self, threshold: float, neighbours: int) -> list[tuple[int, int, float]]:
        """Edges (i < j, cosine) from each indexed idea to its nearest ``neighbours`` with cosine ≥ threshold."""
        if self.index is None:
            return []
        edges: dict[tuple[int, int], float] = {}
        n = len(self._vectors)
        for start in range(0, n, self.chunksize):
            block = np.asarray(self.index[self._vectors[start:start + self.chunksize]])
            if block.ndim == 1:
                block = block[None, :]
            for r, row in enumerate(block):
                i = start + r
                row = row.copy()
                row[i] = -1.0
                cand = np.flatnonzero(row >= threshold)
                if cand.size > neighbours:
                    cand = cand[np.argsort(-row[cand], kind="stable")[:neighbours]]
                for j in cand:
                    key = (min(i, int(j)), max(i, int(j)))
                    edges[key] = max(edges.get(key, 0.0), float(min(1.0, row[j])))
        return [(a, b, s) for (a, b), s in sorted(edges.items())]

    def _edges(self, threshold: float, neighbours: int):
        key = (threshold, neighbours)
        if key not in self._edges_cache:
            self._edges_cache[key] = self._neighbour_edges(threshold, neighbours)
        return self._edges_cache[key]

    def _opposite(self, a: int, b: int) -> bool:
        from analytics.taxonomy import opposite

        return opposite(self.cues.get(self.ids[a], ()), self.cues.get(self.ids[b], ()))

    def near_duplicates(self, threshold: float = 0.8, neighbours: int = 10) -> list[tuple[str, str, float]]:
        return [(self.ids[a], self.ids[b], round(s, 6)) for a, b, s in self._edges(threshold, neighbours)
                if s >= threshold and not self._opposite(a, b)]

    def opposing(self, threshold: float = 0.8, neighbours: int = 10) -> list[tuple[str, str, float]]:
        """Pairs as similar as near-duplicates whose stances disagree (shown to staff as "for and against")."""
        return [(self.ids[a], self.ids[b], round(s, 6)) for a, b, s in self._edges(threshold, neighbours)
                if s >= threshold and self._opposite(a, b)]

    def _average_linkage(self, edges, threshold: float, max_size: int) -> list[list[int]]:
        """Sparse average-linkage (UPGMA) with missing pairs counted 0; stops below ``threshold``."""
        import heapq

        size = {i: 1 for i in range(len(self.ids))}
        links: dict[int, dict[int, float]] = {}
        for a, b, s in edges:
            if s >= threshold:
                links.setdefault(a, {})[b] = links.get(a, {}).get(b, 0.0) + s
                links.setdefault(b, {})[a] = links.get(b, {}).get(a, 0.0) + s
        members = {i: [i] for i in range(len(self.ids))}
        version = {i: 0 for i in range(len(self.ids))}
        heap = []
        for a, nb in links.items():
            for b, total in nb.items():
                if a < b:
                    heap.append((-total, a, b, 0, 0))        # singletons: average = total
        heapq.heapify(heap)
        nxt = len(self.ids)
        while heap:
            neg, a, b, va, vb = heapq.heappop(heap)
            if a not in members or b not in members or version[a] != va or version[b] != vb:
                continue
            avg = -neg
            if avg < threshold:
                break                                        # the heap is ordered by average: nothing left
            if size[a] + size[b] > max_size:
                continue
            c = nxt
            nxt += 1
            members[c] = members.pop(a) + members.pop(b)
            size[c] = size[a] + size[b]
            version[c] = 0
            merged: dict[int, float] = {}
            for old in (a, b):
                for o, total in links.pop(old, {}).items():
                    if o in (a, b):
                        continue
                    merged[o] = merged.get(o, 0.0) + total
                    links[o].pop(old, None)
            links[c] = merged
            for o, total in merged.items():
                links[o][c] = total
                version[o] += 1
            for o in merged:
                for p, t2 in links[o].items():
                    x, y = (o, p) if o < p else (p, o)
                    heapq.heappush(heap, (-t2 / (size[x] * size[y]), x, y, version[x], version[y]))
        return [sorted(m) for m in members.values()]

    def clusters(self, threshold: float = 0.5, neighbours: int = 10, near_duplicate: float = 0.8,
                 label_terms: int = 3, max_size: int = 200) -> list[dict]:
        edges = self._edges(min(threshold, near_duplicate), neighbours)
        groups = self._average_linkage(edges, threshold, max_size)
        strength: Counter = Counter()
        for a, b, s in edges:
            if s >= threshold:
                strength[a] += s
                strength[b] += s
        result = []
        for members in sorted((m for m in groups if len(m) > 1), key=lambda m: (-len(m), m[0])):
            member_set = set(members)
            pairs = [(a, b, s) for a, b, s in edges if a in member_set and b in member_set]
            dups = [[self.ids[a], self.ids[b], round(s, 6)] for a, b, s in pairs
                    if s >= near_duplicate and not self._opposite(a, b)]
            inner: Counter = Counter()
            for a, b, s in pairs:
                inner[a] += s
                inner[b] += s
            rep = max(members, key=lambda i: (inner[i], strength[i], -i))
            n_pairs = len(members) * (len(members) - 1) / 2
            result.append({
                "id": len(result),
                "label": self._label(members, label_terms),
                "size": len(members),
                "ideas": [self.ids[i] for i in members],
                "representative": self.ids[rep],
                "max_similarity": round(max((s for _, _, s in pairs), default=0.0), 6),
                "mean_similarity": round(sum(s for _, _, s in pairs) / n_pairs, 6) if n_pairs else 0.0,
                "near_duplicates": dups,
            })
        return result

    def _label(self, members: Sequence[int], n: int) -> str:
        weights: Counter = Counter()
        for i in members:
            for tid, w in self._vectors[i]:
                weights[tid] += w
        words: list[str] = []
        for tid, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
            word = self.labeler(self.dictionary[tid])
            if word not in words:
                words.append(word)
            if len(words) >= n:
                break
        return ", ".join(words)
