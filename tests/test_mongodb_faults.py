"""Bad input and faults: each ends with a clear error, and nothing already stored is lost."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import Catalog
from shared.crypto import Key
from shared.errors import (
    BackupNotFound,
    IntegrityError,
    KeyNotFoundError,
    PermissionDenied,
    SourceUnavailable,
    TamperedDataError,
    TruncatedDataError,
    WrongKeyError,
)
from shared.keys import FileKeyring, StaticKeyring, generate_key_file
from shared.manifest import Manifest
from shared.mongodb.pipeline import ARCHIVE_NAME
from tests import mongodata
from tests.conftest import MONGO_AUTH_USERS
from tests.devstack.mongo import unique_db_name
from tests.devstack.process import free_port
from tests.mongodb_fixtures import backup, restore_with, run_restore

PASSWORD = "correct-horse-battery-staple"  # appears in no message


@pytest.fixture
def source(mongo_client: Any) -> Iterator[Any]:
    name = unique_db_name("src")
    database = mongo_client[name]
    database.items.insert_many([{"_id": n, "v": f"value {n}"} for n in range(100)])
    yield database
    for existing in mongo_client.list_database_names():
        if existing.startswith(name) or existing.startswith("restored_"):
            mongo_client.drop_database(existing)


def test_an_unreachable_server_is_named_without_its_password(bucket: Any, key_file: str) -> None:
    port = free_port()
    uri = f"mongodb://dr-backup:{PASSWORD}@127.0.0.1:{port}/?serverSelectionTimeoutMS=300"
    settings = mongodata.mongo_settings(uri, bucket.name, "eyewear_ml", key_file)
    with pytest.raises(SourceUnavailable) as caught:
        backup(settings, bucket, key_file)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "dr-backup@" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    (failed,) = Catalog(bucket, "mongodb").entries()
    assert failed.manifest is not None
    assert failed.manifest.status == "failed"
    assert PASSWORD not in str(failed.manifest.to_json())


def test_wrong_credentials_are_permission_denied_and_right_ones_work(
    mongo_auth_server: Any, bucket: Any, key_file: str
) -> None:
    import pymongo

    user = next(iter(MONGO_AUTH_USERS))
    admin: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_auth_server.uri(user), document_class=dict) as admin:
        admin.shop.items.insert_one({"sku": "EW-1"})
    wrong = mongo_auth_server.uri(user, PASSWORD)
    settings = mongodata.mongo_settings(wrong, bucket.name, "shop", key_file)
    with pytest.raises(PermissionDenied) as caught:
        backup(settings, bucket, key_file)
    assert PASSWORD not in str(caught.value)
    right = mongodata.mongo_settings(mongo_auth_server.uri(user), bucket.name, "shop", key_file)
    assert backup(right, bucket, key_file).counts == {"shop.items": 1}


def test_a_collection_dropped_mid_dump_is_noted_and_the_dump_goes_on(
    mongo_server: Any, mongo_client: Any, source: Any, bucket: Any, key_file: str
) -> None:
    source.doomed.insert_many([{"_id": n, "pad": "x" * 100} for n in range(5000)])

    def drop_it(namespace: str, documents: int) -> None:
        if namespace.endswith(".doomed") and documents == 2000:
            source.drop_collection("doomed")

    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    manifest = backup(settings, bucket, key_file, progress=drop_it)
    assert manifest.details["dropped_during_dump"] == [f"{source.name}.doomed"]
    assert 2000 <= manifest.counts[f"{source.name}.doomed"] < 5000
    assert manifest.counts[f"{source.name}.items"] == 100
    target = unique_db_name("restored")
    outcome = restore_with(settings, bucket, FileKeyring([key_file]), target_db=target)
    assert outcome.verified is True
    assert mongo_client[target].list_collection_names() == ["items"]  # the replayed drop


def _rewrite_archive(bucket: Any, manifest: Manifest, change: Callable[[bytes], bytes]) -> None:
    blob = bucket.blob(manifest.location.path(ARCHIVE_NAME))
    blob.upload_from_string(change(blob.download_as_bytes()))


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


@pytest.mark.parametrize(
    ("change", "error"),
    [(_flip, TamperedDataError), (lambda data: data[:-100], TruncatedDataError)],
    ids=["corrupt", "truncated"],
)
def test_a_damaged_archive_is_refused_before_anything_is_written(
    mongo_server: Any,
    mongo_client: Any,
    source: Any,
    bucket: Any,
    key_file: str,
    change: Callable[[bytes], bytes],
    error: type[Exception],
) -> None:
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    manifest = backup(settings, bucket, key_file)
    _rewrite_archive(bucket, manifest, change)
    with pytest.raises(error):  # in place, with drop: production must survive the refusal
        restore_with(settings, bucket, FileKeyring([key_file]), confirm=source.name, drop=True)
    assert source.items.count_documents({}) == 100
    target = unique_db_name("restored")
    with pytest.raises(error):
        restore_with(settings, bucket, FileKeyring([key_file]), target_db=target)
    assert target not in mongo_client.list_database_names()


def test_wrong_and_unknown_keys_are_refused_before_anything_is_written(
    mongo_server: Any, mongo_client: Any, source: Any, bucket: Any, key_file: str, tmp_path: Path
) -> None:
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    manifest = backup(settings, bucket, key_file)
    assert manifest.key_id is not None
    target = unique_db_name("restored")
    impostor = StaticKeyring([Key(manifest.key_id, os.urandom(32))])
    with pytest.raises(WrongKeyError):
        restore_with(settings, bucket, impostor, target_db=target)
    other = tmp_path / "other.key"
    generate_key_file(other)
    with pytest.raises(KeyNotFoundError, match=manifest.key_id):
        restore_with(settings, bucket, FileKeyring([other]), target_db=target)
    assert target not in mongo_client.list_database_names()


def test_an_archive_that_differs_from_its_manifest_is_refused(
    mongo_server: Any, mongo_client: Any, source: Any, bucket: Any, key_file: str
) -> None:
    """A validly encrypted archive that is not the one the manifest lists (e.g. replaced)."""
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    first = backup(settings, bucket, key_file)
    source.items.insert_one({"_id": "extra"})
    second = backup(settings, bucket, key_file)
    other = bucket.blob(second.location.path(ARCHIVE_NAME)).download_as_bytes()
    _rewrite_archive(bucket, first, lambda _: other)
    bucket.blob(second.location.manifest_path).delete()
    target = unique_db_name("restored")
    with pytest.raises(IntegrityError, match=r"does not match its manifest|the manifest lists"):
        restore_with(settings, bucket, FileKeyring([key_file]), target_db=target)
    assert target not in mongo_client.list_database_names()


def test_a_date_without_a_backup_says_what_exists(
    mongo_server: Any, source: Any, bucket: Any, key_file: str
) -> None:
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    backup(settings, bucket, key_file)
    with pytest.raises(BackupNotFound, match=r"2025-03-25.*latest available: daily"):
        run_restore(settings, bucket, key_file, day=dt.date(2025, 3, 25), test_mode=True)


@pytest.fixture
def private_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An in-process SecantusDB configured by the test's ``param``."""
    from secantus import SecantusDBServer

    server = SecantusDBServer(port=0, storage_path=str(tmp_path / "private"), **request.param)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("private_server", [{"replica_set_name": None}], indirect=True)
def test_a_standalone_server_gives_a_backup_that_is_not_point_in_time(
    private_server: Any, bucket: Any, key_file: str
) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(private_server.uri, document_class=dict) as client:
        client.shop.items.insert_many([{"n": n} for n in range(10)])
    settings = mongodata.mongo_settings(private_server.uri, bucket.name, "shop", key_file)
    manifest = backup(settings, bucket, key_file)
    assert manifest.details["point_in_time"] is False
    assert "not a replica set member" in manifest.details["point_in_time_note"]
    assert "oplog.bson" not in manifest.details["files"]
    outcome = restore_with(settings, bucket, FileKeyring([key_file]), test_mode=True)
    assert outcome.verified is True
    assert any("not point-in-time" in note for note in outcome.notes)


@pytest.mark.parametrize("private_server", [{"oplog_max_entries": 50}], indirect=True)
def test_an_oplog_that_rolls_over_during_the_dump_is_reported(
    private_server: Any, bucket: Any, key_file: str
) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        private_server.uri, document_class=dict
    )
    client.shop.items.insert_many([{"_id": n} for n in range(4000)])

    def churn(namespace: str, documents: int) -> None:
        if documents == 2000:  # 4000 entries: the server trims its oplog every 1000
            client.shop.items.update_many({}, {"$set": {"v": 1}})

    settings = mongodata.mongo_settings(private_server.uri, bucket.name, "shop", key_file)
    manifest = backup(settings, bucket, key_file, progress=churn)
    client.close()
    assert manifest.details["point_in_time"] is False
    assert "rolled over" in manifest.details["point_in_time_note"]
