"""Redaction: credentials in URIs, query strings, webhook paths and known secret values."""

from __future__ import annotations

import pytest

from shared.redact import redact, redact_uri
from shared.secret import Secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # passwords in URIs
        (
            "connect mongodb://backup:s3cr3t@db1:27017,db2:27017/eyewear_ml?replicaSet=rs0 failed",
            "connect mongodb://backup:***@db1:27017,db2:27017/eyewear_ml?replicaSet=rs0 failed",
        ),
        (
            "mongodb+srv://backup:p%40ss@cluster0.example.net/eyewear_ml",
            "mongodb+srv://backup:***@cluster0.example.net/eyewear_ml",
        ),
        ("mongodb://backup:p@ss@host/db", "mongodb://backup:***@host/db"),  # unencoded "@"
        ("GET https://user:pw@proxy.example:8443/x", "GET https://user:***@proxy.example:8443/x"),
        (
            "MONGODB_URI='mongodb://u:pw@h' and 'mongodb://v:qq@k/'",
            "MONGODB_URI='mongodb://u:***@h' and 'mongodb://v:***@k/'",
        ),
        # credentials in query strings and key=value text
        (
            "https://storage.example/o?X-Goog-Signature=abc123&X-Goog-Date=20250325",
            "https://storage.example/o?X-Goog-Signature=***&X-Goog-Date=20250325",
        ),
        (
            "https://api.example/v1?key=AIzaSy123&alt=json",
            "https://api.example/v1?key=***&alt=json",
        ),
        (
            "https://x.example/cb?access_token=tok#frag",
            "https://x.example/cb?access_token=***#frag",
        ),
        (
            "https://blob.example/c?sv=2024&sig=Zm9v%2Bbar&se=1",
            "https://blob.example/c?sv=2024&sig=***&se=1",
        ),
        ("host=db password=hunter2 user=dr", "host=db password=*** user=dr"),
        ("client_secret=abc;api_key=def", "client_secret=***;api_key=***"),
        # chat webhooks: the path is the token
        (
            "POST https://hooks.slack.com/services/T0001/B0001/XXXXXXXX failed",
            "POST https://hooks.slack.com/services/*** failed",
        ),
        (
            "https://contoso.webhook.office.com/webhookb2/a-b@c-d/IncomingWebhook/e/f",
            "https://contoso.webhook.office.com/***",
        ),
        (
            "https://outlook.office.com/webhook/abc/IncomingWebhook/def",
            "https://outlook.office.com/webhook/***",
        ),
        (
            "https://prod-1.westus.logic.azure.com:443/workflows/id/triggers/manual/paths/invoke?sig=s",
            "https://prod-1.westus.logic.azure.com:443/***",
        ),
    ],
)
def test_patterns_hide_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "harmless",
    [
        "mongodb+srv://backup@cluster0.example.net/eyewear_ml?authSource=admin&retryWrites=true",
        "gs://eyewearml-backups/mongodb/daily/20250325T010000Z/manifest.json",
        "https://db.example:27017/path?page=2",
        "ratio: 3:1 at 01:00:00 UTC",
        "backup of users@example.com finished",
        "https://hooks.slack.com.evil.example/x",  # not Slack; no credential shape either
    ],
)
def test_text_without_credentials_is_unchanged(harmless: str) -> None:
    assert redact(harmless) == harmless


def test_known_secrets_are_hidden_wherever_they_appear() -> None:
    key = "k3y/with+special=chars"
    text = f"key {key} quoted {key!r} in a URL k3y%2Fwith%2Bspecial%3Dchars"
    assert redact(text, [key]) == "key *** quoted '***' in a URL ***"


def test_secret_wrappers_and_overlapping_secrets() -> None:
    outer, inner = "abcdef-secret-123456", "secret"
    text = f"{outer} and {inner}"
    assert redact(text, [Secret(inner), outer]) == "*** and ***"


def test_empty_secrets_are_ignored() -> None:
    assert redact("nothing to hide", ["", Secret("")]) == "nothing to hide"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "mongodb+srv://backup:pw@cluster0.example.net/eyewear_ml?authSource=admin",
            "mongodb+srv://backup@cluster0.example.net/eyewear_ml",
        ),
        (
            "mongodb://backup:p@ss@db1:27017,db2:27017/eyewear_ml?replicaSet=rs0",
            "mongodb://backup@db1:27017,db2:27017/eyewear_ml",
        ),
        ("mongodb://db1:27017", "mongodb://db1:27017"),
        ("mongodb://u:pw@db1:27017?tls=true", "mongodb://u@db1:27017"),
        ("https://hooks.slack.com/services/T/B/X", "https://hooks.slack.com/services/***"),
        ("gs://bucket/prefix/", "gs://bucket/prefix/"),
        ("not a uri password=x", "not a uri password=***"),
    ],
)
def test_redact_uri_keeps_identity_only(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
