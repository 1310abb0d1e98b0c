"""``dr`` against the demo's local stack: the real command, run as an operator runs it.

One stack for the module, deployed and seeded as the demo does, with one
daily backup per target. ``dr`` runs as a separate process from a directory
holding the stack's ``.devstack/env.sh`` (so it finds the local stack by
itself) and with none of the stack's variables in its environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.manifest import TARGETS
from tests import eyewear
from tests.devstack import envfile
from tests.devstack.process import REPO_ROOT
from tests.operator import operator_home, run_dr


@dataclass
class Deployment:
    platform: eyewear.Platform
    home: Path  # holds .devstack/env.sh: dr run here finds the stack
    backups: dict[str, Any]

    def dr(
        self, *args: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return run_dr(args, cwd or self.home, {"XDG_CONFIG_HOME": str(self.home / "config"), **env})


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, require_installed: Any
) -> Iterator[Deployment]:
    require_installed(*eyewear.STACK_SERVICES, "functions")
    home = tmp_path_factory.mktemp("operator")
    with eyewear.deployed_platform(tmp_path_factory.mktemp("platform")) as platform:
        eyewear.seed_buckets(objects_per_bucket=20)
        eyewear.seed_mongo(platform.stack.mongo.uri(), people=200)
        eyewear.seed_firestore(platform.stack.project)
        backups = {target: platform.backup(target) for target in ("gcs", "firestore", "mongodb")}
        operator_home(home, platform)
        yield Deployment(platform, home, backups)


def test_info_sees_every_target_fresh(deployment: Deployment) -> None:
    done = deployment.dr("info")
    assert done.returncode == 0, done.stderr
    for target, entry in deployment.backups.items():
        assert target in done.stdout
        assert entry.backup_id in done.stdout
    assert "local stack" in done.stdout
    assert "All targets have fresh backups." in done.stdout
    facts = json.loads(deployment.dr("info", "--json").stdout)
    assert [t["target"] for t in facts["targets"]] == list(TARGETS)
    assert facts["problems"] == []


def test_backups_lists_ids_every_command_accepts(deployment: Deployment, tmp_path: Path) -> None:
    listed = json.loads(deployment.dr("backups", "--json").stdout)
    assert {row["id"] for row in listed} == {e.backup_id for e in deployment.backups.values()}
    gcs = next(row for row in listed if row["target"] == "gcs")
    assert gcs["size"] == deployment.backups["gcs"].manifest.counts["bytes"]  # what was backed up
    human = deployment.dr("backups", "mongodb", "--tier", "daily")
    assert "succeeded" in human.stdout
    assert "eyewear_ml.ünïcödé.dots=3" in human.stdout  # non-ASCII as text, counts never cut
    mongodb = deployment.backups["mongodb"]
    shown = deployment.dr("show", mongodb.backup_id)
    assert shown.returncode == 0, shown.stderr
    for fact in ("key id", "sha256", "tool", "retention", "keep: daily",
                 f"gs://{eyewear.BACKUP_BUCKET}/{mongodb.location.directory}"):  # fmt: skip
        assert fact in shown.stdout
    unpacked = deployment.dr("unpack", mongodb.location.directory, str(tmp_path / "dump"))
    assert unpacked.returncode == 0, unpacked.stderr
    assert (tmp_path / "dump" / "eyewear_ml" / "people.bson").is_file()


def test_expected_failures_are_one_line_with_their_exit_code(
    deployment: Deployment, tmp_path: Path
) -> None:
    cases = [
        (deployment.dr("show", "20200101T000000Z-00000000"), 66, "no backup"),
        (deployment.dr("show", "yesterday"), 64, "is not a run id"),
        (deployment.dr("verify", "--latest", "gcs", "--sample", "200%"), 64, "percentage"),
        (deployment.dr("verify", "20200101T000000Z-00000000"), 66, "no backup"),
        (deployment.dr("status", "12345"), 66, "is recorded (gs://"),
        (deployment.dr("status", "12345"), 66, "did you mean msg-12345?"),
        (deployment.dr("status", "no-such-request"), 66, "no restore request 'no-such-request'"),
        (deployment.dr("--env", "staging", "info"), 66, "no environment 'staging' in "),
        (deployment.dr("--project", "no-such-project", "backup", "gcs"), 78, "wrong project"),
        (run_dr(("info",), tmp_path, {}), 78, "no local stack is up here"),
    ]
    stopped = tmp_path / "stopped"  # a stack that was killed and left its env.sh behind
    envfile.write(stopped / ".devstack", deployment.platform.settings)
    (stopped / ".devstack" / "stack.pid").write_text(f"{_dead_pid()}\n")
    cases.append((run_dr(("backups",), stopped, {}), 78, "no local stack is up here"))
    for done, code, words in cases:
        assert (done.returncode, done.stdout) == (code, ""), done.stderr
        assert done.stderr.startswith("error: ")
        assert words in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_named_environment_from_terraform_outputs(deployment: Deployment) -> None:
    outputs = deployment.home / "outputs.json"
    module = {
        "backup_bucket": "eyewearml-prod-backups",
        "state_bucket": "eyewearml-prod-dr-state",
        "mongodb_job": "projects/eyewearml-prod/locations/us-central1/jobs/dr-mongodb",
        "secrets": {"encryption_key": "projects/eyewearml-prod/secrets/dr-encryption-key"},
        "topics": {"dr-restore": "projects/eyewearml-prod/topics/dr-restore"},
    }
    outputs.write_text(json.dumps({"disaster_recovery": {"sensitive": False, "value": module}}))
    done = deployment.dr("configure", "--from-terraform", "infra/environments/prod",
                         "--outputs", str(outputs))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dr --env prod info" in done.stdout
    stored = json.loads(
        (deployment.home / "config/eyewearml-dr/environments/prod.json").read_text()
    )
    assert stored["GCS_BACKUP_BUCKET"] == "eyewearml-prod-backups"
    assert stored["GOOGLE_CLOUD_PROJECT"] == "eyewearml-prod"
    # A real project: the local stack is ignored, and without credentials that is one line.
    real = deployment.dr("--env", "prod", "backups", GOOGLE_APPLICATION_CREDENTIALS="/nonexistent")
    assert real.returncode in (69, 77), real.stderr
    assert "Traceback" not in real.stderr
    assert real.stderr.count("\n") == 1
    missing = deployment.dr("--env", "staging", "info")
    assert missing.returncode == 66
    assert "dr configure --from-terraform" in missing.stderr


def test_a_scripted_restore_and_the_list_of_restores(deployment: Deployment) -> None:
    done = deployment.dr("restore", "gcs", "--source-bucket", "eyewearml-assets", "--test-mode",
                         "--yes", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["phase"], record["result"]["verified"]) == ("Completed", True)
    assert "Completed" in done.stderr  # the phase lines
    request_id = record["request_id"]
    listed = deployment.dr("restores")
    line = next(line for line in listed.stdout.splitlines() if line.startswith(request_id))
    assert "gcs test" in line
    assert deployment.backups["gcs"].backup_id in line
    assert "gs://eyewearml-assets" in line  # where it was restored to (a scratch bucket)
    shown = deployment.dr("status", request_id)
    assert shown.returncode == 0
    assert "eyewearml-assets-drtest" in shown.stdout
    assert "verified" in shown.stdout
    raw = json.loads(deployment.dr("status", request_id, "--json").stdout)
    assert raw["request"]["source_bucket"] == "eyewearml-assets"


def test_retention_dry_run_and_unlock(deployment: Deployment) -> None:
    from shared import storage
    from shared.clients import storage_client
    from shared.restore.lock import lock_path

    decisions = json.loads(deployment.dr("retention", "--dry-run", "--json").stdout)
    assert {(d["target"], d["action"]) for d in decisions} == {
        ("mongodb", "keep"),
        ("firestore", "keep"),
        ("gcs", "keep"),
    }
    reasons = {d["target"]: d["reason"] for d in decisions}
    assert (reasons["gcs"], reasons["firestore"]) == ("within 90d", "within 30d")
    assert reasons["mongodb"].startswith("daily")  # RETENTION_DAILY keeps it
    state = storage_client().bucket(eyewear.STATE_BUCKET)
    now = datetime.now(UTC)
    for request_id, expires, force, code in (
        ("crashed-job", now - timedelta(minutes=1), False, 0),
        ("busy-job", now + timedelta(hours=1), False, 75),
        ("busy-job", now + timedelta(hours=1), True, 0),
    ):
        if storage.read_json(state, lock_path("gcs")) is None:
            storage.create_json(state, lock_path("gcs"), {"request_id": request_id,
                                "acquired": now.isoformat(), "expires": expires.isoformat()})  # fmt: skip
        done = deployment.dr("unlock", "gcs", *(["--force"] if force else []))
        assert done.returncode == code, done.stderr
        assert f"locked by request {request_id}" in done.stdout
    assert storage.read_json(state, lock_path("gcs")) is None
    assert deployment.dr("unlock", "gcs").stdout == "gcs: no restore lock is held\n"


def test_prune_removes_what_retention_marks_and_nothing_else(deployment: Deployment) -> None:
    from shared.clients import storage_client

    backups = storage_client().bucket(eyewear.BACKUP_BUCKET)
    killed = "firestore/daily/2025-03-01/20250301T010000Z-0badc0de/export/output-0"
    backups.blob(killed).upload_from_string(b"half an export")  # a run killed long ago
    decisions = json.loads(deployment.dr("retention", "firestore", "--json").stdout)
    assert [(d["run_id"], d["action"]) for d in decisions if d["action"] == "remove"] == [
        ("20250301T010000Z-0badc0de", "remove")
    ]
    done = deployment.dr("prune", "firestore", "--yes")
    assert (done.returncode, done.stdout) == (0, "firestore: removed 1 run(s)\n"), done.stderr
    assert backups.get_blob(killed) is None
    assert deployment.dr("info").returncode == 0  # the backups themselves are all still there


def test_prune_of_cloud_storage_removes_the_run_then_sweeps_its_copies(
    deployment: Deployment,
) -> None:
    """Through the one retention path, whose Cloud Storage clean-up sweeps unreferenced copies."""
    from shared.clients import storage_client

    backups = storage_client().bucket(eyewear.BACKUP_BUCKET)
    killed = "gcs/daily/2025-03-01/20250301T030000Z-0badc0de/todo/eyewearml-assets/000000.json"
    backups.blob(killed).upload_from_string(b"[]")  # a run killed while listing, long ago
    done = deployment.dr("prune", "gcs", "--yes")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"gcs: removed 1 run\(s\), \d+ unreferenced copies\n", done.stdout)
    assert backups.get_blob(killed) is None
    kept = deployment.dr("verify", deployment.backups["gcs"].backup_id)
    assert kept.returncode == 0, kept.stdout + kept.stderr  # the kept snapshot is whole


@pytest.mark.parametrize("target", ["mongodb", "gcs"])
def test_backup_wait_names_the_run_and_follows_it(deployment: Deployment, target: str) -> None:
    done = deployment.dr("backup", target, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    assert f"run id {run['id']}" in done.stderr
    if target == "mongodb":  # named after the message: known before it starts
        assert run["counts"]["eyewear_ml.people"] == 200
        assert f"run *-{run['id'].rsplit('-', 1)[1]}" in done.stderr
    else:
        assert run["counts"]["objects"] == 3 * 20


FLIPS = {  # target => (object of its newest backup to damage, words of the distinct error)
    "mongodb": ("dump.tar.zst.ewdr", "TamperedDataError"),
    "gcs": ("copy", "differs from the snapshot"),
    "firestore": ("export file", "checksum mismatch in the record"),
}


@pytest.mark.parametrize("target", FLIPS)
def test_verify_catches_one_flipped_byte(deployment: Deployment, target: str) -> None:
    from shared.clients import storage_client

    entry = next(e for e in deployment.platform.backups(target) if e.ok)  # the newest
    clean = deployment.dr("verify", entry.backup_id, "--read-data")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "OK: matches its manifest" in clean.stdout
    bucket = storage_client().bucket(eyewear.BACKUP_BUCKET)
    name = _victim(bucket, entry)
    original = bucket.blob(name).download_as_bytes(raw_download=True)
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    bucket.blob(name).upload_from_string(bytes(damaged))
    try:
        done = deployment.dr("verify", entry.backup_id)
    finally:
        bucket.blob(name).upload_from_string(original)
    assert done.returncode == 65, done.stdout + done.stderr
    words = " ".join(done.stdout.split())  # the table folds long cells
    assert "DAMAGED" in words
    assert FLIPS[target][1] in words, words
    assert "Traceback" not in done.stderr


def _victim(bucket: Any, entry: Any) -> str:
    """The object to damage: the archive, a copied object, an export data file."""
    target = entry.location.target
    if target == "mongodb":
        return str(entry.location.path("dump.tar.zst.ewdr"))
    if target == "gcs":
        from shared.gcs.reader import read_snapshot

        entries = list(read_snapshot(bucket, entry.manifest.artifacts[0]))
        return max(entries, key=lambda e: e.size).copy
    data = [a for a in entry.manifest.artifacts if "output-" in a.path]
    return str(entry.location.path(max(data, key=lambda a: a.size).path))


def spawn_dr(deployment: Deployment, *args: str) -> Any:
    """``dr`` on a pseudo-terminal, as an operator's shell runs it."""
    import pexpect

    env = {"PATH": os.environ["PATH"], "HOME": str(deployment.home), "TERM": "xterm",
           "PYTHONPATH": str(REPO_ROOT), "XDG_CONFIG_HOME": str(deployment.home / "config")}  # fmt: skip
    return pexpect.spawn(sys.executable, ["-m", "shared.console.main", *args],
                         cwd=deployment.home, env=env, encoding="utf-8", timeout=120,
                         dimensions=(50, 120))  # fmt: skip


TEST_RESTORES = {
    "gcs": ("--source-bucket", "eyewearml-assets"),
    "firestore": ("--date", "TODAY"),
    "mongodb": ("--date", "TODAY", "--type", "daily"),
}


@pytest.mark.parametrize("target", TEST_RESTORES)
def test_on_a_terminal_restore_shows_the_plan_asks_and_draws_progress(
    deployment: Deployment, target: str
) -> None:
    import pexpect

    today = datetime.now(UTC).date().isoformat()
    flags = [today if flag == "TODAY" else flag for flag in TEST_RESTORES[target]]
    child = spawn_dr(deployment, "restore", target, *flags, "--test-mode")
    child.expect("Run this restore\\? \\[y/N\\]")
    assert "plan" in child.before
    assert re.search(r"\d{8}T\d{6}Z-[0-9a-f]{8}", child.before)  # the backup it would restore
    child.sendline("y")
    child.expect("━")  # the progress bar
    child.expect("0:00:0\\d")  # its elapsed time
    child.expect("Completed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert re.search(r"verified\s+True", child.before)


def test_on_a_terminal_ctrl_c_detaches_and_a_timeout_says_how_to_follow_again(
    deployment: Deployment,
) -> None:
    import pexpect

    from shared.clients import storage_client
    from shared.restore.status import StatusStore

    store = StatusStore(storage_client().bucket(eyewear.STATE_BUCKET))
    store.create("drill-stuck", {"target": "mongodb"}, "m-1")  # a request nobody will finish
    store.set_phase("drill-stuck", "InProgress")
    child = spawn_dr(deployment, "status", "drill-stuck", "--follow")
    child.expect("━")  # following it
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    follow_again = "the restore goes on. Follow it again with: dr status drill-stuck --follow"
    assert follow_again in child.before, child.before
    assert child.exitstatus == 130
    done = deployment.dr("status", "drill-stuck", "--follow", "--timeout", "1")
    assert done.returncode == 75
    assert "still running after 1 s" in done.stderr


def test_on_a_terminal_a_refused_overwrite_asks_for_the_exact_name(deployment: Deployment) -> None:
    import pexpect

    today = datetime.now(UTC).date().isoformat()
    child = spawn_dr(deployment, "restore", "mongodb", "--date", today, "--type", "daily")
    child.expect("Run this restore\\? \\[y/N\\]")
    child.sendline("y")
    child.expect("Refused")
    child.expect(f"Type {eyewear.DB_NAME} to confirm")
    child.sendline("not-the-name")  # nothing further is sent
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "stopped: nothing further was requested" in child.before
