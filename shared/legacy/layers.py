"""Peeling what the old scripts wrapped around a dump, recognised from the bytes themselves.

File names are not trusted (``.gz`` files that are not gzip exist, and the
scripts' names varied); each layer is recognised from its first bytes:

* ``Salted__``: ``openssl enc`` (see :mod:`.openssl`), decrypted;
* ``1f 8b``: gzip (``gzip``, ``tar -z``, ``mongodump --archive --gzip``),
  decompressed, concatenated members included;
* ``6d e2 99 81``: a mongodump archive (its magic number, 0x8199e26d);
* ``ustar`` at offset 257: a tar file (of a mongodump directory).

Layers repeat until an archive or a tar is reached. A damaged layer is
reported by the layer that finds it, naming the file: a wrong key, a gzip
stream that ends early, bytes that are none of these formats.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from shared.crypto import Readable
from shared.errors import IntegrityError, TruncatedDataError, UnknownFormatError
from shared.legacy import openssl
from shared.legacy.chunks import ChunkSource, buffered

GZIP_MAGIC = b"\x1f\x8b"
ARCHIVE_MAGIC = (0x8199E26D).to_bytes(4, "little")
TAR_MAGIC, TAR_MAGIC_OFFSET = b"ustar", 257
HEAD = 1024
MAX_LAYERS = 4
READ_CHUNK = 1024 * 1024
OUTPUT_LIMIT = 4 * 1024 * 1024
CONTAINERS = ("archive", "tar")


def kind_of(head: bytes) -> str | None:
    """``openssl``, ``gzip``, ``archive``, ``tar``, or None for anything else."""
    if head.startswith(openssl.MAGIC):
        return "openssl"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ARCHIVE_MAGIC):
        return "archive"
    if head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + len(TAR_MAGIC)] == TAR_MAGIC:
        return "tar"
    return None


@dataclass(frozen=True)
class Unwrapped:
    """The innermost stream and what was peeled to reach it, outermost first."""

    stream: io.BufferedReader
    kind: str
    layers: tuple[str, ...]
    key: openssl.Match | None

    @property
    def description(self) -> str:
        return " in ".join(("mongodump " + self.kind, *reversed(self.layers)))


class _Prefixed(ChunkSource):
    """``head`` (already read), then the rest of ``source``."""

    def __init__(self, head: bytes, source: Readable) -> None:
        super().__init__()
        self._head: bytes | None = head
        self._source = source

    def next_chunk(self) -> bytes:
        if self._head:
            head, self._head = self._head, None
            return head
        return self._source.read(READ_CHUNK)


class _Gunzip(ChunkSource):
    """gzip data decompressed, member after member; a cut or damaged stream is an error."""

    def __init__(self, source: Readable, where: str) -> None:
        super().__init__()
        self._source = source
        self._where = where
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._carry = b""
        self._finished = False

    def next_chunk(self) -> bytes:
        while not self._finished:
            data = self._inflate.unconsumed_tail or self._carry or self._source.read(READ_CHUNK)
            self._carry = b""
            if not data:
                self._finished = True
                if not self._inflate.eof:
                    raise TruncatedDataError(
                        f"{self._where}: the gzip data ends early (truncated gzip): the file "
                        "was cut short"
                    )
                break
            try:
                out = self._inflate.decompress(data, OUTPUT_LIMIT)
            except zlib.error as exc:
                raise IntegrityError(f"{self._where}: damaged gzip data ({exc})") from None
            if self._inflate.eof and self._inflate.unused_data:
                self._carry = self._inflate.unused_data  # a further member follows
                self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
            if out:
                return out
        return b""


def gunzip(source: Readable, where: str) -> io.BufferedReader:
    """``source`` decompressed; TruncatedDataError or IntegrityError naming ``where``."""
    return buffered(_Gunzip(source, where))


def _read_head(source: Readable) -> bytes:
    head = b""
    while len(head) < HEAD and (chunk := source.read(HEAD - len(head))):
        head += chunk
    return head


def unwrap(source: Readable, passphrases: Sequence[openssl.Passphrase], where: str) -> Unwrapped:
    """Peel layers until a mongodump archive or tar; errors name ``where`` and the reason."""
    layers: list[str] = []
    match: openssl.Match | None = None
    for _ in range(MAX_LAYERS + 1):
        head = _read_head(source)
        kind = kind_of(head)
        if kind in CONTAINERS:
            return Unwrapped(buffered(_Prefixed(head, source)), str(kind), tuple(layers), match)
        if kind == "gzip":
            source = gunzip(buffered(_Prefixed(head, source)), where)
            layers.append("gzip")
        elif kind == "openssl" and match is None:
            size = len(openssl.MAGIC) + openssl.SALT_SIZE
            if len(head) < size + openssl.BLOCK:
                raise TruncatedDataError(f"{where}: openssl-encrypted but cut short")
            salt = head[len(openssl.MAGIC) : size]
            match = openssl.find_key(
                salt, head[size:], passphrases, lambda plain: kind_of(plain) is not None, where
            )
            rest = buffered(_Prefixed(head[size:], source))
            source = buffered(openssl.Decrypting(rest, salt, match, where))
            layers.append(f"openssl-aes-256-cbc/{match.derivation}")
        else:
            raise UnknownFormatError(_unknown(head, layers, where))
    raise UnknownFormatError(f"{where}: more than {MAX_LAYERS} layers of compression")


def _unknown(head: bytes, layers: Sequence[str], where: str) -> str:
    inside = f" inside {' and '.join(layers)}" if layers else ""
    if not head:
        return f"{where}: not an archive: the data{inside} is empty"
    return (
        f"{where}: not an archive: the data{inside} is neither a mongodump archive, a tar of "
        f"a dump directory, gzip nor `openssl enc` output (it starts with {head[:8].hex(' ')})"
    )
