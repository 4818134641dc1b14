"""Waiting for a served gateway to reach a state (a reload taken, a probe ready)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support.gateways import Gateway

SWITCH_DEADLINE = 2.0  # seconds: live reload's promise for an edit to take effect


def ready(gateway: Gateway) -> dict[str, Any]:
    report: dict[str, Any] = gateway.client.get("/health/ready").json()
    return report


def wait_until(condition: Callable[[], bool], seconds: float) -> float:
    """Poll `condition`; return how long it took, or fail after `seconds`."""
    started = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"not true within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started
