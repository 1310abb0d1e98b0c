"""The snapshot written in parts: each shard records its part, the completion step composes them.

The completion step reads one small summary per shard and composes the parts server
side, in a tree of at most 32 sources a call; the snapshot must be byte for
byte the one the shards' entries make, its artifact must carry the size and
CRC32C of those bytes, and snapshots written whole before (with a SHA-256 in
their artifact) must still read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from typing import Any

import google_crc32c
import pytest

from shared.errors import IntegrityError
from shared.gcs import compose, parts, worker
from shared.gcs.backup import run_backup
from shared.gcs.context import GcsContext
from shared.gcs.reader import read_snapshot
from shared.gcs.run import done_path, snapshot_path
from shared.manifest import Artifact
from tests.gcsfixtures import buckets, fill, list_only, make_settings, put

__all__ = ["buckets"]  # fixtures, imported for use here


def test_crc32c_combine_agrees_with_the_crc_of_the_concatenation() -> None:
    rng = random.Random(16)
    for _ in range(100):
        first, second = os.urandom(rng.randint(0, 2000)), os.urandom(rng.randint(0, 2000))
        assert compose.crc32c_combine(
            google_crc32c.value(first), google_crc32c.value(second), len(second)
        ) == google_crc32c.value(first + second)
    pieces = [os.urandom(n) for n in (0, 1, 7, 300, 4096)]
    size, crc = compose.combined(
        (len(p), compose.crc32c_text(google_crc32c.value(p))) for p in pieces
    )
    assert (size, crc) == (
        sum(map(len, pieces)),
        compose.crc32c_text(google_crc32c.value(b"".join(pieces))),
    )


def test_a_snapshot_of_many_parts_is_composed_in_a_tree_and_equals_one_of_one_part(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """70 one-object shards: three compose levels' worth (70 > 32), scratch objects removed."""
    source, one = buckets
    many = storage_client.create_bucket(f"{one.name}-m")
    fill(source, 70)
    whole = run_backup(make_settings([source.name], one.name))
    cut = run_backup(make_settings([source.name], many.name, GCS_SHARD_SIZE="1"))
    assert whole.ok
    assert cut.ok, cut.error
    assert cut.counts == {**whole.counts, "shards": 70}
    data = one.blob(snapshot_path(whole.location, source.name)).download_as_bytes()
    assert many.blob(snapshot_path(cut.location, source.name)).download_as_bytes() == data
    [artifact] = cut.artifacts
    crc = compose.crc32c_text(google_crc32c.value(data))
    assert (artifact.size, artifact.crc32c) == (len(data), crc)
    assert (whole.artifacts[0].size, whole.artifacts[0].crc32c) == (len(data), crc)
    assert not list(storage_client.list_blobs(many, prefix=cut.location.path("compose/")))
    with GcsContext(make_settings([source.name], many.name)) as ctx:
        assert len(list(read_snapshot(ctx.backup_bucket(), artifact))) == 70


def test_a_snapshot_written_whole_with_its_sha256_still_reads_and_is_checked(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Snapshots written before parts carry a SHA-256 in their artifact; it is still checked."""
    source, backup = buckets
    fill(source, 5)
    manifest = run_backup(make_settings([source.name], backup.name))
    [artifact] = manifest.artifacts
    data = backup.blob(artifact.path).download_as_bytes()
    old_style = dataclasses.replace(artifact, sha256=hashlib.sha256(data).hexdigest())
    assert len(list(read_snapshot(backup, old_style))) == 5
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        list(
            read_snapshot(backup, Artifact(artifact.path, artifact.size, "0" * 64, artifact.crc32c))
        )


def test_a_summary_too_large_for_metadata_is_kept_beside_the_part(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Every object of a shard vanished after listing, and their long names make a summary
    larger than Cloud Storage's 8 KiB of custom metadata: it goes to its own object."""
    source, backup = buckets
    names = [f"deep/{'x' * 300}-{n:03d}.bin" for n in range(30)]
    for name in names:
        put(source, name, b"gone soon")
    put(source, "kept.bin", b"kept")
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="40")
    with GcsContext(settings) as ctx:
        [shard] = list_only(ctx)
        for name in names:
            source.blob(name).delete()
        manifest = worker.process_shard(ctx, shard)
        summary = parts.read_summary(ctx.backup_bucket(), shard.location, source.name, 0)
    assert manifest is not None
    assert manifest.ok, manifest.error
    assert manifest.counts["vanished"] == 30
    assert manifest.counts["objects"] == 1
    assert sorted(summary.vanished) == names
    blob = backup.get_blob(done_path(shard.location, source.name, 0))
    assert set(blob.metadata) == {parts.SUMMARY_OBJECT_KEY}
