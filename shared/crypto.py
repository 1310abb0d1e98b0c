"""Streaming authenticated encryption of backups (format: ENCRYPTION_FORMAT.md).

AES-256-GCM over fixed-size segments in the STREAM construction: every
segment's nonce carries the file's random prefix, the segment's counter and a
final-segment flag, and the whole header is the associated data of every
segment. So a changed bit, a reordered, dropped or repeated segment, a cut
and appended data are all caught, each reported by its own error class, while
memory stays at about two segments whatever the size of the stream.

Stages do not own their inner stream: ``close()`` leaves it open unless
``closefd=True`` (the name zstandard uses), because in a pipeline each stream
is closed by whoever opened it. Leaving a ``with`` block by an exception, or
dropping a writer unclosed, abandons the stream *without* its final segment,
so a half-written backup can never decrypt as a complete one.
"""

from __future__ import annotations

import hmac
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import (
    ConfigError,
    IntegrityError,
    SegmentOrderError,
    TamperedDataError,
    TruncatedDataError,
    UnknownFormatError,
    WrongKeyError,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

MAGIC = b"EWDR"
VERSION = 1
KEY_SIZE = 32
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
DEFAULT_SEGMENT_SIZE = 1 << 20  # AES-GCM runs at memory speed from ~256 KiB up
MIN_SEGMENT_SIZE = 16
MAX_SEGMENT_SIZE = 1 << 24
MAX_KEY_ID_SIZE = 1024
_MAX_COUNTER = 0xFFFFFFFF
# magic, version, segment size, salt, nonce prefix, key check, key id length
_FIXED = struct.Struct(">4sBI32s7s32sH")
_FRAME = struct.Struct(">IBI")  # counter, final flag, plaintext length
_CRC = struct.Struct(">I")


class Readable(Protocol):
    """What a reading stage pulls from: any binary file object, or just ``read``."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Writable(Protocol):
    """What a writing stage pushes into: any binary file object, or just ``write``."""

    def write(self, data: bytes, /) -> object: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Key:
    """A 256-bit key and the id recorded in every stream it encrypts."""

    key_id: str
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_SIZE:
            raise ConfigError(
                f"key {self.key_id} has {len(self.material)} bytes; keys have {KEY_SIZE}"
            )


class Keyring(Protocol):
    """Where keys come from: the newest encrypts, any known one decrypts."""

    def current(self) -> Key: ...

    def get(self, key_id: str) -> Key:
        """The key with this id; raises KeyNotFoundError naming the id."""
        ...


@dataclass(frozen=True)
class Header:
    """A stream's parsed header; ``raw`` is its exact bytes (every segment's AAD)."""

    version: int
    key_id: str
    segment_size: int
    salt: bytes
    nonce_prefix: bytes
    key_check: bytes = field(repr=False)
    raw: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.raw)


def _derive(key: Key, salt: bytes) -> tuple[bytes, bytes]:
    """The file's segment key and key-check value: a key per file, none revealing the key."""

    def expand(info: bytes) -> bytes:
        return HKDF(SHA256(), KEY_SIZE, salt, info).derive(key.material)

    return expand(b"EWDR v1 segment key"), expand(b"EWDR v1 key check")


def _with_crc(data: bytes) -> bytes:
    return data + _CRC.pack(zlib.crc32(data))


def _crc_ok(data: bytes) -> bool:
    return zlib.crc32(data[:-4]) == int.from_bytes(data[-4:], "big")


def _read_exactly(source: Readable, size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at end of stream (sources may return short reads)."""
    parts = []
    remaining = size
    while remaining:
        chunk = source.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def read_header(source: Readable) -> Header:
    """Read and check the header only: learn the key id without any key.

    The fixed part ends with a CRC-32 checked before its key-id length is
    trusted, so damage there reads as tampering, not as a cut; the key id is
    covered by a second CRC-32 before it is looked up.
    """
    fixed = _read_exactly(source, _FIXED.size + 4)
    if fixed[:4] != MAGIC[: len(fixed[:4])]:
        raise UnknownFormatError(
            f"not an encrypted backup stream: starts with {fixed[:4].hex(' ')}, "
            f"expected {MAGIC.hex(' ')}"
        )
    if len(fixed) > 4 and fixed[4] != VERSION:
        raise UnknownFormatError(
            f"encrypted stream has format version {fixed[4]}; this build reads {VERSION}"
        )
    if len(fixed) < _FIXED.size + 4:
        raise TruncatedDataError("stream ends inside the encryption header")
    if not _crc_ok(fixed):
        raise TamperedDataError("encryption header is damaged (checksum mismatch)")
    _, version, segment_size, salt, prefix, check, key_id_size = _FIXED.unpack(fixed[:-4])
    rest = _read_exactly(source, key_id_size + 4)
    if len(rest) < key_id_size + 4:
        raise TruncatedDataError("stream ends inside the encryption header's key id")
    raw = fixed + rest
    if not _crc_ok(raw):
        raise TamperedDataError("encryption header's key id is damaged (checksum mismatch)")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE or key_id_size == 0:
        raise UnknownFormatError(f"encryption header has unsupported segment size {segment_size}")
    try:
        key_id = rest[:-4].decode()
    except UnicodeDecodeError:
        raise UnknownFormatError("encryption header's key id is not UTF-8") from None
    return Header(version, key_id, segment_size, salt, prefix, check, raw)


def _encode_header(key: Key, segment_size: int, salt: bytes, prefix: bytes) -> bytes:
    key_id = key.key_id.encode()
    if not 0 < len(key_id) <= MAX_KEY_ID_SIZE:
        raise ConfigError(f"key id {key.key_id!r} must be 1 to {MAX_KEY_ID_SIZE} UTF-8 bytes")
    check = _derive(key, salt)[1]
    fixed = _FIXED.pack(MAGIC, VERSION, segment_size, salt, prefix, check, len(key_id))
    return _with_crc(_with_crc(fixed) + key_id)


def _nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    return prefix + _FRAME.pack(counter, final, 0)[:5]


class EncryptingWriter(io.RawIOBase):
    """A write-only file object encrypting into ``sink``; ``close()`` seals the stream.

    A segment is written once the byte after it arrives, so the final segment
    is known at close and is empty only for an empty stream. ``salt`` and
    ``nonce_prefix`` are random unless given (test vectors give them).
    """

    def __init__(
        self,
        sink: Writable,
        key: Key,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        nonce_prefix: bytes | None = None,
        salt: bytes | None = None,
        closefd: bool = False,
    ) -> None:
        super().__init__()
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise ConfigError(
                f"segment size {segment_size} outside {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE}"
            )
        salt = os.urandom(SALT_SIZE) if salt is None else salt
        prefix = os.urandom(NONCE_PREFIX_SIZE) if nonce_prefix is None else nonce_prefix
        if len(salt) != SALT_SIZE or len(prefix) != NONCE_PREFIX_SIZE:
            raise ConfigError(f"salt must be {SALT_SIZE} bytes, nonce prefix {NONCE_PREFIX_SIZE}")
        self._sink = sink
        self._closefd = closefd
        self._aead = AESGCM(_derive(key, salt)[0])
        self._prefix = prefix
        self._header = _encode_header(key, segment_size, salt, prefix)
        self._buffer = bytearray(segment_size)
        self._filled = 0
        self._counter = 0
        self._abandoned = False
        self.plaintext_bytes = 0
        self.bytes_written = 0  # ciphertext bytes handed to the sink, header included
        self._emit(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        size = len(self._buffer)
        total = len(view)
        while view:
            if self._filled == size:
                self._seal(memoryview(self._buffer), final=False)
                self._filled = 0
            if self._filled == 0 and len(view) > size:  # whole segments skip the copy
                self._seal(view[:size], final=False)
                view = view[size:]
                continue
            take = min(size - self._filled, len(view))
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
        self.plaintext_bytes += total
        return total

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._abandoned:
                self._seal(memoryview(self._buffer)[: self._filled], final=True)
                if self._closefd:
                    self._sink.close()
        finally:
            super().close()

    def abandon(self) -> None:
        """Close without the final segment: the stream will read as truncated."""
        self._abandoned = True
        self.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abandon()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.closed:
            self.abandon()

    def _seal(self, plaintext: memoryview, *, final: bool) -> None:
        if self._counter > _MAX_COUNTER:
            raise ConfigError(
                f"stream exceeds 2^32 segments of {len(self._buffer)} bytes; "
                "use a larger segment size"
            )
        nonce = _nonce(self._prefix, self._counter, final)
        sealed = self._aead.encrypt(nonce, plaintext, self._header)
        self._emit(_FRAME.pack(self._counter, final, len(plaintext)))
        self._emit(sealed)
        self._counter += 1

    def _emit(self, data: bytes) -> None:
        self._sink.write(data)
        self.bytes_written += len(data)


class DecryptingReader(io.RawIOBase):
    """A read-only file object yielding the plaintext of an encrypted stream.

    The header is read, the key looked up and checked on construction, so an
    unknown or wrong key fails before any segment is read. Each segment's
    plaintext is released only after it authenticates, and end of stream only
    after the final segment did and nothing follows it: a consumer that stops
    at the plaintext's last byte still sees a cut as TruncatedDataError.
    """

    def __init__(self, source: Readable, keyring: Keyring, *, closefd: bool = False) -> None:
        super().__init__()
        self._source = source
        self._closefd = closefd
        self._header = read_header(source)
        key = keyring.get(self._header.key_id)
        segment_key, check = _derive(key, self._header.salt)
        if not hmac.compare_digest(check, self._header.key_check):
            raise WrongKeyError(
                f"stream was encrypted with a different key than the one with id {key.key_id}"
            )
        self._aead = AESGCM(segment_key)
        self._plain = memoryview(b"")
        self._position = 0
        self._counter = 0
        self._finished = False
        self._failure: IntegrityError | None = None

    @property
    def header(self) -> Header:
        return self._header

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._failure is not None:
            raise self._failure  # a damaged stream stays damaged: no reading past it
        view = memoryview(buffer).cast("B")
        done = 0
        try:
            while done < len(view) and not (self._finished and self._position == len(self._plain)):
                if self._position == len(self._plain):
                    self._next_segment()
                    continue
                take = min(len(view) - done, len(self._plain) - self._position)
                view[done : done + take] = self._plain[self._position : self._position + take]
                done += take
                self._position += take
            if self._position == len(self._plain) and not self._finished:
                self._next_segment()  # a cut right after these bytes must fail this read
        except IntegrityError as failure:
            self._failure = failure
            raise
        return done

    def close(self) -> None:
        if not self.closed and self._closefd:
            self._source.close()
        super().close()

    def _next_segment(self) -> None:
        expected = self._counter
        frame = _read_exactly(self._source, _FRAME.size)
        if len(frame) < _FRAME.size:
            where = "inside the frame of" if frame else "before"
            raise TruncatedDataError(
                f"encrypted stream ends {where} segment {expected}, without a final segment"
            )
        counter, final, length = _FRAME.unpack(frame)
        size = self._header.segment_size
        if final > 1 or length > size or (not final and length != size):
            raise TamperedDataError(f"segment {expected} has a damaged frame")
        body = _read_exactly(self._source, length + TAG_SIZE)
        if len(body) < length + TAG_SIZE:
            if len(body) >= TAG_SIZE and self._open(counter, True, body) is not None:
                raise TamperedDataError(f"segment {expected} has a damaged length")
            raise TruncatedDataError(f"encrypted stream ends inside segment {expected}")
        plain = self._open(counter, bool(final), body)
        if plain is None:
            raise TamperedDataError(
                f"segment {expected} fails authentication: data changed after encryption"
            )
        if counter != expected:
            raise SegmentOrderError(
                f"found segment {counter} where segment {expected} belongs: segments "
                + ("repeated or reordered" if counter < expected else "dropped or reordered")
            )
        if final and self._source.read(1):
            raise SegmentOrderError(f"data follows the final segment ({expected})")
        self._plain, self._position = memoryview(plain), 0
        self._counter += 1
        self._finished = bool(final)

    def _open(self, counter: int, final: bool, body: bytes) -> bytes | None:
        try:
            nonce = _nonce(self._header.nonce_prefix, counter, final)
            return self._aead.decrypt(nonce, body, self._header.raw)
        except InvalidTag:
            return None


def encrypt_bytes(
    data: bytes,
    key: Key,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    nonce_prefix: bytes | None = None,
    salt: bytes | None = None,
) -> bytes:
    """Encrypt small data in memory (options as for EncryptingWriter)."""
    sink = io.BytesIO()
    with EncryptingWriter(
        sink, key, segment_size=segment_size, nonce_prefix=nonce_prefix, salt=salt
    ) as writer:
        writer.write(data)
    return sink.getvalue()


def decrypt_bytes(data: bytes, keyring: Keyring) -> bytes:
    """Decrypt small data in memory."""
    with DecryptingReader(io.BytesIO(data), keyring) as reader:
        return reader.read()
