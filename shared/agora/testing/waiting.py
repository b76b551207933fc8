"""Waiting for eventually consistent read models in tests."""
from __future__ import annotations

import time


def eventually(fn, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``fn`` until it returns something truthy and return that; fail the test after ``timeout`` seconds."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last value {last!r})")
