"""Backbone tests: register the test-only event types."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import testsvc_events  # noqa: E402,F401
