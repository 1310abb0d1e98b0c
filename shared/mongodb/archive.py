"""Reading the tar stream inside a MongoDB backup (format: ``ARCHIVE_FORMAT.md``).

:func:`members` yields each member with its layout path and part number,
validated (regular files only, no path leaves the layout), and :func:`unpack`
rebuilds mongodump's directory from them, joining parts in order. Writing is
:mod:`.tarwriter`.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shared.crypto import Readable
from shared.errors import IntegrityError, RequestError, TruncatedDataError

FORMAT = "eyewearml-dr/mongodump-tar/1"
COPY_CHUNK = 1024 * 1024
_PART = re.compile(r"^(?P<path>.+\.bson)\.part-(?P<number>\d{6})$")


def part_name(path: str, number: int) -> str:
    return f"{path}.part-{number:06d}"


@dataclass(frozen=True)
class FileRecord:
    """A file of the layout as written: joined size and SHA-256, number of parts (0: whole)."""

    path: str
    size: int
    sha256: str
    parts: int = 0

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "sha256": self.sha256, "parts": self.parts}


@dataclass(frozen=True)
class Member:
    """A tar member: its name, the layout file it belongs to, its part number (None: whole)."""

    name: str
    path: str
    part: int | None
    size: int


def _layout(name: str, where: str) -> tuple[str, int | None]:
    """The layout path and part number of a member name; IntegrityError for anything else."""
    match = _PART.match(name)
    path, part = (match["path"], int(match["number"])) if match else (name, None)
    pure = PurePosixPath(path)
    if (
        pure.is_absolute()
        or "\\" in path
        or not 1 <= len(pure.parts) <= 2
        or any(p in {"", ".", ".."} for p in pure.parts)
        or part == 0
    ):
        raise IntegrityError(f"{where}: unexpected member name {name!r} in the archive")
    return path, part


def members(plaintext: Readable, where: str) -> Iterator[tuple[Member, Readable]]:
    """Each member with a reader of its content (valid until the next member is taken).

    The restore reads an archive only through this (its verification and its
    loading pass both): a reader of another archive format plugs in by
    yielding the same pairs, metadata files before data and ``oplog.bson`` last.
    """
    try:
        with tarfile.open(fileobj=plaintext, mode="r|", encoding="utf-8") as archive:  # type: ignore[call-overload]
            for info in archive:
                if not info.isreg():
                    raise IntegrityError(f"{where}: member {info.name!r} is not a regular file")
                path, part = _layout(info.name, where)
                content = archive.extractfile(info)
                assert content is not None  # regular files always have content
                yield Member(info.name, path, part, info.size), _MemberReader(content, where)
    except (tarfile.TarError, EOFError) as exc:
        raise _translated(exc, where) from None


def _translated(exc: Exception, where: str) -> IntegrityError:
    if isinstance(exc, EOFError) or "unexpected end" in str(exc):
        return TruncatedDataError(f"{where}: the tar stream ends early ({exc})")
    return IntegrityError(f"{where}: not a valid tar stream ({exc})")


class _MemberReader:
    """A member's content; a cut or damaged stream reads as our errors, not tarfile's."""

    def __init__(self, content: Readable, where: str) -> None:
        self._content = content
        self._where = where

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._content.read(size)
        except (tarfile.TarError, EOFError) as exc:
            raise _translated(exc, self._where) from None

    def close(self) -> None:
        self._content.close()


def drain(plaintext: Readable) -> None:
    """Read to the end, so the stages below check their trailers (final segment, frame end)."""
    while plaintext.read(COPY_CHUNK):
        pass


def unpack(plaintext: Readable, directory: Path, where: str) -> dict[str, FileRecord]:
    """Write mongodump's layout under ``directory`` (new or empty), joining parts in order."""
    if directory.exists() and any(directory.iterdir()):
        raise RequestError(f"{directory} is not empty; unpack into a new or empty directory")
    parts: dict[str, int] = {}
    hashes: dict[str, tuple[int, hashlib._Hash]] = {}
    for member, reader in members(plaintext, where):
        expected = parts.get(member.path, 0) + 1
        if member.part is not None and member.part != expected:
            raise IntegrityError(f"{where}: {member.name} arrives where part {expected} belongs")
        if member.path in hashes and member.part in (None, 1):
            raise IntegrityError(f"{where}: {member.path} appears twice in the archive")
        parts[member.path] = member.part or 0
        target = directory.joinpath(*member.path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        size, digest = hashes.get(member.path) or (0, hashlib.sha256())
        with target.open("ab" if member.part not in (None, 1) else "xb") as out:
            while chunk := reader.read(COPY_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        hashes[member.path] = (size, digest)
    drain(plaintext)
    return {
        path: FileRecord(path, size, digest.hexdigest(), parts[path])
        for path, (size, digest) in hashes.items()
    }
