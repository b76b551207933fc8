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
    Clusters of similar ideas: the connected components of the graph linking each idea to its ``neighbours`` nearest
    ideas with cosine ≥ ``threshold`` (components of one idea are not reported). Each cluster:
    ``{"id", "label", "size", "ideas", "representative", "max_similarity", "near_duplicates"}`` where
    ``near_duplicates`` lists the pairs ``[a, b, cosine]`` with cosine ≥ ``near_duplicate`` (re-submissions, copies).
    ``near_duplicates(threshold)`` returns all such pairs.

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
                 chunksize: int = 256) -> None:
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

    def near_duplicates(self, threshold: float = 0.8, neighbours: int = 10) -> list[tuple[str, str, float]]:
        return [(self.ids[a], self.ids[b], round(s, 6)) for a, b, s in self._neighbour_edges(threshold, neighbours)]

    def clusters(self, threshold: float = 0.5, neighbours: int = 10, near_duplicate: float = 0.8,
                 label_terms: int = 3) -> list[dict]:
        edges = self._neighbour_edges(min(threshold, near_duplicate), neighbours)
        parent = list(range(len(self.ids)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b, s in edges:
            if s >= threshold:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        groups: dict[int, list[int]] = {}
        for i in range(len(self.ids)):
            groups.setdefault(find(i), []).append(i)
        strength: Counter = Counter()
        for a, b, s in edges:
            if s >= threshold:
                strength[a] += s
                strength[b] += s
        result = []
        for members in sorted((m for m in groups.values() if len(m) > 1), key=lambda m: (-len(m), m[0])):
            member_set = set(members)
            pairs = [(a, b, s) for a, b, s in edges if a in member_set and b in member_set]
            dups = [[self.ids[a], self.ids[b], round(s, 6)] for a, b, s in pairs if s >= near_duplicate]
            rep = max(members, key=lambda i: (strength[i], -i))
            result.append({
                "id": len(result),
                "label": self._label(members, label_terms),
                "size": len(members),
                "ideas": [self.ids[i] for i in members],
                "representative": self.ids[rep],
                "max_similarity": round(max((s for _, _, s in pairs), default=0.0), 6),
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
