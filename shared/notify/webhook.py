"""Run reports to chat and HTTP receivers: Slack, Microsoft Teams, or plain JSON.

Teams receives an Adaptive Card (1.4) wrapped in a ``message`` with one
``application/vnd.microsoft.card.adaptive`` attachment. That one payload is
accepted by the legacy Office 365 connector webhooks (``*.webhook.office.com``)
and by their replacement, Workflows webhooks (``*.logic.azure.com``,
``*.api.powerplatform.com``); MessageCard is understood only by the retiring
connectors.

HTTP goes through :mod:`urllib.request` so a function's cold start does not
pay for a third-party HTTP stack. The URL is a secret (Slack and Teams put the
token in the path), so it is only ever shown as its host.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

from shared import __version__
from shared.errors import ConfigError
from shared.notify.delivery import Attempt
from shared.notify.message import RunReport, Severity

WEBHOOK_FORMATS = ("auto", "slack", "teams", "json")

_TEAMS_HOST_SUFFIXES = (
    ".webhook.office.com",
    "outlook.office.com",
    ".logic.azure.com",
    ".api.powerplatform.com",
)
_SLACK_EMOJI: Mapping[Severity, str] = {
    "ok": ":white_check_mark:",
    "info": ":information_source:",
    "warning": ":warning:",
    "error": ":x:",
}
_TEAMS_COLOR: Mapping[Severity, str] = {
    "ok": "Good",
    "info": "Default",
    "warning": "Warning",
    "error": "Attention",
}
_ERROR_LIMIT = 2500  # Slack refuses a section over 3,000 characters; Teams a card over 28 KB


def webhook_host(url: str) -> str:
    """The part of a webhook URL that is safe to log."""
    try:
        parts = _split(url)
    except ConfigError:
        return "invalid URL"
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsed lazily: a bad port would only fail later
    except ValueError:
        raise ConfigError("a NOTIFY_WEBHOOK URL is malformed") from None
    return parts


def resolve_format(url: str, configured: str) -> str:
    """The payload shape for ``url``: the configured one, or by host when ``auto``."""
    if configured not in WEBHOOK_FORMATS:
        raise ConfigError(
            f"NOTIFY_WEBHOOK_FORMAT {configured!r} is not one of {', '.join(WEBHOOK_FORMATS)}"
        )
    if configured != "auto":
        return configured
    host = (_split(url).hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith(_TEAMS_HOST_SUFFIXES):
        return "teams"
    return "json"


def payload(report: RunReport, webhook_format: str) -> dict[str, Any]:
    """The JSON body for a resolved format; ``report`` must already be redacted."""
    if webhook_format == "slack":
        return slack_payload(report)
    if webhook_format == "teams":
        return teams_payload(report)
    return report.to_json()


def slack_payload(report: RunReport) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` for notifications, ``blocks`` for the channel."""
    facts = [
        {"type": "mrkdwn", "text": _clip(f"*{label}*\n{_slack_escape(value)}", 2000)}
        for label, value in report.facts()
    ]
    header = f"{_SLACK_EMOJI[report.severity]} {report.subject}"
    title = {"type": "plain_text", "text": _clip(header, 150), "emoji": True}
    blocks: list[dict[str, Any]] = [{"type": "header", "text": title}]
    # A section holds at most ten fields.
    blocks += [{"type": "section", "fields": facts[i : i + 10]} for i in range(0, len(facts), 10)]
    if report.error:
        error = _clip(_slack_escape(report.error), _ERROR_LIMIT)
        text = {"type": "mrkdwn", "text": f"*Error*\n```{error}```"}
        blocks.append({"type": "section", "text": text})
    return {"text": report.subject, "blocks": blocks}


def teams_payload(report: RunReport) -> dict[str, Any]:
    """An Adaptive Card in the envelope Teams incoming and Workflows webhooks expect."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": report.subject,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _TEAMS_COLOR[report.severity],
        },
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in report.facts()]},
    ]
    if report.error:
        body += [
            {"type": "TextBlock", "text": "Error", "weight": "Bolder"},
            {
                "type": "TextBlock",
                "text": _clip(report.error, _ERROR_LIMIT),
                "wrap": True,
                "fontType": "Monospace",
            },
        ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return {"type": "message", "attachments": [attachment]}


def post_json(
    url: str, body: Mapping[str, Any], *, timeout: float, ssl_context: ssl.SSLContext | None
) -> Attempt:
    """One POST of ``body``; connection errors, 408, 429 and 5xx are retryable, other 4xx not.

    ``timeout`` bounds each blocking socket operation (connect, each read),
    which is what :mod:`urllib` offers.
    """
    scheme = _split(url).scheme
    if scheme not in ("http", "https"):
        # Also keeps urllib from opening file: or ftp: URLs.
        raise ConfigError(f"webhook URL for {webhook_host(url)} must be http(s), not {scheme!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"eyewearml-dr/{__version__}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:  # noqa: S310
            return Attempt(ok=True, detail=f"HTTP {response.status}")
    except urllib.error.HTTPError as error:
        with error:
            said = error.read(300).decode("utf-8", "replace").strip()
        retryable = error.code in (408, 429) or error.code >= 500
        return Attempt(
            ok=False,
            detail=f"HTTP {error.code} {said}".strip(),
            retryable=retryable,
            retry_after=retry_after(error.headers) if retryable else None,
        )
    except urllib.error.URLError as error:
        certificate = isinstance(error.reason, ssl.SSLCertVerificationError)
        return Attempt(ok=False, detail=f"cannot reach: {error.reason}", retryable=not certificate)
    except (OSError, http.client.HTTPException) as error:
        return Attempt(ok=False, detail=f"connection failed: {error!r}", retryable=True)


def retry_after(headers: Message) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP-date against the response's ``Date``.

    Measuring a date against the server's own ``Date`` header needs no local
    clock and is immune to skew between the two.
    """
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        delta = parsedate_to_datetime(value) - parsedate_to_datetime(headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    return max(delta.total_seconds(), 0.0)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
