"""Storage helpers, manifests as commit points, the catalog and pruning, on fake-gcs-server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import prune, storage
from shared.backup_end import commit
from shared.catalog import Catalog, CatalogEntry
from shared.errors import BackupNotFound, ConflictError, IntegrityError, RequestError
from shared.manifest import PERIODS, Manifest, RunLocation, new_run_id
from shared.retention import Policy, Span
from tests.catalog_fixtures import run

NOW = datetime(2025, 3, 25, 12, 0, tzinfo=UTC)


def test_create_json_commits_once_and_replace_needs_the_generation(bucket: Any) -> None:
    generation = storage.create_json(bucket, "locks/x.json", {"holder": "a"})
    with pytest.raises(ConflictError, match=r"gs://.*/locks/x\.json: changed concurrently"):
        storage.create_json(bucket, "locks/x.json", {"holder": "b"})
    newer = storage.replace_json(bucket, "locks/x.json", {"holder": "c"}, generation)
    with pytest.raises(ConflictError):
        storage.replace_json(bucket, "locks/x.json", {"holder": "d"}, generation)
    assert storage.read_json(bucket, "locks/x.json") == ({"holder": "c"}, newer)
    assert storage.read_json(bucket, "locks/absent.json") is None


def test_a_failed_streaming_upload_leaves_no_object(bucket: Any) -> None:
    written: list[storage.StoredObject] = []

    def fail_midway() -> None:
        with storage.upload_stream(
            bucket, "partial.bin", "application/octet-stream", written
        ) as sink:
            sink.write(b"y" * (storage.UPLOAD_CHUNK_SIZE + 1000))  # one chunk already sent
            raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        fail_midway()
    assert written == []
    assert bucket.get_blob("partial.bin") is None


def test_a_streaming_upload_records_checksums_of_exactly_what_was_stored(bucket: Any) -> None:
    written: list[storage.StoredObject] = []
    payload = bytes(range(256)) * 4096 * 20  # 20 MiB: more than one resumable chunk
    with storage.upload_stream(bucket, "big.bin", "application/octet-stream", written) as sink:
        for offset in range(0, len(payload), 1 << 20):
            sink.write(payload[offset : offset + (1 << 20)])
    [stored] = written
    blob = bucket.get_blob("big.bin")
    assert (stored.size, stored.crc32c) == (len(payload), blob.crc32c)
    assert storage.open_download(bucket, "big.bin").read() == payload


def test_a_manifest_is_the_commit_point(bucket: Any) -> None:
    done = run(bucket, "daily", NOW - timedelta(hours=3))
    killed = run(bucket, "daily", NOW - timedelta(hours=1), status=None)
    entries = Catalog(bucket, "mongodb").entries()
    assert [(e.backup_id, e.complete, e.ok) for e in entries] == [
        (killed.run_id, False, False),
        (done.run_id, True, True),
    ]
    assert [e.backup_id for e in Catalog(bucket, "mongodb").backups()] == [done.run_id]
    stored = Catalog(bucket, "mongodb").backups()[0].manifest
    assert stored is not None
    assert commit(bucket, stored) == (stored, False)  # a second completion step loses


def test_resolve_follows_the_guides_flags(bucket: Any) -> None:
    early = run(bucket, "daily", datetime(2025, 3, 25, 1, tzinfo=UTC))
    late = run(bucket, "daily", datetime(2025, 3, 25, 9, tzinfo=UTC))
    hourly_14 = run(bucket, "hourly", datetime(2025, 3, 25, 14, 5, tzinfo=UTC))
    run(bucket, "weekly", datetime(2025, 3, 24, 1, tzinfo=UTC), status="failed")
    found = Catalog(bucket, "mongodb")
    assert found.resolve(date(2025, 3, 25), "daily").backup_id == late.run_id
    assert found.resolve(date(2025, 3, 25), "hourly", 14).backup_id == hourly_14.run_id
    assert found.resolve(date(2025, 3, 25), None, 14).backup_id == hourly_14.run_id
    assert found.resolve(date(2025, 3, 25), None).backup_id == hourly_14.run_id
    assert found.resolve(None, None).backup_id == hourly_14.run_id
    assert found.latest_at_or_before(datetime(2025, 3, 25, 8, tzinfo=UTC)).backup_id == early.run_id
    with pytest.raises(
        BackupNotFound, match=r"no complete mongodb weekly backup for 2025-03-24 .*latest available"
    ):
        found.resolve(date(2025, 3, 24), "weekly")  # only a failed run there
    with pytest.raises(BackupNotFound, match=r"hourly backup for 2025-03-25 hour 15"):
        found.resolve(date(2025, 3, 25), "hourly", 15)
    with pytest.raises(RequestError, match="hour=3 only applies to hourly backups"):
        found.resolve(date(2025, 3, 25), "daily", 3)
    with pytest.raises(BackupNotFound, match="at or before 2025-03-24"):
        found.latest_at_or_before(datetime(2025, 3, 24, tzinfo=UTC))


def test_the_prefix_from_mongodb_backup_dir_keeps_runs_apart(bucket: Any) -> None:
    run(bucket, "daily", NOW, prefix="var/backups/mongodb/")
    assert Catalog(bucket, "mongodb").backups() == []
    assert len(Catalog(bucket, "mongodb", "var/backups/mongodb/").backups()) == 1


def test_a_tampered_manifest_is_reported_not_trusted(bucket: Any) -> None:
    location = run(bucket, "daily", NOW)
    data, _ = storage.read_json(bucket, location.manifest_path)  # type: ignore[misc]
    data["run_id"] = new_run_id(NOW - timedelta(days=1))
    bucket.blob(location.manifest_path).upload_from_string(storage._encode(data))
    with pytest.raises(IntegrityError, match="manifest names run"):
        Catalog(bucket, "mongodb").entries()


def test_prune_applies_the_policy_and_grace_protects_runs_in_flight(bucket: Any) -> None:
    old = [run(bucket, "daily", NOW - timedelta(days=d)) for d in (80, 35)]
    failed_old = run(bucket, "daily", NOW - timedelta(days=10), status="failed")
    in_flight = run(bucket, "daily", NOW - timedelta(hours=1), status=None)
    decisions = prune.plan(Catalog(bucket, "mongodb").entries(), Policy(within=Span(days=30)), NOW)
    by_id = {d.entry.backup_id: d for d in decisions}
    # restic's within: 30 days before the newest backup, however old that one is.
    assert by_id[old[1].run_id].reason == "within 30d"
    assert by_id[old[0].run_id].remove
    assert by_id[failed_old.run_id].remove
    assert not by_id[in_flight.run_id].remove

    assert prune.execute(bucket, decisions, dry_run=True) == []
    assert len(Catalog(bucket, "mongodb").entries()) == 4  # a dry run deletes nothing

    removed = prune.execute(bucket, decisions, dry_run=False)
    assert {e.backup_id for e in removed} == {old[0].run_id, failed_old.run_id}
    remaining = {e.backup_id for e in Catalog(bucket, "mongodb").entries()}
    assert remaining == {old[1].run_id, in_flight.run_id}
    assert not list(bucket.list_blobs(prefix=old[0].directory))


def test_newer_backups_cannot_push_out_the_last_one_older_than_a_period(bucket: Any) -> None:
    """After an incident at 10:00, today's backups may hold damaged data; yesterday's stays."""
    older = run(bucket, "daily", NOW - timedelta(days=2, hours=11))
    last_good = run(bucket, "daily", NOW - timedelta(days=1, hours=11))
    damaged = run(bucket, "daily", NOW - timedelta(hours=1))
    decisions = prune.plan(Catalog(bucket, "mongodb").entries("daily"), Policy(daily=1), NOW)
    by_id = {d.entry.backup_id: d for d in decisions}
    assert by_id[damaged.run_id].reason == "daily snapshot"
    assert not by_id[last_good.run_id].remove
    assert by_id[last_good.run_id].reason.startswith("newest daily backup older than a day")
    assert by_id[older.run_id].remove


def test_a_manual_backup_is_its_own_series_and_never_evicts_a_scheduled_one(bucket: Any) -> None:
    """A manual run the same day as the scheduled one lands in the manual tier."""
    scheduled = run(bucket, "daily", NOW - timedelta(hours=11))
    manual = [run(bucket, "manual", NOW - timedelta(hours=h)) for h in (30, 3, 2, 1)]
    found = Catalog(bucket, "mongodb")
    daily = prune.plan(found.entries("daily"), Policy(daily=1), NOW)
    assert [(d.entry.backup_id, d.remove) for d in daily] == [(scheduled.run_id, False)]
    kept = prune.plan(found.entries("manual"), Policy(last=2), NOW)
    assert [d.entry.backup_id for d in kept if not d.remove] == [
        manual[3].run_id,
        manual[2].run_id,
        manual[0].run_id,  # the newest manual backup older than a day: the guard keeps it
    ]
    assert manual[0].directory.startswith("mongodb/manual/")
    assert found.resolve(None, "manual").backup_id == manual[3].run_id
    assert found.resolve(NOW.date(), "daily").backup_id == scheduled.run_id


def test_an_empty_policy_deletes_nothing(bucket: Any) -> None:
    runs = [run(bucket, "daily", NOW - timedelta(days=d)) for d in (400, 200)]
    decisions = prune.plan(Catalog(bucket, "mongodb").entries(), Policy(), NOW)
    assert not any(d.remove for d in decisions)
    assert prune.execute(bucket, decisions, dry_run=False) == []
    assert len(Catalog(bucket, "mongodb").backups()) == len(runs)


def _entry(tier: str, when: datetime, index: int) -> CatalogEntry:
    location = RunLocation("", "mongodb", tier, new_run_id(when, f"{index:08x}"))
    return CatalogEntry(location, Manifest(location, "succeeded", when, when, {}), ())


@given(
    st.lists(
        st.tuples(st.sampled_from(["hourly", "daily", "manual"]), st.integers(0, 40 * 24 * 60)),
        max_size=25,
    ),
    st.sampled_from(
        [Policy(last=1), Policy(daily=1), Policy(hourly=2, monthly=1), Policy(within=Span(hours=3))]
    ),
)
def test_prune_never_removes_the_last_backup_older_than_a_period_nor_the_newest(
    runs: list[tuple[str, int]], policy: Policy
) -> None:
    entries = [_entry(tier, NOW - timedelta(minutes=m), i) for i, (tier, m) in enumerate(runs)]
    removed = {d.entry.backup_id for d in prune.plan(entries, policy, NOW) if d.remove}
    protected = [
        min(older, key=lambda e: (-e.time.timestamp(), e.backup_id))  # equal times: lower id
        for tier, (period, _) in PERIODS.items()
        if (older := [e for e in entries if e.location.tier == tier and e.time <= NOW - period])
    ]
    newest = min(entries, key=lambda e: (-e.time.timestamp(), e.backup_id), default=None)
    assert not removed & {e.backup_id for e in [*protected, *([newest] if newest else [])]}
