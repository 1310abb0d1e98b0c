"""Point in time: the oplog captured during a dump, and its replay as ordinary writes.

The replay tests feed entries in the shapes MongoDB itself logs (``$v: 2``
diffs, inline ``createIndexes``, ``commitIndexBuild``, transactions as
``applyOps`` on ``admin.$cmd``, views as ``system.views`` writes) to a real
server, SecantusDB, which logs its own shapes; the dump test uses the latter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Timestamp
from bson.binary import Binary, UuidRepresentation

from shared.errors import IntegrityError
from shared.keys import FileKeyring, generate_key_file
from shared.manifest import RunLocation, new_run_id
from shared.mongodb import replay, restore, updates
from shared.mongodb.backup import DumpOptions, run_backup
from shared.mongodb.request import MongoRestoreRequest
from shared.mongodb.target import run_end
from shared.target import LogProgress
from tests import mongodata
from tests.devstack.mongo import unique_db_name

NOW = dt.datetime.now(dt.UTC)


# --- applying update diffs ------------------------------------------------------------------


def test_mongodb_v2_diffs_apply_as_the_server_would() -> None:
    document: dict[str, Any] = {
        "_id": 1,
        "a": 1,
        "gone": True,
        "b": {"c": 1, "d": [1, 2, 3, 4]},
        "e": [{"x": 1}, {"x": 2}],
        "f": [1],
    }
    diff = {
        "d": {"gone": False},
        "u": {"a": 2},
        "i": {"z": 9},
        "sb": {"u": {"c": 5}, "sd": {"a": True, "l": 2}},
        "se": {"a": True, "s1": {"u": {"x": 20}}},
        "sf": {"a": True, "u3": "padded"},
    }
    updates.apply_diff(document, diff)
    assert document == {
        "_id": 1,
        "a": 2,
        "b": {"c": 5, "d": [1, 2]},
        "e": [{"x": 1}, {"x": 20}],
        "f": [1, None, None, "padded"],
        "z": 9,
    }
    assert list(document) == ["_id", "a", "b", "e", "f", "z"]


def test_change_stream_shaped_diffs_apply_too() -> None:
    document: dict[str, Any] = {"_id": 1, "a": [1, 2, 3, 4], "b": {"c": 1}, "r": 1}
    diff = {
        "truncatedArrays": [{"field": "a", "newSize": 2}],
        "updatedFields": {"a.3": 9, "b.d.e": "new", "n": 1},
        "removedFields": ["r", "b.c"],
    }
    updates.apply_diff(document, diff)
    assert document == {"_id": 1, "a": [1, 2, None, 9], "b": {"d": {"e": "new"}}, "n": 1}


def test_update_shapes_are_told_apart() -> None:
    assert updates.kind({"$v": 2, "diff": {"u": {"a": 1}}}) == "diff"
    assert updates.kind({"$set": {"a": 1}, "$v": 1}) == "operators"
    assert updates.operators({"$set": {"a": 1}, "$v": 1}) == {"$set": {"a": 1}}
    assert updates.kind({"_id": 1, "a": 1}) == "replacement"


# --- replaying entries ----------------------------------------------------------------------


def entry(op: str, ns: str, o: dict[str, Any], **extra: Any) -> Any:
    raw = bson.encode({"op": op, "ns": ns, "o": o, "ts": Timestamp(1, 1), **extra})
    return replay.decode(raw)


@pytest.fixture
def target(mongo_client: Any) -> Iterator[Any]:
    name = unique_db_name("replay")
    yield mongo_client[name]
    mongo_client.drop_database(name)


def test_mongodb_shaped_entries_replay_onto_a_renamed_database(
    mongo_client: Any, target: Any
) -> None:
    replayer = replay.Replayer(mongo_client, {"src": target.name})
    lsid = {"id": Binary.from_uuid(uuid.uuid4(), UuidRepresentation.STANDARD)}
    entries = [
        entry(
            "c", "src.$cmd", {"create": "c", "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
        ),
        entry("i", "src.c", {"_id": 1, "a": 1, "arr": [1, 2, 3]}),
        entry("i", "src.c", {"_id": 1, "a": 1, "arr": [1, 2, 3]}),  # replays are idempotent
        entry(
            "u",
            "src.c",
            {"$v": 2, "diff": {"u": {"a": 2}, "sarr": {"a": True, "l": 1}}},
            o2={"_id": 1},
        ),
        entry("u", "src.c", {"$set": {"b": "set"}}, o2={"_id": 1}),
        entry(
            "c",
            "src.$cmd",
            {"createIndexes": "c", "v": 2, "key": {"a": 1}, "name": "a_1", "unique": True},
        ),
        entry(
            "c",
            "src.$cmd",
            {
                "commitIndexBuild": "c",
                "indexBuildUUID": Binary(uuid.uuid4().bytes, 4),
                "indexes": [{"v": 2, "key": {"b": -1}, "name": "b_-1"}],
            },
        ),
        entry("c", "src.$cmd", {"startIndexBuild": "c", "indexes": []}),
        entry(
            "c",
            "admin.$cmd",
            {"applyOps": [{"op": "i", "ns": "src.c", "o": {"_id": 2}}], "partialTxn": True},
            lsid=lsid,
            txnNumber=1,
        ),
        entry(
            "c",
            "admin.$cmd",
            {
                "applyOps": [
                    {
                        "op": "u",
                        "ns": "src.c",
                        "o": {"$v": 2, "diff": {"i": {"t": 1}}},
                        "o2": {"_id": 2},
                    }
                ]
            },
            lsid=lsid,
            txnNumber=1,
        ),
        entry(
            "i",
            "src.system.views",
            {"_id": "src.v", "viewOn": "c", "pipeline": [{"$match": {"a": 2}}]},
        ),
        entry("i", "src.d", {"_id": "to delete"}),
        entry("d", "src.d", {"_id": "to delete"}),
        entry(
            "c", "src.$cmd", {"renameCollection": "src.d", "to": "src.renamed", "dropTarget": False}
        ),
        entry("i", "other.x", {"_id": "another database"}),
        entry("n", "", {"msg": "noop"}),
    ]
    for item in entries:
        replay.check(item)
        replayer.apply(item)
    assert list(target.c.find({}, sort=[("_id", 1)])) == [
        {"_id": 1, "a": 2, "arr": [1], "b": "set"},
        {"_id": 2, "t": 1},
    ]
    assert {i["name"] for i in target.c.list_indexes()} == {"_id_", "a_1", "b_-1"}
    assert (
        target.command("listCollections", filter={"name": "v"})["cursor"]["firstBatch"][0]["type"]
        == "view"
    )
    assert sorted(target.list_collection_names()) == ["c", "renamed", "v"]
    assert "other" not in mongo_client.list_database_names()
    assert replayer.skipped >= 2


@pytest.mark.parametrize(
    "bad",
    [
        {"op": "x", "ns": "a.b", "o": {}},
        {"op": "c", "ns": "a.$cmd", "o": {"importCollection": "b"}},
        {
            "op": "c",
            "ns": "admin.$cmd",
            "o": {"applyOps": [{"op": "c", "ns": "a.$cmd", "o": {"mystery": 1}}]},
        },
    ],
)
def test_entries_that_cannot_be_replayed_are_refused_by_check(bad: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError, match=r"cannot be replayed|unknown op"):
        replay.check(replay.decode(bson.encode(bad)))


def test_a_rename_across_restored_and_other_databases_is_refused(
    mongo_client: Any, target: Any
) -> None:
    replayer = replay.Replayer(mongo_client, {"src": target.name})
    with pytest.raises(IntegrityError, match="cannot be replayed"):
        replayer.apply(entry("c", "admin.$cmd", {"renameCollection": "elsewhere.a", "to": "src.a"}))


# --- a dump with writes going on ------------------------------------------------------------


def test_writes_during_the_dump_are_replayed_to_the_consistent_time(
    mongo_server: Any, mongo_client: Any, storage_client: Any, bucket_name: str, tmp_path: Path,
    dbs: Callable[[str], Any],
) -> None:  # fmt: skip
    """Documents read before and after the writes end up in the state at the dump's end."""
    source, copy = dbs("src"), dbs("dst")
    source.big.insert_many(
        [{"_id": n, "n": n, "arr": [1, 2, 3], "sub": {"a": 1}} for n in range(6000)]
    )
    source.gone.insert_many([{"_id": n} for n in range(10)])
    source.other.insert_many([{"_id": n} for n in range(20)])
    client = mongo_client

    def write_during_dump(namespace: str, documents: int) -> None:
        if namespace != f"{source.name}.big" or documents != 2000:
            return  # only once, after the first batch of the largest collection
        big = source.big
        big.update_one({"_id": 0}, {"$set": {"sub.b": 2, "n": "changed"}, "$unset": {"arr": 1}})
        big.update_one({"_id": 5999}, {"$push": {"arr": 4}, "$inc": {"n": 1}})
        big.update_one({"_id": 3}, {"$pop": {"arr": 1}})
        big.replace_one({"_id": 4}, {"replaced": True})
        big.delete_one({"_id": 1})
        big.delete_one({"_id": 5998})
        big.insert_many([{"_id": 10_000 + n, "new": n} for n in range(10)])
        big.update_many({"_id": {"$gte": 2990, "$lt": 3010}}, {"$set": {"bulk": True}})
        big.create_index("n", name="made_during_dump")
        with client.start_session() as session, session.start_transaction():
            big.insert_one({"_id": "txn"}, session=session)
            source.other.update_one({"_id": 0}, {"$set": {"in_txn": True}}, session=session)
        source.create_collection("created", validator={"x": {"$exists": True}})
        source.created.insert_one({"x": 1})
        source.drop_collection("gone")

    key_file = tmp_path / "k"
    generate_key_file(key_file)
    bucket = storage_client.create_bucket(bucket_name)
    settings = mongodata.mongo_settings(
        mongo_server.uri(),
        bucket.name,
        source.name,
        str(key_file),
        MONGODB_PARALLEL_COLLECTIONS="1",
    )
    location = RunLocation("", "mongodb", "daily", new_run_id(NOW))
    keyring = FileKeyring([key_file])
    options = DumpOptions(progress=write_during_dump)
    manifest = run_backup(
        settings,
        location,
        end=run_end(settings, bucket, lambda: NOW),
        keyring=keyring,
        options=options,
    )
    assert manifest.details["point_in_time"] is True
    assert manifest.details["oplog"]["entries"] > 30
    request = MongoRestoreRequest(day=NOW.date(), tier="daily", target_db=copy.name)
    outcome = restore.restore(
        settings, request, bucket=bucket, keyring=keyring, progress=LogProgress(), token="t"
    )
    assert outcome.details["oplog_applied"] > 30
    assert mongodata.snapshot(copy) == mongodata.snapshot(source)
    assert "gone" not in copy.list_collection_names()
