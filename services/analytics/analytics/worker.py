"""Functions run in the analytics worker process (``ProcessPoolExecutor`` with the spawn context).

Top-level and importable so that the spawned interpreter can unpickle the calls; nothing here touches nameko,
eventlet or the database.
"""
from __future__ import annotations

import os


def warm() -> int:
    """Import the heavy libraries once so that the first retrain does not pay for it."""
    import gensim.models  # noqa: F401

    import analytics.topics  # noqa: F401
    return os.getpid()


def train(docs, params):
    """Full LDA retrain (k by c_v × diversity, bigrams): see :func:`analytics.topics.retrain`."""
    from analytics.topics import retrain
    return retrain(docs, params)
