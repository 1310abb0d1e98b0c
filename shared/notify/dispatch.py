"""Send one run report to every configured channel, without ever failing the run.

A backup that succeeded stays succeeded when Slack is down: :meth:`Notifier.send`
returns a result per channel and logs failures, it does not raise. The report
is redacted once, here, with every secret the notifier knows (SMTP password,
webhook URLs, whatever the caller adds such as the MongoDB URI), so no
channel renders unredacted text.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial

from shared.clock import Clock, utc_now
from shared.notify.delivery import Attempt, Backoff, DeliveryResult, deliver
from shared.notify.email import build_email, send_email
from shared.notify.message import NotifyTargets, RunReport
from shared.notify.webhook import payload, post_json, resolve_format, webhook_host
from shared.secret import Secret


class Notifier:
    """Delivers run reports by email and webhooks as ``targets`` configure.

    ``secrets`` are extra values to redact from every message, such as the
    source's connection string; the targets' own secrets are added. ``ssl_context``
    decides which certificates SMTP STARTTLS and https webhooks trust (the
    system's by default). ``sleep`` and ``clock`` are injectable so retries
    and the email ``Date`` are testable without waiting.
    """

    def __init__(
        self,
        targets: NotifyTargets,
        *,
        secrets: Iterable[str | Secret] = (),
        ssl_context: ssl.SSLContext | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = utc_now,
    ) -> None:
        self._targets = targets
        password = (targets.smtp_password,) if targets.smtp_password else ()
        self._secrets: tuple[str | Secret, ...] = (*secrets, *targets.webhooks, *password)
        self._ssl_context = ssl_context
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._clock = clock

    def send(self, report: RunReport) -> list[DeliveryResult]:
        """Deliver ``report`` to each channel in turn: a result per channel, never an exception."""
        safe = report.redacted(self._secrets)
        results = []
        targets = self._targets
        if targets.emails:
            server = f"{targets.smtp_host}:{targets.smtp_port}"
            results.append(self._deliver("email", server, partial(self._email, safe)))
        for url in targets.webhooks:
            attempt = partial(self._webhook, url, safe)
            results.append(self._deliver("webhook", webhook_host(url.reveal()), attempt))
        return results

    def _deliver(
        self, channel: str, destination: str, attempt: Callable[[], Attempt]
    ) -> DeliveryResult:
        return deliver(
            channel,
            destination,
            attempt,
            backoff=self._backoff,
            sleep=self._sleep,
            secrets=self._secrets,
        )

    def _email(self, report: RunReport) -> Attempt:
        targets = self._targets
        message = build_email(
            report, sender=targets.smtp_sender, recipients=targets.emails, now=self._clock()
        )
        return send_email(message, targets, ssl_context=self._ssl_context)

    def _webhook(self, url: Secret, report: RunReport) -> Attempt:
        address = url.reveal()
        webhook_format = resolve_format(address, self._targets.webhook_format)
        attempt = post_json(
            address,
            payload(report, webhook_format),
            timeout=self._targets.timeout_seconds,
            ssl_context=self._ssl_context,
        )
        return replace(attempt, detail=f"{webhook_format}: {attempt.detail}")
