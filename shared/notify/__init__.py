"""Run notifications by email and webhooks (Slack, Microsoft Teams, generic JSON).

Build a :class:`RunReport` when a run ends and hand it to
:meth:`Notifier.send`; it reaches every configured channel or logs why not,
and never raises.
"""

from __future__ import annotations

from shared.notify.delivery import Backoff, DeliveryResult
from shared.notify.dispatch import Notifier
from shared.notify.message import NotifyTargets, RunReport
from shared.notify.webhook import WEBHOOK_FORMATS

__all__ = [
    "WEBHOOK_FORMATS",
    "Backoff",
    "DeliveryResult",
    "Notifier",
    "NotifyTargets",
    "RunReport",
]
