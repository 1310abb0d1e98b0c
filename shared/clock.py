"""The one clock type: every module that needs "now" takes a :data:`Clock`.

Passing the clock in (rather than calling ``datetime.now`` deep inside)
keeps the cores pure and lets tests and drills move time; :func:`utc_now`
is the production default, always timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
