"""One local server as a child process that cannot outlive the stack that started it.

Every server runs in its own session (so its own process group): some start
children (gunicorn forks its workers; the emulators' wrapper scripts, not used
here, fork the JVM), and signalling the group reaches those too. Stopping is SIGTERM to the
group, a grace period, then SIGKILL to whatever is left of it. Where
``setpriv`` exists the child also gets a parent-death signal, so a test run
killed with SIGKILL still takes its servers with it; that signal fires when
the *thread* that spawned the child ends, which is why components are
launched from the caller's thread and only the readiness waits run in
worker threads.

Output goes to a log file, never to a pipe: a pipe nobody reads fills up and
the server blocks on its next write (fake-gcs-server does exactly that).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = "127.0.0.1"


class DevstackError(RuntimeError):
    """A local server could not be started, reached or stopped."""


class ComponentUnavailable(DevstackError):
    """Something a component needs is not installed; the message says how to install it."""

    def __init__(self, component: str, missing: str, install: str) -> None:
        super().__init__(f"{component}: {missing} is not available; {install}")
        self.component = component


_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server binds it next).

    Never the same port twice in one process: a stack launches all its
    servers before any of them has bound its port.
    """
    while True:
        with socket.socket() as probe:
            probe.bind((LOCALHOST, 0))
            port: int = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """True when something answers HTTP at ``url``, whatever the status code."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def tcp_accepts(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _group_alive(pgid: int) -> bool:
    if Path("/proc").is_dir():
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class ManagedProcess:
    """A command started in a new session with its output in ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        setpriv = shutil.which("setpriv")
        argv = [setpriv, "--pdeathsig", "TERM", "--", *self.argv] if setpriv else self.argv
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return self._popen.poll() if self._popen else None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> float:
        """Poll ``ready`` until it holds; return the seconds it took since now.

        Raises with the log's tail when the process exits first or time runs out,
        because that tail is nearly always the explanation.
        """
        start = time.monotonic()
        delay = 0.02
        while not ready():
            code = self.exited()
            if code is not None:
                raise DevstackError(
                    f"{self.name} exited with code {code} during startup "
                    f"({' '.join(self.argv)}); log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() - start > timeout:
                raise DevstackError(
                    f"{self.name} was not ready after {timeout:.0f} s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        return time.monotonic() - start

    def terminate(self) -> None:
        """Send SIGTERM to the whole group (no waiting)."""
        if self._popen is not None:
            self._signal_group(signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM the group, wait up to ``stop_timeout``, then SIGKILL what is left."""
        if self._popen is None:
            return
        self.terminate()
        pgid = self._popen.pid
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            self._popen.poll()  # reap the leader, or it stays a zombie member
            if not _group_alive(pgid):
                break
            time.sleep(0.05)
        else:
            self._signal_group(signal.SIGKILL)
        self._popen.wait()
        self._popen = None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)
