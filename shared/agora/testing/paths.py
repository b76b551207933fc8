"""Locate the read-only third-party data folder (``AGORA_SHARED_DIR``, default ``../shared`` from the repo root).

Tests read those files in place. When the folder is absent a test skips with a reason, unless
``AGORA_REQUIRE_SHARED=1`` (set by ``.ci/run``), in which case it fails instead.
"""
from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Makefile").exists() and (parent / "services").is_dir():
            return parent
    return Path.cwd()


def shared_dir() -> Path:
    env = os.environ.get("AGORA_SHARED_DIR")
    return Path(env) if env else (repo_root().parent / "shared")


def shared_path(relative: str) -> Path:
    """Path of ``relative`` inside the shared folder; skip (or fail under AGORA_REQUIRE_SHARED=1) if missing."""
    import pytest

    path = shared_dir() / relative
    if not path.exists():
        reason = f"shared data {relative!r} not found under {shared_dir()} (set AGORA_SHARED_DIR)"
        if os.environ.get("AGORA_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
