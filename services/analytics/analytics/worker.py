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


def train(docs, params, previous=None):
    """Full LDA retrain (k by coherence × diversity, concept seeds, bigrams; topic ids matched to ``previous``):
    see :func:`analytics.topics.retrain`."""
    from analytics.topics import retrain
    return retrain(docs, params, previous=previous)


def dump_model(model) -> bytes:
    """A model as stored in ``analytics_models`` (pickle + zlib)."""
    import pickle
    import zlib

    return zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 3)
