"""Run reports by email over SMTP: one message, every recipient, plain text plus HTML.

STARTTLS, when enabled, is mandatory: a server that does not offer it is a
failed delivery, never a silent fall-back to sending the password and the
report in clear. Only transient failures (a refused or dropped connection, an
SMTP 4xx reply) are worth retrying; a 5xx (bad credentials, a rejected
sender) will not change by itself.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from shared.errors import ConfigError
from shared.notify.delivery import Attempt
from shared.notify.message import NotifyTargets, RunReport


def build_email(
    report: RunReport, *, sender: str, recipients: tuple[str, ...], now: datetime
) -> EmailMessage:
    """The message for ``report``; ``report`` must already be redacted."""
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    # An explicit domain: the default asks DNS for this host's FQDN, which can stall.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(report.text())
    message.add_alternative(_html(report), subtype="html")
    return message


def _html(report: RunReport) -> str:
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in report.facts()
    )
    error = f"<h3>Error</h3><pre>{html.escape(report.error)}</pre>" if report.error else ""
    return (
        f"<html><body><h2>{html.escape(report.subject)}</h2>"
        f"<table cellpadding='4'>{rows}</table>{error}</body></html>"
    )


def send_email(
    message: EmailMessage, targets: NotifyTargets, *, ssl_context: ssl.SSLContext | None
) -> Attempt:
    """One SMTP session submitting ``message``; every failure comes back as an :class:`Attempt`."""
    if targets.smtp_username and targets.smtp_password is None:
        raise ConfigError("SMTP_USERNAME is set but SMTP_PASSWORD is not")
    try:
        with smtplib.SMTP(
            targets.smtp_host, targets.smtp_port, timeout=targets.timeout_seconds
        ) as smtp:
            if targets.smtp_starttls:
                smtp.starttls(context=ssl_context or ssl.create_default_context())
            if targets.smtp_username and targets.smtp_password is not None:
                smtp.login(targets.smtp_username, targets.smtp_password.reveal())
            refused = smtp.send_message(message)
    except OSError as error:  # smtplib's and ssl's exceptions are all OSErrors
        return _failure(error)
    if refused:
        # The others already have it: retrying would send them a duplicate.
        return Attempt(ok=False, detail=f"some recipients refused: {_describe_refused(refused)}")
    return Attempt(ok=True, detail=f"accepted for {len(targets.emails)} recipient(s)")


def _failure(error: OSError) -> Attempt:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return Attempt(
            ok=False,
            detail=f"every recipient refused: {_describe_refused(error.recipients)}",
            retryable=all(400 <= code < 500 for code in codes),
        )
    if isinstance(error, smtplib.SMTPResponseException):
        code, reply = error.smtp_code, error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        return Attempt(ok=False, detail=f"SMTP {code} {text}", retryable=400 <= code < 500)
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return Attempt(ok=False, detail=f"connection lost: {error}", retryable=True)
    if isinstance(error, smtplib.SMTPException | ssl.SSLCertVerificationError):
        # STARTTLS or AUTH not offered, an untrusted certificate: configuration, not luck.
        return Attempt(ok=False, detail=f"{type(error).__name__}: {error}")
    return Attempt(ok=False, detail=f"cannot reach server: {error}", retryable=True)


def _describe_refused(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({code} {reply.decode('utf-8', 'replace')})"
        for address, (code, reply) in sorted(refused.items())
    )
