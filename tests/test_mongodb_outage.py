"""A server that goes silent or steps down during a dump: the dump waits and resumes, up to a limit.

The server is really frozen (SIGSTOP on its process group): its sockets stay
open and nothing answers, as with a paused VM or a stop-the-world pause. A
stepdown is the server's own ``replSetStepDown``: for its window the node is a
secondary and there is no primary to read from. These tests use their own
server, so a frozen or demoted one never stalls another test.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import Decimal128, MaxKey, MinKey, ObjectId, Timestamp

from shared.catalog import Catalog
from shared.errors import SourceUnavailable
from shared.keys import FileKeyring
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.mongodb import outage, verify
from shared.mongodb.backup import DumpOptions, run_backup
from shared.mongodb.target import run_end
from tests import mongodata
from tests.devstack.component import Component
from tests.devstack.mongo import MongoServer
from tests.mongodb_fixtures import NOW, run_restore

# The driver notices a silent server within about two seconds (its health check every half
# second, giving up after 2 s), so the dump's resume path runs well inside a 30 s pause.
QUICK_CHECKS = "heartbeatFrequencyMS=500&connectTimeoutMS=2000&serverSelectionTimeoutMS=2000"
PAUSE_SECONDS = 30  # the pause a dump must survive
STEPDOWN_SECONDS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    with MongoServer(tmp_path_factory.mktemp("mongo-outage")) as started:
        yield started


def _fresh_client(server: MongoServer) -> Any:
    """A new client: one that lived through a pause may still see its next reads cancelled."""
    import pymongo

    return pymongo.MongoClient(server.uri(), serverSelectionTimeoutMS=30_000)


@pytest.fixture
def client(server: MongoServer) -> Iterator[Any]:
    with _fresh_client(server) as connected:
        yield connected


def _uri(server: Component) -> str:
    return f"{server.uri()}?{QUICK_CHECKS}"  # type: ignore[attr-defined]


def _backup(
    settings: Any,
    bucket: Any,
    key_file: str,
    server: MongoServer,
    interrupt: Callable[[], None],
    *,
    after: int = 4000,
) -> Any:
    """A backup that calls ``interrupt`` once, when a collection has ``after`` documents dumped."""
    paused: list[str] = []

    def freeze_once(namespace: str, documents: int) -> None:
        if not paused and documents >= after:
            paused.append(namespace)
            interrupt()

    location = RunLocation(settings.prefix, "mongodb", "daily", new_run_id(NOW))
    with server.thawed_at_exit():
        manifest = run_backup(
            settings,
            location,
            end=run_end(settings, bucket, lambda: NOW),
            keyring=FileKeyring([key_file]),
            options=DumpOptions(progress=freeze_once),
        )
    assert paused, "the dump ended before the pause"
    return manifest


def _seed(database: Any) -> None:
    mongodata.seed(database, people_count=200)
    database.bulk.insert_many([{"_id": n, "pad": "x" * 200} for n in range(20_000)])


def test_resuming_after_an_id_continues_in_mongodb_sort_order(client: Any) -> None:
    """Every document's successors are exactly what ``after`` asks for, across BSON types."""
    collection = client["resume_order"]["ids"]
    collection.insert_many(mongodata.every_type())
    extra: list[Any] = [MinKey(), None, -1, 2.5, Decimal128("7"), {"a": 0}, ObjectId(), False]
    extra += [True, dt.datetime(1960, 1, 1), Timestamp(1, 1), MaxKey()]
    collection.insert_many([{"_id": value} for value in extra])
    ids = [doc["_id"] for doc in collection.find({}, {"_id": 1}, sort=[("_id", 1)])]
    assert len(ids) == len(mongodata.every_type()) + len(extra)
    for index, last in enumerate(ids):
        rest = [doc["_id"] for doc in collection.find(outage.after(last), sort=[("_id", 1)])]
        assert rest == ids[index + 1 :], f"after {last!r}"
    client.drop_database("resume_order")


def check(client: Any, db: str, manifest: Manifest) -> None:
    """The manifest's counts and content hashes are the source's as it is now."""
    for namespace, info in manifest.details["collections"].items():
        if info["type"] == "view":
            continue
        _, _, name = namespace.partition(".")
        stored = "system.buckets." + name if info["type"] == "timeseries" else name
        now = verify.hash_collection(client, db, stored)
        assert (info["count"], info["content_hash"]) == (now.count, now.hexdigest), namespace
    assert manifest.counts[f"{db}.bulk"] == 20_000


@pytest.mark.parametrize("interruption", ["pause", "stepdown"])
def test_a_pause_or_a_stepdown_during_a_dump_is_ridden_out_and_the_backup_verifies(
    interruption: str,
    server: MongoServer,
    client: Any,
    bucket: Any,
    key_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server freezes for PAUSE_SECONDS, or steps down for STEPDOWN_SECONDS.

    A pause cuts the read in progress. A stepdown starts while the first
    collection is read: the open cursor reads on (a secondary serves it), the
    next collection's query finds no primary until the window ends. Either
    way the dump waits, resumes and the backup verifies.
    """
    source = client[f"{interruption}_source"]
    _seed(source)
    source.client.close()

    def pause() -> None:
        server.pause(PAUSE_SECONDS)

    def step_down() -> None:
        with _fresh_client(server) as admin:
            admin.admin.command("replSetStepDown", STEPDOWN_SECONDS, force=True)
        time.sleep(1.5)  # the job's driver sees the secondary at its next check (every 0.5 s)

    interrupt, lasts, after, seen = {
        "pause": (pause, PAUSE_SECONDS, 4000, "is unreachable"),  # the pause did cut a read
        "stepdown": (step_down, STEPDOWN_SECONDS, 1, 'selector "Primary()"'),
    }[interruption]
    settings = mongodata.mongo_settings(
        _uri(server), bucket.name, source.name, key_file, MONGODB_PARALLEL_COLLECTIONS="1"
    )
    caplog.set_level(logging.INFO, logger="shared.mongodb.outage")
    started = time.monotonic()
    manifest: Manifest = _backup(settings, bucket, key_file, server, interrupt, after=after)
    assert time.monotonic() - started >= lasts
    assert seen in caplog.text
    assert "answers again" in caplog.text
    with _fresh_client(server) as after_pause:
        check(after_pause, source.name, manifest)
    outcome = run_restore(settings, bucket, key_file, test_mode=True)
    assert (outcome.mode, outcome.verified) == ("test", True)
    with _fresh_client(server) as after_pause:
        after_pause.drop_database(source.name)


def test_a_server_gone_past_the_limit_fails_clearly_and_leaves_no_backup(
    server: MongoServer, client: Any, bucket: Any, key_file: str, tmp_path: Path
) -> None:
    source = client["gone_source"]
    source.bulk.insert_many([{"_id": n, "pad": "x" * 200} for n in range(20_000)])
    settings = mongodata.mongo_settings(
        _uri(server), bucket.name, source.name, key_file, MONGODB_OUTAGE_LIMIT_SECONDS="4"
    )
    with pytest.raises(SourceUnavailable) as caught:
        _backup(settings, bucket, key_file, server, lambda: server.pause(15))
    message = str(caught.value)
    assert "unreachable for" in message
    assert "longer than MONGODB_OUTAGE_LIMIT_SECONDS (4 s)" in message
    assert f"dumping {source.name}.bulk" in message
    (entry,) = Catalog(bucket, "mongodb").entries()
    assert entry.manifest is not None
    assert entry.manifest.status == "failed"
    assert not [b.name for b in bucket.list_blobs() if b.name.endswith(".ewdr")]
    with _fresh_client(server) as after_pause:
        after_pause.drop_database(source.name)


def test_a_stepdown_is_waited_out_and_the_limit_counts_from_a_streaks_first_failure() -> None:
    """A primary stepping down answers NotPrimary: the same wait as a silent server."""
    from pymongo.errors import NotPrimaryError

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    watch = outage.Outage(30, "mongodb://db.example", clock=lambda: now[0], sleep=sleep)
    stepdown = NotPrimaryError("not primary (code 10107)")
    answers: list[Any] = [stepdown] * 20 + ["read"]

    def read() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert watch.call("listing collections", read) == "read"
    assert now[0] == 20  # waited 20 s, within the limit; the success ends the streak
    answers[:] = [stepdown] * 100
    with pytest.raises(SourceUnavailable, match=r"unreachable for 30 s, longer than"):
        watch.call("listing collections", read)
    assert now[0] == 50
