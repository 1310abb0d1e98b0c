"""The ``objects`` target's backup and restore: the two protocols of :mod:`shared.target`.

A backup copies every object under ``source_prefix`` into the run's
directory (``objects/<name below the prefix>``), one artifact each, and ends
through :func:`shared.backup_end.end_backup` (a failed copy ends it as a
failed manifest). A restore copies a backup's objects back, server side,
to the source prefix, another prefix, or (test mode) a scratch prefix it
deletes once every copy has been checked against the manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import clients, storage
from shared.backup_end import RunEnd, end_backup
from shared.catalog import Catalog, CatalogEntry
from shared.clock import Clock, utc_now
from shared.config import NotifySettings, TierRetention
from shared.errors import ConflictError, DRError, IntegrityError, RefusedError
from shared.manifest import Artifact, Manifest, RunLocation
from shared.notify import Notifier
from shared.target import Progress, RestoreOutcome
from tests.contract.objects import TARGET
from tests.contract.objects.request import SCRATCH, ObjectsRestoreRequest

if TYPE_CHECKING:
    from google.cloud.storage import Blob

BACKED_UP = "objects/"  # where a run keeps the copies, below its directory


@dataclass(frozen=True)
class ObjectsSettings:
    """What the target needs, read once (the product's targets get theirs from ``config``)."""

    source_bucket: str
    source_prefix: str
    backup_bucket: str
    retention: TierRetention
    notify: NotifySettings


class _Buckets:
    """The source and backup buckets, and a listing of the source."""

    def __init__(self, settings: ObjectsSettings, clock: Clock = utc_now) -> None:
        self.settings, self.clock = settings, clock
        self.client = clients.storage_client()
        self.source = self.client.bucket(settings.source_bucket)
        self.backup = self.client.bucket(settings.backup_bucket)

    def listing(self, prefix: str) -> list[Blob]:
        with storage.translate_errors(f"listing gs://{self.source.name}/{prefix}"):
            return list(
                self.client.list_blobs(self.source, prefix=prefix, retry=storage.retry_policy())
            )


class ObjectsBackupTarget(_Buckets):
    """:class:`shared.target.BackupTarget` for one source prefix."""

    name = TARGET

    def plan(self, tier: str) -> list[str]:
        return [f"gs://{b.bucket.name}/{b.name} ({b.size} bytes)" for b in self._sources()]

    def start(self, location: RunLocation) -> Manifest:
        stored = storage.read_json(self.backup, location.manifest_path)
        if stored is not None:  # a redelivered trigger: its run has ended
            return Manifest.from_json(stored[0], location.manifest_path)
        started = self.clock()
        source = {"bucket": self.source.name, "prefix": self.settings.source_prefix}
        try:
            artifacts = tuple(self._copy(blob, location) for blob in self._sources())
        except DRError as exc:
            error = f"{type(exc).__name__}: {exc}"
            failed = Manifest(location, "failed", started, self.clock(), source, error=error)
            return end_backup(self.run_end(), failed)
        counts = {"objects": len(artifacts)}
        manifest = Manifest(location, "succeeded", started, self.clock(), source, artifacts, counts)
        return end_backup(self.run_end(), manifest)

    def run_end(self) -> RunEnd:
        notifier = Notifier(self.settings.notify)
        return RunEnd(self.backup, TARGET, "", self.settings.retention, notifier, self.clock)

    def _sources(self) -> list[Blob]:
        return self.listing(self.settings.source_prefix)

    def _copy(self, blob: Blob, location: RunLocation) -> Artifact:
        """Copy one object into the run; a copy already there (a resumed run) must be the same."""
        with storage.translate_errors(f"gs://{blob.bucket.name}/{blob.name}"):
            data = blob.download_as_bytes(retry=storage.retry_policy())
        sums = storage.Checksums()
        sums.update(data)
        relative = BACKED_UP + blob.name.removeprefix(self.settings.source_prefix)
        copy = self.backup.blob(location.path(relative))
        where = f"gs://{self.backup.name}/{copy.name}"
        try:
            with storage.translate_errors(where):
                copy.upload_from_string(data, if_generation_match=0, retry=storage.retry_policy())
        except ConflictError:
            with storage.translate_errors(where):
                copy.reload(retry=storage.retry_policy())
            if copy.crc32c != sums.crc32c:
                raise IntegrityError(f"{where} exists with other contents") from None
        return Artifact(relative, sums.size, sums.sha256, sums.crc32c)


class ObjectsRestoreTarget(_Buckets):
    """:class:`shared.target.RestoreTarget` over the backups of one source prefix."""

    def resolve(self, request: ObjectsRestoreRequest) -> str:
        return f"gs://{self.backup.name}/{self._backup(request).location.manifest_path}"

    def production_name(self, request: ObjectsRestoreRequest) -> str | None:
        """The source prefix, or any prefix that holds objects; never a test mode's scratch."""
        if request.test_mode:
            return None
        prefix = self._destination(request, "")
        if prefix == self.settings.source_prefix or self.listing(prefix):
            return f"gs://{self.source.name}/{prefix}"
        return None

    def plan(self, request: ObjectsRestoreRequest) -> RestoreOutcome:
        entry = self._backup(request)
        prefix = self._destination(request, "<request id>")
        names = [prefix + path for path in self._paths(entry)]
        existing = {blob.name for blob in self.listing(prefix)}
        overwritten = sum(name in existing for name in names)
        return RestoreOutcome(
            target=TARGET,
            mode="plan",
            backup=self.resolve(request),
            destination=f"gs://{self.source.name}/{prefix}",
            verified=None,
            counts={"written": len(names) - overwritten, "overwritten": overwritten},
            plan=tuple(f"gs://{self.source.name}/{name}" for name in names),
        )

    def start(
        self, request: ObjectsRestoreRequest, request_id: str, progress: Progress
    ) -> RestoreOutcome:
        """Copy, verify every copy's CRC32C against the manifest, then drop a test's scratch."""
        production = self.production_name(request)
        if production is not None and request.confirm != production:
            raise RefusedError(f"{production} holds data: confirm it to overwrite", production)
        entry = self._backup(request)
        assert entry.manifest is not None  # resolve returns committed backups only
        prefix = self._destination(request, request_id)
        copies = [self._restore_one(entry.location, a, prefix) for a in entry.manifest.artifacts]
        progress.phase("Verifying", objects=len(copies))
        verified = all(self._matches(name, a.crc32c) for name, a in copies)
        if request.test_mode:
            self._delete(name for name, _ in copies)
        return RestoreOutcome(
            target=TARGET,
            mode="test" if request.test_mode else "restore",
            backup=f"gs://{self.backup.name}/{entry.location.manifest_path}",
            destination=f"gs://{self.source.name}/{prefix}",
            verified=verified,
            counts={"objects": len(copies)},
        )

    def _backup(self, request: ObjectsRestoreRequest) -> CatalogEntry:
        return Catalog(self.backup, TARGET).resolve(request.day, request.tier)

    def _destination(self, request: ObjectsRestoreRequest, request_id: str) -> str:
        if request.test_mode:
            return f"{SCRATCH}{request_id}/"
        return request.target_prefix or self.settings.source_prefix

    @staticmethod
    def _paths(entry: CatalogEntry) -> list[str]:
        manifest = entry.manifest
        assert manifest is not None
        return [artifact.path.removeprefix(BACKED_UP) for artifact in manifest.artifacts]

    def _restore_one(
        self, location: RunLocation, artifact: Artifact, prefix: str
    ) -> tuple[str, Artifact]:
        name = prefix + artifact.path.removeprefix(BACKED_UP)
        copy = self.backup.blob(location.path(artifact.path))
        with storage.translate_errors(f"gs://{self.backup.name}/{copy.name}"):
            self.backup.copy_blob(copy, self.source, name, retry=storage.retry_policy())
        return name, artifact

    def _matches(self, name: str, crc32c: str) -> bool:
        with storage.translate_errors(f"gs://{self.source.name}/{name}"):
            blob: Any = self.source.get_blob(name, retry=storage.retry_policy())
        return blob is not None and blob.crc32c == crc32c

    def _delete(self, names: Iterable[str]) -> None:
        for name in names:
            storage.delete(self.source, name)
