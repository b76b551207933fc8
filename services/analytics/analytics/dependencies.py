"""The analytics engine inside the nameko container: projection, in-memory corpora, model worker process.

:class:`Engine` keeps one :class:`analytics.live.Corpus` per (tenant, project).

* **Projection** (Mongo, written with the subscription's ``session`` so it commits with the checkpoint):
  ``analytics_projects`` (title, phases), ``analytics_ideas`` (one per idea: text, phase, status, submission
  instant, the author's demographics, active/merged), ``analytics_supports`` (one per voter and idea: last reaction
  value and demographics), ``analytics_rounds`` / ``analytics_ballots`` (budget rounds → project, ballots).
  On start (nameko ``setup``, before any entrypoint runs) the in-memory corpora are rebuilt from it; dropping the
  ``analytics_*`` collections and resetting the subscription checkpoint rebuilds everything from the log.
  ``PersonalDataForgotten`` (handled by each subscription for what it projected, :meth:`Engine.forget`): the
  person's demographics and author field go, their pseudonym in support and ballot ids becomes a token of the
  erasure (their supports still count, as one anonymous person).
* **Saved models** (``analytics_models``): each installed model is pickled (zlib) in 8 MB chunks; on start the
  saved model of every corpus is installed, so a restart serves the same topics and never retrains what it has
  (ideas that arrived meanwhile are assigned by the model). A retrain passes the old model's signature, so topics
  keep their ids (:func:`analytics.topics.match_topics`).
* **In memory**: the engine's ``CorpusState`` (texts, tokens, demographics, supports, the installed model) — event
  handling is O(one idea) on the hub, including the **online** LDA update of a new idea (milliseconds), so a new
  idea is assigned a topic as soon as its event is handled.
* **Model work never runs on the eventlet hub**: full retrains run in a ``ProcessPoolExecutor`` (spawn context)
  driven by a polling green thread (:meth:`Engine._scheduler`); installing a model and building reports (TF-IDF
  similarity, clusters, chi-square tables) run in ``eventlet.tpool`` threads while the corpus' green lock is held.
  Retrains start when a corpus first reaches ``min_ideas`` ideas, when it grew/drifted
  (``ModelState.needs_retrain``), every ``retrain_interval_s`` if it changed, and on request (``POST .../retrain``).
  Retrains are deterministic (fixed seed): the same ideas give the same model, hence the same report.

Settings (environment): ``AGORA_ANALYTICS_MIN_IDEAS`` (10), ``AGORA_ANALYTICS_DEBOUNCE_S`` (0.5),
``AGORA_ANALYTICS_RETRAIN_INTERVAL_S`` (900), ``AGORA_ANALYTICS_WORKERS`` (1), ``AGORA_ANALYTICS_SEED`` (42),
``AGORA_ANALYTICS_K_CANDIDATES`` ("2,3,4,5,6,8,10,12"), ``AGORA_ANALYTICS_SETTLE_S`` (5: a corpus of at most
``AGORA_ANALYTICS_SETTLE_MAX_IDEAS`` (5000) ideas that changed and then stayed quiet that long is retrained on
everything, so its topics equal the batch analysis), ``AGORA_ANALYTICS_PASSES`` (5), ``AGORA_ANALYTICS_DEMO_TENANT``
(unset: no demo; else that tenant's analytics are readable without a token by the dashboard's demo mode).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import eventlet
from eventlet import tpool
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from agora.errors import NotFound
from agora.nameko import mongo_db

from analytics import live, worker
from analytics.topics import TopicParams

log = logging.getLogger("analytics.engine")

IDEAS = "analytics_ideas"
SUPPORTS = "analytics_supports"
PROJECTS = "analytics_projects"
ROUNDS = "analytics_rounds"
BALLOTS = "analytics_ballots"
COMMENTS = "analytics_comments"
MODELS = "analytics_models"
CURATION = "analytics_curation"
COLLECTIONS = (IDEAS, SUPPORTS, PROJECTS, ROUNDS, BALLOTS, COMMENTS, MODELS, CURATION)
MODEL_CHUNK = 8 * 1024 * 1024
BUDGET_TYPES = ("RoundOpened", "ProjectAdded") + live.BALLOT_TYPES


def _env(name: str, default, cast=str):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return cast(raw)


@dataclasses.dataclass
class Settings:
    min_ideas: int = 10
    debounce_s: float = 0.5
    retrain_interval_s: float = 900.0
    workers: int = 1
    demo_tenant: str | None = None
    settle_s: float = 5.0
    settle_max_ideas: int = 5000
    params: TopicParams = dataclasses.field(default_factory=TopicParams)

    @classmethod
    def from_env(cls) -> "Settings":
        base = TopicParams()
        params = dataclasses.replace(
            base, seed=_env("AGORA_ANALYTICS_SEED", base.seed, int),
            passes=_env("AGORA_ANALYTICS_PASSES", base.passes, int),
            k_candidates=_env("AGORA_ANALYTICS_K_CANDIDATES", base.k_candidates,
                              lambda s: tuple(int(x) for x in s.split(",") if x.strip())))
        return cls(min_ideas=_env("AGORA_ANALYTICS_MIN_IDEAS", 10, int),
                   debounce_s=_env("AGORA_ANALYTICS_DEBOUNCE_S", 0.5, float),
                   retrain_interval_s=_env("AGORA_ANALYTICS_RETRAIN_INTERVAL_S", 900.0, float),
                   workers=max(1, _env("AGORA_ANALYTICS_WORKERS", 1, int)),
                   demo_tenant=_env("AGORA_ANALYTICS_DEMO_TENANT", None), params=params,
                   settle_s=_env("AGORA_ANALYTICS_SETTLE_S", 5.0, float),
                   settle_max_ideas=_env("AGORA_ANALYTICS_SETTLE_MAX_IDEAS", 5000, int))


def budget_types_registered() -> bool:
    try:
        import agora.events.catalog  # noqa: F401 - loads every contract module present
        from agora.events import registry
        return all(_registered(registry, t) for t in live.BALLOT_TYPES)
    except Exception:  # noqa: BLE001
        return False


def _registered(registry, name: str) -> bool:
    try:
        registry.latest_version(name)
        return True
    except Exception:  # noqa: BLE001
        return False


def sources() -> dict[str, list[str]]:
    """Event types per source service; ``budgets`` only once its contracts (agora.events.budgets) exist."""
    out = {"ideas": list(live.PROJECT_TYPES + live.IDEA_TYPES + live.COMMENT_TYPES), "votes": list(live.VOTE_TYPES)}
    try:
        import agora.events.analytics  # noqa: F401 - the curation contracts
        from agora.events import registry
        if all(_registered(registry, t) for t in live.CURATION_TYPES):
            out["analytics"] = list(live.CURATION_TYPES)
    except Exception:  # noqa: BLE001
        pass
    if budget_types_registered():
        from agora.events import registry
        out["budgets"] = [t for t in BUDGET_TYPES if _registered(registry, t)]
    return out


SOURCES = sources()


class Engine:
    def __init__(self, db, settings: Settings | None = None):
        self.db = db
        self.settings = settings or Settings()
        self.corpora: dict[str, live.Corpus] = {}
        self.locks: dict[str, Semaphore] = {}
        self.executor: ProcessPoolExecutor | None = None
        self._running = False
        self._last_trained: dict[str, float] = {}
        self._trained_version: dict[str, int] = {}

    # ------------------------------------------------------------------ corpora
    def corpus(self, tenant: str, project: str, create: bool = False) -> live.Corpus:
        key = live.corpus_key(tenant, project)
        c = self.corpora.get(key)
        if c is None:
            if not create:
                raise NotFound(f"no analytics for project {project!r} of tenant {tenant!r}")
            c = live.Corpus(tenant, project, params=self.settings.params)
            self.corpora[key] = c
            self.locks[key] = Semaphore(1)
        return c

    def lock(self, corpus: live.Corpus) -> Semaphore:
        return self.locks[corpus.key]

    def projects(self, tenant: str) -> list[live.Corpus]:
        return sorted((c for c in self.corpora.values() if c.tenant == tenant), key=lambda c: c.project)

    def ensure_indexes(self) -> None:
        for name in (IDEAS, SUPPORTS, BALLOTS, COMMENTS):
            self.db[name].create_index([("tenant", 1), ("project", 1)], name="corpus")
        self.db[ROUNDS].create_index([("tenant", 1)], name="tenant")

    def load(self) -> None:
        """Rebuild every corpus from the projection (startup)."""
        self.corpora.clear()
        self.locks.clear()
        grouped: dict[str, dict] = {}

        def group(doc):
            return grouped.setdefault(live.corpus_key(doc["tenant"], doc["project"]),
                                      {"tenant": doc["tenant"], "project": doc["project"], "doc": None,
                                       "ideas": [], "supports": [], "ballots": [], "comments": [],
                                       "curation": []})
        for doc in self.db[PROJECTS].find():
            group(doc)["doc"] = doc
        for doc in self.db[IDEAS].find():
            group(doc)["ideas"].append(doc)
        for doc in self.db[SUPPORTS].find():
            group(doc)["supports"].append(doc)
        for doc in self.db[BALLOTS].find():
            if doc.get("project"):
                group(doc)["ballots"].append(doc)
        for doc in self.db[COMMENTS].find():
            group(doc)["comments"].append(doc)
        for doc in self.db[CURATION].find():
            group(doc)["curation"].append(doc)
        for g in grouped.values():
            c = self.corpus(g["tenant"], g["project"], create=True)
            c.load(g["doc"], g["ideas"], g["supports"], g["ballots"], g["comments"], g["curation"])
            c.changed_at = time.monotonic()
        loaded = self.load_models()
        log.info("analytics: %d corpora rebuilt from the projection, %d saved models loaded", len(grouped), loaded)

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
            c = self.corpora.get(head["key"])
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

    # ------------------------------------------------------------------ events (subscription)
    def handle(self, event, session, part: str | None = None) -> None:
        """Project one event: Mongo documents (with ``session``) first, then the in-memory corpus. ``part``: the
        subscription (ideas, votes, budgets) handling a ``PersonalDataForgotten``."""
        t, d = event.type, event.data
        if t == "PersonalDataForgotten":
            self.forget(event, session, part)
            return
        if t in ("RoundOpened", "ProjectAdded") or t in live.BALLOT_TYPES:
            self._handle_budget(event, session)
            return
        project = d.get("project_id")
        if not project:
            return
        pid = f"{event.tenant}|{project}"
        if t in live.CURATION_TYPES:
            _id = f"{pid}|{event.position}"
            self.db[CURATION].replace_one({"_id": _id}, {"_id": _id, "tenant": event.tenant, "project": project,
                                                         "type": t, "data": dict(d), "position": event.position},
                                          upsert=True, session=session)
        elif t in live.PROJECT_TYPES:
            doc = self.db[PROJECTS].find_one({"_id": pid}, session=session) or {
                "_id": pid, "tenant": event.tenant, "project": project, "title": project, "phases": {}}
            if t == "ProjectCreated":
                doc["title"] = d.get("title") or project
                doc["language"] = d.get("language")
            else:
                doc["phases"][d["phase_id"]] = {"phase_id": d["phase_id"], "kind": d.get("kind"),
                                                "title": d.get("title") or d["phase_id"],
                                                "start": d.get("start"), "end": d.get("end")}
            doc["position"] = event.position
            self.db[PROJECTS].replace_one({"_id": pid}, doc, upsert=True, session=session)
        elif t in live.IDEA_TYPES:
            _id = f"{pid}|{d['idea_id']}"
            current = self.db[IDEAS].find_one({"_id": _id}, session=session)
            doc = live.idea_record(event, current)
            if doc is None:
                return
            doc["_id"] = _id
            self.db[IDEAS].replace_one({"_id": _id}, doc, upsert=True, session=session)
        elif t in live.COMMENT_TYPES:
            cid = d.get("comment_id") if t == "CommentPosted" else d.get("target_id")
            if t != "CommentPosted" and d.get("target_type") != "comment":
                return
            _id = f"{pid}|c|{cid}"
            doc = live.comment_record(event, self.db[COMMENTS].find_one({"_id": _id}, session=session))
            if doc is None:
                return
            doc["_id"] = _id
            self.db[COMMENTS].replace_one({"_id": _id}, doc, upsert=True, session=session)
        elif t in live.VOTE_TYPES:
            doc = live.support_record(event)
            if doc is None:
                return
            doc["_id"] = f"{pid}|{doc['sid']}"
            self.db[SUPPORTS].replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)
        else:
            return
        corpus = self.corpus(event.tenant, project, create=True)
        with self.lock(corpus):
            if corpus.apply(event):
                corpus.changed_at = time.monotonic()

    def forget(self, event, session, part: str | None = None) -> None:
        """``PersonalDataForgotten {person}``: the person's ideas lose author and demographics; their supports and
        ballots lose demographics, and the pseudonym in their ids becomes a token of this erasure (derived from the
        event id, so a rebuild writes the same documents), so they still count as one anonymous person. Each
        subscription erases what it projected (``part``: ideas → ideas, votes → supports, budgets → ballots; None:
        all), in its own order, so a lagging one cannot write the pseudonym back; idempotent."""
        import hashlib
        import re
        tenant, person = event.tenant, event.data["person"]
        token = "erased-" + hashlib.sha256(str(event.id).encode("utf-8")).hexdigest()[:16]
        if part in (None, "ideas"):
            self.db[IDEAS].update_many({"tenant": tenant, "author": person},
                                       {"$set": {"author": None, "personal": {}}}, session=session)
        for coll, field in [(c, f) for p, c, f in (("votes", SUPPORTS, "sid"), ("budgets", BALLOTS, "ballot"))
                            if part in (None, p)]:
            for doc in list(self.db[coll].find({"tenant": tenant, field: {"$regex": re.escape(person) + "$"}},
                                               session=session)):
                self.db[coll].delete_one({"_id": doc["_id"]}, session=session)
                new = dict(doc, _id=doc["_id"].replace(person, token), personal={})
                new[field] = doc[field].replace(person, token)
                self.db[coll].replace_one({"_id": new["_id"]}, new, upsert=True, session=session)
        for corpus in [c for c in self.corpora.values() if c.tenant == tenant]:
            with self.lock(corpus):
                if corpus.forget(person, token, part):
                    corpus.changed_at = time.monotonic()

    def _handle_budget(self, event, session) -> None:
        """Budget rounds belong to an Agora project; ballots approve PB projects, which map to ideas when the
        PB project names one (``attributes.idea_id``) or has an idea's id."""
        d = event.data
        rid = f"{event.tenant}|{d.get('round_id')}"
        rounds = self.db[ROUNDS]
        if event.type == "RoundOpened":
            rounds.update_one({"_id": rid}, {"$set": {"tenant": event.tenant, "project": d.get("project_id"),
                                                      "position": event.position},
                                             "$setOnInsert": {"items": {}}}, upsert=True, session=session)
            return
        rnd = rounds.find_one({"_id": rid}, session=session)
        if event.type == "ProjectAdded":
            attrs = d.get("attributes") or {}
            idea = attrs.get("idea_id") if isinstance(attrs, dict) else None
            rounds.update_one({"_id": rid}, {"$set": {f"items.{_key(d.get('id'))}": str(idea or d.get('id'))}},
                              upsert=True, session=session)
            return
        if not rnd or not rnd.get("project"):
            return
        items = rnd.get("items") or {}
        ballot = f"{d.get('round_id')}:{d.get('voter_id')}"
        personal = live.demographics(d.get("personal") or d.get("demographics"))
        ideas = None if event.type == "BallotWithdrawn" else [
            items.get(_key(i), i) for i in live.ballot_items(d)]
        bid = f"{rid}|{d.get('voter_id')}"
        self.db[BALLOTS].replace_one({"_id": bid}, {"_id": bid, "tenant": event.tenant, "project": rnd["project"],
                                                    "ballot": ballot, "items": ideas, "personal": personal,
                                                    "position": event.position}, upsert=True, session=session)
        corpus = self.corpus(event.tenant, rnd["project"], create=True)
        with self.lock(corpus):
            if corpus.mark("budgets", event.position):
                corpus.apply_ballot(ballot, ideas, personal)
                corpus.changed_at = time.monotonic()

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
                for c in list(self.corpora.values()):
                    if c.training is not None:
                        if c.training.done():
                            self._finish(c)
                    elif self.executor is not None and self._due(c, now):
                        self._submit(c)
            except Exception:  # noqa: BLE001 - keep scheduling
                log.exception("analytics scheduler error")
            eventlet.sleep(0.1)

    # ------------------------------------------------------------------ views
    def _cached(self, c: live.Corpus, key, compute):
        """``compute()`` for the corpus' current version, run in a tpool thread under the corpus' green lock
        (events wait; the hub keeps serving)."""
        with self.lock(c):
            full = (c.version, key)
            if full not in c.cache:
                c.cache[full] = tpool.execute(compute)
            return c.cache[full]

    def _bundle(self, c: live.Corpus, phase: str | None):
        base_key = (c.version, "base")

        def compute():
            base = c.cache.get(base_key) or live.base_report(c)
            v = live.view(c, base, phase)
            return base, v, live.tables(c, v)
        base, v, tables = self._cached(c, ("bundle", phase), compute)
        c.cache.setdefault(base_key, base)
        return v, tables

    def report(self, c: live.Corpus, phase: str | None = None, measure=None, dimension=None) -> dict:
        v, _ = self._bundle(c, phase)
        return dict(v, segments=[r for r in v["segments"] if (not measure or r["measure"] == measure)
                                 and (not dimension or r["dimension"] == dimension)],
                    meta=dict(v["meta"], measure=measure, dimension=dimension))

    def tables(self, c: live.Corpus, phase: str | None = None) -> dict:
        return self._bundle(c, phase)[1]

    def assignments(self, c: live.Corpus, phase: str | None = None) -> list[dict]:
        """Fast path (no similarity/segments): each idea's topic from the installed model."""
        def compute():
            labels = {}
            if c.state.model is not None:
                labels = {t["id"]: t["label"] for t in c.state.topic_entries()}
            rows = []
            for iid in c.state.ideas:
                m = c.meta.get(iid, {})
                if phase and m.get("phase_id") != phase:
                    continue
                topic, weight = c.state.assignment(iid)
                rows.append({"idea_id": iid, "title": m.get("title"), "phase_id": m.get("phase_id"),
                             "status": m.get("status"), "submitted_at": m.get("submitted_at"), "topic": topic,
                             "topic_label": labels.get(topic), "weight": weight})
            return rows
        return self._cached(c, ("assignments", phase), compute)


def _key(value) -> str:
    return str(value).replace(".", "\uff0e").replace("$", "\uff04")


class AnalyticsEngine(DependencyProvider):
    """Injects the process-wide :class:`Engine`; rebuilds it from the projection before entrypoints start."""

    def setup(self):
        self.engine = Engine(mongo_db(), Settings.from_env())
        self.engine.ensure_indexes()
        self.engine.load()

    def start(self):
        self.engine.start()
        self.container.spawn_managed_thread(self.engine.scheduler, identifier="analytics.scheduler")

    def stop(self):
        self.engine.stop()

    def kill(self):
        self.engine.stop()

    def get_dependency(self, worker_ctx):
        return self.engine
