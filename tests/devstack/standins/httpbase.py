"""The shared base for local stand-ins of Google control-plane APIs that have no emulator.

The official clients' REST transport speaks plain JSON over HTTP, so a
stand-in is a small threaded HTTP server: a route table (method + regular
expression on the decoded path), Google-style JSON errors (which the clients
turn into their usual exceptions: 404 -> ``NotFound`` and so on), one log
line per request, and a store of long-running operations shaped like
``google.longrunning.Operation`` that the clients poll by name.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import logging
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn
from urllib.parse import parse_qs, unquote, urlsplit

_HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# google.rpc.Code numbers, used inside Operation.error (which carries no HTTP status).
_RPC_CODE = {
    "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}  # fmt: skip

log = logging.getLogger("devstack.standin")


class ApiError(Exception):
    """An error answer: HTTP ``code``, a message, and the canonical status name."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _HTTP_STATUS.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}

    def rpc_status(self) -> dict[str, Any]:
        """The ``google.rpc.Status`` form, as an Operation's ``error`` carries it."""
        return {"code": _RPC_CODE.get(self.status, 2), "message": self.message}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


Handler = Callable[[Request], tuple[int, Any]]


@dataclass
class Router:
    """Routes ``(method, path)`` to a handler; patterns must match the whole decoded path."""

    _routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def route(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler, match.groupdict()
        raise ApiError(404, f"this stand-in has no method {method} {path}")


def page(items: list[Any], request: Request, key: str) -> dict[str, Any]:
    """One page of ``items`` per the request's ``pageSize``/``pageToken`` (an offset)."""
    size = int(request.arg("pageSize") or 0) or len(items) or 1
    start = int(request.arg("pageToken") or 0)
    result: dict[str, Any] = {key: items[start : start + size]} if items else {}
    if start + size < len(items):
        result["nextPageToken"] = str(start + size)
    return result


class OperationStore:
    """Long-running operations, shared by threads: created, finished, polled, listed, cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def create(self, parent: str, metadata: dict[str, Any]) -> dict[str, Any]:
        """A new pending operation ``{parent}/operations/{id}``; ``metadata`` carries its @type."""
        with self._lock:
            name = f"{parent}/operations/op-{next(self._ids):06d}"
            self._operations[name] = {"name": name, "metadata": metadata, "done": False}
            return dict(self._operations[name])

    def finish(
        self,
        name: str,
        *,
        response: dict[str, Any] | None = None,
        error: ApiError | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Mark ``name`` done with a response or an error; a cancelled operation stays cancelled."""
        with self._lock:
            operation = self._operations[name]
            if operation["done"]:
                return
            if metadata is not None:
                operation["metadata"] = metadata
            operation["done"] = True
            if error is not None:
                operation["error"] = error.rpc_status()
            else:
                operation["response"] = response or {}

    def run(
        self, parent: str, metadata: dict[str, Any], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Create an operation and do ``work`` in a thread; its result becomes the response."""
        operation = self.create(parent, metadata)

        def worker() -> None:
            try:
                self.finish(operation["name"], response=work())
            except ApiError as error:
                self.finish(operation["name"], error=error)
            except Exception as error:  # the operation must end either way
                log.exception("operation %s failed", operation["name"])
                self.finish(operation["name"], error=ApiError(500, f"internal error: {error}"))

        threading.Thread(target=worker, name=operation["name"], daemon=True).start()
        return operation

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name not in self._operations:
                raise ApiError(404, f"Operation {name} not found.")
            return copy.deepcopy(self._operations[name])

    def cancel(self, name: str) -> None:
        self.get(name)
        self.finish(name, error=ApiError(499, "Operation was cancelled.", "CANCELLED"))

    def delete(self, name: str) -> None:
        with self._lock:
            if self._operations.pop(name, None) is None:
                raise ApiError(404, f"Operation {name} not found.")

    def list(self, parent: str) -> list[dict[str, Any]]:
        with self._lock:
            names = [n for n in self._operations if n.startswith(parent + "/operations/")]
        return [self.get(name) for name in names]

    def add_routes(self, router: Router) -> None:
        """Routes: GET/DELETE ``/vN/{name}``, POST ``…:cancel``, GET ``/vN/{parent}/operations``."""
        one = r"/v[0-9][a-z0-9]*/(?P<name>.+/operations/[^/:]+)"
        router.add("GET", one, self._get_route)
        router.add("DELETE", one, self._delete_route)
        router.add("POST", one + ":cancel", self._cancel_route)
        router.add("GET", r"/v[0-9][a-z0-9]*/(?P<parent>.+)/operations", self._list_route)

    def _get_route(self, request: Request) -> tuple[int, Any]:
        return 200, self.get(request.params["name"])

    def _delete_route(self, request: Request) -> tuple[int, Any]:
        self.delete(request.params["name"])
        return 200, {}

    def _cancel_route(self, request: Request) -> tuple[int, Any]:
        self.cancel(request.params["name"])
        return 200, {}

    def _list_route(self, request: Request) -> tuple[int, Any]:
        return 200, page(self.list(request.params["parent"]), request, "operations")


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' sessions expect
    server: StandInServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        path = unquote(url.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw.strip() else None
            handler, params = self.server.router.route(self.command, path)
            status, payload = handler(
                Request(self.command, path, params, parse_qs(url.query), body)
            )
        except ApiError as error:
            status, payload = error.code, error.body()
        except json.JSONDecodeError as error:
            status, payload = 400, ApiError(400, f"Invalid JSON payload: {error}").body()
        except Exception as error:
            traceback.print_exc()
            status, payload = 500, ApiError(500, f"stand-in failure: {error!r}").body()
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        elapsed = (time.monotonic() - started) * 1000
        log.info("%s %s -> %d (%.1f ms)", self.command, self.path, status, elapsed)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: ``_dispatch`` logs one structured line per request instead."""


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        super().__init__(address, _RequestHandler)
        self.router = router


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(0)


def main(
    name: str,
    build: Callable[[argparse.Namespace], Router],
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Parse ``--host``/``--port`` and ``configure``'s options; serve ``build``'s routes.

    Runs until SIGTERM or Ctrl-C, which both end the process with status 0.
    """
    parser = argparse.ArgumentParser(prog=f"python -m tests.devstack.standins.{name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    if configure is not None:
        configure(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s {name} %(message)s"
    )
    server = StandInServer((args.host, args.port), build(args))
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.info("serving on http://%s:%d", args.host, args.port)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
