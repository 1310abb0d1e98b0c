"""Exact copies: every object property a writer can set is recorded, restored and verified.

What fake-gcs-server (1.54) keeps, found by experiment, and so what is shown
end to end here:

* kept on upload and listed: content type/encoding/language/disposition,
  cache control, custom time, custom metadata, storage class, object ACLs;
* a rewrite keeps the body's content fields, cache control and metadata
  (non-empty), but drops custom time and storage class; a PATCH sets custom
  time and ACLs and removes custom time with ``null``;
* not kept at all: temporary and event-based holds, the KMS key name;
* a property cannot be *removed* from an existing object except custom time
  (``null`` in a rewrite body or a PATCH is ignored, a metadata key patched
  to ``null`` becomes ``""``), while Cloud Storage removes it.

Where the emulator cannot hold a property, the tests read the requests the
product sends (through the recording proxy) and check that verification
names the property the emulator lost, which is what it would do on Cloud
Storage if a property did not come back.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.backup_end import commit
from shared.catalog import Catalog
from shared.dates import parse_version_date
from shared.gcs import object_restore, properties
from shared.gcs.backup import run_backup
from shared.gcs.bucket_restore import resolve_snapshot, restore_bucket
from shared.gcs.context import GcsContext
from shared.gcs.reader import read_snapshot
from shared.gcs.request import GcsRestoreRequest
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import Manifest, RunLocation, new_run_id
from tests.devstack.storage import unique_bucket_name
from tests.gcsfixtures import T0, Clock, buckets, make_settings
from tests.gcsproxy import StorageProxy, proxy

__all__ = ["buckets", "proxy"]  # fixtures, imported for use here

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
READER = ("user-auditor@example.com", "READER")


def put_full(bucket: Any, name: str, data: bytes, **metadata: str) -> None:
    """An object with every property the emulator keeps, plus an extra ACL entry."""
    blob = bucket.blob(name)
    blob.content_encoding = "identity"
    blob.content_language = "de"
    blob.content_disposition = 'attachment; filename="frame.bin"'
    blob.cache_control = "public, max-age=60"
    blob.custom_time = WHEN
    blob.metadata = metadata or {"owner": "vision", "stage": "prod"}
    blob.upload_from_string(data, content_type="image/png")
    blob.acl.user(READER[0].removeprefix("user-")).grant_read()
    blob.acl.save()


def props(client: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Every object's properties, as a snapshot records them, read with ACLs."""
    return {
        blob.name: properties.current(blob) for blob in client.list_blobs(bucket, projection="full")
    }


def test_every_property_round_trips_and_removed_ones_stay_removed(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Then the source drops properties without changing bytes, so the copy is reused.

    The re-uploaded object keeps its bytes (same size and checksums): the
    second snapshot reuses the first copy, which still carries the custom
    time and a metadata key the source no longer has. Restored, neither
    comes back.
    """
    source, backup = buckets
    put_full(source, "frames/a.bin", b"frame a")
    put_full(source, "frames/b.bin", b"frame b", owner="vision")
    source.blob("plain.bin").upload_from_string(b"no properties")
    settings = make_settings([source.name], backup.name)
    first_state = props(storage_client, source.name)
    assert first_state["frames/a.bin"]["custom_time"] == WHEN.isoformat()
    assert READER in first_state["frames/a.bin"]["acl"]
    clock = Clock(T0)
    assert run_backup(settings, clock=clock).ok

    dropped = source.blob("frames/a.bin")
    dropped.content_type = "image/png"
    dropped.content_encoding = "identity"
    dropped.content_language = "de"
    dropped.content_disposition = 'attachment; filename="frame.bin"'
    dropped.cache_control = "public, max-age=60"
    dropped.metadata = {"owner": "vision"}  # "stage" dropped; no custom time any more
    dropped.upload_from_string(b"frame a", content_type="image/png")
    second_state = props(storage_client, source.name)
    assert second_state["frames/a.bin"]["custom_time"] is None
    clock.now = T0 + timedelta(days=1)
    second = run_backup(settings, clock=clock)
    assert second.ok
    assert second.counts["reused"] == 3  # the re-uploaded object's bytes did not change

    for version_date, expected in ((T0.isoformat(), first_state), (None, second_state)):
        target = unique_bucket_name("exact")
        outcome = restore_bucket(
            settings,
            GcsRestoreRequest(
                source.name, version_date=parse_version_date(version_date), target_bucket=target
            ),
        )
        assert outcome.verified, outcome.notes
        assert props(storage_client, target) == expected  # property by property, ACLs too


def test_verification_fails_when_one_property_is_lost_or_added(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    put_full(source, "frames/a.bin", b"frame a")
    source.blob("plain.bin").upload_from_string(b"no cache control")
    settings = make_settings([source.name], backup.name)
    assert run_backup(settings).ok
    target = unique_bucket_name("exact")
    assert restore_bucket(settings, GcsRestoreRequest(source.name, target_bucket=target)).verified

    restored = storage_client.bucket(target)
    changed = restored.get_blob("frames/a.bin")
    changed.content_language = "fr"
    changed.patch()
    added = restored.get_blob("plain.bin")  # the snapshot says: no Cache-Control
    added.cache_control = "no-store"
    added.patch()
    with GcsContext(settings) as ctx:
        _, artifact = resolve_snapshot(ctx, source.name, None)
        entries = list(read_snapshot(ctx.backup_bucket(), artifact))
        extra, problems = object_restore.verify(ctx, target, entries)
    assert extra == 0
    assert problems == [
        "frames/a.bin: content_language differ from the snapshot",
        "plain.bin: cache_control differ from the snapshot",
    ]


def test_properties_the_emulator_drops_are_sent_and_checked(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    """Storage class, holds, KMS key, ACL and removals: what a restore asks Cloud Storage for.

    The entry says: Nearline, both holds, a customer-managed key, an ACL of
    one owner, and no Cache-Control or Content-Language while the backup
    copy carries both. The rewrite must carry the storage class and the key
    (without its version); one PATCH must set the holds and the ACL and
    remove the two properties. The emulator keeps only the ACL, so
    verification names exactly what it lost.
    """
    source, backup = buckets
    put_full(source, "frames/a.bin", b"frame a")
    settings = make_settings([source.name], backup.name)
    assert run_backup(settings).ok
    key = "projects/p/locations/eu/keyRings/dr/cryptoKeys/assets"
    owner = ("project-owners-123", "OWNER")
    with GcsContext(settings) as ctx:
        _, artifact = resolve_snapshot(ctx, source.name, None)
        [listed] = list(read_snapshot(ctx.backup_bucket(), artifact))
        assert listed.exact
        wanted = replace(
            listed,
            storage_class="NEARLINE",
            temporary_hold=True,
            event_based_hold=True,
            kms_key_name=f"{key}/cryptoKeyVersions/3",
            acl=(owner,),
            cache_control=None,
            content_language=None,
        )
        target = unique_bucket_name("exact")
        storage_client.create_bucket(target)
        changes = object_restore.diff([wanted], {})
        proxy.reset()
        assert object_restore.apply(ctx, target, changes, False, _Quiet()) == []
        _, problems = object_restore.verify(ctx, target, [wanted])

    [rewrite] = proxy.requests("objects.rewrite")
    assert rewrite.query["destinationKmsKeyName"] == [key]
    body = rewrite.json()
    assert body["storageClass"] == "NEARLINE"
    assert body["cacheControl"] is None
    assert body["contentLanguage"] is None
    assert body["metadata"] == dict(listed.metadata)
    [patch] = proxy.requests("objects.patch")
    assert patch.query["ifGenerationMatch"]
    assert patch.json() == {
        "temporaryHold": True,
        "eventBasedHold": True,
        "acl": [{"entity": owner[0], "role": owner[1]}],
        "cacheControl": None,
        "contentLanguage": None,
        "customTime": "2025-01-02T03:04:05.000000Z",  # the emulator's rewrite dropped it
    }
    assert problems == [
        "frames/a.bin: content_language, cache_control, storage_class, temporary_hold, "
        "event_based_hold, kms_key_name differ from the snapshot"
    ]


def test_entries_of_older_snapshots_restore_what_they_record(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """A line without the newer properties sets what it has and leaves the rest alone."""
    source, backup = buckets
    put_full(source, "frames/a.bin", b"frame a")
    settings = make_settings([source.name], backup.name)
    assert run_backup(settings).ok
    with GcsContext(settings) as ctx:
        _, artifact = resolve_snapshot(ctx, source.name, None)
        [listed] = list(read_snapshot(ctx.backup_bucket(), artifact))
        old_line = {
            k: v
            for k, v in json.loads(listed.line()).items()
            if k not in ("custom_time", "storage_class", "temporary_hold", "event_based_hold")
            and k not in ("kms_key_name", "acl")
        }
        old = ObjectEntry.from_json(old_line, "an older snapshot")
        assert not old.exact
        assert (old.custom_time, old.storage_class, old.temporary_hold, old.acl) == (
            None, None, None, None,
        )  # fmt: skip
        target = unique_bucket_name("exact")
        storage_client.create_bucket(target)
        assert (
            object_restore.apply(ctx, target, object_restore.diff([old], {}), False, _Quiet()) == []
        )
        assert object_restore.verify(ctx, target, [old]) == (0, [])
    restored = storage_client.bucket(target).get_blob("frames/a.bin")
    assert restored.content_language == "de"
    assert restored.metadata == {"owner": "vision", "stage": "prod"}


def test_exact_entries_round_trip_as_json_lines_with_absent_properties() -> None:
    entry = ObjectEntry(
        name="a", generation=1, size=3, crc32c="AAAAAA==", md5=None, copy="c",
        custom_time=None, storage_class="STANDARD", temporary_hold=False,
        event_based_hold=True, kms_key_name=None, acl=(("allUsers", "READER"),), exact=True,
    )  # fmt: skip
    line = json.loads(entry.line())
    assert line["cache_control"] is None  # absence is recorded
    assert line["custom_time"] is None
    assert ObjectEntry.from_json(line, "here") == entry
    assert ObjectEntry.from_json({**line, "acl": None}, "here").acl is None


def test_two_runs_in_the_same_second_are_ordered_by_their_full_start_time(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """The run ids share the second; their random tokens sort the other way round."""
    _, backup = buckets
    earlier, later = T0 + timedelta(microseconds=100), T0 + timedelta(microseconds=900_000)
    for started, token in ((earlier, "ffffffff"), (later, "00000000")):
        location = RunLocation("", "gcs", "daily", new_run_id(started, token))
        manifest = Manifest(location, "succeeded", started, started, source={})
        commit(backup, manifest)
    newest, oldest = Catalog(backup, "gcs").backups()
    assert (newest.manifest and newest.manifest.started, oldest.backup_id) == (
        later,
        new_run_id(earlier, "ffffffff"),
    )


class _Quiet:
    def phase(self, name: str, **details: Any) -> None:
        pass

    def update(self, **details: Any) -> None:
        pass
