"""Waiting for what another thread (the camera loop, gpiozero's callbacks) brings about."""

from __future__ import annotations

import time


def wait_until(predicate, timeout_s: float = 10.0):
    """Poll ``predicate`` until it returns something true and return that (never a fixed
    sleep: the test goes on the moment the condition holds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")
