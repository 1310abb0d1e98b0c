"""One delivery to one channel: attempts, backoff, and the result a caller can inspect.

A channel's single attempt never raises for an expected failure; it returns
an :class:`Attempt` that says whether trying again could help (a refused
connection, a 503, an SMTP 4xx) and whether the server asked for a delay.
:func:`deliver` owns the retry policy, the logging and the redaction of what
gets logged, so every channel behaves the same and none can leak a secret
through its own error path.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.errors import DRError
from shared.redact import redact
from shared.secret import Secret

log = logging.getLogger(__name__)

_JITTER = random.SystemRandom()


@dataclass(frozen=True)
class Attempt:
    """The outcome of one try; ``retry_after`` is the server's requested delay in seconds."""

    ok: bool
    detail: str
    retryable: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What happened on one channel. ``destination`` is a host, never a URL: paths hold tokens."""

    channel: str
    destination: str
    ok: bool
    attempts: int
    detail: str


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; a server's ``Retry-After`` wins, up to a cap.

    The defaults bound a dead channel at about 4 attempts and 15 s of
    waiting plus the per-attempt timeouts, so a notification cannot hold a
    finished backup's function open for long. Jitter keeps the functions
    that finish at the same scheduled minute from retrying in lockstep.
    """

    attempts: int = 4
    base_seconds: float = 1.0
    cap_seconds: float = 8.0
    retry_after_cap_seconds: float = 30.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap_seconds)
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (failures - 1))
        return _JITTER.uniform(ceiling / 2, ceiling)


def deliver(
    channel: str,
    destination: str,
    attempt: Callable[[], Attempt],
    *,
    backoff: Backoff,
    sleep: Callable[[float], None],
    secrets: Sequence[str | Secret],
) -> DeliveryResult:
    """Try ``attempt`` until it succeeds, fails for good, or the attempts run out. Never raises."""
    number = 0
    while True:
        number += 1
        outcome = _guarded(attempt, channel, destination, secrets)
        detail = redact(outcome.detail, secrets)
        if outcome.ok:
            log.info("notification sent via %s to %s: %s", channel, destination, detail)
            return DeliveryResult(channel, destination, True, number, detail)
        if not outcome.retryable or number >= backoff.attempts:
            log.error(
                "notification via %s to %s failed after %d attempt(s): %s",
                channel,
                destination,
                number,
                detail,
            )
            return DeliveryResult(channel, destination, False, number, detail)
        delay = backoff.delay(number, outcome.retry_after)
        log.warning(
            "notification via %s to %s failed (attempt %d of %d), retrying in %.1fs: %s",
            channel,
            destination,
            number,
            backoff.attempts,
            delay,
            detail,
        )
        sleep(delay)


def _guarded(
    attempt: Callable[[], Attempt],
    channel: str,
    destination: str,
    secrets: Sequence[str | Secret],
) -> Attempt:
    """Turn any exception into a permanent failure: a notification must not fail a run.

    Our own errors (e.g. a malformed webhook URL) carry a clean message. Anything
    else is a bug: its traceback is logged, redacted, because library messages
    can quote the URL they were given.
    """
    try:
        return attempt()
    except DRError as error:
        return Attempt(ok=False, detail=error.message)
    except Exception as error:
        trace = "".join(traceback.format_exception(error))
        log.error(
            "notification via %s to %s crashed:\n%s", channel, destination, redact(trace, secrets)
        )
        return Attempt(ok=False, detail=f"internal error: {type(error).__name__}: {error}")
