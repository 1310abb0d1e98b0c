"""Headless Chromium (Debian's ``chromium``) for page tests: the DOM, the console, a screenshot.

Each run is one Chromium process group with a fresh profile, started with the
flags that keep it off the network (no background services, no component
updates), and killed by its group when it ends or overruns. Console messages
come from Chromium's own log (``--enable-logging=stderr``): every
``console.*`` call and every uncaught error is a ``CONSOLE`` line there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.devstack.process import ComponentUnavailable

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)$", re.MULTILINE)


def executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_installed() -> None:
    if executable() is None:
        raise ComponentUnavailable("browser", "chromium", "install it: apt-get install chromium")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]


def _run(page: Path, action: list[str], timeout: float = 90.0) -> tuple[str, str]:
    binary = executable()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", *action, page.resolve().as_uri()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return out, err


def render(page: Path) -> Rendered:
    """The DOM after the page loaded, and every console message it produced."""
    dom, log = _run(page, ["--dump-dom"])
    return Rendered(dom, CONSOLE.findall(log))


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1800) -> Path:
    _run(page, [f"--screenshot={png}", f"--window-size={width},{height}"])
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot of {page}")
    return png
