"""Agora analytics engine (pure: no nameko, no database).

Modules — each module docstring documents its API:

* :mod:`analytics.text` — multilingual text pipeline (HTML stripping, language detection incl. Polish, tokens,
  stopwords, concept tokens, Snowball stems, readable surface-form labels, gensim bigrams, stance cues).
* :mod:`analytics.taxonomy` — the curated multilingual municipal taxonomy (package data) and stance cues.
* :mod:`analytics.junk` — junk and spam filter (scanner probes, URL-only, mashing, bursts of copies).
* :mod:`analytics.topics` — LDA topic models: ``retrain(docs, params, previous) -> ModelState`` (picklable, for a
  worker process), online ``ModelState.update``, k chosen by NPMI coherence × topic diversity from 2 up, concept
  seeds, canonical order, stable topic ids.
* :mod:`analytics.similarity` — TF-IDF similarity index: ``most_similar``, average-linkage clusters,
  near-duplicates (never of opposite stances).
* :mod:`analytics.segments` — topic × demographic-segment tables (per-person tests, report-wide FDR, minimum
  effect, suppression of small cells).
* :mod:`analytics.summary` / :mod:`analytics.render` — cited extractive summaries, plain-sentence differences,
  HTML and PDF reports.
* :mod:`analytics.domain` — ``CorpusState``: the per-(tenant, project) projection rebuilt from events, and
  ``analyze`` (batch).
* :mod:`analytics.pabulib` — self-contained Pabulib ``.pb`` reader; :mod:`analytics.inputs` — batch input loading;
  :mod:`analytics.datasets` — loaders of the real corpora used by tests and benches; :mod:`analytics.synthetic` —
  a generated multilingual corpus (tests, benches).
* ``python -m analytics analyze INPUT`` — batch CLI (:mod:`analytics.__main__`).
"""
__version__ = "0.1.0"
