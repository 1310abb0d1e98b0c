"""The console's pure parts: exit codes of restore records, progress counters, freshness."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import CatalogEntry
from shared.console import environment, follow, info, records
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.restore.ending import exit_code_for
from tests.devstack.process import REPO_ROOT

NOW = datetime(2025, 3, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"phase": "Completed", "result": {"verified": True}}, 0),
        ({"phase": "Planned"}, 0),
        ({"phase": "Refused", "exit_code": 73, "confirm": "eyewear_ml"}, 73),
        ({"phase": "Failed", "exit_code": 65, "result": {"verified": False}}, 65),
        ({"phase": "Failed", "exit_code": 66, "errors": ["BackupNotFound: none"]}, 66),
        ({"phase": "Failed", "errors": ["a failure nobody planned for"]}, 70),
        ({"phase": "PartiallyFailed"}, 65),
        ({"phase": "InProgress"}, 75),
    ],
)
def test_one_function_maps_a_record_to_its_exit_code(record: dict[str, Any], code: int) -> None:
    assert exit_code_for(record) == code


def test_the_confirm_to_send_is_read_from_the_record() -> None:
    note = 'NOT RUN: would overwrite ...; to run it, send "confirm": "eyewear_ml"'
    assert records.required_confirm({"result": {"notes": [note]}}) == "eyewear_ml"
    assert records.required_confirm({"phase": "Refused", "confirm": "eyewear_ml"}) == "eyewear_ml"
    assert records.required_confirm({"result": {"details": {"confirm": "assets"}}}) == "assets"
    assert records.required_confirm({"result": {}}) is None


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        ({"restored": 3, "of": 40, "failed": 0}, (3, 40, "objects")),
        ({"documents_done": 10, "documents_total": 200}, (10, 200, "documents")),
        ({"done": 5, "total": 9, "unit": "collections"}, (5, 9, "collections")),
        ({"step": "replaying the oplog", "documents": 57}, None),
    ],
)
def test_progress_counters_drive_the_bar(
    progress: dict[str, Any], expected: tuple[int, int, str] | None
) -> None:
    assert follow.fraction(progress) == expected


def _entry(tier: str, age: timedelta, status: str | None = "succeeded") -> CatalogEntry:
    started = NOW - age
    location = RunLocation("", "mongodb", tier, new_run_id(started))
    manifest = None if status is None else Manifest(location, status, started, started, {})
    return CatalogEntry(location, manifest, ())


def test_freshness_against_the_schedule_plus_the_grace() -> None:
    grace = timedelta(hours=3)

    def state(entries: list[CatalogEntry], tier: str) -> dict[str, Any]:
        return info.tier_state(entries, tier, NOW, grace)

    assert state([_entry("daily", timedelta(hours=26))], "daily")["state"] == "ok"
    assert state([_entry("daily", timedelta(hours=28))], "daily")["state"] == "STALE"
    assert state([_entry("manual", timedelta(days=90))], "manual")["state"] == "ok"
    failing = [_entry("daily", timedelta(hours=1), "failed"), _entry("daily", timedelta(hours=2))]
    assert state(failing, "daily")["state"] == "FAILING"
    running = [_entry("hourly", timedelta(minutes=5), None)]
    assert state(running, "hourly")["incomplete"] == 1
    assert state([], "weekly")["state"] == "never run"


def test_the_local_stack_file_is_read_as_the_shell_would() -> None:
    text = "# Local stack\nexport A='x y'\nexport B=http://127.0.0.1:1\nnot an export\n"
    assert environment.parse_exports(text) == {"A": "x y", "B": "http://127.0.0.1:1"}
    named = environment.Environment("environment prod", {"X": "1"}, replaces_shell=True)
    shell = {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9", "X": "0"}
    named.apply(shell)
    assert shell == {"X": "1"}
    local = environment.Environment("local stack", {"X": "2", "Y": "2"})
    local.apply(shell)
    assert shell == {"X": "1", "Y": "2"}  # the shell's own settings win over the stack's


def test_missing_client_libraries_are_one_line(tmp_path: Path) -> None:
    blocked = "import sys; sys.modules['google'] = None; "  # as if not installed
    command = blocked + "from shared.console.main import main; sys.exit(main(['backups']))"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT),
           "GCS_BACKUP_BUCKET": "eyewearml-backups"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", command], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 78
    assert done.stderr.startswith("error: the Python package providing 'google")
    assert "python3 -m pip install ." in done.stderr
    assert done.stderr.count("\n") == 1
