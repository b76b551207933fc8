"""nameko dependency providers of the votes service: they build the application objects, once per container.

One :class:`~agora.store.EventStore` per process (:func:`agora.nameko.process_store`) is shared by the HTTP
handlers, the projections and the policies, so its personal-key and pseudonym caches serve all of them."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from agora.nameko import mongo_db, process_store, rebuild_database
from votes import projections as p
from votes.application import VotesApp
from votes.outcomes import Outcomes


class VotesAppDep(DependencyProvider):
    """Injects the :class:`votes.application.VotesApp` (use cases and queries)."""

    def setup(self):
        db = mongo_db()
        p.ensure_indexes(db)
        self.app = VotesApp(process_store(db), db)

    def get_dependency(self, worker_ctx):
        return self.app


class Projections:
    """What the subscriptions and the timer use: the read models' handlers and the outcome policies."""

    def __init__(self, store, db):
        self.context = p.ContextProjection(db)
        self.tallies = p.TallyProjection(db)
        self.outcomes = Outcomes(store, db, context=self.context)


class ProjectionsDep(DependencyProvider):
    """The read models' handlers; in the worker of a blue/green rebuild, handlers over the rebuild copies
    (``agora.nameko.rebuild_database``) while the live read models keep serving."""

    def setup(self):
        db = mongo_db()
        p.ensure_indexes(db)
        self.store = process_store(db)
        self.projections = Projections(self.store, db)

    def get_dependency(self, worker_ctx):
        db = rebuild_database(worker_ctx)
        return self.projections if db is None else Projections(self.store, db)
