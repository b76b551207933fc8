"""The bridge's nameko dependency: one :class:`backoffice_bridge.application.Bridge` per container."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from backoffice_bridge.application import Bridge


class BridgeApp(DependencyProvider):
    """Injects the :class:`Bridge` (indexes ensured at start); deliveries run in a green pool."""

    def setup(self):
        import eventlet

        from agora.nameko import mongo_db, process_store

        def spawn_all(fns):
            pool = eventlet.GreenPool(20)
            for fn in fns:
                pool.spawn_n(fn)
            pool.waitall()

        db = mongo_db()
        self.bridge = Bridge(process_store(db), db, spawn_all=spawn_all).ensure_indexes()

    def get_dependency(self, worker_ctx):
        return self.bridge
