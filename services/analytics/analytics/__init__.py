"""Agora analytics engine (pure: no nameko, no database).

Modules — each module docstring documents its API:

* :mod:`analytics.text` — multilingual text pipeline (HTML stripping, language detection, tokens, stopwords,
  Snowball stems, readable surface-form labels, gensim bigrams).
* :mod:`analytics.topics` — LDA topic models: ``retrain(docs, params) -> ModelState`` (picklable, for a worker
  process), online ``ModelState.update``, k chosen by c_v coherence × topic diversity.
* :mod:`analytics.similarity` — TF-IDF similarity index: ``most_similar``, clusters, near-duplicates.
* :mod:`analytics.segments` — topic × demographic-segment tables (chi-square + Benjamini–Hochberg).
* :mod:`analytics.domain` — ``CorpusState``: the per-(tenant, project) projection rebuilt from events, and
  ``analyze`` (batch).
* :mod:`analytics.pabulib` — self-contained Pabulib ``.pb`` reader; :mod:`analytics.inputs` — batch input loading;
  :mod:`analytics.datasets` — loaders of the real corpora used by tests and benches.
* ``python -m analytics analyze INPUT`` — batch CLI (:mod:`analytics.__main__`).
"""
__version__ = "0.1.0"
