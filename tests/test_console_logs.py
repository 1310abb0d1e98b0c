"""Manual job runs: readable lines on a terminal, Cloud Logging JSON otherwise; the same facts."""

from __future__ import annotations

import io
import json
import logging
import os
import sys

import pytest

from shared import config, logs
from tests.devstack.process import REPO_ROOT


def _log_one(human: bool | None) -> str:
    stream = io.StringIO()
    logs.configure(stream=stream, human=human)
    with logs.run_context(run_id="20250325T010000Z-0123abcd", target="mongodb"):
        logging.getLogger("shared.mongodb.dump").info(
            "dumped %s", "eyewear_ml.people", extra={"fields": {"documents": 1000, "ünï": "cödé"}}
        )
    return stream.getvalue()


def test_both_forms_carry_the_same_facts() -> None:
    (entry,) = [json.loads(line) for line in _log_one(human=False).splitlines()]
    (line,) = _log_one(human=True).splitlines()
    assert entry["message"] == "dumped eyewear_ml.people"
    assert line.endswith(
        "INFO    dumped eyewear_ml.people  run_id=20250325T010000Z-0123abcd  target=mongodb  "
        "documents=1000  ünï=cödé"
    )
    assert (entry["documents"], entry["ünï"]) == (1000, "cödé")


@pytest.mark.parametrize(
    ("chosen", "human"), [("json", False), ("text", True), ("TEXT", True), ("", False)]
)
def test_the_form_follows_the_variable_else_the_stream(
    chosen: str, human: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.DR_LOG_FORMAT.name, chosen)
    out = _log_one(human=None)  # a StringIO is not a terminal
    assert out.startswith("{") != human


def test_a_wrong_log_format_is_the_first_line_and_the_stream_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(config.DR_LOG_FORMAT.name, "xml")
    warning, line = [json.loads(line) for line in _log_one(human=None).splitlines()]
    assert warning["severity"] == "WARNING"
    assert warning["message"].startswith(
        "DR_LOG_FORMAT from environment variable is 'xml'; expected text or json"
    )
    assert line["message"] == "dumped eyewear_ml.people"


def test_a_job_run_by_hand_on_a_terminal_prints_readable_lines() -> None:
    import pexpect

    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), "HOME": str(REPO_ROOT)}
    child = pexpect.spawn(sys.executable, ["-m", "shared.mongodb.job", "backup"], env=env,
                          cwd=str(REPO_ROOT), encoding="utf-8", timeout=60)  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 78
    assert "ERROR   ConfigError: MONGODB_URI is not set" in child.before
    assert "target=mongodb" in child.before
    assert "{" not in child.before


@pytest.mark.parametrize(("chosen", "json_lines"), [("json", True), ("text", False)])
def test_the_job_takes_its_log_format_as_a_flag(chosen: str, json_lines: bool) -> None:
    import subprocess

    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), "HOME": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "shared.mongodb.job", "--log-format", chosen, "backup"],
        env=env, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78
    (line,) = [line for line in done.stdout.splitlines() if "MONGODB_URI" in line]
    assert line.startswith("{") is json_lines
