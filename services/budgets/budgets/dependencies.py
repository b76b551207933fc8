"""The nameko dependency provider of the budgets service: one :class:`budgets.application.Budgets` per container."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from agora.events import registry
from agora.nameko import mongo_db, process_store
from budgets import projections
from budgets.application import Budgets


class BudgetsDep(DependencyProvider):
    """Injects :class:`~budgets.application.Budgets` over the process's event store and the read-side database."""

    def setup(self):
        db = mongo_db()
        registry.all_types()                 # load the event catalog before any tpool thread validates
        projections.ensure_indexes(db)
        self.app = Budgets(process_store(db), db)

    def get_dependency(self, worker_ctx):
        return self.app
