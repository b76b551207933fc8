"""Agora analytics: the engine (pure: no nameko, no database) and the service around it.

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
* :mod:`analytics.domain` — ``CorpusState``: the per-(tenant, project) engine state, and ``analyze`` (batch).
* :mod:`analytics.pabulib` — what Pabulib rows mean for the analysis (the file is read by :mod:`agora.pabulib`);
  :mod:`analytics.inputs` — batch input loading.
* The service: :mod:`analytics.service` (thin nameko entrypoints), :mod:`analytics.dependencies` (the provider),
  :mod:`analytics.application` (use cases and report queries), :mod:`analytics.curation` (the curation decision,
  pure), :mod:`analytics.projections` (read models: the subscription handlers), :mod:`analytics.live` (one
  corpus kept live from events, report views), :mod:`analytics.training` (retrains in a worker process, saved
  models), :mod:`analytics.worker` (the worker process' functions), :mod:`analytics.settings`,
  :mod:`analytics.schemas`, :mod:`analytics.export` (CSV/XLSX).
* ``python -m analytics analyze INPUT`` — batch CLI (:mod:`analytics.__main__`).
"""
__version__ = "0.1.0"
