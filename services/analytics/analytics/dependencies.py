"""The analytics service's nameko provider: builds the process-wide :class:`analytics.application.Analytics`."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from agora.nameko import mongo_db, process_store

from analytics.application import Analytics
from analytics.settings import Settings


class AnalyticsApp(DependencyProvider):
    """Injects the process-wide :class:`Analytics`: its corpora are rebuilt from the projection (and the saved
    models installed) before any entrypoint runs; the trainer's worker pool and scheduler run while it is started."""

    def setup(self):
        self.app = Analytics(mongo_db(), process_store(), Settings.from_env())
        self.app.setup()

    def start(self):
        self.app.start()
        self.container.spawn_managed_thread(self.app.trainer.scheduler, identifier="analytics.scheduler")

    def stop(self):
        self.app.stop()

    def kill(self):
        self.app.stop()

    def get_dependency(self, worker_ctx):
        return self.app
