"""Waiting for eventually consistent read models in tests: the one wait helper of the whole suite."""
from __future__ import annotations

import time


def eventually(fn, timeout: float = 30.0, interval: float = 0.05, what: str = "condition", check=None):
    """Poll ``fn`` until its value passes ``check`` (default: is truthy) and return that value; fail the test
    after ``timeout`` seconds, showing the last value."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if (check(last) if check is not None else last):
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last value {str(last)[:1500]})")
