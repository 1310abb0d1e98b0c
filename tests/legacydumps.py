"""Backups as the old shell scripts made them, built with the same tools.

No ``mongodump`` exists on this machine, so the dumps themselves are written
here: directories in mongodump's layout, and archives following the
specification in mongo-tools (``common/archive/spec.md``: magic number,
header, collection metadata, terminator, interleaved namespace segments,
EOF headers carrying the CRC-64-ECMA of each namespace's documents). The
layers around them come from the real tools the scripts ran: ``gzip``,
``tar`` and ``openssl enc -aes-256-cbc`` (``-pbkdf2`` or the legacy
``-md md5`` key derivation, passphrase from the key file).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bson
from bson.int64 import Int64

DB = "eyewear_ml"
ARCHIVE_MAGIC = (0x8199E26D).to_bytes(4, "little")
TERMINATOR = b"\xff\xff\xff\xff"
_CRC64_ECMA = 0xC96C5795D7870F42  # reversed polynomial, as Go's hash/crc64 uses it


@dataclass(frozen=True)
class Collection:
    name: str
    metadata: str
    documents: tuple[bytes, ...]
    kind: str = ""


def users(count: int = 40) -> Collection:
    documents = tuple(
        bson.encode(
            {
                "_id": index,
                "email": f"user{index}@example.com",
                "name": f"User {index}",
                "created": datetime(2025, 3, 1, tzinfo=UTC),
                "score": index * 1.5,
                "frames": ["round", "square", "aviator"][: index % 4],
            }
        )
        for index in range(count)
    )
    metadata = {
        "indexes": [
            {"v": {"$numberInt": "2"}, "key": {"_id": {"$numberInt": "1"}}, "name": "_id_"},
            {
                "v": {"$numberInt": "2"},
                "key": {"email": {"$numberInt": "1"}},
                "name": "email_1",
                "unique": True,
            },
        ],
        "uuid": "3b241101e2bb42558caf4136c566a962",
        "collectionName": "users",
        "type": "collection",
    }
    return Collection("users", json.dumps(metadata), documents)


def orders() -> Collection:
    """An empty collection, with metadata as mongodump 3.x wrote it (no name, no type)."""
    old_style = {"options": {}, "indexes": [{"v": 1, "key": {"_id": 1}, "name": "_id_"}]}
    return Collection("orders", json.dumps(old_style), ())


def catalogue() -> tuple[Collection, ...]:
    return users(), orders()


def _crc64_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_CRC64_ECMA if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _crc64_table()


def crc64(data: bytes) -> int:
    """CRC-64-ECMA as Go's ``hash/crc64`` computes it (inverted before and after)."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def _namespace(name: str, *, eof: bool, crc: int = 0) -> bytes:
    header = {"db": DB, "collection": name, "EOF": eof, "CRC": Int64(crc - (1 << 64) * (crc >> 63))}
    return bson.encode(header)


def archive_bytes(collections: tuple[Collection, ...], segment: int = 7) -> bytes:
    """A mongodump archive: segments of ``segment`` documents, collections interleaved."""
    out = bytearray(ARCHIVE_MAGIC)
    out += bson.encode(
        {
            "concurrent_collections": 4,
            "version": "0.1",
            "server_version": "7.0.5",
            "tool_version": "100.9.4",
        }
    )
    for c in collections:
        size = sum(map(len, c.documents))
        out += bson.encode(
            {"db": DB, "collection": c.name, "metadata": c.metadata, "size": size, "type": c.kind}
        )
    out += TERMINATOR
    chunks = {c.name: [c.documents[i : i + segment] for i in range(0, len(c.documents), segment)]
              for c in collections}  # fmt: skip
    for row in itertools.zip_longest(*chunks.values()):
        for name, documents in zip(chunks, row, strict=True):
            if documents:
                out += _namespace(name, eof=False) + b"".join(documents) + TERMINATOR
    for c in collections:
        out += _namespace(c.name, eof=True, crc=crc64(b"".join(c.documents))) + TERMINATOR
    return bytes(out)


def write_archive(path: Path, collections: tuple[Collection, ...] = ()) -> Path:
    path.write_bytes(archive_bytes(collections or catalogue()))
    return path


def write_directory(root: Path, collections: tuple[Collection, ...] = (), gz: bool = False) -> Path:
    """``mongodump --out root/dump`` (``--gzip``: every file gzipped, by the gzip tool)."""
    folder = root / "dump" / DB
    folder.mkdir(parents=True)
    (root / "dump" / "prelude.json").write_text('{"ServerVersion":"7.0.5","ToolVersion":"100.9.4"}')
    for c in collections or catalogue():
        (folder / f"{c.name}.bson").write_bytes(b"".join(c.documents))
        (folder / f"{c.name}.metadata.json").write_text(c.metadata)
    if gz:
        files = sorted(str(p) for p in folder.iterdir())
        subprocess.run(["gzip", *files], check=True)
    return root / "dump"


def gzip(path: Path) -> Path:
    subprocess.run(["gzip", "-k", "-n", str(path)], check=True)
    return path.with_name(path.name + ".gz")


def tar(directory: Path, out: Path, compress: bool = False) -> Path:
    flags = "-czf" if compress else "-cf"
    subprocess.run(
        ["tar", flags, str(out), "-C", str(directory.parent), directory.name], check=True
    )
    return out


def encrypt(path: Path, key_file: str, derivation: str) -> Path:
    """``openssl enc -aes-256-cbc -salt`` with ``-pbkdf2`` or ``-md md5``, as the scripts ran it."""
    flags = ["-pbkdf2"] if derivation == "pbkdf2" else ["-md", "md5"]
    out = path.with_name(path.name + ".enc")
    subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-salt", *flags, "-pass", f"file:{key_file}",
         "-in", str(path), "-out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def build(kind: str, workdir: Path, key_file: str) -> Path:
    """One legacy backup of the catalogue, named as the scripts named theirs, by ``kind``."""
    stamp = "eyewear_ml_20250325_010000"
    if kind.startswith("archive"):
        made = write_archive(workdir / f"{stamp}.archive")
    else:
        made = write_directory(workdir / stamp, gz="gzfiles" in kind)
    for step in kind.split(".")[1:]:
        if step == "gz":
            made = gzip(made)
        elif step in ("tar", "tgz"):
            made = tar(
                made, workdir / f"{stamp}.{'tar.gz' if step == 'tgz' else 'tar'}", step == "tgz"
            )
        elif step.startswith("enc-"):
            made = encrypt(made, key_file, step.removeprefix("enc-"))
    return made


def sha256(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256(
            b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())
        ).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()
