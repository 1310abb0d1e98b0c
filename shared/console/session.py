"""What every command needs: the settings, the buckets, the catalog, and backup ids resolved.

One :class:`Session` per invocation, built after the environment was applied
(:mod:`shared.console.environment`). Settings are read through
:mod:`shared.config` once, when first needed; the buckets come from the same
keys the functions and the job use, so ``dr`` looks exactly where they write.

A backup's id is its run id (``20250325T010203Z-1a2b3c4d``). Every command
that takes a backup also accepts its run directory (``mongodb/daily/2025-03-25/<run id>``)
or a ``gs://`` URL of the run or of any object in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from shared import config
from shared.errors import BackupNotFound, ConfigError, RequestError
from shared.manifest import TARGETS, TIERS, RunLocation, run_started, slot_for
from shared.settings_source import Sources

if TYPE_CHECKING:
    from google.cloud.storage import Bucket, Client

    from shared.catalog import Catalog, CatalogEntry
    from shared.console.environment import Environment
    from shared.restore.status import StatusStore

T = TypeVar("T")
TOPICS = {"restore": "dr-restore"} | {target: f"dr-{target}-backup" for target in TARGETS}


@dataclass
class Session:
    """One command's view of the deployment; ``environment`` says where it points."""

    environment: Environment
    project_flag: str | None = None
    config_file: str | None = None
    _catalogs: dict[str, Catalog] = field(default_factory=dict)

    @cached_property
    def sources(self) -> Sources:
        from shared import clients

        return config.sources(config_file=self.config_file, secrets=clients.secret_access())

    @cached_property
    def settings(self) -> config.ConsoleSettings:
        return self._labelled(lambda: config.console_settings(self.sources))

    @property
    def project(self) -> str:
        project = self.project_flag or config.project(config.process_environment())
        if not project:
            raise ConfigError(
                f"no Google Cloud project ({self.environment.label}): pass --project, "
                "--env NAME, or set GOOGLE_CLOUD_PROJECT"
            )
        return project

    @cached_property
    def storage(self) -> Client:
        from shared.clients import storage_client

        return storage_client(self.project_flag or config.project(config.process_environment()))

    def _labelled(self, read: Callable[[], T]) -> T:
        """``read()``, or its :class:`ConfigError` saying where ``dr`` looked."""
        try:
            return read()
        except ConfigError as exc:
            raise ConfigError(f"{exc} ({self.environment.label}){_hint(self)}") from None

    def configured(self, target: str) -> bool:
        return target in self.settings.locations

    def targets(self, only: str | None = None) -> list[str]:
        """``only``, or every target whose backup bucket is configured."""
        if only is not None:
            return [only]
        found = [target for target in TARGETS if self.configured(target)]
        if not found:
            raise ConfigError(
                f"no backup bucket is configured ({self.environment.label}){_hint(self)}"
            )
        return found

    def catalog(self, target: str) -> Catalog:
        if target not in self._catalogs:
            from shared.catalog import Catalog

            location = self._labelled(lambda: self.settings.location(target))
            bucket = self.storage.bucket(location.bucket)
            self._catalogs[target] = Catalog(bucket, target, location.prefix)
        return self._catalogs[target]

    def state_bucket(self) -> Bucket:
        return self.storage.bucket(self._labelled(self.settings.require_state_bucket))

    def status_store(self) -> StatusStore:
        from shared.restore.status import StatusStore

        return StatusStore(self.state_bucket())

    def publish(self, topic: str, body: dict[str, Any]) -> str:
        """Publish ``body`` as JSON to one of :data:`TOPICS`; the message id."""
        from google.api_core import exceptions

        from shared.clients import publisher_client

        publisher = publisher_client()
        path = publisher.topic_path(self.project, TOPICS[topic])
        data = json.dumps(body).encode("utf-8")
        try:
            return str(publisher.publish(path, data).result(timeout=60))
        except exceptions.NotFound:
            raise ConfigError(
                f"topic {path} does not exist: wrong project or environment? "
                f"({self.environment.label})"
            ) from None

    def find(self, reference: str, target: str | None = None) -> CatalogEntry:
        """The catalog entry a backup id, run directory or ``gs://`` URL names."""
        location = parse_reference(reference)
        if location is not None:
            candidates = [(location.target, location.tier, location.run_id)]
        else:
            run_started(reference)  # a RequestError naming the expected form
            candidates = [
                (name, tier, reference) for name in self.targets(target) for tier in TIERS
            ]
        for name, tier, run_id in candidates:
            if target is not None and name != target:
                continue
            if location is None and not self.configured(name):
                continue
            slot = slot_for(tier, run_started(run_id))
            for entry in self.catalog(name).entries(tier, slot):
                if entry.backup_id == run_id:
                    return entry
        raise BackupNotFound(
            f"no backup {reference!r} ({self.environment.label}); `dr backups --all` lists them"
        )

    def latest(self, target: str) -> CatalogEntry:
        catalog = self.catalog(target)
        backups = catalog.backups()
        if not backups:
            where = f"gs://{catalog.bucket.name}/{catalog.prefix}{target}/"
            raise BackupNotFound(f"there is no complete {target} backup in {where} yet")
        return backups[0]


def parse_reference(reference: str) -> RunLocation | None:
    """A run directory or ``gs://`` URL as a location; ``None`` for a bare run id."""
    path = reference
    if path.startswith("gs://"):
        path = path[5:].partition("/")[2]
    if "/" not in path.strip("/"):
        return None
    location = RunLocation.parse(path.rstrip("/") + "/")
    if location is None:
        raise RequestError(
            f"{reference!r} is not a backup: expected a run id (20250325T010203Z-1a2b3c4d), "
            "a run directory TARGET/TIER/DATE/RUN-ID or a gs:// URL of one"
        )
    return location


def manifest_url(entry: CatalogEntry, bucket: str) -> str:
    return f"gs://{bucket}/{entry.location.manifest_path}"


def _hint(session: Session) -> str:
    if session.environment.values:
        return ""
    return (
        "; no local stack is up here (`nox -s stack` starts one) and no --env was given "
        "(`dr configure --from-terraform infra/environments/ENV` stores one)"
    )
