"""The encrypted stream's bytes (ENCRYPTION_FORMAT.md): header, frames, nonces, per-stream keys.

Pure functions of their arguments, kept apart from the streaming objects in
:mod:`shared.crypto` so the layout can be read against the document in one
place. Every size and range the document states is a constant here.
"""

from __future__ import annotations

import hmac
import struct
import zlib
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import (
    ConfigError,
    TamperedDataError,
    TruncatedDataError,
    UnknownFormatError,
    WrongKeyError,
)

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
MAX_COUNTER = 0xFFFFFFFF
# magic, version, segment size, salt, nonce prefix, key check, key id length
_FIXED = struct.Struct(">4sBI32s7s32sH")
_FRAME = struct.Struct(">IBI")  # counter, final flag, plaintext length
_CRC = struct.Struct(">I")
FRAME_SIZE = _FRAME.size


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


def derive(key: Key, salt: bytes) -> tuple[bytes, bytes]:
    """The stream's segment key and key-check value: a key per stream, none revealing the key."""

    def expand(info: bytes) -> bytes:
        return HKDF(SHA256(), KEY_SIZE, salt, info).derive(key.material)

    return expand(b"EWDR v1 segment key"), expand(b"EWDR v1 key check")


def unlock(header: Header, key: Key) -> bytes:
    """The segment key of ``header``'s stream; WrongKeyError unless ``key`` made the stream.

    Checked before any segment is read, so a wrong key is named as such
    instead of surfacing as tampering (GCM alone does not commit to its key).
    """
    segment_key, check = derive(key, header.salt)
    if not hmac.compare_digest(check, header.key_check):
        raise WrongKeyError(
            f"stream was encrypted with a different key than the one with id {key.key_id}"
        )
    return segment_key


def _with_crc(data: bytes) -> bytes:
    return data + _CRC.pack(zlib.crc32(data))


def _crc_ok(data: bytes) -> bool:
    return zlib.crc32(data[:-4]) == int.from_bytes(data[-4:], "big")


def read_exactly(source: Readable, size: int) -> bytes:
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
    trusted, so damage there reads as tampering, not as a cut; fields out of
    the format's ranges are then a format error before the key id is read
    (a key id over 1,024 bytes is never read, let alone looked up); the key
    id is covered by a second CRC-32 before it is looked up. Checks run in
    the document's order ("Which error wins"), the first failing one decides.
    """
    fixed = read_exactly(source, _FIXED.size + 4)
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
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise UnknownFormatError(
            f"encryption header has segment size {segment_size}; the format allows "
            f"{MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE}"
        )
    if not 0 < key_id_size <= MAX_KEY_ID_SIZE:
        raise UnknownFormatError(
            f"encryption header has a key id of {key_id_size} bytes; the format allows "
            f"1 to {MAX_KEY_ID_SIZE}"
        )
    rest = read_exactly(source, key_id_size + 4)
    if len(rest) < key_id_size + 4:
        raise TruncatedDataError("stream ends inside the encryption header's key id")
    raw = fixed + rest
    if not _crc_ok(raw):
        raise TamperedDataError("encryption header's key id is damaged (checksum mismatch)")
    try:
        key_id = rest[:-4].decode()
    except UnicodeDecodeError:
        raise UnknownFormatError("encryption header's key id is not UTF-8") from None
    return Header(version, key_id, segment_size, salt, prefix, check, raw)


def encode_header(key: Key, segment_size: int, salt: bytes, prefix: bytes) -> bytes:
    """A new stream's header; ConfigError for any field outside the format's ranges."""
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ConfigError(
            f"segment size {segment_size} outside {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE}"
        )
    if len(salt) != SALT_SIZE or len(prefix) != NONCE_PREFIX_SIZE:
        raise ConfigError(f"salt must be {SALT_SIZE} bytes, nonce prefix {NONCE_PREFIX_SIZE}")
    key_id = key.key_id.encode()
    if not 0 < len(key_id) <= MAX_KEY_ID_SIZE:
        raise ConfigError(f"key id {key.key_id!r} must be 1 to {MAX_KEY_ID_SIZE} UTF-8 bytes")
    check = derive(key, salt)[1]
    fixed = _FIXED.pack(MAGIC, VERSION, segment_size, salt, prefix, check, len(key_id))
    return _with_crc(_with_crc(fixed) + key_id)


def encode_frame(counter: int, final: bool, length: int) -> bytes:
    return _FRAME.pack(counter, final, length)


def decode_frame(frame: bytes) -> tuple[int, int, int]:
    """Counter, final flag (unchecked: damage may make it anything) and plaintext length."""
    counter, final, length = _FRAME.unpack(frame)
    return counter, final, length


def nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    """The segment's nonce: the stream's prefix, then the frame's counter and flag."""
    return prefix + encode_frame(counter, final, 0)[:5]
