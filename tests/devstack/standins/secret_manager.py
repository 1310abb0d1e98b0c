"""Secret Manager stand-in: secrets and versions in memory, served as the v1 REST API.

Run as ``python -m tests.devstack.standins.secret_manager --port P [--project P]
[--seed FILE]``. The seed file maps secret names (full, or ids in
``--project``) to lists of versions, oldest first; a version is a UTF-8
string or ``{"data": ..., "encoding": "utf-8"|"base64", "state": ...}``.

Behaviour follows the real service where a client can observe it:
``latest`` is the most recently *created* version whatever its state (the
real alias does not skip disabled versions: accessing it then fails with
FAILED_PRECONDITION), access answers the resolved version name and
``dataCrc32c``, a payload checksum is verified on add, destroyed is final.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.devstack.standins.httpbase import ApiError, Request, Router, main, page

_SECRET = r"(?P<secret>projects/[^/]+(?:/locations/[^/]+)?/secrets/[^/:]+)"
_VERSION = _SECRET + r"/versions/(?P<version>[^/:]+)"
_PARENT = r"(?P<parent>projects/[^/]+(?:/locations/[^/]+)?)"
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


@dataclass
class _Version:
    number: int
    data: bytes | None
    create_time: str
    state: str = "ENABLED"
    destroy_time: str | None = None
    client_checksum: bool = False


@dataclass
class _Secret:
    name: str
    create_time: str
    body: dict[str, Any]
    versions: list[_Version] = field(default_factory=list)


class SecretStore:
    """The service's state and rules, safe to share between request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, _Secret] = {}

    def create_secret(self, parent: str, secret_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if not _SECRET_ID.fullmatch(secret_id):
            raise ApiError(400, f"Invalid secret id [{secret_id}].")
        name = f"{parent}/secrets/{secret_id}"
        with self._lock:
            if name in self._secrets:
                raise ApiError(409, f"Secret [{name}] already exists.")
            kept = {k: v for k, v in body.items() if k in ("labels", "annotations")}
            record = _Secret(name, _now(), {"replication": {"automatic": {}}, **kept})
            self._secrets[name] = record
            return self._secret_json(record)

    def get_secret(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._secret_json(self._secret(name))

    def list_secrets(self, parent: str) -> list[dict[str, Any]]:
        with self._lock:
            prefix = parent + "/secrets/"
            return [self._secret_json(s) for n, s in self._secrets.items() if n.startswith(prefix)]

    def delete_secret(self, name: str) -> None:
        with self._lock:
            self._secret(name)
            del self._secrets[name]

    def add_version(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        data = base64.b64decode(payload.get("data", ""))
        checksum = payload.get("dataCrc32c")
        if checksum is not None and int(checksum) != _crc32c(data):
            raise ApiError(400, "The provided payload checksum does not match the payload data.")
        with self._lock:
            secret = self._secret(name)
            version = _Version(len(secret.versions) + 1, data, _now())
            version.client_checksum = checksum is not None
            secret.versions.append(version)
            return self._version_json(secret, version)

    def get_version(self, name: str, version_id: str) -> dict[str, Any]:
        with self._lock:
            secret = self._secret(name)
            return self._version_json(secret, self._version(secret, version_id))

    def list_versions(self, name: str, state_filter: str | None) -> list[dict[str, Any]]:
        with self._lock:
            secret = self._secret(name)
            versions = [v for v in reversed(secret.versions) if state_filter in (None, v.state)]
            return [self._version_json(secret, v) for v in versions]

    def access(self, name: str, version_id: str) -> dict[str, Any]:
        with self._lock:
            secret = self._secret(name)
            version = self._version(secret, version_id)
            full = f"{secret.name}/versions/{version.number}"
            if version.state != "ENABLED" or version.data is None:
                raise ApiError(
                    400,
                    f"Secret Version [{full}] is in {version.state} state.",
                    "FAILED_PRECONDITION",
                )
            data = version.data
        return {
            "name": full,
            "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(_crc32c(data))},
        }

    def set_state(self, name: str, version_id: str, state: str) -> dict[str, Any]:
        with self._lock:
            secret = self._secret(name)
            version = self._version(secret, version_id)
            if version.state == "DESTROYED":
                full = f"{secret.name}/versions/{version.number}"
                raise ApiError(
                    400, f"Secret Version [{full}] is in DESTROYED state.", "FAILED_PRECONDITION"
                )
            version.state = state
            if state == "DESTROYED":
                version.data = None
                version.destroy_time = _now()
            return self._version_json(secret, version)

    def _secret(self, name: str) -> _Secret:
        if name not in self._secrets:
            raise ApiError(404, f"Secret [{name}] not found.")
        return self._secrets[name]

    @staticmethod
    def _version(secret: _Secret, version_id: str) -> _Version:
        if version_id == "latest":
            if not secret.versions:
                raise ApiError(404, f"Secret [{secret.name}] not found or has no versions.")
            return secret.versions[-1]
        if version_id.isdigit() and 0 < int(version_id) <= len(secret.versions):
            return secret.versions[int(version_id) - 1]
        raise ApiError(404, f"Secret Version [{secret.name}/versions/{version_id}] not found.")

    @staticmethod
    def _secret_json(secret: _Secret) -> dict[str, Any]:
        return {"name": secret.name, "createTime": secret.create_time, **secret.body}

    @staticmethod
    def _version_json(secret: _Secret, version: _Version) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "name": f"{secret.name}/versions/{version.number}",
            "createTime": version.create_time,
            "state": version.state,
            "replicationStatus": {"automatic": {}},
            "etag": f'"{version.number}-{version.state.lower()}"',
            "clientSpecifiedPayloadChecksum": version.client_checksum,
        }
        if version.destroy_time:
            answer["destroyTime"] = version.destroy_time
        return answer

    def seed(self, project: str, spec: dict[str, list[Any]]) -> None:
        """Load secrets from the seed-file structure described in the module docstring."""
        for key, versions in spec.items():
            name = key if key.startswith("projects/") else f"projects/{project}/secrets/{key}"
            parent, secret_id = name.rsplit("/secrets/", 1)
            self.create_secret(parent, secret_id, {})
            for item in versions:
                entry = {"data": item} if isinstance(item, str) else dict(item)
                raw = entry["data"]
                data = (
                    raw.encode()
                    if entry.get("encoding", "utf-8") == "utf-8"
                    else base64.b64decode(raw)
                )
                added = self.add_version(name, {"data": base64.b64encode(data).decode()})
                if entry.get("state", "ENABLED") != "ENABLED":
                    self.set_state(name, added["name"].rsplit("/", 1)[1], entry["state"])


def build_router(store: SecretStore) -> Router:
    router = Router()

    def versions_filter(request: Request) -> str | None:
        text = request.arg("filter")
        if text is None:
            return None
        match = re.fullmatch(r"state\s*[:=]\s*(ENABLED|DISABLED|DESTROYED)", text.strip())
        if match is None:
            raise ApiError(400, f"this stand-in supports only state filters, not {text!r}")
        return match.group(1)

    def create(r: Request) -> tuple[int, Any]:
        secret_id = r.arg("secretId") or ""
        return 200, store.create_secret(r.params["parent"], secret_id, r.body or {})

    def list_secrets(r: Request) -> tuple[int, Any]:
        secrets = store.list_secrets(r.params["parent"])
        return 200, {**page(secrets, r, "secrets"), "totalSize": len(secrets)}

    def list_versions(r: Request) -> tuple[int, Any]:
        versions = store.list_versions(r.params["secret"], versions_filter(r))
        return 200, {**page(versions, r, "versions"), "totalSize": len(versions)}

    def delete(r: Request) -> tuple[int, Any]:
        store.delete_secret(r.params["secret"])
        return 200, {}

    def state_route(state: str) -> Any:
        return lambda r: (200, store.set_state(r.params["secret"], r.params["version"], state))

    router.add("POST", f"/v1/{_PARENT}/secrets", create)
    router.add("GET", f"/v1/{_PARENT}/secrets", list_secrets)
    router.add("GET", f"/v1/{_SECRET}", lambda r: (200, store.get_secret(r.params["secret"])))
    router.add("DELETE", f"/v1/{_SECRET}", delete)
    router.add(
        "POST",
        f"/v1/{_SECRET}:addVersion",
        lambda r: (200, store.add_version(r.params["secret"], (r.body or {}).get("payload", {}))),
    )
    router.add("GET", f"/v1/{_SECRET}/versions", list_versions)
    router.add(
        "GET",
        f"/v1/{_VERSION}",
        lambda r: (200, store.get_version(r.params["secret"], r.params["version"])),
    )
    router.add(
        "GET",
        f"/v1/{_VERSION}:access",
        lambda r: (200, store.access(r.params["secret"], r.params["version"])),
    )
    for verb, state in (("enable", "ENABLED"), ("disable", "DISABLED"), ("destroy", "DESTROYED")):
        router.add("POST", f"/v1/{_VERSION}:{verb}", state_route(state))
    return router


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", default="demo-eyewearml", help="project of seeded secret ids")
    parser.add_argument("--seed", type=Path, help="JSON file of secrets to load at start")


def _build(args: argparse.Namespace) -> Router:
    store = SecretStore()
    if args.seed is not None:
        store.seed(args.project, json.loads(args.seed.read_text()))
    return build_router(store)


if __name__ == "__main__":
    raise SystemExit(main("secret_manager", _build, _configure))
