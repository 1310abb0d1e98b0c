"""A real HTTP proxy in front of fake-gcs-server that records, counts and (on demand) fails requests.

The product talks to it exactly as it would to Cloud Storage
(``STORAGE_EMULATOR_HOST``), so what it records is what the product sends:
tests count requests per operation (and so per billing class), read request
bodies and query parameters the emulator itself ignores, and inject error
statuses the emulator cannot produce.

Operations are named after the JSON API methods; ``CLASS_A`` are the ones
Cloud Storage bills as Class A operations, ``CLASS_B`` as Class B (reads);
deletes are free.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.devstack.storage import FakeGcsServer

CLASS_A = frozenset(
    {"objects.list", "objects.insert", "objects.rewrite", "objects.compose", "objects.patch"}
)
CLASS_B = frozenset({"objects.get", "objects.download", "buckets.get"})


@dataclass
class Fault:
    """Answer ``times`` matching requests with ``status``; ``lost``: after forwarding them.

    ``body`` also matches the request body (an upload names its object there).
    A lost response is the case a retried create must survive: the request
    took effect upstream, and the client saw only an error. A ``held``
    request waits, unanswered and not forwarded, until the test sets
    ``released`` (``arrived`` says it came): the test can kill the client at
    exactly that point.
    """

    method: str
    path: re.Pattern[str]
    status: int
    times: int
    served: int = 0
    lost: bool = False
    body: re.Pattern[bytes] | None = None
    held: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Seen:
    """One request as the proxy received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes

    @property
    def operation(self) -> str:
        return operation(self.method, self.path, self.query)

    def json(self) -> Any:
        return json.loads(self.body)


_OBJECT_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
_BUCKET_VERBS = {"GET": "buckets.get", "DELETE": "buckets.delete"}
_ROUTES: tuple[
    tuple[str, Callable[[str], str]], ...
] = (  # (path pattern, method -> operation), first match wins
    (r"^/upload/", lambda m: "objects.insert"),
    (r"^/download/", lambda m: "objects.download"),
    (r"/rewriteTo/", lambda m: "objects.rewrite"),
    (r"/b/[^/]+/o/.+/compose$", lambda m: "objects.compose"),
    (r"/b/[^/]+/o/", lambda m: f"objects.{_OBJECT_VERBS.get(m, m.lower())}"),
    (r"/b/[^/]+/o$", lambda m: "objects.list" if m == "GET" else "objects.insert"),
    (r"/b/[^/]+$", lambda m: _BUCKET_VERBS.get(m, "buckets.patch")),
)


def operation(method: str, path: str, query: dict[str, list[str]]) -> str:
    """The JSON API method a request calls (``objects.rewrite``, ``objects.list``, ...)."""
    if query.get("alt") == ["media"]:
        return "objects.download"
    for pattern, name in _ROUTES:
        if re.search(pattern, path):
            return name(method)
    return f"{method} {path}"


@dataclass
class StorageProxy:
    """Forwards to ``upstream``; records every request; answers a matching fault with its status."""

    upstream: str
    url: str = ""  # where it listens, once serving
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1_000_000,
        *,
        lost: bool = False,
        body: bytes | None = None,
        held: bool = False,
    ) -> Fault:
        pattern = re.compile(body) if body is not None else None
        fault = Fault(method, re.compile(path), status, times, lost=lost, body=pattern, held=held)
        self.faults.append(fault)
        return fault

    def fault_for(self, method: str, path: str, body: bytes = b"") -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (
                    fault.method == method
                    and fault.path.search(path)
                    and (fault.body is None or fault.body.search(body))
                    and fault.served < fault.times
                ):
                    fault.served += 1
                    return fault
        return None

    def record(self, method: str, target: str, body: bytes) -> None:
        parts = urlsplit(target)
        seen = Seen(method, unquote(parts.path), parse_qs(parts.query), body)
        with self.lock:
            self.seen.append(seen)

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()

    def requests(self, op: str | None = None, bucket: str | None = None) -> list[Seen]:
        """Requests recorded so far, of one operation and/or on one bucket's objects."""
        with self.lock:
            seen = list(self.seen)
        return [
            s
            for s in seen
            if (op is None or s.operation == op)
            and (bucket is None or f"/b/{bucket}/" in s.path or s.path.endswith(f"/b/{bucket}"))
        ]

    def counts(self) -> Counter[str]:
        """Requests recorded so far, per operation."""
        return Counter(s.operation for s in self.requests())


def _handler(proxy: StorageProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            proxy.record(self.command, self.path, body)
            fault = proxy.fault_for(self.command, self.path, body)
            if fault is not None and fault.held:
                fault.arrived.set()
                fault.released.wait(timeout=300)
            if fault is None or fault.lost:
                status, passed, data = self._upstream(body)
            if fault is not None:
                error = b'{"error": {"code": %d, "message": "injected"}}' % fault.status
                self._answer(fault.status, {"Content-Type": "application/json"}, error)
                return
            self._answer(status, passed, data)

        def _upstream(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(upstream.netloc, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            passed = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("transfer-encoding", "content-length", "connection")
            }
            connection.close()
            return response.status, passed, data

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serving(upstream: str) -> Iterator[StorageProxy]:
    """A proxy in front of ``upstream`` for the block (its address in ``url``)."""
    recorder = StorageProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(gcs_server: FakeGcsServer, stack_env: dict[str, str]) -> Iterator[StorageProxy]:
    """The proxy, with ``STORAGE_EMULATOR_HOST`` pointing at it for this test."""
    with serving(gcs_server.url) as recorder:
        os.environ["STORAGE_EMULATOR_HOST"] = recorder.url
        yield recorder
