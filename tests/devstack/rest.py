"""JSON over HTTP to the local servers, with the standard library only.

The stack's own plumbing (topics, push subscriptions, clearing data) uses
this rather than the Google clients, so starting a stack imports nothing
heavy and the CLI runs under a bare ``python3``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class RestError(Exception):
    """A non-2xx answer; ``status`` and the decoded ``body`` say why."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {url} -> {status}: {body}")
        self.status = status
        self.body = body


def call(method: str, url: str, body: Any = None, *, timeout: float = 30.0) -> Any:
    """Send ``body`` as JSON (if given) and return the decoded JSON answer ({} when empty)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _decode(response.read())
    except urllib.error.HTTPError as error:
        raise RestError(method, url, error.code, _decode(error.read())) from None


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
