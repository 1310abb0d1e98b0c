"""What the job's commands do, between the command line and the library.

Each loads settings at call time (``--config``/``DR_CONFIG_FILE``, then the
environment, as the old scripts did) into frozen settings, runs one library
function, and ends the run the product's way, with exactly one notification:
a backup through :func:`shared.backup_end.end_backup`
(:func:`shared.mongodb.backup.run_backup`), a restore started by the
dispatcher through :mod:`shared.restore.lifecycle`, which ends its status
record, and a restore run by hand with the same report
(:func:`shared.reporting.restore_report`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared import clients, config, logs, reporting, storage
from shared.clock import Clock
from shared.errors import DRError, IntegrityError, RequestError
from shared.keys import FileKeyring, keyring_for
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.mongodb import backup, jobenv, plan, verify
from shared.mongodb.archive import unpack
from shared.mongodb.pipeline import (
    ARCHIVE_NAME,
    archive_object,
    open_archive,
    open_backup,
    open_stored,
)
from shared.mongodb.request import TARGET, MongoRestoreRequest
from shared.mongodb.restore import restore
from shared.mongodb.target import run_end
from shared.restore import ending, lifecycle
from shared.restore.status import StatusStore
from shared.settings_source import Sources
from shared.target import LogProgress, Progress

log = logging.getLogger(__name__)


def _sources(config_file: str | None, environ: Mapping[str, str]) -> Sources:
    return config.sources(config_file=config_file, environ=environ, secrets=clients.secret_access())


def backup_command(
    *,
    config_file: str | None,
    tier: str,
    run_id: str | None,
    dry_run: bool,
    environ: Mapping[str, str],
    clock: Clock,
) -> int:
    settings = config.mongodb_settings(_sources(config_file, environ))
    if tier == "hourly" and not settings.retention.enable_hourly:
        log.info("hourly MongoDB backups are off (ENABLE_HOURLY is false): nothing to do")
        return 0
    if dry_run:
        for line in backup.plan(settings):
            log.info("would dump %s", line)
        return 0
    if run_id is None or int(environ.get(jobenv.TASK_ATTEMPT) or 0) > 0:
        run_id = new_run_id(clock())  # a retried execution is a new run
    with logs.run_context(run_id=run_id):
        return _backup(settings, RunLocation(settings.prefix, TARGET, tier, run_id), clock)


def _backup(settings: config.MongoSettings, location: RunLocation, clock: Clock) -> int:
    bucket = clients.storage_client().bucket(settings.bucket)
    if storage.read_json(bucket, location.manifest_path) is not None:
        log.info(
            "run %s is already committed (a redelivered trigger): nothing to do", location.run_id
        )
        return 0
    end = run_end(settings, bucket, clock, secrets=[settings.uri])
    try:
        keyring = keyring_for(settings.encryption, clients.secret_access())
    except DRError as exc:  # no usable key: the run ends before it dumps anything
        backup.end_failed(settings, location, end, clock(), exc)
        raise
    backup.run_backup(settings, location, end=end, keyring=keyring)
    return 0


def restore_command(
    *,
    config_file: str | None,
    request: MongoRestoreRequest,
    request_id: str | None,
    environ: Mapping[str, str],
    clock: Clock,
) -> int:
    src = _sources(config_file, environ)
    settings = config.mongodb_settings(src)
    store = None
    progress: Progress = LogProgress()
    if request_id:
        state = config.restore_settings(src).state_bucket
        store = StatusStore(clients.storage_client().bucket(state), clock)
        progress = store.progress(request_id)
    started = clock()
    token = (request_id or secrets.token_hex(4)).replace(".", "_")[:20]
    try:
        keyring = keyring_for(settings.encryption, clients.secret_access())
        bucket = clients.storage_client().bucket(settings.bucket)
        outcome = restore(
            settings, request, bucket=bucket, keyring=keyring, progress=progress, token=token
        )
    except Exception as exc:  # every ending is recorded and reported, also the unplanned ones
        if store is not None and request_id:
            lifecycle.end_with_error(store, request_id, TARGET, exc, settings.notify)
        else:
            phase = ending.phase_of_error(exc)
            error = f"{type(exc).__name__}: {exc}"
            code = ending.error_exit_code(exc)
            report = reporting.restore_report(
                TARGET, phase, code, token, (started, clock()), None, error
            )
            reporting.send(settings.notify, report, [settings.uri])
        raise
    log.info("restore ended", extra={"fields": {"outcome": outcome.to_json()}})
    phase, code = ending.phase_of_outcome(outcome), ending.outcome_exit_code(outcome)
    if store is not None and request_id:
        lifecycle.end(store, request_id, TARGET, outcome, settings.notify)
    else:
        report = reporting.restore_report(
            TARGET, phase, code, token, (started, clock()), outcome, None
        )
        reporting.send(settings.notify, report, [settings.uri])
    return code


def end_request(
    config_file: str | None,
    request_id: str,
    error: BaseException,
    environ: Mapping[str, str],
    clock: Clock,
) -> None:
    """End a dispatcher's request that failed before its restore began (bad settings, body).

    A restore that began ends its record itself; this one would otherwise
    stay InProgress for as long as anyone looks.
    """
    restore_settings = config.restore_settings(_sources(config_file, environ))
    store = StatusStore(clients.storage_client().bucket(restore_settings.state_bucket), clock)
    record = store.get(request_id)
    if record is not None and not record.final:
        lifecycle.end_with_error(store, request_id, TARGET, error, restore_settings.notify)


def verify_command(
    *, config_file: str | None, request: MongoRestoreRequest, environ: Mapping[str, str]
) -> int:
    """Check a backup's archive against its manifest, end to end, writing nothing."""
    src = _sources(config_file, environ)
    location, encryption = config.mongodb_location(src), config.encryption_settings(src)
    bucket = clients.storage_client().bucket(location.bucket)
    manifest = plan.resolve(bucket, location.prefix, request)
    keyring = keyring_for(encryption, clients.secret_access())
    name = archive_object(manifest)
    stream = open_backup(bucket, manifest, None, keyring, encryption.key_files)
    specs = verify.verify_archive(stream, manifest, name)
    log.info("gs://%s/%s matches its manifest (%d namespaces)", bucket.name, name, len(specs))
    return 0


def unpack_command(
    *,
    source: str,
    directory: Path,
    key_files: list[str],
    config_file: str | None,
    environ: Mapping[str, str],
) -> int:
    """Decrypt, decompress and unpack an archive into mongodump's directory layout."""
    if key_files:
        keyring: Any = FileKeyring(key_files)
        passphrase_files = tuple(key_files)
    else:
        encryption = config.encryption_settings(_sources(config_file, environ))
        keyring = keyring_for(encryption, clients.secret_access())
        passphrase_files = encryption.key_files
    with contextlib.ExitStack() as stack:
        manifest: Manifest | None = None
        if source.startswith("gs://"):
            bucket_name, _, path = source[5:].partition("/")
            bucket = clients.storage_client().bucket(bucket_name)
            run_directory = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"
            found = storage.read_json(bucket, run_directory + "manifest.json")
            if found is not None:
                manifest = Manifest.from_json(found[0], source)
                stream = open_backup(bucket, manifest, None, keyring, passphrase_files)
            else:
                stream = open_stored(bucket, run_directory + ARCHIVE_NAME, None, keyring)
        elif os.path.isfile(source):
            stream = open_archive(stack.enter_context(Path(source).open("rb")), keyring)
        else:
            raise RequestError(f"{source} is neither a file nor a gs:// path")
        files = unpack(stream.plaintext, directory, source)
    if manifest is not None:
        stream.check_stored(manifest.artifacts[0], source)
        expected = manifest.details.get("files") or {}
        wrong = sorted(set(expected) ^ set(files)) + sorted(
            path
            for path in set(expected) & set(files)
            if (files[path].size, files[path].sha256)
            != (expected[path]["size"], expected[path]["sha256"])
        )
        if wrong:
            raise IntegrityError(f"{source}: unpacked files differ from the manifest: {wrong[:10]}")
    log.info("unpacked %d files into %s", len(files), directory)
    return 0
