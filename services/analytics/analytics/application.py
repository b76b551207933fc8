"""The analytics application: its use cases (retrain, curate) and the report queries the HTTP API serves.

:class:`Analytics` is built once per process by :class:`analytics.dependencies.AnalyticsApp` and holds the
in-memory corpora (:class:`analytics.projections.Corpora`), the subscription handlers
(:class:`analytics.projections.Projections`), the model trainer (:class:`analytics.training.Trainer`) and the
command runner. Curation commands go through :class:`agora.application.CommandRunner` (read ``curation-{project}``
→ :func:`analytics.curation.decide` → append with the expected version). Reports are computed in ``eventlet.tpool``
threads under the corpus' green lock and cached per corpus version (events wait; the hub keeps serving).
"""
from __future__ import annotations

import logging

from eventlet import tpool

from agora.application import CommandRunner

from analytics import curation, live
from analytics.projections import Corpora, Projections
from analytics.settings import Settings
from analytics.training import Trainer

log = logging.getLogger("analytics.application")

SUMMARY_META = ("n_ideas", "n_analysed", "n_supports", "n_comments", "language", "min_cell_size", "min_lift",
                "alpha", "fdr", "test", "phase")


def _segments(rows, measure=None, dimension=None):
    return [r for r in rows if (not measure or r["measure"] == measure)
            and (not dimension or r["dimension"] == dimension)]


class Analytics:
    def __init__(self, db, store, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.corpora = Corpora(self.settings.params)
        self.projections = Projections(db, self.corpora)
        self.trainer = Trainer(db, self.corpora, self.settings)
        self.store = store
        self.runner = CommandRunner(store)

    # ------------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        """Rebuild the corpora from the projection and install the saved models (before any entrypoint runs)."""
        self.projections.ensure_indexes()
        self.projections.load()
        loaded = self.trainer.load_models()
        log.info("analytics: %d saved models loaded", loaded)

    def start(self) -> None:
        self.trainer.start()

    def stop(self) -> None:
        self.trainer.stop()

    # ------------------------------------------------------------------ use cases
    def retrain(self, tenant: str, project: str, overrides: dict) -> dict:
        """Queue a full retrain (one-off parameter overrides)."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if "k_candidates" in overrides:
            overrides["k_candidates"] = tuple(overrides["k_candidates"])
        c = self.corpora.corpus(tenant, project)
        return {"job": self.trainer.request_retrain(c, overrides), "status": "queued"}

    def curate(self, tenant: str, project: str, caller, command: dict) -> dict:
        """Record a curation (rename, merge, seed, split) of the current model's topics as an event."""
        c = self.corpora.corpus(tenant, project)
        model = c.state.model
        known = {t["id"]: t["tokens"] for t in (model.topics(c.state.label_token) if model is not None else [])}
        by = self.store.person_id(tenant, caller.sub)
        outcome = self.runner.run(tenant, curation.stream(project),
                                  lambda _log: curation.decide(command, known, project, by))
        return {"type": outcome.types[-1] if outcome.types else None, "status": "recorded",
                "position": outcome.position}

    # ------------------------------------------------------------------ queries
    def projects(self, tenant: str) -> dict:
        return {"items": [c.status() for c in self.corpora.of_tenant(tenant)]}

    def status(self, tenant: str, project: str) -> dict:
        return self.corpora.corpus(tenant, project).status()

    def report(self, tenant: str, project: str, phase=None, measure=None, dimension=None) -> dict:
        c = self.corpora.corpus(tenant, project)
        v, _ = self._bundle(c, phase)
        return dict(v, segments=_segments(v["segments"], measure, dimension),
                    meta=dict(v["meta"], measure=measure, dimension=dimension))

    def report_sheets(self, tenant: str, project: str, phase=None, measure=None, dimension=None) -> dict:
        """Every dashboard table of the report (flat rows), for the XLSX workbook."""
        c = self.corpora.corpus(tenant, project)
        tables = dict(self._bundle(c, phase)[1])
        tables["assignments"] = self._assignments(c, phase)
        tables["segments"] = _segments(tables["segments"], measure, dimension)
        return {k: live.flat(tables[k]) for k in live.TABLES}

    def table(self, tenant: str, project: str, table: str, phase=None, measure=None, dimension=None):
        """``(rows, corpus version)`` of one dashboard table."""
        c = self.corpora.corpus(tenant, project)
        rows = self._assignments(c, phase) if table == "assignments" else self._bundle(c, phase)[1][table]
        if table == "segments":
            rows = _segments(rows, measure, dimension)
        return rows, c.version

    def summary(self, tenant: str, project: str, phase=None) -> dict:
        c = self.corpora.corpus(tenant, project)
        v, _ = self._bundle(c, phase)
        meta = {k: v["meta"].get(k) for k in SUMMARY_META}
        return {"meta": dict(meta, tenant=tenant, project=project, title=c.title, version=c.version),
                "summaries": v["summaries"], "junk": v["junk"], "k_selection": v["k_selection"],
                "titles": self._titles(c)}

    def report_page(self, tenant: str, project: str, phase=None) -> str:
        """The input report as a self-contained HTML page."""
        from analytics.render import html_report
        c = self.corpora.corpus(tenant, project)
        v, _ = self._bundle(c, phase)
        return tpool.execute(html_report, v, c.title, self._titles(c))

    # ------------------------------------------------------------------ views (tpool, cached per version)
    @staticmethod
    def _titles(c: live.Corpus) -> dict:
        return {iid: m.get("title") for iid, m in c.meta.items()}

    def _cached(self, c: live.Corpus, key, compute):
        """``compute()`` for the corpus' current version, run in a tpool thread under the corpus' green lock."""
        with self.corpora.lock(c):
            full = (c.version, key)
            if full not in c.cache:
                c.cache[full] = tpool.execute(compute)
            return c.cache[full]

    def _bundle(self, c: live.Corpus, phase: str | None):
        base_key = (c.version, "base")
        min_cell = self._min_cell_size(c.tenant)        # on the hub: the store is not called from a tpool thread

        def compute():
            base = c.cache.get(base_key) or live.base_report(c, min_cell_size=min_cell)
            v = live.view(c, base, phase)
            return base, v, live.tables(c, v)
        base, v, tables = self._cached(c, ("bundle", phase), compute)
        c.cache.setdefault(base_key, base)
        return v, tables

    def _min_cell_size(self, tenant: str) -> int | None:
        """The tenant's minimum cell size (agora.tenants setting); None (the environment's default) for a tenant the
        registry does not know (the CLI's files, tests without a registry)."""
        from agora.tenants import registry_for
        found = registry_for(self.store).lookup(tenant)
        return found.min_cell_size if found is not None else None

    def _assignments(self, c: live.Corpus, phase: str | None = None) -> list[dict]:
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
