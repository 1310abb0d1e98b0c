"""Old and new backups of one target side by side, one row per day (``dr compare``).

While both systems run, an operator checks each day that the new system has
a good backup wherever the old scripts made one. The old side is whatever
lies under the old scripts' location (a local ``MONGODB_BACKUP_DIR`` or a
``gs://`` folder), grouped by the date in each path; the new side is the
catalog, where imported backups are marked as such. :func:`rows` is pure:
listing is the caller's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from shared import storage
from shared.catalog import CatalogEntry
from shared.errors import RequestError
from shared.legacy import dated

if TYPE_CHECKING:
    from google.cloud.storage import Client


@dataclass(frozen=True)
class Item:
    """One file or object of the old scripts' backups."""

    path: str
    size: int


@dataclass
class Day:
    day: date
    old_files: int = 0
    old_bytes: int = 0
    new: list[str] = field(default_factory=list)
    new_ok: int = 0
    imported: int = 0

    @property
    def verdict(self) -> str:
        if self.new_ok and self.old_files:
            return "both"
        if self.old_files:
            return "old only" + (" (new run failed or incomplete)" if self.new else "")
        return "new only" if self.new_ok else "no good backup"


def rows(old: Iterable[Item], new: Iterable[CatalogEntry]) -> list[Day]:
    """Days with any backup, newest first; old items without a date in their path are left out."""
    days: dict[date, Day] = {}
    for item in old:
        stamp = dated.stamp_in(item.path)
        if stamp is not None:
            day = days.setdefault(stamp.date(), Day(stamp.date()))
            day.old_files += 1
            day.old_bytes += item.size
    for entry in new:
        day = days.setdefault(entry.time.date(), Day(entry.time.date()))
        manifest = entry.manifest
        state = "incomplete" if manifest is None else manifest.status
        imported = manifest is not None and bool(manifest.details.get("imported"))
        day.new.append(f"{entry.location.tier} {state}" + (" (imported)" if imported else ""))
        day.new_ok += entry.ok
        day.imported += imported
    return sorted(days.values(), key=lambda d: d.day, reverse=True)


def list_old(location: str, client: Client | None) -> Iterator[Item]:
    """Files under a local directory, or objects under a ``gs://`` folder."""
    if location.startswith("gs://"):
        if client is None:
            raise RequestError("listing a gs:// location needs Cloud Storage")
        bucket, _, prefix = location[len("gs://") :].partition("/")
        with storage.translate_errors(f"listing {location}"):
            for blob in client.list_blobs(
                bucket, prefix=prefix, fields="items(name,size),nextPageToken"
            ):
                yield Item(blob.name, int(blob.size or 0))
        return
    root = Path(location)
    if not root.is_dir():
        raise RequestError(f"{location} is neither a directory nor a gs:// folder")
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            yield Item(str(path.relative_to(root)), path.stat().st_size)
