"""Waiting for something a server does asynchronously: the suite's one poll-until helper."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None], timeout: float = 20.0, what: str = "", interval: float = 0.05
) -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    Raises :class:`AssertionError` naming ``what`` after ``timeout`` seconds, so a
    test that waits in vain says what it was waiting for.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
