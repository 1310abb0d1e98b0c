"""Notifications against real servers: aiosmtpd for mail, pytest-httpserver for webhooks.

Every delivery test also checks that no secret crossed the wire or reached
the log: the SMTP password, the MongoDB password quoted in an error, and the
webhook URL's token.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from shared.config import NotifySettings
from shared.notify import Backoff, Notifier, RunReport
from shared.notify.delivery import Attempt, deliver
from shared.notify.message import human_duration, human_size
from shared.notify.webhook import resolve_format, retry_after
from shared.secret import Secret
from tests import servers_mail
from tests.servers_mail import SMTP_PASSWORD, SMTP_USER, SmtpServer, TlsFiles

# Fixtures shared with other notification tests live with their servers.
tls_files = servers_mail.tls_files
smtp_server = servers_mail.smtp_server
smtp_tls_server = servers_mail.smtp_tls_server
closed_port = servers_mail.closed_port
silent_server = servers_mail.silent_server

MONGO_PASSWORD = "m0ngo-Secr3t"
MONGO_URI = f"mongodb+srv://backup:{MONGO_PASSWORD}@cluster0.example.net/eyewear_ml"
HOOK_TOKEN = "T0DR/B0DR/hooktokenDoNotLeak"
HOOK_PATH = f"/services/{HOOK_TOKEN}"
START = datetime(2025, 3, 25, 1, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 25, 1, 4, 6, tzinfo=UTC)
SUBJECT = "[EyewearML DR] mongodb backup FAILED (run 20250325T010000Z-ab12cd34)"
FAST = Backoff(attempts=3)


def make_report(**changes: Any) -> RunReport:
    report = RunReport(
        target="mongodb",
        operation="backup",
        status="failed",
        run_id="20250325T010000Z-ab12cd34",
        started=START,
        finished=START + timedelta(minutes=4, seconds=5),
        size_bytes=1_610_612_736,
        counts={"documents": 120_000, "collections": 5},
        manifest_path="gs://eyewearml-backups/mongodb/daily/20250325T010000Z/manifest.json",
        error=f"ServerSelectionTimeoutError: {MONGO_URI} unreachable",
        details={
            "source": "cluster0.example.net",
            "note": f"retry with password={SMTP_PASSWORD}",  # caught by a pattern
            "driver": f"SCRAM auth with {MONGO_PASSWORD} rejected",  # only as a known secret
        },
    )
    return replace(report, **changes)


def assert_clean(text: str) -> None:
    for secret in (MONGO_PASSWORD, SMTP_PASSWORD, HOOK_TOKEN, "hooktoken"):
        assert secret not in text


def product_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the product logged (the test servers log the URLs they serve)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("shared."))


def notifier(settings: NotifySettings, sleeps: list[float], **kwargs: Any) -> Notifier:
    """The source's password passed as a job would pass it; sleeps recorded, not slept."""
    return Notifier(
        settings,
        secrets=[Secret(MONGO_PASSWORD)],
        backoff=FAST,
        sleep=sleeps.append,
        clock=lambda: NOW,
        **kwargs,
    )


# --- the message ---------------------------------------------------------------------------


def test_report_renders_subject_facts_and_error() -> None:
    report = make_report()
    assert report.subject == SUBJECT
    assert report.duration == timedelta(minutes=4, seconds=5)
    facts = dict(report.facts())
    assert facts["Size"] == "1.5 GiB (1,610,612,736 bytes)"
    assert facts["Duration"] == "4m 05s"
    assert facts["Counts"] == "collections 5, documents 120,000"
    assert facts["Manifest"].endswith("manifest.json")
    assert "Error:\nServerSelectionTimeoutError" in report.text()
    ok = make_report(status="succeeded", error=None, size_bytes=None, manifest_path=None)
    assert "SUCCEEDED" in ok.subject
    assert "Error" not in ok.text()
    assert {"Size", "Manifest"}.isdisjoint(dict(ok.facts()))


@pytest.mark.parametrize(
    ("size", "shown"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**40, "5.0 TiB")]
)
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(12.34, "12.3s"), (245, "4m 05s"), (3723, "1h 02m 03s"), (183_840, "2d 03h 04m")],
)
def test_human_duration(seconds: float, shown: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == shown


def test_report_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_report(started=datetime(2025, 3, 25, 1, 0))


def test_redacted_report_hides_passwords_in_free_text() -> None:
    safe = make_report().redacted([SMTP_PASSWORD])
    assert safe.error == (
        "ServerSelectionTimeoutError: mongodb+srv://backup:***@cluster0.example.net/eyewear_ml"
        " unreachable"
    )
    assert safe.details["note"] == "retry with password=***"


# --- email ---------------------------------------------------------------------------------


def mail_settings(server: SmtpServer, **changes: Any) -> NotifySettings:
    return replace(
        NotifySettings(
            emails=("ops@eyewear.example", "dba@eyewear.example"),
            smtp_host=server.host,
            smtp_port=server.port,
            smtp_sender="EyewearML DR <dr@eyewear.example>",
            smtp_starttls=False,
            smtp_password=Secret(SMTP_PASSWORD),
            timeout_seconds=5.0,
        ),
        **changes,
    )


def test_email_arrives_with_every_field_and_no_secret(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "shared.notify")
    sleeps: list[float] = []
    results = notifier(mail_settings(smtp_server), sleeps).send(make_report())

    assert [(r.channel, r.ok, r.attempts) for r in results] == [("email", True, 1)]
    [mail] = smtp_server.received
    assert mail.rcpt_tos == ["ops@eyewear.example", "dba@eyewear.example"]
    assert mail.mail_from == "dr@eyewear.example"
    message = mail.message
    assert message["Subject"] == SUBJECT
    assert message["To"] == "ops@eyewear.example, dba@eyewear.example"
    assert email.utils.parsedate_to_datetime(message["Date"]) == NOW
    assert message["Message-ID"].endswith("@eyewear.example>")
    text, html = mail.texts()
    assert "Size:      1.5 GiB (1,610,612,736 bytes)" in text
    assert "Duration:  4m 05s" in text
    assert "Counts:    collections 5, documents 120,000" in text
    assert "Manifest:  gs://eyewearml-backups/mongodb/daily/" in text
    assert "mongodb+srv://backup:***@cluster0.example.net/eyewear_ml unreachable" in text
    assert "<table" in html
    assert "backup:***@cluster0" in html
    for seen in (mail.data.decode(), text, html, product_log(caplog)):
        assert_clean(seen)
    assert sleeps == []


def test_email_uses_starttls_and_login(smtp_tls_server: SmtpServer, tls_files: TlsFiles) -> None:
    settings = mail_settings(smtp_tls_server, smtp_starttls=True, smtp_username=SMTP_USER)
    results = notifier(settings, [], ssl_context=tls_files.client_context()).send(make_report())

    assert results[0].ok, results[0].detail
    [mail] = smtp_tls_server.received
    assert mail.tls
    assert mail.authenticated
    assert_clean(mail.data.decode())


def test_email_wrong_password_is_not_retried_and_not_logged(
    smtp_tls_server: SmtpServer, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-Passw0rd-xyz"
    settings = mail_settings(
        smtp_tls_server, smtp_starttls=True, smtp_username=SMTP_USER, smtp_password=Secret(wrong)
    )
    sleeps: list[float] = []
    [result] = notifier(settings, sleeps, ssl_context=tls_files.client_context()).send(
        make_report()
    )

    assert (result.ok, result.attempts, sleeps) == (False, 1, [])
    assert result.detail.startswith("SMTP 535")
    assert smtp_tls_server.received == []
    assert wrong not in product_log(caplog)


def test_email_refuses_to_send_in_clear_when_starttls_is_missing(smtp_server: SmtpServer) -> None:
    [result] = notifier(mail_settings(smtp_server, smtp_starttls=True), []).send(make_report())
    assert (result.ok, result.attempts) == (False, 1)
    assert "STARTTLS" in result.detail
    assert smtp_server.received == []


def test_email_untrusted_certificate_fails_without_retry(smtp_tls_server: SmtpServer) -> None:
    settings = mail_settings(smtp_tls_server, smtp_starttls=True, smtp_username=SMTP_USER)
    [result] = notifier(settings, []).send(make_report())  # system trust store only
    assert (result.ok, result.attempts) == (False, 1)
    assert "certificate verify failed" in result.detail


def test_email_partly_refused_is_a_failure_without_duplicates(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["dba@eyewear.example"] = "550 5.1.1 no such user"
    sleeps: list[float] = []
    [result] = notifier(mail_settings(smtp_server), sleeps).send(make_report())

    assert (result.ok, result.attempts, sleeps) == (False, 1, [])
    assert result.detail == "some recipients refused: dba@eyewear.example (550 5.1.1 no such user)"
    assert [mail.rcpt_tos for mail in smtp_server.received] == [["ops@eyewear.example"]]


def test_email_temporarily_refused_everywhere_is_retried(smtp_server: SmtpServer) -> None:
    for address in ("ops@eyewear.example", "dba@eyewear.example"):
        smtp_server.handler.refuse[address] = "451 4.3.0 try again later"
    [result] = notifier(mail_settings(smtp_server), []).send(make_report())

    assert (result.ok, result.attempts) == (False, 3)
    assert result.detail.startswith("every recipient refused: dba@eyewear.example (451")


def test_email_server_down_is_retried_then_logged(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = NotifySettings(
        emails=("ops@eyewear.example",),
        smtp_host="127.0.0.1",
        smtp_port=closed_port,
        smtp_starttls=False,
    )
    sleeps: list[float] = []
    [result] = notifier(settings, sleeps).send(make_report())

    assert (result.ok, result.attempts, len(sleeps)) == (False, 3, 2)
    assert "Connection refused" in result.detail
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"email to 127.0.0.1:{closed_port} failed after 3 attempt(s)" in error.getMessage()


# --- webhooks ------------------------------------------------------------------------------


def hook_settings(url: str, **changes: Any) -> NotifySettings:
    return replace(NotifySettings(webhooks=(Secret(url),), timeout_seconds=5.0), **changes)


def sent_bodies(httpserver: HTTPServer) -> list[str]:
    return [request.get_data(as_text=True) for request, _ in httpserver.log]


def test_slack_message_shape(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "shared.notify")
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("ok")
    url = httpserver.url_for(HOOK_PATH)
    report = make_report(details={"previous": f"alert to {url} failed"})
    [result] = notifier(hook_settings(url, webhook_format="slack"), []).send(report)

    assert result.ok, result.detail
    assert result.destination == f"{httpserver.host}:{httpserver.port}"
    [raw] = sent_bodies(httpserver)
    request = httpserver.log[0][0]
    assert request.headers["Content-Type"].startswith("application/json")
    body = json.loads(raw)
    assert body["text"] == SUBJECT
    header, *sections, error = body["blocks"]
    assert header["type"] == "header"
    assert header["text"]["text"] == f":x: {SUBJECT}"
    fields = [field["text"] for section in sections for field in section["fields"]]
    assert "*Size*\n1.5 GiB (1,610,612,736 bytes)" in fields
    assert "*previous*\nalert to *** failed" in fields
    assert all(len(section["fields"]) <= 10 for section in sections)
    assert "backup:***@cluster0" in error["text"]["text"]
    assert_clean(raw)
    assert_clean(product_log(caplog))
    assert HOOK_PATH not in product_log(caplog)


def test_teams_adaptive_card_shape(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/workflows/flow").respond_with_data("", status=202)
    url = httpserver.url_for("/workflows/flow")
    [result] = notifier(hook_settings(url, webhook_format="teams"), []).send(make_report())

    assert result.ok, result.detail
    assert result.detail == "teams: HTTP 202"
    body = json.loads(sent_bodies(httpserver)[0])
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, facts, _, error = card["body"]
    assert (title["text"], title["color"]) == (SUBJECT, "Attention")
    assert {"title": "Size", "value": "1.5 GiB (1,610,612,736 bytes)"} in facts["facts"]
    assert "backup:***@cluster0" in error["text"]
    assert_clean(sent_bodies(httpserver)[0])


def test_generic_json_is_the_report(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/dr-events").respond_with_data("")
    url = httpserver.url_for("/dr-events")
    [result] = notifier(hook_settings(url), []).send(make_report())  # auto: not a chat host

    assert result.ok, result.detail
    body = json.loads(sent_bodies(httpserver)[0])
    assert body["schema"] == "eyewearml.dr.run_report.v1"
    assert (body["target"], body["status"], body["severity"]) == ("mongodb", "failed", "error")
    assert body["started"] == "2025-03-25T01:00:00+00:00"
    assert body["duration_seconds"] == 245.0
    assert (body["size_bytes"], body["size"]) == (1_610_612_736, "1.5 GiB")
    assert body["counts"] == {"documents": 120_000, "collections": 5}
    assert body["details"]["note"] == "retry with password=***"
    assert body["details"]["driver"] == "SCRAM auth with *** rejected"
    assert_clean(json.dumps(body))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T/B/X", "slack"),
        ("https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", "teams"),
        ("https://outlook.office.com/webhook/a/IncomingWebhook/b", "teams"),
        ("https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual", "teams"),
        ("https://default1.environment.api.powerplatform.com/powerautomate/x", "teams"),
        ("https://alerts.eyewear.example/dr", "json"),
        ("https://hooks.slack.com.evil.example/services/T/B/X", "json"),
    ],
)
def test_auto_format_follows_the_host(url: str, expected: str) -> None:
    assert resolve_format(url, "auto") == expected
    assert resolve_format(url, "json") == "json"


def test_503_is_retried_with_backoff_until_success(httpserver: HTTPServer) -> None:
    for status in (503, 503, 200):
        httpserver.expect_ordered_request("/hook").respond_with_data("", status=status)
    sleeps: list[float] = []
    [result] = notifier(hook_settings(httpserver.url_for("/hook")), sleeps).send(make_report())

    assert (result.ok, result.attempts, len(httpserver.log)) == (True, 3, 3)
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("retry_after_value", "waited"),
    [
        ("7", 7.0),
        ("3600", 30.0),  # capped
        # An HTTP-date is measured against the response's own Date header.
        ("an HTTP date 12 s from now", pytest.approx(12.0, abs=1.5)),
    ],
)
def test_429_honours_retry_after(
    httpserver: HTTPServer, retry_after_value: str, waited: float
) -> None:
    if retry_after_value.startswith("an HTTP date"):  # built now, not at collection time
        retry_after_value = email.utils.formatdate(time.time() + 12, usegmt=True)
    httpserver.expect_ordered_request("/hook").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": retry_after_value})
    )
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    sleeps: list[float] = []
    [result] = notifier(hook_settings(httpserver.url_for("/hook")), sleeps).send(make_report())

    assert (result.ok, result.attempts, sleeps) == (True, 2, [waited])


def test_retry_after_date_without_a_server_date_falls_back_to_backoff() -> None:
    headers = Message()
    headers["Retry-After"] = "Tue, 25 Mar 2025 01:00:12 GMT"
    assert retry_after(headers) is None


def test_400_is_not_retried(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    httpserver.expect_request("/hook").respond_with_data("invalid_blocks", status=400)
    sleeps: list[float] = []
    [result] = notifier(hook_settings(httpserver.url_for("/hook")), sleeps).send(make_report())

    assert (result.ok, result.attempts, sleeps, len(httpserver.log)) == (False, 1, [], 1)
    assert result.detail == "json: HTTP 400 invalid_blocks"
    assert "invalid_blocks" in product_log(caplog)


def test_server_down_fails_quietly_and_logs_the_host_only(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port}{HOOK_PATH}"
    sleeps: list[float] = []
    [result] = notifier(hook_settings(url), sleeps).send(make_report())

    assert (result.ok, result.attempts, len(sleeps)) == (False, 3, 2)
    assert "Connection refused" in result.detail
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (len(warnings), len(errors)) == (2, 1)
    assert f"webhook to 127.0.0.1:{closed_port} failed" in errors[0].getMessage()
    assert_clean(product_log(caplog))


def test_a_server_that_never_answers_is_bounded_by_the_timeout(silent_server: int) -> None:
    settings = hook_settings(f"http://127.0.0.1:{silent_server}/hook", timeout_seconds=0.3)
    started = time.monotonic()
    [result] = Notifier(settings, backoff=Backoff(attempts=2), sleep=lambda _: None).send(
        make_report()
    )
    elapsed = time.monotonic() - started

    assert (result.ok, result.attempts) == (False, 2)
    assert "timed out" in result.detail
    assert 0.55 < elapsed < 1.5


@pytest.mark.parametrize(
    "changes",
    [
        {"webhooks": (Secret(f"ftp://files.example{HOOK_PATH}"),)},
        {"webhook_format": "carrier-pigeon"},  # config validates this; notify must still not raise
        {"webhooks": (Secret(f"hooks.slack.com{HOOK_PATH}"),)},  # no scheme
        {"webhooks": (Secret(f"https://[hooks.slack.com{HOOK_PATH}"),)},  # unparsable
        {"webhooks": (Secret(f"https://hooks.slack.com:port{HOOK_PATH}"),)},
    ],
)
def test_misconfigured_webhook_is_a_failed_delivery_not_an_exception(
    changes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(hook_settings(f"https://hooks.slack.com{HOOK_PATH}"), **changes)
    [result] = notifier(settings, []).send(make_report())
    assert (result.ok, result.attempts) == (False, 1)
    assert_clean(result.detail)
    assert_clean(product_log(caplog))


def test_a_crashing_channel_is_a_logged_failure_with_the_trace_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def crash() -> Attempt:
        raise RuntimeError(f"bug while posting to https://hooks.slack.com{HOOK_PATH}")

    result = deliver(
        "webhook", "hooks.slack.com", crash, backoff=FAST, sleep=time.sleep, secrets=[]
    )
    assert (result.ok, result.attempts) == (False, 1)
    assert result.detail.startswith("internal error: RuntimeError: bug while posting")
    assert "Traceback" in product_log(caplog)
    assert_clean(result.detail)
    assert_clean(product_log(caplog))


def test_every_channel_is_tried_whatever_the_others_do(
    httpserver: HTTPServer, closed_port: int
) -> None:
    httpserver.expect_request("/good").respond_with_data("ok")
    httpserver.expect_request("/bad").respond_with_data("gone", status=410)
    settings = NotifySettings(
        emails=("ops@eyewear.example",),
        smtp_host="127.0.0.1",
        smtp_port=closed_port,
        webhooks=(Secret(httpserver.url_for("/good")), Secret(httpserver.url_for("/bad"))),
    )
    results = notifier(settings, []).send(make_report(status="succeeded", error=None))
    assert [(r.channel, r.ok) for r in results] == [
        ("email", False),
        ("webhook", True),
        ("webhook", False),
    ]


def test_nothing_configured_sends_nothing() -> None:
    assert Notifier(NotifySettings()).send(make_report()) == []
