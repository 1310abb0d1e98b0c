"""Importing the old scripts' MongoDB dumps and restoring them, on SecantusDB and fake-gcs-server.

Every layout and layer the scripts could have produced, built with the same
tools (``tests/legacydumps.py``), is imported, checked against what the dump
holds, and restored through the product's own restore (the same function
the job runs for ``dr-restore``), in test mode and into a database compared
document by document. Damaged or mismatched files are refused with their
name and the reason, and leave the bucket empty.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import bson
import pytest
from click.testing import CliRunner

from shared.errors import (
    ConflictError,
    IntegrityError,
    KeyNotFoundError,
    TruncatedDataError,
    UnknownFormatError,
    WrongKeyError,
)
from shared.keys import FileKeyring, generate_key_file
from shared.legacy import mongo
from shared.mongodb import restore
from shared.mongodb.request import MongoRestoreRequest
from shared.target import LogProgress
from tests import legacydumps, mongodata
from tests.conftest import patched_environ
from tests.devstack.mongo import unique_db_name

WHEN = dt.datetime(2025, 3, 25, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
KINDS = (
    "archive",
    "archive.gz",
    "archive.gz.enc-pbkdf2",
    "archive.enc-md5",
    "dir",
    "dir.tar",
    "dir.tgz.enc-md5",
    "dir-gzfiles.tgz.enc-pbkdf2",
)


def import_dump(bucket: Any, path: Path, key_files: list[str], **options: Any) -> Any:
    return mongo.import_dump(
        bucket, "", path, tier="daily", when=WHEN, key_files=key_files, now=NOW, **options
    )


def run_restore(settings: Any, bucket: Any, key_file: str, **fields: Any) -> Any:
    """The restore the job runs for a ``dr-restore`` request of the imported date."""
    where = {"bucket": bucket, "keyring": FileKeyring([key_file]), "progress": LogProgress()}
    request = MongoRestoreRequest(day=WHEN.date(), tier="daily", **fields)
    return restore.restore(settings, request, token="legacy", **where)


@pytest.mark.parametrize("kind", KINDS)
def test_each_legacy_form_imports_and_restores_verified(
    kind: str, tmp_path: Path, bucket: Any, key_file: str, mongo_server: Any, mongo_client: Any
) -> None:
    path = legacydumps.build(kind, tmp_path, key_file)
    before = legacydumps.sha256(path)
    manifest = import_dump(bucket, path, [key_file])
    assert legacydumps.sha256(path) == before  # the original is left untouched
    imported = manifest.details["imported"]
    assert imported["format"] == ("mongodump-archive" if kind.startswith("archive") else
                                  "mongodump-directory")  # fmt: skip
    assert imported["key_derivation"] == (kind.split("enc-")[1] if "enc-" in kind else None)
    assert manifest.counts == {"eyewear_ml.users": 40, "eyewear_ml.orders": 0}
    assert manifest.location.started == WHEN
    stored = bucket.get_blob(manifest.location.path(manifest.artifacts[0].path))
    assert stored.size == manifest.artifacts[0].size  # the original bytes, as they were
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, None, key_file)
    outcome = run_restore(settings, bucket, key_file, test_mode=True)
    assert outcome.verified is True
    assert outcome.counts["eyewear_ml.users"] == 40
    assert not [n for n in mongo_client.list_database_names() if "_drtest_" in n]


def test_a_restored_legacy_dump_holds_exactly_its_documents_and_indexes(
    tmp_path: Path, bucket: Any, key_file: str, mongo_server: Any, mongo_client: Any
) -> None:
    path = legacydumps.build("archive.gz.enc-pbkdf2", tmp_path, key_file)
    import_dump(bucket, path, [key_file])
    target = unique_db_name("legacy")
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, None, key_file)
    try:
        outcome = run_restore(settings, bucket, key_file, target_db=target)
        assert outcome.verified is True
        raw = b"".join(mongo_client[target].users.find_raw_batches())
        restored = sorted(bson.decode_all(raw), key=lambda d: d["_id"])
        original = [bson.decode(d) for d in legacydumps.users().documents]
        assert restored == original
        names = {index["name"] for index in mongo_client[target].users.list_indexes()}
        assert names == {"_id_", "email_1"}
        assert "orders" in mongo_client[target].list_collection_names()
    finally:
        mongo_client.drop_database(target)


def _refused(bucket: Any, path: Path, key_files: list[str], error: type[Exception]) -> str:
    with pytest.raises(error) as caught:
        import_dump(bucket, path, key_files)
    assert list(bucket.list_blobs()) == []  # nothing registered, nothing uploaded
    message = str(caught.value)
    assert str(path) in message
    return message


def test_a_wrong_key_is_refused_naming_the_file(tmp_path: Path, bucket: Any, key_file: str) -> None:
    path = legacydumps.build("archive.gz.enc-pbkdf2", tmp_path, key_file)
    other = tmp_path / "other.key"
    generate_key_file(other)
    message = _refused(bucket, path, [str(other)], WrongKeyError)
    assert "wrong key" in message
    assert str(other) in message


def test_a_truncated_gzip_is_refused(tmp_path: Path, bucket: Any, key_file: str) -> None:
    path = legacydumps.build("archive.gz", tmp_path, key_file)
    path.write_bytes(path.read_bytes()[:-40])
    assert "truncated gzip" in _refused(bucket, path, [], TruncatedDataError)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path, bucket: Any) -> None:
    path = tmp_path / "eyewear_ml_2025-03-25.archive"
    path.write_text("mongodump: error connecting to host\n")
    assert "not an archive" in _refused(bucket, path, [], UnknownFormatError)


def test_an_archive_cut_short_is_refused(tmp_path: Path, bucket: Any, key_file: str) -> None:
    path = legacydumps.build("archive", tmp_path, key_file)
    path.write_bytes(path.read_bytes()[:-60])
    assert "cut short" in _refused(bucket, path, [], TruncatedDataError)


def test_an_encrypted_file_cut_short_is_refused(tmp_path: Path, bucket: Any, key_file: str) -> None:
    path = legacydumps.build("dir.tgz.enc-md5", tmp_path, key_file)
    path.write_bytes(path.read_bytes()[:-5])
    assert "cut short" in _refused(bucket, path, [key_file], TruncatedDataError)


def test_a_dump_with_data_but_no_metadata_is_refused(tmp_path: Path, bucket: Any) -> None:
    dump = legacydumps.write_directory(tmp_path / "eyewear_ml_2025-03-25")
    (dump / legacydumps.DB / "users.metadata.json").unlink()
    assert "no metadata file" in _refused(bucket, dump, [], IntegrityError)


def test_the_same_backup_imported_twice_is_refused(
    tmp_path: Path, bucket: Any, key_file: str
) -> None:
    path = legacydumps.build("archive.gz", tmp_path, key_file)
    first = import_dump(bucket, path, [])
    with pytest.raises(ConflictError, match="already imported"):
        import_dump(bucket, path, [])
    assert [b.name for b in bucket.list_blobs()] == sorted(
        [first.location.manifest_path, first.location.path(path.name)]
    )


def test_a_restore_without_the_old_key_file_names_the_passphrase(
    tmp_path: Path, bucket: Any, key_file: str, mongo_server: Any
) -> None:
    path = legacydumps.build("archive.enc-md5", tmp_path, key_file)
    manifest = import_dump(bucket, path, [key_file])
    other = tmp_path / "new.key"
    generate_key_file(other)
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, None, str(other))
    with pytest.raises(KeyNotFoundError, match=str(manifest.key_id)):
        run_restore(settings, bucket, str(other), test_mode=True)


def test_dr_import_prints_the_run_and_a_test_restore_request(
    tmp_path: Path, bucket: Any, key_file: str, stack_env: dict[str, str]
) -> None:
    from shared.console.legacy import import_command

    path = legacydumps.build("dir.tgz.enc-md5", tmp_path, key_file)
    env = {"MONGODB_GCS_BUCKET": bucket.name, "ENCRYPTION_KEY_FILE": key_file}
    with patched_environ(env):
        done = CliRunner().invoke(import_command, ["mongodb", str(path)])
        assert done.exit_code == 0, done.output
        assert "mongodb/daily/2025-03-25/20250325T010000Z-" in done.output
        assert '"date": "2025-03-25", "type": "daily"' in done.output
        bad = tmp_path / "eyewear_ml_2025-03-26.archive.gz"
        bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
        failed = CliRunner().invoke(import_command, ["mongodb", str(bad)])
    assert failed.exit_code == 65
    assert f"error: {bad}: " in failed.output


def test_an_imported_dump_unpacks_into_mongodumps_layout(
    tmp_path: Path, bucket: Any, key_file: str, stack_env: dict[str, str]
) -> None:
    """``job verify`` and ``job unpack`` on an imported run: checked, then a mongodump directory."""
    from shared.mongodb import job

    path = legacydumps.build("archive.gz.enc-md5", tmp_path, key_file)
    manifest = import_dump(bucket, path, [key_file])
    settings = {"MONGODB_GCS_BUCKET": bucket.name, "ENCRYPTION_KEY_FILE": key_file}
    verify = ["verify", "--date", "2025-03-25", "--type", "daily"]
    assert job.main(verify, environ={**stack_env, **settings}) == 0
    out = tmp_path / "unpacked"
    source = f"gs://{bucket.name}/{manifest.location.directory}"
    assert job.main(["unpack", source, str(out), "--key-file", key_file], environ={}) == 0
    users = (out / legacydumps.DB / "users.bson").read_bytes()
    assert users == b"".join(legacydumps.users().documents)
    assert (out / legacydumps.DB / "orders.metadata.json").exists()


def test_archive_documents_larger_than_a_read_and_long_segments_convert_exactly(
    tmp_path: Path,
) -> None:
    """A 6 MiB document and a 5,000-document segment cross every buffer boundary of the reader."""
    import io

    from shared.legacy.chunks import buffered
    from shared.mongodb.archive import drain

    big = bson.encode({"_id": "big", "blob": b"\x00" * (6 * 1024 * 1024)})
    small = tuple(bson.encode({"_id": i, "n": "x" * (i % 50)}) for i in range(5000))
    documents = (*small[:2500], big, *small[2500:])
    collection = legacydumps.Collection("users", legacydumps.users().metadata, documents)
    data = legacydumps.archive_bytes((collection,), segment=5001)
    tar, _ = mongo.convert(io.BytesIO(data), [], "users.archive")
    drain(buffered(tar))
    record = tar.files()["eyewear_ml/users.bson"]
    assert record.size == sum(map(len, documents))
    assert tar.contents()["eyewear_ml/users.bson"].count == 5001
