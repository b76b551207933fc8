"""Test support shared by every service's test suite (pytest plugin, shared-data lookup)."""
from agora.testing.paths import shared_dir, shared_path, repo_root  # noqa: F401
from agora.testing.waiting import eventually  # noqa: F401
