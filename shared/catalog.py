"""The catalog: which backups exist, and which one a restore request means.

Built from the bucket listing alone, so it needs no database of its own and is
exactly as current as the bucket. A run directory with a manifest is a backup
(``ok`` when its status is ``succeeded``); one without is *incomplete*: a run
still going, or one killed halfway. Incomplete runs are reported, never
offered for restore.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import BackupNotFound, IntegrityError, RequestError
from shared.manifest import TIERS, Manifest, RunLocation, slot_for

if TYPE_CHECKING:
    from google.cloud.storage import Bucket


@dataclass(frozen=True)
class CatalogEntry:
    """One run directory; satisfies :class:`shared.retention.Dated`."""

    location: RunLocation
    manifest: Manifest | None
    object_names: tuple[str, ...]

    @property
    def backup_id(self) -> str:
        return self.location.run_id

    @property
    def time(self) -> datetime:
        return self.location.started

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.manifest.ok

    def describe(self) -> str:
        state = "incomplete" if self.manifest is None else self.manifest.status
        where = self.location
        return f"{where.target}/{where.tier}/{where.slot}/{self.backup_id} ({state})"


class Catalog:
    """Backups of one target under one prefix of one bucket."""

    def __init__(self, bucket: Bucket, target: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.target = target
        self.prefix = prefix

    def entries(self, tier: str | None = None, slot: str | None = None) -> list[CatalogEntry]:
        """Every run (complete or not), newest first; narrowed to a tier and date folder."""
        listing = f"{self.prefix}{self.target}/"
        if tier is not None:
            listing += f"{tier}/"
            if slot is not None:
                listing += f"{slot}/"
        with storage.translate_errors(f"listing gs://{self.bucket.name}/{listing}"):
            names = [
                blob.name
                for blob in self.bucket.client.list_blobs(
                    self.bucket,
                    prefix=listing,
                    fields="items(name),nextPageToken",
                    retry=storage.retry_policy(),
                )
            ]
        runs: dict[RunLocation, list[str]] = {}
        for name in names:
            location = RunLocation.parse(name)
            if location is not None and location.prefix == self.prefix:
                runs.setdefault(location, []).append(name)
        entries = [
            CatalogEntry(location, self._manifest(location, members), tuple(sorted(members)))
            for location, members in runs.items()
        ]
        entries.sort(key=_newest_first_key, reverse=True)
        return entries

    def backups(self, tier: str | None = None, slot: str | None = None) -> list[CatalogEntry]:
        """Successful backups only, newest first."""
        return [entry for entry in self.entries(tier, slot) if entry.ok]

    def _manifest(self, location: RunLocation, members: Iterable[str]) -> Manifest | None:
        if location.manifest_path not in members:
            return None
        found = storage.read_json(self.bucket, location.manifest_path)
        if found is None:  # deleted between listing and reading
            return None
        where = f"gs://{self.bucket.name}/{location.manifest_path}"
        manifest = Manifest.from_json(found[0], where)
        if manifest.location != location:
            raise IntegrityError(f"{where}: manifest names run {manifest.location.directory}")
        return manifest

    def resolve(self, day: date | None, tier: str | None, hour: int | None = None) -> CatalogEntry:
        """The backup the guide's ``--date D [--type T] [--hour H]`` flags mean.

        The newest successful backup of that date (and hour) in that tier; with
        no tier, in any tier; with no date, the newest of all. ``hour`` implies
        the hourly tier, as in ``--date 2025-03-25 --hour 14 --type hourly``.
        """
        if hour is not None:
            if tier not in (None, "hourly"):
                raise RequestError(f"hour={hour} only applies to hourly backups, not {tier!r}")
            if not 0 <= hour <= 23:
                raise RequestError(f"hour={hour} is not an hour of the day (0-23)")
            tier = "hourly"
        if tier is not None and tier not in TIERS:
            raise RequestError(f"unknown backup type {tier!r}; expected one of {', '.join(TIERS)}")
        candidates = self._candidates(day, tier, hour)
        if candidates:
            return candidates[0]
        raise BackupNotFound(self._not_found(day, tier, hour))

    def _candidates(
        self, day: date | None, tier: str | None, hour: int | None
    ) -> list[CatalogEntry]:
        if day is None:
            return self.backups(tier)
        if tier is not None:
            when = datetime(day.year, day.month, day.day, hour or 0, tzinfo=UTC)
            slot = slot_for(tier, when)
            if tier == "hourly" and hour is None:
                return [e for e in self.backups("hourly") if e.location.slot.startswith(slot[:10])]
            return self.backups(tier, slot)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return [e for e in self.backups() if start <= e.time < start + timedelta(days=1)]

    def _not_found(self, day: date | None, tier: str | None, hour: int | None) -> str:
        wanted = " ".join(
            part
            for part in (
                tier or "any type",
                "backup",
                f"for {day.isoformat()}" if day else "",
                f"hour {hour:02d}" if hour is not None else "",
            )
            if part
        )
        available = self.backups(tier) or self.backups()
        near = ", ".join(f"{e.location.tier} {e.location.slot}" for e in available[:5])
        hint = f"; latest available: {near}" if near else "; there are no backups at all"
        return f"no complete {self.target} {wanted} in gs://{self.bucket.name}/{self.prefix}{hint}"

    def latest_at_or_before(self, when: datetime) -> CatalogEntry:
        """The newest successful backup started at or before ``when`` (point in time)."""
        for entry in self.backups():
            if entry.time <= when:
                return entry
        raise BackupNotFound(
            f"no complete {self.target} backup at or before {when.isoformat()} in "
            f"gs://{self.bucket.name}/{self.prefix}{self.target}/"
        )


def _newest_first_key(entry: CatalogEntry) -> tuple[datetime, datetime, str]:
    """Runs in start order; within one second (the run id's precision) by the manifest's time."""
    precise = entry.manifest.started if entry.manifest is not None else entry.time
    return entry.time, precise, entry.backup_id
