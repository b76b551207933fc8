"""The nameko dependency of the ideas service: builds the one :class:`ideas.application.Ideas` of the process.

Config: ``IDEAS_WORKFLOW`` (optional) replaces the default status workflow for projects created without one.
"""
from __future__ import annotations

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider

from agora.errors import ValidationFailed
from agora.nameko import mongo_db, process_store

from ideas import domain, projections, schemas
from ideas.application import Ideas
from ideas.similarity import IndexCache, SimilarityIndex, detect_language


def load(schema_cls, data: dict) -> dict:
    """Load RPC arguments with a request schema (the route layer does this for HTTP) → 422 with the fields."""
    try:
        return schema_cls().load(data)
    except ValidationError as err:
        raise ValidationFailed(err.messages) from None


def configured_workflow(config: dict) -> dict | None:
    """``IDEAS_WORKFLOW`` from the nameko config, checked like a project's ``workflow`` (schema, then domain)."""
    raw = config.get("IDEAS_WORKFLOW")
    if not raw:
        return None
    return domain.validate_workflow(load(schemas.ProjectCreateIn, {"title": "IDEAS_WORKFLOW",
                                                                   "workflow": raw})["workflow"])


class IdeasApp(DependencyProvider):
    """Injects the process's :class:`Ideas` (shared store, projections database, similarity cache)."""

    def setup(self):
        db = mongo_db()
        projections.ensure_indexes(db)
        cache = IndexCache(lambda t, p: projections.similarity_revision(db, t, p),
                           lambda t, p: projections.similarity_candidates(db, t, p))
        self.app = Ideas(process_store(), db, cache, configured_workflow(self.container.config))
        # load the language model and gensim now (≈2 s) rather than in the first request
        SimilarityIndex([("warm-up", "warm up the index", detect_language("warm up the language model"))])

    def get_dependency(self, worker_ctx):
        return self.app
