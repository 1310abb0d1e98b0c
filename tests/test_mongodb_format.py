"""mongodump's layout and our tar stream, without servers: names, metadata, parts, unpacking."""

from __future__ import annotations

import hashlib
import io
import itertools
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import bson
import pytest
from bson import Int64

from shared.errors import IntegrityError, RequestError, TruncatedDataError
from shared.mongodb import names
from shared.mongodb.archive import FileRecord, members, unpack
from shared.mongodb.bsonio import ContentHash, boundaries, document_batches
from shared.mongodb.metadata import CollectionSpec, prelude_json
from shared.mongodb.tarwriter import PartWriter, TarWriter

# Expected names from mongo-tools' own tests (mongodump_test.go, mongorestore_test.go).
VERY = "aVery" + "Very" * 13
PREFIX_DUMP = VERY + "Very" * 18 + "Very" * 13
PREFIX_RESTORE = VERY + "Very" * 17 + "Very" * 13


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("coll1", "coll1"),
        ("coll/three", "coll%2Fthree"),
        ("with space", "with+space"),
        ("dots.and-dash_~", "dots.and-dash_~"),
        ("ünï", "%C3%BCn%C3%AF"),
        ("a+b@c:d", "a%2Bb%40c%3Ad"),
        ("abcdefghijklmnopq" * 14, "abcdefghijklmnopq" * 14),  # exactly 238: not shortened
        (
            PREFIX_DUMP + "/Long/Collection/Name/Consisting/Of/Many/Characters",
            PREFIX_DUMP + "%2FLong%2FCollection%2FName%24FUVlwTrb2eHN1RUE1swI1fFzWmA",
        ),
        (
            PREFIX_RESTORE
            + "LongCollectionNameConsistingOfExactlyTwoHundredAndFortySevenCharacters",
            PREFIX_RESTORE + "LongCollectionNameConsistingOfE%24xFO0VquRn7cg3QooSZD5sglTddU",
        ),
    ],
)
def test_collection_file_names_are_mongodumps(name: str, expected: str) -> None:
    assert names.escape_collection(name) == expected


def test_paths_of_views_timeseries_and_prelude() -> None:
    assert names.data_path("db", "v", "view") is None
    assert names.data_path("db", "m", "timeseries") == "db/system.buckets.m.bson"
    assert names.metadata_path("db", "a/b") == "db/a%2Fb.metadata.json"
    assert names.prelude_path(None) == "prelude.json"
    assert names.prelude_path("eyewear_ml") == "eyewear_ml/prelude.json"
    assert names.is_dumped("system.js")
    assert not names.is_dumped("system.profile")
    assert not names.is_user_database("admin")
    assert names.is_user_database("eyewear_ml")
    with pytest.raises(IntegrityError):
        names.check_db_name("../etc")


def test_metadata_is_byte_identical_to_a_mongodump_file() -> None:
    """mongo-tools' testdata/collMod_ttl_index/mongodump_test_db/coll1.metadata.json."""
    expected = (
        b'{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},'
        b'{"v":{"$numberInt":"2"},"key":{"a":{"$numberInt":"1"}},"name":"a_1",'
        b'"expireAfterSeconds":{"$numberInt":"1000"}}],'
        b'"uuid":"ffa7054f30dc422696fa9607e150cb53","collectionName":"coll1","type":"collection"}'
    )
    listing = {
        "name": "coll1",
        "type": "collection",
        "options": {},
        "info": {"uuid": bson.Binary(bytes.fromhex("ffa7054f30dc422696fa9607e150cb53"), 4)},
    }
    indexes = [
        {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        {"v": 2, "key": {"a": 1}, "name": "a_1", "expireAfterSeconds": 1000},
    ]
    spec = CollectionSpec.from_listing("mongodump_test_db", listing, indexes)
    assert spec.to_json_bytes() == expected
    assert CollectionSpec.from_json_bytes("mongodump_test_db", expected, "x") == spec


def test_metadata_keeps_number_types_and_views_have_no_indexes() -> None:
    options = {"capped": True, "size": 4096, "max": Int64(5), "ratio": 1.0}
    spec = CollectionSpec(
        "d", "c", "collection", options, ({"v": 2, "key": {"x": -1}, "name": "x_-1"},)
    )
    text = spec.to_json_bytes()
    assert b'"size":{"$numberInt":"4096"}' in text
    assert b'"max":{"$numberLong":"5"}' in text
    assert b'"ratio":{"$numberDouble":"1.0"}' in text
    back = CollectionSpec.from_json_bytes("d", text, "x")
    assert bson.encode(back.options) == bson.encode(options)
    view = CollectionSpec("d", "v", "view", {"viewOn": "c", "pipeline": []}, ())
    assert view.to_json_bytes().startswith(b'{"options":{"viewOn":"c","pipeline":[]},"indexes":[],')
    with pytest.raises(IntegrityError, match="not a mongodump metadata file"):
        CollectionSpec.from_json_bytes("d", b'{"indexes": 3}', "d/c.metadata.json")


def test_prelude_is_mongodumps() -> None:
    assert prelude_json("8.2.11", "t 1") == b'{"ServerVersion":"8.2.11","ToolVersion":"t 1"}'


def _docs(count: int, size: int = 100) -> bytes:
    return b"".join(bson.encode({"_id": n, "pad": "x" * size}) for n in range(count))


def test_boundaries_and_content_hash_ignore_order() -> None:
    data = _docs(10)
    offsets = boundaries(data, "x")
    assert len(offsets) == 11
    assert offsets[-1] == len(data)
    forward, backward = ContentHash(), ContentHash()
    forward.add(data, offsets)
    documents = [data[a:b] for a, b in itertools.pairwise(offsets)]
    reversed_data = b"".join(reversed(documents))
    backward.add(reversed_data, boundaries(reversed_data, "y"))
    assert (
        (forward.count, forward.hexdigest)
        == (backward.count, backward.hexdigest)
        == (10, forward.hexdigest)
    )
    changed = ContentHash()
    altered = data.replace(b"xxxx", b"xxxy", 1)
    changed.add(altered, boundaries(altered, "z"))
    assert changed.hexdigest != forward.hexdigest


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (struct.pack("<i", 3) + b"\0\0\0", "invalid BSON document length 3"),
        (struct.pack("<i", 6) + b"\0\1", "not terminated"),
    ],
)
def test_malformed_bson_is_an_integrity_error(data: bytes, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        boundaries(data, "f.bson")


def test_document_batches_cross_chunks_and_catch_a_cut() -> None:
    data = _docs(50, 333)
    batches = list(document_batches(io.BytesIO(data), "f", chunk=1000))
    assert sum(len(offsets) - 1 for _, offsets in batches) == 50
    with pytest.raises(IntegrityError, match="ends inside a BSON document"):
        list(document_batches(io.BytesIO(data[:-10]), "f", chunk=1000))


def _archive(part_size: int, documents: bytes) -> tuple[bytes, FileRecord]:
    sink = io.BytesIO()
    tar = TarWriter(sink, mtime=1_700_000_000, part_size=part_size)
    tar.add_file("db/c.metadata.json", b"{}")
    writer = PartWriter(tar, "db/c.bson")
    offsets = boundaries(documents, "c")
    writer.write(documents, offsets[:21])  # in two calls, as batches arrive
    writer.write(documents, offsets[20:])
    record = writer.close()
    tar.finish()
    return sink.getvalue(), record


def test_a_small_file_is_one_member_and_a_large_one_is_parts() -> None:
    documents = _docs(40, 200)
    whole, record = _archive(1 << 20, documents)
    assert record.parts == 0
    assert [m.name for m, _ in members(io.BytesIO(whole), "a")] == [
        "db/c.metadata.json",
        "db/c.bson",
    ]
    split, record = _archive(2000, documents)
    parts = [(m.name, m.part) for m, _ in members(io.BytesIO(split), "a")][1:]
    assert record.parts == len(parts) > 1
    assert parts[0] == ("db/c.bson.part-000001", 1)
    assert parts[-1][1] == record.parts
    assert record.sha256 == hashlib.sha256(documents).hexdigest()
    assert record.size == len(documents)
    for member, reader in members(io.BytesIO(split), "a"):
        if member.part is None:
            continue  # the metadata file
        content = reader.read()  # each part is valid BSON on its own
        assert member.size <= 2000 or member.part is None
        assert boundaries(content, member.name)[-1] == len(content)


def test_a_document_larger_than_a_part_is_a_part_of_its_own() -> None:
    documents = _docs(3, 5000)
    _, record = _archive(1000, documents)
    assert record.parts == 3


def test_unpack_joins_parts_into_mongodumps_layout(tmp_path: Path) -> None:
    documents = _docs(40, 200)
    split, record = _archive(2000, documents)
    files = unpack(io.BytesIO(split), tmp_path / "out", "a")
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    ) == [
        "db/c.bson",
        "db/c.metadata.json",
    ]
    assert (tmp_path / "out/db/c.bson").read_bytes() == documents
    assert files["db/c.bson"] == record
    with pytest.raises(RequestError, match="not empty"):
        unpack(io.BytesIO(split), tmp_path / "out", "a")


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar command")
def test_the_stream_is_a_tar_that_tar_reads(tmp_path: Path) -> None:
    split, _ = _archive(2000, _docs(40, 200))
    listing = subprocess.run(["tar", "-tvf", "-"], input=split, capture_output=True, check=True)
    lines = listing.stdout.decode().splitlines()
    assert lines[0].startswith("-rw-r--r--")
    assert lines[0].endswith("db/c.metadata.json")
    assert lines[1].endswith("db/c.bson.part-000001")


def _tar_with(name: str, kind: bytes = tarfile.REGTYPE) -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        tar.addfile(info, io.BytesIO(b""))
    return sink.getvalue()


@pytest.mark.parametrize(
    "name",
    ["../escape.bson", "/abs.bson", "a/b/c.bson", "db/c.bson.part-000000", "db/..", "a\\b.bson"],
)
def test_unexpected_member_names_are_refused(name: str) -> None:
    with pytest.raises(IntegrityError, match="unexpected member name"):
        list(members(io.BytesIO(_tar_with(name)), "a"))


def test_links_are_refused() -> None:
    with pytest.raises(IntegrityError, match="not a regular file"):
        list(members(io.BytesIO(_tar_with("db/x.bson", tarfile.SYMTYPE)), "a"))


def _read_all(stream: io.BytesIO) -> None:
    for _, reader in members(stream, "a"):
        reader.read()


def test_a_cut_tar_stream_is_truncated_data() -> None:
    split, _ = _archive(2000, _docs(40, 200))
    with pytest.raises(TruncatedDataError):
        _read_all(io.BytesIO(split[:5000]))


def test_parts_out_of_order_are_refused(tmp_path: Path) -> None:
    sink = io.BytesIO()
    tar = TarWriter(sink, 0)
    tar.add("db/c.bson.part-000002", _docs(1))
    tar.finish()
    with pytest.raises(IntegrityError, match="where part 1 belongs"):
        unpack(io.BytesIO(sink.getvalue()), tmp_path / "o", "a")
