"""The round trip against a real MongoDB server (opt-in: set ``MONGODB_TEST_URI``).

SecantusDB stands in for MongoDB everywhere else; this suite runs the same
checks on a real deployment, plus what SecantusDB cannot show: time-series
collections (dumped from their ``system.buckets`` collection) and the
deprecated BSON types SecantusDB rewrites. Point it at a replica set to cover
the oplog (``mongodb://host/?replicaSet=rs0`` or an Atlas ``mongodb+srv://``
URI); it creates and drops databases named ``drlive_*``. Storage is still the
local fake-gcs-server.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.keys import FileKeyring, generate_key_file
from shared.manifest import RunLocation, new_run_id
from shared.mongodb import restore
from shared.mongodb.backup import run_backup
from shared.mongodb.request import MongoRestoreRequest
from shared.mongodb.target import run_end
from shared.target import LogProgress
from tests import mongodata
from tests.devstack.mongo import unique_db_name

URI = os.environ.get("MONGODB_TEST_URI", "")
pytestmark = [
    pytest.mark.realmongo,
    pytest.mark.skipif(not URI, reason="set MONGODB_TEST_URI to run against a real MongoDB"),
]
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def live() -> Iterator[Any]:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(URI)
    yield client
    for name in client.list_database_names():
        if name.startswith("drlive_"):
            client.drop_database(name)
    client.close()


def _deprecated_types_document() -> Any:
    """undefined, symbol and DBPointer: only raw bytes can carry them."""
    from bson.raw_bson import RawBSONDocument

    def element(kind: int, name: str, payload: bytes) -> bytes:
        return bytes([kind]) + name.encode() + b"\0" + payload

    symbol = b"sym\0"
    body = b"".join(
        [
            element(0x02, "_id", struct.pack("<i", 11) + b"deprecated\0"),
            element(0x06, "undefined", b""),
            element(0x0E, "symbol", struct.pack("<i", len(symbol)) + symbol),
            element(0x0C, "pointer", struct.pack("<i", 4) + b"a.b\0" + b"\x01" * 12),
        ]
    )
    return RawBSONDocument(struct.pack("<i", len(body) + 5) + body + b"\0")


def test_round_trip_on_a_real_server(
    live: Any, storage_client: Any, bucket_name: str, tmp_path: Path
) -> None:
    source = live[unique_db_name("drlive_src")]
    target = unique_db_name("drlive_dst")
    mongodata.seed(source)
    source.legacy.insert_one(_deprecated_types_document())
    source.create_collection("metrics", timeseries={"timeField": "t", "metaField": "m"})
    source.metrics.insert_many(
        [{"t": NOW - dt.timedelta(minutes=n), "m": {"sensor": n % 3}, "v": n} for n in range(100)]
    )
    key = tmp_path / "k"
    generate_key_file(key)
    bucket = storage_client.create_bucket(bucket_name)
    settings = mongodata.mongo_settings(URI, bucket.name, source.name, str(key))
    location = RunLocation("", "mongodb", "daily", new_run_id(NOW))
    keyring = FileKeyring([key])
    end = run_end(settings, bucket, lambda: NOW)
    manifest = run_backup(settings, location, end=end, keyring=keyring)
    assert manifest.details["collections"][f"{source.name}.metrics"]["type"] == "timeseries"
    assert f"{source.name}/system.buckets.metrics.bson" in manifest.details["files"]
    request = MongoRestoreRequest(day=NOW.date(), tier="daily", target_db=target)
    outcome = restore.restore(
        settings, request, bucket=bucket, keyring=keyring, progress=LogProgress(), token="live"
    )
    assert outcome.verified is True
    assert mongodata.snapshot(live[target]) == mongodata.snapshot(source)
    test = MongoRestoreRequest(day=NOW.date(), tier="daily", test_mode=True)
    checked = restore.restore(
        settings, test, bucket=bucket, keyring=keyring, progress=LogProgress(), token="live"
    )
    assert checked.verified is True
