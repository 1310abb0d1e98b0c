"""Round trips on SecantusDB and fake-gcs-server: dump, restore elsewhere, compare exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.errors import BackupFailed, RefusedError, RequestError
from shared.mongodb import job, names
from shared.mongodb.bsonio import ContentHash, boundaries
from tests import mongodata
from tests.mongodb_fixtures import backup, run_restore


def test_every_type_index_option_and_view_survives_a_round_trip(
    mongo_server: Any, mongo_client: Any, bucket: Any, key_file: str, dbs: Callable[[str], Any]
) -> None:
    source, target = dbs("src"), dbs("dst")
    mongodata.seed(source)
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    manifest = backup(settings, bucket, key_file, part_size=4096)  # people spans many parts
    assert manifest.details["files"][f"{source.name}/people.bson"]["parts"] > 1
    assert manifest.counts[f"{source.name}.people"] == 300
    assert manifest.details["point_in_time"] is True
    outcome = run_restore(settings, bucket, key_file, target_db=target.name)
    assert outcome.verified is True
    assert outcome.counts[f"{source.name}.types"] == len(mongodata.every_type())
    assert mongodata.snapshot(target) == mongodata.snapshot(source)


def test_test_mode_verifies_everything_and_drops_its_scratch_database(
    mongo_server: Any, mongo_client: Any, bucket: Any, key_file: str, dbs: Callable[[str], Any]
) -> None:
    source = dbs("src")
    mongodata.seed(source, people_count=50)
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    backup(settings, bucket, key_file)
    before = set(mongo_client.list_database_names())
    outcome = run_restore(settings, bucket, key_file, test_mode=True)
    assert (outcome.mode, outcome.verified) == ("test", True)
    assert outcome.details["databases"] == {source.name: f"{source.name}_drtest_t1"}
    assert set(mongo_client.list_database_names()) == before


def test_unpacked_archive_is_mongodumps_directory_layout(
    stack_env: dict[str, str],
    mongo_server: Any,
    mongo_client: Any,
    bucket: Any,
    key_file: str,
    dbs: Callable[[str], Any],
    tmp_path: Path,
) -> None:
    source = dbs("src")
    mongodata.seed(source, people_count=50)
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    manifest = backup(settings, bucket, key_file, part_size=2048)
    run = f"gs://{bucket.name}/{manifest.location.directory}"
    assert job.main(["unpack", run, str(tmp_path / "dump"), "--key-file", key_file]) == 0
    found = {
        p.relative_to(tmp_path / "dump").as_posix()
        for p in (tmp_path / "dump").rglob("*")
        if p.is_file()
    }
    collections = [c for c in source.list_collections() if names.is_dumped(c["name"])]
    expected = {"oplog.bson", f"{source.name}/prelude.json"}
    for info in collections:
        expected.add(names.metadata_path(source.name, info["name"]))
        if info["type"] != "view":
            expected.add(names.data_path(source.name, info["name"], info["type"]) or "")
    assert found == expected
    assert any("%24" in path for path in found)  # the long name, truncated and hashed
    prelude = json.loads((tmp_path / "dump" / source.name / "prelude.json").read_text())
    assert set(prelude) == {"ServerVersion", "ToolVersion"}
    people = (tmp_path / "dump" / source.name / "people.bson").read_bytes()
    content = ContentHash()
    content.add(people, boundaries(people, "people.bson"))
    info = manifest.details["collections"][f"{source.name}.people"]
    assert (content.count, content.hexdigest) == (info["count"], info["content_hash"])
    metadata = json.loads((tmp_path / "dump" / source.name / "people.metadata.json").read_text())
    assert list(metadata) == ["options", "indexes", "uuid", "collectionName", "type"]
    assert metadata["options"]["collation"]["locale"] == "fr"
    view = json.loads((tmp_path / "dump" / source.name / "adults.metadata.json").read_text())
    assert (view["type"], view["indexes"], view["options"]["viewOn"]) == ("view", [], "people")


def test_without_db_name_every_user_database_is_dumped(
    mongo_server: Any, mongo_client: Any, bucket: Any, key_file: str, dbs: Callable[[str], Any]
) -> None:
    first, second = dbs("one"), dbs("two")
    first.a.insert_many([{"n": n} for n in range(5)])
    second.b.insert_one({"n": 1})
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, None, key_file)
    manifest = backup(settings, bucket, key_file)
    assert {first.name, second.name} <= set(manifest.details["databases"])
    assert not {"admin", "config", "local"} & set(manifest.details["databases"])
    assert manifest.details["files"]["prelude.json"]
    with pytest.raises(RequestError, match="target_db needs a backup of one database"):
        run_restore(settings, bucket, key_file, target_db="elsewhere")


def test_production_overwrite_needs_confirmation_and_existing_collections_need_drop(
    mongo_server: Any, mongo_client: Any, bucket: Any, key_file: str, dbs: Callable[[str], Any]
) -> None:
    source = dbs("prod")
    source.items.insert_many([{"_id": n, "v": "backed up"} for n in range(10)])
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source.name, key_file)
    backup(settings, bucket, key_file)
    source.items.update_many({}, {"$set": {"v": "changed after the backup"}})
    with pytest.raises(RefusedError, match="overwrite production database"):
        run_restore(settings, bucket, key_file)
    with pytest.raises(RefusedError, match="already exist"):
        run_restore(settings, bucket, key_file, confirm=source.name)
    plan = run_restore(settings, bucket, key_file, confirm=source.name, drop=True, dry_run=True)
    assert plan.mode == "plan"
    assert f"would overwrite {source.name}.items (10 documents now) with 10 documents" in plan.plan
    assert "would overwrite 1 collection, 10 documents" in plan.plan
    assert source.items.count_documents({"v": "changed after the backup"}) == 10
    outcome = run_restore(settings, bucket, key_file, confirm=source.name, drop=True)
    assert outcome.verified is True
    assert source.items.count_documents({"v": "backed up"}) == 10


def test_a_missing_database_fails_the_backup_and_records_it(
    stack_env: dict[str, str],
    mongo_server: Any,
    bucket: Any,
    key_file: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = mongodata.mongo_settings(mongo_server.uri(), bucket.name, "no_such_db_x", key_file)
    with pytest.raises(BackupFailed, match="does not exist"):
        backup(settings, bucket, key_file)
    from shared.catalog import Catalog

    entries = Catalog(bucket, "mongodb").entries()
    assert [e.manifest.status for e in entries if e.manifest] == ["failed"]
    assert not [b.name for b in bucket.list_blobs() if b.name.endswith(".ewdr")]
    run = f"gs://{bucket.name}/{entries[0].manifest.location.directory}"  # type: ignore[union-attr]
    for source in (run, f"gs://{bucket.name}/mongodb/daily/no-such-run/"):
        caplog.clear()
        assert job.main(["unpack", source, str(tmp_path / "out"), "--key-file", key_file]) == 66
        assert "that run has no archive" in caplog.text
        assert "Traceback" not in caplog.text
