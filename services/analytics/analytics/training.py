"""Model training: full retrains in a worker process, installed and saved models.

* **Model work never runs on the eventlet hub**: full retrains run in a ``ProcessPoolExecutor`` (spawn context,
  :mod:`analytics.worker`) driven by a polling green thread (:meth:`Trainer.scheduler`); installing a model runs in
  an ``eventlet.tpool`` thread while the corpus' green lock is held. Retrains start when a corpus first reaches
  ``min_ideas`` ideas, when it grew/drifted (``ModelState.needs_retrain``), when a small corpus settled, every
  ``retrain_interval_s`` if it changed, and on request (:meth:`Trainer.request_retrain`). Retrains are
  deterministic (fixed seed): the same ideas give the same model, hence the same report.
* **Saved models** (``analytics_models``): each installed model is pickled (zlib) in 8 MB chunks; on start the saved
  model of every corpus is installed (:meth:`Trainer.load_models`), so a restart serves the same topics and never
  retrains what it has. A retrain passes the old model's signature, so topics keep their ids
  (:func:`analytics.topics.match_topics`).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import eventlet
from eventlet import tpool

from analytics import live, worker
from analytics.projections import MODELS, Corpora
from analytics.settings import Settings

log = logging.getLogger("analytics.training")

MODEL_CHUNK = 8 * 1024 * 1024


class Trainer:
    def __init__(self, db, corpora: Corpora, settings: Settings):
        self.db = db
        self.corpora = corpora
        self.settings = settings
        self.executor: ProcessPoolExecutor | None = None
        self._running = False
        self._last_trained: dict[str, float] = {}
        self._trained_version: dict[str, int] = {}

    def lock(self, corpus: live.Corpus):
        return self.corpora.lock(corpus)

    # ------------------------------------------------------------------ saved models
    def save_model(self, c: live.Corpus, blob: bytes) -> None:
        """Store a trained model (pickled, zlib) in ``analytics_models`` in chunks of 8 MB: a restart (or another
        replica) loads it instead of retraining."""
        key = c.key
        chunks = [blob[i:i + MODEL_CHUNK] for i in range(0, len(blob), MODEL_CHUNK)] or [b""]
        col = self.db[MODELS]
        for n, chunk in enumerate(chunks):
            col.replace_one({"_id": f"{key}|{n}"}, {"_id": f"{key}|{n}", "key": key, "n": n,
                                                    "data": chunk}, upsert=True)
        col.replace_one({"_id": key}, {"_id": key, "key": key, "tenant": c.tenant, "project": c.project,
                                       "chunks": len(chunks), "trained_at": c.trained_at, "size": len(blob)},
                        upsert=True)
        col.delete_many({"key": key, "n": {"$gte": len(chunks)}})

    def load_models(self) -> int:
        """Install the saved model of every corpus (startup: a restart never retrains what it has)."""
        import pickle
        import zlib

        col = self.db[MODELS]
        heads = [d for d in col.find({"chunks": {"$exists": True}})]
        loaded = 0
        for head in heads:
            c = self.corpora.by_key.get(head["key"])
            if c is None:
                continue
            parts = sorted(col.find({"key": head["key"], "n": {"$exists": True}}), key=lambda d: d["n"])
            if len(parts) != head["chunks"]:
                continue
            try:
                model = pickle.loads(zlib.decompress(b"".join(bytes(p["data"]) for p in parts)))
                c.state.install_model(model)
            except Exception as exc:  # noqa: BLE001 - a bad blob only costs a retrain
                log.warning("analytics: saved model of %s unusable: %s", head["key"], exc)
                continue
            c.trained_at = head.get("trained_at")
            c.touch()
            self._trained_version[c.key] = c.version
            self._last_trained[c.key] = time.monotonic()
            loaded += 1
        return loaded


    # ------------------------------------------------------------------ model jobs
    def start(self) -> None:
        self._new_pool()
        self._running = True

    def _new_pool(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.executor = ProcessPoolExecutor(max_workers=self.settings.workers, mp_context=ctx)
        self.executor.submit(worker.warm)

    def stop(self) -> None:
        self._running = False
        ex, self.executor = self.executor, None
        if ex is not None:
            processes = list((getattr(ex, "_processes", None) or {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            for p in processes:            # a retrain may be running: do not let it delay SIGTERM
                try:
                    p.terminate()
                except Exception:  # noqa: BLE001
                    pass

    def request_retrain(self, corpus: live.Corpus, overrides: dict | None = None) -> int:
        corpus.jobs_requested += 1
        corpus.job_overrides = dict(overrides or {})
        return corpus.jobs_requested

    def _due(self, c: live.Corpus, now: float) -> bool:
        n = len(c.state.ideas)
        if c.jobs_requested > c.jobs_installed:
            return n >= 2
        if n < self.settings.min_ideas:
            return False
        quiet = now - c.changed_at >= self.settings.debounce_s
        model = c.state.model
        if model is None:
            return quiet
        if c.version == self._trained_version.get(c.key):
            return False
        if model.needs_retrain(n):
            return quiet
        # a small corpus that settled (no change for settle_s) is retrained on everything it has: cheap, and the
        # topics then equal the batch analysis of the same ideas instead of a model of its first ideas + updates
        if n <= self.settings.settle_max_ideas and now - c.changed_at >= self.settings.settle_s:
            return True
        return now - self._last_trained.get(c.key, 0.0) >= self.settings.retrain_interval_s

    def _submit(self, c: live.Corpus) -> None:
        params = dataclasses.replace(self.settings.params, seed_terms=c.state.params.seed_terms)
        if c.jobs_requested > c.jobs_installed and c.job_overrides:
            params = dataclasses.replace(params, **c.job_overrides)
        docs = c.state.training_docs()
        previous = c.state.model.signature() if c.state.model is not None else None
        c.training_job = c.jobs_requested
        c.training_version = c.version
        c.training = self.executor.submit(worker.train, docs, params, previous)
        c.training_pool = self.executor
        log.info("analytics: retraining %s on %d ideas (job %d)", c.key, len(docs), c.training_job)

    def _finish(self, c: live.Corpus) -> None:
        fut, c.training = c.training, None
        pool = getattr(c, "training_pool", None)
        changed_during = None
        try:
            model = fut.result()
        except Exception as exc:  # noqa: BLE001 - reported in the status, the next change retries
            c.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("analytics: retrain of %s failed: %s", c.key, c.last_error)
            if isinstance(exc, BrokenProcessPool) and self._running and pool is self.executor:
                # a worker died (OOM?): replace the pool once (other jobs of the old pool just fail)
                old, self.executor = self.executor, None
                if old is not None:
                    old.shutdown(wait=False, cancel_futures=True)
                self._new_pool()
        else:
            with self.lock(c):
                changed_during = c.version != c.training_version
                tpool.execute(c.state.install_model, model)
                c.trained_at = _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
                c.last_error = None
                c.touch()
            log.info("analytics: model installed for %s (k=%s)", c.key, model.k)
            try:
                self.save_model(c, tpool.execute(worker.dump_model, model))
            except Exception:  # noqa: BLE001 - the model still serves; the next retrain saves again
                log.exception("analytics: could not save the model of %s", c.key)
        self._last_trained[c.key] = time.monotonic()
        # nothing changed while training → this model is up to date (no periodic retrain until the next change)
        self._trained_version[c.key] = c.version if changed_during is not True else -1
        c.jobs_installed = max(c.jobs_installed, c.training_job)
        if c.jobs_installed >= c.jobs_requested:
            c.job_overrides = {}

    def scheduler(self) -> None:
        """Polling green thread: finishes done jobs, submits due ones. Never does model work itself."""
        while self._running:
            try:
                now = time.monotonic()
                for c in self.corpora.all():
                    if c.training is not None:
                        if c.training.done():
                            self._finish(c)
                    elif self.executor is not None and self._due(c, now):
                        self._submit(c)
            except Exception:  # noqa: BLE001 - keep scheduling
                log.exception("analytics scheduler error")
            eventlet.sleep(0.1)

