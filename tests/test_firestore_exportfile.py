"""Reading managed exports in place: the LevelDB log framing, and real exports in Cloud Storage.

The exports are written by the real Firestore emulator (through the Admin API
stand-in) into fake-gcs-server, so the reader is checked against the
production export format as the emulator writes it, not against our writer.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from shared.errors import IntegrityError, TruncatedDataError, UnknownFormatError
from shared.firestore import admin, exportfile, wire
from tests import firestoredata
from tests.devstack.standins import firestore_exportfiles
from tests.firestorestack import wait_done

pytest_plugins = ["tests.firestore_fixtures"]

# --- the log format, on records of every size class --------------------------------------------


@pytest.mark.parametrize(
    "sizes",
    [
        [0, 1, 100],
        [wire.BLOCK_SIZE - wire.HEADER_SIZE],  # exactly fills a block
        [wire.BLOCK_SIZE - wire.HEADER_SIZE - 3, 10],  # leaves a 3-byte trailer
        [3 * wire.BLOCK_SIZE + 17, 5],  # FIRST, MIDDLE, MIDDLE, LAST
    ],
)
def test_log_records_round_trip(tmp_path: Path, sizes: list[int]) -> None:
    records = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    path = tmp_path / "log"
    firestore_exportfiles.write_log(path, records)
    with path.open("rb") as stream:
        assert list(wire.read_records(stream, "log")) == records


def test_log_reader_names_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "log"
    firestore_exportfiles.write_log(path, [b"a" * 50_000, b"b" * 10])
    data = path.read_bytes()
    flipped = bytearray(data)
    flipped[40_000] ^= 0x01
    with pytest.raises(IntegrityError, match="checksum mismatch in the record at byte 32768"):
        list(wire.read_records(io.BytesIO(bytes(flipped)), "log"))
    with pytest.raises(TruncatedDataError, match=r"cut short|ends inside"):
        list(wire.read_records(io.BytesIO(data[:-4]), "log"))
    with pytest.raises(TruncatedDataError, match="inside a fragmented record"):
        list(wire.read_records(io.BytesIO(data[: wire.BLOCK_SIZE]), "log"))


# --- real exports --------------------------------------------------------------------------------


def _export(
    client: Any, bucket: Any, project: str, prefix: str, collections: tuple[str, ...] = ()
) -> str:
    database = admin.database_name(project, "(default)")
    operation = admin.start_export(
        client, database, f"gs://{bucket.name}/{prefix}", collections, None
    )
    wait_done(client, operation)
    assert admin.operation_status(client, operation).succeeded
    return prefix


@pytest.fixture(scope="module")
def seeded(firestore_emulator: Any, firestore_client: Any) -> Any:
    firestore_emulator.clear()
    return firestoredata.seed(firestore_client)


def test_counts_per_collection_group_equal_the_seeded_data(
    seeded: Any, admin_client: Any, backup_bucket: Any, devstack: Any
) -> None:
    prefix = _export(admin_client, backup_bucket, devstack.project, "runs/all/export")
    contents = exportfile.read_export(backup_bucket, prefix)
    assert contents.collections == firestoredata.EXPECTED_COUNTS
    assert contents.declared_documents == contents.documents
    top_level = firestoredata.USERS + firestoredata.PRODUCTS + firestoredata.SESSIONS
    assert contents.subcollection_documents == contents.documents - top_level
    names = {f.path for f in contents.files}
    assert "export.overall_export_metadata" in names
    assert "all_namespaces/all_kinds/output-0" in names
    for item in contents.files:  # every object read is checksummed as Cloud Storage holds it
        blob = backup_bucket.get_blob(f"{prefix}/{item.path}")
        assert (blob.size, blob.crc32c) == (item.size, item.crc32c)


def test_an_export_of_specific_collections_has_one_entity_set_per_group(
    seeded: Any, admin_client: Any, backup_bucket: Any, devstack: Any
) -> None:
    prefix = _export(
        admin_client, backup_bucket, devstack.project, "runs/some/export", ("users", "items")
    )
    contents = exportfile.read_export(backup_bucket, prefix)
    assert contents.collections == {"items": 24, "users": 6}
    assert "all_namespaces/kind_users/all_namespaces_kind_users.export_metadata" in {
        f.path for f in contents.files
    }


def test_a_flipped_byte_is_detected(
    seeded: Any, admin_client: Any, backup_bucket: Any, devstack: Any
) -> None:
    prefix = _export(admin_client, backup_bucket, devstack.project, "runs/flip/export")
    blob = backup_bucket.blob(f"{prefix}/all_namespaces/all_kinds/output-0")
    data = bytearray(blob.download_as_bytes())
    data[len(data) // 2] ^= 0x20
    blob.upload_from_string(bytes(data))  # stands for bit rot: the stored CRC32C now matches it
    with pytest.raises(IntegrityError, match=r"output-0: checksum mismatch in the record"):
        exportfile.read_export(backup_bucket, prefix)


def test_incomplete_or_foreign_folders_are_refused(
    seeded: Any, admin_client: Any, backup_bucket: Any, devstack: Any, tmp_path: Path
) -> None:
    prefix = _export(admin_client, backup_bucket, devstack.project, "runs/cut/export")
    backup_bucket.blob(f"{prefix}/all_namespaces/all_kinds/output-0").delete()
    with pytest.raises(IntegrityError, match="named by the export metadata but missing"):
        exportfile.read_export(backup_bucket, prefix)
    backup_bucket.blob(f"{prefix}/export.overall_export_metadata").delete()
    with pytest.raises(IntegrityError, match="is not a complete export"):
        exportfile.read_export(backup_bucket, prefix)
    other = "runs/foreign/export"
    firestore_exportfiles.write_log(tmp_path / "metadata", [b"9", b""])
    backup_bucket.blob(f"{other}/export.overall_export_metadata").upload_from_filename(
        str(tmp_path / "metadata")
    )
    with pytest.raises(UnknownFormatError, match="unknown export version b'9'"):
        exportfile.read_export(backup_bucket, other)
