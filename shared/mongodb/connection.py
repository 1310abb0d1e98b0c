"""Connecting to MongoDB, and turning driver errors into :mod:`shared.errors` classes.

Messages name the server the way :func:`shared.redact.redact_uri` shows it
(scheme, user, hosts, database) and never the password; the driver's own
text is redacted too, since some of its errors quote the connection string.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pymongo import MongoClient
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from shared.errors import ConfigError, DRError, PermissionDenied, SourceUnavailable
from shared.redact import redact, redact_uri
from shared.secret import Secret

UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
SERVER_SELECTION_TIMEOUT_MS = 10_000


def describe(uri: Secret) -> str:
    """Where ``uri`` points, safe to log: ``mongodb+srv://backup@cluster0.example.net/db``."""
    return redact_uri(uri.reveal())


@contextlib.contextmanager
def mongo_errors(what: str, server: str, fallback: type[DRError] = DRError) -> Iterator[None]:
    """Map driver exceptions in the block to our errors; ``what`` says what was being done."""
    try:
        yield
    except OperationFailure as exc:
        if exc.code in (UNAUTHORIZED, AUTHENTICATION_FAILED):
            raise PermissionDenied(f"{what}: {server} refused: {redact(_message(exc))}") from None
        raise fallback(f"{what} on {server} failed: {redact(_message(exc))}") from exc
    except ConnectionFailure as exc:
        raise SourceUnavailable(f"{what}: {server} is unreachable ({redact(str(exc))})") from None
    except ConfigurationError as exc:
        raise SourceUnavailable(f"{what}: cannot resolve {server} ({redact(str(exc))})") from None
    except PyMongoError as exc:
        raise fallback(f"{what} on {server} failed: {redact(str(exc))}") from exc


def _message(exc: OperationFailure) -> str:
    details = exc.details or {}
    return f"{details.get('errmsg') or exc} (code {exc.code})"


def connect(
    uri: Secret, timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS
) -> MongoClient[dict[str, Any]]:
    """A client that has reached the server and authenticated (``ping`` succeeded).

    A short server-selection timeout makes an unreachable server a clear
    error within seconds rather than a hang (a timeout given in the URI wins).
    ``connectTimeoutMS`` stays the driver's: its health check uses it, and on
    a timeout cancels every operation in progress, so a short one turns a
    pause of a few seconds into failed reads (:mod:`.outage` rides out longer ones).
    """
    server = describe(uri)
    given = uri.reveal().lower()
    timeouts: dict[str, Any] = (
        {} if "serverselectiontimeoutms=" in given else {"serverSelectionTimeoutMS": timeout_ms}
    )
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri.reveal(), appname="eyewearml-dr", **timeouts
        )
    except ConfigurationError as exc:
        text = redact(str(exc), [uri])
        if "DNS" in text or "resolution" in text.lower():
            raise SourceUnavailable(f"cannot resolve {server}: {text}") from None
        raise ConfigError(f"MONGODB_URI is not a usable connection string: {text}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"MONGODB_URI is not a usable connection string: {redact(str(exc), [uri])}"
        ) from None
    try:
        with mongo_errors("connecting", server):
            client.admin.command("ping")
    except DRError:
        client.close()
        raise
    return client
